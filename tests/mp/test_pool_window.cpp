// The pool's window policy (src/mp/pool_window.hpp), on a clock the test moves by hand: how many
// tasks each worker may hold follows the measured task time.
#include <gtest/gtest.h>

#include "pool_window.hpp"

using namespace std::chrono_literals;
using aio::mp::detail::WindowPolicy;

namespace {
const WindowPolicy::clock::time_point t0{};
}

TEST(MpPoolWindow, OneTaskPerWorkerUntilATaskTimeIsKnown) {
    WindowPolicy p;
    EXPECT_EQ(p.window(), 1u);
    EXPECT_TRUE(p.has_room(0, t0, t0));
    EXPECT_FALSE(p.has_room(1, t0, t0));
}

TEST(MpPoolWindow, ShortTasksOpenTheWindowToItsMaximum) {
    WindowPolicy p;
    p.on_done(t0, t0 + 2us);
    EXPECT_EQ(p.window(), WindowPolicy::kMaxWindow);
    EXPECT_TRUE(p.has_room(WindowPolicy::kMaxWindow - 1, t0, t0 + 10us));
    EXPECT_FALSE(p.has_room(WindowPolicy::kMaxWindow, t0, t0 + 10us));
}

TEST(MpPoolWindow, TheWorkQueuedBehindARunningTaskStaysWithinTheBudget) {
    WindowPolicy p;
    p.on_done(t0, t0 + 100us);
    // 1 running + 10 queued × 100 µs = the 1 ms budget.
    EXPECT_EQ(p.window(), 11u);
    WindowPolicy slow;
    slow.on_done(t0, t0 + 5ms);
    EXPECT_EQ(slow.window(), 1u);
}

TEST(MpPoolWindow, SeveralResultsInOneReadShareTheirTime) {
    WindowPolicy p;
    p.on_done(t0, t0 + 4ms, 8);  // 8 tasks of 500 µs, not one of 4 ms
    EXPECT_EQ(p.average(), 500us);
    EXPECT_EQ(p.window(), 3u);
    p.on_done(t0, t0 + 1ms, 0);  // nothing finished: nothing learnt
    EXPECT_EQ(p.average(), 500us);
}

TEST(MpPoolWindow, ALongTaskClosesTheWindowAtOnceAndShortOnesReopenIt) {
    WindowPolicy p;
    for (int i = 0; i < 10; ++i) p.on_done(t0, t0 + 2us);
    ASSERT_EQ(p.window(), WindowPolicy::kMaxWindow);
    p.on_done(t0, t0 + 200ms);
    EXPECT_EQ(p.window(), 1u);
    int n = 0;
    while (p.window() < WindowPolicy::kMaxWindow && n < 1000) {
        p.on_done(t0, t0 + 2us);
        ++n;
    }
    EXPECT_EQ(p.window(), WindowPolicy::kMaxWindow);
    EXPECT_LT(n, 50);  // a few dozen short results, not thousands
}

TEST(MpPoolWindow, AWorkerWhoseTaskRunsPastTheBudgetGetsNoMore) {
    WindowPolicy p;
    p.on_done(t0, t0 + 2us);
    ASSERT_EQ(p.window(), WindowPolicy::kMaxWindow);
    EXPECT_TRUE(p.has_room(1, t0, t0 + WindowPolicy::kBudget));
    EXPECT_FALSE(p.has_room(1, t0, t0 + WindowPolicy::kBudget + 1us));
    EXPECT_FALSE(p.has_room(5, t0, t0 + 1s));
    EXPECT_TRUE(p.has_room(0, t0, t0 + 1s));  // an idle worker always has room
}
