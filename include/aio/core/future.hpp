// aio::Future<T> — asyncio.Future: a result that will exist later, set by a callback, awaited
// by any number of tasks. The bridge from callback-style code to coroutines.
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/detail/await_future.hpp"

namespace aio {

namespace detail {
template <class T>
class FutureState final : public FutureCore {
public:
    explicit FutureState(EventLoop* loop) : FutureCore(loop) { init_future_id(*this); }
    ResultSlot<T> result;
    void destroy_self() noexcept override { delete this; }
};
}  // namespace detail

/// asyncio.Future. A copyable handle: copies refer to the same future. Use it on its loop's
/// thread only (from other threads, go through loop.call_soon_threadsafe).
template <class T = void>
class Future {
public:
    using value_type = T;
    /// An empty handle; every operation on it throws InvalidStateError.
    Future() noexcept = default;
    /// A new pending future on `loop` (Python: loop.create_future()).
    explicit Future(EventLoop& loop) : ref_(new detail::FutureState<T>(&loop), true) {}

    /// Python Future.set_result(value). Throws InvalidStateError if already done.
    template <class U = T>
        requires(!std::is_void_v<T>)
    void set_result(U&& value) {
        auto& s = state();
        check_pending(s);
        s.result.set(std::forward<U>(value));
        s.finish_value();
    }
    /// Python Future.set_result(None).
    void set_result()
        requires std::is_void_v<T>
    {
        auto& s = state();
        check_pending(s);
        s.finish_value();
    }
    /// Python Future.set_exception(exc). Throws InvalidStateError if already done, and
    /// std::invalid_argument for a null exception_ptr or a CancelledError (use cancel()).
    void set_exception(std::exception_ptr e) {
        auto& s = state();
        check_pending(s);
        detail::check_settable_exception(e);
        s.finish_exception(std::move(e));
    }
    /// Python Future.cancel(msg): false if already done.
    bool cancel() { return state().cancel_future(nullptr); }
    bool cancel(const std::string& msg) { return state().cancel_future(&msg); }
    [[nodiscard]] bool done() const { return state().done(); }
    [[nodiscard]] bool cancelled() const { return state().cancelled(); }
    /// Python Future.result(): the value, the exception rethrown, CancelledError, or
    /// InvalidStateError when not done.
    T result() const {
        auto& s = state();
        s.check_done("Result is not set.");
        s.rethrow_if_failed();
        return s.result.get();
    }
    /// Python Future.exception().
    [[nodiscard]] std::exception_ptr exception() const {
        auto& s = state();
        s.check_done("Exception is not set.");
        if (s.cancelled()) std::rethrow_exception(s.make_cancelled_error());
        s.mark_retrieved();
        return s.stored_exception();
    }
    /// Python Future.add_done_callback(fn): `fn(Future<T>)` or `fn()`, run via call_soon.
    template <class F>
    uint64_t add_done_callback(F fn) {
        auto wrap = [fn = std::move(fn)](detail::FutureCore& f) mutable {
            if constexpr (std::is_invocable_v<F&, Future<T>>) fn(Future<T>(&f));
            else fn();
        };
        return detail::add_done_callback(state(), new detail::DoneCallbackImpl<decltype(wrap)>(std::move(wrap)));
    }
    /// Python Future.remove_done_callback: returns the number removed.
    size_t remove_done_callback(uint64_t id) noexcept { return ref_ ? detail::remove_done_callback(*ref_.get(), id) : 0; }
    [[nodiscard]] EventLoop& get_loop() const { return *state().loop(); }
    explicit operator bool() const noexcept { return static_cast<bool>(ref_); }
    friend bool operator==(const Future& a, const Future& b) noexcept { return a.ref_.get() == b.ref_.get(); }
    [[nodiscard]] detail::FutureCore* core_ptr() const noexcept { return ref_.get(); }

    struct Awaiter : detail::FutureWait {
        explicit Awaiter(detail::FutureCore* f) noexcept : FutureWait(f) {}
        bool await_ready() const noexcept { return ready(); }
        void await_suspend(std::coroutine_handle<> h) { suspend(h); }
        T await_resume() {
            resumed();
            auto* s = static_cast<detail::FutureState<T>*>(future());
            s->rethrow_if_failed();
            return s->result.get();
        }
    };
    /// Waits for the result. Cancelling the waiting task cancels this future (asyncio semantics);
    /// wrap it in aio::shield() to prevent that.
    Awaiter operator co_await() const { return Awaiter(&state()); }

private:
    explicit Future(detail::FutureCore* f) noexcept : ref_(f) {}
    detail::FutureState<T>& state() const {
        if (!ref_) throw InvalidStateError("empty Future");
        return *static_cast<detail::FutureState<T>*>(ref_.get());
    }
    static void check_pending(detail::FutureCore& s) {
        if (s.done()) throw InvalidStateError("invalid state: the future is already done");
    }
    detail::CoreRef ref_;
};

template <class T>
Future<T> EventLoop::create_future() {
    check_usable("create_future");
    return Future<T>(*this);
}

/// loop.create_future() on the running loop.
template <class T = void>
Future<T> create_future() {
    return get_running_loop().create_future<T>();
}

template <class T>
T EventLoop::run_until_complete(const Future<T>& future) {
    run_until_done(*future.core_ptr());
    return future.result();
}

}  // namespace aio
