// aio::Semaphore: the slow paths.
#include "aio/sync/semaphore.hpp"

#include <cstdio>
#include <stdexcept>

#include "aio/core/errors.hpp"
#include "aio/core/log.hpp"

namespace aio {

Semaphore::Semaphore(std::int64_t value, bool bounded)
    : value_(static_cast<size_t>(value)), capacity_(static_cast<size_t>(value)), bounded_(bounded) {
    if (value < 0) throw std::invalid_argument("Semaphore initial value must be >= 0");
}

bool Semaphore::wake_next() noexcept {
    if (!detail::wake_first(waiters_, inflight_)) return false;
    --value_;
    return true;
}

void Semaphore::throw_over_release() { throw std::invalid_argument("BoundedSemaphore released too many times"); }

void Semaphore::release_from_guard() noexcept {
    if (bounded_ && value_ >= capacity_) {
        log(LogLevel::error, "aio::SemaphoreGuard: BoundedSemaphore released too many times (released by hand?)");
        return;
    }
    ++value_;
    if (!waiters_.empty()) wake_next();
}

namespace detail {

void SemaphoreAcquireBase::await_suspend(std::coroutine_handle<> h) { suspend_on(sem_->waiters_, h); }

bool SemaphoreAcquireBase::cancel_wait(TaskCore& task) noexcept {
    const bool alive = linked();
    SyncWaiter::cancel_wait(task);
    // Leaving the queue may let those behind take permits that were free all along (CPython runs
    // the same loop in acquire()'s `finally`).
    if (alive) sem_->wake_while_free();
    return true;
}

void SemaphoreAcquireBase::resumed_slow() {
    TaskCore& t = *task_;
    if (!end_wait()) throw_destroyed("the aio::Semaphore was destroyed while this task was waiting for it");
    if (t.must_cancel_) {
        // Handed a permit, then cancelled before resuming: give it back (to the next waiter).
        ++sem_->value_;
        sem_->wake_while_free();
        t.deliver_cancel();
    }
    sem_->wake_while_free();
}

SemaphoreAcquireBase::~SemaphoreAcquireBase() {
    if (state_ == State::woken && linked()) {
        leave();
        ++sem_->value_;
        sem_->wake_while_free();
    }
}

void SemaphoreAcquireBase::describe(std::string& out) const {
    if (!linked()) {
        out += "waiting for a Semaphore that was destroyed";
        return;
    }
    const SemaphoreStats s = sem_->stats();
    char buf[128];
    std::snprintf(buf, sizeof buf, "waiting for %sSemaphore %p (value %zu of %zu, %zu task%s queued)",
                  s.bounded ? "Bounded" : "", static_cast<const void*>(sem_), s.value, s.capacity, s.waiters,
                  plural(s.waiters));
    out += buf;
}

}  // namespace detail
}  // namespace aio
