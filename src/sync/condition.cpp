// aio::Condition.
#include "aio/sync/condition.hpp"

#include <cstdio>
#include <exception>

#include "aio/core/errors.hpp"

namespace aio {

// C++ allows no co_await inside a catch block, so Python's
//     try: await fut  finally: <re-acquire, retrying on CancelledError>
// keeps the exception and re-acquires after the catch.
Task<void> Condition::wait() {
    if (!locked()) throw RuntimeError("cannot wait on un-acquired lock");
    Lock& lock = *lock_;
    release();
    std::exception_ptr cancelled;
    bool gone = false;
    try {
        co_await detail::ConditionWait(*this, &gone);
    } catch (const CancelledError&) {
        cancelled = std::current_exception();
    }
    // The condition (and the lock it may own) was destroyed under us: nothing left to re-acquire.
    if (gone) {
        if (cancelled) std::rethrow_exception(cancelled);
        throw RuntimeError("the aio::Condition was destroyed while this task was waiting on it");
    }
    for (;;) {
        try {
            co_await lock.acquire();
            break;
        } catch (const CancelledError&) {
            cancelled = std::current_exception();
        }
    }
    if (cancelled) std::rethrow_exception(cancelled);
}

void Condition::notify(size_t n) {
    if (!locked()) throw RuntimeError("cannot notify on un-acquired lock");
    for (size_t i = 0; i < n && detail::wake_first(waiters_, inflight_); ++i) {
    }
}

namespace detail {

void ConditionWait::await_suspend(std::coroutine_handle<> h) { suspend_on(cond_->waiters_, h); }

bool ConditionWait::cancel_wait(TaskCore& task) noexcept {
    if (!linked()) *gone_ = true;  // orphaned while queued: wait() must not re-acquire
    return SyncWaiter::cancel_wait(task);
}

void ConditionWait::await_resume() {
    TaskCore& t = *task_;
    if (!end_wait()) {
        *gone_ = true;
        t.throw_if_must_cancel();
        return;
    }
    if (t.must_cancel_) {
        // Notified, then cancelled before resuming: the notification goes to the next waiter.
        wake_first(cond_->waiters_, cond_->inflight_);
        t.deliver_cancel();
    }
}

ConditionWait::~ConditionWait() {
    if (state_ == State::woken && linked()) {
        leave();
        wake_first(cond_->waiters_, cond_->inflight_);
    }
}

void ConditionWait::describe(std::string& out) const {
    if (!linked()) {
        out += "waiting on a Condition that was destroyed";
        return;
    }
    const size_t n = cond_->waiters_.size();
    char buf[112];
    std::snprintf(buf, sizeof buf, "waiting for Condition %p to be notified (%zu task%s waiting)",
                  static_cast<const void*>(cond_), n, plural(n));
    out += buf;
}

}  // namespace detail
}  // namespace aio
