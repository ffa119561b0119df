// aio::ThreadPoolExecutor — concurrent.futures.ThreadPoolExecutor.
//
// How it is built (docs/threads.md has the measurements):
//  - a job and its future are one allocation (the future's state is the queued job);
//  - the queue is Vyukov's intrusive multi-producer queue: submit() never takes a lock, never
//    waits for another submitter or for a worker; workers take jobs one at a time;
//  - idle workers spin briefly (one at a time) before sleeping on a futex, and submit() only
//    makes a system call when no worker is awake to see the new job;
//  - threads start lazily, as in Python: a submit() that finds no idle worker starts one, up to
//    max_workers.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/executor.hpp"
#include "aio/core/task.hpp"  // detail::frame_alloc
#include "aio/threads/concurrent_future.hpp"
#include "aio/threads/detail/job.hpp"

namespace aio {

namespace detail {
class PoolCore;

/// A submitted call: the future's state plus the callable, run once and destroyed right after
/// (so what it captured is released before result() returns, as Python drops the work item).
template <class R, class Fn>
class PoolJob final : public CFState<R> {
public:
    explicit PoolJob(Fn&& fn) : fn_(std::move(fn)) {}

    void run() noexcept override {
        if (!this->mark_running()) {  // cancelled while queued
            fn_.reset();
            this->release();
            return;
        }
        std::exception_ptr error;
        std::optional<cf_value_t<R>> value;
        try {
            if constexpr (std::is_void_v<R>) {
                std::move (*fn_)();
                value.emplace();
            } else {
                value.emplace(std::move(*fn_)());
            }
        } catch (...) {
            error = std::current_exception();
        }
        fn_.reset();
        // Claim after running: someone may have completed the future by hand meanwhile.
        if (this->try_claim()) {
            if (error) {
                this->fail_claimed(std::move(error));
            } else {
                try {
                    this->value_.emplace(std::move(*value));
                    this->publish(CFCore::finished);
                } catch (...) {
                    this->fail_claimed(std::current_exception());
                }
            }
        }
        this->release();
    }

    // From the core's per-thread slabs: no malloc, and no first-touch page fault per job (the
    // slabs are huge-page advised; a fault costs microseconds on a VM). Freed blocks made on
    // another thread are recycled through the core's shared chains.
    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }

private:
    void destroy() noexcept override { delete this; }
    std::optional<Fn> fn_;
};

/// Binds a callable and copies of its arguments into one move-only callable invoked once.
template <class F, class... A>
auto bind_call(F&& f, A&&... a) {
    return [fn = std::decay_t<F>(std::forward<F>(f)), ... args = std::decay_t<A>(std::forward<A>(a))]() mutable -> decltype(auto) {
        return std::invoke(std::move(fn), std::move(args)...);
    };
}
/// The result type of calling `F` with `A...` the way a pool does (decayed copies, moved in).
template <class F, class... A>
using call_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;

/// Executor.submit for any job sink: one allocation holding the call and its future's state.
template <class F, class... A>
ConcurrentFuture<call_result_t<F, A...>> submit_call(JobSink& sink, F&& fn, A&&... args) {
    using R = call_result_t<F, A...>;
    auto call = bind_call(std::forward<F>(fn), std::forward<A>(args)...);
    auto* job = new PoolJob<R, decltype(call)>(std::move(call));
    ConcurrentFuture<R> future(job, true);
    job->add_ref();  // the queue's
    try {
        sink.submit_job(job);
    } catch (...) {
        job->release();
        throw;
    }
    return future;
}
}  // namespace detail

/// What ThreadPoolExecutor::map returns: the results in input order, computed lazily —
/// dereferencing blocks until that result is there, and rethrows its exception. Past the
/// timeout (counted from the map() call) it throws aio::TimeoutError. Destroying the range
/// (leaving the loop early, or by an exception) or assigning another one to it cancels the jobs
/// not yet started, as closing Python's generator does.
///
/// A single-pass range, like the generator it stands for: a copyable result may be fetched
/// again, but a move-only one (std::unique_ptr...) is moved out by the first `*it` or get(i),
/// and asking for it again throws InvalidStateError instead of handing out a moved-from value.
template <class R>
class ConcurrentMap {
public:
    ConcurrentMap(std::vector<ConcurrentFuture<R>> fs, std::optional<detail::SteadyTime> deadline)
        : fs_(std::move(fs)), deadline_(deadline) {}
    ConcurrentMap(ConcurrentMap&& o) noexcept
        : fs_(std::exchange(o.fs_, {})),
          deadline_(o.deadline_),
          next_(std::exchange(o.next_, 0)),
          taken_(std::exchange(o.taken_, {})) {}
    ConcurrentMap& operator=(ConcurrentMap&& o) noexcept {
        if (this != &o) {
            cancel_rest();  // the replaced range is dropped: its pending jobs are not wanted any more
            fs_ = std::exchange(o.fs_, {});
            deadline_ = o.deadline_;
            next_ = std::exchange(o.next_, 0);
            taken_ = std::exchange(o.taken_, {});
        }
        return *this;
    }
    ~ConcurrentMap() { cancel_rest(); }

    class iterator {
    public:
        using value_type = R;
        using difference_type = std::ptrdiff_t;
        R operator*() const { return owner_->get(i_); }
        iterator& operator++() {
            ++i_;
            return *this;
        }
        void operator++(int) { ++i_; }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.i_ == b.i_; }

