// aio::EventLoop — asyncio's event loop: one per thread, driving callbacks, timers, I/O
// readiness, signals and coroutine tasks.
//
// One iteration (EventLoop::run_once) does what asyncio's BaseEventLoop._run_once does: poll the
// OS for I/O (without blocking when work is ready), move due timers to the ready queue, then run
// exactly the callbacks that were ready when the iteration began — work scheduled meanwhile
// waits for the next iteration, which is why `sleep(0)` lets every other ready task run once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "aio/core/errors.hpp"
#include "aio/core/executor.hpp"
#include "aio/core/handle.hpp"
#include "aio/core/io_operation.hpp"
#include "aio/detail/core.hpp"
#include "aio/detail/queues.hpp"

namespace aio {

template <class T>
class Task;
template <class T = void>
class TaskHandle;
template <class T>
class Future;

/// The kernel interface a loop waits on (uvloop has one, libuv's; Tokio chooses per build).
enum class Backend {
    /// AIO_BACKEND=io_uring|epoll from the environment if set, else epoll. (io_uring now does the
    /// socket I/O itself, at 0.08 syscalls per echo, but costs more user-space instructions per
    /// echo than epoll so far: it becomes the automatic choice when that is fixed, issue #21.)
    automatic,
    /// epoll(7), level-triggered.
    epoll,
    /// io_uring(7). Where the kernel refuses it (too old, seccomp, a container's policy), the
    /// loop logs one warning with the reason and uses epoll: backend() says which one is in use.
    io_uring,
};

/// "epoll" or "io_uring" ("automatic" for Backend::automatic).
const char* to_string(Backend b) noexcept;

/// Options for a new loop (and for aio::run).
struct LoopOptions {
    /// Debug mode (Python: loop.set_debug / PYTHONASYNCIODEBUG). Also enabled by AIO_DEBUG=1.
    bool debug = false;
    /// Test clock: time stands still while anything can run and jumps straight to the next timer
    /// when every task is idle (Trio's MockClock with autojump, Tokio's paused time). Sleeps and
    /// timeouts then take no real time and are exact.
    bool virtual_time = false;
    /// Debug mode warns about callbacks or task steps that hold the loop longer than this.
    std::chrono::nanoseconds slow_callback_duration = std::chrono::milliseconds(100);
    /// Which kernel interface to wait on: aio::run(main(), {.backend = aio::Backend::io_uring}).
    Backend backend = Backend::automatic;
};

/// What the exception handler receives (Python: the `context` dict).
struct ExceptionContext {
    std::string message;
    std::exception_ptr exception;  // may be null
    std::string task;              // name of the task concerned, if any
};

/// Python: loop.set_exception_handler(handler) with handler(loop, context).
using ExceptionHandler = std::function<void(class EventLoop&, const ExceptionContext&)>;

/// Counters for inspecting a loop (Trio: statistics()).
struct LoopStats {
    size_t ready = 0;       // callbacks and task steps waiting to run
    size_t timers = 0;      // armed timers (sleeps, call_later, timeouts)
    size_t tasks = 0;       // tasks not yet finished
    size_t fds = 0;         // file descriptors with a reader or writer
    uint64_t iterations = 0;
    uint64_t steps = 0;     // callbacks and task steps run
};

namespace detail {
struct LoopAccess;
class Poller;

/// Something holding OS resources on the loop's behalf that must let go when the loop closes:
/// an open transport keeps itself alive until its connection is lost, and a loop closed with
/// connections still open would otherwise leak them (layers above the core register these).
/// Intrusive: no allocation; registered and removed on the loop's thread.
struct CloseHook {
    CloseHook* prev = nullptr;
    CloseHook* next = nullptr;
    bool linked = false;
    /// Called once by EventLoop::close(), after the pending tasks were freed and before the fd
    /// callbacks are released; the hook is unlinked first. Must not call back into the loop.
    void (*on_close)(CloseHook*) noexcept = nullptr;
};
}  // namespace detail

/// asyncio.AbstractEventLoop. Not thread-safe except where a method says so
/// (call_soon_threadsafe, stop from a signal-safe context is not supported: use call_soon_threadsafe).
class EventLoop {
public:
    using Duration = std::chrono::nanoseconds;

    explicit EventLoop(LoopOptions options = {});
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;
    /// Closes the loop if needed: tasks still pending are cancelled and their frames freed
    /// without running them further (their destructors run, as Python's GC closes coroutines).
    ~EventLoop();

