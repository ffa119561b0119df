// multiprocessing's Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier.
#include "aio/mp/sync.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>
#include <system_error>

#include "aio/mp/shared.hpp"

#if defined(__SANITIZE_THREAD__)
#define AIO_MP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AIO_MP_TSAN 1
#endif
#endif
#ifdef AIO_MP_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace aio::mp {

using aio::detail::SteadyTime;

namespace {

// --- process-shared futexes --------------------------------------------------------------------
// Without FUTEX_PRIVATE_FLAG the kernel keys a wait on the shared page rather than on this
// process's address space, which is what lets another process's wake-up find it.

uint32_t* futex_addr(std::atomic<uint32_t>& w) noexcept {
    static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) && std::atomic<uint32_t>::is_always_lock_free);
    return reinterpret_cast<uint32_t*>(&w);
}

timespec to_timespec(SteadyTime t) noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    if (ns < 0) ns = 0;
    return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

/// Sleeps while `w` holds `expected`, until woken or past `deadline` (null: none). False only
/// when the deadline passed; may return spuriously.
bool shared_wait(std::atomic<uint32_t>& w, uint32_t expected, const SteadyTime* deadline) noexcept {
    timespec ts{};
    timespec* tsp = nullptr;
    if (deadline && *deadline != SteadyTime::max()) {
        // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (steady_clock's clock on
        // Linux): a wait interrupted by a signal resumes with the same deadline.
        ts = to_timespec(*deadline);
        tsp = &ts;
    }
    const long r = ::syscall(SYS_futex, futex_addr(w), FUTEX_WAIT_BITSET, expected, tsp, nullptr, FUTEX_BITSET_MATCH_ANY);
    return !(r == -1 && errno == ETIMEDOUT);
}

void shared_wake(std::atomic<uint32_t>& w, int n) noexcept {
    ::syscall(SYS_futex, futex_addr(w), FUTEX_WAKE, n, nullptr, nullptr, 0);
}

void shared_wake_all(std::atomic<uint32_t>& w) noexcept { shared_wake(w, INT_MAX); }

bool past(const SteadyTime* deadline) noexcept { return deadline && std::chrono::steady_clock::now() >= *deadline; }

// --- who is calling ----------------------------------------------------------------------------
// Ownership is per (process, thread). std::thread::id cannot tell a forked child's thread from
// the parent's thread it was copied from, and a bare tid can be reused by a new thread after its
// owner died, so an owner is a 64-bit token: the tid, plus a clock reading taken when the thread
// first needed a token. A fork() resets the child's token.

thread_local uint64_t t_token = 0;

void forget_token_in_child() noexcept { t_token = 0; }

uint64_t self_token() noexcept {
    if (t_token == 0) [[unlikely]] {
        static const bool registered = (::pthread_atfork(nullptr, nullptr, &forget_token_in_child), true);
        (void)registered;
        const auto tid = static_cast<uint32_t>(::gettid());
        const auto now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        t_token = (static_cast<uint64_t>(static_cast<uint32_t>(now ^ (now >> 32))) << 32) | tid;
    }
    return t_token;
}

// --- robust process-shared pthread mutexes -------------------------------------------------------
// The kernel releases a robust mutex when its owner thread ends (or its process dies) and marks it
// "owner died"; the next locker gets EOWNERDEAD and owns it.

void init_robust(pthread_mutex_t* m) {
    pthread_mutexattr_t a;
    ::pthread_mutexattr_init(&a);
    ::pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    // Error-checking: a thread locking what it holds gets EDEADLK instead of hanging.
    ::pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    const int r = ::pthread_mutex_init(m, &a);
    ::pthread_mutexattr_destroy(&a);
    if (r != 0) throw std::system_error(r, std::generic_category(), "pthread_mutex_init");
}

enum class Took { no, yes, owner_died };

Took took(pthread_mutex_t* m, int r) {
    switch (r) {
        case 0: return Took::yes;
        case EOWNERDEAD:
            // Ours now; unless marked consistent, the mutex would become unusable at unlock.
            ::pthread_mutex_consistent(m);
            return Took::owner_died;
        case EBUSY:
        case ETIMEDOUT: return Took::no;
        case EDEADLK: throw RuntimeError("this thread already holds the lock");
        default: throw std::system_error(r, std::generic_category(), "pthread_mutex_lock");
    }
}

