// What Python's threading module has and the C++ standard library lacks (or has differently):
// a Lock that another thread may release, an RLock that refuses a non-owner's release, timeouts
// everywhere, a Condition with notify(n), a Barrier that can time out, abort and break, an Event.
// docs/threads.md maps each one to the std facility it complements.
//
// All are thread-safe, neither copyable nor movable. Timeouts are std::chrono durations; an
// expired timeout is reported by a `false` return, as in Python (not by an exception), except
// where Python raises (Barrier).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "aio/core/errors.hpp"
#include "aio/detail/core.hpp"
#include "aio/threads/deadlock.hpp"
#include "aio/threads/detail/futex.hpp"
#include "aio/threads/detail/lockable.hpp"
#include "aio/threads/errors.hpp"

namespace aio::threading {

using aio::detail::SourceLoc;

// Held<L>, what `lock.scoped()` returns, is in aio/threads/detail/lockable.hpp.

/// threading.Lock: a non-reentrant lock that — unlike std::mutex — any thread may release
/// (so it also works as a binary semaphore). Meets Lockable and TimedLockable, so std::lock_guard,
/// std::unique_lock and std::scoped_lock accept it. Acquisition sites are recorded for the
/// deadlock detector (aio/threads/deadlock.hpp).
class Lock : public aio::detail::TimedLockable<Lock> {
public:
    /// `name` appears in the deadlock detector's reports.
    explicit Lock(std::string name = {}) : name_(std::move(name)) {}
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    ~Lock();

    /// Python acquire(blocking=True): true once acquired; with blocking=false, false if taken.
    bool acquire(bool blocking = true, SourceLoc where = SourceLoc::current()) {
        if (threading::detail::detecting()) [[unlikely]] return acquire_checked(blocking, nullptr, where);
        if (try_fast()) [[likely]] return true;
        if (!blocking) return false;
        return raw_acquire(nullptr);
    }
    /// Python acquire(timeout=t): false if not acquired in time.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout, SourceLoc where = SourceLoc::current()) {
        const auto deadline = aio::detail::deadline_after(timeout);
        if (threading::detail::detecting()) [[unlikely]] return acquire_checked(true, &deadline, where);
        return try_fast() || raw_acquire(&deadline);
    }
    /// Python release(): from any thread. Throws RuntimeError if the lock is not locked.
    void release();
    /// Python locked().
    [[nodiscard]] bool locked() const noexcept { return state_.load(std::memory_order_relaxed) != 0; }
    /// Python `with lock:` — `auto held = lock.scoped();`.
    [[nodiscard]] Held<Lock> scoped(SourceLoc where = SourceLoc::current()) {
        acquire(true, where);
        return Held<Lock>(*this);
    }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    // lock(), try_lock(), unlock(), try_lock_for(), try_lock_until(): from TimedLockable.

private:
    friend class RLock;
    friend class Condition;
    bool try_fast() noexcept {
        uint32_t expected = 0;
        return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
    }
    /// With the deadlock detector on: checks, records, acquires.
    bool acquire_checked(bool blocking, const aio::detail::SteadyTime* deadline, const SourceLoc& where);
    /// The lock word alone, without the detector (RLock and Condition do their own bookkeeping).
    bool raw_acquire(const aio::detail::SteadyTime* deadline) noexcept;
    void raw_release() noexcept;
    [[nodiscard]] threading::detail::LockInfo info(bool reentrant) const noexcept { return {this, &name_, reentrant}; }

    std::atomic<uint32_t> state_{0};  // 0 free, 1 locked, 2 locked and someone may sleep
    std::atomic<bool> known_{false};  // the deadlock detector has seen it: tell it about releases, destruction
    std::string name_;
};

/// threading.RLock: reentrant; the owner must release as many times as it acquired. Releasing
/// from another thread throws RuntimeError (std::recursive_mutex makes that undefined).
class RLock : public aio::detail::TimedLockable<RLock> {
public:
    explicit RLock(std::string name = {}) : lock_(std::move(name)) {}
    RLock(const RLock&) = delete;
    RLock& operator=(const RLock&) = delete;
    ~RLock();

