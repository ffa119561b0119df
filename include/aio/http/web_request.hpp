// aiohttp.web.Request: what a handler receives.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aio/core/task.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/stream_reader.hpp"

namespace aio::http {

class Application;
namespace detail {
struct RequestState;
}

/// request.match_info: the values of the route's {name} parts, percent-decoded.
class MatchInfo {
public:
    /// match_info[name]; std::out_of_range (Python: KeyError) naming it if the route has no such part.
    [[nodiscard]] const std::string& at(std::string_view name) const;
    [[nodiscard]] const std::string& operator[](std::string_view name) const { return at(name); }
    /// match_info.get(name).
    [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
    [[nodiscard]] size_t size() const noexcept { return items_.size(); }
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& items() const noexcept { return items_; }
    void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
    void clear() noexcept { items_.clear(); }

private:
    std::vector<std::pair<std::string, std::string>> items_;
};

/// One file of a multipart form (aiohttp: web.FileField).
struct FileField {
    std::string name;
    std::string filename;
    std::string content_type;
    std::string content;
};

/// What request.post() returns (aiohttp: MultiDictProxy of str and FileField): the form's fields
/// in order, names compared exactly.
struct PostData {
    std::vector<std::pair<std::string, std::string>> fields;
    std::vector<FileField> files;
    /// post.get(name): the first field of that name.
    [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
    /// post.getall(name).
    [[nodiscard]] std::vector<std::string_view> getall(std::string_view name) const;
    /// The first file sent under that field name, or null.
    [[nodiscard]] const FileField* file(std::string_view name) const noexcept;
};

/// web.Request: a copyable handle (copies share one request). Valid while its handler runs;
/// keep the copies you hand to other tasks within that time.
class Request {
public:
    explicit Request(std::shared_ptr<detail::RequestState> s) noexcept : s_(std::move(s)) {}

    /// request.method: "GET", "POST"...
    [[nodiscard]] const std::string& method() const noexcept;
    /// request.path: the path, percent-decoded.
    [[nodiscard]] const std::string& path() const noexcept;
    /// request.raw_path: the request target as sent (path and query, still encoded).
    [[nodiscard]] const std::string& raw_path() const noexcept;
    /// request.query_string: the query as sent, without the "?".
    [[nodiscard]] std::string_view query_string() const noexcept;
    /// request.query: the query's pairs, decoded ('+' is a space), in order.
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> query() const;
    /// request.headers.
    [[nodiscard]] const Headers& headers() const noexcept;
    /// request.version: (1, 1) or (1, 0).
    [[nodiscard]] std::pair<int, int> version() const noexcept;
    /// request.keep_alive: the connection stays open after the response.
    [[nodiscard]] bool keep_alive() const noexcept;
    /// request.match_info.
    [[nodiscard]] const MatchInfo& match_info() const noexcept;
    /// request.host: the Host header.
    [[nodiscard]] std::string host() const;
    /// request.remote: the client's address ("127.0.0.1").
    [[nodiscard]] std::string remote() const;
    /// request.scheme: "http" or "https"; request.secure.
    [[nodiscard]] std::string_view scheme() const noexcept;
    [[nodiscard]] bool secure() const noexcept;
    /// request.content: the body as a stream (read it as it arrives).
    [[nodiscard]] StreamReader content() const;
    /// request.body_exists / can_read_body.
    [[nodiscard]] bool body_exists() const noexcept;
    [[nodiscard]] bool can_read_body() const noexcept;
    /// request.content_length: the Content-Length header, if any.
    [[nodiscard]] std::optional<uint64_t> content_length() const noexcept;
    /// request.content_type ("application/octet-stream" when absent) and request.charset ("" if none).
    [[nodiscard]] std::string content_type() const;
    [[nodiscard]] std::string charset() const;
    /// `await request.read()`: the whole body (the bytes are kept: a second call returns them).
    [[nodiscard]] Task<std::string> read() const;
    /// `await request.text()`: the body as text (latin-1 converted to UTF-8; UTF-8 as is).
    [[nodiscard]] Task<std::string> text() const;
    /// `await request.json()`: the body parsed as JSON; HTTPBadRequest (400) if it is not JSON.
    [[nodiscard]] Task<nlohmann::json> json() const;
    /// `await request.post()`: an application/x-www-form-urlencoded or multipart/form-data body.
    /// HTTPBadRequest for a malformed form; empty for another content type (as aiohttp).
    [[nodiscard]] Task<PostData> post() const;
    /// request.app.
    [[nodiscard]] Application& app() const noexcept;

    [[nodiscard]] const std::shared_ptr<detail::RequestState>& state() const noexcept { return s_; }

private:
    std::shared_ptr<detail::RequestState> s_;
};

}  // namespace aio::http
