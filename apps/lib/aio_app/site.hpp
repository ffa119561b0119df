// The demo site behind `aiocpp serve`: N deterministic HTML pages with titles and links, an index,
// download and status endpoints, a chosen latency with jitter per response, and optional TLS with
// a certificate made at start. Also a library call (Site::start), so a program — `aiocpp race`, a
// test — can serve it on a free port inside its own loop. docs/serve.md describes what it serves.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aio/core/task.hpp"
#include "aio/http/web_app.hpp"
#include "aio/net/tls.hpp"

namespace aio::app {

/// What the site serves and how slowly.
struct SiteOptions {
    SiteOptions() {}  // not an aggregate: docs/design.md, "Compiler notes" (g++ 12 and co_await)
    /// Pages /pages/1 .. /pages/N.
    size_t pages = 160;
    /// Every response waits latency ± a uniform jitter (never below zero) before it is answered.
    std::chrono::nanoseconds latency{0};
    std::chrono::nanoseconds jitter{0};
    /// Each page's HTML is exactly this many bytes, or the least its title and links need.
    size_t page_bytes = 4096;
    /// Serve HTTPS with a self-signed certificate for localhost made at start.
    bool tls = false;
    /// Seeds the jitter: the same seed and the same order of requests give the same delays.
    uint64_t seed = 1;
    /// Draw each page's delay once, from its number and the seed (page_delay()), instead of per
    /// request: every fetch of /pages/i waits the same. The race sets it, so that its ways meet
    /// the same delays and the ideal can be computed from them; other paths still draw per request.
    bool per_page_delay = false;
};

/// The delay of /pages/i under per_page_delay: latency plus a uniform draw from [-jitter,
/// +jitter] keyed by i and the seed, never below zero.
[[nodiscard]] std::chrono::nanoseconds page_delay(size_t i, const SiteOptions& options);

// --- the content, for clients that check what they got ---------------------------------------

/// "/pages/7".
[[nodiscard]] std::string page_path(size_t i);
/// "Page 7": page i's <title>, and its <h1>.
[[nodiscard]] std::string page_title(size_t i);
/// The pages page i links to, in its order: the next page (N wraps to 1), then 7i's place on the
/// ring (((7i - 1) mod N) + 1) when that is neither i nor the next. Every page is reachable from
/// any other by the "next" links. Each page also links to the index, "/".
[[nodiscard]] std::vector<size_t> page_links(size_t i, size_t pages);
/// Page i's HTML, exactly as served (1 <= i <= options.pages).
[[nodiscard]] std::string page_html(size_t i, const SiteOptions& options);
/// The index at "/": a link to every page, in order.
[[nodiscard]] std::string index_html(const SiteOptions& options);
/// The bytes [offset, offset + n) of the stream /bytes/{n} serves a prefix of: fixed for ever,
/// not a short repeating pattern, so a client can check a download (or a Range) byte for byte.
[[nodiscard]] std::string deterministic_bytes(uint64_t offset, size_t n);
/// The largest n /bytes/{n} serves (1 GiB); above it, 400.
inline constexpr uint64_t max_bytes = uint64_t{1} << 30;

/// Adds the site's routes to `app`: GET (and HEAD) of
///   /              the index
///   /pages/{i}     page i, 1 <= i <= pages (404 otherwise, and for "/pages/007")
///   /bytes/{n}     n deterministic bytes (application/octet-stream), n <= max_bytes
///   /status/{code} an answer with that status, 200 <= code <= 599 (400 otherwise)
/// and a middleware that delays every answer (404s included) by the options' latency.
/// `requests`, if given, counts the requests received. Throws std::invalid_argument for no pages
/// or a negative latency or jitter.
void add_site_routes(aio::http::Application& app, const SiteOptions& options,
                     std::shared_ptr<uint64_t> requests = nullptr);

// --- durations as the command line writes them ---------------------------------------------------

/// "50ms", "1s", "250us" (or "250µs"), "100ns", "1.5s"; a plain number is milliseconds. nullopt
/// for anything else, negative values included.
[[nodiscard]] std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
/// The shortest exact form parse_duration reads back: "50ms", "1s", "1500us", "0ms".
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);

// --- TLS -----------------------------------------------------------------------------------------

/// A self-signed EC P-256 certificate for CN=localhost (subjectAltName DNS:localhost, IP:127.0.0.1,
/// IP:::1, and `extra_host` if given and not a wildcard address), valid from an hour ago for 30
/// days, with its key: PEM files in a private directory (mkdtemp, mode 0700) that the destructor
/// removes. Trust cert_file() as a CA to connect (curl --cacert, SSLContext::load_verify_locations).
class SelfSignedCertificate {
public:
    /// Throws aio::SSLError if OpenSSL fails, aio::Error if the files cannot be written (not
    /// std::system_error, which Site::start keeps for "cannot listen").
    explicit SelfSignedCertificate(std::string_view extra_host = {});
    ~SelfSignedCertificate();
    SelfSignedCertificate(const SelfSignedCertificate&) = delete;
    SelfSignedCertificate& operator=(const SelfSignedCertificate&) = delete;

    [[nodiscard]] const std::string& cert_file() const noexcept { return cert_file_; }
    [[nodiscard]] const std::string& key_file() const noexcept { return key_file_; }
    /// The certificate, PEM.
    [[nodiscard]] const std::string& cert_pem() const noexcept { return cert_pem_; }

private:
    void remove_files() noexcept;
    std::string dir_, cert_file_, key_file_, cert_pem_;
};

// --- the server ------------------------------------------------------------------------------------

/// The site, served in the running loop until stop() (or destruction, which aborts connections
/// instead of waiting for them):
///
///     aio::app::SiteOptions o;
///     o.latency = 50ms;
///     aio::app::Site site = co_await aio::app::Site::start(o);   // 127.0.0.1, a free port
///     auto r = co_await session.get(site.url("/pages/1"));
///     co_await site.stop();
class Site {
public:
    /// Binds host:port (0: a free port) and starts serving. Throws std::system_error naming the
    /// cause when it cannot listen (EADDRINUSE...), aio::GaiError for a host that does not
    /// resolve, aio::SSLError or aio::Error if the certificate cannot be made,
    /// std::invalid_argument for bad options (add_site_routes).
    static aio::Task<Site> start(SiteOptions options, std::string host = "127.0.0.1", uint16_t port = 0);

    Site(Site&&) noexcept;
    Site& operator=(Site&&) noexcept;
    ~Site();

    [[nodiscard]] uint16_t port() const;
    /// "http://127.0.0.1:PORT/pages/1" ("https" with TLS; a wildcard host is reached on loopback).
    [[nodiscard]] std::string url(std::string_view path = "/") const;
    [[nodiscard]] const SiteOptions& options() const noexcept;
    /// The certificate to trust with TLS, "" without.
    [[nodiscard]] const std::string& cert_file() const noexcept;
    /// A client context that trusts the site's certificate (null without TLS).
    [[nodiscard]] std::shared_ptr<aio::SSLContext> client_ssl_context() const;
    /// Requests received so far (404s included).
    [[nodiscard]] uint64_t requests() const noexcept;
    /// Stops accepting, lets the requests in flight finish (their latency included, at most a
    /// few seconds), then closes every connection. Once; a stopped site only reports.
    aio::Task<void> stop();

private:
    struct Impl;
    explicit Site(std::unique_ptr<Impl> impl) noexcept;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aio::app
