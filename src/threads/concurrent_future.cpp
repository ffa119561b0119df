// ConcurrentFuture's state machine, its blocking waits, and the waiter sets behind wait() and
// as_completed().
#include "aio/threads/concurrent_future.hpp"

#include <string>

#include "aio/core/event_loop.hpp"
#include "aio/core/log.hpp"

namespace aio::detail {

bool CFCore::try_claim() noexcept {
    uint32_t s = status_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & status_mask) > running) return false;
        if (status_.compare_exchange_weak(s, (s & ~status_mask) | completing, std::memory_order_acquire,
                                          std::memory_order_relaxed))
            return true;
    }
}

namespace {
// Moves the status word from `s` (as last read) to `final_status` once no callback registration
// is in progress; returns the flags it replaced.
template <class Pred>
bool finish(std::atomic<uint32_t>& word, uint32_t final_status, uint32_t& s, Pred may_finish) noexcept {
    s = word.load(std::memory_order_relaxed);
    for (;;) {
        if (!may_finish(s)) return false;
        if (s & CFCore::f_lock) {
            cpu_relax();
            s = word.load(std::memory_order_relaxed);
            continue;
        }
        if (word.compare_exchange_weak(s, final_status, std::memory_order_acq_rel, std::memory_order_relaxed)) return true;
    }
}
}  // namespace

void CFCore::publish(uint32_t final_status) noexcept {
    uint32_t s = 0;
    finish(status_, final_status, s, [](uint32_t) { return true; });
    notify_final(s);
}

void CFCore::notify_final(uint32_t old) noexcept {
    if (old & f_waiters) futex_wake_all(status_);
    if (old & f_callbacks) {
        // The status is final: no one else touches the list any more.
        CFCallback* n = head_;
        head_ = tail_ = nullptr;
        while (n) {
            CFCallback* next = n->next;
            n->fire(*this);
            n = next;
        }
    }
}

bool CFCore::cancel() noexcept {
    uint32_t s = status_.load(std::memory_order_acquire);
    if ((s & status_mask) == cancelled) return true;
    if (!finish(status_, cancelled, s, [](uint32_t v) { return (v & status_mask) == pending; }))
        return (s & status_mask) == cancelled;
    notify_final(s);
    return true;
}

bool CFCore::mark_running() noexcept {
    uint32_t s = status_.load(std::memory_order_relaxed);
    while ((s & status_mask) == pending) {
        if (status_.compare_exchange_weak(s, (s & ~status_mask) | running, std::memory_order_acquire, std::memory_order_relaxed))
            return true;
    }
    return false;
}

bool CFCore::wait(const SteadyTime* deadline) const {
    if (done()) return true;
    check_blocking(deadline != nullptr);
    // Most results arrive within microseconds of being asked for: a short spin saves two
    // system calls (the sleep and the wake-up).
    for (int i = 0; i < 128; ++i) {
        cpu_relax();
        if (done()) return true;
    }
    uint32_t s = status_.load(std::memory_order_acquire);
    for (;;) {
        if ((s & status_mask) >= finished) return true;
        if (!(s & f_waiters)) {
            if (!status_.compare_exchange_weak(s, s | f_waiters, std::memory_order_acquire, std::memory_order_acquire)) continue;
            s |= f_waiters;
        }
        if (!futex_wait(status_, s, deadline)) return done();
        s = status_.load(std::memory_order_acquire);
    }
}

bool CFCore::lock_callbacks() noexcept {
    uint32_t s = status_.load(std::memory_order_acquire);
    for (;;) {
        if ((s & status_mask) >= finished) return false;
        if (s & f_lock) {
            cpu_relax();
            s = status_.load(std::memory_order_acquire);
            continue;
        }
        if (status_.compare_exchange_weak(s, s | f_lock, std::memory_order_acquire, std::memory_order_acquire)) return true;
    }
}

void CFCore::unlock_callbacks() noexcept {
    uint32_t s = status_.load(std::memory_order_relaxed);
    for (;;) {
        uint32_t ns = (s & ~(f_lock | f_callbacks)) | (head_ ? f_callbacks : 0u);
        if (status_.compare_exchange_weak(s, ns, std::memory_order_release, std::memory_order_relaxed)) return;
    }
}

bool CFCore::add_callback(CFCallback* cb) noexcept {
    if (!lock_callbacks()) return false;
    cb->next = nullptr;
    cb->prev = tail_;
    if (tail_) tail_->next = cb;
    else head_ = cb;
    tail_ = cb;
    unlock_callbacks();
    return true;
}

