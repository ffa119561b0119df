// Socket transports, servers and create_connection / create_server (include/aio/net/transport.hpp).
//
// The transport follows asyncio's _SelectorSocketTransport: level-triggered readiness, the
// reader registered for as long as the transport reads (no epoll_ctl per read), a write that
// first tries send() directly and registers a writer only when the kernel buffer is full.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>

#include "aio/core/errors.hpp"
#include "aio/core/timeout.hpp"
#include "aio/net/sendfile.hpp"
#include "fd_wait.hpp"
#include "socket_transport.hpp"
#include "tls_internal.hpp"

namespace aio {

using detail::CloseHook;
using detail::LoopAccess;
using detail::ServerState;
using detail::SocketTransport;
using detail::HandshakeDone;
using detail::make_tls_transport;
using detail::throw_errno;

void Transport::writelines(std::initializer_list<std::string_view> parts) {
    for (auto p : parts) write(p);
}

std::any Transport::get_extra_info(std::string_view name, std::any default_value) const {
    if (name == "peername") return peername();
    if (name == "sockname") return sockname();
    if (name == "socket") return fileno();
    if (name == "ssl_object")
        if (auto info = tls_info(*this)) return *info;
    return default_value;
}

namespace detail {

namespace {
// One receive buffer per thread: a transport reads into it and hands a view to data_received,
// so an idle connection holds no read buffer at all.
constexpr size_t kRecvSize = 256 * 1024;
thread_local std::unique_ptr<char[]> tls_recv_buf;

char* recv_buffer() {
    if (!tls_recv_buf) tls_recv_buf = std::make_unique<char[]>(kRecvSize);
    return tls_recv_buf.get();
}

bool is_connection_error(int err) {
    return err == ECONNRESET || err == EPIPE || err == ECONNABORTED || err == ETIMEDOUT || err == ENOTCONN ||
           err == EHOSTUNREACH || err == ENETUNREACH;
}
}  // namespace

SocketTransport::SocketTransport(EventLoop& loop, Socket sock, std::shared_ptr<Protocol> protocol,
                                 std::shared_ptr<ServerState> server)
    : loop_(&loop), fd_(sock.detach()), protocol_(std::move(protocol)), server_(std::move(server)) {
    ring_ = loop.completion_io();
    recv_op_.owner = this;
    send_op_.owner = this;
    SockAddr local;
    socklen_t len = SockAddr::capacity();
    if (::getsockname(fd_, local.data(), &len) == 0 && (local.family() == AF_INET || local.family() == AF_INET6)) {
        int one = 1;  // asyncio sets TCP_NODELAY on every TCP transport
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (server_) server_->conns.insert(this);
}

void SocketTransport::on_loop_close(CloseHook* h) noexcept {
    SocketTransport* t = static_cast<Hook*>(h)->owner;
    // The loop cancelled our operations and waited for them; one it could not wait for may still
    // name our memory, so we stay (leaked, and the loop said so) rather than free it.
    if (t->recv_op_.in_flight() || t->send_op_.in_flight()) return;
    // The loop releases our fd callbacks itself; the socket is closed by the destructor.
    t->reading_ = t->writing_ = false;
    t->closing_ = t->conn_lost_ = true;
    std::shared_ptr<SocketTransport> last = std::move(t->self_);  // may free `t` at the end of scope
}

SocketTransport::~SocketTransport() {
    if (hook_.linked) LoopAccess::remove_close_hook(*loop_, hook_);
    // Only reached once the loop holds no callback of ours: either connection_lost ran, or the
    // loop was closed, or the user dropped a paused transport. In the last two cases the socket
    // is closed here without telling the protocol (Python: "unclosed transport").
    if (fd_ >= 0) ::close(fd_);
    if (server_) server_->detach(this);
}

void SocketTransport::start() {
    hook_.owner = this;
    hook_.on_close = &on_loop_close;
    LoopAccess::add_close_hook(*loop_, hook_);  // throws on a closed loop: before self_ exists
    self_ = self();
    try {
        protocol_->connection_made(*this);
    } catch (...) {
        fatal_error(std::current_exception(), "protocol.connection_made() call failed");
        return;
    }
    if (!closing_ && !paused_) watch_read();
}

void SocketTransport::watch_read() {
    if (reading_) return;
    if (ring_) {
        reading_ = true;
        if (!held_.empty() || held_eof_) {
            // What came while we were not reading goes first, from the loop (not from inside
            // resume_reading, which a protocol may call from its own data_received).
            if (!held_scheduled_) {
                held_scheduled_ = true;
                loop_->call_soon([self = self()] { self->deliver_held(); });
            }
        } else {
            arm_recv();
        }
        return;
    }
    loop_->add_reader(fd_, [this] { on_readable(); });
    reading_ = true;
}

void SocketTransport::unwatch_read() noexcept {
    if (!reading_) return;
    reading_ = false;
    if (ring_) {
        // Whatever the receive still delivers before the cancellation lands is held.
        try {
            loop_->io_cancel(recv_op_);
        } catch (...) {
        }
        return;
    }
    try {
        loop_->remove_reader(fd_);
    } catch (...) {
    }
}

void SocketTransport::arm_recv() {
    // A receive still in flight (its cancellation not yet landed) is re-armed by on_recv.
    if (recv_op_.in_flight()) return;
    loop_->io_recv_multishot(fd_, recv_op_);
}

void SocketTransport::on_recv(int res, std::string_view data, bool more) noexcept {
    if (lost_done_) {
        if (!more) release_socket();
        return;
    }
    if (conn_lost_) return;  // closing: what arrives now is dropped, as the readiness path does
    if (res > 0) {
        if (!reading_ || !held_.empty() || held_scheduled_) {
            held_.append(data);
        } else {
            try {
                protocol_->data_received(data);
            } catch (...) {
                fatal_error(std::current_exception(), "protocol.data_received() call failed");
                return;
            }
        }
    } else if (res == 0) {
        if (reading_ && held_.empty() && !held_scheduled_) read_eof();
        else held_eof_ = true;
        return;
    } else if (res != -ECANCELED && res != -ENOBUFS) {
        fatal_errno(-res, "recv");
        return;
    }
    // Ended without EOF: cancelled (re-armed if reading resumed meanwhile), or the buffer pool
    // ran dry (the buffers of this batch are back before the new receive is submitted).
    if (!more && reading_ && !conn_lost_ && !held_scheduled_) {
        try {
            arm_recv();
        } catch (...) {
            fatal_error(std::current_exception(), "io_uring receive failed");
        }
    }
}

void SocketTransport::deliver_held() noexcept {
    held_scheduled_ = false;
    if (conn_lost_ || !reading_) return;
    if (!held_.empty()) {
        std::string data = std::move(held_);
        held_.clear();
        try {
            protocol_->data_received(data);
        } catch (...) {
            fatal_error(std::current_exception(), "protocol.data_received() call failed");
            return;
        }
        if (conn_lost_ || !reading_) return;  // paused again by data_received
    }
    if (held_eof_) {
        held_eof_ = false;
        read_eof();
        return;
    }
    try {
        arm_recv();
    } catch (...) {
        fatal_error(std::current_exception(), "io_uring receive failed");
    }
}

void SocketTransport::start_send(std::string_view data) {
    loop_->io_send(fd_, data, send_op_);
}

void SocketTransport::on_sent(int res) noexcept {
    if (lost_done_ || conn_lost_ || res < 0) {  // the rest of the output is dropped
        inflight_.clear();
        ioff_ = 0;
        if (lost_done_) {
            release_socket();
        } else if (!conn_lost_) {
            wbuf_.clear();
            woff_ = 0;
            fatal_errno(res == -ECANCELED ? ECONNABORTED : -res, "send");
        }
        return;
    }
    ioff_ += static_cast<size_t>(res);
    if (sf_) {  // a sendfile waits for us: see sendfile_native
        sf_->before -= std::min(sf_->before, static_cast<size_t>(res));
        if (ioff_ < inflight_.size()) wbuf_.insert(0, inflight_, ioff_);
        inflight_.clear();
        ioff_ = 0;
        try {
            watch_write();
        } catch (...) {
            fatal_error(std::current_exception(), "sendfile: watching the socket failed");
        }
        return;
    }
    try {
        if (ioff_ < inflight_.size()) {
            start_send(std::string_view(inflight_).substr(ioff_));
        } else {
            inflight_.clear();
            ioff_ = 0;
            if (!wbuf_.empty()) {
                inflight_.swap(wbuf_);
                woff_ = 0;
                start_send(inflight_);
            }
        }
    } catch (...) {
        fatal_error(std::current_exception(), "io_uring send failed");
        return;
    }
    maybe_resume_protocol();
    notify_buffer_waiter();
    if (!output_idle() || conn_lost_) return;
    output_drained();
}

void SocketTransport::output_drained() {
    if (closing_) {
        conn_lost_ = true;
        call_connection_lost(nullptr);
    } else if (eof_requested_ && !eof_sent_) {
        eof_sent_ = true;
        ::shutdown(fd_, SHUT_WR);
    }
}

void SocketTransport::watch_write() {
    if (writing_) return;
    loop_->add_writer(fd_, [this] { on_writable(); });
    writing_ = true;
}

void SocketTransport::unwatch_write() noexcept {
    if (!writing_) return;
    writing_ = false;
    try {
        loop_->remove_writer(fd_);
    } catch (...) {
    }
}

void SocketTransport::on_readable() {
    if (conn_lost_ || !reading_) return;
    char* buf = recv_buffer();
    ssize_t n = ::recv(fd_, buf, kRecvSize, 0);
    if (n > 0) {
        try {
            protocol_->data_received(std::string_view(buf, static_cast<size_t>(n)));
        } catch (...) {
            fatal_error(std::current_exception(), "protocol.data_received() call failed");
        }
        return;
    }
    if (n == 0) {
        read_eof();
        return;
    }
    if (errno == EAGAIN || errno == EINTR) return;
    fatal_errno(errno, "recv");
}

void SocketTransport::read_eof() {
    read_eof_ = true;
    unwatch_read();
    bool keep_open = false;
    try {
        keep_open = protocol_->eof_received();
    } catch (...) {
        fatal_error(std::current_exception(), "protocol.eof_received() call failed");
        return;
    }
    if (!keep_open) close();
}

void SocketTransport::write(std::string_view data) {
    if (eof_requested_) throw RuntimeError("Cannot call write() after write_eof()");
    if (data.empty() || conn_lost_) return;
    if (ring_ && !writing_) {  // writing_: a sendfile's readiness path owns the output
        if (!send_op_.in_flight() && !sf_ && wbuf_.empty()) {
            inflight_.append(data);  // empty while no send is in flight; append is the cheap copy
            ioff_ = 0;
            start_send(inflight_);
        } else {
            wbuf_.append(data);
        }
        maybe_pause_protocol();
        return;
    }
    if (output_idle()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                fatal_errno(errno, "send");
                return;
            }
            n = 0;
        }
        if (static_cast<size_t>(n) == data.size()) return;
        data.remove_prefix(static_cast<size_t>(n));
        watch_write();
    }
    wbuf_.append(data);
    maybe_pause_protocol();
}

ssize_t SocketTransport::send_buffered(size_t n) {
    const ssize_t sent = ::send(fd_, wbuf_.data() + woff_, n, MSG_NOSIGNAL);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) return -1;
        const int err = errno;
        unwatch_write();
        wbuf_.clear();
        woff_ = 0;
        fatal_errno(err, "send");
        return -1;
    }
    woff_ += static_cast<size_t>(sent);
    return sent;
}

