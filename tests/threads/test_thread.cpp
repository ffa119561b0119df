// aio::threading::Thread, Timer, names, active_count, excepthook.
#include <aio/threads/concurrent_future.hpp>
#include <aio/threads/thread.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "threads/threads_test_util.hpp"

using namespace std::chrono_literals;
using namespace aio::threading;
using aio::ConcurrentFuture;

namespace {

TEST(ThreadNames, MainThreadAndSetName) {
    if (is_main_thread()) {
        EXPECT_EQ(current_thread_name(), "MainThread");
    }
    std::thread t([] {
        EXPECT_FALSE(is_main_thread());
        EXPECT_EQ(current_thread_name(), "Thread-" + std::to_string(get_native_id()));
        set_current_thread_name("a-rather-long-thread-name");
        EXPECT_EQ(current_thread_name(), "a-rather-long-thread-name");  // the full name is kept
        char os[32] = {};
        pthread_getname_np(pthread_self(), os, sizeof os);
        EXPECT_STREQ(os, "a-rather-long-t");  // the kernel keeps 15 bytes
        set_current_thread_name("préparé-à-lémon");  // byte 15 is inside "é": cut before it
        pthread_getname_np(pthread_self(), os, sizeof os);
        EXPECT_STREQ(os, "préparé-à-l");
    });
    t.join();
}

TEST(ThreadNames, ActiveCountSeesALiveThread) {
    auto release = ConcurrentFuture<void>::create();
    auto tid = ConcurrentFuture<int64_t>::create();
    std::thread t([&] {
        tid.set_result(get_native_id());
        release.result();
    });
    const int64_t id = tid.result();
    EXPECT_GE(active_count(), 2);
    EXPECT_TRUE(std::filesystem::exists("/proc/self/task/" + std::to_string(id)));
    release.set_result();
    t.join();
    EXPECT_GE(active_count(), 1);
}

TEST(Thread, StartJoinNameAndId) {
    auto seen = ConcurrentFuture<std::string>::create();
    auto id = ConcurrentFuture<int64_t>::create();
    Thread t(ThreadOptions{.name = "greeter"}, [&](int n) {
        seen.set_result(current_thread_name() + " x" + std::to_string(n));
        id.set_result(get_native_id());
    }, 3);
    EXPECT_EQ(t.name(), "greeter");
    EXPECT_FALSE(t.is_alive());
    EXPECT_EQ(t.native_id(), 0);
    t.start();
    t.join();
    EXPECT_FALSE(t.is_alive());
    EXPECT_EQ(seen.result(), "greeter x3");
    EXPECT_EQ(t.native_id(), id.result());
    EXPECT_THROW(t.start(), aio::RuntimeError);
}

TEST(Thread, DefaultNamesAreNumbered) {
    Thread a([] {}), b([] {});
    EXPECT_EQ(a.name().rfind("Thread-", 0), 0u);
    EXPECT_NE(a.name(), b.name());
}

TEST(Thread, TimedJoinAndIsAlive) {
    auto release = ConcurrentFuture<void>::create();
    Thread t([release] { release.result(); });
    EXPECT_THROW(t.join(), aio::RuntimeError);  // not started
    t.start();
    EXPECT_TRUE(t.is_alive());
    EXPECT_FALSE(t.join(10ms));  // std::jthread cannot do this
    EXPECT_TRUE(t.is_alive());
    release.set_result();
    EXPECT_TRUE(t.join(10s));
    EXPECT_FALSE(t.is_alive());
}

TEST(Thread, StopTokenStopsItCooperatively) {
    std::atomic<int> rounds{0};
    Thread t([&](std::stop_token st) {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lk(m);
        while (!st.stop_requested()) {
            ++rounds;
            cv.wait(lk, st, [] { return false; });  // returns when a stop is requested
        }
    });
    t.start();
    EXPECT_TRUE(t.request_stop());
    t.join();
    EXPECT_GE(rounds.load(), 0);
    EXPECT_TRUE(t.get_stop_token().stop_requested());
}

TEST(Thread, DestructorRequestsStopAndJoins) {
    std::atomic<bool> exited{false};
    {
        Thread t([&](std::stop_token st) {
            std::mutex m;
            std::condition_variable_any cv;
            std::unique_lock lk(m);
            cv.wait(lk, st, [] { return false; });
            exited = true;
        });
        t.start();
    }
    EXPECT_TRUE(exited.load());
}

TEST(Thread, DaemonThreadOutlivesItsObject) {
    auto release = ConcurrentFuture<void>::create();
    auto done = ConcurrentFuture<int>::create();
    {
        Thread t(ThreadOptions{.name = "daemon", .daemon = true}, [release, done]() mutable {
            release.result();
            done.set_result(1);
        });
        EXPECT_TRUE(t.daemon());
        t.start();
    }  // detached, not joined
    release.set_result();
    EXPECT_EQ(done.result(10s), 1);
}

TEST(Thread, ExceptionGoesToTheHookNotToTerminate) {
    auto got = ConcurrentFuture<std::string>::create();
    auto prev = set_excepthook([got](const ExceptHookArgs& a) mutable {
        try {
            std::rethrow_exception(a.exception);
        } catch (const std::exception& e) {
            got.set_result(a.thread_name + ": " + e.what());
        }
    });
    Thread t(ThreadOptions{.name = "worker"}, [] { throw std::runtime_error("boom"); });
    t.start();
    t.join();
    EXPECT_EQ(got.result(), "worker: boom");
    set_excepthook(prev);

    aiotest::LogCapture log;  // the default hook logs
    Thread u(ThreadOptions{.name = "other"}, [] { throw 7; });
    u.start();
    u.join();
    EXPECT_TRUE(log.contains("Exception in thread other"));
}

TEST(Thread, JoiningItselfThrows) {
    auto result = ConcurrentFuture<bool>::create();
    Thread* self = nullptr;
    auto go = ConcurrentFuture<void>::create();
    Thread t([&] {
        go.result();
        try {
            self->join();
            result.set_result(false);
        } catch (const aio::RuntimeError&) {
            result.set_result(true);
        }
    });
    self = &t;
    t.start();
    go.set_result();
    EXPECT_TRUE(result.result());
    t.join();
}

// Python lets any number of threads join the same thread; the OS thread must be joined once.
TEST(Thread, SeveralThreadsMayJoinItAtOnce) {
    auto release = ConcurrentFuture<void>::create();
    Thread t([&] { release.result(); });
    t.start();
    constexpr int kJoiners = 4;
    std::atomic<int> joined{0};
    std::latch all_waiting(kJoiners);
    std::vector<std::thread> joiners;
    for (int i = 0; i < kJoiners; ++i)
        joiners.emplace_back([&, i] {
            all_waiting.count_down();
            if (i % 2) {
                t.join();
            } else {
                while (!t.join(1h)) {
                }
            }
            EXPECT_FALSE(t.is_alive());
            ++joined;
        });
    all_waiting.wait();  // whether they are inside join() yet or not, they all must return
    release.set_result();
    for (auto& j : joiners) j.join();
    EXPECT_EQ(joined.load(), kJoiners);
    t.join();  // and once more, from here: a no-op
}

// start() and is_alive() from different threads: started_ is published, not a plain bool.
TEST(Thread, IsAliveFromAnotherThreadWhileStarting) {
    auto release = ConcurrentFuture<void>::create();
    Thread t([&] { release.result(); });
    std::latch go(2);
    std::thread observer([&] {
        go.arrive_and_wait();
        bool seen_alive = false;
        while (!seen_alive) seen_alive = t.is_alive();
    });
    go.arrive_and_wait();
    t.start();
    EXPECT_THROW(t.start(), aio::RuntimeError);
    observer.join();
    release.set_result();
    t.join();
    EXPECT_FALSE(t.is_alive());
}

TEST(Timer, FiresAfterTheInterval) {
    auto fired = ConcurrentFuture<std::string>::create();
    const auto t0 = std::chrono::steady_clock::now();
    Timer timer(10ms, [fired](const std::string& s) mutable { fired.set_result(s); }, std::string("ding"));
    timer.start();
    EXPECT_EQ(fired.result(10s), "ding");
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 10ms);
    timer.join();
}

TEST(Timer, CancelledBeforeItFiresNeverCalls) {
    std::atomic<bool> called{false};
    Timer timer(1h, [&] { called = true; });
    timer.start();
    timer.cancel();
    EXPECT_TRUE(timer.join(10s));  // returns at once: the wait ended with the cancel
    EXPECT_FALSE(called.load());
    EXPECT_FALSE(timer.is_alive());
}

TEST(Timer, DestroyingAnUnfiredTimerCancelsIt) {
    std::atomic<bool> called{false};
    const auto t0 = std::chrono::steady_clock::now();
    {
        Timer timer(1h, [&] { called = true; });
        timer.start();
    }
    EXPECT_FALSE(called.load());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1h);
}

}  // namespace
