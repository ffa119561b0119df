// The waiter list shared by every primitive (include/aio/sync/detail/waiters.hpp).
#include "aio/sync/detail/waiters.hpp"

#include "aio/core/errors.hpp"

namespace aio::detail {

void WaiterList::check_loop(const TaskCore& t) const {
    // One comparison against the head is enough: every waiter passed this check on the way in.
    const SyncWaiter* w = head_;
    if (w && !w->task_->done() && w->task_->loop() != t.loop())
        throw RuntimeError("this synchronisation primitive is in use by tasks of a different event loop");
}

void SyncWaiter::suspend_on(WaiterList& list, std::coroutine_handle<> h) {
    TaskCore& t = current_task_core();
    list.check_loop(t);
    task_ = &t;
    state_ = State::queued;
    list.push_back(*this);
    t.resume_ = h;
    t.waiting_ = this;
    if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
}

bool SyncWaiter::end_wait() {
    TaskCore& t = *task_;
    if (state_ == State::cancelled) {
        t.throw_if_must_cancel();
        t.throw_cancelled();
    }
    const bool alive = linked();
    leave();
    state_ = State::idle;
    return alive;
}

void SyncWaiter::throw_destroyed(const char* message) {
    task_->throw_if_must_cancel();
    throw RuntimeError(message);
}

bool SyncWaiter::cancel_wait(TaskCore& task) noexcept {
    leave();
    state_ = State::cancelled;
    task.waiting_ = nullptr;
    task.schedule();
    return true;
}

SyncWaiter* wake_first(WaiterList& from, WaiterList& to, bool granted) noexcept {
    while (SyncWaiter* w = from.pop_front()) {
        TaskCore* t = w->task_;
        // A task abandoned by a closed loop is marked done while its frame may live on: it will
        // never resume, so it must not be handed anything (nor scheduled on a dead loop).
        if (t->done()) continue;
        to.push_back(*w);
        w->state_ = SyncWaiter::State::woken;
        w->granted_ = granted;
        t->waiting_ = nullptr;
        t->schedule();
        return w;
    }
    return nullptr;
}

void wake_all(WaiterList& from, WaiterList& to, bool granted) noexcept {
    while (wake_first(from, to, granted)) {
    }
}

}  // namespace aio::detail
