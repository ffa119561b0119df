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
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aio/core/async_generator.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/web_response.hpp"
#include "aio/http/websocket.hpp"

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
/// then messages go both ways until either side closes. The handler returns it
/// (`co_return ws;`); anything still open then is closed (1000).
///
/// A handle: copies share one socket (hand one to the task that broadcasts to it). Use it on
/// the loop that serves the request.
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
class WebSocketResponse {
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
    /// options.timeout) for the peer's, then closes the connection. False if it was closed
    /// already. Throws std::invalid_argument for a code that may not be sent.
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
    /// `async for msg in ws`: receive() until CLOSE, CLOSING or CLOSED (not yielded).
    [[nodiscard]] AsyncGenerator<WSMessage> iter();

    /// ws.closed: a close frame was sent or the connection is gone.
    [[nodiscard]] bool closed() const noexcept;
    /// ws.close_code: the peer's close code, the code we closed with on a protocol error, 1006
    /// when the connection ended without a close frame; nullopt while open.
    [[nodiscard]] std::optional<uint16_t> close_code() const noexcept;
    /// ws.ws_protocol: the chosen subprotocol ("" if none).
    [[nodiscard]] const std::string& protocol() const noexcept;
    /// ws.compress: whether permessage-deflate was agreed.
    [[nodiscard]] bool compress() const noexcept;

    /// What the handler returns: a response marked as already sent (status 101).
    operator Response() const;  // NOLINT(google-explicit-constructor): `co_return ws;` reads as Python

private:
    std::shared_ptr<detail::WsServerState> s_;
};

}  // namespace aio::http
