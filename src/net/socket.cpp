// aio::Socket and the sock_* calls (include/aio/net/socket.hpp).
#include "aio/net/socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "fd_wait.hpp"

namespace aio {

using detail::FdWait;
using detail::throw_errno;

Socket::Socket(int family, int type, int protocol) {
    fd_ = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd_ < 0) throw_errno(errno, "socket");
}

Socket Socket::adopt(int fd) {
    if (fd < 0) throw std::invalid_argument("Socket::adopt: invalid file descriptor " + std::to_string(fd));
    Socket s;
    s.fd_ = fd;
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) throw_errno(errno, "fcntl(O_NONBLOCK)");
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return s;
}

void Socket::close() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void Socket::bind(const SockAddr& addr) {
    if (::bind(fd_, addr.data(), addr.size()) < 0) throw_errno(errno, "bind to " + addr.to_string());
}

void Socket::listen(int backlog) {
    if (::listen(fd_, backlog) < 0) throw_errno(errno, "listen");
}

void Socket::setsockopt(int level, int name, int value) {
    if (::setsockopt(fd_, level, name, &value, sizeof value) < 0) throw_errno(errno, "setsockopt");
}

SockAddr Socket::getsockname() const {
    SockAddr a;
    socklen_t len = SockAddr::capacity();
    if (::getsockname(fd_, a.data(), &len) < 0) throw_errno(errno, "getsockname");
    a.set_size(len);
    return a;
}

SockAddr Socket::getpeername() const {
    SockAddr a;
    socklen_t len = SockAddr::capacity();
    if (::getpeername(fd_, a.data(), &len) < 0) throw_errno(errno, "getpeername");
    a.set_size(len);
    return a;
}

void Socket::shutdown(int how) {
    if (::shutdown(fd_, how) < 0) throw_errno(errno, "shutdown");
}

Task<void> sock_connect(int fd, SockAddr addr) {
    if (::connect(fd, addr.data(), addr.size()) == 0) co_return;
    if (errno != EINPROGRESS && errno != EINTR) throw_errno(errno, "connect to " + addr.to_string());
    co_await FdWait(fd, true);
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) throw_errno(err, "connect to " + addr.to_string());
}

Task<std::pair<Socket, SockAddr>> sock_accept(int fd) {
    for (;;) {
        SockAddr a;
        socklen_t len = SockAddr::capacity();
        int c = ::accept4(fd, a.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            a.set_size(len);
            Socket s;
            s = Socket::adopt(c);
            co_return std::pair<Socket, SockAddr>(std::move(s), a);
        }
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) throw_errno(errno, "accept");
        co_await FdWait(fd, false);
    }
}

Task<std::string> sock_recv(int fd, size_t nbytes) {
    // Python returns b"" for recv(0) without a system call; recv(fd, p, 0) would report EAGAIN
    // on an idle socket and the wait for readability would never end.
    if (nbytes == 0) co_return std::string();
    std::string buf(nbytes, '\0');
    for (;;) {
        ssize_t n = ::recv(fd, buf.data(), nbytes, 0);
        if (n >= 0) {
            buf.resize(static_cast<size_t>(n));
            co_return buf;
        }
        if (errno != EAGAIN && errno != EINTR) throw_errno(errno, "recv");
        co_await FdWait(fd, false);
    }
}

Task<size_t> sock_recv_into(int fd, std::span<std::byte> buf) {
    for (;;) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n >= 0) co_return static_cast<size_t>(n);
        if (errno != EAGAIN && errno != EINTR) throw_errno(errno, "recv");
        co_await FdWait(fd, false);
    }
}

Task<void> sock_sendall(int fd, std::string data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (errno != EAGAIN && errno != EINTR) throw_errno(errno, "send");
        co_await FdWait(fd, true);
    }
}

}  // namespace aio
