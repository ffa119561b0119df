// Core benchmarks (issue #2) with Google Benchmark. One iteration is a whole batch (e.g.
// 1,000,000 tasks); each benchmark reports a per-item counter (ns_per_task, ...).
// For figures beside the peers, measured in the same session, run bench/compare_core.sh: it
// uses aio_micro (same workloads, one cold run per process, like the peers' programs).
#include <benchmark/benchmark.h>

#include "workloads.hpp"

namespace {

/// Times `f` per iteration and reports nanoseconds per item as `name`.
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

// Registered first: it must see fresh allocations, not frames recycled by later benchmarks.
void BM_SleepingTasksMemory(benchmark::State& state) {
    double bytes = 0;
    for (auto _ : state) bytes = aio::run(bench::sleepers(static_cast<size_t>(state.range(0))));
    state.counters["resident_bytes_per_task"] = bytes;
}
BENCHMARK(BM_SleepingTasksMemory)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

void BM_Spawn(benchmark::State& state) {  // arg 1: 0 = trivial, 1 = yield once first
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_task", static_cast<double>(n), [&] { aio::run(bench::spawn_all(n, state.range(1) != 0)); });
}
BENCHMARK(BM_Spawn)->Args({1'000'000, 0})->Args({1'000'000, 1})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_GatherSleep0(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_task", static_cast<double>(n), [&] { aio::run(bench::gather_sleep0(n)); });
}
BENCHMARK(BM_GatherSleep0)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_CreateTaskAwait(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_task", static_cast<double>(n), [&] { aio::run(bench::create_await(n)); });
}
BENCHMARK(BM_CreateTaskAwait)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_InlineAwait(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_await", static_cast<double>(n), [&] { aio::run(bench::inline_await(n)); });
}
BENCHMARK(BM_InlineAwait)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_Sleep0Switch(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_switch", static_cast<double>(n), [&] { aio::run(bench::ping_pong(n)); });
}
BENCHMARK(BM_Sleep0Switch)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_TimersScheduledAndFired(benchmark::State& state) {
    const auto delays = bench::timer_delays(static_cast<size_t>(state.range(0)));
    per_item(state, "ns_per_timer", static_cast<double>(delays.size()), [&] {
        if (!bench::timers(delays)) state.SkipWithError("not every timer fired");
    });
}
BENCHMARK(BM_TimersScheduledAndFired)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_SleepersFired(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_sleeper", static_cast<double>(n), [&] { aio::run(bench::sleepers_fired(n)); });
}
BENCHMARK(BM_SleepersFired)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_CallSoonThreadsafe(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    per_item(state, "ns_per_call", static_cast<double>(n), [&] {
        if (!bench::threadsafe(n)) state.SkipWithError("lost callbacks");
    });
}
BENCHMARK(BM_CallSoonThreadsafe)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
