// Bridging asyncio and threads: run blocking work on an executor from a coroutine, await a
// concurrent future, and submit a coroutine to a loop from another thread.
//
//   Python                                         aiocpp
//   await loop.run_in_executor(ex, fn, *args)      co_await aio::run_in_executor(&ex, fn, args...)
//   await loop.run_in_executor(None, fn, *args)    co_await aio::run_in_executor(nullptr, fn, args...)
//   await asyncio.to_thread(fn, *args)             co_await aio::to_thread(fn, args...)
//   asyncio.wrap_future(cf)                        aio::wrap_future(cf)
//   asyncio.run_coroutine_threadsafe(coro, loop)   aio::run_coroutine_threadsafe(coro(), loop)
//
// run_in_executor is a free function, not an EventLoop method: the loop is the core layer and
// must not depend on this one (docs/python-to-cpp.md).
//
// Results travel back to the loop through call_soon_threadsafe. The loop side and the thread
// side are joined by a small shared object whose lock is held while posting, and which the loop
// side closes when its future completes or is freed: a job finishing after its awaiting task was
// cancelled (or after the task, its loop, and aio::run are gone) posts nothing.
#pragma once

#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/future.hpp"
#include "aio/core/task.hpp"
#include "aio/threads/concurrent_future.hpp"
#include "aio/threads/thread_pool.hpp"

namespace aio {

namespace detail {

/// A thread-safe way to post to a loop that may stop listening: the loop side calls close()
/// (on its thread) when it no longer wants anything; post() then does nothing. Reference counted.
class LoopLink {
public:
    explicit LoopLink(EventLoop& loop) noexcept : loop_(&loop) {}
    LoopLink(const LoopLink&) = delete;
    LoopLink& operator=(const LoopLink&) = delete;

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
    }
    /// From any thread: schedules `fn` on the loop unless the link is closed (or the loop is).
    /// The lock is recursive: when the loop refuses `fn` (closed), `fn` is destroyed in here,
    /// and what it owns may close this link or post again.
    template <class F>
    bool post(F&& fn) noexcept {
        add_ref();  // what `fn` owns may hold the last other reference
        bool posted = false;
        {
            std::lock_guard lk(mu_);
            if (loop_) {
                try {
                    loop_->call_soon_threadsafe(std::forward<F>(fn));
                    posted = true;
                } catch (...) {
                    loop_ = nullptr;  // closed loop (RuntimeError) or out of memory: nothing more will get there
                }
            }
        }
        release();
        return posted;
    }
    /// No more posts after this returns (a post in progress finishes first).
    void close() noexcept {
        std::lock_guard lk(mu_);
        loop_ = nullptr;
    }

protected:
    virtual void destroy() noexcept = 0;
    ~LoopLink() = default;

private:
    std::recursive_mutex mu_;
    EventLoop* loop_;
    std::atomic<uint32_t> refs_{1};
};

/// Owns one reference to a link; move-only, so a lambda holding it releases exactly once,
/// whether the loop runs it or drops it.
template <class L>
class LinkRef {
public:
    explicit LinkRef(L* l) noexcept : l_(l) {}  // adopts
    LinkRef(LinkRef&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    LinkRef& operator=(LinkRef&&) = delete;
    ~LinkRef() {
        if (l_) l_->release();
    }
    L* operator->() const noexcept { return l_; }
    L* get() const noexcept { return l_; }

private:
    L* l_;
};

/// wrap_future's link: a callback on the concurrent future (fired in the completing thread)
/// that posts the outcome to the loop, and the loop-side view of the asyncio future.
template <class R>
class WrapLink final : public LoopLink, public CFCallback {
public:
    WrapLink(EventLoop& loop, ConcurrentFuture<R> src, FutureState<R>* dest) noexcept
        : LoopLink(loop), src_(std::move(src)), dest_(dest) {}

    /// Any thread: the concurrent future is done.
    void fire(CFCore&) noexcept override {
        add_ref();
        post([ref = LinkRef<WrapLink>(this)] { ref->deliver(); });
        release();  // the callback list's reference
    }

    /// Loop thread: copies the outcome into the asyncio future, unless that one is gone or done.
    void deliver() noexcept {
        if (!dest_ || dest_->done()) return;
        CFState<R>* cs = src_.state_ptr();
        if (cs->status() == CFCore::cancelled) {
            dest_->cancel_future(nullptr);
        } else if (const std::exception_ptr& e = cs->stored_exception()) {
            dest_->finish_exception(e);  // a CancelledError raised by the job cancels it, as in asyncio
        } else if constexpr (std::is_void_v<R>) {
            dest_->finish_value();
        } else {
            try {
                dest_->result.set(cs->get());
            } catch (...) {
                dest_->finish_exception(std::current_exception());
                return;
            }
            dest_->finish_value();
        }
    }

