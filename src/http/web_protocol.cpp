// The server's connection (web_internal.hpp: ServerConnection), after aiohttp's
// web_protocol.RequestHandler: llhttp parses into a queue, one task answers in order.
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <system_error>

#include "aio/core/sleep.hpp"
#include "aio/net/sendfile.hpp"
#include "web_internal.hpp"

namespace aio::http::detail {

namespace {
constexpr size_t kFlushAt = 64 * 1024;  // pipelined responses are sent together up to this much
constexpr std::chrono::milliseconds kLingerTime{2000};  // a refused client's input is drained this long
constexpr uint64_t kLingerBytes = 1024 * 1024;            // ...or up to this much

void append_number(std::string& out, uint64_t n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, static_cast<size_t>(r.ptr - buf));
}

bool body_allowed(int status) noexcept { return !(status < 200 || status == 204 || status == 304); }
}  // namespace

std::string format_http_date(time_t t) {
    tm g{};
    ::gmtime_r(&t, &g);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
    return std::string(buf, n);
}

std::string_view http_date_now() {
    thread_local time_t cached_second = 0;
    thread_local std::string cached;
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != cached_second) {
        cached_second = ts.tv_sec;
        cached = format_http_date(cached_second);
    }
    return cached;
}

ServerConnection::ServerConnection(std::shared_ptr<RunnerState> runner, bool secure)
    : runner_(std::move(runner)), parser_(Parser::Kind::request, *this, runner_->limits), secure_(secure) {
    writable_.set();
}

ServerConnection::~ServerConnection() {
    timer_.cancel();
    linger_timer_.cancel();
    if (registered_) runner_->remove(this);
}

void ServerConnection::connection_made(Transport& transport) {
    transport_ = &transport;
    loop_ = &transport.get_loop();
    peer_ = transport.peername();  // once: it is a system call
    const ServerConfig& cfg = runner_->config;
    if (runner_->shutting_down || (cfg.max_connections && runner_->connections.size() >= cfg.max_connections)) {
        stop_reading_ = true;
        update_reading();
        write_error(503, "the server is at its connection limit");
        close_connection();
        return;
    }
    runner_->add(this);
    registered_ = true;
    set_deadline(loop_->clock_ns() + cfg.keepalive_timeout.count());
    task_ = create_task(run(shared_from_this()));
}

void ServerConnection::data_received(std::string_view data) {
    if (upgraded_) {
        upgraded_->on_data(data);
        return;
    }
    if (lingering_) {
        lingered_bytes_ += data.size();
        if (lingered_bytes_ > kLingerBytes) transport_->abort();
        return;
    }
    if (stop_reading_) return;
    if (upgrade_held_) {  // read before the pause took effect
        held_bytes_.append(data);
        return;
    }
    if (!parser_.in_message()) head_started_ = loop_->cached_clock_ns();
    try {
        const size_t used = parser_.feed(data);
        if (parser_.upgraded()) {
            // What follows an upgrade request is WebSocket frames if its handler accepts the
            // upgrade, else HTTP again: kept, unparsed, until the handler has answered.
            upgrade_held_ = true;
            held_bytes_.assign(data.substr(used));
            update_reading();
        }
    } catch (const BadHttpMessage& e) {
        reject(e.status(), e.what());
        return;
    }
    if (parser_.in_head() && !busy()) set_deadline(head_started_ + runner_->config.header_timeout.count());
}

void ServerConnection::reject(int status, const std::string& message) {
    stop_reading_ = true;
    update_reading();
    if (parsing_) {
        // The error is in the body of a request already queued or being answered: its reader
        // fails with the status, and the connection ends after its response.
        std::exception_ptr e = status == 413 ? std::make_exception_ptr(HTTPRequestEntityTooLarge(
                                                   runner_->app->client_max_size(), body_bytes_))
                                             : std::make_exception_ptr(HTTPBadRequest(message));
        if (parsing_->content) parsing_->content->set_exception(e);
        parsing_.reset();
        return;
    }
    auto marker = std::make_shared<RequestState>();
    marker->error_status = status;
    marker->error_message = message;
    marker->peer = peer_;
    marker->started_ns = loop_->clock_ns();
    queue_.push_back(std::move(marker));
    wake_.set();
}

