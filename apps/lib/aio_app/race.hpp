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
};

/// One way's measures. The times and the RSS come from the way's own process (and its children).
struct WayResult {
    Way way = Way::sequential;
    /// "threads (5)": the way and how many at once.
    std::string label;
    /// Requests in flight at once: 1, the workers, or the concurrency (never above the pages).
    size_t at_once = 1;
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
    /// sequential's wall / this wall; nullopt when sequential did not run.
    std::optional<double> speedup;
    /// ideal_speedup(pages, at_once).
    double ideal_speedup = 1;
};

/// What latency allows k requests at once: N pages take ceil(N / k) rounds of one latency each,
/// so the ideal speed-up over one at a time is N / ceil(N / k).
[[nodiscard]] double ideal_speedup(size_t pages, size_t at_once);
/// That formula, as the table's footnote and the JSON state it.
inline constexpr std::string_view ideal_formula =
    "ideal = N / ceil(N / k): N pages, k requests at once, each round one latency long";

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

/// Starts the site on a free loopback port (in this process, on a thread of its own), runs each
/// way in a process forked before that thread exists, and returns the results in `ways` order.
/// Blocks until done. With options.urls, no site: one request to each host first, and a host that
/// cannot be reached is a RaceError naming it. Throws RaceUsageError for bad options, RaceError
/// when a way cannot run.
[[nodiscard]] std::vector<WayResult> run_race(const RaceOptions& options);

/// The table, its footnote on the ideal, and nothing else.
[[nodiscard]] std::string format_table(const std::vector<WayResult>& results);
/// A paragraph on why the numbers came out as they did.
[[nodiscard]] std::string explanation(const std::vector<WayResult>& results, const RaceOptions& options);
/// {"options": {...}, "ideal_formula": "...", "ways": [{"way", "label", "at_once", "pages", "ok",
/// "failed", "wall_s", "pages_per_s", "cpu_s", "peak_rss_bytes", "processes", "speedup",
/// "ideal_speedup"}...]}; "speedup" is null when sequential did not run.
[[nodiscard]] nlohmann::json to_json(const std::vector<WayResult>& results, const RaceOptions& options);

}  // namespace aio::app
