// The event loop: iteration, I/O dispatch, timers, the thread-safe queue, signals, shutdown.
#include "aio/core/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aio/core/log.hpp"
#include "aio/core/sleep.hpp"
#include "aio/core/task.hpp"
#include "aio/detail/await_future.hpp"
#include "loop_registry.hpp"
#include "poller.hpp"
#include "signals.hpp"

namespace aio {

using detail::CallbackState;
using detail::TaskCore;

namespace {
int64_t monotonic_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// How many iterations with ready work may pass without looking at the OS: polling every
// iteration would add a syscall to every task switch (Tokio uses 61 too).
constexpr uint32_t kPollInterval = 61;

std::mutex g_loops_mutex;
std::unordered_set<EventLoop*>& live_loops() {
    static std::unordered_set<EventLoop*> s;
    return s;
}
}  // namespace

namespace detail {
void register_loop(EventLoop* loop) {
    std::lock_guard lk(g_loops_mutex);
    live_loops().insert(loop);
}
void unregister_loop(EventLoop* loop) noexcept {
    std::lock_guard lk(g_loops_mutex);
    live_loops().erase(loop);
}
void report_to_loop(EventLoop* loop, const ExceptionContext& ctx) noexcept {
    bool alive;
    {
        std::lock_guard lk(g_loops_mutex);
        alive = loop && live_loops().count(loop) && !loop->is_closed();
    }
    if (alive) {
        loop->call_exception_handler(ctx);
        return;
    }
    try {
        std::string m = ctx.message;
        if (!ctx.task.empty()) m += " [task '" + ctx.task + "']";
        if (ctx.exception) m += ": " + describe_exception(ctx.exception);
        aio::log(LogLevel::error, m);
    } catch (...) {
    }
}
}  // namespace detail

struct EventLoop::Impl {
    std::unique_ptr<detail::Poller> poller;
    int wakeup_fd = -1;

    // Thread-safe submissions: a mutex-guarded vector swapped out in one go, and a flag so that
    // producers write the eventfd only once per batch.
    std::mutex ts_mutex;
    std::vector<CallbackState*> ts_queue;
    std::vector<CallbackState*> ts_swap;

    struct FdEntry {
        CallbackState* reader = nullptr;
        CallbackState* writer = nullptr;
        uint32_t events = 0;
    };
    std::vector<FdEntry> fds;
    size_t fd_count = 0;

    std::unordered_map<int, CallbackState*> signals;

    ExceptionHandler exception_handler;
    std::shared_ptr<Executor> default_executor;

