// `aiocpp race` (aio_app/race.hpp, docs/race.md).
//
// Each way runs in a process of its own, so that wait4() can give its CPU time and peak RSS alone,
// children included. Those processes are forked before the site's thread starts: a fork copies
// only the forking thread, and a lock another thread held at that moment (in the loop, in the
// allocator's arenas) would stay locked for ever in the child. Each waits on a pipe for the site's
// address, runs its way, writes one line of results on another pipe and _exits.
#include "aio_app/race.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include <fmt/core.h>

#include "aio/core/event_loop.hpp"
#include "aio/core/gather.hpp"
#include "aio/core/run.hpp"
#include "aio/core/sleep.hpp"
#include "aio/http/client.hpp"
#include "aio/http/url.hpp"
#include "aio/mp/pool.hpp"
#include "aio/sync/event.hpp"
#include "aio/sync/semaphore.hpp"
#include "aio/threads/thread_pool.hpp"
#include "aio_app/site.hpp"
#include "race_python.hpp"

namespace aio::app {

namespace {

using Clock = std::chrono::steady_clock;

/// A page to fetch, and what proves it arrived whole: its <title>.
using Target = std::pair<std::string, std::string>;  // url, expected title

std::vector<Target> site_targets(const std::string& base, size_t pages) {
    std::vector<Target> out;
    out.reserve(pages);
    for (size_t i = 1; i <= pages; ++i)
        out.emplace_back(base + page_path(i), page_title(i));
    return out;
}

/// The URLs as targets: no title to check, any 2xx will do.
std::vector<Target> url_targets(const std::vector<std::string>& urls) {
    std::vector<Target> out;
    for (const std::string& u : urls)
        out.emplace_back(u, "");
    return out;
}

/// Every request's budget, connecting and reading included. Set in a way's process before it
/// starts threads or forks workers, which inherit it. Real URLs get 30 s; the site's pages their
/// latency more, so a long --latency is slow, not a failure.
std::chrono::nanoseconds g_request_timeout = std::chrono::seconds(30);

aio::http::ClientSessionOptions session_options(size_t limit) {
    aio::http::ClientSessionOptions so;
    so.limit = limit;
    so.limit_per_host = 0;
    so.timeout.total = g_request_timeout;
    return so;
}

// --- progress ------------------------------------------------------------------------------------

/// Counts the pages done and shows it. Called from the way's threads, hence the lock.
class ProgressMeter {
public:
    ProgressMeter(Progress mode, std::FILE* out, std::string name, size_t total)
        : mode_(mode), out_(out), name_(std::move(name)), total_(total), step_(std::max<size_t>(1, (total + 9) / 10)) {
        next_mark_ = step_;
        if (mode_ == Progress::bar) draw();
    }

    void add(size_t n) {
        if (mode_ == Progress::none) return;
        std::lock_guard lk(mu_);
        done_ += n;
        if (mode_ == Progress::lines) {
            // At most about ten lines a way, the last one always: a log stays readable.
            if (done_ >= next_mark_ || done_ == total_) {
                fmt::print(out_, "{}: {}/{}\n", name_, done_, total_);
                std::fflush(out_);
                while (next_mark_ <= done_)
                    next_mark_ += step_;
            }
        } else {
            const size_t cells = done_ * kWidth / total_;
            if (cells != cells_ || done_ == total_) {
                cells_ = cells;
                draw();
            }
        }
    }

    void finish() {
        if (mode_ != Progress::bar) return;
        std::lock_guard lk(mu_);
        std::fputs("\n", out_);
        std::fflush(out_);
    }

private:
    static constexpr size_t kWidth = 30;

    void draw() {
        const size_t cells = done_ * kWidth / total_;
        fmt::print(out_, "\r{:<16} [{}{}] {}/{}", name_, std::string(cells, '#'), std::string(kWidth - cells, '.'),
                   done_, total_);
        std::fflush(out_);
    }

