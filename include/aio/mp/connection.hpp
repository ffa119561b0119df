// aio::mp::Pipe / Connection — multiprocessing.Pipe(): two connected endpoints that send values
// between processes (create the pipe, then fork: each process keeps the end it uses).
//
// A message is a 64-bit length and the encoded value, over a Unix socket (duplex) or a pipe
// (one-way); send() blocks while the kernel buffer is full. As in Python, a Connection is for one
// thread at a time, and recv() sees end-of-file only once *every* copy of the other end is
// closed — close the end a process does not use, or a child that inherited it keeps the pipe
// open.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "aio/mp/serialize.hpp"

namespace aio::mp {

/// EOFError: recv() on a connection whose other end is closed.
class EOFError : public ProcessError {
public:
    EOFError() : ProcessError("EOFError: the other end of the connection is closed") {}
    using ProcessError::ProcessError;
};

namespace detail {
/// The untyped endpoint: an owned file descriptor and the framing.
class Channel {
public:
    Channel() noexcept = default;
    Channel(int read_fd, int write_fd) noexcept : rfd_(read_fd), wfd_(write_fd) {}
    Channel(Channel&& o) noexcept : rfd_(std::exchange(o.rfd_, -1)), wfd_(std::exchange(o.wfd_, -1)) {}
    Channel& operator=(Channel&& o) noexcept {
        if (this != &o) {
            close();
            rfd_ = std::exchange(o.rfd_, -1);
            wfd_ = std::exchange(o.wfd_, -1);
        }
        return *this;
    }
    ~Channel() { close(); }

    void send_bytes(std::string_view message);
    /// The next message; throws EOFError at end of file, SerializationError on a torn message.
    std::string recv_bytes();
    /// True if a message (or end of file) is ready within `timeout` (negative: wait forever).
    bool poll(std::chrono::nanoseconds timeout);
    void close() noexcept;
    [[nodiscard]] bool closed() const noexcept { return rfd_ < 0 && wfd_ < 0; }
    [[nodiscard]] bool readable() const noexcept { return rfd_ >= 0; }
    [[nodiscard]] bool writable() const noexcept { return wfd_ >= 0; }
    [[nodiscard]] int fileno() const noexcept { return rfd_ >= 0 ? rfd_ : wfd_; }

private:
    void check_open(const char* op, bool want_read) const;
    int rfd_ = -1;
    int wfd_ = -1;  // the same descriptor as rfd_ for a duplex connection
};
/// Two connected channels: duplex (a socketpair) or {read end, write end} (a pipe).
std::pair<Channel, Channel> make_channel_pair(bool duplex);
}  // namespace detail

/// multiprocessing.connection.Connection, typed: sends and receives T (use a std::variant for
/// several kinds of message). Move-only; closed when destroyed.
template <class T>
class Connection {
    static_assert(Sendable<T>, "aio::mp::Connection<T>: T must be Sendable (see aio/mp/serialize.hpp)");

public:
    Connection() = default;
    explicit Connection(detail::Channel c) noexcept : c_(std::move(c)) {}

    /// Connection.send(obj). Throws InvalidStateError if closed or read-only, ProcessError if the
    /// other end is gone (EPIPE: never a SIGPIPE).
    void send(const T& value) { c_.send_bytes(dumps(value)); }
    /// Connection.recv(): blocks for the next value. Throws EOFError once the other end is
    /// closed and nothing is left.
    T recv() { return loads<T>(c_.recv_bytes()); }
    /// Connection.poll(timeout=0): is there something to recv() (a value, or end of file)?
    template <class Rep = int64_t, class Period = std::nano>
    bool poll(std::chrono::duration<Rep, Period> timeout = std::chrono::nanoseconds(0)) {
        return c_.poll(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
    }
    /// Connection.poll(None): waits until there is something to recv().
    bool poll_forever() { return c_.poll(std::chrono::nanoseconds(-1)); }
    /// Connection.send_bytes / recv_bytes: raw messages.
    void send_bytes(std::string_view bytes) { c_.send_bytes(bytes); }
    std::string recv_bytes() { return c_.recv_bytes(); }
    /// Connection.close().
    void close() noexcept { c_.close(); }
    [[nodiscard]] bool closed() const noexcept { return c_.closed(); }
    [[nodiscard]] bool readable() const noexcept { return c_.readable(); }
    [[nodiscard]] bool writable() const noexcept { return c_.writable(); }
    /// Connection.fileno().
    [[nodiscard]] int fileno() const noexcept { return c_.fileno(); }

private:
    detail::Channel c_;
};

/// multiprocessing.Pipe(duplex=True): a connected pair. With duplex = false the first end only
/// receives and the second only sends, as in Python.
template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(bool duplex = true) {
    auto [a, b] = detail::make_channel_pair(duplex);
    return {Connection<T>(std::move(a)), Connection<T>(std::move(b))};
}

}  // namespace aio::mp