    /// Python acquire(blocking=True).
    bool acquire(bool blocking = true, SourceLoc where = SourceLoc::current()) {
        if (reenter()) return true;
        return acquire_first(blocking, nullptr, where);
    }
    /// Python acquire(timeout=t).
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout, SourceLoc where = SourceLoc::current()) {
        if (reenter()) return true;
        const auto deadline = aio::detail::deadline_after(timeout);
        return acquire_first(true, &deadline, where);
    }
    /// Python release(): throws RuntimeError("cannot release un-acquired lock") unless this
    /// thread owns the lock.
    void release();
    /// Whether the calling thread holds it (Python: _is_owned()).
    [[nodiscard]] bool owned_by_this_thread() const noexcept {
        return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
    }
    /// How many times the owner acquired it (0 when free or held by another thread).
    [[nodiscard]] unsigned recursion_depth() const noexcept { return owned_by_this_thread() ? count_ : 0; }
    [[nodiscard]] Held<RLock> scoped(SourceLoc where = SourceLoc::current()) {
        acquire(true, where);
        return Held<RLock>(*this);
    }
    [[nodiscard]] const std::string& name() const noexcept { return lock_.name(); }
    // lock(), try_lock(), unlock(), try_lock_for(), try_lock_until(): from TimedLockable.

private:
    friend class Condition;
    bool reenter() noexcept {
        if (!owned_by_this_thread()) return false;
        ++count_;
        return true;
    }
    bool acquire_first(bool blocking, const aio::detail::SteadyTime* deadline, const SourceLoc& where);

    Lock lock_;
    std::atomic<std::thread::id> owner_{};
    unsigned count_ = 0;  // written by the owner only
};

/// threading.Condition(lock=None): wait/notify around a Lock or RLock (an internal RLock by
/// default). The calling thread must hold the lock for wait and notify (RuntimeError otherwise).
/// notify(n) wakes the n longest waiting threads, in order (std::condition_variable has only
/// notify_one/notify_all, and no order).
class Condition : public aio::detail::Lockable<Condition>, public aio::detail::ConditionWaits<Condition> {
public:
    Condition();
    explicit Condition(Lock& lock) noexcept : plain_(&lock) {}
    explicit Condition(RLock& lock) noexcept : rec_(&lock) {}
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;
    ~Condition();

    bool acquire(bool blocking = true, SourceLoc where = SourceLoc::current()) {
        return plain_ ? plain_->acquire(blocking, where) : rec_->acquire(blocking, where);
    }
    void release() { plain_ ? plain_->release() : rec_->release(); }
    [[nodiscard]] Held<Condition> scoped(SourceLoc where = SourceLoc::current()) {
        acquire(true, where);
        return Held<Condition>(*this);
    }
    // lock(), try_lock(), unlock(): from Lockable; wait(), wait_for(), notify_all(): from
    // ConditionWaits.

    /// Python notify(n=1): wakes up to n waiters, longest waiting first.
    void notify(std::size_t n = 1);

private:
    friend class aio::detail::ConditionWaits<Condition>;
    struct Waiter {
        std::atomic<uint32_t> signaled{0};
        Waiter* prev = nullptr;
        Waiter* next = nullptr;
    };
    bool owned() const noexcept { return plain_ ? plain_->locked() : rec_->owned_by_this_thread(); }
    bool wait_impl(const aio::detail::SteadyTime* deadline);
    void unlink(Waiter& w) noexcept;

    std::unique_ptr<RLock> own_;
    Lock* plain_ = nullptr;
    RLock* rec_ = nullptr;
    Waiter* head_ = nullptr;  // guarded by the condition's lock
    Waiter* tail_ = nullptr;
};

