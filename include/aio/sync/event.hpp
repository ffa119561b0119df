// aio::Event — asyncio.Event: a flag tasks can wait for.
#pragma once

#include <coroutine>
#include <cstddef>
#include <string>

#include "aio/sync/detail/waiters.hpp"

namespace aio {

class Event;

/// Event::stats().
struct EventStats {
    bool is_set = false;
    size_t waiters = 0;  // tasks in wait()
};

namespace detail {
/// The awaiter of Event::wait().
class EventWait final : public SyncWaiter {
public:
    explicit EventWait(Event& e) noexcept : event_(&e) {}
    EventWait(const EventWait& o) noexcept : SyncWaiter(o), event_(o.event_) {}
    inline bool await_ready() const noexcept;
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() {
        if (state_ != State::idle) [[unlikely]] resumed_slow();
    }
    void describe(std::string& out) const override;

private:
    void resumed_slow();
    Event* event_;
};
}  // namespace detail

/// asyncio.Event: set() wakes every task waiting in wait(); once set, wait() returns at once
/// until clear(). Belongs to one event loop at a time; not thread-safe (use
/// loop.call_soon_threadsafe([&] { event.set(); }) from another thread). Non-copyable, non-movable.
class Event {
public:
    Event() noexcept = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    /// Python `event.is_set()`.
    [[nodiscard]] bool is_set() const noexcept { return value_; }
    /// Python `event.set()`: sets the flag and wakes every waiting task (they resume on the next
    /// loop iteration, in the order they started waiting). Setting a set event does nothing.
    void set() noexcept {
        if (value_) return;
        value_ = true;
        if (!waiters_.empty()) detail::wake_all(waiters_, inflight_);
    }
    /// Python `event.clear()`. Tasks already woken by set() still return from wait().
    void clear() noexcept { value_ = false; }
    /// `co_await event.wait()` — Python `await event.wait()`. Returns at once if the flag is set;
    /// otherwise resumes on the loop iteration after the set() that woke it.
    /// Cancel safety: nothing is consumed, so a cancelled wait() loses nothing (the flag stays as
    /// it is; other waiters are woken all the same).
    [[nodiscard]] detail::EventWait wait() noexcept { return detail::EventWait(*this); }
    /// aiocpp only (no Python counterpart): a snapshot for inspecting a stuck program.
    [[nodiscard]] EventStats stats() const noexcept { return {value_, waiters_.size()}; }

private:
    friend class detail::EventWait;
    bool value_ = false;
    detail::WaiterList waiters_;   // tasks in wait()
    detail::WaiterList inflight_;  // woken by set(), not resumed yet
};

inline bool detail::EventWait::await_ready() const noexcept { return event_->value_; }

}  // namespace aio
