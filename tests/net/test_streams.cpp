// Streams over real TCP and Unix sockets (include/aio/net/streams.hpp).
#include <gtest/gtest.h>

#include <csignal>

#include "net_test_util.hpp"

using namespace std::chrono_literals;
using aiotest::capture;
using aiotest::open_fds;
using aiotest::run_net;

namespace {

aio::Task<void> echo_handler(aio::StreamReader r, aio::StreamWriter w) {
    while (true) {
        std::string data = co_await r.read(4096);
        if (data.empty()) break;
        w.write(data);
        co_await w.drain();
    }
    w.close();
    co_await w.wait_closed();
}

}  // namespace

TEST(Streams, EchoOverTcp) {
    run_net([]() -> aio::Task<void> {
        aio::Server server = co_await aio::start_server(echo_handler, "127.0.0.1", 0);
        auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
        w.write("hello\n");
        co_await w.drain();
        EXPECT_EQ(co_await r.readline(), "hello\n");
        w.write("abc");
        w.write_eof();
        EXPECT_EQ(co_await r.read(), "abc");  // read to EOF: the server closes after our EOF
        EXPECT_TRUE(r.at_eof());
        w.close();
        co_await w.wait_closed();
        server.close();
        co_await server.wait_closed();
        EXPECT_EQ(server.active_connections(), 0u);
    }());
}

TEST(Streams, EchoOverUnixSocket) {
    aiotest::TempDir dir;
    const std::string path = dir.path() + "/echo.sock";
    run_net([path]() -> aio::Task<void> {
        aio::Server server = co_await aio::start_unix_server(echo_handler, path);
        auto [r, w] = co_await aio::open_unix_connection(path);
        w.write("over unix\n");
        EXPECT_EQ(co_await r.readline(), "over unix\n");
        w.close();
        co_await w.wait_closed();
        server.close();
        co_await server.wait_closed();
    }());
    EXPECT_FALSE(aiotest::file_exists(path)) << "the socket file is removed when the server closes";
}

TEST(Streams, ConnectionRefusedIsASystemError) {
    // A port nobody listens on: bind one, learn its number, close it.
    const uint16_t port = aiotest::unused_port();
    run_net([port]() -> aio::Task<void> {
        try {
            co_await aio::open_connection("127.0.0.1", port);
            ADD_FAILURE() << "connected to a closed port";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
        }
    }());
}

// --- the in-memory reader ------------------------------------------------------------------------

TEST(StreamReader, AtEofOnlyOnceTheBufferIsEmpty) {
    run_net([]() -> aio::Task<void> {
        aio::StreamReader r;
        r.feed_data("xy");
        r.feed_eof();
        EXPECT_FALSE(r.at_eof()) << "EOF was fed but two bytes are still buffered";
        EXPECT_EQ(co_await r.read(1), "x");
        EXPECT_FALSE(r.at_eof());
        EXPECT_EQ(co_await r.read(1), "y");
        EXPECT_TRUE(r.at_eof());
        co_return;
    }());
}

TEST(StreamReader, BadArguments) {
    EXPECT_THROW(aio::StreamReader(0), std::invalid_argument);
    run_net([]() -> aio::Task<void> {
        aio::StreamReader r(16);
        EXPECT_EQ(r.limit(), 16u);
        auto e = co_await capture<std::invalid_argument>(r.readuntil(""));
        EXPECT_TRUE(e.has_value()) << "an empty separator";
        r.feed_eof();
        EXPECT_THROW(r.feed_data("late"), aio::RuntimeError);
    }());
}

TEST(StreamReader, SetExceptionWakesTheReaderAndSticks) {
    run_net([]() -> aio::Task<void> {
        aio::StreamReader r;
        auto t = aio::create_task(capture<std::system_error>(r.readline()));
        co_await aio::sleep(0ms);
        r.set_exception(std::make_exception_ptr(std::system_error(ECONNRESET, std::generic_category(), "boom")));
        auto e = co_await t;
        EXPECT_TRUE(e.has_value());
        EXPECT_TRUE(r.exception() != nullptr);
        auto e2 = co_await capture<std::system_error>(r.read(10));
        EXPECT_TRUE(e2.has_value()) << "every later read raises it too";
    }());
}

