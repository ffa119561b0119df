// aio::Semaphore, aio::BoundedSemaphore — asyncio.Semaphore and asyncio.BoundedSemaphore.
//
// Permits pass by hand-off, as in CPython 3.12+: release() with tasks waiting gives the permit to
// the first of them. While a permit is on its way (handed, not yet resumed) or tasks are queued,
// locked() is true and newcomers queue behind: FIFO, nobody jumps the queue.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>

#include "aio/sync/detail/waiters.hpp"
#include "aio/sync/guard.hpp"

namespace aio {

class Semaphore;

/// What Semaphore::scoped() gives: releases the permit when it goes out of scope.
using SemaphoreGuard = ScopedRelease<Semaphore>;

/// Semaphore::stats().
struct SemaphoreStats {
    size_t value = 0;        // permits free now
    size_t waiters = 0;      // tasks queued in acquire()
    size_t handing_off = 0;  // permits handed to waiters that have not resumed yet
    size_t capacity = 0;     // the initial value (a BoundedSemaphore's bound)
    bool bounded = false;
};

namespace detail {
class SemaphoreAcquireBase : public SyncWaiter {
public:
    /// Python's fast path: a free permit, and nobody ahead, is taken without suspending.
    inline bool await_ready() noexcept;
    void await_suspend(std::coroutine_handle<> h);
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;

protected:
    explicit SemaphoreAcquireBase(Semaphore& s) noexcept : sem_(&s) {}
    SemaphoreAcquireBase(const SemaphoreAcquireBase& o) noexcept : SyncWaiter(o), sem_(o.sem_) {}
    ~SemaphoreAcquireBase();
    void resumed() {
        if (state_ != State::idle) [[unlikely]] resumed_slow();
    }
    void resumed_slow();

    Semaphore* sem_;
};

/// The awaiter of Semaphore::acquire().
class SemaphoreAcquire final : public SemaphoreAcquireBase {
public:
    explicit SemaphoreAcquire(Semaphore& s) noexcept : SemaphoreAcquireBase(s) {}
    void await_resume() { resumed(); }
};

/// The awaiter of Semaphore::scoped().
class SemaphoreScopedAcquire final : public SemaphoreAcquireBase {
public:
    explicit SemaphoreScopedAcquire(Semaphore& s) noexcept : SemaphoreAcquireBase(s) {}
    SemaphoreGuard await_resume() {
        resumed();
        return SemaphoreGuard(*sem_);
    }
};
}  // namespace detail

/// asyncio.Semaphore(value): at most `value` acquisitions outstanding at a time. Belongs to one
/// event loop at a time; not thread-safe. Non-copyable, non-movable.
class Semaphore {
public:
    /// Throws std::invalid_argument (Python: ValueError) when value < 0.
    explicit Semaphore(std::int64_t value = 1) : Semaphore(value, false) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// `co_await sem.acquire()` — Python `await sem.acquire()`. Takes a permit at once when one is
    /// free and nobody is queued; otherwise queues (FIFO) and resumes on a later loop iteration,
    /// after a release() handed it a permit.
    /// Cancel safety: a cancelled acquire() never holds a permit and never leaks one. A permit
    /// handed over before the cancellation arrived is given back (and passed on to the next
    /// waiter) before CancelledError is thrown.
    [[nodiscard]] detail::SemaphoreAcquire acquire() noexcept { return detail::SemaphoreAcquire(*this); }
    /// `auto permit = co_await sem.scoped();` — Python `async with sem:`. acquire(), then a
    /// SemaphoreGuard that releases the permit on every path out of the scope.
    [[nodiscard]] detail::SemaphoreScopedAcquire scoped() noexcept { return detail::SemaphoreScopedAcquire(*this); }
    /// Python `sem.release()`: one more permit, handed to the first waiting task if any.
    /// A BoundedSemaphore throws std::invalid_argument (Python: ValueError) when this would exceed
    /// its initial value; the semaphore is then unchanged.
    void release() {
        if (bounded_ && value_ >= capacity_) [[unlikely]] throw_over_release();
        ++value_;
        if (!waiters_.empty()) [[unlikely]] wake_next();
    }
    /// Python `sem.locked()`: true when acquire() would not return at once.
    [[nodiscard]] bool locked() const noexcept { return value_ == 0 || !waiters_.empty() || !inflight_.empty(); }
    /// aiocpp only (no Python counterpart): a snapshot for inspecting a stuck program.
    [[nodiscard]] SemaphoreStats stats() const noexcept {
        return {value_, waiters_.size(), inflight_.size(), capacity_, bounded_};
    }

protected:
    Semaphore(std::int64_t value, bool bounded);

private:
    friend class detail::SemaphoreAcquireBase;
    friend class ScopedRelease<Semaphore>;
    /// Hands one permit to the first live waiter: false if nobody was waiting.
    bool wake_next() noexcept;
    /// CPython's `while self._value > 0: self._wake_up_next()`: permits freed while others were
    /// held back by the FIFO rule go to them.
    void wake_while_free() noexcept {
        while (value_ > 0 && wake_next()) {
        }
    }
    [[noreturn]] static void throw_over_release();
    void release_from_guard() noexcept;

    size_t value_;                 // free permits (handed-off ones are already subtracted)
    size_t capacity_;              // the initial value
    bool bounded_;
    detail::WaiterList waiters_;   // tasks in acquire(), in arrival order
    detail::WaiterList inflight_;  // handed a permit, not resumed yet
};

/// asyncio.BoundedSemaphore(value): a Semaphore whose release() throws std::invalid_argument
/// (Python: ValueError "BoundedSemaphore released too many times") beyond the initial value.
class BoundedSemaphore : public Semaphore {
public:
    explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, true) {}
};

inline bool detail::SemaphoreAcquireBase::await_ready() noexcept {
    if (sem_->locked()) return false;
    --sem_->value_;
    return true;
}

}  // namespace aio
