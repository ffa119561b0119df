// Transports and protocols — asyncio's low-level networking API (what uvloop's fastest figures
// use): loop.create_connection / create_server / create_unix_connection / create_unix_server,
// asyncio.Protocol, asyncio.Transport and asyncio.Server. Streams (streams.hpp) are built on it.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aio/core/event_loop.hpp"
#include "aio/core/task.hpp"
#include "aio/net/address.hpp"
#include "aio/net/socket.hpp"
#include "aio/net/tls.hpp"

namespace aio {

class Transport;

/// asyncio.Protocol: callbacks the transport calls on the loop thread. Override what you need.
/// A callback that throws is reported to the loop's exception handler and the connection is
/// aborted with that exception (asyncio: "Fatal error: protocol.data_received() call failed.").
class Protocol {
public:
    virtual ~Protocol() = default;
    /// The connection is up. `transport` stays valid until connection_lost returns; keep
    /// `transport.shared_from_this()` to hold it longer.
    virtual void connection_made(Transport& transport) { (void)transport; }
    /// Bytes arrived. The view is valid only during the call.
    virtual void data_received(std::string_view data) { (void)data; }
    /// The peer shut its write side. Return true to keep our write side open (half-close);
    /// false closes the transport.
    virtual bool eof_received() { return false; }
    /// The connection is closed: null on a normal close or EOF, else the error (e.g. a
    /// std::system_error with ECONNRESET). Called exactly once, after connection_made.
    virtual void connection_lost(std::exception_ptr exc) { (void)exc; }
    /// The write buffer went above the high-water mark: stop writing until resume_writing.
    virtual void pause_writing() {}
    /// The write buffer drained below the low-water mark.
    virtual void resume_writing() {}
};

/// asyncio.Transport for a stream socket (TCP or AF_UNIX). Created by create_connection and
/// create_server; owned jointly by the loop (while it watches the socket or has a callback queued)
/// and by every shared_ptr the user keeps. Used on its loop's thread only.
/// Dropping the last reference to an open transport closes its socket without calling
/// connection_lost (Python warns "unclosed transport" and does the same).
class Transport : public std::enable_shared_from_this<Transport> {
public:
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;
    virtual ~Transport() = default;

    /// transport.write(data): sends at once what the socket takes, buffers the rest (no
    /// blocking, no error here: a failed send closes the transport and reports to
    /// connection_lost). Throws RuntimeError after write_eof(). Ignored once the connection is lost.
    virtual void write(std::string_view data) = 0;
    /// transport.writelines(list_of_data): one write of the concatenation.
    void writelines(std::initializer_list<std::string_view> parts);
    template <class Range>
    void writelines(const Range& parts) {
        for (const auto& p : parts) write(std::string_view(p));
    }
    /// transport.write_eof(): shuts the write side down once the buffer has been sent.
    virtual void write_eof() = 0;
    /// transport.can_write_eof(): true for sockets.
    [[nodiscard]] virtual bool can_write_eof() const noexcept = 0;
    /// transport.close(): sends what is buffered, then closes; connection_lost(null) follows on
    /// a later loop iteration. Idempotent.
    virtual void close() = 0;
    /// transport.abort(): closes at once, discarding the buffer.
    virtual void abort() = 0;
    /// transport.is_closing().
    [[nodiscard]] virtual bool is_closing() const noexcept = 0;
    /// transport.pause_reading() / resume_reading() / is_reading().
    virtual void pause_reading() = 0;
    virtual void resume_reading() = 0;
    [[nodiscard]] virtual bool is_reading() const noexcept = 0;
    /// transport.get_write_buffer_size(): bytes buffered, not yet sent.
    [[nodiscard]] virtual size_t get_write_buffer_size() const noexcept = 0;
    /// transport.set_write_buffer_limits(high, low): pause_writing above `high`, resume_writing
    /// at or below `low`. Defaults as asyncio: high 64 KiB, low high/4. Throws
    /// std::invalid_argument unless high >= low.
    virtual void set_write_buffer_limits(std::optional<size_t> high = std::nullopt,
                                         std::optional<size_t> low = std::nullopt) = 0;
    /// transport.get_write_buffer_limits() -> (low, high).
    [[nodiscard]] virtual std::pair<size_t, size_t> get_write_buffer_limits() const noexcept = 0;

