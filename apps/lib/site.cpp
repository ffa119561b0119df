// The demo site (aio_app/site.hpp).
#include "aio_app/site.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "aio/core/sleep.hpp"
#include "aio/http/web_exceptions.hpp"
#include "aio/http/web_runner.hpp"
#include "aio/http/web_ws.hpp"

namespace aio::app {

namespace {

using namespace std::chrono_literals;

// Vigna's splitmix64 step: one multiply-xorshift round per value, so the same seed gives the same
// sequence on every platform (std::uniform_int_distribution's output is the library's choice).
uint64_t mix64(uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// latency + a uniform draw from [-jitter, +jitter] (never below zero), the draw being the n-th of
// the seed's sequence.
std::chrono::nanoseconds jittered(const SiteOptions& options, uint64_t n) {
    if (options.jitter <= 0ns) return std::max(options.latency, std::chrono::nanoseconds(0));
    const auto j = static_cast<uint64_t>(options.jitter.count());
    const uint64_t r = mix64(options.seed + 0x9e3779b97f4a7c15ULL * n);
    const auto offset = static_cast<int64_t>(r % (2 * j + 1)) - static_cast<int64_t>(j);
    return std::max(options.latency + std::chrono::nanoseconds(offset), std::chrono::nanoseconds(0));
}

// The filler of a page's body: ordinary words, so the page compresses and reads like text.
constexpr std::array<std::string_view, 32> kWords{
    "asyncio", "event",    "loop",   "coroutine", "task",     "future",  "await",   "socket",
    "stream",  "buffer",   "latency", "request",  "response", "header",  "body",    "page",
    "link",    "title",    "server", "client",    "queue",    "lock",    "timeout", "cancel",
    "gather",  "pipeline", "thread", "process",   "signal",   "select",  "epoll",   "kernel"};

std::string page_head(size_t i, const SiteOptions& options) {
    const std::string title = page_title(i);
    std::string h = "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>" + title +
                    "</title></head>\n<body>\n<h1>" + title + "</h1>\n<nav><a href=\"/\">index</a>";
    for (size_t j : page_links(i, options.pages))
        h += " <a href=\"" + page_path(j) + "\">" + page_title(j) + "</a>";
    h += "</nav>\n<p>";
    return h;
}

constexpr std::string_view kPageTail = "</p>\n</body>\n</html>\n";

// Exactly n bytes of words for page i, a line break before a line would pass 72 columns.
std::string filler(size_t i, size_t n) {
    std::string out;
    out.reserve(n + 16);
    size_t column = 0;
    for (uint64_t k = 0; out.size() < n; ++k) {
        std::string_view w = kWords[mix64((uint64_t{i} << 32) ^ k) % kWords.size()];
        if (k > 0) {
            if (column + 1 + w.size() > 72) {
                out += '\n';
                column = 0;
            } else {
                out += ' ';
                ++column;
            }
        }
        out += w;
        column += w.size();
    }
    out.resize(n);
    return out;
}

std::optional<uint64_t> parse_number(std::string_view s) {
    // One spelling per number: "007" and "+7" would be second URLs for a page.
    if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

struct SiteState {
    SiteOptions options;
    std::shared_ptr<uint64_t> requests;
    uint64_t draws = 0;  // delays drawn so far: the PRNG's position

    std::chrono::nanoseconds next_delay() { return jittered(options, ++draws); }

    /// The delay for `path`: its page's own under per_page_delay, else the next draw.
    std::chrono::nanoseconds delay_for(const std::string& path) {
        if (options.per_page_delay && path.starts_with("/pages/")) {
            const std::optional<uint64_t> i = parse_number(std::string_view(path).substr(7));
            if (i && *i >= 1 && *i <= options.pages) return page_delay(static_cast<size_t>(*i), options);
        }
        return next_delay();
    }
};

// Free coroutines taking the state by value, not lambda coroutines: a coroutine lambda's captures
// live in the closure, which the router may copy and drop while the coroutine still runs.
aio::Task<aio::http::Response> delayed(std::shared_ptr<SiteState> st, aio::http::Request request,
                                       aio::http::Handler next) {
    if (st->requests) ++*st->requests;
    const std::chrono::nanoseconds d = st->delay_for(request.path());
    if (d > 0ns) co_await aio::sleep(d);
    co_return co_await next(std::move(request));
}

aio::Task<aio::http::Response> serve_index(std::shared_ptr<SiteState> st, aio::http::Request) {
    co_return aio::http::Response::html(index_html(st->options));
}

aio::Task<aio::http::Response> serve_page(std::shared_ptr<SiteState> st, aio::http::Request request) {
    std::optional<uint64_t> i = parse_number(request.match_info()["i"]);
    if (!i || *i < 1 || *i > st->options.pages) throw aio::http::HTTPNotFound();
    co_return aio::http::Response::html(page_html(static_cast<size_t>(*i), st->options));
}

aio::Task<aio::http::Response> serve_bytes(aio::http::Request request) {
    std::optional<uint64_t> n = parse_number(request.match_info()["n"]);
    if (!n || *n > max_bytes)
        throw aio::http::HTTPBadRequest("/bytes/{n}: n is a number of bytes from 0 to " + std::to_string(max_bytes));
    constexpr size_t kChunk = 64 * 1024;
    if (*n <= 4 * kChunk) co_return aio::http::Response::bytes(deterministic_bytes(0, static_cast<size_t>(*n)));
    // Larger bodies go out a chunk at a time, so a 1 GiB download costs 64 KiB of memory.
    aio::http::StreamResponse resp;
    resp.set_content_type("application/octet-stream");
    resp.set_content_length(*n);
    co_await resp.prepare(request);
    if (request.method() != "HEAD") {
        for (uint64_t off = 0; off < *n; off += kChunk) {
            const auto len = static_cast<size_t>(std::min<uint64_t>(kChunk, *n - off));
            const std::string chunk = deterministic_bytes(off, len);  // named: docs/design.md, "Compiler notes"
            co_await resp.write(chunk);
        }
    }
    co_await resp.write_eof();
    co_return resp;
}

aio::Task<aio::http::Response> serve_status(aio::http::Request request) {
    std::optional<uint64_t> code = parse_number(request.match_info()["code"]);
    if (!code || *code < 200 || *code > 599)
        throw aio::http::HTTPBadRequest("/status/{code}: code is an HTTP status from 200 to 599");
    const int status = static_cast<int>(*code);
    if (status == 204 || status == 304) {  // these never have a body
        aio::http::Response r;
        r.set_status(status);
        co_return r;
    }
    std::string text = std::to_string(status);
    if (std::string_view reason = aio::http::status_reason(status); !reason.empty()) (text += ' ') += reason;
    co_return aio::http::Response(text + "\n", status);
}

bool is_wildcard(std::string_view host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

[[noreturn]] void throw_openssl(const std::string& what) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    char buf[256] = "unknown error";
    if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
    throw aio::SSLError("certificate: " + what + ": " + buf);
}

template <class T, void (*Free)(T*)>
struct OsslFree {
    void operator()(T* p) const noexcept { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, OsslFree<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OsslFree<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, OsslFree<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, OsslFree<BIGNUM, BN_free>>;

void add_extension(X509* cert, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);  // self-signed: issuer = subject
    X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw_openssl(std::string(OBJ_nid2sn(nid)) + "=" + value);
    const int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (!ok) throw_openssl(std::string("adding ") + OBJ_nid2sn(nid));
}

std::string to_pem(int (*write)(BIO*, void*), void* object) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || !write(bio.get(), object)) throw_openssl("PEM encoding");
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

void write_private_file(const std::string& path, const std::string& data) {
    // O_EXCL inside our own 0700 directory: nobody else can have put a file (or a link) there.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw aio::Error("cannot create " + path + ": " + std::generic_category().message(errno));
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            throw aio::Error("cannot write " + path + ": " + std::generic_category().message(err));
        }
        off += static_cast<size_t>(n);
    }
    ::close(fd);
}

std::string subject_alt_names(std::string_view extra_host) {
    std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
    const std::string host(extra_host);
    if (host.empty() || is_wildcard(host) || host == "localhost" || host == "127.0.0.1" || host == "::1") return san;
    unsigned char buf[16];
    if (::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1)
        return san + ",IP:" + host;
    // A name goes in only if it is a plain DNS name: a comma would end the value early.
    const bool plain = std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    });
    return plain ? san + ",DNS:" + host : san;
}

}  // namespace

