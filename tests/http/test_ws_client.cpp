// ClientSession::ws_connect and ClientWebSocketResponse: our client against our server (echo,
// compression, subprotocols, close codes, refusals), against raw servers that answer the
// handshake wrongly, and against python3-websockets and aiohttp as the server.
#include <gtest/gtest.h>

#include <aio/http/client.hpp>
#include <aio/http/web_exceptions.hpp>
#include <aio/http/web_ws.hpp>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_client_util.hpp"
#include "web_test_util.hpp"
#include "ws_test_util.hpp"
#include "ws_codec.hpp"

using namespace std::chrono_literals;
using aio::http::ClientSession;
using aio::http::ClientWebSocketResponse;
using aio::http::ClientWSOptions;
using aio::http::Request;
using aio::http::Response;
using aio::http::WebSocketOptions;
using aio::http::WebSocketResponse;
using aio::http::WSMessage;
using aio::http::WSMsgType;
using aio::http::WSServerHandshakeError;
using aiotest::add_ws_echo;
using aiotest::answer_101;
using aiotest::python_with;
using aiotest::TestServer;
using aiotest::WsSeen;
namespace ws = aio::http::detail::ws;

namespace {

void echo_round_trip(int compress) {
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<WsSeen>();
        add_ws_echo(s.app, seen);
        co_await s.start();
        {
            ClientSession session;
            ClientWSOptions o;
            o.compress = compress;
            std::string url = "ws://127.0.0.1:" + std::to_string(s.port) + "/ws";
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            EXPECT_EQ(ws.compress(), compress != 0);
            EXPECT_EQ(ws.protocol(), "");
            EXPECT_EQ(session.connector_stats().acquired, 0u);  // out of the pool, slot given back
            co_await ws.send_str("h\xc3\xa9llo");
            EXPECT_EQ(co_await ws.receive_str(), "h\xc3\xa9llo");
            std::string bin("\x00\x01\xff", 3);
            co_await ws.send_bytes(bin);
            WSMessage m = co_await ws.receive();
            EXPECT_EQ(m.type, WSMsgType::BINARY);
            EXPECT_EQ(m.data, bin);
            nlohmann::json j = {{"a", 1}, {"b", "x"}};
            co_await ws.send_json(j);
            EXPECT_EQ(co_await ws.receive_json(), j);
            std::string big(300000, 'z');
            co_await ws.send_str(big);
            EXPECT_EQ(co_await ws.receive_str(), big);
            co_await ws.send_str("typed");
            bool threw = false;
            try {
                (void)co_await ws.receive_bytes();
            } catch (const aio::http::WSMessageTypeError&) {
                threw = true;
            }
            EXPECT_TRUE(threw);
            EXPECT_FALSE(ws.closed());
            EXPECT_TRUE(co_await ws.close());
            EXPECT_TRUE(ws.closed());
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(1000));
            EXPECT_FALSE(co_await ws.close());
        }
        co_await s.stop();
        EXPECT_EQ(seen->compress, compress != 0);
        EXPECT_EQ(seen->messages.size(), 5u);
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1000));
    }());
}

TEST(WsClient, EchoesWithOurServerWithDeflate) { echo_round_trip(15); }
TEST(WsClient, EchoesWithOurServerWithoutDeflate) { echo_round_trip(0); }
TEST(WsClient, SmallerWindowIsOfferedAndAgreed) { echo_round_trip(10); }

TEST(WsClient, SubprotocolIsChosenAndIterWorks) {
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<WsSeen>();
        WebSocketOptions so;
        so.protocols = {"chat", "other"};
        add_ws_echo(s.app, seen, so);
        co_await s.start();
        {
            ClientSession session;
            ClientWSOptions o;
            o.protocols = {"x", "chat"};
            std::string url = "ws://127.0.0.1:" + std::to_string(s.port) + "/ws";
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            EXPECT_EQ(ws.protocol(), "chat");
            co_await ws.send_str("one");
            co_await ws.send_str("two");
            co_await ws.send_str("close:4001");
            std::vector<std::string> got;
            auto it = ws.iter();
            while (auto m = co_await it.next())
                got.push_back(m->data);
            EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
            // The server's close, answered by autoclose: its code is ours to see.
            EXPECT_TRUE(ws.closed());
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(4001));
        }
        co_await s.stop();
        EXPECT_EQ(seen->protocol, "chat");
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(4001));
    }());
}