    /// get_extra_info("peername") / ("sockname") / ("socket") — typed. (TLS: aio::tls_info(t).)
    [[nodiscard]] virtual SockAddr peername() const = 0;
    [[nodiscard]] virtual SockAddr sockname() const = 0;
    /// The socket's fd (-1 once closed). Do not read or write it directly.
    [[nodiscard]] virtual int fileno() const noexcept = 0;
    /// transport.get_extra_info(name, default): "peername" and "sockname" (SockAddr), "socket"
    /// (int fd), "ssl_object" (aio::TLSInfo; absent on a plain socket); else `default_value`.
    [[nodiscard]] std::any get_extra_info(std::string_view name, std::any default_value = {}) const;

    /// transport.get_protocol() / set_protocol(protocol).
    [[nodiscard]] virtual const std::shared_ptr<Protocol>& get_protocol() const noexcept = 0;
    virtual void set_protocol(std::shared_ptr<Protocol> protocol) = 0;
    /// transport.get_loop() (aiocpp: the loop it runs on).
    [[nodiscard]] virtual EventLoop& get_loop() const noexcept = 0;

protected:
    Transport() = default;
};

/// Makes one protocol per connection (Python: protocol_factory).
using ProtocolFactory = std::function<std::shared_ptr<Protocol>()>;

/// Keyword arguments of create_connection / open_connection.
struct ConnectOptions {
    /// Not an aggregate on purpose: g++ 12 double-destroys an aggregate temporary (such as a
    /// defaulted `= {}` argument) in a co_await expression (docs/design.md, "Compiler notes").
    /// Set the fields on a named variable.
    ConnectOptions() = default;
    /// Python family=: AF_INET or AF_INET6 to restrict the addresses tried.
    int family = AF_UNSPEC;
    /// Python local_addr=: bind before connecting.
    std::optional<SockAddr> local_addr;
    /// Python limit= (streams only): the StreamReader's buffer limit.
    size_t limit = 64 * 1024;
    /// Python ssl=: TLS with this context (SSLContext::create_default_context() verifies the
    /// server against the system CAs and checks its name).
    std::shared_ptr<SSLContext> ssl;
    /// Python server_hostname=: the name to send (SNI) and check; empty = the host connected to.
    std::string server_hostname;
    /// Python ssl_handshake_timeout= (60 s): past it, aio::TimeoutError and the socket is closed.
    std::chrono::nanoseconds ssl_handshake_timeout = std::chrono::seconds(60);
};

/// Keyword arguments of create_server / start_server.
struct ServerOptions {
    /// Not an aggregate on purpose: g++ 12 double-destroys an aggregate temporary (such as a
    /// defaulted `= {}` argument) in a co_await expression (docs/design.md, "Compiler notes").
    /// Set the fields on a named variable.
    ServerOptions() = default;
    int family = AF_UNSPEC;  // with an empty host: AF_UNSPEC listens on IPv4 and IPv6
    int backlog = 100;
    /// Python reuse_address= (default true on Unix, as asyncio).
    bool reuse_address = true;
    /// Python reuse_port=.
    bool reuse_port = false;
    /// Python start_serving= (default true).
    bool start_serving = true;
    /// Python limit= (streams only).
    size_t limit = 64 * 1024;
    /// Python ssl=: serve TLS with this (server) context. A client whose handshake fails is
    /// reported to the loop's exception handler and dropped; the server goes on.
    std::shared_ptr<SSLContext> ssl;
    /// After accept() fails for lack of fds (EMFILE, ENFILE, ENOBUFS, ENOMEM) the server stops
    /// accepting for this long, then retries (asyncio: 1 s), so it neither spins nor stops.
    std::chrono::nanoseconds accept_retry_delay = std::chrono::seconds(1);
};

namespace detail {
struct ServerState;
}

/// asyncio.Server: listening sockets that accept connections until closed. Move-only; the
/// destructor closes it (Python: `async with server:`). Must not outlive its loop.
class Server {
public:
    Server() noexcept = default;
    explicit Server(std::shared_ptr<detail::ServerState> s) noexcept : s_(std::move(s)) {}
    Server(Server&&) noexcept = default;
    Server& operator=(Server&& o) noexcept;
    ~Server();

