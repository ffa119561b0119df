// aio::Barrier, following CPython's asyncio.Barrier state machine (Lib/asyncio/locks.py), with
// waiter lists instead of a Condition: the wake-ups are the same, without a lock round trip.
#include "aio/sync/barrier.hpp"

#include <cstdio>
#include <stdexcept>

namespace aio {

namespace {
bool entrance_closed(BarrierState s) { return s == BarrierState::draining || s == BarrierState::resetting; }
}  // namespace

Barrier::Barrier(std::int64_t parties) : parties_(static_cast<size_t>(parties)) {
    if (parties < 1) throw std::invalid_argument("parties must be > 0");
}

Task<size_t> Barrier::wait() {
    bool gone = false;  // set if the barrier is destroyed under us: then `this` is off limits
    while (entrance_closed(state_)) co_await detail::BarrierWait(*this, blocked_, &gone);
    if (state_ == BarrierState::broken) throw BrokenBarrierError("Barrier aborted");

    const size_t index = count_++;
    // Python's `finally: self._count -= 1; self._exit()`, on every way out of here, including a
    // frame destroyed by a closing loop.
    struct Exit {
        Barrier* barrier;
        const bool* gone;
        ~Exit() {
            if (!*gone) barrier->leave();
        }
    } exit{this, &gone};

    if (index + 1 == parties_) {
        state_ = BarrierState::draining;
        detail::wake_all(filling_, inflight_);
        co_return index;
    }
    while (state_ == BarrierState::filling) co_await detail::BarrierWait(*this, filling_, &gone);
    if (state_ == BarrierState::broken || state_ == BarrierState::resetting)
        throw BrokenBarrierError("Abort or reset of barrier");
    co_return index;
}

void Barrier::leave() noexcept {
    if (--count_ != 0) return;
    if (entrance_closed(state_)) state_ = BarrierState::filling;
    detail::wake_all(blocked_, inflight_);
}

void Barrier::reset() noexcept {
    if (count_ > 0) {
        state_ = BarrierState::resetting;
        detail::wake_all(filling_, inflight_);
    } else {
        state_ = BarrierState::filling;
        detail::wake_all(blocked_, inflight_);
    }
}

void Barrier::abort() noexcept {
    state_ = BarrierState::broken;
    detail::wake_all(filling_, inflight_);
    detail::wake_all(blocked_, inflight_);
}

namespace detail {

void BarrierWait::await_resume() {
    TaskCore& t = *task_;
    const bool woken = state_ == State::woken;
    if (woken && !linked()) *gone_ = true;
    leave();
    state_ = State::idle;
    t.throw_if_must_cancel();
    if (!woken) t.throw_cancelled();
    if (*gone_) throw RuntimeError("the aio::Barrier was destroyed while this task was waiting in it");
}

bool BarrierWait::cancel_wait(TaskCore& task) noexcept {
    if (!linked()) *gone_ = true;
    return SyncWaiter::cancel_wait(task);
}

void BarrierWait::describe(std::string& out) const {
    if (!linked()) {
        out += "waiting at a Barrier that was destroyed";
        return;
    }
    const BarrierStats s = barrier_->stats();
    char buf[128];
    if (list_to_join_ == &barrier_->blocked_)
        std::snprintf(buf, sizeof buf, "waiting at the entrance of Barrier %p (draining or resetting; %zu inside)",
                      static_cast<const void*>(barrier_), s.inside);
    else
        std::snprintf(buf, sizeof buf, "waiting at Barrier %p (%zu of %zu parties arrived)",
                      static_cast<const void*>(barrier_), s.n_waiting, s.parties);
    out += buf;
}

}  // namespace detail
}  // namespace aio
