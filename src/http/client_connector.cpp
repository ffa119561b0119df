// The client's connections (aio::Protocol + llhttp) and their pool (aiohttp's TCPConnector).
#include <algorithm>
#include <cerrno>
#include <system_error>

#include "aio/core/sleep.hpp"
#include "aio/core/timeout.hpp"
#include "aio/net/address.hpp"
#include "client_internal.hpp"

namespace aio::http::detail {

namespace {
double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

std::string what_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown error";
    }
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Connection

void Connection::connection_made(Transport& transport) {
    transport_ = &transport;
    loop_ = &transport.get_loop();
    writable_.set();
}

bool Connection::adopt(Transport& transport) noexcept {
    if (closing_) return false;
    transport_ = &transport;
    loop_ = &transport.get_loop();
    writable_.set();
    return true;
}

uint64_t Connection::start(Exchange& ex, std::string_view bytes, bool head_request,
                           std::optional<std::chrono::nanoseconds> sock_read, bool auto_decompress, bool upgrade) {
    ex_ = &ex;
    expect_upgrade_ = upgrade;
    busy_ = true;
    ++seq_;
    ++requests_;
    head_request_ = head_request;
    auto_decompress_ = auto_decompress;
    keep_alive_ = true;
    informational_ = false;
    inflater_.reset();
    sock_read_ = sock_read;
    transport_->write(bytes);
    if (sock_read_) {
        last_data_ = transport_->get_loop().time();
        arm_read_timer();
    }
    return seq_;
}

void Connection::arm_read_timer() {
    // One timer per sock_read period, not one per read: data_received only stamps last_data_, and
    // the timer, when it fires early, re-arms itself for what is left.
    double due = last_data_ + seconds(*sock_read_);
    std::weak_ptr<Connection> self = weak_from_this();
    read_timer_ = transport_->get_loop().call_at(due, [self] {
        if (auto c = self.lock()) c->on_read_timer();
    });
}

void Connection::on_read_timer() noexcept {
    if (!busy_ || !transport_ || !sock_read_) return;
    double now = transport_->get_loop().time();
    // Nobody reads the body (it is paused): that is no socket wait, so nothing is charged.
    if (reading_paused_) last_data_ = now;
    if (now - last_data_ < seconds(*sock_read_) - 1e-6) {
        try {
            arm_read_timer();
        } catch (...) {
            close();
        }
        return;
    }
    std::exception_ptr e;
    try {
        throw SocketTimeoutError("Timeout on reading data from socket");
    } catch (...) {
        e = std::current_exception();
    }
    fail(e);
}

void Connection::data_received(std::string_view data) {
    if (upgraded_) {
        if (ws_)
            ws_->on_data(data);
        else
            held_.append(data);
        return;
    }
    if (!busy_) {
        // Bytes on an idle connection: nothing can make sense of them, and a later response would.
        close();
        return;
    }
    if (sock_read_) last_data_ = transport_->get_loop().time();
    if (ex_) ex_->any_byte = true;
    try {
        const size_t used = parser_.feed(data);
        if (upgraded_) held_.append(data.substr(used));
    } catch (...) {
        fail(std::current_exception());
    }
}

ParserSink::Body Connection::on_head(MessageHead& head) {
    if (!busy_ || !ex_) throw BadHttpMessage("a response nobody asked for");
    if (head.status >= 100 && head.status < 200 && head.status != 101) {
        informational_ = true;  // 100 Continue, 103 Early Hints: the real response follows
        return Body::none;
    }
    if (head.status == 101) {
        if (!expect_upgrade_) throw BadHttpMessage("101 Switching Protocols to a request that asked for no upgrade");
        // HTTP ends here: the parser stops after this head, the rest is the new protocol's.
        upgraded_ = true;
        busy_ = false;
        read_timer_.cancel();
        StreamReader none(std::make_shared<BodyState>());
        none.feed_eof();
        Exchange* ex = std::exchange(ex_, nullptr);
        ex->head = std::move(head);
        ex->body = std::move(none);
        ex->ready.set();
        if (connector_) connector_->upgraded(*this);
        return Body::read;
    }
    keep_alive_ = head.keep_alive;
    body_ = StreamReader(std::make_shared<BodyState>());
    body_.state()->flow = this;
    if (auto_decompress_ && !head_request_) {
        if (auto ce = head.headers.get("Content-Encoding")) {
            if (iequals(*ce, "gzip") || iequals(*ce, "x-gzip"))
                inflater_ = std::make_unique<Inflater>(true);
            else if (iequals(*ce, "deflate"))
                inflater_ = std::make_unique<Inflater>(false);
        }
    }
    Exchange* ex = std::exchange(ex_, nullptr);
    ex->head = std::move(head);
    ex->body = body_;
    ex->ready.set();
    return head_request_ ? Body::none : Body::read;
}

void Connection::on_body(std::string_view chunk) {
    if (inflater_) {
        inflater_->feed(chunk, [this](std::string_view d) { body_.feed_data(d); });
    } else {
        body_.feed_data(chunk);
    }
}

void Connection::on_message_complete() {
    if (upgraded_) return;  // the 101's: nothing to give back, the connection is the WebSocket's
    if (informational_) {
        informational_ = false;
        return;
    }
    if (inflater_ && !inflater_->finished())
        throw ClientPayloadError("Response payload is not completed: the compressed body ended early");
    busy_ = false;
    read_timer_.cancel();
    inflater_.reset();
    if (body_.state()) {
        body_.state()->flow = nullptr;
        body_.feed_eof();
        body_ = StreamReader(std::shared_ptr<BodyState>());
    }
    if (reading_paused_ && transport_) {
        reading_paused_ = false;
        transport_->resume_reading();  // an idle connection must see the server's EOF
    }
    give_back(keep_alive_);
}

void Connection::give_back(bool reusable) noexcept {
    if (connector_)
        connector_->released(*this, reusable && is_open());
    else
        close();  // no pool to go back to
}

void Connection::pause_reading() noexcept {
    if (transport_ && !reading_paused_) {
        reading_paused_ = true;
        transport_->pause_reading();
    }
}

void Connection::resume_reading() noexcept {
    if (transport_ && reading_paused_) {
        reading_paused_ = false;
        if (sock_read_) last_data_ = transport_->get_loop().time();
        transport_->resume_reading();
    }
}

void Connection::finish_exchange_error(std::exception_ptr e) noexcept {
    Exchange* ex = std::exchange(ex_, nullptr);
    ex->error = std::move(e);
    ex->ready.set();
}

void Connection::fail_body(std::exception_ptr e) noexcept {
    if (!body_.state()) return;
    body_.state()->flow = nullptr;
    if (!body_.is_eof()) body_.set_exception(std::move(e));
    body_ = StreamReader(std::shared_ptr<BodyState>());
}

void Connection::fail(std::exception_ptr e) noexcept {
    if (busy_) {
        if (ex_) {
            finish_exchange_error(e);
        } else {
            // A body that fails is a payload error whatever the cause (a bad chunk size, a stream
            // that does not inflate), except a timeout, which keeps its own type.
            try {
                std::rethrow_exception(e);
            } catch (const ClientPayloadError&) {
            } catch (const ServerTimeoutError&) {
            } catch (const std::exception& x) {
                try {
                    throw ClientPayloadError(std::string("Response payload is not completed: ") + x.what());
                } catch (...) {
                    e = std::current_exception();
                }
            } catch (...) {
            }
            fail_body(e);
        }
    }
    close();
}

void Connection::abandon_exchange() noexcept {
    ex_ = nullptr;
    close();
}

void Connection::release_response(uint64_t seq) noexcept {
    if (upgraded_ && !ws_) {  // a 101 nobody took over (ws_connect cancelled): no one else will close it
        close();
        return;
    }
    if (!busy_ || seq != seq_) return;  // the body arrived in full: the connection went back already
    try {
        fail_body(std::make_exception_ptr(ClientConnectionError("Connection closed: the response was released")));
    } catch (...) {
        fail_body(nullptr);
    }
    close();
}

void Connection::close() noexcept {
    if (ex_) finish_exchange_error(std::make_exception_ptr(ServerDisconnectedError("Connection closed")));
    if (busy_) fail_body(std::make_exception_ptr(ClientConnectionError("Connection closed")));
    busy_ = false;
    read_timer_.cancel();
    // Closing before a transport was adopted (a tunnel's TLS handshake) is remembered, so that
    // adopt() refuses it afterwards.
    if (!closing_) {
        closing_ = true;
        if (transport_) transport_->abort();
    }
    // connection_lost comes on a later iteration, perhaps after the session is gone: the pool is
    // told now, and only now.
    if (auto* c = std::exchange(connector_, nullptr)) c->lost(*this);
}

void Connection::resume_writing() {
    writable_.set();
    if (ws_) ws_->on_writable();
}

void Connection::take_over(std::shared_ptr<WsCore> ws) {
    ws_ = std::move(ws);
    std::string held = std::move(held_);
    held_.clear();
    if (!held.empty()) ws_->on_data(held);
    if (!transport_ && ws_) {  // lost before we got here
        std::shared_ptr<WsCore> w = std::move(ws_);
        w->on_lost();
    }
}

void Connection::write(std::string_view data) {
    if (transport_ && !closing_) transport_->write(data);
}

Task<void> Connection::drain() {
    std::shared_ptr<Connection> keep = shared_from_this();
    // As ServerConnection::drain: let a failed transport's connection_lost run first.
    if (transport_ && !closing_ && transport_->is_closing()) co_await aio::sleep(std::chrono::nanoseconds(0));
    for (;;) {
        if (!transport_ || closing_) throw std::system_error(ECONNRESET, std::generic_category(), "connection lost");
        if (writable_.is_set()) co_return;
        co_await writable_.wait();
    }
}

void Connection::close_transport(bool abort_now) noexcept {
    if (!transport_ || closing_) return;
    if (abort_now) {
        closing_ = true;
        transport_->abort();
    } else if (!transport_->is_closing()) {
        transport_->close();
    }
}

void Connection::pause_upgraded_reading(bool pause) noexcept {
    if (!transport_ || closing_) return;
    if (pause)
        transport_->pause_reading();
    else
        transport_->resume_reading();
}

void Connection::connection_lost(std::exception_ptr exc) {
    read_timer_.cancel();
    if (upgraded_) {
        transport_ = nullptr;
        closing_ = true;
        writable_.set();  // a drain() waiting wakes up to the loss
        if (std::shared_ptr<WsCore> w = std::move(ws_)) w->on_lost();
        if (auto* c = std::exchange(connector_, nullptr)) c->lost(*this);
        return;
    }
    // Gone from here on: a close-delimited body completed below must not go back to the pool.
    transport_ = nullptr;
    closing_ = true;
    if (busy_) {
        if (ex_) {
            std::string why = exc ? "Server disconnected: " + what_of(exc) : "Server disconnected";
            finish_exchange_error(std::make_exception_ptr(ServerDisconnectedError(why)));
        } else if (body_.state()) {
            std::exception_ptr err;
            if (exc) {
                err = std::make_exception_ptr(ClientPayloadError("Response payload is not completed: " + what_of(exc)));
            } else {
                // A body delimited by the close ends here; any other is cut short.
                try {
                    parser_.feed_eof();
                } catch (const std::exception& e) {
                    err = std::make_exception_ptr(
                        ClientPayloadError(std::string("Response payload is not completed: ") + e.what()));
                }
                if (!err && busy_)
                    err = std::make_exception_ptr(ClientPayloadError("Response payload is not completed"));
            }
            if (err) fail_body(err);
        }
        busy_ = false;
    }
    if (auto* c = std::exchange(connector_, nullptr)) c->lost(*this);
}

// ---------------------------------------------------------------------------------------------
// Connector

Connector::Connector(const ClientSessionOptions& o)
    : limit_(o.limit),
      limit_per_host_(o.limit_per_host),
      ttl_dns_(o.ttl_dns_cache),
      keepalive_(seconds(o.keepalive_timeout)),
      force_close_(o.force_close) {}

Connector::~Connector() {
    close();
    for (auto& w : all_)
        if (auto c = w.lock()) c->detach();
}

bool Connector::can_take(const std::string& key) const noexcept {
    if (limit_ && acquired_ >= limit_) return false;
    if (limit_per_host_) {
        auto it = hosts_.find(key);
        if (it != hosts_.end() && it->second.acquired >= limit_per_host_) return false;
    }
    return true;
}

void Connector::take_slot(const std::string& key) {
    ++hosts_[key].acquired;
    ++acquired_;
}

void Connector::give_slot(const std::string& key) noexcept {
    --acquired_;
    auto it = hosts_.find(key);
    if (it != hosts_.end()) {
        --it->second.acquired;
        if (it->second.acquired == 0 && it->second.idle.empty()) hosts_.erase(it);
    }
    wake_waiters();
}

void Connector::wake_waiters() noexcept {
    if (closed_) return;
    // Slots are handed over at once, in arrival order, to whoever the limits now let in: the
    // queue therefore never holds a waiter that could go, and newcomers may take a free slot.
    for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (limit_ && acquired_ >= limit_) break;
        SlotWaiter* w = *it;
        if (!can_take(w->key)) {
            ++it;
            continue;
        }
        try {
            take_slot(w->key);
        } catch (...) {
            break;  // out of memory: the waiter stays queued
        }
        w->in_queue = false;
        w->got = true;
        it = waiters_.erase(it);
        w->granted.set_result();
    }
}

