// SockAddr, getaddrinfo and getnameinfo (include/aio/net/address.hpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "net_test_util.hpp"

using namespace std::chrono_literals;
using aiotest::run_net;

namespace {

/// Whether ::1 can be bound here (some sandboxes have no IPv6 at all).
bool have_ipv6() {
    aio::Socket s;
    try {
        s = aio::Socket(AF_INET6, SOCK_STREAM);
        s.bind(aio::SockAddr::ip("::1", 0));
    } catch (const std::system_error&) {
        return false;
    }
    return true;
}

bool is_loopback(const aio::SockAddr& a) {
    if (a.family() == AF_INET) return a.host().rfind("127.", 0) == 0;
    if (a.family() == AF_INET6) return a.host() == "::1";
    return false;
}

}  // namespace

TEST(SockAddr, Ipv4) {
    const aio::SockAddr a = aio::SockAddr::ip("127.0.0.1", 8080);
    EXPECT_EQ(a.family(), AF_INET);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a.size(), sizeof(sockaddr_in));
    EXPECT_EQ(a.host(), "127.0.0.1");
    EXPECT_EQ(a.port(), 8080);
    EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.data());
    EXPECT_EQ(ntohs(in->sin_port), 8080);
    EXPECT_EQ(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    // Round trip through the raw sockaddr constructor.
    const aio::SockAddr b(a.data(), a.size());
    EXPECT_EQ(a, b);
    EXPECT_FALSE(a == aio::SockAddr::ip("127.0.0.1", 8081));
    EXPECT_FALSE(a == aio::SockAddr::ip("127.0.0.2", 8080));
}

TEST(SockAddr, Ipv6) {
    const aio::SockAddr a = aio::SockAddr::ip("::1", 443);
    EXPECT_EQ(a.family(), AF_INET6);
    EXPECT_EQ(a.size(), sizeof(sockaddr_in6));
    EXPECT_EQ(a.host(), "::1");
    EXPECT_EQ(a.port(), 443);
    EXPECT_EQ(a.to_string(), "[::1]:443");
    EXPECT_EQ(aio::SockAddr::ip("[::1]", 443), a) << "brackets are accepted";
    EXPECT_EQ(aio::SockAddr::ip("2001:db8::1", 1).to_string(), "[2001:db8::1]:1");
}

TEST(SockAddr, UnixPath) {
    const aio::SockAddr a = aio::SockAddr::unix_path("/tmp/x.sock");
    EXPECT_EQ(a.family(), AF_UNIX);
    EXPECT_EQ(a.host(), "/tmp/x.sock");
    EXPECT_EQ(a.to_string(), "/tmp/x.sock");
    EXPECT_EQ(a.port(), 0);
    const std::string abstract("\0name", 5);
    EXPECT_EQ(aio::SockAddr::unix_path(abstract).host(), abstract) << "abstract namespace: the leading NUL is kept";
    EXPECT_NO_THROW(aio::SockAddr::unix_path(std::string(107, 'p')));
}

TEST(SockAddr, EmptyAndInvalid) {
    const aio::SockAddr none;
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.size(), 0u);
    EXPECT_EQ(none.port(), 0);
    EXPECT_EQ(none.host(), "");
    EXPECT_EQ(none.to_string(), "<no address>");
    for (const char* bad : {"localhost", "", "1.2.3.4.5", "256.0.0.1", "::g", "[::1", "example.com"})
        EXPECT_THROW(aio::SockAddr::ip(bad, 1), std::invalid_argument) << "'" << bad << "'";
    EXPECT_THROW(aio::SockAddr::unix_path(""), std::invalid_argument);
    EXPECT_THROW(aio::SockAddr::unix_path(std::string(108, 'p')), std::invalid_argument);
}

TEST(GetAddrInfo, NumericIpv4IsAnsweredWithoutAThread) {
    run_net([]() -> aio::Task<void> {
        auto infos = co_await aio::getaddrinfo("127.0.0.1", uint16_t{80});
        NET_CO_ASSERT(infos.size() == 1u);
        EXPECT_EQ(infos[0].family, AF_INET);
        EXPECT_EQ(infos[0].type, SOCK_STREAM);
        EXPECT_EQ(infos[0].addr, aio::SockAddr::ip("127.0.0.1", 80));
        auto by_name = co_await aio::getaddrinfo("127.0.0.1", std::string("8080"));
        NET_CO_ASSERT(!by_name.empty());
        EXPECT_EQ(by_name[0].addr.port(), 8080);
        // The default executor is created on first use: none means no thread hop.
        EXPECT_EQ(aio::get_running_loop().default_executor(), nullptr);
        aio::GetAddrInfoOptions passive;
        passive.family = AF_INET;
        passive.flags = AI_PASSIVE;
        auto any = co_await aio::getaddrinfo("", uint16_t{0}, passive);
        NET_CO_ASSERT(!any.empty());
        EXPECT_EQ(any[0].addr.host(), "0.0.0.0");
        EXPECT_EQ(aio::get_running_loop().default_executor(), nullptr);
    }());
}

