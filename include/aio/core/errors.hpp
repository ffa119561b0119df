// Exception types of the core, with their Python counterparts.
//
// CancelledError and KeyboardInterrupt deliberately do NOT derive from std::exception, just as
// Python made asyncio.CancelledError a BaseException in 3.8: a `catch (const std::exception&)`
// written to handle errors must not swallow a cancellation by accident.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace aio {

/// Python's BaseException: the root of exceptions that are not errors (cancellation, interrupt).
class BaseException {
public:
    explicit BaseException(std::string message = {}) : message_(std::move(message)) {}
    virtual ~BaseException() = default;
    /// The message given when the exception was raised (may be empty).
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// A printable description: the type name, then the message if there is one.
    [[nodiscard]] virtual const char* what() const noexcept { return message_.c_str(); }

private:
    std::string message_;
};

/// asyncio.CancelledError: thrown at a task's suspension point when the task is cancelled.
/// Catch it to clean up, then re-throw it (or swallow it, if the task really means to go on).
class CancelledError : public BaseException {
public:
    using BaseException::BaseException;
};

/// KeyboardInterrupt: aio::run() throws it when SIGINT cancelled the main task.
class KeyboardInterrupt : public BaseException {
public:
    using BaseException::BaseException;
};

/// Base of aiocpp's error exceptions (Python: Exception).
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// TimeoutError (asyncio.TimeoutError, the builtin since 3.11): a deadline passed.
class TimeoutError : public Error {
public:
    TimeoutError() : Error("timed out") {}
    using Error::Error;
};

/// asyncio.InvalidStateError: e.g. result() of an unfinished future, a second set_result().
class InvalidStateError : public Error {
public:
    using Error::Error;
};

/// RuntimeError: misuse of the loop (closed loop, nested run, call from the wrong thread...).
class RuntimeError : public Error {
public:
    using Error::Error;
};

/// ExceptionGroup / BaseExceptionGroup: every failure of a TaskGroup, together.
class ExceptionGroup : public Error {
public:
    ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions);
    /// The sub-exceptions, in the order they happened.
    [[nodiscard]] const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

private:
    std::vector<std::exception_ptr> exceptions_;
};

/// A one-line description of any exception_ptr ("TimeoutError: timed out"), for logs and
/// messages. Knows aiocpp's types and std::exception; other types print as "unknown exception".
[[nodiscard]] std::string describe_exception(const std::exception_ptr& e);

}  // namespace aio
