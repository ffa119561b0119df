// Futures, tasks and their awaiters: completion, cancellation, and the reports Python makes
// ("Task exception was never retrieved", "coroutine ... was never awaited").
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_set>

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/log.hpp"
#include "aio/core/sleep.hpp"
#include "aio/core/task.hpp"
#include "aio/detail/await_future.hpp"
#include "loop_registry.hpp"

namespace aio::detail {

namespace {
thread_local uint64_t t_next_id = 0;

bool is_cancelled_error(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const CancelledError&) {
        return true;
    } catch (...) {
        return false;
    }
}

const std::string* cancel_message(const TaskCore& t) {
    const FutureExtra* x = t.extra_if();
    return x && x->has_cancel_msg ? &x->cancel_msg : nullptr;
}
}  // namespace

void init_future_id(FutureCore& f) noexcept { f.id_ = ++t_next_id; }

void check_settable_exception(const std::exception_ptr& e) {
    if (!e) throw std::invalid_argument("set_exception: null exception_ptr");
    if (is_cancelled_error(e)) throw std::invalid_argument("set_exception: CancelledError cannot be set; use cancel()");
}

// ---------------------------------------------------------------------------------------------
// FutureCore

FutureCore::~FutureCore() { abandon_nodes(); }

void FutureCore::abandon_nodes() noexcept {
    while (CompletionNode* n = head_) {
        unlink(*n);
        if (n->fire == &DoneCallbackNode::fire_cb) delete static_cast<DoneCallbackNode*>(n);
    }
}

void FutureCore::fire_nodes() noexcept {
    // One at a time from the head: a fire() may unlink other nodes of this very list.
    while (CompletionNode* n = head_) {
        unlink(*n);
        n->fire(n, *this);
    }
}

void FutureCore::finish_value() noexcept {
    state_ = FutState::finished;
    fire_nodes();
}

void FutureCore::finish_exception(std::exception_ptr e) noexcept {
    state_ = is_cancelled_error(e) ? FutState::cancelled : FutState::finished;
    exc_ = std::move(e);
    fire_nodes();
}

void FutureCore::finish_cancelled() noexcept {
    state_ = FutState::cancelled;
    fire_nodes();
}

bool FutureCore::cancel_future(const std::string* msg) noexcept {
    retrieved_ = true;
    if (done()) return false;
    if (msg) {
        extra().cancel_msg = *msg;
        extra().has_cancel_msg = true;
    }
    finish_cancelled();
    return true;
}

std::exception_ptr FutureCore::make_cancelled_error() const {
    if (exc_) return exc_;
    const FutureExtra* x = extra_if();
    return std::make_exception_ptr(CancelledError(x && x->has_cancel_msg ? x->cancel_msg : std::string()));
}

void FutureCore::rethrow_if_failed() {
    if (state_ == FutState::cancelled) std::rethrow_exception(make_cancelled_error());
    if (exc_) {
        retrieved_ = true;
        std::rethrow_exception(exc_);
    }
}

void FutureCore::check_done(const char* what) const {
    if (!done()) throw InvalidStateError(what);
}

void FutureCore::last_release() noexcept {
    if (state_ == FutState::finished && exc_ && !retrieved_) {
        ExceptionContext ctx;
        ctx.message = is_task_ ? "Task exception was never retrieved" : "Future exception was never retrieved";
        ctx.exception = exc_;
        if (is_task_) ctx.task = static_cast<TaskCore*>(this)->name();
        report_to_loop(loop_, ctx);
    }
    destroy_self();
}

// ---------------------------------------------------------------------------------------------
// TaskCore

TaskCore::TaskCore(EventLoop* loop) noexcept : FutureCore(loop) { run_fn = &run_step; }

std::string TaskCore::name() const {
    const FutureExtra* x = extra_if();
    if (x && !x->name.empty()) return x->name;
    return "Task-" + std::to_string(id_);
}

bool TaskCore::cancel(const std::string* msg) noexcept {
    retrieved_ = true;
    if (done()) return false;
    ++num_cancels_;
    if (msg) {
        extra().cancel_msg = *msg;
        extra().has_cancel_msg = true;
    }
    if (waiting_ && waiting_->cancel_wait(*this)) return true;
    must_cancel_ = true;
    return true;
}

void TaskCore::deliver_cancel() {
    must_cancel_ = false;
    throw_cancelled();
}

void TaskCore::throw_cancelled() {
    const std::string* m = cancel_message(*this);
    throw CancelledError(m ? *m : std::string());
}

