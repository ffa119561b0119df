// TLS over a socket transport with OpenSSL memory BIOs (include/aio/net/tls.hpp), after
// asyncio's sslproto: the socket transport talks ciphertext to an inner protocol (TlsTransport::
// Inner), which feeds OpenSSL and hands plaintext to the application's protocol through a
// Transport of its own (TlsTransport).
//
// Ownership follows the plain transports: the loop owns the socket transport while it reads;
// the socket transport owns its protocol (Inner); Inner owns the TlsTransport; the TlsTransport
// owns the app protocol. The TlsTransport reaches the socket transport through a raw pointer that
// Inner clears when it dies, so there is no cycle to outlive the loop.
#include "aio/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <cstring>

#include "socket_transport.hpp"
#include "tls_internal.hpp"

namespace aio {

namespace {

// The reasons queued by OpenSSL, oldest first, then (if the peer's certificate failed) why.
std::string openssl_errors(SSL* ssl = nullptr) {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(e);
        if (!out.empty()) out += "; ";
        if (reason) {
            out += reason;
        } else {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            out += buf;
        }
    }
    if (ssl) {
        const long vr = SSL_get_verify_result(ssl);
        if (vr != X509_V_OK) {
            out += out.empty() ? "certificate verify failed: " : ": ";
            out += X509_verify_cert_error_string(vr);
        }
    }
    return out.empty() ? std::string("unknown TLS error") : out;
}

[[noreturn]] void throw_ssl(const std::string& what) { throw SSLError(what + ": " + openssl_errors()); }

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
    const auto* mine = static_cast<const std::string*>(arg);
    unsigned char* sel = nullptr;
    if (SSL_select_next_proto(&sel, outlen, reinterpret_cast<const unsigned char*>(mine->data()),
                              static_cast<unsigned int>(mine->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

// --- SSLContext ----------------------------------------------------------------------------------

std::shared_ptr<SSLContext> SSLContext::create_default_context(Purpose purpose) {
    const bool server = purpose == Purpose::server;
    SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) throw_ssl("SSL_CTX_new");
    std::shared_ptr<SSLContext> c(new SSLContext(ctx, server));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!server) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) throw_ssl("loading the system CA store");
        c->set_verify(true);
    }
    return c;
}

std::shared_ptr<SSLContext> SSLContext::server(const std::string& certfile, const std::string& keyfile) {
    auto c = create_default_context(Purpose::server);
    c->load_cert_chain(certfile, keyfile);
    return c;
}

SSLContext::~SSLContext() { SSL_CTX_free(ctx_); }

void SSLContext::load_cert_chain(const std::string& certfile, const std::string& keyfile) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, certfile.c_str()) != 1) throw_ssl("load_cert_chain('" + certfile + "')");
    if (SSL_CTX_use_PrivateKey_file(ctx_, keyfile.c_str(), SSL_FILETYPE_PEM) != 1)
        throw_ssl("load_cert_chain: key '" + keyfile + "'");
    if (SSL_CTX_check_private_key(ctx_) != 1) throw_ssl("load_cert_chain: the key does not match the certificate");
}

void SSLContext::load_verify_locations(const std::string& cafile) {
    if (SSL_CTX_load_verify_locations(ctx_, cafile.c_str(), nullptr) != 1)
        throw_ssl("load_verify_locations('" + cafile + "')");
}

void SSLContext::set_verify(bool required) {
    verify_ = required;
    int mode = SSL_VERIFY_NONE;
    if (required) mode = SSL_VERIFY_PEER | (server_ ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx_, mode, nullptr);
}

void SSLContext::set_alpn_protocols(const std::vector<std::string>& protocols) {
    std::string wire;
    for (const auto& p : protocols) {
        if (p.empty() || p.size() > 255) throw std::invalid_argument("ALPN protocol names must be 1 to 255 bytes");
        wire += static_cast<char>(p.size());
        wire += p;
    }
    alpn_wire_ = wire;
    if (server_) {
        SSL_CTX_set_alpn_select_cb(ctx_, &select_alpn, &alpn_wire_);
    } else if (SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(alpn_wire_.data()),
                                       static_cast<unsigned int>(alpn_wire_.size())) != 0) {
        throw_ssl("set_alpn_protocols");
    }
}