    std::mutex mu_;
    Progress mode_;
    std::FILE* out_;
    std::string name_;
    size_t total_, step_, next_mark_ = 0, done_ = 0, cells_ = 0;
};

// --- fetching ------------------------------------------------------------------------------------

/// One page: ok when the status is 200 and the page has its title. A failure of any kind counts,
/// it does not end the race.
aio::Task<bool> fetch(aio::http::ClientSession& session, const Target& target) {
    try {
        aio::http::ClientResponse r = co_await session.get(target.first);
        std::string body = co_await r.read();
        if (target.second.empty()) co_return r.status() / 100 == 2;
        const std::string want = "<title>" + target.second + "</title>";
        co_return r.status() == 200 && body.find(want) != std::string::npos;
    } catch (const std::exception&) {
        co_return false;  // aio::CancelledError is no std::exception: a cancel still propagates
    }
}

struct Counts {
    size_t ok = 0, failed = 0;
};

aio::Task<Counts> fetch_in_turn(std::vector<Target> targets, ProgressMeter* meter) {
    aio::http::ClientSessionOptions so = session_options(1);
    aio::http::ClientSession session(so);
    Counts c;
    for (const Target& t : targets) {
        if (co_await fetch(session, t))
            ++c.ok;
        else
            ++c.failed;
        if (meter) meter->add(1);
    }
    co_return c;
}

/// A thread's share: the next page from the counter the threads share, until none is left.
aio::Task<Counts> fetch_from_counter(const std::vector<Target>& targets, std::atomic<size_t>& next,
                                     ProgressMeter& meter) {
    aio::http::ClientSessionOptions so = session_options(1);
    aio::http::ClientSession session(so);  // this thread's own, on this thread's loop
    Counts c;
    for (size_t i = next.fetch_add(1); i < targets.size(); i = next.fetch_add(1)) {
        if (co_await fetch(session, targets[i]))
            ++c.ok;
        else
            ++c.failed;
        meter.add(1);
    }
    co_return c;
}

aio::Task<int> fetch_bounded(aio::http::ClientSession& session, aio::Semaphore& sem, const Target& target,
                             ProgressMeter& meter) {
    auto permit = co_await sem.scoped();
    const bool ok = co_await fetch(session, target);
    meter.add(1);
    co_return ok ? 1 : 0;
}

aio::Task<Counts> fetch_all_at_once(const std::vector<Target>& targets, size_t concurrency, ProgressMeter& meter) {
    // The pool must not be the bottleneck: as many connections as requests allowed in flight.
    aio::http::ClientSessionOptions so = session_options(concurrency);
    aio::http::ClientSession session(so);
    aio::Semaphore sem(static_cast<std::int64_t>(concurrency));
    std::vector<aio::Task<int>> tasks;
    tasks.reserve(targets.size());
    for (const Target& t : targets)
        tasks.push_back(fetch_bounded(session, sem, t, meter));
    std::vector<int> got = co_await aio::gather(std::move(tasks));
    Counts c;
    for (int ok : got)
        (ok ? c.ok : c.failed)++;
    co_return c;
}

/// A pool task: one chunk of pages fetched in turn by a worker process, on a loop and a session
/// of its own. It returns (ok, failed, the worker's pid, the worker's peak RSS in KiB) so that the
/// parent can add up the workers' memory.
using ChunkResult = std::tuple<uint64_t, uint64_t, int64_t, int64_t>;

ChunkResult fetch_chunk(std::vector<Target> targets) {
    const Counts c = aio::run(fetch_in_turn(std::move(targets), nullptr));
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return ChunkResult{c.ok, c.failed, ::getpid(), ru.ru_maxrss};
}

// --- computing (the cpu job) ----------------------------------------------------------------------

using Range = std::pair<uint64_t, uint64_t>;

struct CpuCounts {
    Counts counts;
    uint64_t primes = 0;
};

/// A pool task: (primes, the worker's pid, its peak RSS in KiB), as fetch_chunk.
using CountResult = std::tuple<uint64_t, int64_t, int64_t>;

CountResult count_chunk(Range r) {
    const uint64_t primes = count_primes(r.first, r.second);
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return CountResult{primes, ::getpid(), ru.ru_maxrss};
}

aio::Task<uint64_t> count_in_turn(Range r, ProgressMeter& meter) {
    // Every task gets the loop once before it computes, so the tasks do take turns; none can give
    // it back in the middle of a count, and that is the lesson: nothing overlaps.
    co_await aio::sleep(std::chrono::seconds(0));
    const uint64_t primes = count_primes(r.first, r.second);
    meter.add(1);
    co_return primes;
}

aio::Task<uint64_t> count_as_tasks(const std::vector<Range>& ranges, ProgressMeter& meter) {
    std::vector<aio::Task<uint64_t>> tasks;
    tasks.reserve(ranges.size());
    for (const Range& r : ranges)
        tasks.push_back(count_in_turn(r, meter));
    std::vector<uint64_t> got = co_await aio::gather(std::move(tasks));
    uint64_t total = 0;
    for (uint64_t n : got)
        total += n;
    co_return total;
}

// --- the ways, each in its own process -------------------------------------------------------------

size_t at_once_of(const RaceOptions& o, Way w) {
    if (o.job == Job::cpu) return cpu_parallelism(w, o.workers, available_cores(), o.chunks);
    size_t k = 1;
    if (w == Way::threads || w == Way::processes) k = static_cast<size_t>(o.workers);
    if (w == Way::coroutines) k = o.concurrency;
    return std::min(k, o.pages);
}

std::string label_of(const RaceOptions& o, Way w) {
    if (w == Way::sequential) return "sequential";
    if (o.job == Job::cpu && w == Way::coroutines) return "coroutines";  // one thread, however many tasks
    return fmt::format("{} ({})", way_name(w), w == Way::coroutines ? o.concurrency : static_cast<size_t>(o.workers));
}

/// What a way's process reports; the parent adds what wait4() says.
struct ChildReport {
    Counts counts;
    double wall_s = 0;
    uint64_t workers_rss_kib = 0;  // processes: the workers' peaks, summed
    size_t workers = 0;            // processes: how many workers fetched
    uint64_t self_rss_kib = 0;     // processes: the way's own process's peak
    uint64_t primes = 0;           // cpu
};

/// The processes way's end: the workers exit and are reaped here, so that wait4() on this process
/// counts their CPU; their peaks (reported with their results) are summed with this process's.
void finish_pool(aio::mp::Pool& pool, const std::map<int64_t, int64_t>& peak_by_pid, ChildReport& rep) {
    pool.close();
    pool.join();
    for (const auto& [pid, rss] : peak_by_pid)
        rep.workers_rss_kib += static_cast<uint64_t>(rss);
    rep.workers = peak_by_pid.size();
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    rep.self_rss_kib = static_cast<uint64_t>(ru.ru_maxrss);
}

ChildReport run_cpu_way(const RaceOptions& o, Way w) {
    const std::vector<Range> ranges = cpu_ranges(o.cpu_size, o.chunks);
    ProgressMeter meter(o.progress, o.progress_out, std::string(way_name(w)), ranges.size());
    ChildReport rep;
    const auto t0 = Clock::now();
    switch (w) {
        case Way::sequential:
            for (const Range& r : ranges) {
                rep.primes += count_primes(r.first, r.second);
                meter.add(1);
            }
            break;
        case Way::threads: {
            aio::ThreadPoolExecutor pool(o.workers, "race");
            std::vector<aio::ConcurrentFuture<uint64_t>> jobs;
            jobs.reserve(ranges.size());
            for (const Range& r : ranges)
                jobs.push_back(pool.submit([r, &meter] {
                    const uint64_t primes = count_primes(r.first, r.second);
                    meter.add(1);
                    return primes;
                }));
            for (auto& j : jobs)
                rep.primes += j.result();
            pool.shutdown();
            break;
        }
        case Way::coroutines:
            rep.primes = aio::run(count_as_tasks(ranges, meter));
            break;
        case Way::processes: {
            std::map<int64_t, int64_t> peak_by_pid;
            aio::mp::Pool pool(o.workers);
            for (const CountResult& r : pool.imap_unordered(&count_chunk, ranges)) {
                const auto [primes, pid, rss] = r;
                rep.primes += primes;
                peak_by_pid[pid] = std::max(peak_by_pid[pid], rss);
                meter.add(1);
            }
            finish_pool(pool, peak_by_pid, rep);
            break;
        }
    }
    rep.counts.ok = ranges.size();
    rep.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    meter.finish();
    return rep;
}

ChildReport run_way(const RaceOptions& o, Way w, const std::vector<Target>& targets) {
    ProgressMeter meter(o.progress, o.progress_out, std::string(way_name(w)), targets.size());
    ChildReport rep;
    const auto t0 = Clock::now();
    switch (w) {
        case Way::sequential:
            rep.counts = aio::run(fetch_in_turn(targets, &meter));
            break;
        case Way::threads: {
            aio::ThreadPoolExecutor pool(o.workers, "race");
            std::atomic<size_t> next{0};
            std::vector<aio::ConcurrentFuture<Counts>> jobs;
            for (int i = 0; i < o.workers; ++i)
                jobs.push_back(pool.submit(
                    [&targets, &next, &meter] { return aio::run(fetch_from_counter(targets, next, meter)); }));
            for (auto& j : jobs) {
                const Counts c = j.result();
                rep.counts.ok += c.ok;
                rep.counts.failed += c.failed;
            }
            pool.shutdown();
            break;
        }
        case Way::coroutines:
            rep.counts = aio::run(fetch_all_at_once(targets, o.concurrency, meter));
            break;
        case Way::processes: {
            // Chunks of a quarter of a worker's share: even rounds (N / k pages for each worker when
            // k divides N) and progress that moves more than once per worker.
            const size_t workers = static_cast<size_t>(o.workers);
            const size_t chunk = std::max<size_t>(1, (targets.size() + 4 * workers - 1) / (4 * workers));
            std::vector<std::vector<Target>> chunks;
            for (size_t i = 0; i < targets.size(); i += chunk)
                chunks.emplace_back(targets.begin() + static_cast<std::ptrdiff_t>(i),
                                    targets.begin() + static_cast<std::ptrdiff_t>(std::min(targets.size(), i + chunk)));
            std::map<int64_t, int64_t> peak_by_pid;
            aio::mp::Pool pool(o.workers);
            for (const ChunkResult& r : pool.imap_unordered(&fetch_chunk, chunks)) {
                const auto [ok, failed, pid, rss] = r;
                rep.counts.ok += ok;
                rep.counts.failed += failed;
                peak_by_pid[pid] = std::max(peak_by_pid[pid], rss);
                meter.add(static_cast<size_t>(ok + failed));
            }
            finish_pool(pool, peak_by_pid, rep);
            break;
        }
    }
    rep.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    meter.finish();
    return rep;
}

void write_all(int fd, const std::string& s, bool socket = false) {
    size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = socket ? ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL)
                                 : ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += static_cast<size_t>(n);
    }
}

