// multiprocessing's synchronisation primitives: Lock, RLock, Semaphore, BoundedSemaphore, Event,
// Condition, Barrier, shared between processes.
//
// Each object's state lives in its own anonymous shared mapping (see aio/mp/shared.hpp), made by
// its constructor. A handle is a reference-counted pointer to that state: copies of a handle, in
// this process or in a child fork()ed after the object was made (which inherits the mapping at
// the same address), are the same lock. Nothing has a name and nothing is created in /dev/shm,
// so nothing outlives the processes using it; the flip side is that a child started with the
// spawn method cannot reach these objects. They work between threads of one process too.
//
// Waiting sleeps on futex words in the shared mapping (process-shared futexes: a private futex
// would be keyed on the waiter's own address space and never see another process's wake-up).
// RLock, and the internals of Condition and Barrier, use robust process-shared pthread mutexes,
// which the kernel releases when their owner dies: each class says what a death does to it.
//
// Timeouts are std::chrono durations measured on CLOCK_MONOTONIC (std::chrono::steady_clock); an
// expired timeout is reported by a `false` return, as in Python, except where Python raises
// (Barrier). Handles are copyable; a moved-from handle is a copy too (never empty).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <variant>

#include "aio/core/errors.hpp"
#include "aio/threads/detail/futex.hpp"
#include "aio/threads/detail/lockable.hpp"
#include "aio/threads/errors.hpp"
#include "aio/threads/sync.hpp"

namespace aio::mp {

/// What `lock.scoped()` returns (Python: `with lock:`): the threads layer's guard.
template <class L>
using Held = aio::threading::Held<L>;

/// threading.BrokenBarrierError, which multiprocessing.Barrier raises too.
using aio::threading::BrokenBarrierError;

class RLock;

namespace detail {
struct LockState;
struct RLockState;
struct SemaphoreState;
struct EventState;
struct ConditionState;
struct BarrierState;

/// Bytes an RLock's state takes (at most 64-byte aligned), for Value and Array to lay out their
/// mapping.
std::size_t rlock_state_size() noexcept;
/// Builds an RLock whose state is placed at `where`, inside a shared mapping that `keep` owns.
RLock make_rlock_at(std::shared_ptr<void> keep, void* where);
}  // namespace detail

/// multiprocessing.Lock: a non-recursive lock shared between processes. Like Python's (a
/// semaphore of one), release() does not check who acquired it: any thread of any process may
/// release it, so it doubles as a cross-process binary semaphore. Meets Lockable and
/// TimedLockable (std::lock_guard, std::unique_lock, std::scoped_lock accept it).
///
/// A process that dies holding it leaves it locked, as in Python: it has no owner the kernel
/// could release it for. Waiters with a timeout get `false`; a survivor that knows the holder is
/// dead may release() it on its behalf.
class Lock : public aio::detail::TimedLockable<Lock> {
public:
    Lock();
    Lock(const Lock&) = default;
    Lock& operator=(const Lock&) = default;

    /// Python acquire(block=True): true once acquired; with block=false, false if taken.
    bool acquire(bool block = true);
    using Lockable::acquire;  // Python acquire(timeout=t)
    /// Python release(), from any thread of any process. Throws aio::RuntimeError if the lock is
    /// not locked (Python: ValueError).
    void release();
    /// Whether anyone holds it.
    [[nodiscard]] bool locked() const noexcept;
    // scoped(), lock(), try_lock(), unlock(), try_lock_for(), try_lock_until(): from TimedLockable.

private:
    friend class Condition;
    friend class aio::detail::Lockable<Lock>;
    bool acquire_until(aio::detail::SteadyTime deadline);
    /// Acquired by the calling thread, and not released since (Python: SemLock._is_mine()).
    [[nodiscard]] bool is_mine() const noexcept;
    void release_for_wait() noexcept;
    void reacquire_after_wait();

    std::shared_ptr<detail::LockState> s_;
};

/// multiprocessing.RLock: reentrant, owned by one thread of one process; the owner must release
/// as many times as it acquired, and a release() by anyone else throws aio::RuntimeError.
/// Meets Lockable and TimedLockable.
///
/// Unlike Python's, it survives its owner: if the owning process dies (exits, crashes, is
/// killed) or the owning thread ends while holding it, the kernel releases it (it is a robust
/// mutex), and the next acquire() succeeds with previous_owner_died() true, warning that what
/// the lock guards may be half-updated. Python's RLock stays locked forever instead.
class RLock : public aio::detail::TimedLockable<RLock> {
public:
    RLock();
    RLock(const RLock&) = default;
    RLock& operator=(const RLock&) = default;