bool ServerConnection::eof_received() {
    if (upgraded_) {
        upgraded_->on_eof();
        return false;
    }
    if (lingering_) return false;  // the client has read our answer and is done: close
    eof_ = true;
    try {
        parser_.feed_eof();
    } catch (const BadHttpMessage& e) {
        if (parsing_ && parsing_->content)
            parsing_->content->set_exception(std::make_exception_ptr(
                HTTPBadRequest("the client closed the connection in the middle of the request body")));
        parsing_.reset();
    }
    wake_.set();
    return true;  // the responses to what was received can still be sent
}

void ServerConnection::connection_lost(std::exception_ptr) {
    lost_ = true;  // from here on transport_ may dangle: every use checks lost_ first
    timer_.cancel();
    linger_timer_.cancel();
    auto gone = std::make_exception_ptr(std::system_error(ECONNRESET, std::generic_category(),
                                                          "the client closed the connection"));
    if (parsing_ && parsing_->content && !parsing_->content->is_eof()) parsing_->content->set_exception(gone);
    parsing_.reset();
    for (auto& r : queue_)
        if (r->content && !r->content->is_eof()) r->content->set_exception(gone);
    if (upgraded_) {
        // Let go of it here: it holds us, and we would otherwise hold each other for ever.
        auto sink = std::move(upgraded_);
        sink->on_lost();
    }
    wake_.set();
    writable_.set();
    if (registered_) {
        registered_ = false;
        runner_->remove(this);
    }
}

void ServerConnection::pause_writing() { writable_.clear(); }
void ServerConnection::resume_writing() {
    writable_.set();
    if (upgraded_) upgraded_->on_writable();
}

MessageHead* ServerConnection::begin_message() {
    if (!incoming_) {
        if (spare_) {
            incoming_ = std::move(spare_);  // app, peer and secure are this connection's already
        } else {
            incoming_ = std::make_shared<RequestState>();
            incoming_->app = runner_->app;
            incoming_->secure = secure_;
            incoming_->peer = peer_;
        }
    }
    return &incoming_->head;
}

ParserSink::Body ServerConnection::on_head(MessageHead& head) {
    const ServerConfig& cfg = runner_->config;
    if (head.version_major != 1) throw BadHttpMessage("HTTP version not supported", 505);
    // One pass over the headers for what the server itself must check.
    size_t hosts = 0;
    bool transfer_encoding = false;
    const std::string* expect = nullptr;
    for (const auto& [name, value] : head.headers) {
        switch (name.size()) {
            case 4: hosts += iequals(name, "Host") ? 1 : 0; break;
            case 6: if (iequals(name, "Expect")) expect = &value; break;
            case 17: transfer_encoding = transfer_encoding || iequals(name, "Transfer-Encoding"); break;
            default: break;
        }
    }
    // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host header gets 400.
    if (hosts > 1 || (hosts == 0 && head.version_minor >= 1))
        throw BadHttpMessage(hosts == 0 ? "missing Host header" : "more than one Host header", 400);
    // RFC 9112 6.3: a Transfer-Encoding whose final coding is not chunked leaves the body's
    // length unknown (llhttp only says so after this callback): 400 before anything runs.
    if (!head.chunked && transfer_encoding)
        throw BadHttpMessage("Transfer-Encoding without chunked as the final coding", 400);

    if (!incoming_ || &incoming_->head != &head) throw BadHttpMessage("internal error: a head not begun", 500);
    std::shared_ptr<RequestState> req = std::move(incoming_);
    held_req_ = req.get();  // meaningful only if the parser stops after it (an upgrade)
    if (runner_->config.access_log) req->started_ns = loop_->clock_ns();  // only the log reads it

    std::string_view target = req->head.target;
    if (target.starts_with("http://") || target.starts_with("https://")) {  // absolute-form
        size_t slash = target.find('/', target.find("//") + 2);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        req->head.target = std::string(target);
        target = req->head.target;
    }
    size_t q = target.find('?');
    req->query_pos = q;
    std::string_view raw_path = target.substr(0, q);
    if (raw_path == "*" && req->head.method == "OPTIONS") {
        req->path = "*";
    } else {
        if (raw_path.empty() || raw_path.front() != '/') throw BadHttpMessage("the request target is not a path", 400);
        if (raw_path.find('%') == std::string_view::npos) {
            req->path.assign(raw_path);  // match_path stays empty: the path itself is matched
        } else {
            try {
                req->path = decode_path(raw_path, false);
                req->match_path = decode_path(raw_path, true);
            } catch (const HTTPException& e) {
                throw BadHttpMessage(e.text(), 400);
            }
        }
    }

    uint64_t max_body = runner_->app->client_max_size();
    req->has_body = req->head.chunked || req->head.content_length.value_or(0) > 0;
    if (expect) {
        if (!iequals(*expect, "100-continue")) throw BadHttpMessage("unsupported Expect header", 417);
        req->expect_continue = req->has_body && req->head.version_minor >= 1;
    }
    if (req->head.content_length && *req->head.content_length > max_body) {
        // Answered before a byte of the body is read; the connection cannot be reused.
        req->error_status = 413;
        req->error_message = "the request body is larger than " + std::to_string(max_body) + " bytes";
        stop_reading_ = true;
        update_reading();
        queue_.push_back(std::move(req));
        wake_.set();
        return Body::stop;
    }
    body_bytes_ = 0;
    if (req->has_body) {
        StreamReader content;
        content.state()->flow = this;
        req->content = std::move(content);
        parsing_ = req;
    } else {
        req->complete = true;
    }
    queue_.push_back(std::move(req));
    wake_.set();
    if (queue_.size() >= cfg.max_pipelined) update_reading();
    return Body::read;
}