Task<void> Connector::wait_slot(std::string key) {
    SlotWaiter w{key, create_future<void>()};
    auto it = waiters_.insert(waiters_.end(), &w);
    std::exception_ptr err;
    try {
        co_await w.granted;
    } catch (...) {
        err = std::current_exception();
    }
    if (w.in_queue) waiters_.erase(it);
    if (err) {
        if (w.got) give_slot(key);  // granted, but we were cancelled on the way: pass it on
        std::rethrow_exception(err);
    }
}

std::shared_ptr<Connection> Connector::take_idle(const std::string& key) noexcept {
    auto it = hosts_.find(key);
    if (it == hosts_.end()) return nullptr;
    auto& idle = it->second.idle;
    double now = get_running_loop().time();
    while (!idle.empty()) {
        std::shared_ptr<Connection> c = std::move(idle.back());
        idle.pop_back();
        c->in_idle = false;
        if (c->is_open() && now - c->idle_since < keepalive_) return c;
        c->close();
    }
    return nullptr;
}

void Connector::remove_idle(Connection& c) noexcept {
    c.in_idle = false;
    auto it = hosts_.find(c.key());
    if (it == hosts_.end()) return;
    auto& idle = it->second.idle;
    for (size_t i = 0; i < idle.size(); ++i) {
        if (idle[i].get() == &c) {
            idle.erase(idle.begin() + static_cast<std::ptrdiff_t>(i));
            break;
        }
    }
    if (it->second.acquired == 0 && idle.empty()) hosts_.erase(it);
}

