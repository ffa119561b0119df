// `aiocpp fetch` (apps/lib/aio_app/fetch.hpp): the safe names, the backoff and Retry-After rules,
// the URL file; downloads from the demo site checked byte for byte; failures injected by an
// in-process server (503 then 200, 429 with Retry-After, a body cut mid-way, a 404 that is not
// retried, a stalled server that times out); resume of a partial file from nginx with Range; and
// the command: its plain-line progress, its summary and exit status, and its one-line errors
// (malformed URL, empty URL file, unreachable host, read-only directory). Backoff delays are a
// millisecond or two, and no test sleeps to wait for something: every wait is on an event.
#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <aio_app/fetch.hpp>
#include <aio_app/site.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aio/sync/event.hpp"
#include "http/web_test_util.hpp"

extern char** environ;

using namespace std::chrono_literals;
using aio::app::FetchOptions;
using aio::app::FetchResult;
using aio::app::FetchSummary;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

/// Quick retries, no progress, a fixed seed: what every download test starts from.
FetchOptions quick(const std::string& dir) {
    FetchOptions o;
    o.output_dir = dir;
    o.concurrency = 4;
    o.timeout = 5s;
    o.retries = 2;
    o.backoff_base = 1ms;
    o.backoff_cap = 2ms;
    o.seed = 1;
    o.progress = aio::app::FetchProgress::none;
    return o;
}

const FetchResult& result_for(const FetchSummary& s, const std::string& url) {
    for (const FetchResult& r : s.results)
        if (r.url == url) return r;
    throw std::runtime_error("no result for " + url);
}

// --- the rules -------------------------------------------------------------------------------------

TEST(FetchNames, AreTheLastSegmentMadeSafeAndUnique) {
    const std::vector<std::string> names = aio::app::safe_file_names({
        "http://h/a/b.txt",
        "http://other/b.txt",
        "http://h/c/b.txt",
        "http://h/",
        "http://h",
        "http://h/..%2F..%2Fetc%2Fpasswd",
        "http://h/%2e%2e",
        "http://h/.bashrc",
        "http://h/dl?id=1&x=/y",
        "http://h/a%00b%0Ac%5Cd",
        "http://h/x.part",
        "http://h/report%20final.pdf",
        "http://h/" + std::string(300, 'z'),
    });
    ASSERT_EQ(names.size(), 13u);
    EXPECT_EQ(names[0], "b.txt");
    EXPECT_EQ(names[1], "b-2.txt");
    EXPECT_EQ(names[2], "b-3.txt");
    EXPECT_EQ(names[3], "index.html");
    EXPECT_EQ(names[4], "index-2.html");
    EXPECT_EQ(names[5], "_._.._etc_passwd");
    EXPECT_EQ(names[6], "_.");
    EXPECT_EQ(names[7], "_bashrc");
    EXPECT_EQ(names[8], "dl");
    EXPECT_EQ(names[9], "a_b_c_d");
    EXPECT_EQ(names[10], "x.part_");
    EXPECT_EQ(names[11], "report final.pdf");
    EXPECT_EQ(names[12], std::string(200, 'z'));
    for (const std::string& n : names) {
        EXPECT_EQ(n.find('/'), std::string::npos) << n;
        EXPECT_NE(n[0], '.') << n;
    }
}

TEST(FetchRetry, BackoffDoublesUpToTheCapWithJitterBetweenHalfAndAll) {
    using aio::app::backoff_delay;
    EXPECT_EQ(backoff_delay(1, 100ms, 1s, 1.0), 100ms);
    EXPECT_EQ(backoff_delay(1, 100ms, 1s, 0.0), 50ms);
    EXPECT_EQ(backoff_delay(2, 100ms, 1s, 1.0), 200ms);
    EXPECT_EQ(backoff_delay(3, 100ms, 1s, 0.5), 300ms);
    EXPECT_EQ(backoff_delay(4, 100ms, 1s, 1.0), 800ms);
    EXPECT_EQ(backoff_delay(5, 100ms, 1s, 1.0), 1s);
    EXPECT_EQ(backoff_delay(500, 100ms, 1s, 0.0), 500ms);
}

TEST(FetchRetry, RetryAfterIsSecondsOrAnHttpDate) {
    using aio::app::parse_retry_after;
    const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
    EXPECT_EQ(parse_retry_after("5", now), std::optional<std::chrono::nanoseconds>(5s));
    EXPECT_EQ(parse_retry_after(" 0 ", now), std::optional<std::chrono::nanoseconds>(0s));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), std::optional<std::chrono::nanoseconds>(10s));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), std::optional<std::chrono::nanoseconds>(0s));
    EXPECT_FALSE(parse_retry_after("soon", now));
    EXPECT_FALSE(parse_retry_after("-3", now));
    EXPECT_FALSE(parse_retry_after("", now));
    EXPECT_TRUE(aio::app::retryable_status(503));
    EXPECT_TRUE(aio::app::retryable_status(429));
    EXPECT_FALSE(aio::app::retryable_status(404));
    EXPECT_FALSE(aio::app::retryable_status(200));
}

