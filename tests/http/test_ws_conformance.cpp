// WebSocket conformance in the spirit of the Autobahn test suite (its categories as a guide; the
// cases are written here). A case is what a raw peer sends, and what it must get back: echoes
// and pongs in order, then our side's close frame with a given code, then the end of the TCP
// connection, which neither the peer nor our application closes (it holds its socket until the
// peer is done): the WebSocket itself must. Every case runs against
//   WsConfServer: our server's echo handler, the peer a raw client sending masked frames, and
//   WsConfClient: ws_connect and an echo loop, the peer a raw server sending unmasked ones.
// What comes back is decoded by the codec in the peer's role, so a frame of ours that breaks the
// protocol (masking, a length not in its shortest form, a bad close code, a deflate window
// larger than agreed) fails the case too. Our side's own view is checked as well: the messages
// its application received and its close_code().
#include <gtest/gtest.h>

#include <aio/http/client.hpp>
#include <aio/http/web_ws.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "web_test_util.hpp"
#include "ws_codec.hpp"
#include "ws_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::ClientSession;
using aio::http::ClientWebSocketResponse;
using aio::http::ClientWSOptions;
using aio::http::WebSocketOptions;
using aio::http::WSMessage;
using aio::http::WSMsgType;
using aiotest::TestServer;
using aiotest::WsSeen;
namespace ws = aio::http::detail::ws;

namespace {

// How long the peer waits for anything (a message, the end of the connection). Generous: a
// correct side answers within milliseconds; a wrong one fails the case instead of hanging.
constexpr auto kWait = 5s;
// Our side's close timeout (server timeout=, client ws_close), for the cases where the peer
// never answers our close frame.
constexpr auto kCloseTimeout = 200ms;

// ---------------------------------------------------------------------------------------------
// The cases

// One frame as the raw peer sends it (masked when the peer is the client).
struct Frame {
    uint8_t opcode = ws::op_text;
    bool fin = true;
    uint8_t rsv = 0;  // 4: RSV1, 2: RSV2, 1: RSV3
    std::string payload;
    // Compressed with the peer's deflate stream as one message (RSV1 on its first frame), then
    // sent as this many frames.
    bool deflate = false;
    size_t fragments = 1;
    // Only this many bytes of the payload are sent, the header announcing all of it: what our side
    // must decide before the frame is complete. Nothing is sent after a cut frame.
    std::optional<size_t> cut;
    // Masked when the peer is the server, unmasked when it is the client.
    bool wrong_mask = false;
};

Frame text(std::string s, bool fin = true) {
    Frame f;
    f.payload = std::move(s);
    f.fin = fin;
    return f;
}
Frame binary(std::string s, bool fin = true) {
    Frame f = text(std::move(s), fin);
    f.opcode = ws::op_binary;
    return f;
}
Frame cont(std::string s, bool fin = true) {
    Frame f = text(std::move(s), fin);
    f.opcode = ws::op_continuation;
    return f;
}
Frame control(uint8_t opcode, std::string s) {
    Frame f = text(std::move(s));
    f.opcode = opcode;
    return f;
}
Frame ping(std::string s) { return control(ws::op_ping, std::move(s)); }
Frame pong(std::string s) { return control(ws::op_pong, std::move(s)); }
std::string code_bytes(uint16_t code) {
    std::string out;
    out.push_back(static_cast<char>(code >> 8));
    out.push_back(static_cast<char>(code & 0xff));
    return out;
}
Frame close_frame(uint16_t code, std::string reason = {}) { return control(ws::op_close, code_bytes(code) + reason); }
Frame with_rsv(Frame f, uint8_t rsv) {
    f.rsv = rsv;
    return f;
}
Frame deflated(Frame f, size_t fragments = 1) {
    f.deflate = true;
    f.fragments = fragments;
    return f;
}
Frame unfinished(Frame f) {
    f.fin = false;
    return f;
}
Frame wrongly_masked(Frame f) {
    f.wrong_mask = true;
    return f;
}
Frame cut(Frame f, size_t n) {
    f.cut = n;
    return f;
}

// permessage-deflate as both sides agree on it (RFC 7692 section 7.1).
struct Deflate {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    int server_max_window_bits = 15;
    int client_max_window_bits = 15;
};

// A step: frames written together (in `chunk`-byte pieces), or a message to receive next.
struct Step {
    std::vector<Frame> send;
    std::optional<WSMessage> expect;
};

struct Case {
    explicit Case(std::string n) : name(std::move(n)) {}
    std::string name;
    std::vector<Step> script;
    size_t chunk = 0;  // 0: each step in one write
    // Our side's close frame: its code, and whether our side sent it for a protocol error (then
    // its application sees ERROR with that code last).
    uint16_t close = 1000;
    bool protocol_error = false;
    std::optional<uint16_t> app_code;  // our close_code() when not `close`
    bool app_closes = false;           // our application closed (close() must return true)
    bool answer_close = false;         // the peer answers our close frame
    // The TEXT / BINARY messages our application receives, in order.
    std::vector<WSMessage> app_gets;
    size_t max_msg_size = 0;  // 0: the default
    std::optional<Deflate> deflate;
    bool server_only = false;  // a case our client cannot be put in (a window ws_connect cannot offer)

