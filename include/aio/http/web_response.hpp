// aiohttp.web's responses: web.Response, web.json_response and web.StreamResponse.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "aio/core/task.hpp"
#include "aio/http/headers.hpp"

namespace aio::http {

class Request;
namespace detail {
struct RequestState;
struct FileSource;
struct ResponseAccess;
}

/// The standard reason phrase of a status code ("Not Found"); "" for an unknown code.
[[nodiscard]] std::string_view status_reason(int status) noexcept;

/// web.Response: a status, headers and a body sent in one piece with a Content-Length.
/// A value type: build it, return it from the handler (`co_return aio::http::Response("hi")`).
class Response {
public:
    /// web.Response(status=200): an empty body.
    Response() = default;
    /// web.Response(text=text, status=status): text/plain; charset=utf-8.
    explicit Response(std::string text, int status = 200);
    /// web.Response(body=bytes, status=, content_type=): raw bytes (application/octet-stream by default).
    static Response bytes(std::string body, int status = 200, std::string content_type = "application/octet-stream");
    /// web.Response(text=..., content_type="text/html").
    static Response html(std::string text, int status = 200);

    [[nodiscard]] int status() const noexcept { return status_; }
    /// response.set_status(status, reason=None).
    void set_status(int status, std::string reason = {});
    /// response.reason: the given reason or the standard one.
    [[nodiscard]] std::string_view reason() const noexcept;
    /// response.headers (Content-Length, Date and Server are added when it is sent).
    [[nodiscard]] Headers& headers() noexcept { return headers_; }
    [[nodiscard]] const Headers& headers() const noexcept { return headers_; }
    /// response.body / response.text.
    [[nodiscard]] const std::string& body() const noexcept { return body_; }
    void set_body(std::string body) { body_ = std::move(body); }
    void set_text(std::string text);
    /// response.content_type / charset: set the Content-Type header.
    void set_content_type(std::string_view content_type, std::string_view charset = {});
    /// response.content_type: the media type (without parameters).
    [[nodiscard]] std::string content_type() const;
    /// The Content-Type sent when headers() has none: what the constructor chose ("" if none).
    /// Kept apart from headers() so that the common response allocates no header list.
    [[nodiscard]] std::string_view implicit_content_type() const noexcept { return implicit_type_; }
    /// response.set_cookie(name, value, path="/", max_age=None, ...): a Set-Cookie header.
    void set_cookie(std::string_view name, std::string_view value, std::string_view path = "/",
                    std::optional<long> max_age = std::nullopt, bool httponly = false, bool secure = false);
    /// response.force_close(): the connection closes after this response.
    void force_close() noexcept { force_close_ = true; }
    [[nodiscard]] bool will_close() const noexcept { return force_close_; }
    /// True for what a prepared StreamResponse leaves behind: already sent, nothing to write.
    [[nodiscard]] bool sent() const noexcept { return sent_; }

private:
    friend class StreamResponse;
    friend class FileResponse;
    friend class WebSocketResponse;
    friend struct detail::ResponseAccess;
    friend Response json_response(const nlohmann::json& data, int status);
    int status_ = 200;
    std::string_view implicit_type_;  // always a string literal
    std::string reason_;
    Headers headers_;
    std::string body_;
    bool force_close_ = false;
    bool sent_ = false;
    std::shared_ptr<detail::FileSource> file_;  // a FileResponse: the server sends the file
};

/// web.json_response(data, status=200): the JSON text with Content-Type application/json.
[[nodiscard]] Response json_response(const nlohmann::json& data, int status = 200);

/// web.StreamResponse: headers sent by prepare(), then the body written piece by piece (chunked
/// unless a Content-Length was set), ended by write_eof(). A handler returns it when done
/// (`co_return resp;` converts it to a sent Response).
///
/// Cancel safety: write() queues the bytes before it waits for the socket to drain, so a
/// cancelled write loses nothing already passed to it.
class StreamResponse {
public:
    explicit StreamResponse(int status = 200, std::string reason = {});
    [[nodiscard]] int status() const noexcept { return status_; }
    void set_status(int status, std::string reason = {});
    [[nodiscard]] Headers& headers() noexcept { return headers_; }
    void set_content_type(std::string_view content_type, std::string_view charset = {});
    /// response.content_length = n: send a Content-Length instead of chunked framing.
    void set_content_length(uint64_t n) { content_length_ = n; }
    /// response.enable_chunked_encoding().
    void enable_chunked_encoding() noexcept { content_length_.reset(); }
    /// `await response.prepare(request)`: sends the status line and headers. Once only.
    Task<void> prepare(const Request& request);
    [[nodiscard]] bool prepared() const noexcept { return prepared_; }
    /// `await response.write(data)`: sends a piece of the body, waiting while the socket's
    /// buffer is full. Throws ConnectionResetError (std::system_error) if the client went away.
    Task<void> write(std::string_view data);
    /// `await response.write_eof(data=b"")`: the last piece and the end of the body.
    Task<void> write_eof(std::string_view data = {});
    /// What the handler returns: the response, marked as already sent.
    operator Response() const;  // NOLINT(google-explicit-constructor): `co_return stream;` reads as Python

private:
    int status_;
    std::string reason_;
    Headers headers_;
    std::optional<uint64_t> content_length_;
    uint64_t written_ = 0;
    bool prepared_ = false;
    bool eof_ = false;
    bool chunked_ = false;
    bool head_only_ = false;
    std::shared_ptr<detail::RequestState> req_;
};

}  // namespace aio::http
