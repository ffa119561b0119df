// Exception types of the HTTP layer, with their aiohttp counterparts.
//
//   aiohttp.ClientError                 aio::http::ClientError              (aio::Error)
//     ClientConnectionError               ClientConnectionError
//       ClientConnectorError                ClientConnectorError  (connect failed: host, port, cause)
//         ClientConnectorCertificateError     ClientConnectorCertificateError (verification failed)
//         ClientProxyConnectionError          ClientProxyConnectionError (the proxy could not be reached)
//       ServerDisconnectedError             ServerDisconnectedError
//     ClientResponseError                 ClientResponseError   (status, message, headers)
//       ClientHttpProxyError                ClientHttpProxyError  (the proxy refused CONNECT)
//       ContentTypeError                    ContentTypeError
//       TooManyRedirects                    TooManyRedirects
//       WSServerHandshakeError              WSServerHandshakeError (ws_connect refused)
//     ClientPayloadError                  ClientPayloadError    (a body cut short or malformed)
//     InvalidURL                          InvalidURL
//   ServerTimeoutError (asyncio.TimeoutError too)   ServerTimeoutError  (aio::TimeoutError)
//     ConnectionTimeoutError, SocketTimeoutError      the same two
//
// C++ has no multiple inheritance of std::runtime_error that stays catchable, so the timeouts
// derive from aio::TimeoutError only: `catch (const aio::TimeoutError&)` catches every client
// timeout, the way `except asyncio.TimeoutError` does with aiohttp.
#pragma once

#include <optional>
#include <string>

#include "aio/core/errors.hpp"
#include "aio/http/headers.hpp"