/// Locks `m`: at once (block=false), until `deadline` (null: no limit).
Took robust_lock(pthread_mutex_t* m, bool block, const SteadyTime* deadline) {
    if (!block) return took(m, ::pthread_mutex_trylock(m));
    if (!deadline || *deadline == SteadyTime::max()) return took(m, ::pthread_mutex_lock(m));
    const timespec ts = to_timespec(*deadline);
#ifdef AIO_MP_TSAN
    // ThreadSanitizer does not intercept pthread_mutex_clocklock: say what it does.
    __tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
#endif
    const int r = ::pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
#ifdef AIO_MP_TSAN
    __tsan_mutex_post_lock(
        m, (r == 0 || r == EOWNERDEAD) ? __tsan_mutex_try_lock : __tsan_mutex_try_lock | __tsan_mutex_try_lock_failed, 0);
#endif
    return took(m, r);
}

void robust_unlock(pthread_mutex_t* m) noexcept { ::pthread_mutex_unlock(m); }

}  // namespace

// --- Lock: a three-state futex word (0 free, 1 locked, 2 locked and someone may sleep), with no
// owner check on release, as Python's semaphore-based Lock. -------------------------------------

namespace detail {
struct LockState {
    std::atomic<uint32_t> word{0};
    std::atomic<uint64_t> holder{0};  // token of the thread that acquired it; 0 once released
};
}  // namespace detail

namespace {
bool lock_try(detail::LockState& s) noexcept {
    uint32_t c = 0;
    return s.word.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed);
}

bool lock_slow(detail::LockState& s, const SteadyTime* deadline) noexcept {
    // Critical sections are usually shorter than a sleep and a wake-up: spin a little first.
    for (int i = 0; i < 100; ++i) {
        aio::detail::cpu_relax();
        if (s.word.load(std::memory_order_relaxed) == 0 && lock_try(s)) return true;
    }
    // From here the word says 2, so that the releaser knows to wake a sleeper.
    uint32_t c = s.word.exchange(2, std::memory_order_acquire);
    while (c != 0) {
        if (!shared_wait(s.word, 2, deadline)) {
            c = 0;  // out of time: one last try, a release may have raced with the timeout
            return s.word.compare_exchange_strong(c, 2, std::memory_order_acquire, std::memory_order_relaxed);
        }
        c = s.word.exchange(2, std::memory_order_acquire);
    }
    return true;
}

void lock_unlock(detail::LockState& s) {
    uint32_t c = s.word.load(std::memory_order_relaxed);
    do {
        if (c == 0) throw RuntimeError("release unlocked lock");
    } while (!s.word.compare_exchange_weak(c, 0, std::memory_order_release, std::memory_order_relaxed));
    if (c == 2) shared_wake(s.word, 1);
}
}  // namespace

Lock::Lock() : s_(detail::make_shared_state<detail::LockState>()) {}

bool Lock::acquire(bool block) {
    if (!lock_try(*s_) && (!block || !lock_slow(*s_, nullptr))) return false;
    s_->holder.store(self_token(), std::memory_order_relaxed);
    return true;
}

bool Lock::acquire_until(SteadyTime deadline) {
    if (!lock_try(*s_) && !lock_slow(*s_, &deadline)) return false;
    s_->holder.store(self_token(), std::memory_order_relaxed);
    return true;
}

void Lock::release() {
    s_->holder.store(0, std::memory_order_relaxed);
    lock_unlock(*s_);
}

bool Lock::locked() const noexcept { return s_->word.load(std::memory_order_relaxed) != 0; }

bool Lock::is_mine() const noexcept {
    return locked() && s_->holder.load(std::memory_order_relaxed) == self_token();
}

void Lock::release_for_wait() noexcept {
    s_->holder.store(0, std::memory_order_relaxed);
    if (s_->word.exchange(0, std::memory_order_release) == 2) shared_wake(s_->word, 1);
}

void Lock::reacquire_after_wait() {
    if (!lock_try(*s_)) lock_slow(*s_, nullptr);
    s_->holder.store(self_token(), std::memory_order_relaxed);
}

// --- RLock: a robust mutex, with the owner and the depth beside it ------------------------------