TEST(StreamReader, WokenThenCancelledReadLosesNothing) {
    // The data arrives and wakes the reader, and the reader is cancelled before it runs again
    // (same loop iteration): it must raise CancelledError and leave the bytes in the buffer.
    run_net([]() -> aio::Task<void> {
        aio::StreamReader r;
        auto t1 = aio::create_task(r.read(10));
        auto t2 = aio::create_task(r.readexactly(3));
        co_await aio::sleep(0ms);
        r.feed_data("abc");
        t1.cancel();
        auto c1 = co_await capture<aio::CancelledError>(t1);
        EXPECT_TRUE(c1.has_value());
        EXPECT_EQ(r.buffered(), 3u);
        EXPECT_TRUE(t2.done()) << "the second reader failed at once: two readers";
        auto e2 = co_await capture<aio::RuntimeError>(t2);
        EXPECT_TRUE(e2.has_value());
        auto t3 = aio::create_task(r.readline());
        co_await aio::sleep(0ms);
        r.feed_data("\n");
        t3.cancel();
        auto c3 = co_await capture<aio::CancelledError>(t3);
        EXPECT_TRUE(c3.has_value());
        std::string got = co_await r.readline();
        EXPECT_EQ(got, "abc\n");
    }());
}

// --- failures --------------------------------------------------------------------------------------

TEST(Streams, ConnectTimeoutLeaksNoFd) {
    run_net([]() -> aio::Task<void> {
        const int before = open_fds();
        {
            aiotest::FullListener f = co_await aiotest::full_listener();
            NET_CO_ASSERT(f.full);
            auto e =
                co_await capture<aio::TimeoutError>(aio::wait_for(aio::open_connection("127.0.0.1", f.port), 200ms));
            EXPECT_TRUE(e.has_value()) << "the connect cannot complete: the accept queue is full";
            // The same by Task.cancel() while the handshake is in flight.
            auto t = aio::create_task(aio::open_connection("127.0.0.1", f.port));
            for (int i = 0; i < 5; ++i)
                co_await aio::sleep(0ms);
            EXPECT_FALSE(t.done());
            t.cancel();
            auto c = co_await capture<aio::CancelledError>(aio::TaskHandle<aio::StreamPair>(t));
            EXPECT_TRUE(c.has_value());
        }
        EXPECT_EQ(open_fds(), before) << "the half-connected sockets were closed";
    }());
}

TEST(Streams, PeerResetMidReadIsConnectionReset) {
    run_net([]() -> aio::Task<void> {
        const int before = open_fds();
        {
            aio::Socket lsock(AF_INET, SOCK_STREAM);
            lsock.bind(aio::SockAddr::ip("127.0.0.1", 0));
            lsock.listen();
            auto [r, w] = co_await aio::open_connection("127.0.0.1", lsock.getsockname().port());
            auto [peer, addr] = co_await aio::sock_accept(lsock.fileno());
            EXPECT_EQ(addr, w.sockname());
            co_await aio::sock_sendall(peer.fileno(), "partial");
            EXPECT_EQ(co_await r.readexactly(7), "partial");
            auto t = aio::create_task(capture<std::system_error>(r.readexactly(10)));
            co_await aio::sleep(0ms);
            aiotest::reset_and_close(peer);
            auto e = co_await t;
            NET_CO_ASSERT(e.has_value());
            EXPECT_EQ(e->code(), std::errc::connection_reset) << e->what();
            auto e2 = co_await capture<std::system_error>(w.wait_closed());
            NET_CO_ASSERT(e2.has_value());
            EXPECT_EQ(e2->code(), std::errc::connection_reset) << "wait_closed() rethrows the connection's error";
            auto e3 = co_await capture<std::system_error>(w.drain());
            EXPECT_TRUE(e3.has_value()) << "so does drain()";
        }
        EXPECT_EQ(open_fds(), before);
    }());
}

