// web.WebSocketResponse (include/aio/http/web_ws.hpp): the server's handshake, then the shared
// WebSocket core (ws_core.hpp) on the server's connection.
#include <system_error>

#include "aio/http/web_exceptions.hpp"
#include "aio/http/web_request.hpp"
#include "aio/http/web_ws.hpp"
#include "web_internal.hpp"
#include "ws_core.hpp"

namespace aio::http {

namespace detail {

namespace {

WsSettings settings_of(const WebSocketOptions& o) {
    WsSettings s;
    s.autoping = o.autoping;
    s.autoclose = o.autoclose;
    s.heartbeat = o.heartbeat;
    s.receive_timeout = o.receive_timeout;
    s.close_timeout = o.timeout;
    return s;
}
}  // namespace

/// The core on a server connection, which hands it its input after the 101.
class WsServerState final : public WsCore, public UpgradeSink {
public:
    explicit WsServerState(WebSocketOptions o) : WsCore(settings_of(o)), wopt(std::move(o)) {}

    // --- UpgradeSink ---
    void on_data(std::string_view data) override { WsCore::on_data(data); }
    void on_eof() override { WsCore::on_eof(); }
    void on_lost() override { WsCore::on_lost(); }
    void on_writable() override { WsCore::on_writable(); }
    void on_shutdown() override { close_now(static_cast<uint16_t>(WSCloseCode::GOING_AWAY), "server shutdown"); }
    void on_handler_done(bool failed) override {
        close_now(static_cast<uint16_t>(failed ? WSCloseCode::INTERNAL_ERROR : WSCloseCode::OK), {});
        if (conn && !lost) conn->close_transport(false);
    }

    WebSocketOptions wopt;
    Headers headers;
    ServerConnection* conn = nullptr;
    // Keeps the connection (and so its transport's protocol) alive while we may write to it;
    // dropped at connection_lost, when the connection drops its hold on us.
    std::shared_ptr<ServerConnection> conn_keep;

protected:
    [[nodiscard]] EventLoop& link_loop() const noexcept override { return conn->loop(); }
    [[nodiscard]] bool link_open() const noexcept override { return conn != nullptr; }
    [[nodiscard]] bool link_writable() const noexcept override { return conn->writable(); }
    void link_send_now(std::string_view data, std::string_view more) override {
        conn->write(data);
        conn->send_now(more);
    }
    Task<void> link_drain() override {
        // Keeps the connection alive across the wait even if the peer goes meanwhile.
        std::shared_ptr<ServerConnection> keep = conn_keep;
        if (!keep) throw std::system_error(ECONNRESET, std::generic_category(), "connection lost");
        co_await keep->drain();
    }
    void link_close(bool abort) override {
        if (conn) conn->close_transport(abort);
    }
    void link_pause_reading(bool pause) override { conn->pause_upgraded_reading(pause); }
    void link_release() noexcept override {
        conn = nullptr;
        conn_keep.reset();
    }
};

}  // namespace detail

using detail::header_lists_token;
using detail::joined_header;
using detail::WsServerState;

WebSocketResponse::WebSocketResponse(WebSocketOptions options)
    : WebSocketBase(std::make_shared<WsServerState>(std::move(options))) {}

detail::WsServerState& WebSocketResponse::state() const noexcept { return static_cast<WsServerState&>(*core_); }

bool WebSocketResponse::prepared() const noexcept { return state().started; }
Headers& WebSocketResponse::headers() noexcept { return state().headers; }

namespace {
// The handshake's checks (RFC 6455 4.2.1); throws the answer for the first one that fails.
void check_handshake(const detail::RequestState& req, const WebSocketOptions& opt) {
    const auto& head = req.head;
    if (head.method != "GET") throw HTTPBadRequest("a WebSocket handshake must be a GET request");
    if (head.version_major != 1 || head.version_minor < 1) throw HTTPBadRequest("a WebSocket handshake needs HTTP/1.1");
    if (!header_lists_token(head.headers, "Upgrade", "websocket"))
        throw HTTPBadRequest("no 'Upgrade: websocket' header: not a WebSocket handshake");
    if (!header_lists_token(head.headers, "Connection", "upgrade"))
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
        check_handshake(*request.state(), state().wopt);
        return true;
    } catch (const HTTPException&) {
        return false;
    }
}

Task<void> WebSocketResponse::prepare(const Request& request) {
    WsServerState& s = state();
    if (s.started) co_return;
    detail::RequestState& req = *request.state();
    detail::ServerConnection* conn = req.conn;
    if (!conn) throw RuntimeError("prepare(): the request's handler has already returned");
    if (req.stream.prepared) throw RuntimeError("prepare(): this request already has a prepared response");
    check_handshake(req, s.wopt);
    if (!conn->upgrade_held_for(req)) throw HTTPBadRequest("the connection cannot be upgraded after this request");
    const auto& hs = req.head.headers;

    std::optional<std::string> chosen;
    if (!s.wopt.protocols.empty() && hs.contains("Sec-WebSocket-Protocol"))
        chosen = detail::ws::choose_subprotocol(joined_header(hs, "Sec-WebSocket-Protocol"), s.wopt.protocols);
    std::optional<std::pair<detail::ws::DeflateParams, std::string>> deflate;
    if (s.wopt.compress && hs.contains("Sec-WebSocket-Extensions"))
        deflate = detail::ws::negotiate_deflate(joined_header(hs, "Sec-WebSocket-Extensions"));

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
    ro.max_msg_size = s.wopt.max_msg_size;
    detail::ws::WriterOptions wo;
    if (deflate) {
        ro.deflate = detail::ws::inbound_side(deflate->first, detail::ws::Role::server);
        wo.deflate = detail::ws::outbound_side(deflate->first, detail::ws::Role::server);
    }
    s.conn = conn;
    s.conn_keep = conn->shared_from_this();
    auto& progress = req.stream;
    progress.prepared = true;
    progress.head_only = true;
    progress.eof = true;
    progress.status = 101;

    conn->write(out);
    s.start(detail::ws::Role::server, std::move(ro), std::move(wo), chosen.value_or(std::string()),
            deflate.has_value());
    conn->take_over(std::static_pointer_cast<WsServerState>(core_));  // frames that came with the request are decoded now
    std::shared_ptr<WsServerState> keep = std::static_pointer_cast<WsServerState>(core_);
    try {
        co_await conn->drain();
    } catch (const std::system_error&) {
        // The client left at once: receive() reports it.
    }
}

WebSocketResponse::operator Response() const {
    Response r;
    r.status_ = 101;
    r.sent_ = true;
    return r;
}

}  // namespace aio::http