void SocketTransport::on_writable() {
    if (conn_lost_) return;
    if (sf_ && sf_->before > 0) {
        const ssize_t n = send_buffered(sf_->before);
        if (n < 0) return;
        sf_->before -= static_cast<size_t>(n);
        maybe_resume_protocol();
        notify_buffer_waiter();
        if (sf_->before > 0) return;
    }
    if (sf_) {
        const Step step = sendfile_step();
        if (step == Step::again) return;
        finish_sendfile(step);
        if (conn_lost_) return;
    }
    size_t pending = wbuf_.size() - woff_;
    if (pending > 0) {
        if (send_buffered(pending) < 0) return;
        if (woff_ < wbuf_.size()) {
            // Keep the buffer from growing without bound at its front.
            if (woff_ >= 64 * 1024 && woff_ * 2 >= wbuf_.size()) {
                wbuf_.erase(0, woff_);
                woff_ = 0;
            }
            maybe_resume_protocol();
            notify_buffer_waiter();
            return;
        }
    }
    wbuf_.clear();
    woff_ = 0;
    unwatch_write();
    maybe_resume_protocol();
    notify_buffer_waiter();
    output_drained();
}

void SocketTransport::write_eof() {
    if (closing_ || eof_requested_) return;
    eof_requested_ = true;
    if (output_idle()) {
        eof_sent_ = true;
        ::shutdown(fd_, SHUT_WR);
    }
}

