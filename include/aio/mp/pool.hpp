// aio::mp::Pool — multiprocessing.Pool: a fixed set of worker processes running tasks.
//
// A task is a function and its arguments. The workers are forks of this process, so the function
// is already in them: what travels is its address and its encoded arguments, and its encoded
// result travels back. So a task function must be a plain function or a capture-less lambda
// (state goes in the arguments), and its arguments and result must be Sendable — both checked at
// compile time.
//
// Unlike Python's, this pool never hangs on a dead worker. Each worker has its own socket and the
// parent knows which tasks each one holds; when a worker dies (crash, SIGKILL, the OOM killer)
// the task it was running fails with aio::mp::WorkerLostError, naming the worker and the signal,
// the tasks queued behind it (never started) go to another worker, and a new worker takes its
// place. A failing initializer breaks the pool (every task then fails with
// ProcessError) instead of respawning workers forever as Python does.
//
// A pool made on the main thread forks its first workers there, before its handler thread starts;
// otherwise, and for every replacement, the handler thread forks. A worker is killed if the parent
// dies.
// As with every fork, a lock held by another thread of the parent at that moment stays locked in
// the worker: a task should not touch state that the parent's other threads lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/future.hpp"
#include "aio/mp/errors.hpp"
#include "aio/mp/serialize.hpp"
#include "aio/threads/bridge.hpp"
#include "aio/threads/concurrent_future.hpp"

namespace aio::mp {

namespace detail {

/// Runs in a worker: decodes the function and arguments from `in`, calls, encodes the result.
using TaskFn = void (*)(Reader& in, Writer& out);

/// What the parent does with a task's outcome. Called on the pool's handler thread only.
struct TaskSink {
    virtual ~TaskSink() = default;
    /// Just before the task is sent to a worker: false drops it (its future was cancelled).
    virtual bool start() noexcept { return true; }
    /// The encoded result. May throw (a malformed result): the pool then calls fail().
    virtual void succeed(Reader& r) = 0;
    virtual void fail(std::exception_ptr e) noexcept = 0;
    /// The task will never run (shutdown with cancel_futures): cancel, or fail with `why`.
    virtual void abandon(std::exception_ptr why) noexcept { fail(std::move(why)); }
};

/// The untyped pool: workers, sockets, the handler thread. See src/mp/pool.cpp.
class PoolCore {
public:
    struct Options {
        int processes = 0;
        std::function<void()> initializer;
        int max_tasks_per_child = 0;  // 0: no limit
        bool executor = false;        // a dead worker breaks the whole pool (ProcessPoolExecutor)
        const char* kind = "Pool";
    };
    explicit PoolCore(Options o);
    PoolCore(const PoolCore&) = delete;
    PoolCore& operator=(const PoolCore&) = delete;
    ~PoolCore();

