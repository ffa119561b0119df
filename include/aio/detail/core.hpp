// The machinery every awaitable shares: what the loop runs, what a future notifies, what a
// suspended task waits on. Only templates and inline hot paths need it in a header; nothing
// here is part of the public API. The library's sync layer implements its waiters on this
// protocol too (docs/design.md, "Layers"); user code should not.
//
// Lifetime rules (read these first):
//  1. A FutureCore is reference counted (single-threaded: a future belongs to one loop's thread).
//     Future<T>, TaskHandle<T> and every awaiter waiting on it hold a reference.
//  2. A started task's FutureCore lives inside its coroutine frame (the promise); the loop holds
//     one reference from create_task until the task finishes. The frame is freed when the last
//     reference goes, so a handle can read the result long after the coroutine returned.
//  3. A suspended task is always waiting on exactly one thing, named by TaskCore::waiting_; that
//     object knows how to cancel the wait. Only the innermost coroutine of a task is suspended.
//  4. Nodes (CompletionNode, TimerNode) live inside the objects that wait (usually in a
//     coroutine frame): their destructors unlink them, so destroying a suspended frame is safe.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

namespace aio {
class EventLoop;
}

namespace aio::detail {

/// Where a coroutine was defined: filled in by the compiler at no run-time cost.
struct SourceLoc {
    const char* function = "";
    const char* file = "";
    unsigned line = 0;
    static constexpr SourceLoc current(const char* f = __builtin_FUNCTION(), const char* fi = __builtin_FILE(),
                                       unsigned li = __builtin_LINE()) noexcept {
        return {f, fi, li};
    }
};

/// Something the loop's ready queue can run (tasks are queued as tagged pointers instead).
/// `drop_fn` releases it without running it, when a closing loop discards its queue.
struct Runnable {
    void (*run_fn)(Runnable*) = nullptr;
    void (*drop_fn)(Runnable*) noexcept = nullptr;
};

class FutureCore;
class TaskCore;

/// A registration on a future, fired once when it completes. Awaiters embed one (no allocation);
/// done-callbacks allocate one. Fired in registration order, like Python's callback list.
struct CompletionNode {
    CompletionNode* prev = nullptr;
    CompletionNode* next = nullptr;
    FutureCore* owner = nullptr;  // non-null while linked
    void (*fire)(CompletionNode*, FutureCore&) = nullptr;

