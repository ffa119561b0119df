// Socket addresses and name resolution: Python's address tuples, socket.getaddrinfo and
// socket.getnameinfo as loop.getaddrinfo / loop.getnameinfo.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aio/core/task.hpp"
#include "aio/net/errors.hpp"

namespace aio {

/// A socket address (Python: the ("host", port) tuple, ("host", port, flow, scope) for IPv6, or
/// a path string for AF_UNIX). Holds any sockaddr the kernel can return.
class SockAddr {
public:
    SockAddr() noexcept = default;
    /// From a sockaddr the OS filled in (accept, getpeername, getaddrinfo).
    SockAddr(const sockaddr* sa, socklen_t len) noexcept;
    /// A numeric IPv4 or IPv6 address and a port; throws std::invalid_argument for anything
    /// that is not a numeric address (use getaddrinfo for names).
    static SockAddr ip(std::string_view host, uint16_t port);
    /// An AF_UNIX path (at most 107 bytes; std::invalid_argument beyond). A leading '\0' gives an
    /// abstract-namespace address.
    static SockAddr unix_path(std::string_view path);

    [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
    [[nodiscard]] bool empty() const noexcept { return len_ == 0; }
    /// The numeric host ("127.0.0.1", "::1"); for AF_UNIX the path.
    [[nodiscard]] std::string host() const;
    /// The port (0 for AF_UNIX).
    [[nodiscard]] uint16_t port() const noexcept;
    /// "127.0.0.1:8080", "[::1]:8080", or the AF_UNIX path.
    [[nodiscard]] std::string to_string() const;

    [[nodiscard]] const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    [[nodiscard]] sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
    [[nodiscard]] socklen_t size() const noexcept { return len_; }
    /// For filling in by the OS: the capacity, then set_size with what the OS returned.
    [[nodiscard]] static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }
    void set_size(socklen_t len) noexcept { len_ = len; }

    friend bool operator==(const SockAddr& a, const SockAddr& b) noexcept;

private:
    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

/// One result of getaddrinfo (Python: the (family, type, proto, canonname, sockaddr) tuple).
struct AddrInfo {
    int family = 0;
    int type = 0;
    int protocol = 0;
    std::string canonname;
    SockAddr addr;
};

/// Options of getaddrinfo (Python's keyword arguments).
struct GetAddrInfoOptions {
    int family = AF_UNSPEC;  // AF_INET, AF_INET6 or AF_UNSPEC (both)
    int type = SOCK_STREAM;  // 0: every type
    int protocol = 0;
    int flags = 0;           // AI_* flags
};

/// loop.getaddrinfo(host, port, ...): resolves off the loop thread, on the loop's default
/// executor as asyncio does (getaddrinfo(3) blocks). A numeric host ("127.0.0.1", "::1") or an
/// empty host with AI_PASSIVE is answered at once without the thread hop. Throws aio::GaiError.
/// Cancellation: the lookup already running in its thread finishes there; its result is dropped.
Task<std::vector<AddrInfo>> getaddrinfo(std::string host, std::string port, GetAddrInfoOptions options = {});
/// getaddrinfo with a numeric port.
Task<std::vector<AddrInfo>> getaddrinfo(std::string host, uint16_t port, GetAddrInfoOptions options = {});

/// loop.getnameinfo(sockaddr, flags) -> (host, service), off the loop thread. Throws aio::GaiError.
Task<std::pair<std::string, std::string>> getnameinfo(SockAddr addr, int flags = 0);

}  // namespace aio
