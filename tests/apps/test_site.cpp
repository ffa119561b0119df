// The demo site (apps/lib/aio_app/site.hpp) served in-process, read by aiocpp's client and by curl;
// its latency on the virtual clock; TLS with the certificate it makes; and `aiocpp serve` as a
// child process: the line naming its port, SIGTERM and SIGINT, a port already in use.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <aio_app/site.hpp>
#include <csignal>
#include <cstdio>
#include <regex>
#include <set>

#include "http/web_test_util.hpp"

using namespace std::chrono_literals;
using aio::app::Site;
using aio::app::SiteOptions;
using aio::http::ClientResponse;
using aio::http::ClientSession;

namespace {

constexpr const char* kCurl = "/usr/bin/curl";

// Every href in `html`, in order.
std::vector<std::string> hrefs(const std::string& html) {
    std::vector<std::string> out;
    static const std::regex re("href=\"([^\"]*)\"");
    for (auto it = std::sregex_iterator(html.begin(), html.end(), re); it != std::sregex_iterator(); ++it)
        out.push_back((*it)[1].str());
    return out;
}

std::string title_of(const std::string& html) {
    static const std::regex re("<title>([^<]*)</title>");
    std::smatch m;
    return std::regex_search(html, m, re) ? m[1].str() : "";
}

// What a client should see on page i: its title, and links to the index and to page_links().
void expect_page(const std::string& html, size_t i, const SiteOptions& o) {
    EXPECT_EQ(title_of(html), "Page " + std::to_string(i));
    std::vector<std::string> want{"/"};
    for (size_t j : aio::app::page_links(i, o.pages)) want.push_back("/pages/" + std::to_string(j));
    EXPECT_EQ(hrefs(html), want) << "page " << i;
    EXPECT_EQ(html.size(), o.page_bytes) << "page " << i;
}

aio::Task<std::pair<int, std::string>> get(ClientSession& session, std::string url) {
    ClientResponse r = co_await session.get(std::move(url));
    std::string body = co_await r.read();
    co_return std::pair<int, std::string>(r.status(), std::move(body));
}

// Runs on the virtual clock: sleeps take no real time and loop.time() is exact. Real sockets
// work there because loopback delivers a write before the writer's next poll.
template <class T>
T run_virtual(aio::Task<T> t) {
    aio::LoopOptions o;
    o.virtual_time = true;
    return aio::run(aiotest::with_deadline(std::move(t), 60s), o);
}

// --- the content, without a server ----------------------------------------------------------------

TEST(SiteContent, LinksStayOnTheSiteAndTheNextLinksVisitEveryPage) {
    EXPECT_EQ(aio::app::page_links(1, 160), (std::vector<size_t>{2, 7}));
    EXPECT_EQ(aio::app::page_links(3, 160), (std::vector<size_t>{4, 21}));
    EXPECT_EQ(aio::app::page_links(160, 160), (std::vector<size_t>{1}));  // 7 * 160 is 160 itself
    EXPECT_TRUE(aio::app::page_links(1, 1).empty());
    for (size_t n : {1, 2, 7, 160}) {
        std::set<size_t> seen;
        size_t page = 1;
        for (size_t step = 0; step < n; ++step) {
            seen.insert(page);
            for (size_t j : aio::app::page_links(page, n)) {
                EXPECT_GE(j, 1u);
                EXPECT_LE(j, n);
                EXPECT_NE(j, page);
            }
            page = page % n + 1;
        }
        EXPECT_EQ(seen.size(), n);
    }
}

TEST(SiteContent, PagesHaveExactlyPageBytesOrTheLeastTheirLinksNeed) {
    SiteOptions bare;
    bare.page_bytes = 0;
    for (size_t i : {1, 9, 160}) {
        const size_t least = aio::app::page_html(i, bare).size();
        EXPECT_LT(least, 300u);
        for (size_t bytes : {size_t{0}, size_t{100}, least, least + 1, size_t{4096}, size_t{100000}}) {
            SiteOptions o;
            o.page_bytes = bytes;
            const std::string html = aio::app::page_html(i, o);
            EXPECT_EQ(html.size(), std::max(bytes, least)) << "page " << i << ", " << bytes << " bytes";
            EXPECT_EQ(title_of(html), "Page " + std::to_string(i));
            EXPECT_TRUE(html.ends_with("</p>\n</body>\n</html>\n"));
            EXPECT_EQ(html, aio::app::page_html(i, o)) << "the same page every time";
        }
    }
}

TEST(SiteContent, TheIndexLinksEveryPageInOrder) {
    SiteOptions o;
    o.pages = 12;
    std::vector<std::string> want;
    for (size_t i = 1; i <= 12; ++i) want.push_back("/pages/" + std::to_string(i));
    EXPECT_EQ(hrefs(aio::app::index_html(o)), want);
}

TEST(SiteContent, DeterministicBytesAreTheSameStreamAtAnyOffset) {
    const std::string all = aio::app::deterministic_bytes(0, 4096);
    EXPECT_EQ(aio::app::deterministic_bytes(37, 1000), all.substr(37, 1000));
    EXPECT_EQ(aio::app::deterministic_bytes(4095, 1), all.substr(4095));
    std::set<char> distinct(all.begin(), all.end());
    EXPECT_GT(distinct.size(), 200u) << "not a short repeating pattern";
    EXPECT_NE(all.substr(0, 256), all.substr(256, 256));
}

TEST(SiteContent, DurationsAsTheCommandLineWritesThem) {
    using aio::app::parse_duration;
    EXPECT_EQ(parse_duration("50ms"), std::chrono::nanoseconds(50ms));
    EXPECT_EQ(parse_duration("1s"), std::chrono::nanoseconds(1s));
    EXPECT_EQ(parse_duration("250us"), std::chrono::nanoseconds(250us));
    EXPECT_EQ(parse_duration("250\u00b5s"), std::chrono::nanoseconds(250us));
    EXPECT_EQ(parse_duration("100ns"), std::chrono::nanoseconds(100));
    EXPECT_EQ(parse_duration("1.5s"), std::chrono::nanoseconds(1500ms));
    EXPECT_EQ(parse_duration("20"), std::chrono::nanoseconds(20ms));  // a plain number is ms
    EXPECT_EQ(parse_duration(".25"), std::chrono::nanoseconds(250us));
    EXPECT_EQ(parse_duration("0"), std::chrono::nanoseconds(0));
    for (const char* bad : {"", "5x", "-5ms", "1..5s", "ms", " 5ms", "5 ms", "5m", "1.0000000001s", "99999999999999s"})
        EXPECT_EQ(parse_duration(bad), std::nullopt) << "'" << bad << "'";
    for (auto d : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(50ms), std::chrono::nanoseconds(2s),
                   std::chrono::nanoseconds(1500us), std::chrono::nanoseconds(7)})
        EXPECT_EQ(parse_duration(aio::app::format_duration(d)), d) << aio::app::format_duration(d);
    EXPECT_EQ(aio::app::format_duration(50ms), "50ms");
    EXPECT_EQ(aio::app::format_duration(1500ms), "1500ms");
}

