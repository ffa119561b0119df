// UDP — asyncio's loop.create_datagram_endpoint, DatagramProtocol and DatagramTransport.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "aio/core/event_loop.hpp"
#include "aio/core/task.hpp"
#include "aio/net/address.hpp"

namespace aio {

class DatagramTransport;

/// asyncio.DatagramProtocol: callbacks on the loop thread. A callback that throws is reported to
/// the loop's exception handler and the endpoint is closed with that exception.
class DatagramProtocol {
public:
    virtual ~DatagramProtocol() = default;
    /// The endpoint is ready. `transport` stays valid until connection_lost returns.
    virtual void connection_made(DatagramTransport& transport) { (void)transport; }
    /// One datagram arrived from `addr`. The view is valid only during the call.
    virtual void datagram_received(std::string_view data, const SockAddr& addr) {
        (void)data;
        (void)addr;
    }
    /// A send or receive failed (e.g. ECONNREFUSED from an ICMP port-unreachable on a connected
    /// endpoint). The endpoint stays open, as in asyncio.
    virtual void error_received(std::exception_ptr exc) { (void)exc; }
    /// The endpoint is closed: null after close(), else the error.
    virtual void connection_lost(std::exception_ptr exc) { (void)exc; }
};

/// asyncio.DatagramTransport. Owned jointly by the loop (while it watches the socket or has a
/// callback queued) and by the shared_ptrs the user keeps. Loop thread only.
class DatagramTransport : public std::enable_shared_from_this<DatagramTransport> {
public:
    DatagramTransport(const DatagramTransport&) = delete;
    DatagramTransport& operator=(const DatagramTransport&) = delete;
    virtual ~DatagramTransport() = default;

    /// transport.sendto(data, addr): one datagram. On a connected endpoint `addr` must be empty
    /// or the remote address (std::invalid_argument otherwise); on an unconnected one it is
    /// required. A datagram the kernel cannot take now is buffered and sent when it can.
    /// Errors go to error_received. Ignored once closing.
    virtual void sendto(std::string_view data, const std::optional<SockAddr>& addr = std::nullopt) = 0;
    /// transport.close(): sends what is buffered, then closes; connection_lost(null) follows.
    virtual void close() = 0;
    /// transport.abort(): closes at once, dropping the buffer.
    virtual void abort() = 0;
    [[nodiscard]] virtual bool is_closing() const noexcept = 0;
    /// transport.get_write_buffer_size(): bytes of datagrams waiting to be sent.
    [[nodiscard]] virtual size_t get_write_buffer_size() const noexcept = 0;
    /// get_extra_info("sockname") / ("peername") (empty when not connected) / ("socket").
    [[nodiscard]] virtual SockAddr sockname() const = 0;
    [[nodiscard]] virtual SockAddr peername() const = 0;
    [[nodiscard]] virtual int fileno() const noexcept = 0;
    [[nodiscard]] virtual const std::shared_ptr<DatagramProtocol>& get_protocol() const noexcept = 0;
    [[nodiscard]] virtual EventLoop& get_loop() const noexcept = 0;

protected:
    DatagramTransport() = default;
};

/// Makes the endpoint's protocol (Python: protocol_factory).
using DatagramProtocolFactory = std::function<std::shared_ptr<DatagramProtocol>()>;

/// Keyword arguments of create_datagram_endpoint.
struct DatagramOptions {
    /// Not an aggregate on purpose: g++ 12 double-destroys an aggregate temporary (such as a
    /// defaulted `= {}` argument) in a co_await expression (docs/design.md, "Compiler notes").
    /// Set the fields on a named variable.
    DatagramOptions() = default;
    /// Python local_addr=(host, port): bind here ("" host: every interface; port 0: any).
    std::optional<std::pair<std::string, uint16_t>> local_addr;
    /// Python remote_addr=(host, port): connect the socket (sendto without an address, and only
    /// datagrams from that peer arrive).
    std::optional<std::pair<std::string, uint16_t>> remote_addr;
    int family = AF_UNSPEC;
    bool reuse_port = false;
    bool allow_broadcast = false;
};

/// loop.create_datagram_endpoint(protocol_factory, local_addr=, remote_addr=, ...). With
/// neither address the socket is bound to an ephemeral port of `family` (AF_INET by default).
/// Throws std::system_error / aio::GaiError.
Task<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>> create_datagram_endpoint(
    DatagramProtocolFactory factory, DatagramOptions options = {});

}  // namespace aio
