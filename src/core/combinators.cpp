// gather / wait / as_completed waiters and the timeout scope.
#include <cstdio>

#include "aio/core/timeout.hpp"
#include "aio/core/wait.hpp"
#include "aio/detail/ensure.hpp"

namespace aio::detail {

// ---------------------------------------------------------------------------------------------
// MultiWait

MultiWait::MultiWait(Mode mode, std::vector<FutureCore*> futures, std::optional<int64_t> timeout_ns)
    : mode_(mode), futs_(std::move(futures)), nodes_(futs_.size()), timeout_ns_(timeout_ns) {
    timer_.self = this;
    timer_.fire = &on_timeout;
    for (size_t i = 0; i < nodes_.size(); ++i) {
        nodes_[i].self = this;
        nodes_[i].index = i;
        nodes_[i].fire = &on_child;
    }
}

MultiWait::~MultiWait() { detach(); }

void MultiWait::detach() noexcept {
    for (auto& n : nodes_) n.unlink();
    if (timer_.armed()) LoopAccess::remove_timer(*task_->loop(), &timer_);
}

bool MultiWait::satisfied_by(FutureCore& f, size_t index) noexcept {
    const bool failed = f.cancelled() || f.stored_exception();
    switch (mode_) {
        case Mode::gather:
            if (failed && failed_ < 0) {
                failed_ = static_cast<long>(index);
                return true;
            }
            return pending_ == 0;
        case Mode::gather_all:
        case Mode::all_completed: return pending_ == 0;
        case Mode::first_completed: return true;
        case Mode::first_exception: return (!f.cancelled() && f.stored_exception()) || pending_ == 0;
    }
    return false;
}

bool MultiWait::await_ready() {
    if (futs_.empty()) return true;
    pending_ = 0;
    for (FutureCore* f : futs_)
        if (!f->done()) ++pending_;
    bool ready = pending_ == 0;
    for (size_t i = 0; i < futs_.size() && !ready; ++i)
        if (futs_[i]->done() && satisfied_by(*futs_[i], i)) ready = true;
    if (ready && mode_ == Mode::gather && failed_ < 0) {
        for (size_t i = 0; i < futs_.size(); ++i)
            if (futs_[i]->cancelled() || futs_[i]->stored_exception()) {
                failed_ = static_cast<long>(i);
                break;
            }
    }
    return ready;
}

void MultiWait::await_suspend(std::coroutine_handle<> h) {
    TaskCore& t = current_task_core();
    task_ = &t;
    for (size_t i = 0; i < futs_.size(); ++i)
        if (!futs_[i]->done()) futs_[i]->link(nodes_[i]);
    if (timeout_ns_) {
        EventLoop& loop = *t.loop();
        timer_.when = loop.clock_ns() + std::max<int64_t>(0, *timeout_ns_);
        LoopAccess::add_timer(loop, &timer_);
    }
    t.resume_ = h;
    t.waiting_ = this;
    if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
}

void MultiWait::await_resume() {
    if (task_) {
        task_->throw_if_must_cancel();
        if (cancelled_) task_->throw_cancelled();
    }
    if (mode_ == Mode::gather || mode_ == Mode::gather_all) {
        if (cancel_requested_ && (mode_ == Mode::gather_all || failed_ < 0)) task_->throw_cancelled();
        if (failed_ >= 0) futs_[static_cast<size_t>(failed_)]->rethrow_if_failed();
    }
}

void MultiWait::on_child(CompletionNode* n, FutureCore& f) noexcept {
    auto* node = static_cast<Node*>(n);
    MultiWait* self = node->self;
    --self->pending_;
    if (!self->woken_ && self->satisfied_by(f, node->index)) self->wake();
}

void MultiWait::on_timeout(TimerNode* n) noexcept {
    MultiWait* self = static_cast<Timer*>(n)->self;
    if (!self->woken_) self->wake();
}

void MultiWait::wake() noexcept {
    woken_ = true;
    task_->waiting_ = nullptr;
    task_->schedule();
}

bool MultiWait::cancel_wait(TaskCore& task) noexcept {
    if (mode_ == Mode::gather || mode_ == Mode::gather_all) {
        // Python _GatheringFuture.cancel(): cancel every child; the wait ends as they finish.
        bool any = false;
        for (FutureCore* f : futs_) {
            if (f->done()) continue;
            const FutureExtra* x = task.extra_if();
            const std::string* msg = x && x->has_cancel_msg ? &x->cancel_msg : nullptr;
            if (f->is_task() ? static_cast<TaskCore*>(f)->cancel(msg) : f->cancel_future(msg)) any = true;
        }
        if (any) cancel_requested_ = true;
        return any;
    }
    // asyncio.wait: only the wait is cancelled, never the futures.
    detach();
    cancelled_ = true;
    woken_ = true;
    task.waiting_ = nullptr;
    task.schedule();
    return true;
}

void MultiWait::describe(std::string& out) const {
    const char* what = mode_ == Mode::gather || mode_ == Mode::gather_all ? "gather" : "wait";
    size_t done = 0;
    for (FutureCore* f : futs_)
        if (f->done()) ++done;
    out += std::string(what) + " of " + std::to_string(futs_.size()) + " (" + std::to_string(done) + " done)";
}

// ---------------------------------------------------------------------------------------------
// as_completed

AsCompletedState::AsCompletedState(std::vector<FutureCore*> fs, std::optional<int64_t> timeout_ns) : nodes_(fs.size()) {
    loop_ = &get_running_loop();
    timer_.self = this;
    timer_.fire = &on_timeout;
    for (size_t i = 0; i < fs.size(); ++i) {
        nodes_[i].self = this;
        nodes_[i].index = i;
        nodes_[i].fire = &on_child;
        if (fs[i]->done()) done_.push_back(i);
        else fs[i]->link(nodes_[i]);
    }
    if (timeout_ns) {
        timer_.when = loop_->clock_ns() + std::max<int64_t>(0, *timeout_ns);
        LoopAccess::add_timer(*loop_, &timer_);
    }
}

AsCompletedState::~AsCompletedState() {
    for (auto& n : nodes_) n.unlink();
    if (timer_.armed() && !loop_->is_closed()) LoopAccess::remove_timer(*loop_, &timer_);
}

void AsCompletedState::Next::await_suspend(std::coroutine_handle<> h) {
    TaskCore& t = current_task_core();
    if (s->waiter_) throw RuntimeError("as_completed: two tasks are awaiting the next result at once");
    s->waiter_ = &t;
    s->cancelled_ = false;
    t.resume_ = h;
    t.waiting_ = s;
    if (t.must_cancel_ && s->cancel_wait(t)) t.must_cancel_ = false;
}

size_t AsCompletedState::Next::await_resume() {
    TaskCore* t = s->waiter_;
    s->waiter_ = nullptr;
    if (t) {
        t->throw_if_must_cancel();
        if (s->cancelled_) t->throw_cancelled();
    }
    if (!s->done_.empty()) {
        size_t i = s->done_.front();
        s->done_.pop_front();
        return i;
    }
    throw TimeoutError("as_completed: timed out");
}

void AsCompletedState::on_child(CompletionNode* n, FutureCore&) noexcept {
    auto* node = static_cast<Node*>(n);
    node->self->done_.push_back(node->index);
    node->self->wake();
}

void AsCompletedState::on_timeout(TimerNode* n) noexcept {
    AsCompletedState* self = static_cast<Timer*>(n)->self;
    self->timed_out_ = true;
    self->wake();
}

void AsCompletedState::wake() noexcept {
    if (TaskCore* t = waiter_; t && t->waiting_ == this) {
        t->waiting_ = nullptr;
        t->schedule();
    }
}

bool AsCompletedState::cancel_wait(TaskCore& task) noexcept {
    cancelled_ = true;
    task.waiting_ = nullptr;
    task.schedule();
    return true;
}

void AsCompletedState::describe(std::string& out) const {
    out += "as_completed (" + std::to_string(done_.size()) + " ready to collect)";
}

}  // namespace aio::detail

