// `aiocpp race`: the same I/O-bound job — download every page of the demo site — done four ways
// (one after another, threads, coroutines on one loop, processes), each measured in a process of
// its own: wall time, pages/s, CPU time, peak RSS, and the speed-up beside the one the latency
// allows. docs/race.md explains the ways and the numbers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace aio::app {

enum class Way { sequential, threads, coroutines, processes };

/// The job the ways race at.
enum class Job {
    io,   // download every page of the site (or --urls): waiting, not computing
    cpu,  // count the primes below cpu_size by trial division, in chunks: computing, not waiting
};

/// "sequential", "threads", "coroutines", "processes".
[[nodiscard]] std::string_view way_name(Way w);
/// The command line's names: "seq", "threads", "coro", "procs", or the full names. nullopt else.
[[nodiscard]] std::optional<Way> parse_way(std::string_view text);

/// How progress is shown while a way runs.
enum class Progress {
    none,
    lines,  // "threads: 40/160" lines, at most about ten per way (logs, pipes, tests)
    bar,    // one line redrawn in place (a terminal)
};

struct RaceOptions {
    RaceOptions() {}  // not an aggregate: docs/design.md, "Compiler notes" (g++ 12 and co_await)
    /// The embedded site: pages /pages/1..N, each answered after latency ± jitter.
    size_t pages = 160;
    std::chrono::nanoseconds latency = std::chrono::milliseconds(50);
    std::chrono::nanoseconds jitter = std::chrono::milliseconds(10);
    /// Requests in flight at once for the coroutines way.
    size_t concurrency = 64;
    /// Threads of the threads way, worker processes of the processes way.
    int workers = 5;
    /// The ways to run, in this order.
    std::vector<Way> ways{Way::sequential, Way::threads, Way::coroutines, Way::processes};
    /// When not empty: race these URLs instead of the embedded site (pages and latency are then
    /// unused); a URL counts as fetched on any 2xx. read_url_file() reads them.
    std::vector<std::string> urls;
    Progress progress = Progress::none;
    /// Where progress goes (the ways' processes write to it directly).
    std::FILE* progress_out = stderr;

    /// Job::cpu races the CPU-bound twin instead (E12, E21, E22): the primes below cpu_size, cut
    /// into `chunks` ranges that the ways share out; pages, latency, concurrency and urls are then
    /// unused, and `workers` is best set to the cores (available_cores()).
    Job job = Job::io;
    uint64_t cpu_size = 5'000'000;
    size_t chunks = 32;

    /// Also run the four ways written in Python (apps/python/race_ways.py) by this interpreter,
    /// against the same site, after aiocpp's. A Python way that cannot run (no interpreter, no
    /// aiohttp for the coroutines) is a row marked skipped, not an error.
    bool python = false;
    std::string python_path = "/usr/bin/python3";
    /// Pure Python counts primes about 30 times slower than C++: its cpu job is this much smaller,
    /// so that it ends in seconds. Speed-ups are against each language's own sequential way.
    uint64_t python_cpu_size = 500'000;
};

/// The CPUs this process may run on (sched_getaffinity), at least 1.
[[nodiscard]] int available_cores();

/// The primes in [lo, hi) by trial division by 2 and the odd numbers up to the root: the cpu
/// job's unit of work, the same in the C++ ways and the Python ones.
[[nodiscard]] uint64_t count_primes(uint64_t lo, uint64_t hi);

/// 2..size-1 cut into `chunks` ranges [lo, hi) of almost equal length (Python's cpu_ranges).
[[nodiscard]] std::vector<std::pair<uint64_t, uint64_t>> cpu_ranges(uint64_t size, size_t chunks);

/// How many chunks can run at once for a way: 1 for sequential and coroutines (one thread), the
/// workers for threads and processes, never more than the cores nor the chunks.
[[nodiscard]] size_t cpu_parallelism(Way w, int workers, int cores, size_t chunks);

