// The server's defences: request smuggling and malformed requests (400 and the connection
// closed), size limits (413, 414, 431), timeouts (408, keep-alive), the connection limit (503).
// After each, the server still answers the next client.
#include <gtest/gtest.h>

#include "web_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::Request;
using aio::http::Response;
using aiotest::TestServer;

namespace {

aio::Task<Response> hello(Request) { co_return Response("Hello, World!"); }
aio::Task<Response> echo_body(Request r) { co_return Response("got " + co_await r.read()); }

struct BadCase {
    const char* name;
    const char* bytes;
    int status;
};

TEST(WebLimits, MalformedAndSmugglingRequestsGet400AndTheConnectionCloses) {
    const BadCase cases[] = {
        {"CL and TE", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"two CL", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
        {"CL list", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400},
        {"bare LF", "GET / HTTP/1.1\nHost: t\n\n", 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400},
        {"bad request line", "GARBAGE\r\n\r\n", 400},
        {"TE not chunked", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        {"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
        {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"NUL in a header", "GET / HTTP/1.1\r\nHost: t\r\nX: a\x01z\r\n\r\n", 400},
        {"target not a path", "GET index.html HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"bad escape", "GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        {"Expect other", "POST /e HTTP/1.1\r\nHost: t\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417},
    };
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        int admin = 0;
        s.app.router().add_get("/", hello);
        s.app.router().add_post("/e", echo_body);
        s.app.router().add_get("/admin", [&admin](Request) -> aio::Task<Response> {
            ++admin;
            co_return Response("admin");
        });
        co_await s.start();
        for (const BadCase& c : cases) {
            // raw_exchange returns only once the server has closed the connection.
            std::string r = co_await aiotest::raw_exchange(s.port, c.bytes);
            EXPECT_EQ(aiotest::status_of(r), c.status) << c.name << ":\n" << r;
            EXPECT_EQ(aiotest::count_responses(r), 1) << c.name << ":\n" << r;
            EXPECT_NE(r.find("Connection: close"), std::string::npos) << c.name;
            std::string ok = co_await aiotest::raw_exchange(s.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            EXPECT_EQ(aiotest::status_of(ok), 200) << "after " << c.name;
        }
        EXPECT_EQ(admin, 0) << "a smuggled request was answered";
        EXPECT_EQ(s.runner->connections(), 0u);
        co_await s.stop();
    }());
}

TEST(WebLimits, AnInvalidChunkSizeFailsTheBodyWith400) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_post("/e", echo_body);
        co_await s.start();
        std::string r = co_await aiotest::raw_exchange(
            s.port, "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(r), 400) << r;
        EXPECT_EQ(aiotest::count_responses(r), 1) << r;
    }());
}

TEST(WebLimits, OversizedHeadersGet431AndALongTargetGets414) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        co_await s.start();
        std::string big_field = "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n";
        std::string many;
        for (int i = 0; i < 2000; ++i) many += "X-" + std::to_string(i) + ": " + std::string(20, 'v') + "\r\n";
        std::string many_fields = "GET / HTTP/1.1\r\nHost: t\r\n" + many + "\r\n";
        std::string long_target = "GET /" + std::string(9000, 'p') + " HTTP/1.1\r\nHost: t\r\n\r\n";
        std::string r1 = co_await aiotest::raw_exchange(s.port, big_field);
        std::string r2 = co_await aiotest::raw_exchange(s.port, many_fields);
        std::string r3 = co_await aiotest::raw_exchange(s.port, long_target);
        std::string ok = co_await aiotest::raw_exchange(s.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(r1), 431) << r1;
        EXPECT_EQ(aiotest::status_of(r2), 431) << r2;
        EXPECT_EQ(aiotest::status_of(r3), 414) << r3;
        EXPECT_EQ(aiotest::status_of(ok), 200);
    }());
}

