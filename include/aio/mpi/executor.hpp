// aio::mpi::MPIPoolExecutor and aio::mpi::CommExecutor — mpi4py.futures' MPIPoolExecutor and
// MPICommExecutor: concurrent.futures' interface (submit, map, starmap, shutdown) over the ranks
// of an MPI job, on this machine or many.
//
// Two ways to get workers, as mpi4py has:
//   - MPIPoolExecutor spawns them at first use (MPI_Comm_spawn): the program itself is started
//     again as the workers, so main() must call aio::mpi::freeze_support() first. Works from a
//     plain `./prog` (an MPI singleton) and under `mpiexec -n 1 ./prog`.
//   - CommExecutor(comm, root) serves from a job started as `mpiexec -n N ./prog`: on `root` it
//     is the client; on every other rank its constructor serves tasks until the client shuts
//     down, and the object is then false (mpi4py's `if executor is not None`).
// More machines need only a hostfile (`mpiexec --hostfile hosts -n 16 ./prog`, or the spawn's
// "hostfile" info key): see docs/mpi.md.
//
// Task functions are registered by name (aio/mpi/task.hpp). What a task costs, how the progress
// thread waits, and what a lost rank does: docs/mpi.md.
#pragma once

#include <mpi.h>

#include <chrono>
#include <concepts>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aio/core/async_generator.hpp"
#include "aio/core/executor.hpp"
#include "aio/core/task.hpp"
#include "aio/core/timeout.hpp"
#include "aio/core/wait.hpp"
#include "aio/mpi/errors.hpp"
#include "aio/mpi/task.hpp"
#include "aio/threads/bridge.hpp"
#include "aio/threads/concurrent_future.hpp"

