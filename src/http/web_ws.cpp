// web.WebSocketResponse (include/aio/http/web_ws.hpp): the codec (ws_codec.hpp) driven by the
// server's connection after a 101.
//
// Everything that arrives is decoded in the connection's data callback, not in receive(): pings
// are answered and the heartbeat sees traffic even while no task receives, and a receive() that
// is cancelled has taken nothing from the queue.
#include <cerrno>
#include <deque>
#include <system_error>

#include "aio/core/timeout.hpp"
#include "aio/http/web_exceptions.hpp"
#include "aio/http/web_request.hpp"
#include "aio/http/web_ws.hpp"
#include "web_internal.hpp"
#include "ws_codec.hpp"

namespace aio::http {

namespace detail {

namespace {
// Past this many bytes of received messages not yet taken by receive(), the connection stops
// reading, so a peer cannot make us queue without bound.
constexpr size_t kInboxLimit = 1024 * 1024;

std::system_error socket_closed() {
    return std::system_error(ECONNRESET, std::generic_category(), "the WebSocket is closed");
}

// Whether a comma-separated header (all its lines) lists `token`, compared without case.
bool has_token(const Headers& headers, std::string_view name, std::string_view token) {
    for (std::string_view line : headers.getall(name)) {
        while (!line.empty()) {
            size_t comma = line.find(',');
            std::string_view item = line.substr(0, comma);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
                item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
                item.remove_suffix(1);
            if (iequals(item, token)) return true;
            if (comma == std::string_view::npos) break;
            line.remove_prefix(comma + 1);
        }
    }
    return false;
}

std::string joined(const Headers& headers, std::string_view name) {
    std::string out;
    for (std::string_view v : headers.getall(name)) {
        if (!out.empty()) out += ", ";
        out += v;
    }
    return out;
}

Task<void> wait_event(Event& e) { co_await e.wait(); }
}  // namespace

class WsServerState final : public UpgradeSink, public std::enable_shared_from_this<WsServerState> {
public:
    explicit WsServerState(WebSocketOptions o) : opt(std::move(o)) {}
    ~WsServerState() override { heartbeat_timer.cancel(); }

    // --- UpgradeSink: the connection's events, on the loop thread ---
    void on_data(std::string_view data) override;
    void on_eof() override { input_ended(); }
    void on_lost() override {
        lost = true;
        closed = true;
        input_ended();
        // The connection may be destroyed once we let go: nothing may reach it after this.
        conn = nullptr;
        conn_keep.reset();
    }
    void on_writable() override {
        if (held_pong && conn && !lost) {
            held_pong = false;
            std::string frame;
            writer->pong(frame, pong_data);
            conn->send_now(frame);
        }
    }
    void on_shutdown() override { close_now(static_cast<uint16_t>(WSCloseCode::GOING_AWAY), "server shutdown"); }
    void on_handler_done(bool failed) override {
        close_now(static_cast<uint16_t>(failed ? WSCloseCode::INTERNAL_ERROR : WSCloseCode::OK), {});
        if (conn && !lost) conn->close_transport(false);
    }

    // --- used by WebSocketResponse ---
    void check_usable(const char* what) const {
        if (!prepared) throw RuntimeError(std::string(what) + ": call prepare() first");
        if (closed || lost || !conn) throw socket_closed();
    }
    Task<void> send_frame(std::string frame);
    /// Sends our close frame now if not sent yet (no waiting): a protocol error, a shutdown, a
    /// handler that returned.
    void close_now(uint16_t code, std::string_view reason);
    void push(WSMessage m);
    void input_ended();
    void protocol_error();
    void arm_heartbeat(int64_t at_ns);
    void on_heartbeat();
    void update_reading() {
        const bool pause = inbox_bytes >= kInboxLimit;
        if (pause != reading_paused && conn && !lost) {
            reading_paused = pause;
            conn->pause_upgraded_reading(pause);
        }
    }

    WebSocketOptions opt;
    Headers headers;
    ServerConnection* conn = nullptr;
    // Keeps the connection (and so its transport's protocol) alive while we may write to it;
    // dropped at connection_lost, when the connection drops its hold on us.
    std::shared_ptr<ServerConnection> conn_keep;
    std::optional<ws::FrameReader> reader;
    std::optional<ws::FrameWriter> writer;
    std::string protocol;
    bool compress = false;

