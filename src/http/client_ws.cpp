// session.ws_connect and ClientWebSocketResponse (include/aio/http/client_ws.hpp): the client's
// handshake on a session connection, then the shared WebSocket core (ws_core.hpp) on it.
#include <cerrno>
#include <system_error>

#include "aio/http/client.hpp"
#include "client_internal.hpp"

namespace aio::http {

namespace detail {

/// The core on a client connection that a 101 took out of the pool.
class ClientWsState final : public WsCore {
public:
    ClientWsState(WsSettings s, std::shared_ptr<Connection> c) : WsCore(std::move(s)), conn(std::move(c)) {}

    // The connection holds us too (Connection::take_over) until connection_lost, when it lets
    // go and so do we (link_release): the cycle lasts as long as the socket.
    std::shared_ptr<Connection> conn;

protected:
    [[nodiscard]] EventLoop& link_loop() const noexcept override { return conn->loop(); }
    [[nodiscard]] bool link_open() const noexcept override { return conn && conn->is_open(); }
    [[nodiscard]] bool link_writable() const noexcept override { return conn->writable(); }
    void link_send_now(std::string_view data, std::string_view more) override {
        conn->write(data);
        if (!more.empty()) conn->write(more);  // never in practice: a client's frames are masked, so whole
    }
    Task<void> link_drain() override {
        std::shared_ptr<Connection> keep = conn;
        if (!keep) throw std::system_error(ECONNRESET, std::generic_category(), "connection lost");
        co_await keep->drain();
    }
    void link_close(bool abort) override {
        if (conn) conn->close_transport(abort);
    }
    void link_pause_reading(bool pause) override { conn->pause_upgraded_reading(pause); }
    void link_release() noexcept override { conn.reset(); }
};

namespace {

/// Closes the connection unless the handshake got through.
struct ConnectionGuard {
    std::shared_ptr<Connection> conn;
    ~ConnectionGuard() {
        if (conn) conn->close();
    }
};

Task<ClientWebSocketResponse> ws_connect(std::shared_ptr<SessionState> s, std::string text, ClientWSOptions opts) {
    if (!s || s->closed) throw RuntimeError("Session is closed");
    URL url;
    try {
        url = URL(text);
    } catch (const std::invalid_argument& e) {
        throw InvalidURL(text, e.what());
    }
    if (!url.is_absolute() && s->options.base_url) url = s->options.base_url->join(url);
    // The handshake is an HTTP request: ws and wss are http and https to the pool and the proxy.
    if (url.scheme() == "ws" || url.scheme() == "wss") {
        std::string mapped = "http";  // "ws://h" -> "http://h", "wss://h" -> "https://h"
        mapped += std::string_view(text).substr(2);
        url = URL(mapped);
    } else if (url.scheme() != "http" && url.scheme() != "https")
        throw InvalidURL(text, "not a ws(s) or http(s) URL");
    if (opts.compress != 0 && (opts.compress < 9 || opts.compress > 15))
        throw std::invalid_argument("ws_connect(): compress must be 0 or 9-15 (the window bits)");

    const std::string key = ws::make_key();
    ws::DeflateConfig offer;
    if (opts.compress) offer.client_max_window_bits = opts.compress;

    RequestOptions ro;
    ro.params = std::move(opts.params);
    ro.headers = std::move(opts.headers);
    ro.headers.set("Upgrade", "websocket");
    ro.headers.set("Connection", "Upgrade");
    ro.headers.set("Sec-WebSocket-Version", "13");
    ro.headers.set("Sec-WebSocket-Key", key);
    if (!opts.protocols.empty()) {
        std::string list;
        for (const auto& p : opts.protocols) {
            if (!list.empty()) list += ", ";
            list += p;
        }
        ro.headers.set("Sec-WebSocket-Protocol", list);
    }
    if (!opts.origin.empty()) ro.headers.set("Origin", opts.origin);
    if (opts.compress) ro.headers.set("Sec-WebSocket-Extensions", ws::deflate_offer(offer));
    ro.allow_redirects = false;
    ro.raise_for_status = false;
    ro.auth = std::move(opts.auth);
    ro.ssl = std::move(opts.ssl);
    ro.proxy = std::move(opts.proxy);
    ro.proxy_auth = std::move(opts.proxy_auth);
    ro.proxy_headers = std::move(opts.proxy_headers);

    ClientResponse resp = co_await upgrade_request(s, url, std::move(ro));
    const std::string shown = resp.url().human_repr();
    if (resp.status() != 101)
        throw WSServerHandshakeError(resp.status(), "Invalid response status", shown, resp.headers());
    ConnectionGuard guard{ResponseAccess::take_connection(resp)};
    const Headers& h = resp.headers();
    auto fail = [&](const char* why) { return WSServerHandshakeError(101, why, shown, h); };
    if (!header_lists_token(h, "Upgrade", "websocket")) throw fail("Invalid upgrade header");
    if (!header_lists_token(h, "Connection", "upgrade")) throw fail("Invalid connection header");
    if (h.getall("Sec-WebSocket-Accept").size() != 1 || *h.get("Sec-WebSocket-Accept") != ws::accept_key(key))
        throw fail("Invalid challenge response");
    std::string chosen;
    if (h.contains("Sec-WebSocket-Protocol")) {
        chosen = joined_header(h, "Sec-WebSocket-Protocol");
        bool offered = false;
        for (const auto& p : opts.protocols)
            offered = offered || p == chosen;
        if (!offered) throw fail("Invalid subprotocol: the server chose one not offered");
    }
    std::optional<ws::DeflateParams> deflate;
    if (h.contains("Sec-WebSocket-Extensions")) {
        if (!opts.compress) throw fail("Invalid extension: none was offered");
        try {
            deflate = ws::accept_deflate_response(joined_header(h, "Sec-WebSocket-Extensions"), offer);
        } catch (const std::invalid_argument& e) {
            throw WSServerHandshakeError(101, std::string("Invalid deflate extension: ") + e.what(), shown, h);
        }
    }
    if (!guard.conn->is_open()) throw ServerDisconnectedError("Server disconnected after the WebSocket handshake");

    WsSettings settings;
    settings.autoping = opts.autoping;
    settings.autoclose = opts.autoclose;
    settings.heartbeat = opts.heartbeat;
    settings.receive_timeout = opts.timeout.ws_receive;
    settings.close_timeout = opts.timeout.ws_close;
    ws::ReaderOptions rdo;
    rdo.max_msg_size = opts.max_msg_size;
    ws::WriterOptions wro;
    if (deflate) {
        rdo.deflate = ws::inbound_side(*deflate, ws::Role::client);
        wro.deflate = ws::outbound_side(*deflate, ws::Role::client);
    }
    auto state = std::make_shared<ClientWsState>(std::move(settings), guard.conn);
    state->start(ws::Role::client, std::move(rdo), std::move(wro), std::move(chosen), deflate.has_value());
    std::shared_ptr<Connection> conn = std::move(guard.conn);
    conn->take_over(state);  // frames that came with the 101 are decoded now
    co_return ClientWebSocketResponse(std::move(state));
}

}  // namespace
}  // namespace detail

Task<ClientWebSocketResponse> ClientSession::ws_connect(std::string url, ClientWSOptions opts) {
    return detail::ws_connect(s_, std::move(url), std::move(opts));
}

ClientWebSocketResponse::ClientWebSocketResponse(std::shared_ptr<detail::ClientWsState> state) noexcept
    : WebSocketBase(std::move(state)) {}

ClientWebSocketResponse& ClientWebSocketResponse::operator=(ClientWebSocketResponse&& o) noexcept {
    if (this != &o) {
        ClientWebSocketResponse old(std::move(*this));
        core_ = std::move(o.core_);
    }
    return *this;
}

ClientWebSocketResponse::~ClientWebSocketResponse() {
    if (!core_) return;
    auto& s = static_cast<detail::ClientWsState&>(*core_);
    if (!s.conn) return;
    try {
        s.close_now(static_cast<uint16_t>(WSCloseCode::OK), {});
    } catch (...) {  // out of memory for the frame: the connection goes without it
    }
    s.conn->close_transport(false);
}

}  // namespace aio::http