TEST(GetAddrInfo, NumericIpv6) {
    run_net([]() -> aio::Task<void> {
        auto infos = co_await aio::getaddrinfo("::1", uint16_t{443});
        NET_CO_ASSERT(infos.size() == 1u);
        EXPECT_EQ(infos[0].family, AF_INET6);
        EXPECT_EQ(infos[0].addr.host(), "::1");
        EXPECT_EQ(infos[0].addr.port(), 443);
        EXPECT_EQ(aio::get_running_loop().default_executor(), nullptr);
    }());
}

TEST(GetAddrInfo, LocalhostGoesThroughTheDefaultExecutor) {
    run_net([]() -> aio::Task<void> {
        EXPECT_EQ(aio::get_running_loop().default_executor(), nullptr);
        auto infos = co_await aio::getaddrinfo("localhost", uint16_t{80});
        NET_CO_ASSERT(!infos.empty());
        for (const auto& ai : infos) {
            EXPECT_TRUE(is_loopback(ai.addr)) << ai.addr.to_string();
            EXPECT_EQ(ai.addr.port(), 80);
            EXPECT_EQ(ai.type, SOCK_STREAM);
        }
        EXPECT_NE(aio::get_running_loop().default_executor(), nullptr) << "resolved off the loop thread";
    }());
}

TEST(GetAddrInfo, BadNameIsAGaiError) {
    // The .invalid TLD is reserved (RFC 2606): never resolvable, with or without a network.
    // The errors come from an executor thread: inspected after aio::run (see capture_ptr).
    auto [lookup, connect] = run_net([]() -> aio::Task<std::pair<std::exception_ptr, std::exception_ptr>> {
        std::exception_ptr e1 = co_await aiotest::capture_ptr(aio::getaddrinfo("no-such-host.invalid", uint16_t{80}));
        std::exception_ptr e2 = co_await aiotest::capture_ptr(aio::open_connection("no-such-host.invalid", 80));
        co_return std::pair{e1, e2};
    }());
    auto e = aiotest::as<aio::GaiError>(lookup);
    ASSERT_TRUE(e.has_value()) << aiotest::what_of(lookup);
    EXPECT_NE(e->code(), 0);
    EXPECT_NE(std::string(e->what()).find("no-such-host.invalid"), std::string::npos) << e->what();
    EXPECT_TRUE(aiotest::as<aio::GaiError>(connect).has_value())
        << "open_connection reports it the same way: " << aiotest::what_of(connect);
}

TEST(GetNameInfo, NumericHostAndService) {
    run_net([]() -> aio::Task<void> {
        auto [host, serv] =
            co_await aio::getnameinfo(aio::SockAddr::ip("127.0.0.1", 8080), NI_NUMERICHOST | NI_NUMERICSERV);
        EXPECT_EQ(host, "127.0.0.1");
        EXPECT_EQ(serv, "8080");
    }());
}

TEST(GetNameInfo, InvalidAddressIsAGaiError) {
    std::exception_ptr e = run_net([]() -> aio::Task<std::exception_ptr> {
        co_return co_await aiotest::capture_ptr(aio::getnameinfo(aio::SockAddr(), NI_NUMERICHOST));
    }());
    EXPECT_TRUE(aiotest::as<aio::GaiError>(e).has_value()) << "an empty address: " << aiotest::what_of(e);
}

TEST(Ipv6, ServerAndConnection) {
    if (!have_ipv6()) GTEST_SKIP() << "::1 cannot be bound in this environment";
    run_net([]() -> aio::Task<void> {
        aio::ClientConnected cb = [](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<void> {
            std::string line = co_await r.readline();
            w.write(line);
            co_await w.drain();
        };
        aio::Server server = co_await aio::start_server(cb, "::1", 0);
        EXPECT_EQ(server.sockets()[0].family(), AF_INET6);
        auto [r, w] = co_await aio::open_connection("::1", server.port());
        EXPECT_EQ(w.peername().family(), AF_INET6);
        EXPECT_EQ(w.peername().to_string(), "[::1]:" + std::to_string(server.port()));
        w.write("six\n");
        std::string got = co_await r.readline();
        EXPECT_EQ(got, "six\n");
        w.close();
        co_await w.wait_closed();
        server.close();
        co_await server.wait_closed();
    }());
}
