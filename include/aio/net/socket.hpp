// aio::Socket and the loop's low-level socket calls: Python's socket.socket (the parts an
// asyncio program needs) and loop.sock_connect / sock_accept / sock_recv / sock_recv_into /
// sock_sendall.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "aio/core/task.hpp"
#include "aio/net/address.hpp"

namespace aio {

/// An owned socket file descriptor, closed by the destructor (Python: socket.socket used with
/// `with`). Always non-blocking and close-on-exec, as asyncio requires of the sockets handed to
/// the loop. Move-only.
class Socket {
public:
    Socket() noexcept = default;
    /// A new socket (Python: socket.socket(family, type, proto)); throws std::system_error.
    Socket(int family, int type, int protocol = 0);
    /// Takes ownership of `fd` and makes it non-blocking (Python: socket.socket(fileno=fd)).
    static Socket adopt(int fd);
    Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Socket& operator=(Socket&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Socket() { close(); }

    /// socket.fileno(): -1 once closed or detached.
    [[nodiscard]] int fileno() const noexcept { return fd_; }
    [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
    /// socket.close(): idempotent.
    void close() noexcept;
    /// socket.detach(): gives up ownership and returns the fd.
    [[nodiscard]] int detach() noexcept { return std::exchange(fd_, -1); }

    /// socket.bind(addr); throws std::system_error naming the address.
    void bind(const SockAddr& addr);
    /// socket.listen(backlog).
    void listen(int backlog = 100);
    /// socket.setsockopt(level, name, int value).
    void setsockopt(int level, int name, int value);
    /// socket.getsockname() / getpeername().
    [[nodiscard]] SockAddr getsockname() const;
    [[nodiscard]] SockAddr getpeername() const;
    /// socket.shutdown(how): SHUT_RD, SHUT_WR or SHUT_RDWR.
    void shutdown(int how);

private:
    int fd_ = -1;
};

/// loop.sock_connect(sock, address): connects a non-blocking socket, waiting for the handshake
/// on the loop. Throws std::system_error (e.g. ECONNREFUSED). Cancellation leaves the socket in
/// an unspecified connecting state (as in Python): close it.
Task<void> sock_connect(int fd, SockAddr addr);
/// loop.sock_accept(sock) -> (conn, address). The new socket is non-blocking and close-on-exec.
/// Cancel-safe: a cancelled accept takes no connection.
Task<std::pair<Socket, SockAddr>> sock_accept(int fd);
/// loop.sock_recv(sock, nbytes): up to `nbytes` bytes, "" at EOF. Cancel-safe: nothing is read.
Task<std::string> sock_recv(int fd, size_t nbytes);
/// loop.sock_recv_into(sock, buf): the number of bytes read into `buf`, 0 at EOF. Cancel-safe.
Task<size_t> sock_recv_into(int fd, std::span<std::byte> buf);
/// loop.sock_sendall(sock, data): sends everything, waiting whenever the socket buffer is full.
/// Never raises SIGPIPE: a closed peer gives std::system_error (EPIPE or ECONNRESET).
/// Cancellation: how much was sent is unknown (as in Python); the connection should be dropped.
/// `data` is copied into the coroutine, so a temporary is fine.
Task<void> sock_sendall(int fd, std::string data);

}  // namespace aio