    detail::CloseHook* close_hooks = nullptr;  // doubly linked, newest first
};

void detail::LoopAccess::add_close_hook(EventLoop& l, CloseHook& h) {
    if (l.closed_) throw RuntimeError("Event loop is closed");
    EventLoop::Impl& I = *l.impl_;
    h.prev = nullptr;
    h.next = I.close_hooks;
    if (I.close_hooks) I.close_hooks->prev = &h;
    I.close_hooks = &h;
    h.linked = true;
}

void detail::LoopAccess::remove_close_hook(EventLoop& l, CloseHook& h) noexcept {
    if (!h.linked) return;
    EventLoop::Impl& I = *l.impl_;
    if (h.prev) h.prev->next = h.next;
    else I.close_hooks = h.next;
    if (h.next) h.next->prev = h.prev;
    h.prev = h.next = nullptr;
    h.linked = false;
}

const char* to_string(Backend b) noexcept {
    switch (b) {
        case Backend::epoll:
            return "epoll";
        case Backend::io_uring:
            return "io_uring";
        case Backend::automatic:
            break;
    }
    return "automatic";
}

void EventLoop::open_poller(Backend wanted) {
    if (wanted == Backend::automatic) {
        const char* env = std::getenv("AIO_BACKEND");
        const std::string_view v = env ? env : "";
        if (v == "io_uring") wanted = Backend::io_uring;
        else if (v.empty() || v == "epoll" || v == "auto") wanted = Backend::epoll;
        else aio::log(LogLevel::warning, "AIO_BACKEND=" + std::string(v) + " is not epoll or io_uring; using epoll");
    }
    if (wanted == Backend::io_uring) {
        try {
            impl_->poller = detail::make_uring_poller();
            backend_ = Backend::io_uring;
            completion_io_ = impl_->poller->completion_io();
            return;
        } catch (const std::system_error& e) {
            aio::log(LogLevel::warning, std::string("io_uring is not available (") + e.what() + "); using epoll");
        }
    }
    impl_->poller = detail::make_epoll_poller();
    backend_ = Backend::epoll;
}

EventLoop::EventLoop(LoopOptions options) : impl_(std::make_unique<Impl>()) {
    virtual_ = options.virtual_time;
    cached_now_ = monotonic_ns();
    const char* env = std::getenv("AIO_DEBUG");
    debug_ = options.debug || (env && env[0] && std::strcmp(env, "0") != 0);
    slow_ns_ = options.slow_callback_duration.count();
    open_poller(options.backend);
    impl_->wakeup_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (impl_->wakeup_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    impl_->poller->modify(impl_->wakeup_fd, 0, detail::kReadable);
    detail::register_loop(this);
}

EventLoop::~EventLoop() {
    if (running_) {
        aio::log(LogLevel::error, "EventLoop destroyed while running; the process is in an inconsistent state");
        std::abort();
    }
    if (!closed_) close();
    detail::unregister_loop(this);
    if (impl_->wakeup_fd >= 0) ::close(impl_->wakeup_fd);
}

std::unique_ptr<EventLoop> new_event_loop(LoopOptions options) { return std::make_unique<EventLoop>(options); }

EventLoop& get_running_loop() {
    if (EventLoop* l = detail::tls_running_loop) return *l;
    throw RuntimeError("no running event loop");
}

int64_t EventLoop::clock_ns() const noexcept { return virtual_ ? virtual_now_ : monotonic_ns(); }

void EventLoop::advance_time(Duration d) {
    if (!virtual_) throw RuntimeError("advance_time() needs a loop created with LoopOptions{.virtual_time = true}");
    if (d.count() < 0) throw std::invalid_argument("advance_time(): negative duration");
    virtual_now_ += d.count();
}

void EventLoop::throw_closed(const char* what) { throw RuntimeError(std::string(what) + ": Event loop is closed"); }

void EventLoop::wrong_thread(const char* what) const {
    throw RuntimeError(std::string(what) +
                       ": non-thread-safe operation invoked on an event loop other than the current one "
                       "(use call_soon_threadsafe from other threads)");
}

LoopStats EventLoop::stats() const noexcept {
    LoopStats s;
    s.ready = ready_.size();
    s.timers = timers_.size();
    s.tasks = tasks_.size();
    s.fds = impl_->fd_count;
    s.iterations = iterations_;
    s.steps = steps_;
    return s;
}

// --- callbacks ----------------------------------------------------------------------------------

void detail::CallbackState::run(Runnable* r) {
    auto* s = static_cast<CallbackState*>(r);
    if (!s->cancelled.load(std::memory_order_acquire)) {
        try {
            s->invoke();
        } catch (...) {
            s->loop->call_exception_handler({"Exception in callback", std::current_exception(), {}});
        }
    }
    s->release();
}

void EventLoop::fire_timer_callback(detail::TimerNode* n) noexcept {
    CallbackState* s = static_cast<CallbackState::Timer*>(n)->self;
    s->loop->ready_.push(s);  // the heap's reference moves to the queue
}

void EventLoop::enqueue_threadsafe(CallbackState* s) {
    if (closed_) {
        s->release();
        s->release();
        throw_closed("call_soon_threadsafe");
    }
    {
        std::lock_guard lk(impl_->ts_mutex);
        impl_->ts_queue.push_back(s);
    }
    ts_pending_.store(true, std::memory_order_release);
    if (!wake_armed_.exchange(true, std::memory_order_acq_rel)) {
        uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(impl_->wakeup_fd, &one, sizeof one);
    }
}

void EventLoop::drain_threadsafe() {
    ts_pending_.store(false, std::memory_order_relaxed);
    {
        std::lock_guard lk(impl_->ts_mutex);
        impl_->ts_swap.swap(impl_->ts_queue);
    }
    for (CallbackState* s : impl_->ts_swap) ready_.push(s);
    impl_->ts_swap.clear();
}

// --- file descriptors ---------------------------------------------------------------------------

void EventLoop::set_fd_callback(int fd, bool write, CallbackState* s) {
    s->loop = this;
    if (closed_) {
        s->release();
        throw_closed(write ? "add_writer" : "add_reader");
    }
    if (fd < 0) {
        s->release();
        throw std::invalid_argument("invalid file descriptor " + std::to_string(fd));
    }
    auto& fds = impl_->fds;
    if (static_cast<size_t>(fd) >= fds.size()) fds.resize(static_cast<size_t>(fd) + 1);
    auto& e = fds[static_cast<size_t>(fd)];
    uint32_t bit = write ? detail::kWritable : detail::kReadable;
    uint32_t nev = e.events | bit;
    if (nev != e.events) {
        try {
            impl_->poller->modify(fd, e.events, nev);
        } catch (...) {
            s->release();
            throw;
        }
        if (e.events == 0) ++impl_->fd_count;
        e.events = nev;
    }
    CallbackState*& slot = write ? e.writer : e.reader;
    if (slot) {
        slot->cancelled.store(true, std::memory_order_release);
        slot->release();
    }
    slot = s;
}

bool EventLoop::remove_fd_callback(int fd, bool write) {
    Impl& impl = *impl_;
    if (fd < 0 || static_cast<size_t>(fd) >= impl.fds.size()) return false;
    auto& e = impl.fds[static_cast<size_t>(fd)];
    CallbackState*& slot = write ? e.writer : e.reader;
    if (!slot) return false;
    slot->cancelled.store(true, std::memory_order_release);
    slot->release();
    slot = nullptr;
    uint32_t nev = e.events & ~(write ? detail::kWritable : detail::kReadable);
    impl.poller->modify(fd, e.events, nev);
    e.events = nev;
    if (nev == 0) --impl.fd_count;
    return true;
}

bool EventLoop::remove_reader(int fd) {
    check_thread("remove_reader");
    return remove_fd_callback(fd, false);
}
bool EventLoop::remove_writer(int fd) {
    check_thread("remove_writer");
    return remove_fd_callback(fd, true);
}

// --- signals ------------------------------------------------------------------------------------

void EventLoop::set_signal_callback(int sig, CallbackState* s) {
    s->loop = this;
    if (closed_) {
        s->release();
        throw_closed("add_signal_handler");
    }
    try {
        detail::signals::install(sig, impl_->wakeup_fd, this);
    } catch (...) {
        s->release();
        throw;
    }
    auto [it, inserted] = impl_->signals.emplace(sig, s);
    if (!inserted) {
        it->second->release();
        it->second = s;
    }
}

bool EventLoop::remove_signal_handler(int sig) {
    auto it = impl_->signals.find(sig);
    if (it == impl_->signals.end()) return false;
    it->second->cancelled.store(true);
    it->second->release();
    impl_->signals.erase(it);
    detail::signals::uninstall(sig, this);
    return true;
}

// --- executors ----------------------------------------------------------------------------------

void EventLoop::set_default_executor(std::shared_ptr<Executor> executor) {
    if (closed_) throw_closed("set_default_executor");
    if (impl_->default_executor && impl_->default_executor != executor) impl_->default_executor->shutdown(false);
    impl_->default_executor = std::move(executor);
}

const std::shared_ptr<Executor>& EventLoop::default_executor() const noexcept { return impl_->default_executor; }

void EventLoop::shutdown_default_executor() noexcept {
    if (auto ex = std::move(impl_->default_executor)) ex->shutdown(true);
}

// --- errors -------------------------------------------------------------------------------------

void EventLoop::set_exception_handler(ExceptionHandler handler) { impl_->exception_handler = std::move(handler); }
const ExceptionHandler& EventLoop::get_exception_handler() const noexcept { return impl_->exception_handler; }

void EventLoop::call_exception_handler(const ExceptionContext& context) noexcept {
    if (!impl_->exception_handler) {
        default_exception_handler(context);
        return;
    }
    try {
        impl_->exception_handler(*this, context);
    } catch (...) {
        try {
            default_exception_handler({"Unhandled error in exception handler", std::current_exception(), context.task});
            default_exception_handler(context);
        } catch (...) {
        }
    }
}

void EventLoop::default_exception_handler(const ExceptionContext& context) noexcept {
    try {
        std::string m = context.message.empty() ? "Unhandled exception in event loop" : context.message;
        if (!context.task.empty()) m += " [task '" + context.task + "']";
        if (context.exception) m += ": " + describe_exception(context.exception);
        aio::log(LogLevel::error, m);
    } catch (...) {
    }
}

// --- running ------------------------------------------------------------------------------------

// Inlined into run_forever: one iteration per task switch is the hot path of everything.
[[gnu::always_inline]] inline void EventLoop::run_once() {
    ++iterations_;
    if (ready_.empty() && !stopping_) [[unlikely]] {
        ticks_since_poll_ = 0;
        poll_io(true);
    } else if (++ticks_since_poll_ >= kPollInterval) [[unlikely]] {
        ticks_since_poll_ = 0;
        poll_io(false);
    } else if (completion_io_) {
        // Sends queued by the last iteration go now, not when the loop next waits: a busy loop
        // polls only every kPollInterval iterations. One submission per iteration at most.
        impl_->poller->flush();
    }
    if (ts_pending_.load(std::memory_order_acquire)) [[unlikely]] drain_threadsafe();
    if (!timers_.empty()) process_timers();
    size_t n = ready_.size();
    steps_ += n;
    if (debug_) [[unlikely]] {
        run_ready_debug(n);
        return;
    }
    while (n--) {
        uintptr_t v = ready_.pop();
        if (detail::ReadyQueue::is_task(v)) {
            if (detail::ReadyQueue::is_deferred_wake(v)) [[unlikely]] detail::ReadyQueue::as_task(v)->schedule();
            else TaskCore::run_step(detail::ReadyQueue::as_task(v));
        } else {
            detail::Runnable* r = detail::ReadyQueue::as_runnable(v);
            r->run_fn(r);
        }
    }
}

void EventLoop::run_forever() {
    if (closed_) throw_closed("run_forever");
    if (running_) throw RuntimeError("This event loop is already running");
    if (detail::tls_running_loop) throw RuntimeError("Cannot run the event loop while another loop is running");
    running_ = true;
    owner_ = std::this_thread::get_id();
    detail::tls_running_loop = this;
    struct Reset {
        EventLoop* l;
        ~Reset() {
            l->running_ = false;
            l->stopping_ = false;
            l->owner_ = {};
            detail::tls_running_loop = nullptr;
        }
    } reset{this};
    for (;;) {
        run_once();
        if (stopping_) break;
    }
}

void EventLoop::process_timers() {
    const int64_t now = clock_ns();
    cached_now_ = now;
    while (!timers_.empty() && timers_.top_when() <= now) {
        detail::TimerNode* t = timers_.pop();
        if (t->kind == detail::TimerNode::callback) fire_timer_callback(t);
        else detail::SleepAwaiter::on_timer(t);
    }
}

void EventLoop::io_recv_multishot(int fd, IoOperation& op) {
    check_usable("io_recv_multishot");
    impl_->poller->recv_multishot(fd, op);
}

void EventLoop::io_send(int fd, std::string_view data, IoOperation& op) {
    check_usable("io_send");
    impl_->poller->send(fd, data, op);
}

void EventLoop::io_cancel(IoOperation& op) {
    if (closed_) return;  // close() already cancelled everything
    impl_->poller->cancel(op);
}

void EventLoop::poll_io(bool may_block) {
    Impl& I = *impl_;
    ready_.shrink_if_idle();
    int64_t timeout = 0;
    if (may_block) {
        if (timers_.empty()) timeout = -1;
        else if (!virtual_) timeout = std::max<int64_t>(0, timers_.top_when() - monotonic_ns());
    }
    detail::PollEvent evs[256];
    int n = I.poller->wait(timeout, evs, 256);
    if (!virtual_) cached_now_ = monotonic_ns();
    const int completed = completion_io_ ? I.poller->dispatch_completions() : 0;
    if (virtual_ && may_block && n == 0 && completed == 0 && !timers_.empty() && timers_.top_when() > virtual_now_) {
        // Every task is idle: jump to the next deadline.
        virtual_now_ = timers_.top()->when;
    }
    for (int i = 0; i < n; ++i) {
        const int fd = evs[i].fd;
        if (fd == I.wakeup_fd) {
            uint64_t v;
            while (::read(I.wakeup_fd, &v, sizeof v) > 0) {
            }
            wake_armed_.store(false, std::memory_order_release);
            for (auto& [sig, cb] : I.signals)
                if (detail::signals::take_pending(sig)) {
                    cb->add_ref();
                    ready_.push(cb);
                }
            continue;
        }
        if (static_cast<size_t>(fd) >= I.fds.size()) continue;
        auto& e = I.fds[static_cast<size_t>(fd)];
        if ((evs[i].events & detail::kReadable) && e.reader) {
            e.reader->add_ref();
            ready_.push(e.reader);
        }
        if ((evs[i].events & detail::kWritable) && e.writer) {
            e.writer->add_ref();
            ready_.push(e.writer);
        }
    }
}

namespace {
std::string describe_ready(uintptr_t v) {
    if (detail::ReadyQueue::is_task(v)) {
        auto* t = detail::ReadyQueue::as_task(v);
        std::string s = "task '" + t->name() + "'";
        if (detail::PromiseBase* p = t->innermost_)
            s += std::string(" in ") + p->loc_.function + " (" + p->loc_.file + ":" + std::to_string(p->loc_.line) + ")";
        return s;
    }
    return "a callback";
}
}  // namespace

void EventLoop::run_ready_debug(size_t n) {
    while (n--) {
        uintptr_t v = ready_.pop();
        std::string what = describe_ready(v);  // before running: the item may be freed
        const int64_t t0 = monotonic_ns();
        if (detail::ReadyQueue::is_task(v)) {
            if (detail::ReadyQueue::is_deferred_wake(v)) detail::ReadyQueue::as_task(v)->schedule();
            else TaskCore::run_step(detail::ReadyQueue::as_task(v));
        } else {
            detail::Runnable* r = detail::ReadyQueue::as_runnable(v);
            r->run_fn(r);
        }
        const int64_t dt = monotonic_ns() - t0;
        if (dt >= slow_ns_) {
            char buf[64];
            std::snprintf(buf, sizeof buf, " took %.3f seconds", static_cast<double>(dt) * 1e-9);
            aio::log(LogLevel::warning, "Executing " + what + buf);
        }
    }
}

void EventLoop::run_until_done(detail::FutureCore& f) {
    if (f.loop() != this) throw RuntimeError("run_until_complete: the future belongs to a different loop");
    if (f.done()) return;
    struct Stopper : detail::CompletionNode {
        EventLoop* loop;
    } stopper;
    stopper.loop = this;
    stopper.fire = [](detail::CompletionNode* n, detail::FutureCore&) noexcept {
        // Like Python, stop via a callback: the loop finishes one more iteration.
        EventLoop* l = static_cast<Stopper*>(n)->loop;
        try {
            l->call_soon([l] { l->stop(); });
        } catch (...) {
            l->stop();
        }
    };
    f.link(stopper);
    run_forever();
    if (!f.done()) throw RuntimeError("Event loop stopped before Future completed.");
}

// --- shutdown -----------------------------------------------------------------------------------

void EventLoop::abandon_all() noexcept {
    // Queued work first, while every frame it may point into is still alive. Then pending tasks:
    // marked cancelled without waking anyone, and the loop's reference dropped. A frame freed
    // here runs its locals' destructors, which may cancel timers or schedule callbacks; hence
    // the rounds until nothing is left.
    auto drain_ready = [this] {
        bool any = false;
        while (!ready_.empty()) {
            any = true;
            uintptr_t v = ready_.pop();
            if (detail::ReadyQueue::is_task(v)) {
                if (!detail::ReadyQueue::is_deferred_wake(v)) detail::ReadyQueue::as_task(v)->scheduled_ = false;
                continue;
            }
            detail::Runnable* r = detail::ReadyQueue::as_runnable(v);
            if (r->drop_fn) r->drop_fn(r);
        }
        return any;
    };
    for (int round = 0; round < 64; ++round) {
        bool any = drain_ready();
        while (!timers_.empty()) {
            any = true;
            detail::TimerNode* t = timers_.pop();
            if (t->kind == detail::TimerNode::callback) static_cast<CallbackState::Timer*>(t)->self->release();
            // A sleep's node belongs to a frame; it is now unarmed and will not touch the heap.
        }
        while (!tasks_.empty()) {
            any = true;
            TaskCore* t = tasks_.back();
            tasks_.pop_back();
            t->waiting_ = nullptr;
            t->state_ = detail::FutState::cancelled;
            t->retrieved_ = true;
            t->abandon_nodes();
            t->release();
        }
        if (!any) break;
    }
}

void EventLoop::close() {
    if (running_) throw RuntimeError("Cannot close a running event loop");
    if (closed_) return;
    if (auto ex = std::move(impl_->default_executor)) ex->shutdown(false);  // Python: wait=False
    abandon_all();
    closed_ = true;
    Impl& I = *impl_;
    // Before the transports let go of their buffers, the kernel must have let go of them too.
    if (const size_t left = I.poller->quiesce())
        aio::log(LogLevel::error, "EventLoop.close(): " + std::to_string(left) +
                                      " io_uring operations did not finish within 2 s; their owners are leaked");
    // Transports and servers still open let go of their sockets (their own tasks are gone).
    while (detail::CloseHook* h = I.close_hooks) {
        detail::LoopAccess::remove_close_hook(*this, *h);
        h->on_close(h);
    }
    {
        std::lock_guard lk(I.ts_mutex);
        for (CallbackState* s : I.ts_queue) s->release();
        I.ts_queue.clear();
    }
    for (size_t fd = 0; fd < I.fds.size(); ++fd) {
        auto& e = I.fds[fd];
        if (e.events) {
            try {
                I.poller->modify(static_cast<int>(fd), e.events, 0);
            } catch (...) {
            }
        }
        if (e.reader) e.reader->release();
        if (e.writer) e.writer->release();
        e = {};
    }
    I.fd_count = 0;
    for (auto& [sig, cb] : I.signals) {
        cb->release();
        detail::signals::uninstall(sig, this);
    }
    I.signals.clear();
}

}  // namespace aio