namespace aio::http {

/// aiohttp.ClientError: the base of every client failure except timeouts.
class ClientError : public Error {
public:
    using Error::Error;
};

/// aiohttp.InvalidURL: a URL that cannot be requested (no scheme or host, bad port, ...).
class InvalidURL : public ClientError {
public:
    explicit InvalidURL(const std::string& url, const std::string& why = {})
        : ClientError("invalid URL '" + url + "'" + (why.empty() ? "" : ": " + why)), url_(url) {}
    [[nodiscard]] const std::string& url() const noexcept { return url_; }

private:
    std::string url_;
};

/// aiohttp.ClientConnectionError: the connection failed or was lost.
class ClientConnectionError : public ClientError {
public:
    using ClientError::ClientError;
};

/// aiohttp.ClientConnectorError: connecting to host:port failed (refused, unreachable, no such
/// name). what() names the host, the port and the cause.
class ClientConnectorError : public ClientConnectionError {
public:
    ClientConnectorError(std::string host, uint16_t port, const std::string& cause)
        : ClientConnectorError("cannot connect to host ", std::move(host), port, cause) {}
    [[nodiscard]] const std::string& host() const noexcept { return host_; }
    [[nodiscard]] uint16_t port() const noexcept { return port_; }

protected:
    /// For subclasses whose message must say what host:port is (a proxy rather than the server).
    ClientConnectorError(const char* what_prefix, std::string host, uint16_t port, const std::string& cause)
        : ClientConnectionError(what_prefix + host + ":" + std::to_string(port) + ": " + cause),
          host_(std::move(host)),
          port_(port) {}

private:
    std::string host_;
    uint16_t port_;
};

/// aiohttp.ClientConnectorCertificateError: the server's certificate did not verify.
class ClientConnectorCertificateError : public ClientConnectorError {
public:
    using ClientConnectorError::ClientConnectorError;
};

/// aiohttp.ClientProxyConnectionError: connecting to the proxy failed (refused, unreachable, its
/// name did not resolve). host() and port() are the proxy's, and what() says it is the proxy, so
/// that a dead proxy is not mistaken for a dead server.
class ClientProxyConnectionError : public ClientConnectorError {
public:
    ClientProxyConnectionError(std::string host, uint16_t port, const std::string& cause)
        : ClientConnectorError("cannot connect to proxy ", std::move(host), port, cause) {}
};

/// aiohttp.ServerDisconnectedError: the server closed the connection before a response came.
class ServerDisconnectedError : public ClientConnectionError {
public:
    explicit ServerDisconnectedError(const std::string& message = "Server disconnected")
        : ClientConnectionError(message) {}
};

/// aiohttp.ClientPayloadError: the response body was cut short or malformed (a connection closed
/// mid-body, a bad chunk size, a body that does not decompress): never a truncated success.
class ClientPayloadError : public ClientError {
public:
    using ClientError::ClientError;
};

/// aiohttp.ClientResponseError: raise_for_status() on a 4xx/5xx, and the base of the errors that
/// concern a response. status() and message() are the status line's code and reason.
class ClientResponseError : public ClientError {
public:
    ClientResponseError(int status, std::string message, std::string url, Headers headers = {})
        : ClientError(std::to_string(status) + ", message='" + message + "', url='" + url + "'"),
          status_(status),
          message_(std::move(message)),
          url_(std::move(url)),
          headers_(std::move(headers)) {}
    [[nodiscard]] int status() const noexcept { return status_; }
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    [[nodiscard]] const std::string& url() const noexcept { return url_; }
    [[nodiscard]] const Headers& headers() const noexcept { return headers_; }

private:
    int status_;
    std::string message_;
    std::string url_;
    Headers headers_;
};

/// aiohttp.ClientHttpProxyError: the proxy answered CONNECT (the tunnel for an https request) with
/// a status other than 2xx: 407 when it wants credentials, 403 for a port it does not tunnel to,
/// 5xx when it cannot reach the server. status(), message() and headers() are the proxy's answer
/// (Proxy-Authenticate among them); url() is the requested URL. The connection is closed.
class ClientHttpProxyError : public ClientResponseError {
public:
    using ClientResponseError::ClientResponseError;
};

/// aiohttp.ContentTypeError: json() on a response whose Content-Type is not JSON.
class ContentTypeError : public ClientResponseError {
public:
    using ClientResponseError::ClientResponseError;
};

/// aiohttp.TooManyRedirects: more redirects than max_redirects (a redirect loop ends here).
class TooManyRedirects : public ClientResponseError {
public:
    using ClientResponseError::ClientResponseError;
};

/// aiohttp.WSServerHandshakeError: ws_connect's server did not accept the WebSocket handshake:
/// a status other than 101 (status() is it: 403, 404...), or a 101 whose Upgrade, Connection,
/// Sec-WebSocket-Accept, subprotocol or extension is not a valid answer to ours (status() 101;
/// message() says which). The connection is closed.
class WSServerHandshakeError : public ClientResponseError {
public:
    using ClientResponseError::ClientResponseError;
};

/// aiohttp.ServerTimeoutError: a client timeout (ClientTimeout) passed. An aio::TimeoutError.
class ServerTimeoutError : public TimeoutError {
public:
    explicit ServerTimeoutError(const std::string& message) : TimeoutError(message) {}
};

/// aiohttp.ConnectionTimeoutError: connecting (or waiting for a pooled connection) took too long.
class ConnectionTimeoutError : public ServerTimeoutError {
public:
    using ServerTimeoutError::ServerTimeoutError;
};

/// aiohttp.SocketTimeoutError: one socket read waited longer than ClientTimeout::sock_read.
class SocketTimeoutError : public ServerTimeoutError {
public:
    using ServerTimeoutError::ServerTimeoutError;
};

/// An HTTP message that breaks the protocol (aiohttp.http_exceptions.BadHttpMessage): what the
/// server answers with 400 and what a client reports as ClientPayloadError or
/// ServerDisconnectedError. `status()` is the status a server answers with.
class BadHttpMessage : public Error {
public:
    explicit BadHttpMessage(const std::string& message, int status = 400) : Error(message), status_(status) {}
    [[nodiscard]] int status() const noexcept { return status_; }

private:
    int status_;
};

}  // namespace aio::http