    CompletionNode() = default;
    CompletionNode(const CompletionNode&) = delete;
    CompletionNode& operator=(const CompletionNode&) = delete;
    ~CompletionNode() { unlink(); }
    inline void unlink() noexcept;
    [[nodiscard]] bool linked() const noexcept { return owner != nullptr; }
};

/// A deadline in the loop's timer heap. `heap_index` is maintained by the heap so that a
/// cancelled timer is removed at once (no tombstones piling up under heavy cancellation).
struct TimerNode {
    static constexpr uint32_t npos = 0xffffffffu;
    /// Two kinds of timers exist; a tag byte instead of a function pointer keeps a sleeping
    /// coroutine's frame 8 bytes smaller.
    enum Kind : uint8_t { sleep, callback };
    int64_t when = 0;  // loop clock, nanoseconds
    uint64_t seq = 0;  // FIFO among equal deadlines
    uint32_t heap_index = npos;
    Kind kind = sleep;  // last: a derived class may use the tail padding
    [[nodiscard]] bool armed() const noexcept { return heap_index != npos; }
};

/// What a suspended task is waiting on (Python: Task._fut_waiter). Implemented by every awaiter.
struct Waiting {
    /// Python's `_fut_waiter.cancel(msg)`: start cancelling the wait. Return true when the wait
    /// will end by itself and deliver the cancellation; false when the task must get it at its
    /// next suspension (Task._must_cancel).
    virtual bool cancel_wait(TaskCore& task) noexcept = 0;
    /// One line for aio::dump_tasks(): what is awaited.
    virtual void describe(std::string& out) const = 0;

protected:
    ~Waiting() = default;
};

/// State of a future (and of a task, which is a future).
enum class FutState : uint8_t { pending, finished, cancelled };

/// The rarely used part of a future, allocated on first use: keeps every task frame small.
struct FutureExtra {
    std::exception_ptr exc;  // set when failed or cancelled
    std::string name;        // tasks: set_name / "Task-N"
    std::string cancel_msg;  // the message given to cancel()
    bool has_cancel_msg = false;
};

/// Untyped part of a future: state, exception, callbacks and awaiters, reference count.
class FutureCore {
public:
    explicit FutureCore(EventLoop* loop) noexcept : loop_(loop) {}
    FutureCore(const FutureCore&) = delete;
    FutureCore& operator=(const FutureCore&) = delete;

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) last_release();
    }

    [[nodiscard]] bool done() const noexcept { return state_ != FutState::pending; }
    [[nodiscard]] bool cancelled() const noexcept { return state_ == FutState::cancelled; }
    [[nodiscard]] EventLoop* loop() const noexcept { return loop_; }
    [[nodiscard]] bool is_task() const noexcept { return is_task_; }
    [[nodiscard]] uint32_t id() const noexcept { return id_; }

    // The completion list: doubly linked, with the tail kept in head_->prev (saves a pointer
    // per future; ordering is FIFO, removal O(1)).
    void link(CompletionNode& n) noexcept {
        n.owner = this;
        n.next = nullptr;
        if (!head_) {
            head_ = &n;
            n.prev = &n;
        } else {
            CompletionNode* tail = head_->prev;
            tail->next = &n;
            n.prev = tail;
            head_->prev = &n;
        }
    }
    void unlink(CompletionNode& n) noexcept {
        CompletionNode* next = n.next;
        if (&n == head_) {
            head_ = next;
            if (next) next->prev = n.prev;
        } else {
            n.prev->next = next;
            if (next) next->prev = n.prev; else head_->prev = n.prev;
        }
        n.prev = n.next = nullptr;
        n.owner = nullptr;
    }
    [[nodiscard]] CompletionNode* first_node() const noexcept { return head_; }

    /// Throws the stored exception (or CancelledError) if there is one; marks it retrieved.
    void rethrow_if_failed();
    /// The exception_ptr for a cancelled future: a CancelledError carrying the message.
    [[nodiscard]] std::exception_ptr make_cancelled_error() const;
    /// Throws InvalidStateError unless done.
    void check_done(const char* what) const;

    [[nodiscard]] bool exception_retrieved() const noexcept { return retrieved_; }
    void mark_retrieved() noexcept { retrieved_ = true; }
    [[nodiscard]] std::exception_ptr stored_exception() const noexcept { return extra_ ? extra_->exc : nullptr; }
    [[nodiscard]] bool has_exception() const noexcept { return extra_ && extra_->exc; }
    void set_exception_ptr(std::exception_ptr e) { extra().exc = std::move(e); }

    FutureExtra& extra() {
        if (!extra_) extra_ = std::make_unique<FutureExtra>();
        return *extra_;
    }
    [[nodiscard]] const FutureExtra* extra_if() const noexcept { return extra_.get(); }

    /// Complete with a value already stored by the typed owner; fires the callbacks.
    void finish_value() noexcept;
    /// Complete with an exception (CancelledError → cancelled state); fires the callbacks.
    void finish_exception(std::exception_ptr e) noexcept;
    /// Complete as cancelled, with the message given to cancel(); fires the callbacks.
    void finish_cancelled() noexcept;
    /// Python Future.cancel(): false if already done.
    bool cancel_future(const std::string* msg) noexcept;

    /// Forced shutdown (loop closing with this future pending): detach awaiters without waking.
    void abandon_nodes() noexcept;

    /// Free the storage (delete for futures, destroy the coroutine frame for tasks).
    virtual void destroy_self() noexcept = 0;
    void fire_nodes() noexcept;
    void last_release() noexcept;

    // Fields are public to the detail layer (awaiters, the loop); nothing public exposes them.

    // Layout: pointers first, small fields last so that TaskCore can start in our tail padding.
    EventLoop* loop_;
    CompletionNode* head_ = nullptr;
    std::unique_ptr<FutureExtra> extra_;
    uint32_t refs_ = 1;
    uint32_t id_ = 0;  // creation order on its thread (names "Task-N"); wraps after 2^32
    FutState state_ = FutState::pending;
    bool is_task_ = false;
    bool retrieved_ = false;  // Python's "_log_traceback = False": someone saw the exception