TEST(WsClient, CloseFrameCarriesCodeAndReasonBothWays) {
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto seen = std::make_shared<WsSeen>();
        add_ws_echo(s.app, seen);
        co_await s.start();
        ClientSession session;
        std::string url = "ws://127.0.0.1:" + std::to_string(s.port) + "/ws";
        {
            ClientWSOptions o;
            o.autoclose = false;
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            co_await ws.send_str("close:4002");
            WSMessage m = co_await ws.receive();
            EXPECT_EQ(m.type, WSMsgType::CLOSE);
            EXPECT_EQ(m.close_code, 4002);
            EXPECT_EQ(m.extra, "bye");
            EXPECT_FALSE(ws.closed());  // autoclose off: ours to answer
            EXPECT_TRUE(co_await ws.close(1000));
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(4002));
        }
        {
            ClientWebSocketResponse ws = co_await session.ws_connect(url);
            bool bad_code = false;
            try {
                co_await ws.close(1005);
            } catch (const std::invalid_argument&) {
                bad_code = true;
            }
            EXPECT_TRUE(bad_code);
            EXPECT_TRUE(co_await ws.close(4100, "done"));
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(4100));
            WSMessage after = co_await ws.receive();
            EXPECT_EQ(after.type, WSMsgType::CLOSED);
            bool send_threw = false;
            try {
                co_await ws.send_str("late");
            } catch (const std::system_error&) {
                send_threw = true;
            }
            EXPECT_TRUE(send_threw);
        }
        co_await s.stop();
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(4100));
    }());
}

TEST(WsClient, RefusalIsHandshakeErrorWithStatus) {
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/forbidden", [](Request) -> aio::Task<Response> {
            throw aio::http::HTTPForbidden();
            co_return Response();
        });
        s.app.router().add_get("/plain", [](Request) -> aio::Task<Response> { co_return Response("not a socket"); });
        co_await s.start();
        ClientSession session;
        const std::string base = "ws://127.0.0.1:" + std::to_string(s.port);
        for (auto [path, status] : std::vector<std::pair<std::string, int>>{{"/forbidden", 403}, {"/nowhere", 404}, {"/plain", 200}}) {
            int got = 0;
            try {
                ClientWebSocketResponse ws = co_await session.ws_connect(base + path);
            } catch (const WSServerHandshakeError& e) {
                got = e.status();
            }
            EXPECT_EQ(got, status) << path;
        }
        // The session still works for plain requests.
        aio::http::ClientResponse r = co_await session.get(s.url("/plain"));
        EXPECT_EQ(co_await r.text(), "not a socket");
        co_await s.stop();
    }());
}

