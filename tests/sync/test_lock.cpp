// aio::Lock (include/aio/sync/lock.hpp): fast path, FIFO hand-off, the no-queue-jumping rule,
// cancel safety, the RAII guard, misuse, inspection.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "sync_util.hpp"

namespace {

using namespace std::chrono_literals;
using synctest::Log;

aio::Task<> ticker(Log& log, int n) {
    for (int i = 0; i < n; ++i) {
        log.push_back("tick " + std::to_string(i));
        co_await aio::sleep(0ms);
    }
}

TEST(Lock, FreeLockIsTakenWithoutSuspending) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Lock lock;
        auto t = aio::create_task(ticker(log, 1));
        EXPECT_FALSE(lock.locked());
        co_await lock.acquire();  // must not let the ticker run
        EXPECT_TRUE(log.empty());
        EXPECT_TRUE(lock.locked());
        lock.release();
        EXPECT_FALSE(lock.locked());
        co_await t;
    }());
}

TEST(Lock, ReleasingAnUnlockedLockThrowsAndChangesNothing) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Lock lock;
        EXPECT_THROW(lock.release(), aio::RuntimeError);
        try {
            lock.release();
        } catch (const aio::RuntimeError& e) {
            EXPECT_STREQ(e.what(), "Lock is not acquired.");
        }
        co_await lock.acquire();
        lock.release();
        EXPECT_THROW(lock.release(), aio::RuntimeError);
        EXPECT_FALSE(lock.locked());
        co_await lock.acquire();
        EXPECT_TRUE(lock.locked());
        lock.release();
    }());
}

aio::Task<> take_and_yield(aio::Lock& lock, Log& log, std::string name) {
    co_await lock.acquire();
    log.push_back(name);
    co_await aio::sleep(0ms);
    lock.release();
}

// CPython 3.11:
//   await lock.acquire()
//   async def w(name): await lock.acquire(); log.append(name); await asyncio.sleep(0); lock.release()
//   a = create_task(w("a")); b = create_task(w("b")); await asyncio.sleep(0)
//   lock.release(); log.append(f"locked={lock.locked()}")
//   try: lock.release()
//   except RuntimeError as e: log.append(f"release during hand-off: {e}")
//   c = create_task(w("c"))
//   await lock.acquire(); log.append("main"); lock.release()        # main is a newcomer too
//   await gather(a, b, c)
// -> ['locked=False', 'release during hand-off: Lock is not acquired.', 'a', 'b', 'main', 'c']
TEST(Lock, WaitersGetTheLockInArrivalOrderAndNewcomersDoNotJumpTheQueue) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Lock lock;
        co_await lock.acquire();
        auto a = aio::create_task(take_and_yield(lock, log, "a"));
        auto b = aio::create_task(take_and_yield(lock, log, "b"));
        co_await aio::sleep(0ms);
        lock.release();
        log.push_back(lock.locked() ? "locked=True" : "locked=False");
        try {
            lock.release();
        } catch (const aio::RuntimeError& e) {
            log.push_back(std::string("release during hand-off: ") + e.what());
        }
        auto c = aio::create_task(take_and_yield(lock, log, "c"));
        co_await lock.acquire();  // the lock is free by locked(), but "a" was handed it first
        log.push_back("main");
        lock.release();
        co_await aio::gather(a, b, c);
    }());
    EXPECT_EQ(log, (Log{"locked=False", "release during hand-off: Lock is not acquired.", "a", "b", "main", "c"}));
}

// CPython 3.11: a waiter is handed the lock one iteration later, like a future's callback.
//   t = create_task(w()); await asyncio.sleep(0); tk = create_task(ticker())
//   lock.release(); log.append("released"); await gather(t, tk)
// -> ['released', 'tick 0', 'w acquired', 'tick 1', 'tick 2', 'tick 3']
TEST(Lock, AWokenWaiterResumesOnTheNextIteration) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Lock lock;
        co_await lock.acquire();
        auto t = aio::create_task([&]() -> aio::Task<> {
            co_await lock.acquire();
            log.push_back("w acquired");
            lock.release();
        });
        co_await aio::sleep(0ms);
        auto tk = aio::create_task(ticker(log, 4));
        lock.release();
        log.push_back("released");
        co_await aio::gather(t, tk);
    }());
    EXPECT_EQ(log, (Log{"released", "tick 0", "w acquired", "tick 1", "tick 2", "tick 3"}));
}

