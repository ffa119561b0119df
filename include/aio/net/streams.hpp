// Streams — asyncio.streams: open_connection / start_server (and their Unix-socket twins),
// StreamReader and StreamWriter. Built on transports and protocols (transport.hpp).
#pragma once

#include <cstddef>
#include <exception>
#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "aio/core/async_generator.hpp"
#include "aio/core/task.hpp"
#include "aio/detail/slot_wait.hpp"
#include "aio/net/errors.hpp"
#include "aio/net/transport.hpp"

namespace aio {

namespace detail {
struct ReaderState;
class StreamProtocol;

/// What StreamReader::read returns: an awaitable that takes no coroutine frame. It completes at
/// once when the buffer can answer, else it waits as the reader's one waiting task; the bytes
/// leave the buffer only when it resumes, so a cancelled read loses nothing. Movable until
/// awaited; it can also be given to create_task, wait_for or gather, like a Python coroutine.
class [[nodiscard]] ReadOp final : public SlotWait {
public:
    ReadOp(std::shared_ptr<ReaderState> s, std::ptrdiff_t n) noexcept : s_(std::move(s)), n_(n) {}
    ReadOp(ReadOp&& o) noexcept : SlotWait(), s_(std::move(o.s_)), n_(o.n_) {}
    ReadOp& operator=(ReadOp&&) = delete;
    ~ReadOp();

    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    std::string await_resume();

    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;
    /// The reader's buffer changed in a way this read cares about.
    void wake() noexcept;
    /// True when this read needs EOF (read(-1)) rather than any data.
    [[nodiscard]] bool until_eof() const noexcept { return n_ < 0; }

private:
    std::shared_ptr<ReaderState> s_;
    std::ptrdiff_t n_;
    bool queued_ = false;
};

Task<void> drain_slow(std::shared_ptr<Transport> t, std::shared_ptr<StreamProtocol> p);
bool drain_ready(const Transport& t, const StreamProtocol& p) noexcept;

/// What StreamWriter::drain returns: completes without a coroutine frame when nothing is to be
/// waited for (the common case), else runs the waiting coroutine inline.
class [[nodiscard]] DrainOp {
public:
    DrainOp(std::shared_ptr<Transport> t, std::shared_ptr<StreamProtocol> p) noexcept
        : t_(std::move(t)), p_(std::move(p)) {}
    bool await_ready() const noexcept { return drain_ready(*t_, *p_); }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
        task_.emplace(drain_slow(std::move(t_), std::move(p_)));  // owns the frame until we resume
        slow_.emplace(std::move(*task_).operator co_await());
        return slow_->await_suspend(h);
    }
    void await_resume() {
        if (slow_) slow_->await_resume();
    }

private:
    std::shared_ptr<Transport> t_;
    std::shared_ptr<StreamProtocol> p_;
    std::optional<Task<void>> task_;
    std::optional<Task<void>::Awaiter> slow_;
};
}  // namespace detail

/// asyncio.StreamReader: a buffer fed by a connection, read by one task at a time. A copyable
/// handle: copies share the buffer. Each read method returns a Task (read: a frame-free
/// awaitable), so it can be given to wait_for, gather or create_task like a Python coroutine.
///
/// Cancel safety (docs/net.md): every read takes its bytes out of the buffer only when it
/// returns, so a cancelled read loses nothing — the next read gets the same bytes.
/// Two tasks reading at once is an error (RuntimeError), as in Python.
class StreamReader {
public:
    /// A reader not attached to any connection, fed with feed_data / feed_eof (Python:
    /// StreamReader(limit=...)): handy as an in-memory stream in tests.
    explicit StreamReader(size_t limit = 64 * 1024);
    explicit StreamReader(std::shared_ptr<detail::ReaderState> s) noexcept : s_(std::move(s)) {}