namespace aio::mpi {

/// In a process spawned as an MPIPoolExecutor's worker: serves tasks until the executor shuts
/// down, then exits the process. Elsewhere it returns at once, without starting MPI. Call it
/// first in main(), as multiprocessing.freeze_support() is called (mpi4py's workers run a module
/// of their own instead; a C++ program has only its main()).
void freeze_support();

/// True in a process that freeze_support() turned into a spawned worker (while it serves).
[[nodiscard]] bool is_worker() noexcept;

/// The options of MPIPoolExecutor (mpi4py: MPIPoolExecutor(max_workers, **kwargs)).
struct PoolOptions {
    /// Workers to spawn. Default: AIO_MPI_MAX_WORKERS from the environment, else the MPI
    /// universe size minus this job's size, at least 1 (mpi4py's rule).
    std::optional<int> max_workers{};
    /// MPI_Info keys for MPI_Comm_spawn, e.g. {{"host", "node1:8,node2:8"}} or
    /// {{"hostfile", "hosts"}} (Open MPI's keys).
    std::map<std::string, std::string> info{};
    /// A worker that holds tasks and is not heard from for this long is lost: its tasks fail
    /// and the pool breaks (BrokenMPIPool). Workers holding tasks send a heartbeat five times
    /// per period.
    std::chrono::milliseconds lost_after{5000};
    /// MPI_Comm_spawn waits for every worker to start MPI. A worker that never does (its main()
    /// does not call freeze_support and never touches aio::mpi) would hang it forever; past
    /// this the process prints why and exits with status 1.
    std::chrono::milliseconds spawn_timeout{60000};
};

/// The options of map() and starmap() (mpi4py's map keywords).
struct MapOptions {
    /// Items per message: 1 sends each call alone; larger amortises the message cost of tiny
    /// calls (mpi4py's chunksize). A chunk is cancelled, and fails, as a whole.
    size_t chunksize = 1;
    /// Yield results as they complete instead of in input order (mpi4py's unordered=True).
    bool unordered = false;
    /// Iterating past this time throws aio::TimeoutError (Executor.map's timeout), counted from
    /// the call.
    std::optional<std::chrono::milliseconds> timeout{};
};

namespace detail {

/// What the client does with one message's worth of work. Called on the MPI progress thread.
struct Sink {
    virtual ~Sink() = default;
    /// Just before sending: appends the payload; false if there is nothing left to run (every
    /// future was cancelled). Marks the futures running.
    virtual bool start(mp::Writer& w) = 0;
    /// The worker's reply. May throw (a malformed reply): the caller then calls fail().
    virtual void succeed(mp::Reader& r, int rank) = 0;
    virtual void fail(std::exception_ptr e) noexcept = 0;
    /// Never sent: cancelled (null `why`, shutdown with cancel_futures) or failed with `why`.
    virtual void abandon(std::exception_ptr why) noexcept = 0;
};

/// Decodes one outcome written by TaskTraits::run_one into `f`.
template <class R>
void settle(ConcurrentFuture<R>& f, mp::Reader& r, int rank) {
    const auto tag = r.get<uint8_t>();
    if (tag == kOk) {
        if constexpr (std::is_void_v<R>) f.state_ptr()->try_set_value();
        else f.state_ptr()->try_set_value(r.get<R>());
        return;
    }
    if (tag != kRaised) throw mp::SerializationError("aio::mpi: a reply's outcome tag is " + std::to_string(tag));
    auto type = r.get<std::string>();
    auto message = r.get<std::string>();
    f.state_ptr()->try_set_exception(std::make_exception_ptr(RemoteError(std::move(type), std::move(message), rank)));
}

template <class R>
class CallSink final : public Sink {
public:
    CallSink(ConcurrentFuture<R> f, std::string payload) : f_(std::move(f)), payload_(std::move(payload)) {}
    bool start(mp::Writer& w) override {
        if (!f_.set_running_or_notify_cancel()) return false;
        w.write(payload_.data(), payload_.size());
        payload_ = {};
        return true;
    }
    void succeed(mp::Reader& r, int rank) override { settle(f_, r, rank); }
    void fail(std::exception_ptr e) noexcept override { f_.state_ptr()->try_set_exception(std::move(e)); }
    void abandon(std::exception_ptr why) noexcept override {
        if (why) fail(std::move(why));
        else f_.cancel();
    }

private:
    ConcurrentFuture<R> f_;
    std::string payload_;
};

/// The outcomes of one chunk of a map, filled by its ChunkSink before the chunk's future
/// completes (which publishes them).
template <class R>
struct ChunkResults {
    std::vector<std::optional<R>> values;
    std::vector<std::exception_ptr> errors;  // per item: null where there is a value
};

/// A chunk of a map: one message, one future (as mpi4py's map), each item's outcome kept apart so
/// that iterating raises at the failing item and not before.
template <class R>
class ChunkSink final : public Sink {
public:
    ChunkSink(ConcurrentFuture<void> f, std::shared_ptr<ChunkResults<R>> out, std::string payload)
        : f_(std::move(f)), out_(std::move(out)), payload_(std::move(payload)) {}
    bool start(mp::Writer& w) override {
        if (!f_.set_running_or_notify_cancel()) return false;
        w.write(payload_.data(), payload_.size());
        payload_ = {};
        return true;
    }
    void succeed(mp::Reader& r, int rank) override {
        auto& out = *out_;
        for (size_t k = 0; k < out.values.size(); ++k) {
            try {
                const auto tag = r.get<uint8_t>();
                if (tag == kOk) {
                    out.values[k].emplace(r.get<R>());
                } else if (tag == kRaised) {
                    auto type = r.get<std::string>();
                    auto message = r.get<std::string>();
                    out.errors[k] = std::make_exception_ptr(RemoteError(std::move(type), std::move(message), rank));
                } else {
                    throw mp::SerializationError("aio::mpi: a reply's outcome tag is " + std::to_string(tag));
                }
            } catch (...) {
                for (size_t j = k; j < out.values.size(); ++j) out.errors[j] = std::current_exception();
                break;
            }
        }
        f_.state_ptr()->try_set_value();
    }
    void fail(std::exception_ptr e) noexcept override { f_.state_ptr()->try_set_exception(std::move(e)); }
    void abandon(std::exception_ptr why) noexcept override {
        if (why) fail(std::move(why));
        else f_.cancel();
    }

private:
    ConcurrentFuture<void> f_;
    std::shared_ptr<ChunkResults<R>> out_;
    std::string payload_;
};

class Client;  // src/mpi: the client side of one executor, driven by the progress thread

}  // namespace detail

/// What map() and starmap() return: a single-pass range of results, in input order or (with
/// unordered) as their chunks complete. Iterating blocks the calling thread; a task's exception
/// is thrown when its result is reached, as Python's map does (and a chunk that could not run —
/// a broken pool, a timeout — throws at its first item). Leaving a started iteration early
/// cancels the chunks not yet sent (as closing Python's generator does); a result never iterated
/// lets every call run.
template <class R>
class MapResult {
public:
    MapResult(std::vector<ConcurrentFuture<void>> chunks, std::vector<std::shared_ptr<detail::ChunkResults<R>>> results,
              size_t items, bool unordered, std::optional<aio::detail::SteadyTime> deadline)
        : chunks_(std::move(chunks)), results_(std::move(results)), items_(items), unordered_(unordered), deadline_(deadline) {
        if (unordered) {
            for (size_t c = 0; c < chunks_.size(); ++c) index_of_.emplace(chunks_[c].state_ptr(), c);
            ac_ = std::make_unique<ConcurrentAsCompleted<void>>(chunks_, deadline_);
        }
    }
    MapResult(MapResult&&) noexcept = default;
    MapResult& operator=(MapResult&&) = delete;
    ~MapResult() {
        // As closing Python's generator: only a started iteration cancels what is left, so that a
        // map called for its effects alone still runs every call.
        if (started_)
            for (auto& f : chunks_) f.cancel();  // a no-op for those already sent or done
    }