bool CFCore::remove_callback(CFCallback* cb) noexcept {
    if (!lock_callbacks()) return false;
    if (cb->prev) cb->prev->next = cb->next;
    else head_ = cb->next;
    if (cb->next) cb->next->prev = cb->prev;
    else tail_ = cb->prev;
    cb->prev = cb->next = nullptr;
    unlock_callbacks();
    return true;
}

void CFCore::rethrow_if_failed() const {
    if (status() == cancelled) throw CancelledError();
    if (exc_) std::rethrow_exception(exc_);
}

void CFCore::abandon(const std::exception_ptr& why) noexcept {
    if (!why) cancel();
    else if (try_claim()) fail_claimed(why);
    release();
}

void CFCore::check_blocking(bool has_deadline) const {
    EventLoop* loop = tls_running_loop;
    if (!loop) return;
    if (owner_loop_ == loop && !has_deadline)
        throw RuntimeError(
            "ConcurrentFuture: blocking on a future that this very event loop must complete "
            "(run_coroutine_threadsafe onto the loop running on this thread) would deadlock; "
            "use co_await aio::wrap_future(f)");
    if (LoopAccess::debug(*loop))
        aio::log(LogLevel::warning,
                 "ConcurrentFuture: blocking wait on the event loop's thread stops every task of the loop; "
                 "use co_await aio::wrap_future(f)");
}

void check_blocking_wait(const std::vector<CFCore*>& cores, bool has_deadline) {
    EventLoop* loop = tls_running_loop;
    if (!loop) return;
    bool any_pending = false, all_ours = true;
    for (CFCore* c : cores) {
        if (c->done()) continue;
        any_pending = true;
        all_ours = all_ours && c->owner_loop_ == loop;
    }
    if (!any_pending) return;
    // Certain deadlock only when nothing but this very loop could complete any of them.
    if (all_ours && !has_deadline)
        throw RuntimeError(
            "aio::wait/as_completed: blocking on futures that this very event loop must complete "
            "(run_coroutine_threadsafe onto the loop running on this thread) would deadlock; "
            "use the asyncio versions with aio::wrap_future");
    if (LoopAccess::debug(*loop))
        aio::log(LogLevel::warning,
                 "aio::wait/as_completed on concurrent futures: blocking wait on the event loop's thread "
                 "stops every task of the loop; use the asyncio versions with aio::wrap_future");
}

void report_callback_exception(std::exception_ptr e) noexcept {
    try {
        aio::log(LogLevel::error, "exception calling callback for ConcurrentFuture: " + describe_exception(e));
    } catch (...) {
    }
}

// --- waiter sets -----------------------------------------------------------------------------

void CFWaiterSet::Node::fire(CFCore&) noexcept {
    std::shared_ptr<CFWaiter> keep = std::move(w);
    const size_t i = index;
    delete this;
    {
        std::lock_guard lk(keep->mu);
        // Never allocates: the capacity for every future was reserved up front and take()
        // keeps it (one node per future, each fired once).
        keep->fired.push_back(i);
    }
    keep->cv.notify_all();
}

CFWaiterSet::CFWaiterSet(std::vector<CFCore*> cores) : w_(std::make_shared<CFWaiter>()), cores_(std::move(cores)) {
    nodes_.reserve(cores_.size());
    w_->fired.reserve(cores_.size());
    for (size_t i = 0; i < cores_.size(); ++i) {
        auto* n = new Node();
        n->w = w_;
        n->index = i;
        if (cores_[i]->add_callback(n)) {
            nodes_.push_back(n);
        } else {
            delete n;
            nodes_.push_back(nullptr);
            std::lock_guard lk(w_->mu);
            w_->fired.push_back(i);
        }
    }
}

CFWaiterSet::~CFWaiterSet() {
    for (size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i] && cores_[i]->remove_callback(nodes_[i])) delete nodes_[i];
}

std::vector<size_t> CFWaiterSet::take(const SteadyTime* deadline, bool block) {
    std::unique_lock lk(w_->mu);
    while (block && w_->fired.empty()) {
        if (!deadline) w_->cv.wait(lk);
        else if (w_->cv.wait_until(lk, *deadline) == std::cv_status::timeout) break;
    }
    // Copy, then clear: `fired` keeps the capacity reserved for every future, so that
    // Node::fire (noexcept, in the completing thread) never allocates. Swapping it out would
    // leave an empty vector that the next completion must grow.
    std::vector<size_t> out(w_->fired.begin(), w_->fired.end());
    w_->fired.clear();
    return out;
}

}  // namespace aio::detail
