// The deadlock detector: lock-order inversions (E24) and self-deadlock, reported before hanging.
#include <aio/threads/deadlock.hpp>
#include <aio/threads/sync.hpp>
#include <aio/threads/thread.hpp>
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "threads/threads_test_util.hpp"

using namespace std::chrono_literals;
using namespace aio::threading;

namespace {

class Detector : public ::testing::Test {
protected:
    void SetUp() override {
        prev_ = deadlock_detection_enabled();
        set_deadlock_detection(true);
        set_deadlock_action(DeadlockAction::raise);
        reset_deadlock_detector();
    }
    void TearDown() override {
        set_deadlock_action(DeadlockAction::raise);
        reset_deadlock_detector();
        set_deadlock_detection(prev_);
    }
    bool prev_ = false;
};

void take_in_order(Lock& first, Lock& second) {
    auto a = first.scoped();
    auto b = second.scoped();
}

TEST_F(Detector, LockOrderInversionIsReportedWithBothSitesBeforeBlocking) {
    Lock a("A"), b("B");
    // Thread 1 takes A then B, and finishes: no deadlock happened in this run.
    std::thread t1([&] {
        set_current_thread_name("T1");
        take_in_order(a, b);
    });
    t1.join();
    // Now B then A: the order that, run concurrently with T1, deadlocks. Reported at once.
    auto held_b = b.scoped();
    try {
        a.acquire();
        FAIL() << "expected DeadlockError";
    } catch (const DeadlockError& e) {
        std::string r = e.what();
        EXPECT_NE(r.find("lock-order inversion"), std::string::npos) << r;
        EXPECT_NE(r.find("holds lock 'B'"), std::string::npos) << r;
        EXPECT_NE(r.find("acquires lock 'A'"), std::string::npos) << r;
        EXPECT_NE(r.find("thread 'T1' acquired lock 'B'"), std::string::npos) << r;
        EXPECT_NE(r.find("while holding lock 'A'"), std::string::npos) << r;
        // Every acquisition site is named, with its line.
        EXPECT_NE(r.find("test_deadlock.cpp:"), std::string::npos) << r;
        EXPECT_NE(r.find("take_in_order"), std::string::npos) << r;
    }
    EXPECT_FALSE(a.locked());  // the report came before the acquisition, not after a hang
}

TEST_F(Detector, TheRealDeadlockInterleavingIsReportedInsteadOfHanging) {
    // E24 proper: both threads hold their first lock, then want the other's. Without the
    // detector this hangs forever; with it, the second thread to ask gets the report.
    Lock a("A"), b("B");
    Event a_held, b_held;
    std::atomic<int> reports{0};
    auto worker = [&](Lock& first, Event& mine, Lock& second, Event& other) {
        auto held = first.scoped();
        mine.set();
        other.wait();
        try {
            auto h2 = second.scoped();
        } catch (const DeadlockError&) {
            ++reports;
        }
    };
    std::thread t1([&] { worker(a, a_held, b, b_held); });
    std::thread t2([&] { worker(b, b_held, a, a_held); });
    t1.join();  // finishes: the thread that was told releases its first lock, the other proceeds
    t2.join();
    EXPECT_EQ(reports.load(), 1);
}

TEST_F(Detector, LongerCyclesAreFound) {
    Lock a("A"), b("B"), c("C");
    take_in_order(a, b);
    take_in_order(b, c);
    auto held = c.scoped();
    EXPECT_THROW(a.acquire(), DeadlockError);  // C -> A closes A -> B -> C
}

TEST_F(Detector, ReacquiringANonReentrantLockIsReported) {
    Lock l("L");
    auto held = l.scoped();
    try {
        l.acquire();
        FAIL() << "expected DeadlockError";
    } catch (const DeadlockError& e) {
        EXPECT_NE(std::string(e.what()).find("already holds it"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(l.acquire(false));  // a non-blocking attempt is no deadlock: just false
    EXPECT_FALSE(l.acquire(1ms));    // nor one with a timeout
}

TEST_F(Detector, RLockReentryIsFineAndItsInversionsCount) {
    RLock r("R");
    Lock l("L");
    {
        auto h1 = r.scoped();
        auto h2 = r.scoped();  // reentrant: no report
        auto h3 = l.scoped();
    }
    auto hl = l.scoped();
    EXPECT_THROW(r.acquire(), DeadlockError);
}

TEST_F(Detector, ConsistentOrdersAndTryLocksAreNotReported) {
    Lock a("A"), b("B");
    for (int i = 0; i < 3; ++i) take_in_order(a, b);
    auto hb = b.scoped();
    EXPECT_TRUE(a.try_lock());  // the classic avoidance pattern: try the other order, back off
    a.release();
}

TEST_F(Detector, LogActionReportsAndGoesOn) {
    aiotest::LogCapture log;
    set_deadlock_action(DeadlockAction::log);
    Lock a("A"), b("B");
    take_in_order(a, b);
    {
        auto hb = b.scoped();
        auto ha = a.scoped();  // reported, then acquired
        EXPECT_TRUE(a.locked());
    }
    EXPECT_TRUE(log.contains("lock-order inversion"));
}

TEST_F(Detector, ACrossThreadReleaseIsForgotten) {
    Lock l("L");
    l.acquire();
    std::thread t([&] { l.release(); });
    t.join();
    EXPECT_TRUE(l.acquire());  // this thread no longer holds it: no self-deadlock report
    l.release();
}

TEST_F(Detector, OffMeansNoReports) {
    set_deadlock_detection(false);
    Lock a("A"), b("B");
    take_in_order(a, b);
    auto hb = b.scoped();
    EXPECT_TRUE(a.acquire(1s));
    a.release();
}

}  // namespace