    class iterator {
    public:
        using value_type = R;
        using difference_type = std::ptrdiff_t;
        R operator*() const { return owner_->take(); }
        iterator& operator++() {
            if (!owner_->advance()) owner_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.owner_ == b.owner_; }

    private:
        friend class MapResult;
        explicit iterator(MapResult* o) : owner_(o) {
            if (owner_ && !owner_->advance()) owner_ = nullptr;
        }
        MapResult* owner_;
    };
    /// Starts the iteration (with unordered, blocks for the first completed chunk).
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(nullptr); }
    /// The number of items.
    [[nodiscard]] size_t size() const noexcept { return items_; }

private:
    /// Moves to the next item; false past the last.
    bool advance() {
        if (chunk_ < chunks_.size() && ++item_ < results_[chunk_]->values.size()) return true;
        item_ = 0;
        if (ac_) {
            started_ = true;
            auto f = ac_->next();
            if (!f) return false;
            chunk_ = index_of_.at(f.state_ptr());
        } else {
            chunk_ = started_ ? chunk_ + 1 : 0;
            started_ = true;
            if (chunk_ >= chunks_.size()) return false;
        }
        return true;
    }
    R take() {
        auto& f = chunks_[chunk_];
        if (deadline_) f.result(*deadline_ - std::chrono::steady_clock::now());
        else f.result();
        auto& out = *results_[chunk_];
        if (out.errors[item_]) std::rethrow_exception(out.errors[item_]);
        if (!out.values[item_]) throw InvalidStateError("aio::mpi: a map result was already taken (a single-pass range)");
        R r = std::move(*out.values[item_]);
        out.values[item_].reset();
        return r;
    }

    template <class U>
    friend AsyncGenerator<U> aiter(MapResult<U> results);

    std::vector<ConcurrentFuture<void>> chunks_;
    std::vector<std::shared_ptr<detail::ChunkResults<R>>> results_;
    size_t items_;
    bool unordered_;
    std::optional<aio::detail::SteadyTime> deadline_;
    std::unique_ptr<ConcurrentAsCompleted<void>> ac_;
    std::unordered_map<const void*, size_t> index_of_;
    size_t chunk_ = static_cast<size_t>(-1);
    size_t item_ = 0;
    bool started_ = false;
};

namespace detail {
inline Task<size_t> chunk_done(Future<void> f, size_t chunk) {
    co_await std::move(f);
    co_return chunk;
}
}  // namespace detail

