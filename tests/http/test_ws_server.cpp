// WebSocketResponse: the server side of WebSockets, against python3-websockets and aiohttp's
// client, and against raw sockets for the handshake's refusals, bad frames, back-pressure,
// heartbeats and cancellation.
#include <gtest/gtest.h>

#include <aio/http/web_ws.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "web_test_util.hpp"
#include "ws_test_util.hpp"
#include "ws_codec.hpp"

using namespace std::chrono_literals;
using aio::http::Request;
using aio::http::Response;
using aio::http::WebSocketOptions;
using aio::http::WebSocketResponse;
using aio::http::WSMessage;
using aio::http::WSMsgType;
using aiotest::have_module;
using aiotest::TestServer;
namespace ws = aio::http::detail::ws;

namespace {

// What the server saw (ws_test_util.hpp), and its echo: text stays text, binary stays binary.
using Seen = aiotest::WsSeen;
void add_echo(aio::http::Application& app, std::shared_ptr<Seen> seen, WebSocketOptions opt = {}) {
    aiotest::add_ws_echo(app, std::move(seen), std::move(opt));
}

// ---------------------------------------------------------------------------------------------
// Real peers

const char* kWebsocketsClient = R"PY(
import asyncio, sys, websockets
async def main(uri, comp):
    async with websockets.connect(uri, compression=("deflate" if comp == "1" else None),
                                  max_size=None) as ws:
        await ws.send("h\u00e9llo")
        t = await ws.recv()
        await ws.send(b"\x00\x01bin")
        b = await ws.recv()
        big = "x" * 300000
        await ws.send(big)
        r = await ws.recv()
        print(type(t).__name__, t == "h\u00e9llo", type(b).__name__, b.hex(), r == big,
              ws.response_headers.get("Sec-WebSocket-Extensions"))
    print(ws.close_code)
asyncio.run(main(sys.argv[1], sys.argv[2]))
)PY";

void websockets_echo(bool compress) {
    std::string py = aiotest::debian_python();
    if (!have_module(py, "websockets")) GTEST_SKIP() << "python3-websockets is not installed";
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        add_echo(s.app, seen);
        co_await s.start();
        std::string url = "ws://127.0.0.1:" + std::to_string(s.port) + "/ws";
        std::vector<std::string> a{"-c", kWebsocketsClient, url, compress ? "1" : "0"};
        auto r = co_await aiotest::run_process(py, std::move(a));
        co_await s.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        if (compress)
            EXPECT_EQ(r.out, "str True bytes 000162696e True permessage-deflate\n1000\n");
        else
            EXPECT_EQ(r.out, "str True bytes 000162696e True None\n1000\n");
        EXPECT_EQ(seen->compress, compress);
        EXPECT_EQ(seen->messages.size(), 3u);
        if (seen->messages.size() == 3) {
            EXPECT_EQ(seen->messages[0].type, WSMsgType::TEXT);
            EXPECT_EQ(seen->messages[1].type, WSMsgType::BINARY);
        }
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1000));
        EXPECT_TRUE(seen->done.is_set());
    }());
}

TEST(WsServer, PythonWebsocketsClientEchoesWithDeflate) { websockets_echo(true); }
TEST(WsServer, PythonWebsocketsClientEchoesWithoutDeflate) { websockets_echo(false); }

const char* kAiohttpClient = R"PY(
import asyncio, sys, aiohttp
async def main(url, comp):
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, compress=(15 if comp == "1" else 0), protocols=("x", "chat")) as ws:
            await ws.send_str("hi")
            m = await ws.receive()
            await ws.send_bytes(b"\x01\x02")
            m2 = await ws.receive()
            await ws.send_json({"a": 1})
            m3 = await ws.receive()
            print(m.type.name, m.data, m2.type.name, m2.data.hex(), m3.json()["a"], ws.protocol, bool(ws.compress))
            await ws.close()
            print(ws.close_code)
asyncio.run(main(sys.argv[1], sys.argv[2]))
)PY";

