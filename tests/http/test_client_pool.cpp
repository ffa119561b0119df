// The client's connection pool (keep-alive, limits, stale connections, RAII) and ClientTimeout.
#include <gtest/gtest.h>

#include <aio/http/client.hpp>
#include <set>

#include "test_client_util.hpp"

using namespace std::chrono_literals;
using aio::http::ClientResponse;
using aio::http::ClientSession;
using aio::http::ClientSessionOptions;
using aio::http::ClientTimeout;
using aio::http::RequestOptions;
using aiotest::peer;
using aiotest::run_net;

namespace {
aio::Task<std::string> fetch_text(ClientSession& s, std::string url) {
    ClientResponse r = co_await s.get(std::move(url));
    co_return co_await r.text();
}
}  // namespace

TEST(HttpClientPool, KeepAliveReusesTheConnection) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        std::string a = co_await fetch_text(session, peer().url("/conn-id"));
        std::string b = co_await fetch_text(session, peer().url("/conn-id"));
        std::string c = co_await fetch_text(session, peer().url("/conn-id"));
        EXPECT_EQ(a, b);
        EXPECT_EQ(b, c);
        auto st = session.connector_stats();
        EXPECT_EQ(st.opened, 1u);
        EXPECT_EQ(st.idle, 1u);
        EXPECT_EQ(st.acquired, 0u);
    }());
}

TEST(HttpClientPool, ConnectionCloseIsHonoured) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        std::string a = co_await fetch_text(session, peer().url("/set-close"));
        EXPECT_EQ(session.connector_stats().idle, 0u);
        std::string b = co_await fetch_text(session, peer().url("/conn-id"));
        EXPECT_NE(a, b);
        EXPECT_EQ(session.connector_stats().idle, 1u);
        // A close-delimited body cannot leave its connection reusable either.
        ClientResponse r = co_await session.get(peer().url("/close-delimited"));
        EXPECT_EQ(co_await r.text(), "until the close");
        EXPECT_EQ(session.connector_stats().idle, 0u);
        EXPECT_EQ(session.connector_stats().opened, 2u);
    }());
}

TEST(HttpClientPool, ForceClose) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.force_close = true;
        ClientSession session(so);
        std::string a = co_await fetch_text(session, peer().url("/conn-id"));
        std::string b = co_await fetch_text(session, peer().url("/conn-id"));
        EXPECT_NE(a, b);
        EXPECT_EQ(session.connector_stats().idle, 0u);
    }());
}

TEST(HttpClientPool, StaleConnectionIsRetriedOnce) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        // The server keeps this connection alive, then closes it when the next request arrives,
        // without a byte of response: the pooled connection was stale.
        std::string first = co_await fetch_text(session, peer().url("/stale-next"));
        std::string second = co_await fetch_text(session, peer().url("/conn-id"));
        EXPECT_NE(first, second) << "retried on a fresh connection";
        EXPECT_EQ(session.connector_stats().opened, 2u);

        // A POST is not idempotent: it is not sent twice.
        std::string third = co_await fetch_text(session, peer().url("/stale-next"));
        (void)third;
        RequestOptions o;
        o.data = "once";
        auto e = co_await aiotest::capture<aio::http::ServerDisconnectedError>(session.post(peer().url("/echo"), o));
        EXPECT_TRUE(e.has_value());
    }());
}

TEST(HttpClientPool, LimitIsEnforced) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.limit = 2;
        ClientSession session(so);
        std::vector<aio::TaskHandle<std::string>> tasks;
        for (int i = 0; i < 8; ++i)
            tasks.push_back(aio::create_task(fetch_text(session, peer().url("/conn-id"))));
        co_await aio::sleep(0ms);
        auto st = session.connector_stats();
        EXPECT_EQ(st.acquired, 2u);
        EXPECT_EQ(st.waiting, 6u);
        std::set<std::string> ids;
        for (auto& t : tasks)
            ids.insert(co_await t);
        EXPECT_LE(ids.size(), 2u);
        EXPECT_EQ(session.connector_stats().opened, ids.size());
    }());
}

