// aio::Socket and the loop's sock_* calls (include/aio/net/socket.hpp).
#include <fcntl.h>
#include <gtest/gtest.h>

#include <array>
#include <csignal>
#include <string>

#include "net_test_util.hpp"

using namespace std::chrono_literals;
using aiotest::capture;
using aiotest::open_fds;
using aiotest::recv_exactly;
using aiotest::run_net;

namespace {

struct Pair {
    aio::Socket listener;
    aio::Socket client;
    aio::Socket server;
};

/// A listener on 127.0.0.1 and one connection through it, made with sock_connect / sock_accept.
aio::Task<Pair> tcp_pair() {
    Pair p;
    p.listener = aio::Socket(AF_INET, SOCK_STREAM);
    p.listener.bind(aio::SockAddr::ip("127.0.0.1", 0));
    p.listener.listen();
    p.client = aio::Socket(AF_INET, SOCK_STREAM);
    const aio::SockAddr addr = p.listener.getsockname();
    co_await aio::sock_connect(p.client.fileno(), addr);
    auto [conn, peer] = co_await aio::sock_accept(p.listener.fileno());
    EXPECT_EQ(peer, p.client.getsockname());
    p.server = std::move(conn);
    co_return p;
}

bool nonblocking_cloexec(int fd) {
    return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 && (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

}  // namespace

TEST(Socket, OwnershipAndFlags) {
    const int before = open_fds();
    {
        aio::Socket s(AF_INET, SOCK_STREAM);
        EXPECT_TRUE(s);
        EXPECT_TRUE(nonblocking_cloexec(s.fileno()));
        aio::Socket moved = std::move(s);
        EXPECT_FALSE(s);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
        EXPECT_EQ(s.fileno(), -1);
        const int fd = moved.detach();
        EXPECT_FALSE(moved);
        EXPECT_EQ(open_fds(), before + 1) << "detach() does not close";
        ::fcntl(fd, F_SETFL, 0);  // blocking
        aio::Socket adopted = aio::Socket::adopt(fd);
        EXPECT_EQ(adopted.fileno(), fd);
        EXPECT_TRUE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0) << "adopt makes it non-blocking";
        adopted.close();
        adopted.close();  // idempotent
        EXPECT_EQ(adopted.fileno(), -1);
    }
    EXPECT_EQ(open_fds(), before);
    EXPECT_THROW(aio::Socket::adopt(-1), std::invalid_argument);
}

TEST(Socket, Errors) {
    aio::Socket a(AF_INET, SOCK_STREAM);
    a.bind(aio::SockAddr::ip("127.0.0.1", 0));
    a.listen();
    const aio::SockAddr addr = a.getsockname();
    aio::Socket b(AF_INET, SOCK_STREAM);
    try {
        b.bind(addr);
        ADD_FAILURE() << "bound twice to " << addr.to_string();
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::address_in_use);
        EXPECT_NE(std::string(e.what()).find(addr.to_string()), std::string::npos) << "names the address: " << e.what();
    }
    try {
        (void)b.getpeername();
        ADD_FAILURE() << "getpeername of an unconnected socket";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::not_connected);
    }
    EXPECT_THROW(aio::Socket(AF_INET, 12345), std::system_error);
}

TEST(SockCalls, RoundTrip) {
    run_net([]() -> aio::Task<void> {
        Pair p = co_await tcp_pair();
        EXPECT_TRUE(nonblocking_cloexec(p.server.fileno())) << "sock_accept's socket";
        EXPECT_EQ(p.server.getpeername(), p.client.getsockname());
        co_await aio::sock_sendall(p.client.fileno(), "hello");
        std::string got = co_await recv_exactly(p.server.fileno(), 5);
        EXPECT_EQ(got, "hello");
        co_await aio::sock_sendall(p.server.fileno(), "world!");
        std::array<std::byte, 64> buf{};
        size_t n = 0;
        while (n < 6) {
            const size_t k = co_await aio::sock_recv_into(p.client.fileno(), std::span(buf).subspan(n));
            if (k == 0) break;
            n += k;
        }
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), n), "world!");
        EXPECT_EQ(co_await aio::sock_recv(p.server.fileno(), 0), "");
        // EOF: "" from sock_recv, 0 from sock_recv_into.
        p.client.shutdown(SHUT_WR);
        std::string eof = co_await aio::sock_recv(p.server.fileno(), 100);
        EXPECT_EQ(eof, "");
        p.server.shutdown(SHUT_WR);
        const size_t zero = co_await aio::sock_recv_into(p.client.fileno(), std::span(buf));
        EXPECT_EQ(zero, 0u);
    }());
}