void aiohttp_echo(bool compress) {
    std::string py = aiotest::debian_python();
    if (!have_module(py, "aiohttp")) GTEST_SKIP() << "python3-aiohttp is not installed";
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        WebSocketOptions o;
        o.protocols = {"chat"};
        add_echo(s.app, seen, o);
        co_await s.start();
        std::vector<std::string> a{"-c", kAiohttpClient, s.url("/ws"), compress ? "1" : "0"};
        auto r = co_await aiotest::run_process(py, std::move(a));
        co_await s.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.out, std::string("TEXT hi BINARY 0102 1 chat ") + (compress ? "True" : "False") + "\n1000\n");
        EXPECT_EQ(seen->compress, compress);
        EXPECT_EQ(seen->protocol, "chat");
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1000));
    }());
}

TEST(WsServer, AiohttpClientEchoesWithDeflateAndASubprotocol) { aiohttp_echo(true); }
TEST(WsServer, AiohttpClientEchoesWithoutDeflate) { aiohttp_echo(false); }

// aiohttp's client with a 1 MiB message, a ping it answers itself (autoping off) and a close
// with a code and a reason that our handler checks; ours answers with the same code.
const char* kAiohttpBigPingClose = R"PY(
import asyncio, sys, aiohttp
async def main(url, comp):
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, compress=(15 if comp == "1" else 0), autoping=False) as ws:
            big = bytes(range(256)) * 4096
            await ws.send_bytes(big)
            m = await ws.receive()
            await ws.ping(b"are you there")
            p = await ws.receive()
            await ws.close(code=4002, message=b"client done")
            print(m.data == big, p.type.name, p.data.decode(), ws.close_code)
asyncio.run(main(sys.argv[1], sys.argv[2]))
)PY";

void aiohttp_big_ping_close(bool compress) {
    std::string py = aiotest::debian_python();
    if (!have_module(py, "aiohttp")) GTEST_SKIP() << "python3-aiohttp is not installed";
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        std::vector<WSMessage> got;
        bool compressed = false;
        s.app.router().add_get("/ws", [&](Request r) -> aio::Task<Response> {
            WebSocketResponse ws;
            co_await ws.prepare(r);
            compressed = ws.compress();
            for (;;) {
                WSMessage m = co_await ws.receive();
                got.push_back(m);
                if (m.type != WSMsgType::BINARY) break;
                co_await ws.send_bytes(m.data);
            }
            co_return ws;
        });
        co_await s.start();
        std::vector<std::string> a{"-c", kAiohttpBigPingClose, s.url("/ws"), compress ? "1" : "0"};
        auto r = co_await aiotest::run_process(py, std::move(a));
        co_await s.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.out, "True PONG are you there 4002\n");
        EXPECT_EQ(compressed, compress);
        EXPECT_EQ(got.size(), 2u);
        if (got.size() == 2) {
            EXPECT_EQ(got[0].data.size(), 1024u * 1024u);
            EXPECT_EQ(got[1].type, WSMsgType::CLOSE);
            EXPECT_EQ(got[1].close_code, 4002);
            EXPECT_EQ(got[1].extra, "client done");
        }
    }());
}

TEST(WsServer, AiohttpClientBigMessagePingAndCloseReasonWithDeflate) { aiohttp_big_ping_close(true); }
TEST(WsServer, AiohttpClientBigMessagePingAndCloseReasonWithoutDeflate) { aiohttp_big_ping_close(false); }

// ---------------------------------------------------------------------------------------------
// A raw client: the handshake by hand, frames through the codec in the client role.

const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";

std::string upgrade_request(const std::string& extra = {}, const std::string& path = "/ws") {
    return "GET " + path +
           " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: " +
           kKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n";
}

struct RawClient {
    RawClient(aio::StreamReader reader_, aio::StreamWriter writer_) : r(std::move(reader_)), w(std::move(writer_)) {}
    aio::StreamReader r;
    aio::StreamWriter w;
    std::string head;
    ws::FrameReader reader{ws::Role::client};
    ws::FrameWriter writer{ws::Role::client};
    std::string pending;  // read, not yet fed to `reader`

