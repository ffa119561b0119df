// Streaming both ways (request.content, StreamResponse), clients that vanish, the app's
// lifetime (on_startup, on_cleanup, graceful cleanup) and the access log.
#include <gtest/gtest.h>

#include "web_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::Request;
using aio::http::Response;
using aiotest::TestServer;

namespace {

aio::Task<Response> hello(Request) { co_return Response("Hello, World!"); }

TEST(WebStream, ChunkedStreamResponseReachesCurlWhole) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/stream", [](Request r) -> aio::Task<Response> {
            aio::http::StreamResponse resp;
            resp.set_content_type("text/plain");
            co_await resp.prepare(r);
            for (int i = 0; i < 3; ++i) co_await resp.write("part" + std::to_string(i) + ";");
            co_await resp.write_eof();
            co_return resp;
        });
        s.app.router().add_get("/unfinished", [](Request r) -> aio::Task<Response> {
            aio::http::StreamResponse resp;
            co_await resp.prepare(r);
            co_await resp.write("the server ends the body");
            co_return resp;  // no write_eof: the server sends the last chunk
        });
        co_await s.start();
        std::vector<std::string> a{"-s", s.url("/stream")};
        auto body = co_await aiotest::run_process("curl", std::move(a));
        std::string raw = co_await aiotest::raw_exchange(
            s.port, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\nGET /unfinished HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(body.out, "part0;part1;part2;");
        EXPECT_NE(raw.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << raw;
        EXPECT_NE(raw.find("6\r\npart0;\r\n"), std::string::npos) << raw;
        EXPECT_NE(raw.find("0\r\n\r\nHTTP/1.1 200"), std::string::npos) << raw;  // the next response follows
        EXPECT_TRUE(raw.ends_with("18\r\nthe server ends the body\r\n0\r\n\r\n")) << raw;
    }());
}

TEST(WebStream, ARequestBodyIsReadAsItArrives) {
    aiotest::run_net([]() -> aio::Task<void> {
        aio::http::ApplicationOptions o;
        o.client_max_size = 16 * 1024 * 1024;
        TestServer s(o);
        s.app.router().add_post("/count", [](Request r) -> aio::Task<Response> {
            auto chunks = r.content().iter_chunked(65536);
            uint64_t total = 0, pieces = 0, sum = 0;
            while (auto c = co_await chunks.next()) {
                total += c->size();
                ++pieces;
                for (unsigned char b : *c) sum += b;
            }
            co_return Response(std::to_string(total) + " " + std::to_string(sum) + " " + (pieces > 1 ? "many" : "one"));
        });
        co_await s.start();
        aiotest::TempDir dir;
        std::string file = dir.path() + "/big.bin";
        uint64_t expect_sum = 0;
        {
            std::string data(5 * 1024 * 1024, '\0');
            for (size_t i = 0; i < data.size(); ++i) {
                data[i] = static_cast<char>(i * 7 + 3);
                expect_sum += static_cast<unsigned char>(data[i]);
            }
            FILE* fp = std::fopen(file.c_str(), "wb");
            std::fwrite(data.data(), 1, data.size(), fp);
            std::fclose(fp);
        }
        std::vector<std::string> a{"-s", "--data-binary", "@" + file, s.url("/count")};
        auto r = co_await aiotest::run_process("curl", std::move(a));
        std::vector<std::string> b{"-s", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file, s.url("/count")};
        auto rc = co_await aiotest::run_process("curl", std::move(b));
        co_await s.stop();
        std::string expect = std::to_string(5 * 1024 * 1024) + " " + std::to_string(expect_sum) + " many";
        EXPECT_EQ(r.out, expect);
        EXPECT_EQ(rc.out, expect);
    }());
}

TEST(WebStream, AClientThatVanishesMidResponseFailsTheHandlersWriteAndTheServerGoesOn) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        aio::Future<std::string> outcome = aio::create_future<std::string>();
        s.app.router().add_get("/", hello);
        s.app.router().add_get("/big", [outcome](Request r) mutable -> aio::Task<Response> {
            aio::http::StreamResponse resp;
            co_await resp.prepare(r);
            std::string block(64 * 1024, 'b');
            std::string what = "finished";
            try {
                for (int i = 0; i < 10000; ++i) co_await resp.write(block);
            } catch (const std::system_error& e) {
                what = e.code() == std::errc::connection_reset ? "reset" : e.what();
            }
            outcome.set_result(what);
            co_return resp;
        });
        co_await s.start();
        {
            auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
            w.write("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
            co_await w.drain();
            std::string first = co_await r.read(1024);
            EXPECT_EQ(aiotest::status_of(first), 200);
            w.transport().abort();
        }
        std::string what = co_await aio::wait_for(outcome, 10s);
        std::string ok = co_await aiotest::raw_exchange(s.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(what, "reset");
        EXPECT_EQ(aiotest::status_of(ok), 200);
    }());
}

