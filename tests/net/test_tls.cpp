// TLS (include/aio/net/tls.hpp) with certificates made by the `openssl` command, against our own
// peers and against `openssl s_server` / `openssl s_client`.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <string>

#include "net_test_util.hpp"
#include "test_util.hpp"

using aiotest::run_net;
using namespace std::chrono_literals;

namespace {

// A self-signed certificate for localhost and 127.0.0.1, made once per test by the real tool.
struct Certs {
    aiotest::TempDir dir;
    std::string cert = dir.path() + "/cert.pem";
    std::string key = dir.path() + "/key.pem";
    std::string other_cert = dir.path() + "/other.pem";
    std::string other_key = dir.path() + "/other-key.pem";
    bool ok = false;
    Certs() {
        auto make = [](const std::string& c, const std::string& k, const char* cn) {
            std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                              "-subj /CN=" + std::string(cn) + " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
                              k + "' -out '" + c + "' >/dev/null 2>&1";
            return std::system(cmd.c_str()) == 0;
        };
        ok = make(cert, key, "localhost") && make(other_cert, other_key, "other");
    }
    std::shared_ptr<aio::SSLContext> client() const {
        auto c = aio::SSLContext::create_default_context();
        c->load_verify_locations(cert);
        return c;
    }
    std::shared_ptr<aio::SSLContext> server() const { return aio::SSLContext::server(cert, key); }
};

aio::Task<void> upper_echo(aio::StreamReader r, aio::StreamWriter w) {
    for (;;) {
        std::string line = co_await r.readline();
        if (line.empty()) break;
        for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        w.write(line);
        co_await w.drain();
    }
}

aio::ServerOptions tls_server(std::shared_ptr<aio::SSLContext> ctx) {
    aio::ServerOptions o;
    o.ssl = std::move(ctx);
    return o;
}

aio::ConnectOptions tls_client(std::shared_ptr<aio::SSLContext> ctx, std::string name = "localhost") {
    aio::ConnectOptions o;
    o.ssl = std::move(ctx);
    o.server_hostname = std::move(name);
    return o;
}

// Reads lines from `r` until one contains `needle` (openssl prints banners before it is ready).
aio::Task<bool> wait_for_line(aio::StreamReader r, std::string needle) {
    for (;;) {
        std::string line = co_await r.readline();
        if (line.empty()) co_return false;
        if (line.find(needle) != std::string::npos) co_return true;
    }
}

}  // namespace

