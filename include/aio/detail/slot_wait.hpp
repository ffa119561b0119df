// The steps every "one task waits here until something happens" awaiter shares: suspending on the
// core's waiting protocol (aio/detail/core.hpp), being cancelled while suspended, waking, and the
// checks on resumption. The net layer's fd wait, the stream reader's waits and read() use it;
// each keeps its own registration (an fd callback, the reader's waiter slot). Not public API.
#pragma once

#include <coroutine>

#include "aio/detail/core.hpp"

namespace aio::detail {

class SlotWait : public Waiting {
protected:
    SlotWait() noexcept = default;
    SlotWait(const SlotWait&) noexcept : Waiting() {}
    ~SlotWait() = default;

    /// After the derived awaiter registered itself: suspend the current task here. A
    /// cancellation already pending ends the wait at once (through cancel_wait).
    void suspend(TaskCore& t, std::coroutine_handle<> h) noexcept {
        task_ = &t;
        t.resume_ = h;
        t.waiting_ = this;
        if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
    }
    /// The end of cancel_wait, once the derived awaiter unregistered itself: resume the task,
    /// which then throws CancelledError from resumed().
    bool cancelled(TaskCore& t) noexcept {
        cancelled_ = true;
        t.waiting_ = nullptr;
        t.schedule();
        return true;
    }
    /// What happened: resume the task (unless a closing loop abandoned it).
    void wake_task() noexcept {
        if (task_->done()) return;
        task_->waiting_ = nullptr;
        task_->schedule();
    }
    /// First thing on resumption (also when the wait never suspended: task_ is then null).
    void resumed() {
        if (cancelled_) [[unlikely]] {
            task_->throw_if_must_cancel();
            task_->throw_cancelled();
        }
        if (task_) task_->throw_if_must_cancel();
    }

    TaskCore* task_ = nullptr;
    bool cancelled_ = false;
};

}  // namespace aio::detail