TEST(HttpClientPool, QueuedRequestsGoInArrivalOrder) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.limit = 1;
        ClientSession session(so);
        std::vector<int> order;
        auto one = [](ClientSession& s, std::vector<int>& out, int i) -> aio::Task<void> {
            ClientResponse r = co_await s.get(peer().url("/hello"));
            out.push_back(i);
            co_await r.read();
        };
        std::vector<aio::TaskHandle<void>> tasks;
        for (int i = 0; i < 6; ++i)
            tasks.push_back(aio::create_task(one, std::ref(session), std::ref(order), i));
        for (auto& t : tasks)
            co_await t;
        EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5})) << "FIFO";
    }());
}

TEST(HttpClientPool, ClosingTheSessionEndsRequestsInFlight) {
    peer();
    const int before = aiotest::open_fds();
    run_net([]() -> aio::Task<void> {
        auto session = std::make_unique<ClientSession>();
        auto stalled = aio::create_task(fetch_text(*session, peer().url("/stall")));
        // Until the request is on the wire (the kernel and the peer's thread are the other side).
        bool sent = co_await aiotest::eventually([&] { return session->connector_stats().opened == 1; });
        EXPECT_TRUE(sent);
        co_await aio::sleep(0ms);
        session.reset();  // the destructor closes the connection under the request
        std::exception_ptr e = co_await aiotest::capture_ptr(stalled);
        EXPECT_TRUE(aiotest::as<aio::http::ServerDisconnectedError>(e).has_value()) << aiotest::what_of(e);
    }());
    EXPECT_EQ(aiotest::open_fds(), before);
}

TEST(HttpClientPool, LimitPerHost) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.limit_per_host = 1;
        ClientSession session(so);
        std::vector<aio::TaskHandle<std::string>> tasks;
        for (int i = 0; i < 3; ++i) {
            tasks.push_back(aio::create_task(fetch_text(session, peer().url("/conn-id"))));
            tasks.push_back(aio::create_task(fetch_text(session, peer().url("/conn-id", "http", "localhost"))));
        }
        co_await aio::sleep(0ms);
        EXPECT_EQ(session.connector_stats().acquired, 2u) << "one per host";
        std::set<std::string> ids;
        for (auto& t : tasks)
            ids.insert(co_await t);
        EXPECT_EQ(ids.size(), 2u);
    }());
}

TEST(HttpClientPool, ResponseRaii) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        {
            // Dropped with its body unread but fully received (the peer sends it with the head):
            // the connection went back to the pool as soon as the body was in.
            ClientResponse r = co_await session.get(peer().url("/hello"));
            EXPECT_TRUE(r.closed());
        }
        EXPECT_EQ(session.connector_stats().idle, 1u);
        {
            // Dropped mid-body: unread bytes would corrupt the next response, so it is closed.
            ClientResponse r = co_await session.get(peer().url("/slow-body"));
            EXPECT_EQ(session.connector_stats().acquired, 1u);
            EXPECT_FALSE(r.closed());
        }
        auto st = session.connector_stats();
        EXPECT_EQ(st.acquired, 0u);
        EXPECT_EQ(st.idle, 0u) << "the /slow-body connection (the /hello one, reused) was closed";
        EXPECT_EQ(st.opened, 1u);
        // release() then reading: the body says the connection is gone.
        ClientResponse r = co_await session.get(peer().url("/slow-body"));
        r.release();
        auto e = co_await aiotest::capture<aio::http::ClientConnectionError>(r.read());
        EXPECT_TRUE(e.has_value());
        std::string id = co_await fetch_text(session, peer().url("/conn-id"));
        EXPECT_FALSE(id.empty());
        EXPECT_EQ(session.connector_stats().opened, 3u) << "no closed connection was reused";
    }());
}

