// web.FileResponse and router.add_static (include/aio/http/web_fileresponse.hpp): the bytes
// (through sendfile), ranges, conditional requests, and every way out of the static root —
// against curl and raw requests.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "web_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::FileResponse;
using aio::http::Request;
using aio::http::Response;

namespace {

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

// The value of header `name` in the first response of `raw` ("" if absent).
std::string header_of(const std::string& raw, const std::string& name) {
    const size_t end = raw.find("\r\n\r\n");
    std::string lname = name + ":";
    for (size_t pos = raw.find("\r\n"); pos != std::string::npos && pos < end; pos = raw.find("\r\n", pos + 2)) {
        const size_t eol = raw.find("\r\n", pos + 2);
        std::string line = raw.substr(pos + 2, eol - pos - 2);
        if (line.size() > lname.size() && strncasecmp(line.c_str(), lname.c_str(), lname.size()) == 0) {
            std::string v = line.substr(lname.size());
            while (!v.empty() && v.front() == ' ') v.erase(0, 1);
            return v;
        }
    }
    return "";
}

std::string body_of(const std::string& raw) {
    const size_t end = raw.find("\r\n\r\n");
    return end == std::string::npos ? "" : raw.substr(end + 4);
}

std::string get(const std::string& path, const std::string& extra = "", const std::string& method = "GET") {
    return method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "Connection: close\r\n\r\n";
}

// A site root with files, a subdirectory, and links in and out of it.
struct Site {
    aiotest::TempDir dir;
    std::string root = dir.path() + "/root";
    std::string outside = dir.path() + "/secret.txt";
    std::string big = random_bytes(4 << 20, 7);
    Site() {
        ::mkdir(root.c_str(), 0755);
        ::mkdir((root + "/sub").c_str(), 0755);
        write_file(root + "/hello.txt", "hello, static\n");
        write_file(root + "/sub/page.html", "<p>page</p>");
        write_file(root + "/big.bin", big);
        write_file(outside, "top secret");
        (void)::symlink(outside.c_str(), (root + "/escape.txt").c_str());
        (void)::symlink("hello.txt", (root + "/alias.txt").c_str());
        (void)::symlink(dir.path().c_str(), (root + "/updir").c_str());
    }
};

}  // namespace

