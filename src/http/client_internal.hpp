// The client's private parts: the connection (an aio::Protocol parsing responses with llhttp), the
// connector (the pool, the slot limits, the DNS cache) and the session's shared state.
#pragma once

#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aio/core/future.hpp"
#include "aio/core/handle.hpp"
#include "aio/http/client.hpp"
#include "aio/http/stream_reader.hpp"
#include "aio/net/transport.hpp"
#include "aio/sync/event.hpp"
#include "parser.hpp"
#include "ws_core.hpp"

namespace aio::http::detail {

/// Streaming gzip / deflate decoding of a body. A "deflate" body may be zlib-wrapped (RFC 9110)
/// or raw (what some servers send): the first two bytes tell which.
class Inflater {
public:
    explicit Inflater(bool gzip);
    ~Inflater();
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;
    /// Decodes `in`, handing each decoded piece to `out`. Throws ClientPayloadError on corrupt data.
    template <class F>
    void feed(std::string_view in, F&& out);
    /// The compressed stream ended properly.
    [[nodiscard]] bool finished() const noexcept { return done_; }

private:
    void start(bool raw);
    // Runs inflate over `in`; returns the bytes decoded into `buf` (the caller loops).
    size_t step(std::string_view& in, char* buf, size_t cap);
    z_stream zs_{};
    bool gzip_;
    bool started_ = false;
    bool done_ = false;
    std::string pending_;  // a first byte of a deflate body, until the second tells the format
};

template <class F>
void Inflater::feed(std::string_view in, F&& out) {
    if (!started_) {
        if (gzip_) {
            start(false);
        } else {
            pending_.append(in);
            if (pending_.size() < 2) return;
            auto b0 = static_cast<unsigned char>(pending_[0]);
            auto b1 = static_cast<unsigned char>(pending_[1]);
            const bool zlib_header = (b0 & 0x0F) == 8 && (b0 >> 4) <= 7 && ((b0 << 8) | b1) % 31 == 0;
            start(!zlib_header);
            in = pending_;
        }
    }
    char buf[16 * 1024];
    while (!in.empty() && !done_) {
        size_t n = step(in, buf, sizeof buf);
        if (n) out(std::string_view(buf, n));
    }
    // Output that did not fit: inflate keeps it, drained with no more input.
    while (!done_) {
        std::string_view none;
        size_t n = step(none, buf, sizeof buf);
        if (!n) break;
        out(std::string_view(buf, n));
    }
    if (!pending_.empty() && started_) pending_.clear();
}

class Connector;

/// How a request reaches its server through an HTTP proxy (RequestOptions::proxy and its friends,
/// checked and resolved by the session).
struct ProxyRoute {
    URL url;                    // the proxy's origin: http://host[:port], no credentials
    std::string authorization;  // the Proxy-Authorization value; "" for none
    Headers headers;            // proxy_headers (checked for line breaks)
};

/// What a request waits for on its connection: the response head (or a failure before it).
/// Lives in the requesting coroutine's frame.
struct Exchange {
    Event ready;
    MessageHead head;
    StreamReader body{std::shared_ptr<BodyState>()};
    std::exception_ptr error;
    bool any_byte = false;  // some of the response arrived (so a retry is not safe)
};

/// One HTTP/1.1 connection: the protocol of its transport, the parser of its responses, and the
/// feeder of their bodies. Owned by its transport while open, and by the pool / the response.
class Connection final : public aio::Protocol,
                         public FlowControl,
                         public ParserSink,
                         public std::enable_shared_from_this<Connection> {
public:
    explicit Connection(std::string key) : key_(std::move(key)) {}

    // aio::Protocol
    void connection_made(Transport& transport) override;
    /// The TLS transport start_tls made over a proxy tunnel, which gives its protocol no
    /// connection_made. False if the connection was closed or lost before this (the caller then
    /// aborts the transport).
    bool adopt(Transport& transport) noexcept;
    void data_received(std::string_view data) override;
    bool eof_received() override { return false; }
    void connection_lost(std::exception_ptr exc) override;
    // FlowControl: the body's buffer is full / drained.
    void pause_reading() noexcept override;
    void resume_reading() noexcept override;
    // ParserSink
    Body on_head(MessageHead& head) override;
    void on_body(std::string_view chunk) override;
    void on_message_complete() override;

    /// Starts a request: `bytes` (head and body) are written in one go; `ex` is told of the head.
    /// Returns the request's sequence number: its response's claim on the connection (which may
    /// serve further requests before the requester even resumes, once this body is in).
    /// `upgrade`: the request asks for a protocol switch (a WebSocket), so a 101 answer is
    /// expected and ends HTTP on this connection (take_over gets what follows).
    uint64_t start(Exchange& ex, std::string_view bytes, bool head_request,
                   std::optional<std::chrono::nanoseconds> sock_read, bool auto_decompress, bool upgrade = false);
    /// The requester gave up waiting for the head (cancelled): the connection cannot be reused.
    void abandon_exchange() noexcept;
    /// The response for request `seq` is released: closes the connection unless its body is done.
    void release_response(uint64_t seq) noexcept;
    /// Aborts the transport; the slot (if held) goes back to the connector.
    void close() noexcept;
    /// The connector takes the connection in (it connected) / lets it go (it is closing, or the
    /// connection is done with the pool). Until attached and once detached, no callback reaches
    /// the connector, which may be gone by then.
    void attach(Connector* c) noexcept { connector_ = c; }
    void detach() noexcept { connector_ = nullptr; }

    // aio::Protocol's write flow control (what a WebSocket's send waits on).
    void pause_writing() override { writable_.clear(); }
    void resume_writing() override;

    /// After a 101: `ws` gets the connection's bytes (those read with the 101 first) and events.
    void take_over(std::shared_ptr<WsCore> ws);
    /// The upgraded connection's way out: writes now / writes and waits while the transport's
    /// buffer is above its high-water mark (std::system_error(ECONNRESET) once it is gone).
    void write(std::string_view data);
    Task<void> drain();
    [[nodiscard]] bool writable() const noexcept { return writable_.is_set(); }
    /// Closes the transport after what is queued (abort: at once).
    void close_transport(bool abort_now) noexcept;
    void pause_upgraded_reading(bool pause) noexcept;
    [[nodiscard]] EventLoop& loop() const noexcept { return *loop_; }

    [[nodiscard]] bool is_open() const noexcept { return transport_ != nullptr && !closing_; }
    [[nodiscard]] bool busy() const noexcept { return busy_; }
    [[nodiscard]] bool reused() const noexcept { return requests_ > 1; }
    [[nodiscard]] uint64_t seq() const noexcept { return seq_; }
    [[nodiscard]] const std::string& key() const noexcept { return key_; }

    // Pool bookkeeping (the connector's).
    bool holds_slot = false;
    bool in_idle = false;
    double idle_since = 0;

private:
    void fail_body(std::exception_ptr e) noexcept;
    void fail(std::exception_ptr e) noexcept;
    void finish_exchange_error(std::exception_ptr e) noexcept;
    void arm_read_timer();
    void on_read_timer() noexcept;
    void give_back(bool reusable) noexcept;

    Connector* connector_ = nullptr;
    std::string key_;
    Transport* transport_ = nullptr;  // valid until connection_lost (an open transport keeps itself)
    EventLoop* loop_ = nullptr;
    bool expect_upgrade_ = false;
    bool upgraded_ = false;         // a 101 came: the bytes after it are not HTTP
    std::string held_;              // bytes after the 101, until take_over
    std::shared_ptr<WsCore> ws_;    // after take_over; dropped at connection_lost (a cycle until then)
    Event writable_;  // clear while the transport asked us to stop writing
    Parser parser_{Parser::Kind::response, *this};
    Exchange* ex_ = nullptr;
    StreamReader body_{std::shared_ptr<BodyState>()};  // the body being received, if any
    std::unique_ptr<Inflater> inflater_;
    uint64_t seq_ = 0;
    uint64_t requests_ = 0;
    bool busy_ = false;  // a request is in flight: from start() to its message's end
    bool head_request_ = false;
    bool auto_decompress_ = true;
    bool keep_alive_ = true;
    bool informational_ = false;  // the message being parsed is a 1xx
    bool closing_ = false;
    bool reading_paused_ = false;
    std::optional<std::chrono::nanoseconds> sock_read_;
    TimerHandle read_timer_;
    double last_data_ = 0;
};

/// The pool (aiohttp's TCPConnector): keep-alive connections per key, the limits, the DNS cache.
class Connector {
public:
    explicit Connector(const ClientSessionOptions& o);
    ~Connector();
    Connector(const Connector&) = delete;
    Connector& operator=(const Connector&) = delete;