    /// `co_await reader.read(n)`: up to n bytes (at least one unless at EOF); n = -1 reads to EOF.
    /// Returns "" at EOF. (An awaitable rather than a Task: no coroutine frame per read.)
    [[nodiscard]] detail::ReadOp read(std::ptrdiff_t n = -1) const { return detail::ReadOp(s_, n); }
    /// `co_await reader.readexactly(n)`: exactly n bytes, or IncompleteReadError (carrying the
    /// partial bytes, which leave the buffer) at EOF.
    [[nodiscard]] Task<std::string> readexactly(size_t n) const;
    /// `co_await reader.readline()`: up to and including "\n"; at EOF the rest without it ("" if
    /// none). A line longer than the limit throws LimitOverrunError and is discarded (Python
    /// raises ValueError and discards it too).
    [[nodiscard]] Task<std::string> readline() const;
    /// `co_await reader.readuntil(sep)`: up to and including `sep`. LimitOverrunError if `sep` is
    /// not found within the limit (the buffer is left as it was: read it some other way);
    /// IncompleteReadError at EOF (the rest leaves the buffer). std::invalid_argument for "".
    [[nodiscard]] Task<std::string> readuntil(std::string separator = "\n") const;
    /// `async for line in reader` — `while (auto line = co_await lines.next())`.
    [[nodiscard]] AsyncGenerator<std::string> lines() const;
    /// reader.at_eof(): EOF was fed and the buffer is empty.
    [[nodiscard]] bool at_eof() const noexcept;
    /// reader.feed_data / feed_eof / set_exception / exception().
    void feed_data(std::string_view data);
    void feed_eof();
    void set_exception(std::exception_ptr e);
    [[nodiscard]] std::exception_ptr exception() const noexcept;
    /// The buffer limit (Python: _limit) and the bytes buffered now (aiocpp).
    [[nodiscard]] size_t limit() const noexcept;
    [[nodiscard]] size_t buffered() const noexcept;

private:
    std::shared_ptr<detail::ReaderState> s_;
};

/// asyncio.StreamWriter: writes to a connection, with backpressure through drain(). A copyable
/// handle sharing one transport.
class StreamWriter {
public:
    StreamWriter(std::shared_ptr<Transport> t, std::shared_ptr<detail::StreamProtocol> p) noexcept
        : t_(std::move(t)), p_(std::move(p)) {}

    /// writer.write(data): buffers or sends at once; never blocks. Errors surface in drain().
    void write(std::string_view data) { t_->write(data); }
    /// writer.writelines(parts).
    template <class Range>
    void writelines(const Range& parts) {
        t_->writelines(parts);
    }
    void writelines(std::initializer_list<std::string_view> parts) { t_->writelines(parts); }
    /// `co_await writer.drain()`: waits while the write buffer is above the high-water mark;
    /// throws the connection's error (e.g. EPIPE, ECONNRESET as std::system_error) if it was
    /// lost. Cancel-safe: nothing is lost; the data stays buffered.
    [[nodiscard]] detail::DrainOp drain() const { return detail::DrainOp(t_, p_); }
    /// writer.write_eof() / can_write_eof().
    void write_eof() { t_->write_eof(); }
    [[nodiscard]] bool can_write_eof() const noexcept { return t_->can_write_eof(); }
    /// writer.close(): flushes, then closes. Idempotent.
    void close() { t_->close(); }
    /// writer.is_closing().
    [[nodiscard]] bool is_closing() const noexcept { return t_->is_closing(); }
    /// `co_await writer.wait_closed()`: until the connection is lost; rethrows its error if any.
    [[nodiscard]] Task<void> wait_closed() const;
    /// writer.get_extra_info(name, default) and its typed forms.
    [[nodiscard]] std::any get_extra_info(std::string_view name, std::any default_value = {}) const {
        return t_->get_extra_info(name, std::move(default_value));
    }
    [[nodiscard]] SockAddr peername() const { return t_->peername(); }
    [[nodiscard]] SockAddr sockname() const { return t_->sockname(); }
    /// writer.transport.
    [[nodiscard]] Transport& transport() const noexcept { return *t_; }

private:
    std::shared_ptr<Transport> t_;
    std::shared_ptr<detail::StreamProtocol> p_;
};

/// What open_connection returns (Python: the (reader, writer) tuple; structured bindings work).
struct StreamPair {
    StreamReader reader;
    StreamWriter writer;
};

/// The callback start_server runs for each connection, as a new task (Python: client_connected_cb).
/// When it returns, the writer is closed (flushing first) if the callback did not close it; an
/// exception it throws goes to the loop's exception handler and aborts the connection.
using ClientConnected = std::function<Task<void>(StreamReader, StreamWriter)>;

/// asyncio.open_connection(host, port, limit=...).
[[nodiscard]] Task<StreamPair> open_connection(std::string host, uint16_t port, ConnectOptions options = {});
/// asyncio.open_connection(sock=sock, limit=...): streams over a socket that is already
/// connected (a socketpair end, an accepted socket...).
[[nodiscard]] Task<StreamPair> open_connection(Socket sock, size_t limit = 64 * 1024);
/// asyncio.open_unix_connection(path).
[[nodiscard]] Task<StreamPair> open_unix_connection(std::string path, size_t limit = 64 * 1024);
/// asyncio.start_server(client_connected_cb, host, port, ...).
[[nodiscard]] Task<Server> start_server(ClientConnected cb, std::string host, uint16_t port,
                                        ServerOptions options = {});
/// asyncio.start_unix_server(client_connected_cb, path).
[[nodiscard]] Task<Server> start_unix_server(ClientConnected cb, std::string path, ServerOptions options = {});

}  // namespace aio
