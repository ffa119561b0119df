// aio::ConcurrentFuture<R> — concurrent.futures.Future: a result some thread will produce,
// safe to wait on, poll, cancel and chain from any thread. And the module functions
// aio::wait / aio::as_completed over them, which block the calling thread as Python's do.
//
// Unlike aio::Future<T> (asyncio.Future, one loop's thread only), every operation here is
// thread-safe. The state is one atomic word: completing a future with no waiter and no callback
// costs two compare-exchanges, and a waiter sleeps on a futex, not a mutex + condition variable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/wait.hpp"
#include "aio/threads/detail/futex.hpp"
#include "aio/threads/detail/job.hpp"
#include "aio/threads/errors.hpp"

namespace aio {

class EventLoop;
template <class R = void>
class ConcurrentFuture;

namespace detail {

class CFCore;

/// A registration on a concurrent future, fired once: in the thread that completes the future,
/// or at once in the registering thread when it is already done. fire() owns the node.
struct CFCallback {
    CFCallback* prev = nullptr;
    CFCallback* next = nullptr;
    virtual void fire(CFCore& future) noexcept = 0;

protected:
    ~CFCallback() = default;
};

/// The untyped state of a concurrent future. It is also a Job, so that a pool's job and its
/// future are one allocation.
///
/// The status word holds the state (pending, running, completing, finished, cancelled) and three
/// flags: someone sleeps on the futex, the callback list is locked, the list is not empty. Whoever
/// moves the state to `completing` (try_claim) is the only writer of the result; publish() then
/// makes it final, and after that the completer owns the callback list without a lock.
class CFCore : public Job {
public:
    enum : uint32_t {
        pending = 0,
        running = 1,
        completing = 2,
        finished = 3,
        cancelled = 4,
        status_mask = 7,
        f_waiters = 8,
        f_lock = 16,
        f_callbacks = 32,
    };

    CFCore() noexcept = default;
    CFCore(const CFCore&) = delete;
    CFCore& operator=(const CFCore&) = delete;

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
    }

    [[nodiscard]] uint32_t status() const noexcept { return status_.load(std::memory_order_acquire) & status_mask; }
    [[nodiscard]] bool done() const noexcept { return status() >= finished; }

    /// Becomes the one writer of the result: pending/running -> completing. False if another
    /// thread completed or cancelled it first.
    bool try_claim() noexcept;
    /// completing -> `final_status` (finished or cancelled): wakes the waiters, runs the callbacks.
    void publish(uint32_t final_status) noexcept;
    /// Python Future.cancel(): only a pending future can be cancelled; true if it is (now) cancelled.
    bool cancel() noexcept;
    /// pending -> running; false if cancelled (Python: set_running_or_notify_cancel).
    bool mark_running() noexcept;
    /// Blocks until done; false if `deadline` (null: none) passed first.
    bool wait(const SteadyTime* deadline) const;
    /// Appends `cb` to the callbacks; false when the future is already done (then `cb` was not
    /// added: the caller fires it).
    bool add_callback(CFCallback* cb) noexcept;
    /// Takes `cb` back; false when the future is already done (then the completer owns `cb`).
    bool remove_callback(CFCallback* cb) noexcept;
    /// Throws CancelledError if cancelled, the stored exception if failed.
    void rethrow_if_failed() const;
    /// The stored exception (null if none), for a done future.
    [[nodiscard]] const std::exception_ptr& stored_exception() const noexcept { return exc_; }
    /// Sets the exception of a claimed future and publishes it.
    void fail_claimed(std::exception_ptr e) noexcept {
        exc_ = std::move(e);
        publish(finished);
    }

    // Job: a future made by hand is never queued; pool jobs override run().
    void run() noexcept override { release(); }
    void abandon(const std::exception_ptr& why) noexcept override;

    /// Set (before the future is shared) when the future is completed by a coroutine on this
    /// loop (run_coroutine_threadsafe): blocking that loop's thread on it can only deadlock.
    EventLoop* owner_loop_ = nullptr;

protected:
    virtual void destroy() noexcept = 0;
    ~CFCore() = default;