    std::string text(std::string_view s) {
        std::string out;
        writer.message(out, WSMsgType::TEXT, s);
        return out;
    }
    // The next message, or a CLOSED one at EOF (ERROR if the server broke the protocol).
    aio::Task<WSMessage> next() {
        for (;;) {
            if (!pending.empty()) {
                size_t used = reader.feed(pending);
                pending.erase(0, used);
            }
            if (reader.state() == ws::FrameReader::State::message) co_return reader.take();
            if (reader.state() == ws::FrameReader::State::failed)
                co_return WSMessage(WSMsgType::ERROR, reader.error().reason, reader.error().code);
            if (reader.state() == ws::FrameReader::State::closed) co_return WSMessage(WSMsgType::CLOSED, {});
            std::string chunk;
            try {
                chunk = co_await r.read(65536);
            } catch (const std::system_error&) {
            }
            if (chunk.empty()) co_return WSMessage(WSMsgType::CLOSED, {});
            pending += chunk;
        }
    }
};

aio::Task<std::unique_ptr<RawClient>> raw_connect(uint16_t port, std::string first = upgrade_request()) {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port);
    auto c = std::make_unique<RawClient>(std::move(r), std::move(w));
    c->w.write(first);
    co_await c->w.drain();
    c->head = co_await c->r.readuntil("\r\n\r\n");
    co_return c;
}

TEST(WsServer, HandshakeRefusalsHaveTheirStatuses) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        WebSocketOptions o;
        o.check_origin = [](std::string_view origin) { return origin.empty() || origin == "https://good.example"; };
        add_echo(s.app, seen, o);
        s.app.router().add_post("/ws", [o](Request r) -> aio::Task<Response> {
            WebSocketResponse ws(o);
            co_await ws.prepare(r);
            co_return ws;
        });
        co_await s.start();
        const std::string base = "Host: x\r\nConnection: close\r\n";
        // The head of the answer only: a refused handshake leaves the connection open (keep-alive).
        auto ask = [&](std::string req) -> aio::Task<std::string> {
            auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
            w.write(req);
            std::string head = co_await r.readuntil("\r\n\r\n");
            w.close();
            co_return head;
        };
        std::string ok_key = std::string("Sec-WebSocket-Key: ") + kKey + "\r\n";
        std::string v13 = "Sec-WebSocket-Version: 13\r\n";
        std::string upg = "Upgrade: websocket\r\n";
        // Not GET.
        std::string post = "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + ok_key +
                           v13 + "Content-Length: 0\r\n\r\n";
        EXPECT_EQ(aiotest::status_of(co_await ask(post)), 400);
        // No Upgrade header; no Connection: Upgrade.
        std::string no_upgrade = "GET /ws HTTP/1.1\r\n" + base + ok_key + v13 + "\r\n";
        EXPECT_EQ(aiotest::status_of(co_await ask(no_upgrade)), 400);
        std::string no_conn = "GET /ws HTTP/1.1\r\nHost: x\r\n" + upg + ok_key + v13 + "\r\n";
        EXPECT_EQ(aiotest::status_of(co_await ask(no_conn)), 400);
        // A missing key, a malformed one.
        EXPECT_EQ(aiotest::status_of(co_await ask(
                      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + v13 + "\r\n")),
                  400);
        EXPECT_EQ(aiotest::status_of(
                      co_await ask("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: short\r\n" +
                                   v13 + "\r\n")),
                  400);
        // Another version: 426 naming ours.
        std::string v8 = co_await ask("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                                      ok_key + "Sec-WebSocket-Version: 8\r\n\r\n");
        EXPECT_EQ(aiotest::status_of(v8), 426);
        EXPECT_NE(v8.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << v8;
        // An origin the hook refuses.
        EXPECT_EQ(aiotest::status_of(co_await ask(upgrade_request("Origin: https://evil.example\r\n"))), 403);
        // And one it accepts: 101 with RFC 6455's example accept key.
        auto c = co_await raw_connect(s.port, upgrade_request("Origin: https://good.example\r\n"));
        EXPECT_EQ(aiotest::status_of(c->head), 101);
        EXPECT_NE(c->head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos) << c->head;
        c->w.close();
        co_await s.stop();
    }());
}