/// A map's results for a coroutine (Python: `async for` over the results): each chunk is awaited
/// on the running loop, which goes on meanwhile; in input order, or as chunks complete with
/// unordered; the map's timeout throws aio::TimeoutError. Destroying the generator early cancels
/// the chunks not yet sent.
///
///     auto results = aio::mpi::aiter(ex.map(f, xs, {.chunksize = 100}));
///     while (auto r = co_await results.next()) use(*r);
template <class R>
AsyncGenerator<R> aiter(MapResult<R> m) {
    m.started_ = true;
    std::vector<Future<void>> waits;
    waits.reserve(m.chunks_.size());
    for (auto& f : m.chunks_) waits.push_back(wrap_future(f));
    auto left = [&m] {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(*m.deadline_ - std::chrono::steady_clock::now());
    };
    std::vector<size_t> order;  // chunk indices, in the order to yield them
    if (!m.unordered_) {
        for (size_t c = 0; c < waits.size(); ++c) {
            if (m.deadline_) co_await aio::wait_for(std::move(waits[c]), left());
            else co_await std::move(waits[c]);
            auto& out = *m.results_[c];
            for (size_t k = 0; k < out.values.size(); ++k) {
                if (out.errors[k]) std::rethrow_exception(out.errors[k]);
                co_yield std::move(*out.values[k]);
            }
        }
        co_return;
    }
    std::vector<Task<size_t>> done;
    done.reserve(waits.size());
    for (size_t c = 0; c < waits.size(); ++c) done.push_back(detail::chunk_done(std::move(waits[c]), c));
    auto completions = m.deadline_ ? aio::as_completed(std::move(done), left()) : aio::as_completed(std::move(done));
    for (auto next : completions) {
        const size_t c = co_await std::move(next);
        auto& out = *m.results_[c];
        for (size_t k = 0; k < out.values.size(); ++k) {
            if (out.errors[k]) std::rethrow_exception(out.errors[k]);
            co_yield std::move(*out.values[k]);
        }
    }
}

/// The interface both MPI executors share (mpi4py.futures' executors, concurrent.futures.Executor).
class MPIExecutorBase : public aio::Executor {
public:
    ~MPIExecutorBase() override;

    /// Executor.submit(fn, *args): a future for fn(args...) run on a worker rank. `fn` must be
    /// registered (AIO_MPI_REGISTER); the arguments convert to its parameter types and are
    /// sent. The future can be cancelled until the call is sent to a worker. Throws
    /// aio::RuntimeError after shutdown, aio::mpi::BrokenMPIPool once broken.
    template <class R, class... P, class... A>
        requires(sizeof...(P) == sizeof...(A))
    ConcurrentFuture<R> submit(R (*fn)(P...), A&&... args) {
        using Args = std::tuple<std::decay_t<P>...>;
        static_assert((mp::Sendable<std::decay_t<P>> && ...), "aio::mpi: every parameter of a task must be Sendable");
        const char* name = detail::task_name(reinterpret_cast<detail::AnyFn>(fn));
        auto f = ConcurrentFuture<R>::create();
        submit_raw(name, false, std::make_unique<detail::CallSink<R>>(f, mp::dumps(Args(std::forward<A>(args)...))));
        return f;
    }

    /// Executor.map(fn, iterable, chunksize=, unordered=, timeout=): fn(x) for every x.
    template <class R, class P, class Range>
    MapResult<R> map(R (*fn)(P), const Range& items, MapOptions options = {}) {
        static_assert(!std::is_void_v<R>, "aio::mpi: map needs a function with a result; use submit for void ones");
        std::vector<std::tuple<std::decay_t<P>>> calls;
        for (const auto& x : items) calls.emplace_back(x);
        return map_calls<R>(fn, calls, options);
    }
    /// Executor.starmap(fn, iterable of tuples, ...): fn(*x) for every x.
    template <class R, class... P, class Range>
    MapResult<R> starmap(R (*fn)(P...), const Range& items, MapOptions options = {}) {
        static_assert(!std::is_void_v<R>, "aio::mpi: starmap needs a function with a result; use submit for void ones");
        std::vector<std::tuple<std::decay_t<P>...>> calls;
        for (const auto& x : items) calls.push_back(std::make_from_tuple<std::tuple<std::decay_t<P>...>>(x));
        return map_calls<R>(fn, calls, options);
    }

    /// Executor.shutdown(wait=True).
    void shutdown(bool wait = true) noexcept override { shutdown(wait, false); }
    /// Executor.shutdown(wait, cancel_futures): with cancel_futures the calls not yet sent to a
    /// worker are cancelled. Then the workers are told to stop; a spawned pool's workers exit.
    void shutdown(bool wait, bool cancel_futures) noexcept;

