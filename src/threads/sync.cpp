// threading's Lock, RLock, Condition, Event, Semaphore, BoundedSemaphore and Barrier.
#include "aio/threads/sync.hpp"

#include <stdexcept>

namespace aio::threading {

using aio::detail::SteadyTime;

// --- Lock: Ulrich Drepper's three-state futex mutex ("Futexes are tricky", mutex 2), minus
// ownership, so that any thread may release it as Python allows. --------------------------------

Lock::~Lock() {
    if (known_.load(std::memory_order_relaxed)) detail::dl_forget(this);
}

bool Lock::raw_acquire(const SteadyTime* deadline) noexcept {
    uint32_t c = 0;
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    // A short spin first: most critical sections are shorter than a sleep and a wake-up.
    for (int i = 0; i < 100; ++i) {
        aio::detail::cpu_relax();
        c = 0;
        if (state_.load(std::memory_order_relaxed) == 0 &&
            state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed))
            return true;
    }
    // From now on the word says "someone may sleep" (2), so the releaser wakes one sleeper.
    c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
        if (!aio::detail::futex_wait(state_, 2, deadline) && deadline && std::chrono::steady_clock::now() >= *deadline) {
            // One last try: a release may have raced with the timeout.
            c = 0;
            return state_.compare_exchange_strong(c, 2, std::memory_order_acquire, std::memory_order_relaxed);
        }
        c = state_.exchange(2, std::memory_order_acquire);
    }
    return true;
}

void Lock::raw_release() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) aio::detail::futex_wake(state_, 1);
}

bool Lock::acquire_checked(bool blocking, const SteadyTime* deadline, const SourceLoc& where) {
    if (blocking) detail::dl_before_acquire(info(false), where, deadline == nullptr);
    bool ok = try_fast() || (blocking && raw_acquire(deadline));
    if (ok) {
        known_.store(true, std::memory_order_relaxed);
        detail::dl_acquired(info(false), where);
    }
    return ok;
}

void Lock::release() {
    if (state_.load(std::memory_order_relaxed) == 0) throw RuntimeError("release unlocked lock");
    if (known_.load(std::memory_order_relaxed)) detail::dl_released(this);
    raw_release();
}

// --- RLock -------------------------------------------------------------------------------------

RLock::~RLock() = default;  // lock_'s destructor tells the detector

bool RLock::acquire_first(bool blocking, const SteadyTime* deadline, const SourceLoc& where) {
    const bool detect = detail::detecting();
    if (detect && blocking) detail::dl_before_acquire(lock_.info(true), where, deadline == nullptr);
    bool ok = lock_.try_fast() || (blocking && lock_.raw_acquire(deadline));
    if (!ok) return false;
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    count_ = 1;
    if (detect) {
        lock_.known_.store(true, std::memory_order_relaxed);
        detail::dl_acquired(lock_.info(true), where);
    }
    return true;
}

void RLock::release() {
    if (!owned_by_this_thread()) throw RuntimeError("cannot release un-acquired lock");
    if (--count_ > 0) return;
    owner_.store(std::thread::id{}, std::memory_order_relaxed);
    if (lock_.known_.load(std::memory_order_relaxed)) detail::dl_released(&lock_);
    lock_.raw_release();
}

// --- Condition: Python's algorithm, one futex word per waiter ----------------------------------

Condition::Condition() : own_(std::make_unique<RLock>()), rec_(own_.get()) {}

Condition::~Condition() = default;

void Condition::unlink(Waiter& w) noexcept {
    if (w.prev) w.prev->next = w.next;
    else head_ = w.next;
    if (w.next) w.next->prev = w.prev;
    else tail_ = w.prev;
    w.prev = w.next = nullptr;
}

bool Condition::wait_impl(const SteadyTime* deadline) {
    if (!owned()) throw RuntimeError("cannot wait on un-acquired lock");
    Waiter w;
    w.prev = tail_;
    if (tail_) tail_->next = &w;
    else head_ = &w;
    tail_ = &w;
    // Release the lock completely (an RLock may be held several times), remembering how deep.
    unsigned depth = 0;
    Lock& l = rec_ ? rec_->lock_ : *plain_;
    const bool detect = l.known_.load(std::memory_order_relaxed);
    if (rec_) {
        depth = rec_->count_;
        rec_->count_ = 0;
        rec_->owner_.store(std::thread::id{}, std::memory_order_relaxed);
    }
    if (detect) detail::dl_released(&l);
    l.raw_release();
    bool signaled = false;
    for (;;) {
        if (w.signaled.load(std::memory_order_acquire)) {
            signaled = true;
            break;
        }
        if (!aio::detail::futex_wait(w.signaled, 0, deadline) && deadline && std::chrono::steady_clock::now() >= *deadline) break;
    }
    // Re-acquire, on every path (Python: _acquire_restore in a finally).
    l.raw_acquire(nullptr);
    if (rec_) {
        rec_->owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        rec_->count_ = depth;
    }
    if (detect) {
        static constexpr SourceLoc kSite{"Condition::wait", "(re-acquired after wait)", 0};
        detail::dl_acquired(l.info(rec_ != nullptr), kSite);
    }
    // A notify may have picked this waiter between the timeout and the re-acquisition: then it
    // counts as notified (Python drops such a notification; here nobody loses it).
    if (!signaled && w.signaled.load(std::memory_order_acquire)) signaled = true;
    if (!signaled) unlink(w);
    return signaled;
}

