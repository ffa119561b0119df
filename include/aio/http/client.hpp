// aio::http::ClientSession — aiohttp.ClientSession: HTTP/1.1 requests over a pool of keep-alive
// connections (aiohttp's TCPConnector), with redirects, timeouts, compression, forms and TLS.
//
//     aio::http::ClientSession session;
//     aio::http::ClientResponse r = co_await session.get("http://example.org/");
//     std::string body = co_await r.text();
//
// The session's destructor closes every pooled connection, so aiohttp's "Unclosed client session"
// cannot happen; `co_await session.close()` does the same explicitly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aio/core/task.hpp"
#include "aio/http/client_response.hpp"
#include "aio/http/client_ws.hpp"
#include "aio/http/cookie_jar.hpp"
#include "aio/http/errors.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/url.hpp"
#include "aio/net/tls.hpp"

namespace aio::http {

/// aiohttp.BasicAuth: HTTP Basic credentials, sent as "Authorization: Basic base64(login:password)".
struct BasicAuth {
    /// Not an aggregate: g++ 12 double-destroys aggregate temporaries in co_await expressions
    /// (docs/design.md, "Compiler notes").
    BasicAuth() = default;
    BasicAuth(std::string login_, std::string password_ = {})
        : login(std::move(login_)), password(std::move(password_)) {}
    std::string login;
    std::string password;
    /// auth.encode(): the Authorization header's value.
    [[nodiscard]] std::string encode() const;
};

/// aiohttp.ClientTimeout. Each field is optional: nullopt means no limit of that kind.
/// Trivially destructible, so it may stay an aggregate: `ClientTimeout{.total = 5s}` (the
/// `= std::nullopt` initializers keep -Wmissing-field-initializers quiet on such designated lists).
struct ClientTimeout {
    /// The whole request: connecting, redirects, and reading the body through the response's
    /// read()/text()/json(). Past it: ServerTimeoutError (an aio::TimeoutError).
    std::optional<std::chrono::nanoseconds> total = std::nullopt;
    /// Getting a connection once a pool slot is granted: DNS, TCP and TLS (every address tried).
    /// Past it: ConnectionTimeoutError.
    std::optional<std::chrono::nanoseconds> connect = std::nullopt;
    /// One connection attempt (TCP connect and TLS handshake to one address): ConnectionTimeoutError.
    std::optional<std::chrono::nanoseconds> sock_connect = std::nullopt;
    /// Each wait for data from the socket (the response head, then every piece of the body):
    /// SocketTimeoutError. Not counted while the body is paused because nobody reads it.
    std::optional<std::chrono::nanoseconds> sock_read = std::nullopt;
    /// aiocpp: waiting for a free slot under limit / limit_per_host: ConnectionTimeoutError.
    /// A request queued there is charged neither connect nor sock_read time.
    std::optional<std::chrono::nanoseconds> pool = std::nullopt;

