// How many tasks the pool keeps in flight per worker. Not API; in its own header so that the
// tests can drive it with their own clock.
//
// Two forces pull against each other. Short tasks want a deep window: a worker that finds many
// frames in one read, and a handler that reads many results in one recv, pay one system call for
// many tasks (a window of 64 makes a no-op task cost ~1 system call instead of ~6). Long tasks
// want a shallow one: every task queued in a worker's socket waits behind the one running there,
// however idle the other workers are. So:
// - the window follows the measured task time: at most `kBudget` of work queued behind the
//   running task, between 1 and kMaxWindow tasks;
// - each worker's window starts at 1 and doubles with each batch of results that came back
//   within that budget, like TCP's slow start, and falls back to 1 whenever the worker runs dry.
//   What was measured before a pause says nothing about the next burst: without this, a burst of
//   long tasks after many short ones would go out 64 to a worker at once;
// - a worker whose running task has taken longer than the budget gets nothing more until it
//   finishes, whatever the window says;
// - tasks past the budget but under kPrefetchBelow keep one task queued behind the running one
//   (the rule above means it is sent only as the running one starts). Otherwise each such task
//   would wait for its round trip, result to the parent and task back: ~0.1 ms on the 2-vCPU
//   test VM, which cost 1,000 tasks of 1 ms on Pool(2) 5% over the ideal and 200 of 5 ms 3%
//   (2.6% and 0.9% with it). Longer tasks go one at a time, as in Python.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace aio::mp::detail {

class WindowPolicy {
public:
    using clock = std::chrono::steady_clock;
    static constexpr size_t kMaxWindow = 64;
    static constexpr std::chrono::nanoseconds kBudget = std::chrono::milliseconds(1);
    static constexpr std::chrono::nanoseconds kPrefetchBelow = std::chrono::milliseconds(10);

    /// One worker's own window.
    struct Worker {
        size_t limit = 1;
    };

    /// `count` tasks of worker `w`, the first of which started at `started` (when it reached an
    /// idle worker, or when the task before it finished), finished one after another by `now`:
    /// results often arrive several to a read, and only their total time is known.
    void on_done(Worker& w, clock::time_point started, clock::time_point now, size_t count = 1) noexcept {
        if (count == 0) return;
        const auto took = std::max(now - started, clock::duration::zero()) / static_cast<long>(count);
        // The mean of the last few tasks: quick to shrink the window when a long task shows up,
        // and quick to grow it again once tasks are short.
        avg_ = known_ ? avg_ - avg_ / 4 + took / 4 : took;
        known_ = true;
        w.limit = std::min(target(), w.limit * 2);
    }

    /// Worker `w` has nothing left to do and nothing is waiting: the next tasks are unknown.
    static void on_dry(Worker& w) noexcept { w.limit = 1; }

    /// How many more tasks worker `w` may take now: it holds `inflight`, and the running one
    /// started at `head_started`.
    [[nodiscard]] size_t room(const Worker& w, size_t inflight, clock::time_point head_started, clock::time_point now) const noexcept {
        if (inflight == 0) return std::max<size_t>(w.limit, 1);
        if (now - head_started > kBudget) return 0;
        return w.limit > inflight ? w.limit - inflight : 0;
    }

    /// The deepest window the task time measured so far allows (1 before anything is known).
    [[nodiscard]] size_t target() const noexcept {
        if (!known_) return 1;
        if (avg_ <= clock::duration::zero()) return kMaxWindow;
        const size_t t = std::min<size_t>(kMaxWindow, 1 + static_cast<size_t>(kBudget / avg_));
        return t == 1 && avg_ < kPrefetchBelow ? 2 : t;
    }

    [[nodiscard]] clock::duration average() const noexcept { return avg_; }

private:
    clock::duration avg_{};
    bool known_ = false;
};

}  // namespace aio::mp::detail
