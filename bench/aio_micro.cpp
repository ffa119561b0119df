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
#include <malloc.h>

#include <aio/aio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {
aio::Task<void> trivial() { co_return; }
aio::Task<void> yield_once() { co_await aio::sleep(0ms); }

aio::Task<void> spawn_all(size_t n, bool yield) {
    std::vector<aio::TaskHandle<void>> hs;
    hs.reserve(n);
    for (size_t i = 0; i < n; ++i) hs.push_back(aio::create_task(yield ? yield_once() : trivial()));
    for (auto& h : hs) co_await h;
}

aio::Task<void> gather_sleep0(size_t n) {
    std::vector<aio::Task<void>> ts;
    ts.reserve(n);
    for (size_t i = 0; i < n; ++i) ts.push_back(yield_once());
    co_await aio::gather(std::move(ts));
}

aio::Task<void> create_await(size_t n) {
    for (size_t i = 0; i < n; ++i) co_await aio::create_task(trivial());
}

aio::Task<void> spin(size_t k) {
    for (size_t i = 0; i < k; ++i) co_await aio::sleep(0ms);
}

aio::Task<double> sleepers(size_t n) {
    auto sleeper = []() -> aio::Task<void> { co_await aio::sleep(1h); };
    auto before = mallinfo2().uordblks;
    for (size_t i = 0; i < n; ++i) (void)aio::create_task(sleeper());
    co_await aio::sleep(0ms);  // every task has started and is asleep
    co_return static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(n);
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: aio_micro BENCH [N]\n");
        return 2;
    }
    const std::string b = argv[1];
    const size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1'000'000;
    std::string result;
    auto t0 = std::chrono::steady_clock::now();
    if (b == "spawn_trivial" || b == "spawn_yield") {
        aio::run(spawn_all(n, b == "spawn_yield"));
    } else if (b == "tasks") {
        aio::run(gather_sleep0(n));
    } else if (b == "create_await") {
        aio::run(create_await(n));
    } else if (b == "switch") {
        aio::run([](size_t k) -> aio::Task<void> { co_await aio::gather(spin(k / 2), spin(k / 2)); }(n));
    } else if (b == "timers") {
        std::mt19937 rng(42);
        std::uniform_int_distribution<int> us(0, 10'000);
        std::vector<int> delays(n);
        for (auto& d : delays) d = us(rng);
        t0 = std::chrono::steady_clock::now();
        aio::EventLoop loop;
        size_t fired = 0;
        for (size_t i = 0; i < n; ++i)
            loop.call_later(std::chrono::microseconds(delays[i]), [&fired, &loop, n] {
                if (++fired == n) loop.stop();
            });
        loop.run_forever();
        if (fired != n) return 1;
    } else if (b == "sleepers") {
        double bytes = aio::run(sleepers(n));
        result = " result=" + std::to_string(bytes);
    } else if (b == "threadsafe") {
        aio::EventLoop loop;
        size_t got = 0;
        std::thread producer([&] {
            for (size_t i = 0; i < n; ++i) loop.call_soon_threadsafe([&got] { ++got; });
            loop.call_soon_threadsafe([&loop] { loop.stop(); });
        });
        loop.run_forever();
        producer.join();
        if (got != n) return 1;
    } else {
        std::fprintf(stderr, "unknown benchmark %s\n", b.c_str());
        return 2;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bench=aio_%s n=%zu seconds=%.6f%s\n", b.c_str(), n, s, result.c_str());
}