/// One way's measures. The times and the RSS come from the way's own process (and its children).
struct WayResult {
    Way way = Way::sequential;
    Job job = Job::io;
    /// "C++" for aiocpp's ways, "Python" for race_ways.py's.
    std::string lang = "C++";
    /// Raced --urls, not the site: the ideal then assumes one even latency.
    bool urls = false;
    /// Why this way did not run ("" when it did): its other measures are then zero.
    std::string skipped;
    /// "threads (5)": the way and how many at once.
    std::string label;
    /// Requests in flight at once: 1, the workers, or the concurrency (never above the pages).
    size_t at_once = 1;
    /// The job's items: pages (io) or chunks (cpu).
    size_t pages = 0;
    size_t ok = 0;
    size_t failed = 0;
    double wall_s = 0;
    double pages_per_s = 0;
    /// User + system time of the way's process and of every process it waited for.
    double cpu_s = 0;
    /// The sum of the peak RSS of the way's processes (its own, and each worker's).
    uint64_t peak_rss_bytes = 0;
    /// How many processes peak_rss_bytes adds up.
    size_t processes = 1;
    /// The same language's sequential wall / this wall; nullopt when that did not run.
    std::optional<double> speedup;
    /// ideal_speedup(pages, at_once); for cpu, at_once is cpu_parallelism().
    double ideal_speedup = 1;
    /// cpu: the primes counted (every way of one language must agree).
    std::optional<uint64_t> answer;
};

/// What latency allows k requests at once: N pages take ceil(N / k) rounds of one latency each,
/// so the ideal speed-up over one at a time is N / ceil(N / k).
[[nodiscard]] double ideal_speedup(size_t pages, size_t at_once);
/// The same for pages whose delays differ (the site's jitter): one at a time takes their sum;
/// k at once, each next page started as soon as one of the k ends, take the longest of the k
/// lanes. The ideal is the one over the other; with equal delays, ideal_speedup(N, k).
[[nodiscard]] double ideal_speedup(const std::vector<std::chrono::nanoseconds>& delays, size_t at_once);
/// The formulas, as the table's footnote and the JSON state them: the site's pages (whose delays
/// the race knows), and --urls (whose it does not).
inline constexpr std::string_view ideal_formula =
    "ideal = the pages' delays one at a time / k at once, in order (N / ceil(N / k) if all equal)";
inline constexpr std::string_view urls_ideal_formula =
    "ideal = N / ceil(N / k): N URLs, k requests at once, each round one even latency long";
/// The cpu job's: k is the chunks computed at once, which the cores bound.
inline constexpr std::string_view cpu_ideal_formula =
    "ideal = N / ceil(N / k): N chunks, k computed at once (at most the cores), each round one chunk long";

/// Bad options (no pages, no workers, zero concurrency, an unknown or repeated way).
class RaceUsageError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};
/// The race could not run: the site did not start, a way's process failed.
class RaceError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The URLs of a file, one a line; blank lines and '#' comments are skipped. Throws
/// RaceUsageError naming the cause: the file cannot be read, holds no URL, or a line is not an
/// http or https URL with a host (its number says which).
[[nodiscard]] std::vector<std::string> read_url_file(const std::string& path);

/// Starts the site (io job) on a free loopback port (in this process, on a thread of its own), runs each
/// way in a process forked before that thread exists, and returns the results in `ways` order,
/// then (options.python) the Python ways' in the same order.
/// Blocks until done. With options.urls, no site: one request to each host first, and a host that
/// cannot be reached is a RaceError naming it. Throws RaceUsageError for bad options, RaceError
/// when a way cannot run.
[[nodiscard]] std::vector<WayResult> run_race(const RaceOptions& options);

/// The table, its footnote on the ideal, and nothing else.
[[nodiscard]] std::string format_table(const std::vector<WayResult>& results);
/// A paragraph on why the numbers came out as they did.
[[nodiscard]] std::string explanation(const std::vector<WayResult>& results, const RaceOptions& options);
/// {"options": {"job", "workers", "python", and the job's own}, "ideal_formula": "...", "ways":
/// [{"way", "lang", "label", "skipped", "at_once", "pages", "ok", "failed", "wall_s", "pages_per_s",
/// "cpu_s", "peak_rss_bytes", "processes", "speedup", "ideal_speedup", "primes"}...]};
/// "speedup" is null when the same language's sequential way did not run, "skipped" when the way ran.
[[nodiscard]] nlohmann::json to_json(const std::vector<WayResult>& results, const RaceOptions& options);

}  // namespace aio::app