void ServerConnection::on_body(std::string_view chunk) {
    if (!parsing_) return;
    body_bytes_ += chunk.size();
    if (body_bytes_ > runner_->app->client_max_size())
        throw BadHttpMessage("the request body is larger than " + std::to_string(runner_->app->client_max_size()) +
                                 " bytes",
                             413);
    parsing_->content->feed_data(chunk);
}

void ServerConnection::on_message_complete() {
    if (!parsing_) return;
    parsing_->complete = true;
    parsing_->content->feed_eof();
    parsing_.reset();
}

void ServerConnection::pause_reading() noexcept {
    ++body_pauses_;
    update_reading();
}

void ServerConnection::resume_reading() noexcept {
    if (body_pauses_ > 0) --body_pauses_;
    update_reading();
}

void ServerConnection::update_reading() noexcept {
    if (!transport_ || lost_ || lingering_) return;
    bool pause = stop_reading_ || upgrade_held_ || upgraded_paused_ || body_pauses_ > 0 ||
                 queue_.size() >= runner_->config.max_pipelined;
    if (pause == reading_paused_) return;
    reading_paused_ = pause;
    if (pause) transport_->pause_reading();
    else transport_->resume_reading();
}

void ServerConnection::set_deadline(int64_t when_ns) {
    deadline_ = when_ns;
    if (lost_) return;
    if (!timer_.cancelled() && timer_when_ != 0 && timer_when_ <= when_ns) return;  // fires early, re-arms
    timer_.cancel();
    timer_when_ = when_ns;
    std::weak_ptr<ServerConnection> weak = weak_from_this();
    timer_ = loop_->call_later(std::chrono::nanoseconds(when_ns - loop_->clock_ns()), [weak] {
        if (auto self = weak.lock()) self->on_timer();
    });
}

void ServerConnection::on_timer() noexcept {
    timer_when_ = 0;
    if (lost_ || closing_) return;
    int64_t now = loop_->clock_ns();
    if (now < deadline_) {
        set_deadline(deadline_);
        return;
    }
    if (busy()) return;  // the task sets the next deadline when it is idle again
    try {
        if (parser_.in_message()) {
            stop_reading_ = true;
            update_reading();
            write_error(408, "the request head did not arrive in time");
        }
        closing_ = true;
        close_connection();
        wake_.set();
    } catch (...) {
        transport_->abort();
    }
}

void ServerConnection::write(std::string_view data) {
    out_.append(data);
    if (out_.size() >= kFlushAt) flush();
}

void ServerConnection::flush() {
    if (out_.empty()) return;
    if (!lost_) transport_->write(out_);
    out_.clear();
}

