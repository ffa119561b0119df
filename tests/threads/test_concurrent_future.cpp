// aio::ConcurrentFuture and the blocking aio::wait / aio::as_completed over concurrent futures.
#include <aio/core/task.hpp>
#include <aio/core/wait.hpp>
#include <aio/threads/concurrent_future.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "threads/threads_test_util.hpp"

using namespace std::chrono_literals;
using aio::ConcurrentFuture;

namespace {

// The asyncio templates and these overloads coexist: which one a call picks is decided by the
// argument type alone (the asyncio ones are constrained to awaitables and future handles).
static_assert(std::is_same_v<decltype(aio::wait(std::declval<std::vector<ConcurrentFuture<int>>>())),
                             aio::WaitResult<ConcurrentFuture<int>>>);
static_assert(std::is_same_v<decltype(aio::wait(std::declval<std::vector<ConcurrentFuture<int>>>(), 1s, aio::FIRST_COMPLETED)),
                             aio::WaitResult<ConcurrentFuture<int>>>);
static_assert(std::is_same_v<decltype(aio::wait(std::declval<std::vector<aio::TaskHandle<int>>>())),
                             aio::Task<aio::WaitResult<aio::TaskHandle<int>>>>);
static_assert(std::is_same_v<decltype(aio::wait(std::declval<std::vector<aio::TaskHandle<int>>>(), 1s)),
                             aio::Task<aio::WaitResult<aio::TaskHandle<int>>>>);
static_assert(std::is_same_v<decltype(aio::as_completed(std::declval<std::vector<ConcurrentFuture<int>>>())),
                             aio::ConcurrentAsCompleted<int>>);
static_assert(std::is_same_v<decltype(aio::as_completed(std::declval<std::vector<ConcurrentFuture<int>>>(), 1s)),
                             aio::ConcurrentAsCompleted<int>>);
static_assert(std::is_same_v<decltype(aio::as_completed(std::declval<std::vector<aio::Task<int>>>())), aio::AsCompleted<aio::TaskHandle<int>>>);

TEST(ConcurrentFuture, SetResultThenResult) {
    auto f = ConcurrentFuture<int>::create();
    EXPECT_FALSE(f.done());
    EXPECT_FALSE(f.running());
    EXPECT_FALSE(f.cancelled());
    f.set_result(42);
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.result(), 42);
    EXPECT_EQ(f.result(), 42);  // many times: copyable results are copied
    EXPECT_EQ(f.exception(), nullptr);
    EXPECT_THROW(f.set_result(1), aio::InvalidStateError);
    EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))), aio::InvalidStateError);
}

TEST(ConcurrentFuture, VoidAndMoveOnlyResults) {
    auto v = ConcurrentFuture<void>::create();
    v.set_result();
    v.result();
    EXPECT_TRUE(v.done());

    auto m = ConcurrentFuture<std::unique_ptr<int>>::create();
    m.set_result(std::make_unique<int>(7));
    EXPECT_EQ(*m.result(), 7);
}

TEST(ConcurrentFuture, ExceptionIsStoredAndRethrown) {
    auto f = ConcurrentFuture<int>::create();
    f.set_exception(std::make_exception_ptr(std::out_of_range("boom")));
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.cancelled());
    EXPECT_THROW(f.result(), std::out_of_range);
    ASSERT_NE(f.exception(), nullptr);
    EXPECT_THROW(std::rethrow_exception(f.exception()), std::out_of_range);
    EXPECT_THROW(f.set_exception(nullptr), std::invalid_argument);
}

TEST(ConcurrentFuture, CancelOnlyWhilePending) {
    auto f = ConcurrentFuture<int>::create();
    EXPECT_TRUE(f.cancel());
    EXPECT_TRUE(f.cancelled());
    EXPECT_TRUE(f.done());
    EXPECT_TRUE(f.cancel());  // Python: True again once cancelled
    EXPECT_THROW(f.result(), aio::CancelledError);
    EXPECT_THROW((void)f.exception(), aio::CancelledError);
    EXPECT_THROW(f.set_result(1), aio::InvalidStateError);
    EXPECT_FALSE(f.set_running_or_notify_cancel());

    auto g = ConcurrentFuture<int>::create();
    EXPECT_TRUE(g.set_running_or_notify_cancel());
    EXPECT_TRUE(g.running());
    EXPECT_FALSE(g.cancel());  // running: too late
    EXPECT_FALSE(g.cancelled());
    EXPECT_THROW(g.set_running_or_notify_cancel(), aio::InvalidStateError);
    g.set_result(3);  // an executor completes a running future
    EXPECT_FALSE(g.running());
    EXPECT_EQ(g.result(), 3);
    EXPECT_FALSE(g.cancel());  // done: too late
}