    Case& send(Frame f) {
        script.push_back(Step{{std::move(f)}, std::nullopt});
        return *this;
    }
    Case& send_all(std::vector<Frame> fs) {
        script.push_back(Step{std::move(fs), std::nullopt});
        return *this;
    }
    Case& expect(WSMsgType type, std::string data) {
        WSMessage m(type, std::move(data));
        if (type != WSMsgType::PONG) app_gets.push_back(m);
        script.push_back(Step{{}, std::move(m)});
        return *this;
    }
    Case& echo_text(std::string s) { return send(text(s)).expect(WSMsgType::TEXT, s); }
    Case& echo_binary(std::string s) { return send(binary(s)).expect(WSMsgType::BINARY, s); }
    // Our side answers a close frame the script sent with `answer`, and reports `code` (1005 for
    // a frame without one).
    Case& answered(uint16_t answer, uint16_t code) {
        close = answer;
        if (code != answer) app_code = code;
        return *this;
    }
    Case& peer_closes(Frame f, uint16_t answer, uint16_t code) { return send(std::move(f)).answered(answer, code); }
    Case& peer_closes(uint16_t code = 1000) { return peer_closes(close_frame(code), code, code); }
    Case& fails(uint16_t code) {
        close = code;
        protocol_error = true;
        return *this;
    }
    // Our application is asked to close with `code` (the echo's "close:<code>").
    Case& app_closes_with(uint16_t code, bool peer_answers) {
        std::string s = "close:" + std::to_string(code);
        send(text(s));
        app_gets.emplace_back(WSMsgType::TEXT, s);
        close = code;
        app_closes = true;
        answer_close = peer_answers;
        // Unanswered, close() gives up after its timeout: the connection ended without the
        // peer's close frame.
        if (!peer_answers) app_code = 1006;
        return *this;
    }
    Case& chunked(size_t n) {
        chunk = n;
        return *this;
    }
    Case& limit(size_t n) {
        max_msg_size = n;
        return *this;
    }
    Case& with_deflate(Deflate d) {
        deflate = d;
        return *this;
    }
};

// A message as a short line for comparisons: long data by its size and hash.
std::string describe(const WSMessage& m) {
    std::string out;
    switch (m.type) {
        case WSMsgType::TEXT:
            out = "TEXT";
            break;
        case WSMsgType::BINARY:
            out = "BINARY";
            break;
        case WSMsgType::PING:
            out = "PING";
            break;
        case WSMsgType::PONG:
            out = "PONG";
            break;
        case WSMsgType::CLOSE:
            out = "CLOSE " + std::to_string(m.close_code);
            break;
        case WSMsgType::ERROR:
            out = "ERROR " + std::to_string(m.close_code);
            break;
        case WSMsgType::CLOSED:
            out = "CLOSED";
            break;
        default:
            out = "type " + std::to_string(static_cast<int>(m.type));
            break;
    }
    // An ERROR's data is the reason, which the cases leave to the implementation.
    if (m.type == WSMsgType::CLOSE || m.type == WSMsgType::CLOSED || m.type == WSMsgType::ERROR) return out;
    if (m.data.size() <= 40) {
        out += " '";
        for (unsigned char c : m.data) {
            static const char* hex = "0123456789abcdef";
            if (c >= 0x20 && c < 0x7f && c != '\\') {
                out += static_cast<char>(c);
            } else {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            }
        }
        out += "'";
    } else {
        out += " " + std::to_string(m.data.size()) + " bytes #" + std::to_string(std::hash<std::string>{}(m.data));
    }
    return out;
}

std::string describe(const std::vector<WSMessage>& ms) {
    std::string out;
    for (const auto& m : ms)
        out += describe(m) + "\n";
    return out;
}

// ---------------------------------------------------------------------------------------------
// The raw peer

ws::DeflateConfig offer_of(const Deflate& d) {
    ws::DeflateConfig c;
    c.server_no_context_takeover = d.server_no_context_takeover;
    c.client_no_context_takeover = d.client_no_context_takeover;
    c.server_max_window_bits = d.server_max_window_bits;
    c.client_max_window_bits = d.client_max_window_bits;
    return c;
}

// What a server answers to agree on `d` (the client offered client_max_window_bits).
std::string answer_of(const Deflate& d) {
    std::string out = "permessage-deflate";
    if (d.server_no_context_takeover) out += "; server_no_context_takeover";
    if (d.client_no_context_takeover) out += "; client_no_context_takeover";
    if (d.server_max_window_bits < 15) out += "; server_max_window_bits=" + std::to_string(d.server_max_window_bits);
    if (d.client_max_window_bits < 15) out += "; client_max_window_bits=" + std::to_string(d.client_max_window_bits);
    return out;
}

ws::ReaderOptions reader_options(ws::Role role, const std::optional<ws::DeflateParams>& params) {
    ws::ReaderOptions o;
    o.max_msg_size = 0;
    if (params) o.deflate = ws::inbound_side(*params, role);
    return o;
}

// The raw end of the connection, driven by the case's script. A task reads
// the socket all along (pump), so what our side sent before closing is kept even when the
// connection then ends with a reset (the peer wrote after our side had closed).
struct Peer {
    Peer(aio::StreamReader r_, aio::StreamWriter w_, ws::Role role_, std::optional<ws::DeflateParams> params)
        : r(std::move(r_)), w(std::move(w_)), role(role_), reader(role_, reader_options(role_, params)) {
        if (params) deflater = std::make_unique<ws::Deflater>(ws::outbound_side(*params, role));
    }
    aio::StreamReader r;
    aio::StreamWriter w;
    ws::Role role;
    ws::FrameReader reader;
    std::unique_ptr<ws::Deflater> deflater;
    uint8_t next_key = 0;
    std::string in;  // read, not yet decoded
    bool ended = false;
    aio::Event got;  // `in` grew or the input ended

    std::string encode(const Frame& f) {
        std::string body = f.payload;
        uint8_t rsv = f.rsv;
        if (f.deflate) {
            body.clear();
            if (deflater && deflater->usable()) {
                deflater->compress(f.payload, body);
                rsv |= 4;
            } else {
                body = f.payload;  // no deflate agreed: the frame as it is
            }
        }
        std::string out;
        const size_t n = std::max<size_t>(f.fragments, 1);
        const size_t per = (body.size() + n - 1) / n;
        for (size_t i = 0; i < n; ++i) {
            const size_t at = std::min(body.size(), i * per);
            std::string_view piece = std::string_view(body).substr(at, std::min(per, body.size() - at));
            const uint8_t op = i == 0 ? f.opcode : ws::op_continuation;
            const bool fin = f.fin && i + 1 == n;
            const uint8_t bits = i == 0 ? rsv : 0;
            const bool mask = (role == ws::Role::client) != f.wrong_mask;
            out += header(op, fin, bits, piece.size(), mask);
            const size_t start = out.size();
            out += piece;
            if (mask) {
                const uint8_t key[4] = {0x5a, 0x3c, static_cast<uint8_t>(0x81 + next_key),
                                        static_cast<uint8_t>(next_key * 7)};
                ++next_key;
                out.insert(start, reinterpret_cast<const char*>(key), 4);
                ws::apply_mask(out.data() + start + 4, piece.size(), key, 0);
            }
            if (f.cut) {
                out.resize(out.size() - piece.size() + std::min(*f.cut, piece.size()));
                break;
            }
        }
        return out;
    }