// --- the content ---------------------------------------------------------------------------------

std::chrono::nanoseconds page_delay(size_t i, const SiteOptions& options) {
    // A stream of its own, apart from the per-request draws: keyed by the page, not by the order.
    return jittered(options, mix64(0x5049474544454c41ULL ^ i));
}

std::string page_path(size_t i) { return "/pages/" + std::to_string(i); }

std::string page_title(size_t i) { return "Page " + std::to_string(i); }

std::vector<size_t> page_links(size_t i, size_t pages) {
    std::vector<size_t> links;
    if (pages == 0) return links;
    const size_t next = i % pages + 1;
    if (next != i) links.push_back(next);
    const size_t far = static_cast<size_t>((uint64_t{7} * i + pages - 1) % pages) + 1;
    if (far != i && far != next) links.push_back(far);
    return links;
}

std::string page_html(size_t i, const SiteOptions& options) {
    std::string html = page_head(i, options);
    const size_t fixed = html.size() + kPageTail.size();
    if (options.page_bytes > fixed) html += filler(i, options.page_bytes - fixed);
    html += kPageTail;
    return html;
}

std::string index_html(const SiteOptions& options) {
    const std::string n = std::to_string(options.pages);
    std::string html = "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>aiocpp serve: " + n +
                       " pages</title></head>\n<body>\n<h1>" + n + " pages</h1>\n<ul>\n";
    for (size_t i = 1; i <= options.pages; ++i)
        html += "<li><a href=\"" + page_path(i) + "\">" + page_title(i) + "</a></li>\n";
    html += "</ul>\n</body>\n</html>\n";
    return html;
}

