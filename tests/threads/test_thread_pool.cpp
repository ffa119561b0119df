// aio::ThreadPoolExecutor: submit, map, shutdown, initializers, failures.
#include <aio/core/executor.hpp>
#include <aio/threads/thread.hpp>
#include <aio/threads/thread_pool.hpp>
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "threads/threads_test_util.hpp"

using namespace std::chrono_literals;
using aio::ConcurrentFuture;
using aio::ThreadPoolExecutor;

namespace {

// A gate a job waits on, opened by the test: no sleeping to "let the job start".
struct Gate {
    ConcurrentFuture<void> f = ConcurrentFuture<void>::create();
    void open() { f.set_result(); }
    void wait() const { f.result(); }
};

TEST(ThreadPool, SubmitReturnsTheResult) {
    ThreadPoolExecutor pool(2);
    auto f = pool.submit([](int a, int b) { return a + b; }, 2, 3);
    EXPECT_EQ(f.result(), 5);
    auto v = pool.submit([] {});
    v.result();
    EXPECT_TRUE(v.done());
}

TEST(ThreadPool, ArgumentsAreCopiedAtSubmit) {
    ThreadPoolExecutor pool(1);
    std::string s = "before";
    auto f = pool.submit([](const std::string& x) { return x; }, s);
    s = "after";
    EXPECT_EQ(f.result(), "before");
    auto p = std::make_unique<int>(8);  // move-only arguments are moved in
    auto g = pool.submit([](std::unique_ptr<int> q) { return *q; }, std::move(p));
    EXPECT_EQ(g.result(), 8);
}

TEST(ThreadPool, ExceptionInJobIsStoredAndRethrownByResult) {
    ThreadPoolExecutor pool(1);
    auto f = pool.submit([]() -> int { throw std::domain_error("job failed"); });
    EXPECT_THROW(f.result(), std::domain_error);
    EXPECT_NE(f.exception(), nullptr);
    // Even a non-std exception, and a CancelledError raised by the job itself, are stored.
    auto g = pool.submit([] { throw 17; });
    EXPECT_THROW(g.result(), int);
    auto h = pool.submit([] { throw aio::CancelledError("inner"); });
    EXPECT_THROW(h.result(), aio::CancelledError);
    EXPECT_FALSE(h.cancelled());  // finished with an exception, not cancelled
    EXPECT_EQ(pool.submit([] { return 1; }).result(), 1);  // the worker survived
}

TEST(ThreadPool, DefaultMaxWorkersFollowsPython) {
    int cpus = static_cast<int>(std::thread::hardware_concurrency());
    EXPECT_EQ(ThreadPoolExecutor::default_max_workers(), std::min(32, cpus + 4));
    ThreadPoolExecutor pool;
    EXPECT_EQ(pool.max_workers(), std::min(32, cpus + 4));
    EXPECT_THROW(ThreadPoolExecutor(0), std::invalid_argument);
    EXPECT_THROW(ThreadPoolExecutor(-1), std::invalid_argument);
}

TEST(ThreadPool, ThreadsStartLazilyAndAreNamed) {
    ThreadPoolExecutor pool(4, "dl");
    EXPECT_EQ(pool.thread_count(), 0);
    EXPECT_EQ(pool.submit([] { return aio::threading::current_thread_name(); }).result(), "dl_0");
    EXPECT_EQ(pool.thread_count(), 1);  // one idle worker serves one job at a time
    ThreadPoolExecutor anon(1);
    auto name = anon.submit([] { return aio::threading::current_thread_name(); }).result();
    EXPECT_EQ(name.rfind("ThreadPoolExecutor-", 0), 0u) << name;
    EXPECT_EQ(name.substr(name.size() - 2), "_0");
}

TEST(ThreadPool, JobsRunInParallelUpToMaxWorkers) {
    // Two jobs that each need the other to have started: they can only finish if they run at
    // the same time. A serialising pool would make result(10s) time out instead of hanging.
    ThreadPoolExecutor pool(2);
    auto a = ConcurrentFuture<void>::create();
    auto b = ConcurrentFuture<void>::create();
    auto fa = pool.submit([=]() mutable {
        a.set_result();
        b.result(10s);
    });
    auto fb = pool.submit([=]() mutable {
        b.set_result();
        a.result(10s);
    });
    EXPECT_NO_THROW(fa.result());
    EXPECT_NO_THROW(fb.result());
    EXPECT_EQ(pool.thread_count(), 2);
}

TEST(ThreadPool, AnIdleWorkerTakesTheNextJobWhileAnotherIsBusy) {
    // The queue is shared: a job queued behind a blocked one runs on the other worker.
    Gate gate;
    ThreadPoolExecutor pool(2);
    auto blocked = pool.submit([&] { gate.wait(); });
    for (int i = 0; i < 20; ++i) EXPECT_EQ(pool.submit([i] { return i; }).result(10s), i);
    gate.open();
    blocked.result();
}

TEST(ThreadPool, CancelSucceedsOnlyWhilePending) {
    Gate started, release;
    ThreadPoolExecutor pool(1);
    auto first = pool.submit([&] {
        started.open();
        release.wait();
    });
    std::atomic<bool> second_ran{false};
    auto second = pool.submit([&] { second_ran = true; });
    started.wait();
    EXPECT_TRUE(first.running());
    EXPECT_FALSE(first.cancel());  // running
    EXPECT_FALSE(second.running());
    EXPECT_TRUE(second.cancel());  // pending
    EXPECT_TRUE(second.cancelled());
    release.open();
    first.result();
    pool.shutdown(true);
    EXPECT_FALSE(second_ran.load());
    EXPECT_THROW(second.result(), aio::CancelledError);
}

TEST(ThreadPool, ResultTimeoutLeavesTheJobRunning) {
    Gate release;
    ThreadPoolExecutor pool(1);
    auto f = pool.submit([&] {
        release.wait();
        return 3;
    });
    EXPECT_THROW(f.result(10ms), aio::TimeoutError);
    EXPECT_FALSE(f.done());
    release.open();
    EXPECT_EQ(f.result(), 3);
}

TEST(ThreadPool, SubmitAfterShutdownThrows) {
    ThreadPoolExecutor pool(1);
    pool.shutdown();
    EXPECT_THROW(pool.submit([] {}), aio::RuntimeError);
    pool.shutdown();  // idempotent
}

TEST(ThreadPool, ShutdownWaitRunsEveryAcceptedJob) {
    std::atomic<int> n{0};
    Gate release;
    ThreadPoolExecutor pool(1);
    pool.submit([&] {
        release.wait();
        ++n;
    });
    for (int i = 0; i < 5; ++i) pool.submit([&] { ++n; });
    release.open();
    pool.shutdown(true);
    EXPECT_EQ(n.load(), 6);
}

TEST(ThreadPool, ShutdownWithoutWaitReturnsWhileJobsRun) {
    Gate release;
    ThreadPoolExecutor pool(1);
    std::atomic<int> n{0};
    auto f = pool.submit([&] {
        release.wait();
        ++n;
    });
    auto g = pool.submit([&] { ++n; });
    pool.shutdown(false);  // would hang here if it waited
    EXPECT_FALSE(f.done());
    release.open();
    f.result();
    g.result();  // queued jobs still run (cancel_futures=false)
    EXPECT_EQ(n.load(), 2);
}

TEST(ThreadPool, ShutdownCancelFuturesCancelsPendingJobsOnly) {
    Gate started, release;
    ThreadPoolExecutor pool(1);
    auto running = pool.submit([&] {
        started.open();
        release.wait();
        return 1;
    });
    std::vector<ConcurrentFuture<int>> queued;
    for (int i = 0; i < 3; ++i) queued.push_back(pool.submit([] { return 2; }));
    started.wait();
    pool.shutdown(false, true);
    for (auto& q : queued) EXPECT_TRUE(q.cancelled());
    release.open();
    EXPECT_EQ(running.result(), 1);
    pool.shutdown(true);
}

TEST(ThreadPool, DestructorWaitsLikeAWithBlock) {
    std::atomic<int> n{0};
    {
        ThreadPoolExecutor pool(2);
        for (int i = 0; i < 50; ++i) pool.submit([&] { ++n; });
    }
    EXPECT_EQ(n.load(), 50);
}

TEST(ThreadPool, DestroyedAfterShutdownNoWaitFinishesInTheBackground) {
    auto done = ConcurrentFuture<int>::create();
    Gate release;
    {
        ThreadPoolExecutor pool(1);
        pool.submit([&release, done]() mutable {
            release.wait();
            done.set_result(1);
        });
        pool.shutdown(false);
    }  // does not wait
    release.open();
    EXPECT_EQ(done.result(), 1);
}

TEST(ThreadPool, ShutdownFromInsideAJobDoesNotDeadlock) {
    ThreadPoolExecutor pool(2);
    auto f = pool.submit([&] {
        pool.shutdown(true);  // joins the other worker, not itself
        return 7;
    });
    EXPECT_EQ(f.result(), 7);
}

TEST(ThreadPool, InitializerRunsOncePerWorkerThread) {
    static thread_local int session = 0;  // E26's thread-local session
    std::atomic<int> inits{0};
    ThreadPoolExecutor pool(2, "init", [&] {
        session = ++inits;
    });
    auto a = ConcurrentFuture<void>::create();
    auto b = ConcurrentFuture<void>::create();
    auto fa = pool.submit([=]() mutable {
        a.set_result();
        b.result(10s);
        return session;
    });
    auto fb = pool.submit([=]() mutable {
        b.set_result();
        a.result(10s);
        return session;
    });
    std::set<int> sessions{fa.result(), fb.result()};
    EXPECT_EQ(sessions, (std::set<int>{1, 2}));
    EXPECT_EQ(inits.load(), 2);
}

TEST(ThreadPool, FailingInitializerBreaksThePool) {
    aiotest::LogCapture log;
    ThreadPoolExecutor pool(1, "", [] { throw std::runtime_error("no database"); });
    auto f = pool.submit([] { return 1; });
    EXPECT_THROW(f.result(), aio::BrokenThreadPool);
    EXPECT_THROW(pool.submit([] { return 2; }), aio::BrokenThreadPool);
    EXPECT_TRUE(log.contains("Exception in initializer"));
    EXPECT_TRUE(log.contains("no database"));
}

// Shutdown joining the worker while its initializer fails: the worker must be able to mark the
// pool broken without the lock the joiner holds. Which comes first is up to the scheduler, so
// the race is run many times; it used to hang (ctest's timeout) within a few rounds.
TEST(ThreadPool, DestroyedWhileTheInitializerFailsDoesNotHang) {
    aiotest::LogCapture log;
    for (int round = 0; round < 200; ++round) {
        aio::ConcurrentFuture<void> f;
        {
            ThreadPoolExecutor pool(1, "", [] { throw std::runtime_error("no database"); });
            f = pool.submit([] {});
        }  // ~ThreadPoolExecutor: shutdown(wait=true) joins the worker
        ASSERT_TRUE(f.done());
        EXPECT_THROW(f.result(), aio::BrokenThreadPool);
    }
}

TEST(ThreadPool, DoneCallbackExceptionInAWorkerIsLogged) {
    aiotest::LogCapture log;
    Gate release;
    ThreadPoolExecutor pool(1);
    auto f = pool.submit([&] { release.wait(); });
    f.add_done_callback([] { throw std::runtime_error("bad callback"); });
    release.open();
    f.result();
    pool.shutdown(true);  // the callback ran in the worker before it exited
    EXPECT_TRUE(log.contains("bad callback"));
    EXPECT_EQ(pool.max_workers(), 1);
}

TEST(ThreadPool, MapYieldsResultsInInputOrder) {
    ThreadPoolExecutor pool(3);
    std::vector<int> xs{5, 1, 4, 2, 3};
    std::vector<int> out;
    for (int r : pool.map([](int x) { return x * x; }, xs)) out.push_back(r);
    EXPECT_EQ(out, (std::vector<int>{25, 1, 16, 4, 9}));
}

TEST(ThreadPool, MapRethrowsAtTheFailingElement) {
    ThreadPoolExecutor pool(2);
    std::vector<int> got;
    auto results = pool.map([](int x) {
        if (x == 3) throw std::invalid_argument("three");
        return x;
    }, std::vector<int>{1, 2, 3, 4});
    try {
        for (int r : results) got.push_back(r);
        FAIL() << "expected the job's exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "three");
    }
    EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

TEST(ThreadPool, MapTimeoutThrowsTimeoutError) {
    Gate release;
    ThreadPoolExecutor pool(1);
    auto results = pool.map([&](int x) {
        release.wait();
        return x;
    }, std::vector<int>{1}, 10ms);
    EXPECT_THROW((void)*results.begin(), aio::TimeoutError);
    release.open();
}

TEST(ThreadPool, LeavingAMapEarlyCancelsTheJobsNotStarted) {
    Gate second_started, hold;
    ThreadPoolExecutor pool(1);
    std::atomic<bool> third_ran{false};
    std::vector<ConcurrentFuture<int>> fs;
    {
        auto results = pool.map([&](int x) {
            if (x == 2) {
                second_started.open();
                hold.wait();
            }
            if (x == 3) third_ran = true;
            return x;
        }, std::vector<int>{1, 2, 3});
        fs = results.futures();
        for (int r : results) {
            EXPECT_EQ(r, 1);
            second_started.wait();  // job 2 runs, job 3 waits behind it
            break;
        }
    }  // Python closes the generator: the pending job is cancelled, the running one is not
    hold.open();
    EXPECT_EQ(fs[1].result(), 2);
    EXPECT_TRUE(fs[2].cancelled());
    pool.shutdown(true);
    EXPECT_FALSE(third_ran.load());
}

TEST(ThreadPool, AssigningAnotherMapCancelsTheReplacedOnesPendingJobs) {
    Gate started, hold;
    ThreadPoolExecutor pool(1);
    auto blocker = pool.submit([&] {
        started.open();
        hold.wait();
    });
    started.wait();  // the only worker is busy: every job below stays pending
    auto id = [](int x) { return x; };
    auto results = pool.map(id, std::vector<int>{1, 2});
    const auto replaced = results.futures();
    results = pool.map(id, std::vector<int>{3});
    EXPECT_TRUE(replaced[0].cancelled());
    EXPECT_TRUE(replaced[1].cancelled());
    hold.open();
    std::vector<int> out;
    for (int r : results) out.push_back(r);
    EXPECT_EQ(out, std::vector<int>{3});
    blocker.result();
}

TEST(ThreadPool, MapHandsOutAMoveOnlyResultOnce) {
    ThreadPoolExecutor pool(1);
    auto results = pool.map([](int x) { return std::make_unique<int>(x); }, std::vector<int>{7});
    auto it = results.begin();
    std::unique_ptr<int> p = *it;
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 7);
    EXPECT_THROW((void)*it, aio::InvalidStateError);  // not a moved-from (null) pointer
    // A copyable result can be read again.
    auto ints = pool.map([](int x) { return x + 1; }, std::vector<int>{1});
    auto jt = ints.begin();
    EXPECT_EQ(*jt, 2);
    EXPECT_EQ(*jt, 2);
}

#if defined(__GLIBC__)
// Makes thread creation fail while alive: glibc's default thread stack set larger than the
// address space, so pthread_create cannot map one (EAGAIN; std::thread throws system_error).
class ThreadCreationFails {
public:
    ThreadCreationFails() {
        pthread_attr_t a;
        if (pthread_getattr_default_np(&a) != 0) return;
        pthread_attr_getstacksize(&a, &saved_);
        pthread_attr_destroy(&a);
        active_ = set_stack(size_t{1} << 50);
        if (!active_) return;
        try {
            std::thread probe([] {});
            probe.join();  // the trick does not work here (another libc, a sanitizer...)
            restore();
        } catch (const std::system_error&) {
        }
    }
    ~ThreadCreationFails() { restore(); }
    ThreadCreationFails(const ThreadCreationFails&) = delete;
    ThreadCreationFails& operator=(const ThreadCreationFails&) = delete;
    [[nodiscard]] bool active() const { return active_; }

private:
    static bool set_stack(size_t n) {
        pthread_attr_t a;
        if (pthread_attr_init(&a) != 0) return false;
        const bool ok = pthread_attr_setstacksize(&a, n) == 0 && pthread_setattr_default_np(&a) == 0;
        pthread_attr_destroy(&a);
        return ok;
    }
    void restore() {
        if (active_) set_stack(saved_);
        active_ = false;
    }
    size_t saved_ = 0;
    bool active_ = false;
};

// The first job of a pool must not be queued before a worker exists to run it: if the worker
// cannot be started, submit() throws and the caller frees the job — a queued one would be
// left in the queue, freed, for the next worker to run.
TEST(ThreadPool, FailingToStartTheFirstWorkerThrowsAndQueuesNothing) {
    ThreadPoolExecutor pool(2);
    {
        ThreadCreationFails no_threads;
        if (!no_threads.active()) GTEST_SKIP() << "cannot make thread creation fail on this platform";
        EXPECT_THROW(pool.submit([] { return 1; }), std::system_error);
    }
    EXPECT_EQ(pool.thread_count(), 0);
    EXPECT_EQ(pool.submit([] { return 2; }).result(), 2);  // the first job to run is this one
    EXPECT_EQ(pool.thread_count(), 1);
}

// With a worker already there, a job stays accepted when the pool cannot grow: the busy worker
// runs it next.
TEST(ThreadPool, FailingToAddAWorkerLeavesTheJobToTheRunningOne) {
    aiotest::LogCapture log;
    Gate started, hold;
    ThreadPoolExecutor pool(2);
    auto first = pool.submit([&] {
        started.open();
        hold.wait();
        return 1;
    });
    started.wait();  // the one worker is busy, none idle: the next submit wants a second one
    ConcurrentFuture<int> second;
    {
        ThreadCreationFails no_threads;
        if (!no_threads.active()) {
            hold.open();
            GTEST_SKIP() << "cannot make thread creation fail on this platform";
        }
        second = pool.submit([] { return 2; });
    }
    EXPECT_EQ(pool.thread_count(), 1);
    EXPECT_TRUE(log.contains("could not start another worker thread"));
    hold.open();
    EXPECT_EQ(first.result(), 1);
    EXPECT_EQ(second.result(), 2);
}
#endif

TEST(ThreadPool, ManyProducersManyJobs) {
    ThreadPoolExecutor pool(3);
    constexpr int kProducers = 4, kJobs = 5000;
    std::atomic<long> sum{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p)
        producers.emplace_back([&] {
            std::vector<ConcurrentFuture<int>> fs;
            fs.reserve(kJobs);
            for (int i = 0; i < kJobs; ++i) fs.push_back(pool.submit([i] { return i; }));
            long s = 0;
            for (auto& f : fs) s += f.result();
            sum += s;
        });
    for (auto& t : producers) t.join();
    EXPECT_EQ(sum.load(), static_cast<long>(kProducers) * kJobs * (kJobs - 1) / 2);
}

TEST(ThreadPool, IsAnAioExecutor) {
    std::shared_ptr<aio::Executor> ex = std::make_shared<ThreadPoolExecutor>(1);
    auto* pool = static_cast<ThreadPoolExecutor*>(ex.get());
    EXPECT_EQ(pool->submit([] { return 3; }).result(), 3);
    ex->shutdown(true);
    EXPECT_THROW(pool->submit([] {}), aio::RuntimeError);
}

TEST(ThreadPool, WaitAndAsCompletedOverPoolFutures) {
    Gate release;
    ThreadPoolExecutor pool(2);
    std::vector<ConcurrentFuture<int>> fs;
    fs.push_back(pool.submit([&] {
        release.wait();
        return 1;
    }));
    fs.push_back(pool.submit([] { return 2; }));
    auto [done, pending] = aio::wait(fs, aio::FIRST_COMPLETED);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].result(), 2);
    auto ac = aio::as_completed(fs);  // fs[1] is done, fs[0] not yet
    release.open();
    std::vector<int> order;
    for (auto& f : ac) order.push_back(f.result());
    EXPECT_EQ(order.size(), 2u);
    EXPECT_EQ(order[0], 2);  // it was done first
}

}  // namespace