// --- served in-process -----------------------------------------------------------------------------

TEST(SiteServer, EveryPageHasItsTitleAndLinksForOurClient) {
    aiotest::run_net([]() -> aio::Task<void> {
        SiteOptions o;
        Site site = co_await Site::start(o);
        ClientSession session;
        auto [index_status, index] = co_await get(session, site.url("/"));
        EXPECT_EQ(index_status, 200);
        EXPECT_EQ(index, aio::app::index_html(o));
        EXPECT_EQ(hrefs(index).size(), 160u);
        for (size_t i = 1; i <= o.pages; ++i) {
            auto [status, html] = co_await get(session, site.url(aio::app::page_path(i)));
            EXPECT_EQ(status, 200) << i;
            expect_page(html, i, o);
            EXPECT_EQ(html, aio::app::page_html(i, o));
        }
        EXPECT_EQ(site.requests(), 161u);
        co_await site.stop();
    }());
}

TEST(SiteServer, CurlReadsEveryPage) {
    if (!aiotest::have_program(kCurl)) GTEST_SKIP() << "no curl";
    aiotest::run_net([]() -> aio::Task<void> {
        SiteOptions o;
        o.pages = 160;
        o.page_bytes = 1500;
        Site site = co_await Site::start(o);
        // One curl for all of them: each body, then its status on a line of its own.
        std::vector<std::string> args{"-s", "-w", "\n%{http_code}\n"};
        std::string want;
        for (size_t i = 1; i <= o.pages; ++i) {
            args.push_back(site.url(aio::app::page_path(i)));
            want += aio::app::page_html(i, o) + "\n200\n";
        }
        aiotest::ProcResult r = co_await aiotest::run_process(kCurl, std::move(args));
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_TRUE(r.out == want) << "curl's output differs from the pages (" << r.out.size() << " bytes, "
                                   << want.size() << " expected)";
        co_await site.stop();
    }());
}