void SocketTransport::close() {
    if (closing_) return;
    closing_ = true;
    unwatch_read();
    if (output_idle()) {
        conn_lost_ = true;
        loop_->call_soon([self = self()] { self->call_connection_lost(nullptr); });
    }
}

void SocketTransport::abort() { force_close(nullptr); }

void SocketTransport::force_close(std::exception_ptr exc) {
    if (conn_lost_) return;
    fail_waiters(exc);
    if (!wbuf_.empty()) {
        wbuf_.clear();
        woff_ = 0;
    }
    // inflight_ stays until its send completes (the kernel may be reading it), but it is no
    // longer ours to send: the buffer is empty.
    ioff_ = inflight_.size();
    if (send_op_.in_flight()) loop_->io_cancel(send_op_);
    unwatch_write();
    closing_ = true;
    unwatch_read();
    conn_lost_ = true;
    loop_->call_soon([self = self(), exc] { self->call_connection_lost(exc); });
}

void SocketTransport::fatal_errno(int err, const char* op) {
    std::exception_ptr exc;
    try {
        throw_errno(err, op);
    } catch (...) {
        exc = std::current_exception();
    }
    if (is_connection_error(err)) force_close(exc);  // an everyday event: no log (asyncio likewise)
    else fatal_error(exc, "Fatal error on transport");
}

