// aio::ScopedRelease — what `async with lock:` / `async with semaphore:` become in C++.
//
// Python's `async with` awaits on entry and on exit. Releasing a lock or a semaphore never has to
// wait, so in C++ the exit can be a destructor: `auto held = co_await lock.scoped();` acquires, and
// `held` releases on every path out of the scope — return, exception, cancellation.
#pragma once

#include <utility>

namespace aio {

/// Owns one acquisition of a Lock, Condition or Semaphore and gives it back when destroyed
/// (Python: leaving an `async with` block). Move-only. `LockGuard` and `SemaphoreGuard` name it.
template <class Primitive>
class [[nodiscard]] ScopedRelease {
public:
    ScopedRelease() noexcept = default;
    explicit ScopedRelease(Primitive& p) noexcept : p_(&p) {}
    ScopedRelease(ScopedRelease&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    ScopedRelease& operator=(ScopedRelease&& o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ScopedRelease(const ScopedRelease&) = delete;
    ScopedRelease& operator=(const ScopedRelease&) = delete;
    /// A destructor cannot throw: misuse found here (the lock was released by hand meanwhile)
    /// is reported through aio::log instead of the exception release() would throw.
    ~ScopedRelease() { reset(); }

    /// Gives the acquisition back early; the destructor then does nothing. Throws what the
    /// primitive's release() throws (RuntimeError for a lock released by hand meanwhile).
    void release() {
        if (Primitive* p = std::exchange(p_, nullptr)) p->release();
    }
    /// Keeps the acquisition but stops managing it (the caller must release it).
    Primitive* dismiss() noexcept { return std::exchange(p_, nullptr); }
    /// True while this guard still holds the acquisition.
    [[nodiscard]] bool owns() const noexcept { return p_ != nullptr; }
    explicit operator bool() const noexcept { return owns(); }

private:
    void reset() noexcept {
        if (Primitive* p = std::exchange(p_, nullptr)) p->release_from_guard();
    }
    Primitive* p_ = nullptr;
};

}  // namespace aio