TEST(WsServer, AnUpgradeRequestAnsweredAsHttpLeavesTheConnectionHttp) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/plain", [](Request) -> aio::Task<Response> { co_return Response("plain"); });
        co_await s.start();
        std::string two = upgrade_request({}, "/plain") + "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        std::string out = co_await aiotest::raw_exchange(s.port, two);
        EXPECT_EQ(aiotest::count_responses(out), 2) << out;
        co_await s.stop();
    }());
}

TEST(WsServer, FramesSentWithTheHandshakeAreNotLost) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        add_echo(s.app, seen);
        co_await s.start();
        ws::FrameWriter fw(ws::Role::client);
        std::string first = upgrade_request();
        fw.message(first, WSMsgType::TEXT, "early");
        auto c = co_await raw_connect(s.port, first);
        EXPECT_EQ(aiotest::status_of(c->head), 101);
        WSMessage m = co_await c->next();
        EXPECT_EQ(m.type, WSMsgType::TEXT);
        EXPECT_EQ(m.data, "early");
        std::string bye;
        c->writer.close(bye, 1000);
        c->w.write(bye);
        WSMessage close = co_await c->next();
        EXPECT_EQ(close.type, WSMsgType::CLOSE);
        EXPECT_EQ(close.close_code, 1000);
        EXPECT_EQ((co_await c->next()).type, WSMsgType::CLOSED);  // the server closed after its close frame
        co_await s.stop();
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1000));
    }());
}

// A bad frame from the client: the server closes with the codec's code and receive() reports
// ERROR with that code; the server goes on serving others.
void bad_frame_case(const std::string& frame_bytes, uint16_t expected, size_t max_msg_size = 0) {
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        WebSocketOptions o;
        if (max_msg_size) o.max_msg_size = max_msg_size;
        add_echo(s.app, std::make_shared<Seen>(), o);
        s.app.router().add_get("/ws-error", [seen, o](Request r) -> aio::Task<Response> {
            WebSocketResponse ws(o);
            co_await ws.prepare(r);
            seen->messages.push_back(co_await ws.receive());
            seen->messages.push_back(co_await ws.receive());
            seen->close_code = ws.close_code();
            seen->done.set();
            co_return ws;
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port, upgrade_request({}, "/ws-error"));
        c->w.write(frame_bytes);
        WSMessage m = co_await c->next();
        EXPECT_EQ(m.type, WSMsgType::CLOSE);
        EXPECT_EQ(m.close_code, expected);
        EXPECT_EQ((co_await c->next()).type, WSMsgType::CLOSED);
        // Others are still served.
        auto other = co_await raw_connect(s.port);
        other->w.write(other->text("still here"));
        EXPECT_EQ((co_await other->next()).data, "still here");
        other->w.close();
        co_await s.stop();
        EXPECT_GE(seen->messages.size(), 2u);
        if (seen->messages.size() >= 2) {
            EXPECT_EQ(seen->messages[0].type, WSMsgType::ERROR);
            EXPECT_EQ(seen->messages[0].close_code, expected);
            EXPECT_EQ(seen->messages[1].type, WSMsgType::CLOSED);
        }
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(expected));
    }());
}

TEST(WsServer, AnUnmaskedClientFrameIsClosedWith1002) {
    ws::FrameWriter server_role(ws::Role::server);  // writes unmasked frames
    std::string f;
    server_role.message(f, WSMsgType::TEXT, "unmasked");
    bad_frame_case(f, 1002);
}

