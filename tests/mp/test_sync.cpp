// aio/mp/sync.hpp: multiprocessing's Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition
// and Barrier, across real fork()ed processes (and threads). Nothing here sleeps to wait for
// another process: the primitives themselves order the steps, and every wait has a timeout so
// that a bug fails the test instead of hanging it.
#include "aio/mp/sync.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aio/mp/shared.hpp"
#include "mp_test_util.hpp"

using namespace std::chrono_literals;
using aio::mp::Array;
using aio::mp::Barrier;
using aio::mp::BoundedSemaphore;
using aio::mp::Condition;
using aio::mp::Event;
using aio::mp::Lock;
using aio::mp::RLock;
using aio::mp::Semaphore;
using aio::mp::Value;
using aio::threading::BrokenBarrierError;
using mp_test::fork_child;
using mp_test::wait_exit_code;
using Clock = std::chrono::steady_clock;

namespace {

/// `timed_wait` returns false, and not before `d` passed.
template <class F>
void expect_times_out(F timed_wait, std::chrono::milliseconds d) {
    const auto t0 = Clock::now();
    EXPECT_FALSE(timed_wait());
    const auto took = Clock::now() - t0;
    EXPECT_GE(took, d);
    EXPECT_LT(took, d + 5s);
}

/// Forks `n` children running `body(k)`, k = 0 .. n-1, and returns their pids.
template <class F>
std::vector<pid_t> fork_children(int n, F body) {
    std::vector<pid_t> pids;
    for (int k = 0; k < n; ++k) {
        const pid_t pid = fork_child([body, k]() mutable { return body(k); });
        EXPECT_GT(pid, 0);
        if (pid > 0) pids.push_back(pid);
    }
    return pids;
}

std::vector<int> exit_codes(const std::vector<pid_t>& pids) {
    std::vector<int> codes;
    for (pid_t pid : pids) codes.push_back(wait_exit_code(pid));
    return codes;
}

}  // namespace

// --- Lock ----------------------------------------------------------------------------------------

TEST(MpSyncLock, AcquireReleaseAndMisuse) {
    Lock l;
    EXPECT_FALSE(l.locked());
    EXPECT_TRUE(l.acquire());
    EXPECT_TRUE(l.locked());
    EXPECT_FALSE(l.acquire(false));
    EXPECT_FALSE(l.try_lock());
    l.release();
    EXPECT_FALSE(l.locked());
    EXPECT_THROW(l.release(), aio::RuntimeError);
    {
        std::lock_guard g(l);
        EXPECT_TRUE(l.locked());
    }
    {
        auto held = l.scoped();
        EXPECT_TRUE(l.locked());
    }
    EXPECT_FALSE(l.locked());
    EXPECT_TRUE(l.try_lock_for(10ms));
    l.unlock();
    EXPECT_TRUE(l.try_lock_until(Clock::now() + 10ms));
    l.unlock();
}

TEST(MpSyncLock, CopiesAreTheSameLock) {
    Lock a;
    Lock b = a;
    a.acquire();
    EXPECT_TRUE(b.locked());
    b.release();
    EXPECT_FALSE(a.locked());
    Lock c = std::move(b);
    EXPECT_TRUE(b.acquire(false));  // a moved-from handle is still the lock
    EXPECT_TRUE(c.locked());
    c.release();
}

TEST(MpSyncLock, AnotherProcessMayReleaseIt) {
    Lock l;
    l.acquire();
    const pid_t pid = fork_child([l]() mutable {
        l.release();
        return 0;
    });
    ASSERT_GT(pid, 0);
    EXPECT_EQ(wait_exit_code(pid), 0);
    EXPECT_FALSE(l.locked());
    EXPECT_TRUE(l.acquire(false));
    l.release();
}

TEST(MpSyncLock, AChildBlocksUntilTheParentReleases) {
    Lock l;
    Value<int> step(0);
    l.acquire();
    const pid_t pid = fork_child([l, step]() mutable {
        if (!l.acquire(10s)) return 1;
        const int seen = step.value();
        l.release();
        return seen == 1 ? 0 : 2;
    });
    ASSERT_GT(pid, 0);
    step.value() = 1;  // before releasing: the child, which can only get in after, must see it
    l.release();
    EXPECT_EQ(wait_exit_code(pid), 0);
}

