// UDP endpoints (include/aio/net/datagram.hpp) over real sockets on 127.0.0.1.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net_test_util.hpp"

using aiotest::run_net;

// ASSERT_* returns, which a coroutine cannot: fail the test and leave the coroutine instead.
#define DGRAM_CO_ASSERT(cond)                        \
    do {                                             \
        if (!(cond)) {                               \
            ADD_FAILURE() << "assertion failed: " #cond; \
            co_return;                               \
        }                                            \
    } while (0)

namespace {

// Records what arrives and lets a test wait for the n-th datagram.
class Recorder final : public aio::DatagramProtocol {
public:
    void connection_made(aio::DatagramTransport& t) override {
        transport = &t;
        made = true;
    }
    void datagram_received(std::string_view data, const aio::SockAddr& addr) override {
        got.emplace_back(data);
        from.push_back(addr);
        arrived.set();
    }
    void error_received(std::exception_ptr e) override {
        errors.push_back(e);
        arrived.set();
    }
    void connection_lost(std::exception_ptr e) override {
        lost = true;
        lost_exc = e;
        closed.set();
    }
    aio::Task<void> wait_for_count(size_t n) {
        while (got.size() + errors.size() < n) {
            arrived.clear();
            co_await arrived.wait();
        }
    }

    aio::DatagramTransport* transport = nullptr;
    bool made = false;
    bool lost = false;
    std::exception_ptr lost_exc;
    std::vector<std::string> got;
    std::vector<aio::SockAddr> from;
    std::vector<std::exception_ptr> errors;
    aio::Event arrived;
    aio::Event closed;
};

// Echoes every datagram back to its sender.
class Echo final : public aio::DatagramProtocol {
public:
    void connection_made(aio::DatagramTransport& t) override { transport = &t; }
    void datagram_received(std::string_view data, const aio::SockAddr& addr) override {
        transport->sendto("echo:" + std::string(data), addr);
    }
    aio::DatagramTransport* transport = nullptr;
};

aio::DatagramOptions local_any() {
    aio::DatagramOptions o;
    o.local_addr = std::pair<std::string, uint16_t>("127.0.0.1", 0);
    return o;
}

}  // namespace

TEST(Datagram, EchoBetweenAnUnconnectedServerAndAConnectedClient) {
    run_net([]() -> aio::Task<void> {
        aio::DatagramProtocolFactory server_factory = [] { return std::make_shared<Echo>(); };
        auto server = co_await aio::create_datagram_endpoint(std::move(server_factory), local_any());
        const uint16_t port = server.first->sockname().port();
        DGRAM_CO_ASSERT(port != 0);

        aio::DatagramOptions o;
        o.remote_addr = std::pair<std::string, uint16_t>("127.0.0.1", port);
        aio::DatagramProtocolFactory client_factory = [] { return std::make_shared<Recorder>(); };
        auto client = co_await aio::create_datagram_endpoint(std::move(client_factory), o);
        auto& rec = static_cast<Recorder&>(*client.second);
        EXPECT_TRUE(rec.made);
        EXPECT_EQ(client.first->peername().port(), port);

        client.first->sendto("one");
        client.first->sendto("two");
        co_await rec.wait_for_count(2);
        DGRAM_CO_ASSERT(rec.got.size() == 2u);
        EXPECT_EQ(rec.got[0], "echo:one");  // loopback UDP keeps order
        EXPECT_EQ(rec.got[1], "echo:two");
        EXPECT_EQ(rec.from[0].port(), port);

        // A connected endpoint rejects another destination; an unconnected one needs one.
        EXPECT_THROW(client.first->sendto("x", aio::SockAddr::ip("127.0.0.1", 9)), std::invalid_argument);
        EXPECT_THROW(server.first->sendto("x"), std::invalid_argument);

        client.first->close();
        EXPECT_TRUE(client.first->is_closing());
        co_await rec.closed.wait();
        EXPECT_TRUE(rec.lost);
        EXPECT_FALSE(rec.lost_exc);
        EXPECT_EQ(client.first->fileno(), -1);
        server.first->close();
    }());
}

TEST(Datagram, AConnectedEndpointGetsConnectionRefusedThroughErrorReceived) {
    const uint16_t port = aiotest::unused_port();  // nothing listens: ICMP port unreachable
    run_net([port]() -> aio::Task<void> {
        aio::DatagramOptions o;
        o.remote_addr = std::pair<std::string, uint16_t>("127.0.0.1", port);
        aio::DatagramProtocolFactory f = [] { return std::make_shared<Recorder>(); };
        auto ep = co_await aio::create_datagram_endpoint(std::move(f), o);
        auto& rec = static_cast<Recorder&>(*ep.second);
        ep.first->sendto("anyone?");
        co_await rec.wait_for_count(1);
        DGRAM_CO_ASSERT(rec.errors.size() == 1u);
        try {
            std::rethrow_exception(rec.errors[0]);
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
        }
        EXPECT_FALSE(ep.first->is_closing()) << "an error_received leaves the endpoint open, as asyncio";
        ep.first->close();
        co_await rec.closed.wait();
    }());
}

TEST(Datagram, ClosingLeavesNoFdOpen) {
    const int before = aiotest::open_fds();
    run_net([]() -> aio::Task<void> {
        for (int i = 0; i < 5; ++i) {
            aio::DatagramProtocolFactory f = [] { return std::make_shared<Recorder>(); };
            auto ep = co_await aio::create_datagram_endpoint(std::move(f), local_any());
            ep.first->close();
            co_await static_cast<Recorder&>(*ep.second).closed.wait();
        }
        // An endpoint dropped without close() is closed by the loop's shutdown.
        aio::DatagramProtocolFactory f = [] { return std::make_shared<Recorder>(); };
        auto ep = co_await aio::create_datagram_endpoint(std::move(f), local_any());
        (void)ep;
    }());
    EXPECT_EQ(aiotest::open_fds(), before);
}

TEST(Datagram, BadAddressesAreClearErrors) {
    run_net([]() -> aio::Task<void> {
        aio::DatagramOptions o;
        o.local_addr = std::pair<std::string, uint16_t>("no-such-host.invalid", 0);
        aio::DatagramProtocolFactory f = [] { return std::make_shared<Recorder>(); };
        EXPECT_THROW(co_await aio::create_datagram_endpoint(f, o), aio::GaiError);
        aio::DatagramProtocolFactory empty;
        EXPECT_THROW(co_await aio::create_datagram_endpoint(empty, {}), std::invalid_argument);
    }());
}