    /// aiohttp's DEFAULT_TIMEOUT: total 5 minutes, sock_connect 30 s.
    static ClientTimeout default_timeout() {
        ClientTimeout t;
        t.total = std::chrono::minutes(5);
        t.sock_connect = std::chrono::seconds(30);
        return t;
    }
};

/// aiohttp.FormData with multipart fields: a multipart/form-data body (file uploads).
class FormData {
public:
    /// One part of the form (aiohttp: the arguments of add_field).
    struct Field {
        std::string name;
        std::string value;         // the bytes
        std::string filename;      // "" for a plain field
        std::string content_type;  // "" for none (a file gets application/octet-stream)
    };
    FormData() = default;
    /// form.add_field(name, value, filename=, content_type=).
    FormData& add_field(std::string name, std::string value, std::string filename = {}, std::string content_type = {});
    [[nodiscard]] const std::vector<Field>& fields() const noexcept { return fields_; }
    /// The body and its Content-Type ("multipart/form-data; boundary=...") with this boundary.
    [[nodiscard]] std::pair<std::string, std::string> encode(const std::string& boundary) const;

private:
    std::vector<Field> fields_;
};

/// A proxy= argument: an HTTP proxy's URL as text ("http://proxy:3128") or as a URL; empty means
/// no proxy. Text is parsed when a request uses it, so a malformed one fails that request
/// (InvalidURL) the way a malformed request URL does. Implicit on purpose: `opts.proxy = "..."`.
class ProxyURL {
public:
    ProxyURL() = default;
    ProxyURL(std::string text) : text_(std::move(text)) {}       // NOLINT(google-explicit-constructor)
    ProxyURL(const char* text) : text_(text ? text : "") {}      // NOLINT(google-explicit-constructor)
    ProxyURL(URL url) : url_(std::move(url)), has_url_(true) {}  // NOLINT(google-explicit-constructor)
    [[nodiscard]] bool empty() const noexcept { return has_url_ ? url_ == URL() : text_.empty(); }
    /// The URL, parsed from the text if it was given as text. Throws InvalidURL.
    [[nodiscard]] URL url() const;

private:
    std::string text_;
    URL url_;
    bool has_url_ = false;
};

/// The keyword arguments of session.request() / get() / post()... (aiohttp's). Not an aggregate
/// (g++ 12, docs/design.md): set fields on a named variable.
struct RequestOptions {
    RequestOptions() = default;
    /// params=: query pairs appended to the URL's query.
    std::vector<std::pair<std::string, std::string>> params;
    /// headers=: on top of the session's default headers (same names replaced).
    Headers headers;
    /// data= as bytes: the body as is (Content-Type application/octet-stream unless set).
    std::optional<std::string> data;
    /// data= as a dict: an application/x-www-form-urlencoded body.
    std::optional<std::vector<std::pair<std::string, std::string>>> form;
    /// data=FormData(...): a multipart/form-data body.
    std::optional<FormData> multipart;
    /// json=: the body serialized as JSON (Content-Type application/json).
    std::optional<nlohmann::json> json;
    /// allow_redirects= (true for every method, HEAD included, as aiohttp).
    bool allow_redirects = true;
    /// max_redirects=: overrides the session's.
    std::optional<int> max_redirects;
    /// timeout=: replaces the session's ClientTimeout for this request.
    std::optional<ClientTimeout> timeout;
    /// auth=: overrides the session's and the URL's credentials.
    std::optional<BasicAuth> auth;
    /// raise_for_status=: overrides the session's.
    std::optional<bool> raise_for_status;
    /// ssl=: a TLS context for this request (connections made with it are pooled apart).
    std::shared_ptr<SSLContext> ssl;
    /// chunked=: send the body with Transfer-Encoding: chunked instead of Content-Length.
    bool chunked = false;
    /// proxy=: send the request through this HTTP proxy (only http:// proxies, as aiohttp; any
    /// other scheme throws std::invalid_argument before connecting). An http URL is requested
    /// from the proxy in absolute form; an https one through a CONNECT tunnel, TLS still being
    /// checked against the server. Empty: the session's proxy, if any. Credentials in the URL
    /// ("http://user:pass@proxy:3128") are the default proxy_auth.
    ProxyURL proxy;
    /// proxy_auth=: Basic credentials for the proxy, sent as Proxy-Authorization (to the proxy
    /// only: on the CONNECT request for https). Overrides the session's and the proxy URL's.
    std::optional<BasicAuth> proxy_auth;
    /// proxy_headers=: headers for the proxy: on the CONNECT request for https, with the request
    /// itself for http. Never sent inside a tunnel.
    Headers proxy_headers;
};

/// The keyword arguments of aiohttp's session.ws_connect(url, ...). Not an aggregate (g++ 12).
struct ClientWSOptions {
    ClientWSOptions() {}
    /// protocols=: the subprotocols offered (Sec-WebSocket-Protocol), in order of preference.
    std::vector<std::string> protocols;
    /// timeout=ClientWSTimeout(ws_receive=, ws_close=).
    ClientWSTimeout timeout;
    /// autoclose=: answer the server's close frame as soon as it comes (receive() still returns
    /// it as CLOSE). Off: answer it with close().
    bool autoclose = true;
    /// autoping=: answer pings with pongs and swallow pongs; receive() never returns them.
    bool autoping = true;
    /// heartbeat=: when nothing arrived for this long, ping; when nothing arrives within half of
    /// it, the connection is closed (close_code() 1006).
    std::optional<std::chrono::nanoseconds> heartbeat;
    /// auth=: overrides the session's and the URL's credentials.
    std::optional<BasicAuth> auth;
    /// origin=: the Origin header.
    std::string origin;
    /// params=: query pairs appended to the URL's query.
    std::vector<std::pair<std::string, std::string>> params;
    /// headers=: on top of the session's default headers.
    Headers headers;
    /// proxy=, proxy_auth=, proxy_headers=: as RequestOptions's (wss:// goes through a CONNECT
    /// tunnel; ws:// is requested from the proxy in absolute form).
    ProxyURL proxy;
    std::optional<BasicAuth> proxy_auth;
    Headers proxy_headers;
    /// ssl=: the TLS context of a wss:// connection (null: the session's).
    std::shared_ptr<SSLContext> ssl;
    /// compress=: 0 offers no compression; 9-15 offers permessage-deflate with that
    /// client_max_window_bits (aiohttp's 15 is the usual value).
    int compress = 0;
    /// max_msg_size=: the largest message received (after decompression); a bigger one closes
    /// the connection with 1009. 0: no limit.
    size_t max_msg_size = 4 * 1024 * 1024;
};

/// The keyword arguments of ClientSession and of its TCPConnector. Not an aggregate (g++ 12).
struct ClientSessionOptions {
    ClientSessionOptions() = default;
    /// base_url=: relative request URLs are resolved against it (URL::join).
    std::optional<URL> base_url;
    /// headers=: sent with every request.
    Headers headers;
    /// timeout=.
    ClientTimeout timeout = ClientTimeout::default_timeout();
    /// TCPConnector(limit=): connections in use (or being made) at once; 0 = no limit.
    size_t limit = 100;
    /// TCPConnector(limit_per_host=): the same per (scheme, host, port); 0 = no limit.
    size_t limit_per_host = 0;
    /// TCPConnector(ttl_dns_cache=): how long a name's addresses are kept; nullopt = forever,
    /// zero = no cache.
    std::optional<std::chrono::nanoseconds> ttl_dns_cache = std::chrono::seconds(10);
    /// max_redirects=: the most redirects a request follows (TooManyRedirects beyond).
    int max_redirects = 10;
    /// raise_for_status=: throw ClientResponseError for every response with status >= 400.
    bool raise_for_status = false;
    /// auth=: default credentials.
    std::optional<BasicAuth> auth;
    /// TCPConnector(ssl=): the TLS context of https requests; null = create_default_context()
    /// (verifies the server against the system CAs and checks its name).
    std::shared_ptr<SSLContext> ssl;
    /// TCPConnector(force_close=): one request per connection.
    bool force_close = false;
    /// TCPConnector(keepalive_timeout=): idle pooled connections older than this are closed.
    std::chrono::nanoseconds keepalive_timeout = std::chrono::seconds(15);
    /// auto_decompress=: decode gzip/deflate bodies.
    bool auto_decompress = true;
    /// cookie_jar=: where the session keeps cookies between requests (null: a jar of its own).
    /// Share one between sessions to share their cookies.
    std::shared_ptr<CookieJar> cookie_jar;
    /// proxy= (aiohttp 3.10): the proxy of every request that names none (RequestOptions::proxy).
    ProxyURL proxy;
    /// proxy_auth= (aiohttp 3.10): the proxy credentials of every request that gives none.
    std::optional<BasicAuth> proxy_auth;
};

/// aiocpp: a snapshot of the session's connection pool (for monitoring and tests).
struct ConnectorStats {
    size_t idle = 0;           // keep-alive connections waiting in the pool
    size_t acquired = 0;       // slots held: connections in use or being made
    size_t waiting = 0;        // requests queued for a slot
    uint64_t opened = 0;       // connections made so far
    uint64_t dns_lookups = 0;  // getaddrinfo calls (DNS cache misses)
};

namespace detail {
struct SessionState;
}

/// aiohttp.ClientSession. Use it on one loop; move-only. Requests started from it keep its state
/// alive until they finish; closing (or destroying) the session closes every connection.
class ClientSession {
public:
    explicit ClientSession(ClientSessionOptions options = ClientSessionOptions());
    ClientSession(ClientSession&&) noexcept;
    ClientSession& operator=(ClientSession&&) noexcept;
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;
    /// Closes every connection of the pool at once (no "Unclosed client session").
    ~ClientSession();

