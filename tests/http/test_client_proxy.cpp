// The client through an HTTP proxy (RequestOptions::proxy, aiohttp's proxy=): Debian's tinyproxy,
// started by each test on a free loopback port with a config of its own, in front of
// client_peer.py (plain and TLS); nginx as a forward proxy for keep-alive of http requests,
// which tinyproxy does not do. An in-process proxy that never answers (or answers wrongly) covers
// timeouts, cancellation and bytes after a 2xx.
#include <gtest/gtest.h>

#include <aio/http/client.hpp>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>

#include "test_client_util.hpp"

using namespace std::chrono_literals;
using aio::http::BasicAuth;
using aio::http::ClientHttpProxyError;
using aio::http::ClientProxyConnectionError;
using aio::http::ClientResponse;
using aio::http::ClientSession;
using aio::http::ClientSessionOptions;
using aio::http::ClientTimeout;
using aio::http::RequestOptions;
using aiotest::Certs;
using aiotest::peer;
using aiotest::run_net;
using aiotest::kTinyproxy;
using aiotest::Tinyproxy;
using aiotest::trusting;

static_assert(std::is_base_of_v<aio::http::ClientConnectorError, ClientProxyConnectionError>,
              "aiohttp: ClientProxyConnectionError is a ClientConnectorError");
static_assert(std::is_base_of_v<aio::http::ClientResponseError, ClientHttpProxyError>,
              "aiohttp: ClientHttpProxyError is a ClientResponseError");

namespace {

/// The tests that need tinyproxy; the others (HttpClientProxyErrors, HttpClientProxyScripted) run
/// without it.
class HttpClientProxy : public ::testing::Test {
protected:
    void SetUp() override {
        if (!aiotest::file_exists(kTinyproxy))
            GTEST_SKIP() << "tinyproxy is not installed (scripts/install-deps.sh installs it)";
    }
};

/// The value of header `name` in client_peer.py's /echo answer (case-insensitive), if sent.
std::optional<std::string> echoed(const nlohmann::json& echo, const std::string& name) {
    for (const auto& pair : echo["headers"])
        if (aio::http::iequals(pair[0].get<std::string>(), name)) return pair[1].get<std::string>();
    return std::nullopt;
}

}  // namespace

// An http URL goes to the proxy in absolute form and reaches the server through it: the server
// sees the proxy's Via and the Host of the URL, the proxy logs the whole URL as the target.
TEST_F(HttpClientProxy, PlainHttpIsSentToTheProxyInAbsoluteForm) {
    Tinyproxy proxy;
    ASSERT_TRUE(proxy.up()) << "tinyproxy did not start";
    const std::string target = peer().url("/echo?a=1&b=two");
    run_net([](const Tinyproxy& p, std::string url) -> aio::Task<void> {
        ClientSession session;
        RequestOptions o;
        o.proxy = p.url();
        ClientResponse r = co_await session.get(url, o);
        EXPECT_EQ(r.status(), 200);
        EXPECT_EQ(r.url().str(), url) << "response.url is the server's, not the proxy's";
        nlohmann::json echo = co_await r.json();
        EXPECT_EQ(echo["path"], "/echo");
        EXPECT_EQ(echo["query"], nlohmann::json::parse(R"([["a","1"],["b","two"]])"));
        EXPECT_EQ(echoed(echo, "Host"), "127.0.0.1:" + std::to_string(peer().port()));
        auto via = echoed(echo, "Via");
        NET_CO_ASSERT(via.has_value());
        EXPECT_NE(via->find("aiocpp-test-proxy"), std::string::npos) << *via;
    }(proxy, target));
    EXPECT_EQ(proxy.count_in_log("GET " + target + " HTTP/1.1"), 1u) << proxy.log();
}