void SocketTransport::fatal_error(std::exception_ptr exc, const char* message) {
    loop_->call_exception_handler({std::string(message) + " (fd " + std::to_string(fd_) + ")", exc, {}});
    force_close(std::move(exc));
}

void SocketTransport::call_connection_lost(std::exception_ptr exc) noexcept {
    if (fd_ < 0 || lost_done_) return;
    lost_done_ = true;
    fail_waiters(exc);
    std::shared_ptr<Protocol> p = std::move(protocol_);  // drop it afterwards: breaks cycles
    try {
        if (p) p->connection_lost(std::move(exc));
    } catch (...) {
        loop_->call_exception_handler({"protocol.connection_lost() call failed", std::current_exception(), {}});
    }
    unwatch_read();
    unwatch_write();
    release_socket();
}

void SocketTransport::release_socket() noexcept {
    if (fd_ < 0) return;
    if (recv_op_.in_flight() || send_op_.in_flight()) {
        // Their completions come back to on_recv/on_sent, which call us again.
        try {
            loop_->io_cancel(recv_op_);
            loop_->io_cancel(send_op_);
        } catch (...) {
        }
        return;
    }
    ::close(fd_);
    fd_ = -1;
    if (auto s = std::move(server_)) s->detach(this);
    LoopAccess::remove_close_hook(*loop_, hook_);
    std::shared_ptr<SocketTransport> last = std::move(self_);  // may free `this` at the end of scope
}

void SocketTransport::pause_reading() {
    if (closing_ || paused_) return;
    paused_ = true;
    unwatch_read();
}

void SocketTransport::resume_reading() {
    if (closing_ || !paused_) return;
    paused_ = false;
    if (!read_eof_) watch_read();
}

void SocketTransport::set_write_buffer_limits(std::optional<size_t> high, std::optional<size_t> low) {
    size_t h = high ? *high : (low ? 4 * *low : 64 * 1024);
    size_t l = low ? *low : h / 4;
    if (h < l) throw std::invalid_argument("high (" + std::to_string(h) + ") must be >= low (" + std::to_string(l) + ")");
    high_ = h;
    low_ = l;
    maybe_pause_protocol();
}

void SocketTransport::maybe_pause_protocol() {
    if (protocol_paused_ || get_write_buffer_size() <= high_) return;
    protocol_paused_ = true;
    try {
        protocol_->pause_writing();
    } catch (...) {
        loop_->call_exception_handler({"protocol.pause_writing() failed", std::current_exception(), {}});
    }
}

void SocketTransport::maybe_resume_protocol() {
    if (!protocol_paused_ || get_write_buffer_size() > low_) return;
    protocol_paused_ = false;
    try {
        if (protocol_) protocol_->resume_writing();
    } catch (...) {
        loop_->call_exception_handler({"protocol.resume_writing() failed", std::current_exception(), {}});
    }
}

SockAddr SocketTransport::peername() const {
    SockAddr a;
    socklen_t len = SockAddr::capacity();
    if (fd_ >= 0 && ::getpeername(fd_, a.data(), &len) == 0) a.set_size(len);
    return a;
}

SockAddr SocketTransport::sockname() const {
    SockAddr a;
    socklen_t len = SockAddr::capacity();
    if (fd_ >= 0 && ::getsockname(fd_, a.data(), &len) == 0) a.set_size(len);
    return a;
}

void SocketTransport::set_protocol(std::shared_ptr<Protocol> protocol) {
    if (!protocol) throw std::invalid_argument("set_protocol: null protocol");
    protocol_ = std::move(protocol);
}

// --- servers ------------------------------------------------------------------------------------