TEST(FetchInput, UrlFilesAndUrlsAreChecked) {
    aiotest::TempDir dir;
    const std::string empty = dir.path() + "/empty.txt";
    write_file(empty, "# nothing here\n\n");
    EXPECT_THROW((void)aio::app::read_fetch_urls(empty), aio::app::FetchUsageError);
    try {
        (void)aio::app::read_fetch_urls(empty);
    } catch (const aio::app::FetchUsageError& e) {
        EXPECT_EQ(std::string(e.what()), "--urls: " + empty + " holds no URL");
    }
    const std::string bad = dir.path() + "/bad.txt";
    write_file(bad, "http://h/a  # the first\nftp://h/b\n");
    try {
        (void)aio::app::read_fetch_urls(bad);
        ADD_FAILURE() << "no error for ftp://";
    } catch (const aio::app::FetchUsageError& e) {
        EXPECT_EQ(std::string(e.what()), "--urls: " + bad + ":2: 'ftp://h/b': not an http or https URL");
    }
    const std::string good = dir.path() + "/good.txt";
    write_file(good, "# list\nhttp://h/a  # the first\n\n  https://h/b\n");
    EXPECT_EQ(aio::app::read_fetch_urls(good), (std::vector<std::string>{"http://h/a", "https://h/b"}));
    EXPECT_THROW((void)aio::app::read_fetch_urls(dir.path() + "/missing"), aio::app::FetchUsageError);
    try {
        (void)aio::app::read_fetch_urls(dir.path());
        ADD_FAILURE() << "no error for a directory";
    } catch (const aio::app::FetchUsageError& e) {
        EXPECT_EQ(std::string(e.what()), "--urls: " + dir.path() + " is a directory");
    }
    EXPECT_THROW(aio::app::check_fetch_url("http://"), aio::app::FetchUsageError);
    EXPECT_THROW(aio::app::check_fetch_url("not a url"), aio::app::FetchUsageError);
    EXPECT_THROW(aio::app::check_fetch_url("http://h:99999/"), aio::app::FetchUsageError);
    EXPECT_NO_THROW(aio::app::check_fetch_url("http://h:8080/x?y"));
}

// --- downloads from the demo site ------------------------------------------------------------------

TEST(Fetch, DownloadsFromTheDemoSiteByteForByte) {
    aiotest::TempDir dir;
    const std::string out = dir.path() + "/made/by/fetch";  // missing parents are made
    FetchSummary s = aiotest::run_net([](std::string target) -> aio::Task<FetchSummary> {
        aio::app::SiteOptions so;
        so.pages = 5;
        aio::app::Site site = co_await aio::app::Site::start(so);
        FetchOptions o = quick(target);
        o.concurrency = 3;
        for (size_t i = 1; i <= 5; ++i)
            o.urls.push_back(site.url(aio::app::page_path(i)));
        o.urls.push_back(site.url("/bytes/300000"));
        o.urls.push_back(site.url("/bytes/0"));
        FetchSummary got = co_await aio::app::fetch_all(o);
        co_await site.stop();
        co_return got;
    }(out));
    EXPECT_EQ(s.ok, 7u);
    EXPECT_EQ(s.failed, 0u);
    aio::app::SiteOptions so;
    so.pages = 5;
    uint64_t bytes = 0;
    for (size_t i = 1; i <= 5; ++i) {
        const std::string path = out + "/" + std::to_string(i);
        EXPECT_EQ(slurp(path), aio::app::page_html(i, so)) << path;
        bytes += aio::app::page_html(i, so).size();
    }
    EXPECT_EQ(slurp(out + "/300000"), aio::app::deterministic_bytes(0, 300000));
    EXPECT_TRUE(aiotest::file_exists(out + "/0"));
    EXPECT_EQ(slurp(out + "/0"), "");
    bytes += 300000;
    EXPECT_EQ(s.bytes, bytes);
    for (const FetchResult& r : s.results) {
        EXPECT_TRUE(r.ok) << r.url << ": " << r.error;
        EXPECT_EQ(r.attempts, 1);
        EXPECT_EQ(r.status, 200);
        EXPECT_FALSE(r.resumed);
        EXPECT_FALSE(aiotest::file_exists(r.path + ".part")) << r.path;
    }
    EXPECT_NE(aio::app::format_summary(s).find("7 ok, 0 failed, "), std::string::npos) << aio::app::format_summary(s);
}

// --- failures injected -----------------------------------------------------------------------------

/// A server that misbehaves on purpose, one route per failure, counting each route's requests.
struct FaultyServer {
    aiotest::TestServer server;
    std::string body = aio::app::deterministic_bytes(0, 200000);
    int flaky = 0, limited = 0, cut = 0, missing = 0, stalled = 0;
    std::string cut_range;  // the Range header of the request after the cut
    aio::Event release_stall;

