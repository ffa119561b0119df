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
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "aio/core/async_generator.hpp"
#include "aio/core/task.hpp"
#include "aio/http/websocket.hpp"

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

/// aiohttp.ClientWebSocketResponse. Move-only; use it on the session's loop. Letting it go while
/// the socket is open sends a close frame (1000) and closes the connection without waiting for
/// the server's answer (aiohttp's `async with` waits: call close() for that).
///
/// Back-pressure: send_*() queue the whole frame, then wait while the connection's write buffer
/// is above its high-water mark. Received messages wait in a queue until receive() takes them;
/// past 1 MiB queued the connection stops reading.
///
/// Cancel safety: a cancelled send_*() / ping() / pong() has queued its frame whole (or, if
/// cancelled before it started, nothing); only the wait for the buffer is cut short. A cancelled
/// receive() loses no message: the next receive() gets it, and the socket stays usable. A
/// cancelled close() has sent the close frame and closes the connection at once.
class ClientWebSocketResponse {
public:
    ClientWebSocketResponse() = default;
    /// What ws_connect builds once the handshake is done.
    explicit ClientWebSocketResponse(std::shared_ptr<detail::ClientWsState> state) noexcept;
    ClientWebSocketResponse(ClientWebSocketResponse&&) noexcept = default;
    ClientWebSocketResponse& operator=(ClientWebSocketResponse&& o) noexcept;
    ClientWebSocketResponse(const ClientWebSocketResponse&) = delete;
    ClientWebSocketResponse& operator=(const ClientWebSocketResponse&) = delete;
    ~ClientWebSocketResponse();

    /// `await ws.send_str(data, compress=None)`: a TEXT message (std::invalid_argument unless
    /// `data` is UTF-8). `compress` false sends this one uncompressed. ConnectionResetError
    /// (std::system_error) once the socket is closed.
    Task<void> send_str(std::string_view data, std::optional<bool> compress = std::nullopt);
    /// `await ws.send_bytes(data, compress=None)`: a BINARY message.
    Task<void> send_bytes(std::string_view data, std::optional<bool> compress = std::nullopt);
    /// `await ws.send_json(data)`: data.dump() as a TEXT message.
    Task<void> send_json(const nlohmann::json& data, std::optional<bool> compress = std::nullopt);
    /// `await ws.ping(message=b"")` / `await ws.pong(message=b"")`: at most 125 bytes.
    Task<void> ping(std::string_view message = {});
    Task<void> pong(std::string_view message = {});
    /// `await ws.close(code=1000, message=b"")`: sends a close frame, waits (up to
    /// ClientWSTimeout::ws_close) for the server's, then closes the connection. False if it was
    /// closed already. Throws std::invalid_argument for a code that may not be sent.
    Task<bool> close(uint16_t code = 1000, std::string_view message = {});

    /// `await ws.receive(timeout=None)`: the next message, as WebSocketResponse::receive (TEXT,
    /// BINARY, PING / PONG without autoping, CLOSE, ERROR, then CLOSING / CLOSED). The default
    /// timeout is ClientWSTimeout::ws_receive; aio::TimeoutError past it (the socket stays
    /// usable); RuntimeError when another task is in receive() on this socket already.
    Task<WSMessage> receive(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `await ws.receive_str()`: a TEXT message's text; WSMessageTypeError for another type.
    Task<std::string> receive_str(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `await ws.receive_bytes()`: a BINARY message's bytes; WSMessageTypeError for another type.
    Task<std::string> receive_bytes(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `await ws.receive_json()`: a TEXT message parsed (nlohmann::json::parse_error if not JSON).
    Task<nlohmann::json> receive_json(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `async for msg in ws`: receive() until CLOSE, CLOSING or CLOSED (not yielded).
    [[nodiscard]] AsyncGenerator<WSMessage> iter();

    /// ws.closed: a close frame was sent or the connection is gone.
    [[nodiscard]] bool closed() const noexcept;
    /// ws.close_code: the server's close code, the code we closed with on a protocol error, 1006
    /// when the connection ended without a close frame; nullopt while open.
    [[nodiscard]] std::optional<uint16_t> close_code() const noexcept;
    /// ws.protocol: the subprotocol the server chose ("" if none).
    [[nodiscard]] const std::string& protocol() const noexcept;
    /// ws.compress: whether permessage-deflate was agreed.
    [[nodiscard]] bool compress() const noexcept;

private:
    std::shared_ptr<detail::ClientWsState> s_;
};

}  // namespace aio::http