/// Reads until EOF, or until the deadline passes (then nullopt).
std::optional<std::string> read_all(int fd, Clock::time_point deadline) {
    std::string out;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return std::nullopt;
        pollfd p{fd, POLLIN, 0};
        const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

/// The body of a way's process: wait for the site's address, run, report, _exit (no destructors
/// of the parent's objects, no atexit handlers, no second flush of the parent's buffers).
[[noreturn]] void way_process(const RaceOptions& o, Way w, int go_fd, int result_fd) {
    std::string base;
    char c;
    for (;;) {
        const ssize_t n = ::read(go_fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || c == '\n') break;
        base += c;
    }
    ::close(go_fd);
    if (base.empty()) ::_exit(3);  // the parent gave up before this way's turn
    g_request_timeout =
        std::chrono::seconds(30) + (o.urls.empty() ? o.latency + o.jitter : std::chrono::nanoseconds(0));
    std::string line;
    try {
        const ChildReport r =
            o.job == Job::cpu ? run_cpu_way(o, w)
                              : run_way(o, w, o.urls.empty() ? site_targets(base, o.pages) : url_targets(o.urls));
        line = fmt::format("ok {} {} {:.9f} {} {} {} {}\n", r.counts.ok, r.counts.failed, r.wall_s, r.workers_rss_kib,
                           r.workers, r.self_rss_kib, r.primes);
    } catch (const std::exception& e) {
        line = fmt::format("error {}\n", e.what());
    } catch (...) {
        line = "error an exception that is not a std::exception\n";
    }
    write_all(result_fd, line);
    ::close(result_fd);
    std::fflush(o.progress_out);
    std::fflush(stdout);
    ::_exit(0);
}

struct WayProcess {
    Way way;
    pid_t pid = -1;
    int go_fd = -1;      // the parent writes the site's address here
    int result_fd = -1;  // and reads the report here
};

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

/// Forks the ways' processes. Each closes the parent's ends of the pipes made before it.
std::vector<WayProcess> fork_ways(const RaceOptions& o) {
    std::vector<WayProcess> procs;
    std::fflush(stdout);
    std::fflush(stderr);
    if (o.progress_out) std::fflush(o.progress_out);
    for (Way w : o.ways) {
        // The go channel is a socket pair, not a pipe, so that the parent can write with
        // MSG_NOSIGNAL: a way's process that died early makes that write an error, not SIGPIPE.
        int go[2], res[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) != 0)
            throw RaceError(fmt::format("socketpair: {}", std::strerror(errno)));
        if (::pipe2(res, O_CLOEXEC) != 0) {
            ::close(go[0]);
            ::close(go[1]);
            throw RaceError(fmt::format("pipe: {}", std::strerror(errno)));
        }
        const pid_t pid = ::fork();
        if (pid < 0) {
            const int err = errno;
            for (int fd : {go[0], go[1], res[0], res[1]})
                ::close(fd);
            throw RaceError(fmt::format("fork: {}", std::strerror(err)));
        }
        if (pid == 0) {
            for (WayProcess& p : procs) {
                close_fd(p.go_fd);
                close_fd(p.result_fd);
            }
            ::close(go[1]);
            ::close(res[0]);
            way_process(o, w, go[0], res[1]);
        }
        ::close(go[0]);
        ::close(res[1]);
        procs.push_back(WayProcess{w, pid, go[1], res[0]});
    }
    return procs;
}