    FaultyServer() {
        aio::http::Router& r = server.app.router();
        r.add_get("/flaky/file.bin", [this](aio::http::Request) -> aio::Task<aio::http::Response> {
            if (++flaky == 1) co_return aio::http::Response("busy", 503);
            co_return aio::http::Response::bytes(body);
        });
        r.add_get("/limited/file.bin", [this](aio::http::Request) -> aio::Task<aio::http::Response> {
            if (++limited == 1) {
                aio::http::Response busy("slow down", 429);
                busy.headers().set("Retry-After", "1");
                co_return busy;
            }
            co_return aio::http::Response::bytes(body);
        });
        r.add_get("/missing/file.bin", [this](aio::http::Request) -> aio::Task<aio::http::Response> {
            ++missing;
            co_return aio::http::Response("no such file", 404);
        });
        // The first answer promises the whole body, sends half and drops the connection; the
        // next ones honour "Range: bytes=N-".
        r.add_get("/cut/file.bin", [this](aio::http::Request req) -> aio::Task<aio::http::Response> {
            if (++cut == 1) {
                aio::http::StreamResponse resp;
                resp.set_content_length(body.size());
                co_await resp.prepare(req);
                const std::string half = body.substr(0, body.size() / 2);
                co_await resp.write(half);
                throw std::runtime_error("injected: the connection drops mid-body");
            }
            cut_range = std::string(req.headers().get("Range", ""));
            const uint64_t from = cut_range.starts_with("bytes=") ? std::stoull(cut_range.substr(6)) : 0;
            aio::http::Response part = aio::http::Response::bytes(body.substr(from), from > 0 ? 206 : 200);
            if (from > 0)
                part.headers().set("Content-Range", "bytes " + std::to_string(from) + "-" +
                                                        std::to_string(body.size() - 1) + "/" +
                                                        std::to_string(body.size()));
            co_return part;
        });
        // Headers and a little of the body, then nothing until the test is over.
        r.add_get("/stall/file.bin", [this](aio::http::Request req) -> aio::Task<aio::http::Response> {
            ++stalled;
            aio::http::StreamResponse resp;
            resp.set_content_length(body.size());
            co_await resp.prepare(req);
            const std::string start = body.substr(0, 1000);
            co_await resp.write(start);
            co_await release_stall.wait();
            throw std::runtime_error("the stalled answer ends with the test");
        });
    }
};

TEST(Fetch, RetriesWhatIsWorthRetryingAndResumesACutBody) {
    aiotest::TempDir dir;
    FaultyServer f;
    const auto t0 = std::chrono::steady_clock::now();
    FetchSummary s = aiotest::run_net([](FaultyServer& faulty, std::string target) -> aio::Task<FetchSummary> {
        co_await faulty.server.start();
        FetchOptions o = quick(target);
        o.concurrency = 5;
        o.timeout = 300ms;
        o.retries = 1;
        for (const char* route : {"flaky", "limited", "cut", "missing", "stall"})
            o.urls.push_back(faulty.server.url(std::string("/") + route + "/file.bin"));
        FetchSummary got = co_await aio::app::fetch_all(o);
        faulty.release_stall.set();
        co_await faulty.server.stop();
        co_return got;
    }(f, dir.path()));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(s.results.size(), 5u);
    EXPECT_EQ(s.ok, 3u);
    EXPECT_EQ(s.failed, 2u);

    // The names collide, so each gets its own: the order of the URLs decides.
    const FetchResult& flaky = result_for(s, f.server.url("/flaky/file.bin"));
    EXPECT_TRUE(flaky.ok) << flaky.error;
    EXPECT_EQ(flaky.attempts, 2);
    EXPECT_EQ(flaky.path, dir.path() + "/file.bin");
    EXPECT_EQ(slurp(flaky.path), f.body);
    EXPECT_EQ(f.flaky, 2);

    const FetchResult& limited = result_for(s, f.server.url("/limited/file.bin"));
    EXPECT_TRUE(limited.ok) << limited.error;
    EXPECT_EQ(limited.attempts, 2);
    EXPECT_EQ(limited.path, dir.path() + "/file-2.bin");
    EXPECT_EQ(slurp(limited.path), f.body);
    EXPECT_GE(secs, 1.0) << "Retry-After: 1 was waited for, not the 2 ms backoff";

    const FetchResult& cut = result_for(s, f.server.url("/cut/file.bin"));
    EXPECT_TRUE(cut.ok) << cut.error;
    EXPECT_EQ(cut.attempts, 2);
    EXPECT_TRUE(cut.resumed);
    EXPECT_EQ(slurp(cut.path), f.body) << "the resumed file is whole and in order";
    EXPECT_EQ(cut.status, 206);
    ASSERT_TRUE(f.cut_range.starts_with("bytes=")) << f.cut_range;
    const uint64_t from = std::stoull(f.cut_range.substr(6));
    EXPECT_GT(from, 0u);
    EXPECT_LE(from, f.body.size() / 2);
    EXPECT_EQ(cut.received, f.body.size()) << "what came before the cut, and the rest";

    const FetchResult& missing = result_for(s, f.server.url("/missing/file.bin"));
    EXPECT_FALSE(missing.ok);
    EXPECT_EQ(missing.attempts, 1) << "a 404 is not retried";
    EXPECT_EQ(f.missing, 1);
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.error, "404 Not Found");
    EXPECT_FALSE(aiotest::file_exists(missing.path));
    EXPECT_FALSE(aiotest::file_exists(missing.path + ".part"));

    const FetchResult& stall = result_for(s, f.server.url("/stall/file.bin"));
    EXPECT_FALSE(stall.ok);
    EXPECT_EQ(stall.attempts, 2);
    EXPECT_EQ(f.stalled, 2);
    EXPECT_EQ(stall.error, "timed out after 300ms without data");
    EXPECT_FALSE(aiotest::file_exists(stall.path)) << "no partial file under the final name";
    EXPECT_TRUE(aiotest::file_exists(stall.path + ".part")) << "kept for a later run to resume";
}