TEST(Streams, WritingToAClosedPeerFailsInDrainWithoutSigpipe) {
    struct sigaction sa {};
    ::sigaction(SIGPIPE, nullptr, &sa);
    ASSERT_EQ(sa.sa_handler, SIG_DFL) << "SIGPIPE must keep its default action (kill) for this test to mean anything";
    run_net([]() -> aio::Task<void> {
        aio::Socket lsock(AF_INET, SOCK_STREAM);
        lsock.bind(aio::SockAddr::ip("127.0.0.1", 0));
        lsock.listen();
        auto [r, w] = co_await aio::open_connection("127.0.0.1", lsock.getsockname().port());
        {
            auto accepted = co_await aio::sock_accept(lsock.fileno());
            accepted.first.close();  // an orderly close: FIN, then RST for whatever we send
        }
        EXPECT_EQ(co_await r.read(), "") << "we see the peer's EOF first";
        std::optional<std::system_error> err;
        const std::string chunk(16 * 1024, 'x');
        // Polls the kernel: the peer's RST comes back for the first segment we send.
        for (int i = 0; i < 2000 && !err; ++i) {
            w.write(chunk);
            err = co_await capture<std::system_error>(w.drain());
            if (!err) co_await aio::sleep(1ms);
        }
        NET_CO_ASSERT(err.has_value());
        EXPECT_TRUE(err->code() == std::errc::broken_pipe || err->code() == std::errc::connection_reset) << err->what();
        EXPECT_TRUE(w.is_closing());
        w.write("ignored once the connection is lost");  // no throw, no signal
        w.close();
        auto e2 = co_await capture<std::system_error>(w.wait_closed());
        EXPECT_TRUE(e2.has_value());
    }());
}

TEST(Streams, CancelledAwaitsLeaveNoFdOpen) {
    run_net([]() -> aio::Task<void> {
        auto log = aiotest::ExceptionLog::install();
        const int before = open_fds();
        {
            aio::Server server = co_await aio::start_server(echo_handler, "127.0.0.1", 0);
            auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
            // read, readline, readexactly: cancelled by a timeout.
            EXPECT_TRUE((co_await capture<aio::TimeoutError>(aio::wait_for(r.read(10), 10ms))).has_value());
            EXPECT_TRUE((co_await capture<aio::TimeoutError>(aio::wait_for(r.readline(), 10ms))).has_value());
            EXPECT_TRUE((co_await capture<aio::TimeoutError>(aio::wait_for(r.readexactly(3), 10ms))).has_value());
            // drain: the echo server stops reading once it cannot write back (we do not read).
            aiotest::set_int_opt(w.transport().fileno(), SOL_SOCKET, SO_SNDBUF, 64 * 1024);
            w.write(std::string(8 * 1024 * 1024, 'd'));
            EXPECT_TRUE((co_await capture<aio::TimeoutError>(aio::wait_for(w.drain(), 20ms))).has_value());
            w.transport().abort();
            co_await w.wait_closed();
            server.close();
            co_await server.wait_closed();  // the server side sees a reset: its handler fails
        }
        EXPECT_EQ(open_fds(), before);
    }());
}

// --- client_connected_cb -------------------------------------------------------------------------

TEST(Streams, HandlerReturningClosesTheWriter) {
    run_net([]() -> aio::Task<void> {
        aio::ClientConnected cb = [](aio::StreamReader, aio::StreamWriter w) -> aio::Task<void> {
            w.write("bye");
            co_return;  // neither close() nor drain(): the server closes it, flushing first
        };
        aio::Server server = co_await aio::start_server(cb, "127.0.0.1", 0);
        auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
        EXPECT_EQ(co_await r.read(-1), "bye");
        EXPECT_TRUE(r.at_eof());
        w.close();
        co_await w.wait_closed();
        server.close();
        co_await server.wait_closed();
    }());
}

namespace {
constexpr size_t kTotal = 4 * 1024 * 1024;
}

TEST(Streams, HandlerExceptionIsReportedAndAbortsTheConnection) {
    run_net([]() -> aio::Task<void> {
        auto log = aiotest::ExceptionLog::install();
        aio::ClientConnected cb = [](aio::StreamReader, aio::StreamWriter w) -> aio::Task<void> {
            aiotest::set_int_opt(w.transport().fileno(), SOL_SOCKET, SO_SNDBUF, 64 * 1024);
            w.write(std::string(kTotal, 'z'));
            if (w.transport().get_write_buffer_size() > 0) throw std::runtime_error("handler failed");
            co_return;
        };
        aio::Server server = co_await aio::start_server(cb, "127.0.0.1", 0);
        auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
        co_await log->wait_count(1);
        EXPECT_TRUE(log->any_contains("client_connected_cb")) << log->calls[0].message;
        EXPECT_EQ(aiotest::what_of(log->calls[0].exception), "handler failed");
        // Aborted, not closed: what was still buffered in the server's transport is dropped.
        std::string got = co_await r.read(-1);
        EXPECT_LT(got.size(), kTotal);
        EXPECT_EQ(got, std::string(got.size(), 'z'));
        w.close();
        co_await w.wait_closed();
        server.close();
        co_await server.wait_closed();
        EXPECT_EQ(log->calls.size(), 1u);
    }());
}
