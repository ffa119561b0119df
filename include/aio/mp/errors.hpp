// Exception types of the processes layer, with their Python counterparts. Timeouts use the
// core's aio::TimeoutError (multiprocessing.TimeoutError); a full or empty process queue throws
// the threads layer's aio::threading::Full / Empty, as Python's multiprocessing raises queue.Full
// and queue.Empty.
#pragma once

#include <exception>
#include <string>

#include "aio/core/errors.hpp"
#include "aio/threads/errors.hpp"

namespace aio {

/// concurrent.futures.process.BrokenProcessPool: a worker of a ProcessPoolExecutor died (or its
/// initializer failed); every pending future fails with this, and so does every later submit().
class BrokenProcessPool : public BrokenExecutor {
public:
    using BrokenExecutor::BrokenExecutor;
};

namespace mp {

/// multiprocessing.ProcessError: the base of the processes layer's errors.
class ProcessError : public Error {
public:
    using Error::Error;
};

/// A value could not be sent to or received from another process: a malformed or truncated
/// message (Python: pickle.UnpicklingError). Types that cannot be sent at all are rejected at
/// compile time, not here.
class SerializationError : public ProcessError {
public:
    using ProcessError::ProcessError;
};

/// An exception thrown by a task in a worker process, re-raised in the parent by get() /
/// result() (Python re-raises the unpickled exception). The original C++ object stays in the
/// worker's address space: what travels is its type and message.
class RemoteError : public ProcessError {
public:
    RemoteError(std::string type_name, std::string message);
    /// The demangled type of the exception the worker threw, e.g. "std::invalid_argument".
    [[nodiscard]] const std::string& type_name() const noexcept { return type_; }
    /// Its what(), as the worker saw it.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

protected:
    /// For the errors of layers above that say where the exception was raised (an MPI rank).
    RemoteError(std::string type_name, std::string message, const std::string& what);

private:
    std::string type_;
    std::string message_;
};

/// The demangled dynamic type of `e`'s object ("std::invalid_argument"), as a RemoteError
/// carries it; "none" for a null pointer.
[[nodiscard]] std::string exception_type_name(const std::exception_ptr& e);
/// The what() (or aio::BaseException::message()) of `e`'s object; empty for other types.
[[nodiscard]] std::string exception_message(const std::exception_ptr& e);

/// A Pool's worker died (crash, SIGKILL, OOM killer, exit) while it held this task. Python's Pool
/// hangs forever here; aiocpp fails exactly the tasks that worker held and starts a new worker.
class WorkerLostError : public ProcessError {
public:
    using ProcessError::ProcessError;
};

}  // namespace mp
}  // namespace aio