// A real reset: a raw server promises the whole body, sends half, and closes with SO_LINGER 0
// so the client gets a RST, not a FIN. The retry asks for the rest, and gets it.
TEST(Fetch, AConnectionResetMidBodyIsResumed) {
    aiotest::TempDir dir;
    struct Seen {
        std::vector<std::string> ranges;
        char* progress = nullptr;
        size_t progress_size = 0;
    } seen;
    const std::string body = aio::app::deterministic_bytes(0, 150000);
    FetchSummary s = aiotest::run_net([](Seen& log, const std::string& data,
                                         std::string target) -> aio::Task<FetchSummary> {
        auto serve = [&seen = log, &body = data](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<void> {
            const std::string head = co_await r.readuntil("\r\n\r\n");
            std::smatch m;
            const bool ranged = std::regex_search(head, m, std::regex("\r\nRange: bytes=([0-9]+)-\r\n"));
            seen.ranges.push_back(ranged ? m[1].str() : "");
            if (seen.ranges.size() == 1) {
                w.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                        body.substr(0, body.size() / 2));
                co_await w.drain();
                linger l{1, 0};
                ::setsockopt(w.transport().fileno(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
                w.transport().abort();
                co_return;
            }
            const size_t from = ranged ? std::stoul(m[1].str()) : 0;
            w.write("HTTP/1.1 206 Partial Content\r\nConnection: close\r\nContent-Range: bytes " +
                    std::to_string(from) + "-" + std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) +
                    "\r\nContent-Length: " + std::to_string(body.size() - from) + "\r\n\r\n" + body.substr(from));
            co_await w.drain();
            w.close();
        };
        aio::Server server = co_await aio::start_server(std::move(serve), "127.0.0.1", 0);
        FetchOptions o = quick(target);
        o.urls.push_back("http://127.0.0.1:" + std::to_string(server.port()) + "/reset.bin");
        o.progress = aio::app::FetchProgress::lines;
        o.progress_out = ::open_memstream(&log.progress, &log.progress_size);
        FetchSummary got = co_await aio::app::fetch_all(o);
        std::fclose(o.progress_out);
        server.close();
        co_return got;
    }(seen, body, dir.path()));
    ASSERT_EQ(s.results.size(), 1u);
    const FetchResult& r = s.results[0];
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.attempts, 2);
    EXPECT_TRUE(r.resumed);
    EXPECT_EQ(slurp(dir.path() + "/reset.bin"), body);
    ASSERT_EQ(seen.ranges.size(), 2u);
    EXPECT_EQ(seen.ranges[0], "");
    EXPECT_FALSE(seen.ranges[1].empty()) << "the retry asks for the rest";
    EXPECT_LE(std::stoul(seen.ranges[1]), body.size() / 2);
    EXPECT_EQ(r.received, body.size());
    const std::string lines(seen.progress, seen.progress_size);
    std::free(seen.progress);
    EXPECT_TRUE(std::regex_search(
        lines, std::regex(R"(^retry 1/2 in 0\.00 s: http://\S+/reset\.bin: [^\n]*Connection reset by peer[^\n]*\n)")))
        << lines;
}

TEST(Fetch, ARetryAfterLongerThanAllowedFailsAtOnce) {
    aiotest::TempDir dir;
    FaultyServer f;
    FetchSummary s = aiotest::run_net([](FaultyServer& faulty, std::string target) -> aio::Task<FetchSummary> {
        co_await faulty.server.start();
        FetchOptions o = quick(target);
        o.max_retry_after = 500ms;
        o.urls.push_back(faulty.server.url("/limited/file.bin"));
        FetchSummary got = co_await aio::app::fetch_all(o);
        co_await faulty.server.stop();
        co_return got;
    }(f, dir.path()));
    ASSERT_EQ(s.results.size(), 1u);
    EXPECT_FALSE(s.results[0].ok);
    EXPECT_EQ(s.results[0].attempts, 1);
    EXPECT_EQ(s.results[0].error, "429 Too Many Requests (Retry-After 1.00 s is longer than the 0.50 s allowed)");
}