    /// server.close(): stops accepting and closes the listening sockets. Connections already
    /// accepted are left alone (Python); see close_clients / abort_clients.
    void close();
    /// server.close_clients() (3.13): close every connection accepted by this server.
    void close_clients();
    /// server.abort_clients() (3.13): abort them.
    void abort_clients();
    /// `co_await server.wait_closed()`: returns once close() was called and every connection
    /// it accepted has been closed (Python 3.12 semantics).
    [[nodiscard]] Task<void> wait_closed();
    /// `co_await server.serve_forever()`: accepts until cancelled; cancellation closes the server.
    [[nodiscard]] Task<void> serve_forever();
    /// server.start_serving(): begin accepting (when created with start_serving = false).
    void start_serving();
    /// server.is_serving().
    [[nodiscard]] bool is_serving() const noexcept;
    /// server.sockets: the listening addresses.
    [[nodiscard]] std::vector<SockAddr> sockets() const;
    /// aiocpp: the port of the first listening socket (handy with port 0).
    [[nodiscard]] uint16_t port() const;
    /// The number of connections accepted and not yet closed.
    [[nodiscard]] size_t active_connections() const noexcept;
    /// server.get_loop().
    [[nodiscard]] EventLoop& get_loop() const;

private:
    std::shared_ptr<detail::ServerState> s_;
};

/// loop.create_connection(protocol_factory, host, port): resolves `host`, tries every address
/// in turn until one connects (no happy eyeballs yet), and returns the transport and protocol.
/// Throws std::system_error (ECONNREFUSED...) or aio::GaiError; with several addresses tried,
/// the error of the last one, naming every address in its message. Cancellation closes the socket.
Task<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> create_connection(
    ProtocolFactory factory, std::string host, uint16_t port, ConnectOptions options = {});
/// loop.create_unix_connection(protocol_factory, path).
Task<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> create_unix_connection(
    ProtocolFactory factory, std::string path);
/// loop.create_connection(protocol_factory, sock=sock): wraps an already connected socket.
std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>> create_connection(ProtocolFactory factory,
                                                                                    Socket sock);
/// loop.create_server(protocol_factory, host, port): "" or "0.0.0.0"/"::" for every interface;
/// port 0 picks a free port (see Server::port()).
Task<Server> create_server(ProtocolFactory factory, std::string host, uint16_t port, ServerOptions options = {});
/// loop.create_unix_server(protocol_factory, path): a stale socket file at `path` is removed
/// first, and the file is removed again when the server closes (Python 3.13 cleanup_socket).
Task<Server> create_unix_server(ProtocolFactory factory, std::string path, ServerOptions options = {});

/// Typed convenience: create_connection with a factory of a concrete protocol type.
template <class P, class F>
    requires std::is_base_of_v<Protocol, P>
Task<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> create_connection_as(F factory, std::string host,
                                                                                      uint16_t port,
                                                                                      ConnectOptions options = {}) {
    // Named, not a temporary of the co_await expression (g++ 12 bug, docs/design.md).
    ProtocolFactory erased = [f = std::move(factory)]() -> std::shared_ptr<Protocol> { return f(); };
    auto conn = co_await create_connection(std::move(erased), std::move(host), port, std::move(options));
    co_return std::pair{std::move(conn.first), std::static_pointer_cast<P>(std::move(conn.second))};
}

}  // namespace aio