TEST(HttpClientPool, SessionDestructorClosesEverything) {
    peer();
    const int before = aiotest::open_fds();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        std::vector<aio::TaskHandle<std::string>> tasks;
        for (int i = 0; i < 4; ++i)
            tasks.push_back(aio::create_task(fetch_text(session, peer().url("/conn-id"))));
        for (auto& t : tasks)
            co_await t;
        EXPECT_EQ(session.connector_stats().idle, 4u);
        ClientResponse pending = co_await session.get(peer().url("/slow-body"));
        (void)pending;
    }());
    EXPECT_EQ(aiotest::open_fds(), before) << "no fd left behind";
}

TEST(HttpClientPool, KeepaliveTimeoutClosesIdleConnections) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.keepalive_timeout = 100ms;
        ClientSession session(so);
        std::string a = co_await fetch_text(session, peer().url("/conn-id"));
        EXPECT_EQ(session.connector_stats().idle, 1u);
        co_await aio::sleep(300ms);  // time passing is the point here, not synchronization
        EXPECT_EQ(session.connector_stats().idle, 0u) << "closed by the keep-alive timer";
        std::string b = co_await fetch_text(session, peer().url("/conn-id"));
        EXPECT_NE(a, b);
    }());
}

TEST(HttpClientPool, DnsCache) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.force_close = true;  // a new connection, hence a resolution, every time
        ClientSession cached(so);
        for (int i = 0; i < 3; ++i)
            co_await fetch_text(cached, peer().url("/hello", "http", "localhost"));
        EXPECT_EQ(cached.connector_stats().dns_lookups, 1u);
        so.ttl_dns_cache = 0ns;
        ClientSession uncached(so);
        for (int i = 0; i < 3; ++i)
            co_await fetch_text(uncached, peer().url("/hello", "http", "localhost"));
        EXPECT_EQ(uncached.connector_stats().dns_lookups, 3u);
    }());
}

// ---- timeouts -------------------------------------------------------------------------------

TEST(HttpClientTimeout, SockReadOnHead) {
    peer();
    const int before = aiotest::open_fds();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.timeout = ClientTimeout{.sock_read = 200ms};
        ClientSession session(so);
        const double t0 = aio::get_running_loop().time();
        auto e = co_await aiotest::capture<aio::http::SocketTimeoutError>(session.get(peer().url("/stall")));
        EXPECT_TRUE(e.has_value());
        const double took = aio::get_running_loop().time() - t0;
        EXPECT_GE(took, 0.19);
        EXPECT_LT(took, 2.0);
        EXPECT_EQ(session.connector_stats().acquired, 0u);
    }());
    EXPECT_EQ(aiotest::open_fds(), before) << "the timed-out connection was closed";
}

TEST(HttpClientTimeout, SockReadOnBody) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.timeout = ClientTimeout{.sock_read = 200ms};
        ClientSession session(so);
        ClientResponse r = co_await session.get(peer().url("/slow-body"));
        EXPECT_EQ(r.status(), 200);
        auto e = co_await aiotest::capture<aio::http::SocketTimeoutError>(r.read());
        EXPECT_TRUE(e.has_value());
        // A body that keeps coming (a piece every 50 ms for 0.5 s) never trips a 200 ms sock_read.
        ClientResponse drip = co_await session.get(peer().url("/drip"));
        EXPECT_EQ(co_await drip.text(), "dddddddddd");
    }());
}

TEST(HttpClientTimeout, Total) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        RequestOptions o;
        o.timeout = ClientTimeout{.total = 200ms};
        auto e = co_await aiotest::capture<aio::http::ServerTimeoutError>(session.get(peer().url("/stall"), o));
        EXPECT_TRUE(e.has_value());
        // The total timeout covers reading the body through read().
        ClientResponse r = co_await session.get(peer().url("/slow-body"), o);
        auto e2 = co_await aiotest::capture<aio::TimeoutError>(r.read());
        EXPECT_TRUE(e2.has_value());
        EXPECT_EQ(session.connector_stats().acquired, 1u) << "the response still holds its connection";
        r.release();
        EXPECT_EQ(session.connector_stats().acquired, 0u);
    }());
}

