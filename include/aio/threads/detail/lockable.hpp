// What the lock-like classes of aio::threading and aio::mp (aio/threads/sync.hpp,
// aio/mp/sync.hpp) spell the same way, written once: the scoped() guard, the timed acquire, the
// std Lockable / TimedLockable adapters, and Condition's wait family. Each is a CRTP base over
// the few members its class provides itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <utility>

#include "aio/threads/detail/futex.hpp"

namespace aio::threading {

/// What `lock.scoped()` returns: releases on scope exit (Python: `with lock:`).
template <class L>
class [[nodiscard]] Held {
public:
    explicit Held(L& l) noexcept : l_(&l) {}
    Held(Held&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    Held& operator=(Held&&) = delete;
    ~Held() {
        if (l_) l_->release();
    }
    /// Releases early.
    void release() {
        if (L* l = std::exchange(l_, nullptr)) l->release();
    }

private:
    L* l_;
};

}  // namespace aio::threading

namespace aio::detail {

/// Python's acquire(timeout=t), `with lock:` and the std Lockable requirements (std::lock_guard,
/// std::unique_lock, std::scoped_lock), for a `Derived` that provides
///   bool acquire(bool block);                 // Python acquire(block=True)
///   void release();                           // Python release()
///   bool acquire_until(SteadyTime deadline);  // for acquire(timeout); may be private if Derived
///                                             // befriends Lockable<Derived>
/// and says `using Lockable::acquire;` (its acquire(bool) hides this one otherwise). A Derived
/// whose acquire takes more (aio::threading's Lock, RLock and Condition take the call site, for
/// the deadlock detector) declares its own acquire overloads and scoped(), which hide these; it
/// still gets lock(), try_lock() and unlock(), which call its acquire(true) and acquire(false).
template <class Derived>
class Lockable {
public:
    /// Python acquire(timeout=t): false if not acquired in time.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return self().acquire_until(aio::detail::deadline_after(timeout));
    }
    /// Python `with lock:` — `auto held = lock.scoped();`.
    [[nodiscard]] threading::Held<Derived> scoped() {
        self().acquire(true);
        return threading::Held<Derived>(self());
    }

    // The std Lockable requirements.
    void lock() { self().acquire(true); }
    bool try_lock() { return self().acquire(false); }
    void unlock() { self().release(); }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

/// Lockable, plus the std TimedLockable requirements (std::unique_lock's try_lock_for and
/// try_lock_until), over Derived's acquire(timeout).
template <class Derived>
class TimedLockable : public Lockable<Derived> {
public:
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> d) {
        return self().acquire(d);
    }
    template <class Clock, class Duration>
    bool try_lock_until(std::chrono::time_point<Clock, Duration> t) {
        return self().acquire(t - Clock::now());
    }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

/// Python Condition's wait(), wait_for() and notify_all(), for a `Derived` that provides
///   bool wait_impl(const SteadyTime* deadline);  // one wait, null: no deadline; false on
///                                                // timeout; may be private if Derived
///                                                // befriends ConditionWaits<Derived>
///   void notify(std::size_t n);                  // Python notify(n)
template <class Derived>
class ConditionWaits {
public:
    /// Python wait(): releases the lock (every level of an RLock), waits for a notify,
    /// re-acquires the lock.
    void wait() { self().wait_impl(nullptr); }
    /// Python wait(timeout): false if it timed out (the lock is re-acquired either way).
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        return self().wait_impl(&deadline);
    }
    /// Python wait_for(predicate): waits until pred() is true; returns it.
    template <class Pred>
    bool wait_for(Pred pred) {
        while (!pred()) self().wait_impl(nullptr);
        return true;
    }
    /// Python wait_for(predicate, timeout): returns pred()'s last value.
    template <class Pred, class Rep, class Period>
    bool wait_for(Pred pred, std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        bool r = pred();
        while (!r) {
            if (std::chrono::steady_clock::now() >= deadline) break;
            self().wait_impl(&deadline);
            r = pred();
        }
        return r;
    }
    /// Python notify_all().
    void notify_all() { self().notify(static_cast<std::size_t>(-1)); }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

}  // namespace aio::detail