TEST(Fetch, UnreachableHostFailsAfterItsRetriesWithTheCause) {
    aiotest::TempDir dir;
    const uint16_t port = aiotest::unused_port();
    FetchOptions o = quick(dir.path());
    o.retries = 2;
    o.urls.push_back("http://127.0.0.1:" + std::to_string(port) + "/x");
    const FetchSummary s = aio::app::run_fetch(o);
    ASSERT_EQ(s.results.size(), 1u);
    EXPECT_FALSE(s.results[0].ok);
    EXPECT_EQ(s.results[0].attempts, 3);
    EXPECT_EQ(s.results[0].status, 0);
    EXPECT_NE(s.results[0].error.find("cannot connect to host 127.0.0.1:" + std::to_string(port)), std::string::npos)
        << s.results[0].error;
    EXPECT_FALSE(aiotest::file_exists(dir.path() + "/x"));
}

TEST(Fetch, BadOptionsAndAnUnusableDirectoryFailBeforeAnyRequest) {
    aiotest::TempDir dir;
    FetchOptions o = quick(dir.path());
    EXPECT_THROW((void)aio::app::run_fetch(o), aio::app::FetchUsageError);  // no URL
    o.urls.push_back("http://h:1/");
    o.urls.push_back("gopher://h/");
    EXPECT_THROW((void)aio::app::run_fetch(o), aio::app::FetchUsageError);
    o.urls.pop_back();
    write_file(dir.path() + "/plain", "x");
    o.output_dir = dir.path() + "/plain";
    EXPECT_THROW((void)aio::app::run_fetch(o), aio::app::FetchError);
    o.output_dir = dir.path() + "/plain/sub";
    try {
        (void)aio::app::run_fetch(o);
        ADD_FAILURE() << "no error";
    } catch (const aio::app::FetchError& e) {
        EXPECT_EQ(std::string(e.what()), "cannot create the output directory " + o.output_dir + ": Not a directory");
    }
}

// --- resume from nginx -----------------------------------------------------------------------------

/// nginx serving `root` on a free port, as its own process for the length of a test.
class Nginx {
public:
    Nginx(const std::string& dir, const std::string& root) : port_(aiotest::unused_port()) {
        std::ofstream(dir + "/nginx.conf")
            << "daemon off;\nmaster_process off;\npid " << dir << "/nginx.pid;\nerror_log " << dir << "/error.log;\n"
            << "events { worker_connections 64; }\n"
            << "http {\n  log_format ranges '$status $http_range';\n  access_log " << dir << "/access.log ranges;\n"
            << "  client_body_temp_path " << dir << "/tmp_body;\n  proxy_temp_path " << dir << "/tmp_proxy;\n"
            << "  fastcgi_temp_path " << dir << "/tmp_fcgi;\n  uwsgi_temp_path " << dir << "/tmp_uwsgi;\n"
            << "  scgi_temp_path " << dir << "/tmp_scgi;\n"
            << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    root " << root << ";\n"
            << "    location = /busy.bin { return 503; }\n  }\n}\n";
        std::vector<std::string> argv{"/usr/sbin/nginx", "-c", dir + "/nginx.conf", "-p", dir, "-e",
                                      dir + "/error.log"};
        std::vector<char*> args;
        for (std::string& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        if (::posix_spawn(&pid_, args[0], nullptr, nullptr, args.data(), environ) != 0) pid_ = -1;
        log_ = dir + "/access.log";
    }
    ~Nginx() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    /// Waits (a bounded poll of another process's start, there being no event to wait on) until
    /// nginx accepts connections.
    [[nodiscard]] bool up() const {
        for (int i = 0; i < 500 && pid_ > 0; ++i) {
            if (can_connect()) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
    [[nodiscard]] std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    /// The access log, once it has `lines` lines (nginx writes a line after its response).
    [[nodiscard]] std::string log(size_t lines) const {
        std::string text;
        for (int i = 0; i < 500; ++i) {
            text = slurp(log_);
            if (static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) >= lines) break;
            std::this_thread::sleep_for(10ms);
        }
        return text;
    }

private:
    [[nodiscard]] bool can_connect() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port_);
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }
    uint16_t port_;
    pid_t pid_ = -1;
    std::string log_;
};

