// Streams over real TCP and Unix sockets (include/aio/net/streams.hpp).
#include <gtest/gtest.h>

#include "net_test_util.hpp"

using namespace std::chrono_literals;
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
