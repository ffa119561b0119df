// ClientResponse: the body as bytes, text and JSON; releasing the connection.
#include "aio/core/timeout.hpp"
#include "client_internal.hpp"
#include "content_type.hpp"

namespace aio::http {

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}
}  // namespace

ClientResponse& ClientResponse::operator=(ClientResponse&& o) noexcept {
    if (this != &o) {
        release();
        status_ = o.status_;
        reason_ = std::move(o.reason_);
        headers_ = std::move(o.headers_);
        url_ = std::move(o.url_);
        method_ = std::move(o.method_);
        version_ = o.version_;
        history_ = std::move(o.history_);
        content_ = std::move(o.content_);
        conn_ = std::move(o.conn_);
        seq_ = o.seq_;
        deadline_ = o.deadline_;
        body_ = std::move(o.body_);
    }
    return *this;
}

ClientResponse::~ClientResponse() { release(); }

void ClientResponse::release() noexcept {
    if (auto c = std::move(conn_)) c->release_response(seq_);
}

bool ClientResponse::closed() const noexcept { return !conn_ || !conn_->busy() || conn_->seq() != seq_; }

std::string ClientResponse::content_type() const {
    auto ct = headers_.get("Content-Type");
    if (!ct) return "application/octet-stream";
    return detail::parse_content_type(*ct).media_type;
}

std::optional<std::string> ClientResponse::charset() const {
    auto ct = headers_.get("Content-Type");
    if (!ct) return std::nullopt;
    for (const auto& [name, value] : detail::parse_content_type(*ct).params) {
        if (name != "charset") continue;
        std::string cs = value;
        for (char& c : cs)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return cs;
    }
    return std::nullopt;
}

std::optional<uint64_t> ClientResponse::content_length() const {
    auto v = headers_.get("Content-Length");
    if (!v || v->empty()) return std::nullopt;
    uint64_t n = 0;
    for (char c : *v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    return n;
}

void ClientResponse::raise_for_status() const {
    if (status_ >= 400) throw ClientResponseError(status_, reason_, url_.human_repr(), headers_);
}

Task<std::string> ClientResponse::read() {
    if (body_) co_return *body_;
    std::string data;
    if (deadline_) {
        // The request's total timeout covers reading its body too.
        Timeout scope = timeout_at(*deadline_);
        auto reading = content_.read(-1);
        bool timed_out = false;
        try {
            data = co_await scope.run(std::move(reading));
        } catch (const ServerTimeoutError&) {
            throw;
        } catch (const TimeoutError&) {
            timed_out = true;
        }
        if (timed_out) throw ServerTimeoutError("Timeout on reading the body of " + url_.human_repr());
    } else {
        data = co_await content_.read(-1);
    }
    body_ = std::move(data);
    co_return *body_;
}

Task<std::string> ClientResponse::text() {
    std::string data = co_await read();
    std::optional<std::string> cs = charset();
    co_return detail::to_utf8(std::move(data), cs.value_or(""));
}

Task<std::string> ClientResponse::text(std::string encoding) {
    std::string data = co_await read();
    co_return detail::to_utf8(std::move(data), encoding);
}

Task<nlohmann::json> ClientResponse::json(bool check_content_type) {
    if (check_content_type) {
        std::string type = content_type();
        const bool json_type =
            type == "application/json" || (type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0);
        if (!json_type)
            throw ContentTypeError(status_, "Attempt to decode JSON with unexpected mimetype: " + type,
                                   url_.human_repr(), headers_);
    }
    std::string data = co_await read();
    if (trim(data).empty()) co_return nlohmann::json();
    co_return nlohmann::json::parse(data);
}

}  // namespace aio::http