    /// Python acquire(block=True).
    bool acquire(bool block = true);
    using Lockable::acquire;  // Python acquire(timeout=t)
    /// Python release(): throws aio::RuntimeError unless the calling thread owns the lock
    /// (Python: AssertionError).
    void release();
    /// Whether the calling thread (of this process) owns it (Python: _is_mine()).
    [[nodiscard]] bool owned_by_this_thread() const noexcept;
    /// How many times the owner acquired it (0 when free or owned by another thread).
    [[nodiscard]] unsigned recursion_depth() const noexcept;
    /// True while the calling thread owns the lock and its ownership began by taking it over
    /// from an owner that died holding it.
    [[nodiscard]] bool previous_owner_died() const noexcept;
    // scoped(), lock(), try_lock(), unlock(), try_lock_for(), try_lock_until(): from TimedLockable.

private:
    friend class Condition;
    friend class aio::detail::Lockable<RLock>;
    friend RLock detail::make_rlock_at(std::shared_ptr<void> keep, void* where);
    explicit RLock(std::shared_ptr<detail::RLockState> s) noexcept : s_(std::move(s)) {}
    bool acquire_until(aio::detail::SteadyTime deadline);
    /// Releases every level for Condition::wait; returns how many there were.
    unsigned release_for_wait() noexcept;
    void reacquire_after_wait(unsigned depth);

    std::shared_ptr<detail::RLockState> s_;
};

/// multiprocessing.Semaphore(value=1): a counter shared between processes. acquire() takes one
/// unit, waiting while there is none; release(n) gives n back. The value is at most
/// Semaphore::max_value (Python: SEM_VALUE_MAX).
///
/// A process that dies holding units does not give them back (as in Python).
class Semaphore : public aio::detail::Lockable<Semaphore> {
public:
    static constexpr long max_value = 0x7fffffff;

    /// Throws std::invalid_argument unless 0 <= value <= max_value (Python: ValueError).
    explicit Semaphore(long value = 1);
    Semaphore(const Semaphore&) = default;
    Semaphore& operator=(const Semaphore&) = default;

    /// Python acquire(block=True).
    bool acquire(bool block = true);
    using Lockable::acquire;  // Python acquire(timeout=t)
    /// Python release(); n > 1 gives back several units at once (threading.Semaphore's
    /// release(n)). Throws std::invalid_argument if n < 1, or if the value would exceed
    /// max_value or, for a BoundedSemaphore, its initial value (Python: ValueError).
    void release(long n = 1);
    /// Python get_value().
    [[nodiscard]] long get_value() const noexcept;
    // scoped(), lock(), try_lock(), unlock(): from Lockable.

protected:
    Semaphore(long value, bool bounded);

private:
    friend class aio::detail::Lockable<Semaphore>;
    bool acquire_until(aio::detail::SteadyTime deadline);
    std::shared_ptr<detail::SemaphoreState> s_;
};

/// multiprocessing.BoundedSemaphore(value=1): releasing above the initial value throws
/// std::invalid_argument ("semaphore or lock released too many times", Python's ValueError).
/// The bound is in the shared state, so it holds through a copy sliced to a Semaphore too.
class BoundedSemaphore : public Semaphore {
public:
    explicit BoundedSemaphore(long value = 1) : Semaphore(value, true) {}
};

/// multiprocessing.Event: a flag processes wait for. Nothing is held while waiting, so a process
/// that dies does not affect the others.
class Event {
public:
    Event();
    Event(const Event&) = default;
    Event& operator=(const Event&) = default;

    /// Python set(): wakes every waiter, in every process.
    void set();
    /// Python clear().
    void clear();
    /// Python is_set().
    [[nodiscard]] bool is_set() const noexcept;
    /// Python wait(): returns true once the flag is set.
    bool wait() { return wait_impl(nullptr); }
    /// Python wait(timeout): true if the flag was set (a waiter woken by set() returns true even
    /// if clear() came right after), false on timeout.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        return wait_impl(&deadline);
    }

private:
    bool wait_impl(const aio::detail::SteadyTime* deadline);
    std::shared_ptr<detail::EventState> s_;
};

