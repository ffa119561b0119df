// aio::Condition — asyncio.Condition: tasks wait, under a lock, until another task notifies them.
#pragma once

#include <coroutine>
#include <cstddef>
#include <string>
#include <type_traits>

#include "aio/core/task.hpp"
#include "aio/sync/detail/waiters.hpp"
#include "aio/sync/lock.hpp"

namespace aio {

class Condition;

/// Condition::stats().
struct ConditionStats {
    bool locked = false;      // the underlying lock's locked()
    size_t waiters = 0;       // tasks in wait(), not notified yet
    size_t notified = 0;      // notified, not resumed yet (they then re-acquire the lock)
    size_t lock_waiters = 0;  // tasks queued on the underlying lock
};

namespace detail {
/// The notification wait inside Condition::wait() (the lock is released around it).
class ConditionWait final : public SyncWaiter {
public:
    /// `*gone` is set when the Condition was destroyed under the waiter: wait() must not touch it.
    ConditionWait(Condition& c, bool* gone) noexcept : cond_(&c), gone_(gone) {}
    ~ConditionWait();
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h);
    void await_resume();
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;

private:
    Condition* cond_;
    bool* gone_;
};
}  // namespace detail

/// asyncio.Condition(lock=None): a condition variable over an aio::Lock, its own or a given one.
/// Belongs to one event loop at a time; not thread-safe. Non-copyable, non-movable.
class Condition {
public:
    /// Python `Condition()`: with a Lock of its own.
    Condition() noexcept : lock_(&own_) {}
    /// Python `Condition(lock)`: over `lock`, which must outlive the condition.
    explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    /// Python `await cond.acquire()`: the underlying lock's acquire().
    [[nodiscard]] detail::LockAcquire acquire() noexcept { return lock_->acquire(); }
    /// `auto held = co_await cond.scoped();` — Python `async with cond:`.
    [[nodiscard]] detail::LockScopedAcquire scoped() noexcept { return lock_->scoped(); }
    /// Python `cond.release()`: the underlying lock's release() (RuntimeError if not held).
    void release() { lock_->release(); }
    /// Python `cond.locked()`.
    [[nodiscard]] bool locked() const noexcept { return lock_->locked(); }
    /// The underlying lock (Python keeps it private, as `cond._lock`).
    [[nodiscard]] Lock& lock() noexcept { return *lock_; }

    /// `co_await cond.wait()` — Python `await cond.wait()`. The caller must hold the lock
    /// (else RuntimeError, at the co_await). Releases the lock, waits for notify(), then
    /// re-acquires the lock before returning: it resumes when both have happened, on a later loop
    /// iteration, holding the lock. Returns with the lock held on every path, CancelledError
    /// included (as in Python, a cancellation during the re-acquisition is held back until the
    /// lock is back, then thrown).
    /// Cancel safety: a cancelled wait() never consumes a notification meant for another task. If
    /// it was notified and then cancelled before resuming, the notification passes to the next
    /// waiter (CPython 3.13 does the same with a spurious notify).
    [[nodiscard]] Task<void> wait();
    /// `co_await cond.wait_for(pred)` — Python `await cond.wait_for(predicate)`: wait() until
    /// `pred()` is truthy; returns its last value. The lock must be held; it is held on return.
    /// Same cancel safety as wait().
    template <class Predicate>
    [[nodiscard]] Task<std::decay_t<std::invoke_result_t<Predicate&>>> wait_for(Predicate pred) {
        auto result = pred();
        while (!result) {
            co_await wait();
            result = pred();
        }
        co_return result;
    }
    /// Python `cond.notify(n=1)`: wakes up to `n` tasks waiting in wait(), in the order they
    /// started waiting. Each returns from wait() once it has re-acquired the lock, so the caller
    /// should release it. The caller must hold the lock (else RuntimeError; nothing is woken).
    void notify(size_t n = 1);
    /// Python `cond.notify_all()`.
    void notify_all() { notify(waiters_.size()); }
    /// aiocpp only (no Python counterpart): a snapshot for inspecting a stuck program.
    [[nodiscard]] ConditionStats stats() const noexcept {
        return {lock_->locked(), waiters_.size(), inflight_.size(), lock_->stats().waiters};
    }

private:
    friend class detail::ConditionWait;
    Lock own_;
    Lock* lock_;
    detail::WaiterList waiters_;   // tasks in wait(), not notified yet
    detail::WaiterList inflight_;  // notified, not resumed yet
};

}  // namespace aio
