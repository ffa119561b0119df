// aiohttp.web.WebSocketResponse: the server side of a WebSocket (RFC 6455, with RFC 7692's
// permessage-deflate).
//
//   ws = web.WebSocketResponse(heartbeat=30)      aio::http::WebSocketOptions o; o.heartbeat = 30s;
//                                                 aio::http::WebSocketResponse ws(o);
//   await ws.prepare(request)                     co_await ws.prepare(request);
//   async for msg in ws: ...                      auto it = ws.iter();
//                                                 while (auto msg = co_await it.next()) ...
//   return ws                                     co_return ws;
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/web_response.hpp"
#include "aio/http/websocket.hpp"
#include "aio/http/ws_base.hpp"

namespace aio::http {

class Request;
namespace detail {
class WsServerState;
}

/// The keyword arguments of aiohttp's web.WebSocketResponse(...).
struct WebSocketOptions {
    WebSocketOptions() {}  // not an aggregate: see docs/design.md, "Compiler notes"
    /// protocols=: the subprotocols this server speaks; the first of the client's list that is
    /// here is chosen (protocol()). Empty: none is answered.
    std::vector<std::string> protocols;
    /// autoping=: answer pings with pongs and swallow pongs; receive() never returns them.
    bool autoping = true;
    /// autoclose=: answer the peer's close frame and close the connection as soon as it comes
    /// (receive() still returns it as CLOSE). Off: the handler answers with close().
    bool autoclose = true;
    /// heartbeat=: when nothing arrived for this long, ping; when nothing (a pong or anything
    /// else) arrives within half of it, the connection is closed (close_code() 1006).
    std::optional<std::chrono::nanoseconds> heartbeat;
    /// receive_timeout=: the default timeout of receive().
    std::optional<std::chrono::nanoseconds> receive_timeout;
    /// timeout=: how long close() waits for the peer's close frame (aiohttp: 10 s).
    std::chrono::nanoseconds timeout = std::chrono::seconds(10);
    /// max_msg_size=: the largest message received (after decompression); a bigger one closes
    /// the connection with 1009. 0: no limit.
    size_t max_msg_size = 4 * 1024 * 1024;
    /// compress=: accept a client's permessage-deflate offer.
    bool compress = true;
    /// aiocpp's addition: called with the request's Origin header ("" when it has none) during
    /// prepare(); false answers 403 (a browser page of another site cannot open the socket).
    std::function<bool(std::string_view origin)> check_origin;
};

/// web.WebSocketResponse. prepare() answers the upgrade (101) and takes the connection over;
/// then messages go both ways until either side closes (the message API, its back-pressure and
/// its cancel safety: ws_base.hpp). The handler returns it (`co_return ws;`); anything still
/// open then is closed (1000).
///
/// A handle: copies share one socket (hand one to the task that broadcasts to it). Use it on
/// the loop that serves the request.
class WebSocketResponse : public WebSocketBase {
public:
    explicit WebSocketResponse(WebSocketOptions options = {});

    /// `await ws.prepare(request)`: checks the handshake and answers 101. Throws HTTPException:
    /// 400 for a request that is not a WebSocket upgrade (not GET, no `Upgrade: websocket` or
    /// `Connection: Upgrade`, a missing or malformed Sec-WebSocket-Key), 426 with
    /// `Sec-WebSocket-Version: 13` for another version, 403 when check_origin refuses. A second
    /// call does nothing.
    Task<void> prepare(const Request& request);
    /// ws.can_prepare(request).ok: whether prepare() would accept the request's handshake.
    [[nodiscard]] bool can_prepare(const Request& request) const;
    [[nodiscard]] bool prepared() const noexcept;
    /// ws.headers: extra headers of the 101 answer (set them before prepare()).
    [[nodiscard]] Headers& headers() noexcept;

    /// What the handler returns: a response marked as already sent (status 101).
    operator Response() const;  // NOLINT(google-explicit-constructor): `co_return ws;` reads as Python

private:
    [[nodiscard]] detail::WsServerState& state() const noexcept;
};

}  // namespace aio::http
