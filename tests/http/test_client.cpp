// aio::http::ClientSession and ClientResponse against a real server (CPython's http.server,
// tests/http/peers/client_peer.py): requests, bodies, errors, redirects.
#include <gtest/gtest.h>

#include <aio/http/client.hpp>
#include <nlohmann/json.hpp>

#include "test_client_util.hpp"

using namespace std::chrono_literals;
using aio::http::ClientResponse;
using aio::http::ClientSession;
using aio::http::ClientSessionOptions;
using aio::http::RequestOptions;
using aiotest::peer;
using aiotest::run_net;
using nlohmann::json;

namespace {

/// The value of header `name` in an /echo answer ("" if absent), compared without case.
std::string echoed_header(const json& echo, const std::string& name) {
    for (const auto& kv : echo["headers"])
        if (aio::http::iequals(kv[0].get<std::string>(), name)) return kv[1].get<std::string>();
    return "";
}
bool has_echoed_header(const json& echo, const std::string& name) {
    for (const auto& kv : echo["headers"])
        if (aio::http::iequals(kv[0].get<std::string>(), name)) return true;
    return false;
}

}  // namespace

TEST(HttpClient, GetHello) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/hello"));
        EXPECT_EQ(r.status(), 200);
        EXPECT_EQ(r.reason(), "OK");
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r.version(), (aio::http::HttpVersion{1, 1}));
        EXPECT_EQ(r.headers().get("Content-Length"), "5");
        EXPECT_EQ(r.content_type(), "text/plain");
        EXPECT_EQ(r.content_length(), 5u);
        EXPECT_EQ(r.url().str(), peer().url("/hello"));
        EXPECT_EQ(r.method(), "GET");
        EXPECT_EQ(co_await r.text(), "hello");
        EXPECT_EQ(co_await r.read(), "hello") << "the body is kept for a second read";
        EXPECT_TRUE(r.history().empty());
    }());
}

TEST(HttpClient, DefaultHeadersAndParams) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.headers.add("X-Session", "s");
        ClientSession session(so);
        RequestOptions o;
        o.params = {{"a", "1"}, {"b", "x y&z"}};
        o.headers.add("X-Request", "r");
        ClientResponse r = co_await session.get(peer().url("/echo?pre=0"), o);
        json echo = co_await r.json();
        EXPECT_EQ(echo["method"], "GET");
        EXPECT_EQ(echo["query"], json::parse(R"([["pre","0"],["a","1"],["b","x y&z"]])"));
        EXPECT_EQ(echoed_header(echo, "Host"), "127.0.0.1:" + std::to_string(peer().port()));
        EXPECT_EQ(echoed_header(echo, "User-Agent"), "aiocpp/0.1");
        EXPECT_EQ(echoed_header(echo, "Accept"), "*/*");
        EXPECT_EQ(echoed_header(echo, "Accept-Encoding"), "gzip, deflate");
        EXPECT_EQ(echoed_header(echo, "X-Session"), "s");
        EXPECT_EQ(echoed_header(echo, "X-Request"), "r");
        EXPECT_FALSE(has_echoed_header(echo, "Content-Length")) << "a GET without a body sends no length";
    }());
}

TEST(HttpClient, HeaderInjectionIsRefused) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        RequestOptions o;
        o.headers.add("X-Evil", "a\r\nInjected: yes");
        auto e = co_await aiotest::capture<std::invalid_argument>(session.get(peer().url("/echo"), o));
        EXPECT_TRUE(e.has_value());
    }());
}