TEST(MpSyncLock, TimeoutsReturnFalse) {
    Lock l;
    l.acquire();
    expect_times_out([&] { return l.acquire(30ms); }, 30ms);
    EXPECT_FALSE(l.acquire(0ms));
    EXPECT_FALSE(l.acquire(-5ms));
    const pid_t pid = fork_child([l]() mutable {
        const auto t0 = Clock::now();
        if (l.acquire(30ms)) return 1;
        return Clock::now() - t0 >= 30ms ? 0 : 2;
    });
    ASSERT_GT(pid, 0);
    EXPECT_EQ(wait_exit_code(pid), 0);
    l.release();
}

TEST(MpSyncLock, MutualExclusionAcrossProcessesAndThreads) {
    // A plain shared int (Value::value(), not Value's own lock) guarded by an mp::Lock, from four
    // processes and two threads of this one.
    Lock l;
    Value<int> counter(0);
    constexpr int kIncrements = 10'000;
    const auto pids = fork_children(4, [l, counter](int) mutable {
        for (int i = 0; i < kIncrements; ++i) {
            auto held = l.scoped();
            ++counter.value();
        }
        return 0;
    });
    auto work = [&] {
        for (int i = 0; i < kIncrements; ++i) {
            std::lock_guard g(l);
            ++counter.value();
        }
    };
    std::thread t1(work);
    std::thread t2(work);
    t1.join();
    t2.join();
    for (int code : exit_codes(pids)) EXPECT_EQ(code, 0);
    EXPECT_EQ(counter.value(), 6 * kIncrements);
}

TEST(MpSyncLock, ADeadHolderLeavesItLockedUntilSomeoneReleasesIt) {
    Lock l;
    const pid_t pid = fork_child([l]() mutable {
        l.acquire();
        return 0;  // exits holding it
    });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    EXPECT_TRUE(l.locked());  // as in Python: a Lock has no owner the kernel could free it for
    EXPECT_FALSE(l.acquire(20ms));
    l.release();  // but a survivor may release it
    EXPECT_TRUE(l.acquire(false));
    l.release();
}

// --- RLock ---------------------------------------------------------------------------------------

TEST(MpSyncRLock, IsReentrant) {
    RLock r;
    EXPECT_FALSE(r.owned_by_this_thread());
    EXPECT_EQ(r.recursion_depth(), 0u);
    EXPECT_TRUE(r.acquire());
    EXPECT_TRUE(r.acquire(false));
    EXPECT_TRUE(r.acquire(10ms));
    EXPECT_EQ(r.recursion_depth(), 3u);
    r.release();
    r.release();
    EXPECT_TRUE(r.owned_by_this_thread());
    r.release();
    EXPECT_FALSE(r.owned_by_this_thread());
    EXPECT_THROW(r.release(), aio::RuntimeError);
    {
        std::scoped_lock g(r);
        auto held = r.scoped();
        EXPECT_EQ(r.recursion_depth(), 2u);
    }
    EXPECT_EQ(r.recursion_depth(), 0u);
    EXPECT_FALSE(r.previous_owner_died());
}

TEST(MpSyncRLock, AnotherProcessCanNeitherReleaseNorTakeIt) {
    RLock r;
    r.acquire();
    const pid_t pid = fork_child([r]() mutable {
        // This process's copy of the owning thread is not the owner.
        if (r.owned_by_this_thread() || r.recursion_depth() != 0) return 1;
        try {
            r.release();
            return 2;
        } catch (const aio::RuntimeError&) {
        }
        if (r.acquire(false)) return 3;
        const auto t0 = Clock::now();
        if (r.acquire(30ms)) return 4;
        return Clock::now() - t0 >= 30ms ? 0 : 5;
    });
    ASSERT_GT(pid, 0);
    EXPECT_EQ(wait_exit_code(pid), 0);
    EXPECT_TRUE(r.owned_by_this_thread());
    EXPECT_EQ(r.recursion_depth(), 1u);
    r.release();
}