    /// mpi4py's executor.bootup(wait=True): starts the workers now rather than at the first
    /// submit. Throws what a failed start throws (aio::mpi::Error).
    void bootup();
    /// The number of worker ranks (spawns them first for MPIPoolExecutor).
    [[nodiscard]] int num_workers();
    /// The workers' pids, in rank order (-1 for one not yet heard from). For tests and demos.
    [[nodiscard]] std::vector<int> worker_pids();

protected:
    MPIExecutorBase() = default;
    std::shared_ptr<detail::Client> client_;

private:
    void submit_raw(const char* name, bool chunk, std::unique_ptr<detail::Sink> sink);

    template <class R, class Fn, class Calls>
    MapResult<R> map_calls(Fn fn, const Calls& calls, const MapOptions& options) {
        if (options.chunksize == 0) throw std::invalid_argument("aio::mpi: map's chunksize must be at least 1");
        const char* name = detail::task_name(reinterpret_cast<detail::AnyFn>(fn));
        std::optional<aio::detail::SteadyTime> deadline;
        if (options.timeout) deadline = aio::detail::deadline_after(*options.timeout);
        std::vector<ConcurrentFuture<void>> chunks;
        std::vector<std::shared_ptr<detail::ChunkResults<R>>> results;
        const size_t n_chunks = (calls.size() + options.chunksize - 1) / options.chunksize;
        chunks.reserve(n_chunks);
        results.reserve(n_chunks);
        for (size_t off = 0; off < calls.size(); off += options.chunksize) {
            const size_t n = std::min(options.chunksize, calls.size() - off);
            mp::Writer w;
            w.put_size(n);
            for (size_t i = 0; i < n; ++i) w.put(calls[off + i]);
            auto out = std::make_shared<detail::ChunkResults<R>>();
            out->values.resize(n);
            out->errors.resize(n);
            chunks.push_back(ConcurrentFuture<void>::create());
            results.push_back(out);
            try {
                submit_raw(name, true, std::make_unique<detail::ChunkSink<R>>(chunks.back(), std::move(out), w.take()));
            } catch (...) {
                for (auto& f : chunks) f.cancel();  // the chunks already queued are not wanted without the rest
                throw;
            }
        }
        return MapResult<R>(std::move(chunks), std::move(results), calls.size(), options.unordered, deadline);
    }
};

/// mpi4py.futures.MPIPoolExecutor(max_workers, **kwargs): workers spawned at the first submit
/// (or bootup()) as new processes of this program. Destroying it is shutdown(wait=true).
class MPIPoolExecutor final : public MPIExecutorBase {
public:
    explicit MPIPoolExecutor(PoolOptions options = {});
    /// MPIPoolExecutor(max_workers=n).
    explicit MPIPoolExecutor(int max_workers);
};

/// mpi4py.futures.MPICommExecutor(comm, root): the ranks of `comm` other than `root` serve
/// tasks, `root` submits them. Collective: every rank of `comm` constructs it. On `root` it
/// returns at once and converts to true; on the others it returns when root's executor shuts
/// down (explicitly or by its destructor), converting to false. Throws aio::mpi::Error when
/// `comm` has fewer than two ranks (the program was not started with mpiexec -n N).
class CommExecutor final : public MPIExecutorBase {
public:
    explicit CommExecutor(MPI_Comm comm = MPI_COMM_WORLD, int root = 0,
                          std::chrono::milliseconds lost_after = std::chrono::milliseconds(5000));
    /// True on the root (the client), false on a worker rank after it has served.
    explicit operator bool() const noexcept { return client_ != nullptr; }
};

}  // namespace aio::mpi

namespace aio {

/// loop.run_in_executor(mpi_executor, fn, *args): runs fn(args...) on a worker rank and awaits
/// it without blocking the loop, as with a process pool. Cancelling the awaiting task cancels the
/// call if it was not yet sent.
template <class E, class R, class... P, class... A>
    requires std::derived_from<E, mpi::MPIExecutorBase>
[[nodiscard]] auto run_in_executor(E& executor, R (*fn)(P...), A&&... args) {
    return wrap_future(executor.submit(fn, std::forward<A>(args)...));
}
/// run_in_executor with a pointer to an MPI executor.
template <class E, class R, class... P, class... A>
    requires std::derived_from<E, mpi::MPIExecutorBase>
[[nodiscard]] auto run_in_executor(E* executor, R (*fn)(P...), A&&... args) {
    if (!executor) throw std::invalid_argument("run_in_executor: null MPI executor");
    return wrap_future(executor->submit(fn, std::forward<A>(args)...));
}

}  // namespace aio