    std::deque<WSMessage> inbox;
    size_t inbox_bytes = 0;
    Event arrived;      // set while the inbox has a message or no more will come
    Event peer_closed;  // the peer's close frame came, or the input ended
    bool prepared = false;
    bool receiving = false;
    bool closed = false;      // our close frame went out, or the connection is gone
    bool closing = false;     // the peer's close frame came
    bool input_done = false;  // nothing more will be read
    bool lost = false;
    bool reading_paused = false;
    std::optional<uint16_t> close_code;

    TimerHandle heartbeat_timer;
    int64_t last_seen_ns = 0;
    bool pong_wait = false;  // a heartbeat ping is out and nothing arrived since
    bool held_pong = false;  // a pong waits for the write buffer to drain
    std::string pong_data;
};

void WsServerState::on_data(std::string_view data) {
    if (input_done) return;
    pong_wait = false;
    if (opt.heartbeat) last_seen_ns = conn->loop().clock_ns();
    while (!data.empty()) {
        data.remove_prefix(reader->feed(data));
        switch (reader->state()) {
            case ws::FrameReader::State::message: {
                WSMessage m = reader->take();
                switch (m.type) {
                    case WSMsgType::PING:
                        if (!opt.autoping) {
                            push(std::move(m));
                        } else if (!closed && !lost) {
                            // RFC 6455 5.5.3: only the latest ping needs its pong, so a peer that
                            // pings without reading our pongs makes us hold one, not a queue.
                            pong_data = std::move(m.data);
                            held_pong = true;
                            if (conn->writable()) on_writable();
                        }
                        break;
                    case WSMsgType::PONG:
                        if (!opt.autoping) push(std::move(m));
                        break;
                    case WSMsgType::CLOSE:
                        closing = true;
                        if (!close_code) close_code = m.close_code;
                        peer_closed.set();
                        if (closed) {
                            // The answer to our close: the handshake is over.
                            input_done = true;
                            arrived.set();
                            conn->close_transport(false);
                        } else {
                            const uint16_t echo = m.close_code == 1005 ? uint16_t{1000} : m.close_code;
                            push(std::move(m));
                            // autoclose answers at once, not when receive() gets to it (aiohttp
                            // does it there): a handler that only sends still completes the
                            // handshake, and learns of it at its next send.
                            if (opt.autoclose) {
                                close_now(echo, {});
                                input_done = true;
                                conn->close_transport(false);
                            }
                        }
                        break;
                    default:
                        if (!closed) push(std::move(m));  // after our close frame, data is dropped
                        break;
                }
                break;
            }
            case ws::FrameReader::State::failed:
                protocol_error();
                return;
            case ws::FrameReader::State::closed:
                return;
            case ws::FrameReader::State::reading:
                break;
        }
    }
}

void WsServerState::push(WSMessage m) {
    inbox_bytes += m.data.size();
    inbox.push_back(std::move(m));
    arrived.set();
    update_reading();
}

void WsServerState::protocol_error() {
    const ws::ProtocolError& e = reader->error();
    input_done = true;
    close_now(e.code, e.reason);
    close_code = e.code;
    inbox.clear();
    inbox_bytes = 0;
    WSMessage m(WSMsgType::ERROR, e.reason, e.code);
    inbox.push_back(std::move(m));
    arrived.set();
    peer_closed.set();
    conn->close_transport(false);
}

void WsServerState::input_ended() {
    heartbeat_timer.cancel();
    if (!input_done) {
        input_done = true;
        if (!closing && !close_code) close_code = static_cast<uint16_t>(WSCloseCode::ABNORMAL_CLOSURE);
    }
    arrived.set();
    peer_closed.set();
}

void WsServerState::close_now(uint16_t code, std::string_view reason) {
    if (closed || lost || !conn) {
        closed = true;
        return;
    }
    closed = true;
    heartbeat_timer.cancel();
    if (!ws_close_code_allowed(code)) code = static_cast<uint16_t>(WSCloseCode::OK);
    std::string frame;
    try {
        writer->close(frame, code, reason.size() <= 123 ? reason : std::string_view());
    } catch (const std::invalid_argument&) {  // a reason that is not UTF-8
        frame.clear();
        writer->close(frame, code);
    }
    conn->send_now(frame);
    // Whoever waits in receive() now gets CLOSED.
    arrived.set();
}

Task<void> WsServerState::send_frame(std::string frame) {
    // Keeps the connection alive across the wait even if the peer goes meanwhile.
    std::shared_ptr<ServerConnection> keep = conn_keep;
    conn->write(frame);
    frame = std::string();
    try {
        co_await conn->drain();
    } catch (const std::system_error&) {
        throw socket_closed();
    }
}

void WsServerState::arm_heartbeat(int64_t at_ns) {
    heartbeat_timer.cancel();
    std::weak_ptr<WsServerState> weak = weak_from_this();
    EventLoop& loop = conn->loop();
    heartbeat_timer = loop.call_later(std::chrono::nanoseconds(at_ns - loop.clock_ns()), [weak] {
        if (auto self = weak.lock()) self->on_heartbeat();
    });
}

void WsServerState::on_heartbeat() {
    if (closed || lost || input_done || !conn) return;
    const int64_t now = conn->loop().clock_ns();
    const int64_t period = opt.heartbeat->count();
    if (pong_wait) {
        // Nothing came back within half a period: the peer (or the path to it) is gone. As
        // aiohttp: no close handshake with a peer that does not answer, 1006, the socket closed.
        pong_wait = false;
        closed = true;
        input_done = true;
        close_code = static_cast<uint16_t>(WSCloseCode::ABNORMAL_CLOSURE);
        arrived.set();
        peer_closed.set();
        conn->close_transport(true);
        return;
    }
    if (now - last_seen_ns < period) {
        arm_heartbeat(last_seen_ns + period);
        return;
    }
    std::string frame;
    writer->ping(frame);
    conn->send_now(frame);
    pong_wait = true;
    arm_heartbeat(now + period / 2);
}

}  // namespace detail

using detail::has_token;
using detail::joined;
using detail::WsServerState;

WebSocketResponse::WebSocketResponse(WebSocketOptions options)
    : s_(std::make_shared<WsServerState>(std::move(options))) {}

bool WebSocketResponse::prepared() const noexcept { return s_->prepared; }
Headers& WebSocketResponse::headers() noexcept { return s_->headers; }
bool WebSocketResponse::closed() const noexcept { return s_->closed || s_->lost; }
std::optional<uint16_t> WebSocketResponse::close_code() const noexcept { return s_->close_code; }
const std::string& WebSocketResponse::protocol() const noexcept { return s_->protocol; }
bool WebSocketResponse::compress() const noexcept { return s_->compress; }

namespace {
// The handshake's checks (RFC 6455 4.2.1); throws the answer for the first one that fails.
void check_handshake(const detail::RequestState& req, const WebSocketOptions& opt) {
    const auto& head = req.head;
    if (head.method != "GET") throw HTTPBadRequest("a WebSocket handshake must be a GET request");
    if (head.version_major != 1 || head.version_minor < 1) throw HTTPBadRequest("a WebSocket handshake needs HTTP/1.1");
    if (!has_token(head.headers, "Upgrade", "websocket"))
        throw HTTPBadRequest("no 'Upgrade: websocket' header: not a WebSocket handshake");
    if (!has_token(head.headers, "Connection", "upgrade"))
        throw HTTPBadRequest("no 'Connection: Upgrade' header: not a WebSocket handshake");
    auto version = head.headers.get("Sec-WebSocket-Version");
    if (!version || *version != "13") {
        Headers h;
        h.add("Sec-WebSocket-Version", "13");
        throw HTTPException(426, "unsupported WebSocket version (this server speaks 13)", std::move(h));
    }
    auto key = head.headers.getall("Sec-WebSocket-Key");
    if (key.size() != 1 || !detail::ws::key_valid(key.front()))
        throw HTTPBadRequest("a missing or malformed Sec-WebSocket-Key");
    if (opt.check_origin) {
        auto origin = head.headers.get("Origin");
        if (!opt.check_origin(origin.value_or(std::string_view())))
            throw HTTPForbidden("this origin may not open a WebSocket here");
    }
}
}  // namespace

bool WebSocketResponse::can_prepare(const Request& request) const {
    try {
        check_handshake(*request.state(), s_->opt);
        return true;
    } catch (const HTTPException&) {
        return false;
    }
}

Task<void> WebSocketResponse::prepare(const Request& request) {
    WsServerState& s = *s_;
    if (s.prepared) co_return;
    detail::RequestState& req = *request.state();
    detail::ServerConnection* conn = req.conn;
    if (!conn) throw RuntimeError("prepare(): the request's handler has already returned");
    if (req.stream.prepared) throw RuntimeError("prepare(): this request already has a prepared response");
    check_handshake(req, s.opt);
    if (!conn->upgrade_held_for(req)) throw HTTPBadRequest("the connection cannot be upgraded after this request");
    const auto& hs = req.head.headers;

    std::optional<std::string> chosen;
    if (!s.opt.protocols.empty() && hs.contains("Sec-WebSocket-Protocol"))
        chosen = detail::ws::choose_subprotocol(joined(hs, "Sec-WebSocket-Protocol"), s.opt.protocols);
    std::optional<std::pair<detail::ws::DeflateParams, std::string>> deflate;
    if (s.opt.compress && hs.contains("Sec-WebSocket-Extensions"))
        deflate = detail::ws::negotiate_deflate(joined(hs, "Sec-WebSocket-Extensions"));

    std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    out += "Sec-WebSocket-Accept: ";
    out += detail::ws::accept_key(hs.get("Sec-WebSocket-Key").value_or(std::string_view()));
    out += "\r\n";
    if (chosen) {
        out += "Sec-WebSocket-Protocol: ";
        out += *chosen;
        out += "\r\n";
    }
    if (deflate) {
        out += "Sec-WebSocket-Extensions: ";
        out += deflate->second;
        out += "\r\n";
    }
    for (const auto& [k, v] : s.headers) {
        out += k;
        out += ": ";
        out += v;
        out += "\r\n";
    }
    if (!s.headers.contains("Date")) {
        out += "Date: ";
        out += detail::http_date_now();
        out += "\r\n";
    }
    out += "\r\n";

    detail::ws::ReaderOptions ro;
    ro.max_msg_size = s.opt.max_msg_size;
    detail::ws::WriterOptions wo;
    if (deflate) {
        ro.deflate = detail::ws::inbound_side(deflate->first, detail::ws::Role::server);
        wo.deflate = detail::ws::outbound_side(deflate->first, detail::ws::Role::server);
    }
    s.reader.emplace(detail::ws::Role::server, std::move(ro));
    s.writer.emplace(detail::ws::Role::server, std::move(wo));
    s.protocol = chosen.value_or(std::string());
    s.compress = deflate.has_value();
    s.conn = conn;
    s.conn_keep = conn->shared_from_this();
    s.prepared = true;
    auto& progress = req.stream;
    progress.prepared = true;
    progress.head_only = true;
    progress.eof = true;
    progress.status = 101;

    conn->write(out);
    conn->take_over(s_);  // frames that came with the request are decoded now
    if (s.opt.heartbeat && s.opt.heartbeat->count() > 0 && !s.closed) {
        s.last_seen_ns = conn->loop().clock_ns();
        s.arm_heartbeat(s.last_seen_ns + s.opt.heartbeat->count());
    }
    std::shared_ptr<WsServerState> keep = s_;
    try {
        co_await conn->drain();
    } catch (const std::system_error&) {
        // The client left at once: receive() reports it.
    }
}

Task<void> WebSocketResponse::send_str(std::string_view data, std::optional<bool> compress) {
    WsServerState& s = *s_;
    s.check_usable("send_str()");
    std::string frame;
    s.writer->message(frame, WSMsgType::TEXT, data, compress.value_or(true));
    std::shared_ptr<WsServerState> keep = s_;
    co_await s.send_frame(std::move(frame));
}

Task<void> WebSocketResponse::send_bytes(std::string_view data, std::optional<bool> compress) {
    WsServerState& s = *s_;
    s.check_usable("send_bytes()");
    std::string frame;
    s.writer->message(frame, WSMsgType::BINARY, data, compress.value_or(true));
    std::shared_ptr<WsServerState> keep = s_;
    co_await s.send_frame(std::move(frame));
}

Task<void> WebSocketResponse::send_json(const nlohmann::json& data, std::optional<bool> compress) {
    std::string text = data.dump();
    co_await send_str(text, compress);
}

Task<void> WebSocketResponse::ping(std::string_view message) {
    WsServerState& s = *s_;
    s.check_usable("ping()");
    std::string frame;
    s.writer->ping(frame, message);
    std::shared_ptr<WsServerState> keep = s_;
    co_await s.send_frame(std::move(frame));
}

Task<void> WebSocketResponse::pong(std::string_view message) {
    WsServerState& s = *s_;
    s.check_usable("pong()");
    std::string frame;
    s.writer->pong(frame, message);
    std::shared_ptr<WsServerState> keep = s_;
    co_await s.send_frame(std::move(frame));
}

Task<bool> WebSocketResponse::close(uint16_t code, std::string_view message) {
    std::shared_ptr<WsServerState> keep = s_;
    WsServerState& s = *s_;
    if (!s.prepared) throw RuntimeError("close(): call prepare() first");
    if (s.closed || s.lost) co_return false;
    if (!ws_close_code_allowed(code))
        throw std::invalid_argument("close(): code " + std::to_string(code) + " may not be sent");
    {
        std::string probe;  // the reason's checks (length, UTF-8) before anything is sent
        s.writer->close(probe, code, message);
    }
    s.close_now(code, message);
    // Queued messages will not be read: receive() answers CLOSED from now on, as aiohttp.
    s.inbox.clear();
    s.inbox_bytes = 0;
    s.update_reading();
    if (!s.closing && !s.input_done) {
        try {
            Task<void> w = detail::wait_event(s.peer_closed);
            co_await aio::wait_for(std::move(w), s.opt.timeout);
        } catch (const TimeoutError&) {
            if (!s.close_code) s.close_code = static_cast<uint16_t>(WSCloseCode::ABNORMAL_CLOSURE);
        } catch (const CancelledError&) {
            if (!s.close_code) s.close_code = static_cast<uint16_t>(WSCloseCode::ABNORMAL_CLOSURE);
            if (s.conn && !s.lost) s.conn->close_transport(false);
            throw;
        }
    }
    if (!s.close_code) s.close_code = code;
    if (s.conn && !s.lost) s.conn->close_transport(false);
    co_return true;
}

Task<WSMessage> WebSocketResponse::receive(std::optional<std::chrono::nanoseconds> timeout) {
    std::shared_ptr<WsServerState> keep = s_;
    WsServerState& s = *s_;
    if (!s.prepared) throw RuntimeError("receive(): call prepare() first");
    if (s.receiving) throw RuntimeError("Concurrent call to receive() is not allowed");
    s.receiving = true;
    struct Done {
        WsServerState& s;
        ~Done() { s.receiving = false; }
    } done{s};
    if (!timeout) timeout = s.opt.receive_timeout;
    for (;;) {
        if (!s.inbox.empty()) {
            WSMessage m = std::move(s.inbox.front());
            s.inbox.pop_front();
            s.inbox_bytes -= m.data.size();
            if (s.inbox.empty() && !s.input_done && !s.closed) s.arrived.clear();
            s.update_reading();
            co_return m;
        }
        if (s.closed || s.input_done) co_return WSMessage(WSMsgType::CLOSED, {}, s.close_code.value_or(0));
        if (s.closing) co_return WSMessage(WSMsgType::CLOSING, {});
        s.arrived.clear();
        if (timeout) {
            Task<void> w = detail::wait_event(s.arrived);
            co_await aio::wait_for(std::move(w), *timeout);
        } else {
            co_await s.arrived.wait();
        }
    }
}

namespace {
const char* type_name(WSMsgType t) {
    switch (t) {
        case WSMsgType::TEXT:
            return "TEXT";
        case WSMsgType::BINARY:
            return "BINARY";
        case WSMsgType::PING:
            return "PING";
        case WSMsgType::PONG:
            return "PONG";
        case WSMsgType::CLOSE:
            return "CLOSE";
        case WSMsgType::CLOSING:
            return "CLOSING";
        case WSMsgType::CLOSED:
            return "CLOSED";
        case WSMsgType::ERROR:
            return "ERROR";
        default:
            return "CONTINUATION";
    }
}
}  // namespace

Task<std::string> WebSocketResponse::receive_str(std::optional<std::chrono::nanoseconds> timeout) {
    WSMessage m = co_await receive(timeout);
    if (m.type != WSMsgType::TEXT)
        throw WSMessageTypeError(std::string("received a ") + type_name(m.type) + " message, not TEXT");
    co_return std::move(m.data);
}

Task<std::string> WebSocketResponse::receive_bytes(std::optional<std::chrono::nanoseconds> timeout) {
    WSMessage m = co_await receive(timeout);
    if (m.type != WSMsgType::BINARY)
        throw WSMessageTypeError(std::string("received a ") + type_name(m.type) + " message, not BINARY");
    co_return std::move(m.data);
}

Task<nlohmann::json> WebSocketResponse::receive_json(std::optional<std::chrono::nanoseconds> timeout) {
    std::string text = co_await receive_str(timeout);
    co_return nlohmann::json::parse(text);
}

namespace {
// A copy of the handle: the generator may outlive the one iter() was called on.
AsyncGenerator<WSMessage> iterate(WebSocketResponse self) {
    for (;;) {
        WSMessage m = co_await self.receive();
        if (m.type == WSMsgType::CLOSE || m.type == WSMsgType::CLOSING || m.type == WSMsgType::CLOSED) co_return;
        co_yield std::move(m);
    }
}
}  // namespace

AsyncGenerator<WSMessage> WebSocketResponse::iter() { return iterate(*this); }

WebSocketResponse::operator Response() const {
    Response r;
    r.status_ = 101;
    r.sent_ = true;
    return r;
}

}  // namespace aio::http