    private:
        friend class ConcurrentMap;
        iterator(ConcurrentMap* o, size_t i) : owner_(o), i_(i) {}
        ConcurrentMap* owner_;
        size_t i_;
    };
    iterator begin() { return iterator(this, 0); }
    iterator end() { return iterator(this, fs_.size()); }
    [[nodiscard]] size_t size() const noexcept { return fs_.size(); }
    /// The futures themselves (Python has no such access; useful to cancel or inspect).
    [[nodiscard]] const std::vector<ConcurrentFuture<R>>& futures() const noexcept { return fs_; }

    /// The i-th result (blocking). For a move-only R, once only (see the class comment).
    R get(size_t i) {
        if (i + 1 > next_) next_ = i + 1;
        if constexpr (kMoveOnly) {
            if (taken_.empty()) taken_.resize(fs_.size());
            if (taken_[i])
                throw InvalidStateError("ConcurrentMap: result " + std::to_string(i) +
                                        " was already moved out (a single-pass range)");
        }
        auto& f = fs_[i];
        if constexpr (kMoveOnly) {
            R r = deadline_ ? f.result(*deadline_ - std::chrono::steady_clock::now()) : f.result();
            taken_[i] = true;  // only once it is really moved out: a timeout or an error may be asked again
            return r;
        } else {
            if (!deadline_) return f.result();
            return f.result(*deadline_ - std::chrono::steady_clock::now());
        }
    }

private:
    static constexpr bool kMoveOnly = !std::is_void_v<R> && !std::is_copy_constructible_v<R>;

    void cancel_rest() noexcept {
        for (size_t i = next_; i < fs_.size(); ++i) fs_[i].cancel();
    }

    std::vector<ConcurrentFuture<R>> fs_;
    std::optional<detail::SteadyTime> deadline_;
    size_t next_ = 0;          // jobs before this one were handed out; the others get cancelled
    std::vector<bool> taken_;  // move-only results already moved out (sized on first use)
};

/// concurrent.futures.ThreadPoolExecutor: runs calls on a pool of up to `max_workers` threads.
/// Thread-safe: submit from any thread. Destroying it is `shutdown(wait=true)` — a `with` block's
/// exit — unless shutdown(wait=false) was called before, in which case the workers finish the
/// queued jobs in the background and are joined at process exit (as Python's are).
class ThreadPoolExecutor final : public Executor, public detail::JobSink {
public:
    /// ThreadPoolExecutor(max_workers=None, thread_name_prefix='', initializer=None).
    /// max_workers defaults to min(32, cpus + 4) (Python ≥ 3.8); ≤ 0 throws std::invalid_argument.
    /// Threads are named `prefix_N` (default prefix "ThreadPoolExecutor-K"). If `initializer`
    /// throws in a worker, the pool becomes broken: pending and later jobs fail with
    /// aio::BrokenThreadPool (bind initargs into the callable).
    explicit ThreadPoolExecutor(std::optional<int> max_workers = std::nullopt, std::string thread_name_prefix = {},
                                std::function<void()> initializer = {});
    ~ThreadPoolExecutor() override;

    /// Executor.submit(fn, *args): schedules fn(args...) (arguments copied, then moved into the
    /// call) and returns its future. An exception thrown by fn is stored and rethrown by
    /// result(). Throws RuntimeError after shutdown, BrokenThreadPool if broken.
    template <class F, class... A>
        requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
    auto submit(F&& fn, A&&... args) {
        return detail::submit_call(*this, std::forward<F>(fn), std::forward<A>(args)...);
    }

    /// Executor.map(fn, iterable): submits fn(x) for every x now; the results come in input
    /// order as the returned range is iterated (see ConcurrentMap).
    template <class F, class Range>
    auto map(F fn, Range&& items) {
        return ConcurrentMap<map_result_t<F, Range>>(submit_all(fn, items), std::nullopt);
    }
    /// Executor.map(fn, iterable, timeout=...): the timeout counts from this call.
    template <class F, class Range, class Rep, class Period>
    auto map(F fn, Range&& items, std::chrono::duration<Rep, Period> timeout) {
        auto deadline = detail::deadline_after(timeout);
        return ConcurrentMap<map_result_t<F, Range>>(submit_all(fn, items), deadline);
    }

    /// Executor.shutdown(wait=True): no new jobs; if `wait`, returns once every accepted job
    /// has run and the workers have exited. Idempotent; callable from a job (a worker does not
    /// join itself).
    void shutdown(bool wait = true) noexcept override { shutdown(wait, false); }
    /// Executor.shutdown(wait, cancel_futures): with cancel_futures, the jobs not yet started
    /// are cancelled (their futures report cancelled()); running ones finish.
    void shutdown(bool wait, bool cancel_futures) noexcept;

    /// The pool's limit (Python: _max_workers).
    [[nodiscard]] int max_workers() const noexcept;
    /// Threads started so far (they start lazily, on demand).
    [[nodiscard]] int thread_count() const noexcept;
    /// min(32, cpus + 4), Python's default since 3.8.
    [[nodiscard]] static int default_max_workers() noexcept;

    /// For run_in_executor and other layers: queue a type-erased job.
    void submit_job(detail::Job* job) override;

private:
    template <class F, class Range>
    using map_result_t = std::invoke_result_t<F, std::decay_t<std::ranges::range_reference_t<Range>>>;

    template <class F, class Range>
    auto submit_all(F& fn, Range& items) {
        std::vector<ConcurrentFuture<map_result_t<F, Range>>> fs;
        if constexpr (std::ranges::sized_range<Range>) fs.reserve(std::ranges::size(items));
        try {
            for (auto&& x : items) fs.push_back(submit(fn, x));
        } catch (...) {
            for (auto& f : fs) f.cancel();  // Python: a failed submit leaves nothing half-done
            throw;
        }
        return fs;
    }

    std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace aio
