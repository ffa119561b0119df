// The runner's other ways in and out: HTTPS sites, serve_app's graceful stop on SIGTERM, and
// what a site that cannot bind says.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "sanitizers.hpp"
#include "web_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::Request;
using aio::http::Response;

namespace {

aio::Task<Response> hello(Request r) { co_return Response(std::string("Hello over ") + std::string(r.scheme())); }

TEST(WebRunner, AnHttpsSiteServesCurlWithACertificateItTrusts) {
    aiotest::TempDir dir;
    std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
    std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
                      key + "' -out '" + cert + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl could not make a certificate";
    aiotest::run_net([&]() -> aio::Task<void> {
        aio::http::Application app;
        app.router().add_get("/", hello);
        aio::http::AppRunner runner(app);
        co_await runner.setup();
        aio::http::TCPSiteOptions o;
        o.ssl = aio::SSLContext::server(cert, key);
        aio::http::TCPSite site(runner, "127.0.0.1", 0, o);
        co_await site.start();
        std::string url = "https://localhost:" + std::to_string(site.port()) + "/";
        std::vector<std::string> ok_args{"-s", "--cacert", cert, "--resolve",
                                         "localhost:" + std::to_string(site.port()) + ":127.0.0.1", url};
        auto ok = co_await aiotest::run_process("curl", std::move(ok_args));
        std::vector<std::string> bad_args{"-s", "--resolve", "localhost:" + std::to_string(site.port()) + ":127.0.0.1", url};
        auto untrusted = co_await aiotest::run_process("curl", std::move(bad_args));
        std::vector<std::string> again_args{"-s", "--cacert", cert, "--resolve",
                                            "localhost:" + std::to_string(site.port()) + ":127.0.0.1", url};
        auto again = co_await aiotest::run_process("curl", std::move(again_args));
        EXPECT_EQ(site.name(), "https://127.0.0.1:" + std::to_string(site.port()));
        co_await runner.cleanup();
        EXPECT_EQ(ok.code, 0) << ok.err;
        EXPECT_EQ(ok.out, "Hello over https");
        EXPECT_NE(untrusted.code, 0);  // curl refuses a certificate it cannot verify
        EXPECT_EQ(again.out, "Hello over https");  // the failed handshake did not hurt the server
    }());
}

TEST(WebRunner, ServeAppStopsGracefullyOnSigterm) {
    aiotest::run_net([]() -> aio::Task<void> {
        aio::http::Application app;
        aio::Event entered;
        app.router().add_get("/slow", [&entered](Request) -> aio::Task<Response> {
            entered.set();
            co_await aio::sleep(100ms);
            co_return Response("done");
        });
        aio::Future<uint16_t> started = aio::create_future<uint16_t>();
        aio::http::RunAppOptions o;
        o.print_banner = false;
        auto server = aio::create_task(aio::http::serve_app(app, "127.0.0.1", 0, o, [started](uint16_t p) mutable {
            started.set_result(p);
        }));
        uint16_t port = co_await started;
        auto slow = aio::create_task(aiotest::raw_exchange(port, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
        co_await entered.wait();
        ::raise(SIGTERM);  // the loop's handler turns it into a graceful stop
        co_await server;   // returns once the request in flight was answered
        std::string got = co_await slow;
        EXPECT_EQ(aiotest::status_of(got), 200) << got;
        EXPECT_TRUE(got.ends_with("done"));
        auto refused = co_await aiotest::capture<std::system_error>(aio::open_connection("127.0.0.1", port));
        EXPECT_TRUE(refused.has_value());  // no longer listening
    }());
}

// One blocking HTTP/1.1 exchange with Connection: close; the whole answer.
std::string blocking_get(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string got;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
        const std::string req = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
            char buf[4096];
            ssize_t n;
            while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
        }
    }
    ::close(fd);
    return got;
}

// run_app with workers: a loop per worker, each accepting on the one port (SO_REUSEPORT), each
// running on_startup and on_cleanup; one SIGTERM shuts them all down gracefully.
TEST(WebRunner, RunAppWithWorkersServesOnEveryLoopAndOneSigtermStopsThemAll) {
#if AIO_UNDER_TSAN
    AIO_TSAN_DEFERS_SIGNALS_SKIP();  // its only way to stop run_app is the signal
#endif
    aio::http::Application app;
    std::mutex m;
    std::set<std::thread::id> served_by;
    app.router().add_get("/", [&](Request) -> aio::Task<Response> {
        {
            std::lock_guard lk(m);
            served_by.insert(std::this_thread::get_id());
        }
        co_return Response("hi");
    });
    std::atomic<int> startups{0}, cleanups{0};
    app.on_startup.push_back([&](aio::http::Application&) -> aio::Task<void> {
        ++startups;
        co_return;
    });
    app.on_cleanup.push_back([&](aio::http::Application&) -> aio::Task<void> {
        ++cleanups;
        co_return;
    });
    // The port: held by a socket of ours that has SO_REUSEPORT and does not listen, so no
    // connection goes to it and no other program can take the port meanwhile.
    int holder = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ASSERT_EQ(::setsockopt(holder, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socklen_t len = sizeof sa;
    ASSERT_EQ(::getsockname(holder, reinterpret_cast<sockaddr*>(&sa), &len), 0);
    const uint16_t port = ntohs(sa.sin_port);
    std::latch listening(2);
    aio::http::RunAppOptions o;
    o.print_banner = false;
    o.workers = 2;
    o.on_started = [&](uint16_t p) {
        EXPECT_EQ(p, port);
        listening.count_down();
    };
    std::thread server([&] { aio::http::run_app(app, "127.0.0.1", port, o); });
    listening.wait();
    ::close(holder);
    // 64 connections: the kernel spreads them over the two listeners by their addresses, so
    // both loops serve (all on one would happen once in 2^63 runs).
    int ok = 0;
    for (int i = 0; i < 64; ++i) ok += aiotest::status_of(blocking_get(port)) == 200 ? 1 : 0;
    EXPECT_EQ(ok, 64);
    ::kill(::getpid(), SIGTERM);
    server.join();
    EXPECT_EQ(served_by.size(), 2u) << "one loop served every connection";
    EXPECT_EQ(served_by.count(std::this_thread::get_id()), 0u);
    EXPECT_EQ(startups.load(), 2);
    EXPECT_EQ(cleanups.load(), 2);
    EXPECT_NE(aiotest::status_of(blocking_get(port)), 200) << "still listening after SIGTERM";
}

TEST(WebRunner, ASiteOnAPortInUseSaysSo) {
    aiotest::run_net([]() -> aio::Task<void> {
        aio::http::Application app;
        app.router().add_get("/", hello);
        aio::http::AppRunner runner(app);
        co_await runner.setup();
        aio::http::TCPSite first(runner, "127.0.0.1", 0);
        co_await first.start();
        aio::http::TCPSite second(runner, "127.0.0.1", first.port());
        auto err = co_await aiotest::capture<std::system_error>(second.start());
        co_await runner.cleanup();
        NET_CO_ASSERT(err.has_value());
        EXPECT_EQ(err->code(), std::errc::address_in_use);
    }());
}

TEST(WebRunner, RoutesCannotBeAddedOnceRunningAndBadPatternsAreRefused) {
    aio::http::Application app;
    EXPECT_THROW(app.router().add_get("no-slash", hello), std::invalid_argument);
    EXPECT_THROW(app.router().add_get("/a/{id", hello), std::invalid_argument);
    EXPECT_THROW(app.router().add_get("/a/{x:(\\d+)}", hello), std::invalid_argument);
    EXPECT_THROW(app.router().add_get("/a/{x}/{x}", hello), std::invalid_argument);
    app.router().add_get("/ok", hello);
    EXPECT_THROW(app.router().add_get("/ok", hello), aio::RuntimeError);
    app.freeze();
    EXPECT_THROW(app.router().add_get("/late", hello), aio::RuntimeError);
    EXPECT_THROW(app.add_middleware([](Request r, aio::http::Handler h) { return h(r); }), aio::RuntimeError);
}

}  // namespace