TEST(FetchNginx, ResumesAPartialFileWithRange) {
    if (!aiotest::file_exists("/usr/sbin/nginx")) GTEST_SKIP() << "nginx is not installed";
    aiotest::TempDir dir;
    const std::string root = dir.path() + "/www", out = dir.path() + "/out";
    ::mkdir(root.c_str(), 0755);
    ::mkdir(out.c_str(), 0755);
    const std::string body = aio::app::deterministic_bytes(0, 300000);
    write_file(root + "/big.bin", body);
    write_file(root + "/done.bin", body.substr(0, 1000));
    write_file(out + "/big.bin.part", body.substr(0, 100000));  // an earlier run stopped here
    write_file(out + "/done.bin.part", body.substr(0, 1000));   // and here, with all of it
    Nginx nginx(dir.path(), root);
    ASSERT_TRUE(nginx.up()) << "nginx did not start: " << slurp(dir.path() + "/error.log");

    FetchOptions o = quick(out);
    o.urls = {nginx.url("/big.bin"), nginx.url("/done.bin")};
    const FetchSummary s = aio::app::run_fetch(o);
    ASSERT_EQ(s.results.size(), 2u);
    const FetchResult& big = s.results[0];
    EXPECT_TRUE(big.ok) << big.error;
    EXPECT_TRUE(big.resumed);
    EXPECT_EQ(big.status, 206);
    EXPECT_EQ(big.received, 200000u) << "only what the partial file lacked";
    EXPECT_EQ(big.size, 300000u);
    EXPECT_EQ(slurp(out + "/big.bin"), body);
    EXPECT_FALSE(aiotest::file_exists(out + "/big.bin.part"));
    // A partial file that is already whole: nginx answers 416 with the size, nothing is sent.
    const FetchResult& done = s.results[1];
    EXPECT_TRUE(done.ok) << done.error;
    EXPECT_EQ(done.status, 416);
    EXPECT_EQ(done.received, 0u);
    EXPECT_EQ(slurp(out + "/done.bin"), body.substr(0, 1000));
    std::string log = nginx.log(2);
    std::vector<std::string> lines;
    for (std::istringstream in(log); std::getline(in, log);)
        lines.push_back(log);
    std::sort(lines.begin(), lines.end());
    EXPECT_EQ(lines, (std::vector<std::string>{"206 bytes=100000-", "416 bytes=1000-"}));

    // nginx's own failures: a 503 is retried (each retry after the backoff), a 404 is not.
    FetchOptions failing = quick(out);
    failing.retries = 2;
    failing.urls = {nginx.url("/busy.bin"), nginx.url("/absent.bin")};
    const FetchSummary bad = aio::app::run_fetch(failing);
    EXPECT_EQ(bad.failed, 2u);
    EXPECT_EQ(bad.results.at(0).error, "503 Service Temporarily Unavailable");
    EXPECT_EQ(bad.results[0].attempts, 3);
    EXPECT_EQ(bad.results.at(1).error, "404 Not Found");
    EXPECT_EQ(bad.results[1].attempts, 1);
    EXPECT_FALSE(aiotest::file_exists(out + "/busy.bin"));
    EXPECT_FALSE(aiotest::file_exists(out + "/absent.bin.part"));
    log = nginx.log(6);
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 6) << log;
    auto count = [&log](const std::string& line) {
        size_t n = 0;
        for (size_t at = 0; (at = log.find("\n" + line + "\n", at)) != std::string::npos; ++at)
            ++n;
        return n;
    };
    EXPECT_EQ(count("503 -"), 3u) << log;
    EXPECT_EQ(count("404 -"), 1u) << log;

    // --no-resume starts over and gets the whole file with a 200.
    write_file(out + "/big.bin.part", "garbage that is not a prefix");
    o.urls = {nginx.url("/big.bin")};
    o.resume = false;
    const FetchSummary again = aio::app::run_fetch(o);
    EXPECT_TRUE(again.results.at(0).ok);
    EXPECT_FALSE(again.results[0].resumed);
    EXPECT_EQ(again.results[0].status, 200);
    EXPECT_EQ(slurp(out + "/big.bin"), body);
}

// --- the command -----------------------------------------------------------------------------------

#ifdef AIO_CLI
aiotest::ProcResult run_cli(std::vector<std::string> args, std::string program = AIO_CLI) {
    return aiotest::run_net([](std::string p, std::vector<std::string> a) -> aio::Task<aiotest::ProcResult> {
        co_return co_await aio::wait_for(aiotest::run_process(std::move(p), std::move(a)), 30s);
    }(std::move(program), std::move(args)));
}

