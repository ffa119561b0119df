// ProcessPoolExecutor: the executor face of the process pool's engine (src/mp/pool.cpp).
#include "aio/mp/process_pool.hpp"

namespace aio {

ProcessPoolExecutor::ProcessPoolExecutor(std::optional<int> max_workers, std::function<void()> initializer,
                                         std::optional<int> max_tasks_per_child)
    : core_(mp::detail::PoolCore::Options{.processes = max_workers.value_or(mp::cpu_count()),
                                          .initializer = std::move(initializer),
                                          .max_tasks_per_child = max_tasks_per_child.value_or(0),
                                          .executor = true,
                                          .kind = "ProcessPoolExecutor"}) {
    if (max_tasks_per_child && *max_tasks_per_child <= 0)
        throw std::invalid_argument("ProcessPoolExecutor: max_tasks_per_child must be at least 1");
}

ProcessPoolExecutor::~ProcessPoolExecutor() { shutdown(true, false); }

void ProcessPoolExecutor::submit_raw(mp::detail::TaskFn fn, std::string args, std::unique_ptr<mp::detail::TaskSink> sink) {
    try {
        core_.submit(fn, std::move(args), std::move(sink));
    } catch (const InvalidStateError&) {
        throw RuntimeError("cannot schedule new futures after shutdown");
    }
}

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) noexcept {
    if (cancel_futures) core_.cancel_pending();
    core_.close();
    if (wait) {
        try {
            core_.join();
        } catch (...) {
            // join() throws only when called from the pool's own thread: nothing to wait for there.
        }
    }
}

}  // namespace aio