/// multiprocessing.Condition(lock=None): wait/notify across processes, around an mp::RLock (a
/// new one by default) or an mp::Lock. The calling thread must hold the lock (have acquired it
/// itself) for wait and notify: aio::RuntimeError otherwise (Python: AssertionError). Several
/// Conditions may share one lock.
///
/// notify(n) wakes the n longest-waiting threads, in order (Python's multiprocessing makes no
/// promise of order; threading's Condition does). At most max_waiters threads, over all
/// processes, may wait on one Condition at once; one more throws aio::RuntimeError.
///
/// Death: a waiter holds nothing while it waits, and if its process dies notify() skips it
/// rather than spending a wake-up on it (Python's notify would block forever waiting for it to
/// acknowledge). What a death while holding the lock does is the lock's business (Lock, RLock).
class Condition : public aio::detail::Lockable<Condition>, public aio::detail::ConditionWaits<Condition> {
public:
    static constexpr std::size_t max_waiters = 1024;

    /// Over a new RLock.
    Condition();
    explicit Condition(Lock lock);
    explicit Condition(RLock lock);
    Condition(const Condition&) = default;
    Condition& operator=(const Condition&) = default;

    bool acquire(bool block = true) {
        return std::visit([&](auto& l) { return l.acquire(block); }, lock_);
    }
    using Lockable::acquire;  // acquire(timeout)
    void release() {
        std::visit([](auto& l) { l.release(); }, lock_);
    }
    // scoped(), lock(), try_lock(), unlock(): from Lockable; wait(), wait_for(), notify_all():
    // from ConditionWaits.

    /// Python notify(n=1): wakes up to n waiters, longest waiting first.
    void notify(std::size_t n = 1);

private:
    friend class aio::detail::Lockable<Condition>;
    friend class aio::detail::ConditionWaits<Condition>;
    bool acquire_until(aio::detail::SteadyTime deadline) {
        return std::visit([&](auto& l) { return l.acquire_until(deadline); }, lock_);
    }
    [[nodiscard]] bool owned() const noexcept;
    bool wait_impl(const aio::detail::SteadyTime* deadline);

    std::variant<RLock, Lock> lock_;
    std::shared_ptr<detail::ConditionState> s_;
};

/// multiprocessing.Barrier(parties, action=None, timeout=None): threading.Barrier across
/// processes, with the same state machine: wait() returns the arrival index 0 .. parties-1;
/// a timeout, abort() or reset() break it, and waiters then get BrokenBarrierError.
///
/// Death: a party that dies inside wait() still counts as arrived, so its round can complete,
/// but the barrier never finishes releasing that round; later wait()s then block until their
/// timeout (which breaks the barrier) — without a timeout, forever, as in Python. A wait with a
/// timeout also honours it while an earlier round is still being released (Python's waits
/// there without one). A process killed in the middle of a barrier operation breaks it.
class Barrier {
public:
    /// Throws std::invalid_argument unless 1 <= parties <= 2^31-1. `action` runs in the last
    /// process to arrive, before the others are released; it may call parties(), n_waiting()
    /// and broken() but not wait(), reset() or abort() (aio::RuntimeError, breaking the
    /// barrier). Each process runs its own copy of it. `timeout` is wait()'s default.
    explicit Barrier(std::size_t parties, std::function<void()> action = {},
                     std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    Barrier(const Barrier&) = default;
    Barrier& operator=(const Barrier&) = default;

    /// Python wait(): this party's arrival index. Throws BrokenBarrierError if the barrier is or
    /// becomes broken (or the action's exception, in the process that ran it).
    std::size_t wait();
    /// Python wait(timeout): on timeout the barrier breaks and BrokenBarrierError is thrown.
    template <class Rep, class Period>
    std::size_t wait(std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        return wait_impl(&deadline);
    }
    /// Python reset(): back to the empty state; parties waiting now get BrokenBarrierError.
    void reset();
    /// Python abort(): breaks the barrier; waiting and future wait() calls throw.
    void abort();
    /// Python parties.
    [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
    /// Python n_waiting.
    [[nodiscard]] std::size_t n_waiting() const noexcept;
    /// Python broken.
    [[nodiscard]] bool broken() const noexcept;

private:
    std::size_t wait_impl(const aio::detail::SteadyTime* deadline);

    std::shared_ptr<detail::BarrierState> s_;
    std::shared_ptr<const std::function<void()>> action_;
    std::optional<std::chrono::nanoseconds> timeout_;
    std::size_t parties_;
};

}  // namespace aio::mp