Task<void> ServerConnection::drain() {
    flush();
    // A transport that failed is closing before it tells us (connection_lost comes from the
    // loop): yield once so that it can, or a handler whose writes never block would write into a
    // dead connection without ever seeing it (asyncio's StreamWriter.drain does the same).
    if (!lost_ && transport_->is_closing()) co_await aio::sleep(std::chrono::nanoseconds(0));
    while (!lost_ && !writable_.is_set()) co_await writable_.wait();
    if (lost_) throw std::system_error(ECONNRESET, std::generic_category(), "the client closed the connection");
}

void ServerConnection::begin_shutdown() {
    closing_ = true;
    if (upgraded_) {
        upgraded_->on_shutdown();
        return;
    }
    if (!busy() && transport_ && !lost_) transport_->close();
    wake_.set();
}

void ServerConnection::take_over(std::shared_ptr<UpgradeSink> sink) {
    upgraded_ = std::move(sink);
    upgrade_held_ = false;
    held_req_ = nullptr;
    timer_.cancel();  // the keep-alive and header deadlines are HTTP's
    timer_when_ = 0;
    std::string held = std::move(held_bytes_);
    held_bytes_.clear();
    update_reading();
    if (!held.empty() && !lost_) upgraded_->on_data(held);
}

void ServerConnection::close_transport(bool abort_now) {
    if (lost_ || !transport_) return;
    if (abort_now) {
        transport_->abort();
        return;
    }
    flush();
    if (!transport_->is_closing()) transport_->close();
}

void ServerConnection::abort() {
    if (task_ && !task_.done()) task_.cancel();
    if (transport_ && !lost_) transport_->abort();
}

void ServerConnection::write_error(int status, std::string_view message) {
    std::string body = std::to_string(status) + " " + std::string(status_reason(status)) + ": " + std::string(message) + "\n";
    out_ += "HTTP/1.1 ";
    append_number(out_, static_cast<uint64_t>(status));
    out_ += ' ';
    out_ += status_reason(status);
    out_ += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
    append_number(out_, body.size());
    out_ += "\r\nDate: ";
    out_ += http_date_now();
    out_ += "\r\nConnection: close\r\n\r\n";
    out_ += body;
    flush();
}

