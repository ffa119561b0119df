// asyncio <-> threads: run_in_executor, to_thread, wrap_future, run_coroutine_threadsafe.
#include <aio/core/gather.hpp>
#include <aio/core/run.hpp>
#include <aio/core/sleep.hpp>
#include <aio/core/wait.hpp>
#include <aio/threads/bridge.hpp>
#include <aio/threads/thread.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "threads/threads_test_util.hpp"

using namespace std::chrono_literals;
using aio::ConcurrentFuture;
using aio::ThreadPoolExecutor;

namespace {

struct Gate {
    ConcurrentFuture<void> f = ConcurrentFuture<void>::create();
    void open() const { ConcurrentFuture<void>(f).set_result(); }
    void wait() const { f.result(); }
};

// --- run_in_executor -------------------------------------------------------------------------

TEST(RunInExecutor, ReturnsTheResultComputedOnAPoolThread) {
    ThreadPoolExecutor pool(2, "worker");
    auto main = [&]() -> aio::Task<std::string> {
        int sum = co_await aio::run_in_executor(&pool, [](int a, int b) { return a + b; }, 20, 22);
        EXPECT_EQ(sum, 42);
        co_return co_await aio::run_in_executor(pool, [] { return aio::threading::current_thread_name(); });
    };
    // Which worker runs the second job depends on whether the first has gone idle yet (Python's
    // pool starts another thread when none is idle), so only the prefix is fixed.
    auto name = aio::run(main());
    EXPECT_TRUE(name == "worker_0" || name == "worker_1") << name;
}

TEST(RunInExecutor, NullptrUsesTheLoopsDefaultExecutorCreatedOnFirstUse) {
    auto main = []() -> aio::Task<std::string> {
        auto& loop = aio::get_running_loop();
        EXPECT_FALSE(loop.default_executor());
        auto name = co_await aio::run_in_executor(nullptr, [] { return aio::threading::current_thread_name(); });
        EXPECT_TRUE(loop.default_executor());
        EXPECT_NE(dynamic_cast<ThreadPoolExecutor*>(loop.default_executor().get()), nullptr);
        co_return name;
    };
    EXPECT_EQ(aio::run(main()), "asyncio_0");  // Python's prefix for the default executor
}

TEST(RunInExecutor, AioRunWaitsForTheDefaultExecutorsJobs) {
    std::atomic<bool> finished{false};
    Gate gate;
    auto main = [&]() -> aio::Task<> {
        auto f = aio::run_in_executor(nullptr, [&] {
            gate.wait();
            finished = true;
        });
        gate.open();
        co_return;  // not awaited: aio::run's shutdown_default_executor waits for it
    };
    aio::run(main());
    EXPECT_TRUE(finished.load());
}

TEST(RunInExecutor, JobExceptionIsRethrownAtTheAwait) {
    ThreadPoolExecutor pool(1);
    auto main = [&]() -> aio::Task<> {
        EXPECT_THROW(co_await aio::run_in_executor(&pool, []() -> int { throw std::length_error("too long"); }), std::length_error);
        co_return;
    };
    aio::run(main());
}

TEST(RunInExecutor, CancellingTheAwaitingTaskCancelsAPendingJob) {
    Gate hold;
    ThreadPoolExecutor pool(1);
    std::atomic<bool> ran{false};
    auto main = [&]() -> aio::Task<> {
        auto blocker = aio::run_in_executor(&pool, [&] { hold.wait(); });  // occupies the only worker
        auto t = aio::create_task([&]() -> aio::Task<int> { co_return co_await aio::run_in_executor(&pool, [&] {
                                                                ran = true;
                                                                return 1;
                                                            }); });
        co_await aio::sleep(0ms);  // t is now waiting for its job
        t.cancel();
        EXPECT_THROW(co_await t, aio::CancelledError);
        co_await aio::sleep(0ms);  // the future's done-callback cancels the job
        hold.open();
        co_await blocker;
    };
    aio::run(main());
    pool.shutdown(true);
    EXPECT_FALSE(ran.load());
}

TEST(RunInExecutor, CancellingWhileTheJobRunsDropsItsResult) {
    aiotest::LogCapture log;
    Gate started, hold;
    auto finished = ConcurrentFuture<int>::create();
    ThreadPoolExecutor pool(1);
    auto main = [&]() -> aio::Task<> {
        auto job = [&, finished]() mutable {
            started.open();
            hold.wait();
            finished.set_result(7);
            throw std::runtime_error("nobody will see this");
            return 0;
        };
        auto t = aio::create_task([&]() -> aio::Task<int> { co_return co_await aio::run_in_executor(&pool, job); });
        co_await aio::wrap_future(started.f);  // the job is running
        t.cancel();
        EXPECT_THROW(co_await t, aio::CancelledError);  // at once, without waiting for the job
        EXPECT_FALSE(finished.done());
        hold.open();
        EXPECT_EQ(co_await aio::wrap_future(finished), 7);  // the job ran to its end in its thread
    };
    aio::run(main());
    pool.shutdown(true);
    EXPECT_FALSE(log.contains("never retrieved")) << "the dropped outcome must not be reported";
}

TEST(RunInExecutor, GatherManyJobs) {
    ThreadPoolExecutor pool(2);
    auto main = [&]() -> aio::Task<long> {
        std::vector<aio::Future<int>> fs;
        for (int i = 0; i < 1000; ++i) fs.push_back(aio::run_in_executor(&pool, [i] { return i; }));
        auto rs = co_await aio::gather(std::move(fs));
        long s = 0;
        for (int r : rs) s += r;
        co_return s;
    };
    EXPECT_EQ(aio::run(main()), 999L * 1000 / 2);
}

TEST(RunInExecutor, AsyncioWaitStillAppliesToItsFutures) {
    ThreadPoolExecutor pool(2);
    Gate hold;
    auto main = [&]() -> aio::Task<> {
        std::vector<aio::Future<int>> fs;
        fs.push_back(aio::run_in_executor(&pool, [] { return 1; }));
        fs.push_back(aio::run_in_executor(&pool, [&] {
            hold.wait();
            return 2;
        }));
        auto [done, pending] = co_await aio::wait(fs, aio::FIRST_COMPLETED);  // the asyncio one: awaited
        EXPECT_EQ(done.size(), 1u);
        EXPECT_EQ(pending.size(), 1u);
        hold.open();
        EXPECT_EQ(co_await pending[0], 2);
    };
    aio::run(main());
}

TEST(RunInExecutor, RejectsShutDownAndForeignExecutors) {
    struct NotAPool final : aio::Executor {
        void shutdown(bool) noexcept override {}
    };
    ThreadPoolExecutor pool(1);
    pool.shutdown();
    NotAPool other;
    auto main = [&]() -> aio::Task<> {
        EXPECT_THROW((void)aio::run_in_executor(&pool, [] {}), aio::RuntimeError);
        EXPECT_THROW((void)aio::run_in_executor(&other, [] {}), std::invalid_argument);
        co_return;
    };
    aio::run(main());
}

TEST(RunInExecutor, OutsideALoopThrows) {
    ThreadPoolExecutor pool(1);
    EXPECT_THROW((void)aio::run_in_executor(&pool, [] {}), aio::RuntimeError);
}

// --- to_thread -------------------------------------------------------------------------------

TEST(ToThread, IsLazyAndRunsOnTheDefaultExecutor) {
    auto main = []() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t = aio::to_thread([](std::string s) { return s + " from " + aio::threading::current_thread_name(); }, std::string("hi"));
        EXPECT_FALSE(loop.default_executor());  // nothing submitted yet
        EXPECT_EQ(co_await std::move(t), "hi from asyncio_0");
        co_await aio::to_thread([] {});  // void works too
    };
    aio::run(main());
}