TEST(Tls, StreamsRoundTripWithAVerifiedServerAndAlpn) {
    Certs certs;
    if (!certs.ok) GTEST_SKIP() << "openssl could not make a certificate";
    run_net([&certs]() -> aio::Task<void> {
        auto sctx = certs.server();
        sctx->set_alpn_protocols({"h2", "http/1.1"});
        aio::Server server = co_await aio::start_server(upper_echo, "127.0.0.1", 0, tls_server(sctx));
        auto cctx = certs.client();
        cctx->set_alpn_protocols({"http/1.1"});
        auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), tls_client(cctx));
        w.write("hello tls\n");
        w.write(std::string(50'000, 'x') + "\n");  // several TLS records
        co_await w.drain();
        EXPECT_EQ(co_await r.readline(), "HELLO TLS\n");
        EXPECT_EQ(co_await r.readline(), std::string(50'000, 'X') + "\n");
        auto info = aio::tls_info(w.transport());
        EXPECT_TRUE(info.has_value());
        if (info) {
            EXPECT_EQ(info->version, "TLSv1.3");
            EXPECT_EQ(info->alpn_protocol, "http/1.1");
            EXPECT_NE(info->peer_subject.find("CN=localhost"), std::string::npos) << info->peer_subject;
        }
        EXPECT_TRUE(w.get_extra_info("ssl_object").has_value());
        EXPECT_FALSE(w.can_write_eof());
        w.close();
        co_await w.wait_closed();
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(Tls, AnUntrustedCertificateIsAVerificationErrorWithOpenSslsReason) {
    Certs certs;
    if (!certs.ok) GTEST_SKIP() << "openssl could not make a certificate";
    const int before = aiotest::open_fds();
    run_net([&certs]() -> aio::Task<void> {
        aiotest::LogCapture quiet;  // the server reports the client's failed handshake
        aio::Server server = co_await aio::start_server(upper_echo, "127.0.0.1", 0, tls_server(certs.server()));
        auto system_cas_only = aio::SSLContext::create_default_context();
        try {
            co_await aio::open_connection("127.0.0.1", server.port(), tls_client(system_cas_only));
            ADD_FAILURE() << "a self-signed certificate was accepted";
        } catch (const aio::SSLCertVerificationError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("certificate verify failed"), std::string::npos) << what;
            EXPECT_NE(what.find("self-signed"), std::string::npos) << what;
        }
        server.close();
        co_await server.wait_closed();
    }());
    EXPECT_EQ(aiotest::open_fds(), before);
}

TEST(Tls, AHostnameMismatchIsAVerificationError) {
    Certs certs;
    if (!certs.ok) GTEST_SKIP() << "openssl could not make a certificate";
    run_net([&certs]() -> aio::Task<void> {
        aiotest::LogCapture quiet;
        aio::Server server = co_await aio::start_server(upper_echo, "127.0.0.1", 0, tls_server(certs.server()));
        EXPECT_THROW(co_await aio::open_connection("127.0.0.1", server.port(), tls_client(certs.client(), "example.org")),
                     aio::SSLCertVerificationError);
        // With check_hostname off (and verification on), the same certificate passes.
        auto lax = certs.client();
        lax->check_hostname = false;
        auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), tls_client(lax, "example.org"));
        w.write("ok\n");
        EXPECT_EQ(co_await r.readline(), "OK\n");
        w.close();
        server.close();
    }());
}

TEST(Tls, APeerThatIsNotTlsFailsTheHandshakeCleanly) {
    Certs certs;
    if (!certs.ok) GTEST_SKIP() << "openssl could not make a certificate";
    const int before = aiotest::open_fds();
    run_net([&certs]() -> aio::Task<void> {
        auto plain = [](aio::StreamReader, aio::StreamWriter w) -> aio::Task<void> {
            w.write("HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS at all\r\n");
            co_await w.drain();
        };
        aio::Server server = co_await aio::start_server(plain, "127.0.0.1", 0);
        try {
            co_await aio::open_connection("127.0.0.1", server.port(), tls_client(certs.client()));
            ADD_FAILURE() << "a TLS handshake with a plain-text server succeeded";
        } catch (const aio::SSLError& e) {
            EXPECT_NE(std::string(e.what()).find("TLS handshake failed"), std::string::npos) << e.what();
        }
        server.close();
        co_await server.wait_closed();
    }());
    EXPECT_EQ(aiotest::open_fds(), before);
}

TEST(Tls, OurClientAgainstOpensslSServer) {
    Certs certs;
    if (!certs.ok) GTEST_SKIP() << "openssl could not make a certificate";
    const uint16_t port = aiotest::unused_port();
    run_net([&certs, port]() -> aio::Task<void> {
        aio::SubprocessOptions o;
        o.stdout_ = aio::PIPE;
        o.stdin_ = aio::DEVNULL;
        o.stderr_ = aio::DEVNULL;
        std::vector<std::string> args{"s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert", certs.cert,
                                      "-key", certs.key, "-rev"};
        aio::Process srv = co_await aio::create_subprocess_exec("openssl", args, o);
        EXPECT_TRUE(co_await wait_for_line(*srv.stdout, "ACCEPT"));
        auto [r, w] = co_await aio::open_connection("127.0.0.1", port, tls_client(certs.client()));
        w.write("abc\n");  // -rev: the server answers each line reversed
        co_await w.drain();
        std::string reply = co_await r.readline();
        EXPECT_EQ(reply, "cba\n");
        w.close();
        srv.kill();
        co_await srv.wait();
    }());
}

TEST(Tls, OpensslSClientAgainstOurServer) {
    Certs certs;
    if (!certs.ok) GTEST_SKIP() << "openssl could not make a certificate";
    run_net([&certs]() -> aio::Task<void> {
        aio::Server server = co_await aio::start_server(upper_echo, "127.0.0.1", 0, tls_server(certs.server()));
        aio::SubprocessOptions o;
        o.stdin_ = aio::PIPE;
        o.stdout_ = aio::PIPE;
        o.stderr_ = aio::DEVNULL;
        std::vector<std::string> args{"s_client", "-connect", "127.0.0.1:" + std::to_string(server.port()), "-CAfile",
                                      certs.cert, "-verify_return_error", "-verify_hostname", "localhost", "-quiet"};
        aio::Process cli = co_await aio::create_subprocess_exec("openssl", args, o);
        cli.stdin->write("from s_client\n");
        co_await cli.stdin->drain();
        EXPECT_EQ(co_await cli.stdout->readline(), "FROM S_CLIENT\n");
        cli.terminate();  // -quiet implies -ign_eof: s_client would not leave on stdin's EOF
        EXPECT_EQ(co_await cli.wait(), -SIGTERM);
        server.close();
    }());
}

TEST(Tls, StartTlsUpgradesAPlainConnection) {
    Certs certs;
    if (!certs.ok) GTEST_SKIP() << "openssl could not make a certificate";
    // The server side upgrades inside a task started by connection_made; both sides then talk TLS.
    struct Collect final : aio::Protocol {
        std::string got;
        aio::Event* ev = nullptr;
        aio::Event made;
        aio::Transport* t = nullptr;
        void connection_made(aio::Transport& tr) override {
            t = &tr;
            made.set();
        }
        void data_received(std::string_view d) override {
            got += d;
            if (ev) ev->set();
        }
    };
    run_net([&certs]() -> aio::Task<void> {
        auto server_proto = std::make_shared<Collect>();
        aio::Event server_got;
        server_proto->ev = &server_got;
        std::shared_ptr<aio::Transport> server_tls;
        auto sctx = certs.server();
        aio::ProtocolFactory factory = [&]() -> std::shared_ptr<aio::Protocol> { return server_proto; };
        aio::Server server = co_await aio::create_server(factory, "127.0.0.1", 0);
        aio::ProtocolFactory client_factory = [] { return std::make_shared<Collect>(); };
        auto conn = co_await aio::create_connection(std::move(client_factory), "127.0.0.1", server.port());
        // Server: upgrade its side of the (only) connection.
        co_await server_proto->made.wait();
        auto upgrade = aio::create_task(aio::start_tls(server_proto->t->shared_from_this(), server_proto, sctx, true));
        std::shared_ptr<aio::Transport> client_tls = co_await aio::start_tls(conn.first, conn.second, certs.client(), false, "localhost");
        server_tls = co_await upgrade;
        EXPECT_TRUE(aio::tls_info(*client_tls).has_value());
        EXPECT_FALSE(aio::tls_info(*conn.first).has_value());
        client_tls->write("secret");
        while (server_proto->got.size() < 6) {
            server_got.clear();
            co_await server_got.wait();
        }
        EXPECT_EQ(server_proto->got, "secret");
        client_tls->close();
        server.close();
    }());
}
