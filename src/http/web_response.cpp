// web.Response, json_response and web.StreamResponse (include/aio/http/web_response.hpp).
#include <cstdio>
#include <stdexcept>

#include "aio/http/web_request.hpp"
#include "web_internal.hpp"

namespace aio::http {

namespace {
void check_status(int status) {
    if (status < 100 || status > 999) throw std::invalid_argument("HTTP status out of range: " + std::to_string(status));
}
std::string make_content_type(std::string_view type, std::string_view charset) {
    std::string v(type);
    if (!charset.empty()) {
        v += "; charset=";
        v += charset;
    }
    return v;
}
}  // namespace

Response::Response(std::string text, int status)
    : status_(status), implicit_type_("text/plain; charset=utf-8"), body_(std::move(text)) {
    check_status(status);
}

Response Response::bytes(std::string body, int status, std::string content_type) {
    Response r;
    r.set_status(status);
    r.body_ = std::move(body);
    r.headers_.set("Content-Type", std::move(content_type));
    return r;
}

Response Response::html(std::string text, int status) {
    Response r(std::move(text), status);
    r.implicit_type_ = "text/html; charset=utf-8";
    return r;
}

void Response::set_status(int status, std::string reason) {
    check_status(status);
    status_ = status;
    reason_ = std::move(reason);
}

std::string_view Response::reason() const noexcept {
    if (!reason_.empty()) return reason_;
    std::string_view r = status_reason(status_);
    return r.empty() ? std::string_view("Unknown") : r;
}

void Response::set_text(std::string text) {
    body_ = std::move(text);
    if (implicit_type_.empty() && !headers_.contains("Content-Type")) implicit_type_ = "text/plain; charset=utf-8";
}

void Response::set_content_type(std::string_view content_type, std::string_view charset) {
    headers_.set("Content-Type", make_content_type(content_type, charset));
    implicit_type_ = {};
}

std::string Response::content_type() const {
    std::string v = headers_.get("Content-Type", implicit_type_.empty() ? "application/octet-stream" : implicit_type_);
    return v.substr(0, v.find(';'));
}

void Response::set_cookie(std::string_view name, std::string_view value, std::string_view path,
                          std::optional<long> max_age, bool httponly, bool secure) {
    if (name.empty() || name.find_first_of("=;, \t\r\n") != std::string_view::npos)
        throw std::invalid_argument("invalid cookie name '" + std::string(name) + "'");
    if (value.find_first_of(";\r\n") != std::string_view::npos)
        throw std::invalid_argument("invalid cookie value for '" + std::string(name) + "'");
    std::string c = std::string(name) + "=" + std::string(value);
    if (!path.empty()) c += "; Path=" + std::string(path);
    if (max_age) c += "; Max-Age=" + std::to_string(*max_age);
    if (httponly) c += "; HttpOnly";
    if (secure) c += "; Secure";
    headers_.add("Set-Cookie", std::move(c));
}

Response json_response(const nlohmann::json& data, int status) {
    Response r;
    r.set_status(status);
    r.body_ = data.dump();
    r.implicit_type_ = "application/json; charset=utf-8";
    return r;
}

// --- StreamResponse ------------------------------------------------------------------------

StreamResponse::StreamResponse(int status, std::string reason) : status_(status), reason_(std::move(reason)) {
    check_status(status);
}

void StreamResponse::set_status(int status, std::string reason) {
    if (prepared_) throw RuntimeError("cannot change the status after prepare()");
    check_status(status);
    status_ = status;
    reason_ = std::move(reason);
}

void StreamResponse::set_content_type(std::string_view content_type, std::string_view charset) {
    headers_.set("Content-Type", make_content_type(content_type, charset));
}

Task<void> StreamResponse::prepare(const Request& request) {
    if (prepared_) co_return;
    req_ = request.state();
    detail::ServerConnection* conn = req_->conn;
    if (!conn) throw RuntimeError("prepare(): the request's handler has already returned");
    if (req_->stream.prepared) throw RuntimeError("prepare(): this request already has a prepared response");
    const auto& head = req_->head;
    head_only_ = head.method == "HEAD" || status_ < 200 || status_ == 204 || status_ == 304;
    chunked_ = !content_length_ && !head_only_ && head.version_minor >= 1;
    std::string out = "HTTP/1.1 " + std::to_string(status_) + " ";
    out += reason_.empty() ? (status_reason(status_).empty() ? std::string_view("Unknown") : status_reason(status_))
                           : std::string_view(reason_);
    out += "\r\n";
    for (const auto& [k, v] : headers_) {
        if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding")) continue;
        out += k + ": " + v + "\r\n";
    }
    if (!headers_.contains("Date")) out += "Date: " + std::string(detail::http_date_now()) + "\r\n";
    if (content_length_) out += "Content-Length: " + std::to_string(*content_length_) + "\r\n";
    else if (chunked_) out += "Transfer-Encoding: chunked\r\n";
    if (!chunked_ && !content_length_ && !head_only_) out += "Connection: close\r\n";
    out += "\r\n";
    prepared_ = true;
    auto& progress = req_->stream;
    progress.prepared = true;
    progress.chunked = chunked_;
    progress.head_only = head_only_;
    progress.content_length = content_length_;
    progress.status = status_;
    conn->write(out);
    co_await conn->drain();
}

Task<void> StreamResponse::write(std::string_view data) {
    if (!prepared_) throw RuntimeError("write() before prepare()");
    if (eof_) throw RuntimeError("write() after write_eof()");
    detail::ServerConnection* conn = req_->conn;
    if (!conn) throw RuntimeError("write(): the request's handler has already returned");
    if (conn->lost()) throw std::system_error(ECONNRESET, std::generic_category(), "the client closed the connection");
    if (data.empty() || head_only_) co_return;
    if (content_length_ && written_ + data.size() > *content_length_)
        throw RuntimeError("write(): more bytes than the Content-Length of " + std::to_string(*content_length_));
    if (chunked_) {
        char size[24];
        int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        conn->write(std::string_view(size, static_cast<size_t>(n)));
        conn->write(data);
        conn->write("\r\n");
    } else {
        conn->write(data);
    }
    written_ += data.size();
    req_->stream.written = written_;
    co_await conn->drain();
}

Task<void> StreamResponse::write_eof(std::string_view data) {
    if (eof_) co_return;
    if (!data.empty()) co_await write(data);
    if (!prepared_) throw RuntimeError("write_eof() before prepare()");
    detail::ServerConnection* conn = req_->conn;
    if (!conn) throw RuntimeError("write_eof(): the request's handler has already returned");
    eof_ = true;
    req_->stream.eof = true;
    if (chunked_) conn->write("0\r\n\r\n");
    co_await conn->drain();
}

StreamResponse::operator Response() const {
    Response r;
    r.status_ = status_;
    r.sent_ = true;
    return r;
}

}  // namespace aio::http
