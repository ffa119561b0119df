// The client over HTTPS (certificates made by the openssl command, served by client_peer.py in
// TLS mode), and against nginx.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <aio/http/client.hpp>
#include <fstream>
#include <memory>
#include <thread>

#include "test_client_util.hpp"

using namespace std::chrono_literals;
using aio::http::ClientResponse;
using aio::http::ClientSession;
using aio::http::ClientSessionOptions;
using aio::http::RequestOptions;
using aiotest::run_net;

namespace {

using aiotest::Certs;
using aiotest::trusting;

}  // namespace

TEST(HttpClientTls, VerifiedWithTheTestCa) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.cert, certs.key);
    run_net([](const Certs& c, const aiotest::PeerServer& s) -> aio::Task<void> {
        ClientSessionOptions so;
        so.ssl = trusting(c.ca);
        ClientSession session(so);
        ClientResponse r = co_await session.get(s.url("/conn-id", "https", "localhost"));
        EXPECT_EQ(r.status(), 200);
        std::string a = co_await r.text();
        ClientResponse r2 = co_await session.get(s.url("/conn-id", "https", "localhost"));
        EXPECT_EQ(co_await r2.text(), a) << "TLS connections are pooled too";
        ClientResponse e = co_await session.get(s.url("/echo", "https", "localhost"));
        nlohmann::json echo = co_await e.json();
        EXPECT_EQ(echo["headers"][0][1], "localhost:" + std::to_string(s.port())) << echo.dump();
    }(certs, server));
}

TEST(HttpClientTls, DefaultContextRejectsAnUnknownCa) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.cert, certs.key);
    run_net([](const aiotest::PeerServer& s) -> aio::Task<void> {
        ClientSession session;  // the system CAs only
        auto e = co_await aiotest::capture<aio::http::ClientConnectorCertificateError>(
            session.get(s.url("/hello", "https", "localhost")));
        NET_CO_ASSERT(e.has_value());
        std::string what = e->what();
        EXPECT_NE(what.find("certificate verify failed"), std::string::npos) << what;
        EXPECT_NE(what.find("localhost:" + std::to_string(s.port())), std::string::npos) << what;
        EXPECT_EQ(session.connector_stats().acquired, 0u);
    }(server));
}

TEST(HttpClientTls, WrongHostnameIsRejected) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.cert, certs.key);
    run_net([](const Certs& c, const aiotest::PeerServer& s) -> aio::Task<void> {
        ClientSession session;
        RequestOptions o;
        o.ssl = trusting(c.ca);
        // The certificate names localhost, not 127.0.0.1.
        auto e = co_await aiotest::capture<aio::http::ClientConnectorCertificateError>(
            session.get(s.url("/hello", "https", "127.0.0.1"), o));
        NET_CO_ASSERT(e.has_value());
        EXPECT_NE(std::string(e->what()).find("mismatch"), std::string::npos) << e->what();
    }(certs, server));
}

TEST(HttpClientTls, ExpiredCertificateIsRejected) {
    Certs certs;
    ASSERT_TRUE(certs.ok);
    aiotest::PeerServer server(certs.expired, certs.key);
    run_net([](const Certs& c, const aiotest::PeerServer& s) -> aio::Task<void> {
        ClientSessionOptions so;
        so.ssl = trusting(c.ca);
        ClientSession session(so);
        auto e = co_await aiotest::capture<aio::http::ClientConnectorCertificateError>(
            session.get(s.url("/hello", "https", "localhost")));
        NET_CO_ASSERT(e.has_value());
        EXPECT_NE(std::string(e->what()).find("expired"), std::string::npos) << e->what();
    }(certs, server));
}

// ---- nginx ----------------------------------------------------------------------------------

using aiotest::can_connect;

TEST(HttpClientNginx, GetKeepAliveAndGzip) {
    if (!aiotest::file_exists("/usr/sbin/nginx")) GTEST_SKIP() << "nginx is not installed";
    aiotest::TempDir dir;
    const std::string d = dir.path();
    const uint16_t port = aiotest::unused_port();
    std::string big;
    for (int i = 0; i < 2000; ++i)
        big += "nginx gzip test line " + std::to_string(i) + "\n";
    std::ofstream(d + "/index.html") << "hello from nginx\n";
    std::ofstream(d + "/big.txt") << big;
    std::ofstream(d + "/nginx.conf")
        << "daemon off;\nmaster_process off;\npid " << d << "/nginx.pid;\nerror_log " << d << "/error.log;\n"
        << "events { worker_connections 64; }\n"
        << "http {\n  access_log off;\n  client_body_temp_path " << d << "/tmp_body;\n"
        << "  proxy_temp_path " << d << "/tmp_proxy;\n  fastcgi_temp_path " << d << "/tmp_fcgi;\n"
        << "  uwsgi_temp_path " << d << "/tmp_uwsgi;\n  scgi_temp_path " << d << "/tmp_scgi;\n"
        << "  types { text/plain txt; text/html html; }\n"
        << "  server {\n    listen 127.0.0.1:" << port << ";\n    root " << d << ";\n"
        << "    location /big.txt { gzip on; gzip_types text/plain; gzip_min_length 10; }\n  }\n}\n";
    aiotest::ChildProcess nginx({"/usr/sbin/nginx", "-c", d + "/nginx.conf", "-p", d, "-e", d + "/error.log"});
    bool up = false;
    for (int i = 0; i < 500 && !(up = can_connect(port)); ++i)
        std::this_thread::sleep_for(10ms);  // nginx starting
    ASSERT_TRUE(up) << "nginx did not start";
    run_net([](uint16_t p, const std::string& expected) -> aio::Task<void> {
        ClientSession session;
        const std::string base = "http://127.0.0.1:" + std::to_string(p);
        ClientResponse r = co_await session.get(base + "/index.html");
        EXPECT_EQ(r.status(), 200);
        EXPECT_EQ(co_await r.text(), "hello from nginx\n");
        ClientResponse g = co_await session.get(base + "/big.txt");
        EXPECT_EQ(g.headers().get("Content-Encoding"), "gzip");
        EXPECT_EQ(co_await g.text(), expected);
        for (int i = 0; i < 5; ++i) {
            ClientResponse again = co_await session.get(base + "/index.html");
            EXPECT_EQ(co_await again.text(), "hello from nginx\n");
        }
        EXPECT_EQ(session.connector_stats().opened, 1u) << "every request on one keep-alive connection";
        ClientResponse missing = co_await session.get(base + "/missing");
        EXPECT_EQ(missing.status(), 404);
    }(port, big));
}
