// aio::Executor — what the loop needs to know of an executor (Python: concurrent.futures.Executor
// as seen by loop.run_in_executor). The core only stores the loop's default executor and shuts it
// down; executors themselves (ThreadPoolExecutor, ProcessPoolExecutor) live in layers above.
#pragma once

namespace aio {

/// Base of every executor the loop can own as its default (Python: concurrent.futures.Executor).
class Executor {
public:
    Executor() = default;
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;
    virtual ~Executor() = default;
    /// Python Executor.shutdown(wait): stop accepting work; if `wait`, return when every
    /// accepted job has finished. Must be idempotent and must not throw.
    virtual void shutdown(bool wait) noexcept = 0;
};

}  // namespace aio
