// aio::shield — asyncio.shield.
#pragma once

#include <utility>

#include "aio/detail/ensure.hpp"

namespace aio {

namespace detail {
/// Waits for a future like FutureWait, except that cancelling the waiting task does not touch
/// the future: the waiter stops waiting and gets CancelledError, the inner work goes on.
/// The inner completion reaches the waiter through a done-callback hop, as in Python.
template <class H>
class ShieldAwaiter final : public Waiting {
public:
    explicit ShieldAwaiter(H h) : h_(std::move(h)) {}
    ShieldAwaiter(const ShieldAwaiter& o) : Waiting(), h_(o.h_) {}
    ShieldAwaiter& operator=(const ShieldAwaiter&) = delete;
    ~ShieldAwaiter() {
        if (watch_) watch_->detach();
    }

    bool await_ready() const noexcept { return h_.core_ptr()->done(); }
    void await_suspend(std::coroutine_handle<> h) {
        TaskCore& t = current_task_core();
        task_ = &t;
        watch_ = ChildWatch::create(1, this, &on_done);
        watch_->watch(0, *h_.core_ptr());
        t.resume_ = h;
        t.waiting_ = this;
        if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
    }
    auto await_resume() {
        if (watch_) {
            watch_->detach();
            watch_ = nullptr;
        }
        if (task_) {
            task_->throw_if_must_cancel();
            if (cancelled_) task_->throw_cancelled();
        }
        return h_.result();
    }
    bool cancel_wait(TaskCore& task) noexcept override {
        if (watch_) {
            watch_->detach();
            watch_ = nullptr;
        }
        cancelled_ = true;
        h_.core_ptr()->mark_retrieved();  // Python: the shielded task's exception is then nobody's
        task.waiting_ = nullptr;
        task.schedule();
        return true;
    }
    void describe(std::string& out) const override { out += "shield(...)"; }

private:
    static void on_done(void* p, size_t) noexcept {
        auto* self = static_cast<ShieldAwaiter*>(p);
        self->task_->waiting_ = nullptr;
        self->task_->schedule();
    }
    H h_;
    ChildWatch* watch_ = nullptr;
    TaskCore* task_ = nullptr;
    bool cancelled_ = false;
};
}  // namespace detail

/// asyncio.shield(aw): start `aw` (if it is a Task or other awaitable) and wait for it, but do
/// not pass a cancellation of the waiting task on to it. If the waiter is cancelled, it gets
/// CancelledError at once while the shielded work runs to completion.
template <class A>
[[nodiscard]] auto shield(A&& aw) {
    return detail::ShieldAwaiter<detail::ensure_future_t<A>>(detail::ensure_future(std::forward<A>(aw)));
}

}  // namespace aio