    /// Loop thread: the asyncio future completed (or is being freed).
    void dest_done(bool cancelled) noexcept {
        if (cancelled) src_.cancel();  // only succeeds while the job is pending
        close();
        dest_ = nullptr;
    }

    // The core's per-thread slabs (no malloc, no page fault per call).
    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }

private:
    void destroy() noexcept override { delete this; }
    ConcurrentFuture<R> src_;
    FutureState<R>* dest_;  // loop thread only; valid while the watcher lives
};

/// The done-callback on the asyncio future: cancels the job if the future was cancelled, and
/// tells the link the loop side is finished — also when the future is freed uncompleted.
template <class R>
class WrapWatcher {
public:
    explicit WrapWatcher(WrapLink<R>* l) noexcept : l_(l) {}
    WrapWatcher(WrapWatcher&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    WrapWatcher& operator=(WrapWatcher&&) = delete;
    ~WrapWatcher() {
        if (l_) {
            l_->dest_done(false);
            l_->release();
        }
    }
    void operator()(Future<R> f) {
        if (WrapLink<R>* l = std::exchange(l_, nullptr)) {
            l->dest_done(f.cancelled());
            l->release();
        }
    }

private:
    WrapLink<R>* l_;
};

template <class R>
Future<R> wrap_future_on(EventLoop& loop, ConcurrentFuture<R> src) {
    if (!src) throw InvalidStateError("wrap_future: empty ConcurrentFuture");
    Future<R> dest = loop.create_future<R>();
    CFState<R>* cs = src.state_ptr();
    auto* link = new WrapLink<R>(loop, std::move(src), static_cast<FutureState<R>*>(dest.core_ptr()));
    link->add_ref();  // one for the watcher, one for the concurrent future's callback list
    try {
        dest.add_done_callback(WrapWatcher<R>(link));
    } catch (...) {
        link->release();
        link->release();
        throw;
    }
    // Python: _chain_future; already done or not, the outcome arrives through the loop.
    if (!cs->add_callback(link)) link->fire(*cs);
    return dest;
}

/// The loop's default executor, created on first use as Python does:
/// ThreadPoolExecutor(thread_name_prefix="asyncio"), registered with set_default_executor so that
/// aio::run shuts it down (waiting for its jobs) and close() shuts it down without waiting.
Executor& default_executor_of(EventLoop& loop);

/// run_coroutine_threadsafe's link: posts the task's cancellation when the concurrent future is
/// cancelled; knows the task while it exists (loop thread only).
class CoroLink final : public LoopLink, public CFCallback {
public:
    explicit CoroLink(EventLoop& loop) noexcept : LoopLink(loop) {}
    void fire(CFCore& f) noexcept override;
    TaskCore* task_ = nullptr;  // loop thread only

private:
    void destroy() noexcept override { delete this; }
};

/// Held by the coroutine run on the loop (as a parameter, so it dies with the frame even when the
/// body never runs), or by the lambda that starts it: when it goes, the link closes, and a
/// future nobody completed is cancelled (the loop dropped the work at close).
template <class R>
class CoroGuard {
public:
    CoroGuard(CoroLink* l, ConcurrentFuture<R> f) noexcept : l_(l), f_(std::move(f)) {}
    CoroGuard(CoroGuard&& o) noexcept : l_(std::exchange(o.l_, nullptr)), f_(std::move(o.f_)) {}
    CoroGuard& operator=(CoroGuard&&) = delete;
    ~CoroGuard() {
        if (!l_) return;
        l_->task_ = nullptr;
        l_->close();
        l_->release();
        if (f_ && !f_.done()) f_.cancel();
    }
    CFState<R>* state() const noexcept { return f_.state_ptr(); }
    CoroLink* link() const noexcept { return l_; }

private:
    CoroLink* l_;
    ConcurrentFuture<R> f_;
};

template <class R>
Task<void> run_threadsafe_body(Task<R> task, CoroGuard<R> guard) {
    CFState<R>* cs = guard.state();
    try {
        if constexpr (std::is_void_v<R>) {
            co_await std::move(task);
            cs->try_set_value();
        } else {
            cs->try_set_value(co_await std::move(task));
        }
    } catch (const CancelledError&) {
        cs->cancel();
        throw;
    } catch (...) {
        cs->try_set_exception(std::current_exception());
    }
}

template <class T>
struct is_aio_task : std::false_type {};
template <class T>
struct is_aio_task<Task<T>> : std::true_type {};
}  // namespace detail

/// asyncio.wrap_future(cf): an aio::Future on the running loop that completes (on the loop's
/// thread) with the concurrent future's outcome. Cancelling it — or the task awaiting it —
/// cancels the concurrent future if its job has not started; a running job finishes in its
/// thread and its result is dropped.
template <class R>
[[nodiscard]] Future<R> wrap_future(ConcurrentFuture<R> cf) {
    return detail::wrap_future_on(get_running_loop(), std::move(cf));
}
/// asyncio.wrap_future(cf, loop=loop), called on that loop's thread.
template <class R>
[[nodiscard]] Future<R> wrap_future(ConcurrentFuture<R> cf, EventLoop& loop) {
    return detail::wrap_future_on(loop, std::move(cf));
}

/// loop.run_in_executor(executor, fn, *args) on the running loop: submits fn(args...) now
/// (arguments copied) and returns an aio::Future for its result. `executor` null means the
/// loop's default executor (a ThreadPoolExecutor created on first use, shut down by aio::run).
/// Throws RuntimeError if the executor is shut down, std::invalid_argument if it cannot run
/// callables. Cancellation: as wrap_future.
template <class F, class... A>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
[[nodiscard]] auto run_in_executor(Executor* executor, F&& fn, A&&... args) {
    using R = detail::call_result_t<F, A...>;
    static_assert(!detail::is_aio_task<R>::value,
                  "run_in_executor: fn returns an aio::Task - a coroutine runs on a loop; co_await it, or use run_coroutine_threadsafe");
    EventLoop& loop = get_running_loop();
    if (!executor) executor = &detail::default_executor_of(loop);
    auto* sink = dynamic_cast<detail::JobSink*>(executor);
    if (!sink) throw std::invalid_argument("run_in_executor: this executor does not run callables");
    return detail::wrap_future_on(loop, detail::submit_call(*sink, std::forward<F>(fn), std::forward<A>(args)...));
}
/// run_in_executor with an executor reference.
template <class F, class... A>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
[[nodiscard]] auto run_in_executor(Executor& executor, F&& fn, A&&... args) {
    return run_in_executor(&executor, std::forward<F>(fn), std::forward<A>(args)...);
}

/// asyncio.to_thread(fn, *args): runs fn(args...) on the loop's default executor; a coroutine,
/// so nothing is submitted until it is awaited (or started as a task).
template <class F, class... A>
    requires std::is_invocable_v<F, A...>
Task<std::invoke_result_t<F, A...>> to_thread(F fn, A... args) {
    co_return co_await run_in_executor(nullptr, std::move(fn), std::move(args)...);
}

/// asyncio.run_coroutine_threadsafe(coro, loop): from any thread but the loop's, starts `task`
/// on `loop` and returns a ConcurrentFuture for its result. Cancelling that future cancels the
/// task. If the loop closes before the task finishes, the future is cancelled. Throws
/// RuntimeError if the loop is closed. Blocking on the future from the loop's own thread throws
/// RuntimeError instead of deadlocking.
template <class R>
ConcurrentFuture<R> run_coroutine_threadsafe(Task<R> task, EventLoop& loop) {
    if (!task.valid()) throw InvalidStateError("run_coroutine_threadsafe: the Task is empty");
    auto cf = ConcurrentFuture<R>::create();
    cf.state_ptr()->owner_loop_ = &loop;
    auto* link = new detail::CoroLink(loop);
    link->add_ref();  // one for the guard, one for the cancellation callback
    if (!cf.state_ptr()->add_callback(link)) link->release();  // cannot happen: cf is new
    detail::CoroGuard<R> guard(link, cf);
    const bool posted = link->post([t = std::move(task), g = std::move(guard)]() mutable {
        detail::CoroLink* l = g.link();
        auto h = get_running_loop().create_task(detail::run_threadsafe_body(std::move(t), std::move(g)));
        l->task_ = h.core_ptr();  // before its first step: a cancellation arriving now still counts
    });
    // Not posted (closed loop): the lambda is gone, and its guard cancelled the future.
    if (!posted) throw RuntimeError("run_coroutine_threadsafe: Event loop is closed");
    return cf;
}

}  // namespace aio