std::string deterministic_bytes(uint64_t offset, size_t n) {
    std::string out(n, '\0');
    for (size_t k = 0; k < n; ++k) {
        const uint64_t pos = offset + k;
        out[k] = static_cast<char>(static_cast<unsigned char>(mix64(pos >> 3) >> (8 * (pos & 7))));
    }
    return out;
}

// A WebSocket echo for any client to try: text comes back as text, binary as binary, compressed
// when the client offers permessage-deflate.
aio::Task<aio::http::Response> serve_ws(aio::http::Request request) {
    aio::http::WebSocketResponse ws;
    co_await ws.prepare(request);
    auto messages = ws.iter();
    while (auto m = co_await messages.next()) {
        if (m->type == aio::http::WSMsgType::TEXT) co_await ws.send_str(m->data);
        else if (m->type == aio::http::WSMsgType::BINARY) co_await ws.send_bytes(m->data);
    }
    co_return ws;
}

void add_site_routes(aio::http::Application& app, const SiteOptions& options, std::shared_ptr<uint64_t> requests) {
    if (options.pages == 0) throw std::invalid_argument("the site needs at least one page");
    if (options.latency < 0ns || options.jitter < 0ns) throw std::invalid_argument("latency and jitter cannot be negative");
    auto st = std::make_shared<SiteState>();
    st->options = options;
    st->requests = std::move(requests);
    app.add_middleware([st](aio::http::Request r, aio::http::Handler next) { return delayed(st, std::move(r), std::move(next)); });
    app.router().add_get("/", [st](aio::http::Request r) { return serve_index(st, std::move(r)); });
    app.router().add_get("/pages/{i}", [st](aio::http::Request r) { return serve_page(st, std::move(r)); });
    app.router().add_get("/bytes/{n}", serve_bytes);
    app.router().add_get("/status/{code}", serve_status);
    app.router().add_get("/ws", serve_ws);
}