TEST(ConcurrentFuture, EmptyHandleThrows) {
    ConcurrentFuture<int> f;
    EXPECT_FALSE(f);
    EXPECT_THROW((void)f.done(), aio::InvalidStateError);
    EXPECT_THROW(f.result(), aio::InvalidStateError);
}

TEST(ConcurrentFuture, ResultTimeoutOnPendingFutureThrowsTimeoutError) {
    auto f = ConcurrentFuture<int>::create();
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(f.result(20ms), aio::TimeoutError);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
    EXPECT_THROW((void)f.exception(0ms), aio::TimeoutError);
    EXPECT_FALSE(f.done());  // the timeout changes nothing
    f.set_result(1);
    EXPECT_EQ(f.result(0ms), 1);
}

TEST(ConcurrentFuture, ResultBlocksUntilAnotherThreadSetsIt) {
    auto f = ConcurrentFuture<std::string>::create();
    auto started = ConcurrentFuture<void>::create();
    std::thread setter([&] {
        started.result();  // after the main thread announced it is about to wait
        f.set_result("from another thread");
    });
    started.set_result();
    EXPECT_EQ(f.result(), "from another thread");
    setter.join();
}

TEST(ConcurrentFuture, ManyWaitersAreAllWoken) {
    auto f = ConcurrentFuture<int>::create();
    std::atomic<int> sum{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) ts.emplace_back([&] { sum += f.result(); });
    f.set_result(5);
    for (auto& t : ts) t.join();
    EXPECT_EQ(sum.load(), 20);
}