std::string_view ServerConnection::date_and_server() {
    // The Date and Server lines change once a second: built then, appended whole. Until the
    // wall clock's next second (measured on the loop's cached clock) not even the clock is read.
    RunnerState& r = *runner_;
    const int64_t mono = loop_->cached_clock_ns();
    if (mono < r.date_line_until) return r.date_line;
    timespec real{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    if (r.date_line_second != real.tv_sec) {
        r.date_line_second = real.tv_sec;
        r.date_line = "Date: " + format_http_date(real.tv_sec) + "\r\n";
        if (!r.config.server_header.empty()) r.date_line += "Server: " + r.config.server_header + "\r\n";
    }
    // The cached clock may lag the true time: the next second is taken to start no later than
    // it does, so the Date is never stale by a second.
    r.date_line_until = mono + (1000000000 - real.tv_nsec);
    return r.date_line;
}

void ServerConnection::serialize(const Response& resp, RequestState& req, bool keep_alive,
                                 std::optional<uint64_t> file_length) {
    using namespace std::string_view_literals;
    const int status = resp.status();
    const bool head = req.head.method == "HEAD"sv;
    const bool with_body = body_allowed(status);
    const std::string_view date_server = date_and_server();
    char length_buf[24];
    std::string_view length;
    if (with_body) {
        auto r = std::to_chars(length_buf, length_buf + sizeof length_buf, file_length ? *file_length : resp.body().size());
        length = std::string_view(length_buf, static_cast<size_t>(r.ptr - length_buf));
    }
    char status_buf[8];
    const auto status_end = std::to_chars(status_buf, status_buf + sizeof status_buf, static_cast<unsigned>(status)).ptr;
    const std::string_view status_digits(status_buf, static_cast<size_t>(status_end - status_buf));
    // The head is a few dozen small pieces: sized in a first pass, copied in a second, so the
    // buffer grows once instead of once per piece (appending piece by piece cost more than the
    // rest of the answer).
    // The everyday answer (200, no headers of the handler's own, a type the constructor chose):
    // its first lines come ready-made.
    const std::string* ok_prefix = nullptr;
    if (status == 200 && resp.headers().empty() && ResponseAccess::given_reason(resp).empty() &&
        !resp.implicit_content_type().empty())
        ok_prefix = &runner_->ok_prefix(resp.implicit_content_type());
    auto pieces = [&](auto&& emit) {
        if (ok_prefix) {
            emit(std::string_view(*ok_prefix));
            emit(length);
            emit("\r\n"sv);
            emit(date_server);
            if (!keep_alive) emit("Connection: close\r\n\r\n"sv);
            else if (req.head.version_minor == 0) emit("Connection: keep-alive\r\n\r\n"sv);
            else emit("\r\n"sv);
            if (!head) emit(std::string_view(resp.body()));
            return;
        }
        if (status == 200 && resp.reason() == "OK"sv) {
            emit("HTTP/1.1 200 OK\r\n"sv);
        } else {
            emit("HTTP/1.1 "sv);
            emit(status_digits);
            emit(" "sv);
            emit(resp.reason());
            emit("\r\n"sv);
        }
        bool has_server = false, has_date = false, has_type = false;
        for (const auto& [name, value] : resp.headers()) {
            // Framing is the server's to decide: what the handler set would contradict the body.
            if (iequals(name, "Content-Length"sv) || iequals(name, "Transfer-Encoding"sv) || iequals(name, "Connection"sv))
                continue;
            has_server = has_server || iequals(name, "Server"sv);
            has_date = has_date || iequals(name, "Date"sv);
            has_type = has_type || iequals(name, "Content-Type"sv);
            emit(name);
            emit(": "sv);
            emit(value);
            emit("\r\n"sv);
        }
        if (!has_type && !resp.implicit_content_type().empty()) {
            emit("Content-Type: "sv);
            emit(resp.implicit_content_type());
            emit("\r\n"sv);
        }
        if (with_body) {
            emit("Content-Length: "sv);
            emit(length);
            emit("\r\n"sv);
        }
        if (!has_date && !has_server) {
            emit(date_server);
        } else {
            if (!has_date) {
                emit("Date: "sv);
                emit(http_date_now());
                emit("\r\n"sv);
            }
            if (!has_server && !runner_->config.server_header.empty()) {
                emit("Server: "sv);
                emit(std::string_view(runner_->config.server_header));
                emit("\r\n"sv);
            }
        }
        if (!keep_alive) emit("Connection: close\r\n\r\n"sv);
        else if (req.head.version_minor == 0) emit("Connection: keep-alive\r\n\r\n"sv);
        else emit("\r\n"sv);
        if (with_body && !head && !file_length) emit(std::string_view(resp.body()));
    };
    size_t total = 0;
    pieces([&total](std::string_view piece) { total += piece.size(); });
    const size_t at = out_.size();
    out_.resize(at + total);
    char* p = out_.data() + at;
    pieces([&p](std::string_view piece) {
        std::memcpy(p, piece.data(), piece.size());
        p += piece.size();
    });
}

void ServerConnection::finish_stream(RequestState& req) {
    StreamProgress& s = req.stream;
    if (s.eof || s.head_only) return;
    if (s.chunked) out_ += "0\r\n\r\n";
    s.eof = true;
}

void ServerConnection::recycle(std::shared_ptr<RequestState>&& req) noexcept {
    // Nobody else holds it (no handler kept a copy): its strings and vectors serve the next
    // request, which then allocates nothing for its head.
    if (req.use_count() != 1 || req->error_status) {
        req.reset();
        return;
    }
    RequestState& r = *req;
    r.path.clear();  // the head is cleared by the parser when it fills it again
    r.match_path.clear();
    r.query_pos = std::string::npos;
    r.match_info.clear();
    r.content.reset();
    r.body_cache.reset();
    r.conn = nullptr;
    r.has_body = r.expect_continue = r.complete = false;
    r.route_status = 0;
    r.allowed.clear();
    r.stream = StreamProgress{};
    spare_ = std::move(req);
}

void ServerConnection::release(RequestState& req) noexcept {
    req.conn = nullptr;
    if (req.content) {
        auto& st = *req.content->state();
        if (st.paused && body_pauses_ > 0) --body_pauses_;
        st.paused = false;
        st.flow = nullptr;
    }
}

void ServerConnection::write_access_log(const RequestState& req, int status, uint64_t bytes) {
    const auto& log = runner_->config.access_log;
    // The timestamp changes once a second: formatted then, like the Date header.
    thread_local time_t when_second = 0;
    thread_local char when[40];
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != when_second) {
        when_second = ts.tv_sec;
        tm t{};
        ::gmtime_r(&when_second, &t);
        std::strftime(when, sizeof when, "[%d/%b/%Y:%H:%M:%S +0000]", &t);
    }
    std::string line = req.peer.host();
    line += ' ';
    line += when;
    line += " \"";
    line += req.head.method;
    line += ' ';
    line += req.head.target;
    line += " HTTP/1.";
    line += req.head.version_minor == 0 ? '0' : '1';
    line += "\" ";
    append_number(line, static_cast<uint64_t>(status));
    line += ' ';
    append_number(line, bytes);
    line += " \"";
    line += req.head.headers.get("Referer").value_or("-");
    line += "\" \"";
    line += req.head.headers.get("User-Agent").value_or("-");
    line += '"';
    try {
        log(line);
    } catch (...) {
        loop_->call_exception_handler({"the access log failed", std::current_exception(), {}});
    }
}

