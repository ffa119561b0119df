// The client's cookie jar: RFC 6265's domain, path, expiry and Secure rules on a clock the test
// controls, then a ClientSession keeping a login cookie across a redirect from aiocpp's server.
#include <gtest/gtest.h>

#include <aio/http/client.hpp>

#include "web_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::CookieJar;
using aio::http::Headers;
using aio::http::URL;

namespace {

struct FakeClock {
    std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1'700'000'000);
    CookieJar::Clock fn() {
        return [this] { return now; };
    }
};

Headers set_cookies(std::initializer_list<const char*> lines) {
    Headers h;
    for (const char* l : lines) h.add("Set-Cookie", l);
    return h;
}

TEST(CookieJar, HostOnlyAndDomainCookiesGoWhereTheyMay) {
    FakeClock clock;
    CookieJar jar(false, clock.fn());
    jar.update_cookies(set_cookies({"a=1", "b=2; Domain=example.com", "c=3; Domain=.EXAMPLE.com",
                                    "evil=4; Domain=other.org", "bare"}),
                       URL("http://www.example.com/x"));
    EXPECT_EQ(jar.size(), 3u);  // other.org does not cover www.example.com; "bare" has no '='
    EXPECT_EQ(jar.cookie_header(URL("http://www.example.com/")), "a=1; b=2; c=3");
    EXPECT_EQ(jar.cookie_header(URL("http://api.example.com/")), "b=2; c=3");  // a is host-only
    EXPECT_EQ(jar.cookie_header(URL("http://example.com/")), "b=2; c=3");
    EXPECT_EQ(jar.cookie_header(URL("http://notexample.com/")), "");
    EXPECT_EQ(jar.cookie_header(URL("http://other.org/")), "");
}

TEST(CookieJar, PathsMatchBySegmentAndLongerPathsComeFirst) {
    FakeClock clock;
    CookieJar jar(false, clock.fn());
    jar.update_cookies(set_cookies({"root=r; Path=/", "docs=d; Path=/docs", "deflt=x"}),
                       URL("http://h.test/docs/page"));
    EXPECT_EQ(jar.cookie_header(URL("http://h.test/docs/page")), "docs=d; deflt=x; root=r");
    EXPECT_EQ(jar.cookie_header(URL("http://h.test/docs")), "docs=d; deflt=x; root=r");
    EXPECT_EQ(jar.cookie_header(URL("http://h.test/docsx")), "root=r");  // not a segment boundary
    EXPECT_EQ(jar.cookie_header(URL("http://h.test/")), "root=r");
}

TEST(CookieJar, MaxAgeAndExpiresFollowTheClockAndCanDelete) {
    FakeClock clock;
    CookieJar jar(false, clock.fn());
    URL u("http://h.test/");
    jar.update_cookies(set_cookies({"short=1; Max-Age=60", "long=2; Expires=Wed, 21 Oct 2099 07:28:00 GMT",
                                    "past=3; Expires=Wed, 21 Oct 2015 07:28:00 GMT", "session=4"}),
                       u);
    EXPECT_EQ(jar.cookie_header(u), "short=1; long=2; session=4");
    clock.now += 61s;
    EXPECT_EQ(jar.cookie_header(u), "long=2; session=4");
    jar.update_cookies(set_cookies({"long=gone; Max-Age=0"}), u);  // deletion
    EXPECT_EQ(jar.cookie_header(u), "session=4");
    jar.update_cookies(set_cookies({"session=5"}), u);  // replaced in place
    EXPECT_EQ(jar.cookie_header(u), "session=5");
    EXPECT_EQ(jar.size(), 1u);
}

TEST(CookieJar, SecureCookiesOnlyOverHttpsAndIpHostsOnlyWhenUnsafe) {
    FakeClock clock;
    CookieJar jar(false, clock.fn());
    jar.update_cookies(set_cookies({"s=1; Secure; HttpOnly", "p=2"}), URL("https://h.test/"));
    EXPECT_EQ(jar.cookie_header(URL("https://h.test/")), "s=1; p=2");
    EXPECT_EQ(jar.cookie_header(URL("http://h.test/")), "p=2");
    jar.update_cookies(set_cookies({"ip=1"}), URL("http://127.0.0.1:8080/"));
    EXPECT_EQ(jar.cookie_header(URL("http://127.0.0.1:8080/")), "");  // aiohttp's default too
    CookieJar unsafe(true, clock.fn());
    unsafe.update_cookies(set_cookies({"ip=1"}), URL("http://127.0.0.1:8080/"));
    EXPECT_EQ(unsafe.cookie_header(URL("http://127.0.0.1:9/")), "ip=1");
}

TEST(CookieJar, ASessionKeepsALoginCookieAcrossARedirect) {
    aiotest::run_net([]() -> aio::Task<void> {
        aiotest::TestServer s;
        s.app.router().add_post("/login", [](aio::http::Request) -> aio::Task<aio::http::Response> {
            aio::http::Response r("", 302);
            r.headers().set("Location", "/me");
            r.set_cookie("sid", "s3cret", "/", 3600, true);
            co_return r;
        });
        s.app.router().add_get("/me", [](aio::http::Request req) -> aio::Task<aio::http::Response> {
            co_return aio::http::Response("cookie: " + req.headers().get("Cookie", "(none)"));
        });
        co_await s.start();
        std::string base = "http://localhost:" + std::to_string(s.port);
        std::string before, after;
        {
            aio::http::ClientSession session;
            before = co_await (co_await session.get(base + "/me")).text();
            aio::http::ClientResponse r = co_await session.post(base + "/login");
            after = co_await r.text();
            EXPECT_EQ(r.history().size(), 1u);
            EXPECT_EQ(session.cookie_jar().size(), 1u);
        }
        // An IP host's cookies are dropped by the default jar; a jar made unsafe keeps them.
        aio::http::ClientSessionOptions o;
        o.cookie_jar = std::make_shared<CookieJar>(true);
        aio::http::ClientSession by_ip(o);
        (void)co_await by_ip.post(s.url("/login"));
        std::string ip_after = co_await (co_await by_ip.get(s.url("/me"))).text();
        co_await s.stop();
        EXPECT_EQ(before, "cookie: (none)");
        EXPECT_EQ(after, "cookie: sid=s3cret");
        EXPECT_EQ(ip_after, "cookie: sid=s3cret");
    }());
}

}  // namespace