    /// `await session.request(method, url, ...)`. Throws InvalidURL for a URL that cannot be
    /// requested, ClientConnectorError (and its certificate variant), ServerDisconnectedError,
    /// ClientResponseError (a malformed response head, or raise_for_status), TooManyRedirects,
    /// and ServerTimeoutError's family for ClientTimeout.
    [[nodiscard]] Task<ClientResponse> request(std::string method, std::string url,
                                               RequestOptions opts = RequestOptions());
    [[nodiscard]] Task<ClientResponse> request(std::string method, URL url, RequestOptions opts = RequestOptions());

    /// session.get(url, ...) and the other verbs.
    [[nodiscard]] Task<ClientResponse> get(std::string url, RequestOptions opts = RequestOptions());
    [[nodiscard]] Task<ClientResponse> post(std::string url, RequestOptions opts = RequestOptions());
    [[nodiscard]] Task<ClientResponse> put(std::string url, RequestOptions opts = RequestOptions());
    [[nodiscard]] Task<ClientResponse> patch(std::string url, RequestOptions opts = RequestOptions());
    /// session.delete(url) (a C++ keyword: hence the underscore).
    [[nodiscard]] Task<ClientResponse> delete_(std::string url, RequestOptions opts = RequestOptions());
    [[nodiscard]] Task<ClientResponse> head(std::string url, RequestOptions opts = RequestOptions());
    [[nodiscard]] Task<ClientResponse> options(std::string url, RequestOptions opts = RequestOptions());

    /// `await session.ws_connect(url, ...)`: a WebSocket to a ws://, wss:// (or http(s)://) URL,
    /// over a connection of the session's (its default headers, cookies, auth, proxy, TLS and
    /// ClientTimeout for the handshake), taken out of the pool for good. Throws
    /// WSServerHandshakeError when the server does not accept, and what request() throws for
    /// the rest. Cancel safety: a cancelled ws_connect closes the connection it was using.
    [[nodiscard]] Task<ClientWebSocketResponse> ws_connect(std::string url, ClientWSOptions opts = ClientWSOptions());

    /// `await session.close()`: closes every connection; later requests throw ClientError.
    [[nodiscard]] Task<void> close();
    /// session.closed.
    [[nodiscard]] bool closed() const noexcept;
    /// aiocpp: the pool's counters.
    [[nodiscard]] ConnectorStats connector_stats() const noexcept;
    /// session.cookie_jar.
    [[nodiscard]] CookieJar& cookie_jar() const noexcept;

private:
    std::shared_ptr<detail::SessionState> s_;
};

}  // namespace aio::http
