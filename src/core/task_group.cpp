// TaskGroup, after CPython 3.12's Lib/asyncio/taskgroups.py (read for its rules, not copied).
#include "aio/core/task_group.hpp"

#include "aio/core/event_loop.hpp"

namespace aio {

using detail::CompletionNode;
using detail::FutureCore;
using detail::TaskCore;

/// Waits until the group has no children. Cancelling it just ends the wait with CancelledError
/// (the group then aborts and waits again, as Python's __aexit__ loop does).
class TaskGroup::AllDone final : public detail::Waiting {
public:
    explicit AllDone(TaskGroup& g) : g_(g) {}
    bool await_ready() const noexcept { return g_.children_.empty(); }
    void await_suspend(std::coroutine_handle<> h) {
        TaskCore& t = detail::current_task_core();
        task_ = &t;
        g_.waiter_ = &t;
        t.resume_ = h;
        t.waiting_ = this;
        if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
    }
    void await_resume() {
        g_.waiter_ = nullptr;
        if (!task_) return;
        task_->throw_if_must_cancel();
        if (cancelled_) task_->throw_cancelled();
    }
    bool cancel_wait(TaskCore& task) noexcept override {
        cancelled_ = true;
        g_.waiter_ = nullptr;
        task.waiting_ = nullptr;
        task.schedule();
        return true;
    }
    void describe(std::string& out) const override {
        out += "TaskGroup waiting for " + std::to_string(g_.children_.size()) + " child task(s)";
    }

private:
    TaskGroup& g_;
    TaskCore* task_ = nullptr;
    bool cancelled_ = false;
};

TaskGroup::~TaskGroup() {
    // Only reachable with children left if the frame running the group was destroyed while
    // suspended (loop shutdown). A Child still registered on its task is ours to free; one
    // already fired sits in the ready queue, which the closing loop frees without running.
    for (Child* c : children_)
        if (c->linked()) {
            c->unlink();
            delete c;
        }
}

void TaskGroup::enter() {
    parent_ = &detail::current_task_core();
    entered_ = true;
}

void TaskGroup::check_open() const {
    if (!entered_) throw RuntimeError("TaskGroup has not been entered");
    if (exiting_ && children_.empty()) throw RuntimeError("TaskGroup is finished");
    if (aborting_) throw RuntimeError("TaskGroup is shutting down");
}

void TaskGroup::adopt(const TaskRef& t) {
    auto* c = new Child;
    c->group = this;
    c->task = t;
    try {
        c->self = children_.insert(children_.end(), c);
    } catch (...) {
        delete c;
        throw;
    }
    detail::add_done_callback(*t.core_ptr(), c);
}

void TaskGroup::abort() noexcept {
    aborting_ = true;
    for (Child* c : children_)
        if (!c->task.done()) c->task.core_ptr()->cancel(nullptr);
}

void TaskGroup::on_child_done(Child* c, FutureCore& f) noexcept {
    TaskGroup* g = this;
    g->children_.erase(c->self);  // the loop frees `c` after this returns
    if (g->children_.empty() && g->waiter_) {
        TaskCore* w = g->waiter_;
        g->waiter_ = nullptr;
        w->waiting_ = nullptr;
        w->schedule();
    }
    if (f.cancelled()) return;
    std::exception_ptr e = f.stored_exception();
    if (!e) return;
    f.mark_retrieved();
    try {
        g->errors_.push_back(e);
    } catch (...) {
    }
    if (g->parent_->done()) {
        g->parent_->loop()->call_exception_handler({"Task error in a TaskGroup whose parent task is done", e, {}});
        return;
    }
    if (!g->aborting_ && !g->parent_cancel_requested_) {
        // Cancel the body too; exit() takes this cancellation back with uncancel().
        g->abort();
        g->parent_cancel_requested_ = true;
        g->parent_->cancel(nullptr);
    }
}

Task<void> TaskGroup::exit(std::exception_ptr body_exc) {
    exiting_ = true;
    bool body_cancelled = false;
    if (body_exc) {
        try {
            std::rethrow_exception(body_exc);
        } catch (const CancelledError&) {
            body_cancelled = true;
        } catch (...) {
        }
    }
    std::exception_ptr propagate_cancel = body_cancelled ? body_exc : nullptr;
    if (body_exc && !aborting_) abort();
    while (!children_.empty()) {
        try {
            co_await AllDone(*this);
        } catch (const CancelledError&) {
            if (!aborting_) {
                propagate_cancel = std::current_exception();
                abort();
            }
        }
    }
    if (parent_cancel_requested_) {
        // We cancelled our parent ourselves: take that back, and swallow the CancelledError
        // unless someone else cancelled it too.
        if (parent_->uncancel() == 0) propagate_cancel = nullptr;
    }
    if (propagate_cancel && errors_.empty()) std::rethrow_exception(propagate_cancel);
    if (body_exc && !body_cancelled) errors_.push_back(body_exc);
    if (!errors_.empty()) throw ExceptionGroup("unhandled errors in a TaskGroup", std::move(errors_));
}

}  // namespace aio