namespace detail {

class TlsTransport final : public Transport {
public:
    /// The protocol the socket transport sees.
    class Inner final : public Protocol {
    public:
        explicit Inner(std::shared_ptr<TlsTransport> t) noexcept : t_(std::move(t)) {}
        ~Inner() override { t_->inner_ = nullptr; }
        void connection_made(Transport& t) override { t_->inner_ = &t; }
        void data_received(std::string_view data) override { t_->on_ciphertext(data); }
        bool eof_received() override { return t_->on_eof(); }
        void connection_lost(std::exception_ptr exc) override { t_->on_lost(std::move(exc)); }
        void pause_writing() override { t_->app_call([](Protocol& p) { p.pause_writing(); }); }
        void resume_writing() override { t_->app_call([](Protocol& p) { p.resume_writing(); }); }

    private:
        std::shared_ptr<TlsTransport> t_;
    };

    TlsTransport(EventLoop& loop, std::shared_ptr<Protocol> app, std::shared_ptr<SSLContext> ctx, bool server_side,
                 std::string hostname, HandshakeDone done, bool announce)
        : loop_(&loop), app_(std::move(app)), ctx_(std::move(ctx)), hostname_(std::move(hostname)),
          done_(std::move(done)), announce_(announce) {
        ssl_ = SSL_new(ctx_->native_handle());
        if (!ssl_) throw_ssl("SSL_new");
        BIO* rbio = BIO_new(BIO_s_mem());
        BIO* wbio = BIO_new(BIO_s_mem());
        if (!rbio || !wbio) {
            BIO_free(rbio);
            BIO_free(wbio);
            throw_ssl("BIO_new");
        }
        BIO_set_mem_eof_return(rbio, -1);  // an empty read BIO means "want more", not EOF
        SSL_set_bio(ssl_, rbio, wbio);
        rbio_ = rbio;
        wbio_ = wbio;
        if (server_side) {
            SSL_set_accept_state(ssl_);
        } else {
            SSL_set_connect_state(ssl_);
            if (!hostname_.empty()) {
                const bool ip = is_ip_literal(hostname_);
                // SNI carries names only; the certificate check covers names and addresses.
                if (!ip) SSL_set_tlsext_host_name(ssl_, hostname_.c_str());
                if (ctx_->verify() && ctx_->check_hostname) {
                    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
                    if (ip) X509_VERIFY_PARAM_set1_ip_asc(param, hostname_.c_str());
                    else SSL_set1_host(ssl_, hostname_.c_str());
                }
            } else if (ctx_->verify() && ctx_->check_hostname) {
                throw std::invalid_argument("check_hostname requires server_hostname");
            }
        }
    }
    ~TlsTransport() override { SSL_free(ssl_); }

    /// Starts the handshake; the socket transport is `inner`, already carrying Inner.
    void begin(Transport& inner) {
        inner_ = &inner;
        step_handshake();
    }

    // --- Transport ---------------------------------------------------------------------------
    void write(std::string_view data) override {
        if (data.empty() || lost_ || closing_) return;
        if (!established_) {
            pending_.append(data);  // sent once the handshake is done (asyncio buffers too)
            return;
        }
        encrypt(data);
    }
    void write_eof() override { throw RuntimeError("TLS does not support half-closes (write_eof)"); }
    [[nodiscard]] bool can_write_eof() const noexcept override { return false; }
    void close() override {
        if (closing_) return;
        closing_ = true;
        if (established_ && !lost_) {
            SSL_shutdown(ssl_);  // queue close_notify
            flush();
        }
        if (inner_) inner_->close();
    }
    void abort() override {
        closing_ = true;
        if (inner_) inner_->abort();
    }
    [[nodiscard]] bool is_closing() const noexcept override { return closing_ || !inner_ || inner_->is_closing(); }
    void pause_reading() override {
        if (inner_) inner_->pause_reading();
    }
    void resume_reading() override {
        if (inner_) inner_->resume_reading();
    }
    [[nodiscard]] bool is_reading() const noexcept override { return inner_ && inner_->is_reading(); }
    [[nodiscard]] size_t get_write_buffer_size() const noexcept override {
        return pending_.size() + (inner_ ? inner_->get_write_buffer_size() : 0);
    }
    void set_write_buffer_limits(std::optional<size_t> high, std::optional<size_t> low) override {
        if (inner_) inner_->set_write_buffer_limits(high, low);
    }
    [[nodiscard]] std::pair<size_t, size_t> get_write_buffer_limits() const noexcept override {
        return inner_ ? inner_->get_write_buffer_limits() : std::pair<size_t, size_t>{0, 0};
    }
    [[nodiscard]] SockAddr peername() const override { return inner_ ? inner_->peername() : SockAddr(); }
    [[nodiscard]] SockAddr sockname() const override { return inner_ ? inner_->sockname() : SockAddr(); }
    [[nodiscard]] int fileno() const noexcept override { return inner_ ? inner_->fileno() : -1; }
    [[nodiscard]] const std::shared_ptr<Protocol>& get_protocol() const noexcept override { return app_; }
    void set_protocol(std::shared_ptr<Protocol> protocol) override {
        if (!protocol) throw std::invalid_argument("set_protocol: null protocol");
        app_ = std::move(protocol);
    }
    [[nodiscard]] EventLoop& get_loop() const noexcept override { return *loop_; }
    [[nodiscard]] Transport* inner() const noexcept { return inner_; }

