#include "parser.hpp"

#include <cstring>

namespace aio::http::detail {

void MessageHead::clear() noexcept {
    method.clear();
    target.clear();
    status = 0;
    reason.clear();
    version_major = 1;
    version_minor = 1;
    headers.clear();
    keep_alive = true;
    chunked = false;
    upgrade = false;
    content_length.reset();
}

void MessageHead::swap(MessageHead& o) noexcept {
    method.swap(o.method);
    target.swap(o.target);
    std::swap(status, o.status);
    reason.swap(o.reason);
    std::swap(version_major, o.version_major);
    std::swap(version_minor, o.version_minor);
    headers.swap(o.headers);
    std::swap(keep_alive, o.keep_alive);
    std::swap(chunked, o.chunked);
    std::swap(upgrade, o.upgrade);
    content_length.swap(o.content_length);
}

namespace {
Parser& self(llhttp_t* p) noexcept { return *static_cast<Parser*>(p->data); }
}  // namespace

Parser::Parser(Kind kind, ParserSink& sink, ParserLimits limits) : kind_(kind), sink_(sink), limits_(limits) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = &Parser::cb_message_begin;
    settings_.on_url = &Parser::cb_url;
    settings_.on_status = &Parser::cb_status;
    settings_.on_header_field = &Parser::cb_header_field;
    settings_.on_header_value = &Parser::cb_header_value;
    settings_.on_headers_complete = &Parser::cb_headers_complete;
    settings_.on_body = &Parser::cb_body;
    settings_.on_message_complete = &Parser::cb_message_complete;
    reset();
}