TEST(WsServer, InvalidUtf8IsClosedWith1007) {
    ws::FrameWriter fw(ws::Role::client);
    std::string f;
    fw.frame(f, ws::op_text, true, false, "\xff\xfe");
    bad_frame_case(f, 1007);
}

TEST(WsServer, AMessageOverMaxMsgSizeIsClosedWith1009) {
    ws::FrameWriter fw(ws::Role::client);
    std::string f;
    fw.message(f, WSMsgType::BINARY, std::string(2000, 'x'));
    bad_frame_case(f, 1009, 1000);
}

TEST(WsServer, ReservedBitsWithoutAnExtensionAreClosedWith1002) {
    ws::FrameWriter fw(ws::Role::client);
    std::string f;
    fw.frame(f, ws::op_text, true, true, "x");
    bad_frame_case(f, 1002);
}

TEST(WsServer, APeerThatVanishesGivesClosedWith1006) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        add_echo(s.app, seen);
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        c->w.write(c->text("one"));
        EXPECT_EQ((co_await c->next()).data, "one");
        c->w.close();  // no close frame
        co_await c->w.wait_closed();
        co_await seen->done.wait();
        co_await s.stop();
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1006));
    }());
}

TEST(WsServer, ASecondConcurrentReceiveIsARuntimeErrorAndSendingWhileReceivingIsFine) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        std::string error;
        s.app.router().add_get("/ws", [&](Request r) -> aio::Task<Response> {
            WebSocketResponse ws;
            co_await ws.prepare(r);
            auto first = aio::create_task(ws.receive());
            co_await aio::sleep(0s);  // let it start waiting
            try {
                co_await ws.receive();
            } catch (const aio::RuntimeError& e) {
                error = e.what();
            }
            co_await ws.send_str("sent while another task receives");
            seen->messages.push_back(co_await first);
            co_await ws.close();
            co_return ws;
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        EXPECT_EQ((co_await c->next()).data, "sent while another task receives");
        c->w.write(c->text("for the first"));
        WSMessage close = co_await c->next();
        EXPECT_EQ(close.type, WSMsgType::CLOSE);
        std::string bye;
        c->writer.close(bye, 1000);
        c->w.write(bye);
        EXPECT_EQ((co_await c->next()).type, WSMsgType::CLOSED);
        co_await s.stop();
        EXPECT_EQ(error, "Concurrent call to receive() is not allowed");
        EXPECT_EQ(seen->messages.size(), 1u);
        if (!seen->messages.empty()) {
            EXPECT_EQ(seen->messages[0].data, "for the first");
        }
    }());
}

TEST(WsServer, ACancelledOrTimedOutReceiveLeavesTheSocketUsable) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        std::vector<std::string> got;
        bool timed_out = false, cancelled = false;
        s.app.router().add_get("/ws", [&](Request r) -> aio::Task<Response> {
            WebSocketResponse ws;
            co_await ws.prepare(r);
            try {
                co_await ws.receive(10ms);
            } catch (const aio::TimeoutError&) {
                timed_out = true;
            }
            auto waiting = aio::create_task(ws.receive());
            co_await aio::sleep(0s);
            waiting.cancel();
            try {
                co_await waiting;
            } catch (const aio::CancelledError&) {
                cancelled = true;
            }
            co_await ws.send_str("ready");
            got.push_back(co_await ws.receive_str());
            got.push_back(co_await ws.receive_str());
            co_return ws;
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        EXPECT_EQ((co_await c->next()).data, "ready");
        c->w.write(c->text("a") + c->text("b"));
        EXPECT_EQ((co_await c->next()).type, WSMsgType::CLOSE);  // the handler returned: 1000
        co_await s.stop();
        EXPECT_TRUE(timed_out);
        EXPECT_TRUE(cancelled);
        EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
    }());
}