TEST(ConcurrentFuture, DoneCallbackRunsAtOnceWhenAlreadyDone) {
    auto f = ConcurrentFuture<int>::create();
    f.set_result(9);
    std::thread::id ran_on;
    int seen = 0;
    f.add_done_callback([&](ConcurrentFuture<int> g) {
        ran_on = std::this_thread::get_id();
        seen = g.result();
    });
    EXPECT_EQ(seen, 9);  // before add_done_callback returned
    EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(ConcurrentFuture, DoneCallbacksRunInOrderInTheCompletingThread) {
    auto f = ConcurrentFuture<int>::create();
    std::vector<int> order;
    std::thread::id ran_on;
    f.add_done_callback([&] { order.push_back(1); });
    f.add_done_callback([&](const ConcurrentFuture<int>& g) {
        order.push_back(g.result());
        ran_on = std::this_thread::get_id();
    });
    f.add_done_callback([&] { order.push_back(3); });
    EXPECT_TRUE(order.empty());
    std::thread::id setter_id;
    std::thread setter([&] {
        setter_id = std::this_thread::get_id();
        f.set_result(2);
    });
    setter.join();
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(ran_on, setter_id);
}

TEST(ConcurrentFuture, CancelRunsCallbacksAndWakesWaiters) {
    auto f = ConcurrentFuture<int>::create();
    bool called = false;
    f.add_done_callback([&](ConcurrentFuture<int> g) { called = g.cancelled(); });
    std::thread waiter([&] { EXPECT_THROW(f.result(), aio::CancelledError); });
    EXPECT_TRUE(f.cancel());
    waiter.join();
    EXPECT_TRUE(called);
}

TEST(ConcurrentFuture, CallbackExceptionIsLoggedNotPropagated) {
    aiotest::LogCapture log;
    auto f = ConcurrentFuture<int>::create();
    bool second = false;
    f.add_done_callback([] { throw std::runtime_error("callback failed"); });
    f.add_done_callback([&] { second = true; });
    EXPECT_NO_THROW(f.set_result(1));
    EXPECT_TRUE(second);  // the others still run
    EXPECT_TRUE(log.contains("exception calling callback for ConcurrentFuture"));
    EXPECT_TRUE(log.contains("callback failed"));
    // Already done: runs at once, still caught.
    EXPECT_NO_THROW(f.add_done_callback([] { throw 42; }));
}

TEST(ConcurrentFuture, CopiesShareTheState) {
    auto f = ConcurrentFuture<int>::create();
    ConcurrentFuture<int> g = f;
    EXPECT_TRUE(f == g);
    g.set_result(4);
    EXPECT_EQ(f.result(), 4);
}

// --- wait ------------------------------------------------------------------------------------

std::vector<ConcurrentFuture<int>> make_futures(int n) {
    std::vector<ConcurrentFuture<int>> fs;
    for (int i = 0; i < n; ++i) fs.push_back(ConcurrentFuture<int>::create());
    return fs;
}

TEST(ConcurrentWait, AllCompletedWaitsForEveryFuture) {
    auto fs = make_futures(3);
    std::thread t([fs]() mutable {
        for (auto& f : fs) f.set_result(1);
    });
    auto [done, pending] = aio::wait(fs);
    t.join();
    EXPECT_EQ(done.size(), 3u);
    EXPECT_TRUE(pending.empty());
    EXPECT_TRUE(done[0] == fs[0] && done[2] == fs[2]);  // input order
}

TEST(ConcurrentWait, FirstCompletedReturnsAsSoonAsOneIsDone) {
    auto fs = make_futures(3);
    std::thread t([f = fs[1]]() mutable { f.set_result(1); });
    auto r = aio::wait(fs, aio::FIRST_COMPLETED);
    t.join();
    ASSERT_EQ(r.done.size(), 1u);
    EXPECT_TRUE(r.done[0] == fs[1]);
    EXPECT_EQ(r.pending.size(), 2u);
}

TEST(ConcurrentWait, FirstExceptionStopsAtAFailureButNotAtACancellation) {
    auto fs = make_futures(3);
    fs[0].set_result(1);
    fs[1].cancel();
    std::thread t([f = fs[2]]() mutable { f.set_exception(std::make_exception_ptr(std::runtime_error("x"))); });
    auto r = aio::wait(fs, aio::FIRST_EXCEPTION);
    t.join();
    EXPECT_EQ(r.done.size(), 3u);

    auto gs = make_futures(2);
    gs[0].cancel();
    auto r2 = aio::wait(gs, 10ms, aio::FIRST_EXCEPTION);  // a cancellation is no exception
    EXPECT_EQ(r2.done.size(), 1u);
    EXPECT_EQ(r2.pending.size(), 1u);
}

TEST(ConcurrentWait, TimeoutReturnsWhatIsDoneWithoutThrowing) {
    auto fs = make_futures(2);
    fs[0].set_result(1);
    auto [done, pending] = aio::wait(fs, 10ms);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_TRUE(done[0] == fs[0]);
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_TRUE(pending[0] == fs[1]);
}

TEST(ConcurrentWait, EmptyInputReturnsAtOnce) {
    auto [done, pending] = aio::wait(std::vector<ConcurrentFuture<int>>{});
    EXPECT_TRUE(done.empty());
    EXPECT_TRUE(pending.empty());
}

TEST(ConcurrentWait, RepeatedWaitsDoNotLeaveWaitersBehind) {
    // Python removes its waiters after each wait(); so must we (ASan would see the leak, and the
    // callback list would grow with every call).
    auto fs = make_futures(2);
    for (int i = 0; i < 100; ++i) (void)aio::wait(fs, 0ms, aio::FIRST_COMPLETED);
    int calls = 0;
    fs[0].add_done_callback([&] { ++calls; });
    fs[0].set_result(1);
    EXPECT_EQ(calls, 1);
}

// --- as_completed ----------------------------------------------------------------------------

TEST(ConcurrentAsCompleted, YieldsInCompletionOrderDoneOnesFirst) {
    auto fs = make_futures(4);
    fs[2].set_result(2);
    std::vector<int> got;
    auto ac = aio::as_completed(fs);
    for (auto& f : ac) {
        got.push_back(f.result());
        // Complete the next one only once the previous one was seen: a deterministic order.
        if (got.size() == 1) fs[3].set_result(3);
        else if (got.size() == 2) std::thread([f0 = fs[0]]() mutable { f0.set_result(0); }).join();
        else if (got.size() == 3) fs[1].set_result(1);
    }
    EXPECT_EQ(got, (std::vector<int>{2, 3, 0, 1}));
}

TEST(ConcurrentAsCompleted, DuplicatesAreYieldedOnce) {
    auto fs = make_futures(1);
    fs[0].set_result(5);
    std::vector<ConcurrentFuture<int>> dup{fs[0], fs[0]};
    int n = 0;
    for (auto& f : aio::as_completed(dup)) n += f.result();
    EXPECT_EQ(n, 5);
}

TEST(ConcurrentAsCompleted, TimeoutThrowsWithTheCountOfUnfinished) {
    auto fs = make_futures(3);
    fs[1].set_result(1);
    auto ac = aio::as_completed(fs, 20ms);
    auto it = ac.begin();
    EXPECT_TRUE(*it == fs[1]);
    try {
        ++it;
        FAIL() << "expected TimeoutError";
    } catch (const aio::TimeoutError& e) {
        EXPECT_STREQ(e.what(), "2 (of 3) futures unfinished");
    }
}

TEST(ConcurrentAsCompleted, CompletionFromAnotherThreadWakesTheIterator) {
    auto fs = make_futures(2);
    std::thread t([fs]() mutable {
        fs[1].set_result(10);
        fs[0].set_result(20);
    });
    int sum = 0;
    for (auto& f : aio::as_completed(fs, 10s)) sum += f.result();
    t.join();
    EXPECT_EQ(sum, 30);
}

TEST(ConcurrentAsCompleted, EmptyInput) {
    auto ac = aio::as_completed(std::vector<ConcurrentFuture<int>>{});
    EXPECT_TRUE(ac.begin() == ac.end());
}

}  // namespace
