// Issue #6's benchmarks: the processes layer (aio::mp::Pool), one cold run per process, printing
// one line in the format of ../shared/peers (bench=... n=... seconds=...), `seconds=` last.
// Usage: aio_mp_micro BENCH [N]
//   mp_apply      Python micro.py mp_apply: Pool(2) started and warmed by one call, then N
//                 apply_async(noop) and get() on each (N = 10,000)
//   mp_roundtrip  one apply_async(noop).get() at a time, N times (pool warmed first): median and
//                 p99 round-trip latency (N = 2,000); peer: bench/py_mp_peer.py roundtrip
//   mp_map        Pool(2).map(square, 0..N-1), default chunksize (pool warmed first); peer:
//                 bench/py_mp_peer.py map (N = 10,000)
//   sqrt_seq      E12: sum of sqrt(i), i = 1..N, in this process (N = 50,000,000)
//   sqrt_mp       the same split into cpu_count() contiguous ranges over Pool(cpu_count()) with
//                 apply_async + get (pool start-up and shutdown included, as micro.py's sqrt_mp)
//   primes_seq    E21: count primes below N by odd trial division up to sqrt, in the 64
//                 interleaved chunks of micro.py, one after another (N = 2,000,000)
//   primes_mp     the same 64 chunks over Pool(2) with starmap and the default chunksize, as
//                 micro.py's primes_mp (pool start-up and shutdown included)
//   sqrt_fork     the machine's ceiling for sqrt_mp, no pool: fork() cpu_count() children, each
//                 sums its range and writes it to a pipe, waitpid them (all included)
//   primes_fork   the same for primes_mp: fork() 2 children, child j counts chunks j, j+2, ...
//   sqrt_pair     what two busy vCPUs give: half of E12's sum timed alone in this process, then
//                 each half timed inside one of two forked children running at once; prints the
//                 children's slowdown (N = 50,000,000)
//   mp_balance    balance of the window policy: after 1,000 no-ops (so the pool queues deeply),
//                 one task of 200 ms then 63 of 5 ms (busy loops) on Pool(2), all submitted at
//                 once; the ideal is half the work, 257.5 ms (N ignored)
//   mp_mid        tasks of a few milliseconds, where the round trip between two tasks shows: N
//                 tasks busy for 1 ms each on Pool(2), warmed, all submitted at once; the ideal is
//                 N/2 ms (N = 1,000); peer: bench/py_mp_peer.py mid
//   pool_cost     the pool's fixed cost, N rounds (N = 30): making Pool(2) and running two no-op
//                 tasks, then destroying it, beside two bare fork() + _exit + waitpid; prints the
//                 medians and the largest of each (seconds= is the median start + stop)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <string>
#include <tuple>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "aio/mp/pool.hpp"
#include "aio/mp/process.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void noop() {}

int64_t square(int64_t x) { return x * x; }

/// Keeps a CPU busy for `us` microseconds.
void spin_for(int64_t us) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    while (std::chrono::steady_clock::now() < end) {
    }
}

// Not inlined: the one-process and the pooled runs must execute the same machine code, or the
// speed-up measures the compiler's choices rather than the pool (see threads_micro.cpp).
[[gnu::noinline]] double sqrt_range(uint64_t lo, uint64_t hi) {
    double s = 0;
    for (uint64_t i = lo; i < hi; ++i) s += std::sqrt(static_cast<double>(i));
    return s;
}

constexpr int kChunks = 64;  // micro.py's CHUNKS

bool is_prime(int64_t x) {
    if (x < 2) return false;
    if (x % 2 == 0) return x == 2;
    for (int64_t d = 3; d * d <= x; d += 2)
        if (x % d == 0) return false;
    return true;
}

// micro.py's count_primes_chunk: chunk k takes every kChunks-th block of 1000 numbers.
[[gnu::noinline]] int64_t count_primes_chunk(int k, int64_t n) {
    int64_t c = 0;
    for (int64_t start = int64_t{k} * 1000; start < n; start += int64_t{kChunks} * 1000)
        for (int64_t x = start, end = std::min(start + 1000, n); x < end; ++x)
            if (is_prime(x)) ++c;
    return c;
}