namespace detail {
struct RLockState {
    pthread_mutex_t mu;
    std::atomic<uint64_t> owner{0};  // the owner's token; 0 when free
    unsigned depth = 0;              // read and written by the owner only
    bool owner_died = false;         // likewise
};
static_assert(alignof(RLockState) <= 64);

std::size_t rlock_state_size() noexcept { return sizeof(RLockState); }

RLock make_rlock_at(std::shared_ptr<void> keep, void* where) {
    auto* s = ::new (where) RLockState;
    init_robust(&s->mu);
    return RLock(std::shared_ptr<RLockState>(std::move(keep), s));
}
}  // namespace detail

namespace {
std::shared_ptr<detail::RLockState> new_rlock_state() {
    auto s = detail::make_shared_state<detail::RLockState>();
    init_robust(&s->mu);
    return s;
}

void rlock_took(detail::RLockState& s, Took t, unsigned depth) noexcept {
    s.owner.store(self_token(), std::memory_order_relaxed);
    s.depth = depth;
    s.owner_died = t == Took::owner_died;
}
}  // namespace

RLock::RLock() : s_(new_rlock_state()) {}

bool RLock::acquire(bool block) {
    if (owned_by_this_thread()) {
        ++s_->depth;
        return true;
    }
    const Took t = robust_lock(&s_->mu, block, nullptr);
    if (t == Took::no) return false;
    rlock_took(*s_, t, 1);
    return true;
}

bool RLock::acquire_until(SteadyTime deadline) {
    if (owned_by_this_thread()) {
        ++s_->depth;
        return true;
    }
    const Took t = robust_lock(&s_->mu, true, &deadline);
    if (t == Took::no) return false;
    rlock_took(*s_, t, 1);
    return true;
}

void RLock::release() {
    if (!owned_by_this_thread()) throw RuntimeError("cannot release un-acquired lock");
    if (--s_->depth > 0) return;
    s_->owner_died = false;
    s_->owner.store(0, std::memory_order_relaxed);
    robust_unlock(&s_->mu);
}

bool RLock::owned_by_this_thread() const noexcept {
    // Only this thread ever stores its own token, so a relaxed load cannot see it by mistake.
    return s_->owner.load(std::memory_order_relaxed) == self_token();
}

unsigned RLock::recursion_depth() const noexcept { return owned_by_this_thread() ? s_->depth : 0; }

bool RLock::previous_owner_died() const noexcept { return owned_by_this_thread() && s_->owner_died; }

unsigned RLock::release_for_wait() noexcept {
    const unsigned depth = s_->depth;
    s_->depth = 0;
    s_->owner_died = false;
    s_->owner.store(0, std::memory_order_relaxed);
    robust_unlock(&s_->mu);
    return depth;
}

void RLock::reacquire_after_wait(unsigned depth) { rlock_took(*s_, robust_lock(&s_->mu, true, nullptr), depth); }

// --- Semaphore: the value is the futex word ------------------------------------------------------

namespace detail {
struct SemaphoreState {
    SemaphoreState(uint32_t v, bool b) noexcept : value(v), bound(v), bounded(b) {}
    std::atomic<uint32_t> value;
    std::atomic<uint32_t> sleepers{0};  // lets release() skip the wake-up syscall when nobody sleeps
    uint32_t bound;
    bool bounded;
};
}  // namespace detail