// Proxied and direct requests to the same server never share a connection, in either direction.
// tinyproxy closes its client connection after each response, so the proxied side's reuse is
// tested through a tunnel (next test); here each proxied request must still succeed although the
// connection it was pooled on is gone.
TEST_F(HttpClientProxy, ProxiedAndDirectConnectionsAreNotMixed) {
    Tinyproxy proxy;
    ASSERT_TRUE(proxy.up()) << "tinyproxy did not start";
    run_net([](const Tinyproxy& p) -> aio::Task<void> {
        ClientSession session;
        RequestOptions via;
        via.proxy = p.url();
        ClientResponse d1 = co_await session.get(peer().url("/conn-id"));
        const std::string direct_id = co_await d1.text();
        for (int i = 0; i < 3; ++i) {
            ClientResponse r = co_await session.get(peer().url("/echo"), via);
            nlohmann::json echo = co_await r.json();
            EXPECT_TRUE(echoed(echo, "Via").has_value()) << "request " << i << " bypassed the proxy: " << echo.dump();
        }
        ClientResponse d2 = co_await session.get(peer().url("/echo"));
        nlohmann::json echo = co_await d2.json();
        EXPECT_FALSE(echoed(echo, "Via").has_value()) << "a direct request went through the proxy: " << echo.dump();
        ClientResponse d3 = co_await session.get(peer().url("/conn-id"));
        EXPECT_EQ(co_await d3.text(), direct_id) << "the direct connection stayed pooled for direct requests";
    }(proxy));
    EXPECT_EQ(proxy.count_in_log("GET " + peer().url("/echo") + " HTTP/1.1"), 3u) << proxy.log();
}

// https goes through CONNECT; the TLS inside is checked against the server's name and the test
// CA; the tunnel is a keep-alive connection that later requests reuse (one CONNECT in all).
TEST_F(HttpClientProxy, HttpsThroughConnectTunnelIsVerifiedAndReused) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.cert, certs.key);
    Tinyproxy proxy("ConnectPort " + std::to_string(server.port()) + "\n");
    ASSERT_TRUE(proxy.up()) << "tinyproxy did not start";
    run_net([](const Certs& c, const aiotest::PeerServer& s, const Tinyproxy& p) -> aio::Task<void> {
        ClientSessionOptions so;
        so.ssl = trusting(c.ca);
        so.proxy = p.url();  // aiohttp 3.10's session-wide proxy=
        ClientSession session(so);
        ClientResponse r = co_await session.get(s.url("/echo", "https", "localhost"));
        EXPECT_EQ(r.status(), 200);
        nlohmann::json echo = co_await r.json();
        EXPECT_EQ(echoed(echo, "Host"), "localhost:" + std::to_string(s.port()));
        // The proxy cannot see into the tunnel, so it cannot have added anything.
        EXPECT_FALSE(echoed(echo, "Via").has_value()) << echo.dump();
        std::string first;
        for (int i = 0; i < 5; ++i) {
            ClientResponse again = co_await session.get(s.url("/conn-id", "https", "localhost"));
            std::string id = co_await again.text();
            if (i == 0) first = id;
            EXPECT_EQ(id, first) << "request " << i << " did not reuse the tunnel";
        }
        EXPECT_EQ(session.connector_stats().opened, 1u);
        EXPECT_EQ(session.connector_stats().idle, 1u);
        // The certificate names localhost: through the proxy as directly, 127.0.0.1 must not pass.
        auto e = co_await aiotest::capture<aio::http::ClientConnectorCertificateError>(
            session.get(s.url("/hello", "https", "127.0.0.1")));
        NET_CO_ASSERT(e.has_value());
        EXPECT_NE(std::string(e->what()).find("mismatch"), std::string::npos) << e->what();
        EXPECT_EQ(session.connector_stats().acquired, 0u);
    }(certs, server, proxy));
    const std::string authority = "localhost:" + std::to_string(server.port());
    EXPECT_EQ(proxy.count_in_log("CONNECT " + authority + " HTTP/1.1"), 1u) << proxy.log();
}

