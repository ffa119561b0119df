// ClientSession: building requests, following redirects, the total timeout.
#include <algorithm>
#include <stdexcept>

#include "aio/core/timeout.hpp"
#include "client_internal.hpp"

namespace aio::http {

namespace detail {

namespace {
void check_field(std::string_view s) {
    // A CR or LF in a header would let the caller's data inject headers (or a second request).
    if (s.find_first_of("\r\n") != std::string_view::npos)
        throw std::invalid_argument("a header name or value contains a line break");
}
}  // namespace

void append_header(std::string& out, std::string_view name, std::string_view value) {
    check_field(name);
    check_field(value);
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

namespace {

bool is_redirect(int status) noexcept {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool idempotent(std::string_view method) noexcept {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
           method == "DELETE";
}

/// What goes on the wire for one request: the head and the body, in one buffer (one write).
struct Outgoing {
    std::string method;
    URL url;
    Headers headers;  // the session's and the request's, merged
    std::optional<BasicAuth> auth;
    std::string cookie;               // from the session's jar ("" for none)
    std::optional<std::string> body;  // nullopt: none
    std::string content_type;         // for the body, unless the headers set one
    bool chunked = false;
    bool force_close = false;
    const ProxyRoute* proxy = nullptr;  // the request's, if any (do_request's frame keeps it)
    bool upgrade = false;               // a WebSocket handshake: a 101 ends HTTP on the connection

    [[nodiscard]] std::string serialize() const {
        // An http request through a proxy is the proxy's to forward: it names the whole URL
        // (absolute form, RFC 9112 3.2.2) and carries the proxy's credentials. An https one goes
        // through a tunnel the proxy cannot read, so nothing of the proxy's goes in it.
        const ProxyRoute* via = url.scheme() == "http" ? proxy : nullptr;
        std::string out;
        out.reserve(256 + (body ? body->size() : 0));
        out.append(method);
        out += ' ';
        if (via) {
            out.append(url.scheme());
            out.append("://");
            out.append(url.host_port());
        }
        out.append(url.path_qs());
        out.append(" HTTP/1.1\r\n");
        if (auto h = headers.get("Host"))
            append_header(out, "Host", *h);
        else
            append_header(out, "Host", url.host_port());
        if (!headers.contains("User-Agent")) append_header(out, "User-Agent", "aiocpp/0.1");
        if (!headers.contains("Accept")) append_header(out, "Accept", "*/*");
        if (!headers.contains("Accept-Encoding")) append_header(out, "Accept-Encoding", "gzip, deflate");
        if (auth && !headers.contains("Authorization")) append_header(out, "Authorization", auth->encode());
        if (force_close && !headers.contains("Connection")) append_header(out, "Connection", "close");
        if (!cookie.empty() && !headers.contains("Cookie")) append_header(out, "Cookie", cookie);
        for (const auto& [name, value] : headers) {
            if (iequals(name, "Host") || iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding"))
                continue;
            if (via && !via->authorization.empty() && iequals(name, "Proxy-Authorization")) continue;
            append_header(out, name, value);
        }
        if (via) {
            if (!via->authorization.empty()) append_header(out, "Proxy-Authorization", via->authorization);
            for (const auto& [name, value] : via->headers) {
                if (iequals(name, "Proxy-Authorization") && !via->authorization.empty()) continue;
                if (!headers.contains(name)) append_header(out, name, value);
            }
        }
        const bool wants_length = method == "POST" || method == "PUT" || method == "PATCH";
        if (body) {
            if (!content_type.empty() && !headers.contains("Content-Type"))
                append_header(out, "Content-Type", content_type);
            if (chunked)
                append_header(out, "Transfer-Encoding", "chunked");
            else
                append_header(out, "Content-Length", std::to_string(body->size()));
        } else if (wants_length) {
            append_header(out, "Content-Length", "0");
        }
        out.append("\r\n");
        if (body) {
            if (chunked) {
                if (!body->empty()) {
                    char size[24];
                    int n = std::snprintf(size, sizeof size, "%zx\r\n", body->size());
                    out.append(size, static_cast<size_t>(n));
                    out.append(*body);
                    out.append("\r\n");
                }
                out.append("0\r\n\r\n");
            } else {
                out.append(*body);
            }
        }
        return out;
    }
};

/// The requester's hold on a connection until the response takes it over: if the request is
/// abandoned (cancelled, timed out), the connection is in an unknown state and is closed.
struct ExchangeGuard {
    Connection* conn;
    ~ExchangeGuard() {
        if (conn) conn->abandon_exchange();
    }
};

/// One request on one connection (plus one retry on a fresh connection when a pooled one turns
/// out to have been closed by the server before it answered).
Task<ClientResponse> send_once(std::shared_ptr<SessionState> s, const Outgoing& req, std::shared_ptr<SSLContext> ssl,
                               ClientTimeout timeout) {
    const std::string bytes = req.serialize();
    for (int attempt = 0;; ++attempt) {
        std::shared_ptr<Connection> conn = co_await s->connector.connect(req.url, ssl, timeout, attempt > 0, req.proxy);
        Exchange ex;
        ExchangeGuard guard{conn.get()};
        const uint64_t seq =
            conn->start(ex, bytes, req.method == "HEAD", timeout.sock_read, s->options.auto_decompress, req.upgrade);
        co_await ex.ready.wait();
        guard.conn = nullptr;
        if (ex.error) {
            bool disconnected = false;
            try {
                std::rethrow_exception(ex.error);
            } catch (const ServerDisconnectedError&) {
                disconnected = true;
            } catch (const BadHttpMessage& e) {
                throw ClientResponseError(400, e.what(), req.url.human_repr());
            }
            // A keep-alive connection the server closed while it sat in the pool: nothing was
            // processed, so the request may go again, once, on a new connection.
            if (disconnected && attempt == 0 && conn->reused() && !ex.any_byte && idempotent(req.method)) continue;
            std::rethrow_exception(ex.error);
        }
        co_return ResponseAccess::make(ex.head, std::move(ex.body), conn, seq, req.url, req.method);
    }
}

URL parse_url(const std::string& text) {
    try {
        return URL(text);
    } catch (const std::invalid_argument& e) {
        throw InvalidURL(text, e.what());
    }
}

/// The proxy a request goes through, if any: the request's, else the session's. Checked before
/// anything connects, so that a proxy the client cannot use never turns into a direct request.
std::optional<ProxyRoute> proxy_route(const RequestOptions& opts, const ClientSessionOptions& so) {
    const ProxyURL& given = opts.proxy.empty() ? so.proxy : opts.proxy;
    if (given.empty()) return std::nullopt;
    URL url = given.url();
    // aiohttp's rule: an https:// proxy would need TLS inside TLS, a socks one another protocol.
    if (url.scheme() != "http")
        throw std::invalid_argument("unsupported proxy URL '" + url.human_repr() +
                                    "': only http:// proxies are supported");
    if (url.host().empty()) throw std::invalid_argument("proxy URL '" + url.human_repr() + "' has no host");
    ProxyRoute r;
    r.url = url.origin();
    std::optional<BasicAuth> auth = opts.proxy_auth ? opts.proxy_auth : so.proxy_auth;
    if (!auth && (!url.user().empty() || !url.password().empty())) auth = BasicAuth(url.user(), url.password());
    if (auth) {
        r.authorization = auth->encode();
        check_field(r.authorization);
    }
    for (const auto& [name, value] : opts.proxy_headers) {
        check_field(name);
        check_field(value);
    }
    r.headers = opts.proxy_headers;
    return r;
}

Task<ClientResponse> do_request(std::shared_ptr<SessionState> s, std::string method, URL url, RequestOptions opts,
                                ClientTimeout timeout, std::optional<double> deadline, bool upgrade) {
    const ClientSessionOptions& so = s->options;
    std::transform(method.begin(), method.end(), method.begin(),
                   [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; });
    if (!url.is_absolute()) {
        if (!so.base_url) throw InvalidURL(url.str(), "a relative URL needs the session's base_url");
        url = so.base_url->join(url);
    }
    if (!opts.params.empty()) url = url.extend_query(opts.params);

    Outgoing req;
    req.method = std::move(method);
    req.force_close = so.force_close;
    req.upgrade = upgrade;
    req.chunked = opts.chunked;
    int bodies = (opts.data ? 1 : 0) + (opts.form ? 1 : 0) + (opts.multipart ? 1 : 0) + (opts.json ? 1 : 0);
    if (bodies > 1) throw std::invalid_argument("give at most one of data, form, multipart and json");
    if (opts.data) {
        req.body = std::move(*opts.data);
        req.content_type = "application/octet-stream";
    } else if (opts.form) {
        req.body = urlencode(*opts.form);
        req.content_type = "application/x-www-form-urlencoded";
    } else if (opts.multipart) {
        auto [body, type] = opts.multipart->encode(make_boundary());
        req.body = std::move(body);
        req.content_type = std::move(type);
    } else if (opts.json) {
        req.body = opts.json->dump();
        req.content_type = "application/json";
    }
    req.headers = so.headers;
    req.headers.extend(opts.headers, true);

    const int max_redirects = opts.max_redirects.value_or(so.max_redirects);
    const bool raise = opts.raise_for_status.value_or(so.raise_for_status);
    std::shared_ptr<SSLContext> custom_ssl = opts.ssl ? opts.ssl : so.ssl;
    const std::optional<ProxyRoute> proxy = proxy_route(opts, so);
    req.proxy = proxy ? &*proxy : nullptr;
    std::vector<ClientResponse> history;
    for (;;) {
        if (url.scheme() != "http" && url.scheme() != "https") throw InvalidURL(url.str(), "not an http(s) URL");
        if (url.host().empty()) throw InvalidURL(url.str(), "no host");
        if (!opts.auth && !url.user().empty())
            req.auth = BasicAuth(url.user(), url.password());
        else if (opts.auth)
            req.auth = opts.auth;
        else if (history.empty())
            req.auth = so.auth;
        req.url = url.user().empty() && url.password().empty() ? url : url.with_user_password("", "");
        if (!req.url.fragment().empty()) req.url = req.url.with_fragment("");

        std::shared_ptr<SSLContext> ssl;
        if (req.url.scheme() == "https") {
            if (custom_ssl) {
                ssl = custom_ssl;
            } else {
                if (!s->default_ssl) s->default_ssl = SSLContext::create_default_context();
                ssl = s->default_ssl;
            }
        }
        req.cookie = s->options.cookie_jar->cookie_header(req.url);
        ClientResponse resp = co_await send_once(s, req, ssl, timeout);
        ResponseAccess::set_deadline(resp, deadline);
        // Each response's cookies count, redirects' included (a login that redirects sets one).
        s->options.cookie_jar->update_cookies(resp.headers(), req.url);
        std::optional<std::string_view> location;
        if (opts.allow_redirects && is_redirect(resp.status())) location = resp.headers().get("Location");
        if (!location) {
            ResponseAccess::set_history(resp, std::move(history));
            if (raise) resp.raise_for_status();
            co_return resp;
        }
        if (static_cast<int>(history.size()) >= max_redirects)
            throw TooManyRedirects(resp.status(), resp.reason(), resp.url().human_repr(), resp.headers());
        URL next;
        try {
            next = req.url.join(URL(*location));
        } catch (const std::invalid_argument& e) {
            throw InvalidURL(std::string(*location), e.what());
        }
        const int status = resp.status();
        if ((status == 301 || status == 302 || status == 303) && req.method != "HEAD") {
            // What browsers do, and RFC 9110 allows: the redirected request is a GET without a body.
            req.method = "GET";
            req.body.reset();
            req.chunked = false;
            req.headers.erase("Content-Type");
        }
        bool same_origin = false;
        if (!next.host().empty() && (next.scheme() == "http" || next.scheme() == "https"))
            same_origin = next.origin() == req.url.origin();
        if (!same_origin) {
            // Credentials never follow a redirect to another origin.
            opts.auth.reset();
            req.auth.reset();
            req.headers.erase("Authorization");
        }
        resp.release();
        history.push_back(std::move(resp));
        url = std::move(next);
    }
}

Task<ClientResponse> run_request(std::shared_ptr<SessionState> s, std::string method, std::optional<std::string> text,
                                 URL url, RequestOptions opts, bool upgrade = false) {
    if (!s || s->closed) throw RuntimeError("Session is closed");
    if (text) url = parse_url(*text);
    ClientTimeout timeout = opts.timeout ? *opts.timeout : s->options.timeout;
    if (!timeout.total)
        co_return co_await do_request(s, std::move(method), std::move(url), std::move(opts), timeout, {}, upgrade);

    const double deadline = get_running_loop().time() + std::chrono::duration<double>(*timeout.total).count();
    const std::string shown = url.human_repr();
    Timeout scope = timeout_at(deadline);
    auto work = do_request(s, std::move(method), std::move(url), std::move(opts), timeout, deadline, upgrade);
    bool timed_out = false;
    try {
        co_return co_await scope.run(std::move(work));
    } catch (const ServerTimeoutError&) {
        throw;
    } catch (const TimeoutError&) {
        timed_out = true;
    }
    if (timed_out) throw ServerTimeoutError("Timeout on request to " + shown);
    throw RuntimeError("unreachable");
}

}  // namespace

Task<ClientResponse> upgrade_request(std::shared_ptr<SessionState> s, URL url, RequestOptions opts) {
    return run_request(std::move(s), "GET", std::nullopt, std::move(url), std::move(opts), true);
}

}  // namespace detail

URL ProxyURL::url() const {
    if (has_url_) return url_;
    return detail::parse_url(text_);
}

CookieJar& ClientSession::cookie_jar() const noexcept { return *s_->options.cookie_jar; }

ClientSession::ClientSession(ClientSessionOptions options)
    : s_(std::make_shared<detail::SessionState>(std::move(options))) {}
ClientSession::ClientSession(ClientSession&&) noexcept = default;
ClientSession& ClientSession::operator=(ClientSession&& o) noexcept {
    if (this != &o) {
        if (s_) {
            s_->closed = true;
            s_->connector.close();
        }
        s_ = std::move(o.s_);
    }
    return *this;
}

ClientSession::~ClientSession() {
    if (s_) {
        s_->closed = true;
        s_->connector.close();
    }
}

Task<ClientResponse> ClientSession::request(std::string method, std::string url, RequestOptions opts) {
    return detail::run_request(s_, std::move(method), std::optional<std::string>(std::move(url)), URL(),
                               std::move(opts));
}
Task<ClientResponse> ClientSession::request(std::string method, URL url, RequestOptions opts) {
    return detail::run_request(s_, std::move(method), std::nullopt, std::move(url), std::move(opts));
}
Task<ClientResponse> ClientSession::get(std::string url, RequestOptions opts) {
    return request("GET", std::move(url), std::move(opts));
}
Task<ClientResponse> ClientSession::post(std::string url, RequestOptions opts) {
    return request("POST", std::move(url), std::move(opts));
}
Task<ClientResponse> ClientSession::put(std::string url, RequestOptions opts) {
    return request("PUT", std::move(url), std::move(opts));
}
Task<ClientResponse> ClientSession::patch(std::string url, RequestOptions opts) {
    return request("PATCH", std::move(url), std::move(opts));
}
Task<ClientResponse> ClientSession::delete_(std::string url, RequestOptions opts) {
    return request("DELETE", std::move(url), std::move(opts));
}
Task<ClientResponse> ClientSession::head(std::string url, RequestOptions opts) {
    return request("HEAD", std::move(url), std::move(opts));
}
Task<ClientResponse> ClientSession::options(std::string url, RequestOptions opts) {
    return request("OPTIONS", std::move(url), std::move(opts));
}

Task<void> ClientSession::close() {
    if (s_) {
        s_->closed = true;
        s_->connector.close();
    }
    co_return;
}

bool ClientSession::closed() const noexcept { return !s_ || s_->closed; }

ConnectorStats ClientSession::connector_stats() const noexcept { return s_ ? s_->connector.stats() : ConnectorStats(); }

}  // namespace aio::http
