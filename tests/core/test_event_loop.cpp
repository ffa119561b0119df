// aio::EventLoop: callbacks, timers, the thread-safe queue, fds, signals, errors, lifecycle.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "test_util.hpp"

using namespace std::chrono_literals;

TEST(EventLoop, CallSoonIsFifo) {
    aio::EventLoop loop;
    std::vector<int> order;
    for (int i = 0; i < 5; ++i) loop.call_soon([&order, i] { order.push_back(i); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(EventLoop, CallbacksScheduledWhileRunningWaitForNextIteration) {
    aio::EventLoop loop;
    std::vector<std::string> order;
    loop.call_soon([&] {
        order.push_back("a");
        loop.call_soon([&] { order.push_back("c"); });
    });
    loop.call_soon([&] { order.push_back("b"); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    // stop() lets the current iteration finish: "c" was scheduled in iteration 1 and runs in 2.
    EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(EventLoop, CallLaterFiresInDeadlineOrderOnVirtualClock) {
    aio::EventLoop loop({.virtual_time = true});
    std::vector<int> order;
    double t0 = loop.time();
    loop.call_later(30ms, [&] { order.push_back(30); });
    loop.call_later(10ms, [&] { order.push_back(10); });
    loop.call_later(20ms, [&] { order.push_back(20); });
    loop.call_later(20ms, [&] { order.push_back(21); });  // same deadline: FIFO
    loop.call_later(40ms, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{10, 20, 21, 30}));
    EXPECT_DOUBLE_EQ(loop.time() - t0, 0.040);
}

TEST(EventLoop, CallAtUsesLoopClock) {
    aio::EventLoop loop({.virtual_time = true});
    double fired_at = -1;
    auto h = loop.call_at(loop.time() + 1.5, [&] {
        fired_at = loop.time();
        loop.stop();
    });
    EXPECT_DOUBLE_EQ(h.when(), 1.5);
    loop.run_forever();
    EXPECT_DOUBLE_EQ(fired_at, 1.5);
}

TEST(EventLoop, CancelledHandlesDoNotRun) {
    aio::EventLoop loop({.virtual_time = true});
    int ran = 0;
    auto h1 = loop.call_soon([&] { ++ran; });
    auto h2 = loop.call_later(5ms, [&] { ++ran; });
    h1.cancel();
    h2.cancel();
    EXPECT_TRUE(h1.cancelled());
    EXPECT_TRUE(h2.cancelled());
    EXPECT_EQ(loop.stats().timers, 0u);  // removed from the heap at once
    loop.call_later(10ms, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(ran, 0);
}

TEST(EventLoop, CallSoonThreadsafeWakesABlockedLoop) {
    aio::EventLoop loop;
    std::atomic<int> got{0};
    std::thread producer([&] {
        for (int i = 0; i < 1000; ++i) loop.call_soon_threadsafe([&] { got.fetch_add(1); });
        loop.call_soon_threadsafe([&] { loop.stop(); });
    });
    loop.run_forever();  // blocks in epoll until the producer's eventfd write
    producer.join();
    // stop() ran after all 1000 (FIFO from one producer thread).
    EXPECT_EQ(got.load(), 1000);
}

TEST(EventLoop, RunForeverTwiceAndIsRunning) {
    aio::EventLoop loop;
    EXPECT_FALSE(loop.is_running());
    bool seen_running = false;
    loop.call_soon([&] {
        seen_running = loop.is_running();
        EXPECT_THROW(loop.run_forever(), aio::RuntimeError);
        loop.stop();
    });
    loop.run_forever();
    EXPECT_TRUE(seen_running);
    EXPECT_FALSE(loop.is_running());
}

TEST(EventLoop, ClosedLoopRejectsWork) {
    aio::EventLoop loop;
    loop.close();
    EXPECT_TRUE(loop.is_closed());
    EXPECT_THROW(loop.call_soon([] {}), aio::RuntimeError);
    EXPECT_THROW(loop.call_later(1ms, [] {}), aio::RuntimeError);
    EXPECT_THROW(loop.call_soon_threadsafe([] {}), aio::RuntimeError);
    EXPECT_THROW(loop.run_forever(), aio::RuntimeError);
    EXPECT_THROW((void)loop.create_future<int>(), aio::RuntimeError);
    loop.close();  // idempotent
}

TEST(EventLoop, RunningATaskOnAClosedLoopThrows) {
    aio::EventLoop loop;
    loop.close();
    auto body = []() -> aio::Task<int> { co_return 1; };
    try {
        loop.run_until_complete(body());
        ADD_FAILURE() << "expected RuntimeError";
    } catch (const aio::RuntimeError& e) {
        EXPECT_NE(std::string(e.what()).find("closed"), std::string::npos) << e.what();
    }
}

TEST(EventLoop, GetRunningLoop) {
    EXPECT_THROW(aio::get_running_loop(), aio::RuntimeError);
    aio::EventLoop loop;
    aio::EventLoop* seen = nullptr;
    loop.call_soon([&] {
        seen = &aio::get_running_loop();
        loop.stop();
    });
    loop.run_forever();
    EXPECT_EQ(seen, &loop);
}

TEST(EventLoop, AddReaderFiresOnPipeData) {
    aio::EventLoop loop;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::string got;
    loop.add_reader(fds[0], [&] {
        char buf[16];
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        got.append(buf, static_cast<size_t>(n));
        EXPECT_TRUE(loop.remove_reader(fds[0]));
        loop.stop();
    });
    loop.add_writer(fds[1], [&] {
        ASSERT_EQ(::write(fds[1], "ping", 4), 4);
        loop.remove_writer(fds[1]);
    });
    EXPECT_EQ(loop.stats().fds, 2u);
    loop.run_forever();
    EXPECT_EQ(got, "ping");
    EXPECT_EQ(loop.stats().fds, 0u);
    EXPECT_FALSE(loop.remove_reader(fds[0]));
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(EventLoop, AddReaderRejectsBadFd) {
    aio::EventLoop loop;
    EXPECT_THROW(loop.add_reader(-1, [] {}), std::invalid_argument);
    EXPECT_THROW(loop.add_reader(987654, [] {}), std::system_error);  // EBADF from epoll_ctl
}

TEST(EventLoop, SignalHandlerRunsOnTheLoop) {
    aio::EventLoop loop;
    int got = 0;
    loop.add_signal_handler(SIGUSR1, [&] {
        ++got;
        loop.stop();
    });
    loop.call_soon([] { ::raise(SIGUSR1); });
    loop.run_forever();
    EXPECT_EQ(got, 1);
    EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
    EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
}

TEST(EventLoop, SignalHandlerValidation) {
    aio::EventLoop loop;
    EXPECT_THROW(loop.add_signal_handler(SIGKILL, [] {}), std::invalid_argument);
    EXPECT_THROW(loop.add_signal_handler(0, [] {}), std::invalid_argument);
    loop.add_signal_handler(SIGUSR2, [] {});
    aio::EventLoop other;
    EXPECT_THROW(other.add_signal_handler(SIGUSR2, [] {}), aio::RuntimeError);
    loop.remove_signal_handler(SIGUSR2);
    other.add_signal_handler(SIGUSR2, [] {});
}

TEST(EventLoop, ExceptionInCallbackGoesToHandler) {
    aio::EventLoop loop;
    std::vector<std::string> seen;
    loop.set_exception_handler([&](aio::EventLoop&, const aio::ExceptionContext& ctx) {
        seen.push_back(ctx.message + " | " + aio::describe_exception(ctx.exception));
    });
    loop.call_soon([] { throw std::runtime_error("boom"); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_NE(seen[0].find("Exception in callback"), std::string::npos);
    EXPECT_NE(seen[0].find("boom"), std::string::npos);
}

TEST(EventLoop, DefaultExceptionHandlerLogs) {
    aiotest::LogCapture cap;
    aio::EventLoop loop;
    loop.call_soon([] { throw std::logic_error("kaput"); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_TRUE(cap.contains("kaput"));
}

TEST(EventLoop, ThrowingExceptionHandlerFallsBackToDefault) {
    aiotest::LogCapture cap;
    aio::EventLoop loop;
    loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) { throw std::runtime_error("handler broke"); });
    loop.call_exception_handler({"original problem", nullptr, {}});
    EXPECT_TRUE(cap.contains("Unhandled error in exception handler"));
    EXPECT_TRUE(cap.contains("original problem"));
}

TEST(EventLoop, DebugModeRejectsCallsFromOtherThreads) {
    aio::EventLoop loop({.debug = true});
    EXPECT_TRUE(loop.get_debug());
    std::atomic<bool> threw{false};
    loop.call_soon([&] {
        std::thread t([&] {
            try {
                loop.call_soon([] {});
            } catch (const aio::RuntimeError& e) {
                threw = std::string(e.what()).find("thread") != std::string::npos;
            }
        });
        t.join();
        loop.stop();
    });
    loop.run_forever();
    EXPECT_TRUE(threw.load());
}

TEST(EventLoop, DebugModeWarnsAboutSlowCallbacks) {
    aiotest::LogCapture cap;
    aio::EventLoop loop({.debug = true, .slow_callback_duration = 0ns});  // every callback is "slow"
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_TRUE(cap.contains("Executing a callback took"));
}

TEST(EventLoop, DebugModeSlowTaskWarningNamesTheTaskAndCoroutine) {
    aiotest::LogCapture cap;
    auto crunch = []() -> aio::Task<int> { co_return 7; };
    auto main = [&]() -> aio::Task<int> {
        auto t = aio::create_task(crunch(), "cruncher");
        co_return co_await t;
    };
    // slow_callback_duration = 0: every step counts as slow, without the test burning real time.
    EXPECT_EQ(aio::run(main(), {.debug = true, .slow_callback_duration = 0ns}), 7);
    EXPECT_TRUE(cap.contains("Executing task 'cruncher'")) << "log: " << (cap.lines().empty() ? "" : cap.lines()[0]);
    EXPECT_TRUE(cap.contains("test_event_loop.cpp"));  // the coroutine's source location
}

TEST(EventLoop, AdvanceTimeOnlyOnVirtualLoops) {
    aio::EventLoop real;
    EXPECT_THROW(real.advance_time(1s), aio::RuntimeError);
    aio::EventLoop v({.virtual_time = true});
    double t0 = v.time();
    v.advance_time(2s);
    EXPECT_DOUBLE_EQ(v.time() - t0, 2.0);
}

TEST(EventLoop, CachedClockIsTheClockAtTheLastPollAndFollowsVirtualTime) {
    aio::EventLoop v({.virtual_time = true});
    v.advance_time(3s);
    EXPECT_EQ(v.cached_clock_ns(), v.clock_ns());
    // On the real clock: never ahead of clock_ns(), and renewed by every poll.
    aio::EventLoop real;
    const int64_t before_poll = real.cached_clock_ns();
    EXPECT_LE(before_poll, real.clock_ns());
    int64_t seen_in_callback = 0, clock_in_callback = 0;
    const int64_t started = real.clock_ns();
    real.call_later(1ms, [&] {
        seen_in_callback = real.cached_clock_ns();
        clock_in_callback = real.clock_ns();
        real.stop();
    });
    real.run_forever();
    EXPECT_GE(seen_in_callback, started + 1000000) << "read when the timer's deadline had passed";
    EXPECT_LE(seen_in_callback, clock_in_callback);
}

TEST(EventLoop, StatsCountWork) {
    aio::EventLoop loop({.virtual_time = true});
    loop.call_soon([] {});
    loop.call_later(1s, [] {});
    auto s = loop.stats();
    EXPECT_EQ(s.ready, 1u);
    EXPECT_EQ(s.timers, 1u);
}

// The hook the layers above use to let go of sockets when a loop closes (CloseHook).
TEST(EventLoop, CloseHooksRunOnceAtCloseAndRemovedOnesDoNot) {
    struct Counted : aio::detail::CloseHook {
        int* runs = nullptr;
    };
    int a_runs = 0, b_runs = 0, c_runs = 0;
    Counted a, b, c;
    a.runs = &a_runs;
    b.runs = &b_runs;
    c.runs = &c_runs;
    auto bump = [](aio::detail::CloseHook* h) noexcept { ++*static_cast<Counted*>(h)->runs; };
    a.on_close = b.on_close = c.on_close = bump;
    {
        aio::EventLoop loop;
        aio::detail::LoopAccess::add_close_hook(loop, a);
        aio::detail::LoopAccess::add_close_hook(loop, b);
        aio::detail::LoopAccess::add_close_hook(loop, c);
        aio::detail::LoopAccess::remove_close_hook(loop, b);
        EXPECT_FALSE(b.linked);
        loop.close();
        EXPECT_FALSE(a.linked);
        EXPECT_FALSE(c.linked);
        EXPECT_THROW(aio::detail::LoopAccess::add_close_hook(loop, b), aio::RuntimeError);
        loop.close();  // a second close runs nothing again
    }
    EXPECT_EQ(a_runs, 1);
    EXPECT_EQ(b_runs, 0);
    EXPECT_EQ(c_runs, 1);
}
