// E21 — count the primes in 2..2,000,000: in one process, then split in two halves over two
// processes (multiprocessing.Process, fork), each putting (n, count) on a process Queue, as the
// seed does. Seed: sequential 5.98 s, 148,933 primes (78,498 below 1,000,001, 70,435 above).
// The same with two threads is E22 (aiocpp demo primes_threads).
// Standalone: examples/e21_primes_processes. In the CLI: aiocpp demo primes_processes.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"
#include "primes.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

using namespace aio_demo::primes;  // count_primes, grouped, kFirst, kMiddle, kEnd


/// The seed's count_primes(n, st, end, q), run in a child process: count, say how long it took,
/// put (n, count) on the queue that the parent created before forking.
void count_into_queue(int n, int lo, int hi, aio::mp::Queue<std::pair<int, long>> q) {
    const auto t0 = Clock::now();
    const long count = count_primes(lo, hi);
    fmt::print("   [{}, pid {}] counted {}..{} in {:.2f} s\n", aio::mp::current_process_name(), ::getpid(), grouped(lo),
               grouped(hi - 1), seconds_since(t0));
    q.put({n, count});
}

#if defined(AIO_HAVE_MPI)
/// The MPI ranks' task: the primes in [lo, hi), and the pid of the rank that counted them.
std::pair<long, int> count_primes_on_rank(int lo, int hi) { return {count_primes(lo, hi), static_cast<int>(::getpid())}; }
AIO_MPI_REGISTER(count_primes_on_rank);

/// `--mpi N`: the same count split into N ranges over N spawned MPI ranks.
void run_on_ranks(int ranks, long total, double t_seq, double t_par) {
    fmt::print("\n{} MPI ranks (aio::mpi::MPIPoolExecutor, workers spawned as new processes of this program),\n"
               "{} ranges through starmap:\n",
               ranks, ranks);
    aio_demo::prepare_mpi();
    auto t0 = Clock::now();
    aio::mpi::MPIPoolExecutor ex(ranks);
    ex.bootup();  // spawning is a one-time cost, timed apart from the work (it is most of it here)
    const double start_s = seconds_since(t0);
    t0 = Clock::now();
    std::vector<std::tuple<int, int>> ranges;
    const int step = (kEnd - kFirst) / ranks;
    for (int k = 0; k < ranks; ++k) ranges.emplace_back(kFirst + k * step, k + 1 < ranks ? kFirst + (k + 1) * step : kEnd);
    long sum = 0;
    size_t k = 0;
    for (const auto& [count, pid] : ex.starmap(count_primes_on_rank, ranges)) {
        fmt::print("   rank {} (pid {}): {} primes in {}..{}\n", k, pid, grouped(count), grouped(std::get<0>(ranges[k])),
                   grouped(std::get<1>(ranges[k]) - 1));
        sum += count;
        ++k;
    }
    const double t_mpi = seconds_since(t0);
    fmt::print("   in all: {} primes in {:.2f} s (after {:.0f} ms to spawn the ranks, once), speed-up {:.2f}x against\n"
               "   one process, {:.2f}x against the two Processes; the same count: {}\n",
               grouped(sum), t_mpi, start_s * 1000, t_seq / t_mpi, t_par / t_mpi, sum == total ? "yes" : "NO");
    fmt::print("   Ranks are processes too, started by MPI: with a hostfile they run on other machines\n"
               "   (docs/mpi.md). On this machine, ranks beyond its {} CPUs share them and add nothing.\n",
               aio::mp::cpu_count());
}
#endif

void run(const aio_demo::Options& options) {
    fmt::print("Counting the primes in {}..{} by trial division (the seed's is_prime: every divisor 2..sqrt(n)).\n\n",
               grouped(kFirst), grouped(kEnd - 1));

    fmt::print("sequential, in this process (pid {}):\n", ::getpid());
    auto t0 = Clock::now();
    const long total = count_primes(kFirst, kEnd);
    const double t_seq = seconds_since(t0);
    fmt::print("   {} primes in {:.2f} s\n", grouped(total), t_seq);

    fmt::print("\ntwo processes (fork), one half each, results through an aio::mp::Queue<std::pair<int, long>>:\n");
    t0 = Clock::now();
    aio::mp::Queue<std::pair<int, long>> q;  // made before the fork: both children hold the same queue
    aio::mp::Process p1(count_into_queue, 1, kFirst, kMiddle, q);
    aio::mp::Process p2(count_into_queue, 2, kMiddle, kEnd, q);
    p1.name("Process 1").daemon(true);  // daemon=True, as in the seed
    p2.name("Process 2").daemon(true);
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::vector<std::pair<int, long>> got;
    while (!q.empty()) got.push_back(q.get());
    const double t_par = seconds_since(t0);

    std::string arrived;
    for (const auto& [n, count] : got) arrived += fmt::format(" ({}, {})", n, count);
    fmt::print("   from the queue, in the order they arrived:{}\n", arrived);
    std::sort(got.begin(), got.end());
    long sum = 0;
    const int lows[] = {kFirst, kMiddle}, highs[] = {kMiddle - 1, kEnd - 1};
    for (const auto& [n, count] : got) {
        fmt::print("   process {}: {} primes in {}..{}\n", n, grouped(count), grouped(lows[n - 1]), grouped(highs[n - 1]));
        sum += count;
    }
    fmt::print("   in all: {} primes in {:.2f} s, speed-up {:.2f}x; the same count as in one process: {}\n", grouped(sum), t_par,
               t_seq / t_par, sum == total && got.size() == 2 ? "yes" : "NO");
    fmt::print("   exit codes: {} {}, {} {}\n", p1.name(), p1.exitcode().value_or(-999), p2.name(),
               p2.exitcode().value_or(-999));
#if defined(AIO_HAVE_MPI)
    if (options.mpi > 0) run_on_ranks(options.mpi, total, t_seq, t_par);
#else
    if (options.mpi > 0) fmt::print("\n(--mpi: this build has no MPI layer: install libopenmpi-dev)\n");
#endif

    fmt::print("\nThe two halves ran at the same time, each in its own process with its own memory: the children\n"
               "could not add to a variable of this process, so each put its (n, count) on the queue. The halves\n"
               "are not equal work: the upper one has fewer primes, but each costs more divisions (its square\n"
               "roots are larger), so it takes longer, and two processes take as long as the slower half: the\n"
               "speed-up stays below 2 even on an idle machine with two free CPUs (this one has cpu_count() = {}).\n"
               "The parent joined the children before reading the queue. Python warns against that order (a\n"
               "child may wait for its queue's feeder thread to flush before it can exit); aiocpp's Queue has no\n"
               "feeder thread: put() has written the item into shared memory when it returns, so it is safe.\n"
               "The seed's Python took 5.98 s for the sequential count.\n",
               aio::mp::cpu_count());
}

const aio_demo::Registration registration{{
    .name = "primes_processes",
    .number = 21,
    .summary = "The primes in 2..2,000,000 in one process vs two Processes with a Queue: 148,933 either way.",
    .run = &run,
}};

}  // namespace
