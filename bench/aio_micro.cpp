// Peer-shaped micro-benchmarks: one cold run per process, printing one line in the format of
// ../shared/peers (bench=... n=... seconds=...), so bench/compare_core.sh can put each figure
// next to the peer's, measured in the same session. Usage: aio_micro BENCH [N]
//   spawn_trivial | spawn_yield   Tokio spawn_tokio / Asio spawn_asio: spawn N tasks, await each
//   tasks                         Python micro.py tasks: N tasks awaiting sleep(0), gathered
//   create_await                  create_task + await, one at a time
//   switch                        two tasks alternating through sleep(0): N switches in all
//   timers                        N call_later callbacks, random delays within 10 ms
//   sleepers                      N tasks asleep at once: prints heap bytes per task as result=
//   threadsafe                    N call_soon_threadsafe from another thread
//   queue                         Python micro.py queue: Queue(), one producer task puts N ints, one
//                                 consumer task gets them
//   queue_handoff                 the same through Queue(1): every item is a hand-off between the tasks
//   lock_uncontended              N acquire + release of a free Lock in one task
//   lock_contended                1,000 tasks taking a Lock N/1000 times each, every time a hand-off
//   semaphore                     N tasks bounded by Semaphore(100), each awaiting sleep(0) inside
#include <cstdio>
#include <cstdlib>
#include <string>

#include "workloads.hpp"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: aio_micro BENCH [N]\n");
        return 2;
    }
    const std::string b = argv[1];
    const size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1'000'000;
    std::string result;
    const auto delays = b == "timers" ? bench::timer_delays(n) : std::vector<int>{};
    const auto t0 = std::chrono::steady_clock::now();
    bool ok = true;
    if (b == "spawn_trivial" || b == "spawn_yield") aio::run(bench::spawn_all(n, b == "spawn_yield"));
    else if (b == "tasks") aio::run(bench::gather_sleep0(n));
    else if (b == "create_await") aio::run(bench::create_await(n));
    else if (b == "switch") aio::run(bench::ping_pong(n));
    else if (b == "timers") ok = bench::timers(delays);
    else if (b == "sleepers") result = " result=" + std::to_string(aio::run(bench::sleepers(n)));
    else if (b == "threadsafe") ok = bench::threadsafe(n);
    else if (b == "queue" || b == "queue_handoff") ok = bench::queue_sum_ok(n, aio::run(bench::queue_pass(n, b == "queue" ? 0 : 1)));
    else if (b == "lock_uncontended") ok = aio::run(bench::lock_uncontended(n)) == n;
    else if (b == "lock_contended") ok = aio::run(bench::lock_contended(1000, n / 1000)) == n / 1000 * 1000;
    else if (b == "semaphore") aio::run(bench::semaphore_bounded(n, 100));
    else {
        std::fprintf(stderr, "unknown benchmark %s\n", b.c_str());
        return 2;
    }
    if (!ok) {
        std::fprintf(stderr, "%s: wrong result (lost callbacks, items or acquisitions)\n", b.c_str());
        return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bench=aio_%s n=%zu seconds=%.6f%s\n", b.c_str(), n, s, result.c_str());
}