TEST(SiteServer, NotFoundPastTheLastPageAndForOtherSpellings) {
    aiotest::run_net([]() -> aio::Task<void> {
        SiteOptions o;
        o.pages = 5;
        Site site = co_await Site::start(o);
        ClientSession session;
        for (const char* path : {"/pages/5", "/pages/1"})
            EXPECT_EQ((co_await get(session, site.url(path))).first, 200) << path;
        for (const char* path : {"/pages/6", "/pages/0", "/pages/007", "/pages/+1", "/pages/abc", "/pages/",
                                 "/pages/99999999999999999999999", "/nothing"})
            EXPECT_EQ((co_await get(session, site.url(path))).first, 404) << path;
        co_await site.stop();
    }());
}

TEST(SiteServer, BytesAndStatusEndpoints) {
    aiotest::run_net([]() -> aio::Task<void> {
        Site site = co_await Site::start(SiteOptions());
        ClientSession session;
        for (size_t n : {size_t{0}, size_t{1000}, size_t{3'000'001}}) {  // the last one is streamed
            auto [status, body] = co_await get(session, site.url("/bytes/" + std::to_string(n)));
            EXPECT_EQ(status, 200);
            EXPECT_EQ(body.size(), n);
            EXPECT_TRUE(body == aio::app::deterministic_bytes(0, n)) << n;
        }
        ClientResponse head = co_await session.head(site.url("/bytes/3000001"));
        EXPECT_EQ(head.status(), 200);
        EXPECT_EQ(head.headers().get("Content-Length"), "3000001");
        EXPECT_EQ((co_await get(session, site.url("/bytes/x"))).first, 400);
        EXPECT_EQ((co_await get(session, site.url("/bytes/1073741825"))).first, 400);  // past max_bytes

        auto [s503, b503] = co_await get(session, site.url("/status/503"));
        EXPECT_EQ(s503, 503);
        EXPECT_EQ(b503, "503 Service Unavailable\n");
        auto [s204, b204] = co_await get(session, site.url("/status/204"));
        EXPECT_EQ(s204, 204);
        EXPECT_EQ(b204, "");
        for (const char* bad : {"/status/99", "/status/600", "/status/abc"})
            EXPECT_EQ((co_await get(session, site.url(bad))).first, 400) << bad;
        co_await site.stop();
    }());
}