// A proxy that wants credentials: without them an https request fails with ClientHttpProxyError
// 407 and an http one gets the proxy's 407 as its response (as aiohttp); proxy_auth (per request,
// per session, or in the proxy URL) gets through, and never reaches the server inside a tunnel.
TEST_F(HttpClientProxy, ProxyAuthentication) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.cert, certs.key);
    Tinyproxy proxy("BasicAuth aiouser s3cret\nConnectPort " + std::to_string(server.port()) + "\n");
    ASSERT_TRUE(proxy.up()) << "tinyproxy did not start";
    run_net([](const Certs& c, const aiotest::PeerServer& s, const Tinyproxy& p) -> aio::Task<void> {
        const std::string https_url = s.url("/echo", "https", "localhost");
        const std::string http_url = peer().url("/echo");
        {
            ClientSessionOptions so;
            so.ssl = trusting(c.ca);
            ClientSession session(so);
            RequestOptions anonymous;
            anonymous.proxy = p.url();
            auto e = co_await aiotest::capture<ClientHttpProxyError>(session.get(https_url, anonymous));
            NET_CO_ASSERT(e.has_value());
            EXPECT_EQ(e->status(), 407);
            EXPECT_EQ(e->message(), "Proxy Authentication Required");
            EXPECT_TRUE(e->headers().contains("Proxy-Authenticate"));
            EXPECT_EQ(session.connector_stats().acquired, 0u);
            EXPECT_EQ(session.connector_stats().idle, 0u) << "a refused tunnel is not pooled";

            ClientResponse r = co_await session.get(http_url, anonymous);
            EXPECT_EQ(r.status(), 407);
            EXPECT_TRUE(r.headers().contains("Proxy-Authenticate"));
            (void)co_await r.read();

            RequestOptions wrong = anonymous;
            wrong.proxy_auth = BasicAuth("aiouser", "wrong");
            auto w = co_await aiotest::capture<ClientHttpProxyError>(session.get(https_url, wrong));
            NET_CO_ASSERT(w.has_value());
            // tinyproxy's answer to wrong credentials (407 is for none); the error carries whatever
            // status the proxy sent.
            EXPECT_EQ(w->status(), 401);

            RequestOptions good = anonymous;
            good.proxy_auth = BasicAuth("aiouser", "s3cret");
            ClientResponse tunnelled = co_await session.get(https_url, good);
            EXPECT_EQ(tunnelled.status(), 200);
            nlohmann::json echo = co_await tunnelled.json();
            EXPECT_FALSE(echoed(echo, "Proxy-Authorization").has_value()) << "leaked into the tunnel: " << echo.dump();
            ClientResponse plain = co_await session.get(http_url, good);
            EXPECT_EQ(plain.status(), 200);
            echo = co_await plain.json();
            EXPECT_TRUE(echoed(echo, "Via").has_value()) << echo.dump();

            RequestOptions in_url;
            in_url.proxy = p.url("aiouser:s3cret");
            ClientResponse u = co_await session.get(https_url, in_url);
            EXPECT_EQ(u.status(), 200);
            (void)co_await u.read();
        }
        {
            ClientSessionOptions so;
            so.ssl = trusting(c.ca);
            so.proxy = p.url();
            so.proxy_auth = BasicAuth("aiouser", "s3cret");
            ClientSession session(so);
            ClientResponse r = co_await session.get(https_url);
            EXPECT_EQ(r.status(), 200);
            ClientResponse h = co_await session.get(http_url);
            EXPECT_EQ(h.status(), 200);
        }
    }(certs, server, proxy));
}

// A tunnel opened with some credentials is never handed to a request with others (or none).
TEST_F(HttpClientProxy, TunnelsArePooledPerProxyCredentials) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.cert, certs.key);
    Tinyproxy proxy("BasicAuth aiouser s3cret\nConnectPort " + std::to_string(server.port()) + "\n");
    ASSERT_TRUE(proxy.up()) << "tinyproxy did not start";
    run_net([](const Certs& c, const aiotest::PeerServer& s, const Tinyproxy& p) -> aio::Task<void> {
        ClientSessionOptions so;
        so.ssl = trusting(c.ca);
        ClientSession session(so);
        RequestOptions good;
        good.proxy = p.url();
        good.proxy_auth = BasicAuth("aiouser", "s3cret");
        ClientResponse r = co_await session.get(s.url("/hello", "https", "localhost"), good);
        EXPECT_EQ(co_await r.text(), "hello");
        EXPECT_EQ(session.connector_stats().idle, 1u);
        RequestOptions anonymous;
        anonymous.proxy = p.url();
        auto e = co_await aiotest::capture<ClientHttpProxyError>(
            session.get(s.url("/hello", "https", "localhost"), anonymous));
        EXPECT_TRUE(e.has_value()) << "the authenticated tunnel served a request without credentials";
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->status(), 407);
        EXPECT_EQ(session.connector_stats().idle, 1u) << "the authenticated tunnel is still pooled";
    }(certs, server, proxy));
}

