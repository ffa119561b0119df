// web.Request (include/aio/http/web_request.hpp): accessors over the parsed head, and the
// body read whole as bytes, text, JSON or a form.
#include <stdexcept>

#include "aio/http/url.hpp"
#include "content_type.hpp"
#include "web_internal.hpp"

namespace aio::http {

const std::string& MatchInfo::at(std::string_view name) const {
    for (const auto& [k, v] : items_)
        if (k == name) return v;
    throw std::out_of_range("no route part '" + std::string(name) + "' in match_info");
}

std::optional<std::string_view> MatchInfo::get(std::string_view name) const noexcept {
    for (const auto& [k, v] : items_)
        if (k == name) return std::string_view(v);
    return std::nullopt;
}

std::optional<std::string_view> PostData::get(std::string_view name) const noexcept {
    for (const auto& [k, v] : fields)
        if (k == name) return std::string_view(v);
    return std::nullopt;
}

std::vector<std::string_view> PostData::getall(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [k, v] : fields)
        if (k == name) out.emplace_back(v);
    return out;
}

const FileField* PostData::file(std::string_view name) const noexcept {
    for (const auto& f : files)
        if (f.name == name) return &f;
    return nullptr;
}

const std::string& Request::method() const noexcept { return s_->head.method; }
const std::string& Request::path() const noexcept { return s_->path; }
const std::string& Request::raw_path() const noexcept { return s_->head.target; }
std::string_view Request::query_string() const noexcept {
    if (s_->query_pos == std::string::npos) return {};
    return std::string_view(s_->head.target).substr(s_->query_pos + 1);
}
std::vector<std::pair<std::string, std::string>> Request::query() const { return parse_qsl(query_string()); }
const Headers& Request::headers() const noexcept { return s_->head.headers; }
std::pair<int, int> Request::version() const noexcept { return {s_->head.version_major, s_->head.version_minor}; }
bool Request::keep_alive() const noexcept { return s_->head.keep_alive; }
const MatchInfo& Request::match_info() const noexcept { return s_->match_info; }
std::string Request::host() const { return s_->head.headers.get("Host", ""); }
std::string Request::remote() const { return s_->peer.host(); }
std::string_view Request::scheme() const noexcept { return s_->secure ? "https" : "http"; }
bool Request::secure() const noexcept { return s_->secure; }
bool Request::body_exists() const noexcept { return s_->has_body; }
bool Request::can_read_body() const noexcept { return s_->content && !s_->content->at_eof(); }
std::optional<uint64_t> Request::content_length() const noexcept { return s_->head.content_length; }
Application& Request::app() const noexcept { return *s_->app; }

StreamReader Request::content() const {
    if (!s_->content) {
        StreamReader empty;
        empty.feed_eof();
        s_->content = std::move(empty);
    }
    return *s_->content;
}

std::string Request::content_type() const {
    auto h = s_->head.headers.get("Content-Type");
    if (!h) return "application/octet-stream";
    return detail::parse_content_type(*h).media_type;
}

std::string Request::charset() const {
    auto h = s_->head.headers.get("Content-Type");
    return h ? detail::parse_content_type(*h).param("charset") : std::string();
}

// The body readers are coroutines over the shared state taken by value, not members: a member
// coroutine would keep a reference to the Request it was called on, which may be a temporary.
namespace {
Task<std::string> read_body(std::shared_ptr<detail::RequestState> s) {
    if (!s->body_cache) {
        std::string body;
        if (s->content) body = co_await s->content->read();
        s->body_cache = std::move(body);
    }
    co_return *s->body_cache;
}

Task<std::string> text_body(std::shared_ptr<detail::RequestState> s, std::string charset) {
    std::string body = co_await read_body(s);
    co_return detail::to_utf8(std::move(body), charset);
}

Task<nlohmann::json> json_body(std::shared_ptr<detail::RequestState> s) {
    std::string body = co_await read_body(s);
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) throw HTTPBadRequest("the request body is not valid JSON");
    co_return j;
}
}  // namespace

Task<std::string> Request::read() const { return read_body(s_); }
Task<std::string> Request::text() const { return text_body(s_, charset()); }
Task<nlohmann::json> Request::json() const { return json_body(s_); }

namespace {
/// Splits a multipart/form-data body (RFC 7578) on its boundary. Parts must be framed exactly:
/// a malformed body is a 400, never a partial form.
PostData parse_multipart(std::string_view body, const std::string& boundary) {
    if (boundary.empty() || boundary.size() > 70) throw HTTPBadRequest("multipart body without a valid boundary");
    PostData out;
    const std::string delim = "--" + boundary;
    size_t pos = body.find(delim);
    if (pos == std::string_view::npos) throw HTTPBadRequest("multipart body without its boundary");
    pos += delim.size();
    for (;;) {
        if (body.substr(pos, 2) == "--") return out;  // the closing delimiter
        if (body.substr(pos, 2) != "\r\n") throw HTTPBadRequest("malformed multipart delimiter");
        pos += 2;
        size_t head_end = body.find("\r\n\r\n", pos);
        if (head_end == std::string_view::npos) throw HTTPBadRequest("multipart part without a header end");
        std::string_view head = body.substr(pos, head_end - pos);
        size_t next = body.find("\r\n" + delim, head_end + 4);
        if (next == std::string_view::npos) throw HTTPBadRequest("multipart part without a closing boundary");
        std::string_view content = body.substr(head_end + 4, next - head_end - 4);
        std::string name, filename, type;
        bool has_filename = false;
        size_t line_start = 0;
        while (line_start <= head.size()) {
            size_t eol = head.find("\r\n", line_start);
            std::string_view line = head.substr(line_start, eol == std::string_view::npos ? eol : eol - line_start);
            size_t colon = line.find(':');
            if (colon != std::string_view::npos) {
                std::string_view key = line.substr(0, colon);
                std::string_view value = line.substr(colon + 1);
                if (iequals(key, "Content-Disposition")) {
                    auto cd = detail::parse_content_type(value);
                    if (cd.media_type != "form-data") throw HTTPBadRequest("multipart part that is not form-data");
                    name = cd.param("name");
                    for (const auto& [k, v] : cd.params)
                        if (k == "filename") {
                            filename = v;
                            has_filename = true;
                        }
                } else if (iequals(key, "Content-Type")) {
                    type = std::string(detail::parse_content_type(value).media_type);
                }
            }
            if (eol == std::string_view::npos) break;
            line_start = eol + 2;
        }
        if (has_filename)
            out.files.push_back(FileField{name, filename, type.empty() ? "application/octet-stream" : type,
                                          std::string(content)});
        else
            out.fields.emplace_back(std::move(name), std::string(content));
        pos = next + 2 + delim.size();
    }
}

Task<PostData> post_body(std::shared_ptr<detail::RequestState> s, std::string type) {
    PostData out;
    if (type == "application/x-www-form-urlencoded") {
        std::string body = co_await read_body(s);
        out.fields = parse_qsl(body);
    } else if (type == "multipart/form-data") {
        std::string body = co_await read_body(s);
        auto ct = detail::parse_content_type(s->head.headers.get("Content-Type", ""));
        out = parse_multipart(body, ct.param("boundary"));
    }
    co_return out;
}
}  // namespace

Task<PostData> Request::post() const { return post_body(s_, content_type()); }

}  // namespace aio::http