TEST(HttpClient, BodiesOfEveryKind) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        {
            RequestOptions o;
            o.data = std::string("raw\0bytes", 9);
            ClientResponse r = co_await session.post(peer().url("/echo"), o);
            json echo = co_await r.json();
            EXPECT_EQ(echo["method"], "POST");
            EXPECT_EQ(echo["body"], std::string("raw\0bytes", 9));
            EXPECT_EQ(echoed_header(echo, "Content-Length"), "9");
            EXPECT_EQ(echoed_header(echo, "Content-Type"), "application/octet-stream");
        }
        {
            RequestOptions o;
            o.json = json{{"k", "v"}, {"n", 3}};
            ClientResponse r = co_await session.put(peer().url("/echo"), o);
            json echo = co_await r.json();
            EXPECT_EQ(echo["method"], "PUT");
            EXPECT_EQ(json::parse(echo["body"].get<std::string>()), (json{{"k", "v"}, {"n", 3}}));
            EXPECT_EQ(echoed_header(echo, "Content-Type"), "application/json");
        }
        {
            RequestOptions o;
            o.form = std::vector<std::pair<std::string, std::string>>{{"name", "a b"}, {"x", "1&2=3"}};
            ClientResponse r = co_await session.post(peer().url("/form"), o);
            EXPECT_EQ(co_await r.json(), json::parse(R"([["name","a b"],["x","1&2=3"]])"));
        }
        {
            RequestOptions o;
            o.multipart.emplace();
            o.multipart->add_field("field", "value");
            o.multipart->add_field("upload", std::string("\x01\x02 file\r\n--not-a-boundary", 26), "a.bin");
            o.multipart->add_field("doc", "{}", "d.json", "application/json");
            ClientResponse r = co_await session.post(peer().url("/multipart"), o);
            json fields = co_await r.json();
            EXPECT_EQ(fields.size(), 3u);
            EXPECT_EQ(fields[0]["name"], "field");
            EXPECT_EQ(fields[0]["data"], "value");
            EXPECT_TRUE(fields[0]["filename"].is_null());
            EXPECT_EQ(fields[1]["name"], "upload");
            EXPECT_EQ(fields[1]["filename"], "a.bin");
            EXPECT_EQ(fields[1]["content_type"], "application/octet-stream");
            EXPECT_EQ(fields[1]["data"], std::string("\x01\x02 file\r\n--not-a-boundary", 26));
            EXPECT_EQ(fields[2]["content_type"], "application/json");
        }
        {
            RequestOptions o;
            o.data = "sent in chunks";
            o.chunked = true;
            ClientResponse r = co_await session.patch(peer().url("/echo"), o);
            json echo = co_await r.json();
            EXPECT_EQ(echo["method"], "PATCH");
            EXPECT_EQ(echo["body"], "sent in chunks");
            EXPECT_EQ(echoed_header(echo, "Transfer-Encoding"), "chunked");
            EXPECT_FALSE(has_echoed_header(echo, "Content-Length"));
        }
        {
            ClientResponse r = co_await session.post(peer().url("/echo"));
            json echo = co_await r.json();
            EXPECT_EQ(echoed_header(echo, "Content-Length"), "0") << "POST without data: Content-Length 0";
        }
        {
            RequestOptions o;
            o.data = "x";
            o.json = json(1);
            auto e = co_await aiotest::capture<std::invalid_argument>(session.post(peer().url("/echo"), o));
            EXPECT_TRUE(e.has_value()) << "two bodies at once";
        }
    }());
}

TEST(HttpClient, OtherMethods) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse d = co_await session.delete_(peer().url("/echo"));
        EXPECT_EQ((co_await d.json())["method"], "DELETE");
        ClientResponse o = co_await session.options(peer().url("/echo"));
        EXPECT_EQ((co_await o.json())["method"], "OPTIONS");
        ClientResponse c = co_await session.request("custom", peer().url("/echo"));
        EXPECT_EQ((co_await c.json())["method"], "CUSTOM") << "methods are upper-cased";
        // HEAD: a Content-Length but no body; the connection stays usable.
        ClientResponse h = co_await session.head(peer().url("/hello"));
        EXPECT_EQ(h.status(), 200);
        EXPECT_EQ(h.headers().get("Content-Length"), "5");
        EXPECT_EQ(co_await h.read(), "");
        ClientResponse after = co_await session.get(peer().url("/hello"));
        EXPECT_EQ(co_await after.text(), "hello");
        EXPECT_EQ(session.connector_stats().opened, 1u) << "HEAD left the connection reusable";
    }());
}

