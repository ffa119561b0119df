// Futures, tasks and their awaiters: completion, cancellation, and the reports Python makes
// ("Task exception was never retrieved", "coroutine ... was never awaited").
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/log.hpp"
#include "aio/core/sleep.hpp"
#include "aio/core/task.hpp"
#include "aio/detail/await_future.hpp"
#include "loop_registry.hpp"

namespace aio::detail {

namespace {

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

std::vector<TaskCore*> LoopAccess::tasks_in_creation_order(const EventLoop& l) {
    std::vector<TaskCore*> v = l.tasks_;
    std::sort(v.begin(), v.end(), [](TaskCore* a, TaskCore* b) { return a->id() < b->id(); });
    return v;
}

void init_future_id(FutureCore& f) noexcept { f.id_ = ++tls_next_task_id; }

void check_settable_exception(const std::exception_ptr& e) {
    if (!e) throw std::invalid_argument("set_exception: null exception_ptr");
    if (is_cancelled_error(e)) throw std::invalid_argument("set_exception: CancelledError cannot be set; use cancel()");
}

// ---------------------------------------------------------------------------------------------
// FutureCore

FutureCore::~FutureCore() {
    if (head_) abandon_nodes();
}

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
    try {
        set_exception_ptr(std::move(e));
    } catch (...) {
        std::terminate();  // out of memory while recording an exception
    }
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
    if (has_exception()) return extra_->exc;
    const FutureExtra* x = extra_if();
    return std::make_exception_ptr(CancelledError(x && x->has_cancel_msg ? x->cancel_msg : std::string()));
}

void FutureCore::rethrow_if_failed() {
    if (state_ == FutState::cancelled) std::rethrow_exception(make_cancelled_error());
    if (has_exception()) {
        retrieved_ = true;
        std::rethrow_exception(extra_->exc);
    }
}

void FutureCore::check_done(const char* what) const {
    if (!done()) throw InvalidStateError(what);
}

void FutureCore::last_release() noexcept {
    if (state_ == FutState::finished && has_exception() && !retrieved_) {
        ExceptionContext ctx;
        ctx.message = is_task_ ? "Task exception was never retrieved" : "Future exception was never retrieved";
        ctx.exception = extra_->exc;
        if (is_task_) ctx.task = static_cast<TaskCore*>(this)->name();
        report_to_loop(loop_, ctx);
    }
    destroy_self();
}

// ---------------------------------------------------------------------------------------------
// TaskCore

TaskCore::TaskCore(EventLoop* loop) noexcept : FutureCore(loop) {}

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

void TaskCore::run_step(TaskCore* t) {
    t->scheduled_ = false;
    if (!t->started_) [[unlikely]] {
        t->started_ = true;
        if (t->must_cancel_) {
            // Python: a task cancelled before its first step never runs its body.
            t->must_cancel_ = false;
            try {
                t->set_exception_ptr(t->make_cancelled_error());
            } catch (...) {
                std::terminate();
            }
            finish_root(*t);
            return;
        }
    }
    TaskCore* prev = tls_current_task;
    tls_current_task = t;
    t->resume_.resume();  // may free t
    tls_current_task = prev;
}

void throw_no_current_task() {
    throw RuntimeError(
        "an aiocpp awaitable was awaited outside a running task: co_await it from a coroutine "
        "started by aio::run, create_task or gather");
}

void finish_root(TaskCore& t) noexcept {
    t.waiting_ = nullptr;
    t.innermost_ = nullptr;
    if (t.has_exception()) {
        t.state_ = is_cancelled_error(t.extra_->exc) ? FutState::cancelled : FutState::finished;
    } else if (t.must_cancel_) {
        // Python: "Task is cancelled right before coro stops" — it ends cancelled.
        t.must_cancel_ = false;
        try {
            t.set_exception_ptr(t.make_cancelled_error());
        } catch (...) {
            std::terminate();
        }
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
    fut_->link(*this);
    t.resume_ = h;
    t.waiting_ = this;
    if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
}

void FutureWait::on_done(CompletionNode* n, FutureCore&) noexcept {
    auto* self = static_cast<FutureWait*>(n);
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

void DoneCallbackNode::drop(Runnable* r) noexcept {
    auto* node = static_cast<DoneCallbackNode*>(r);
    FutureCore* f = node->fut;
    delete node;
    f->release();
}

ChildWatch::ChildWatch(size_t n, void* owner, Callback cb) : nodes_(new Node[n]), n_(n), owner_(owner), cb_(cb) {
    for (size_t i = 0; i < n; ++i) {
        nodes_[i].block = this;
        nodes_[i].index = i;
        nodes_[i].fire = &on_fire;
        nodes_[i].run_fn = &on_run;
        nodes_[i].drop_fn = &on_drop;
    }
}

ChildWatch* ChildWatch::create(size_t n, void* owner, Callback cb) { return new ChildWatch(n, owner, cb); }

void ChildWatch::watch(size_t index, FutureCore& f) {
    Node& node = nodes_[index];
    if (f.done()) on_fire(&node, f);
    else f.link(node);
}

void ChildWatch::on_fire(CompletionNode* n, FutureCore& f) noexcept {
    auto* node = static_cast<Node*>(n);
    ++node->block->refs_;
    LoopAccess::push_ready(*f.loop(), node);
}

void ChildWatch::on_run(Runnable* r) {
    auto* node = static_cast<Node*>(r);
    ChildWatch* b = node->block;
    if (b->owner_) b->cb_(b->owner_, node->index);
    b->release();
}

void ChildWatch::on_drop(Runnable* r) noexcept { static_cast<Node*>(r)->block->release(); }

void ChildWatch::detach() noexcept {
    owner_ = nullptr;
    for (size_t i = 0; i < n_; ++i) nodes_[i].unlink();
    release();
}

void ChildWatch::release() noexcept {
    if (--refs_ == 0) delete this;
}

uint64_t add_done_callback(FutureCore& f, DoneCallbackNode* node) {
    node->id = ++t_next_callback_id;
    if (f.done()) DoneCallbackNode::fire_cb(node, f);
    else f.link(*node);
    return node->id;
}

size_t remove_done_callback(FutureCore& f, uint64_t id) noexcept {
    size_t removed = 0;
    for (CompletionNode* n = f.first_node(); n;) {
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

void SleepAwaiter::suspend_timed(std::coroutine_handle<> h) {
    TaskCore& t = current_task_core();
    EventLoop& loop = *t.loop();
    task_ = &t;
    t.resume_ = h;
    if (when <= 0) {
        t.schedule();
        return;
    }
    const int64_t now = loop.clock_ns();
    constexpr int64_t kMax = INT64_MAX / 2;
    when = when > kMax - now ? kMax : now + when;
    LoopAccess::add_timer(loop, this);
    t.waiting_ = this;
    if (t.must_cancel_ && cancel_wait(t)) t.must_cancel_ = false;
}

void SleepAwaiter::on_timer(TimerNode* n) noexcept {
    // Python's sleep is a timer callback that completes a future; the task then wakes one
    // iteration later. The deferred wake keeps that order against callbacks due at the same
    // time. From here on a cancel() finds nothing to cancel and is delivered at resumption.
    auto* self = static_cast<SleepAwaiter*>(n);
    self->task_->waiting_ = nullptr;
    LoopAccess::push_deferred_wake(*self->task_->loop(), self->task_);
}

bool SleepAwaiter::cancel_wait(TaskCore& task) noexcept {
    disarm();
    cancelled_ = true;
    task.waiting_ = nullptr;
    task.schedule();
    return true;
}

void SleepAwaiter::disarm() noexcept {
    if (armed()) LoopAccess::remove_timer(*task_->loop(), this);
}

void SleepAwaiter::describe(std::string& out) const {
    char buf[96];
    double w = static_cast<double>(when) * 1e-9;
    double left = static_cast<double>(when - task_->loop()->clock_ns()) * 1e-9;
    std::snprintf(buf, sizeof buf, "sleep until t=%.6f (%.6f s left)", w, left);
    out += buf;
}

// ---------------------------------------------------------------------------------------------
// Coroutine frame slabs. Blocks are carved from 64 KiB slabs and recycled through the owning
// thread's free lists (task.hpp). Slabs are never unmapped: a frame may be freed by another
// thread than the one that allocated it, so no thread may return a slab. When a thread exits,
// its free blocks move to a global pool that other threads refill from.

#if AIO_FRAME_POOL
namespace {
// Slabs start small (a program with a few tasks stays small) and double up to 2 MiB; those are
// mapped 2 MiB-aligned and advised as transparent huge pages, so a million tasks cost a few
// hundred page faults instead of tens of thousands (a first-touch fault is microseconds in a VM).
constexpr std::size_t kFirstSlab = 64 * 1024;
constexpr std::size_t kHugeSlab = 2 * 1024 * 1024;
// Free blocks travel between threads as whole chains (one lock per chain of up to
// kFrameListCap blocks): a thread whose list is full hands its list over, a thread whose list
// is empty takes one. Producer/consumer patterns (frames or callbacks made on one thread and
// freed on another) then recycle memory at a negligible cost, and no thread hoards it.
struct Chain {
    FrameBlock* head;
    uint32_t count;
};
std::mutex g_orphans_mutex;
std::vector<Chain> g_orphans[kFrameClasses];
std::atomic<bool> g_have_orphans{false};

char* new_slab(std::size_t bytes) {
    if (bytes < kHugeSlab) return static_cast<char*>(::operator new(bytes));
    // Over-map by 2 MiB, then trim to an aligned 2 MiB window.
    void* raw = ::mmap(nullptr, 2 * kHugeSlab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    auto start = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (start + kHugeSlab - 1) & ~(kHugeSlab - 1);
    if (aligned > start) ::munmap(raw, aligned - start);
    uintptr_t end = start + 2 * kHugeSlab;
    if (end > aligned + kHugeSlab) ::munmap(reinterpret_cast<void*>(aligned + kHugeSlab), end - aligned - kHugeSlab);
    ::madvise(reinterpret_cast<void*>(aligned), kHugeSlab, MADV_HUGEPAGE);
    return reinterpret_cast<char*>(aligned);
}

/// Moves this thread's list of class c to the shared pool (caller holds no lock).
void hand_over(std::size_t c) noexcept {
    FramePool& p = t_frame_pool;
    if (!p.heads[c]) return;
    try {
        std::lock_guard lk(g_orphans_mutex);
        g_orphans[c].push_back(Chain{p.heads[c], p.counts[c]});
        g_have_orphans.store(true, std::memory_order_release);
    } catch (...) {
        return;  // could not record the chain: keep the blocks here
    }
    p.heads[c] = nullptr;
    p.counts[c] = 0;
}

struct PoolOwner {
    bool active = false;
    ~PoolOwner() {
        if (!active) return;
        for (std::size_t c = 0; c < kFrameClasses; ++c) hand_over(c);
    }
};
thread_local PoolOwner t_pool_owner;
}  // namespace

void frame_free_overflow(void* ptr, std::size_t c) noexcept {
    hand_over(c);
    FramePool& p = t_frame_pool;
    auto* b = static_cast<FrameBlock*>(ptr);
    b->next = p.heads[c];
    p.heads[c] = b;
    p.counts[c] = 1;
}

void* frame_alloc_slow(std::size_t c) {
    FramePool& p = t_frame_pool;
    if (!t_pool_owner.active) t_pool_owner.active = true;
    if (g_have_orphans.load(std::memory_order_acquire)) {
        std::lock_guard lk(g_orphans_mutex);
        if (!g_orphans[c].empty()) {
            Chain ch = g_orphans[c].back();
            g_orphans[c].pop_back();
            p.heads[c] = ch.head->next;
            p.counts[c] = ch.count - 1;
            return ch.head;
        }
    }
    const std::size_t sz = c * 16;
    if (static_cast<std::size_t>(p.bump_end - p.bump) < sz) {
        std::size_t bytes = p.next_slab ? p.next_slab : kFirstSlab;
        p.bump = new_slab(bytes);
        p.bump_end = p.bump + bytes;
        p.next_slab = bytes < kHugeSlab ? bytes * 2 : kHugeSlab;
    }
    void* r = p.bump;
    p.bump += sz;
    return r;
}
#endif

}  // namespace aio::detail

namespace aio {

void* detail::CallbackState::operator new(std::size_t n) { return detail::frame_alloc(n); }
void detail::CallbackState::operator delete(void* p, std::size_t n) noexcept { detail::frame_free(p, n); }

TaskRef current_task() noexcept { return TaskRef(detail::tls_current_task); }

std::vector<TaskRef> all_tasks() {
    std::vector<TaskRef> out;
    for (detail::TaskCore* t : detail::LoopAccess::tasks_in_creation_order(get_running_loop())) out.emplace_back(t);
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
