// aio::http::ClientResponse — aiohttp.ClientResponse: the status, headers and body of a response
// to a ClientSession request.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "aio/core/task.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/stream_reader.hpp"
#include "aio/http/url.hpp"

namespace aio::http {

namespace detail {
class Connection;
}

/// aiohttp.HttpVersion: the protocol version of a response (1.1, or 1.0 for an old server).
struct HttpVersion {
    int major = 1;
    int minor = 1;
    friend bool operator==(const HttpVersion&, const HttpVersion&) = default;
};

/// aiohttp.ClientResponse. Move-only. It owns the connection until its body has been received in
/// full: the connection then goes back to the session's pool by itself, whether or not the body
/// was read. Destroying a response (or release()) whose body has not all arrived closes the
/// connection, since unread bytes would corrupt the next response on it. So there is no
/// "Unclosed response" to forget: RAII releases it either way.
class ClientResponse {
public:
    ClientResponse() = default;
    ClientResponse(ClientResponse&& o) noexcept = default;
    ClientResponse& operator=(ClientResponse&& o) noexcept;
    ClientResponse(const ClientResponse&) = delete;
    ClientResponse& operator=(const ClientResponse&) = delete;
    ~ClientResponse();

    /// response.status.
    [[nodiscard]] int status() const noexcept { return status_; }
    /// response.reason: the status line's reason phrase ("Not Found").
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
    /// response.headers.
    [[nodiscard]] const Headers& headers() const noexcept { return headers_; }
    /// response.url: the URL this response came from (the last one after redirects).
    [[nodiscard]] const URL& url() const noexcept { return url_; }
    /// response.method: the method of the request that produced this response.
    [[nodiscard]] const std::string& method() const noexcept { return method_; }
    /// response.version.
    [[nodiscard]] HttpVersion version() const noexcept { return version_; }
    /// response.history: the redirect responses that led here, oldest first.
    [[nodiscard]] const std::vector<ClientResponse>& history() const noexcept { return history_; }
    /// response.ok: status < 400.
    [[nodiscard]] bool ok() const noexcept { return status_ < 400; }
    /// response.content_type: the media type of Content-Type, lower-cased ("application/octet-stream"
    /// when absent, as aiohttp).
    [[nodiscard]] std::string content_type() const;
    /// response.charset: the charset parameter of Content-Type, lower-cased; nullopt if absent.
    [[nodiscard]] std::optional<std::string> charset() const;
    /// response.content_length: Content-Length, if the response has one.
    [[nodiscard]] std::optional<uint64_t> content_length() const;

    /// response.raise_for_status(): throws ClientResponseError (status, message = reason) for a
    /// status >= 400.
    void raise_for_status() const;

    /// `await response.read()`: the whole body (decoded from gzip/deflate unless the session
    /// disabled auto_decompress). Kept, so read/text/json may be called again. A body cut short or
    /// malformed throws ClientPayloadError, never a truncated success.
    [[nodiscard]] Task<std::string> read();
    /// `await response.text()`: the body as UTF-8: the charset of Content-Type, iso-8859-1 (latin-1)
    /// converted; utf-8, us-ascii, no charset or an unknown one: the bytes as they are.
    [[nodiscard]] Task<std::string> text();
    /// `await response.text(encoding)`: the same, with the charset given.
    [[nodiscard]] Task<std::string> text(std::string encoding);
    /// `await response.json()`: the body parsed as JSON (nlohmann::json's parse_error if it is not).
    /// Throws ContentTypeError unless Content-Type is application/json or a "+json" type; json(false)
    /// skips that check (aiohttp: json(content_type=None)). An empty body is null.
    [[nodiscard]] Task<nlohmann::json> json(bool check_content_type = true);
    /// response.content: the body as a stream, for bodies read piece by piece. Do not mix with
    /// read(): what one takes the other does not see.
    [[nodiscard]] StreamReader& content() noexcept { return content_; }

    /// response.release(): gives the connection back (to the pool if its body has arrived in full,
    /// otherwise it is closed). Idempotent; the destructor does it too.
    void release() noexcept;
    /// response.close(): closes the connection unless the body already arrived in full.
    void close() noexcept { release(); }
    /// response.closed: release() was called or the connection was handed back.
    [[nodiscard]] bool closed() const noexcept;

private:
    friend struct ResponseAccess;
    explicit ClientResponse(StreamReader content) noexcept : content_(std::move(content)) {}

    int status_ = 0;
    std::string reason_;
    Headers headers_;
    URL url_;
    std::string method_;
    HttpVersion version_;
    std::vector<ClientResponse> history_;
    StreamReader content_;
    std::shared_ptr<detail::Connection> conn_;
    uint64_t seq_ = 0;
    std::optional<double> deadline_;   // the request's total timeout, on the loop's clock
    std::optional<std::string> body_;  // read()'s result, kept
};

}  // namespace aio::http
