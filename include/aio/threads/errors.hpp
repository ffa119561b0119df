// Exception types of the threads layer, with their Python counterparts. Timeouts and
// cancellations use the core's aio::TimeoutError and aio::CancelledError, as Python ≥ 3.8/3.11
// made concurrent.futures' ones aliases of the builtins / asyncio's.
#pragma once

#include "aio/core/errors.hpp"

namespace aio {

/// concurrent.futures.BrokenExecutor: the executor can no longer run work.
class BrokenExecutor : public Error {
public:
    using Error::Error;
};

/// concurrent.futures.thread.BrokenThreadPool: a worker's initializer failed; pending jobs fail
/// with this, and so does every later submit().
class BrokenThreadPool : public BrokenExecutor {
public:
    using BrokenExecutor::BrokenExecutor;
};

namespace threading {

/// threading.BrokenBarrierError: the barrier was aborted, reset, or a wait timed out.
class BrokenBarrierError : public RuntimeError {
public:
    BrokenBarrierError() : RuntimeError("the barrier is broken") {}
    using RuntimeError::RuntimeError;
};

/// queue.Full: put_nowait() (or put with a timeout) on a full bounded queue.
class Full : public Error {
public:
    Full() : Error("queue is full") {}
    using Error::Error;
};

/// queue.Empty: get_nowait() (or get with a timeout) on an empty queue.
class Empty : public Error {
public:
    Empty() : Error("queue is empty") {}
    using Error::Error;
};

/// queue.ShutDown (Python 3.13): put() after shutdown(), or get() once a shut-down queue is empty.
class ShutDown : public Error {
public:
    ShutDown() : Error("queue is shut down") {}
    using Error::Error;
};

/// What the deadlock detector throws (see aio/threads/deadlock.hpp): acquiring this lock now
/// could deadlock (lock-order inversion) or certainly would (a non-reentrant lock re-acquired
/// by its owner). what() has the report, with the acquisition sites.
class DeadlockError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

}  // namespace threading
}  // namespace aio
