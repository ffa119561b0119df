// Core benchmarks (issue #2), shaped like the peers' micro-benchmarks in ../shared/peers so the
// figures can be put side by side: run `bench/compare_core.sh` to measure ours and the peers'
// in one session and print the ratios.
//
// Each benchmark reports a per-item counter (ns_per_task, ns_per_switch, ...) besides Google
// Benchmark's time per iteration: one iteration is a whole batch (e.g. 1,000,000 tasks).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <aio/aio.hpp>
#include <atomic>
#include <random>
#include <thread>

using namespace std::chrono_literals;

namespace {

aio::Task<void> trivial() { co_return; }

aio::Task<void> yield_once() { co_await aio::sleep(0ms); }

// Seconds per item → ns, as a plain counter computed from the measured real time.
struct NsPerItem {
    benchmark::State& state;
    const char* name;
    double items;
    std::chrono::steady_clock::duration total{};
    void add(std::chrono::steady_clock::duration d) { total += d; }
    ~NsPerItem() {
        double ns = std::chrono::duration<double, std::nano>(total).count();
        state.counters[name] = ns / (items * static_cast<double>(state.iterations()));
    }
};

template <class F>
void timed(NsPerItem& acc, F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    acc.add(std::chrono::steady_clock::now() - t0);
}

// 1,000,000 tasks asleep at once: heap bytes per task (frame, task registry, timer heap slot).
// Registered first: it must see fresh allocations, not frames recycled by earlier benchmarks.
void BM_SleepingTasksMemory(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    double bytes = 0, rss = 0;
    for (auto _ : state) {
        aio::run([](size_t count, double& b, double& r) -> aio::Task<void> {
            auto read_rss = [] {
                long pages = 0;
                if (FILE* f = std::fopen("/proc/self/statm", "r")) {
                    long size;
                    if (std::fscanf(f, "%ld %ld", &size, &pages) != 2) pages = 0;
                    std::fclose(f);
                }
                return static_cast<double>(pages) * 4096.0;
            };
            auto sleeper = []() -> aio::Task<void> { co_await aio::sleep(1h); };
            auto before = mallinfo2().uordblks;
            double rss0 = read_rss();
            for (size_t i = 0; i < count; ++i) (void)aio::create_task(sleeper());
            co_await aio::sleep(0ms);  // let every task start and reach its sleep
            b = static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(count);
            r = (read_rss() - rss0) / static_cast<double>(count);
            // returning lets aio::run cancel all of them, as asyncio.run does
        }(n, bytes, rss));
    }
    state.counters["heap_bytes_per_task"] = bytes;
    state.counters["rss_bytes_per_task"] = rss;
}
BENCHMARK(BM_SleepingTasksMemory)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

// Tokio `spawn_tokio 1000000 trivial` / Asio `spawn_asio 1000000 trivial`: spawn N trivial tasks,
// then await every handle.
void BM_SpawnTrivial(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_task", static_cast<double>(n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::run([](size_t count) -> aio::Task<void> {
                std::vector<aio::TaskHandle<void>> hs;
                hs.reserve(count);
                for (size_t i = 0; i < count; ++i) hs.push_back(aio::create_task(trivial()));
                for (auto& h : hs) co_await h;
            }(n));
        });
    }
}
BENCHMARK(BM_SpawnTrivial)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// The `yield` variant: every task suspends once first (Tokio yield_now, Asio post).
void BM_SpawnYield(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_task", static_cast<double>(n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::run([](size_t count) -> aio::Task<void> {
                std::vector<aio::TaskHandle<void>> hs;
                hs.reserve(count);
                for (size_t i = 0; i < count; ++i) hs.push_back(aio::create_task(yield_once()));
                for (auto& h : hs) co_await h;
            }(n));
        });
    }
}
BENCHMARK(BM_SpawnYield)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// Python `micro.py tasks`: 100,000 tasks that each await sleep(0), gathered.
void BM_GatherSleep0(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_task", static_cast<double>(n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::run([](size_t count) -> aio::Task<void> {
                std::vector<aio::Task<void>> ts;
                ts.reserve(count);
                for (size_t i = 0; i < count; ++i) ts.push_back(yield_once());
                co_await aio::gather(std::move(ts));
            }(n));
        });
    }
}
BENCHMARK(BM_GatherSleep0)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