// --- durations -------------------------------------------------------------------------------------

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
    size_t digits = 0;
    while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) ++digits;
    const std::string_view number = text.substr(0, digits);
    const std::string_view unit = text.substr(digits);
    int64_t scale = 0;
    if (unit.empty() || unit == "ms") scale = 1'000'000;
    else if (unit == "s") scale = 1'000'000'000;
    else if (unit == "us" || unit == "\u00b5s") scale = 1'000;
    else if (unit == "ns") scale = 1;
    else return std::nullopt;

    const size_t dot = number.find('.');
    const std::string_view whole = number.substr(0, dot);
    const std::string_view frac = dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
    if (whole.empty() && frac.empty()) return std::nullopt;
    if (frac.find('.') != std::string_view::npos || frac.size() > 9) return std::nullopt;
    int64_t w = 0;
    if (!whole.empty()) {
        auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), w);
        if (ec != std::errc() || p != whole.data() + whole.size()) return std::nullopt;
    }
    if (w > INT64_MAX / scale) return std::nullopt;
    int64_t ns = w * scale;
    if (!frac.empty()) {
        int64_t f = 0, pow10 = 1;
        auto [p, ec] = std::from_chars(frac.data(), frac.data() + frac.size(), f);
        if (ec != std::errc() || p != frac.data() + frac.size()) return std::nullopt;
        for (size_t k = 0; k < frac.size(); ++k) pow10 *= 10;
        // f < 10^9 and scale <= 10^9, so f * scale < 10^18 fits; what is below 1 ns is dropped.
        if (INT64_MAX - ns < f * scale / pow10) return std::nullopt;
        ns += f * scale / pow10;
    }
    return std::chrono::nanoseconds(ns);
}

std::string format_duration(std::chrono::nanoseconds d) {
    const int64_t ns = d.count();
    if (ns == 0) return "0ms";
    if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
    if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
    if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
    return std::to_string(ns) + "ns";
}

// --- the certificate -------------------------------------------------------------------------------

SelfSignedCertificate::SelfSignedCertificate(std::string_view extra_host) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) throw_openssl("generating a P-256 key");

    X509Ptr cert(X509_new());
    if (!cert) throw_openssl("X509_new");
    X509_set_version(cert.get(), 2);  // v3: extensions
    // A random serial: a client that saw an earlier run's certificate must not take this one for it.
    BnPtr serial(BN_new());
    if (!serial || !BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
        throw_openssl("serial number");
    // An hour back: a client whose clock is a little behind still accepts it.
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600))
        throw_openssl("validity");
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1,
                                    -1, 0) ||
        !X509_set_issuer_name(cert.get(), name) || !X509_set_pubkey(cert.get(), key.get()))
        throw_openssl("subject");
    // A server certificate that is its own trust anchor: not a CA, for TLS servers only.
    add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), NID_subject_key_identifier, "hash");
    add_extension(cert.get(), NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), NID_subject_alt_name, subject_alt_names(extra_host));
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw_openssl("signing");

    cert_pem_ = to_pem([](BIO* b, void* x) { return PEM_write_bio_X509(b, static_cast<X509*>(x)); }, cert.get());
    const std::string key_pem = to_pem(
        [](BIO* b, void* k) {
            return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr, 0, nullptr, nullptr);
        },
        key.get());

    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/aiocpp-serve-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
        throw aio::Error("cannot create a directory like " + tmpl + ": " + std::generic_category().message(errno));
    dir_ = tmpl;
    try {
        cert_file_ = dir_ + "/cert.pem";
        write_private_file(cert_file_, cert_pem_);
        key_file_ = dir_ + "/key.pem";
        write_private_file(key_file_, key_pem);
    } catch (...) {
        remove_files();  // the constructor failed, so the destructor will not run
        throw;
    }
}

