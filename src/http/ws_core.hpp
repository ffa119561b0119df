// The part of a WebSocket that does not care which side it is on: the codec (ws_codec.hpp)
// driven by a connection's events, the receive queue, sending with back-pressure, the close
// handshake and the heartbeat. web.WebSocketResponse (web_ws.cpp) and ClientWebSocketResponse
// (client_ws.cpp) are this plus their handshake and their connection.
//
// Everything that arrives is decoded in the connection's data callback, not in receive(): pings
// are answered and the heartbeat sees traffic even while no task receives, and a receive() that
// is cancelled has taken nothing from the queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "aio/core/async_generator.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/handle.hpp"
#include "aio/core/task.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/websocket.hpp"
#include "aio/sync/event.hpp"
#include "ws_codec.hpp"

namespace aio::http::detail {

/// The options both sides share (aiohttp's keyword arguments of the same names).
struct WsSettings {
    WsSettings() {}  // not an aggregate: see docs/design.md, "Compiler notes"
    bool autoping = true;
    bool autoclose = true;
    std::optional<std::chrono::nanoseconds> heartbeat;
    std::optional<std::chrono::nanoseconds> receive_timeout;
    std::chrono::nanoseconds close_timeout = std::chrono::seconds(10);
};

class WsCore : public std::enable_shared_from_this<WsCore> {
public:
    explicit WsCore(WsSettings settings) : opt(std::move(settings)) {}
    virtual ~WsCore() { heartbeat_timer.cancel(); }
    WsCore(const WsCore&) = delete;
    WsCore& operator=(const WsCore&) = delete;

    // --- the connection's events, on the loop thread ---
    void on_data(std::string_view data);
    void on_eof() { input_ended(); }
    void on_lost();
    /// The transport's write buffer went below its low-water mark.
    void on_writable();

    /// The handshake is done: frames go both ways from here.
    void start(ws::Role role, ws::ReaderOptions ro, ws::WriterOptions wo, std::string chosen_protocol,
               bool deflate);

    // --- the message API both public classes forward to ---
    /// `what` names the caller in the errors ("send_str()").
    void check_usable(const char* what) const;
    Task<void> send_message(WSMsgType type, std::string_view data, bool compress, const char* what);
    Task<void> send_control(WSMsgType type, std::string_view data, const char* what);
    Task<bool> close(uint16_t code, std::string_view message);
    Task<WSMessage> receive(std::optional<std::chrono::nanoseconds> timeout);
    /// receive() without a coroutine when a message is waiting and nobody else receives:
    /// `async for`'s usual case.
    bool try_receive(WSMessage& out);
    /// Sends our close frame now if not sent yet (no waiting): a protocol error, a shutdown, a
    /// handle dropped while open.
    void close_now(uint16_t code, std::string_view reason);

    WsSettings opt;
    std::optional<ws::FrameReader> reader;
    std::optional<ws::FrameWriter> writer;
    std::string protocol;
    bool compress = false;
    bool started = false;
    bool closed = false;  // our close frame went out, or the connection is gone
    bool lost = false;
    std::optional<uint16_t> close_code;

protected:
    // --- the connection underneath ---
    [[nodiscard]] virtual EventLoop& link_loop() const noexcept = 0;
    /// Whether the connection may still be written to.
    [[nodiscard]] virtual bool link_open() const noexcept = 0;
    [[nodiscard]] virtual bool link_writable() const noexcept = 0;
    /// Writes `data`, then `more`, at once (control frames, outside any drain).
    virtual void link_send_now(std::string_view data, std::string_view more = {}) = 0;
    /// Waits while the write buffer is above its high-water mark; throws std::system_error once
    /// the connection is gone. Keeps the connection alive meanwhile.
    virtual Task<void> link_drain() = 0;
    /// Closes the connection after what is queued (abort: at once).
    virtual void link_close(bool abort) = 0;
    virtual void link_pause_reading(bool pause) = 0;
    /// The connection is gone: drop every hold on it.
    virtual void link_release() noexcept = 0;

private:
    /// Writes the frame in out_ at once; false when the write buffer is now above its
    /// high-water mark (drain() before the next).
    bool write_frame(std::string_view body = {});
    Task<void> drain();
    WSMessage pop();
    void push(WSMessage m);
    void input_ended();
    void protocol_error();
    void arm_heartbeat(int64_t at_ns);
    void on_heartbeat();
    void update_reading();

    // Frames are built here and copied into the connection's buffer at once, so sending a
    // message allocates nothing once the socket has sent one of its size.
    std::string out_;
    std::deque<WSMessage> inbox;
    size_t inbox_bytes = 0;
    Event arrived;      // set while the inbox has a message or no more will come
    Event peer_closed;  // the peer's close frame came, or the input ended
    bool receiving = false;
    bool closing = false;     // the peer's close frame came
    bool input_done = false;  // nothing more will be read
    bool reading_paused = false;

    TimerHandle heartbeat_timer;
    int64_t last_seen_ns = 0;
    bool pong_wait = false;  // a heartbeat ping is out and nothing arrived since
    bool held_pong = false;  // a pong waits for the write buffer to drain
    std::string pong_data;
};

/// Whether a comma-separated header (all its lines) lists `token`, compared without case: the
/// handshake's `Upgrade: websocket` and `Connection: upgrade`, on either side.
bool header_lists_token(const Headers& headers, std::string_view name, std::string_view token);
/// All of a header's lines as one comma-separated value (RFC 9110 5.3).
std::string joined_header(const Headers& headers, std::string_view name);

/// receive_str / receive_bytes: a message of type `want`, WSMessageTypeError for another.
Task<std::string> ws_receive_typed(std::shared_ptr<WsCore> core, WSMsgType want,
                                   std::optional<std::chrono::nanoseconds> timeout);
/// `async for msg in ws`: receive() until CLOSE, CLOSING or CLOSED (not yielded). The generator
/// holds the core, so it may outlive the handle it came from.
AsyncGenerator<WSMessage> ws_iterate(std::shared_ptr<WsCore> core);

}  // namespace aio::http::detail
