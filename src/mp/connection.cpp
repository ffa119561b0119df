// Pipe and Connection: framing over a socketpair or a pipe. See aio/mp/connection.hpp.
#include "aio/mp/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace aio::mp::detail {

namespace {
[[noreturn]] void throw_errno(const char* what) {
    throw ProcessError(std::string(what) + ": " + std::strerror(errno));
}

void write_all(int fd, bool is_socket, const char* p, size_t n) {
    while (n > 0) {
        const ssize_t k = is_socket ? ::send(fd, p, n, MSG_NOSIGNAL) : ::write(fd, p, n);
        if (k > 0) {
            p += k;
            n -= static_cast<size_t>(k);
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && errno == EPIPE) {
            throw ProcessError("Connection.send: the other end is closed (EPIPE)");
        } else {
            throw_errno("Connection.send");
        }
    }
}

/// Reads exactly n bytes; false at end of file before the first byte.
bool read_all(int fd, char* p, size_t n) {
    size_t got = 0;
    while (got < n) {
        const ssize_t k = ::read(fd, p + got, n - got);
        if (k > 0) got += static_cast<size_t>(k);
        else if (k == 0) {
            if (got == 0) return false;
            throw SerializationError("Connection.recv: the other end closed in the middle of a message");
        } else if (errno != EINTR) {
            throw_errno("Connection.recv");
        }
    }
    return true;
}

bool is_socket_fd(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}
}  // namespace

void Channel::check_open(const char* op, bool want_read) const {
    if (closed()) throw InvalidStateError(std::string(op) + ": the connection is closed");
    if (want_read && rfd_ < 0) throw InvalidStateError(std::string(op) + ": this end of the pipe only sends");
    if (!want_read && wfd_ < 0) throw InvalidStateError(std::string(op) + ": this end of the pipe only receives");
}

void Channel::send_bytes(std::string_view message) {
    check_open("Connection.send", false);
    const auto len = static_cast<uint64_t>(message.size());
    const bool sock = is_socket_fd(wfd_);
    // One write for a small message, so that a reader never wakes for half of it.
    if (message.size() <= 4096) {
        char buf[4096 + sizeof len];
        std::memcpy(buf, &len, sizeof len);
        std::memcpy(buf + sizeof len, message.data(), message.size());
        write_all(wfd_, sock, buf, sizeof len + message.size());
        return;
    }
    write_all(wfd_, sock, reinterpret_cast<const char*>(&len), sizeof len);
    write_all(wfd_, sock, message.data(), message.size());
}

std::string Channel::recv_bytes() {
    check_open("Connection.recv", true);
    uint64_t len = 0;
    if (!read_all(rfd_, reinterpret_cast<char*>(&len), sizeof len)) throw EOFError();
    if (len > (uint64_t{1} << 40)) throw SerializationError("Connection.recv: corrupt message length " + std::to_string(len));
    // Grown as the bytes arrive, not allocated from the header: a corrupt length then ends in
    // "closed in the middle of a message", not in a terabyte allocation.
    std::string s;
    while (s.size() < len) {
        const size_t old = s.size();
        const size_t step = static_cast<size_t>(std::min<uint64_t>(len - old, uint64_t{1} << 20));
        s.resize(old + step);
        if (!read_all(rfd_, s.data() + old, step))
            throw SerializationError("Connection.recv: the other end closed in the middle of a message");
    }
    return s;
}

bool Channel::poll(std::chrono::nanoseconds timeout) {
    check_open("Connection.poll", true);
    const bool forever = timeout.count() < 0;
    const auto deadline = std::chrono::steady_clock::now() + (forever ? std::chrono::nanoseconds(0) : timeout);
    for (;;) {
        int ms = -1;
        if (!forever) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            ms = static_cast<int>(std::clamp<long long>(left.count(), 0, 1'000'000));
        }
        pollfd p{rfd_, POLLIN, 0};
        const int n = ::poll(&p, 1, ms);
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) throw_errno("Connection.poll");
        if (n == 0 && !forever && std::chrono::steady_clock::now() >= deadline) return false;
    }
}

void Channel::close() noexcept {
    if (rfd_ >= 0) ::close(rfd_);
    if (wfd_ >= 0 && wfd_ != rfd_) ::close(wfd_);
    rfd_ = wfd_ = -1;
}

std::pair<Channel, Channel> make_channel_pair(bool duplex) {
    int fds[2];
    if (duplex) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("Pipe: socketpair");
        return {Channel(fds[0], fds[0]), Channel(fds[1], fds[1])};
    }
    // A socketpair shut in one direction rather than a pipe(2): a socket can be written with
    // MSG_NOSIGNAL, so a closed reader gives EPIPE, never a SIGPIPE.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("Pipe: socketpair");
    ::shutdown(fds[0], SHUT_WR);
    ::shutdown(fds[1], SHUT_RD);
    return {Channel(fds[0], -1), Channel(-1, fds[1])};
}

}  // namespace aio::mp::detail
