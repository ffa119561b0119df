// UDP endpoints (include/aio/net/datagram.hpp), after asyncio's _SelectorDatagramTransport:
// the reader registered while open, datagrams sent at once and queued only when the kernel
// says EAGAIN.
#include "aio/net/datagram.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <deque>

#include "aio/net/socket.hpp"
#include "fd_wait.hpp"

namespace aio {
namespace detail {
namespace {

// Big enough for any UDP datagram (65,507 bytes of IPv4 payload), one per thread.
constexpr size_t kMaxDatagram = 65536;
thread_local std::unique_ptr<char[]> tls_dgram_buf;

std::exception_ptr errno_exception(int err, const char* op) {
    try {
        throw_errno(err, op);
    } catch (...) {
        return std::current_exception();
    }
}

class UdpTransport final : public DatagramTransport {
public:
    UdpTransport(EventLoop& loop, Socket sock, std::shared_ptr<DatagramProtocol> protocol, bool connected)
        : loop_(&loop), fd_(sock.detach()), protocol_(std::move(protocol)), connected_(connected) {
        if (connected_) {
            socklen_t len = SockAddr::capacity();
            if (::getpeername(fd_, peer_.data(), &len) == 0) peer_.set_size(len);
        }
    }
    ~UdpTransport() override {
        if (hook_.linked) LoopAccess::remove_close_hook(*loop_, hook_);
        if (fd_ >= 0) ::close(fd_);
    }

    void start() {
        // Open, it keeps itself alive (the protocol may hold it by raw pointer) until
        // connection_lost, or until the loop closes.
        hook_.owner = this;
        hook_.on_close = [](CloseHook* h) noexcept {
            UdpTransport* t = static_cast<Hook*>(h)->owner;
            t->reading_ = t->writing_ = false;  // the loop drops the fd callbacks itself
            t->closing_ = t->conn_lost_ = true;
            std::shared_ptr<UdpTransport> last = std::move(t->self_);
        };
        LoopAccess::add_close_hook(*loop_, hook_);  // throws on a closed loop: before self_ exists
        self_ = self();
        try {
            protocol_->connection_made(*this);
        } catch (...) {
            fatal(std::current_exception(), "protocol.connection_made() call failed");
            return;
        }
        if (!closing_) {
            loop_->add_reader(fd_, [this] { on_readable(); });
            reading_ = true;
        }
    }

    void sendto(std::string_view data, const std::optional<SockAddr>& addr) override {
        if (addr && connected_ && !(*addr == peer_))
            throw std::invalid_argument("Invalid address: must be None or " + peer_.to_string());
        if (!addr && !connected_) throw std::invalid_argument("sendto: an address is required (endpoint not connected)");
        if (closing_) return;
        if (queue_.empty()) {
            const ssize_t n = addr && !connected_ ? ::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL, addr->data(), addr->size())
                                                  : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n >= 0) return;
            if (errno != EAGAIN && errno != EINTR) {
                report(errno_exception(errno, "sendto"));
                return;
            }
        }
        queue_.push_back({std::string(data), addr && !connected_ ? *addr : SockAddr()});
        buffered_ += data.size();
        if (!writing_) {
            loop_->add_writer(fd_, [this] { on_writable(); });
            writing_ = true;
        }
    }

    void close() override {
        if (closing_) return;
        closing_ = true;
        stop_reading();
        if (queue_.empty()) schedule_lost(nullptr);
    }
    void abort() override { force_close(nullptr); }
    [[nodiscard]] bool is_closing() const noexcept override { return closing_; }
    [[nodiscard]] size_t get_write_buffer_size() const noexcept override { return buffered_; }
    [[nodiscard]] SockAddr sockname() const override {
        SockAddr a;
        socklen_t len = SockAddr::capacity();
        if (fd_ >= 0 && ::getsockname(fd_, a.data(), &len) == 0) a.set_size(len);
        return a;
    }
    [[nodiscard]] SockAddr peername() const override { return peer_; }
    [[nodiscard]] int fileno() const noexcept override { return fd_; }
    [[nodiscard]] const std::shared_ptr<DatagramProtocol>& get_protocol() const noexcept override { return protocol_; }
    [[nodiscard]] EventLoop& get_loop() const noexcept override { return *loop_; }

private:
    struct Pending {
        std::string data;
        SockAddr addr;  // empty when connected
    };

    std::shared_ptr<UdpTransport> self() { return std::static_pointer_cast<UdpTransport>(shared_from_this()); }

    void on_readable() {
        if (!reading_) return;
        if (!tls_dgram_buf) tls_dgram_buf = std::make_unique<char[]>(kMaxDatagram);
        SockAddr from;
        socklen_t len = SockAddr::capacity();
        const ssize_t n = ::recvfrom(fd_, tls_dgram_buf.get(), kMaxDatagram, 0, from.data(), &len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            report(errno_exception(errno, "recvfrom"));
            return;
        }
        from.set_size(len);
        try {
            protocol_->datagram_received(std::string_view(tls_dgram_buf.get(), static_cast<size_t>(n)), from);
        } catch (...) {
            fatal(std::current_exception(), "protocol.datagram_received() call failed");
        }
    }

