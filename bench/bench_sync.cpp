// Sync-layer benchmarks (issue #3) with Google Benchmark: queues, locks, semaphores, events.
// One iteration is a whole batch; each benchmark reports a per-item counter. For figures beside
// asyncio and uvloop measured in the same session, run bench/compare_core.sh (it uses aio_micro,
// which runs the same workloads once per process, like ../shared/peers/py/micro.py).
#include <benchmark/benchmark.h>

#include "workloads.hpp"

namespace {

template <class F>
void per_item(benchmark::State& state, const char* name, double items, F&& f) {
    std::chrono::steady_clock::duration total{};
    for (auto _ : state) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        total += std::chrono::steady_clock::now() - t0;
    }
    state.counters[name] =
        std::chrono::duration<double, std::nano>(total).count() / (items * static_cast<double>(state.iterations()));
}

// Python micro.py queue: 1,000,000 ints through an unbounded Queue, one producer, one consumer.
void BM_QueueProducerConsumer(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    const auto maxsize = static_cast<size_t>(state.range(1));
    per_item(state, "ns_per_item", static_cast<double>(n), [&] {
        if (!bench::queue_sum_ok(n, aio::run(bench::queue_pass(n, maxsize)))) state.SkipWithError("lost items");
    });
}
BENCHMARK(BM_QueueProducerConsumer)
    ->Args({1'000'000, 0})
    ->Args({1'000'000, 1})
    ->Args({1'000'000, 100})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);

void BM_QueueNowait(benchmark::State& state) {
    aio::Queue<size_t> q;
    size_t sum = 0;
    for (auto _ : state) {
        q.put_nowait(1);
        sum += q.get_nowait();
    }
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_QueueNowait);

void BM_LockUncontended(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_acquire_release", static_cast<double>(n), [&] {
        if (aio::run(bench::lock_uncontended(n)) != n) state.SkipWithError("lost acquisitions");
    });
}
BENCHMARK(BM_LockUncontended)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_LockContended(benchmark::State& state) {
    const auto tasks = static_cast<size_t>(state.range(0));
    const auto rounds = static_cast<size_t>(state.range(1));
    per_item(state, "ns_per_handoff", static_cast<double>(tasks * rounds), [&] {
        if (aio::run(bench::lock_contended(tasks, rounds)) != tasks * rounds) state.SkipWithError("lost acquisitions");
    });
}
BENCHMARK(BM_LockContended)->Args({1000, 1000})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_SemaphoreBounded(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_task", static_cast<double>(n), [&] { aio::run(bench::semaphore_bounded(n, state.range(1))); });
}
BENCHMARK(BM_SemaphoreBounded)->Args({100'000, 100})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

// set() waking many waiters at once.
void BM_EventWakeAll(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_waiter", static_cast<double>(n), [&] {
        aio::run([](size_t count) -> aio::Task<void> {
            aio::Event ev;
            std::vector<aio::Task<void>> ts;
            ts.reserve(count);
            for (size_t i = 0; i < count; ++i) ts.push_back([](aio::Event& e) -> aio::Task<void> { co_await e.wait(); }(ev));
            auto all = aio::create_task(aio::gather(std::move(ts)));
            while (ev.stats().waiters < count) co_await aio::sleep(std::chrono::milliseconds(0));
            ev.set();
            co_await all;
        }(n));
    });
}
BENCHMARK(BM_EventWakeAll)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
