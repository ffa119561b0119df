// aio::Task<T> — the return type of every coroutine — and aio::TaskHandle<T>, the handle to a
// started task (Python: a coroutine object, and asyncio.Task).
//
//   Task<T>        lazy and move-only. `co_await task()` runs it inline in the awaiting task,
//                  by symmetric transfer (no trip through the loop), exactly like `await coro()`.
//   TaskHandle<T>  what create_task returns: a copyable reference to a task the loop drives.
//                  The loop keeps a started task alive until it finishes, held or not, so the
//                  Python trap "keep a reference or your task may vanish" does not exist.
#pragma once

#include <coroutine>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/detail/await_future.hpp"
#include "aio/detail/core.hpp"

namespace aio {

template <class T = void>
class Task;

namespace detail {

template <class T>
class TaskPromise;

// Coroutine frames come from per-thread free lists carved out of 64 KiB slabs: creating a task
// is then a handful of instructions instead of a trip through malloc (and no malloc header
// per frame, which matters for a million sleeping tasks). Disabled under sanitizers so that
// ASan still sees every frame's lifetime.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AIO_FRAME_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AIO_FRAME_POOL 0
#endif
#endif
#ifndef AIO_FRAME_POOL
#define AIO_FRAME_POOL 1
#endif

#if AIO_FRAME_POOL
inline constexpr std::size_t kFrameClasses = 64;  // frames up to 1 KiB are pooled, by 16 bytes
struct FrameBlock {
    FrameBlock* next;
};
/// Trivially constructible and destructible, so thread_local access needs no guard.
struct FramePool {
    FrameBlock* heads[kFrameClasses];
    uint32_t counts[kFrameClasses];  // blocks on each list (capped: see frame_free_overflow)
    char* bump;
    char* bump_end;
    std::size_t next_slab;
};
inline thread_local FramePool t_frame_pool{};
/// A thread keeps at most this many free blocks per size class; beyond it, its list goes to a
/// shared pool as one chain that other threads refill from, so memory freed on one thread and
/// allocated on another (producer/consumer) is recycled instead of piling up.
inline constexpr uint32_t kFrameListCap = 16384;
void* frame_alloc_slow(std::size_t cls);
void frame_free_overflow(void* p, std::size_t cls) noexcept;

inline void* frame_alloc(std::size_t n) {
    const std::size_t c = (n + 15) >> 4;
    if (c < kFrameClasses) [[likely]] {
        FramePool& p = t_frame_pool;
        if (FrameBlock* b = p.heads[c]) [[likely]] {
            p.heads[c] = b->next;
            --p.counts[c];
            return b;
        }
        return frame_alloc_slow(c);
    }
    return ::operator new(n);
}
inline void frame_free(void* ptr, std::size_t n) noexcept {
    const std::size_t c = (n + 15) >> 4;
    if (c < kFrameClasses) [[likely]] {
        FramePool& p = t_frame_pool;
        if (p.counts[c] >= kFrameListCap) [[unlikely]] return frame_free_overflow(ptr, c);
        auto* b = static_cast<FrameBlock*>(ptr);
        b->next = p.heads[c];
        p.heads[c] = b;
        ++p.counts[c];
        return;
    }
    ::operator delete(ptr);
}
#else
inline void* frame_alloc(std::size_t n) { return ::operator new(n); }
inline void frame_free(void* p, std::size_t) noexcept { ::operator delete(p); }
#endif

/// Report a Task destroyed without being awaited or started (Python's RuntimeWarning).
void report_never_awaited(const PromiseBase& p) noexcept;
/// A root task's coroutine returned or threw: record the outcome, wake awaiters, drop the
/// loop's reference (which may free the frame: the caller must not touch it afterwards).
void finish_root(TaskCore& t) noexcept;

template <class T>
struct PromiseReturn {
    ResultSlot<T> result;
    template <class U = T>
    void return_value(U&& v) { result.set(std::forward<U>(v)); }
};
template <>
struct PromiseReturn<void> {
    [[no_unique_address]] ResultSlot<void> result;
    void return_void() noexcept {}
};

template <class T>
class TaskPromise final : public PromiseBase, public TaskCore, public PromiseReturn<T> {
public:
    explicit TaskPromise(SourceLoc loc = SourceLoc::current()) noexcept : TaskCore(nullptr) { loc_ = loc; }

    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }

    Task<T> get_return_object() noexcept;
    std::suspend_always initial_suspend() noexcept { return {}; }

    struct FinalAwaiter {
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<TaskPromise> h) noexcept {
            TaskPromise& p = h.promise();
            if (p.is_task()) {
                finish_root(p);  // may destroy the frame
                return std::noop_coroutine();
            }
            if (TaskCore* t = tls_current_task) t->innermost_ = p.parent_;
            return p.continuation_;
        }
        void await_resume() const noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept {
        try {
            set_exception_ptr(std::current_exception());
        } catch (...) {
            std::terminate();  // out of memory while recording an exception
        }
    }

    void destroy_self() noexcept override { std::coroutine_handle<TaskPromise>::from_promise(*this).destroy(); }

    /// For the inline await: the result (moved: the frame dies right after), or the exception.
    T take() {
        if (has_exception()) std::rethrow_exception(stored_exception());
        if constexpr (!std::is_void_v<T>) return std::move(*this->result.value);
    }
};

}  // namespace detail

/// A coroutine returning T (Python: the coroutine object `coro()` creates). Lazy: nothing runs
/// until it is awaited (inline, in the awaiting task) or handed to create_task / gather / run.
/// Move-only; destroying one never started reports "coroutine ... was never awaited".
template <class T>
class [[nodiscard]] Task {
public:
    using promise_type = detail::TaskPromise<T>;
    using value_type = T;
    using handle_type = std::coroutine_handle<promise_type>;

    Task() noexcept = default;
    explicit Task(handle_type h) noexcept : h_(h) {}
    Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    Task& operator=(Task&& o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~Task() { reset(); }

    /// True while this object holds a coroutine not yet handed over.
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(h_); }
    /// Gives up ownership of the coroutine frame (for create_task and friends).
    handle_type release() noexcept { return std::exchange(h_, {}); }

    struct Awaiter {
        handle_type child;
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
            auto& cp = child.promise();
            cp.continuation_ = parent;
            cp.started_ = true;
            if constexpr (std::is_base_of_v<detail::PromiseBase, P>) cp.parent_ = &parent.promise();
            if (detail::TaskCore* t = detail::tls_current_task) t->innermost_ = &cp;
            return child;
        }
        T await_resume() { return child.promise().take(); }
    };
    /// `co_await task()` or `co_await std::move(task)`: runs the coroutine inline.
    Awaiter operator co_await() && noexcept { return Awaiter{h_}; }

private:
    void reset() noexcept {
        if (h_) {
            if (!h_.promise().started_) detail::report_never_awaited(h_.promise());
            h_.destroy();
            h_ = {};
        }
    }
    handle_type h_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}
template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};
}  // namespace detail

template <class T>
inline constexpr bool is_task_v = detail::is_task<std::remove_cvref_t<T>>::value;

/// An untyped handle to a started task (Python: asyncio.Task, minus the result's type).
/// What current_task() and all_tasks() return. Copyable; compares by identity.
class TaskRef {
public:
    TaskRef() noexcept = default;
    explicit TaskRef(detail::TaskCore* t) noexcept : ref_(t) {}
    TaskRef(detail::TaskCore* t, bool adopt) noexcept : ref_(t, adopt) {}