aio::Task<> acquire_logging(aio::Lock& lock, Log& log, std::string name) {
    try {
        co_await lock.acquire();
    } catch (const aio::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
    log.push_back(name);
    lock.release();
}

// CPython 3.11: a queued waiter that is cancelled gives up its place; the next one is served.
//   a = create_task(w("a")); b = create_task(w("b")); await asyncio.sleep(0)
//   a.cancel(); await asyncio.sleep(0); log.append(f"locked={lock.locked()}")
//   lock.release(); await gather(a, b, return_exceptions=True)
// -> ['a cancelled', 'locked=True', 'b'] and the lock is free at the end
TEST(Lock, CancelledQueuedWaiterGivesUpItsPlace) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Lock lock;
        co_await lock.acquire();
        auto a = aio::create_task(acquire_logging(lock, log, "a"));
        auto b = aio::create_task(acquire_logging(lock, log, "b"));
        co_await aio::sleep(0ms);
        EXPECT_EQ(lock.stats().waiters, 2u);
        a.cancel();
        EXPECT_EQ(lock.stats().waiters, 1u);  // left at once
        co_await aio::sleep(0ms);
        log.push_back(lock.locked() ? "locked=True" : "locked=False");
        lock.release();
        co_await aio::gather(aio::return_exceptions, a, b);
        EXPECT_TRUE(a.cancelled());
        EXPECT_FALSE(lock.locked());
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "locked=True", "b"}));
}

// CPython 3.11, the subtle case: "a" is handed the lock by release(), then cancelled before it
// resumes. It must not keep the lock, and must not swallow the wake-up: "b" gets the lock.
//   lock.release(); a.cancel(); await gather(a, b, return_exceptions=True)
// -> ['a cancelled', 'b'], lock free at the end
TEST(Lock, CancelAfterHandOffPassesTheLockToTheNextWaiter) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Lock lock;
        co_await lock.acquire();
        auto a = aio::create_task(acquire_logging(lock, log, "a"));
        auto b = aio::create_task(acquire_logging(lock, log, "b"));
        co_await aio::sleep(0ms);
        lock.release();
        EXPECT_TRUE(lock.stats().handing_off);
        a.cancel();
        co_await aio::gather(aio::return_exceptions, a, b);
        EXPECT_TRUE(a.cancelled());
        EXPECT_FALSE(lock.locked());
        EXPECT_EQ(lock.stats().waiters, 0u);
        EXPECT_FALSE(lock.stats().handing_off);
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "b"}));
}

TEST(Lock, CancelAfterHandOffWithNobodyElseWaitingFreesTheLock) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Lock lock;
        co_await lock.acquire();
        auto a = aio::create_task(acquire_logging(lock, log, "a"));
        co_await aio::sleep(0ms);
        lock.release();
        a.cancel();
        co_await aio::gather(aio::return_exceptions, a);
        EXPECT_EQ(log, (Log{"a cancelled"}));
        EXPECT_FALSE(lock.locked());
        co_await lock.acquire();  // the fast path works again: nothing leaked
        lock.release();
    }());
}

// An uncancel() that withdraws the cancellation before the waiter resumes leaves it the lock.
TEST(Lock, UncancelledHandOffKeepsTheLock) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Lock lock;
        co_await lock.acquire();
        auto a = aio::create_task(acquire_logging(lock, log, "a"));
        co_await aio::sleep(0ms);
        lock.release();
        a.cancel();
        a.uncancel();
        co_await a;
        EXPECT_EQ(log, (Log{"a"}));
        EXPECT_FALSE(lock.locked());
    }());
}