// Nothing listens where the proxy should be: ClientProxyConnectionError (a ClientConnectorError)
// naming the proxy, not the server.
TEST(HttpClientProxyErrors, UnreachableProxyIsAProxyConnectionError) {
    const uint16_t dead = aiotest::unused_port();
    run_net([](uint16_t port) -> aio::Task<void> {
        ClientSession session;
        RequestOptions o;
        o.proxy = "http://127.0.0.1:" + std::to_string(port);
        for (const std::string url : {"http://127.0.0.1:1/hello", "https://localhost:1/hello"}) {
            auto e = co_await aiotest::capture<ClientProxyConnectionError>(session.get(url, o));
            NET_CO_ASSERT(e.has_value());
            EXPECT_EQ(e->host(), "127.0.0.1");
            EXPECT_EQ(e->port(), port);
            const std::string what = e->what();
            EXPECT_NE(what.find("proxy 127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
        }
        EXPECT_EQ(session.connector_stats().acquired, 0u);
    }(dead));
}

// Only http:// proxies (aiohttp's rule): anything else is refused before a connection is made,
// never silently sent directly.
TEST(HttpClientProxyErrors, UnsupportedProxySchemeIsRefusedBeforeConnecting) {
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        for (const std::string proxy : {"socks5://127.0.0.1:1080", "https://127.0.0.1:3128", "127.0.0.1:3128"}) {
            RequestOptions o;
            o.proxy = proxy;
            auto e = co_await aiotest::capture<std::invalid_argument>(session.get(peer().url("/hello"), o));
            EXPECT_TRUE(e.has_value()) << proxy;
            NET_CO_ASSERT(e.has_value());
            EXPECT_NE(std::string(e->what()).find("only http:// proxies are supported"), std::string::npos)
                << e->what();
        }
        RequestOptions bad;
        bad.proxy = "http://[::1";
        auto invalid = co_await aiotest::capture<aio::http::InvalidURL>(session.get(peer().url("/hello"), bad));
        EXPECT_TRUE(invalid.has_value());
        EXPECT_EQ(session.connector_stats().opened, 0u);
        EXPECT_EQ(session.connector_stats().dns_lookups, 0u);
    }());
}

// The proxy refuses to tunnel to this port (ConnectPort names another): ClientHttpProxyError with
// tinyproxy's 403, and the connection is closed, not pooled.
TEST_F(HttpClientProxy, RefusedConnectIsAnHttpProxyError) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.cert, certs.key);
    const uint16_t other = static_cast<uint16_t>(server.port() == 65535 ? 65534 : server.port() + 1);
    Tinyproxy proxy("ConnectPort " + std::to_string(other) + "\n");
    ASSERT_TRUE(proxy.up()) << "tinyproxy did not start";
    run_net([](const Certs& c, const aiotest::PeerServer& s, const Tinyproxy& p) -> aio::Task<void> {
        ClientSessionOptions so;
        so.ssl = trusting(c.ca);
        so.proxy = p.url();
        ClientSession session(so);
        const std::string url = s.url("/hello", "https", "localhost");
        auto e = co_await aiotest::capture<ClientHttpProxyError>(session.get(url));
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->status(), 403);
        EXPECT_EQ(e->message(), "Access violation");
        EXPECT_EQ(e->url(), url);
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        EXPECT_EQ(session.connector_stats().idle, 0u);
    }(certs, server, proxy));
}

namespace {

/// A scripted "proxy": takes what it is sent and, once a request head is in, writes `answer` in
/// one go (by default nothing: it never answers).
struct FakeState {
    std::string answer;
    std::string received;
    int connections = 0;
    int lost = 0;
};
class FakeProxy final : public aio::Protocol {
public:
    explicit FakeProxy(std::shared_ptr<FakeState> s) : s_(std::move(s)) {}
    void connection_made(aio::Transport& t) override {
        t_ = &t;
        ++s_->connections;
    }
    void data_received(std::string_view data) override {
        s_->received.append(data);
        if (!answered_ && !s_->answer.empty() && s_->received.find("\r\n\r\n") != std::string::npos) {
            answered_ = true;
            t_->write(s_->answer);
        }
    }
    void connection_lost(std::exception_ptr) override { ++s_->lost; }

private:
    std::shared_ptr<FakeState> s_;
    aio::Transport* t_ = nullptr;
    bool answered_ = false;
};

aio::Task<aio::Server> fake_proxy(std::shared_ptr<FakeState> state) {
    aio::ProtocolFactory factory = [state]() -> std::shared_ptr<aio::Protocol> {
        return std::make_shared<FakeProxy>(state);
    };
    co_return co_await aio::create_server(std::move(factory), "127.0.0.1", 0);
}

}  // namespace

