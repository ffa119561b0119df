// Exception types of the networking layer, with their Python counterparts.
//
// OS errors are std::system_error carrying the errno (Python: OSError and its subclasses):
//   ConnectionRefusedError  -> std::system_error, code() == std::errc::connection_refused
//   ConnectionResetError    -> std::system_error, code() == std::errc::connection_reset
//   BrokenPipeError         -> std::system_error, code() == std::errc::broken_pipe
// so `catch (const std::system_error& e)` and `e.code() == std::errc::...` replace Python's
// `except ConnectionRefusedError:`.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "aio/core/errors.hpp"

namespace aio {

/// asyncio.IncompleteReadError: EOF came before readexactly(n) / readuntil(sep) was satisfied.
/// `partial()` holds the bytes read before EOF (they are no longer in the reader's buffer).
class IncompleteReadError : public Error {
public:
    IncompleteReadError(std::string partial, std::optional<size_t> expected);
    [[nodiscard]] const std::string& partial() const noexcept { return partial_; }
    /// The number of bytes asked for; std::nullopt for readuntil (Python: expected=None).
    [[nodiscard]] std::optional<size_t> expected() const noexcept { return expected_; }

private:
    std::string partial_;
    std::optional<size_t> expected_;
};

/// asyncio.LimitOverrunError: the separator was not found within the reader's limit.
/// `consumed()` is how many bytes may be discarded to get past the overrun (Python: .consumed).
class LimitOverrunError : public Error {
public:
    LimitOverrunError(const std::string& message, size_t consumed) : Error(message), consumed_(consumed) {}
    [[nodiscard]] size_t consumed() const noexcept { return consumed_; }

private:
    size_t consumed_;
};

/// socket.gaierror: name resolution failed. `code()` is the EAI_* value, what() gai_strerror's text.
class GaiError : public Error {
public:
    GaiError(int code, const std::string& message) : Error(message), code_(code) {}
    [[nodiscard]] int code() const noexcept { return code_; }

private:
    int code_;
};

}  // namespace aio