void ServerState::start_serving() {
    if (serving || closed) return;
    serving = true;
    for (size_t i = 0; i < socks.size(); ++i) {
        if (watching[i]) continue;
        loop->add_reader(socks[i].fileno(), [this, i] { on_accept(i); });
        watching[i] = true;
    }
}

void ServerState::stop_watching() {
    for (size_t i = 0; i < socks.size(); ++i) {
        if (!watching[i]) continue;
        watching[i] = false;
        try {
            loop->remove_reader(socks[i].fileno());
        } catch (...) {
        }
    }
}

ServerState::~ServerState() {
    if (hook.linked) LoopAccess::remove_close_hook(*loop, hook);
}

void ServerState::close() {
    if (closed) return;
    closed = true;
    serving = false;
    stop_watching();
    LoopAccess::remove_close_hook(*loop, hook);
    socks.clear();  // closes the listening sockets
    if (!unix_path.empty()) {
        struct stat st{};
        if (::stat(unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == unix_ino)
            ::unlink(unix_path.c_str());
    }
    wake_if_done();
}

void ServerState::on_accept(size_t index) {
    const int lfd = socks[index].fileno();
    for (int i = 0; i < options.backlog && serving; ++i) {
        SockAddr peer;
        socklen_t len = SockAddr::capacity();
        int fd = ::accept4(lfd, peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err == EAGAIN || err == EINTR || err == ECONNABORTED || err == EPROTO) {
                if (err == EAGAIN) return;
                continue;
            }
            std::exception_ptr exc;
            try {
                throw_errno(err, "accept");
            } catch (...) {
                exc = std::current_exception();
            }
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                // Out of fds: stop watching this socket for a while rather than spin on a
                // readiness we cannot consume; the pending connections wait in the backlog.
                loop->call_exception_handler(
                    {"socket.accept() out of system resource; retrying in " +
                         std::to_string(std::chrono::duration<double>(options.accept_retry_delay).count()) + " s",
                     exc, {}});
                if (watching[index]) {
                    watching[index] = false;
                    loop->remove_reader(lfd);
                }
                (void)loop->call_later(options.accept_retry_delay, [weak = self, index] {
                    auto s = weak.lock();
                    if (!s || !s->serving || s->watching[index]) return;
                    s->loop->add_reader(s->socks[index].fileno(), [p = s.get(), index] { p->on_accept(index); });
                    s->watching[index] = true;
                });
            } else {
                loop->call_exception_handler({"accept() failed", exc, {}});
            }
            return;
        }
        Socket sock = Socket::adopt(fd);
        std::shared_ptr<Protocol> proto;
        try {
            proto = factory();
            if (!proto) throw std::invalid_argument("protocol factory returned null");
        } catch (...) {
            loop->call_exception_handler({"protocol factory failed; connection dropped", std::current_exception(), {}});
            continue;
        }
        if (options.ssl) {
            EventLoop* l = loop;
            HandshakeDone report = [l](std::exception_ptr e) {
                if (e) l->call_exception_handler({"SSL handshake failed; connection dropped", e, {}});
            };
            make_tls_transport(*loop, std::move(sock), std::move(proto), options.ssl, true, {}, self.lock(),
                               std::move(report));
            continue;
        }
        auto t = std::make_shared<SocketTransport>(*loop, std::move(sock), std::move(proto), self.lock());
        t->start();
    }
}

void ServerState::detach(SocketTransport* t) noexcept {
    conns.erase(t);
    wake_if_done();
}

// --- sendfile (the kernel path; aio::sendfile is in sendfile.cpp) ------------------------------

namespace {
// Per sendfile(2) call, and per loop iteration: a large file on a fast socket must not keep the
// loop from its other connections.
constexpr size_t kSendfileChunk = 1 << 20;
constexpr size_t kSendfileBudget = 8 * kSendfileChunk;

std::exception_ptr transfer_aborted() {
    return std::make_exception_ptr(
        std::system_error(ECONNABORTED, std::generic_category(), "sendfile: the transport was closed"));
}
}  // namespace