/// The site in this process, on a thread with its own loop, so that it keeps answering while the
/// main thread waits for a way's process.
class SiteThread {
public:
    explicit SiteThread(SiteOptions so) {
        std::promise<std::string> ready;
        std::future<std::string> url = ready.get_future();
        thread_ = std::thread([this, so, &ready] { aio::run(serve(so, ready)); });
        try {
            base_ = url.get();
        } catch (...) {
            thread_.join();
            throw;
        }
    }
    ~SiteThread() {
        loop_->call_soon_threadsafe([ev = stop_] { ev->set(); });
        thread_.join();
    }
    SiteThread(const SiteThread&) = delete;
    SiteThread& operator=(const SiteThread&) = delete;

    /// "http://127.0.0.1:PORT", without the trailing slash.
    [[nodiscard]] const std::string& base() const noexcept { return base_; }

private:
    aio::Task<void> serve(SiteOptions so, std::promise<std::string>& ready) {
        std::optional<Site> site;
        try {
            site.emplace(co_await Site::start(so));
        } catch (...) {
            ready.set_exception(std::current_exception());
            co_return;
        }
        aio::Event stop;
        loop_ = &aio::get_running_loop();
        stop_ = &stop;
        std::string url = site->url("/");
        url.pop_back();
        ready.set_value(url);  // after loop_ and stop_ are set: the destructor may use them at once
        co_await stop.wait();
        co_await site->stop();
    }

    std::thread thread_;
    aio::EventLoop* loop_ = nullptr;
    aio::Event* stop_ = nullptr;
    std::string base_;
};

/// "https://example.com:443", the key of a connection pool.
std::string origin_of(const aio::http::URL& u) { return u.scheme() + "://" + u.host_port(); }

