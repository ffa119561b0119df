// E12, E13 — the seed's own version of the sum of sqrt: processes. Python's threads could not
// speed it up (the GIL), so the course splits the range over multiprocessing.Pool(cpu_count())
// with apply_async and collects the parts with .get() (E12: threads 8 s, processes 1.5 s), then
// does the same through concurrent.futures.ProcessPoolExecutor (E13). Here: aio::mp::Pool and
// aio::ProcessPoolExecutor, against one process doing it all. The threads version (no GIL in C++,
// so threads help too) is the demo sum_of_sqrt.
// Standalone: examples/e12_sum_of_sqrt_processes [--virtual-time: a smaller N, for tests].
// In the CLI: aiocpp demo sum_of_sqrt_processes.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Not inlined: the one-process run and the workers then execute the same machine code. Inlined
// into run(), g++ 12 kept the running sum in memory instead of a register (the sqrt call's errno
// path is in the way), which made the one-process loop about 30% slower and the speed-up look
// better than 2x on 2 CPUs.
[[gnu::noinline]] double sqrt_range(uint64_t lo, uint64_t hi) {
    double s = 0;
    for (uint64_t i = lo; i < hi; ++i) s += std::sqrt(static_cast<double>(i));
    return s;
}

/// The task a worker runs: its part of the sum, and who computed it (pid, process name).
/// A plain function with Sendable arguments and result, as a Pool task must be: the worker is a
/// fork of this program, so only the function's address and the two numbers travel.
std::tuple<double, int, std::string> sum_part(uint64_t lo, uint64_t hi) {
    return {sqrt_range(lo, hi), static_cast<int>(::getpid()), aio::mp::current_process_name()};
}

struct Range {
    uint64_t lo, hi;  // [lo, hi)
};
/// 1..n in `parts` consecutive ranges (the last takes the remainder).
std::vector<Range> split(uint64_t n, int parts) {
    std::vector<Range> out;
    const uint64_t step = n / static_cast<uint64_t>(parts);
    for (uint64_t k = 0; k < static_cast<uint64_t>(parts); ++k)
        out.push_back({1 + k * step, k + 1 < static_cast<uint64_t>(parts) ? 1 + (k + 1) * step : n + 1});
    return out;
}

constexpr double kTolerance = 1e-12;

/// Prints the parts, the total and whether it agrees with the one-process sum.
void report(const char* what, int workers, const std::vector<Range>& ranges,
            const std::vector<std::tuple<double, int, std::string>>& parts, double start_s, double total_s, double one,
            double t_one) {
    double sum = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
        const auto& [part, pid, name] = parts[k];
        fmt::print("      i = {:>8}..{:<8} summed by {} (pid {}): {:.4f}\n", ranges[k].lo, ranges[k].hi - 1, name, pid, part);
        sum += part;
    }
    fmt::print("   {} with {} worker processes: {:.3f} s  sum = {:.4f}  speed-up {:.2f}x\n", what, workers, total_s, sum,
               t_one / total_s);
    fmt::print("      (of which {:.1f} ms to start the workers)\n", start_s * 1000.0);
    const double rel = std::fabs(sum - one) / std::fabs(one);
    fmt::print("   the sums {}: relative difference {:.1e} (tolerance {:.0e})\n", rel <= kTolerance ? "agree" : "DIFFER", rel,
               kTolerance);
}

#if defined(AIO_HAVE_MPI)
/// The MPI ranks' task: a range's part of the sum, and the pid of the rank that computed it.
std::tuple<double, int> sum_part_on_rank(uint64_t lo, uint64_t hi) { return {sqrt_range(lo, hi), static_cast<int>(::getpid())}; }
AIO_MPI_REGISTER(sum_part_on_rank);
#endif

