// aio::threading's Lock, RLock, Condition, Event, Semaphore, BoundedSemaphore, Barrier.
#include <aio/threads/concurrent_future.hpp>
#include <aio/threads/deadlock.hpp>
#include <aio/threads/sync.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace aio::threading;
using aio::ConcurrentFuture;

namespace {

// Waits (yielding) until `pred` holds: for states only observable by polling (n_waiting).
template <class P>
void until(P pred) {
    while (!pred()) std::this_thread::yield();
}

struct DetectionOff {
    bool prev = deadlock_detection_enabled();
    DetectionOff() { set_deadlock_detection(false); }
    ~DetectionOff() { set_deadlock_detection(prev); }
};

// --- Lock --------------------------------------------------------------------------------------

TEST(ThreadingLock, AcquireReleaseLocked) {
    Lock l;
    EXPECT_FALSE(l.locked());
    EXPECT_TRUE(l.acquire());
    EXPECT_TRUE(l.locked());
    EXPECT_FALSE(l.acquire(false));
    l.release();
    EXPECT_FALSE(l.locked());
    EXPECT_THROW(l.release(), aio::RuntimeError);
}

TEST(ThreadingLock, TimedAcquireOnAHeldLockTimesOut) {
    Lock l;
    l.acquire();
    std::thread t([&] {
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_FALSE(l.acquire(20ms));
        EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
        EXPECT_FALSE(l.try_lock_for(0ms));
    });
    t.join();
    l.release();
    EXPECT_TRUE(l.acquire(0ms));
    l.release();
}

TEST(ThreadingLock, AnotherThreadMayReleaseIt) {
    DetectionOff off;  // the detector would (rightly) call the second acquire a self-deadlock
    Lock l;
    l.acquire();
    auto attempting = ConcurrentFuture<void>::create();
    std::thread releaser([&] {
        attempting.result();
        l.release();  // Python allows it; std::mutex would make it undefined
    });
    attempting.set_result();
    l.acquire();  // blocks until the other thread releases
    EXPECT_TRUE(l.locked());
    releaser.join();
    l.release();
}

TEST(ThreadingLock, WorksWithStdGuardsAndExcludesOtherThreads) {
    Lock l;
    long counter = 0;  // not atomic: the lock is what makes this correct (TSan checks it)
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
        ts.emplace_back([&] {
            for (int k = 0; k < 5000; ++k) {
                if (k % 2) {
                    std::lock_guard g(l);
                    ++counter;
                } else {
                    auto held = l.scoped();
                    ++counter;
                }
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(counter, 20000);
}

// --- RLock -------------------------------------------------------------------------------------

TEST(ThreadingRLock, IsReentrantAndCountsReleases) {
    RLock r;
    r.acquire();
    r.acquire();
    r.acquire();
    EXPECT_EQ(r.recursion_depth(), 3u);
    std::thread t([&] {
        EXPECT_FALSE(r.acquire(false));
        EXPECT_FALSE(r.acquire(5ms));
        EXPECT_EQ(r.recursion_depth(), 0u);
    });
    t.join();
    r.release();
    r.release();
    EXPECT_TRUE(r.owned_by_this_thread());
    r.release();
    EXPECT_FALSE(r.owned_by_this_thread());
    EXPECT_THROW(r.release(), aio::RuntimeError);
}

TEST(ThreadingRLock, ReleaseByANonOwnerThrows) {
    RLock r;
    r.acquire();
    std::thread t([&] {
        try {
            r.release();
            ADD_FAILURE() << "expected RuntimeError";
        } catch (const aio::RuntimeError& e) {
            EXPECT_STREQ(e.what(), "cannot release un-acquired lock");
        }
    });
    t.join();
    EXPECT_TRUE(r.owned_by_this_thread());
    r.release();
}

TEST(ThreadingRLock, MeetsTimedLockable) {
    // std::unique_lock's timed forms need try_lock_for and try_lock_until (the second was missing).
    RLock r;
    {
        std::unique_lock lk(r, std::defer_lock);
        EXPECT_TRUE(lk.try_lock_until(std::chrono::steady_clock::now() + 1s));
        EXPECT_EQ(r.recursion_depth(), 1u);
        EXPECT_TRUE(r.try_lock_for(0ms));  // reentrant: the owner gets it again at once
        EXPECT_EQ(r.recursion_depth(), 2u);
        r.unlock();
    }
    EXPECT_EQ(r.recursion_depth(), 0u);
    r.acquire();
    std::thread t([&] {
        EXPECT_FALSE(r.try_lock_until(std::chrono::steady_clock::now()));
        EXPECT_FALSE(r.try_lock_for(0ms));
    });
    t.join();
    r.release();
}

// --- Condition -----------------------------------------------------------------------------------

TEST(ThreadingCondition, NotifyNWakesTheNLongestWaitingInOrder) {
    Condition c;
    int waiting = 0;
    std::vector<int> woken;
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i) {
        ts.emplace_back([&, i] {
            auto held = c.scoped();
            ++waiting;
            c.wait();
            woken.push_back(i);
        });
        // Start the next waiter only once this one waits: a known order of arrival.
        until([&] {
            auto held = c.scoped();
            return waiting == i + 1;
        });
    }
    {
        auto held = c.scoped();
        c.notify(2);
    }
    until([&] {
        auto held = c.scoped();
        return woken.size() == 2;
    });
    {
        auto held = c.scoped();
        // The two longest waiting were woken (in which order they re-took the lock is theirs).
        EXPECT_EQ(std::set<int>(woken.begin(), woken.end()), (std::set<int>{0, 1}));
        c.notify_all();
    }
    for (auto& t : ts) t.join();
    ASSERT_EQ(woken.size(), 3u);
    EXPECT_EQ(woken[2], 2);
}

TEST(ThreadingCondition, WaitTimeoutReturnsFalseHoldingTheLock) {
    Condition c;
    auto held = c.scoped();
    EXPECT_FALSE(c.wait(10ms));
    c.notify();  // still ours: no RuntimeError
    EXPECT_FALSE(c.wait_for([] { return false; }, 5ms));
    EXPECT_TRUE(c.wait_for([] { return true; }, 5ms));
}

TEST(ThreadingCondition, WaitAndNotifyNeedTheLock) {
    Condition c;
    EXPECT_THROW(c.notify(), aio::RuntimeError);
    EXPECT_THROW(c.wait(1ms), aio::RuntimeError);
}

TEST(ThreadingCondition, WaitReleasesAnRLockFullyAndRestoresItsDepth) {
    RLock r;
    Condition c(r);
    bool ready = false;
    r.acquire();
    r.acquire();
    std::thread t([&] {
        auto held = r.scoped();  // possible only if wait released both levels
        ready = true;
        c.notify();
    });
    EXPECT_TRUE(c.wait_for([&] { return ready; }, 10s));
    EXPECT_EQ(r.recursion_depth(), 2u);
    r.release();
    r.release();
    t.join();
}

TEST(ThreadingCondition, WorksOverAPlainLock) {
    Lock l;
    Condition c(l);
    int items = 0;
    std::thread producer([&] {
        for (int i = 0; i < 100; ++i) {
            auto held = c.scoped();
            ++items;
            c.notify();
        }
    });
    {
        auto held = c.scoped();
        EXPECT_TRUE(c.wait_for([&] { return items == 100; }, 10s));
    }
    producer.join();
}

// --- Event ---------------------------------------------------------------------------------------

TEST(ThreadingEvent, SetClearWait) {
    Event e;
    EXPECT_FALSE(e.is_set());
    EXPECT_FALSE(e.wait(5ms));
    std::thread t([&] { e.set(); });
    EXPECT_TRUE(e.wait());
    t.join();
    EXPECT_TRUE(e.is_set());
    EXPECT_TRUE(e.wait(0ms));
    e.clear();
    EXPECT_FALSE(e.is_set());
}

// --- Semaphore -----------------------------------------------------------------------------------

TEST(ThreadingSemaphore, CountsPermits) {
    Semaphore s(3);
    EXPECT_TRUE(s.acquire(false));
    EXPECT_TRUE(s.acquire(false));
    EXPECT_TRUE(s.acquire(false));
    EXPECT_FALSE(s.acquire(false));
    EXPECT_FALSE(s.acquire(5ms));
    s.release(2);
    EXPECT_EQ(s.value(), 2);
    EXPECT_TRUE(s.acquire(0ms));
    EXPECT_THROW(Semaphore(-1), std::invalid_argument);
    EXPECT_THROW(s.release(0), std::invalid_argument);
}

TEST(ThreadingSemaphore, ReleaseFromAnotherThreadWakesAWaiter) {
    Semaphore s(0);
    std::thread t([&] { s.release(); });
    EXPECT_TRUE(s.acquire());
    t.join();
    EXPECT_EQ(s.value(), 0);
}

TEST(ThreadingSemaphore, NeverMoreThanNHoldersAtOnce) {
    Semaphore s(3);
    std::mutex mu;
    int inside = 0, max_inside = 0;
    std::vector<std::thread> ts;
    for (int i = 0; i < 7; ++i)
        ts.emplace_back([&] {
            for (int k = 0; k < 200; ++k) {
                auto permit = s.scoped();
                std::lock_guard lk(mu);
                max_inside = std::max(max_inside, ++inside);
                --inside;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_LE(max_inside, 3);
}

TEST(ThreadingBoundedSemaphore, OverReleaseThrows) {
    BoundedSemaphore s(2);
    EXPECT_THROW(s.release(), std::invalid_argument);
    s.acquire();
    s.release();
    s.acquire();
    s.acquire();
    EXPECT_THROW(s.release(3), std::invalid_argument);
    s.release(2);
    EXPECT_EQ(s.value(), 2);
}

// --- Barrier -------------------------------------------------------------------------------------

TEST(ThreadingBarrier, IndicesAndTheActionRunOnceBeforeRelease) {
    std::atomic<int> actions{0};
    Barrier b(3, [&] { ++actions; });
    std::mutex mu;
    std::set<size_t> indices;
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i)
        ts.emplace_back([&] {
            size_t idx = b.wait();
            EXPECT_EQ(actions.load(), 1);  // the action ran before anyone was released
            std::lock_guard lk(mu);
            indices.insert(idx);
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(indices, (std::set<size_t>{0, 1, 2}));
    EXPECT_EQ(b.parties(), 3u);
    EXPECT_FALSE(b.broken());
    EXPECT_EQ(b.n_waiting(), 0u);
}

TEST(ThreadingBarrier, IsReusable) {
    constexpr int kRounds = 50;
    Barrier b(2);
    std::vector<size_t> theirs(kRounds), mine(kRounds);
    std::thread t([&] {
        for (auto& idx : theirs) idx = b.wait();
    });
    for (auto& idx : mine) idx = b.wait();
    t.join();
    // Every round hands out each index once: one thread got 0, the other 1.
    for (int r = 0; r < kRounds; ++r) {
        const auto i = static_cast<size_t>(r);
        EXPECT_EQ(std::set<size_t>({theirs[i], mine[i]}), (std::set<size_t>{0, 1})) << "round " << r;
    }
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_FALSE(b.broken());
}

TEST(ThreadingBarrier, TimeoutBreaksItAndResetRepairsIt) {
    Barrier b(2);
    EXPECT_THROW(b.wait(10ms), BrokenBarrierError);
    EXPECT_TRUE(b.broken());
    EXPECT_THROW(b.wait(), BrokenBarrierError);
    b.reset();
    EXPECT_FALSE(b.broken());
    std::thread t([&] { b.wait(); });
    b.wait();
    t.join();
}

TEST(ThreadingBarrier, DefaultTimeoutFromTheConstructor) {
    Barrier b(2, {}, std::chrono::milliseconds(10));
    EXPECT_THROW(b.wait(), BrokenBarrierError);
}

TEST(ThreadingBarrier, AbortWakesWaitersWithBrokenBarrierError) {
    Barrier b(3);
    std::thread t([&] { EXPECT_THROW(b.wait(), BrokenBarrierError); });
    until([&] { return b.n_waiting() == 1; });
    b.abort();
    t.join();
    EXPECT_TRUE(b.broken());
}

TEST(ThreadingBarrier, ResetWhileWaitingBreaksTheWaiters) {
    Barrier b(2);
    std::thread t([&] { EXPECT_THROW(b.wait(), BrokenBarrierError); });
    until([&] { return b.n_waiting() == 1; });
    b.reset();
    t.join();
    EXPECT_FALSE(b.broken());  // reset leaves it usable
}

TEST(ThreadingBarrier, AFailingActionBreaksTheBarrier) {
    Barrier b(2, [] { throw std::runtime_error("action failed"); });
    std::atomic<int> runtime_errors{0}, broken_errors{0};
    auto body = [&] {
        try {
            b.wait();
        } catch (const BrokenBarrierError&) {
            ++broken_errors;
        } catch (const std::runtime_error&) {
            ++runtime_errors;
        }
    };
    std::thread t(body);
    body();
    t.join();
    EXPECT_EQ(runtime_errors.load(), 1);  // the last to arrive gets the action's exception
    EXPECT_EQ(broken_errors.load(), 1);   // the other one sees a broken barrier
    EXPECT_TRUE(b.broken());
    EXPECT_THROW(Barrier(0), std::invalid_argument);
}

}  // namespace
