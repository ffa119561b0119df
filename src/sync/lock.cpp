// aio::Lock: the slow paths (hand-off, resumption after a wait, descriptions).
#include "aio/sync/lock.hpp"

#include <cstdio>

#include "aio/core/log.hpp"

namespace aio {

void Lock::hand_on() noexcept {
    if (!detail::wake_first(waiters_, inflight_)) locked_ = false;
}

void Lock::release_from_guard() noexcept {
    if (!locked()) {
        log(LogLevel::error, "aio::LockGuard: the lock was no longer held when the guard released it");
        return;
    }
    release();
}

namespace detail {

void LockAcquireBase::await_suspend(std::coroutine_handle<> h) { suspend_on(lock_->waiters_, h); }

void LockAcquireBase::resumed_slow() {
    TaskCore& t = *task_;
    // Woken: the lock is ours, unless the lock was destroyed meanwhile.
    if (!end_wait()) throw_destroyed("the aio::Lock was destroyed while this task was waiting for it");
    if (t.must_cancel_) {
        // Cancelled after the hand-off, before resuming (asyncio's subtle case): pass the lock on
        // so the wake-up reaches the next waiter, then deliver the cancellation.
        lock_->hand_on();
        t.deliver_cancel();
    }
}

LockAcquireBase::~LockAcquireBase() {
    // Handed the lock, then destroyed without resuming (a closing loop freed the frame).
    if (state_ == State::woken && linked()) {
        leave();
        lock_->hand_on();
    }
}

void LockAcquireBase::describe(std::string& out) const {
    if (!linked()) {
        out += "waiting for a Lock that was destroyed";
        return;
    }
    const size_t n = lock_->waiters_.size();
    char buf[96];
    std::snprintf(buf, sizeof buf, "waiting for Lock %p (%zu task%s queued)", static_cast<const void*>(lock_), n,
                  plural(n));
    out += buf;
}

}  // namespace detail
}  // namespace aio