TEST(FetchCommand, PlainLinesThenTheSummaryAndStatusOneWhenOneFailed) {
    aiotest::TempDir dir;
    const std::string out = dir.path() + "/out";
    aiotest::ProcResult r = aiotest::run_net([](std::string target) -> aio::Task<aiotest::ProcResult> {
        aio::app::SiteOptions so;
        so.pages = 3;
        aio::app::Site site = co_await aio::app::Site::start(so);
        std::vector<std::string> args{"fetch",
                                      site.url("/pages/1"),
                                      site.url("/bytes/5000"),
                                      site.url("/status/404"),
                                      "-o",
                                      target,
                                      "--retries",
                                      "0",
                                      "--backoff",
                                      "1ms"};
        aiotest::ProcResult got = co_await aio::wait_for(aiotest::run_process(AIO_CLI, std::move(args)), 30s);
        co_await site.stop();
        co_return got;
    }(out));
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_EQ(r.err, "");
    // stdout is a pipe: a line per file (in the order they finish), no bar, no escape codes.
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)\[[123]/3\] ok: \S+/out/1 \([0-9.]+ KiB\)\n)"))) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)\[[123]/3\] ok: \S+/out/5000 \(4\.9 KiB\)\n)"))) << r.out;
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(R"((^|\n)\[[123]/3\] failed: http://\S+/status/404: 404 Not Found \(1 attempt\)\n)")))
        << r.out;
    EXPECT_TRUE(std::regex_search(
        r.out,
        std::regex(
            R"(\n2 ok, 1 failed, [0-9.]+ KiB in [0-9.]+ s \([0-9.]+ [KMG]?i?B/s\)\nfailed: http://\S+/status/404: 404 Not Found\n$)")))
        << r.out;
    EXPECT_EQ(r.out.find('\r'), std::string::npos);
    EXPECT_EQ(r.out.find('\033'), std::string::npos);
    EXPECT_EQ(slurp(out + "/5000"), aio::app::deterministic_bytes(0, 5000));
}

// The two commands end to end: `aiocpp serve` in a process of its own, `aiocpp fetch` from it
// with the bar forced on (a pipe would get lines).
TEST(FetchCommand, FromAiocppServeWithTheBar) {
    aiotest::TempDir dir;
    const std::string out = dir.path() + "/out";
    aiotest::ProcResult r = aiotest::run_net([](std::string target) -> aio::Task<aiotest::ProcResult> {
        aio::SubprocessOptions so;
        so.stdout_ = aio::PIPE;
        so.stderr_ = aio::DEVNULL;
        so.stdin_ = aio::DEVNULL;
        std::vector<std::string> serve_args{"serve",     "--port", "0",        "--pages", "4",
                                            "--latency", "0ms",    "--jitter", "0ms"};
        aio::Process serve = co_await aio::create_subprocess_exec(AIO_CLI, std::move(serve_args), std::move(so));
        // Its first line names the URL: the wait is for that line, not for a time.
        const std::string first = co_await serve.stdout->readline();
        std::smatch m;
        if (!std::regex_search(first, m, std::regex(R"(on (http://\S+/) )"))) {
            serve.kill();
            (void)co_await serve.wait();
            throw std::runtime_error("serve said: " + first);
        }
        const std::string base = m[1];
        std::vector<std::string> args{"fetch", "--progress", "bar", "-o", target, "-c", "2"};
        for (int i = 1; i <= 4; ++i)
            args.push_back(base + "pages/" + std::to_string(i));
        args.push_back(base + "bytes/100000");
        aiotest::ProcResult got = co_await aio::wait_for(aiotest::run_process(AIO_CLI, std::move(args)), 30s);
        serve.terminate();
        const std::string rest = co_await serve.stdout->read();
        EXPECT_EQ(co_await serve.wait(), 0) << rest;
        co_return got;
    }(out));
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(r.err, "");
    // One line redrawn in place, ending on every file, then the summary on a line of its own.
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(R"(\r\x1b\[K\[#+\] 5/5 files  [0-9.]+ KiB  [0-9.]+ [KMG]?i?B/s\n5 ok, 0 failed, )")))
        << r.out;
    EXPECT_EQ(r.out.find("] ok: "), std::string::npos) << "the bar shows no line per file: " << r.out;
    aio::app::SiteOptions so;
    so.pages = 4;
    for (size_t i = 1; i <= 4; ++i)
        EXPECT_EQ(slurp(out + "/" + std::to_string(i)), aio::app::page_html(i, so));
    EXPECT_EQ(slurp(out + "/100000"), aio::app::deterministic_bytes(0, 100000));
}