TEST(WebLimits, ABodyOverClientMaxSizeGets413WithoutRunningTheHandler) {
    aiotest::run_net([]() -> aio::Task<void> {
        aio::http::ApplicationOptions o;
        o.client_max_size = 1000;
        TestServer s(o);
        int ran = 0;
        s.app.router().add_post("/e", [&ran](Request r) -> aio::Task<Response> {
            ++ran;
            co_return Response("got " + std::to_string((co_await r.read()).size()));
        });
        co_await s.start();
        // Declared too large: refused before one byte of the body is read.
        std::string declared = co_await aiotest::raw_exchange(
            s.port, "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
        EXPECT_EQ(ran, 0);
        // Chunked: the handler's read fails with 413 once the limit is passed.
        std::string chunked = "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 3; ++i) chunked += "258\r\n" + std::string(600, 'y') + "\r\n";
        chunked += "0\r\n\r\n";
        std::string streamed = co_await aiotest::raw_exchange(s.port, chunked);
        std::string fits = co_await aiotest::raw_exchange(
            s.port, "POST /e HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'z'));
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(declared), 413) << declared;
        EXPECT_EQ(aiotest::status_of(streamed), 413) << streamed;
        EXPECT_EQ(aiotest::count_responses(streamed), 1);
        EXPECT_TRUE(fits.ends_with("got 1000")) << fits;
    }());
}

TEST(WebLimits, SlowlorisGets408WithinTheHeaderTimeout) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        aio::http::ServerConfig cfg;
        cfg.header_timeout = 300ms;
        co_await s.start(cfg);
        auto& loop = aio::get_running_loop();
        double t0 = loop.time();
        auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
        // Trickle the head a byte at a time: each byte is news, but the head never ends.
        auto trickle = aio::create_task([](aio::StreamWriter wr) -> aio::Task<void> {
            std::string head = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ";
            try {
                for (size_t i = 0;; ++i) {
                    wr.write(std::string(1, i < head.size() ? head[i] : 'z'));
                    co_await wr.drain();
                    co_await aio::sleep(20ms);
                }
            } catch (const std::system_error&) {
            }
        }, w);
        std::string got;
        for (;;) {
            std::string chunk;
            try {
                chunk = co_await r.read(4096);
            } catch (const std::system_error&) {
                break;
            }
            if (chunk.empty()) break;
            got += chunk;
        }
        double elapsed = loop.time() - t0;
        trickle.cancel();
        w.close();
        std::string ok = co_await aiotest::raw_exchange(s.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(got), 408) << got;
        EXPECT_GE(elapsed, 0.25);
        EXPECT_LT(elapsed, 5.0);
        EXPECT_EQ(aiotest::status_of(ok), 200);
    }());
}

TEST(WebLimits, AnIdleKeepAliveConnectionClosesAfterTheKeepAliveTimeout) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        aio::http::ServerConfig cfg;
        cfg.keepalive_timeout = 150ms;
        co_await s.start(cfg);
        auto& loop = aio::get_running_loop();
        auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
        w.write("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        co_await w.drain();
        std::string head = co_await r.readuntil("\r\n\r\n");
        std::string body = co_await r.readexactly(13);
        double t0 = loop.time();
        std::string after = co_await r.read();  // EOF when the server closes
        double idle = loop.time() - t0;
        w.close();
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(head), 200);
        EXPECT_EQ(after, "");
        EXPECT_GE(idle, 0.1);
        EXPECT_LT(idle, 5.0);
    }());
}

TEST(WebLimits, BeyondMaxConnectionsANewClientGets503) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        aio::http::ServerConfig cfg;
        cfg.max_connections = 1;
        co_await s.start(cfg);
        auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
        w.write("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        co_await w.drain();
        std::string head = co_await r.readuntil("\r\n\r\n");  // the first one is in
        std::string second = co_await aiotest::raw_exchange(s.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        w.close();
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(head), 200);
        EXPECT_EQ(aiotest::status_of(second), 503) << second;
    }());
}

TEST(WebLimits, Expect100ContinueIsAnsweredBeforeTheBodyIsSent) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_post("/e", echo_body);
        co_await s.start();
        auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
        w.write("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
        co_await w.drain();
        std::string interim = co_await r.readuntil("\r\n\r\n");
        w.write("hello");
        co_await w.drain();
        std::string rest = co_await r.read();
        std::string more;
        while (!(more = co_await r.read()).empty()) rest += more;
        w.close();
        co_await s.stop();
        EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
        EXPECT_EQ(aiotest::status_of(rest), 200) << rest;
        EXPECT_TRUE(rest.ends_with("got hello")) << rest;
    }());
}

}  // namespace
