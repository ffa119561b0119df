// aio::Future: the bridge from callbacks to coroutines.
#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace std::chrono_literals;

TEST(Future, SetResultWakesEveryAwaiter) {
    auto main = []() -> aio::Task<int> {
        auto f = aio::create_future<int>();
        auto waiter = [](aio::Future<int> fut) -> aio::Task<int> { co_return co_await fut; };
        auto a = aio::create_task(waiter(f));
        auto b = aio::create_task(waiter(f));
        aio::get_running_loop().call_later(5ms, [f]() mutable { f.set_result(21); });
        co_return co_await a + co_await b;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), 42);
}

TEST(Future, SecondSetResultThrows) {
    auto main = []() -> aio::Task<void> {
        auto f = aio::create_future<int>();
        f.set_result(1);
        EXPECT_THROW(f.set_result(2), aio::InvalidStateError);
        EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))), aio::InvalidStateError);
        EXPECT_FALSE(f.cancel());
        EXPECT_EQ(f.result(), 1);
        co_return;
    };
    aiotest::run_virtual(main());
}

TEST(Future, ResultOfPendingFutureThrows) {
    auto main = []() -> aio::Task<void> {
        auto f = aio::create_future<void>();
        EXPECT_FALSE(f.done());
        EXPECT_THROW(f.result(), aio::InvalidStateError);
        f.set_result();
        EXPECT_NO_THROW(f.result());
        co_return;
    };
    aiotest::run_virtual(main());
}

TEST(Future, SetExceptionIsRethrownToAwaiters) {
    auto main = []() -> aio::Task<void> {
        auto f = aio::create_future<int>();
        aio::get_running_loop().call_soon([f]() mutable { f.set_exception(std::make_exception_ptr(std::out_of_range("nope"))); });
        EXPECT_THROW(co_await f, std::out_of_range);
        EXPECT_NE(f.exception(), nullptr);
        EXPECT_THROW(f.set_exception(nullptr), aio::InvalidStateError);
    };
    aiotest::run_virtual(main());
}

TEST(Future, SetExceptionRejectsNullAndCancelledError) {
    auto main = []() -> aio::Task<void> {
        auto f = aio::create_future<int>();
        EXPECT_THROW(f.set_exception(nullptr), std::invalid_argument);
        EXPECT_THROW(f.set_exception(std::make_exception_ptr(aio::CancelledError())), std::invalid_argument);
        EXPECT_FALSE(f.done());
        co_return;
    };
    aiotest::run_virtual(main());
}

TEST(Future, CancelWakesAwaiterWithCancelledError) {
    auto main = []() -> aio::Task<void> {
        auto f = aio::create_future<int>();
        aio::get_running_loop().call_soon([f]() mutable { f.cancel("stop it"); });
        try {
            co_await f;
            ADD_FAILURE() << "expected CancelledError";
        } catch (const aio::CancelledError& e) {
            EXPECT_EQ(e.message(), "stop it");
        }
        EXPECT_TRUE(f.cancelled());
        EXPECT_THROW((void)f.exception(), aio::CancelledError);
    };
    aiotest::run_virtual(main());
}

TEST(Future, CancellingTheAwaitingTaskCancelsTheFuture) {
    auto main = []() -> aio::Task<void> {
        auto f = aio::create_future<int>();
        auto waiter = [](aio::Future<int> fut) -> aio::Task<int> { co_return co_await fut; };
        auto t = aio::create_task(waiter(f));
        co_await aio::sleep(0ms);
        t.cancel();
        EXPECT_THROW(co_await t, aio::CancelledError);
        EXPECT_TRUE(f.cancelled());  // asyncio semantics: the cancellation travels inward
    };
    aiotest::run_virtual(main());
}

TEST(Future, DoneCallbackReceivesTheFuture) {
    auto main = []() -> aio::Task<int> {
        auto f = aio::create_future<int>();
        int seen = 0;
        f.add_done_callback([&](aio::Future<int> g) { seen = g.result(); });
        f.set_result(9);
        EXPECT_EQ(seen, 0);  // scheduled, not run inline
        co_await aio::sleep(0ms);
        co_return seen;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), 9);
}

TEST(Future, EmptyHandleThrows) {
    aio::Future<int> f;
    EXPECT_FALSE(f);
    EXPECT_THROW((void)f.done(), aio::InvalidStateError);
}

TEST(Future, RunUntilCompleteOnAFuture) {
    aio::EventLoop loop({.virtual_time = true});
    auto f = loop.create_future<std::string>();
    loop.call_later(1s, [f]() mutable { f.set_result("done"); });
    EXPECT_EQ(loop.run_until_complete(f), "done");
}

TEST(Future, UnretrievedFutureExceptionIsReported) {
    aiotest::LogCapture cap;
    {
        aio::EventLoop loop;
        auto f = loop.create_future<int>();
        f.set_exception(std::make_exception_ptr(std::runtime_error("lost")));
    }
    EXPECT_TRUE(cap.contains("Future exception was never retrieved"));
}
