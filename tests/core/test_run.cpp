// aio::run (asyncio.run) and the virtual test clock.
#include <gtest/gtest.h>

#include <csignal>
#include <sstream>

#include "test_util.hpp"

using namespace std::chrono_literals;

TEST(Run, ReturnsTheResult) {
    EXPECT_EQ(aiotest::run_virtual([]() -> aio::Task<int> { co_return 5; }()), 5);
}

TEST(Run, InsideARunningLoopThrows) {
    auto main = []() -> aio::Task<void> {
        EXPECT_THROW(aio::run([]() -> aio::Task<int> { co_return 1; }()), aio::RuntimeError);
        co_return;
    };
    aiotest::run_virtual(main());
}

TEST(Run, VirtualClockMakesLongSleepsInstantAndExact) {
    auto main = []() -> aio::Task<double> {
        auto& loop = aio::get_running_loop();
        double t0 = loop.time();
        co_await aio::sleep(1h);
        co_await aio::sleep(250ms);
        co_return loop.time() - t0;
    };
    auto start = std::chrono::steady_clock::now();
    EXPECT_DOUBLE_EQ(aiotest::run_virtual(main()), 3600.25);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Run, SleepReturnsAValue) {
    auto main = []() -> aio::Task<std::string> { co_return co_await aio::sleep(1s, std::string("woke")); };
    EXPECT_EQ(aiotest::run_virtual(main()), "woke");
}

TEST(Run, SigintCancelsMainAndRaisesKeyboardInterrupt) {
    bool cleaned_up = false;
    auto main = [&]() -> aio::Task<void> {
        aio::get_running_loop().call_soon([] { ::raise(SIGINT); });
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError&) {
            cleaned_up = true;
            throw;
        }
    };
    EXPECT_THROW(aiotest::run_virtual(main()), aio::KeyboardInterrupt);
    EXPECT_TRUE(cleaned_up);
    // The default disposition is back after run.
    struct sigaction sa {};
    ::sigaction(SIGINT, nullptr, &sa);
    EXPECT_EQ(sa.sa_handler, SIG_DFL);
}

TEST(Run, DebugOptionAndEnvironment) {
    auto main = []() -> aio::Task<bool> { co_return aio::get_running_loop().get_debug(); };
    EXPECT_TRUE(aio::run(main(), {.debug = true}));
    EXPECT_FALSE(aio::run(main()));
    ::setenv("AIO_DEBUG", "1", 1);
    EXPECT_TRUE(aio::run(main()));
    ::unsetenv("AIO_DEBUG");
}

TEST(DumpTasks, ShowsWhatEachTaskWaitsOn) {
    auto sleeper = []() -> aio::Task<void> { co_await aio::sleep(5s); };
    auto waiter = [](aio::TaskHandle<void> h) -> aio::Task<void> { co_await h; };
    auto main = [&]() -> aio::Task<std::string> {
        auto s = aio::create_task(sleeper(), "sleeper");
        auto w = aio::create_task(waiter(s), "waiter");
        co_await aio::sleep(1s);
        std::ostringstream out;
        aio::dump_tasks(out);
        s.cancel();
        co_await aio::sleep(0ms);
        co_return out.str();
    };
    std::string dump = aiotest::run_virtual(main());
    EXPECT_NE(dump.find("3 pending task(s)"), std::string::npos) << dump;
    EXPECT_NE(dump.find("task 'main': running"), std::string::npos) << dump;
    EXPECT_NE(dump.find("task 'sleeper': sleep until t=5.000000 (4.000000 s left)"), std::string::npos) << dump;
    EXPECT_NE(dump.find("task 'waiter': awaiting task 'sleeper'"), std::string::npos) << dump;
    EXPECT_NE(dump.find("test_run.cpp"), std::string::npos) << dump;  // await stacks name the source
}

TEST(DumpTasks, ShowsTheInlineAwaitStack) {
    auto inner = []() -> aio::Task<void> { co_await aio::sleep(1s); };
    auto outer = [&]() -> aio::Task<void> { co_await inner(); };
    auto main = [&]() -> aio::Task<std::string> {
        auto t = aio::create_task(outer(), "nested");
        co_await aio::sleep(1ms);
        std::ostringstream out;
        aio::dump_tasks(out);
        co_await t;
        co_return out.str();
    };
    std::string dump = aiotest::run_virtual(main());
    // Two "at" lines for the nested task: the inner coroutine first, then the outer.
    auto pos = dump.find("task 'nested'");
    ASSERT_NE(pos, std::string::npos) << dump;
    auto first = dump.find("    at ", pos);
    auto second = dump.find("    at ", first + 1);
    EXPECT_NE(first, std::string::npos) << dump;
    EXPECT_NE(second, std::string::npos) << dump;
}

namespace {
struct RecordingExecutor final : aio::Executor {
    std::vector<bool>* calls;
    explicit RecordingExecutor(std::vector<bool>* c) : calls(c) {}
    void shutdown(bool wait) noexcept override { calls->push_back(wait); }
};
}  // namespace

TEST(Run, ShutsDownTheDefaultExecutorAndWaits) {
    std::vector<bool> calls;
    auto main = [&]() -> aio::Task<void> {
        aio::get_running_loop().set_default_executor(std::make_shared<RecordingExecutor>(&calls));
        co_return;
    };
    aiotest::run_virtual(main());
    EXPECT_EQ(calls, std::vector<bool>{true});  // asyncio.run: shutdown_default_executor waits
}

TEST(Run, CloseShutsDownTheDefaultExecutorWithoutWaiting) {
    std::vector<bool> calls, replaced;
    {
        aio::EventLoop loop;
        loop.set_default_executor(std::make_shared<RecordingExecutor>(&replaced));
        loop.set_default_executor(std::make_shared<RecordingExecutor>(&calls));
        EXPECT_EQ(replaced, std::vector<bool>{false});  // the previous default is shut down
        EXPECT_TRUE(loop.default_executor());
    }
    EXPECT_EQ(calls, std::vector<bool>{false});  // Python's loop.close(): wait=False
}