    static std::string header(uint8_t op, bool fin, uint8_t rsv, size_t n, bool mask) {
        std::string h;
        h.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv << 4) | (op & 0x0f)));
        const uint8_t m = mask ? 0x80 : 0;
        if (n < 126) {
            h.push_back(static_cast<char>(m | n));
        } else if (n <= 0xffff) {
            h.push_back(static_cast<char>(m | 126));
            for (int s = 8; s >= 0; s -= 8)
                h.push_back(static_cast<char>((n >> s) & 0xff));
        } else {
            h.push_back(static_cast<char>(m | 127));
            for (int s = 56; s >= 0; s -= 8)
                h.push_back(static_cast<char>((static_cast<uint64_t>(n) >> s) & 0xff));
        }
        return h;
    }
};

aio::Task<void> wait_event(aio::Event& e) { co_await e.wait(); }

aio::Task<void> pump(Peer& p) {
    for (;;) {
        std::string chunk;
        try {
            chunk = co_await p.r.read(65536);
        } catch (const std::system_error&) {
            // A reset: our side closed with bytes of the peer's unread, as it may after an error.
        }
        if (chunk.empty()) {
            p.ended = true;
            p.got.set();
            co_return;
        }
        p.in += chunk;
        p.got.set();
    }
}

// Writes `bytes` in `chunk`-byte pieces (all at once for 0). False if our side closed first,
// which cases that fail fast expect.
aio::Task<bool> write_out(Peer& p, std::string bytes, size_t chunk) {
    try {
        if (chunk == 0) {
            p.w.write(bytes);
            co_await p.w.drain();
            co_return true;
        }
        for (size_t at = 0; at < bytes.size(); at += chunk) {
            if (p.ended) co_return false;
            p.w.write(std::string_view(bytes).substr(at, chunk));
            co_await p.w.drain();
            // A turn of the loop: our side reads this piece before the next is written.
            co_await aio::sleep(0s);
        }
    } catch (const std::exception&) {
        co_return false;
    }
    co_return true;
}

// The next message our side sent; CLOSED at the end of the connection; ERROR for a frame the
// peer's codec rejects, or for nothing within kWait.
aio::Task<WSMessage> next_message(Peer& p) {
    for (;;) {
        if (!p.in.empty() && p.reader.state() == ws::FrameReader::State::reading) p.in.erase(0, p.reader.feed(p.in));
        switch (p.reader.state()) {
            case ws::FrameReader::State::message:
                co_return p.reader.take();
            case ws::FrameReader::State::failed:
                co_return WSMessage(WSMsgType::ERROR, "the peer's codec: " + p.reader.error().reason,
                                    p.reader.error().code);
            case ws::FrameReader::State::closed:
                co_return WSMessage(WSMsgType::CLOSED, {});
            case ws::FrameReader::State::reading:
                break;
        }
        if (p.ended) co_return WSMessage(WSMsgType::CLOSED, {});
        p.got.clear();
        try {
            co_await aio::wait_for(wait_event(p.got), kWait);
        } catch (const aio::TimeoutError&) {
            co_return WSMessage(WSMsgType::ERROR, "nothing came within the timeout");
        }
    }
}

// Runs the script, then checks our side's close frame and that it ends the connection.
aio::Task<void> play(Peer& p, const Case& c) {
    auto reading = aio::create_task(pump(p));
    bool stopped = false;
    for (const Step& s : c.script) {
        if (!s.send.empty() && !stopped) {
            std::string bytes;
            for (const Frame& f : s.send) {
                bytes += p.encode(f);
                if (f.cut) {
                    stopped = true;
                    break;
                }
            }
            co_await write_out(p, std::move(bytes), c.chunk);
        }
        if (s.expect) {
            WSMessage m = co_await next_message(p);
            EXPECT_EQ(describe(m), describe(*s.expect));
        }
    }
    WSMessage m = co_await next_message(p);
    EXPECT_EQ(describe(m), "CLOSE " + std::to_string(c.close));
    if (m.type == WSMsgType::CLOSE) {
        // Whatever reason our side gave is UTF-8 (the peer's codec checked it).
        if (c.answer_close) {
            Frame answer = close_frame(c.close);
            co_await write_out(p, p.encode(answer), 0);
        }
        // Our side ends the connection although the peer keeps its end open, and sends nothing
        // after its close frame.
        while (!p.ended) {
            p.got.clear();
            try {
                co_await aio::wait_for(wait_event(p.got), kWait);
            } catch (const aio::TimeoutError&) {
                break;
            }
        }
        EXPECT_TRUE(p.ended) << "our side kept the connection open after its close frame";
        EXPECT_EQ(p.in.size(), 0u) << "bytes after the close frame";
    }
    p.w.close();
    co_await reading;
}

// Our side's application: what it received, and how it ended.
void check_app(const Case& c, const WsSeen& seen) {
    std::vector<WSMessage> data;
    for (const auto& m : seen.messages)
        if (m.type == WSMsgType::TEXT || m.type == WSMsgType::BINARY) data.push_back(m);
    EXPECT_EQ(describe(data), describe(c.app_gets));
    if (c.protocol_error) {
        ASSERT_FALSE(seen.messages.empty());
        EXPECT_EQ(describe(seen.messages.back()), "ERROR " + std::to_string(c.close)) << seen.messages.back().data;
    } else {
        for (const auto& m : seen.messages)
            EXPECT_NE(m.type, WSMsgType::ERROR) << m.data;
    }
    EXPECT_EQ(seen.close_code, std::optional<uint16_t>(c.app_code.value_or(c.close)));
    if (c.app_closes) {
        EXPECT_TRUE(seen.close_result);
    }
}

aio::Task<void> wait_done(aio::Event& done, const char* who) {
    try {
        co_await aio::wait_for(wait_event(done), kWait);
    } catch (const aio::TimeoutError&) {
        ADD_FAILURE() << who << " did not finish";
    }
}

