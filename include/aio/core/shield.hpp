// aio::shield — asyncio.shield.
#pragma once

#include <utility>

#include "aio/detail/ensure.hpp"

namespace aio {

namespace detail {
/// Waits for a future like FutureWait, except that cancelling the waiting task does not touch
/// the future: the waiter stops waiting and gets CancelledError, the inner work goes on.
template <class H>
class ShieldAwaiter : public Waiting {
public:
    explicit ShieldAwaiter(H h) : h_(std::move(h)) { node_.fire = &on_done; }
    ShieldAwaiter(const ShieldAwaiter& o) : h_(o.h_) { node_.fire = &on_done; }
    ShieldAwaiter& operator=(const ShieldAwaiter&) = delete;

    bool await_ready() const noexcept { return h_.core_ptr()->done(); }
    void await_suspend(std::coroutine_handle<> h) {
        TaskCore& t = current_task_core();
        task_ = &t;
        h_.core_ptr()->link(node_);
        t.resume_ = h;
        t.waiting_ = this;
        if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
    }
    auto await_resume() {
        if (task_) {
            task_->throw_if_must_cancel();
            if (cancelled_) task_->throw_cancelled();
        }
        return h_.result();
    }
    bool cancel_wait(TaskCore& task) noexcept override {
        node_.unlink();
        cancelled_ = true;
        h_.core_ptr()->mark_retrieved();  // Python: the shielded task's exception is then nobody's
        task.waiting_ = nullptr;
        task.schedule();
        return true;
    }
    void describe(std::string& out) const override { out += "shield(...)"; }

private:
    struct Node : CompletionNode {
        ShieldAwaiter* self;
    };
    static void on_done(CompletionNode* n, FutureCore&) noexcept {
        auto* self = static_cast<Node*>(n)->self;
        self->task_->waiting_ = nullptr;
        self->task_->schedule();
    }
    H h_;  // declared before node_: the node unlinks first
    TaskCore* task_ = nullptr;
    bool cancelled_ = false;
    Node node_{{}, this};
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
