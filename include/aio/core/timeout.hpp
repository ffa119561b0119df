// aio::timeout / timeout_at / wait_for — asyncio.timeout (3.11) and asyncio.wait_for.
//
// C++ has no `async with`: a destructor cannot await, nor turn the CancelledError in flight into
// a TimeoutError. So the scope is explicit: `co_await aio::timeout(50ms).run(work())`. The
// Timeout object can be kept in a variable to call reschedule() from inside the body and
// expired() afterwards, as in Python.
#pragma once

#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/handle.hpp"
#include "aio/core/task.hpp"
#include "aio/detail/ensure.hpp"

namespace aio {

/// asyncio.Timeout: a deadline for the awaitable given to run(). At the deadline the current
/// task is cancelled; run() turns that cancellation into TimeoutError once the body has
/// unwound (so everything the body awaited has finished). A cancellation that came from
/// elsewhere stays a CancelledError.
class Timeout {
public:
    /// A deadline on the loop's clock (seconds, like loop.time()); nullopt = no deadline.
    explicit Timeout(std::optional<double> when) noexcept : when_(when) {}
    Timeout(const Timeout&) = delete;
    Timeout& operator=(const Timeout&) = delete;
    Timeout(Timeout&& o) noexcept : when_(o.when_) {}  // only before run()
    ~Timeout() { disarm(); }

    /// Python Timeout.when().
    [[nodiscard]] std::optional<double> when() const noexcept { return when_; }
    /// Python Timeout.reschedule(when): move (or remove, with nullopt) the deadline.
    void reschedule(std::optional<double> when);
    /// Python Timeout.expired(): the deadline passed while the body ran.
    [[nodiscard]] bool expired() const noexcept { return state_ == State::expiring || state_ == State::expired; }

    /// Runs `aw` (a Task, a TaskHandle, a Future or any awaitable) under this deadline and
    /// returns its result. A Timeout can run one body.
    template <class A>
    Task<detail::await_result_t<A>> run(A aw) {
        using R = detail::await_result_t<A>;
        enter();
        if constexpr (std::is_void_v<R>) {
            try {
                co_await std::move(aw);
            } catch (const CancelledError&) {
                if (exit(true)) throw TimeoutError();
                throw;
            } catch (...) {
                exit(false);
                throw;
            }
            exit(false);
        } else {
            std::optional<R> r;
            try {
                r.emplace(co_await std::move(aw));
            } catch (const CancelledError&) {
                if (exit(true)) throw TimeoutError();
                throw;
            } catch (...) {
                exit(false);
                throw;
            }
            exit(false);
            co_return std::move(*r);
        }
    }

private:
    enum class State : uint8_t { created, entered, expiring, expired, exited };
    void enter();
    bool exit(bool cancelled) noexcept;  // true: raise TimeoutError
    void arm();
    void disarm() noexcept;
    void on_timeout() noexcept;

    std::optional<double> when_;
    State state_ = State::created;
    detail::TaskCore* task_ = nullptr;
    EventLoop* loop_ = nullptr;
    int cancelling_ = 0;
    Handle handle_;
};

/// asyncio.timeout(delay): a Timeout `delay` from now (nullopt: none). Use as
/// `co_await aio::timeout(50ms).run(work())`.
template <class Rep, class Period>
[[nodiscard]] Timeout timeout(std::chrono::duration<Rep, Period> delay) {
    return Timeout(get_running_loop().time() + std::chrono::duration<double>(delay).count());
}
/// asyncio.timeout(None).
[[nodiscard]] inline Timeout timeout(std::nullopt_t) noexcept { return Timeout(std::nullopt); }
/// asyncio.timeout_at(when), `when` on the loop's clock.
[[nodiscard]] inline Timeout timeout_at(std::optional<double> when) noexcept { return Timeout(when); }

namespace detail {
template <class A>
Task<await_result_t<A>> wait_for_impl(A aw, double when) {
    Timeout t(when);
    co_return co_await t.run(std::move(aw));
}

/// wait_for with a timeout <= 0 (CPython 3.11 and 3.12 alike): the awaitable becomes a task that
/// is cancelled before it ever runs; TimeoutError unless it was already done.
template <class H>
Task<typename H::value_type> wait_for_expired(H fut) {
    if (!fut.core_ptr()->done()) {
        fut.cancel();
        MultiWait w(MultiWait::Mode::all_completed, {fut.core_ptr()});  // our own cancellation propagates
        co_await w;
    }
    if (fut.core_ptr()->cancelled()) throw TimeoutError();
    co_return fut.result();
}
}  // namespace detail

/// asyncio.wait_for(aw, timeout): awaits `aw`; at the deadline cancels it, waits until it has
/// really finished, then throws TimeoutError. A timeout <= 0 never starts a coroutine. If `aw` swallows the cancellation and returns a
/// value, that value is returned (CPython 3.11 and 3.12 agree). `aw` runs inline in the
/// calling task (as 3.12 does); a TaskHandle is cancelled through the usual inward propagation.
template <class A, class Rep, class Period>
[[nodiscard]] Task<detail::await_result_t<A>> wait_for(A&& aw, std::chrono::duration<Rep, Period> timeout) {
    if (timeout.count() <= 0) return detail::wait_for_expired(detail::ensure_future(std::forward<A>(aw)));
    double when = get_running_loop().time() + std::chrono::duration<double>(timeout).count();
    return detail::wait_for_impl(std::remove_cvref_t<A>(std::forward<A>(aw)), when);
}

}  // namespace aio
