// aio::sendfile (include/aio/net/sendfile.hpp): the kernel path lives in the socket transport
// (transport.cpp), which owns the socket's output; the fallback, here, only needs write() and a
// way to wait for the write buffer to drain.
#include "aio/net/sendfile.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "aio/threads/bridge.hpp"
#include "fd_wait.hpp"
#include "socket_transport.hpp"
#include "tls_internal.hpp"

namespace aio {

namespace {

constexpr size_t kFallbackChunk = 256 * 1024;

// The socket transport at the bottom of a stack of TLS transports: its buffer is where the
// fallback's writes wait.
detail::SocketTransport* socket_of(Transport& t) noexcept {
    Transport* cur = &t;
    for (int depth = 0; cur && depth < 8; ++depth) {
        if (auto* s = dynamic_cast<detail::SocketTransport*>(cur)) return s;
        cur = detail::tls_inner_transport(*cur);
    }
    return nullptr;
}

struct BusyGuard {
    detail::SocketTransport* s;
    explicit BusyGuard(detail::SocketTransport* sock) : s(sock) {
        if (s->transfer_busy()) throw RuntimeError("sendfile: a transfer is already in progress on this transport");
        s->set_transfer_busy(true);
    }
    ~BusyGuard() { s->set_transfer_busy(false); }
    BusyGuard(const BusyGuard&) = delete;
    BusyGuard& operator=(const BusyGuard&) = delete;
};

// asyncio's _sendfile_fallback: read a chunk off the loop (a cold disk blocks), write it, and
// wait while the transport holds more than its high-water mark.
Task<size_t> sendfile_fallback(Transport& transport, detail::SocketTransport& base, int file, uint64_t offset,
                               size_t count, bool seekable) {
    size_t sent = 0;
    uint64_t pos = offset;
    while (sent < count) {
        const size_t want = std::min(count - sent, kFallbackChunk);
        // The buffer belongs to the job: if this task is cancelled mid-read the thread may still
        // be writing into it.
        auto chunk = std::make_shared<std::string>(want, '\0');
        auto read_chunk = [chunk, file, pos, seekable]() -> ssize_t {
            for (;;) {
                const ssize_t r = seekable ? ::pread(file, chunk->data(), chunk->size(), static_cast<off_t>(pos))
                                           : ::read(file, chunk->data(), chunk->size());
                if (r >= 0) return r;
                if (errno != EINTR) return -errno;
            }
        };
        const ssize_t got = co_await run_in_executor(nullptr, read_chunk);
        if (got < 0) detail::throw_errno(static_cast<int>(-got), "sendfile: reading the file");
        if (got == 0) break;
        if (transport.is_closing())
            throw std::system_error(ECONNABORTED, std::generic_category(), "sendfile: the transport was closed");
        transport.write(std::string_view(chunk->data(), static_cast<size_t>(got)));
        sent += static_cast<size_t>(got);
        pos += static_cast<uint64_t>(got);
        const auto [low, high] = base.get_write_buffer_limits();
        if (base.get_write_buffer_size() > high) {
            Future<void> drained = base.wait_write_buffer_at_most(low);
            co_await drained;
        }
    }
    co_return sent;
}

}  // namespace

Task<size_t> sendfile(Transport& transport, int file, uint64_t offset, std::optional<size_t> count, bool fallback) {
    std::shared_ptr<Transport> keep = transport.shared_from_this();
    if (transport.is_closing()) throw RuntimeError("sendfile: the transport is closing");
    struct stat st {};
    if (::fstat(file, &st) != 0) detail::throw_errno(errno, "sendfile: fstat of the file");
    const bool regular = S_ISREG(st.st_mode);
    if (!regular && offset != 0 && !S_ISBLK(st.st_mode))
        throw std::invalid_argument("sendfile: an offset needs a seekable file");
    detail::SocketTransport* base = socket_of(transport);
    if (!base) throw SendfileNotAvailableError("sendfile: this transport has no socket underneath");
    BusyGuard busy(base);
    const size_t total = count.value_or(SIZE_MAX);
    if (regular && base == &transport) {
        try {
            co_return co_await base->sendfile_native(file, offset, total);
        } catch (const SendfileNotAvailableError&) {
            if (!fallback) throw;
        }
    }
    if (!fallback)
        throw SendfileNotAvailableError(regular ? "sendfile: a TLS transport cannot use sendfile(2)"
                                                : "sendfile: the file is not a regular file");
    co_return co_await sendfile_fallback(transport, *base, file, offset, total, regular || S_ISBLK(st.st_mode));
}

}  // namespace aio