Task<size_t> SocketTransport::sendfile_native(int file, uint64_t offset, size_t count) {
    std::shared_ptr<SocketTransport> keep = self();
    if (closing_ || conn_lost_) throw RuntimeError("sendfile: the transport is closing");
    if (count == 0) co_return 0;
    sf_.emplace();
    sf_->before = get_write_buffer_size();  // asyncio sends what is buffered first; so do we
    sf_->file = file;
    sf_->offset = static_cast<off_t>(offset);
    sf_->remaining = count;
    // On the ring, a send in flight finishes first; on_sent then hands the output to readiness
    // (on_writable), which sends the rest of what was buffered, the file, and what follows (the
    // kernel has no sendfile operation).
    const bool send_in_flight = ring_ && send_op_.in_flight();
    if (sf_->before == 0 && !send_in_flight) {
        const Step first = sendfile_step();
        if (first != Step::again) {
            SendfileOp op = std::move(*sf_);
            sf_.reset();
            if (first == Step::done) co_return op.sent;
            if (op.sent == 0 && (op.err == EINVAL || op.err == ENOSYS || op.err == EOPNOTSUPP))
                throw SendfileNotAvailableError("sendfile(2) does not support this file: " +
                                                std::string(std::strerror(op.err)));
            if (is_connection_error(op.err)) fatal_errno(op.err, "sendfile");
            throw_errno(op.err, "sendfile");
        }
    }
    Future<size_t> done(*loop_);
    sf_->done = done;
    if (!send_in_flight) watch_write();
    try {
        co_return co_await done;
    } catch (const CancelledError&) {
        abandon_sendfile();
        throw;
    }
}

SocketTransport::Step SocketTransport::sendfile_step() {
    size_t budget = kSendfileBudget;
    while (sf_->remaining > 0) {
        if (budget == 0) return Step::again;  // writable at once: on_writable goes on next iteration
        off_t off = sf_->offset;
        const size_t want = std::min({sf_->remaining, kSendfileChunk, budget});
        const ssize_t n = ::sendfile(fd_, sf_->file, &off, want);
        if (n > 0) {
            const auto got = static_cast<size_t>(n);
            sf_->offset = off;
            sf_->remaining -= got;
            sf_->sent += got;
            budget -= std::min(budget, got);
            continue;
        }
        if (n == 0) break;  // the file is shorter than asked: what it had is sent
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return Step::again;
        sf_->err = errno;
        return Step::failed;
    }
    return Step::done;
}

void SocketTransport::finish_sendfile(Step step) {
    SendfileOp op = std::move(*sf_);
    sf_.reset();
    if (step == Step::done) {
        if (op.done && !op.done.done()) op.done.set_result(op.sent);
        return;
    }
    std::exception_ptr exc;
    try {
        throw_errno(op.err, "sendfile");
    } catch (...) {
        exc = std::current_exception();
    }
    if (op.done && !op.done.done()) op.done.set_exception(exc);
    if (is_connection_error(op.err)) fatal_errno(op.err, "sendfile");
}

void SocketTransport::abandon_sendfile() noexcept {
    sf_.reset();
    if (conn_lost_ || get_write_buffer_size() > 0) return;  // on_writable flushes what follows
    unwatch_write();
    if (closing_) {
        conn_lost_ = true;
        loop_->call_soon([self = self()] { self->call_connection_lost(nullptr); });
    } else if (eof_requested_ && !eof_sent_) {
        eof_sent_ = true;
        ::shutdown(fd_, SHUT_WR);
    }
}

Future<void> SocketTransport::wait_write_buffer_at_most(size_t limit) {
    Future<void> f(*loop_);
    if (conn_lost_) {
        f.set_exception(transfer_aborted());
        return f;
    }
    if (get_write_buffer_size() <= limit) {
        f.set_result();
        return f;
    }
    if (buffer_waiter_ && !buffer_waiter_.done()) buffer_waiter_.cancel();
    buffer_waiter_ = f;
    buffer_waiter_limit_ = limit;
    return f;
}

void SocketTransport::notify_buffer_waiter() noexcept {
    if (!buffer_waiter_ || get_write_buffer_size() > buffer_waiter_limit_) return;
    Future<void> f = std::move(buffer_waiter_);
    buffer_waiter_ = Future<void>();
    if (!f.done()) f.set_result();
}

void SocketTransport::fail_waiters(std::exception_ptr exc) noexcept {
    if (!exc) exc = transfer_aborted();
    if (sf_) {
        Future<size_t> f = sf_->done;
        sf_.reset();
        if (f && !f.done()) f.set_exception(exc);
    }
    if (buffer_waiter_) {
        Future<void> f = std::move(buffer_waiter_);
        buffer_waiter_ = Future<void>();
        if (!f.done()) f.set_exception(exc);
    }
}


void ServerState::wake_if_done() noexcept {
    if (!closed || !conns.empty() || close_waiters.empty()) return;
    auto waiters = std::move(close_waiters);
    close_waiters.clear();
    for (auto& f : waiters)
        if (!f.done()) f.set_result();
}

}  // namespace detail

// --- aio::Server ------------------------------------------------------------------------------