    // --- scheduling callbacks ------------------------------------------------------------
    /// loop.call_soon(callback): run `fn` on the next iteration, after those already scheduled.
    template <class F>
    Handle call_soon(F&& fn) {
        check_usable("call_soon");
        auto* s = detail::make_callback(std::forward<F>(fn));
        s->loop = this;
        s->add_ref();  // one for the queue, one for the returned handle
        ready_.push(s);
        return Handle(s);
    }
    /// loop.call_later(delay, callback). A negative delay means "as soon as possible".
    template <class F>
    TimerHandle call_later(Duration delay, F&& fn) {
        return call_at_ns(clock_ns() + delay.count(), std::forward<F>(fn));
    }
    /// loop.call_at(when, callback), `when` on the loop's clock (see time()).
    template <class F>
    TimerHandle call_at(double when, F&& fn) {
        return call_at_ns(static_cast<int64_t>(when * 1e9), std::forward<F>(fn));
    }
    /// loop.call_soon_threadsafe(callback): callable from any thread; wakes the loop.
    template <class F>
    Handle call_soon_threadsafe(F&& fn) {
        auto* s = detail::make_callback(std::forward<F>(fn));
        s->loop = this;
        s->add_ref();
        enqueue_threadsafe(s);
        return Handle(s);
    }
    /// The kernel interface this loop waits on (never Backend::automatic).
    [[nodiscard]] Backend backend() const noexcept { return backend_; }
    /// loop.time(): the loop's monotonic clock in seconds (virtual under LoopOptions::virtual_time).
    [[nodiscard]] double time() const noexcept { return static_cast<double>(clock_ns()) * 1e-9; }
    /// The same clock in nanoseconds.
    [[nodiscard]] int64_t clock_ns() const noexcept;
    /// The same clock as read when the loop last polled for I/O or ran its timers (libuv's
    /// uv_now, which uvloop's loop.time() returns): free to read, and behind the true time by the
    /// callbacks run since (a busy loop polls at least every 61 iterations). For deadlines set on
    /// every request (a server's keep-alive timer), where a clock read per request costs more
    /// than the deadline's precision is worth.
    [[nodiscard]] int64_t cached_clock_ns() const noexcept { return virtual_ ? virtual_now_ : cached_now_; }

    // --- running ---------------------------------------------------------------------------
    /// loop.run_forever(): run until stop() is called.
    void run_forever();
    /// loop.run_until_complete(task): start the task on this loop, run until it is done, return
    /// its result (or throw its exception).
    template <class T>
    T run_until_complete(Task<T> task);
    template <class T>
    T run_until_complete(const TaskHandle<T>& task);
    template <class T>
    T run_until_complete(const Future<T>& future);
    /// loop.stop(): run_forever returns after the current iteration.
    void stop() noexcept { stopping_ = true; }
    /// loop.close(): frees everything; pending tasks are cancelled and freed. Throws if running.
    void close();
    [[nodiscard]] bool is_running() const noexcept { return running_; }
    [[nodiscard]] bool is_closed() const noexcept { return closed_; }

    // --- tasks and futures -----------------------------------------------------------------
    /// loop.create_task(coro).
    template <class T>
    TaskHandle<T> create_task(Task<T> task);
    /// loop.create_task(coro, name=...).
    template <class T>
    TaskHandle<T> create_task(Task<T> task, std::string name);
    /// loop.create_future().
    template <class T = void>
    Future<T> create_future();

    // --- file descriptors (level-triggered, like asyncio's selector loop) ------------------
    /// loop.add_reader(fd, callback): `fn` runs whenever fd is readable. Replaces an earlier reader.
    template <class F>
    void add_reader(int fd, F&& fn) {
        set_fd_callback(fd, false, detail::make_callback(std::forward<F>(fn)));
    }
    /// loop.remove_reader(fd): true if a reader was registered.
    bool remove_reader(int fd);
    /// loop.add_writer(fd, callback).
    template <class F>
    void add_writer(int fd, F&& fn) {
        set_fd_callback(fd, true, detail::make_callback(std::forward<F>(fn)));
    }
    /// loop.remove_writer(fd).
    bool remove_writer(int fd);