struct Out {
    double seconds = 0;
    std::string extra;  // " key=value ..." before seconds=
};

std::string fmt(const char* f, auto... v) {
    char buf[256];
    std::snprintf(buf, sizeof buf, f, v...);
    return buf;
}

/// Pool(2), warmed by one call, then `n` apply_async(fn, args...) at once and get() on each:
/// the seconds from the first submit to the last result.
template <class... A>
double burst_seconds(size_t n, void (*fn)(A...), A... args) {
    aio::mp::Pool pool(2);
    pool.apply(noop);
    const auto t0 = Clock::now();
    std::vector<aio::mp::AsyncResult<void>> rs;
    rs.reserve(n);
    for (size_t i = 0; i < n; ++i) rs.push_back(pool.apply_async(fn, args...));
    for (auto& r : rs) r.get();
    return since(t0);
}

Out mp_apply(size_t n) {
    Out o;
    o.seconds = burst_seconds(n, noop);
    o.extra = fmt(" us_per_task=%.2f", o.seconds * 1e6 / static_cast<double>(n));
    return o;
}

Out mp_roundtrip(size_t n) {
    aio::mp::Pool pool(2);
    pool.apply(noop);
    std::vector<int64_t> ns;
    ns.reserve(n);
    const auto t0 = Clock::now();
    for (size_t i = 0; i < n; ++i) {
        const auto a = Clock::now();
        pool.apply_async(noop).get();
        ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - a).count());
    }
    Out o;
    o.seconds = since(t0);
    std::sort(ns.begin(), ns.end());
    const auto at = [&](double q) { return ns.empty() ? 0 : ns[std::min(ns.size() - 1, static_cast<size_t>(q * static_cast<double>(ns.size())))]; };
    o.extra = fmt(" median_ns=%lld p99_ns=%lld min_ns=%lld max_ns=%lld", static_cast<long long>(at(0.5)),
                  static_cast<long long>(at(0.99)), static_cast<long long>(ns.empty() ? 0 : ns.front()),
                  static_cast<long long>(ns.empty() ? 0 : ns.back()));
    return o;
}

Out mp_map(size_t n) {
    aio::mp::Pool pool(2);
    pool.apply(noop);
    std::vector<int64_t> items(n);
    for (size_t i = 0; i < n; ++i) items[i] = static_cast<int64_t>(i);
    const auto t0 = Clock::now();
    const std::vector<int64_t> r = pool.map(square, items);
    Out o;
    o.seconds = since(t0);
    int64_t s = 0;
    for (int64_t x : r) s += x;
    o.extra = fmt(" ns_per_item=%.1f result=%lld", o.seconds * 1e9 / static_cast<double>(n), static_cast<long long>(s));
    return o;
}