TEST(SockCalls, SendallSeveralMegabytesToASlowReader) {
    run_net([]() -> aio::Task<void> {
        Pair p = co_await tcp_pair();
        std::string data(6 * 1024 * 1024, '\0');
        for (size_t i = 0; i < data.size(); ++i)
            data[i] = static_cast<char>((i * 31 + i / 1000) & 0xff);
        auto sender = aio::create_task(aio::sock_sendall(p.client.fileno(), data));
        std::string got;
        size_t reads = 0;
        while (got.size() < data.size()) {
            std::string chunk = co_await aio::sock_recv(p.server.fileno(), 4096);
            if (chunk.empty()) break;
            got += chunk;
            if (++reads == 16) {
                EXPECT_FALSE(sender.done()) << "the sender waits for the reader";
            }
            co_await aio::sleep(0ms);  // a slow reader: one small read per loop iteration
        }
        co_await sender;
        EXPECT_EQ(got.size(), data.size());
        EXPECT_TRUE(got == data);
    }());
}

TEST(SockCalls, CancelledRecvTakesNothing) {
    run_net([]() -> aio::Task<void> {
        const int before = open_fds();
        {
            Pair p = co_await tcp_pair();
            const int fd = p.server.fileno();
            auto e = co_await capture<aio::TimeoutError>(aio::wait_for(aio::sock_recv(fd, 100), 10ms));
            EXPECT_TRUE(e.has_value());
            auto t = aio::create_task(aio::sock_recv(fd, 100));
            co_await aio::sleep(0ms);
            t.cancel();
            auto c = co_await capture<aio::CancelledError>(t);
            EXPECT_TRUE(c.has_value());
            std::array<std::byte, 8> buf{};
            auto e2 = co_await capture<aio::TimeoutError>(aio::wait_for(aio::sock_recv_into(fd, std::span(buf)), 10ms));
            EXPECT_TRUE(e2.has_value());
            co_await aio::sock_sendall(p.client.fileno(), "abc");
            std::string got = co_await recv_exactly(fd, 3);
            EXPECT_EQ(got, "abc") << "nothing was taken by the cancelled calls";
            EXPECT_EQ(aio::get_running_loop().stats().fds, 0u) << "no reader left registered";
        }
        EXPECT_EQ(open_fds(), before);
    }());
}

TEST(SockCalls, CancelledAcceptTakesNoConnection) {
    run_net([]() -> aio::Task<void> {
        const int before = open_fds();
        {
            aio::Socket l(AF_INET, SOCK_STREAM);
            l.bind(aio::SockAddr::ip("127.0.0.1", 0));
            l.listen();
            auto e = co_await capture<aio::TimeoutError>(aio::wait_for(aio::sock_accept(l.fileno()), 10ms));
            EXPECT_TRUE(e.has_value());
            auto t = aio::create_task(aio::sock_accept(l.fileno()));
            co_await aio::sleep(0ms);
            t.cancel();
            auto c = co_await capture<aio::CancelledError>(t);
            EXPECT_TRUE(c.has_value());
            aio::Socket client(AF_INET, SOCK_STREAM);
            co_await aio::sock_connect(client.fileno(), l.getsockname());
            auto [conn, addr] = co_await aio::sock_accept(l.fileno());
            EXPECT_EQ(addr, client.getsockname()) << "the connection waited for the next accept";
        }
        EXPECT_EQ(open_fds(), before);
    }());
}

TEST(SockCalls, ConnectRefusedAndCancelledConnect) {
    const uint16_t port = aiotest::unused_port();
    run_net([](uint16_t closed_port) -> aio::Task<void> {
        const int before = open_fds();
        {
            aio::Socket s(AF_INET, SOCK_STREAM);
            auto e = co_await capture<std::system_error>(
                aio::sock_connect(s.fileno(), aio::SockAddr::ip("127.0.0.1", closed_port)));
            NET_CO_ASSERT(e.has_value());
            EXPECT_EQ(e->code(), std::errc::connection_refused);
            aiotest::FullListener f = co_await aiotest::full_listener();
            NET_CO_ASSERT(f.full);
            aio::Socket s2(AF_INET, SOCK_STREAM);
            auto t = co_await capture<aio::TimeoutError>(
                aio::wait_for(aio::sock_connect(s2.fileno(), aio::SockAddr::ip("127.0.0.1", f.port)), 100ms));
            EXPECT_TRUE(t.has_value());
        }
        EXPECT_EQ(open_fds(), before);
    }(port));
}

TEST(SockCalls, SendallToAClosedPeerRaisesInsteadOfSigpipe) {
    struct sigaction sa {};
    ::sigaction(SIGPIPE, nullptr, &sa);
    ASSERT_EQ(sa.sa_handler, SIG_DFL) << "SIGPIPE must keep its default action for this test to mean anything";
    run_net([]() -> aio::Task<void> {
        Pair p = co_await tcp_pair();
        p.server.close();
        std::optional<std::system_error> err;
        for (int i = 0; i < 2000 && !err; ++i) {
            err = co_await capture<std::system_error>(aio::sock_sendall(p.client.fileno(), std::string(4096, 's')));
            if (!err) co_await aio::sleep(1ms);  // until the peer's RST is back
        }
        NET_CO_ASSERT(err.has_value());
        EXPECT_TRUE(err->code() == std::errc::broken_pipe || err->code() == std::errc::connection_reset) << err->what();
    }());
}