    std::exception_ptr exc_;  // written by the claimer before publish, read after done()

private:
    bool lock_callbacks() noexcept;
    void unlock_callbacks() noexcept;
    void notify_final(uint32_t old) noexcept;
    void check_blocking(bool has_deadline) const;

    mutable std::atomic<uint32_t> status_{pending};
    std::atomic<uint32_t> refs_{1};
    CFCallback* head_ = nullptr;  // guarded by f_lock until final, then the completer's
    CFCallback* tail_ = nullptr;
};

template <class R>
using cf_value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

/// The typed state: the result slot.
template <class R>
class CFState : public CFCore {
public:
    /// Completes with a value: false if already completed or cancelled.
    template <class... U>
    bool try_set_value(U&&... v) {
        if (!try_claim()) return false;
        try {
            value_.emplace(std::forward<U>(v)...);
        } catch (...) {
            fail_claimed(std::current_exception());
            return true;
        }
        publish(finished);
        return true;
    }
    bool try_set_exception(std::exception_ptr e) noexcept {
        if (!try_claim()) return false;
        fail_claimed(std::move(e));
        return true;
    }
    /// The result of a done future: a copy when R is copyable (result() may be called many
    /// times, from many threads), else moved out (call it once).
    R get() {
        rethrow_if_failed();
        if constexpr (std::is_void_v<R>) return;
        else if constexpr (std::is_copy_constructible_v<R>) return *value_;
        else return std::move(*value_);
    }

protected:
    ~CFState() = default;
    std::optional<cf_value_t<R>> value_;
};

/// A future completed by hand (ConcurrentFuture::create, run_coroutine_threadsafe).
template <class R>
class ManualCFState final : public CFState<R> {
    void destroy() noexcept override { delete this; }
};

/// Logs an exception escaping a done-callback (Python: "exception calling callback for ...").
void report_callback_exception(std::exception_ptr e) noexcept;

template <class R, class F>
class UserCFCallback final : public CFCallback {
public:
    explicit UserCFCallback(F f) : fn_(std::move(f)) {}
    void fire(CFCore& f) noexcept override;

private:
    F fn_;
};

/// The blocking side of wait() and as_completed(): one node per future, all signalling one
/// condition variable.
struct CFWaiter {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<size_t> fired;  // indices, in completion order
};

/// Installs a node on every future; already-done ones are recorded at once, in input order.
/// Removes the nodes still installed when destroyed.
class CFWaiterSet {
public:
    explicit CFWaiterSet(std::vector<CFCore*> cores);
    CFWaiterSet(const CFWaiterSet&) = delete;
    CFWaiterSet& operator=(const CFWaiterSet&) = delete;
    ~CFWaiterSet();
    /// Waits until `fired` is non-empty (or the deadline passes), then hands it over.
    std::vector<size_t> take(const SteadyTime* deadline, bool block);
    /// Blocks until `pred()` holds (checked under the lock after every completion) or the
    /// deadline passes.
    template <class P>
    void wait_until(const SteadyTime* deadline, P pred) {
        std::unique_lock lk(w_->mu);
        while (!pred()) {
            if (!deadline) w_->cv.wait(lk);
            else if (w_->cv.wait_until(lk, *deadline) == std::cv_status::timeout) return;
        }
    }

private:
    struct Node final : CFCallback {
        std::shared_ptr<CFWaiter> w;
        size_t index = 0;
        void fire(CFCore&) noexcept override;
    };
    std::shared_ptr<CFWaiter> w_;
    std::vector<CFCore*> cores_;
    std::vector<Node*> nodes_;  // null where the future was done at installation
};

/// Checks the caller may block here (throws when it would deadlock the running loop).
void check_blocking_wait(const std::vector<CFCore*>& cores, bool has_deadline);

}  // namespace detail

/// concurrent.futures.Future: the result of work running elsewhere (a pool's thread, a
/// coroutine on another thread's loop). A copyable handle, safe to use from any thread; copies
/// refer to the same future.
///
/// From a coroutine, do not block on it: `co_await aio::wrap_future(f)` (aio/threads/bridge.hpp).
/// Blocking the loop's thread on a future that loop must complete (run_coroutine_threadsafe
/// onto the same loop) throws RuntimeError instead of deadlocking; in debug mode any blocking
/// wait on a loop's thread is logged.
template <class R>
class ConcurrentFuture {
public:
    using value_type = R;

