// aio::Barrier — asyncio.Barrier (3.11): `parties` tasks wait for each other, then all go on.
//
// The states are CPython's: filling (tasks arrive), draining (the barrier tripped; the waiters are
// leaving, and newcomers wait for them to be gone), resetting (reset() while tasks were inside:
// they leave with BrokenBarrierError), broken (abort(): every wait() fails until reset()).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>

#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"
#include "aio/sync/detail/waiters.hpp"

namespace aio {

class Barrier;

/// asyncio.BrokenBarrierError (a RuntimeError, as in Python): wait() on a broken barrier, or a
/// barrier reset or aborted while the task waited in it.
class BrokenBarrierError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

/// The barrier's state (CPython's _BarrierState).
enum class BarrierState : uint8_t { filling, draining, resetting, broken };

/// Barrier::stats().
struct BarrierStats {
    size_t parties = 0;
    size_t n_waiting = 0;  // tasks arrived while filling (Python's n_waiting)
    size_t inside = 0;     // tasks inside wait() past the entrance (filling or draining)
    size_t blocked = 0;    // tasks waiting at the entrance for a drain or reset to finish
    BarrierState state = BarrierState::filling;
};

namespace detail {
/// One of wait()'s suspensions: at the entrance (blocked) or inside (filling).
class BarrierWait final : public SyncWaiter {
public:
    /// `*gone` is set when the Barrier was destroyed under the waiter: wait() must not touch it.
    BarrierWait(Barrier& b, WaiterList& list, bool* gone) noexcept : barrier_(&b), list_to_join_(&list), gone_(gone) {}
    BarrierWait(const BarrierWait&) = default;
    /// A frame destroyed while suspended here (a closing loop abandons it) never resumes: if the
    /// barrier died first, wait()'s exit path must still learn it before it runs.
    ~BarrierWait() {
        if ((state_ == State::queued || state_ == State::woken) && !linked()) *gone_ = true;
    }
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { suspend_on(*list_to_join_, h); }
    void await_resume();
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;

private:
    Barrier* barrier_;
    WaiterList* list_to_join_;
    bool* gone_;
};
}  // namespace detail

/// asyncio.Barrier(parties). Belongs to one event loop at a time; not thread-safe.
/// Non-copyable, non-movable.
class Barrier {
public:
    /// Throws std::invalid_argument (Python: ValueError) when parties < 1.
    explicit Barrier(std::int64_t parties);
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;

    /// `size_t i = co_await barrier.wait();` — Python `await barrier.wait()`. Waits until
    /// `parties` tasks are waiting, then all of them return; each gets its arrival index,
    /// 0 to parties-1. The last to arrive returns without suspending; the others resume on the
    /// iteration after. While the tripped barrier drains, newcomers wait at the entrance.
    /// Throws BrokenBarrierError if the barrier is broken, or is reset or aborted while waiting.
    /// Cancel safety: a task cancelled while filling leaves the barrier (n_waiting drops by one;
    /// the others keep waiting), as in Python. A task cancelled after the barrier tripped gets
    /// CancelledError instead of its index; the others are unaffected.
    [[nodiscard]] Task<size_t> wait();
    /// Python `await barrier.reset()`: back to the empty, filling state; tasks waiting inside get
    /// BrokenBarrierError. Python's is a coroutine because it takes the barrier's internal lock;
    /// this barrier needs none, so reset() takes effect at once.
    void reset() noexcept;
    /// Python `await barrier.abort()`: breaks the barrier; every waiting task and every later
    /// wait() gets BrokenBarrierError, until reset(). Takes effect at once (see reset()).
    void abort() noexcept;

    /// Python `barrier.parties`.
    [[nodiscard]] size_t parties() const noexcept { return parties_; }
    /// Python `barrier.n_waiting`: tasks waiting while the barrier fills.
    [[nodiscard]] size_t n_waiting() const noexcept { return state_ == BarrierState::filling ? count_ : 0; }
    /// Python `barrier.broken`.
    [[nodiscard]] bool broken() const noexcept { return state_ == BarrierState::broken; }
    /// aiocpp only (no Python counterpart): a snapshot for inspecting a stuck program.
    [[nodiscard]] BarrierStats stats() const noexcept { return {parties_, n_waiting(), count_, blocked_.size(), state_}; }

private:
    friend class detail::BarrierWait;
    /// CPython's _exit(): the last task out of a drain or reset opens the entrance again.
    void leave() noexcept;

    size_t parties_;
    size_t count_ = 0;  // tasks inside wait(), past the entrance
    BarrierState state_ = BarrierState::filling;
    detail::WaiterList filling_;   // inside, waiting for the barrier to trip
    detail::WaiterList blocked_;   // at the entrance, waiting for a drain or reset to finish
    detail::WaiterList inflight_;  // woken from either, not resumed yet
};

}  // namespace aio