protected:
    virtual ~FutureCore();
};

/// Gives a new future or task its id (for names and dumps).
void init_future_id(FutureCore& f) noexcept;
/// Future::set_exception rejects a null pointer and a CancelledError (use cancel()).
void check_settable_exception(const std::exception_ptr& e);

inline void CompletionNode::unlink() noexcept {
    if (owner) owner->unlink(*this);
}

struct PromiseBase;

/// A task: a future whose result comes from a coroutine the loop drives (Python: asyncio.Task).
/// The ready queue holds tasks as tagged pointers (see ReadyQueue), so a task needs no run_fn.
class TaskCore : public FutureCore {
public:
    explicit TaskCore(EventLoop* loop) noexcept;

    /// Python Task.cancel(msg).
    bool cancel(const std::string* msg) noexcept;
    [[nodiscard]] int cancelling() const noexcept { return static_cast<int>(num_cancels_); }
    /// Python 3.13 Task.uncancel(): decrements the count; at zero a pending cancellation is
    /// withdrawn too (3.11 forgot that, which made timeouts leak cancellations).
    int uncancel() noexcept {
        if (num_cancels_ > 0) --num_cancels_;
        if (num_cancels_ == 0) must_cancel_ = false;
        return static_cast<int>(num_cancels_);
    }

    /// Put the next step on the loop's ready queue (defined with EventLoop).
    inline void schedule() noexcept;

    /// Called at each suspension point's resume: throws CancelledError if one is pending.
    void throw_if_must_cancel() {
        if (must_cancel_) [[unlikely]] deliver_cancel();
    }
    [[noreturn]] void deliver_cancel();
    [[noreturn]] void throw_cancelled();

    [[nodiscard]] std::string name() const;
    void set_name(std::string n) { extra().name = std::move(n); }

    // Suspension bookkeeping, written by awaiters.
    bool must_cancel_ = false;
    bool started_ = false;
    bool scheduled_ = false;  // in the ready queue (ensures one step at a time)
    uint32_t num_cancels_ = 0;
    uint32_t all_index_ = 0;  // position in the loop's list of live tasks
    std::coroutine_handle<> resume_;  // innermost suspended coroutine of this task
    PromiseBase* innermost_ = nullptr;
    Waiting* waiting_ = nullptr;

    static void run_step(TaskCore* t);

protected:
    ~TaskCore() override = default;
};

/// Part of every aiocpp coroutine's promise: the inline await chain and where it was defined.
struct PromiseBase {
    std::coroutine_handle<> continuation_;  // the coroutine that awaits this one inline
    PromiseBase* parent_ = nullptr;         // its promise (for stack dumps)
    SourceLoc loc_;
};

inline thread_local TaskCore* tls_current_task = nullptr;
inline thread_local uint32_t tls_next_task_id = 0;
inline thread_local EventLoop* tls_running_loop = nullptr;

[[noreturn]] void throw_no_current_task();
/// The task whose step is running on this thread; throws RuntimeError when none.
inline TaskCore& current_task_core() {
    if (TaskCore* t = tls_current_task) [[likely]] return *t;
    throw_no_current_task();
}

/// Delivery of a typed value through a raw pointer, for callbacks: keeps a core alive.
class CoreRef {
public:
    CoreRef() noexcept = default;
    explicit CoreRef(FutureCore* c, bool adopt = false) noexcept : c_(c) {
        if (c_ && !adopt) c_->add_ref();
    }
    CoreRef(const CoreRef& o) noexcept : c_(o.c_) {
        if (c_) c_->add_ref();
    }
    CoreRef(CoreRef&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    CoreRef& operator=(CoreRef o) noexcept {
        std::swap(c_, o.c_);
        return *this;
    }
    ~CoreRef() {
        if (c_) c_->release();
    }
    [[nodiscard]] FutureCore* get() const noexcept { return c_; }
    FutureCore* operator->() const noexcept { return c_; }
    explicit operator bool() const noexcept { return c_ != nullptr; }

private:
    FutureCore* c_ = nullptr;
};

}  // namespace aio::detail
