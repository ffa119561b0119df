// TLS with OpenSSL — Python's ssl.SSLContext as far as asyncio uses it, and loop.start_tls.
// Pass a context as the `ssl` option of create_connection / open_connection / create_server /
// start_server; or upgrade a connection with start_tls.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"

typedef struct ssl_ctx_st SSL_CTX;  // OpenSSL's, so that this header does not pull in <openssl/ssl.h>

namespace aio {

class Transport;
class Protocol;

/// ssl.SSLError: a TLS failure, with OpenSSL's reason in what() (and, for a failed certificate
/// check, the verification error: "certificate verify failed: self-signed certificate").
class SSLError : public Error {
public:
    using Error::Error;
};

/// ssl.SSLCertVerificationError: the peer's certificate or its hostname did not check out.
class SSLCertVerificationError : public SSLError {
public:
    using SSLError::SSLError;
};

/// ssl.SSLContext. Shared (std::shared_ptr) by every connection that uses it; configure it
/// before the first connection.
class SSLContext {
public:
    enum class Purpose { client, server };
    /// ssl.create_default_context(): a client context verifies the peer's certificate against the
    /// system CA store and checks the hostname (and sends SNI); a server context asks nothing of
    /// clients. TLS 1.2 at least. Throws SSLError.
    static std::shared_ptr<SSLContext> create_default_context(Purpose purpose = Purpose::client);
    /// A server context with its certificate chain and key (PEM files).
    static std::shared_ptr<SSLContext> server(const std::string& certfile, const std::string& keyfile);

    SSLContext(const SSLContext&) = delete;
    SSLContext& operator=(const SSLContext&) = delete;
    ~SSLContext();

    /// ctx.load_cert_chain(certfile, keyfile). Throws SSLError naming the file and OpenSSL's reason.
    void load_cert_chain(const std::string& certfile, const std::string& keyfile);
    /// ctx.load_verify_locations(cafile): trust these CAs (in addition to the defaults loaded).
    void load_verify_locations(const std::string& cafile);
    /// ctx.verify_mode = CERT_NONE / CERT_REQUIRED (a server requiring client certificates).
    void set_verify(bool required);
    [[nodiscard]] bool verify() const noexcept { return verify_; }
    /// ctx.check_hostname (clients; needs verify).
    bool check_hostname = true;
    /// ctx.set_alpn_protocols(["h2", "http/1.1"]).
    void set_alpn_protocols(const std::vector<std::string>& protocols);
    [[nodiscard]] bool is_server() const noexcept { return server_; }
    /// The OpenSSL context, for settings aiocpp does not wrap.
    [[nodiscard]] SSL_CTX* native_handle() const noexcept { return ctx_; }

private:
    SSLContext(SSL_CTX* ctx, bool server) noexcept : ctx_(ctx), server_(server) {}
    SSL_CTX* ctx_;
    bool server_;
    bool verify_ = false;
    std::string alpn_wire_;  // the server selects from this list
};

/// What a TLS transport can tell about its session (get_extra_info("ssl_object") in Python).
struct TLSInfo {
    std::string version;        // "TLSv1.3"
    std::string cipher;         // e.g. "TLS_AES_256_GCM_SHA384"
    std::string alpn_protocol;  // selected ALPN protocol, "" if none
    std::string server_hostname;
    std::string peer_subject;   // the peer certificate's subject, "" if none
};
/// The TLS details of `t`, or nullopt for a plain transport.
[[nodiscard]] std::optional<TLSInfo> tls_info(const Transport& t);

/// loop.start_tls(transport, protocol, sslcontext, server_side=, server_hostname=): upgrades an
/// open connection to TLS. `transport` must come from create_connection / create_server; its
/// protocol is replaced. Returns the new (TLS) transport once the handshake is done; the old one
/// must not be used any more. `protocol` gets no connection_made (it already had one), as in
/// Python. Throws SSLError / SSLCertVerificationError; on failure the connection is closed.
Task<std::shared_ptr<Transport>> start_tls(std::shared_ptr<Transport> transport, std::shared_ptr<Protocol> protocol,
                                           std::shared_ptr<SSLContext> context, bool server_side = false,
                                           std::string server_hostname = {});

}  // namespace aio