TEST(WsServer, SendWaitsForAPeerThatDoesNotReadAndMemoryStaysBounded) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        constexpr size_t kChunk = 64 * 1024, kChunks = 1024;  // 64 MiB in all
        size_t sent = 0;
        bool finished = false;
        s.app.router().add_get("/ws", [&](Request r) -> aio::Task<Response> {
            WebSocketResponse ws;
            co_await ws.prepare(r);
            std::string chunk(kChunk, 'x');
            for (size_t i = 0; i < kChunks; ++i) {
                co_await ws.send_bytes(chunk);
                sent += chunk.size();
            }
            finished = true;
            co_await ws.close();
            co_return ws;
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        // The client reads nothing: the sender gets as far as the socket buffers allow, then waits.
        size_t last = 0;
        for (int stable = 0, i = 0; stable < 10 && i < 1000; ++i) {
            co_await aio::sleep(5ms);
            stable = (sent == last && sent > 0) ? stable + 1 : 0;
            last = sent;
        }
        EXPECT_FALSE(finished);
        EXPECT_GT(sent, 0u);
        EXPECT_LT(sent, 32u * 1024 * 1024) << "the sender did not wait";
        // Reading it all lets the sender finish.
        size_t messages = 0;
        for (;;) {
            WSMessage m = co_await c->next();
            if (m.type == WSMsgType::BINARY) {
                ++messages;
                continue;
            }
            EXPECT_EQ(m.type, WSMsgType::CLOSE);
            break;
        }
        EXPECT_EQ(messages, kChunks);
        EXPECT_TRUE(finished);
        c->w.close();
        co_await s.stop();
    }());
}

TEST(WsServer, AHandlerThatDoesNotReceiveStopsTheReadingInsteadOfQueueingWithoutBound) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        constexpr size_t kChunk = 64 * 1024, kChunks = 512;  // 32 MiB, more than the socket buffers hold
        aio::Event gate;
        size_t received = 0;
        s.app.router().add_get("/ws", [&](Request r) -> aio::Task<Response> {
            WebSocketResponse ws;
            co_await ws.prepare(r);
            co_await gate.wait();
            while (received < kChunks) {
                WSMessage m = co_await ws.receive();
                if (m.type != WSMsgType::BINARY) break;
                ++received;
            }
            co_await ws.close();
            co_return ws;
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        std::string chunk(kChunk, 'y');
        for (size_t i = 0; i < kChunks; ++i) {
            std::string frame;
            c->writer.message(frame, WSMsgType::BINARY, chunk);
            c->w.write(frame);
        }
        bool stalled = false;
        try {
            co_await aio::wait_for(c->w.drain(), 300ms);
        } catch (const aio::TimeoutError&) {
            stalled = true;
        }
        EXPECT_TRUE(stalled) << "the server read everything while its handler received nothing";
        EXPECT_EQ(received, 0u);
        gate.set();
        co_await c->w.drain();
        EXPECT_EQ((co_await c->next()).type, WSMsgType::CLOSE);
        std::string bye;
        c->writer.close(bye, 1000);
        c->w.write(bye);  // close() waits for it
        EXPECT_EQ((co_await c->next()).type, WSMsgType::CLOSED);
        EXPECT_EQ(received, kChunks);
        co_await s.stop();
    }());
}

TEST(WsServer, AutopingAnswersPingsAndWithoutItReceiveReturnsThem) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        WebSocketOptions o;
        o.autoping = false;
        add_echo(s.app, seen);  // autoping on
        s.app.router().add_get("/manual", [seen, o](Request r) -> aio::Task<Response> {
            WebSocketResponse ws(o);
            co_await ws.prepare(r);
            WSMessage m = co_await ws.receive();
            seen->messages.push_back(m);
            co_await ws.pong(m.data);
            co_return ws;
        });
        co_await s.start();
        for (const char* path : {"/ws", "/manual"}) {
            auto c = co_await raw_connect(s.port, upgrade_request({}, path));
            std::string ping;
            c->writer.ping(ping, "are you there");
            c->w.write(ping);
            WSMessage pong = co_await c->next();
            EXPECT_EQ(pong.type, WSMsgType::PONG) << path;
            EXPECT_EQ(pong.data, "are you there") << path;
            c->w.close();
        }
        co_await s.stop();
        EXPECT_FALSE(seen->messages.empty());
        if (!seen->messages.empty()) {
            EXPECT_EQ(seen->messages.back().type, WSMsgType::PING);
        }
    }());
}

