// The workloads of issue #2's benchmarks, shared by bench_core (Google Benchmark) and aio_micro
// (one cold run per process, shaped like ../shared/peers' programs).
#pragma once

#include <cstdio>

#include <aio/aio.hpp>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

namespace bench {

using namespace std::chrono_literals;

inline aio::Task<void> trivial() { co_return; }
inline aio::Task<void> yield_once() { co_await aio::sleep(0ms); }

/// Tokio spawn_tokio / Asio spawn_asio: spawn n tasks, then await every handle.
inline aio::Task<void> spawn_all(size_t n, bool yield) {
    std::vector<aio::TaskHandle<void>> hs;
    hs.reserve(n);
    for (size_t i = 0; i < n; ++i) hs.push_back(aio::create_task(yield ? yield_once() : trivial()));
    for (auto& h : hs) co_await h;
}

/// Python micro.py tasks: n tasks that each await sleep(0), gathered.
inline aio::Task<void> gather_sleep0(size_t n) {
    std::vector<aio::Task<void>> ts;
    ts.reserve(n);
    for (size_t i = 0; i < n; ++i) ts.push_back(yield_once());
    co_await aio::gather(std::move(ts));
}

/// create_task + await, one at a time.
inline aio::Task<void> create_await(size_t n) {
    for (size_t i = 0; i < n; ++i) co_await aio::create_task(trivial());
}

/// Inline await of a trivial coroutine, n times.
inline aio::Task<void> inline_await(size_t n) {
    for (size_t i = 0; i < n; ++i) co_await trivial();
}

inline aio::Task<void> spin(size_t k) {
    for (size_t i = 0; i < k; ++i) co_await aio::sleep(0ms);
}
/// Two tasks alternating through sleep(0): `switches` switches in all.
inline aio::Task<void> ping_pong(size_t switches) { co_await aio::gather(spin(switches / 2), spin(switches / 2)); }

/// Resident memory of this process, in bytes.
inline double resident_bytes() {
    long size = 0, pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &size, &pages) != 2) pages = 0;
        std::fclose(f);
    }
    return static_cast<double>(pages) * 4096.0;
}

/// n tasks asleep at once; returns the resident bytes per task: coroutine frame, task registry,
/// timer heap slot, whatever the allocator rounds up. (RSS, not malloc statistics: frames live
/// in mmap'd slabs that malloc does not count.)
inline aio::Task<double> sleepers(size_t n) {
    auto sleeper = []() -> aio::Task<void> { co_await aio::sleep(1h); };
    const double before = resident_bytes();
    for (size_t i = 0; i < n; ++i) (void)aio::create_task(sleeper());
    // Let every task start and fall asleep, and the loop go idle once: the steady state, not the
    // burst (the ready queue briefly held a million entries while they were being created).
    co_await aio::sleep(1ms);
    co_return (resident_bytes() - before) / static_cast<double>(n);
    // returning lets aio::run cancel all of them, as asyncio.run does
}

/// n tasks sleeping random delays within 10 ms, gathered.
inline aio::Task<void> sleepers_fired(size_t n) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> us(0, 10'000);
    std::vector<aio::Task<void>> ts;
    ts.reserve(n);
    for (size_t i = 0; i < n; ++i)
        ts.push_back([](int d) -> aio::Task<void> { co_await aio::sleep(std::chrono::microseconds(d)); }(us(rng)));
    co_await aio::gather(std::move(ts));
}

/// Random delays within 10 ms for the timer benchmark (made outside the timed part).
inline std::vector<int> timer_delays(size_t n) {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> us(0, 10'000);
    std::vector<int> delays(n);
    for (auto& d : delays) d = us(rng);
    return delays;
}
/// n call_later callbacks with the given delays, on a fresh loop, until all have fired.
inline bool timers(const std::vector<int>& delays) {
    aio::EventLoop loop;
    const size_t n = delays.size();
    size_t fired = 0;
    for (int d : delays)
        loop.call_later(std::chrono::microseconds(d), [&fired, &loop, n] {
            if (++fired == n) loop.stop();
        });
    loop.run_forever();
    return fired == n;
}

/// n call_soon_threadsafe from another thread; true if all were delivered.
inline bool threadsafe(size_t n) {
    aio::EventLoop loop;
    size_t got = 0;
    std::thread producer([&] {
        for (size_t i = 0; i < n; ++i) loop.call_soon_threadsafe([&got] { ++got; });
        loop.call_soon_threadsafe([&loop] { loop.stop(); });
    });
    loop.run_forever();
    producer.join();
    return got == n;
}

// --- the sync layer (issue #3) ----------------------------------------------------------------

/// Python micro.py queue: one producer task puts n ints on a Queue(maxsize), one consumer task
/// gets them; returns the consumer's sum. With maxsize 0 (as in micro.py) the producer never
/// waits; with maxsize 1 every item is a hand-off between the two tasks.
inline aio::Task<size_t> queue_pass(size_t n, size_t maxsize = 0) {
    aio::Queue<size_t> q(maxsize);
    auto producer = [&]() -> aio::Task<void> {
        for (size_t i = 0; i < n; ++i) co_await q.put(i);
    };
    auto consumer = [&]() -> aio::Task<size_t> {
        size_t sum = 0;
        for (size_t i = 0; i < n; ++i) sum += co_await q.get();
        co_return sum;
    };
    auto [done, sum] = co_await aio::gather(producer(), consumer());
    (void)done;
    co_return sum;
}
inline bool queue_sum_ok(size_t n, size_t sum) { return sum == n * (n - 1) / 2; }

/// n uncontended `co_await lock.acquire(); lock.release();` in one task.
inline aio::Task<size_t> lock_uncontended(size_t n) {
    aio::Lock lock;
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) {
        co_await lock.acquire();
        ++count;
        lock.release();
    }
    co_return count;
}

/// `tasks` tasks take a lock `rounds` times each while all the others wait: every acquisition
/// after the first is a hand-off from the releasing task to the next in line.
inline aio::Task<size_t> lock_contended(size_t tasks, size_t rounds) {
    aio::Lock lock;
    size_t count = 0;
    co_await lock.acquire();  // held while the tasks start, so they all queue
    auto worker = [&]() -> aio::Task<void> {
        for (size_t i = 0; i < rounds; ++i) {
            co_await lock.acquire();
            ++count;
            lock.release();
        }
    };
    std::vector<aio::Task<void>> ts;
    ts.reserve(tasks);
    for (size_t i = 0; i < tasks; ++i) ts.push_back(worker());
    auto all = aio::create_task(aio::gather(std::move(ts)));
    while (lock.stats().waiters < tasks) co_await aio::sleep(0ms);
    lock.release();
    co_await all;
    co_return count;
}

/// n tasks, at most `limit` at a time inside `async with Semaphore(limit): await sleep(0)`.
inline aio::Task<void> semaphore_bounded(size_t n, int64_t limit) {
    aio::Semaphore sem(limit);
    auto worker = [&]() -> aio::Task<void> {
        auto permit = co_await sem.scoped();
        co_await aio::sleep(0ms);
    };
    std::vector<aio::Task<void>> ts;
    ts.reserve(n);
    for (size_t i = 0; i < n; ++i) ts.push_back(worker());
    co_await aio::gather(std::move(ts));
}

}  // namespace bench