TEST(MpSyncRLock, AnotherThreadCannotReleaseIt) {
    RLock r;
    r.acquire();
    bool threw = false;
    bool took = true;
    std::thread t([&] {
        try {
            r.release();
        } catch (const aio::RuntimeError&) {
            threw = true;
        }
        took = r.acquire(false);
    });
    t.join();
    EXPECT_TRUE(threw);
    EXPECT_FALSE(took);
    expect_times_out([&] {
        bool got = true;
        std::thread([&] { got = r.acquire(30ms); }).join();
        return got;
    }, 30ms);
    r.release();
}

TEST(MpSyncRLock, AChildBlocksUntilTheParentReleasesEveryLevel) {
    RLock r;
    Value<int> step(0);
    r.acquire();
    r.acquire();
    const pid_t pid = fork_child([r, step]() mutable {
        if (!r.acquire(10s)) return 1;
        const int seen = step.value();
        r.release();
        return seen == 2 ? 0 : 2;
    });
    ASSERT_GT(pid, 0);
    step.value() = 1;
    r.release();  // still held once
    step.value() = 2;
    r.release();
    EXPECT_EQ(wait_exit_code(pid), 0);
}

TEST(MpSyncRLock, AnOwnerProcessThatDiesHoldingItIsTakenOver) {
    RLock r;
    const pid_t pid = fork_child([r]() mutable {
        r.acquire();
        r.acquire();
        return 0;  // exits holding it twice
    });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    ASSERT_TRUE(r.acquire(false));
    EXPECT_TRUE(r.previous_owner_died());
    EXPECT_EQ(r.recursion_depth(), 1u);  // the dead owner's levels went with it
    EXPECT_TRUE(r.acquire());
    EXPECT_TRUE(r.previous_owner_died());
    r.release();
    r.release();
    EXPECT_FALSE(r.owned_by_this_thread());
    ASSERT_TRUE(r.acquire(false));
    EXPECT_FALSE(r.previous_owner_died());
    r.release();
}

TEST(MpSyncRLock, AWaiterIsWokenWhenTheOwnerIsKilled) {
    RLock r;
    Event holding;
    Event never;
    const pid_t pid = fork_child([r, holding, never]() mutable {
        r.acquire();
        holding.set();
        never.wait();  // until killed
        return 1;
    });
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(holding.wait(10s));
    bool got = false;
    bool died = false;
    std::thread waiter([&] {
        got = r.acquire(10s);  // most likely asleep in here when the owner dies
        died = r.previous_owner_died();
        if (got) r.release();
    });
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    EXPECT_EQ(wait_exit_code(pid), 128 + SIGKILL);
    waiter.join();
    EXPECT_TRUE(got);
    EXPECT_TRUE(died);
}

TEST(MpSyncRLock, AThreadThatEndsHoldingItIsTakenOver) {
    RLock r;
    std::thread([&] { r.acquire(); }).join();
    ASSERT_TRUE(r.acquire());
    EXPECT_TRUE(r.previous_owner_died());
    r.release();
}

// --- Semaphore, BoundedSemaphore -----------------------------------------------------------------

TEST(MpSyncSemaphore, AcquireReleaseValueAndTimeouts) {
    Semaphore s(0);
    EXPECT_EQ(s.get_value(), 0);
    EXPECT_FALSE(s.acquire(false));
    expect_times_out([&] { return s.acquire(30ms); }, 30ms);
    s.release();
    EXPECT_EQ(s.get_value(), 1);
    EXPECT_TRUE(s.acquire(false));
    s.release(3);
    EXPECT_EQ(s.get_value(), 3);
    {
        auto permit = s.scoped();
        EXPECT_EQ(s.get_value(), 2);
    }
    EXPECT_EQ(s.get_value(), 3);
    EXPECT_THROW(s.release(0), std::invalid_argument);
    EXPECT_THROW(s.release(Semaphore::max_value), std::invalid_argument);
    EXPECT_EQ(s.get_value(), 3);
    EXPECT_THROW(Semaphore(-1), std::invalid_argument);
    EXPECT_EQ(Semaphore().get_value(), 1);
}