void Connector::released(Connection& c, bool reusable) noexcept {
    bool keep = reusable && !closed_ && !force_close_ && keepalive_ > 0;
    if (keep) {
        try {
            hosts_[c.key()].idle.push_back(c.shared_from_this());
            c.in_idle = true;
            c.idle_since = get_running_loop().time();
            arm_cleanup();
        } catch (...) {
            keep = false;
        }
    }
    if (c.holds_slot) {
        c.holds_slot = false;
        give_slot(c.key());
    }
    if (!keep) c.close();
}

void Connector::upgraded(Connection& c) noexcept {
    if (c.holds_slot) {
        c.holds_slot = false;
        give_slot(c.key());
    }
}

void Connector::lost(Connection& c) noexcept {
    if (c.in_idle) remove_idle(c);
    if (c.holds_slot) {
        c.holds_slot = false;
        give_slot(c.key());
    }
    std::erase_if(all_, [&c](const std::weak_ptr<Connection>& w) {
        auto p = w.lock();
        return !p || p.get() == &c;
    });
}

void Connector::arm_cleanup() {
    if (cleanup_armed_) return;
    double oldest = -1;
    for (auto& [key, host] : hosts_)
        for (auto& c : host.idle)
            if (oldest < 0 || c->idle_since < oldest) oldest = c->idle_since;
    if (oldest < 0) return;
    cleanup_armed_ = true;
    cleanup_timer_ = get_running_loop().call_at(oldest + keepalive_, [this] {
        cleanup_armed_ = false;
        cleanup();
    });
}