void ServerConnection::respond(RequestState& req, Response& resp, std::exception_ptr failure) {
    if (failure) {
        loop_->call_exception_handler({"Error handling request " + req.head.method + " " + req.head.target,
                                       failure, {}});
        if (req.stream.prepared) {  // too late for a 500: the client sees the body end early
            closing_ = true;
            return;
        }
        resp = Response("500 Internal Server Error\n\nServer got itself in trouble", 500);
    }
    const bool keep_alive = keep_alive_for(req, resp);
    if (req.stream.prepared) {
        finish_stream(req);
        const StreamProgress& s = req.stream;
        if (!s.chunked && !s.head_only && s.content_length && s.written != *s.content_length) closing_ = true;
        if (!s.chunked && !s.content_length && !s.head_only) closing_ = true;  // close-delimited
        if (!keep_alive) closing_ = true;
        log_access(req, s.status, s.written);
        return;
    }
    serialize(resp, req, keep_alive);
    if (!keep_alive) closing_ = true;
    log_access(req, resp.status(), resp.body().size());
}

bool ServerConnection::keep_alive_for(const RequestState& req, const Response& resp) const noexcept {
    return req.head.keep_alive && !closing_ && !resp.will_close() && req.complete &&
           !(req.content && req.content->exception());
}

Task<void> ServerConnection::send_file(RequestState& req, Response& resp) {
    FilePlan plan;
    std::optional<HTTPException> refused;
    std::exception_ptr failure;
    try {
        plan = plan_file(resp, req);
    } catch (const HTTPException& e) {
        refused.emplace(e);
    } catch (const std::exception&) {
        failure = std::current_exception();
    }
    if (refused) plan.head = exception_response(*refused);
    if (!plan.open || failure) {  // 304, 412, 416, 404, 403: an ordinary answer
        respond(req, plan.head, failure);
        co_return;
    }
    const bool keep_alive = keep_alive_for(req, plan.head);
    serialize(plan.head, req, keep_alive, plan.length);
    if (!keep_alive) closing_ = true;
    const bool head_only = req.head.method == "HEAD";
    log_access(req, plan.head.status(), head_only ? 0 : plan.length);
    if (head_only || plan.length == 0) co_return;
    flush();
    if (lost_) co_return;
    bool whole = false;
    std::exception_ptr cancelled;
    try {
        const size_t sent = co_await aio::sendfile(*transport_, plan.open->fd, plan.offset, plan.length);
        whole = sent == plan.length;  // shorter: the file shrank under us
    } catch (const CancelledError&) {
        cancelled = std::current_exception();
    } catch (const std::system_error&) {  // the client left, or the file could not be read
    }
    // The head promised plan.length bytes: a connection that cannot deliver them must end, or
    // the client would take the next response for the rest of this body.
    if (!whole && !lost_) {
        closing_ = true;
        transport_->abort();
    }
    if (cancelled) std::rethrow_exception(cancelled);
}