TEST(Lock, CancelledBeforeSuspendingNeverQueues) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Lock lock;
        co_await lock.acquire();
        auto a = aio::create_task([&]() -> aio::Task<> {
            co_await aio::sleep(0ms);  // cancel() lands while this task is already scheduled
            co_await acquire_logging(lock, log, "a");
        });
        co_await aio::sleep(0ms);
        EXPECT_EQ(lock.stats().waiters, 0u);
        co_await aio::sleep(0ms);
        EXPECT_EQ(lock.stats().waiters, 1u);
        a.cancel();
        co_await aio::gather(aio::return_exceptions, a);
        EXPECT_EQ(lock.stats().waiters, 0u);
        lock.release();
        EXPECT_FALSE(lock.locked());
    }());
}

TEST(Lock, WaitForOnAcquireTimesOutWithoutTakingTheLock) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Lock lock;
        co_await lock.acquire();
        auto holder = aio::create_task([&]() -> aio::Task<> {
            co_await aio::sleep(5s);
            lock.release();
        });
        EXPECT_THROW(co_await aio::wait_for(lock.acquire(), 1s), aio::TimeoutError);
        EXPECT_EQ(synctest::now(), 1.0);
        EXPECT_EQ(lock.stats().waiters, 0u);
        co_await holder;
        EXPECT_FALSE(lock.locked());
        co_await aio::wait_for(lock.acquire(), 1s);  // free: no wait at all
        EXPECT_TRUE(lock.locked());
        lock.release();
    }());
}

TEST(Lock, ScopedReleasesOnEveryPath) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Lock lock;
        {
            auto held = co_await lock.scoped();
            EXPECT_TRUE(held.owns());
            EXPECT_TRUE(lock.locked());
        }
        EXPECT_FALSE(lock.locked());

        auto body = [&]() -> aio::Task<> {
            auto held = co_await lock.scoped();
            co_await aio::sleep(1s);
            throw std::runtime_error("boom");
        };
        EXPECT_THROW(co_await body(), std::runtime_error);
        EXPECT_FALSE(lock.locked());

        // Cancelled while holding the guard, inside a sleep.
        auto t = aio::create_task([&]() -> aio::Task<> {
            auto held = co_await lock.scoped();
            co_await aio::sleep(1h);
        });
        co_await aio::sleep(1s);
        EXPECT_TRUE(lock.locked());
        t.cancel();
        co_await aio::gather(aio::return_exceptions, t);
        EXPECT_FALSE(lock.locked());

        // Early release, moves, dismiss.
        auto g1 = co_await lock.scoped();
        aio::LockGuard g2 = std::move(g1);
        EXPECT_FALSE(g1.owns());
        g2.release();
        EXPECT_FALSE(lock.locked());
        EXPECT_FALSE(g2.owns());
        auto g3 = co_await lock.scoped();
        aio::Lock* l = g3.dismiss();
        EXPECT_TRUE(lock.locked());
        l->release();
    }());
}

TEST(Lock, GuardOfALockReleasedByHandLogsInsteadOfThrowing) {
    aiotest::LogCapture capture;
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Lock lock;
        {
            auto held = co_await lock.scoped();
            lock.release();
        }
        EXPECT_FALSE(lock.locked());
    }());
    EXPECT_TRUE(capture.contains("no longer held"));
}

// The lesson of E23: a read-modify-write with an await in the middle loses updates unless locked.
TEST(Lock, ProtectsAReadModifyWriteAcrossAwaits) {
    aiotest::run_virtual([]() -> aio::Task<> {
        int counter = 0;
        aio::Lock lock;
        std::vector<int> order;
        auto add = [&](int i) -> aio::Task<> {
            auto held = co_await lock.scoped();
            int v = counter;
            co_await aio::sleep(1ms);
            counter = v + 1;
            order.push_back(i);
        };
        std::vector<aio::Task<>> ts;
        for (int i = 0; i < 100; ++i) ts.push_back(add(i));
        co_await aio::gather(std::move(ts));
        EXPECT_EQ(counter, 100);
        for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);  // FIFO
        EXPECT_NEAR(synctest::now(), 0.1, 1e-9);
    }());
}