    /// An empty handle; every operation but operator bool throws InvalidStateError.
    ConcurrentFuture() noexcept = default;
    /// Python `concurrent.futures.Future()`: a pending future, completed by hand with
    /// set_result / set_exception (for executor implementers and tests).
    [[nodiscard]] static ConcurrentFuture create() { return ConcurrentFuture(new detail::ManualCFState<R>(), true); }

    ConcurrentFuture(const ConcurrentFuture& o) noexcept : s_(o.s_) {
        if (s_) s_->add_ref();
    }
    ConcurrentFuture(ConcurrentFuture&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    ConcurrentFuture& operator=(ConcurrentFuture o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~ConcurrentFuture() {
        if (s_) s_->release();
    }

    /// Python Future.result(): blocks until done; returns the value, rethrows the job's
    /// exception, throws CancelledError if it was cancelled.
    R result() const {
        auto& s = state();
        s.wait(nullptr);
        return s.get();
    }
    /// Python Future.result(timeout): throws aio::TimeoutError if not done in time; the work
    /// goes on.
    template <class Rep, class Period>
    R result(std::chrono::duration<Rep, Period> timeout) const {
        auto& s = state();
        const auto deadline = detail::deadline_after(timeout);
        if (!s.wait(&deadline)) throw TimeoutError();
        return s.get();
    }
    /// Python Future.exception(): null if the job succeeded; CancelledError if cancelled.
    [[nodiscard]] std::exception_ptr exception() const {
        auto& s = state();
        s.wait(nullptr);
        return stored_exception(s);
    }
    /// Python Future.exception(timeout).
    template <class Rep, class Period>
    [[nodiscard]] std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
        auto& s = state();
        const auto deadline = detail::deadline_after(timeout);
        if (!s.wait(&deadline)) throw TimeoutError();
        return stored_exception(s);
    }
    /// Python Future.done(): finished or cancelled.
    [[nodiscard]] bool done() const { return state().done(); }
    /// Python Future.running(): a worker is running the job now.
    [[nodiscard]] bool running() const {
        auto st = state().status();
        return st == detail::CFCore::running || st == detail::CFCore::completing;
    }
    /// Python Future.cancelled().
    [[nodiscard]] bool cancelled() const { return state().status() == detail::CFCore::cancelled; }
    /// Python Future.cancel(): succeeds only while the job is pending (not yet running); true
    /// if the future is cancelled now. Waiters get CancelledError; callbacks run.
    bool cancel() { return state().cancel(); }

    /// Python Future.add_done_callback(fn): `fn(ConcurrentFuture<R>)` or `fn()` runs once the
    /// future is done, in the thread that completes it — or at once, in this thread, if it is
    /// already done. Callbacks run in the order added. An exception escaping `fn` is logged
    /// (aio::log), never propagated.
    template <class F>
    void add_done_callback(F fn) {
        auto& s = state();
        auto* node = new detail::UserCFCallback<R, std::decay_t<F>>(std::move(fn));
        if (!s.add_callback(node)) node->fire(s);
    }

    /// Python Future.set_running_or_notify_cancel(): false if cancelled (then do not run the
    /// work); throws InvalidStateError if already running or done.
    bool set_running_or_notify_cancel() {
        auto& s = state();
        if (s.mark_running()) return true;
        if (s.status() == detail::CFCore::cancelled) return false;
        throw InvalidStateError("set_running_or_notify_cancel: the future is already running or done");
    }
    /// Python Future.set_result(value). Throws InvalidStateError if already done.
    template <class U = R>
        requires(!std::is_void_v<R>)
    void set_result(U&& value) {
        if (!state().try_set_value(std::forward<U>(value))) throw InvalidStateError("set_result: the future is already done");
    }
    /// Python Future.set_result(None).
    void set_result()
        requires std::is_void_v<R>
    {
        if (!state().try_set_value()) throw InvalidStateError("set_result: the future is already done");
    }
    /// Python Future.set_exception(exc). Throws InvalidStateError if already done,
    /// std::invalid_argument for a null exception_ptr.
    void set_exception(std::exception_ptr e) {
        if (!e) throw std::invalid_argument("set_exception: null exception_ptr");
        if (!state().try_set_exception(std::move(e))) throw InvalidStateError("set_exception: the future is already done");
    }

    explicit operator bool() const noexcept { return s_ != nullptr; }
    friend bool operator==(const ConcurrentFuture& a, const ConcurrentFuture& b) noexcept { return a.s_ == b.s_; }

    /// Internal: adopts (or shares) a state.
    ConcurrentFuture(detail::CFState<R>* s, bool adopt) noexcept : s_(s) {
        if (s_ && !adopt) s_->add_ref();
    }
    [[nodiscard]] detail::CFState<R>* state_ptr() const noexcept { return s_; }

private:
    detail::CFState<R>& state() const {
        if (!s_) throw InvalidStateError("empty ConcurrentFuture");
        return *s_;
    }
    static std::exception_ptr stored_exception(detail::CFState<R>& s) {
        if (s.status() == detail::CFCore::cancelled) throw CancelledError();
        return s.stored_exception();
    }
    detail::CFState<R>* s_ = nullptr;
};

template <class R, class F>
void detail::UserCFCallback<R, F>::fire(CFCore& f) noexcept {
    // Not `R`: the callback type is the user's; the future's type comes from the state it fires on.
    try {
        if constexpr (std::is_invocable_v<F&>) fn_();
        else fn_(ConcurrentFuture<R>(static_cast<CFState<R>*>(&f), false));
    } catch (...) {
        report_callback_exception(std::current_exception());
    }
    delete this;
}

namespace detail {
template <class R>
std::vector<CFCore*> cores_of(const std::vector<ConcurrentFuture<R>>& fs) {
    std::vector<CFCore*> cores;
    cores.reserve(fs.size());
    for (auto& f : fs) {
        if (!f) throw InvalidStateError("empty ConcurrentFuture");
        cores.push_back(f.state_ptr());
    }
    return cores;
}

template <class R>
WaitResult<ConcurrentFuture<R>> cf_wait(std::vector<ConcurrentFuture<R>> fs, const SteadyTime* deadline, ReturnWhen rw) {
    auto cores = cores_of(fs);
    auto failed = [](CFCore* c) { return c->status() == CFCore::finished && c->stored_exception(); };
    auto satisfied = [&] {
        bool all = true;
        for (CFCore* c : cores) {
            if (!c->done()) {
                all = false;
                continue;
            }
            if (rw == ReturnWhen::FIRST_COMPLETED) return true;
            if (rw == ReturnWhen::FIRST_EXCEPTION && failed(c)) return true;
        }
        return all;
    };
    if (!satisfied()) {
        check_blocking_wait(cores, deadline != nullptr);
        CFWaiterSet waiters(cores);
        waiters.wait_until(deadline, satisfied);
    }
    WaitResult<ConcurrentFuture<R>> r;
    for (auto& f : fs) (f.state_ptr()->done() ? r.done : r.pending).push_back(std::move(f));
    return r;
}
}  // namespace detail

/// concurrent.futures.wait(fs, return_when=...): blocks the calling thread until the
/// condition holds; returns (done, pending), each in input order. FIRST_EXCEPTION stops at the
/// first future that failed (a cancelled one does not count), else waits for all.
template <class R>
[[nodiscard]] WaitResult<ConcurrentFuture<R>> wait(std::vector<ConcurrentFuture<R>> fs, ReturnWhen return_when = ALL_COMPLETED) {
    return detail::cf_wait(std::move(fs), nullptr, return_when);
}
/// concurrent.futures.wait(fs, timeout, return_when): on timeout, returns what is done so far
/// (no exception, as in Python).
template <class R, class Rep, class Period>
[[nodiscard]] WaitResult<ConcurrentFuture<R>> wait(std::vector<ConcurrentFuture<R>> fs, std::chrono::duration<Rep, Period> timeout,
                                                   ReturnWhen return_when = ALL_COMPLETED) {
    const auto deadline = detail::deadline_after(timeout);
    return detail::cf_wait(std::move(fs), &deadline, return_when);
}

/// What concurrent.futures.as_completed returns: a single-pass range over the futures in the
/// order they complete (those already done first, in input order). Advancing blocks the
/// calling thread; past the timeout it throws aio::TimeoutError ("N (of M) futures
/// unfinished"). Duplicates are yielded once.
template <class R>
class ConcurrentAsCompleted {
public:
    ConcurrentAsCompleted(std::vector<ConcurrentFuture<R>> fs, std::optional<detail::SteadyTime> deadline) : deadline_(deadline) {
        std::unordered_set<const void*> seen;
        for (auto& f : fs) {
            if (!f) throw InvalidStateError("empty ConcurrentFuture");
            if (seen.insert(f.state_ptr()).second) fs_.push_back(std::move(f));
        }
        waiters_ = std::make_unique<detail::CFWaiterSet>(detail::cores_of(fs_));
    }