TEST(MpSyncSemaphore, TwoNeverAdmitsThree) {
    Semaphore s(2);
    Array<int> stats(2);  // [0]: holders now, [1]: the most holders ever seen at once
    const auto pids = fork_children(4, [s, stats](int) mutable {
        for (int i = 0; i < 2000; ++i) {
            if (!s.acquire(10s)) return 1;
            {
                auto held = stats.get_lock().scoped();
                ++stats[0];
                stats[1] = std::max(stats[1], stats[0]);
            }
            {
                auto held = stats.get_lock().scoped();
                --stats[0];
            }
            s.release();
        }
        return 0;
    });
    for (int code : exit_codes(pids)) EXPECT_EQ(code, 0);
    EXPECT_LE(stats[1], 2);
    EXPECT_GE(stats[1], 1);
    EXPECT_EQ(stats[0], 0);
    EXPECT_EQ(s.get_value(), 2);
}

TEST(MpSyncSemaphore, AReleaseWakesAcquirersInOtherProcesses) {
    Semaphore s(0);
    Semaphore started(0);
    const auto pids = fork_children(3, [s, started](int) mutable {
        started.release();
        return s.acquire(10s) ? 0 : 1;
    });
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(started.acquire(10s));
    s.release(3);
    for (int code : exit_codes(pids)) EXPECT_EQ(code, 0);
    EXPECT_EQ(s.get_value(), 0);
}

TEST(MpSyncSemaphore, BoundedOverReleaseThrows) {
    BoundedSemaphore b(1);
    EXPECT_THROW(b.release(), std::invalid_argument);
    EXPECT_EQ(b.get_value(), 1);
    b.acquire();
    b.release();
    BoundedSemaphore two(2);
    two.acquire();
    EXPECT_THROW(two.release(2), std::invalid_argument);
    EXPECT_EQ(two.get_value(), 1);
    two.release();
    // The bound is shared state: it holds in a child, through a copy sliced to a Semaphore.
    Semaphore sliced = b;
    pid_t pid = fork_child([sliced]() mutable {
        try {
            sliced.release();
            return 1;
        } catch (const std::invalid_argument&) {
            return 0;
        }
    });
    ASSERT_GT(pid, 0);
    EXPECT_EQ(wait_exit_code(pid), 0);
    // A child takes the unit; the parent may give it back, but only once.
    pid = fork_child([b]() mutable { return b.acquire(false) ? 0 : 1; });
    ASSERT_GT(pid, 0);
    EXPECT_EQ(wait_exit_code(pid), 0);
    EXPECT_EQ(b.get_value(), 0);
    b.release();
    EXPECT_THROW(b.release(), std::invalid_argument);
}

// --- Event ---------------------------------------------------------------------------------------

TEST(MpSyncEvent, SetInAChildWakesTheParent) {
    Event e;
    Event go;
    const pid_t pid = fork_child([e, go]() mutable {
        if (!go.wait(10s)) return 1;
        e.set();
        return 0;
    });
    ASSERT_GT(pid, 0);
    EXPECT_FALSE(e.is_set());
    go.set();
    EXPECT_TRUE(e.wait(10s));  // most likely asleep in here by the time the child sets it
    EXPECT_TRUE(e.is_set());
    EXPECT_TRUE(e.wait());  // already set: at once
    EXPECT_EQ(wait_exit_code(pid), 0);
    e.clear();
    EXPECT_FALSE(e.is_set());
}

TEST(MpSyncEvent, WaitTimesOut) {
    Event e;
    expect_times_out([&] { return e.wait(30ms); }, 30ms);
    EXPECT_FALSE(e.wait(0ms));
    e.set();
    e.clear();
    expect_times_out([&] { return e.wait(30ms); }, 30ms);  // cleared: waits again
}

TEST(MpSyncEvent, SetWakesEveryWaitingProcessAndThread) {
    Event e;
    Semaphore started(0);
    const auto pids = fork_children(3, [e, started](int) mutable {
        started.release();
        return e.wait(10s) ? 0 : 1;
    });
    bool woken[2] = {false, false};
    std::thread t1([&] { woken[0] = e.wait(10s); });
    std::thread t2([&] { woken[1] = e.wait(); });
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(started.acquire(10s));
    e.set();
    t1.join();
    t2.join();
    EXPECT_TRUE(woken[0]);
    EXPECT_TRUE(woken[1]);
    for (int code : exit_codes(pids)) EXPECT_EQ(code, 0);
}

// --- Condition -----------------------------------------------------------------------------------