TEST(HttpClient, ResponseBodies) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse chunked = co_await session.get(peer().url("/chunked"));
        EXPECT_EQ(co_await chunked.text(), "line one\nline two\n" + std::string(5000, 'x') + "\nend");
        ClientResponse closed = co_await session.get(peer().url("/close-delimited"));
        EXPECT_EQ(closed.version(), (aio::http::HttpVersion{1, 0}));
        EXPECT_EQ(co_await closed.text(), "until the close");
        ClientResponse gz = co_await session.get(peer().url("/gzip"));
        std::string expected;
        for (int i = 0; i < 1000; ++i)
            expected += "compressed ";
        EXPECT_EQ(co_await gz.read(), expected);
        ClientResponse df = co_await session.get(peer().url("/deflate"));
        expected.clear();
        for (int i = 0; i < 1000; ++i)
            expected += "deflated ";
        EXPECT_EQ(co_await df.read(), expected);
        ClientResponse raw = co_await session.get(peer().url("/raw-deflate"));
        expected.clear();
        for (int i = 0; i < 100; ++i)
            expected += "raw deflated ";
        EXPECT_EQ(co_await raw.read(), expected);
        ClientResponse big = co_await session.get(peer().url("/big?n=4000000"));
        std::string body = co_await big.read();
        EXPECT_EQ(body.size(), 4000000u);
        EXPECT_EQ(body.substr(body.size() - 16), "0123456789abcdef");
        ClientResponse early = co_await session.get(peer().url("/informational"));
        EXPECT_EQ(early.status(), 200) << "a 103 before the response is skipped";
        EXPECT_EQ(co_await early.text(), "final");
    }());
}

TEST(HttpClient, AutoDecompressOff) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.auto_decompress = false;
        ClientSession session(so);
        ClientResponse gz = co_await session.get(peer().url("/gzip"));
        std::string raw = co_await gz.read();
        NET_CO_ASSERT(raw.size() >= 2u);
        EXPECT_EQ(static_cast<unsigned char>(raw[0]), 0x1f);
        EXPECT_EQ(static_cast<unsigned char>(raw[1]), 0x8b);
    }());
}

TEST(HttpClient, Streaming) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/chunked"));
        EXPECT_EQ(co_await r.content().readline(), "line one\n");
        EXPECT_EQ(co_await r.content().readline(), "line two\n");
        auto chunks = r.content().iter_chunked(1000);
        size_t total = 0, count = 0;
        while (auto c = co_await chunks.next()) {
            EXPECT_LE(c->size(), 1000u);
            total += c->size();
            ++count;
        }
        EXPECT_EQ(total, 5004u);
        EXPECT_GE(count, 6u);
        EXPECT_TRUE(r.content().at_eof());

        // A large body read piece by piece (flow control pauses and resumes the socket).
        ClientResponse big = co_await session.get(peer().url("/big?n=3000000"));
        size_t got = 0;
        for (;;) {
            std::string piece = co_await big.content().read(100000);
            if (piece.empty()) break;
            got += piece.size();
        }
        EXPECT_EQ(got, 3000000u);
    }());
}

TEST(HttpClient, CutMidBodyIsAPayloadError) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/cut-mid-body"));
        EXPECT_EQ(r.status(), 200);
        auto e = co_await aiotest::capture<aio::http::ClientPayloadError>(r.read());
        NET_CO_ASSERT(e.has_value());
        EXPECT_NE(std::string(e->what()).find("not completed"), std::string::npos) << e->what();
        ClientResponse again = co_await session.get(peer().url("/cut-mid-body"));
        auto e2 = co_await aiotest::capture<aio::http::ClientPayloadError>(again.text());
        EXPECT_TRUE(e2.has_value());
    }());
}

TEST(HttpClient, BadChunkIsAPayloadError) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/bad-chunk"));
        auto e = co_await aiotest::capture<aio::http::ClientPayloadError>(r.read());
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(session.connector_stats().idle, 0u) << "the broken connection is not pooled";
    }());
}

TEST(HttpClient, CorruptGzipIsAPayloadError) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/bad-gzip"));
        auto e = co_await aiotest::capture<aio::http::ClientPayloadError>(r.read());
        NET_CO_ASSERT(e.has_value());
        EXPECT_NE(std::string(e->what()).find("gzip"), std::string::npos) << e->what();
    }());
}

TEST(HttpClient, MalformedStatusLine) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        auto e = co_await aiotest::capture<aio::http::ClientResponseError>(session.get(peer().url("/bad-status")));
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->status(), 400);
        EXPECT_NE(e->message().find("status"), std::string::npos) << e->message();
    }());
}

TEST(HttpClient, StatusAndRaiseForStatus) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/status/404"));
        EXPECT_EQ(r.status(), 404);
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(r.reason(), "Not Found");
        try {
            r.raise_for_status();
            ADD_FAILURE() << "raise_for_status did not throw";
        } catch (const aio::http::ClientResponseError& e) {
            EXPECT_EQ(e.status(), 404);
            EXPECT_EQ(e.message(), "Not Found");
        }
        ClientResponse fine = co_await session.get(peer().url("/status/204"));
        fine.raise_for_status();
        EXPECT_EQ(co_await fine.read(), "");

        RequestOptions o;
        o.raise_for_status = true;
        auto e = co_await aiotest::capture<aio::http::ClientResponseError>(session.get(peer().url("/status/503"), o));
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->status(), 503);

        ClientSessionOptions so;
        so.raise_for_status = true;
        ClientSession strict(so);
        auto e2 = co_await aiotest::capture<aio::http::ClientResponseError>(strict.get(peer().url("/status/418")));
        NET_CO_ASSERT(e2.has_value());
        EXPECT_EQ(e2->status(), 418);
    }());
}

