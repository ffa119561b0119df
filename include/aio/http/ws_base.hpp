// The message API that aiohttp's two WebSocket classes share (aiohttp spells it out twice, in
// web_ws.py and client_ws.py): web.WebSocketResponse (web_ws.hpp) and ClientWebSocketResponse
// (client_ws.hpp) derive from this and add their handshake.
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
class WsCore;
}

/// The part of web.WebSocketResponse and ClientWebSocketResponse that does not care which side
/// it is on. Not made on its own: it is the base of those two.
///
/// Back-pressure: send_*() queue the whole frame, then wait while the connection's write
/// buffer is above its high-water mark, so a peer that does not read holds the sender up
/// instead of letting the buffer grow. Received messages wait in a queue until receive()
/// takes them; past 1 MiB queued the connection stops reading.
///
/// Cancel safety: a cancelled send_*() / ping() / pong() has queued its frame whole (or, if
/// cancelled before it started, nothing); only the wait for the buffer is cut short. A
/// cancelled receive() loses no message: the next receive() gets it, and the socket stays
/// usable. A cancelled close() has sent the close frame and closes the connection at once.
class WebSocketBase {
public:
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
    /// `await ws.close(code=1000, message=b"")`: sends a close frame, waits (the server's
    /// `timeout=`, the client's ClientWSTimeout::ws_close) for the peer's, then closes the
    /// connection. False if it was closed already. Throws std::invalid_argument for a code that
    /// may not be sent.
    Task<bool> close(uint16_t code = 1000, std::string_view message = {});

    /// `await ws.receive(timeout=None)`: the next message. TEXT, BINARY (and PING / PONG without
    /// autoping); CLOSE when the peer closes (autoclose has answered it); ERROR when the peer broke
    /// the protocol (the connection is closed with 1002, 1007 or 1009: `data` is the reason,
    /// `close_code` the code); CLOSING / CLOSED after that, or when the peer vanished (close
    /// code 1006). aio::TimeoutError past the timeout (the socket stays usable); RuntimeError
    /// when another task is in receive() on this socket already.
    Task<WSMessage> receive(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `await ws.receive_str()`: a TEXT message's text; WSMessageTypeError for another type.
    Task<std::string> receive_str(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `await ws.receive_bytes()`: a BINARY message's bytes; WSMessageTypeError for another type.
    Task<std::string> receive_bytes(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `await ws.receive_json()`: a TEXT message parsed (nlohmann::json::parse_error if not JSON).
    Task<nlohmann::json> receive_json(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    /// `async for msg in ws`: receive() until CLOSE, CLOSING or CLOSED (not yielded). The
    /// generator keeps the socket's state alive, so it may outlive this handle.
    [[nodiscard]] AsyncGenerator<WSMessage> iter();

    /// ws.closed: a close frame was sent or the connection is gone (or this handle is empty).
    [[nodiscard]] bool closed() const noexcept;
    /// ws.close_code: the peer's close code, the code we closed with on a protocol error, 1006
    /// when the connection ended without a close frame; nullopt while open.
    [[nodiscard]] std::optional<uint16_t> close_code() const noexcept;
    /// ws.ws_protocol (server) / ws.protocol (client): the chosen subprotocol ("" if none).
    [[nodiscard]] const std::string& protocol() const noexcept;
    /// ws.compress: whether permessage-deflate was agreed.
    [[nodiscard]] bool compress() const noexcept;

protected:
    WebSocketBase() = default;
    explicit WebSocketBase(std::shared_ptr<detail::WsCore> core) noexcept : core_(std::move(core)) {}
    WebSocketBase(const WebSocketBase&) = default;
    WebSocketBase(WebSocketBase&&) noexcept = default;
    WebSocketBase& operator=(const WebSocketBase&) = default;
    WebSocketBase& operator=(WebSocketBase&&) noexcept = default;
    ~WebSocketBase() = default;

    /// The state, or std::logic_error for a handle that was moved from.
    [[nodiscard]] const std::shared_ptr<detail::WsCore>& core() const;

    std::shared_ptr<detail::WsCore> core_;
};

}  // namespace aio::http