// ---------------------------------------------------------------------------------------------
// Timeout

namespace aio {

void Timeout::enter() {
    if (state_ != State::created) throw RuntimeError("Timeout has already been entered");
    task_ = &detail::current_task_core();
    loop_ = task_->loop();
    state_ = State::entered;
    cancelling_ = task_->cancelling();
    arm();
}

void Timeout::arm() {
    if (!when_) return;
    timer_.fire = &on_timeout;
    const double ns = *when_ * 1e9;
    timer_.when = ns > 4e18 ? INT64_MAX / 2 : static_cast<int64_t>(ns);
    detail::LoopAccess::add_timer(*loop_, &timer_);
}

void Timeout::disarm() noexcept {
    if (timer_.armed()) detail::LoopAccess::remove_timer(*loop_, &timer_);
}

void Timeout::reschedule(std::optional<double> when) {
    if (state_ != State::entered) {
        if (state_ == State::created) throw RuntimeError("Timeout has not been entered");
        throw RuntimeError("Cannot change state of an expiring or finished Timeout");
    }
    when_ = when;
    disarm();
    arm();
}

void Timeout::on_timeout(detail::TimerNode* n) noexcept {
    Timeout* self = static_cast<Timer*>(n)->self;
    self->task_->cancel(nullptr);
    self->state_ = State::expiring;
}

bool Timeout::exit(bool cancelled) noexcept {
    disarm();
    if (state_ == State::expiring) {
        state_ = State::expired;
        return task_->uncancel() <= cancelling_ && cancelled;
    }
    if (state_ == State::entered) state_ = State::exited;
    return false;
}

}  // namespace aio