SelfSignedCertificate::~SelfSignedCertificate() { remove_files(); }

void SelfSignedCertificate::remove_files() noexcept {
    if (!key_file_.empty()) ::unlink(key_file_.c_str());
    if (!cert_file_.empty()) ::unlink(cert_file_.c_str());
    if (!dir_.empty()) ::rmdir(dir_.c_str());
}

// --- the server --------------------------------------------------------------------------------------

struct Site::Impl {
    SiteOptions options;
    std::string host;
    std::unique_ptr<SelfSignedCertificate> cert;
    std::shared_ptr<aio::SSLContext> server_ssl;
    std::shared_ptr<uint64_t> requests = std::make_shared<uint64_t>(0);
    // Declared before the runner and the site, so destroyed after them: they refer to it.
    aio::http::Application app;
    std::unique_ptr<aio::http::AppRunner> runner;
    std::unique_ptr<aio::http::TCPSite> site;
    uint16_t port = 0;
    bool stopped = false;
};

Site::Site(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Site::Site(Site&&) noexcept = default;
Site& Site::operator=(Site&&) noexcept = default;
Site::~Site() = default;

aio::Task<Site> Site::start(SiteOptions options, std::string host, uint16_t port) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->host = host;
    add_site_routes(impl->app, options, impl->requests);
    if (options.tls) {
        impl->cert = std::make_unique<SelfSignedCertificate>(host);
        impl->server_ssl = aio::SSLContext::server(impl->cert->cert_file(), impl->cert->key_file());
    }
    aio::http::ServerConfig config;
    // Requests in flight are waiting out their latency: give them that, but a stuck client cannot
    // hold a Ctrl-C for aiohttp's full minute.
    config.shutdown_timeout = std::max<std::chrono::nanoseconds>(5s, options.latency + options.jitter + 1s);
    impl->runner = std::make_unique<aio::http::AppRunner>(impl->app, std::move(config));
    co_await impl->runner->setup();
    aio::http::TCPSiteOptions site_options;
    // A race opens every page's connection at once; past the backlog, SYNs are dropped and
    // retried a second later, which would time the kernel rather than the client.
    site_options.backlog = 1024;
    site_options.ssl = impl->server_ssl;
    impl->site = std::make_unique<aio::http::TCPSite>(*impl->runner, std::move(host), port, std::move(site_options));
    co_await impl->site->start();
    impl->port = impl->site->port();
    co_return Site(std::move(impl));
}

uint16_t Site::port() const { return impl_->port; }

std::string Site::url(std::string_view path) const {
    std::string host = impl_->host;
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    else if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    std::string u = (impl_->options.tls ? "https://" : "http://") + host + ":" + std::to_string(impl_->port);
    if (path.empty() || path[0] != '/') u += '/';
    u += path;
    return u;
}

const SiteOptions& Site::options() const noexcept { return impl_->options; }

const std::string& Site::cert_file() const noexcept {
    static const std::string none;
    return impl_->cert ? impl_->cert->cert_file() : none;
}

std::shared_ptr<aio::SSLContext> Site::client_ssl_context() const {
    if (!impl_->cert) return nullptr;
    auto ctx = aio::SSLContext::create_default_context();
    ctx->load_verify_locations(impl_->cert->cert_file());
    return ctx;
}

uint64_t Site::requests() const noexcept { return *impl_->requests; }

aio::Task<void> Site::stop() {
    Impl& i = *impl_;
    if (i.stopped) co_return;
    i.stopped = true;
    i.site->stop();
    co_await i.runner->cleanup();
}

}  // namespace aio::app