// --- wrap_future -----------------------------------------------------------------------------

TEST(WrapFuture, CompletesOnTheLoopWithTheOutcome) {
    auto main = []() -> aio::Task<> {
        auto cf = ConcurrentFuture<int>::create();
        std::thread setter([cf]() mutable { cf.set_result(5); });
        EXPECT_EQ(co_await aio::wrap_future(cf), 5);
        setter.join();

        auto done = ConcurrentFuture<int>::create();
        done.set_result(6);
        EXPECT_EQ(co_await aio::wrap_future(done), 6);  // already done: arrives through the loop too

        auto failed = ConcurrentFuture<int>::create();
        failed.set_exception(std::make_exception_ptr(std::range_error("r")));
        EXPECT_THROW(co_await aio::wrap_future(failed), std::range_error);

        auto cancelled = ConcurrentFuture<int>::create();
        cancelled.cancel();
        EXPECT_THROW(co_await aio::wrap_future(cancelled), aio::CancelledError);

        auto v = ConcurrentFuture<void>::create();
        v.set_result();
        co_await aio::wrap_future(v);
    };
    aio::run(main());
}

TEST(WrapFuture, CancellingTheAsyncioFutureCancelsAPendingConcurrentOne) {
    auto cf = ConcurrentFuture<int>::create();
    auto main = [&]() -> aio::Task<> {
        auto f = aio::wrap_future(cf);
        f.cancel();
        co_await aio::sleep(0ms);  // done-callbacks run on the next iteration, as in asyncio
        EXPECT_TRUE(cf.cancelled());
    };
    aio::run(main());
}

