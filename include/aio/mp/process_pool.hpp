// aio::ProcessPoolExecutor — concurrent.futures.ProcessPoolExecutor: the thread pool's interface
// (submit, map, shutdown, ConcurrentFuture) over worker processes.
//
// Task functions follow the Pool's rules (aio/mp/pool.hpp): a function or a capture-less lambda,
// Sendable arguments and result. As in Python, a worker that dies breaks the executor: the
// futures it affects — and every pending one — fail with aio::BrokenProcessPool, and later
// submits throw it.
//
// From a coroutine: `co_await aio::run_in_executor(pool, fn, args...)` (loop.run_in_executor).
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "aio/core/executor.hpp"
#include "aio/mp/pool.hpp"
#include "aio/mp/process.hpp"
#include "aio/threads/bridge.hpp"
#include "aio/threads/thread_pool.hpp"

namespace aio {

/// concurrent.futures.ProcessPoolExecutor(max_workers=None, initializer=None,
/// max_tasks_per_child=None). max_workers defaults to aio::mp::cpu_count(). Destroying it is
/// shutdown(wait=true).
class ProcessPoolExecutor final : public Executor {
public:
    explicit ProcessPoolExecutor(std::optional<int> max_workers = std::nullopt, std::function<void()> initializer = {},
                                 std::optional<int> max_tasks_per_child = std::nullopt);
    ~ProcessPoolExecutor() override;

    /// Executor.submit(fn, *args): a future for fn(args...) run in a worker. The future can be
    /// cancelled while the task waits for a worker. Throws RuntimeError after shutdown,
    /// BrokenProcessPool once broken.
    template <class F, class... A>
    auto submit(F fn, A&&... args) {
        mp::detail::check_task_callable<F>();
        using Args = std::tuple<std::decay_t<A>...>;
        using R = decltype(std::apply(fn, std::declval<Args>()));
        static_assert(std::is_void_v<R> || mp::Sendable<R>, "aio::ProcessPoolExecutor: the result type must be Sendable");
        mp::Writer w;
        mp::detail::put_fn(w, fn);
        w.put(Args(std::forward<A>(args)...));
        auto f = ConcurrentFuture<R>::create();
        submit_raw(&mp::detail::run_call<F, Args>, w.take(), std::make_unique<mp::detail::FutureSink<R>>(f, true));
        return f;
    }

    /// Executor.map(fn, iterable): submits fn(x) for every x now; results in input order as the
    /// range is iterated (the threads layer's ConcurrentMap).
    template <class F, class Range>
    auto map(F fn, const Range& items) {
        using R = std::invoke_result_t<F&, mp::detail::range_arg_t<F, Range>>;
        std::vector<ConcurrentFuture<R>> fs;
        for (const auto& x : items) fs.push_back(submit(fn, x));
        return ConcurrentMap<R>(std::move(fs), std::nullopt);
    }
    /// Executor.map(fn, iterable, timeout=...): the timeout counts from this call.
    template <class F, class Range, class Rep, class Period>
    auto map(F fn, const Range& items, std::chrono::duration<Rep, Period> timeout) {
        using R = std::invoke_result_t<F&, mp::detail::range_arg_t<F, Range>>;
        const auto deadline = aio::detail::deadline_after(timeout);
        std::vector<ConcurrentFuture<R>> fs;
        for (const auto& x : items) fs.push_back(submit(fn, x));
        return ConcurrentMap<R>(std::move(fs), deadline);
    }

    /// Executor.shutdown(wait=True).
    void shutdown(bool wait = true) noexcept override { shutdown(wait, false); }
    /// Executor.shutdown(wait, cancel_futures): with cancel_futures, tasks not yet sent to a
    /// worker are cancelled.
    void shutdown(bool wait, bool cancel_futures) noexcept;

    /// The current workers' pids.
    [[nodiscard]] std::vector<pid_t> worker_pids() const { return core_.worker_pids(); }

private:
    void submit_raw(mp::detail::TaskFn fn, std::string args, std::unique_ptr<mp::detail::TaskSink> sink);
    mp::detail::PoolCore core_;
};

/// loop.run_in_executor(process_pool, fn, *args): runs fn(args...) in a worker process and
/// awaits it without blocking the loop. Cancelling the awaiting task cancels the task if no
/// worker has started it.
template <class F, class... A>
[[nodiscard]] auto run_in_executor(ProcessPoolExecutor& executor, F fn, A&&... args) {
    return wrap_future(executor.submit(fn, std::forward<A>(args)...));
}
/// run_in_executor with a pointer to the process pool (a template, so that nullptr still means
/// the loop's default executor).
template <class P, class F, class... A>
    requires std::same_as<P, ProcessPoolExecutor*>
[[nodiscard]] auto run_in_executor(P executor, F fn, A&&... args) {
    if (!executor) throw std::invalid_argument("run_in_executor: null ProcessPoolExecutor");
    return wrap_future(executor->submit(fn, std::forward<A>(args)...));
}

}  // namespace aio
