// aiohttp.ClientWebSocketResponse: the client side of a WebSocket (RFC 6455, with RFC 7692's
// permessage-deflate), what ClientSession::ws_connect (include/aio/http/client.hpp) returns.
//
//   async with session.ws_connect(url) as ws:       auto ws = co_await session.ws_connect(url);
//       await ws.send_str("hi")                     co_await ws.send_str("hi");
//       async for msg in ws: ...                    auto it = ws.iter();
//                                                   while (auto msg = co_await it.next()) ...
//                                                   co_await ws.close();  // or let ws go
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "aio/http/websocket.hpp"
#include "aio/http/ws_base.hpp"

namespace aio::http {

namespace detail {
class ClientWsState;
}

/// aiohttp.ClientWSTimeout: ws_receive is the default timeout of receive() (nullopt: none),
/// ws_close how long close() waits for the server's close frame.
struct ClientWSTimeout {
    ClientWSTimeout() {}  // not an aggregate: see docs/design.md, "Compiler notes"
    std::optional<std::chrono::nanoseconds> ws_receive;
    std::chrono::nanoseconds ws_close = std::chrono::seconds(10);
};

/// aiohttp.ClientWebSocketResponse (the message API, its back-pressure and its cancel safety:
/// ws_base.hpp). Move-only; use it on the session's loop. Letting it go while the socket is
/// open sends a close frame (1000) and closes the connection without waiting for the server's
/// answer (aiohttp's `async with` waits: call close() for that). receive()'s default timeout is
/// ClientWSTimeout::ws_receive.
class ClientWebSocketResponse : public WebSocketBase {
public:
    ClientWebSocketResponse() = default;
    /// What ws_connect builds once the handshake is done.
    explicit ClientWebSocketResponse(std::shared_ptr<detail::ClientWsState> state) noexcept;
    ClientWebSocketResponse(ClientWebSocketResponse&&) noexcept = default;
    ClientWebSocketResponse& operator=(ClientWebSocketResponse&& o) noexcept;
    ClientWebSocketResponse(const ClientWebSocketResponse&) = delete;
    ClientWebSocketResponse& operator=(const ClientWebSocketResponse&) = delete;
    ~ClientWebSocketResponse();
};

}  // namespace aio::http