/// Why `text` cannot be raced, or "" if it can.
std::string url_problem(const std::string& text) {
    try {
        const aio::http::URL u(text);
        if (u.scheme() != "http" && u.scheme() != "https") return "not an http or https URL";
        if (u.host().empty()) return "no host";
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

/// One request to each host before the race, so that a host that cannot be reached is one error
/// naming it instead of a table of failures. Any answer will do, even a 404.
aio::Task<std::string> first_unreachable(std::vector<std::string> urls) {
    std::set<std::string> seen;
    aio::http::ClientSessionOptions so = session_options(0);
    so.timeout.total = std::chrono::seconds(15);
    aio::http::ClientSession session(so);
    for (const std::string& url : urls) {
        const aio::http::URL u(url);
        if (!seen.insert(origin_of(u)).second) continue;
        std::string problem;
        try {
            aio::http::ClientResponse r = co_await session.get(url);
            (void)r.status();
        } catch (const std::exception& e) {
            problem = fmt::format("cannot reach {}: {}", u.host_port(), e.what());
        }
        if (!problem.empty()) co_return problem;
    }
    co_return "";
}

void validate(const RaceOptions& o) {
    for (size_t i = 0; i < o.urls.size(); ++i)
        if (std::string why = url_problem(o.urls[i]); !why.empty())
            throw RaceUsageError(fmt::format("--urls: '{}': {}", o.urls[i], why));
    if (o.job == Job::cpu && !o.urls.empty()) throw RaceUsageError("--urls: the cpu job downloads nothing");
    if (o.python && !o.urls.empty())
        throw RaceUsageError("--python: Python's ways race the demo site (or --cpu), not --urls");
    if (o.job == Job::cpu && o.cpu_size < 3) throw RaceUsageError("--cpu-size: count the primes below 3 at least");
    if (o.job == Job::cpu && o.chunks == 0) throw RaceUsageError("--chunks: there must be at least one chunk");
    if (o.python && o.job == Job::cpu && o.python_cpu_size < 3)
        throw RaceUsageError("--python-cpu-size: count the primes below 3 at least");
    if (o.pages == 0) throw RaceUsageError("--pages: there must be at least one page");
    if (o.workers < 1) throw RaceUsageError("--workers: there must be at least one worker");
    if (o.concurrency == 0) throw RaceUsageError("--concurrency: at least one request must be allowed at once");
    if (o.ways.empty()) throw RaceUsageError("--ways: no way to run");
    for (size_t i = 0; i < o.ways.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (o.ways[i] == o.ways[j])
                throw RaceUsageError(fmt::format("--ways: {} is named twice", way_name(o.ways[i])));
}

std::string describe_status(int status) {
    if (WIFSIGNALED(status))
        return fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
    return fmt::format("exited with status {}", WEXITSTATUS(status));
}

}  // namespace

std::string_view way_name(Way w) {
    switch (w) {
        case Way::sequential:
            return "sequential";
        case Way::threads:
            return "threads";
        case Way::coroutines:
            return "coroutines";
        case Way::processes:
            return "processes";
    }
    return "?";
}

std::optional<Way> parse_way(std::string_view t) {
    if (t == "seq" || t == "sequential") return Way::sequential;
    if (t == "threads") return Way::threads;
    if (t == "coro" || t == "coroutines") return Way::coroutines;
    if (t == "procs" || t == "processes") return Way::processes;
    return std::nullopt;
}

int available_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

uint64_t count_primes(uint64_t lo, uint64_t hi) {
    uint64_t count = 0;
    for (uint64_t n = std::max<uint64_t>(lo, 2); n < hi; ++n) {
        bool prime = n == 2 || n % 2 != 0;
        for (uint64_t d = 3; prime && d * d <= n; d += 2)
            prime = n % d != 0;
        count += prime;
    }
    return count;
}

std::vector<std::pair<uint64_t, uint64_t>> cpu_ranges(uint64_t size, size_t chunks) {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    if (size < 3 || chunks == 0) return out;
    const uint64_t n = size - 2;
    out.reserve(chunks);
    for (uint64_t i = 0; i < chunks; ++i)
        out.emplace_back(2 + n * i / chunks, 2 + n * (i + 1) / chunks);
    return out;
}

size_t cpu_parallelism(Way w, int workers, int cores, size_t chunks) {
    if (w == Way::sequential || w == Way::coroutines) return 1;
    const size_t k = static_cast<size_t>(std::max(1, std::min(workers, cores)));
    return std::max<size_t>(1, std::min(k, chunks));
}

double ideal_speedup(const std::vector<std::chrono::nanoseconds>& delays, size_t at_once) {
    if (delays.empty() || at_once == 0) return 1;
    std::chrono::nanoseconds sum{0};
    // The k lanes' end times; each page goes to the lane that frees first.
    std::priority_queue<std::chrono::nanoseconds, std::vector<std::chrono::nanoseconds>, std::greater<>> lanes;
    for (size_t i = 0; i < std::min(at_once, delays.size()); ++i)
        lanes.push(std::chrono::nanoseconds(0));
    std::chrono::nanoseconds makespan{0};
    for (const std::chrono::nanoseconds d : delays) {
        sum += d;
        const std::chrono::nanoseconds end = lanes.top() + d;
        lanes.pop();
        lanes.push(end);
        makespan = std::max(makespan, end);
    }
    if (makespan.count() <= 0) return ideal_speedup(delays.size(), at_once);  // no latency: count rounds
    return static_cast<double>(sum.count()) / static_cast<double>(makespan.count());
}

double ideal_speedup(size_t pages, size_t at_once) {
    if (pages == 0 || at_once == 0) return 1;
    const size_t rounds = (pages + at_once - 1) / at_once;
    return static_cast<double>(pages) / static_cast<double>(rounds);
}

std::vector<std::string> read_url_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw RaceUsageError(fmt::format("--urls: cannot read {}: {}", path, std::strerror(errno)));
    std::vector<std::string> urls;
    std::string line;
    for (size_t number = 1; std::getline(in, line); ++number) {
        if (const size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        const size_t b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos) continue;
        line = line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
        if (std::string why = url_problem(line); !why.empty())
            throw RaceUsageError(fmt::format("--urls: {} line {}: '{}': {}", path, number, line, why));
        urls.push_back(line);
    }
    if (in.bad()) throw RaceUsageError(fmt::format("--urls: cannot read {}", path));
    if (urls.empty()) throw RaceUsageError(fmt::format("--urls: {} holds no URL", path));
    return urls;
}

namespace {

double cpu_seconds(const rusage& ru) {
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/// Each way's speed-up against the sequential way of its own language.
void set_speedups(std::vector<WayResult>& results) {
    for (WayResult& r : results) {
        if (!r.skipped.empty()) continue;
        for (const WayResult& s : results)
            if (s.way == Way::sequential && s.lang == r.lang && s.skipped.empty() && r.wall_s > 0)
                r.speedup = s.wall_s / r.wall_s;
    }
}

/// Every way of one language must count the same primes: a different count is a bug, not a result.
void check_answers(const std::vector<WayResult>& results) {
    for (const WayResult& r : results)
        for (const WayResult& s : results)
            if (r.answer && s.answer && r.lang == s.lang && *r.answer != *s.answer)
                throw RaceError(fmt::format("the {} {} way counted {} primes, the {} way {}", r.lang, way_name(r.way),
                                            *r.answer, way_name(s.way), *s.answer));
}

/// The Python ways, one interpreter each, against the same site (base) or on the cpu job.
std::vector<WayResult> run_python_ways(const RaceOptions& o, const std::string& base,
                                       const std::vector<std::chrono::nanoseconds>& delays) {
    std::vector<WayResult> out;
    const std::string problem = detail::python_problem(o.python_path);
    const bool aiohttp = problem.empty() && (o.job == Job::cpu || detail::python_has_module(o.python_path, "aiohttp"));
    const uint64_t expected_primes = o.job == Job::cpu ? count_primes(2, o.python_cpu_size) : 0;
    for (Way w : o.ways) {
        WayResult r;
        r.way = w;
        r.job = o.job;
        r.lang = "Python";
        r.label = "Python " + label_of(o, w);
        r.at_once = at_once_of(o, w);
        r.pages = o.job == Job::cpu ? o.chunks : o.pages;
        r.ideal_speedup = delays.empty() ? ideal_speedup(r.pages, r.at_once) : ideal_speedup(delays, r.at_once);
        if (!problem.empty()) {
            r.skipped = problem;
        } else if (w == Way::coroutines && !aiohttp) {
            r.skipped = fmt::format("{} has no aiohttp (apt-get install python3-aiohttp)", o.python_path);
        }
        if (!r.skipped.empty()) {
            out.push_back(std::move(r));
            continue;
        }
        ProgressMeter meter(o.progress, o.progress_out, "Python " + std::string(way_name(w)), r.pages);
        detail::PythonRun run;
        run.python = o.python_path;
        run.mode = o.job == Job::cpu ? "cpu" : "io";
        run.way = std::string(way_name(w));
        run.base = o.job == Job::cpu ? "" : base;
        run.items = r.pages;
        run.workers = o.workers;
        run.concurrency = o.job == Job::cpu ? static_cast<size_t>(o.python_cpu_size) : o.concurrency;
        run.timeout_s = std::chrono::duration<double>(std::chrono::seconds(30) + o.latency + o.jitter).count();
        run.on_progress = [&meter](size_t n) { meter.add(n); };
        detail::PythonReport rep;
        try {
            rep = detail::run_python_way(run);
        } catch (const std::exception& e) {
            meter.finish();
            throw RaceError(e.what());
        }
        meter.finish();
        r.ok = rep.ok;
        r.failed = rep.failed;
        r.wall_s = rep.wall_s;
        r.pages_per_s = r.wall_s > 0 ? static_cast<double>(r.ok + r.failed) / r.wall_s : 0;
        r.cpu_s = rep.cpu_s;
        r.peak_rss_bytes = (rep.self_rss_kib + rep.workers_rss_kib) * 1024;
        r.processes = 1 + rep.workers;
        if (o.job == Job::cpu) {
            if (!rep.primes)
                throw RaceError(fmt::format("the Python {} way reported no count of primes", way_name(w)));
            if (*rep.primes != expected_primes)
                throw RaceError(fmt::format("the Python {} way counted {} primes below {}, not {}", way_name(w),
                                            *rep.primes, o.python_cpu_size, expected_primes));
            r.answer = rep.primes;
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace

std::vector<WayResult> run_race(const RaceOptions& options) {
    RaceOptions o = options;
    if (!o.urls.empty()) o.pages = o.urls.size();
    validate(o);
    std::vector<WayProcess> procs = fork_ways(o);
    // Whatever happens from here on, no way's process outlives the race.
    struct Reaper {
        std::vector<WayProcess>& procs;
        ~Reaper() {
            for (WayProcess& p : procs) {
                close_fd(p.go_fd);
                close_fd(p.result_fd);
                if (p.pid > 0) {
                    ::kill(p.pid, SIGKILL);
                    int st;
                    while (::waitpid(p.pid, &st, 0) < 0 && errno == EINTR) {
                    }
                }
            }
        }
    } reaper{procs};

    std::optional<SiteThread> site;
    std::vector<std::chrono::nanoseconds> delays;  // the site's, page by page
    std::string go = "go";  // any line but an empty one starts a way
    if (o.job == Job::io && o.urls.empty()) {
        SiteOptions so;
        so.pages = o.pages;
        so.latency = o.latency;
        so.jitter = o.jitter;
        so.per_page_delay = true;  // every way meets the same delays, which the ideal is computed from
        site.emplace(so);
        go = site->base();
        for (size_t i = 1; i <= o.pages; ++i)
            delays.push_back(page_delay(i, so));
    } else if (o.job == Job::io) {
        if (std::string problem = aio::run(first_unreachable(o.urls)); !problem.empty()) throw RaceError(problem);
    }

    std::vector<WayResult> results;
    for (WayProcess& p : procs) {
        write_all(p.go_fd, go + "\n", true);
        close_fd(p.go_fd);
        // Generous: a way that takes ten minutes is stuck, not slow.
        const std::optional<std::string> report = read_all(p.result_fd, Clock::now() + std::chrono::minutes(10));
        close_fd(p.result_fd);
        if (!report) ::kill(p.pid, SIGKILL);
        int status = 0;
        rusage ru{};
        while (::wait4(p.pid, &status, 0, &ru) < 0 && errno == EINTR) {
        }
        p.pid = -1;
        const std::string name(way_name(p.way));
        if (!report) throw RaceError(fmt::format("the {} way did not finish in 10 minutes", name));
        std::istringstream in(*report);
        std::string tag;
        in >> tag;
        if (tag == "error") {
            std::string why;
            std::getline(in, why);
            throw RaceError(fmt::format("the {} way failed:{}", name, why));
        }
        WayResult r;
        uint64_t workers_rss_kib = 0, self_rss_kib = 0, primes = 0;
        size_t workers = 0;
        if (tag != "ok" ||
            !(in >> r.ok >> r.failed >> r.wall_s >> workers_rss_kib >> workers >> self_rss_kib >> primes))
            throw RaceError(fmt::format("the {} way's process {} without reporting", name, describe_status(status)));
        r.way = p.way;
        r.job = o.job;
        r.urls = !o.urls.empty();
        r.label = label_of(o, p.way);
        r.at_once = at_once_of(o, p.way);
        r.pages = o.job == Job::cpu ? o.chunks : o.pages;
        r.pages_per_s = r.wall_s > 0 ? static_cast<double>(r.ok + r.failed) / r.wall_s : 0;
        r.cpu_s = cpu_seconds(ru);
        // wait4's ru_maxrss is the largest of the process and its children, not their sum: the
        // workers' peaks come from the workers themselves.
        if (p.way == Way::processes) {
            r.peak_rss_bytes = (self_rss_kib + workers_rss_kib) * 1024;
            r.processes = 1 + workers;
        } else {
            r.peak_rss_bytes = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
        }
        r.ideal_speedup = delays.empty() ? ideal_speedup(r.pages, r.at_once) : ideal_speedup(delays, r.at_once);
        if (o.job == Job::cpu) r.answer = primes;
        results.push_back(std::move(r));
    }
    if (o.python) {
        std::vector<WayResult> py = run_python_ways(o, site ? site->base() : std::string(), delays);
        for (WayResult& r : py)
            results.push_back(std::move(r));
    }
    check_answers(results);
    set_speedups(results);
    return results;
}

// --- output ----------------------------------------------------------------------------------------

namespace {

std::string mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

const WayResult* find(const std::vector<WayResult>& rs, Way w, std::string_view lang = "C++") {
    for (const WayResult& r : rs)
        if (r.way == w && r.lang == lang && r.skipped.empty()) return &r;
    return nullptr;
}

bool has_lang(const std::vector<WayResult>& rs, std::string_view lang) {
    return std::any_of(rs.begin(), rs.end(), [lang](const WayResult& r) { return r.lang == lang; });
}

/// Breaks `text` into lines of at most `width` columns at spaces (a terminal's 100 columns).
std::string wrap(const std::string& text, size_t width) {
    std::string out, line;
    std::istringstream words(text);
    for (std::string w; words >> w;) {
        if (!line.empty() && line.size() + 1 + w.size() > width) {
            out += line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + w;
    }
    return out + line + "\n";
}

std::string_view formula_of(const std::vector<WayResult>& results) {
    if (!results.empty() && results.front().job == Job::cpu) return cpu_ideal_formula;
    return results.empty() || !results.front().urls ? ideal_formula : urls_ideal_formula;
}

std::string speedup_text(const WayResult& r) { return r.speedup ? fmt::format("{:.1f}x", *r.speedup) : "-"; }

/// "4.8x of an ideal 5.0x", or the wall time when there is no sequential run to compare with.
std::string versus_ideal(const WayResult& r) {
    if (!r.speedup) return fmt::format("{:.2f} s", r.wall_s);
    return fmt::format("{:.1f}x of an ideal {:.1f}x", *r.speedup, r.ideal_speedup);
}

/// "148,933".
std::string grouped(uint64_t v) {
    const std::string digits = std::to_string(v);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

}  // namespace

std::string format_table(const std::vector<WayResult>& results) {
    const bool cpu = !results.empty() && results.front().job == Job::cpu;
    const std::string items = cpu ? "chunks" : "pages";
    size_t width = 17;
    for (const WayResult& r : results)
        width = std::max(width, r.label.size());
    std::string out = fmt::format("{:<{}} {:>6} {:>6} {:>7} {:>8} {:>6} {:>10} {:>8} {:>6}\n", "way", width, items,
                                  "failed", "wall s", items + "/s", "cpu s", "peak RSS", "speed-up", "ideal");
    bool summed = false;
    std::string skipped;
    for (const WayResult& r : results) {
        if (!r.skipped.empty()) {
            out += fmt::format("{:<{}} skipped: {}\n", r.label, width, r.skipped);
            continue;
        }
        std::string rss = mib(r.peak_rss_bytes);
        if (r.processes > 1) {
            rss += "*";
            summed = true;
        }
        out += fmt::format("{:<{}} {:>6} {:>6} {:>7.2f} {:>8.1f} {:>6.3f} {:>10} {:>8} {:>5.1f}x\n", r.label, width,
                           r.pages, r.failed, r.wall_s, r.pages_per_s, r.cpu_s, rss, speedup_text(r), r.ideal_speedup);
    }
    out += fmt::format("{}\n", formula_of(results));
    if (summed) out += "* the sum of the peaks of the way's processes: its own and each worker's\n";
    if (has_lang(results, "Python"))
        out += "speed-ups are against the sequential way of the same language\n";
    return out;
}

namespace {

std::string io_explanation(const std::vector<WayResult>& results, const RaceOptions& o) {
    const WayResult* seq = find(results, Way::sequential);
    const WayResult* thr = find(results, Way::threads);
    const WayResult* coro = find(results, Way::coroutines);
    const WayResult* procs = find(results, Way::processes);
    std::string s = o.urls.empty() ? fmt::format(
                                         "The job is I/O-bound: each page waits about {} on the site and "
                                         "takes microseconds of CPU, so the way that keeps the most requests "
                                         "in flight wins.",
                                         format_duration(o.latency))
                                   : std::string(
                                         "The job is I/O-bound: each URL waits on the network and its server "
                                         "far longer than it computes, so the way that keeps the most "
                                         "requests in flight wins (as far as the servers answer as fast "
                                         "with several at once).");
    if (seq)
        s += fmt::format(" Sequential waits for every page in turn: {} pages take about {} latencies ({:.2f} s).",
                         seq->pages, seq->pages, seq->wall_s);
    if (seq && !o.urls.empty())
        s += " Real servers are no even latency: the ideal column assumes they are, so treat it as a ceiling.";
    if (thr)
        s += fmt::format(" {} threads wait {} at a time, each on its own loop and connection ({}).", o.workers,
                         thr->at_once, versus_ideal(*thr));
    if (coro)
        s += fmt::format(
            " Coroutines keep {} requests in flight on one thread with one connection pool ({}), "
            "for {:.3f} s of CPU: a waiting coroutine is a small heap frame, not a thread with a stack of its own.",
            coro->at_once, versus_ideal(*coro), coro->cpu_s);
    if (procs)
        s += fmt::format(
            " Processes overlap the waiting as well as threads do ({}), but each worker is a whole "
            "process with its own loop, session and memory: {} over {} processes, {:.3f} s of CPU.",
            versus_ideal(*procs), mib(procs->peak_rss_bytes), procs->processes, procs->cpu_s);
    s += " In C++ there is no GIL: threads could also compute in parallel, which Python's cannot; here it makes no "
         "difference, because the job is waiting, not computing.";
    const WayResult* py_coro = find(results, Way::coroutines, "Python");
    const WayResult* py_seq = find(results, Way::sequential, "Python");
    if (py_coro || py_seq) {
        s += " Python's ways wait as well as aiocpp's (the same latency bounds both), so their speed-ups come out "
             "alike; what differs is the work around the waiting:";
        for (const WayResult* py : {py_seq, py_coro}) {
            if (!py) continue;
            const WayResult* cc = find(results, py->way);
            if (cc && cc->cpu_s > 0)
                s += fmt::format(" Python's {} way spent {:.3f} s of CPU where aiocpp's spent {:.3f} s ({:.0f}x).",
                                 way_name(py->way), py->cpu_s, cc->cpu_s, py->cpu_s / cc->cpu_s);
            else
                s += fmt::format(" Python's {} way spent {:.3f} s of CPU.", way_name(py->way), py->cpu_s);
        }
    }
    return s;
}

/// A speed-up that noise alone does not explain on a busy machine.
bool gained(const WayResult* r) { return r && r->speedup && *r->speedup >= 1.2; }

std::string cpu_explanation(const std::vector<WayResult>& results, const RaceOptions& o) {
    const WayResult* seq = find(results, Way::sequential);
    const WayResult* thr = find(results, Way::threads);
    const WayResult* coro = find(results, Way::coroutines);
    const WayResult* procs = find(results, Way::processes);
    const int cores = available_cores();
    std::string s = fmt::format(
        "The job is CPU-bound: counting the primes below {} is all computing and no waiting, so a way gains only by "
        "computing on several cores at once, and never more than the {} core{} here allow.",
        grouped(o.cpu_size), cores, cores == 1 ? "" : "s");
    if (seq)
        s += fmt::format(" Sequential counts the {} chunks in turn ({:.2f} s, {} primes).", seq->pages, seq->wall_s,
                         seq->answer ? grouped(*seq->answer) : "?");
    if (thr && gained(thr))
        s += fmt::format(
            " Threads do gain ({}): in C++ there is no GIL, so each thread computes on a core of its own, "
            "sharing the process's memory.",
            versus_ideal(*thr));
    else if (thr)
        s += fmt::format(
            " Threads gained little here ({}){}; in C++ there is no GIL, and on idle cores each thread computes on "
            "a core of its own.",
            versus_ideal(*thr), cores == 1 ? ": there is one core" : ": the cores were busy with other work");
    if (coro)
        s += fmt::format(
            " Coroutines {} ({}): they take turns on one thread, and a coroutine that computes does not give the "
            "loop back until it is done, so nothing overlaps; they are for waiting, not computing.",
            gained(coro) ? "came out ahead only by the machine's noise" : "do not gain", versus_ideal(*coro));
    if (procs)
        s += fmt::format(" Processes {} ({}), each worker a process of its own: {} over {} processes.",
                         gained(procs) ? "gain as threads do" : "gained little here as well", versus_ideal(*procs),
                         mib(procs->peak_rss_bytes), procs->processes);
    const WayResult* py_thr = find(results, Way::threads, "Python");
    const WayResult* py_procs = find(results, Way::processes, "Python");
    if (py_thr || py_procs) {
        s += fmt::format(" Python counted the primes below {} (pure Python is far slower at it).",
                         grouped(o.python_cpu_size));
        if (py_thr)
            s += fmt::format(
                " Its threads {} ({}): the GIL lets one thread run Python bytecode at a time, so they take turns on "
                "one core.",
                gained(py_thr) ? "came out ahead only by the machine's noise" : "gain nothing", versus_ideal(*py_thr));
        if (py_procs)
            s += fmt::format(" Its processes {} ({}): each has an interpreter, and a GIL, of its own.",
                             gained(py_procs) ? "do gain" : "gained little here, but they can", versus_ideal(*py_procs));
        s += " That is the course's rule for CPU-bound Python: processes, not threads; in C++ both work.";
    }
    return s;
}

}  // namespace

std::string explanation(const std::vector<WayResult>& results, const RaceOptions& o) {
    return wrap(o.job == Job::cpu ? cpu_explanation(results, o) : io_explanation(results, o), 100);
}

nlohmann::json to_json(const std::vector<WayResult>& results, const RaceOptions& o) {
    nlohmann::json ways = nlohmann::json::array();
    for (const WayResult& r : results) {
        nlohmann::json j;
        j["way"] = std::string(way_name(r.way));
        j["lang"] = r.lang;
        j["label"] = r.label;
        j["skipped"] = r.skipped.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.skipped);
        j["at_once"] = r.at_once;
        j["pages"] = r.pages;
        j["ok"] = r.ok;
        j["failed"] = r.failed;
        j["wall_s"] = r.wall_s;
        j["pages_per_s"] = r.pages_per_s;
        j["cpu_s"] = r.cpu_s;
        j["peak_rss_bytes"] = r.peak_rss_bytes;
        j["processes"] = r.processes;
        j["speedup"] = r.speedup ? nlohmann::json(*r.speedup) : nlohmann::json(nullptr);
        j["ideal_speedup"] = r.ideal_speedup;
        j["primes"] = r.answer ? nlohmann::json(*r.answer) : nlohmann::json(nullptr);
        ways.push_back(std::move(j));
    }
    nlohmann::json opts;
    opts["job"] = o.job == Job::cpu ? "cpu" : "io";
    opts["workers"] = o.workers;
    opts["python"] = o.python;
    if (o.job == Job::cpu) {
        opts["cpu_size"] = o.cpu_size;
        opts["chunks"] = o.chunks;
        opts["cores"] = available_cores();
        if (o.python) opts["python_cpu_size"] = o.python_cpu_size;
    } else {
        opts["pages"] = o.urls.empty() ? o.pages : o.urls.size();
        opts["urls"] = o.urls;
        opts["latency"] = format_duration(o.latency);
        opts["jitter"] = format_duration(o.jitter);
        opts["concurrency"] = o.concurrency;
    }
    nlohmann::json out;
    out["options"] = std::move(opts);
    out["ideal_formula"] =
        std::string(o.job == Job::cpu ? cpu_ideal_formula : o.urls.empty() ? ideal_formula : urls_ideal_formula);
    out["ways"] = std::move(ways);
    return out;
}

}  // namespace aio::app