void Condition::notify(std::size_t n) {
    if (!owned()) throw RuntimeError("cannot notify on un-acquired lock");
    while (n > 0 && head_) {
        Waiter* w = head_;
        unlink(*w);
        // The waiter cannot leave wait() before re-acquiring the lock we hold, so `w` is alive.
        w->signaled.store(1, std::memory_order_release);
        aio::detail::futex_wake(w->signaled, 1);
        --n;
    }
}

// --- Event ---------------------------------------------------------------------------------------

void Event::set() {
    {
        std::lock_guard lk(mu_);
        if (flag_) return;
        flag_ = true;
        ++generation_;
    }
    cv_.notify_all();
}

void Event::clear() {
    std::lock_guard lk(mu_);
    flag_ = false;
}

bool Event::is_set() const {
    std::lock_guard lk(mu_);
    return flag_;
}

bool Event::wait() {
    std::unique_lock lk(mu_);
    const uint64_t gen = generation_;
    cv_.wait(lk, [&] { return flag_ || generation_ != gen; });
    return true;
}

bool Event::wait_until(SteadyTime deadline) {
    std::unique_lock lk(mu_);
    const uint64_t gen = generation_;
    return cv_.wait_until(lk, deadline, [&] { return flag_ || generation_ != gen; });
}

// --- Semaphore -----------------------------------------------------------------------------------

Semaphore::Semaphore(long value) : value_(value) {
    if (value < 0) throw std::invalid_argument("semaphore initial value must be >= 0");
}

bool Semaphore::acquire(bool blocking) {
    std::unique_lock lk(mu_);
    if (!blocking && value_ == 0) return false;
    cv_.wait(lk, [&] { return value_ > 0; });
    --value_;
    return true;
}

bool Semaphore::acquire_until(SteadyTime deadline) {
    std::unique_lock lk(mu_);
    if (!cv_.wait_until(lk, deadline, [&] { return value_ > 0; })) return false;
    --value_;
    return true;
}

void Semaphore::release(long n) {
    if (n < 1) throw std::invalid_argument("n must be one or more");
    {
        std::lock_guard lk(mu_);
        value_ += n;
    }
    if (n == 1) cv_.notify_one();
    else cv_.notify_all();
}

long Semaphore::value() const {
    std::lock_guard lk(mu_);
    return value_;
}

void BoundedSemaphore::release(long n) {
    if (n < 1) throw std::invalid_argument("n must be one or more");
    {
        std::lock_guard lk(mu_);
        if (value_ + n > initial_) throw std::invalid_argument("Semaphore released too many times");
        value_ += n;
    }
    if (n == 1) cv_.notify_one();
    else cv_.notify_all();
}

// --- Barrier: Python's state machine -------------------------------------------------------------

Barrier::Barrier(std::size_t parties, std::function<void()> action, std::optional<std::chrono::nanoseconds> timeout)
    : parties_(parties), action_(std::move(action)), timeout_(timeout) {
    if (parties == 0) throw std::invalid_argument("parties must be >= 1");
}

std::size_t Barrier::wait() {
    if (timeout_) {
        const auto deadline = aio::detail::deadline_after(*timeout_);
        return wait_impl(&deadline);
    }
    return wait_impl(nullptr);
}

std::size_t Barrier::wait_impl(const SteadyTime* deadline) {
    std::unique_lock lk(mu_);
    // Block while the barrier drains or resets.
    cv_.wait(lk, [&] { return state_ != State::draining && state_ != State::resetting; });
    if (state_ == State::broken) throw BrokenBarrierError();
    const std::size_t index = count_++;
    struct Exit {  // Python's `finally: self._count -= 1; self._exit()`
        Barrier& b;
        ~Exit() {
            if (--b.count_ == 0 && (b.state_ == State::draining || b.state_ == State::resetting)) {
                b.state_ = State::filling;
                b.cv_.notify_all();
            }
        }
    } exit{*this};
    if (index + 1 == parties_) {
        // The last to arrive runs the action, then releases everyone.
        if (action_) {
            try {
                action_();
            } catch (...) {
                break_locked();
                throw;
            }
        }
        state_ = State::draining;
        cv_.notify_all();
        return index;
    }
    auto released = [&] { return state_ != State::filling; };
    bool ok = deadline ? cv_.wait_until(lk, *deadline, released) : (cv_.wait(lk, released), true);
    if (!ok) {
        break_locked();
        throw BrokenBarrierError();
    }
    if (state_ == State::broken || state_ == State::resetting) throw BrokenBarrierError();
    return index;
}

void Barrier::reset() {
    std::lock_guard lk(mu_);
    if (count_ > 0) {
        if (state_ == State::filling || state_ == State::broken) state_ = State::resetting;
    } else {
        state_ = State::filling;
    }
    cv_.notify_all();
}

void Barrier::abort() {
    std::lock_guard lk(mu_);
    break_locked();
}

std::size_t Barrier::n_waiting() const {
    std::lock_guard lk(mu_);
    return state_ == State::filling ? count_ : 0;
}

bool Barrier::broken() const {
    std::lock_guard lk(mu_);
    return state_ == State::broken;
}

}  // namespace aio::threading