    /// Python Task.cancel(msg): request cancellation; false if the task is already done.
    bool cancel() { return core().cancel(nullptr); }
    bool cancel(const std::string& msg) { return core().cancel(&msg); }
    /// Python Task.cancelled().
    [[nodiscard]] bool cancelled() const { return core().cancelled(); }
    /// Python Task.done().
    [[nodiscard]] bool done() const { return core().done(); }
    /// Python Task.cancelling(): pending cancellation requests.
    [[nodiscard]] int cancelling() const { return core().cancelling(); }
    /// Python Task.uncancel(): returns the remaining count.
    int uncancel() { return core().uncancel(); }
    [[nodiscard]] std::string get_name() const { return core().name(); }
    void set_name(std::string name) { core().set_name(std::move(name)); }
    /// Python Task.exception(): null if it succeeded; throws CancelledError if cancelled,
    /// InvalidStateError if not done.
    [[nodiscard]] std::exception_ptr exception() const;
    /// Python Task.add_done_callback(fn): `fn(TaskRef)` or `fn()` runs (via call_soon) once the
    /// task is done. Returns an id for remove_done_callback (C++ callables are not comparable).
    template <class F>
    uint64_t add_done_callback(F fn) {
        auto wrap = [fn = std::move(fn)](detail::FutureCore& f) mutable {
            if constexpr (std::is_invocable_v<F&, TaskRef>) fn(TaskRef(static_cast<detail::TaskCore*>(&f)));
            else fn();
        };
        return detail::add_done_callback(core(), new detail::DoneCallbackImpl<decltype(wrap)>(std::move(wrap)));
    }
    /// Python Task.remove_done_callback: returns the number removed (0 for an empty handle).
    size_t remove_done_callback(uint64_t id) noexcept {
        return ref_ ? detail::remove_done_callback(*ref_.get(), id) : 0;
    }
    /// The loop the task runs on (Python: get_loop()).
    [[nodiscard]] EventLoop& get_loop() const { return *core().loop(); }

    explicit operator bool() const noexcept { return static_cast<bool>(ref_); }
    friend bool operator==(const TaskRef& a, const TaskRef& b) noexcept { return a.ref_.get() == b.ref_.get(); }
    [[nodiscard]] detail::TaskCore* core_ptr() const noexcept { return static_cast<detail::TaskCore*>(ref_.get()); }

    /// Awaiting an untyped handle waits for the task and rethrows its exception.
    auto operator co_await() const;

protected:
    detail::TaskCore& core() const {
        if (!ref_) throw InvalidStateError("empty task handle");
        return *static_cast<detail::TaskCore*>(ref_.get());
    }
    detail::CoreRef ref_;
};

/// A handle to a started task producing T (Python: asyncio.Task). Awaitable any number of
/// times, by any number of tasks, before or after it finishes.
template <class T>
class TaskHandle : public TaskRef {
public:
    using value_type = T;
    TaskHandle() noexcept = default;
    TaskHandle(detail::TaskPromise<T>* p, bool adopt) noexcept : TaskRef(p, adopt) {}

    /// Python Task.result(): the value; rethrows the task's exception; CancelledError if it was
    /// cancelled; InvalidStateError if it is not done yet.
    T result() const {
        auto& p = promise();
        p.check_done("Result is not set.");
        p.rethrow_if_failed();
        return p.result.get();
    }

    struct Awaiter : detail::FutureWait {
        explicit Awaiter(detail::FutureCore* f) noexcept : FutureWait(f) {}
        bool await_ready() const noexcept { return ready(); }
        void await_suspend(std::coroutine_handle<> h) { suspend(h); }
        T await_resume() {
            resumed();
            auto* p = static_cast<detail::TaskPromise<T>*>(static_cast<detail::TaskCore*>(future()));
            p->rethrow_if_failed();
            return p->result.get();
        }
    };
    /// Waits for the task (cancelling the waiter cancels the task: asyncio semantics).
    Awaiter operator co_await() const { return Awaiter(&core()); }

private:
    detail::TaskPromise<T>& promise() const { return static_cast<detail::TaskPromise<T>&>(core()); }
};