// A proxy that never answers CONNECT: the connect timeout covers that wait (ConnectionTimeoutError
// naming the server and the proxy), and a request cancelled there closes the socket and frees
// its slot (with limit 1, a leaked slot would starve the next request).
TEST(HttpClientProxyScripted, TimeoutAndCancellationAtConnectLeaveThePoolConsistent) {
    run_net([]() -> aio::Task<void> {
        auto state = std::make_shared<FakeState>();
        aio::Server server = co_await fake_proxy(state);
        ClientSessionOptions so;
        so.limit = 1;
        so.proxy = "http://127.0.0.1:" + std::to_string(server.port());
        ClientSession session(so);

        RequestOptions quick;
        quick.timeout = ClientTimeout{.connect = 200ms};
        auto t =
            co_await aiotest::capture<aio::http::ConnectionTimeoutError>(session.get("https://localhost:9/x", quick));
        NET_CO_ASSERT(t.has_value());
        const std::string what = t->what();
        EXPECT_NE(what.find("localhost:9"), std::string::npos) << what;
        EXPECT_NE(what.find("proxy 127.0.0.1:" + std::to_string(server.port())), std::string::npos) << what;
        EXPECT_EQ(state->received.rfind("CONNECT localhost:9 HTTP/1.1\r\nHost: localhost:9\r\n", 0), 0u)
            << state->received;
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        bool closed = co_await aiotest::eventually([&] { return state->lost == 1; });
        EXPECT_TRUE(closed) << "the timed-out attempt's socket was left open";

        state->received.clear();
        auto pending = aio::create_task(session.get("https://localhost:9/y"));
        bool sent = co_await aiotest::eventually([&] { return state->received.find("\r\n\r\n") != std::string::npos; });
        NET_CO_ASSERT(sent);
        EXPECT_EQ(session.connector_stats().acquired, 1u);
        pending.cancel();
        auto cancelled = co_await aiotest::capture<aio::CancelledError>(pending);
        EXPECT_TRUE(cancelled.has_value());
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        closed = co_await aiotest::eventually([&] { return state->lost == 2; });
        EXPECT_TRUE(closed) << "the cancelled attempt's socket was left open";

        // The slot came back: with limit 1 this request gets one (and times out at the CONNECT).
        auto again =
            co_await aiotest::capture<aio::http::ConnectionTimeoutError>(session.get("https://localhost:9/z", quick));
        EXPECT_TRUE(again.has_value());
        EXPECT_EQ(state->connections, 3);
    }());
}

// The CONNECT request carries the proxy's credentials and proxy_headers. A 2xx answer has no body
// whatever its headers say (RFC 9110 9.3.6): the bytes after it would be the server's, and a TLS
// server does not speak first, so bytes that come with the 2xx are refused at once rather than
// swallowed as a body or handed to TLS.
TEST(HttpClientProxyScripted, BytesAfterTheConnectAnswerAreRefused) {
    run_net([]() -> aio::Task<void> {
        auto state = std::make_shared<FakeState>();
        // No Content-Length: read as an ordinary response, the 2xx's "body" would run to EOF and
        // swallow these bytes, and the request would hang in a TLS handshake nobody answers.
        state->answer = "HTTP/1.1 200 Connection established\r\n\r\nnot TLS";
        aio::Server server = co_await fake_proxy(state);
        ClientSession session;
        RequestOptions o;
        o.proxy = "http://127.0.0.1:" + std::to_string(server.port());
        o.proxy_auth = BasicAuth("u", "p");
        o.proxy_headers.add("X-Proxy-Token", "t0k3n");
        o.headers.add("X-Server-Only", "1");
        o.timeout = ClientTimeout{.connect = 5s};
        auto e = co_await aiotest::capture_ptr(session.get("https://[::1]:8443/x", o));
        auto refused = aiotest::as<aio::http::ClientConnectionError>(e);
        NET_CO_ASSERT(refused.has_value());
        EXPECT_NE(std::string(refused->what()).find("data after its CONNECT response"), std::string::npos)
            << refused->what();
        EXPECT_EQ(state->received,
                  "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nProxy-Authorization: Basic dTpw\r\n"
                  "X-Proxy-Token: t0k3n\r\n\r\n");
        EXPECT_EQ(session.connector_stats().acquired, 0u);
        bool closed = co_await aiotest::eventually([&] { return state->lost == 1; });
        EXPECT_TRUE(closed);
    }());
}