void Connector::cleanup() noexcept {
    double now = get_running_loop().time();
    std::vector<std::shared_ptr<Connection>> expired;
    for (auto& [key, host] : hosts_)
        for (auto& c : host.idle)
            if (now - c->idle_since >= keepalive_ - 1e-6) expired.push_back(c);
    for (auto& c : expired)
        c->close();
    try {
        arm_cleanup();
    } catch (...) {
    }
}

void Connector::close() noexcept {
    if (closed_) return;
    closed_ = true;
    cleanup_timer_.cancel();
    cleanup_armed_ = false;
    std::vector<std::weak_ptr<Connection>> all = std::move(all_);
    all_.clear();
    for (auto& w : all) {
        if (auto c = w.lock()) {
            c->close();
            c->detach();
        }
    }
    hosts_.clear();
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (SlotWaiter* w : waiters) {
        w->in_queue = false;
        w->granted.set_exception(std::make_exception_ptr(RuntimeError("Session is closed")));
    }
}

ConnectorStats Connector::stats() const noexcept {
    ConnectorStats s;
    for (auto& [key, host] : hosts_)
        s.idle += host.idle.size();
    s.acquired = acquired_;
    s.waiting = waiters_.size();
    s.opened = opened_;
    s.dns_lookups = lookups_;
    return s;
}