// The heartbeat on the loop's virtual clock: a peer that answers stays; one that does not is
// closed half a period after the ping, with 1006.
TEST(WsServer, HeartbeatClosesAPeerThatNeverAnswersWith1006) {
    aiotest::run_virtual([]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        WebSocketOptions o;
        o.heartbeat = 30s;
        add_echo(s.app, seen, o);
        co_await s.start();
        auto& loop = aio::get_running_loop();
        // An answering peer: three pings, three pongs, still open.
        auto good = co_await raw_connect(s.port);
        const double t0 = loop.time();
        for (int i = 0; i < 3; ++i) {
            WSMessage ping = co_await good->next();
            EXPECT_EQ(ping.type, WSMsgType::PING);
            std::string pong;
            good->writer.pong(pong, ping.data);
            good->w.write(pong);
        }
        EXPECT_NEAR(loop.time() - t0, 90.0, 0.5);
        good->w.write(good->text("alive"));
        EXPECT_EQ((co_await good->next()).data, "alive");
        // A silent one: pinged at 30 s, cut off at 45 s.
        auto silent = co_await raw_connect(s.port);
        const double t1 = loop.time();
        EXPECT_EQ((co_await silent->next()).type, WSMsgType::PING);
        EXPECT_EQ((co_await silent->next()).type, WSMsgType::CLOSED);
        EXPECT_NEAR(loop.time() - t1, 45.0, 0.5);
        co_await seen->done.wait();
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1006));
        good->w.close();
        co_await s.stop();
    }());
}

TEST(WsServer, AHandlerThatThrowsAfterPrepareClosesWith1011) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        aiotest::LogCapture log;
        s.app.router().add_get("/ws", [](Request r) -> aio::Task<Response> {
            WebSocketResponse ws;
            co_await ws.prepare(r);
            co_await ws.receive();
            throw std::runtime_error("handler bug");
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        c->w.write(c->text("go"));
        WSMessage close = co_await c->next();
        EXPECT_EQ(close.type, WSMsgType::CLOSE);
        EXPECT_EQ(close.close_code, 1011);
        EXPECT_EQ((co_await c->next()).type, WSMsgType::CLOSED);
        co_await s.stop();
    }());
}

TEST(WsServer, JsonWithoutCompressionOrAutoclose) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        std::optional<uint16_t> code_seen;
        bool closed_before = true, close_result = false;
        nlohmann::json got;
        WebSocketOptions o;
        o.compress = false;
        o.autoclose = false;
        s.app.router().add_get("/ws", [&, o](Request r) -> aio::Task<Response> {
            WebSocketResponse ws(o);
            co_await ws.prepare(r);
            got = co_await ws.receive_json();
            nlohmann::json answer = {{"sum", got["a"].get<int>() + got["b"].get<int>()}};
            co_await ws.send_json(answer);
            WSMessage close = co_await ws.receive();  // the peer's CLOSE, not answered
            code_seen = close.close_code;
            closed_before = ws.closed();
            close_result = co_await ws.close(4000, "as I please");
            co_return ws;
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port, upgrade_request("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        EXPECT_EQ(c->head.find("permessage-deflate"), std::string::npos) << c->head;
        c->w.write(c->text(R"({"a": 2, "b": 3})"));
        EXPECT_EQ((co_await c->next()).data, R"({"sum":5})");
        std::string bye;
        c->writer.close(bye, 1001, "leaving");
        c->w.write(bye);
        WSMessage answer = co_await c->next();
        EXPECT_EQ(answer.type, WSMsgType::CLOSE);
        EXPECT_EQ(answer.close_code, 4000);
        EXPECT_EQ(answer.extra, "as I please");
        co_await s.stop();
        EXPECT_EQ(got["a"], 2);
        EXPECT_EQ(code_seen, std::optional<uint16_t>(1001));
        EXPECT_FALSE(closed_before);
        EXPECT_TRUE(close_result);
    }());
}