inline auto TaskRef::operator co_await() const {
    struct Awaiter : detail::FutureWait {
        explicit Awaiter(detail::FutureCore* f) noexcept : FutureWait(f) {}
        bool await_ready() const noexcept { return ready(); }
        void await_suspend(std::coroutine_handle<> h) { suspend(h); }
        void await_resume() {
            resumed();
            future()->rethrow_if_failed();
        }
    };
    return Awaiter(&core());
}

namespace detail {
/// Adopts a frame as a root task of `loop`: registers it and schedules its first step.
inline void start_root(EventLoop& loop, TaskCore& t) {
    t.loop_ = &loop;
    t.is_task_ = true;
    t.refs_ = 2;  // the loop's, until the task finishes, and the returned handle's
    t.id_ = ++tls_next_task_id;
    LoopAccess::register_task(loop, &t);
    t.schedule();
}

/// Turns a Task into a started task on `loop` (the body of create_task).
template <class T>
TaskHandle<T> start_task(EventLoop& loop, Task<T>&& task) {
    LoopAccess::check_usable(loop, "create_task");
    if (!task.valid()) [[unlikely]] throw InvalidStateError("create_task: the Task is empty (moved from or already started)");
    auto h = task.release();
    TaskPromise<T>& p = h.promise();
    p.resume_ = h;
    p.innermost_ = &p;
    start_root(loop, p);
    return TaskHandle<T>(&p, true);
}

/// Keeps a callable and its arguments alive inside the task's own frame: the safe form of
/// "create a task from a lambda" (a coroutine lambda's captures live in the lambda object,
/// not in the coroutine frame, so a temporary lambda dies before its task runs).
template <class F, class... Args>
auto invoke_owned(F f, Args... args) -> Task<typename std::invoke_result_t<F&, Args&...>::value_type> {
    co_return co_await std::invoke(f, args...);
}
}  // namespace detail

template <class T>
TaskHandle<T> EventLoop::create_task(Task<T> task) {
    return detail::start_task(*this, std::move(task));
}
template <class T>
TaskHandle<T> EventLoop::create_task(Task<T> task, std::string name) {
    auto h = detail::start_task(*this, std::move(task));
    h.set_name(std::move(name));
    return h;
}

/// asyncio.create_task(coro): schedule `task` on the running loop.
template <class T>
TaskHandle<T> create_task(Task<T> task) {
    EventLoop* loop = detail::tls_running_loop;
    if (!loop) [[unlikely]] loop = &get_running_loop();  // throws RuntimeError
    return detail::start_task(*loop, std::move(task));
}
/// asyncio.create_task(coro, name=...).
template <class T>
TaskHandle<T> create_task(Task<T> task, std::string name) {
    auto h = create_task(std::move(task));
    h.set_name(std::move(name));
    return h;
}

/// The safe form for callables: create_task(fn, args...) stores `fn` and copies of `args`
/// inside the task, then runs fn(args...). Use it for coroutine lambdas with captures.
template <class F, class... Args>
    requires(!is_task_v<F> && std::is_invocable_v<std::decay_t<F>&, std::decay_t<Args>&...>)
auto create_task(F&& fn, Args&&... args) {
    return create_task(detail::invoke_owned(std::decay_t<F>(std::forward<F>(fn)), std::decay_t<Args>(std::forward<Args>(args))...));
}

/// asyncio.current_task(): the task running now (empty handle outside a task).
TaskRef current_task() noexcept;
/// asyncio.all_tasks(): unfinished tasks of the running loop.
std::vector<TaskRef> all_tasks();

template <class T>
T EventLoop::run_until_complete(Task<T> task) {
    return run_until_complete(create_task(std::move(task)));
}
template <class T>
T EventLoop::run_until_complete(const TaskHandle<T>& task) {
    run_until_done(*task.core_ptr());
    return task.result();
}

}  // namespace aio
