// asyncio.wait and asyncio.as_completed, pinned against CPython 3.11.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "semantics_util.hpp"

namespace {

using namespace std::chrono_literals;
using sem::Log;

aio::Task<int> work(int seconds, bool fail = false) {
    co_await aio::sleep(std::chrono::seconds(seconds));
    if (fail) throw sem::ValueError(std::to_string(seconds));
    co_return seconds;
}

/// Positions of `subset`'s handles in `all`, sorted (Python: sorted(ts.index(t) for t in done)).
std::vector<size_t> indices(const std::vector<aio::TaskHandle<int>>& all, const std::vector<aio::TaskHandle<int>>& subset) {
    std::vector<size_t> out;
    for (auto& h : subset)
        for (size_t i = 0; i < all.size(); ++i)
            if (all[i] == h) out.push_back(i);
    std::sort(out.begin(), out.end());
    return out;
}

using Idx = std::vector<size_t>;

// Python:
//   ts = [create_task(work(d)) for d in (3, 1, 2)]
//   done, pending = await asyncio.wait(ts, return_when=asyncio.FIRST_COMPLETED)
//   print([ts.index(t) for t in done], sorted(ts.index(t) for t in pending), elapsed, [t.done() for t in ts])
// -> [1] [0, 2] 1.0 [False, True, False]
//   done, pending = await asyncio.wait(ts)       -> [0, 1, 2] 0 3.0    (ALL_COMPLETED)
TEST(SemanticsWait, FirstCompletedThenAllCompleted) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<int>> ts;
        for (int d : {3, 1, 2}) ts.push_back(aio::create_task(work(d)));
        auto [done, pending] = co_await aio::wait(ts, aio::FIRST_COMPLETED);
        EXPECT_EQ(indices(ts, done), (Idx{1}));
        EXPECT_EQ(indices(ts, pending), (Idx{0, 2}));
        EXPECT_EQ(sem::now(), 1.0);
        EXPECT_FALSE(ts[0].done());
        EXPECT_FALSE(ts[2].done());

        auto [done2, pending2] = co_await aio::wait(ts);
        EXPECT_EQ(indices(ts, done2), (Idx{0, 1, 2}));
        EXPECT_TRUE(pending2.empty());
        EXPECT_EQ(sem::now(), 3.0);
    }());
}

// Python:
//   ts = [create_task(work(3)), create_task(work(1)), create_task(work(2, fail=True))]
//   done, pending = await asyncio.wait(ts, return_when=asyncio.FIRST_EXCEPTION)
// -> done [1, 2] pending [0] at 2.0
//   ts = [create_task(work(d)) for d in (1, 2)]; FIRST_EXCEPTION with no exception
// -> 2 done, 0 pending, at 2.0 (behaves like ALL_COMPLETED)
TEST(SemanticsWait, FirstExceptionReturnsAtTheFirstFailureOrWhenAllAreDone) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<int>> ts{aio::create_task(work(3)), aio::create_task(work(1)),
                                             aio::create_task(work(2, true))};
        auto [done, pending] = co_await aio::wait(ts, aio::FIRST_EXCEPTION);
        EXPECT_EQ(indices(ts, done), (Idx{1, 2}));
        EXPECT_EQ(indices(ts, pending), (Idx{0}));
        EXPECT_EQ(sem::now(), 2.0);
        // wait() never raises a child's exception: it is there to be inspected.
        EXPECT_EQ(sem::describe(ts[2].exception()), "ValueError:2");
        co_await aio::wait(pending);

        double t0 = sem::now();
        std::vector<aio::TaskHandle<int>> ts2{aio::create_task(work(1)), aio::create_task(work(2))};
        auto [done2, pending2] = co_await aio::wait(ts2, aio::FIRST_EXCEPTION);
        EXPECT_EQ(done2.size(), 2u);
        EXPECT_TRUE(pending2.empty());
        EXPECT_EQ(sem::now() - t0, 2.0);
    }());
}

// Python:
//   ts = [create_task(work(d)) for d in (1, 5, 10)]
//   done, pending = await asyncio.wait(ts, timeout=3)
//   print(done [0], pending [1, 2], elapsed 3.0, [t.cancelled() for t in ts] -> [False, False, False])
//   await asyncio.sleep(10); print([t.result() for t in ts])   -> [1, 5, 10]
TEST(SemanticsWait, TimeoutReturnsPendingTasksStillRunning) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<int>> ts;
        for (int d : {1, 5, 10}) ts.push_back(aio::create_task(work(d)));
        auto [done, pending] = co_await aio::wait(ts, 3s);
        EXPECT_EQ(indices(ts, done), (Idx{0}));
        EXPECT_EQ(indices(ts, pending), (Idx{1, 2}));
        EXPECT_EQ(sem::now(), 3.0);
        for (auto& t : ts) EXPECT_FALSE(t.cancelled());
        co_await aio::sleep(10s);
        EXPECT_EQ(ts[0].result(), 1);
        EXPECT_EQ(ts[1].result(), 5);
        EXPECT_EQ(ts[2].result(), 10);
    }());
}