    /// Queues a task. Throws InvalidStateError once closed, the breaking error if broken.
    void submit(TaskFn fn, std::string args, std::unique_ptr<TaskSink> sink);
    void close() noexcept;
    /// Waits until every task is done and every worker has exited (after close or terminate).
    void join();
    void terminate() noexcept;
    /// Abandons the tasks not yet sent to a worker.
    void cancel_pending() noexcept;
    [[nodiscard]] int processes() const noexcept;
    [[nodiscard]] bool closed() const noexcept;
    /// The pids of the current workers (for tests and demos that kill one).
    [[nodiscard]] std::vector<pid_t> worker_pids() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

template <class F>
inline constexpr bool is_task_callable =
    std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;
template <class F>
inline constexpr bool is_stateless_callable =
    std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F> && std::is_trivially_copyable_v<F>;

template <class F>
void check_task_callable() {
    static_assert(is_task_callable<F> || is_stateless_callable<F>,
                  "aio::mp::Pool: the task must be a function or a capture-less lambda - its code is in the worker, "
                  "its captures would not be; pass state as arguments");
}

template <class F>
void put_fn(Writer& w, const F& f) {
    if constexpr (is_task_callable<F>) w.write(&f, sizeof f);
}
template <class F>
F get_fn(Reader& r) {
    if constexpr (is_task_callable<F>) {
        F f;
        r.read(&f, sizeof f);
        return f;
    } else {
        return F{};
    }
}

/// One call: f(args...).
template <class F, class Args>
void run_call(Reader& in, Writer& out) {
    F f = get_fn<F>(in);
    auto args = in.get<Args>();
    using R = decltype(std::apply(f, std::move(args)));
    if constexpr (std::is_void_v<R>) std::apply(f, std::move(args));
    else out.put(std::apply(f, std::move(args)));
}

template <class F, class Arg, bool Star>
struct chunk_result {
    using type = std::invoke_result_t<F&, Arg>;
};
template <class F, class Arg>
struct chunk_result<F, Arg, true> {
    using type = decltype(std::apply(std::declval<F&>(), std::declval<Arg>()));
};
template <class F, class Arg, bool Star>
using chunk_result_t = typename chunk_result<F, Arg, Star>::type;

/// One chunk of a map: f(x) (or f(*x) for starmap) for every x of the chunk.
template <class F, class Arg, bool Star>
void run_chunk(Reader& in, Writer& out) {
    using R = chunk_result_t<F, Arg, Star>;
    F f = get_fn<F>(in);
    auto items = in.get<std::vector<Arg>>();
    std::vector<R> results;
    results.reserve(items.size());
    for (auto& x : items) {
        if constexpr (Star) results.push_back(std::apply(f, std::move(x)));
        else results.push_back(f(std::move(x)));
    }
    out.put(results);
}

template <class R>
class FutureSink final : public TaskSink {
public:
    explicit FutureSink(ConcurrentFuture<R> f, bool executor) : f_(std::move(f)), executor_(executor) {}
    bool start() noexcept override {
        if (!executor_) return true;
        try {
            return f_.set_running_or_notify_cancel();
        } catch (...) {
            return false;
        }
    }
    void succeed(Reader& r) override {
        if constexpr (std::is_void_v<R>) f_.state_ptr()->try_set_value();
        else f_.state_ptr()->try_set_value(r.get<R>());
    }
    void fail(std::exception_ptr e) noexcept override { f_.state_ptr()->try_set_exception(std::move(e)); }
    void abandon(std::exception_ptr why) noexcept override {
        if (!why) f_.cancel();
        else fail(std::move(why));
    }

private:
    ConcurrentFuture<R> f_;
    bool executor_;
};

/// A map's chunks fill one vector; the first failing chunk fails the whole map (as Python's).
template <class R>
struct MapState {
    ConcurrentFuture<std::vector<R>> future = ConcurrentFuture<std::vector<R>>::create();
    std::vector<std::optional<R>> slots;
    size_t chunks_left = 0;
    bool failed = false;
};
template <class R>
class MapChunkSink final : public TaskSink {
public:
    MapChunkSink(std::shared_ptr<MapState<R>> s, size_t offset) : s_(std::move(s)), offset_(offset) {}
    void succeed(Reader& r) override {
        auto results = r.get<std::vector<R>>();
        if (s_->failed) return;
        for (size_t i = 0; i < results.size() && offset_ + i < s_->slots.size(); ++i)
            s_->slots[offset_ + i].emplace(std::move(results[i]));
        if (--s_->chunks_left == 0) {
            std::vector<R> all;
            all.reserve(s_->slots.size());
            for (auto& x : s_->slots) all.push_back(std::move(*x));
            s_->future.state_ptr()->try_set_value(std::move(all));
        }
    }
    void fail(std::exception_ptr e) noexcept override {
        s_->failed = true;
        s_->future.state_ptr()->try_set_exception(std::move(e));
    }

private:
    std::shared_ptr<MapState<R>> s_;
    size_t offset_;
};

/// imap / imap_unordered: results are handed to the iterating thread as chunks complete.
template <class R>
struct IMapState {
    std::mutex mu;
    std::condition_variable cv;
    bool ordered = true;
    size_t total = 0;                                // items
    size_t next = 0;                                 // ordered: the next index to hand out
    std::vector<std::optional<R>> slots;             // ordered
    std::deque<R> ready;                             // unordered
    std::map<size_t, std::pair<size_t, std::exception_ptr>> failed;  // ordered: chunk offset -> (size, error)
    std::deque<std::exception_ptr> errors;           // unordered
    size_t arrived = 0;
};
template <class R>
class IMapChunkSink final : public TaskSink {
public:
    IMapChunkSink(std::shared_ptr<IMapState<R>> s, size_t offset, size_t count) : s_(std::move(s)), offset_(offset), count_(count) {}
    void succeed(Reader& r) override {
        auto results = r.get<std::vector<R>>();
        std::lock_guard lk(s_->mu);
        for (size_t i = 0; i < results.size(); ++i) {
            if (s_->ordered) s_->slots[offset_ + i].emplace(std::move(results[i]));
            else s_->ready.push_back(std::move(results[i]));
        }
        s_->arrived += results.size();
        s_->cv.notify_all();
    }
    void fail(std::exception_ptr e) noexcept override {
        std::lock_guard lk(s_->mu);
        if (s_->ordered) s_->failed.emplace(offset_, std::make_pair(count_, std::move(e)));
        else s_->errors.push_back(std::move(e));
        s_->arrived += count_;
        s_->cv.notify_all();
    }

private:
    std::shared_ptr<IMapState<R>> s_;
    size_t offset_;
    size_t count_;
};

/// Python's default map chunksize: ceil(len / (4 * processes)).
inline size_t default_chunksize(size_t n, int processes) {
    const size_t d = static_cast<size_t>(processes) * 4;
    return n == 0 ? 1 : (n + d - 1) / d;
}

template <class F, class Range>
using range_arg_t = std::decay_t<std::ranges::range_value_t<Range>>;

}  // namespace detail

/// multiprocessing.pool.AsyncResult: the result of apply_async / map_async. Copyable; thread-safe.
template <class R>
class AsyncResult {
public:
    explicit AsyncResult(ConcurrentFuture<R> f) : f_(std::move(f)) {}
    /// AsyncResult.get(): waits; returns the result or rethrows the task's error (a
    /// RemoteError with the worker's exception type and message, or WorkerLostError).
    R get() const { return f_.result(); }
    /// AsyncResult.get(timeout): throws aio::TimeoutError if not ready in time (the task goes on).
    template <class Rep, class Period>
    R get(std::chrono::duration<Rep, Period> timeout) const {
        return f_.result(timeout);
    }
    /// AsyncResult.wait().
    void wait() const { (void)f_.exception(); }
    /// AsyncResult.wait(timeout): true if ready.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) const {
        try {
            (void)f_.exception(timeout);
            return true;
        } catch (const TimeoutError&) {
            return false;
        }
    }
    /// AsyncResult.ready().
    [[nodiscard]] bool ready() const { return f_.done(); }
    /// AsyncResult.successful(): throws InvalidStateError if not ready (Python: ValueError).
    [[nodiscard]] bool successful() const {
        if (!f_.done()) throw InvalidStateError("AsyncResult.successful: the result is not ready");
        return !f_.exception();
    }
    /// The concurrent future behind it: for aio::wait, aio::as_completed, add_done_callback.
    [[nodiscard]] const ConcurrentFuture<R>& future() const noexcept { return f_; }

