// aio::sleep — asyncio.sleep.
#pragma once

#include <chrono>
#include <coroutine>
#include <string>

#include "aio/core/event_loop.hpp"
#include "aio/detail/core.hpp"

namespace aio {

namespace detail {
/// The awaiter behind sleep(): its timer node is part of it, inside the sleeping coroutine's
/// frame, so a sleep allocates nothing. Until suspension `when` holds the delay.
/// A zero or negative delay just yields one loop iteration.
class SleepAwaiter : public Waiting, private TimerNode {
public:
    explicit SleepAwaiter(std::chrono::nanoseconds d) noexcept { when = d.count(); }
    SleepAwaiter(const SleepAwaiter& o) noexcept : Waiting(), TimerNode() { when = o.when; }
    SleepAwaiter& operator=(const SleepAwaiter&) = delete;
    ~SleepAwaiter() {
        if (armed()) [[unlikely]] disarm();
    }

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        TaskCore* t = tls_current_task;
        if (when <= 0 && t) [[likely]] {
            // sleep(0): a bare yield; a pending cancellation is thrown on resumption.
            task_ = t;
            t->resume_ = h;
            t->schedule();
            return;
        }
        suspend_timed(h);
    }
    void await_resume() {
        task_->throw_if_must_cancel();
        if (cancelled_) [[unlikely]] task_->throw_cancelled();
    }
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;
    /// The loop calls this when a sleep's deadline comes (TimerNode::sleep).
    static void on_timer(TimerNode* n) noexcept;

private:
    void suspend_timed(std::coroutine_handle<> h);
    void disarm() noexcept;

    bool cancelled_ = false;  // first: fits in TimerNode's tail padding
    TaskCore* task_ = nullptr;
};

template <class T>
class SleepResultAwaiter : public SleepAwaiter {
public:
    SleepResultAwaiter(std::chrono::nanoseconds d, T v) : SleepAwaiter(d), value_(std::move(v)) {}
    T await_resume() {
        SleepAwaiter::await_resume();
        return std::move(value_);
    }

private:
    T value_;
};
}  // namespace detail

/// asyncio.sleep(delay): suspends the current task for `delay`. sleep(0ms) yields to the other
/// ready tasks exactly once. Cancel safety: a cancelled sleep throws CancelledError at once.
template <class Rep, class Period>
[[nodiscard]] detail::SleepAwaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept {
    return detail::SleepAwaiter(std::chrono::duration_cast<std::chrono::nanoseconds>(delay));
}
/// asyncio.sleep(delay, result): returns `result` after the delay.
template <class Rep, class Period, class T>
[[nodiscard]] detail::SleepResultAwaiter<T> sleep(std::chrono::duration<Rep, Period> delay, T result) {
    return detail::SleepResultAwaiter<T>(std::chrono::duration_cast<std::chrono::nanoseconds>(delay), std::move(result));
}

}  // namespace aio