    [[nodiscard]] TLSInfo info() const {
        TLSInfo i;
        i.version = SSL_get_version(ssl_);
        if (const char* c = SSL_get_cipher_name(ssl_)) i.cipher = c;
        const unsigned char* alpn = nullptr;
        unsigned int alpn_len = 0;
        SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
        if (alpn) i.alpn_protocol.assign(reinterpret_cast<const char*>(alpn), alpn_len);
        i.server_hostname = hostname_;
        if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
            char buf[512];
            X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
            i.peer_subject = buf;
            X509_free(peer);
        }
        return i;
    }

private:
    template <class F>
    void app_call(F&& f) {
        if (!app_) return;
        try {
            f(*app_);
        } catch (...) {
            loop_->call_exception_handler({"TLS transport: protocol callback failed", std::current_exception(), {}});
            abort();
        }
    }

    // Moves whatever OpenSSL produced for the network into the socket transport.
    void flush() {
        char buf[16 * 1024];
        for (;;) {
            const int n = BIO_read(wbio_, buf, sizeof buf);
            if (n <= 0) break;
            if (inner_) inner_->write(std::string_view(buf, static_cast<size_t>(n)));
        }
    }

    void encrypt(std::string_view data) {
        while (!data.empty()) {
            const int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
            if (n <= 0) {
                fail(std::make_exception_ptr(SSLError("SSL_write: " + openssl_errors(ssl_))));
                return;
            }
            data.remove_prefix(static_cast<size_t>(n));
        }
        flush();
    }