TEST(Lock, StatsAndDumpTasksShowTheWaiters) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Lock lock;
        co_await lock.acquire();
        auto a = aio::create_task([&]() -> aio::Task<> {
            co_await lock.acquire();
            lock.release();
        });
        a.set_name("alice");
        auto b = aio::create_task([&]() -> aio::Task<> {
            co_await lock.acquire();
            lock.release();
        });
        b.set_name("bob");
        co_await aio::sleep(0ms);
        const aio::LockStats s = lock.stats();
        EXPECT_TRUE(s.locked);
        EXPECT_FALSE(s.handing_off);
        EXPECT_EQ(s.waiters, 2u);
        const std::string d = synctest::dump();
        EXPECT_NE(d.find("task 'alice': waiting for Lock"), std::string::npos) << d;
        EXPECT_NE(d.find("(2 tasks queued)"), std::string::npos) << d;
        EXPECT_NE(d.find("task 'bob': waiting for Lock"), std::string::npos) << d;
        lock.release();
        EXPECT_TRUE(lock.stats().handing_off);
        co_await aio::gather(a, b);
        EXPECT_EQ(lock.stats().waiters, 0u);
    }());
}

TEST(Lock, AcquireOutsideATaskFailsOnlyWhenItMustWait) {
    aio::Lock lock;
    // No loop, no task: the fast path needs neither (as in Python).
    auto fast = lock.acquire();
    EXPECT_TRUE(fast.await_ready());
    EXPECT_TRUE(lock.locked());
    lock.release();
}

// A primitive destroyed while tasks wait on it (a bug) must not leave them with dangling
// pointers: cancelling them later is safe (ASan checks this test).
TEST(Lock, DestroyedWithWaitersLeavesThemSafeToCancel) {
    aiotest::run_virtual([]() -> aio::Task<> {
        std::vector<aio::TaskRef> waiters;
        {
            aio::Lock lock;
            co_await lock.acquire();
            for (int i = 0; i < 3; ++i)
                waiters.emplace_back(aio::create_task([](aio::Lock& l) -> aio::Task<> { co_await l.acquire(); }, std::ref(lock)));
            co_await aio::sleep(0ms);
            lock.release();  // the first one is handed the lock, and the lock dies before it resumes
        }
        const std::string d = synctest::dump();
        EXPECT_NE(d.find("waiting for a Lock that was destroyed"), std::string::npos) << d;
        for (auto& w : waiters) w.cancel();
        for (auto& w : waiters) {
            try {
                co_await w;
            } catch (const aio::CancelledError&) {
            }
        }
    }());
}

// A task handed the lock whose loop closes before it resumes: its frame is freed, and the lock
// is given back rather than held by a task that will never run again.
TEST(Lock, ClosingTheLoopUnderAHandOffGivesTheLockBack) {
    aio::Lock lock;
    {
        aio::EventLoop loop(aio::LoopOptions{.virtual_time = true});
        (void)loop.create_task([](aio::Lock& l) -> aio::Task<> {
            co_await l.acquire();
            (void)aio::create_task([](aio::Lock& l2) -> aio::Task<> { co_await l2.acquire(); }, std::ref(l));
            co_await aio::sleep(0ms);
            l.release();                     // handed over...
            aio::get_running_loop().stop();  // ...and the loop stops before the waiter resumes
            co_await aio::sleep(1h);
        }(lock));
        loop.run_forever();
        EXPECT_TRUE(lock.stats().handing_off);
    }
    EXPECT_FALSE(lock.locked());
    EXPECT_FALSE(lock.stats().handing_off);
    EXPECT_EQ(lock.stats().waiters, 0u);
}

TEST(Lock, RefusesWaitersFromTwoEventLoops) {
    aio::Lock lock;
    lock.acquire().await_ready();  // held, outside any loop
    aio::EventLoop loop1;
    auto t1 = loop1.create_task([](aio::Lock& l) -> aio::Task<> { co_await l.acquire(); }(lock));
    loop1.call_soon([&] { loop1.stop(); });
    loop1.run_forever();
    EXPECT_EQ(lock.stats().waiters, 1u);

    aio::EventLoop loop2;
    auto t2 = loop2.create_task([](aio::Lock& l) -> aio::Task<> { co_await l.acquire(); }(lock));
    EXPECT_THROW(loop2.run_until_complete(t2), aio::RuntimeError);
    EXPECT_EQ(lock.stats().waiters, 1u);
    lock.release();
    loop1.run_until_complete(t1);
    EXPECT_TRUE(lock.locked());  // t1 took it and never released it
}

}  // namespace
