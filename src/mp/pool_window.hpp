// How many tasks the pool keeps in flight per worker. Not API; in its own header so that the
// tests can drive it with their own clock.
//
// Two forces pull against each other. Short tasks want a deep window: a worker that finds many
// frames in one read, and a handler that reads many results in one recv, pay one system call for
// many tasks (a window of 64 makes a no-op task cost ~1 system call instead of ~6). Long tasks
// want a shallow one: every task queued in a worker's socket waits behind the one running there,
// however idle the other workers are. So the window follows the measured task time: it holds at
// most `budget` of work queued behind the running task, between 1 and kMaxWindow tasks; and a
// worker whose running task has already taken longer than the budget gets nothing more until it
// finishes, whatever the average says.
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

    /// `count` tasks, the first of which started at `started` (when it reached an idle worker, or
    /// when the task before it finished), finished one after another by `now`: results often
    /// arrive several to a read, and only their total time is known.
    void on_done(clock::time_point started, clock::time_point now, size_t count = 1) noexcept {
        if (count == 0) return;
        const auto took = std::max(now - started, clock::duration::zero()) / static_cast<long>(count);
        // The mean of the last few tasks: quick to drop the window when a long task shows up,
        // and quick to grow it again once tasks are short.
        avg_ = known_ ? avg_ - avg_ / 4 + took / 4 : took;
        known_ = true;
    }

    /// The window for the task time measured so far: 1 before anything is known, so that the
    /// first long tasks are never parked behind each other.
    [[nodiscard]] size_t window() const noexcept {
        if (!known_) return 1;
        if (avg_ <= clock::duration::zero()) return kMaxWindow;
        const auto behind = static_cast<size_t>(kBudget / avg_);
        return std::min(kMaxWindow, 1 + behind);
    }

    /// Whether a worker holding `inflight` tasks, whose running one started at `head_started`,
    /// may be given another.
    [[nodiscard]] bool has_room(size_t inflight, clock::time_point head_started, clock::time_point now) const noexcept {
        if (inflight == 0) return true;
        if (inflight >= window()) return false;
        return now - head_started <= kBudget;
    }

    [[nodiscard]] clock::duration average() const noexcept { return avg_; }

private:
    clock::duration avg_{};
    bool known_ = false;
};

}  // namespace aio::mp::detail