    void step_handshake() {
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl_);
        flush();
        if (r == 1) {
            established_ = true;
            if (announce_) app_call([this](Protocol& p) { p.connection_made(*this); });
            finish_handshake(nullptr);
            if (!pending_.empty() && !lost_) {
                std::string p = std::move(pending_);
                pending_.clear();
                encrypt(p);
            }
            decrypt();  // application data may have come with the last handshake flight
            return;
        }
        const int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
        const long vr = SSL_get_verify_result(ssl_);
        const std::string msg = openssl_errors(ssl_);
        std::exception_ptr e = vr != X509_V_OK ? std::make_exception_ptr(SSLCertVerificationError(msg))
                                               : std::make_exception_ptr(SSLError("TLS handshake failed: " + msg));
        fail(e);
    }

    void decrypt() {
        char buf[16 * 1024];
        for (;;) {
            if (lost_ || !app_) return;
            ERR_clear_error();
            const int n = SSL_read(ssl_, buf, sizeof buf);
            if (n > 0) {
                app_call([&](Protocol& p) { p.data_received(std::string_view(buf, static_cast<size_t>(n))); });
                continue;
            }
            const int err = SSL_get_error(ssl_, n);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                flush();  // TLS 1.3 may answer (key updates, tickets)
                return;
            }
            if (err == SSL_ERROR_ZERO_RETURN) {  // the peer's close_notify
                flush();
                peer_eof();
                return;
            }
            fail(std::make_exception_ptr(SSLError("SSL_read: " + openssl_errors(ssl_))));
            return;
        }
    }

    void peer_eof() {
        if (eof_seen_) return;
        eof_seen_ = true;
        bool keep_open = false;
        app_call([&](Protocol& p) { keep_open = p.eof_received(); });
        (void)keep_open;  // no half-close over TLS: close either way (asyncio warns and closes)
        close();
    }

    void on_ciphertext(std::string_view data) {
        if (BIO_write(rbio_, data.data(), static_cast<int>(data.size())) != static_cast<int>(data.size())) {
            fail(std::make_exception_ptr(SSLError("BIO_write failed")));
            return;
        }
        if (!established_) step_handshake();
        else decrypt();
    }

    bool on_eof() {
        if (!established_) {
            fail(std::make_exception_ptr(SSLError("TLS handshake failed: the peer closed the connection")));
            return false;
        }
        peer_eof();  // a TCP EOF without close_notify: treated as EOF, as asyncio does
        return false;
    }

    void on_lost(std::exception_ptr exc) {
        if (lost_) return;
        lost_ = true;
        if (!established_) {
            finish_handshake(exc ? exc : std::make_exception_ptr(SSLError("TLS handshake failed: connection lost")));
            return;  // the app protocol never saw connection_made
        }
        std::shared_ptr<Protocol> p = std::move(app_);
        try {
            if (p) p->connection_lost(exc ? exc : failure_);
        } catch (...) {
            loop_->call_exception_handler({"protocol.connection_lost() call failed", std::current_exception(), {}});
        }
    }

    void fail(std::exception_ptr e) {
        if (!failure_) failure_ = e;
        if (!established_) finish_handshake(e);
        closing_ = true;
        if (inner_) inner_->abort();  // connection_lost(null) follows; on_lost reports failure_
    }

    void finish_handshake(std::exception_ptr e) {
        if (!done_) return;
        HandshakeDone d = std::move(done_);
        done_ = nullptr;
        d(std::move(e));
    }

    EventLoop* loop_;
    std::shared_ptr<Protocol> app_;
    std::shared_ptr<SSLContext> ctx_;
    std::string hostname_;
    HandshakeDone done_;
    bool announce_;  // call the app's connection_made (not for start_tls)
    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr;
    BIO* wbio_ = nullptr;
    Transport* inner_ = nullptr;
    std::string pending_;
    std::exception_ptr failure_;
    bool established_ = false;
    bool closing_ = false;
    bool lost_ = false;
    bool eof_seen_ = false;

    friend class Inner;
};

Transport* tls_inner_transport(Transport& t) noexcept {
    auto* tls = dynamic_cast<TlsTransport*>(&t);
    return tls ? tls->inner() : nullptr;
}

std::shared_ptr<Transport> make_tls_transport(EventLoop& loop, Socket sock, std::shared_ptr<Protocol> app,
                                              std::shared_ptr<SSLContext> ctx, bool server_side, std::string hostname,
                                              std::shared_ptr<ServerState> server, HandshakeDone done) {
    auto tls = std::make_shared<TlsTransport>(loop, std::move(app), std::move(ctx), server_side, std::move(hostname),
                                              std::move(done), true);
    auto inner = std::make_shared<SocketTransport>(loop, std::move(sock), std::make_shared<TlsTransport::Inner>(tls),
                                                   std::move(server));
    inner->start();  // Inner::connection_made records the socket transport
    tls->begin(*inner);
    return tls;
}

}  // namespace detail

std::optional<TLSInfo> tls_info(const Transport& t) {
    if (auto* tls = dynamic_cast<const detail::TlsTransport*>(&t)) return tls->info();
    return std::nullopt;
}

Task<std::shared_ptr<Transport>> start_tls(std::shared_ptr<Transport> transport, std::shared_ptr<Protocol> protocol,
                                           std::shared_ptr<SSLContext> context, bool server_side,
                                           std::string server_hostname) {
    if (!transport || !protocol || !context) throw std::invalid_argument("start_tls: null transport, protocol or context");
    auto* sock = dynamic_cast<detail::SocketTransport*>(transport.get());
    if (!sock) throw std::invalid_argument("start_tls: the transport is not a plain socket transport");
    if (sock->is_closing()) throw RuntimeError("start_tls: the transport is closing");
    EventLoop& loop = sock->get_loop();
    Future<void> handshake(loop);
    detail::HandshakeDone done = [handshake](std::exception_ptr e) mutable {
        if (handshake.done()) return;
        if (e) handshake.set_exception(e);
        else handshake.set_result();
    };
    auto tls = std::make_shared<detail::TlsTransport>(loop, protocol, context, server_side, std::move(server_hostname),
                                                      std::move(done), false);
    sock->set_protocol(std::make_shared<detail::TlsTransport::Inner>(tls));
    tls->begin(*sock);
    co_await handshake;
    co_return tls;
}

}  // namespace aio