// ---------------------------------------------------------------------------------------------
// The two targets

const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";

std::string header_value(const std::string& head, const std::string& name) {
    const std::string needle = "\r\n" + name + ": ";
    size_t at = head.find(needle);
    if (at == std::string::npos) return {};
    at += needle.size();
    return head.substr(at, head.find("\r\n", at) - at);
}

aio::Task<void> against_server(const Case& c) {
    TestServer s;
    auto seen = std::make_shared<WsSeen>();
    seen->hold = true;
    WebSocketOptions o;
    if (c.max_msg_size) o.max_msg_size = c.max_msg_size;
    o.timeout = kCloseTimeout;
    add_ws_echo(s.app, seen, o);
    co_await s.start();
    auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
    std::string request =
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
    request += kKey;
    request += "\r\nSec-WebSocket-Version: 13\r\n";
    if (c.deflate) request += "Sec-WebSocket-Extensions: " + ws::deflate_offer(offer_of(*c.deflate)) + "\r\n";
    request += "\r\n";
    w.write(request);
    std::string head = co_await r.readuntil("\r\n\r\n");
    EXPECT_EQ(aiotest::status_of(head), 101) << head;
    std::optional<ws::DeflateParams> params;
    if (c.deflate) {
        const std::string answer = header_value(head, "Sec-WebSocket-Extensions");
        EXPECT_EQ(answer, answer_of(*c.deflate)) << head;
        params = ws::accept_deflate_response(answer, offer_of(*c.deflate));
        EXPECT_TRUE(params.has_value());
    }
    {
        Peer p(std::move(r), std::move(w), ws::Role::client, params);
        co_await play(p, c);
    }
    seen->release.set();
    co_await wait_done(seen->done, "the server's handler");
    co_await s.stop();
    EXPECT_EQ(seen->compress, c.deflate.has_value());
    check_app(c, *seen);
}

// Our client: ws_connect, then an echo with the server's "close:<code>" (add_ws_echo).
aio::Task<void> client_echo(std::string url, ClientWSOptions o, std::shared_ptr<WsSeen> seen,
                            std::shared_ptr<std::string> error) {
    ClientSession session;
    try {
        ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
        seen->compress = ws.compress();
        co_await ws_echo_loop(ws, seen);
        co_await seen->release.wait();  // the socket kept open by its handle: see WsSeen::hold
    } catch (const std::exception& e) {
        *error = e.what();
    }
    co_await session.close();
    seen->done.set();
}

// The raw server's one connection, handed to the test once it has answered the handshake.
struct Handoff {
    std::optional<aio::StreamPair> streams;
    aio::Event ready;
    aio::Event release;  // the connection may go (start_server closes it when the callback returns)
};

