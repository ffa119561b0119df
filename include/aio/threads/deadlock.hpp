// The deadlock detector (beyond Python, which just hangs): aio::threading::Lock and RLock record
// the order in which each thread takes them. Taking B while holding A adds the edge A -> B to a
// process-wide graph; an acquisition that would close a cycle (B -> ... -> A exists, now A is
// wanted while B is held) is a lock-order inversion: reported with every acquisition site
// involved, *before* blocking — so the program stops with a report instead of deadlocking, and
// also when this run's timing would have been lucky. Re-acquiring a non-reentrant Lock that
// the thread already holds (blocking, no timeout) is reported instead of hanging.
//
// On by default in debug builds of aiocpp (no NDEBUG), off in release builds; the environment
// variable AIO_DEADLOCK_DETECTION=1 or =0 overrides that at start-up, and
// set_deadlock_detection() at run time. Only aiocpp's threading locks take part (std::mutex
// does not). Cost when off: one relaxed atomic load per acquire and release.
#pragma once

#include <atomic>
#include <string>

#include "aio/detail/core.hpp"  // SourceLoc

namespace aio::threading {

/// What happens when the detector finds a problem.
enum class DeadlockAction {
    raise,  ///< throw aio::threading::DeadlockError from the acquire (default): the program stops instead of hanging
    log,    ///< log the report (aio::log, error level) and go on acquiring
};

/// Turns the detector on or off for the whole process (locks acquired while it was off are not
/// known to it: turn it on before starting threads).
void set_deadlock_detection(bool enabled) noexcept;
[[nodiscard]] bool deadlock_detection_enabled() noexcept;
void set_deadlock_action(DeadlockAction action) noexcept;
/// Forgets every recorded lock order (for tests, and between independent phases of a program).
void reset_deadlock_detector() noexcept;

namespace detail {
// Defined in the library (src/threads/deadlock.cpp), so that its default follows how aiocpp was
// built, once, whatever NDEBUG says in the translation units that include this header.
extern std::atomic<bool> g_deadlock_detection;
inline bool detecting() noexcept { return g_deadlock_detection.load(std::memory_order_relaxed); }

/// The detector's view of a lock: an identity and a name for reports.
struct LockInfo {
    const void* id;
    const std::string* name;  // may be empty
    bool reentrant;
};
/// Before a blocking attempt: checks for inversions and self-deadlock (may throw DeadlockError),
/// records the new order edges. `can_hang`: blocking without timeout.
void dl_before_acquire(const LockInfo& lock, const aio::detail::SourceLoc& where, bool can_hang);
/// The thread now holds `lock`.
void dl_acquired(const LockInfo& lock, const aio::detail::SourceLoc& where) noexcept;
/// `lock` was released (by any thread: a Lock may be released by another thread than its owner).
void dl_released(const void* id) noexcept;
/// `lock` is being destroyed: forget its edges (its address may be reused).
void dl_forget(const void* id) noexcept;
}  // namespace detail

}  // namespace aio::threading
