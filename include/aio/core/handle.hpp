// asyncio.Handle and asyncio.TimerHandle: what call_soon / call_later / call_at return.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

#include "aio/detail/core.hpp"

namespace aio {

namespace detail {

/// A scheduled callback. Reference counted atomically because call_soon_threadsafe hands a
/// handle to another thread; everything else about it happens on the loop's thread.
struct CallbackState : Runnable {
    std::atomic<uint32_t> refs{1};
    std::atomic<bool> cancelled{false};
    struct Timer : TimerNode {
        CallbackState* self = nullptr;
    };
    Timer timer;  // used by call_later / call_at only
    EventLoop* loop = nullptr;

    CallbackState() {
        run_fn = &run;
        drop_fn = [](Runnable* r) noexcept { static_cast<CallbackState*>(r)->release(); };
        timer.self = this;
    }
    CallbackState(const CallbackState&) = delete;
    CallbackState& operator=(const CallbackState&) = delete;
    virtual ~CallbackState() = default;
    virtual void invoke() = 0;

    // Callbacks come from the same per-thread pools as coroutine frames (call_later in a loop
    // is as hot as create_task). Sized delete: the pool needs the dynamic size.
    static void* operator new(std::size_t n);
    static void operator delete(void* p, std::size_t n) noexcept;

    void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
    static void run(Runnable* r);  // the ready queue's entry point; consumes one reference
};

template <class F>
struct CallbackImpl final : CallbackState {
    explicit CallbackImpl(F&& f) : fn(std::move(f)) {}
    explicit CallbackImpl(const F& f) : fn(f) {}
    void invoke() override { fn(); }
    F fn;
};

template <class F>
CallbackState* make_callback(F&& f) {
    return new CallbackImpl<std::decay_t<F>>(std::forward<F>(f));
}

}  // namespace detail

/// asyncio.Handle: a callback scheduled on a loop; cancel() stops it from running.
/// Copyable; copies refer to the same callback.
class Handle {
public:
    Handle() noexcept = default;
    explicit Handle(detail::CallbackState* s) noexcept : s_(s) {}  // adopts one reference
    Handle(const Handle& o) noexcept : s_(o.s_) {
        if (s_) s_->add_ref();
    }
    Handle(Handle&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Handle& operator=(Handle o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~Handle() {
        if (s_) s_->release();
    }

    /// Python Handle.cancel(): the callback will not run. A timer is removed from the loop at
    /// once, so call it on the loop's thread (a call_soon_threadsafe handle may be cancelled
    /// from any thread).
    void cancel() noexcept;
    /// Python Handle.cancelled().
    [[nodiscard]] bool cancelled() const noexcept { return s_ && s_->cancelled.load(std::memory_order_acquire); }
    /// False for a default-constructed handle.
    explicit operator bool() const noexcept { return s_ != nullptr; }

protected:
    detail::CallbackState* s_ = nullptr;
};

/// asyncio.TimerHandle: a Handle with a deadline.
class TimerHandle : public Handle {
public:
    using Handle::Handle;
    /// Python TimerHandle.when(): the deadline on the loop's clock (seconds, like loop.time()).
    [[nodiscard]] double when() const noexcept { return s_ ? static_cast<double>(s_->timer.when) * 1e-9 : 0.0; }
};

}  // namespace aio