aio::Task<void> against_client(const Case& c) {
    auto handoff = std::make_shared<Handoff>();
    const std::string extensions = c.deflate ? "Sec-WebSocket-Extensions: " + answer_of(*c.deflate) + "\r\n" : "";
    aio::ClientConnected cb = [handoff, extensions](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<void> {
        std::string head = co_await r.readuntil("\r\n\r\n");
        w.write(aiotest::answer_101(ws::accept_key(header_value(head, "Sec-WebSocket-Key")), extensions));
        co_await w.drain();
        handoff->streams.emplace(aio::StreamPair{r, w});
        handoff->ready.set();
        co_await handoff->release.wait();
    };
    aio::Server server = co_await aio::start_server(std::move(cb), "127.0.0.1", 0);
    ClientWSOptions o;
    if (c.max_msg_size) o.max_msg_size = c.max_msg_size;
    o.timeout.ws_close = kCloseTimeout;
    if (c.deflate) o.compress = c.deflate->client_max_window_bits;
    auto seen = std::make_shared<WsSeen>();
    auto error = std::make_shared<std::string>();
    auto client =
        aio::create_task(client_echo("ws://127.0.0.1:" + std::to_string(server.port()) + "/", o, seen, error));
    co_await wait_done(handoff->ready, "the handshake");
    if (handoff->streams) {
        std::optional<ws::DeflateParams> params;
        if (c.deflate) params = ws::accept_deflate_response(answer_of(*c.deflate), offer_of(*c.deflate));
        Peer p(handoff->streams->reader, handoff->streams->writer, ws::Role::server, params);
        co_await play(p, c);
    }
    seen->release.set();
    co_await wait_done(seen->done, "the client");
    handoff->release.set();
    co_await client;
    server.close();
    co_await server.wait_closed();
    EXPECT_EQ(*error, "");
    EXPECT_EQ(seen->compress, c.deflate.has_value());
    check_app(c, *seen);
}

enum class Target { server, client };

void run_cases(Target target, const std::vector<Case>& cases) {
    for (const Case& c : cases) {
        if (target == Target::client && c.server_only) continue;
        SCOPED_TRACE(c.name);
        aiotest::run_net(target == Target::server ? against_server(c) : against_client(c));
    }
}

#define WS_CONF(Name, cases)                                         \
    TEST(WsConfServer, Name) { run_cases(Target::server, cases()); } \
    TEST(WsConfClient, Name) { run_cases(Target::client, cases()); }

// ---------------------------------------------------------------------------------------------
// 1. Framing: the three length encodings, empty payloads, and frames arriving a byte at a time.

std::string pattern(size_t n, uint32_t seed = 1) {
    // Bytes that do not compress away, so a deflate window shows (a simple LCG).
    std::string s(n, '\0');
    for (auto& ch : s) {
        seed = seed * 1103515245u + 12345u;
        ch = static_cast<char>('a' + (seed >> 16) % 26);
    }
    return s;
}

std::vector<Case> framing_cases() {
    std::vector<Case> out;
    for (size_t n : {size_t{0}, size_t{125}, size_t{126}, size_t{127}, size_t{65535}, size_t{65536}}) {
        const std::string s = pattern(n);
        const size_t slow = n <= 127 ? 1 : 997;
        out.push_back(Case("1.1 text " + std::to_string(n)).echo_text(s).peer_closes());
        out.push_back(Case("1.1 text " + std::to_string(n) + " in pieces of " + std::to_string(slow))
                          .echo_text(s)
                          .peer_closes()
                          .chunked(slow));
        out.push_back(Case("1.2 binary " + std::to_string(n)).echo_binary(std::string(n, '\xfe')).peer_closes());
        out.push_back(Case("1.2 binary " + std::to_string(n) + " in pieces of " + std::to_string(slow))
                          .echo_binary(std::string(n, '\0'))
                          .peer_closes()
                          .chunked(slow));
    }
    // Several messages in one write, and a 4 MiB - 1 one (the default limit is 4 MiB).
    out.push_back(Case("1.3 three messages in one write")
                      .send_all({text("a"), binary("b"), text("c")})
                      .expect(WSMsgType::TEXT, "a")
                      .expect(WSMsgType::BINARY, "b")
                      .expect(WSMsgType::TEXT, "c")
                      .peer_closes());
    out.push_back(Case("1.4 binary of 4 MiB - 1").echo_binary(pattern(4 * 1024 * 1024 - 1)).peer_closes());
    // A client masks every frame, a server none (RFC 6455 5.1).
    out.push_back(Case("1.5 text masked the wrong way").send(wrongly_masked(text("x"))).fails(1002));
    out.push_back(Case("1.6 ping masked the wrong way after an echo")
                      .echo_text("fine")
                      .send(wrongly_masked(ping("x")))
                      .fails(1002));
    out.push_back(Case("1.7 close masked the wrong way").send(wrongly_masked(close_frame(1000))).fails(1002));
    return out;
}
WS_CONF(Framing, framing_cases)

// ---------------------------------------------------------------------------------------------
// 2. Pings and pongs

std::vector<Case> ping_cases() {
    std::vector<Case> out;
    out.push_back(Case("2.1 ping without payload").send(ping("")).expect(WSMsgType::PONG, "").peer_closes());
    out.push_back(
        Case("2.2 ping with text").send(ping("Hello, world!")).expect(WSMsgType::PONG, "Hello, world!").peer_closes());
    out.push_back(Case("2.3 ping with binary")
                      .send(ping(std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8)))
                      .expect(WSMsgType::PONG, std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8))
                      .peer_closes());
    out.push_back(Case("2.4 ping of 125 bytes")
                      .send(ping(std::string(125, '\xfe')))
                      .expect(WSMsgType::PONG, std::string(125, '\xfe'))
                      .peer_closes());
    out.push_back(Case("2.5 ping of 126 bytes").send(ping(std::string(126, '\xfe'))).fails(1002));
    out.push_back(Case("2.6 ping of 125 bytes in 1-byte pieces")
                      .send(ping(std::string(125, 'p')))
                      .expect(WSMsgType::PONG, std::string(125, 'p'))
                      .peer_closes()
                      .chunked(1));
    out.push_back(Case("2.7 unsolicited pong").send(pong("unasked")).echo_text("after").peer_closes());
    out.push_back(Case("2.8 unsolicited pong, then ping")
                      .send_all({pong("unasked"), ping("asked")})
                      .expect(WSMsgType::PONG, "asked")
                      .peer_closes());
    // Pings in a row, each answered once their turn comes (2.10: 10 of them, in one write and
    // byte by byte). Only the last must be answered if they pile up (RFC 6455 5.5.3): each is
    // waited for here, so none piles up.
    {
        Case c("2.10 ten pings one by one");
        for (int i = 0; i < 10; ++i)
            c.send(ping("p" + std::to_string(i))).expect(WSMsgType::PONG, "p" + std::to_string(i));
        out.push_back(std::move(c.peer_closes()));
        Case d("2.11 ten pings one by one, in 1-byte pieces");
        for (int i = 0; i < 10; ++i)
            d.send(ping("p" + std::to_string(i))).expect(WSMsgType::PONG, "p" + std::to_string(i));
        out.push_back(std::move(d.peer_closes().chunked(1)));
    }
    out.push_back(Case("2.12 ping inside a fragmented message")
                      .send_all({text("frag", false), ping("between"), cont("mented")})
                      .expect(WSMsgType::PONG, "between")
                      .expect(WSMsgType::TEXT, "fragmented")
                      .peer_closes());
    out.push_back(Case("2.13 ping after the close frame is not answered")
                      .send_all({close_frame(1000), ping("late")})
                      .answered(1000, 1000));
    return out;
}
WS_CONF(PingPong, ping_cases)

// ---------------------------------------------------------------------------------------------
// 3. Reserved bits, with no extension agreed

std::vector<Case> rsv_cases() {
    std::vector<Case> out;
    for (uint8_t rsv = 1; rsv <= 7; ++rsv) {
        const std::string bits = std::to_string(rsv);
        out.push_back(Case("3.1 text with RSV " + bits).send(with_rsv(text("x"), rsv)).fails(1002));
        out.push_back(Case("3.2 binary with RSV " + bits + " after an echo")
                          .echo_text("fine")
                          .send(with_rsv(binary("x"), rsv))
                          .fails(1002));
        out.push_back(Case("3.3 ping with RSV " + bits).send(with_rsv(ping("x"), rsv)).fails(1002));
        out.push_back(Case("3.4 close with RSV " + bits).send(with_rsv(close_frame(1000), rsv)).fails(1002));
    }
    out.push_back(Case("3.5 continuation with RSV 2").send_all({text("a", false), with_rsv(cont("b"), 2)}).fails(1002));
    out.push_back(Case("3.6 text with RSV 1, byte by byte").send(with_rsv(text("abc"), 4)).fails(1002).chunked(1));
    return out;
}
WS_CONF(ReservedBits, rsv_cases)

// ---------------------------------------------------------------------------------------------
// 4. Opcodes

std::vector<Case> opcode_cases() {
    std::vector<Case> out;
    for (uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
        const std::string name = std::to_string(op);
        out.push_back(Case("4.1 opcode " + name).send(control(op, "")).fails(1002));
        out.push_back(Case("4.2 opcode " + name + " with payload after an echo")
                          .echo_text("fine")
                          .send(control(op, "payload"))
                          .fails(1002));
    }
    return out;
}
WS_CONF(Opcodes, opcode_cases)

