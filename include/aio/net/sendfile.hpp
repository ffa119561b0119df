// loop.sendfile(transport, file, offset, count) — sends part of a file over a transport with the
// kernel's sendfile(2) (no copy through user space), falling back to read-and-write where the
// kernel path does not apply (a TLS transport, a file that is not a regular file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"
#include "aio/net/transport.hpp"

namespace aio {

/// asyncio.SendfileNotAvailableError: the kernel path cannot be used and fallback=false.
class SendfileNotAvailableError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

/// `co_await loop.sendfile(transport, file, offset, count, fallback=True)`: sends `count` bytes
/// (std::nullopt: to the end of the file) of the open file descriptor `file` from `offset`, after
/// whatever the transport already buffered, and returns the bytes sent (fewer than `count` only if
/// the file ended first). `file` is not read through or repositioned (pread / sendfile with an
/// offset), so one descriptor may serve many transfers at once. Bytes written to the transport
/// while the transfer runs are sent after it, in order.
///
/// Plain sockets use sendfile(2). A TLS transport, or a `file` that is not a regular file, reads
/// the file on the loop's default executor and writes it with flow control (asyncio's fallback);
/// with fallback=false those throw SendfileNotAvailableError instead.
///
/// Errors: RuntimeError if the transport is closing or a transfer is already running on it; the
/// connection's std::system_error if it is lost (the transport is closed); the file's
/// std::system_error (EIO...) if reading it fails, leaving the transport open but with a partial
/// body sent — a protocol framing its messages (HTTP) must abort the transport then.
/// Cancellation stops the transfer at a chunk boundary the caller cannot see; as with a file
/// error, the stream is mid-message. `transport` must be alive when called; it is kept alive for
/// the transfer.
Task<size_t> sendfile(Transport& transport, int file, uint64_t offset = 0, std::optional<size_t> count = std::nullopt,
                      bool fallback = true);

}  // namespace aio
