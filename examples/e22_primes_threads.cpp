// E22 — the primes in 2..2,000,000 again (E21), now with two threads, one half each. The seed's
// Python threads gave no speed-up (thread 1 finished after 4.1 s, thread 2 after 5.7 s: about the
// 5.98 s of the sequential count), because the GIL lets one thread run Python code at a time. C++
// has no GIL: the two threads run on two CPUs at once. To compare like with like, this demo also
// repeats E21's two processes in the same run.
// Standalone: examples/e22_primes_threads. In the CLI: aiocpp demo primes_threads.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"
#include "primes.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

using namespace aio_demo::primes;  // count_primes, grouped, kFirst, kMiddle, kEnd

constexpr int kLow[] = {kFirst, kMiddle}, kHigh[] = {kMiddle, kEnd};  // half k is [kLow[k], kHigh[k])

void run(const aio_demo::Options&) {
    fmt::print("Counting the primes in {}..{} by trial division, as in E21.\n\n", grouped(kFirst), grouped(kEnd - 1));

    auto t0 = Clock::now();
    const long total = count_primes(kFirst, kEnd);
    const double t_seq = seconds_since(t0);
    fmt::print("sequential, one thread:  {} primes in {:.2f} s\n", grouped(total), t_seq);

    // Python: t1 = threading.Thread(target=count_primes, args=(1, 2, 1000001)); t2 likewise; start; join.
    // Threads share this process's memory, so each writes its count straight into `counts`.
    fmt::print("\ntwo threads, one half each (threads share memory: each writes its count into an array):\n");
    long counts[2] = {0, 0};
    double times[2] = {0, 0};
    t0 = Clock::now();
    {
        auto body = [&](int k) {
            const auto start = Clock::now();
            counts[k] = count_primes(kLow[k], kHigh[k]);
            times[k] = seconds_since(start);
        };
        aio::threading::Thread t1(aio::threading::ThreadOptions{.name = "Thread 1"}, body, 0);
        aio::threading::Thread t2(aio::threading::ThreadOptions{.name = "Thread 2"}, body, 1);
        t1.start();
        t2.start();
        t1.join();
        t2.join();
    }
    const double t_threads = seconds_since(t0);
    for (int k = 0; k < 2; ++k)
        fmt::print("   Thread {} is finished. Spent {:.2f} s: {} primes in {}..{}\n", k + 1, times[k], grouped(counts[k]),
                   grouped(kLow[k]), grouped(kHigh[k] - 1));
    const long sum = counts[0] + counts[1];
    fmt::print("   in all: {} primes in {:.2f} s, speed-up {:.2f}x; the same count as one thread: {}\n", grouped(sum), t_threads,
               t_seq / t_threads, sum == total ? "yes" : "NO");
    const double slower = std::max(times[0], times[1]);
    fmt::print("   the most two CPUs can give with these unequal halves: ({:.2f} + {:.2f}) / {:.2f} = {:.2f}x\n", times[0], times[1],
               slower, (times[0] + times[1]) / slower);

    // E21's processes, for comparison in the same run.
    fmt::print("\nfor comparison, E21's two processes (fork), results through an aio::mp::Queue:\n");
    t0 = Clock::now();
    long proc_sum = 0;
    {
        aio::mp::Queue<std::pair<int, long>> q;
        auto child = [](int k, aio::mp::Queue<std::pair<int, long>> queue) { queue.put({k, count_primes(kLow[k], kHigh[k])}); };
        aio::mp::Process p1(child, 0, q), p2(child, 1, q);
        p1.start();
        p2.start();
        p1.join();
        p2.join();
        while (!q.empty()) proc_sum += q.get().second;
    }
    const double t_procs = seconds_since(t0);
    fmt::print("   in all: {} primes in {:.2f} s, speed-up {:.2f}x\n", grouped(proc_sum), t_procs, t_seq / t_procs);

    const double s_threads = t_seq / t_threads, s_procs = t_seq / t_procs;
    fmt::print("\nthreads {:.2f}x, processes {:.2f}x: ", s_threads, s_procs);
    if (aio::mp::cpu_count() < 2)
        fmt::print("this process may use only one CPU, so neither can speed anything up here.\n");
    else if (std::max(s_threads, s_procs) < 1.2)
        fmt::print("neither sped up much: other programs are busy on this machine's CPUs,\n"
                   "so the two halves did not get a CPU each. Run the demo again when the machine is idle.\n");
    else if (s_threads >= 0.85 * s_procs)
        fmt::print("in C++ the threads speed this up as much as the processes do.\n");
    else
        fmt::print("the threads did less well than the processes this time; other programs on the machine\n"
                   "share its CPUs, so timings vary from run to run: run the demo again.\n");
    fmt::print("\nThe seed's Python threads gave no speed-up: thread 1 finished after 4.1 s and thread 2 after 5.7 s,\n"
               "the pair taking about as long as the sequential count (5.98 s), because CPython's GIL lets only one\n"
               "thread execute Python code at a time: they took turns on one CPU. In Python only processes run\n"
               "this in parallel. C++ has no GIL: each thread runs on its own CPU, sharing the process's memory,\n"
               "with no process to start and nothing to send back. In both versions the upper half takes longer\n"
               "(its divisors go higher), so the speed-up is bounded by the slower half, below 2.\n");
}

const aio_demo::Registration registration{{
    .name = "primes_threads",
    .number = 22,
    .summary = "The primes of E21 on two threads: no GIL in C++, so threads speed it up as processes do.",
    .run = &run,
}};

}  // namespace