TEST(SiteServer, WsEchoesTextAsTextAndBinaryAsBinaryCompressed) {
    const std::string py = aiotest::debian_python();
    if (py.empty() || std::system((py + " -c 'import websockets' 2>/dev/null").c_str()) != 0)
        GTEST_SKIP() << "python3-websockets is not installed";
    static const char* kClient = R"PY(
import asyncio, sys, websockets
async def main(uri):
    async with websockets.connect(uri) as ws:
        await ws.send("text")
        t = await ws.recv()
        await ws.send(b"\x00\xff")
        b = await ws.recv()
        print(repr(t), repr(b), ws.response_headers.get("Sec-WebSocket-Extensions"))
asyncio.run(main(sys.argv[1]))
)PY";
    aiotest::run_net([&]() -> aio::Task<void> {
        Site site = co_await Site::start(SiteOptions());
        std::string url = site.url("/ws");
        url.replace(0, 4, "ws");  // http://... -> ws://...
        std::vector<std::string> args{"-c", kClient, url};
        auto r = co_await aiotest::run_process(py, std::move(args));
        co_await site.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.out, "'text' b'\\x00\\xff' permessage-deflate\n");
    }());
}

// --- latency, on the virtual clock -------------------------------------------------------------------

TEST(SiteLatency, EveryResponseWaitsTheLatencyExactly) {
    run_virtual([]() -> aio::Task<void> {
        SiteOptions o;
        o.latency = 50ms;
        Site site = co_await Site::start(o);
        ClientSession session;
        aio::EventLoop& loop = aio::get_running_loop();
        for (const char* path : {"/", "/pages/1", "/pages/999", "/bytes/10"}) {  // a 404 waits too
            const double t0 = loop.time();
            co_await get(session, site.url(path));
            EXPECT_DOUBLE_EQ(loop.time() - t0, 0.050) << path;
        }
        // Requests at once wait side by side, not one after the other.
        const double t0 = loop.time();
        std::vector<aio::Task<std::pair<int, std::string>>> all;
        for (size_t i = 1; i <= 20; ++i) all.push_back(get(session, site.url(aio::app::page_path(i))));
        auto results = co_await aio::gather(std::move(all));
        EXPECT_EQ(results.size(), 20u);
        EXPECT_DOUBLE_EQ(loop.time() - t0, 0.050);
        co_await site.stop();
    }());
}

// The delays of `n` requests one after the other, in ms of loop time.
aio::Task<std::vector<double>> delays(SiteOptions o, size_t n) {
    Site site = co_await Site::start(o);
    ClientSession session;
    aio::EventLoop& loop = aio::get_running_loop();
    std::vector<double> out;
    for (size_t i = 0; i < n; ++i) {
        const double t0 = loop.time();
        co_await get(session, site.url("/pages/1"));
        out.push_back((loop.time() - t0) * 1000);
    }
    co_await site.stop();
    co_return out;
}

TEST(SiteLatency, JitterIsUniformWithinItsBoundsAndTheSeedRepeatsIt) {
    SiteOptions o;
    o.latency = 50ms;
    o.jitter = 10ms;
    o.seed = 42;
    const std::vector<double> a = run_virtual(delays(o, 200));
    const std::vector<double> b = run_virtual(delays(o, 200));
    o.seed = 43;
    const std::vector<double> c = run_virtual(delays(o, 200));
    EXPECT_EQ(a, b) << "the same seed gives the same delays";
    EXPECT_NE(a, c);
    double lo = 1e9, hi = 0, sum = 0;
    for (double d : a) {
        lo = std::min(lo, d);
        hi = std::max(hi, d);
        sum += d;
    }
    EXPECT_GE(lo, 40.0);
    EXPECT_LE(hi, 60.0);
    EXPECT_LT(lo, 43.0) << "200 draws should reach near both ends";
    EXPECT_GT(hi, 57.0);
    EXPECT_NEAR(sum / 200, 50.0, 1.5);
}

// Under per_page_delay each page waits its own page_delay() on every fetch, whatever the order.
aio::Task<std::vector<double>> page_delays(SiteOptions o, std::vector<size_t> order) {
    Site site = co_await Site::start(o);
    ClientSession session;
    aio::EventLoop& loop = aio::get_running_loop();
    std::vector<double> out;
    for (size_t i : order) {
        const double t0 = loop.time();
        co_await get(session, site.url(aio::app::page_path(i)));
        out.push_back(loop.time() - t0);
    }
    co_await site.stop();
    co_return out;
}

