// aiohttp.web.FileResponse: a file sent with the kernel's sendfile(2), with conditional requests
// (ETag, Last-Modified) and byte ranges. The static-file route that uses it is Router::add_static
// (web_app.hpp).
#pragma once

#include <memory>
#include <string>

#include "aio/http/headers.hpp"
#include "aio/http/web_response.hpp"

namespace aio::http {

namespace detail {
struct FileSource;
}

/// web.FileResponse(path, status=200, headers=None). Return it from a handler
/// (`co_return aio::http::FileResponse("report.pdf");`); the server then opens the file and,
/// against the request:
/// - answers 404 if it is missing or not a regular file, 403 if it may not be read;
/// - sends ETag ("mtime-size" in hex, as aiohttp) and Last-Modified, and honours If-None-Match /
///   If-Modified-Since (304), If-Match / If-Unmodified-Since (412);
/// - for GET with one `Range: bytes=` range (and a matching If-Range, if any), sends 206 with
///   Content-Range, or 416 with `Content-Range: bytes */size` when the range starts past the end
///   (several ranges are answered with the whole file, which RFC 9110 allows);
/// - guesses Content-Type from the extension unless headers() sets one; Accept-Ranges: bytes;
/// - sends the body with aio::sendfile (a plain read-and-write over TLS). A file that shrinks
///   while being sent, or a read error, closes the connection: the client sees a short body,
///   never a body that claims to be whole.
/// The file is opened when the response is sent, on the loop's thread (nginx does the same).
class FileResponse {
public:
    explicit FileResponse(std::string path, int status = 200);
    /// response.headers: sent as they are (Content-Type among them, if set).
    [[nodiscard]] Headers& headers() noexcept { return headers_; }
    /// response.set_status(status, reason=None).
    void set_status(int status, std::string reason = {});
    /// What the handler returns.
    operator Response() const;  // NOLINT(google-explicit-constructor): `co_return file;` reads as Python

private:
    friend struct detail::FileSource;
    std::shared_ptr<detail::FileSource> source_;
    int status_;
    std::string reason_;
    Headers headers_;
};

/// Options of Router::add_static (aiohttp: add_static(prefix, path, follow_symlinks=False,
/// show_index=False)).
struct StaticOptions {
    StaticOptions() = default;  // not an aggregate: docs/design.md, "Compiler notes"
    /// Follow symbolic links that lead out of the root (aiohttp: follow_symlinks). Off: a link
    /// inside the root to a file inside it is served, one leading out of it is 404.
    bool follow_symlinks = false;
    /// Answer a directory with an HTML list of its entries (aiohttp: show_index); off: 403.
    bool show_index = false;
};

}  // namespace aio::http