    void on_writable() {
        while (!queue_.empty()) {
            Pending& p = queue_.front();
            const ssize_t n = p.addr.empty() ? ::send(fd_, p.data.data(), p.data.size(), MSG_NOSIGNAL)
                                             : ::sendto(fd_, p.data.data(), p.data.size(), MSG_NOSIGNAL, p.addr.data(),
                                                        p.addr.size());
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                const int err = errno;
                buffered_ -= p.data.size();
                queue_.pop_front();
                report(errno_exception(err, "sendto"));
                if (fd_ < 0 || conn_lost_) return;
                continue;
            }
            buffered_ -= p.data.size();
            queue_.pop_front();
        }
        stop_writing();
        if (closing_) schedule_lost(nullptr);
    }

    void report(std::exception_ptr e) {
        try {
            protocol_->error_received(std::move(e));
        } catch (...) {
            fatal(std::current_exception(), "protocol.error_received() call failed");
        }
    }

    void fatal(std::exception_ptr e, const char* what) {
        loop_->call_exception_handler({std::string(what) + " (datagram transport)", e, {}});
        force_close(std::move(e));
    }

    void force_close(std::exception_ptr e) {
        if (conn_lost_) return;
        queue_.clear();
        buffered_ = 0;
        stop_writing();
        closing_ = true;
        stop_reading();
        schedule_lost(std::move(e));
    }

    void schedule_lost(std::exception_ptr e) {
        if (conn_lost_) return;
        conn_lost_ = true;
        loop_->call_soon([self = self(), e] { self->call_connection_lost(e); });
    }

    void call_connection_lost(std::exception_ptr e) noexcept {
        std::shared_ptr<DatagramProtocol> p = std::move(protocol_);
        try {
            if (p) p->connection_lost(std::move(e));
        } catch (...) {
            loop_->call_exception_handler({"protocol.connection_lost() call failed", std::current_exception(), {}});
        }
        stop_reading();
        stop_writing();
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        LoopAccess::remove_close_hook(*loop_, hook_);
        std::shared_ptr<UdpTransport> last = std::move(self_);  // may free `this` at the end of scope
    }

    void stop_reading() noexcept {
        if (!reading_) return;
        reading_ = false;
        try {
            loop_->remove_reader(fd_);
        } catch (...) {
        }
    }
    void stop_writing() noexcept {
        if (!writing_) return;
        writing_ = false;
        try {
            loop_->remove_writer(fd_);
        } catch (...) {
        }
    }

    struct Hook : CloseHook {
        UdpTransport* owner = nullptr;
    };

    EventLoop* loop_;
    int fd_;
    std::shared_ptr<UdpTransport> self_;
    Hook hook_;
    std::shared_ptr<DatagramProtocol> protocol_;
    bool connected_;
    SockAddr peer_;
    std::deque<Pending> queue_;
    size_t buffered_ = 0;
    bool reading_ = false;
    bool writing_ = false;
    bool closing_ = false;
    bool conn_lost_ = false;
};

}  // namespace
}  // namespace detail

Task<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>> create_datagram_endpoint(
    DatagramProtocolFactory factory, DatagramOptions options) {
    if (!factory) throw std::invalid_argument("create_datagram_endpoint: empty protocol factory");
    std::optional<AddrInfo> local;
    std::optional<AddrInfo> remote;
    if (options.local_addr) {
        auto infos = co_await getaddrinfo(options.local_addr->first, options.local_addr->second,
                                          {options.family, SOCK_DGRAM, 0, AI_PASSIVE});
        if (infos.empty()) throw GaiError(EAI_NONAME, "create_datagram_endpoint: local_addr did not resolve");
        local = infos.front();
    }
    if (options.remote_addr) {
        int family = local ? local->family : options.family;
        auto infos = co_await getaddrinfo(options.remote_addr->first, options.remote_addr->second,
                                          {family, SOCK_DGRAM, 0, 0});
        if (infos.empty()) throw GaiError(EAI_NONAME, "create_datagram_endpoint: remote_addr did not resolve");
        remote = infos.front();
    }
    int family = local ? local->family : remote ? remote->family : (options.family == AF_UNSPEC ? AF_INET : options.family);
    Socket sock(family, SOCK_DGRAM);
    if (options.reuse_port) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    if (options.allow_broadcast) sock.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
    if (local) sock.bind(local->addr);
    if (remote && ::connect(sock.fileno(), remote->addr.data(), remote->addr.size()) < 0)
        detail::throw_errno(errno, "connect to " + remote->addr.to_string());
    if (!local && !remote) sock.bind(family == AF_INET6 ? SockAddr::ip("::", 0) : SockAddr::ip("0.0.0.0", 0));
    std::shared_ptr<DatagramProtocol> proto = factory();
    if (!proto) throw std::invalid_argument("protocol factory returned null");
    auto t = std::make_shared<detail::UdpTransport>(get_running_loop(), std::move(sock), proto, remote.has_value());
    t->start();
    co_return std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>(std::move(t),
                                                                                                 std::move(proto));
}

}  // namespace aio
