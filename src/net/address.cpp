// SockAddr, getaddrinfo and getnameinfo (include/aio/net/address.hpp).
#include "aio/net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <stdexcept>

#include "aio/threads/bridge.hpp"

namespace aio {

IncompleteReadError::IncompleteReadError(std::string partial, std::optional<size_t> expected)
    : Error(std::to_string(partial.size()) + " bytes read on a total of " +
            (expected ? std::to_string(*expected) : std::string("undefined")) + " expected bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}

SockAddr::SockAddr(const sockaddr* sa, socklen_t len) noexcept {
    if (len > sizeof storage_) len = sizeof storage_;
    std::memcpy(&storage_, sa, len);
    len_ = len;
}

SockAddr SockAddr::ip(std::string_view host, uint16_t port) {
    SockAddr a;
    std::string h(host);
    if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
    if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.len_ = sizeof(sockaddr_in);
        return a;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.len_ = sizeof(sockaddr_in6);
        return a;
    }
    throw std::invalid_argument("not a numeric IPv4 or IPv6 address: '" + std::string(host) + "'");
}

SockAddr SockAddr::unix_path(std::string_view path) {
    SockAddr a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
    if (path.empty() || path.size() >= sizeof un->sun_path)
        throw std::invalid_argument("AF_UNIX path must be 1 to " + std::to_string(sizeof un->sun_path - 1) +
                                    " bytes long: '" + std::string(path) + "'");
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1));
    return a;
}

std::string SockAddr::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    switch (storage_.ss_family) {
        case AF_INET:
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
            return buf;
        case AF_INET6:
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
            return buf;
        case AF_UNIX: {
            auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
            size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
            if (n > 0 && un->sun_path[0] != '\0') n = ::strnlen(un->sun_path, n);
            return std::string(un->sun_path, n);
        }
        default:
            return {};
    }
}

uint16_t SockAddr::port() const noexcept {
    if (storage_.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (storage_.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
}

std::string SockAddr::to_string() const {
    switch (storage_.ss_family) {
        case AF_INET:
            return host() + ":" + std::to_string(port());
        case AF_INET6: {
            // Appending, not "[" + host(): g++ 12 -O3 reports a bogus -Wrestrict on that form.
            std::string out = "[";
            out += host();
            out += "]:";
            out += std::to_string(port());
            return out;
        }
        case AF_UNIX:
            return host();
        default:
            return len_ == 0 ? "<no address>" : "<address family " + std::to_string(storage_.ss_family) + ">";
    }
}

bool operator==(const SockAddr& a, const SockAddr& b) noexcept {
    return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

namespace {

std::vector<AddrInfo> resolve_blocking(const std::string& host, const std::string& port, GetAddrInfoOptions o) {
    addrinfo hints{};
    hints.ai_family = o.family;
    hints.ai_socktype = o.type;
    hints.ai_protocol = o.protocol;
    hints.ai_flags = o.flags;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.empty() ? nullptr : port.c_str(), &hints, &res);
    if (rc != 0) {
        std::string what = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
        throw GaiError(rc, "getaddrinfo('" + host + "', '" + port + "'): " + what);
    }
    std::vector<AddrInfo> out;
    for (addrinfo* p = res; p; p = p->ai_next) {
        AddrInfo ai;
        ai.family = p->ai_family;
        ai.type = p->ai_socktype;
        ai.protocol = p->ai_protocol;
        if (p->ai_canonname) ai.canonname = p->ai_canonname;
        ai.addr = SockAddr(p->ai_addr, p->ai_addrlen);
        out.push_back(std::move(ai));
    }
    ::freeaddrinfo(res);
    return out;
}

bool is_numeric_host(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool is_numeric_port(const std::string& port) {
    if (port.empty()) return true;
    for (char c : port)
        if (c < '0' || c > '9') return false;
    return true;
}

}  // namespace

Task<std::vector<AddrInfo>> getaddrinfo(std::string host, std::string port, GetAddrInfoOptions options) {
    // Numeric addresses never touch DNS: answer them on the loop thread, as asyncio's
    // _ipaddr_info shortcut does.
    if ((is_numeric_host(host) || (host.empty() && (options.flags & AI_PASSIVE))) && is_numeric_port(port)) {
        options.flags |= AI_NUMERICSERV | (host.empty() ? 0 : AI_NUMERICHOST);
        co_return resolve_blocking(host, port, options);
    }
    // Named, not a temporary of the co_await expression (g++ 12 bug, docs/design.md).
    auto lookup = [h = std::move(host), p = std::move(port), options] { return resolve_blocking(h, p, options); };
    co_return co_await run_in_executor(nullptr, std::move(lookup));
}

Task<std::vector<AddrInfo>> getaddrinfo(std::string host, uint16_t port, GetAddrInfoOptions options) {
    return getaddrinfo(std::move(host), std::to_string(port), options);
}

Task<std::pair<std::string, std::string>> getnameinfo(SockAddr addr, int flags) {
    auto lookup = [addr, flags] {
        char host[NI_MAXHOST];
        char serv[NI_MAXSERV];
        int rc = ::getnameinfo(addr.data(), addr.size(), host, sizeof host, serv, sizeof serv, flags);
        if (rc != 0) throw GaiError(rc, "getnameinfo(" + addr.to_string() + "): " + ::gai_strerror(rc));
        return std::pair<std::string, std::string>(host, serv);
    };
    co_return co_await run_in_executor(nullptr, std::move(lookup));
}

}  // namespace aio
