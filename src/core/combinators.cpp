// gather / wait / as_completed waiters and the timeout scope.
#include <chrono>
#include <cstdio>

#include "aio/core/timeout.hpp"
#include "aio/core/wait.hpp"
#include "aio/detail/ensure.hpp"

namespace aio::detail {

// ---------------------------------------------------------------------------------------------
// MultiWait

MultiWait::MultiWait(Mode mode, std::vector<FutureCore*> futures, std::optional<int64_t> timeout_ns)
    : mode_(mode), futs_(std::move(futures)), timeout_ns_(timeout_ns), pending_(futs_.size()) {}

MultiWait::~MultiWait() { stop_watching(); }

void MultiWait::stop_watching() noexcept {
    if (watch_) {
        watch_->detach();
        watch_ = nullptr;
    }
    timer_.cancel();
}

void MultiWait::await_suspend(std::coroutine_handle<> h) {
    TaskCore& t = current_task_core();
    task_ = &t;
    watch_ = ChildWatch::create(futs_.size(), this, &on_child);
    for (size_t i = 0; i < futs_.size(); ++i) watch_->watch(i, *futs_[i]);
    if (timeout_ns_) {
        timer_ = t.loop()->call_later(std::chrono::nanoseconds(*timeout_ns_), [this] {
            if (!woken_) wake();  // asyncio.wait's timeout: no error, just stop waiting
        });
    }
    t.resume_ = h;
    t.waiting_ = this;
    if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
}

void MultiWait::await_resume() {
    stop_watching();
    if (task_) {
        task_->throw_if_must_cancel();
        if (cancelled_) task_->throw_cancelled();
    }
    if (mode_ == Mode::gather || mode_ == Mode::gather_all) {
        if (cancel_requested_ && (mode_ == Mode::gather_all || failed_ < 0)) task_->throw_cancelled();
        if (failed_ >= 0) futs_[static_cast<size_t>(failed_)]->rethrow_if_failed();
    }
}

void MultiWait::on_child(void* p, size_t index) noexcept {
    auto* self = static_cast<MultiWait*>(p);
    FutureCore& f = *self->futs_[index];
    --self->pending_;
    if (self->woken_) return;
    const bool failed = f.cancelled() || f.has_exception();
    bool satisfied = false;
    switch (self->mode_) {
        case Mode::gather:
            if (failed) {
                self->failed_ = static_cast<long>(index);
                satisfied = true;
            } else {
                satisfied = self->pending_ == 0;
            }
            break;
        case Mode::gather_all:
        case Mode::all_completed: satisfied = self->pending_ == 0; break;
        case Mode::first_completed: satisfied = true; break;
        case Mode::first_exception: satisfied = (!f.cancelled() && f.has_exception()) || self->pending_ == 0; break;
    }
    if (satisfied) self->wake();
}

void MultiWait::wake() noexcept {
    woken_ = true;
    timer_.cancel();
    task_->waiting_ = nullptr;
    task_->schedule();
}

bool MultiWait::cancel_wait(TaskCore& task) noexcept {
    if (mode_ == Mode::gather || mode_ == Mode::gather_all) {
        // Python _GatheringFuture.cancel(): cancel every child; the wait ends as they finish.
        bool any = false;
        const FutureExtra* x = task.extra_if();
        const std::string* msg = x && x->has_cancel_msg ? &x->cancel_msg : nullptr;
        for (FutureCore* f : futs_) {
            if (f->done()) continue;
            if (f->is_task() ? static_cast<TaskCore*>(f)->cancel(msg) : f->cancel_future(msg)) any = true;
        }
        if (any) cancel_requested_ = true;
        return any;
    }
    // asyncio.wait: only the wait is cancelled, never the futures.
    stop_watching();
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

AsCompletedState::AsCompletedState(std::vector<FutureCore*> fs, std::optional<int64_t> timeout_ns) : remaining_(fs.size()) {
    EventLoop& loop = get_running_loop();
    watch_ = ChildWatch::create(fs.size(), this, &on_child);
    for (size_t i = 0; i < fs.size(); ++i) watch_->watch(i, *fs[i]);
    if (timeout_ns && remaining_ > 0) {
        timer_ = loop.call_later(std::chrono::nanoseconds(*timeout_ns), [this] {
            // Python: stop watching, and let every later await raise TimeoutError.
            timed_out_ = true;
            watch_->detach();
            watch_ = nullptr;
            wake();
        });
    }
}

AsCompletedState::~AsCompletedState() {
    if (watch_) watch_->detach();
    timer_.cancel();
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

void AsCompletedState::on_child(void* p, size_t index) noexcept {
    auto* self = static_cast<AsCompletedState*>(p);
    self->done_.push_back(index);
    if (--self->remaining_ == 0) self->timer_.cancel();
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
    // A real call_at handle, as in Python: the expiry runs in the loop's callback phase, in
    // deadline order with every other callback due at the same time.
    // A deadline already reached expires via call_soon, as in Python: ahead of anything the
    // body schedules next, so the body is cancelled at its first suspension.
    if (*when_ <= loop_->time()) handle_ = loop_->call_soon([this] { on_timeout(); });
    else handle_ = loop_->call_at(*when_, [this] { on_timeout(); });
}

void Timeout::disarm() noexcept { handle_.cancel(); }

void Timeout::reschedule(std::optional<double> when) {
    if (state_ != State::entered) {
        if (state_ == State::created) throw RuntimeError("Timeout has not been entered");
        throw RuntimeError("Cannot change state of an expiring or finished Timeout");
    }
    when_ = when;
    disarm();
    arm();
}

void Timeout::on_timeout() noexcept {
    task_->cancel(nullptr);
    state_ = State::expiring;
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