    /// `co_await result` in a coroutine: waits without blocking the loop (asyncio.wrap_future).
    struct Awaiter {
        explicit Awaiter(Future<R> f) : fut(std::move(f)), inner(fut.operator co_await()) {}
        bool await_ready() const noexcept { return inner.await_ready(); }
        void await_suspend(std::coroutine_handle<> h) { inner.await_suspend(h); }
        R await_resume() { return inner.await_resume(); }
        Future<R> fut;
        typename Future<R>::Awaiter inner;
    };
    Awaiter operator co_await() const { return Awaiter(wrap_future(f_)); }

private:
    ConcurrentFuture<R> f_;
};

/// multiprocessing.pool.IMapIterator: the results of imap (input order) or imap_unordered
/// (completion order), as they come. A single-pass input range; next(timeout) as Python's.
template <class R>
class IMapIterator {
public:
    explicit IMapIterator(std::shared_ptr<detail::IMapState<R>> s) : s_(std::move(s)) {}

    /// next(): the next result, or empty when all are out. Rethrows a failed chunk's error at
    /// its place in the order (imap) or when it arrives (imap_unordered).
    std::optional<R> next() { return next_until(nullptr); }
    /// next(timeout): throws aio::TimeoutError if the next result is not there in time.
    template <class Rep, class Period>
    std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
        const auto d = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
        return next_until(&d);
    }

    class iterator {
    public:
        using value_type = R;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(IMapIterator* o) : o_(o) { advance(); }
        R& operator*() const { return *cur_; }
        iterator& operator++() {
            advance();
            return *this;
        }
        void operator++(int) { advance(); }
        friend bool operator==(const iterator& a, std::default_sentinel_t) noexcept { return !a.cur_; }