TEST(MpSyncCondition, NotifyWakesAWaiterInAnotherProcess) {
    Condition c;
    Value<int> flag(0);
    const pid_t pid = fork_child([c, flag]() mutable {
        auto held = c.scoped();
        while (flag.value() == 0) {
            if (!c.wait(10s)) return 1;
        }
        return 0;
    });
    ASSERT_GT(pid, 0);
    {
        auto held = c.scoped();
        flag.value() = 1;
        c.notify();
    }
    EXPECT_EQ(wait_exit_code(pid), 0);
}

TEST(MpSyncCondition, NotifyNWakesTheNLongestWaiting) {
    RLock lk;
    Condition c(lk);
    Condition arrivals(lk);  // two conditions on one lock, as Python allows
    Array<int> st(3);        // [0]: arrived, [1]: woken, [2]: bit mask of the arrival numbers woken
    const auto pids = fork_children(3, [lk, c, arrivals, st](int) mutable {
        auto held = lk.scoped();
        const int me = st[0]++;
        arrivals.notify_all();
        const bool notified = c.wait(10s);
        ++st[1];
        st[2] |= 1 << me;
        arrivals.notify_all();
        return notified ? 0 : 1;
    });
    {
        auto held = lk.scoped();
        EXPECT_TRUE(arrivals.wait_for([&] { return st[0] == 3; }, 10s));
        c.notify(2);
        EXPECT_TRUE(arrivals.wait_for([&] { return st[1] == 2; }, 10s));
        EXPECT_EQ(st[2], 0b011);  // the first two to arrive, and only them
        c.notify_all();
        EXPECT_TRUE(arrivals.wait_for([&] { return st[1] == 3; }, 10s));
    }
    for (int code : exit_codes(pids)) EXPECT_EQ(code, 0);
}

TEST(MpSyncCondition, WaitAndNotifyNeedTheLock) {
    Condition c;
    EXPECT_THROW(c.wait(), aio::RuntimeError);
    EXPECT_THROW(c.wait(10ms), aio::RuntimeError);
    EXPECT_THROW(c.notify(), aio::RuntimeError);
    EXPECT_THROW(c.notify_all(), aio::RuntimeError);
    Lock l;
    Condition cl(l);
    EXPECT_THROW(cl.wait(10ms), aio::RuntimeError);
    // Locked, but by another process: not this thread's to wait with.
    const pid_t pid = fork_child([l]() mutable { return l.acquire(false) ? 0 : 1; });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    ASSERT_TRUE(l.locked());
    EXPECT_THROW(cl.wait(10ms), aio::RuntimeError);
    EXPECT_THROW(cl.notify(), aio::RuntimeError);
    l.release();
    auto held = cl.scoped();
    EXPECT_FALSE(cl.wait(10ms));
    cl.notify();
}

TEST(MpSyncCondition, WaitTimesOutAndRestoresEveryLevelOfTheLock) {
    RLock r;
    Condition c(r);
    r.acquire();
    r.acquire();
    expect_times_out([&] { return c.wait(30ms); }, 30ms);
    EXPECT_EQ(r.recursion_depth(), 2u);
    expect_times_out([&] { return c.wait_for([] { return false; }, 30ms); }, 30ms);
    EXPECT_TRUE(c.wait_for([] { return true; }, 30ms));
    EXPECT_TRUE(c.wait_for([] { return true; }));
    r.release();
    r.release();
}

TEST(MpSyncCondition, OverAPlainLockAcrossProcesses) {
    Lock l;
    Condition c(l);
    Value<int> flag(0);
    const pid_t pid = fork_child([c, flag]() mutable {
        auto held = c.scoped();
        if (!c.wait_for([&] { return flag.value() == 1; }, 10s)) return 1;
        flag.value() = 2;
        c.notify();
        return 0;
    });
    ASSERT_GT(pid, 0);
    {
        auto held = c.scoped();
        flag.value() = 1;
        c.notify();
        EXPECT_TRUE(c.wait_for([&] { return flag.value() == 2; }, 10s));
    }
    EXPECT_EQ(wait_exit_code(pid), 0);
}