// create_task + await, one at a time (the "create_task + await of a trivial task").
void BM_CreateTaskAwait(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_task", static_cast<double>(n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::run([](size_t count) -> aio::Task<void> {
                for (size_t i = 0; i < count; ++i) co_await aio::create_task(trivial());
            }(n));
        });
    }
}
BENCHMARK(BM_CreateTaskAwait)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// Inline await of a trivial coroutine (no task): the cost of `await coro()`.
void BM_InlineAwait(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_await", static_cast<double>(n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::run([](size_t count) -> aio::Task<void> {
                for (size_t i = 0; i < count; ++i) co_await trivial();
            }(n));
        });
    }
}
BENCHMARK(BM_InlineAwait)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// Two tasks ping-ponging through sleep(0): time per switch.
void BM_Sleep0Switch(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_switch", static_cast<double>(2 * n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::run([](size_t count) -> aio::Task<void> {
                auto spin = [](size_t k) -> aio::Task<void> {
                    for (size_t i = 0; i < k; ++i) co_await aio::sleep(0ms);
                };
                co_await aio::gather(spin(count), spin(count));
            }(n));
        });
    }
}
BENCHMARK(BM_Sleep0Switch)->Arg(5'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// 1,000,000 timers (call_later, random delays within 10 ms) scheduled and fired.
void BM_TimersScheduledAndFired(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_timer", static_cast<double>(n)};
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> us(0, 10'000);
    std::vector<int> delays(n);
    for (auto& d : delays) d = us(rng);
    for (auto _ : state) {
        timed(acc, [&] {
            aio::EventLoop loop;
            size_t fired = 0;
            for (size_t i = 0; i < n; ++i)
                loop.call_later(std::chrono::microseconds(delays[i]), [&fired, &loop, n] {
                    if (++fired == n) loop.stop();
                });
            loop.run_forever();
            if (fired != n) state.SkipWithError("not every timer fired");
        });
    }
    state.counters["seconds_total"] = std::chrono::duration<double>(acc.total).count() / static_cast<double>(state.iterations());
}
BENCHMARK(BM_TimersScheduledAndFired)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// The same with 1,000,000 sleeping tasks (a timer inside each frame).
void BM_SleepersFired(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_sleeper", static_cast<double>(n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::run([](size_t count) -> aio::Task<void> {
                std::mt19937 rng(7);
                std::uniform_int_distribution<int> us(0, 10'000);
                std::vector<aio::Task<void>> ts;
                ts.reserve(count);
                for (size_t i = 0; i < count; ++i) ts.push_back([](int d) -> aio::Task<void> {
                    co_await aio::sleep(std::chrono::microseconds(d));
                }(us(rng)));
                co_await aio::gather(std::move(ts));
            }(n));
        });
    }
}
BENCHMARK(BM_SleepersFired)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// call_soon_threadsafe from another thread: callbacks delivered per second.
void BM_CallSoonThreadsafe(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    NsPerItem acc{state, "ns_per_call", static_cast<double>(n)};
    for (auto _ : state) {
        timed(acc, [&] {
            aio::EventLoop loop;
            size_t got = 0;
            std::thread producer([&] {
                for (size_t i = 0; i < n; ++i) loop.call_soon_threadsafe([&got] { ++got; });
                loop.call_soon_threadsafe([&loop] { loop.stop(); });
            });
            loop.run_forever();
            producer.join();
            if (got != n) state.SkipWithError("lost callbacks");
        });
    }
    state.counters["calls_per_second"] =
        static_cast<double>(n) * static_cast<double>(state.iterations()) / std::chrono::duration<double>(acc.total).count();
}
BENCHMARK(BM_CallSoonThreadsafe)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