    /// A connection to `url`'s origin with a slot held: a pooled one, or a new one (`fresh`: always
    /// new). Timeouts: pool for the slot, then connect / sock_connect for a new connection.
    /// With `proxy`: a connection to the proxy (http), or a TLS tunnel through it to the origin
    /// (https), pooled apart from direct ones; the pointee must outlive the call.
    Task<std::shared_ptr<Connection>> connect(const URL& url, std::shared_ptr<SSLContext> ssl, ClientTimeout timeout,
                                              bool fresh, const ProxyRoute* proxy = nullptr);
    /// From a connection: its request is done. Reusable ones go to the pool.
    void released(Connection& c, bool reusable) noexcept;
    /// From a connection: a 101 took it out of HTTP for good. Its slot goes back (a WebSocket
    /// lives long and must not starve the session's requests); close() still closes it.
    void upgraded(Connection& c) noexcept;
    /// From a connection: its transport is gone.
    void lost(Connection& c) noexcept;
    /// Closes everything; later connect() calls throw.
    void close() noexcept;
    [[nodiscard]] ConnectorStats stats() const noexcept;

private:
    struct SlotWaiter {
        std::string key;
        Future<void> granted;
        bool in_queue = true;
        bool got = false;  // a slot was handed to it
    };
    struct Host {
        std::vector<std::shared_ptr<Connection>> idle;  // most recently used last
        size_t acquired = 0;
    };
    struct DnsEntry {
        std::vector<SockAddr> addrs;
        double expires = 0;  // loop time; <0: never
    };