TEST(HttpClient, TextCharsets) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/latin1"));
        EXPECT_EQ(r.charset(), "iso-8859-1");
        EXPECT_EQ(co_await r.text(), "caf\xc3\xa9 na\xc3\xafve") << "latin-1 converted to UTF-8";
        EXPECT_EQ(co_await r.text("utf-8"), "caf\xe9 na\xefve") << "an explicit encoding wins";
    }());
}

TEST(HttpClient, Json) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/json"));
        json j = co_await r.json();
        EXPECT_EQ(j["answer"], 42);
        ClientResponse p = co_await session.get(peer().url("/problem-json"));
        EXPECT_EQ((co_await p.json())["title"], "x") << "+json types are JSON";
        ClientResponse t = co_await session.get(peer().url("/not-json"));
        auto e = co_await aiotest::capture<aio::http::ContentTypeError>(t.json());
        NET_CO_ASSERT(e.has_value());
        EXPECT_NE(e->message().find("text/plain"), std::string::npos);
        EXPECT_EQ((co_await t.json(false))["a"], 1) << "json(false) skips the check";
    }());
}

TEST(HttpClient, Redirects) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/redirect/3"));
        EXPECT_EQ(r.status(), 200);
        EXPECT_EQ(r.url().path(), "/echo");
        NET_CO_ASSERT(r.history().size() == 3u);
        EXPECT_EQ(r.history()[0].status(), 302);
        EXPECT_EQ(r.history()[0].url().path(), "/redirect/3");
        EXPECT_EQ(r.history()[2].url().path(), "/redirect/1");

        RequestOptions no;
        no.allow_redirects = false;
        ClientResponse stay = co_await session.get(peer().url("/redirect/1"), no);
        EXPECT_EQ(stay.status(), 302);
        EXPECT_EQ(stay.headers().get("Location"), "/echo");

        // 303 (and 301/302) turn a POST into a GET without its body.
        RequestOptions post;
        post.data = "payload";
        std::string target = aio::http::quote(peer().url("/echo"), "");
        ClientResponse see_other = co_await session.post(peer().url("/redirect-to?status=303&url=" + target), post);
        json e1 = co_await see_other.json();
        EXPECT_EQ(e1["method"], "GET");
        EXPECT_EQ(e1["body"], "");
        EXPECT_FALSE(has_echoed_header(e1, "Content-Type"));
        ClientResponse moved = co_await session.post(peer().url("/redirect-to?status=301&url=" + target), post);
        EXPECT_EQ((co_await moved.json())["method"], "GET");
        // 307 and 308 keep the method and the body.
        for (const char* status : {"307", "308"}) {
            ClientResponse kept = co_await session.post(
                peer().url("/redirect-to?status=" + std::string(status) + "&url=" + target), post);
            json e2 = co_await kept.json();
            EXPECT_EQ(e2["method"], "POST") << status;
            EXPECT_EQ(e2["body"], "payload") << status;
        }
        // A 302 keeps HEAD.
        ClientResponse head = co_await session.head(peer().url("/redirect/1"));
        EXPECT_EQ(head.status(), 200);
        EXPECT_EQ(head.method(), "HEAD");
        EXPECT_EQ(head.history().size(), 1u);
    }());
}

TEST(HttpClient, RedirectLoopAndLimit) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        auto e = co_await aiotest::capture<aio::http::TooManyRedirects>(session.get(peer().url("/loop")));
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->status(), 302);
        RequestOptions o;
        o.max_redirects = 2;
        auto e2 = co_await aiotest::capture<aio::http::TooManyRedirects>(session.get(peer().url("/redirect/3"), o));
        EXPECT_TRUE(e2.has_value());
        ClientResponse ok = co_await session.get(peer().url("/redirect/2"), o);
        EXPECT_EQ(ok.history().size(), 2u) << "max_redirects redirects are followed";
        co_await ok.read();
        EXPECT_EQ(session.connector_stats().acquired, 0u) << "the redirect responses were released";
    }());
}