    // --- completion-based I/O (io_uring; see aio/core/io_operation.hpp) ----------------------
    /// True when this loop hands whole reads and writes to the kernel: Backend::io_uring on a
    /// kernel with provided buffer rings (5.19+), unless AIO_URING_IO=readiness. The socket
    /// transports then receive and send through the ring instead of readiness callbacks.
    [[nodiscard]] bool completion_io() const noexcept { return completion_io_; }
    /// Arms a multishot receive on the socket `fd`: `op` completes once per chunk received, into
    /// a buffer of the loop's pool, until EOF, an error, io_cancel, or the pool running dry
    /// (-ENOBUFS: arm it again). Submitted with the loop's next wait. Requires completion_io().
    void io_recv_multishot(int fd, IoOperation& op);
    /// Sends `data` on the socket `fd` (MSG_NOSIGNAL); `op` completes with the bytes sent, which
    /// may be fewer. `data` must stay alive and unmoved until then. Requires completion_io().
    void io_send(int fd, std::string_view data, IoOperation& op);
    /// Asks the kernel to cancel `op` if it is still in flight; its last completion still comes.
    void io_cancel(IoOperation& op);

    // --- signals (Unix) ----------------------------------------------------------------------
    /// loop.add_signal_handler(sig, callback): `fn` runs on the loop (not in signal context).
    /// Throws std::invalid_argument for a signal that cannot be caught, RuntimeError if another
    /// loop already handles it.
    template <class F>
    void add_signal_handler(int sig, F&& fn) {
        set_signal_callback(sig, detail::make_callback(std::forward<F>(fn)));
    }
    /// loop.remove_signal_handler(sig): restores the previous disposition; true if one was set.
    bool remove_signal_handler(int sig);

    // --- errors ------------------------------------------------------------------------------
    void set_exception_handler(ExceptionHandler handler);
    [[nodiscard]] const ExceptionHandler& get_exception_handler() const noexcept;
    /// loop.call_exception_handler(context): never throws.
    void call_exception_handler(const ExceptionContext& context) noexcept;
    /// loop.default_exception_handler(context): logs through aio::log.
    void default_exception_handler(const ExceptionContext& context) noexcept;

    // --- executors -----------------------------------------------------------------------------
    /// loop.set_default_executor(executor): the executor run_in_executor(nullptr, ...) uses.
    /// The loop shares ownership; the previous default, if any, is shut down (without waiting).
    void set_default_executor(std::shared_ptr<Executor> executor);
    /// The default executor, or null if none was set or created yet.
    [[nodiscard]] const std::shared_ptr<Executor>& default_executor() const noexcept;
    /// loop.shutdown_default_executor(): shuts the default executor down and waits for its jobs.
    /// aio::run calls it after the main task; close() shuts it down without waiting.
    void shutdown_default_executor() noexcept;

    // --- debug ---------------------------------------------------------------------------------
    void set_debug(bool enabled) noexcept { debug_ = enabled; }
    [[nodiscard]] bool get_debug() const noexcept { return debug_; }
    void set_slow_callback_duration(Duration d) noexcept { slow_ns_ = d.count(); }
    [[nodiscard]] Duration slow_callback_duration() const noexcept { return Duration(slow_ns_); }
    [[nodiscard]] bool virtual_time() const noexcept { return virtual_; }
    /// Moves the virtual clock forward by `d` (virtual_time loops only; throws otherwise).
    void advance_time(Duration d);
    [[nodiscard]] LoopStats stats() const noexcept;

    /// Debug mode: throws RuntimeError when called from a thread other than the one running
    /// the loop (Python: "Non-thread-safe operation invoked on an event loop other than the
    /// current one").
    void check_thread(const char* what) const {
        if (debug_ && running_ && std::this_thread::get_id() != owner_) [[unlikely]] wrong_thread(what);
    }

private:
    friend struct detail::LoopAccess;
    friend class detail::TaskCore;
    friend class detail::FutureCore;

    template <class F>
    TimerHandle call_at_ns(int64_t when, F&& fn) {
        check_usable("call_at");
        auto* s = detail::make_callback(std::forward<F>(fn));
        s->loop = this;
        s->timer.when = when;
        s->timer.kind = detail::TimerNode::callback;
        s->add_ref();  // the heap's reference
        timers_.push(&s->timer);
        return TimerHandle(s);
    }
    static void fire_timer_callback(detail::TimerNode* n) noexcept;