TEST(WrapFuture, ACompletionAfterTheFutureIsGoneIsDropped) {
    auto cf = ConcurrentFuture<int>::create();
    auto main = [&]() -> aio::Task<> {
        { auto f = aio::wrap_future(cf); }  // freed while pending
        co_return;
    };
    aio::run(main());
    cf.set_result(1);  // the loop is gone: nothing is posted anywhere
    EXPECT_EQ(cf.result(), 1);
}

// --- run_coroutine_threadsafe ----------------------------------------------------------------

aio::Task<int> add_later(int a, int b) {
    co_await aio::sleep(1ms);
    co_return a + b;
}

TEST(RunCoroutineThreadsafe, ReturnsAConcurrentFutureForTheTasksResult) {
    aiotest::LoopThread lt;
    auto f = aio::run_coroutine_threadsafe(add_later(2, 3), lt.loop());
    EXPECT_EQ(f.result(10s), 5);
    auto g = aio::run_coroutine_threadsafe([]() -> aio::Task<> { co_return; }(), lt.loop());
    g.result(10s);
}

TEST(RunCoroutineThreadsafe, ExceptionsAreDelivered) {
    aiotest::LoopThread lt;
    auto f = aio::run_coroutine_threadsafe([]() -> aio::Task<int> {
        co_await aio::sleep(0ms);
        throw std::logic_error("in the loop");
    }(), lt.loop());
    EXPECT_THROW(f.result(10s), std::logic_error);
}

TEST(RunCoroutineThreadsafe, CancellingTheFutureCancelsTheTask) {
    aiotest::LoopThread lt;
    auto saw_cancel = ConcurrentFuture<bool>::create();
    auto started = ConcurrentFuture<void>::create();
    auto f = aio::run_coroutine_threadsafe([](ConcurrentFuture<bool> saw, ConcurrentFuture<void> st) -> aio::Task<int> {
        st.set_result();
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError&) {
            saw.set_result(true);
            throw;
        }
        co_return 0;
    }(saw_cancel, started), lt.loop());
    started.result(10s);
    EXPECT_TRUE(f.cancel());
    EXPECT_THROW(f.result(), aio::CancelledError);
    EXPECT_TRUE(saw_cancel.result(10s));
}

TEST(RunCoroutineThreadsafe, LoopClosingWithTheTaskPendingCancelsTheFuture) {
    auto started = ConcurrentFuture<void>::create();
    ConcurrentFuture<int> f;
    {
        aiotest::LoopThread lt;
        f = aio::run_coroutine_threadsafe([](ConcurrentFuture<void> st) -> aio::Task<int> {
            st.set_result();
            co_await aio::sleep(1h);
            co_return 1;
        }(started), lt.loop());
        started.result(10s);
    }  // the loop stops and closes: the task is dropped
    EXPECT_THROW(f.result(10s), aio::CancelledError);
}

TEST(RunCoroutineThreadsafe, ClosedLoopThrows) {
    aiotest::LogCapture log;
    aio::EventLoop loop;
    loop.close();
    EXPECT_THROW(aio::run_coroutine_threadsafe(add_later(1, 1), loop), aio::RuntimeError);
    EXPECT_TRUE(log.contains("'add_later'"));  // the coroutine never ran, and Python says so too
}

TEST(RunCoroutineThreadsafe, BlockingOnItFromTheSameLoopThrowsInsteadOfDeadlocking) {
    auto main = []() -> aio::Task<> {
        auto f = aio::run_coroutine_threadsafe(add_later(1, 2), aio::get_running_loop());
        EXPECT_THROW(f.result(), aio::RuntimeError);
        EXPECT_THROW((void)aio::wait(std::vector<ConcurrentFuture<int>>{f}), aio::RuntimeError);
        EXPECT_EQ(co_await aio::wrap_future(f), 3);  // the right way
    };
    aio::run(main());
}

TEST(RunCoroutineThreadsafe, DebugModeWarnsAboutBlockingWaitsOnTheLoopThread) {
    aiotest::LogCapture log;
    auto main = []() -> aio::Task<> {
        auto never = ConcurrentFuture<int>::create();
        EXPECT_THROW(never.result(1ms), aio::TimeoutError);
        co_return;
    };
    aio::run(main(), {.debug = true});
    EXPECT_TRUE(log.contains("blocking wait on the event loop's thread"));
}

}  // namespace