// Ctrl-C while a download is stuck mid-body: status 130, one line saying the .part files are
// kept, no file under the final name, and no hang.
TEST(FetchCommand, CtrlCIsOneLineAndStatus130) {
    aiotest::TempDir dir;
    aiotest::ProcResult r = aiotest::run_net([](std::string target) -> aio::Task<aiotest::ProcResult> {
        aiotest::TestServer server;
        aio::Event arrived, release;
        server.app.router().add_get("/slow.bin", [&](aio::http::Request req) -> aio::Task<aio::http::Response> {
            aio::http::StreamResponse resp;
            resp.set_content_length(100000);
            co_await resp.prepare(req);
            const std::string start = aio::app::deterministic_bytes(0, 1000);
            co_await resp.write(start);
            arrived.set();
            co_await release.wait();
            throw std::runtime_error("the client is gone");
        });
        co_await server.start();
        aio::SubprocessOptions so;
        so.stdout_ = aio::PIPE;
        so.stderr_ = aio::PIPE;
        so.stdin_ = aio::DEVNULL;
        std::vector<std::string> args{"fetch", server.url("/slow.bin"), "-o", target};
        aio::Process fetch = co_await aio::create_subprocess_exec(AIO_CLI, std::move(args), std::move(so));
        co_await arrived.wait();
        fetch.send_signal(SIGINT);
        aio::CommunicateResult res = co_await fetch.communicate();
        const int code = co_await fetch.wait();
        release.set();
        co_await server.stop();
        co_return aiotest::ProcResult{code, res.stdout_data.value_or(""), res.stderr_data.value_or("")};
    }(dir.path()));
    EXPECT_EQ(r.code, 130) << r.out << r.err;
    EXPECT_EQ(r.err, "aiocpp fetch: interrupted; unfinished downloads are kept as NAME.part in " + dir.path() +
                         " and resume on the next run\n");
    EXPECT_FALSE(aiotest::file_exists(dir.path() + "/slow.bin"));
}

TEST(FetchCommand, BadInputIsOneLineAndStatusTwo) {
    aiotest::TempDir dir;
    write_file(dir.path() + "/empty", "\n# none\n");
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"fetch"}, "aiocpp fetch: no URL: give URLs or --urls FILE\n"},
        {{"fetch", "http://"}, ""},
        {{"fetch", "not-a-url"}, "aiocpp fetch: 'not-a-url': not an http or https URL\n"},
        {{"fetch", "--urls", dir.path() + "/empty"}, "aiocpp fetch: --urls: " + dir.path() + "/empty holds no URL\n"},
        {{"fetch", "--urls", dir.path() + "/none"},
         "aiocpp fetch: --urls: cannot read " + dir.path() + "/none: No such file or directory\n"},
        {{"fetch", "http://h/", "--concurrency", "0"}, ""},
        {{"fetch", "http://h/", "--timeout", "0"}, ""},
        {{"fetch", "http://h/", "--progress", "fancy"}, ""},
    };
    for (const auto& [args, expected] : cases) {
        const aiotest::ProcResult r = run_cli(args);
        EXPECT_EQ(r.code, 2) << args.back() << ": " << r.err;
        EXPECT_TRUE(r.err.starts_with("aiocpp fetch: ")) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        if (!expected.empty()) {
            EXPECT_EQ(r.err, expected);
        }
        EXPECT_EQ(r.out, "");
    }
}

TEST(FetchCommand, UnreachableHostIsAFailedLineAndStatusOne) {
    aiotest::TempDir dir;
    const std::string url = "http://127.0.0.1:" + std::to_string(aiotest::unused_port()) + "/file";
    const aiotest::ProcResult r = run_cli({"fetch", url, "-o", dir.path(), "--retries", "1", "--backoff", "1ms"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "");
    EXPECT_TRUE(std::regex_search(
        r.out,
        std::regex(
            R"(\nfailed: http://127\.0\.0\.1:[0-9]+/file: cannot connect to host 127\.0\.0\.1:[0-9]+: [^\n]*Connection refused\n$)")))
        << r.out;
    EXPECT_NE(r.out.find("retry 1/1 in "), std::string::npos) << r.out;
}

TEST(FetchCommand, ReadOnlyDirectoryIsOneLineNamingTheCause) {
    aiotest::TempDir dir;
    const std::string ro = dir.path() + "/ro";
    ::mkdir(ro.c_str(), 0555);
    ::chmod(ro.c_str(), 0555);
    // Root writes anywhere: run the command as nobody for a directory that is read-only to it.
    std::vector<std::string> prefix;
    std::string program = AIO_CLI;
    if (::geteuid() == 0) {
        if (!aiotest::have_program("/usr/bin/setpriv")) GTEST_SKIP() << "root, and no setpriv to drop it";
        ::chmod(dir.path().c_str(), 0755);
        prefix = {"--reuid=65534", "--regid=65534", "--clear-groups", AIO_CLI};
        program = "/usr/bin/setpriv";
    }
    for (const std::string& target : {ro, ro + "/sub"}) {
        std::vector<std::string> args = prefix;
        for (const std::string& a :
             {std::string("fetch"), std::string("http://127.0.0.1:9/x"), std::string("-o"), target})
            args.push_back(a);
        const aiotest::ProcResult r = run_cli(args, program);
        EXPECT_EQ(r.code, 1) << r.err;
        const std::string expected =
            target == ro ? "aiocpp fetch: cannot write to the output directory " + ro + ": Permission denied\n"
                         : "aiocpp fetch: cannot create the output directory " + target + ": Permission denied\n";
        EXPECT_EQ(r.err, expected);
        EXPECT_EQ(r.out, "");
    }
}
#endif

}  // namespace