    void open_poller(Backend wanted);
    void check_usable(const char* what) const {
        if (closed_) [[unlikely]] throw_closed(what);
        check_thread(what);
    }
    [[noreturn]] static void throw_closed(const char* what);
    [[noreturn]] void wrong_thread(const char* what) const;
    void enqueue_threadsafe(detail::CallbackState* s);
    void set_fd_callback(int fd, bool write, detail::CallbackState* s);
    void set_signal_callback(int sig, detail::CallbackState* s);
    bool remove_fd_callback(int fd, bool write);

    void run_once();
    void run_ready_debug(size_t n);
    void poll_io(bool may_block);
    void process_timers();
    void drain_threadsafe();
    void register_task(detail::TaskCore* t) {
        t->all_index_ = static_cast<uint32_t>(tasks_.size());
        tasks_.push_back(t);
    }
    void unregister_task(detail::TaskCore* t) noexcept {
        detail::TaskCore* last = tasks_.back();
        tasks_[t->all_index_] = last;
        last->all_index_ = t->all_index_;
        tasks_.pop_back();
    }
    void run_until_done(detail::FutureCore& f);
    void abandon_all() noexcept;

    // Hot state, touched on every task switch.
    detail::ReadyQueue ready_;
    detail::TimerHeap timers_;
    int64_t virtual_now_ = 0;
    int64_t cached_now_ = 0;  // cached_clock_ns(): set by poll_io and process_timers
    bool virtual_ = false;
    bool debug_ = false;
    Backend backend_ = Backend::epoll;
    bool completion_io_ = false;
    bool running_ = false;
    bool stopping_ = false;
    std::atomic<bool> closed_{false};  // read by call_soon_threadsafe from other threads
    int64_t slow_ns_ = 100'000'000;
    uint32_t ticks_since_poll_ = 0;
    uint64_t iterations_ = 0;
    uint64_t steps_ = 0;
    std::thread::id owner_{};
    std::vector<detail::TaskCore*> tasks_;  // live (unfinished) tasks, for all_tasks()
    // Set by call_soon_threadsafe (any thread); the eventfd is written only when wake_armed_
    // goes false -> true, i.e. once per batch the loop has not drained yet.
    std::atomic<bool> ts_pending_{false};
    std::atomic<bool> wake_armed_{false};

    struct Impl;  // I/O, signals, the thread-safe queue: cold or OS-specific
    std::unique_ptr<Impl> impl_;
};

namespace detail {
/// Internal access to a loop's hot state for the awaiters.
struct LoopAccess {
    static void push_ready(EventLoop& l, Runnable* r) { l.ready_.push(r); }
    static void push_deferred_wake(EventLoop& l, TaskCore* t) { l.ready_.push_deferred_wake(t); }
    static void add_timer(EventLoop& l, TimerNode* n) { l.timers_.push(n); }
    static void remove_timer(EventLoop& l, TimerNode* n) noexcept { l.timers_.remove(n); }
    static void register_task(EventLoop& l, TaskCore* t) { l.register_task(t); }
    static void unregister_task(EventLoop& l, TaskCore* t) noexcept { l.unregister_task(t); }
    static const std::vector<TaskCore*>& tasks(const EventLoop& l) noexcept { return l.tasks_; }
    /// The registry is unordered (O(1) removal); Python's all_tasks() order is creation order.
    static std::vector<TaskCore*> tasks_in_creation_order(const EventLoop& l);
    static void check_usable(const EventLoop& l, const char* what) { l.check_usable(what); }
    static void run_until_done(EventLoop& l, FutureCore& f) { l.run_until_done(f); }
    static bool debug(const EventLoop& l) noexcept { return l.debug_; }
    /// Registers `h` (not yet linked) to run when `l` closes. Throws RuntimeError if `l` is closed.
    static void add_close_hook(EventLoop& l, CloseHook& h);
    /// Unregisters `h` if linked.
    static void remove_close_hook(EventLoop& l, CloseHook& h) noexcept;
};

inline void TaskCore::schedule() noexcept {
    // A task is in the ready queue at most once; the queue only fails on allocation failure,
    // which we treat like Python treats MemoryError in the loop: fatal.
    if (scheduled_) return;
    scheduled_ = true;
    loop_->ready_.push_task(this);
}
}  // namespace detail

/// asyncio.get_running_loop(): the loop running on this thread; throws RuntimeError if none.
EventLoop& get_running_loop();
/// asyncio.new_event_loop().
std::unique_ptr<EventLoop> new_event_loop(LoopOptions options = {});

}  // namespace aio
