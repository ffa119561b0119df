// Who keeps a transport or a server alive: an open transport owns itself until connection_lost
// (so a protocol may hold it by raw pointer, even paused), and a loop that closes with
// connections or servers still open releases their sockets.
#include <gtest/gtest.h>

#include <string>

#include "net_test_util.hpp"

using aiotest::run_net;
using namespace std::chrono_literals;

namespace {

// Holds its transport by raw pointer only, as docs/net.md recommends.
class RawHolder final : public aio::Protocol {
public:
    void connection_made(aio::Transport& t) override {
        transport = &t;
        made.set();
    }
    void data_received(std::string_view d) override {
        got += d;
        arrived.set();
    }
    void connection_lost(std::exception_ptr) override {
        lost = true;
        transport = nullptr;
        closed.set();
    }
    aio::Task<void> wait_for_bytes(size_t n) {
        while (got.size() < n) {
            arrived.clear();
            co_await arrived.wait();
        }
    }
    aio::Transport* transport = nullptr;
    std::string got;
    bool lost = false;
    aio::Event made, arrived, closed;
};

}  // namespace

TEST(TransportLifetime, APausedTransportHeldOnlyByRawPointerStaysAlive) {
    run_net([]() -> aio::Task<void> {
        std::shared_ptr<aio::StreamWriter> server_side;
        aio::Event connected;
        auto handler = [&](aio::StreamReader, aio::StreamWriter w) -> aio::Task<void> {
            server_side = std::make_shared<aio::StreamWriter>(w);
            connected.set();
            co_await aio::sleep(10s);  // keeps the connection; cancelled at the end
        };
        aio::Server server = co_await aio::start_server(handler, "127.0.0.1", 0);
        auto proto = std::make_shared<RawHolder>();
        {
            aio::ProtocolFactory f = [proto] { return proto; };
            auto conn = co_await aio::create_connection(std::move(f), "127.0.0.1", server.port());
        }  // our shared_ptrs are gone: only the transport's own reference and the raw pointer remain
        co_await connected.wait();
        proto->transport->pause_reading();  // the loop no longer watches the socket
        EXPECT_FALSE(proto->transport->is_reading());
        server_side->write("while paused");
        co_await aio::sleep(20ms);  // let the bytes reach our socket buffer (nothing reads them)
        EXPECT_EQ(proto->got, "");
        proto->transport->resume_reading();
        co_await proto->wait_for_bytes(12);
        EXPECT_EQ(proto->got, "while paused");
        proto->transport->close();
        co_await proto->closed.wait();
        EXPECT_TRUE(proto->lost);
        server.close();
        server.abort_clients();
    }());
}

TEST(TransportLifetime, CloseFromATimerThroughARawPointer) {
    run_net([]() -> aio::Task<void> {
        auto handler = [](aio::StreamReader r, aio::StreamWriter) -> aio::Task<void> { co_await r.read(); };
        aio::Server server = co_await aio::start_server(handler, "127.0.0.1", 0);
        auto proto = std::make_shared<RawHolder>();
        {
            aio::ProtocolFactory f = [proto] { return proto; };
            co_await aio::create_connection(std::move(f), "127.0.0.1", server.port());
        }
        RawHolder* p = proto.get();
        aio::get_running_loop().call_later(1ms, [p] {
            p->transport->write("bye");
            p->transport->close();  // under ASan, a transport freed by its own close() would show here
        });
        co_await proto->closed.wait();
        EXPECT_TRUE(proto->lost);
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(TransportLifetime, ALoopClosingWithOpenConnectionsAndServersLeaksNothing) {
    const int before = aiotest::open_fds();
    aio::Server outlives_the_loop;
    run_net([&]() -> aio::Task<void> {
        auto handler = [](aio::StreamReader r, aio::StreamWriter) -> aio::Task<void> { co_await r.read(); };
        outlives_the_loop = co_await aio::start_server(handler, "127.0.0.1", 0);
        aio::Server second = co_await aio::start_server(handler, "127.0.0.1", 0);
        auto proto = std::make_shared<RawHolder>();
        aio::ProtocolFactory f = [proto] { return proto; };
        co_await aio::create_connection(f, "127.0.0.1", outlives_the_loop.port());
        auto [r, w] = co_await aio::open_connection("127.0.0.1", second.port());
        w.write("never read");
        proto->transport->pause_reading();  // a paused transport too
        // Return with everything open: the loop closes it all.
    }());
    EXPECT_FALSE(outlives_the_loop.is_serving());
    outlives_the_loop.close();  // a no-op now: must not touch the dead loop
    EXPECT_EQ(aiotest::open_fds(), before);
}