void TaskCore::run_step(Runnable* r) {
    auto* t = static_cast<TaskCore*>(r);
    t->scheduled_ = false;
    if (!t->started_) [[unlikely]] {
        t->started_ = true;
        if (t->must_cancel_) {
            // Python: a task cancelled before its first step never runs its body.
            t->must_cancel_ = false;
            t->exc_ = t->make_cancelled_error();
            finish_root(*t);
            return;
        }
    }
    TaskCore* prev = tls_current_task;
    tls_current_task = t;
    t->resume_.resume();  // may free t
    tls_current_task = prev;
}

TaskCore& current_task_core() {
    if (TaskCore* t = tls_current_task) [[likely]] return *t;
    throw RuntimeError(
        "an aiocpp awaitable was awaited outside a running task: co_await it from a coroutine "
        "started by aio::run, create_task or gather");
}

void start_root(EventLoop& loop, TaskCore& t) {
    t.loop_ = &loop;
    t.is_task_ = true;
    t.refs_ = 2;  // the loop's, until the task finishes, and the returned handle's
    init_future_id(t);
    LoopAccess::register_task(loop, &t);
    t.schedule();
}

void finish_root(TaskCore& t) noexcept {
    t.waiting_ = nullptr;
    t.innermost_ = nullptr;
    if (t.exc_) {
        t.state_ = is_cancelled_error(t.exc_) ? FutState::cancelled : FutState::finished;
    } else if (t.must_cancel_) {
        // Python: "Task is cancelled right before coro stops" — it ends cancelled.
        t.must_cancel_ = false;
        t.exc_ = t.make_cancelled_error();
        t.state_ = FutState::cancelled;
    } else {
        t.state_ = FutState::finished;
    }
    LoopAccess::unregister_task(*t.loop_, &t);
    t.fire_nodes();
    t.release();
}

void report_never_awaited(const PromiseBase& p) noexcept {
    try {
        std::string m = std::string("coroutine '") + p.loc_.function + "' (" + p.loc_.file + ":" +
                        std::to_string(p.loc_.line) + ") was never awaited";
        aio::log(LogLevel::warning, m);
    } catch (...) {
    }
}

// ---------------------------------------------------------------------------------------------
// Awaiting a future

void FutureWait::suspend(std::coroutine_handle<> h) {
    TaskCore& t = current_task_core();
    if (fut_ == &t) throw RuntimeError("a task cannot await itself");
    if (fut_->loop() != t.loop()) throw RuntimeError("the awaited future belongs to a different event loop");
    task_ = &t;
    fut_->link(node_);
    t.resume_ = h;
    t.waiting_ = this;
    if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
}

void FutureWait::on_done(CompletionNode* n, FutureCore&) noexcept {
    FutureWait* self = static_cast<Node*>(n)->self;
    self->task_->waiting_ = nullptr;
    self->task_->schedule();
}

bool FutureWait::cancel_wait(TaskCore& task) noexcept {
    const std::string* msg = cancel_message(task);
    if (fut_->is_task()) return static_cast<TaskCore*>(fut_)->cancel(msg);
    return fut_->cancel_future(msg);
}

void FutureWait::describe(std::string& out) const {
    if (fut_->is_task()) out += "awaiting task '" + static_cast<TaskCore*>(fut_)->name() + "'";
    else out += "awaiting Future #" + std::to_string(fut_->id());
}

// ---------------------------------------------------------------------------------------------
// Done callbacks

namespace {
thread_local uint64_t t_next_callback_id = 0;
}

void DoneCallbackNode::fire_cb(CompletionNode* n, FutureCore& f) noexcept {
    auto* node = static_cast<DoneCallbackNode*>(n);
    node->fut = &f;
    f.add_ref();
    LoopAccess::push_ready(*f.loop(), node);
}

void DoneCallbackNode::run(Runnable* r) {
    auto* node = static_cast<DoneCallbackNode*>(r);
    FutureCore* f = node->fut;
    try {
        node->invoke(*f);
    } catch (...) {
        ExceptionContext ctx{"Exception in done callback", std::current_exception(), {}};
        if (f->is_task()) ctx.task = static_cast<TaskCore*>(f)->name();
        f->loop()->call_exception_handler(ctx);
    }
    delete node;
    f->release();
}

uint64_t add_done_callback(FutureCore& f, DoneCallbackNode* node) {
    node->id = ++t_next_callback_id;
    if (f.done()) DoneCallbackNode::fire_cb(node, f);
    else f.link(*node);
    return node->id;
}

size_t remove_done_callback(FutureCore& f, uint64_t id) noexcept {
    struct Walker : FutureCore {
        static CompletionNode* head(FutureCore& c) { return static_cast<Walker&>(c).head_; }
    };
    size_t removed = 0;
    for (CompletionNode* n = Walker::head(f); n;) {
        CompletionNode* next = n->next;
        if (n->fire == &DoneCallbackNode::fire_cb && static_cast<DoneCallbackNode*>(n)->id == id) {
            f.unlink(*n);
            delete static_cast<DoneCallbackNode*>(n);
            ++removed;
        }
        n = next;
    }
    return removed;
}

