// The side-independent WebSocket machinery (ws_core.hpp).
#include "ws_core.hpp"

#include <cerrno>
#include <system_error>

#include "aio/core/timeout.hpp"
#include "content_type.hpp"

namespace aio::http::detail {

namespace {
// Past this many bytes of received messages not yet taken by receive(), the connection stops
// reading, so a peer cannot make us queue without bound.
constexpr size_t kInboxLimit = 1024 * 1024;

std::system_error socket_closed() {
    return std::system_error(ECONNRESET, std::generic_category(), "the WebSocket is closed");
}

Task<void> wait_event(Event& e) { co_await e.wait(); }

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

void WsCore::start(ws::Role role, ws::ReaderOptions ro, ws::WriterOptions wo, std::string chosen_protocol,
                   bool deflate) {
    reader.emplace(role, std::move(ro));
    writer.emplace(role, std::move(wo));
    protocol = std::move(chosen_protocol);
    compress = deflate;
    started = true;
    if (opt.heartbeat && opt.heartbeat->count() > 0 && !closed) {
        last_seen_ns = link_loop().clock_ns();
        arm_heartbeat(last_seen_ns + opt.heartbeat->count());
    }
}

void WsCore::on_lost() {
    lost = true;
    closed = true;
    input_ended();
    // The connection may be destroyed once we let go: nothing may reach it after this.
    link_release();
}

void WsCore::on_writable() {
    if (held_pong && link_open() && !lost) {
        held_pong = false;
        std::string frame;
        writer->pong(frame, pong_data);
        link_send_now(frame);
    }
}

void WsCore::update_reading() {
    const bool pause = inbox_bytes >= kInboxLimit;
    if (pause != reading_paused && link_open() && !lost) {
        reading_paused = pause;
        link_pause_reading(pause);
    }
}

void WsCore::on_data(std::string_view data) {
    if (input_done || !started) return;
    pong_wait = false;
    if (opt.heartbeat) last_seen_ns = link_loop().clock_ns();
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
                            if (link_writable()) on_writable();
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
                            link_close(false);
                        } else {
                            const uint16_t echo = m.close_code == 1005 ? uint16_t{1000} : m.close_code;
                            push(std::move(m));
                            // autoclose answers at once, not when receive() gets to it (aiohttp
                            // does it there): a task that only sends still completes the
                            // handshake, and learns of it at its next send.
                            if (opt.autoclose) {
                                close_now(echo, {});
                                input_done = true;
                                link_close(false);
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

void WsCore::push(WSMessage m) {
    inbox_bytes += m.data.size();
    inbox.push_back(std::move(m));
    arrived.set();
    update_reading();
}

void WsCore::protocol_error() {
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
    link_close(false);
}

void WsCore::input_ended() {
    heartbeat_timer.cancel();
    if (!input_done) {
        input_done = true;
        if (!closing && !close_code) close_code = static_cast<uint16_t>(WSCloseCode::ABNORMAL_CLOSURE);
    }
    arrived.set();
    peer_closed.set();
}

void WsCore::close_now(uint16_t code, std::string_view reason) {
    if (closed || lost || !started || !link_open()) {
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
    link_send_now(frame);
    // Whoever waits in receive() now gets CLOSED.
    arrived.set();
}

void WsCore::arm_heartbeat(int64_t at_ns) {
    heartbeat_timer.cancel();
    std::weak_ptr<WsCore> weak = weak_from_this();
    EventLoop& loop = link_loop();
    heartbeat_timer = loop.call_later(std::chrono::nanoseconds(at_ns - loop.clock_ns()), [weak] {
        if (auto self = weak.lock()) self->on_heartbeat();
    });
}

void WsCore::on_heartbeat() {
    if (closed || lost || input_done || !link_open()) return;
    const int64_t now = link_loop().clock_ns();
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
        link_close(true);
        return;
    }
    if (now - last_seen_ns < period) {
        arm_heartbeat(last_seen_ns + period);
        return;
    }
    std::string frame;
    writer->ping(frame);
    link_send_now(frame);
    pong_wait = true;
    arm_heartbeat(now + period / 2);
}

void WsCore::check_usable(const char* what) const {
    if (!started) throw RuntimeError(std::string(what) + ": call prepare() first");
    if (closed || lost || !link_open()) throw socket_closed();
}

Task<void> WsCore::send_message(WSMsgType type, std::string_view data, bool deflate, const char* what) {
    check_usable(what);
    out_.clear();
    std::string_view body = writer->message_apart(out_, type, data, deflate);
    if (!write_frame(body)) co_await drain();
}

Task<void> WsCore::send_control(WSMsgType type, std::string_view data, const char* what) {
    check_usable(what);
    out_.clear();
    if (type == WSMsgType::PING)
        writer->ping(out_, data);
    else
        writer->pong(out_, data);
    if (!write_frame()) co_await drain();
}

bool WsCore::write_frame(std::string_view body) {
    link_send_now(out_, body);
    // An idle socket should not hold on to the largest message it ever sent.
    if (out_.capacity() > 64 * 1024) out_ = std::string();
    if (lost || !link_open()) throw socket_closed();
    return link_writable();
}

Task<void> WsCore::drain() {
    std::shared_ptr<WsCore> keep = shared_from_this();
    try {
        co_await link_drain();
    } catch (const std::system_error&) {
        throw socket_closed();
    }
}

Task<bool> WsCore::close(uint16_t code, std::string_view message) {
    std::shared_ptr<WsCore> keep = shared_from_this();
    if (!started) throw RuntimeError("close(): call prepare() first");
    if (closed || lost) co_return false;
    if (!ws_close_code_allowed(code))
        throw std::invalid_argument("close(): code " + std::to_string(code) + " may not be sent");
    {
        std::string probe;  // the reason's checks (length, UTF-8) before anything is sent
        writer->close(probe, code, message);
    }
    close_now(code, message);
    // Queued messages will not be read: receive() answers CLOSED from now on, as aiohttp.
    inbox.clear();
    inbox_bytes = 0;
    update_reading();
    if (!closing && !input_done) {
        try {
            Task<void> w = wait_event(peer_closed);
            co_await aio::wait_for(std::move(w), opt.close_timeout);
        } catch (const TimeoutError&) {
            if (!close_code) close_code = static_cast<uint16_t>(WSCloseCode::ABNORMAL_CLOSURE);
        } catch (const CancelledError&) {
            if (!close_code) close_code = static_cast<uint16_t>(WSCloseCode::ABNORMAL_CLOSURE);
            if (link_open() && !lost) link_close(false);
            throw;
        }
    }
    if (!close_code) close_code = code;
    if (link_open() && !lost) link_close(false);
    co_return true;
}

WSMessage WsCore::pop() {
    WSMessage m = std::move(inbox.front());
    inbox.pop_front();
    inbox_bytes -= m.data.size();
    if (inbox.empty() && !input_done && !closed) arrived.clear();
    update_reading();
    return m;
}

bool WsCore::try_receive(WSMessage& out) {
    if (receiving || inbox.empty() || !started) return false;
    out = pop();
    return true;
}

Task<WSMessage> WsCore::receive(std::optional<std::chrono::nanoseconds> timeout) {
    std::shared_ptr<WsCore> keep = shared_from_this();
    if (!started) throw RuntimeError("receive(): call prepare() first");
    if (receiving) throw RuntimeError("Concurrent call to receive() is not allowed");
    receiving = true;
    struct Done {
        WsCore& s;
        ~Done() { s.receiving = false; }
    } done{*this};
    if (!timeout) timeout = opt.receive_timeout;
    for (;;) {
        if (!inbox.empty()) co_return pop();
        if (closed || input_done) co_return WSMessage(WSMsgType::CLOSED, {}, close_code.value_or(0));
        if (closing) co_return WSMessage(WSMsgType::CLOSING, {});
        arrived.clear();
        if (timeout) {
            Task<void> w = wait_event(arrived);
            co_await aio::wait_for(std::move(w), *timeout);
        } else {
            co_await arrived.wait();
        }
    }
}

Task<std::string> ws_receive_typed(std::shared_ptr<WsCore> core, WSMsgType want,
                                   std::optional<std::chrono::nanoseconds> timeout) {
    WSMessage m = co_await core->receive(timeout);
    if (m.type != want) {
        std::string what = "received a ";
        what += type_name(m.type);
        what += " message, not ";
        what += type_name(want);
        throw WSMessageTypeError(what);
    }
    co_return std::move(m.data);
}

bool header_lists_token(const Headers& headers, std::string_view name, std::string_view token) {
    for (std::string_view line : headers.getall(name)) {
        while (!line.empty()) {
            size_t comma = line.find(',');
            if (iequals(trim(line.substr(0, comma)), token)) return true;
            if (comma == std::string_view::npos) break;
            line.remove_prefix(comma + 1);
        }
    }
    return false;
}

std::string joined_header(const Headers& headers, std::string_view name) {
    std::string out;
    for (std::string_view v : headers.getall(name)) {
        if (!out.empty()) out += ", ";
        out += v;
    }
    return out;
}

AsyncGenerator<WSMessage> ws_iterate(std::shared_ptr<WsCore> core) {
    for (;;) {
        WSMessage m;
        if (!core->try_receive(m)) m = co_await core->receive(std::nullopt);
        if (m.type == WSMsgType::CLOSE || m.type == WSMsgType::CLOSING || m.type == WSMsgType::CLOSED) co_return;
        co_yield std::move(m);
    }
}

}  // namespace aio::http::detail