/// threading.Event: a flag threads wait for.
class Event {
public:
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    /// Python set(): wakes every waiter.
    void set();
    /// Python clear().
    void clear();
    /// Python is_set().
    [[nodiscard]] bool is_set() const;
    /// Python wait(): returns true (the flag was set).
    bool wait();
    /// Python wait(timeout): true if the flag was set (a waiter woken by set() returns true even
    /// if clear() came right after, as in Python), false on timeout.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        return wait_until(deadline);
    }

private:
    bool wait_until(aio::detail::SteadyTime deadline);
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool flag_ = false;
    uint64_t generation_ = 0;  // bumped by set(): a waiter knows it was set even if cleared since
};

/// threading.Semaphore(value=1). std::counting_semaphore has no release beyond its compile-time
/// maximum check and no timed acquire with Python's return convention; this one also has
/// release(n).
class Semaphore : public aio::detail::Lockable<Semaphore> {
public:
    /// Throws std::invalid_argument if value < 0 (Python: ValueError).
    explicit Semaphore(long value = 1);
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;
    virtual ~Semaphore() = default;

    /// Python acquire(blocking=True).
    bool acquire(bool blocking = true);
    using Lockable::acquire;  // Python acquire(timeout=t)
    /// Python release(n=1).
    virtual void release(long n = 1);
    [[nodiscard]] long value() const;
    // scoped(), lock(), try_lock(), unlock(): from Lockable.

protected:
    friend class aio::detail::Lockable<Semaphore>;
    bool acquire_until(aio::detail::SteadyTime deadline);
    mutable std::mutex mu_;
    std::condition_variable cv_;
    long value_;
};

/// threading.BoundedSemaphore(value=1): releasing above the initial value throws
/// std::invalid_argument (Python: ValueError "Semaphore released too many times").
class BoundedSemaphore final : public Semaphore {
public:
    explicit BoundedSemaphore(long value = 1) : Semaphore(value), initial_(value) {}
    void release(long n = 1) override;
    [[nodiscard]] Held<BoundedSemaphore> scoped() {
        acquire();
        return Held<BoundedSemaphore>(*this);
    }

private:
    long initial_;
};

/// threading.Barrier(parties, action=None, timeout=None): std::barrier, plus what Python has:
/// a timeout that breaks the barrier, abort(), reset(), the broken state, and an action whose
/// exception breaks the barrier instead of calling std::terminate.
class Barrier {
public:
    /// Throws std::invalid_argument if parties == 0. `action` runs in the last thread to arrive,
    /// before the others are released. `timeout` (none: std::nullopt) is wait()'s default.
    explicit Barrier(std::size_t parties, std::function<void()> action = {},
                     std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;

    /// Python wait(): returns this thread's arrival index, 0 .. parties-1. Throws
    /// BrokenBarrierError if the barrier is or becomes broken (abort, reset, a timeout, or the
    /// action threw — in which case the last thread gets the action's exception instead).
    std::size_t wait();
    /// Python wait(timeout): on timeout the barrier breaks and BrokenBarrierError is thrown.
    template <class Rep, class Period>
    std::size_t wait(std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        return wait_impl(&deadline);
    }
    /// Python reset(): back to the empty state; threads waiting now get BrokenBarrierError.
    void reset();
    /// Python abort(): breaks the barrier; waiting and future wait() calls throw.
    void abort();
    [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
    /// Python n_waiting.
    [[nodiscard]] std::size_t n_waiting() const;
    /// Python broken.
    [[nodiscard]] bool broken() const;

private:
    enum class State { filling, draining, resetting, broken };
    std::size_t wait_impl(const aio::detail::SteadyTime* deadline);
    void break_locked() {
        state_ = State::broken;
        cv_.notify_all();
    }
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::size_t parties_;
    std::function<void()> action_;
    std::optional<std::chrono::nanoseconds> timeout_;
    State state_ = State::filling;
    std::size_t count_ = 0;
};

}  // namespace aio::threading