TEST(FileResponse, SendsTheFileWithValidatorsAndAGuessedType) {
    Site s;
    aiotest::run_net([&]() -> aio::Task<void> {
        aiotest::TestServer srv;
        std::string big = s.root + "/big.bin", hello = s.root + "/hello.txt";
        srv.app.router().add_get("/big", [big](Request) -> aio::Task<Response> { co_return FileResponse(big); });
        srv.app.router().add_get("/hello", [hello](Request) -> aio::Task<Response> { co_return FileResponse(hello); });
        co_await srv.start();
        std::string raw = co_await aiotest::raw_exchange(srv.port, get("/hello"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        EXPECT_EQ(body_of(raw), "hello, static\n");
        EXPECT_EQ(header_of(raw, "Content-Length"), "14");
        EXPECT_EQ(header_of(raw, "Content-Type"), "text/plain");
        EXPECT_EQ(header_of(raw, "Accept-Ranges"), "bytes");
        EXPECT_FALSE(header_of(raw, "ETag").empty());
        EXPECT_NE(header_of(raw, "Last-Modified").find(" GMT"), std::string::npos);
        // curl, a real client, takes the 4 MiB file whole.
        aiotest::TempDir out;
        std::vector<std::string> args{"-s", "-o", out.path() + "/got", "-w", "%{http_code} %{size_download}", srv.url("/big")};
        auto r = co_await aiotest::run_process("curl", std::move(args));
        EXPECT_EQ(r.out, "200 " + std::to_string(s.big.size()));
        std::ifstream in(out.path() + "/got", std::ios::binary);
        std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_TRUE(got == s.big) << got.size();
        co_await srv.stop();
    }());
}

TEST(FileResponse, RangesGive206Or416AndIfRangeGuardsThem) {
    Site s;
    aiotest::run_net([&]() -> aio::Task<void> {
        aiotest::TestServer srv;
        std::string big = s.root + "/big.bin";
        srv.app.router().add_get("/big", [big](Request) -> aio::Task<Response> { co_return FileResponse(big); });
        co_await srv.start();
        const std::string size = std::to_string(s.big.size());
        std::string raw = co_await aiotest::raw_exchange(srv.port, get("/big", "Range: bytes=10-19\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 206);
        EXPECT_EQ(header_of(raw, "Content-Range"), "bytes 10-19/" + size);
        EXPECT_TRUE(body_of(raw) == s.big.substr(10, 10));
        raw = co_await aiotest::raw_exchange(srv.port, get("/big", "Range: bytes=-5\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 206);
        EXPECT_TRUE(body_of(raw) == s.big.substr(s.big.size() - 5));
        raw = co_await aiotest::raw_exchange(srv.port, get("/big", "Range: bytes=" + size + "-\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 416);
        EXPECT_EQ(header_of(raw, "Content-Range"), "bytes */" + size);
        // Several ranges, or a range we cannot read: the whole file (RFC 9110 lets us ignore it).
        raw = co_await aiotest::raw_exchange(srv.port, get("/big", "Range: bytes=0-1,5-6\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        EXPECT_EQ(body_of(raw).size(), s.big.size());
        raw = co_await aiotest::raw_exchange(srv.port, get("/big", "Range: pages=1\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        // If-Range with the current ETag: the range; with another: the whole (changed) file.
        std::string first = co_await aiotest::raw_exchange(srv.port, get("/big", "", "HEAD"));
        const std::string etag = header_of(first, "ETag");
        raw = co_await aiotest::raw_exchange(srv.port, get("/big", "Range: bytes=0-3\r\nIf-Range: " + etag + "\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 206);
        raw = co_await aiotest::raw_exchange(srv.port, get("/big", "Range: bytes=0-3\r\nIf-Range: \"other\"\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        // curl's own range request (curl -r), as a download manager resumes.
        std::vector<std::string> args{"-s", "-r", "1000-1999", srv.url("/big")};
        auto r = co_await aiotest::run_process("curl", std::move(args));
        EXPECT_TRUE(r.out == s.big.substr(1000, 1000)) << r.out.size();
        co_await srv.stop();
    }());
}

TEST(FileResponse, ConditionalRequestsGive304And412) {
    Site s;
    aiotest::run_net([&]() -> aio::Task<void> {
        aiotest::TestServer srv;
        std::string hello = s.root + "/hello.txt";
        srv.app.router().add_get("/hello", [hello](Request) -> aio::Task<Response> { co_return FileResponse(hello); });
        co_await srv.start();
        std::string first = co_await aiotest::raw_exchange(srv.port, get("/hello"));
        const std::string etag = header_of(first, "ETag"), modified = header_of(first, "Last-Modified");
        std::string raw = co_await aiotest::raw_exchange(srv.port, get("/hello", "If-None-Match: " + etag + "\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 304);
        EXPECT_EQ(body_of(raw), "");
        EXPECT_EQ(header_of(raw, "ETag"), etag);
        raw = co_await aiotest::raw_exchange(srv.port, get("/hello", "If-None-Match: \"x\", W/" + etag + "\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 304) << "weak comparison for If-None-Match";
        raw = co_await aiotest::raw_exchange(srv.port, get("/hello", "If-Modified-Since: " + modified + "\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 304);
        raw = co_await aiotest::raw_exchange(srv.port, get("/hello", "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        raw = co_await aiotest::raw_exchange(srv.port, get("/hello", "If-Modified-Since: yesterday\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 200) << "a date we cannot read is ignored";
        raw = co_await aiotest::raw_exchange(srv.port, get("/hello", "If-Match: \"nope\"\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 412);
        raw = co_await aiotest::raw_exchange(srv.port, get("/hello", "If-Match: " + etag + "\r\n"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        co_await srv.stop();
    }());
}

TEST(FileResponse, HeadAndPipelinedRequestsKeepTheConnectionInStep) {
    Site s;
    aiotest::run_net([&]() -> aio::Task<void> {
        aiotest::TestServer srv;
        std::string big = s.root + "/big.bin";
        srv.app.router().add_get("/big", [big](Request) -> aio::Task<Response> { co_return FileResponse(big); });
        srv.app.router().add_get("/after", [](Request) -> aio::Task<Response> { co_return Response("after"); });
        co_await srv.start();
        std::string raw = co_await aiotest::raw_exchange(srv.port, get("/big", "", "HEAD"));
        EXPECT_EQ(header_of(raw, "Content-Length"), std::to_string(s.big.size()));
        EXPECT_EQ(body_of(raw), "");
        // Three on one connection: the file's bytes sit between the other two answers.
        std::string three = "GET /after HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n" + get("/after");
        raw = co_await aiotest::raw_exchange(srv.port, three);
        const std::string first_end = "\r\n\r\nafter";
        const size_t a = raw.find(first_end);
        NET_CO_ASSERT(a != std::string::npos);
        const std::string rest = raw.substr(a + first_end.size());
        EXPECT_EQ(aiotest::status_of(rest), 200);
        const std::string body = body_of(rest);
        NET_CO_ASSERT(body.size() > s.big.size());
        EXPECT_TRUE(body.compare(0, s.big.size(), s.big) == 0);
        const std::string third = body.substr(s.big.size());
        EXPECT_EQ(aiotest::status_of(third), 200);
        EXPECT_EQ(body_of(third), "after");
        co_await srv.stop();
    }());
}

TEST(FileResponse, MissingIs404DirectoryIs403AndAVanishingClientLeavesTheServerServing) {
    Site s;
    const int fds_before = aiotest::open_fds();
    aiotest::run_net([&]() -> aio::Task<void> {
        aiotest::TestServer srv;
        std::string root = s.root;
        srv.app.router().add_get("/f/{name}", [root](Request r) -> aio::Task<Response> {
            co_return FileResponse(root + "/" + r.match_info()["name"]);
        });
        srv.app.router().add_get("/dir", [root](Request) -> aio::Task<Response> { co_return FileResponse(root); });
        co_await srv.start();
        EXPECT_EQ(aiotest::status_of(co_await aiotest::raw_exchange(srv.port, get("/f/none.txt"))), 404);
        EXPECT_EQ(aiotest::status_of(co_await aiotest::raw_exchange(srv.port, get("/dir"))), 403);
        // A client that asks for 4 MiB, reads a little and resets.
        {
            aio::Socket c(AF_INET, SOCK_STREAM);
            co_await aio::sock_connect(c.fileno(), aio::SockAddr::ip("127.0.0.1", srv.port));
            co_await aio::sock_sendall(c.fileno(), get("/f/big.bin"));
            std::string some = co_await aio::sock_recv(c.fileno(), 1000);
            EXPECT_FALSE(some.empty());
            aiotest::reset_and_close(c);
        }
        std::string raw = co_await aiotest::raw_exchange(srv.port, get("/f/hello.txt"));
        EXPECT_EQ(body_of(raw), "hello, static\n");
        co_await srv.stop();
    }());
    EXPECT_EQ(aiotest::open_fds(), fds_before) << "every file and socket closed";
}

TEST(StaticFiles, ServesFilesUnderTheRootAndNothingOutsideIt) {
    Site s;
    aiotest::run_net([&]() -> aio::Task<void> {
        aiotest::TestServer srv;
        srv.app.router().add_static("/static", s.root);
        co_await srv.start();
        auto status = [&](std::string path) -> aio::Task<int> {
            co_return aiotest::status_of(co_await aiotest::raw_exchange(srv.port, get(path)));
        };
        std::string raw = co_await aiotest::raw_exchange(srv.port, get("/static/sub/page.html"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        EXPECT_EQ(body_of(raw), "<p>page</p>");
        EXPECT_EQ(header_of(raw, "Content-Type"), "text/html");
        EXPECT_EQ(co_await status("/static/alias.txt"), 200) << "a link inside the root";
        EXPECT_EQ(co_await status("/static/sub/../hello.txt"), 403);
        EXPECT_EQ(co_await status("/static/../secret.txt"), 403);
        EXPECT_EQ(co_await status("/static/%2e%2e/secret.txt"), 403);
        EXPECT_EQ(co_await status("/static/sub%2F..%2F..%2Fsecret.txt"), 403);
        EXPECT_EQ(co_await status("/static/sub%5cpage.html"), 403);
        EXPECT_EQ(co_await status("/static//etc/passwd"), 403);
        EXPECT_EQ(co_await status("/static/escape.txt"), 404) << "a link leading out of the root";
        EXPECT_EQ(co_await status("/static/updir/secret.txt"), 404) << "a directory link leading out";
        EXPECT_EQ(co_await status("/static/none"), 404);
        EXPECT_EQ(co_await status("/static/sub"), 403) << "no index unless show_index";
        EXPECT_EQ(co_await status("/static/hello.txt%00"), 400);
        // curl agrees on what a normal file is.
        std::vector<std::string> args{"-s", srv.url("/static/hello.txt")};
        auto r = co_await aiotest::run_process("curl", std::move(args));
        EXPECT_EQ(r.out, "hello, static\n");
        co_await srv.stop();
    }());
}

TEST(StaticFiles, FollowSymlinksAndShowIndexAreOptIn) {
    Site s;
    write_file(s.root + "/sub/a <b>.txt", "x");
    aiotest::run_net([&]() -> aio::Task<void> {
        aiotest::TestServer srv;
        aio::http::StaticOptions o;
        o.follow_symlinks = true;
        o.show_index = true;
        srv.app.router().add_static("/s/", s.root, o);
        co_await srv.start();
        std::string raw = co_await aiotest::raw_exchange(srv.port, get("/s/escape.txt"));
        EXPECT_EQ(body_of(raw), "top secret");
        EXPECT_EQ(aiotest::status_of(co_await aiotest::raw_exchange(srv.port, get("/s/../secret.txt"))), 403)
            << "following links never allows climbing with ..";
        raw = co_await aiotest::raw_exchange(srv.port, get("/s/sub/"));
        EXPECT_EQ(aiotest::status_of(raw), 200);
        const std::string page = body_of(raw);
        EXPECT_NE(page.find("Index of /sub"), std::string::npos) << page;
        EXPECT_NE(page.find("href=\"/s/sub/page.html\""), std::string::npos) << page;
        EXPECT_NE(page.find("href=\"/s/sub/a%20%3Cb%3E.txt\">a &lt;b&gt;.txt</a>"), std::string::npos) << page;
        co_await srv.stop();
    }());
    EXPECT_THROW(aio::http::Application().router().add_static("/x", s.root + "/hello.txt"), std::invalid_argument);
    EXPECT_THROW(aio::http::Application().router().add_static("x", s.root), std::invalid_argument);
}

TEST(FileResponse, OverTlsTheFallbackSendsTheWholeFile) {
    Site s;
    const std::string cert = s.dir.path() + "/cert.pem", key = s.dir.path() + "/key.pem";
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                            "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout '" + key + "' -out '" +
                            cert + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl could not make a certificate";
    aiotest::run_net([&]() -> aio::Task<void> {
        aio::http::Application app;
        app.router().add_static("/static", s.root);
        aio::http::AppRunner runner(app);
        co_await runner.setup();
        aio::http::TCPSiteOptions o;
        o.ssl = aio::SSLContext::server(cert, key);
        aio::http::TCPSite site(runner, "127.0.0.1", 0, o);
        co_await site.start();
        const std::string port = std::to_string(site.port());
        aiotest::TempDir out;
        std::vector<std::string> args{"-s", "--cacert", cert, "--resolve", "localhost:" + port + ":127.0.0.1", "-o",
                                      out.path() + "/got", "-w", "%{http_code}", "-r", "5-", "https://localhost:" + port + "/static/big.bin"};
        auto r = co_await aiotest::run_process("curl", std::move(args));
        EXPECT_EQ(r.out, "206");
        std::ifstream in(out.path() + "/got", std::ios::binary);
        std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_TRUE(got == s.big.substr(5)) << got.size();
        site.stop();
        co_await runner.cleanup();
    }());
}