Server& Server::operator=(Server&& o) noexcept {
    if (this != &o) {
        if (s_) s_->close();
        s_ = std::move(o.s_);
    }
    return *this;
}

Server::~Server() {
    if (s_) s_->close();
}

namespace {
ServerState& state_of(const std::shared_ptr<ServerState>& s) {
    if (!s) throw RuntimeError("this Server is empty (moved from or default-constructed)");
    return *s;
}
}  // namespace

void Server::close() { state_of(s_).close(); }

void Server::close_clients() {
    auto& s = state_of(s_);
    std::vector<std::shared_ptr<Transport>> all;
    for (SocketTransport* t : s.conns) all.push_back(t->shared_from_this());
    for (auto& t : all) t->close();
}

void Server::abort_clients() {
    auto& s = state_of(s_);
    std::vector<std::shared_ptr<Transport>> all;
    for (SocketTransport* t : s.conns) all.push_back(t->shared_from_this());
    for (auto& t : all) t->abort();
}

namespace {
// Coroutines take the state by value: a lazy task must not refer to the Server handle, which
// may be gone by the time the task runs.
Task<void> server_wait_closed(std::shared_ptr<ServerState> s) {
    if (s->closed && s->conns.empty()) co_return;
    Future<void> f(*s->loop);
    s->close_waiters.push_back(f);
    co_await f;
}

Task<void> server_serve_forever(std::shared_ptr<ServerState> s) {
    if (s->closed) throw RuntimeError("server is closed");
    s->start_serving();
    Future<void> never(*s->loop);
    bool cancelled = false;
    try {
        co_await never;
    } catch (const CancelledError&) {
        cancelled = true;
    }
    // Python closes the server when serve_forever is cancelled; connections already accepted
    // are left to finish (await wait_closed() for them).
    s->close();
    if (cancelled) throw CancelledError();
}
}  // namespace

Task<void> Server::wait_closed() {
    state_of(s_);
    return server_wait_closed(s_);
}

Task<void> Server::serve_forever() {
    state_of(s_);
    return server_serve_forever(s_);
}

void Server::start_serving() { state_of(s_).start_serving(); }
bool Server::is_serving() const noexcept { return s_ && s_->serving; }
std::vector<SockAddr> Server::sockets() const { return s_ ? s_->addrs : std::vector<SockAddr>{}; }
uint16_t Server::port() const {
    auto& s = state_of(s_);
    if (s.addrs.empty()) throw RuntimeError("server has no listening socket");
    return s.addrs.front().port();
}
size_t Server::active_connections() const noexcept { return s_ ? s_->conns.size() : 0; }
EventLoop& Server::get_loop() const { return *state_of(s_).loop; }

// --- create_connection / create_server ------------------------------------------------------

namespace {

std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>> make_transport(EventLoop& loop,
                                                                                const ProtocolFactory& factory,
                                                                                Socket sock) {
    std::shared_ptr<Protocol> proto = factory();
    if (!proto) throw std::invalid_argument("protocol factory returned null");
    auto t = std::make_shared<SocketTransport>(loop, std::move(sock), proto, nullptr);
    t->start();
    return {std::move(t), std::move(proto)};
}

// The client side of create_connection(ssl=...): wraps the connected socket, waits for the
// handshake (bounded by ssl_handshake_timeout); on failure the TLS layer has aborted the socket.
Task<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> tls_handshake(const ProtocolFactory& factory,
                                                                                      Socket sock,
                                                                                      const ConnectOptions& options,
                                                                                      const std::string& host) {
    EventLoop& loop = get_running_loop();
    std::shared_ptr<Protocol> proto = factory();
    if (!proto) throw std::invalid_argument("protocol factory returned null");
    Future<void> handshake(loop);
    HandshakeDone done = [handshake](std::exception_ptr e) mutable {
        if (handshake.done()) return;
        if (e) handshake.set_exception(e);
        else handshake.set_result();
    };
    const std::string& name = options.server_hostname.empty() ? host : options.server_hostname;
    auto t = make_tls_transport(loop, std::move(sock), proto, options.ssl, false, name, nullptr, std::move(done));
    bool timed_out = false;
    try {
        co_await wait_for(handshake, options.ssl_handshake_timeout);
    } catch (const TimeoutError&) {
        timed_out = true;
    }
    if (timed_out) {
        t->abort();
        throw TimeoutError("TLS handshake with " + host + " timed out");
    }
    co_return std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>(std::move(t), std::move(proto));
}

}  // namespace