// A raw server answering the handshake with `answer(key)`; then it waits for the client to go,
// or (`hang_up`) closes at once without a close frame.
aio::Task<aio::Server> raw_server(std::function<std::string(const std::string& key)> answer, bool hang_up = false) {
    aio::ClientConnected cb = [answer, hang_up](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<void> {
        std::string head = co_await r.readuntil("\r\n\r\n");
        std::string key;
        const std::string name = "Sec-WebSocket-Key: ";
        size_t at = head.find(name);
        if (at != std::string::npos) key = head.substr(at + name.size(), 24);
        w.write(answer(key));
        co_await w.drain();
        if (!hang_up) std::string rest = co_await r.read(65536);  // until the client goes
        w.close();
    };
    co_return co_await aio::start_server(std::move(cb), "127.0.0.1", 0);
}

void bad_answer(std::function<std::string(const std::string&)> answer, const std::string& why, int compress = 0) {
    aiotest::run_net([&]() -> aio::Task<void> {
        aio::Server server = co_await raw_server(answer);
        ClientSession session;
        ClientWSOptions o;
        o.compress = compress;
        std::string message;
        int status = 0;
        try {
            ClientWebSocketResponse ws = co_await session.ws_connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/", o);
        } catch (const WSServerHandshakeError& e) {
            status = e.status();
            message = e.message();
        }
        EXPECT_EQ(status, 101);
        EXPECT_NE(message.find(why), std::string::npos) << message;
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(WsClient, WrongAcceptKeyIsHandshakeError) {
    bad_answer([](const std::string&) { return answer_101(ws::accept_key("AAAAAAAAAAAAAAAAAAAAAA==")); },
               "Invalid challenge response");
}

TEST(WsClient, UnofferedSubprotocolOrExtensionIsHandshakeError) {
    bad_answer([](const std::string& k) { return answer_101(ws::accept_key(k), "Sec-WebSocket-Protocol: chat\r\n"); },
               "Invalid subprotocol");
    bad_answer([](const std::string& k) {
        return answer_101(ws::accept_key(k), "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }, "Invalid extension");
    bad_answer([](const std::string& k) {
        return answer_101(ws::accept_key(k), "Sec-WebSocket-Extensions: x-unknown\r\n");
    }, "Invalid deflate extension", 15);
}

TEST(WsClient, ACancelledConnectLeavesNothingOpen) {
    aiotest::run_net([&]() -> aio::Task<void> {
        auto hung_up = std::make_shared<aio::Event>();
        // A server that never answers the handshake, and notes when the client goes.
        aio::ClientConnected cb = [hung_up](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<void> {
            (void)co_await r.readuntil("\r\n\r\n");
            std::string rest = co_await r.read(65536);
            if (rest.empty()) hung_up->set();
            w.close();
        };
        aio::Server server = co_await aio::start_server(std::move(cb), "127.0.0.1", 0);
        ClientSession session;
        auto connecting = session.ws_connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        bool timed_out = false;
        try {
            ClientWebSocketResponse ws = co_await aio::wait_for(std::move(connecting), 50ms);
        } catch (const aio::TimeoutError&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        EXPECT_EQ(session.connector_stats().idle, 0u);
        co_await hung_up->wait();  // the connection was closed, not left to the session
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(WsClient, FramesRightAfterThe101AreNotLost) {
    aiotest::run_net([&]() -> aio::Task<void> {
        aio::Server server = co_await raw_server([](const std::string& k) {
            ws::FrameWriter writer(ws::Role::server);
            std::string out = answer_101(ws::accept_key(k));
            writer.message(out, WSMsgType::TEXT, "early", false);
            return out;
        }, true);
        ClientSession session;
        ClientWebSocketResponse ws =
            co_await session.ws_connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        EXPECT_EQ(co_await ws.receive_str(), "early");
        // The raw server then hangs up without a close frame: closed, 1006, no hang.
        WSMessage m = co_await ws.receive();
        EXPECT_EQ(m.type, WSMsgType::CLOSED);
        EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(1006));
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(WsClient, SessionHeadersCookiesAndAuthGoWithTheHandshake) {
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto got = std::make_shared<aio::http::Headers>();
        s.app.router().add_get("/ws", [got](Request r) -> aio::Task<Response> {
            *got = r.headers();
            WebSocketResponse ws;
            co_await ws.prepare(r);
            co_await ws.send_str("hi");
            (void)co_await ws.receive();
            co_return ws;
        });
        co_await s.start();
        aio::http::ClientSessionOptions so;
        so.headers.add("X-Default", "d");
        so.auth = aio::http::BasicAuth("user", "pw");
        ClientSession session(so);
        session.cookie_jar().set("sid", "42", aio::http::URL(s.url("/")));
        ClientWSOptions o;
        o.origin = "http://example.org";
        o.headers.add("X-Mine", "m");
        o.params = {{"q", "1"}};
        ClientWebSocketResponse ws =
            co_await session.ws_connect("ws://127.0.0.1:" + std::to_string(s.port) + "/ws", o);
        EXPECT_EQ(co_await ws.receive_str(), "hi");
        co_await ws.close();
        co_await s.stop();
        EXPECT_EQ(got->get("X-Default").value_or(""), "d");
        EXPECT_EQ(got->get("X-Mine").value_or(""), "m");
        EXPECT_EQ(got->get("Origin").value_or(""), "http://example.org");
        EXPECT_EQ(got->get("Cookie").value_or(""), "sid=42");
        EXPECT_EQ(got->get("Authorization").value_or(""), aio::http::BasicAuth("user", "pw").encode());
    }());
}

TEST(WsClient, WssThroughTheSessionsTls) {
    aiotest::Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::run_net([&]() -> aio::Task<void> {
        aio::http::Application app;
        auto seen = std::make_shared<WsSeen>();
        add_ws_echo(app, seen);
        aio::http::AppRunner runner(app);
        co_await runner.setup();
        aio::http::TCPSiteOptions to;
        to.ssl = aio::SSLContext::server(certs.cert, certs.key);
        aio::http::TCPSite site(runner, "127.0.0.1", 0, to);
        co_await site.start();
        {
            ClientSession session;
            ClientWSOptions o;
            o.ssl = aiotest::trusting(certs.ca);
            o.compress = 15;
            // The certificate names localhost.
            std::string url = "wss://localhost:" + std::to_string(site.port()) + "/ws";
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            co_await ws.send_str("secret");
            EXPECT_EQ(co_await ws.receive_str(), "secret");
            EXPECT_TRUE(ws.compress());
            EXPECT_TRUE(co_await ws.close());
        }
        site.stop();
        co_await runner.cleanup();
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1000));
    }());
}

// wss:// through an HTTP proxy: a CONNECT tunnel (tinyproxy), TLS checked against the server.
TEST(WsClient, WssThroughAProxyTunnel) {
    if (!aiotest::file_exists(aiotest::kTinyproxy)) GTEST_SKIP() << "tinyproxy is not installed";
    aiotest::Certs certs;
    ASSERT_TRUE(certs.ok);
    const uint16_t port = aiotest::unused_port();
    aiotest::Tinyproxy proxy("ConnectPort " + std::to_string(port) + "\n");
    ASSERT_TRUE(proxy.up()) << "tinyproxy did not start";
    aiotest::run_net([&]() -> aio::Task<void> {
        aio::http::Application app;
        auto seen = std::make_shared<WsSeen>();
        add_ws_echo(app, seen);
        aio::http::AppRunner runner(app);
        co_await runner.setup();
        aio::http::TCPSiteOptions to;
        to.ssl = aio::SSLContext::server(certs.cert, certs.key);
        aio::http::TCPSite site(runner, "127.0.0.1", port, to);
        co_await site.start();
        {
            ClientSession session;
            ClientWSOptions o;
            o.ssl = aiotest::trusting(certs.ca);
            o.proxy = proxy.url();
            ClientWebSocketResponse ws =
                co_await session.ws_connect("wss://localhost:" + std::to_string(port) + "/ws", o);
            co_await ws.send_str("tunnelled");
            EXPECT_EQ(co_await ws.receive_str(), "tunnelled");
            EXPECT_TRUE(co_await ws.close());
        }
        site.stop();
        co_await runner.cleanup();
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1000));
    }());
    EXPECT_EQ(proxy.count_in_log("CONNECT localhost:" + std::to_string(port) + " HTTP/1.1"), 1u) << proxy.log();
}

TEST(WsClient, ReceiveTimeoutConcurrentReceiveAndHeartbeat) {
    aiotest::run_net([&]() -> aio::Task<void> {
        // A server that completes the handshake and then never answers anything (pings included).
        aio::Server server = co_await raw_server([](const std::string& k) { return answer_101(ws::accept_key(k)); });
        ClientSession session;
        const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/";
        {
            ClientWSOptions o;
            o.timeout.ws_receive = 10ms;
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            bool timed_out = false;
            try {
                (void)co_await ws.receive();
            } catch (const aio::TimeoutError&) {
                timed_out = true;
            }
            EXPECT_TRUE(timed_out);
            EXPECT_FALSE(ws.closed());
            // A second receive while one waits: RuntimeError, and the first is undisturbed.
            auto first = aio::create_task(ws.receive(1s));
            co_await aio::sleep(0s);  // let it start waiting
            bool concurrent = false;
            try {
                (void)co_await ws.receive();
            } catch (const aio::RuntimeError&) {
                concurrent = true;
            }
            EXPECT_TRUE(concurrent);
            first.cancel();
            try {
                (void)co_await first;
            } catch (const aio::CancelledError&) {
            }
            co_await ws.send_str("still usable");
        }
        {
            ClientWSOptions o;
            o.heartbeat = 20ms;
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            WSMessage m = co_await ws.receive();  // ends when the heartbeat gives up on the peer
            EXPECT_EQ(m.type, WSMsgType::CLOSED);
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(1006));
        }
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(WsClient, SessionCloseAndDroppingTheHandleCloseTheSocket) {
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        auto first = std::make_shared<WsSeen>();
        auto seen = std::make_shared<WsSeen>();
        add_ws_echo(s.app, first, {}, "/first");
        add_ws_echo(s.app, seen);
        co_await s.start();
        const std::string url = "ws://127.0.0.1:" + std::to_string(s.port) + "/ws";
        {
            ClientSession session;
            ClientWebSocketResponse ws =
                co_await session.ws_connect("ws://127.0.0.1:" + std::to_string(s.port) + "/first");
            co_await session.close();
            WSMessage m = co_await ws.receive();
            EXPECT_EQ(m.type, WSMsgType::CLOSED);
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(1006));
        }
        {
            ClientSession session;
            {
                ClientWebSocketResponse ws = co_await session.ws_connect(url);
                co_await ws.send_str("x");
                EXPECT_EQ(co_await ws.receive_str(), "x");
                // A moved-from handle is empty: closed, and an error to use, not a crash.
                ClientWebSocketResponse moved = std::move(ws);
                EXPECT_TRUE(ws.closed());  // NOLINT(bugprone-use-after-move)
                EXPECT_FALSE(ws.close_code().has_value());
                EXPECT_THROW(static_cast<void>(ws.send_str("y")), std::logic_error);
                EXPECT_THROW(static_cast<void>(ws.iter()), std::logic_error);
                EXPECT_FALSE(moved.closed());
                ws = std::move(moved);
            }  // dropped open: a close frame (1000) goes out
            // The server's handler ends once it has read the close frame.
            co_await seen->done.wait();
        }
        co_await s.stop();
        EXPECT_EQ(seen->close_code, std::optional<uint16_t>(1000));
    }());
}

// ---------------------------------------------------------------------------------------------
// python3-websockets as the server

// Serves one connection with an echo, then prints what it negotiated and exits.
const char* kWebsocketsServer = R"PY(
import asyncio, sys, websockets
async def main(comp):
    done = asyncio.get_running_loop().create_future()
    async def echo(ws, path=None):
        try:
            async for m in ws:
                await ws.send(m)
        finally:
            if not done.done():
                done.set_result((ws.response_headers.get("Sec-WebSocket-Extensions"), ws.close_code))
    async with websockets.serve(echo, "127.0.0.1", 0, compression=("deflate" if comp == "1" else None),
                                max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        ext, code = await done
        print(ext, code, flush=True)
asyncio.run(main(sys.argv[1]))
)PY";

void websockets_server(bool compress) {
    std::string py = python_with("websockets");
    if (py.empty()) GTEST_SKIP() << "python3-websockets is not installed";
    aiotest::run_net([&]() -> aio::Task<void> {
        std::optional<aiotest::PythonServer> server =
            co_await aiotest::start_python_server(py, kWebsocketsServer, compress ? "1" : "0");
        if (!server) co_return;
        aio::Process& p = server->process;
        {
            ClientSession session;
            ClientWSOptions o;
            o.compress = compress ? 15 : 0;
            std::string url = "ws://127.0.0.1:" + std::to_string(server->port) + "/";
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            EXPECT_EQ(ws.compress(), compress);
            co_await ws.send_str("h\xc3\xa9llo");
            EXPECT_EQ(co_await ws.receive_str(), "h\xc3\xa9llo");
            std::string bin("\x00\x01" "bin", 5);
            co_await ws.send_bytes(bin);
            EXPECT_EQ(co_await ws.receive_bytes(), bin);
            std::string big(300000, 'q');
            co_await ws.send_str(big);
            EXPECT_EQ(co_await ws.receive_str(), big);
            co_await ws.ping("p");
            EXPECT_TRUE(co_await ws.close());
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(1000));
        }
        auto res = co_await p.communicate();
        int code = co_await p.wait();
        EXPECT_EQ(code, 0) << res.stderr_data.value_or("");
        if (compress)  // websockets answers with its own window sizes
            EXPECT_EQ(res.stdout_data.value_or("").rfind("permessage-deflate", 0), 0u) << res.stdout_data.value_or("");
        else
            EXPECT_EQ(res.stdout_data.value_or(""), "None 1000\n");
    }());
}

TEST(WsClient, PythonWebsocketsServerEchoesWithDeflate) { websockets_server(true); }
TEST(WsClient, PythonWebsocketsServerEchoesWithoutDeflate) { websockets_server(false); }

// ---------------------------------------------------------------------------------------------
// aiohttp's web.WebSocketResponse as the server

// Serves one connection with an echo, then prints what it agreed and how our client closed:
// "<compress> <close code> <reason> <what it received>" (text by its length in characters).
// aiohttp's autoclose answers with 1000.
const char* kAiohttpServer = R"PY(
import asyncio, sys
from aiohttp import web, WSMsgType
async def main(comp):
    done = asyncio.get_running_loop().create_future()
    async def handler(request):
        ws = web.WebSocketResponse(compress=(comp == "1"))
        await ws.prepare(request)
        got, code, reason = [], None, None
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.TEXT:
                got.append("T%d" % len(msg.data))
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                got.append("B%d" % len(msg.data))
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.CLOSE:
                code, reason = msg.data, msg.extra
                break
            else:
                got.append(msg.type.name)
                break
        if not done.done():
            done.set_result((bool(ws.compress), code, reason, got))
        return ws
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    comp_ok, code, reason, got = await done
    print(comp_ok, code, repr(reason), " ".join(got), flush=True)
    await runner.cleanup()
asyncio.run(main(sys.argv[1]))
)PY";

void aiohttp_server(bool compress) {
    std::string py = python_with("aiohttp");
    if (py.empty()) GTEST_SKIP() << "python3-aiohttp is not installed";
    aiotest::run_net([&]() -> aio::Task<void> {
        std::optional<aiotest::PythonServer> server =
            co_await aiotest::start_python_server(py, kAiohttpServer, compress ? "1" : "0");
        if (!server) co_return;
        aio::Process& p = server->process;
        {
            ClientSession session;
            ClientWSOptions o;
            o.compress = compress ? 15 : 0;
            o.autoping = false;  // receive() returns the pong
            std::string url = "ws://127.0.0.1:" + std::to_string(server->port) + "/ws";
            ClientWebSocketResponse ws = co_await session.ws_connect(url, o);
            EXPECT_EQ(ws.compress(), compress);
            co_await ws.send_str("h\xc3\xa9llo");
            EXPECT_EQ(co_await ws.receive_str(), "h\xc3\xa9llo");
            std::string bin("\x00\x01\xff", 3);
            co_await ws.send_bytes(bin);
            WSMessage m = co_await ws.receive();
            EXPECT_EQ(m.type, WSMsgType::BINARY);
            EXPECT_EQ(m.data, bin);
            std::string big(1024 * 1024, '\0');
            for (size_t i = 0; i < big.size(); ++i)
                big[i] = static_cast<char>((i * 7919) >> 3);
            co_await ws.send_bytes(big);
            EXPECT_TRUE(co_await ws.receive_bytes() == big);
            co_await ws.ping("are you there");
            WSMessage pong = co_await ws.receive();
            EXPECT_EQ(pong.type, WSMsgType::PONG);
            EXPECT_EQ(pong.data, "are you there");
            EXPECT_TRUE(co_await ws.close(4001, "done here"));
            EXPECT_EQ(ws.close_code(), std::optional<uint16_t>(1000));  // aiohttp's answer
        }
        auto res = co_await p.communicate();
        int code = co_await p.wait();
        EXPECT_EQ(code, 0) << res.stderr_data.value_or("");
        EXPECT_EQ(res.stdout_data.value_or(""),
                  std::string(compress ? "True" : "False") + " 4001 'done here' T5 B3 B1048576\n");
    }());
}

TEST(WsClient, AiohttpServerEchoesWithDeflate) { aiohttp_server(true); }
TEST(WsClient, AiohttpServerEchoesWithoutDeflate) { aiohttp_server(false); }

}  // namespace