Task<std::vector<SockAddr>> Connector::resolve(std::string host, uint16_t port, bool proxy) {
    const bool use_cache = !ttl_dns_ || ttl_dns_->count() > 0;
    std::string key = host + ':' + std::to_string(port);
    double now = get_running_loop().time();
    if (use_cache) {
        auto it = dns_.find(key);
        if (it != dns_.end() && (it->second.expires < 0 || now < it->second.expires)) co_return it->second.addrs;
    }
    ++lookups_;
    GetAddrInfoOptions o;
    o.type = SOCK_STREAM;
    std::vector<AddrInfo> infos;
    try {
        infos = co_await getaddrinfo(host, port, o);
    } catch (const GaiError& e) {
        if (proxy) throw ClientProxyConnectionError(host, port, e.what());
        throw ClientConnectorError(host, port, e.what());
    }
    std::vector<SockAddr> addrs;
    for (auto& i : infos)
        addrs.push_back(i.addr);
    if (addrs.empty()) {
        if (proxy) throw ClientProxyConnectionError(host, port, "no address");
        throw ClientConnectorError(host, port, "no address");
    }
    if (use_cache) {
        DnsEntry& e = dns_[key];
        e.addrs = addrs;
        e.expires = ttl_dns_ ? get_running_loop().time() + seconds(*ttl_dns_) : -1.0;
    }
    co_return addrs;
}

Task<std::shared_ptr<Connection>> Connector::open(URL url, std::string key, std::shared_ptr<SSLContext> ssl,
                                                  ClientTimeout timeout, std::optional<ProxyRoute> proxy) {
    const std::string& host = url.host();
    const uint16_t port = url.port();
    // Through a proxy the socket goes to the proxy; TLS, if any, still to `url`'s host (in the tunnel).
    const std::string& peer_host = proxy ? proxy->url.host() : host;
    const uint16_t peer_port = proxy ? proxy->url.port() : port;
    const bool tunnel = proxy && ssl;
    std::vector<SockAddr> addrs = co_await resolve(peer_host, peer_port, proxy.has_value());
    ConnectOptions o;
    if (ssl && !tunnel) {
        o.ssl = ssl;
        o.server_hostname = host;
    }
    std::exception_ptr last;
    for (const SockAddr& addr : addrs) {
        auto conn = std::make_shared<Connection>(key);
        try {
            if (tunnel) {
                // The whole attempt (proxy connect, CONNECT, TLS handshake) is the one attempt
                // sock_connect limits, as the TCP connect and the handshake are for a direct one.
                auto attempt = open_tunnel(conn, addr, url, ssl, *proxy);
                if (timeout.sock_connect)
                    co_await wait_for(std::move(attempt), *timeout.sock_connect);
                else
                    co_await std::move(attempt);
            } else {
                // Named, not a temporary of the co_await expression (g++ 12, docs/design.md).
                ProtocolFactory factory = [conn]() -> std::shared_ptr<Protocol> { return conn; };
                auto attempt = create_connection(std::move(factory), addr.host(), addr.port(), o);
                if (timeout.sock_connect)
                    co_await wait_for(std::move(attempt), *timeout.sock_connect);
                else
                    co_await std::move(attempt);
            }
            ++opened_;
            all_.push_back(conn);
            conn->attach(this);
            co_return conn;
        } catch (const SSLCertVerificationError& e) {
            throw ClientConnectorCertificateError(host, port, e.what());
        } catch (const SSLError& e) {
            throw ClientConnectorError(host, port, e.what());
        } catch (const TimeoutError&) {
            std::string what = "Connection timeout to host " + url.host_port();
            if (proxy) what += " through proxy " + proxy->url.host_port();
            last = std::make_exception_ptr(ConnectionTimeoutError(what + " (" + addr.to_string() + ")"));
        } catch (const std::system_error& e) {
            if (proxy)
                last = std::make_exception_ptr(ClientProxyConnectionError(peer_host, peer_port, e.what()));
            else
                last = std::make_exception_ptr(ClientConnectorError(host, port, e.what()));
        }
    }
    std::rethrow_exception(last);
}

