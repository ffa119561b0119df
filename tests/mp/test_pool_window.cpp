// The pool's window policy (src/mp/pool_window.hpp), on a clock the test moves by hand: how many
// tasks each worker may hold follows the measured task time.
#include <gtest/gtest.h>

#include "pool_window.hpp"

using namespace std::chrono_literals;
using aio::mp::detail::WindowPolicy;

namespace {
const WindowPolicy::clock::time_point t0{};
constexpr size_t kMax = WindowPolicy::kMaxWindow;

/// Feeds `rounds` batches of results of `task` each to worker `w`.
void finish(WindowPolicy& p, WindowPolicy::Worker& w, std::chrono::nanoseconds task, int rounds) {
    for (int i = 0; i < rounds; ++i) p.on_done(w, t0, t0 + task);
}

/// A new policy and worker after `rounds` results of `task` each.
struct Trained {
    WindowPolicy p;
    WindowPolicy::Worker w;
};
Trained trained(std::chrono::nanoseconds task, int rounds) {
    Trained t;
    finish(t.p, t.w, task, rounds);
    return t;
}
}  // namespace

TEST(MpPoolWindow, OneTaskPerWorkerUntilATaskTimeIsKnown) {
    WindowPolicy p;
    WindowPolicy::Worker w;
    EXPECT_EQ(p.target(), 1u);
    EXPECT_EQ(p.room(w, 0, t0, t0), 1u);
    EXPECT_EQ(p.room(w, 1, t0, t0), 0u);
}

TEST(MpPoolWindow, ShortTasksOpenTheWindowByDoublingUpToItsMaximum) {
    WindowPolicy p;
    WindowPolicy::Worker w;
    const size_t expect[] = {2, 4, 8, 16, 32, 64, 64};
    for (size_t e : expect) {
        p.on_done(w, t0, t0 + 2us);
        EXPECT_EQ(w.limit, e);
    }
    EXPECT_EQ(p.room(w, 1, t0, t0 + 10us), kMax - 1);
    EXPECT_EQ(p.room(w, kMax, t0, t0 + 10us), 0u);
}

TEST(MpPoolWindow, TheWorkQueuedBehindARunningTaskStaysWithinTheBudget) {
    auto [p, w] = trained(100us, 10);
    // 1 running + 10 queued × 100 µs = the 1 ms budget.
    EXPECT_EQ(p.target(), 11u);
    EXPECT_EQ(w.limit, 11u);
    EXPECT_EQ(trained(20ms, 3).w.limit, 1u);
}

TEST(MpPoolWindow, TasksOfAFewMillisecondsKeepOneQueuedBehindTheRunningOne) {
    // Past the budget, but short enough that the round trip between two tasks (result to the
    // parent, next task back: ~0.1 ms on the test VM, 3% of 5 ms tasks) is worth hiding.
    auto [p, w] = trained(5ms, 3);
    EXPECT_EQ(p.target(), 2u);
    EXPECT_EQ(w.limit, 2u);
    const auto started = t0 + 1s;  // the task now running started when the one before it finished
    EXPECT_EQ(p.room(w, 1, started, started), 1u);  // decided as it starts: one more behind it
    EXPECT_EQ(p.room(w, 2, started, started), 0u);  // never two
    // Sent later, the next task could wait behind a surprise long one: a worker whose running
    // task has passed the budget gets nothing more.
    EXPECT_EQ(p.room(w, 1, started, started + WindowPolicy::kBudget + 1us), 0u);
    // From kPrefetchBelow on, the round trip is too small a part to pay for a task waiting.
    auto [q, v] = trained(WindowPolicy::kPrefetchBelow, 3);
    EXPECT_EQ(q.target(), 1u);
    EXPECT_EQ(q.room(v, 1, started, started), 0u);
}

TEST(MpPoolWindow, SeveralResultsInOneReadShareTheirTime) {
    WindowPolicy p;
    WindowPolicy::Worker w;
    p.on_done(w, t0, t0 + 4ms, 8);  // 8 tasks of 500 µs, not one of 4 ms
    EXPECT_EQ(p.average(), 500us);
    EXPECT_EQ(p.target(), 3u);
    p.on_done(w, t0, t0 + 1ms, 0);  // nothing finished: nothing learnt
    EXPECT_EQ(p.average(), 500us);
}

TEST(MpPoolWindow, ALongTaskClosesTheWindowAtOnceAndShortOnesReopenIt) {
    auto [p, w] = trained(2us, 10);
    ASSERT_EQ(w.limit, kMax);
    p.on_done(w, t0, t0 + 200ms);
    EXPECT_EQ(w.limit, 1u);
    int n = 0;
    while (w.limit < kMax && n < 1000) {
        p.on_done(w, t0, t0 + 2us);
        ++n;
    }
    EXPECT_EQ(w.limit, kMax);
    EXPECT_LT(n, 50);  // a few dozen short results, not thousands
}

TEST(MpPoolWindow, AWorkerThatRanDryStartsAgainFromOne) {
    // The burst after a pause may be of long tasks: what the last burst taught is not trusted.
    auto [p, w] = trained(2us, 10);
    ASSERT_EQ(w.limit, kMax);
    WindowPolicy::on_dry(w);
    EXPECT_EQ(p.room(w, 0, t0, t0), 1u);
    EXPECT_EQ(p.room(w, 1, t0, t0), 0u);
    p.on_done(w, t0, t0 + 2us);
    EXPECT_EQ(w.limit, 2u);
    // The other workers' windows are their own.
    WindowPolicy::Worker other;
    EXPECT_EQ(p.room(other, 0, t0, t0), 1u);
}

TEST(MpPoolWindow, AWorkerWhoseTaskRunsPastTheBudgetGetsNoMore) {
    auto [p, w] = trained(2us, 10);
    ASSERT_EQ(w.limit, kMax);
    EXPECT_EQ(p.room(w, 1, t0, t0 + WindowPolicy::kBudget), kMax - 1);
    EXPECT_EQ(p.room(w, 1, t0, t0 + WindowPolicy::kBudget + 1us), 0u);
    EXPECT_EQ(p.room(w, 5, t0, t0 + 1s), 0u);
    EXPECT_GE(p.room(w, 0, t0, t0 + 1s), 1u);  // an idle worker always has room
}
