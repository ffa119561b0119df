// aio::sleep — asyncio.sleep.
#pragma once

#include <chrono>
#include <coroutine>
#include <string>

#include "aio/core/event_loop.hpp"
#include "aio/detail/core.hpp"

namespace aio {

namespace detail {
/// The awaiter behind sleep(): a timer node inside the sleeping coroutine's frame, so a sleep
/// allocates nothing. A zero or negative delay just yields one loop iteration.
class SleepAwaiter : public Waiting {
public:
    explicit SleepAwaiter(std::chrono::nanoseconds d) noexcept : delay_(d) { timer_.fire = &on_timer; }
    SleepAwaiter(const SleepAwaiter& o) noexcept : delay_(o.delay_) { timer_.fire = &on_timer; }
    SleepAwaiter& operator=(const SleepAwaiter&) = delete;
    ~SleepAwaiter() { disarm(); }

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() {
        task_->throw_if_must_cancel();
        if (cancelled_) [[unlikely]] task_->throw_cancelled();
    }
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;

private:
    struct Node : TimerNode {
        SleepAwaiter* self;
    };
    static void on_timer(TimerNode* n) noexcept;
    void disarm() noexcept;

    std::chrono::nanoseconds delay_;
    TaskCore* task_ = nullptr;
    bool cancelled_ = false;
    Node timer_{{}, this};
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