TEST(WsServer, AHandlerThatOnlySendsStillAnswersThePeersClose) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        bool send_failed = false;
        std::optional<uint16_t> code;
        s.app.router().add_get("/ws", [&](Request r) -> aio::Task<Response> {
            WebSocketResponse ws;
            co_await ws.prepare(r);
            try {
                for (;;) {
                    co_await ws.send_str("tick");
                    co_await aio::sleep(1ms);
                }
            } catch (const std::system_error&) {
                send_failed = true;
            }
            code = ws.close_code();
            co_return ws;
        });
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        EXPECT_EQ((co_await c->next()).data, "tick");
        std::string bye;
        c->writer.close(bye, 1000, "enough");
        c->w.write(bye);
        WSMessage m;
        do {
            m = co_await c->next();
        } while (m.type == WSMsgType::TEXT);
        EXPECT_EQ(m.type, WSMsgType::CLOSE);
        EXPECT_EQ(m.close_code, 1000);
        for (int i = 0; i < 1000 && !send_failed; ++i)
            co_await aio::sleep(1ms);  // its next send
        co_await s.stop();
        EXPECT_TRUE(send_failed);
        EXPECT_EQ(code, std::optional<uint16_t>(1000));
    }());
}

TEST(WsServer, ShutdownClosesOpenSocketsWithGoingAway) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<Seen>();
        add_echo(s.app, seen);
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        auto stopping = aio::create_task(s.stop());
        WSMessage close = co_await c->next();
        EXPECT_EQ(close.type, WSMsgType::CLOSE);
        EXPECT_EQ(close.close_code, 1001);
        std::string bye;
        c->writer.close(bye, 1001);
        c->w.write(bye);
        co_await stopping;
        EXPECT_TRUE(seen->done.is_set());
    }());
}

// A peer that floods pings and reads nothing: the server keeps reading (pings are answered as they
// come, not queued for receive()), and while its write buffer is full it holds one pong, for the
// latest ping (RFC 6455 section 5.5.3), instead of queueing a pong per ping.
TEST(WsServer, APingFloodFromAPeerThatReadsNothingHoldsOnePongNotAQueue) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        add_echo(s.app, std::make_shared<Seen>());
        co_await s.start();
        auto c = co_await raw_connect(s.port);
        // 300,000 pings of 120 bytes, 38 MB: more than the socket buffers of both sides hold.
        constexpr int kPings = 300000;
        std::string flood, last;
        for (int i = 0; i < kPings; ++i) {
            last = std::to_string(i);
            last.resize(120, '.');
            c->writer.ping(flood, last);
        }
        c->w.write(flood);
        flood = std::string();
        bool drained = true;
        try {
            co_await aio::wait_for(c->w.drain(), 60s);
        } catch (const aio::TimeoutError&) {
            drained = false;
        }
        EXPECT_TRUE(drained) << "the server stopped reading pings";
        int pongs = 0;
        bool latest = false;
        while (!latest) {
            WSMessage m = co_await c->next();
            if (m.type != WSMsgType::PONG) {
                ADD_FAILURE() << "expected pongs, got type " << static_cast<int>(m.type);
                break;
            }
            ++pongs;
            latest = m.data == last;
        }
        ::testing::Test::RecordProperty("pongs", pongs);
        EXPECT_TRUE(latest) << "no pong answered the latest ping";
        EXPECT_LT(pongs, kPings / 2) << "a pong was queued per ping";
        EXPECT_GT(pongs, 0);
        // Still a working socket.
        c->w.write(c->text("after the flood"));
        WSMessage m = co_await c->next();
        EXPECT_EQ(m.type, WSMsgType::TEXT);
        EXPECT_EQ(m.data, "after the flood");
        c->w.close();
        co_await s.stop();
    }());
}

}  // namespace