namespace {

/// The socket's protocol while a CONNECT is in flight: it reads the proxy's answer and nothing
/// more, then start_tls puts the TLS layer in its place.
class TunnelHandshake final : public aio::Protocol, public ParserSink {
public:
    explicit TunnelHandshake(std::string url) : url_(std::move(url)) {}
    Event ready;  // the answer's head arrived, or the attempt failed
    MessageHead head;
    std::exception_ptr error;  // set instead of (or, for bytes after a 2xx, after) the head

    void data_received(std::string_view data) override {
        if (error || refused()) return;  // a refusal's body is not read: the connection is closed
        if (accepted()) {
            // A 2xx ends the proxy's part: the next bytes would be the server's, and a TLS server
            // does not speak first. Whatever this is, it is no tunnel to trust.
            finish(stray_data());
            return;
        }
        try {
            parser_.feed(data);
        } catch (const std::exception& e) {
            if (accepted())
                finish(stray_data());  // the 2xx and more bytes after it, in one read
            else
                finish(std::make_exception_ptr(
                    ClientResponseError(400, std::string("malformed answer to CONNECT: ") + e.what(), url_)));
        }
    }
    bool eof_received() override { return false; }
    void connection_lost(std::exception_ptr exc) override {
        if (refused()) return;  // the proxy hangs up after a refusal, which already says it all
        std::string why = "the proxy closed the connection";
        why += accepted() ? " after accepting CONNECT" : " before answering CONNECT";
        if (exc) why += ": " + what_of(exc);
        finish(std::make_exception_ptr(ServerDisconnectedError(why)));
    }
    Body on_head(MessageHead& h) override {
        if (h.status >= 100 && h.status < 200) return Body::none;  // an interim answer: the real one follows
        head.swap(h);
        ready.set();
        // RFC 9110 9.3.6: a 2xx to CONNECT has no body whatever its headers say (what follows is
        // the tunnel's); without `none` a 200 without Content-Length would be read to EOF. Any
        // other answer is all we need: its body is not read, the connection is closed.
        return accepted() ? Body::none : Body::stop;
    }
    void on_body(std::string_view) override {}
    void on_message_complete() override {}

private:
    [[nodiscard]] bool accepted() const noexcept { return head.status >= 200 && head.status < 300; }
    [[nodiscard]] bool refused() const noexcept { return head.status >= 300; }
    static std::exception_ptr stray_data() {
        return std::make_exception_ptr(
            ClientConnectionError("the proxy sent data after its CONNECT response, before TLS started"));
    }
    void finish(std::exception_ptr e) noexcept {
        if (!error) error = std::move(e);
        ready.set();
    }
    std::string url_;  // the request's, for errors
    Parser parser_{Parser::Kind::response, *this};
};

/// host:port as CONNECT names it (RFC 9110 9.3.6: authority-form, the port always written).
std::string authority_form(const URL& url) {
    const std::string& h = url.host();
    std::string out = h.find(':') != std::string::npos ? "[" + h + "]" : h;
    return out + ':' + std::to_string(url.port());
}

}  // namespace