// Python:
//   try: await asyncio.wait([])
//   except ValueError as e: print("empty:", e)     -> empty: Set of Tasks/Futures is empty.
// (aiocpp throws std::invalid_argument, its ValueError, from the call.)
TEST(SemanticsWait, EmptyInputThrows) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        bool threw = false;
        try {
            co_await aio::wait(std::vector<aio::TaskHandle<int>>{});
        } catch (const std::invalid_argument&) {
            threw = true;
        }
        EXPECT_TRUE(threw);
    }());
}

aio::Task<> waiter(std::vector<aio::TaskHandle<int>> ts) { co_await aio::wait(std::move(ts)); }

// Python:
//   ts = [create_task(work(d)) for d in (2, 3)]; w = create_task(waiter(ts))   # waiter: await asyncio.wait(ts)
//   await asyncio.sleep(1); w.cancel()
//   try: await w
//   except asyncio.CancelledError: print("waiter cancelled", [t.done() for t in ts])  -> [False, False]
//   print([await t for t in ts], [t.cancelled() for t in ts])                      -> [2, 3] [False, False]
TEST(SemanticsWait, CancellingTheWaiterDoesNotCancelTheTasks) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<int>> ts{aio::create_task(work(2)), aio::create_task(work(3))};
        auto w = aio::create_task(waiter(ts));
        co_await aio::sleep(1s);
        w.cancel();
        bool cancelled = false;
        try {
            co_await w;
        } catch (const aio::CancelledError&) {
            cancelled = true;
            EXPECT_FALSE(ts[0].done());
            EXPECT_FALSE(ts[1].done());
        }
        EXPECT_TRUE(cancelled);
        int a = co_await ts[0];
        int b = co_await ts[1];
        EXPECT_EQ(a, 2);
        EXPECT_EQ(b, 3);
        EXPECT_FALSE(ts[0].cancelled());
        EXPECT_FALSE(ts[1].cancelled());
    }());
}

// Python:
//   for nxt in asyncio.as_completed([work(3), work(1), work(2, fail=True), work(4)]):
//       try: out.append(await nxt)
//       except ValueError as e: out.append(("ValueError", e.args[0]))
// -> [1, ('ValueError', 2), 3, 4]
TEST(SemanticsAsCompleted, YieldsInCompletionOrder) {
    Log out;
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::Task<int>> tasks;
        tasks.push_back(work(3));
        tasks.push_back(work(1));
        tasks.push_back(work(2, true));
        tasks.push_back(work(4));
        for (auto next : aio::as_completed(std::move(tasks))) {
            try {
                int r = co_await std::move(next);
                out.push_back(std::to_string(r));
            } catch (const sem::ValueError& e) {
                out.push_back(std::string("ValueError ") + e.what());
            }
        }
        EXPECT_EQ(sem::now(), 4.0);
    }());
    EXPECT_EQ(out, (Log{"1", "ValueError 2", "3", "4"}));
}

// Python:
//   ts = [create_task(work(d)) for d in (5, 1, 10)]
//   for nxt in asyncio.as_completed(ts, timeout=3):
//       try: out.append(await nxt)
//       except TimeoutError: out.append(("TimeoutError", elapsed))
//   print(out, [t.done() for t in ts], [t.cancelled() for t in ts])
// -> [1, ('TimeoutError', 3.0), ('TimeoutError', 3.0)] [False, True, False] [False, False, False]
TEST(SemanticsAsCompleted, TimeoutRaisesTimeoutErrorForEveryRemainingAwait) {
    Log out;
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<int>> ts;
        for (int d : {5, 1, 10}) ts.push_back(aio::create_task(work(d)));
        for (auto next : aio::as_completed(ts, 3s)) {
            try {
                int r = co_await std::move(next);
                out.push_back(std::to_string(r));
            } catch (const aio::TimeoutError&) {
                out.push_back("TimeoutError at " + std::to_string(sem::now()));
            }
        }
        EXPECT_FALSE(ts[0].done());
        EXPECT_TRUE(ts[1].done());
        EXPECT_FALSE(ts[2].done());
        for (auto& t : ts) EXPECT_FALSE(t.cancelled());
    }());
    const std::string at3 = "TimeoutError at " + std::to_string(3.0);
    EXPECT_EQ(out, (Log{"1", at3, at3}));
}

}  // namespace