Task<void> ServerConnection::run(std::shared_ptr<ServerConnection> self) {
    ServerConnection& c = *self;
    // The frame holds `self` and task_ holds the frame: let go of the frame on every way out
    // (cancellation included), or the two keep each other alive for ever.
    struct ForgetTask {
        ServerConnection& c;
        ~ForgetTask() { c.task_ = TaskRef(); }
    } forget{c};
    try {
        for (;;) {
            if (c.queue_.empty()) {
                c.flush();
                if (c.lost_) break;
                if (c.closing_ || c.eof_ || c.stop_reading_) {
                    c.close_connection();
                    break;
                }
                if (!c.parser_.in_head())
                    c.set_deadline(c.loop_->cached_clock_ns() + c.runner_->config.keepalive_timeout.count());
                else
                    c.set_deadline(c.head_started_ + c.runner_->config.header_timeout.count());
                c.wake_.clear();
                co_await c.wake_.wait();
                continue;
            }
            c.current_ = std::move(c.queue_.front());
            c.queue_.pop_front();
            c.update_reading();
            RequestState& req = *c.current_;
            if (req.error_status) {
                c.flush();
                c.write_error(req.error_status, req.error_message);
                c.log_access(req, req.error_status, 0);
                c.current_.reset();
                c.closing_ = true;
                c.close_connection();
                break;
            }
            if (req.expect_continue && !req.complete) {
                c.out_ += "HTTP/1.1 100 Continue\r\n\r\n";
                c.flush();
            }
            req.conn = &c;
            bool handler_failed = false;
            {
                // The handler runs inline in this task (no Application::handle frame in between).
                RouterImpl& router = c.runner_->app->router().impl();
                std::optional<Response> resp;
                std::exception_ptr failure;
                try {
                    const Handler* h = router.resolve(req);
                    resp.emplace(co_await (h ? *h : router.not_found)(Request(c.current_)));
                } catch (const HTTPException& e) {
                    resp.emplace(exception_response(e));
                } catch (const std::exception&) {
                    failure = std::current_exception();
                }
                if (!resp) resp.emplace();
                handler_failed = failure != nullptr;
                if (!failure && ResponseAccess::file(*resp)) co_await c.send_file(req, *resp);
                else c.respond(req, *resp, failure);
            }
            if (c.upgraded_) {
                c.upgraded_->on_handler_done(handler_failed);
                c.closing_ = true;
            } else if (c.upgrade_held_ && c.held_req_ == &req) {
                // Answered as a plain request: what followed it is HTTP again.
                c.upgrade_held_ = false;
                c.held_req_ = nullptr;
                c.parser_.resume_after_upgrade();
                std::string held = std::move(c.held_bytes_);
                c.held_bytes_.clear();
                c.update_reading();
                if (!held.empty()) c.data_received(held);
            }
            c.release(req);
            c.recycle(std::move(c.current_));
            if (c.closing_) {
                c.flush();
                c.close_connection();
                break;
            }
            if (c.queue_.empty() || c.out_.size() >= kFlushAt) c.flush();
            if (!c.writable_.is_set()) co_await c.drain();
        }
    } catch (const std::system_error&) {
        // The client went away while we waited to write: nothing left to answer.
    }
    if (c.current_) c.release(*c.current_);
    c.current_.reset();
    c.close_connection();
}

void ServerConnection::close_connection() {
    if (lost_ || lingering_ || transport_->is_closing()) return;
    flush();
    if (!stop_reading_ || !transport_->can_write_eof()) {
        transport_->close();
        return;
    }
    // The client may still be sending what we refused to read. Closing with unread input makes
    // the kernel send a reset, which can destroy our error response before the client reads it:
    // so end our side, read and drop what comes for a while, then close (nginx's lingering close).
    lingering_ = true;
    transport_->write_eof();
    reading_paused_ = false;
    transport_->resume_reading();
    std::weak_ptr<ServerConnection> weak = weak_from_this();
    timer_.cancel();
    timer_when_ = 0;
    linger_timer_ = loop_->call_later(kLingerTime, [weak] {
        if (auto self = weak.lock(); self && !self->lost_) self->transport_->close();
    });
}

}  // namespace aio::http::detail