Out mp_balance(size_t) {
    aio::mp::Pool pool(2);
    {
        std::vector<aio::mp::AsyncResult<void>> warm;
        for (int i = 0; i < 1000; ++i) warm.push_back(pool.apply_async(noop));
        for (auto& r : warm) r.get();
    }
    const auto t0 = Clock::now();
    std::vector<aio::mp::AsyncResult<void>> rs;
    rs.push_back(pool.apply_async(spin_for, int64_t{200'000}));
    for (int i = 0; i < 63; ++i) rs.push_back(pool.apply_async(spin_for, int64_t{5'000}));
    for (auto& r : rs) r.get();
    Out o;
    o.seconds = since(t0);
    o.extra = fmt(" ideal_seconds=0.2575 ratio_to_ideal=%.3f", o.seconds / 0.2575);
    return o;
}

Out sqrt_seq(size_t n) {
    const auto t0 = Clock::now();
    const double s = sqrt_range(1, n + 1);
    Out o;
    o.seconds = since(t0);
    o.extra = fmt(" result=%.6e", s);
    return o;
}

Out sqrt_mp(size_t n) {
    const auto t0 = Clock::now();
    double s = 0;
    int procs = 0;
    {
        aio::mp::Pool pool;  // cpu_count() workers, as micro.py's Pool(os.cpu_count())
        procs = pool.processes();
        const auto p = static_cast<uint64_t>(procs);
        const uint64_t step = n / p;
        std::vector<aio::mp::AsyncResult<double>> parts;
        for (uint64_t k = 0; k < p; ++k) {
            const uint64_t lo = 1 + k * step, hi = k + 1 < p ? 1 + (k + 1) * step : n + 1;
            parts.push_back(pool.apply_async(sqrt_range, lo, hi));
        }
        for (auto& r : parts) s += r.get();
    }  // leaving the scope stops the workers, as leaving Python's `with Pool() as pool:`
    Out o;
    o.seconds = since(t0);
    o.extra = fmt(" result=%.6e procs=%d", s, procs);
    return o;
}

Out primes_seq(size_t n) {
    const auto t0 = Clock::now();
    int64_t c = 0;
    for (int k = 0; k < kChunks; ++k) c += count_primes_chunk(k, static_cast<int64_t>(n));
    Out o;
    o.seconds = since(t0);
    o.extra = fmt(" result=%lld", static_cast<long long>(c));
    return o;
}

Out primes_mp(size_t n) {
    const auto t0 = Clock::now();
    int64_t c = 0;
    {
        aio::mp::Pool pool(2);
        std::vector<std::tuple<int, int64_t>> args;
        for (int k = 0; k < kChunks; ++k) args.emplace_back(k, static_cast<int64_t>(n));
        for (int64_t x : pool.starmap(count_primes_chunk, args)) c += x;
    }
    Out o;
    o.seconds = since(t0);
    o.extra = fmt(" result=%lld procs=2", static_cast<long long>(c));
    return o;
}

// Runs part(k) for k = 0..procs-1 in forked children and adds up what they write back.
template <class T, class Part>
T fork_sum(int procs, Part part) {
    std::vector<std::pair<pid_t, int>> kids;
    for (int k = 0; k < procs; ++k) {
        int fd[2];
        if (::pipe(fd) != 0) std::abort();
        const pid_t pid = ::fork();
        if (pid < 0) std::abort();
        if (pid == 0) {
            ::close(fd[0]);
            const T v = part(k);
            if (::write(fd[1], &v, sizeof v) != static_cast<ssize_t>(sizeof v)) ::_exit(1);
            ::_exit(0);
        }
        ::close(fd[1]);
        kids.emplace_back(pid, fd[0]);
    }
    T sum{};
    for (auto [pid, fd] : kids) {
        T v{};
        if (::read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) std::abort();
        sum += v;
        ::close(fd);
        int st = 0;
        ::waitpid(pid, &st, 0);
    }
    return sum;
}

Out sqrt_pair(size_t n) {
    const auto t0 = Clock::now();
    volatile double sink = sqrt_range(1, n / 2 + 1);
    const double alone = since(t0);
    (void)sink;
    // Each child times its own half and writes the time back.
    const auto t1 = Clock::now();
    const double both = fork_sum<double>(2, [&](int k) {
        const auto a = Clock::now();
        volatile double v = k == 0 ? sqrt_range(1, n / 2 + 1) : sqrt_range(n / 2 + 1, n + 1);
        (void)v;
        return since(a);
    });
    Out o;
    o.seconds = since(t1);
    o.extra = fmt(" half_alone_ms=%.1f half_beside_ms=%.1f slowdown=%.3f", alone * 1e3, both / 2 * 1e3, both / 2 / alone);
    return o;
}

Out sqrt_fork(size_t n) {
    const auto t0 = Clock::now();
    const int procs = aio::mp::cpu_count();
    const auto p = static_cast<uint64_t>(procs);
    const uint64_t step = n / p;
    const double s = fork_sum<double>(procs, [&](int k) {
        const auto u = static_cast<uint64_t>(k);
        return sqrt_range(1 + u * step, u + 1 < p ? 1 + (u + 1) * step : n + 1);
    });
    Out o;
    o.seconds = since(t0);
    o.extra = fmt(" result=%.6e procs=%d", s, procs);
    return o;
}

Out primes_fork(size_t n) {
    const auto t0 = Clock::now();
    const int64_t c = fork_sum<int64_t>(2, [&](int j) {
        int64_t m = 0;
        for (int k = j; k < kChunks; k += 2) m += count_primes_chunk(k, static_cast<int64_t>(n));
        return m;
    });
    Out o;
    o.seconds = since(t0);
    o.extra = fmt(" result=%lld procs=2", static_cast<long long>(c));
    return o;
}

Out mp_mid(size_t n) {
    Out o;
    o.seconds = burst_seconds(n, spin_for, int64_t{1'000});
    const double ideal = static_cast<double>(n) * 1e-3 / 2;
    o.extra = fmt(" ideal_seconds=%.4f ratio_to_ideal=%.3f", ideal, o.seconds / ideal);
    return o;
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

Out pool_cost(size_t n) {
    std::vector<double> start, stop, bare;
    for (size_t i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        Clock::time_point t1;
        {
            aio::mp::Pool pool(2);
            auto a = pool.apply_async(noop);
            auto b = pool.apply_async(noop);
            a.get();
            b.get();
            t1 = Clock::now();
        }
        stop.push_back(since(t1));
        start.push_back(std::chrono::duration<double>(t1 - t0).count());
        const auto f0 = Clock::now();
        pid_t kids[2];
        for (auto& k : kids)
            if ((k = ::fork()) == 0) ::_exit(0);
        for (auto k : kids) ::waitpid(k, nullptr, 0);
        bare.push_back(since(f0));
    }
    Out o;
    o.seconds = median_of(start) + median_of(stop);
    o.extra = fmt(" start_ms=%.3f start_max_ms=%.3f stop_ms=%.3f stop_max_ms=%.3f bare_2fork_ms=%.3f bare_max_ms=%.3f",
                  median_of(start) * 1e3, max_of(start) * 1e3, median_of(stop) * 1e3, max_of(stop) * 1e3,
                  median_of(bare) * 1e3, max_of(bare) * 1e3);
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: aio_mp_micro mp_apply|mp_roundtrip|mp_map|mp_balance|mp_mid|pool_cost|sqrt_pair|sqrt_seq|sqrt_mp|sqrt_fork|primes_seq|primes_mp|primes_fork [N]\n");
        return 2;
    }
    const std::string b = argv[1];
    size_t n = 0;
    if (b == "mp_apply" || b == "mp_map") n = 10'000;
    else if (b == "mp_balance") n = 1;
    else if (b == "pool_cost") n = 30;
    else if (b == "mp_mid") n = 1'000;
    else if (b == "mp_roundtrip") n = 2'000;
    else if (b == "sqrt_seq" || b == "sqrt_mp" || b == "sqrt_fork" || b == "sqrt_pair") n = 50'000'000;
    else if (b == "primes_seq" || b == "primes_mp" || b == "primes_fork") n = 2'000'000;
    else {
        std::fprintf(stderr, "unknown benchmark %s\n", b.c_str());
        return 2;
    }
    if (argc > 2) n = std::strtoull(argv[2], nullptr, 10);
    if (n == 0) {
        std::fprintf(stderr, "N must be a positive integer\n");
        return 2;
    }
    Out o;
    if (b == "mp_apply") o = mp_apply(n);
    else if (b == "mp_balance") o = mp_balance(n);
    else if (b == "pool_cost") o = pool_cost(n);
    else if (b == "mp_mid") o = mp_mid(n);
    else if (b == "mp_roundtrip") o = mp_roundtrip(n);
    else if (b == "mp_map") o = mp_map(n);
    else if (b == "sqrt_seq") o = sqrt_seq(n);
    else if (b == "sqrt_mp") o = sqrt_mp(n);
    else if (b == "sqrt_fork") o = sqrt_fork(n);
    else if (b == "sqrt_pair") o = sqrt_pair(n);
    else if (b == "primes_seq") o = primes_seq(n);
    else if (b == "primes_mp") o = primes_mp(n);
    else o = primes_fork(n);
    std::printf("bench=aio_%s n=%zu%s seconds=%.6f\n", b.c_str(), n, o.extra.c_str(), o.seconds);
}