Task<void> Connector::open_tunnel(std::shared_ptr<Connection> conn, SockAddr proxy_addr, URL url,
                                  std::shared_ptr<SSLContext> ssl, ProxyRoute proxy) {
    std::string request = "CONNECT " + authority_form(url) + " HTTP/1.1\r\n";
    append_header(request, "Host", authority_form(url));
    if (!proxy.authorization.empty()) append_header(request, "Proxy-Authorization", proxy.authorization);
    for (const auto& [name, value] : proxy.headers) {
        if (iequals(name, "Host") || (iequals(name, "Proxy-Authorization") && !proxy.authorization.empty())) continue;
        append_header(request, name, value);
    }
    request += "\r\n";

    auto handshake = std::make_shared<TunnelHandshake>(url.human_repr());
    ProtocolFactory factory = [handshake]() -> std::shared_ptr<Protocol> { return handshake; };
    ConnectOptions plain;  // TLS starts inside the tunnel, once there is one
    auto made = co_await create_connection(std::move(factory), proxy_addr.host(), proxy_addr.port(), plain);

    // Until the connection has adopted the TLS transport, nothing else closes this socket: an
    // error, a refusal or a cancellation (a timeout) at any await below must.
    struct AbortGuard {
        std::shared_ptr<Transport> t;
        ~AbortGuard() {
            if (t) t->abort();
        }
    } guard{std::move(made.first)};

    guard.t->write(request);
    co_await handshake->ready.wait();
    if (handshake->error) std::rethrow_exception(handshake->error);
    const MessageHead& h = handshake->head;
    if (h.status < 200 || h.status >= 300) throw ClientHttpProxyError(h.status, h.reason, url.human_repr(), h.headers);

    // A hang-up right behind the 2xx may not have been reported yet: it is the proxy's doing, not
    // a misuse of start_tls (which would say RuntimeError).
    if (guard.t->is_closing()) throw ServerDisconnectedError("the proxy closed the connection after accepting CONNECT");
    std::shared_ptr<Transport> tls = co_await start_tls(guard.t, conn, ssl, false, url.host());
    if (!conn->adopt(*tls)) {
        tls->abort();
        throw ServerDisconnectedError("the tunnel through the proxy closed during the TLS handshake");
    }
    guard.t = nullptr;  // the connection's from here: it closes the TLS transport, which closes the socket
}

Task<std::shared_ptr<Connection>> Connector::connect(const URL& url, std::shared_ptr<SSLContext> ssl,
                                                     ClientTimeout timeout, bool fresh, const ProxyRoute* proxy) {
    if (closed_) throw RuntimeError("Session is closed");
    std::string key = url.scheme() + "://" + url.host_port();
    if (ssl) key += '#' + std::to_string(reinterpret_cast<uintptr_t>(ssl.get()));
    if (proxy) {
        // aiohttp's ConnectionKey: the proxy, its credentials and headers are part of what a
        // connection is, so a request never rides a direct connection, another proxy's, or a
        // tunnel that was opened with someone else's credentials. (A space and line breaks cannot
        // occur in a host_port or in the checked header values, so the parts cannot run together.)
        key += " via " + proxy->url.host_port() + '\n' + proxy->authorization;
        for (const auto& [name, value] : proxy->headers)
            key += '\n' + name + ": " + value;
    }

    if (can_take(key)) {
        take_slot(key);
    } else if (timeout.pool) {
        auto wait = wait_slot(key);
        bool timed_out = false;
        try {
            co_await wait_for(std::move(wait), *timeout.pool);
        } catch (const TimeoutError&) {
            timed_out = true;
        }
        if (timed_out)
            throw ConnectionTimeoutError("Connection timeout: no free connection to " + url.host_port() +
                                         " within the pool timeout");
    } else {
        co_await wait_slot(key);
    }

    // The slot is ours from here: hand it to the connection, or give it back.
    struct SlotGuard {
        Connector* self;
        const std::string& key;
        bool armed = true;
        ~SlotGuard() {
            if (armed && !self->closed_) self->give_slot(key);
        }
    } guard{this, key};

    if (!fresh) {
        if (auto c = take_idle(key)) {
            c->holds_slot = true;
            guard.armed = false;
            co_return c;
        }
    }
    std::shared_ptr<Connection> c;
    std::optional<ProxyRoute> route;
    if (proxy) route = *proxy;
    auto opening = open(url, key, ssl, timeout, std::move(route));
    if (timeout.connect) {
        bool timed_out = false;
        try {
            c = co_await wait_for(std::move(opening), *timeout.connect);
        } catch (const ServerTimeoutError&) {
            throw;
        } catch (const TimeoutError&) {
            timed_out = true;
        }
        if (timed_out) {
            std::string what = "Connection timeout to host " + url.host_port();
            if (proxy) what += " through proxy " + proxy->url.host_port();
            throw ConnectionTimeoutError(what);
        }
    } else {
        c = co_await std::move(opening);
    }
    if (closed_ || !c->is_open()) {
        c->close();
        throw ServerDisconnectedError("Server disconnected before the request was sent");
    }
    c->holds_slot = true;
    guard.armed = false;
    co_return c;
}

}  // namespace aio::http::detail
