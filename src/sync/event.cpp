// aio::Event: the slow paths.
#include "aio/sync/event.hpp"

#include <cstdio>

namespace aio::detail {

void EventWait::await_suspend(std::coroutine_handle<> h) { suspend_on(event_->waiters_, h); }

void EventWait::resumed_slow() {
    TaskCore& t = *task_;
    const bool woken = state_ == State::woken;
    leave();  // a woken waiter of a destroyed Event is no longer linked: nothing to touch
    state_ = State::idle;
    t.throw_if_must_cancel();
    if (!woken) t.throw_cancelled();
}

void EventWait::describe(std::string& out) const {
    if (!linked()) {
        out += "waiting for an Event that was destroyed";
        return;
    }
    const size_t n = event_->waiters_.size();
    char buf[96];
    std::snprintf(buf, sizeof buf, "waiting for Event %p (%zu task%s waiting)", static_cast<const void*>(event_), n,
                  plural(n));
    out += buf;
}

}  // namespace aio::detail
