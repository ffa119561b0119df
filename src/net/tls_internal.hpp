// TLS pieces the rest of src/net uses. Private to src/net.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "aio/net/socket.hpp"
#include "aio/net/tls.hpp"
#include "aio/net/transport.hpp"

namespace aio::detail {

struct ServerState;

/// Called once when a TLS handshake ends: null on success, else the SSLError (or the
/// connection's error).
using HandshakeDone = std::function<void(std::exception_ptr)>;

/// A TLS transport for `app` over the connected socket `sock`. The app protocol's
/// connection_made runs when the handshake completes. `server` (may be null) tracks the
/// connection for Server::wait_closed.
std::shared_ptr<Transport> make_tls_transport(EventLoop& loop, Socket sock, std::shared_ptr<Protocol> app,
                                              std::shared_ptr<SSLContext> ctx, bool server_side, std::string hostname,
                                              std::shared_ptr<ServerState> server, HandshakeDone done);

/// The transport a TLS transport writes its ciphertext to (a socket transport, or another TLS
/// transport); null if `t` is not a TLS transport or its connection is gone.
Transport* tls_inner_transport(Transport& t) noexcept;

}  // namespace aio::detail