TEST(MpSyncCondition, AWaiterThatWasKilledDoesNotSwallowANotify) {
    RLock lk;
    Condition cond(lk);
    Condition arrived(lk);
    Value<int> n(0);
    const pid_t doomed = fork_child([lk, cond, arrived, n]() mutable {
        lk.acquire();
        ++n.value();
        arrived.notify_all();
        cond.wait();  // killed in here
        return 1;
    });
    ASSERT_GT(doomed, 0);
    {
        // Back with the lock only once the child released it inside cond.wait(): it is queued.
        auto held = lk.scoped();
        ASSERT_TRUE(arrived.wait_for([&] { return n.value() == 1; }, 10s));
    }
    ASSERT_EQ(::kill(doomed, SIGKILL), 0);
    ASSERT_EQ(wait_exit_code(doomed), 128 + SIGKILL);
    const pid_t survivor = fork_child([lk, cond, arrived, n]() mutable {
        auto held = lk.scoped();
        ++n.value();
        arrived.notify_all();
        return cond.wait(10s) ? 0 : 1;
    });
    ASSERT_GT(survivor, 0);
    {
        auto held = lk.scoped();
        ASSERT_TRUE(arrived.wait_for([&] { return n.value() == 2; }, 10s));
        cond.notify(1);  // the dead waiter is first in the queue: it must be skipped
    }
    EXPECT_EQ(wait_exit_code(survivor), 0);
}

TEST(MpSyncCondition, PingPongBetweenThreads) {
    Condition c;
    int turn = 0;  // guarded by c's lock
    constexpr int kRounds = 1000;
    auto player = [&](int parity) {
        for (int i = 0; i < kRounds; ++i) {
            auto held = c.scoped();
            c.wait_for([&] { return turn % 2 == parity; });
            ++turn;
            c.notify();
        }
    };
    std::thread a(player, 0);
    std::thread b(player, 1);
    a.join();
    b.join();
    EXPECT_EQ(turn, 2 * kRounds);
}

// --- Barrier -------------------------------------------------------------------------------------

TEST(MpSyncBarrier, TwoChildrenAndTheParentGetDistinctIndicesRoundAfterRound) {
    Barrier b(3);
    EXPECT_EQ(b.parties(), 3u);
    constexpr int kRounds = 2;
    Array<int> index(3 * kRounds);  // [party * kRounds + round]: the index it got, plus one
    const auto pids = fork_children(2, [b, index](int party) mutable {
        try {
            for (int r = 0; r < kRounds; ++r) index[party * kRounds + r] = static_cast<int>(b.wait(10s)) + 1;
        } catch (const BrokenBarrierError&) {
            return 1;
        }
        return 0;
    });
    for (int r = 0; r < kRounds; ++r) index[2 * kRounds + r] = static_cast<int>(b.wait(10s)) + 1;
    for (int code : exit_codes(pids)) EXPECT_EQ(code, 0);
    for (int r = 0; r < kRounds; ++r) {
        const std::set<int> got{index[r], index[kRounds + r], index[2 * kRounds + r]};
        EXPECT_EQ(got, (std::set<int>{1, 2, 3})) << "round " << r;
    }
    EXPECT_FALSE(b.broken());
    EXPECT_EQ(b.n_waiting(), 0u);
}

TEST(MpSyncBarrier, ATimeoutBreaksItForEveryProcess) {
    Barrier b(3);
    const pid_t pid = fork_child([b]() mutable {
        try {
            b.wait();
            return 1;
        } catch (const BrokenBarrierError&) {
            return 0;
        }
    });
    ASSERT_GT(pid, 0);
    const auto t0 = Clock::now();
    EXPECT_THROW(b.wait(50ms), BrokenBarrierError);
    EXPECT_GE(Clock::now() - t0, 50ms);
    EXPECT_TRUE(b.broken());
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_EQ(wait_exit_code(pid), 0);
    EXPECT_THROW(b.wait(10s), BrokenBarrierError);  // stays broken: throws at once
}