namespace {
std::shared_ptr<detail::SemaphoreState> new_semaphore(long value, bool bounded) {
    if (value < 0 || value > Semaphore::max_value)
        throw std::invalid_argument("semaphore initial value must be >= 0 and <= Semaphore::max_value");
    return detail::make_shared_state<detail::SemaphoreState>(static_cast<uint32_t>(value), bounded);
}

bool semaphore_take(detail::SemaphoreState& s, bool block, const SteadyTime* deadline) noexcept {
    uint32_t v = s.value.load(std::memory_order_relaxed);
    for (;;) {
        while (v > 0) {
            if (s.value.compare_exchange_weak(v, v - 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
        }
        if (!block) return false;
        // Announce the sleep before the kernel re-checks the value: release() increments the value
        // and then reads `sleepers`, so one of the two sees the other.
        s.sleepers.fetch_add(1, std::memory_order_seq_cst);
        const bool in_time = shared_wait(s.value, 0, deadline);
        s.sleepers.fetch_sub(1, std::memory_order_relaxed);
        v = s.value.load(std::memory_order_relaxed);
        if (!in_time && v == 0) return false;
    }
}
}  // namespace

Semaphore::Semaphore(long value) : s_(new_semaphore(value, false)) {}

Semaphore::Semaphore(long value, bool bounded) : s_(new_semaphore(value, bounded)) {}

bool Semaphore::acquire(bool block) { return semaphore_take(*s_, block, nullptr); }

bool Semaphore::acquire_until(SteadyTime deadline) { return semaphore_take(*s_, true, &deadline); }

void Semaphore::release(long n) {
    if (n < 1) throw std::invalid_argument("n must be one or more");
    auto& s = *s_;
    uint32_t v = s.value.load(std::memory_order_relaxed);
    for (;;) {
        const auto next = static_cast<unsigned long long>(v) + static_cast<unsigned long long>(n);
        if (s.bounded && next > s.bound) throw std::invalid_argument("semaphore or lock released too many times");
        if (next > static_cast<unsigned long long>(max_value))
            throw std::invalid_argument("semaphore value would exceed Semaphore::max_value");
        if (s.value.compare_exchange_weak(v, static_cast<uint32_t>(next), std::memory_order_seq_cst,
                                          std::memory_order_relaxed))
            break;
    }
    if (s.sleepers.load(std::memory_order_seq_cst) > 0) shared_wake(s.value, n >= INT_MAX ? INT_MAX : static_cast<int>(n));
}

long Semaphore::get_value() const noexcept { return static_cast<long>(s_->value.load(std::memory_order_relaxed)); }

// --- Event: one futex word — bit 0 the flag, bit 1 "someone may sleep", the rest a generation
// that set() bumps, so that a waiter knows it was set even if it was cleared again since. -------

namespace detail {
struct EventState {
    std::atomic<uint32_t> word{0};
};
}  // namespace detail

namespace {
constexpr uint32_t kEventSet = 1;
constexpr uint32_t kEventSleepers = 2;
constexpr uint32_t kEventGeneration = 4;
constexpr uint32_t kEventGenerationMask = ~(kEventSet | kEventSleepers);
}  // namespace

Event::Event() : s_(detail::make_shared_state<detail::EventState>()) {}

void Event::set() {
    auto& w = s_->word;
    uint32_t c = w.load(std::memory_order_relaxed);
    uint32_t next = 0;
    do {
        if (c & kEventSet) return;
        // Every sleeper is about to be woken: the sleepers bit starts afresh.
        next = ((c & kEventGenerationMask) + kEventGeneration) | kEventSet;
    } while (!w.compare_exchange_weak(c, next, std::memory_order_acq_rel, std::memory_order_relaxed));
    if (c & kEventSleepers) shared_wake_all(w);
}

void Event::clear() { s_->word.fetch_and(~kEventSet, std::memory_order_relaxed); }

bool Event::is_set() const noexcept { return (s_->word.load(std::memory_order_acquire) & kEventSet) != 0; }

bool Event::wait_impl(const SteadyTime* deadline) {
    auto& w = s_->word;
    uint32_t c = w.load(std::memory_order_acquire);
    const uint32_t generation = c & kEventGenerationMask;
    auto done = [&](uint32_t v) { return (v & kEventSet) || (v & kEventGenerationMask) != generation; };
    for (;;) {
        if (done(c)) return true;
        if (!(c & kEventSleepers) &&
            !w.compare_exchange_weak(c, c | kEventSleepers, std::memory_order_acquire, std::memory_order_acquire))
            continue;  // `c` is fresh: look again
        const bool in_time = shared_wait(w, c | kEventSleepers, deadline);
        c = w.load(std::memory_order_acquire);
        if (!in_time) return done(c);
    }
}

// --- Condition: Python's threading algorithm, a queue of waiter slots in shared memory ---------
// A waiter takes a slot (its own futex word), links it at the tail and sleeps on it; notify(n)
// unlinks n slots from the head and wakes them. Both happen under the condition's lock, which
// guards the queue. Each waiter also holds its slot's robust mutex while it waits: if its
// process dies the kernel releases that mutex, which is how notify() knows to skip the slot.

namespace detail {
struct alignas(64) CondSlot {  // one cache line each: waiters do not share the futex's line
    pthread_mutex_t alive;
    std::atomic<uint32_t> signaled{0};
    int32_t prev = -1;
    int32_t next = -1;
    bool linked = false;  // in the wait queue
    bool used = false;    // taken by a waiter (queued, or notified and not yet back)
};

struct ConditionState {
    // User-provided, so that value-initialisation does not zero (and so touch) `storage`.
    ConditionState() noexcept {}  // NOLINT(modernize-use-equals-default)
    int32_t head = -1;
    int32_t tail = -1;
    int32_t free_list = -1;  // given-back slots, chained through `next`
    uint32_t constructed = 0;  // slots [0, constructed) exist
    // Slots are constructed the first time they are needed: the pages of the others are never
    // touched, so a Condition costs memory for the most waiters it ever had, not for max_waiters.
    alignas(CondSlot) unsigned char storage[Condition::max_waiters * sizeof(CondSlot)];

    CondSlot& slot(int32_t i) noexcept {
        return *std::launder(reinterpret_cast<CondSlot*>(storage + static_cast<std::size_t>(i) * sizeof(CondSlot)));
    }
};
}  // namespace detail

namespace {
using detail::CondSlot;
using detail::ConditionState;

void cond_unlink(ConditionState& s, int32_t i) noexcept {
    CondSlot& w = s.slot(i);
    if (w.prev >= 0) s.slot(w.prev).next = w.next;
    else s.head = w.next;
    if (w.next >= 0) s.slot(w.next).prev = w.prev;
    else s.tail = w.prev;
    w.prev = w.next = -1;
    w.linked = false;
}

void cond_give_back(ConditionState& s, int32_t i) noexcept {
    CondSlot& w = s.slot(i);
    w.used = false;
    w.next = s.free_list;
    s.free_list = i;
}

/// Whether the waiter that took slot `w` died: it holds `alive` from before it queues the slot
/// until after it is back from waiting, so the mutex is free only if the kernel freed it.
bool cond_waiter_died(CondSlot& w) noexcept {
    const int r = ::pthread_mutex_trylock(&w.alive);
    if (r == EBUSY) return false;
    if (r == EOWNERDEAD) ::pthread_mutex_consistent(&w.alive);
    else if (r != 0) return false;  // no verdict: assume alive
    ::pthread_mutex_unlock(&w.alive);
    return true;
}

int32_t cond_take_slot(ConditionState& s) {
    if (s.free_list < 0 && s.constructed == Condition::max_waiters) {
        // Full: slots of waiters that died after being notified were never given back.
        for (int32_t i = 0; i < static_cast<int32_t>(s.constructed); ++i) {
            CondSlot& w = s.slot(i);
            if (!w.used || !cond_waiter_died(w)) continue;
            if (w.linked) cond_unlink(s, i);
            cond_give_back(s, i);
        }
        if (s.free_list < 0) throw RuntimeError("too many waiters on an aio::mp::Condition (max_waiters)");
    }
    int32_t i = s.free_list;
    if (i >= 0) {
        s.free_list = s.slot(i).next;
    } else {
        i = static_cast<int32_t>(s.constructed);
        auto* w = ::new (s.storage + static_cast<std::size_t>(i) * sizeof(CondSlot)) CondSlot;
        init_robust(&w->alive);
        ++s.constructed;
    }
    CondSlot& w = s.slot(i);
    w.used = true;
    w.prev = w.next = -1;
    w.signaled.store(0, std::memory_order_relaxed);
    return i;
}
}  // namespace

Condition::Condition() : lock_(RLock()), s_(detail::make_shared_state<ConditionState>()) {}

Condition::Condition(Lock lock) : lock_(std::move(lock)), s_(detail::make_shared_state<ConditionState>()) {}

Condition::Condition(RLock lock) : lock_(std::move(lock)), s_(detail::make_shared_state<ConditionState>()) {}

bool Condition::owned() const noexcept {
    if (const auto* r = std::get_if<RLock>(&lock_)) return r->owned_by_this_thread();
    return std::get<Lock>(lock_).is_mine();
}

bool Condition::wait_impl(const SteadyTime* deadline) {
    if (!owned()) throw RuntimeError("cannot wait on un-acquired lock");
    ConditionState& s = *s_;
    const int32_t i = cond_take_slot(s);
    CondSlot& me = s.slot(i);
    // A free slot's mutex is free and consistent, so a try-lock takes it; trying also keeps the
    // lock-order graph of ThreadSanitizer's deadlock detector free of an alive -> lock -> alive
    // cycle (nobody ever blocks on `alive`).
    if (robust_lock(&me.alive, false, nullptr) == Took::no) robust_lock(&me.alive, true, nullptr);
    me.prev = s.tail;
    if (s.tail >= 0) s.slot(s.tail).next = i;
    else s.head = i;
    s.tail = i;
    me.linked = true;

    unsigned depth = 0;
    if (auto* r = std::get_if<RLock>(&lock_)) depth = r->release_for_wait();
    else std::get<Lock>(lock_).release_for_wait();

    bool signaled = false;
    for (;;) {
        if (me.signaled.load(std::memory_order_acquire) != 0) {
            signaled = true;
            break;
        }
        if (!shared_wait(me.signaled, 0, deadline)) break;
    }

    // Re-acquire on every path (Python: _acquire_restore in a finally).
    if (auto* r = std::get_if<RLock>(&lock_)) r->reacquire_after_wait(depth);
    else std::get<Lock>(lock_).reacquire_after_wait();
    // A notify may have picked this waiter between its timeout and the re-acquisition: then it
    // was notified (Python would lose that notification; here nobody does).
    if (!signaled && me.signaled.load(std::memory_order_acquire) != 0) signaled = true;
    if (!signaled) cond_unlink(s, i);
    robust_unlock(&me.alive);
    cond_give_back(s, i);
    return signaled;
}

void Condition::notify(std::size_t n) {
    if (!owned()) throw RuntimeError("cannot notify on un-acquired lock");
    ConditionState& s = *s_;
    while (n > 0 && s.head >= 0) {
        const int32_t i = s.head;
        CondSlot& w = s.slot(i);
        cond_unlink(s, i);
        if (cond_waiter_died(w)) {
            cond_give_back(s, i);
            continue;
        }
        // The waiter cannot give its slot back before re-acquiring the lock we hold.
        w.signaled.store(1, std::memory_order_release);
        shared_wake(w.signaled, 1);
        --n;
    }
}

// --- Barrier: Python's state machine under a robust mutex; sleepers wait on a sequence word
// that every state change bumps. ------------------------------------------------------------------

namespace detail {
struct BarrierState {
    explicit BarrierState(uint32_t p) noexcept : parties(p) {}
    pthread_mutex_t mu;
    std::atomic<uint32_t> seq{0};
    // Written under `mu`; atomic so that n_waiting() and broken() may read them without it, as
    // Python's properties do (and so that the action may call them).
    std::atomic<int32_t> state{0};
    std::atomic<uint32_t> count{0};
    uint32_t parties;
    uint32_t sleepers = 0;
};
}  // namespace detail

namespace {
using detail::BarrierState;

// Python's values for the barrier's states.
constexpr int32_t kFilling = 0;
constexpr int32_t kDraining = 1;
constexpr int32_t kResetting = -1;
constexpr int32_t kBroken = -2;

void barrier_changed(BarrierState& s) noexcept {
    s.seq.fetch_add(1, std::memory_order_release);
    if (s.sleepers > 0) shared_wake_all(s.seq);
}

void barrier_break(BarrierState& s) noexcept {
    s.state.store(kBroken, std::memory_order_relaxed);
    barrier_changed(s);
}

/// Holds the barrier's mutex.
class BarrierGuard {
public:
    explicit BarrierGuard(BarrierState& s) : s_(s) { lock(); }
    BarrierGuard(const BarrierGuard&) = delete;
    BarrierGuard& operator=(const BarrierGuard&) = delete;
    ~BarrierGuard() { robust_unlock(&s_.mu); }

    /// Releases the mutex until the state changes, a spurious wake-up or the deadline; false
    /// only if the deadline passed.
    bool sleep(const SteadyTime* deadline) {
        const uint32_t seen = s_.seq.load(std::memory_order_relaxed);
        ++s_.sleepers;
        robust_unlock(&s_.mu);
        const bool in_time = shared_wait(s_.seq, seen, deadline);
        lock();
        --s_.sleepers;
        return in_time;
    }

private:
    void lock() {
        Took t = Took::no;
        try {
            t = robust_lock(&s_.mu, true, nullptr);
        } catch (const RuntimeError&) {
            throw RuntimeError("a Barrier's action cannot call wait(), reset() or abort()");
        }
        // A process died in the middle of a barrier operation: its count is lost, so nobody can
        // tell when the round is complete. Breaking the barrier says so.
        if (t == Took::owner_died) barrier_break(s_);
    }
    BarrierState& s_;
};
}  // namespace

Barrier::Barrier(std::size_t parties, std::function<void()> action, std::optional<std::chrono::nanoseconds> timeout)
    : action_(std::make_shared<const std::function<void()>>(std::move(action))), timeout_(timeout), parties_(parties) {
    if (parties == 0 || parties > static_cast<std::size_t>(INT32_MAX))
        throw std::invalid_argument("parties must be >= 1 and < 2^31");
    s_ = detail::make_shared_state<BarrierState>(static_cast<uint32_t>(parties));
    init_robust(&s_->mu);
}

std::size_t Barrier::wait() {
    if (timeout_) {
        const auto deadline = aio::detail::deadline_after(*timeout_);
        return wait_impl(&deadline);
    }
    return wait_impl(nullptr);
}

std::size_t Barrier::wait_impl(const SteadyTime* deadline) {
    BarrierState& s = *s_;
    BarrierGuard g(s);
    auto state = [&] { return s.state.load(std::memory_order_relaxed); };
    // Wait while the previous round is released or a reset completes.
    while (state() == kDraining || state() == kResetting) {
        if (past(deadline)) {
            barrier_break(s);
            throw BrokenBarrierError();
        }
        g.sleep(deadline);
    }
    if (state() == kBroken) throw BrokenBarrierError();
    const std::size_t index = s.count.fetch_add(1, std::memory_order_relaxed);
    struct Leave {  // Python's `finally: self._count -= 1; self._exit()`, still under the mutex
        explicit Leave(BarrierState& st) noexcept : s(st) {}
        Leave(const Leave&) = delete;
        Leave& operator=(const Leave&) = delete;
        BarrierState& s;
        ~Leave() {
            const int32_t st = s.state.load(std::memory_order_relaxed);
            if (s.count.fetch_sub(1, std::memory_order_relaxed) == 1 && (st == kDraining || st == kResetting)) {
                s.state.store(kFilling, std::memory_order_relaxed);
                barrier_changed(s);
            }
        }
    } leave{s};
    if (index + 1 == s.parties) {
        // The last to arrive runs the action, then releases everyone.
        if (*action_) {
            try {
                (*action_)();
            } catch (...) {
                barrier_break(s);
                throw;
            }
        }
        s.state.store(kDraining, std::memory_order_relaxed);
        barrier_changed(s);
        return index;
    }
    while (state() == kFilling) {
        if (past(deadline)) {
            barrier_break(s);
            throw BrokenBarrierError();
        }
        g.sleep(deadline);
    }
    if (state() == kBroken || state() == kResetting) throw BrokenBarrierError();
    return index;
}

void Barrier::reset() {
    BarrierState& s = *s_;
    BarrierGuard g(s);
    if (s.count.load(std::memory_order_relaxed) > 0) {
        const int32_t st = s.state.load(std::memory_order_relaxed);
        // Waiters see the reset and leave; the last one out empties the barrier.
        if (st == kFilling || st == kBroken) s.state.store(kResetting, std::memory_order_relaxed);
    } else {
        s.state.store(kFilling, std::memory_order_relaxed);
    }
    barrier_changed(s);
}

void Barrier::abort() {
    BarrierGuard g(*s_);
    barrier_break(*s_);
}

std::size_t Barrier::n_waiting() const noexcept {
    return s_->state.load(std::memory_order_relaxed) == kFilling ? s_->count.load(std::memory_order_relaxed) : 0;
}

bool Barrier::broken() const noexcept { return s_->state.load(std::memory_order_relaxed) == kBroken; }

}  // namespace aio::mp