// ---------------------------------------------------------------------------------------------
// 5. Fragmentation

std::vector<Case> fragmentation_cases() {
    std::vector<Case> out;
    out.push_back(Case("5.1 ping in fragments").send(unfinished(ping("a"))).fails(1002));
    out.push_back(Case("5.2 close in fragments").send(unfinished(close_frame(1000))).fails(1002));
    out.push_back(Case("5.3 text in 2 fragments")
                      .send_all({text("frag", false), cont("mented")})
                      .expect(WSMsgType::TEXT, "fragmented")
                      .peer_closes());
    out.push_back(Case("5.4 binary in 2 fragments, one per write")
                      .send(binary("\x01\x02", false))
                      .send(cont("\x03"))
                      .expect(WSMsgType::BINARY, "\x01\x02\x03")
                      .peer_closes());
    {
        std::vector<Frame> frames{text("", false)};
        std::string all;
        for (int i = 0; i < 40; ++i) {
            frames.push_back(cont(std::to_string(i), false));
            all += std::to_string(i);
        }
        frames.push_back(cont(""));
        out.push_back(Case("5.5 text in 42 fragments, empty first and last, byte by byte")
                          .send_all(frames)
                          .expect(WSMsgType::TEXT, all)
                          .peer_closes()
                          .chunked(1));
    }
    out.push_back(Case("5.6 pong and ping inside a fragmented message")
                      .send_all({text("a", false), pong("ignored"), cont("b", false), ping("p"), cont("c")})
                      .expect(WSMsgType::PONG, "p")
                      .expect(WSMsgType::TEXT, "abc")
                      .peer_closes());
    out.push_back(Case("5.7 ping inside a fragmented message, one frame per write")
                      .send(text("a", false))
                      .send(ping("p"))
                      .expect(WSMsgType::PONG, "p")
                      .send(cont("b"))
                      .expect(WSMsgType::TEXT, "ab")
                      .peer_closes());
    out.push_back(Case("5.8 continuation without a message (fin)").send(cont("x")).fails(1002));
    out.push_back(Case("5.9 continuation without a message (not fin)").send(cont("x", false)).fails(1002));
    out.push_back(Case("5.10 continuation after a whole message").echo_text("whole").send(cont("x")).fails(1002));
    out.push_back(Case("5.11 text while a text is open").send_all({text("a", false), text("b")}).fails(1002));
    out.push_back(Case("5.12 binary while a text is open").send_all({text("a", false), binary("b")}).fails(1002));
    out.push_back(Case("5.13 close inside a fragmented message").send_all({text("never", false)}).peer_closes());
    return out;
}
WS_CONF(Fragmentation, fragmentation_cases)

// ---------------------------------------------------------------------------------------------
// 6. UTF-8

const std::vector<std::string> kValidUtf8 = {
    "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",  // κόσμε
    std::string("\x00", 1),
    "\x7f",
    "\xc2\x80",          // U+0080
    "\xdf\xbf",          // U+07FF
    "\xe0\xa0\x80",      // U+0800
    "\xed\x9f\xbf",      // U+D7FF, just before the surrogates
    "\xee\x80\x80",      // U+E000, just after them
    "\xef\xbf\xbd",      // U+FFFD
    "\xef\xbf\xbf",      // U+FFFF
    "\xf0\x90\x80\x80",  // U+10000
    "\xf0\x9d\x84\x9e",  // U+1D11E
    "\xf4\x8f\xbf\xbf",  // U+10FFFF, the last
};

// Bad at some byte before the message's end: the first four fail wherever it ends.
const std::vector<std::string> kInvalidUtf8 = {
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",  // κόσμε, U+D800, "edited"
    "\xc0\xaf",                                                                          // overlong '/'
    "\xe0\x80\xaf",                                                                      // overlong '/', 3 bytes
    "\xf0\x80\x80\xaf",                                                                  // overlong '/', 4 bytes
    "\xc1\xbf",                                                                          // overlong U+007F
    "\xe0\x9f\xbf",                                                                      // overlong U+07FF
    "\xf0\x8f\xbf\xbf",                                                                  // overlong U+FFFF
    "\xed\xa0\x80",                                                                      // U+D800
    "\xed\xbf\xbf",                                                                      // U+DFFF
    "\xed\xa0\x80\xed\xb0\x80",  // a surrogate pair, encoded as two
    "\xf4\x90\x80\x80",          // U+110000
    "\xf7\xbf\xbf\xbf",          // U+1FFFFF
    "\xf8\x88\x80\x80\x80",      // a 5-byte form
    "\xfc\x84\x80\x80\x80\x80",  // a 6-byte form
    "\x80",                      // a lone continuation byte
    "a\xbf"
    "b",
    "\xc2\x41",  // a start byte, then no continuation
    "\xfe",
    "\xff",
    "\xfe\xff",
};

// Well-formed up to the end, where a sequence stops short.
const std::vector<std::string> kTruncatedUtf8 = {
    "\xce",
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce",  // κόσμ, then half a ε
    "\xe2\x82",                                  // two thirds of €
    "\xf0\x9d\x84",                              // three quarters of U+1D11E
};

std::string hex_of(const std::string& s) {
    std::string out;
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : s) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