TEST(HttpClientTimeout, ConnectAndSockConnect) {
    run_net([]() -> aio::Task<void> {
        aiotest::FullListener full = co_await aiotest::full_listener();
        if (!full.full) {
            ADD_FAILURE() << "could not make a connect hang";
            co_return;
        }
        const std::string url = "http://127.0.0.1:" + std::to_string(full.port) + "/";
        ClientSession session;
        RequestOptions o;
        o.timeout = ClientTimeout{.connect = 200ms};
        auto e = co_await aiotest::capture<aio::http::ConnectionTimeoutError>(session.get(url, o));
        EXPECT_TRUE(e.has_value());
        o.timeout = ClientTimeout{.sock_connect = 200ms};
        auto e2 = co_await aiotest::capture<aio::http::ConnectionTimeoutError>(session.get(url, o));
        EXPECT_TRUE(e2.has_value());
        EXPECT_EQ(session.connector_stats().acquired, 0u);
    }());
}

TEST(HttpClientTimeout, Pool) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.limit = 1;
        so.timeout = ClientTimeout{.pool = 200ms};
        ClientSession session(so);
        ClientResponse holder = co_await session.get(peer().url("/slow-body"));  // holds the only slot
        auto e = co_await aiotest::capture<aio::http::ConnectionTimeoutError>(session.get(peer().url("/hello")));
        EXPECT_TRUE(e.has_value());
        EXPECT_EQ(session.connector_stats().waiting, 0u);
        holder.release();
        EXPECT_EQ(co_await fetch_text(session, peer().url("/hello")), "hello");
    }());
}

TEST(HttpClientTimeout, QueuedRequestIsNotChargedConnectOrReadTime) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.limit = 1;
        so.timeout = ClientTimeout{.connect = 200ms, .sock_read = 200ms};
        ClientSession session(so);
        RequestOptions patient;
        patient.timeout = ClientTimeout{};
        ClientResponse holder = co_await session.get(peer().url("/slow-body"), patient);
        auto queued = aio::create_task(fetch_text(session, peer().url("/hello")));
        co_await aio::sleep(500ms);  // well past connect + sock_read of the queued request
        EXPECT_FALSE(queued.done()) << "still queued, not failed by a timeout it should not be charged";
        EXPECT_EQ(session.connector_stats().waiting, 1u);
        holder.release();
        EXPECT_EQ(co_await queued, "hello");
    }());
}

// Cancelling a request mid-way (here by aio::wait_for, at the head and then in the body) closes
// the connection it used and gives its pool slot back; the pool goes on serving.
TEST(HttpClientPool, CancellingARequestClosesItsConnectionAndFreesItsSlot) {
    peer();
    const int before = aiotest::open_fds();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions o;
        o.limit = 1;
        ClientSession session(o);
        auto at_head = co_await aiotest::capture<aio::TimeoutError>(aio::wait_for(session.get(peer().url("/stall")), 100ms));
        EXPECT_TRUE(at_head.has_value());
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        EXPECT_EQ(session.connector_stats().idle, 0u);
        ClientResponse r = co_await session.get(peer().url("/slow-body"));
        auto in_body = co_await aiotest::capture<aio::TimeoutError>(aio::wait_for(r.read(), 100ms));
        EXPECT_TRUE(in_body.has_value());
        r.release();
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        EXPECT_EQ(session.connector_stats().idle, 0u);
        // With limit 1, this would wait for ever if a slot had leaked.
        std::string ok = co_await aio::wait_for(fetch_text(session, peer().url("/hello")), 10s);
        EXPECT_FALSE(ok.empty());
        co_await session.close();
    }());
    EXPECT_EQ(aiotest::open_fds(), before) << "no fd left behind";
}