TEST(WebStream, CleanupFinishesRequestsInFlightAndClosesIdleConnections) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        aio::Event entered, release;
        std::vector<std::string> lifecycle;
        s.app.on_startup.push_back([&lifecycle](aio::http::Application&) -> aio::Task<void> {
            lifecycle.push_back("startup");
            co_return;
        });
        s.app.on_cleanup.push_back([&lifecycle](aio::http::Application&) -> aio::Task<void> {
            lifecycle.push_back("cleanup");
            co_return;
        });
        s.app.router().add_get("/", hello);
        s.app.router().add_get("/slow", [&](Request) -> aio::Task<Response> {
            entered.set();
            co_await release.wait();
            co_return Response("finished late");
        });
        co_await s.start();
        // An idle keep-alive connection, and one with a request in flight.
        auto [ir, iw] = co_await aio::open_connection("127.0.0.1", s.port);
        iw.write("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        co_await iw.drain();
        (void)co_await ir.readuntil("\r\n\r\n");
        (void)co_await ir.readexactly(13);
        auto slow = aio::create_task(aiotest::raw_exchange(s.port, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
        co_await entered.wait();
        auto cleanup = aio::create_task(s.stop());
        std::string idle_after = co_await ir.read();  // closed at once: EOF
        EXPECT_EQ(idle_after, "");
        EXPECT_FALSE(cleanup.done());
        release.set();
        std::string late = co_await slow;
        co_await cleanup;
        iw.close();
        EXPECT_EQ(aiotest::status_of(late), 200) << late;
        EXPECT_TRUE(late.ends_with("finished late")) << late;
        EXPECT_NE(late.find("Connection: close"), std::string::npos);
        EXPECT_EQ(s.runner->connections(), 0u);
        EXPECT_EQ(lifecycle, (std::vector<std::string>{"startup", "cleanup"}));
    }());
}

TEST(WebStream, CleanupCutsOffWhatOutlivesTheShutdownTimeout) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        aio::Event entered, never;
        s.app.router().add_get("/stuck", [&](Request) -> aio::Task<Response> {
            entered.set();
            co_await never.wait();
            co_return Response("never");
        });
        aio::http::ServerConfig cfg;
        cfg.shutdown_timeout = 100ms;
        co_await s.start(cfg);
        auto stuck = aio::create_task(aiotest::raw_exchange(s.port, "GET /stuck HTTP/1.1\r\nHost: t\r\n\r\n"));
        co_await entered.wait();
        double t0 = aio::get_running_loop().time();
        co_await s.stop();
        double took = aio::get_running_loop().time() - t0;
        std::string got = co_await stuck;
        EXPECT_EQ(got, "");  // cut off: no response at all, the connection closed
        EXPECT_GE(took, 0.09);
        EXPECT_LT(took, 5.0);
        EXPECT_EQ(s.runner->connections(), 0u);
    }());
}

TEST(WebStream, TheAccessLogHasAiohttpsFormat) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        std::vector<std::string> lines;
        aio::http::ServerConfig cfg;
        cfg.access_log = [&lines](std::string_view line) { lines.emplace_back(line); };
        co_await s.start(cfg);
        std::string r = co_await aiotest::raw_exchange(
            s.port, "GET /?q=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: tester/1\r\nReferer: http://x/\r\n\r\n"
                    "GET /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        NET_CO_ASSERT(lines.size() == 2u);
        EXPECT_TRUE(lines[0].starts_with("127.0.0.1 [")) << lines[0];
        EXPECT_TRUE(lines[0].ends_with("] \"GET /?q=1 HTTP/1.1\" 200 13 \"http://x/\" \"tester/1\"")) << lines[0];
        EXPECT_TRUE(lines[1].ends_with("\"GET /missing HTTP/1.1\" 404 14 \"-\" \"-\"")) << lines[1];
    }());
}

}  // namespace

namespace {
// access_log_to_fd: every request's line reaches the fd, whole and in order, although the three
// pipelined requests are logged within one loop iteration (one batch).
TEST(WebStream, TheFdAccessLogWritesEveryLineInOrder) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        aio::http::ServerConfig cfg;
        cfg.access_log = aio::http::access_log_to_fd(fds[1]);
        co_await s.start(cfg);
        std::string r = co_await aiotest::raw_exchange(s.port,
                                                       "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                                                       "GET /2 HTTP/1.1\r\nHost: t\r\n\r\n"
                                                       "GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(aiotest::count_responses(r), 3);
    }());
    ::close(fds[1]);
    std::string logged;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) logged.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    EXPECT_NE(logged.find("\"GET /1 HTTP/1.1\" 404"), std::string::npos) << logged;
    EXPECT_NE(logged.find("\"GET /2 HTTP/1.1\" 404"), std::string::npos);
    EXPECT_NE(logged.find("\"GET /3 HTTP/1.1\" 404"), std::string::npos);
    EXPECT_EQ(std::count(logged.begin(), logged.end(), '\n'), 3);
    EXPECT_LT(logged.find("GET /1"), logged.find("GET /2"));
    EXPECT_LT(logged.find("GET /2"), logged.find("GET /3"));
}
}  // namespace