std::vector<Case> utf8_cases() {
    std::vector<Case> out;
    for (const std::string& s : kValidUtf8) {
        // Whole, in two fragments split at every byte, a byte per fragment, a byte per write.
        Case c("6.1 valid " + hex_of(s));
        c.echo_text(s);
        for (size_t at = 1; at < s.size(); ++at)
            c.send_all({text(s.substr(0, at), false), cont(s.substr(at))}).expect(WSMsgType::TEXT, s);
        std::vector<Frame> bytes{text("", false)};
        for (char ch : s)
            bytes.push_back(cont(std::string(1, ch), false));
        bytes.push_back(cont(""));
        c.send_all(bytes).expect(WSMsgType::TEXT, s);
        out.push_back(std::move(c.peer_closes()));
        out.push_back(
            std::move(Case("6.2 valid " + hex_of(s) + ", byte by byte").echo_text(s).peer_closes().chunked(1)));
    }
    for (const std::string& s : kInvalidUtf8) {
        out.push_back(Case("6.3 invalid " + hex_of(s)).send(text(s)).fails(1007));
        // Detected however the message is split.
        for (size_t at = 1; at < s.size(); ++at)
            out.push_back(Case("6.4 invalid " + hex_of(s) + " split at " + std::to_string(at))
                              .send_all({text(s.substr(0, at), false), cont(s.substr(at))})
                              .fails(1007));
        // And before the message ends: no more fragments come.
        out.push_back(
            Case("6.5 invalid " + hex_of(s) + " in an unfinished message").send(text(s + "more", false)).fails(1007));
        out.push_back(Case("6.6 invalid " + hex_of(s) + ", byte by byte").send(text(s)).fails(1007).chunked(1));
    }
    for (const std::string& s : kTruncatedUtf8) {
        out.push_back(Case("6.7 truncated " + hex_of(s)).send(text(s)).fails(1007));
        out.push_back(
            Case("6.8 truncated " + hex_of(s) + " in fragments").send_all({text(s, false), cont("")}).fails(1007));
        // Completed by the next fragment: valid.
        if (s.back() == '\xce')
            out.push_back(Case("6.9 " + hex_of(s) + " completed in the next fragment")
                              .send_all({text(s, false), cont("\xb5")})
                              .expect(WSMsgType::TEXT, s + "\xb5")
                              .peer_closes());
    }
    out.push_back(Case("6.10 invalid UTF-8 in a close reason").send(close_frame(1000, "ok\xed\xa0\x80")).fails(1007));
    out.push_back(Case("6.11 truncated UTF-8 in a close reason").send(close_frame(1000, "ok\xce")).fails(1007));
    out.push_back(Case("6.12 binary is not UTF-8 checked").echo_binary("\xff\xfe\xed\xa0\x80").peer_closes());
    return out;
}
WS_CONF(Utf8, utf8_cases)

// ---------------------------------------------------------------------------------------------
// 7. The close handshake

std::vector<Case> close_cases() {
    std::vector<Case> out;
    out.push_back(Case("7.1 close without payload").peer_closes(control(ws::op_close, ""), 1000, 1005));
    out.push_back(Case("7.2 close with a code").peer_closes(1000));
    out.push_back(
        Case("7.3 close with a code and a reason").peer_closes(close_frame(1001, "going \xc3\xa0 away"), 1001, 1001));
    out.push_back(
        Case("7.4 close with the longest reason").peer_closes(close_frame(1000, std::string(123, 'r')), 1000, 1000));
    out.push_back(
        Case("7.5 close with a reason 1 byte too long").send(close_frame(1000, std::string(124, 'r'))).fails(1002));
    out.push_back(Case("7.6 close with a 1-byte payload").send(control(ws::op_close, "\x03")).fails(1002));
    for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535})
        out.push_back(Case("7.7 invalid close code " + std::to_string(code)).send(close_frame(code)).fails(1002));
    for (uint16_t code :
         {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999})
        out.push_back(Case("7.8 close code " + std::to_string(code) + " echoed").peer_closes(code));
    out.push_back(Case("7.9 data after the close frame is ignored")
                      .send_all({close_frame(1000), text("after")})
                      .answered(1000, 1000));
    out.push_back(Case("7.10 close after an echo, byte by byte").echo_text("x").peer_closes(3000).chunked(1));
    out.push_back(Case("7.13 two close frames").send_all({close_frame(1000), close_frame(1001)}).answered(1000, 1000));
    out.push_back(Case("7.14 close between two fragments")
                      .send_all({text("a", false), close_frame(1000), cont("b")})
                      .answered(1000, 1000));
    // Autoclose answers the close frame at once: the application still receives the message that
    // came before it, but may not echo it any more.
    {
        Case c("7.15 a 256 KiB message, the close frame and a ping in one write");
        const std::string big = pattern(256 * 1024);
        c.send_all({binary(big), close_frame(1000), ping("late")}).answered(1000, 1000);
        c.app_gets.emplace_back(WSMsgType::BINARY, big);
        out.push_back(std::move(c));
    }
    // Our application closes: the peer answers, or keeps the TCP connection open without a word.
    out.push_back(Case("7.11 our close, answered").echo_text("x").app_closes_with(4000, true));
    out.push_back(Case("7.12 our close, never answered").app_closes_with(4001, false));
    return out;
}
WS_CONF(Close, close_cases)

// ---------------------------------------------------------------------------------------------
// 9. Limits: max_msg_size = 1000

std::vector<Case> limit_cases() {
    std::vector<Case> out;
    const std::string at_limit = pattern(1000), over = pattern(1001);
    out.push_back(Case("9.1 text at the limit").echo_text(at_limit).peer_closes().limit(1000));
    out.push_back(Case("9.2 binary at the limit in 3 fragments")
                      .send_all({binary(at_limit.substr(0, 400), false), cont(at_limit.substr(400, 400), false),
                                 cont(at_limit.substr(800))})
                      .expect(WSMsgType::BINARY, at_limit)
                      .peer_closes()
                      .limit(1000));
    out.push_back(Case("9.3 text a byte over").send(text(over)).fails(1009).limit(1000));
    out.push_back(Case("9.4 binary a byte over in 2 fragments")
                      .send_all({binary(over.substr(0, 600), false), cont(over.substr(600))})
                      .fails(1009)
                      .limit(1000));
    // Refused from the header: not a byte of the payload needs to come (so none was buffered).
    out.push_back(
        Case("9.5 a frame announcing a byte over, header only").send(cut(binary(over), 0)).fails(1009).limit(1000));
    out.push_back(
        Case("9.6 a 64-bit length, header only").send(cut(binary(std::string(70000, 'x')), 0)).fails(1009).limit(1000));
    out.push_back(Case("9.7 a continuation announcing a byte over the rest, header only")
                      .send_all({binary(at_limit.substr(0, 600), false), cut(cont(over.substr(600)), 0)})
                      .fails(1009)
                      .limit(1000));
    return out;
}
WS_CONF(Limits, limit_cases)

// ---------------------------------------------------------------------------------------------
// 12/13. permessage-deflate