TEST(MpSyncBarrier, AbortWakesWaitersAndResetMakesItUsableAgain) {
    Barrier b(2);
    pid_t pid = fork_child([b]() mutable {
        try {
            b.wait();
            return 1;
        } catch (const BrokenBarrierError&) {
            return 0;
        }
    });
    ASSERT_GT(pid, 0);
    b.abort();
    EXPECT_TRUE(b.broken());
    EXPECT_EQ(wait_exit_code(pid), 0);
    b.reset();
    EXPECT_FALSE(b.broken());
    EXPECT_EQ(b.n_waiting(), 0u);
    pid = fork_child([b]() mutable {
        try {
            return static_cast<int>(b.wait(10s));
        } catch (const BrokenBarrierError&) {
            return 9;
        }
    });
    ASSERT_GT(pid, 0);
    const std::size_t mine = b.wait(10s);
    const int theirs = wait_exit_code(pid);
    EXPECT_EQ(std::set<int>({static_cast<int>(mine), theirs}), (std::set<int>{0, 1}));
}

TEST(MpSyncBarrier, TheActionRunsOnceInTheLastToArrive) {
    Value<int> runs(0);
    Value<int> waiting_then(0);
    Value<int> ran_in(0);
    std::optional<Barrier> b;
    // Forked children run their own copy of the action, on their copy of `b`.
    b.emplace(3, [&] {
        ++runs.value();
        waiting_then.value() = static_cast<int>(b->n_waiting());  // Python: the parties count
        ran_in.value() = static_cast<int>(::getpid());
    });
    const auto pids = fork_children(2, [&b](int) {
        try {
            b->wait(10s);
            return 0;
        } catch (const BrokenBarrierError&) {
            return 1;
        }
    });
    b->wait(10s);
    std::set<int> processes{static_cast<int>(::getpid())};
    for (pid_t pid : pids) processes.insert(static_cast<int>(pid));
    for (int code : exit_codes(pids)) EXPECT_EQ(code, 0);
    EXPECT_EQ(runs.value(), 1);
    EXPECT_EQ(waiting_then.value(), 3);
    EXPECT_EQ(processes.count(ran_in.value()), 1u);
}

TEST(MpSyncBarrier, AnActionThatThrowsBreaksIt) {
    Barrier b(2, [] { throw std::runtime_error("action failed"); });
    const pid_t pid = fork_child([b]() mutable {
        try {
            b.wait(10s);
            return 1;
        } catch (const BrokenBarrierError&) {
            return 0;
        } catch (const std::runtime_error&) {
            return 2;
        }
    });
    ASSERT_GT(pid, 0);
    int mine = 1;
    try {
        b.wait(10s);
    } catch (const BrokenBarrierError&) {
        mine = 0;
    } catch (const std::runtime_error&) {
        mine = 2;
    }
    // The last to arrive gets the action's exception, the other BrokenBarrierError.
    EXPECT_EQ(std::set<int>({mine, wait_exit_code(pid)}), (std::set<int>{0, 2}));
    EXPECT_TRUE(b.broken());
}

TEST(MpSyncBarrier, TheActionCannotCallAbort) {
    std::optional<Barrier> b;
    b.emplace(1, [&] { b->abort(); });
    try {
        b->wait(1s);
        ADD_FAILURE() << "no exception";
    } catch (const BrokenBarrierError&) {
        ADD_FAILURE() << "BrokenBarrierError instead of the action's error";
    } catch (const aio::RuntimeError& e) {
        EXPECT_NE(std::string(e.what()).find("action"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(b->broken());
}

TEST(MpSyncBarrier, TheDefaultTimeoutAndBadParties) {
    Barrier b(2, {}, 30ms);
    const auto t0 = Clock::now();
    EXPECT_THROW(b.wait(), BrokenBarrierError);
    EXPECT_GE(Clock::now() - t0, 30ms);
    EXPECT_THROW(Barrier(0), std::invalid_argument);
    Barrier one(1);
    EXPECT_EQ(one.wait(), 0u);
    EXPECT_EQ(one.wait(), 0u);
}

TEST(MpSyncBarrier, ThreadsGetDistinctIndicesEveryRound) {
    Barrier b(3);
    constexpr int kRounds = 200;
    std::vector<std::vector<std::size_t>> got(3, std::vector<std::size_t>(kRounds));
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {
            for (int r = 0; r < kRounds; ++r) got[t][r] = b.wait(10s);
        });
    }
    for (auto& t : threads) t.join();
    for (int r = 0; r < kRounds; ++r) {
        const std::set<std::size_t> s{got[0][r], got[1][r], got[2][r]};
        ASSERT_EQ(s, (std::set<std::size_t>{0, 1, 2})) << "round " << r;
    }
}