void Parser::reset() noexcept {
    llhttp_init(&parser_, kind_ == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
    parser_.data = this;
    own_head_.clear();
    head_ = &own_head_;
    field_ = nullptr;
    in_value_ = in_message_ = head_done_ = failed_ = upgraded_ = stopped_ = false;
    head_bytes_ = 0;
    last_byte_ = 0;
    error_ = nullptr;
}

void Parser::resume_after_upgrade() noexcept {
    if (!upgraded_) return;
    upgraded_ = false;
    llhttp_resume_after_upgrade(&parser_);
}

size_t Parser::feed(std::string_view data) {
    if (failed_) throw BadHttpMessage("the parser already failed");
    if (upgraded_ || data.empty()) return 0;
    chunk_begin_ = data.data();
    llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
    last_byte_ = data.back();
    if (err == HPE_OK) return data.size();
    const char* pos = llhttp_get_error_pos(&parser_);
    size_t used = pos ? static_cast<size_t>(pos - data.data()) : data.size();
    if (err == HPE_PAUSED_UPGRADE) {
        upgraded_ = true;
        return used;
    }
    if (stopped_) {
        failed_ = true;
        return used;
    }
    throw_error(err);
}

void Parser::feed_eof() {
    if (failed_ || upgraded_) return;
    llhttp_errno_t err = llhttp_finish(&parser_);
    if (err != HPE_OK) throw_error(err);
}

void Parser::throw_error(llhttp_errno_t err) {
    failed_ = true;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    const char* reason = llhttp_get_error_reason(&parser_);
    std::string msg = std::string(llhttp_errno_name(err)) + ": " + (reason && *reason ? reason : "malformed HTTP message");
    if (err == HPE_INVALID_EOF_STATE) msg = "the connection closed in the middle of a message";
    throw BadHttpMessage(msg, 400);
}

int Parser::fail(std::exception_ptr e) noexcept {
    error_ = std::move(e);
    return HPE_USER;
}

int Parser::fail(const char* message, int status) noexcept {
    try {
        return fail(std::make_exception_ptr(BadHttpMessage(message, status)));
    } catch (...) {
        return fail(std::current_exception());
    }
}

int Parser::count_head(size_t n, int status) noexcept {
    head_bytes_ += n;
    if (head_bytes_ > limits_.max_headers_size) return fail("the message head is too large", status);
    return 0;
}

int Parser::cb_message_begin(llhttp_t* p) {
    Parser& s = self(p);
    try {
        MessageHead* h = s.sink_.begin_message();
        s.head_ = h ? h : &s.own_head_;
    } catch (...) {
        return s.fail(std::current_exception());
    }
    s.head_->clear();
    s.field_ = nullptr;
    s.in_value_ = false;
    s.in_message_ = true;
    s.head_done_ = false;
    s.head_bytes_ = 0;
    return 0;
}

int Parser::cb_url(llhttp_t* p, const char* at, size_t n) {
    Parser& s = self(p);
    if (s.head_->target.size() + n > s.limits_.max_line_size) return s.fail("the request target is too long", 414);
    if (int r = s.count_head(n, 431)) return r;
    try {
        s.head_->target.append(at, n);
    } catch (...) {
        return s.fail(std::current_exception());
    }
    return 0;
}

int Parser::cb_status(llhttp_t* p, const char* at, size_t n) {
    Parser& s = self(p);
    if (s.head_->reason.size() + n > s.limits_.max_line_size) return s.fail("the status line is too long", 400);
    if (int r = s.count_head(n, 400)) return r;
    try {
        s.head_->reason.append(at, n);
    } catch (...) {
        return s.fail(std::current_exception());
    }
    return 0;
}

void Parser::finish_field() {
    // RFC 9110 5.5: whitespace around a value is not part of it (llhttp drops only the leading).
    std::string& value = field_->second;
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    field_ = nullptr;
    in_value_ = false;
}

int Parser::cb_header_field(llhttp_t* p, const char* at, size_t n) {
    Parser& s = self(p);
    const int status = s.kind_ == Kind::request ? 431 : 400;
    if (int r = s.count_head(n, status)) return r;
    try {
        if (s.in_value_) s.finish_field();
        if (!s.field_) {
            // A response's head errors are the client's to report: 400 like the rest (431 is a server's answer).
            if (s.head_->headers.size() >= s.limits_.max_headers) return s.fail("too many header fields", status);
            s.field_ = &s.head_->headers.add_entry();
        }
        if (s.field_->first.size() + n > s.limits_.max_field_size) return s.fail("a header field is too large", status);
        s.field_->first.append(at, n);
    } catch (...) {
        return s.fail(std::current_exception());
    }
    return 0;
}

int Parser::cb_header_value(llhttp_t* p, const char* at, size_t n) {
    Parser& s = self(p);
    const int status = s.kind_ == Kind::request ? 431 : 400;
    // A value span that starts right after a line feed is an obs-fold continuation line (RFC
    // 9112 5.2), which llhttp accepts; a server must reject it, and so does our client.
    char before = at > s.chunk_begin_ ? at[-1] : s.last_byte_;
    if (before == '\n') return s.fail("obsolete line folding in a header value", 400);
    if (int r = s.count_head(n, status)) return r;
    if (!s.field_) return s.fail("a header value without a name", 400);
    if (s.field_->first.size() + s.field_->second.size() + n > s.limits_.max_field_size)
        return s.fail("a header field is too large", status);
    try {
        s.field_->second.append(at, n);
        s.in_value_ = true;
    } catch (...) {
        return s.fail(std::current_exception());
    }
    return 0;
}

int Parser::cb_headers_complete(llhttp_t* p) {
    Parser& s = self(p);
    try {
        if (s.field_) s.finish_field();
        MessageHead& h = *s.head_;
        if (s.kind_ == Kind::request) h.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
        else h.status = p->status_code;
        h.version_major = p->http_major;
        h.version_minor = p->http_minor;
        h.keep_alive = llhttp_should_keep_alive(p) != 0;
        h.chunked = (p->flags & F_CHUNKED) != 0;
        h.upgrade = p->upgrade != 0;
        if (p->flags & F_CONTENT_LENGTH) h.content_length = p->content_length;
        s.head_done_ = true;
        const bool upgrade = h.upgrade;  // the sink may take the head (swap it out)
        // RFC 9112 6.3: a 1xx, 204 or 304 response has no body whatever its headers say (llhttp
        // skips it only when there is neither Content-Length nor chunked coding).
        const bool never_body = s.kind_ == Kind::response && (h.status < 200 || h.status == 204 || h.status == 304);
        switch (s.sink_.on_head(h)) {
            case ParserSink::Body::read:
                if (upgrade) return 2;
                return never_body ? 1 : 0;
            case ParserSink::Body::none: return 1;
            case ParserSink::Body::stop: s.stopped_ = true; return HPE_USER;
        }
    } catch (...) {
        return s.fail(std::current_exception());
    }
    return 0;
}

int Parser::cb_body(llhttp_t* p, const char* at, size_t n) {
    Parser& s = self(p);
    try {
        s.sink_.on_body(std::string_view(at, n));
    } catch (...) {
        return s.fail(std::current_exception());
    }
    return 0;
}

int Parser::cb_message_complete(llhttp_t* p) {
    Parser& s = self(p);
    s.in_message_ = false;
    s.head_done_ = false;
    try {
        s.sink_.on_message_complete();
    } catch (...) {
        return s.fail(std::current_exception());
    }
    return 0;
}

}  // namespace aio::http::detail