    [[nodiscard]] bool can_take(const std::string& key) const noexcept;
    void take_slot(const std::string& key);
    void give_slot(const std::string& key) noexcept;
    void wake_waiters() noexcept;
    Task<void> wait_slot(std::string key);
    std::shared_ptr<Connection> take_idle(const std::string& key) noexcept;
    void remove_idle(Connection& c) noexcept;
    Task<std::vector<SockAddr>> resolve(std::string host, uint16_t port, bool proxy);
    Task<std::shared_ptr<Connection>> open(URL url, std::string key, std::shared_ptr<SSLContext> ssl,
                                           ClientTimeout timeout, std::optional<ProxyRoute> proxy);
    static Task<void> open_tunnel(std::shared_ptr<Connection> conn, SockAddr proxy_addr, URL url,
                                  std::shared_ptr<SSLContext> ssl, ProxyRoute proxy);
    void arm_cleanup();
    void cleanup() noexcept;

    size_t limit_;
    size_t limit_per_host_;
    std::optional<std::chrono::nanoseconds> ttl_dns_;
    double keepalive_;
    bool force_close_;
    bool closed_ = false;
    size_t acquired_ = 0;
    uint64_t opened_ = 0;
    uint64_t lookups_ = 0;
    std::unordered_map<std::string, Host> hosts_;
    std::list<SlotWaiter*> waiters_;
    std::vector<std::weak_ptr<Connection>> all_;  // every connection made, for close()
    std::unordered_map<std::string, DnsEntry> dns_;
    TimerHandle cleanup_timer_;
    bool cleanup_armed_ = false;
};

/// ClientSession's state, shared with the requests in flight.
struct SessionState {
    explicit SessionState(ClientSessionOptions o) : options(std::move(o)), connector(options) {
        if (!options.cookie_jar) options.cookie_jar = std::make_shared<CookieJar>();
    }
    ClientSessionOptions options;
    Connector connector;
    std::shared_ptr<SSLContext> default_ssl;  // made on the first https request
    bool closed = false;
};

/// Reaches into ClientResponse for the session's code.
}  // namespace aio::http::detail

namespace aio::http {
struct ResponseAccess {
    static ClientResponse make(detail::MessageHead& head, StreamReader body, std::shared_ptr<detail::Connection> conn,
                               uint64_t seq, URL url, std::string method) {
        ClientResponse r(std::move(body));
        r.status_ = head.status;
        r.reason_ = std::move(head.reason);
        r.headers_ = std::move(head.headers);
        r.version_ = HttpVersion{head.version_major, head.version_minor};
        r.conn_ = std::move(conn);
        r.seq_ = seq;
        r.url_ = std::move(url);
        r.method_ = std::move(method);
        return r;
    }
    static void set_deadline(ClientResponse& r, std::optional<double> d) { r.deadline_ = d; }
    static void set_history(ClientResponse& r, std::vector<ClientResponse> h) { r.history_ = std::move(h); }
    /// Takes the connection out of the response (a 101's, which the WebSocket owns from now on).
    static std::shared_ptr<detail::Connection> take_connection(ClientResponse& r) { return std::move(r.conn_); }
};
}  // namespace aio::http

namespace aio::http::detail {

/// Appends "name: value\r\n"; throws std::invalid_argument if either holds a CR or LF (which
/// would let the caller's data inject headers, or a second request).
void append_header(std::string& out, std::string_view name, std::string_view value);

/// Base64 (RFC 4648, with padding), for Basic credentials.
std::string base64_encode(std::string_view in);
/// A random multipart boundary.
std::string make_boundary();

/// session.request("GET", url, ...) asking for a protocol switch: a 101 answer comes back as a
/// response whose connection is out of the pool, waiting for Connection::take_over.
Task<ClientResponse> upgrade_request(std::shared_ptr<SessionState> s, URL url, RequestOptions opts);

}  // namespace aio::http::detail