// ---------------------------------------------------------------------------------------------
// sleep

void SleepAwaiter::await_suspend(std::coroutine_handle<> h) {
    TaskCore& t = current_task_core();
    EventLoop& loop = *t.loop();
    LoopAccess::check_usable(loop, "sleep");
    task_ = &t;
    t.resume_ = h;
    if (delay_.count() <= 0) {
        t.schedule();  // a bare yield; a pending cancellation is thrown on resumption
        return;
    }
    const int64_t now = loop.clock_ns();
    constexpr int64_t kMax = INT64_MAX / 2;
    timer_.when = delay_.count() > kMax - now ? kMax : now + delay_.count();
    LoopAccess::add_timer(loop, &timer_);
    t.waiting_ = this;
    if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
}

void SleepAwaiter::on_timer(TimerNode* n) noexcept {
    SleepAwaiter* self = static_cast<Node*>(n)->self;
    self->task_->waiting_ = nullptr;
    self->task_->schedule();
}

bool SleepAwaiter::cancel_wait(TaskCore& task) noexcept {
    disarm();
    cancelled_ = true;
    task.waiting_ = nullptr;
    task.schedule();
    return true;
}

void SleepAwaiter::disarm() noexcept {
    if (timer_.armed()) LoopAccess::remove_timer(*task_->loop(), &timer_);
}

void SleepAwaiter::describe(std::string& out) const {
    char buf[96];
    double when = static_cast<double>(timer_.when) * 1e-9;
    double left = static_cast<double>(timer_.when - task_->loop()->clock_ns()) * 1e-9;
    std::snprintf(buf, sizeof buf, "sleep until t=%.6f (%.6f s left)", when, left);
    out += buf;
}

// ---------------------------------------------------------------------------------------------
// Coroutine frame allocation: per-thread free lists by 16-byte size class. Task creation is on
// every hot path in this library; malloc's locking and metadata would dominate it. Disabled
// under AddressSanitizer so that frame use-after-free stays detectable.

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
namespace {
constexpr std::size_t kClasses = 64;  // frames up to 1 KiB are pooled
constexpr std::size_t kMaxCached = 4096;
struct FreeBlock {
    FreeBlock* next;
};
struct FramePool {
    FreeBlock* heads[kClasses] = {};
    std::size_t counts[kClasses] = {};
    ~FramePool() {
        for (auto* h : heads)
            while (h) {
                FreeBlock* n = h->next;
                ::operator delete(h);
                h = n;
            }
    }
};
thread_local FramePool t_pool;
}  // namespace

void* frame_alloc(std::size_t n) {
    std::size_t c = (n + 15) / 16;
    if (c < kClasses) {
        if (FreeBlock* b = t_pool.heads[c]) {
            t_pool.heads[c] = b->next;
            --t_pool.counts[c];
            return b;
        }
        return ::operator new(c * 16);
    }
    return ::operator new(n);
}

void frame_free(void* p, std::size_t n) noexcept {
    std::size_t c = (n + 15) / 16;
    if (c < kClasses && t_pool.counts[c] < kMaxCached) {
        auto* b = static_cast<FreeBlock*>(p);
        b->next = t_pool.heads[c];
        t_pool.heads[c] = b;
        ++t_pool.counts[c];
        return;
    }
    ::operator delete(p);
}
#else
void* frame_alloc(std::size_t n) { return ::operator new(n); }
void frame_free(void* p, std::size_t) noexcept { ::operator delete(p); }
#endif

}  // namespace aio::detail

namespace aio {

TaskRef current_task() noexcept { return TaskRef(detail::tls_current_task); }

std::vector<TaskRef> all_tasks() {
    std::vector<TaskRef> out;
    for (detail::TaskCore* t : detail::LoopAccess::tasks(get_running_loop())) out.emplace_back(t);
    return out;
}

std::exception_ptr TaskRef::exception() const {
    auto& c = core();
    c.check_done("Exception is not set.");
    if (c.cancelled()) std::rethrow_exception(c.make_cancelled_error());
    c.mark_retrieved();
    return c.stored_exception();
}

void Handle::cancel() noexcept {
    if (!s_ || s_->cancelled.exchange(true, std::memory_order_acq_rel)) return;
    if (s_->timer.armed()) {
        detail::LoopAccess::remove_timer(*s_->loop, &s_->timer);
        s_->release();  // the heap's reference
    }
}

}  // namespace aio