// Keep-alive to the proxy for http URLs: tinyproxy closes its client connection after every
// response, so this runs against nginx set up as a forward proxy (it takes absolute-form
// requests and keeps client connections alive). Several requests, a POST among them, ride one
// connection, and nginx's log shows each request line in absolute form.
TEST(HttpClientProxyNginx, PlainHttpRequestsReuseTheProxyConnection) {
    if (!aiotest::file_exists("/usr/sbin/nginx")) GTEST_SKIP() << "nginx is not installed";
    aiotest::TempDir dir;
    const std::string d = dir.path();
    const uint16_t port = aiotest::unused_port();
    std::ofstream(d + "/nginx.conf")
        << "daemon off;\nmaster_process off;\npid " << d << "/nginx.pid;\nerror_log " << d << "/error.log;\n"
        << "events { worker_connections 64; }\n"
        << "http {\n  log_format requestline '$request';\n  access_log " << d << "/access.log requestline;\n"
        << "  client_body_temp_path " << d << "/tmp_body;\n  proxy_temp_path " << d << "/tmp_proxy;\n"
        << "  fastcgi_temp_path " << d << "/tmp_fcgi;\n  uwsgi_temp_path " << d << "/tmp_uwsgi;\n"
        << "  scgi_temp_path " << d << "/tmp_scgi;\n"
        << "  server {\n    listen 127.0.0.1:" << port << ";\n    location / {\n"
        << "      proxy_pass http://$http_host$request_uri;\n      proxy_http_version 1.1;\n"
        << "      proxy_set_header Connection \"\";\n"
        << "      proxy_set_header Via \"1.1 aiocpp-test-forward-proxy\";\n    }\n  }\n}\n";
    aiotest::ChildProcess nginx({"/usr/sbin/nginx", "-c", d + "/nginx.conf", "-p", d, "-e", d + "/error.log"});
    bool up = false;
    for (int i = 0; i < 500 && !(up = aiotest::can_connect(port)); ++i)
        std::this_thread::sleep_for(10ms);  // nginx starting
    ASSERT_TRUE(up) << "nginx did not start";
    run_net([](uint16_t p) -> aio::Task<void> {
        ClientSessionOptions so;
        so.proxy = "http://127.0.0.1:" + std::to_string(p);
        ClientSession session(so);
        for (int i = 0; i < 4; ++i) {
            ClientResponse r = co_await session.get(peer().url("/echo?i=" + std::to_string(i)));
            nlohmann::json echo = co_await r.json();
            EXPECT_EQ(echoed(echo, "Via"), "1.1 aiocpp-test-forward-proxy") << echo.dump();
        }
        RequestOptions post;
        post.data = "payload";
        ClientResponse r = co_await session.post(peer().url("/echo"), post);
        nlohmann::json echo = co_await r.json();
        EXPECT_EQ(echo["body"], "payload");
        EXPECT_EQ(session.connector_stats().opened, 1u) << "every request on one connection to the proxy";
        EXPECT_EQ(session.connector_stats().idle, 1u);
    }(port));
    std::string expected;
    for (int i = 0; i < 4; ++i)
        expected += "GET " + peer().url("/echo?i=" + std::to_string(i)) + " HTTP/1.1\n";
    expected += "POST " + peer().url("/echo") + " HTTP/1.1\n";
    // nginx logs a request once it has sent the response: the last line may trail our read of it.
    std::string log;
    for (int i = 0; i < 500; ++i) {
        std::ifstream in(d + "/access.log");
        std::stringstream ss;
        ss << in.rdbuf();
        log = ss.str();
        if (log.size() >= expected.size()) break;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(log, expected);
}