TEST(HttpClient, AuthorizationAndRedirectsAcrossOrigins) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        RequestOptions o;
        o.auth = aio::http::BasicAuth("user", "pa:ss");
        ClientResponse r = co_await session.get(peer().url("/echo"), o);
        EXPECT_EQ(echoed_header(co_await r.json(), "Authorization"), "Basic dXNlcjpwYTpzcw==");
        // Credentials in the URL are Basic auth too, and the URL keeps no password.
        ClientResponse u =
            co_await session.get("http://alice:secret@127.0.0.1:" + std::to_string(peer().port()) + "/echo");
        EXPECT_EQ(echoed_header(co_await u.json(), "Authorization"), "Basic YWxpY2U6c2VjcmV0");
        EXPECT_EQ(u.url().password(), "");
        // Same origin: kept. Another origin (localhost is not 127.0.0.1): dropped.
        std::string same = aio::http::quote(peer().url("/echo"), "");
        ClientResponse s = co_await session.get(peer().url("/redirect-to?url=" + same), o);
        EXPECT_EQ(echoed_header(co_await s.json(), "Authorization"), "Basic dXNlcjpwYTpzcw==");
        std::string other = aio::http::quote(peer().url("/echo", "http", "localhost"), "");
        ClientResponse x = co_await session.get(peer().url("/redirect-to?url=" + other), o);
        json echo = co_await x.json();
        EXPECT_FALSE(has_echoed_header(echo, "Authorization"));
        EXPECT_EQ(x.url().host(), "localhost");

        ClientSessionOptions so;
        so.auth = aio::http::BasicAuth("default");
        ClientSession with_auth(so);
        ClientResponse d = co_await with_auth.get(peer().url("/echo"));
        EXPECT_EQ(echoed_header(co_await d.json(), "Authorization"), "Basic ZGVmYXVsdDo=");
    }());
}

TEST(HttpClient, BaseUrlAndInvalidUrls) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSessionOptions so;
        so.base_url = aio::http::URL(peer().url("/api/v1/"));
        ClientSession session(so);
        ClientResponse r = co_await session.get("../../echo?q=1");
        json echo = co_await r.json();
        EXPECT_EQ(echo["path"], "/echo");
        ClientResponse abs = co_await session.get(peer().url("/hello"));
        EXPECT_EQ(co_await abs.text(), "hello");

        ClientSession plain;
        auto rel = co_await aiotest::capture<aio::http::InvalidURL>(plain.get("/relative"));
        EXPECT_TRUE(rel.has_value()) << "a relative URL without base_url";
        auto bad = co_await aiotest::capture<aio::http::InvalidURL>(plain.get("http://host:99999/"));
        EXPECT_TRUE(bad.has_value());
        auto ftp = co_await aiotest::capture<aio::http::InvalidURL>(plain.get("ftp://example.org/"));
        EXPECT_TRUE(ftp.has_value());
    }());
}

TEST(HttpClient, ConnectionRefused) {
    const uint16_t port = aiotest::unused_port();
    run_net([](uint16_t p) -> aio::Task<void> {
        ClientSession session;
        auto e = co_await aiotest::capture<aio::http::ClientConnectorError>(
            session.get("http://127.0.0.1:" + std::to_string(p) + "/"));
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->host(), "127.0.0.1");
        EXPECT_EQ(e->port(), p);
        std::string what = e->what();
        EXPECT_NE(what.find("127.0.0.1:" + std::to_string(p)), std::string::npos) << what;
        EXPECT_EQ(session.connector_stats().acquired, 0u) << "the slot was given back";
    }(port));
}

TEST(HttpClient, UnknownHost) {
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        auto e =
            co_await aiotest::capture<aio::http::ClientConnectorError>(session.get("http://no-such-host.invalid/"));
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->host(), "no-such-host.invalid");
        EXPECT_EQ(e->port(), 80);
    }());
}

TEST(HttpClient, ClosedSessionRefusesRequests) {
    peer();
    run_net([]() -> aio::Task<void> {
        ClientSession session;
        ClientResponse r = co_await session.get(peer().url("/hello"));
        EXPECT_EQ(co_await r.text(), "hello");
        co_await session.close();
        EXPECT_TRUE(session.closed());
        auto e = co_await aiotest::capture<aio::RuntimeError>(session.get(peer().url("/hello")));
        EXPECT_TRUE(e.has_value());
    }());
}