TEST(SiteLatency, PerPageDelayIsEachPagesOwnOnEveryFetch) {
    SiteOptions o;
    o.pages = 40;
    o.latency = 50ms;
    o.jitter = 10ms;
    o.seed = 7;
    o.per_page_delay = true;
    std::vector<size_t> order;
    for (size_t i = 1; i <= 40; ++i) order.push_back(i);
    for (size_t i = 40; i >= 1; --i) order.push_back(i);  // again, backwards
    const std::vector<double> d = run_virtual(page_delays(o, order));
    ASSERT_EQ(d.size(), 80u);
    std::set<long long> distinct;
    for (size_t k = 0; k < 80; ++k) {
        const std::chrono::nanoseconds want = aio::app::page_delay(order[k], o);
        EXPECT_NEAR(d[k], std::chrono::duration<double>(want).count(), 1e-6) << "page " << order[k];
        EXPECT_GE(want, 40ms);
        EXPECT_LE(want, 60ms);
        distinct.insert(want.count());
    }
    EXPECT_GT(distinct.size(), 30u) << "the pages' delays differ";
    SiteOptions other = o;
    other.seed = 8;
    EXPECT_NE(aio::app::page_delay(3, o), aio::app::page_delay(3, other));
}

TEST(SiteLatency, NeverNegative) {
    SiteOptions o;
    o.latency = 5ms;
    o.jitter = 20ms;
    const std::vector<double> d = run_virtual(delays(o, 100));
    size_t zeros = 0;
    double longest = 0;
    for (double x : d) {
        EXPECT_GE(x, 0.0);
        EXPECT_LE(x, 25.0);
        if (x == 0.0) ++zeros;
        longest = std::max(longest, x);
    }
    EXPECT_GT(zeros, 10u) << "draws below zero are answered at once";
    EXPECT_GT(longest, 20.0) << "and the others still wait";
}

TEST(SiteLatency, StopLetsARequestInFlightFinish) {
    run_virtual([]() -> aio::Task<void> {
        SiteOptions o;
        o.latency = 200ms;
        Site site = co_await Site::start(o);
        ClientSession session;
        auto request = aio::create_task(get(session, site.url("/pages/2")));
        co_await aio::sleep(50ms);
        co_await site.stop();
        auto [status, html] = co_await request;
        EXPECT_EQ(status, 200);
        EXPECT_EQ(title_of(html), "Page 2");
        EXPECT_NEAR(aio::get_running_loop().time(), 0.2, 0.001) << "stop() waited for it";
    }());
}

// --- TLS -------------------------------------------------------------------------------------------

