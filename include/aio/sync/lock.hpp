// aio::Lock — asyncio.Lock: mutual exclusion between tasks of one event loop.
//
// Why a lock on one thread at all: a task keeps the loop only until its next co_await, so a
// read-modify-write with a co_await in the middle can interleave with another task's (see the E23
// demo). The lock makes such a section exclusive.
//
// Ownership passes by hand-off: release() with tasks waiting gives the lock straight to the
// first of them, which resumes on a later loop iteration. A task that calls acquire() in between
// finds the lock taken and queues behind — nobody jumps the queue (CPython 3.11+ behaves the same).
#pragma once

#include <coroutine>
#include <cstddef>
#include <string>

#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiters.hpp"
#include "aio/sync/guard.hpp"

namespace aio {

class Lock;

/// What Lock::scoped() gives: releases the lock when it goes out of scope.
using LockGuard = ScopedRelease<Lock>;

/// Lock::stats(): enough to see why a program is stuck.
struct LockStats {
    bool locked = false;       // as locked() reports it
    bool handing_off = false;  // released to a waiter that has not resumed yet
    size_t waiters = 0;        // tasks queued in acquire()
};

namespace detail {
class LockAcquireBase : public SyncWaiter {
public:
    /// Python's fast path: a free lock nobody waits for is taken without suspending.
    inline bool await_ready() noexcept;
    void await_suspend(std::coroutine_handle<> h);
    void describe(std::string& out) const override;

protected:
    explicit LockAcquireBase(Lock& lock) noexcept : lock_(&lock) {}
    LockAcquireBase(const LockAcquireBase& o) noexcept : SyncWaiter(o), lock_(o.lock_) {}
    ~LockAcquireBase();
    void resumed() {
        if (state_ != State::idle) [[unlikely]] resumed_slow();
    }
    void resumed_slow();

    Lock* lock_;
};

/// The awaiter of Lock::acquire().
class LockAcquire final : public LockAcquireBase {
public:
    explicit LockAcquire(Lock& lock) noexcept : LockAcquireBase(lock) {}
    void await_resume() { resumed(); }
};

/// The awaiter of Lock::scoped().
class LockScopedAcquire final : public LockAcquireBase {
public:
    explicit LockScopedAcquire(Lock& lock) noexcept : LockAcquireBase(lock) {}
    LockGuard await_resume() {
        resumed();
        return LockGuard(*lock_);
    }
};
}  // namespace detail

/// asyncio.Lock. Not reentrant: a task that acquires a lock it holds waits forever (aio::dump_tasks
/// shows it). Belongs to one event loop at a time; not thread-safe (like asyncio's).
/// Non-copyable and non-movable: waiting tasks point to it. Destroying it while tasks wait is a
/// bug; those tasks then get RuntimeError (or CancelledError) instead of undefined behaviour.
class Lock {
public:
    Lock() noexcept = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    /// `co_await lock.acquire()` — Python `await lock.acquire()`. Returns at once, without
    /// suspending, when the lock is free and nobody waits; otherwise queues (FIFO) and resumes on
    /// a later loop iteration, inside the loop step that follows the release() handing it over.
    /// Cancel safety: a cancelled acquire() never holds the lock. If the lock was already handed
    /// over when the cancellation arrived, it is passed on to the next waiter (or freed) before
    /// CancelledError is thrown, so no wake-up is lost.
    [[nodiscard]] detail::LockAcquire acquire() noexcept { return detail::LockAcquire(*this); }
    /// `auto held = co_await lock.scoped();` — Python `async with lock:`. acquire(), then a
    /// LockGuard that releases the lock on every path out of the scope. Same resumption and
    /// cancel safety as acquire().
    [[nodiscard]] detail::LockScopedAcquire scoped() noexcept { return detail::LockScopedAcquire(*this); }
    /// Python `lock.release()`: frees the lock, or hands it to the first waiting task. Throws
    /// RuntimeError("Lock is not acquired.") when the lock is not held (the lock is unchanged).
    void release() {
        if (!locked()) [[unlikely]] throw RuntimeError("Lock is not acquired.");
        if (waiters_.empty()) [[likely]] locked_ = false;
        else hand_on();
    }
    /// Python `lock.locked()`. As in CPython it is false while the lock is being handed to a waiter
    /// that has not resumed yet; an acquire() then still waits its turn.
    [[nodiscard]] bool locked() const noexcept { return locked_ && inflight_.empty(); }
    /// aiocpp only (no Python counterpart): a snapshot for inspecting a stuck program.
    [[nodiscard]] LockStats stats() const noexcept { return {locked(), !inflight_.empty(), waiters_.size()}; }

private:
    friend class detail::LockAcquireBase;
    friend class ScopedRelease<Lock>;
    /// Gives the lock to the first live waiter, or frees it.
    void hand_on() noexcept;
    void release_from_guard() noexcept;

    bool locked_ = false;          // held, or promised to the waiter in inflight_
    detail::WaiterList waiters_;   // tasks in acquire(), in arrival order
    detail::WaiterList inflight_;  // the waiter the lock was handed to, until it resumes (0 or 1)
};

inline bool detail::LockAcquireBase::await_ready() noexcept {
    // Taken by a waiter in flight counts as taken: that is the no-queue-jumping rule.
    if (lock_->locked_) return false;
    lock_->locked_ = true;
    return true;
}

}  // namespace aio
