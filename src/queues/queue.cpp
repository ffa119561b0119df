// The untyped part of aio::Queue and friends: claims, reservations, task_done, shutdown,
// descriptions. The per-item fast paths are inline in the header.
#include "aio/queues/queue.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <new>
#include <stdexcept>

namespace aio::detail {

void* alloc_big_block() {
    void* p = ::operator new(kBigBlock, std::align_val_t(kBigBlock));
#ifdef MADV_HUGEPAGE
    ::madvise(p, kBigBlock, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
    return p;
}

void free_big_block(void* p) noexcept { ::operator delete(p, std::align_val_t(kBigBlock)); }

void QueueCore::claim_for_getters(size_t stored) noexcept {
    while (!getters_.empty() && avail(stored) > 0) {
        if (!wake_first(getters_, inflight_)) break;
        ++claimed_;
    }
}

void QueueCore::reserve_for_putters(size_t stored) noexcept {
    while (!putters_.empty() && !full(stored)) {
        if (!wake_first(putters_, inflight_)) break;
        ++reserved_;
    }
}

void QueueCore::task_done() {
    if (unfinished_ == 0) throw std::invalid_argument("task_done() called too many times");
    if (--unfinished_ == 0) wake_all(joiners_, inflight_);
}

void QueueCore::shut_down(size_t drained) noexcept {
    if (drained > 0) {
        unfinished_ -= drained < unfinished_ ? drained : unfinished_;
        if (unfinished_ == 0) wake_all(joiners_, inflight_);
    }
    wake_all(getters_, inflight_, false);
    wake_all(putters_, inflight_, false);
}

void QueueCore::throw_empty() const {
    if (shutdown_) throw QueueShutDown();
    throw QueueEmpty();
}

QueueStats QueueCore::stats(size_t stored) const noexcept {
    return {avail(stored), maxsize_, getters_.size(), putters_.size(), joiners_.size(), inflight_.size(), unfinished_,
            shutdown_};
}

void QueueCore::describe(std::string& out, const void* queue, const char* what, size_t stored) const {
    char buf[160];
    const size_t n = std::string_view(what) == "get" ? getters_.size() : putters_.size();
    if (maxsize_ == 0)
        std::snprintf(buf, sizeof buf, "waiting in Queue %p %s() (size %zu, unbounded; %zu task%s waiting to %s)",
                      queue, what, avail(stored), n, plural(n), what);
    else
        std::snprintf(buf, sizeof buf, "waiting in Queue %p %s() (size %zu of %zu; %zu task%s waiting to %s)",
                      queue, what, avail(stored), maxsize_, n, plural(n), what);
    out += buf;
}

void QueueJoin::resumed_slow() {
    TaskCore& t = *task_;
    const bool woken = state_ == State::woken;
    leave();
    state_ = State::idle;
    t.throw_if_must_cancel();
    if (!woken) t.throw_cancelled();
}

void QueueJoin::describe(std::string& out) const {
    if (!linked()) {
        out += "waiting in join() of a queue that was destroyed";
        return;
    }
    char buf[112];
    std::snprintf(buf, sizeof buf, "waiting in Queue %p join() (%zu unfinished item%s)", queue_,
                  core_->unfinished_, plural(core_->unfinished_));
    out += buf;
}

}  // namespace aio::detail