TEST(SiteTls, TheCertificateIsForLocalhostAndItsFilesGoWithIt) {
    std::string cert_file, key_file;
    {
        aio::app::SelfSignedCertificate cert;
        cert_file = cert.cert_file();
        key_file = cert.key_file();
        struct stat st{};
        ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u) << "the key is private";
        ASSERT_EQ(::stat(cert_file.substr(0, cert_file.rfind('/')).c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0700u);

        BIO* bio = BIO_new_mem_buf(cert.cert_pem().data(), static_cast<int>(cert.cert_pem().size()));
        X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        ASSERT_NE(x, nullptr);
        EXPECT_EQ(X509_check_host(x, "localhost", 0, 0, nullptr), 1);
        EXPECT_EQ(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
        EXPECT_EQ(X509_check_ip_asc(x, "::1", 0), 1);
        EXPECT_NE(X509_check_host(x, "example.com", 0, 0, nullptr), 1);
        EXPECT_EQ(X509_check_ca(x), 0) << "a server certificate, not a CA";
        EVP_PKEY* key = X509_get0_pubkey(x);
        EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
        EXPECT_EQ(X509_verify(x, key), 1) << "self-signed";
        X509_free(x);
    }
    EXPECT_FALSE(aiotest::file_exists(cert_file));
    EXPECT_FALSE(aiotest::file_exists(key_file));
    EXPECT_FALSE(aiotest::file_exists(cert_file.substr(0, cert_file.rfind('/'))));
}

TEST(SiteTls, CurlTrustsTheGeneratedCertificate) {
    if (!aiotest::have_program(kCurl)) GTEST_SKIP() << "no curl";
    aiotest::run_net([]() -> aio::Task<void> {
        SiteOptions o;
        o.tls = true;
        Site site = co_await Site::start(o);
        EXPECT_TRUE(site.url("/").starts_with("https://127.0.0.1:"));
        const std::string port = std::to_string(site.port());
        std::vector<std::string> by_ip{"-s", "--cacert", site.cert_file(), site.url("/pages/3")};
        auto ip = co_await aiotest::run_process(kCurl, std::move(by_ip));
        std::vector<std::string> by_name{"-s", "--cacert", site.cert_file(), "--resolve", "localhost:" + port + ":127.0.0.1",
                                         "https://localhost:" + port + "/pages/4"};
        auto name = co_await aiotest::run_process(kCurl, std::move(by_name));
        std::vector<std::string> untrusting{"-s", site.url("/pages/5")};
        auto refused = co_await aiotest::run_process(kCurl, std::move(untrusting));
        co_await site.stop();
        EXPECT_EQ(ip.code, 0) << ip.err;
        EXPECT_EQ(ip.out, aio::app::page_html(3, o));
        EXPECT_EQ(name.code, 0) << name.err;
        EXPECT_EQ(title_of(name.out), "Page 4");
        EXPECT_EQ(refused.code, 60) << "curl's code for a certificate it cannot verify";
    }());
}

TEST(SiteTls, OurClientTrustsItWithTheSitesContextOnly) {
    std::string cert_file;
    aiotest::run_net([&cert_file]() -> aio::Task<void> {
        SiteOptions o;
        o.tls = true;
        o.pages = 3;
        Site site = co_await Site::start(o);
        cert_file = site.cert_file();
        EXPECT_TRUE(aiotest::file_exists(cert_file));
        aio::http::ClientSessionOptions so;
        so.ssl = site.client_ssl_context();
        ClientSession trusting(so);
        for (size_t i = 1; i <= 3; ++i) {
            auto [status, html] = co_await get(trusting, site.url(aio::app::page_path(i)));
            EXPECT_EQ(status, 200);
            expect_page(html, i, o);
        }
        ClientSession system_cas;
        auto failed = co_await aiotest::capture<aio::http::ClientConnectorCertificateError>(
            get(system_cas, site.url("/pages/1")));
        EXPECT_TRUE(failed.has_value()) << "the system's CAs do not know the site's certificate";
        co_await site.stop();
    }());
    EXPECT_FALSE(aiotest::file_exists(cert_file)) << "the site removed its certificate";
}

// --- `aiocpp serve`, a child process ----------------------------------------------------------------

#ifdef AIO_CLI
constexpr const char* kCli = AIO_CLI;

struct Serving {
    aio::Process proc;
    std::string url;
    uint16_t port = 0;
    std::string first_line;
};

// Starts `aiocpp serve --port 0 ARGS` and reads the line naming its URL.
aio::Task<Serving> start_serve(std::vector<std::string> args) {
    aio::SubprocessOptions o;
    o.stdout_ = aio::PIPE;
    o.stderr_ = aio::PIPE;
    o.stdin_ = aio::DEVNULL;
    std::vector<std::string> argv{"serve", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    aio::Process p = co_await aio::create_subprocess_exec(kCli, std::move(argv), std::move(o));
    std::string line = co_await aio::wait_for(p.stdout->readline(), 20s);
    static const std::regex re(R"(serving \d+ pages on (https?://127\.0\.0\.1:(\d+)/) \(latency [^)]*\)\n)");
    std::smatch m;
    Serving s{std::move(p), "", 0, line};
    if (std::regex_match(line, m, re)) {
        s.url = m[1].str();
        s.port = static_cast<uint16_t>(std::stoi(m[2].str()));
    }
    co_return s;
}

aio::Task<std::string> read_rest(aio::StreamReader reader) {
    std::string out;
    for (std::string chunk; !(chunk = co_await reader.read(65536)).empty();) out += chunk;
    co_return out;
}

bool sigint_ignored() {
    struct sigaction sa{};
    return ::sigaction(SIGINT, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

TEST(ServeCommand, PortZeroPrintsTheUrlAndSigtermStopsItWithStatusZero) {
    aiotest::run_net([]() -> aio::Task<void> {
        std::vector<std::string> args{"--pages", "5", "--latency", "30ms", "--jitter", "5ms"};
        Serving s = co_await start_serve(std::move(args));
        EXPECT_NE(s.port, 0) << s.first_line;
        EXPECT_TRUE(s.first_line.ends_with("(latency 30ms \u00b1 5ms)\n")) << s.first_line;
        NET_CO_ASSERT(s.port != 0);
        ClientSession session;
        auto [status, html] = co_await get(session, s.url + "pages/5");
        EXPECT_EQ(status, 200);
        EXPECT_EQ(title_of(html), "Page 5");
        EXPECT_EQ((co_await get(session, s.url + "pages/6")).first, 404);
        co_await session.close();
        s.proc.send_signal(SIGTERM);
        std::string rest = co_await aio::wait_for(read_rest(*s.proc.stdout), 20s);
        int code = co_await aio::wait_for(s.proc.wait(), 20s);
        EXPECT_EQ(code, 0);
        EXPECT_EQ(rest, "stopped after 2 requests\n");
        EXPECT_EQ(co_await read_rest(*s.proc.stderr), "");
    }());
}

TEST(ServeCommand, SigtermTheMomentTheLineIsReadIsStillGraceful) {
    aiotest::run_net([]() -> aio::Task<void> {
        for (int round = 0; round < 5; ++round) {
            Serving s = co_await start_serve({});
            NET_CO_ASSERT(s.port != 0);
            s.proc.terminate();
            std::string rest = co_await aio::wait_for(read_rest(*s.proc.stdout), 20s);
            EXPECT_EQ(co_await aio::wait_for(s.proc.wait(), 20s), 0) << "not killed by SIGTERM's default action";
            EXPECT_EQ(rest, "stopped after 0 requests\n");
        }
    }());
}

TEST(ServeCommand, SigintStopsItWithStatusZeroToo) {
    if (sigint_ignored()) GTEST_SKIP() << "SIGINT is ignored here, and so in the child (a background job)";
    aiotest::run_net([]() -> aio::Task<void> {
        Serving s = co_await start_serve({});
        NET_CO_ASSERT(s.port != 0);
        s.proc.send_signal(SIGINT);
        std::string rest = co_await aio::wait_for(read_rest(*s.proc.stdout), 20s);
        EXPECT_EQ(co_await aio::wait_for(s.proc.wait(), 20s), 0);
        EXPECT_EQ(rest, "stopped after 0 requests\n");
    }());
}

TEST(ServeCommand, TlsPrintsTheCertificateCurlCanTrustAndRemovesItAtExit) {
    if (!aiotest::have_program(kCurl)) GTEST_SKIP() << "no curl";
    aiotest::TempDir dir;
    const std::string copy = dir.path() + "/site.pem";
    aiotest::run_net([&copy]() -> aio::Task<void> {
        std::vector<std::string> args{"--tls", "--pages", "2"};
        Serving s = co_await start_serve(std::move(args));
        NET_CO_ASSERT(s.port != 0);
        EXPECT_TRUE(s.url.starts_with("https://"));
        std::string cert_line = co_await aio::wait_for(s.proc.stdout->readline(), 20s);
        static const std::regex re(R"(certificate: (\S+) \(trust it: curl --cacert \S+ https://\S+\)\n)");
        std::smatch m;
        NET_CO_ASSERT(std::regex_match(cert_line, m, re));
        const std::string cert = m[1].str();
        std::vector<std::string> curl_args{"-s", "--cacert", cert, s.url + "pages/2"};
        auto r = co_await aiotest::run_process(kCurl, std::move(curl_args));
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(title_of(r.out), "Page 2");
        s.proc.terminate();
        co_await aio::wait_for(read_rest(*s.proc.stdout), 20s);
        EXPECT_EQ(co_await aio::wait_for(s.proc.wait(), 20s), 0);
        EXPECT_FALSE(aiotest::file_exists(cert)) << "the private directory is removed at exit";

        // --cert-out: the copy is what it names, and it outlives the server.
        std::vector<std::string> args2{"--tls", "--cert-out", copy};
        Serving s2 = co_await start_serve(std::move(args2));
        NET_CO_ASSERT(s2.port != 0);
        std::string line2 = co_await aio::wait_for(s2.proc.stdout->readline(), 20s);
        EXPECT_TRUE(line2.starts_with("certificate: " + copy + " ")) << line2;
        std::vector<std::string> curl2{"-s", "--cacert", copy, s2.url};
        auto r2 = co_await aiotest::run_process(kCurl, std::move(curl2));
        EXPECT_EQ(r2.code, 0) << r2.err;
        s2.proc.terminate();
        co_await aio::wait_for(read_rest(*s2.proc.stdout), 20s);
        EXPECT_EQ(co_await aio::wait_for(s2.proc.wait(), 20s), 0);
    }());
    EXPECT_TRUE(aiotest::file_exists(copy));
}

TEST(ServeCommand, APortInUseIsOneLineAndStatusOne) {
    // A listening socket: with SO_REUSEADDR (which the server sets) only a listener blocks a bind.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const std::string port = std::to_string(ntohs(a.sin_port));
    aiotest::ProcResult r = aiotest::run_net([](std::string p) -> aio::Task<aiotest::ProcResult> {
        std::vector<std::string> args{"serve", "--port", p};
        co_return co_await aio::wait_for(aiotest::run_process(kCli, std::move(args)), 20s);
    }(port));
    ::close(fd);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "aiocpp serve: cannot listen on 127.0.0.1:" + port + ": Address already in use\n");
    EXPECT_EQ(r.out, "");
}

TEST(ServeCommand, BadOptionsAreOneLineAndStatusTwo) {
    struct Case {
        std::vector<std::string> args;
        std::string err;
    };
    const std::vector<Case> cases{
        {{"serve", "--pages", "0"}, "aiocpp serve: --pages: Value 0 not in range 1 to 1000000\n"},
        {{"serve", "--latency", "5x"},
         "aiocpp serve: --latency: '5x' is not a duration (e.g. 50ms, 1s, 250us; a plain number is milliseconds)\n"},
        {{"serve", "--jitter", "-1ms"},
         "aiocpp serve: --jitter: '-1ms' is not a duration (e.g. 50ms, 1s, 250us; a plain number is milliseconds)\n"},
        {{"serve", "--port", "70000"}, ""},
        {{"serve", "--cert-out", "x.pem"}, "aiocpp serve: --cert-out requires --tls\n"},
        {{"demo", "no_such_demo"}, "aiocpp demo: name: unknown demo 'no_such_demo' (aiocpp demo list shows them)\n"},
    };
    for (const Case& c : cases) {
        aiotest::ProcResult r = aiotest::run_net([](std::vector<std::string> args) -> aio::Task<aiotest::ProcResult> {
            co_return co_await aio::wait_for(aiotest::run_process(kCli, std::move(args)), 20s);
        }(c.args));
        EXPECT_EQ(r.code, 2) << c.args.back();
        EXPECT_EQ(r.out, "") << c.args.back();
        if (!c.err.empty()) {
            EXPECT_EQ(r.err, c.err);
        }
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}
#else
TEST(ServeCommand, NeedsTheCommand) { GTEST_SKIP() << "built without the aiocpp command (AIO_BUILD_APPS=OFF)"; }
#endif

}  // namespace