std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>> create_connection(ProtocolFactory factory,
                                                                                    Socket sock) {
    if (!sock) throw std::invalid_argument("create_connection: the socket is closed");
    return make_transport(get_running_loop(), factory, std::move(sock));
}

Task<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> create_connection(ProtocolFactory factory,
                                                                                          std::string host,
                                                                                          uint16_t port,
                                                                                          ConnectOptions options) {
    auto infos = co_await getaddrinfo(host, port, {options.family, SOCK_STREAM, 0, 0});
    if (infos.empty()) throw GaiError(EAI_NONAME, "getaddrinfo('" + host + "') returned no address");
    std::exception_ptr last;
    int last_err = 0;
    std::string errors;
    for (const AddrInfo& ai : infos) {
        Socket sock;
        try {
            sock = Socket(ai.family, SOCK_STREAM, ai.protocol);
            if (options.local_addr) sock.bind(*options.local_addr);
            co_await sock_connect(sock.fileno(), ai.addr);
        } catch (const std::system_error& e) {
            last = std::current_exception();
            last_err = e.code().value();
            if (!errors.empty()) errors += "; ";
            errors += e.what();
            continue;
        }
        if (options.ssl) co_return co_await tls_handshake(factory, std::move(sock), options, host);
        co_return make_transport(get_running_loop(), factory, std::move(sock));
    }
    if (infos.size() == 1) std::rethrow_exception(last);
    throw std::system_error(last_err, std::generic_category(), "Multiple exceptions: " + errors);
}

Task<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> create_unix_connection(ProtocolFactory factory,
                                                                                               std::string path) {
    SockAddr addr = SockAddr::unix_path(path);
    Socket sock(AF_UNIX, SOCK_STREAM);
    co_await sock_connect(sock.fileno(), addr);
    co_return make_transport(get_running_loop(), factory, std::move(sock));
}

namespace {
std::shared_ptr<ServerState> new_server_state(ProtocolFactory factory, const ServerOptions& options) {
    if (!factory) throw std::invalid_argument("create_server: empty protocol factory");
    auto s = std::make_shared<ServerState>();
    s->self = s;
    s->loop = &get_running_loop();
    s->hook.owner = s.get();
    s->hook.on_close = [](CloseHook* h) noexcept {
        ServerState* st = static_cast<ServerState::Hook*>(h)->owner;
        for (size_t i = 0; i < st->watching.size(); ++i) st->watching[i] = false;  // the loop drops them
        st->close();
    };
    LoopAccess::add_close_hook(*s->loop, s->hook);
    s->factory = std::move(factory);
    s->options = options;
    return s;
}

void add_listener(ServerState& s, Socket sock) {
    sock.listen(s.options.backlog);
    s.addrs.push_back(sock.getsockname());
    s.socks.push_back(std::move(sock));
    s.watching.push_back(false);
}
}  // namespace

Task<Server> create_server(ProtocolFactory factory, std::string host, uint16_t port, ServerOptions options) {
    auto s = new_server_state(std::move(factory), options);
    auto infos = co_await getaddrinfo(host, port, {options.family, SOCK_STREAM, 0, AI_PASSIVE});
    for (const AddrInfo& ai : infos) {
        bool dup = false;
        for (const SockAddr& a : s->addrs) dup = dup || a == ai.addr;
        if (dup) continue;
        Socket sock(ai.family, SOCK_STREAM, ai.protocol);
        if (options.reuse_address) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        if (options.reuse_port) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
        // Listening on both families separately needs IPv6 sockets that leave IPv4 alone.
        if (ai.family == AF_INET6) sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
        sock.bind(ai.addr);
        add_listener(*s, std::move(sock));
    }
    if (s->socks.empty()) throw GaiError(EAI_NONAME, "create_server: no address to listen on for '" + host + "'");
    if (options.start_serving) s->start_serving();
    co_return Server(std::move(s));
}

Task<Server> create_unix_server(ProtocolFactory factory, std::string path, ServerOptions options) {
    auto s = new_server_state(std::move(factory), options);
    SockAddr addr = SockAddr::unix_path(path);
    if (path[0] != '\0') {
        struct stat st{};
        // A socket file left by an earlier run would make bind fail; anything else is kept.
        if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    }
    Socket sock(AF_UNIX, SOCK_STREAM);
    sock.bind(addr);
    if (path[0] != '\0') {
        struct stat st{};
        if (::stat(path.c_str(), &st) == 0) {
            s->unix_path = path;
            s->unix_ino = st.st_ino;
        }
    }
    add_listener(*s, std::move(sock));
    if (options.start_serving) s->start_serving();
    co_return Server(std::move(s));
}

}  // namespace aio