    private:
        void advance() { cur_ = o_->next(); }
        IMapIterator* o_ = nullptr;
        mutable std::optional<R> cur_;
    };
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    std::optional<R> next_until(const std::chrono::steady_clock::time_point* deadline) {
        auto& s = *s_;
        std::unique_lock lk(s.mu);
        for (;;) {
            if (s.ordered) {
                if (s.next >= s.total) return std::nullopt;
                if (auto it = s.failed.find(s.next); it != s.failed.end()) {
                    // A failed chunk raises once, at its place; its other items are skipped.
                    auto e = it->second.second;
                    s.next += it->second.first;
                    s.failed.erase(it);
                    std::rethrow_exception(e);
                }
                if (s.slots[s.next]) {
                    R r = std::move(*s.slots[s.next]);
                    s.slots[s.next].reset();
                    ++s.next;
                    return r;
                }
            } else {
                if (!s.errors.empty()) {
                    auto e = s.errors.front();
                    s.errors.pop_front();
                    std::rethrow_exception(e);
                }
                if (!s.ready.empty()) {
                    R r = std::move(s.ready.front());
                    s.ready.pop_front();
                    return r;
                }
                if (s.arrived >= s.total) return std::nullopt;
            }
            if (!deadline) s.cv.wait(lk);
            else if (s.cv.wait_until(lk, *deadline) == std::cv_status::timeout) {
                // One more look: the result may have come just now.
                lk.unlock();
                lk.lock();
                if (std::chrono::steady_clock::now() >= *deadline && !has_next_locked()) throw TimeoutError();
            }
        }
    }
    bool has_next_locked() {
        auto& s = *s_;
        if (s.ordered) return s.next >= s.total || s.slots[s.next] || s.failed.count(s.next);
        return !s.ready.empty() || !s.errors.empty() || s.arrived >= s.total;
    }
    std::shared_ptr<detail::IMapState<R>> s_;
};

/// multiprocessing.Pool(processes=None, initializer=None, maxtasksperchild=None).
/// `processes` defaults to cpu_count(). Destroying the pool terminates it (as leaving Python's
/// `with Pool() as p:` does) and reaps every worker.
class Pool {
public:
    explicit Pool(std::optional<int> processes = std::nullopt, std::function<void()> initializer = {},
                  std::optional<int> maxtasksperchild = std::nullopt);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    ~Pool();

    /// Pool.apply_async(func, args): runs func(args...) in a worker.
    template <class F, class... A>
    auto apply_async(F fn, A&&... args) {
        detail::check_task_callable<F>();
        using Args = std::tuple<std::decay_t<A>...>;
        using R = decltype(std::apply(fn, std::declval<Args>()));
        static_assert(std::is_void_v<R> || Sendable<R>, "aio::mp::Pool: the task's result type must be Sendable");
        Writer w;
        detail::put_fn(w, fn);
        w.put(Args(std::forward<A>(args)...));
        auto f = ConcurrentFuture<R>::create();
        core_.submit(&detail::run_call<F, Args>, w.take(), std::make_unique<detail::FutureSink<R>>(f, false));
        return AsyncResult<R>(std::move(f));
    }
    /// Pool.apply(func, args): apply_async(...).get().
    template <class F, class... A>
    auto apply(F fn, A&&... args) {
        return apply_async(fn, std::forward<A>(args)...).get();
    }

    /// Pool.map_async(func, iterable, chunksize): f(x) for every x, in chunks; one result.
    /// chunksize 0 picks Python's default.
    template <class F, class Range>
    auto map_async(F fn, const Range& items, size_t chunksize = 0) {
        return map_impl<false>(fn, items, chunksize);
    }
    /// Pool.map(func, iterable, chunksize): the results in input order; the first failing chunk's
    /// error is rethrown.
    template <class F, class Range>
    auto map(F fn, const Range& items, size_t chunksize = 0) {
        return map_async(fn, items, chunksize).get();
    }
    /// Pool.starmap_async(func, iterable of tuples, chunksize): f(*x) for every x.
    template <class F, class Range>
    auto starmap_async(F fn, const Range& items, size_t chunksize = 0) {
        return map_impl<true>(fn, items, chunksize);
    }
    /// Pool.starmap.
    template <class F, class Range>
    auto starmap(F fn, const Range& items, size_t chunksize = 0) {
        return starmap_async(fn, items, chunksize).get();
    }
    /// Pool.imap(func, iterable, chunksize=1): results in input order, as they come.
    template <class F, class Range>
    auto imap(F fn, const Range& items, size_t chunksize = 1) {
        return imap_impl(fn, items, chunksize, true);
    }
    /// Pool.imap_unordered(func, iterable, chunksize=1): results in completion order.
    template <class F, class Range>
    auto imap_unordered(F fn, const Range& items, size_t chunksize = 1) {
        return imap_impl(fn, items, chunksize, false);
    }