void run(const aio_demo::Options& options) {
    const uint64_t n = options.virtual_time ? 2'000'000 : 50'000'000;
    const int cores = aio::mp::cpu_count();
    const auto ranges = split(n, cores);
    fmt::print("N = {}, cpu_count() = {}: the sum is split into {} range(s), one per CPU\n", n, cores, ranges.size());
    fmt::print("(this process is pid {})\n\n", ::getpid());

    fmt::print("E12: sum of sqrt(i), i = 1..N\n");
    auto t0 = Clock::now();
    const double one = sqrt_range(1, n + 1);
    const double t_one = seconds_since(t0);
    fmt::print("   one process, one loop:                 {:.3f} s  sum = {:.4f}\n\n", t_one, one);

    // Python: with Pool(cpu_count()) as pool:
    //             results = [pool.apply_async(sum_part, (lo, hi)) for lo, hi in ranges]
    //             total = sum(r.get() for r in results)
    fmt::print("   Pool(cpu_count()), apply_async per range, then .get() on each result:\n");
    {
        t0 = Clock::now();
        aio::mp::Pool pool(cores);
        const double start_s = seconds_since(t0);
        std::vector<aio::mp::AsyncResult<std::tuple<double, int, std::string>>> results;
        for (const Range& r : ranges) results.push_back(pool.apply_async(sum_part, r.lo, r.hi));
        std::vector<std::tuple<double, int, std::string>> parts;
        for (const auto& r : results) parts.push_back(r.get());
        const double total_s = seconds_since(t0);
        report("Pool.apply_async + get", pool.processes(), ranges, parts, start_s, total_s, one, t_one);
    }

    // Python: with ProcessPoolExecutor(cpu_count()) as ex:
    //             futures = [ex.submit(sum_part, lo, hi) for lo, hi in ranges]
    //             total = sum(f.result() for f in futures)
    fmt::print("\nE13: the same through concurrent.futures: ProcessPoolExecutor(cpu_count()), submit + result():\n");
    {
        t0 = Clock::now();
        aio::ProcessPoolExecutor executor(cores);
        const double start_s = seconds_since(t0);
        std::vector<aio::ConcurrentFuture<std::tuple<double, int, std::string>>> futures;
        for (const Range& r : ranges) futures.push_back(executor.submit(sum_part, r.lo, r.hi));
        std::vector<std::tuple<double, int, std::string>> parts;
        for (auto& f : futures) parts.push_back(f.result());
        const double total_s = seconds_since(t0);
        report("ProcessPoolExecutor.submit + result", cores, ranges, parts, start_s, total_s, one, t_one);
    }

#if defined(AIO_HAVE_MPI)
    // Python (mpi4py): with MPIPoolExecutor(n) as ex: parts = list(ex.starmap(sum_part, ranges))
    if (options.mpi > 0) {
        fmt::print("\n--mpi {0}: the same over {0} MPI ranks, MPIPoolExecutor({0}).starmap (spawned workers):\n", options.mpi);
        const auto rank_ranges = split(n, options.mpi);
        aio_demo::prepare_mpi();
        t0 = Clock::now();
        aio::mpi::MPIPoolExecutor ex(options.mpi);
        ex.bootup();
        const double start_s = seconds_since(t0);
        std::vector<std::tuple<uint64_t, uint64_t>> args;
        for (const Range& r : rank_ranges) args.emplace_back(r.lo, r.hi);
        std::vector<std::tuple<double, int, std::string>> parts;
        int k = 0;
        for (const auto& [part, pid] : ex.starmap(sum_part_on_rank, args)) parts.emplace_back(part, pid, "rank " + std::to_string(k++));
        const double total_s = seconds_since(t0);
        report("MPIPoolExecutor.starmap", options.mpi, rank_ranges, parts, start_s, total_s, one, t_one);
    }
#else
    if (options.mpi > 0) fmt::print("\n(--mpi: this build has no MPI layer: install libopenmpi-dev)\n");
#endif

    fmt::print("\nEach range ran in its own worker process (the pids above are not this one's), at the same time as\n"
               "the others, so with {} CPUs the best speed-up is about {}x, less what starting the workers and\n"
               "other programs on the machine take. The seed's Python figures were threads 8 s, processes 1.5 s:\n"
               "there only processes run in parallel. In C++ threads do as well (aiocpp demo sum_of_sqrt);\n"
               "processes are for isolation: a worker that crashes cannot corrupt this process's memory.\n",
               cores, cores);
    fmt::print("\nWhy the sums are compared with a tolerance and not with ==: the pool adds the same N terms in\n"
               "another order (each range from zero, then the parts). Every floating-point addition rounds its\n"
               "result to 53 significant bits, so addition is not associative, and another order rounds\n"
               "differently: the totals can differ in their last digits (by the relative difference shown).\n"
               "Those rounding errors mostly cancel, leaving differences of about 1e-14 to 1e-13 of the sum; a\n"
               "tolerance of 1e-12 is well above that noise, and far below a real mistake (a range lost or\n"
               "added twice would change the sum by whole percents).\n");
}

const aio_demo::Registration registration{{
    .name = "sum_of_sqrt_processes",
    .number = 12,
    .summary = "The sum of sqrt over 1..N in one process vs Pool.apply_async (E12) and ProcessPoolExecutor (E13).",
    .run = &run,
}};

}  // namespace