    /// An input iterator: `*it` is the next completed future.
    class iterator {
    public:
        using value_type = ConcurrentFuture<R>;
        using difference_type = std::ptrdiff_t;
        const ConcurrentFuture<R>& operator*() const { return cur_; }
        const ConcurrentFuture<R>* operator->() const { return &cur_; }
        iterator& operator++() {
            advance();
            return *this;
        }
        void operator++(int) { advance(); }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.cur_ == b.cur_; }

    private:
        friend class ConcurrentAsCompleted;
        explicit iterator(ConcurrentAsCompleted* o) : owner_(o) {
            if (owner_) advance();
        }
        void advance() {
            cur_ = owner_->next();
            if (!cur_) owner_ = nullptr;
        }
        ConcurrentAsCompleted* owner_;
        ConcurrentFuture<R> cur_;
    };
    /// Starts the iteration (blocks for the first completion).
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(nullptr); }
    [[nodiscard]] size_t size() const noexcept { return fs_.size(); }

    /// The next future to complete; an empty handle when all were yielded.
    ConcurrentFuture<R> next() {
        while (pos_ == ready_.size()) {
            if (yielded_ == fs_.size()) return {};
            const detail::SteadyTime* dl = deadline_ ? &*deadline_ : nullptr;
            if (dl && std::chrono::steady_clock::now() >= *dl) {
                // One last look without blocking: a completion racing the deadline still counts.
                ready_ = waiters_->take(nullptr, false);
                pos_ = 0;
                if (!ready_.empty()) break;
                throw TimeoutError(std::to_string(fs_.size() - yielded_) + " (of " + std::to_string(fs_.size()) +
                                   ") futures unfinished");
            }
            if (!checked_) {
                checked_ = true;
                detail::check_blocking_wait(detail::cores_of(fs_), dl != nullptr);
            }
            ready_ = waiters_->take(dl, true);
            pos_ = 0;
        }
        size_t i = ready_[pos_++];
        ++yielded_;
        return fs_[i];
    }

private:
    std::vector<ConcurrentFuture<R>> fs_;
    std::optional<detail::SteadyTime> deadline_;
    std::unique_ptr<detail::CFWaiterSet> waiters_;
    std::vector<size_t> ready_;
    size_t pos_ = 0;
    size_t yielded_ = 0;
    bool checked_ = false;
};

/// concurrent.futures.as_completed(fs): `for (auto& f : aio::as_completed(futures)) f.result();`
/// yields each future as it completes. Blocks the calling thread.
template <class R>
[[nodiscard]] ConcurrentAsCompleted<R> as_completed(std::vector<ConcurrentFuture<R>> fs) {
    return ConcurrentAsCompleted<R>(std::move(fs), std::nullopt);
}
/// concurrent.futures.as_completed(fs, timeout): the timeout counts from this call.
template <class R, class Rep, class Period>
[[nodiscard]] ConcurrentAsCompleted<R> as_completed(std::vector<ConcurrentFuture<R>> fs, std::chrono::duration<Rep, Period> timeout) {
    return ConcurrentAsCompleted<R>(std::move(fs), detail::deadline_after(timeout));
}

}  // namespace aio