    /// Pool.close(): no more tasks; the workers exit once the queued ones are done.
    void close() noexcept { core_.close(); }
    /// Pool.terminate(): stops the workers now; unfinished tasks fail with ProcessError.
    void terminate() noexcept { core_.terminate(); }
    /// Pool.join(): waits for the workers to exit. Throws InvalidStateError unless close() or
    /// terminate() was called first (Python: ValueError).
    void join() { core_.join(); }
    /// The number of worker processes.
    [[nodiscard]] int processes() const noexcept { return core_.processes(); }
    /// The current workers' pids (changes as dead workers are replaced).
    [[nodiscard]] std::vector<pid_t> worker_pids() const { return core_.worker_pids(); }

private:
    template <bool Star, class F, class Range>
    auto map_impl(F fn, const Range& items, size_t chunksize) {
        detail::check_task_callable<F>();
        using Arg = detail::range_arg_t<F, Range>;
        using R = detail::chunk_result_t<F, Arg, Star>;
        static_assert(!std::is_void_v<R>, "aio::mp::Pool::map: the function must return a value (use apply_async for void tasks)");
        static_assert(Sendable<R> && Sendable<Arg>, "aio::mp::Pool::map: items and results must be Sendable");
        std::vector<Arg> all(std::ranges::begin(items), std::ranges::end(items));
        if (chunksize == 0) chunksize = detail::default_chunksize(all.size(), processes());
        auto s = std::make_shared<detail::MapState<R>>();
        s->slots.resize(all.size());
        s->chunks_left = (all.size() + chunksize - 1) / chunksize;
        AsyncResult<std::vector<R>> result(s->future);
        if (all.empty()) {
            s->future.set_result(std::vector<R>{});
            return result;
        }
        submit_chunks<Star>(fn, all, chunksize, [&](size_t off, size_t) { return std::make_unique<detail::MapChunkSink<R>>(s, off); });
        return result;
    }
    template <class F, class Range>
    auto imap_impl(F fn, const Range& items, size_t chunksize, bool ordered) {
        detail::check_task_callable<F>();
        using Arg = detail::range_arg_t<F, Range>;
        using R = detail::chunk_result_t<F, Arg, false>;
        static_assert(!std::is_void_v<R>, "aio::mp::Pool::imap: the function must return a value");
        static_assert(Sendable<R> && Sendable<Arg>, "aio::mp::Pool::imap: items and results must be Sendable");
        if (chunksize == 0) chunksize = 1;
        std::vector<Arg> all(std::ranges::begin(items), std::ranges::end(items));
        auto s = std::make_shared<detail::IMapState<R>>();
        s->ordered = ordered;
        s->total = all.size();
        if (ordered) s->slots.resize(all.size());
        submit_chunks<false>(fn, all, chunksize, [&](size_t off, size_t n) { return std::make_unique<detail::IMapChunkSink<R>>(s, off, n); });
        return IMapIterator<R>(s);
    }
    /// One task per `chunksize` items of `all`; make_sink(offset, count) says where its results go.
    template <bool Star, class F, class Arg, class MakeSink>
    void submit_chunks(F fn, const std::vector<Arg>& all, size_t chunksize, MakeSink make_sink) {
        for (size_t off = 0; off < all.size(); off += chunksize) {
            const size_t n = std::min(chunksize, all.size() - off);
            Writer w;
            detail::put_fn(w, fn);
            w.put_size(n);
            for (size_t i = 0; i < n; ++i) w.put(all[off + i]);
            core_.submit(&detail::run_chunk<F, Arg, Star>, w.take(), make_sink(off, n));
        }
    }

    detail::PoolCore core_;
};

}  // namespace aio::mp