Deflate deflate_with(bool no_takeover, int server_bits, int client_bits) {
    Deflate d;
    d.server_no_context_takeover = no_takeover;
    d.client_no_context_takeover = no_takeover;
    d.server_max_window_bits = server_bits;
    d.client_max_window_bits = client_bits;
    return d;
}

Deflate no_takeover_on(bool server) {
    Deflate d;
    d.server_no_context_takeover = server;
    d.client_no_context_takeover = !server;
    return d;
}

std::vector<Case> deflate_cases() {
    std::vector<Case> out;
    struct Config {
        const char* name;
        Deflate d;
    };
    const std::vector<Config> configs = {
        {"context takeover", deflate_with(false, 15, 15)},
        {"no context takeover", deflate_with(true, 15, 15)},
        {"windows of 9 bits", deflate_with(false, 9, 9)},
        {"windows of 9 bits, no context takeover", deflate_with(true, 9, 9)},
        {"server window 10, client window 12", deflate_with(false, 10, 12)},
        {"server without context takeover only", no_takeover_on(true)},
        {"client without context takeover only", no_takeover_on(false)},
    };
    const std::string block = pattern(2000, 7);
    for (const auto& cfg : configs) {
        const std::string n = cfg.name;
        // Repeats that a window of 2^9 cannot reach back to but a larger one can: a side using a
        // larger window than agreed makes the peer's inflater fail.
        const std::string far = block + block + block;
        Case c("12.1 " + n);
        c.with_deflate(cfg.d);
        for (int i = 0; i < 3; ++i)
            c.send(deflated(text("Hello, Hello, Hello, Hello"))).expect(WSMsgType::TEXT, "Hello, Hello, Hello, Hello");
        c.send(deflated(binary(far))).expect(WSMsgType::BINARY, far);
        c.send(deflated(text(""))).expect(WSMsgType::TEXT, "");
        c.send(text("not compressed")).expect(WSMsgType::TEXT, "not compressed");
        c.send(deflated(text(std::string(100000, 'z')))).expect(WSMsgType::TEXT, std::string(100000, 'z'));
        c.send(deflated(binary(far), 5)).expect(WSMsgType::BINARY, far);
        c.send(deflated(binary(block))).expect(WSMsgType::BINARY, block);
        // Autobahn 12.x's sizes, each twice so that the second can refer to the first.
        for (size_t size : {16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072}) {
            const std::string m = pattern(size, static_cast<uint32_t>(size));
            c.send(deflated(text(m))).expect(WSMsgType::TEXT, m);
            c.send(deflated(binary(m))).expect(WSMsgType::BINARY, m);
        }
        // Text whose characters the inflater's output pieces split: UTF-8 is checked across them.
        std::string greek;
        for (int i = 0; i < 30000; ++i)
            greek += i % 7 == 0 ? "\xf0\x9d\x84\x9e" : "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
        c.send(deflated(text(greek), 4)).expect(WSMsgType::TEXT, greek);
        out.push_back(std::move(c.peer_closes()));
        out.push_back(Case("12.2 " + n + ", byte by byte")
                          .with_deflate(cfg.d)
                          .send(deflated(text("Hello, Hello, Hello, Hello")))
                          .expect(WSMsgType::TEXT, "Hello, Hello, Hello, Hello")
                          .send(deflated(text("Hello, Hello, Hello, Hello"), 3))
                          .expect(WSMsgType::TEXT, "Hello, Hello, Hello, Hello")
                          .send(ping("p"))
                          .expect(WSMsgType::PONG, "p")
                          .send_all({deflated(unfinished(text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"))),
                                     ping("q"), cont("")})
                          .expect(WSMsgType::PONG, "q")
                          .expect(WSMsgType::TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
                          .peer_closes()
                          .chunked(1));
    }
    // A window of 8 bits: zlib cannot compress with it, so the server sends uncompressed.
    {
        Case c("12.3 server window of 8 bits");
        c.with_deflate(deflate_with(false, 8, 15)).server_only = true;
        c.send(deflated(text(block))).expect(WSMsgType::TEXT, block);
        out.push_back(std::move(c.peer_closes()));
    }
    Deflate d = deflate_with(false, 15, 15);
    out.push_back(Case("13.1 compressed ping").with_deflate(d).send(with_rsv(ping("p"), 4)).fails(1002));
    out.push_back(Case("13.2 compressed close").with_deflate(d).send(with_rsv(close_frame(1000), 4)).fails(1002));
    out.push_back(Case("13.3 RSV1 on a continuation")
                      .with_deflate(d)
                      .send_all({text("a", false), with_rsv(cont("b"), 4)})
                      .fails(1002));
    out.push_back(Case("13.4 RSV2 with deflate agreed").with_deflate(d).send(with_rsv(text("a"), 2)).fails(1002));
    out.push_back(Case("13.5 data that does not inflate")
                      .with_deflate(d)
                      .send(with_rsv(text("\xff\xff\xff\xff not deflate"), 4))
                      .fails(1007));
    out.push_back(Case("13.6 compressed invalid UTF-8")
                      .with_deflate(d)
                      .echo_text("fine")
                      .send(deflated(text("ok\xed\xa0\x80")))
                      .fails(1007));
    {
        Case c("13.7 compressed at the limit, then over it");
        const std::string at_limit(1000, 'q');
        c.with_deflate(d).limit(1000).send(deflated(text(at_limit))).expect(WSMsgType::TEXT, at_limit);
        c.send(deflated(text(at_limit + "q"))).fails(1009);
        out.push_back(std::move(c));
    }
    // 4 MiB of zeros in a few KiB: refused while inflating, before the frame has all come.
    {
        Case c("13.8 a zip bomb, half of it sent");
        ws::Deflater z(ws::DeflateSide(15, false));
        std::string packed;
        z.compress(std::string(4 * 1024 * 1024, '\0'), packed);
        c.with_deflate(d)
            .limit(1000)
            .send(cut(deflated(binary(std::string(4 * 1024 * 1024, '\0'))), packed.size() / 2))
            .fails(1009);
        out.push_back(std::move(c));
    }
    return out;
}
WS_CONF(Deflate, deflate_cases)

}  // namespace
