// The server (include/aio/http/web_*.hpp) against real clients: curl, Python's urllib and
// aiohttp's client, and raw bytes on a socket for what no polite client sends.
#include <gtest/gtest.h>

#include "web_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::Request;
using aio::http::Response;
using aiotest::TestServer;

namespace {

aio::Task<Response> hello(Request) { co_return Response("Hello, World!"); }

TEST(WebServer, CurlGetsHelloWithDateServerAndLength) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        co_await s.start();
        std::vector<std::string> r_args{"-s", "-i", s.url("/")};
        auto r = co_await aiotest::run_process("curl", std::move(r_args));
        co_await s.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(aiotest::status_of(r.out), 200) << r.out;
        EXPECT_NE(r.out.find("Content-Length: 13\r\n"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
        EXPECT_NE(r.out.find("\r\nDate: "), std::string::npos);
        EXPECT_NE(r.out.find("\r\nServer: aiocpp\r\n"), std::string::npos);
        EXPECT_TRUE(r.out.ends_with("\r\n\r\nHello, World!")) << r.out;
    }());
}

TEST(WebServer, RoutesWithParametersRegexes404And405) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/users/{id}", [](Request r) -> aio::Task<Response> {
            co_return Response("user " + r.match_info()["id"]);
        });
        s.app.router().add_get("/files/{tail:.*}", [](Request r) -> aio::Task<Response> {
            co_return Response("file " + r.match_info().at("tail"));
        });
        s.app.router().add_get("/n/{num:[0-9]+}", [](Request r) -> aio::Task<Response> {
            co_return Response("num " + r.match_info().at("num"));
        });
        s.app.router().add_post("/users/{id}", [](Request) -> aio::Task<Response> { co_return Response("posted"); });
        co_await s.start();
        auto get = [&](std::string path) {
            return aiotest::raw_exchange(s.port, "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        };
        std::string r1 = co_await get("/users/42");
        std::string r2 = co_await get("/files/a/b%20c.txt");
        std::string r3 = co_await get("/n/123");
        std::string r4 = co_await get("/n/abc");
        std::string r5 = co_await aiotest::raw_exchange(
            s.port, "DELETE /users/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        std::string r6 = co_await get("/users/a%2Fb");
        co_await s.stop();
        EXPECT_TRUE(r1.ends_with("user 42")) << r1;
        EXPECT_TRUE(r2.ends_with("file a/b c.txt")) << r2;
        EXPECT_TRUE(r3.ends_with("num 123")) << r3;
        EXPECT_EQ(aiotest::status_of(r4), 404) << r4;
        EXPECT_EQ(aiotest::status_of(r5), 405) << r5;
        EXPECT_NE(r5.find("Allow: "), std::string::npos) << r5;
        EXPECT_NE(r5.find("GET"), std::string::npos);
        EXPECT_NE(r5.find("POST"), std::string::npos);
        // An encoded slash stays inside its segment: {id} matches it, decoded.
        EXPECT_TRUE(r6.ends_with("user a/b")) << r6;
    }());
}

TEST(WebServer, HeadAnswersWithTheLengthAndNoBody) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        co_await s.start();
        std::string r = co_await aiotest::raw_exchange(s.port, "HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(r), 200) << r;
        EXPECT_NE(r.find("Content-Length: 13\r\n"), std::string::npos) << r;
        EXPECT_TRUE(r.ends_with("\r\n\r\n")) << r;
    }());
}

TEST(WebServer, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        int n = 0;
        s.app.router().add_get("/slow", [&n](Request) -> aio::Task<Response> {
            // Finishes after the fast ones would have: order must still hold.
            co_await aio::sleep(20ms);
            co_return Response("slow " + std::to_string(++n));
        });
        s.app.router().add_get("/fast", [&n](Request) -> aio::Task<Response> {
            co_return Response("fast " + std::to_string(++n));
        });
        co_await s.start();
        std::string r = co_await aiotest::raw_exchange(s.port,
                                                       "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                                                       "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
                                                       "GET /fast HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(aiotest::count_responses(r), 3) << r;
        size_t a = r.find("slow 1"), b = r.find("fast 2"), c = r.find("fast 3");
        EXPECT_NE(a, std::string::npos) << r;
        EXPECT_LT(a, b);
        EXPECT_LT(b, c);
        EXPECT_NE(c, std::string::npos);
        EXPECT_NE(r.find("Connection: close"), std::string::npos);
    }());
}

TEST(WebServer, KeepAliveServesManyRequestsOnOneConnection) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_get("/", hello);
        co_await s.start();
        auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
        for (int i = 0; i < 5; ++i) {
            w.write("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
            co_await w.drain();
            std::string head = co_await r.readuntil("\r\n\r\n");
            EXPECT_EQ(aiotest::status_of(head), 200) << head;
            EXPECT_EQ(head.find("Connection: close"), std::string::npos);
            std::string body = co_await r.readexactly(13);
            EXPECT_EQ(body, "Hello, World!");
        }
        EXPECT_EQ(s.runner->connections(), 1u);
        w.close();
        co_await s.stop();
    }());
}

TEST(WebServer, PostJsonFormAndMultipartFromCurl) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        s.app.router().add_post("/json", [](Request r) -> aio::Task<Response> {
            auto j = co_await r.json();
            co_return aio::http::json_response({{"sum", j["a"].get<int>() + j["b"].get<int>()}});
        });
        s.app.router().add_post("/form", [](Request r) -> aio::Task<Response> {
            auto form = co_await r.post();
            std::string out = std::string(form.get("name").value_or("?")) + "|" + std::string(form.get("city").value_or("?"));
            if (const auto* f = form.file("upload")) out += "|" + f->filename + ":" + f->content;
            co_return Response(out);
        });
        co_await s.start();
        std::vector<std::string> j_args{"-s", "-H", "Content-Type: application/json", "-d", R"({"a": 2, "b": 40})", s.url("/json")};
        auto j = co_await aiotest::run_process("curl", std::move(j_args));
        std::vector<std::string> f_args{"-s", "-d", "name=A%20B&city=Caf%C3%A9", s.url("/form")};
        auto f = co_await aiotest::run_process("curl", std::move(f_args));
        aiotest::TempDir dir;
        std::string file = dir.path() + "/up.txt";
        {
            FILE* fp = std::fopen(file.c_str(), "w");
            std::fputs("file body\r\n--not-a-boundary", fp);
            std::fclose(fp);
        }
        std::vector<std::string> m_args{"-s", "-F", "name=Z", "-F", "upload=@" + file, s.url("/form")};
        auto m = co_await aiotest::run_process("curl", std::move(m_args));
        std::vector<std::string> bad_args{"-s", "-i", "-H", "Content-Type: application/json", "-d", "{not json", s.url("/json")};
        auto bad = co_await aiotest::run_process("curl", std::move(bad_args));
        co_await s.stop();
        EXPECT_EQ(j.out, R"({"sum":42})");
        EXPECT_EQ(f.out, "A B|Café");
        EXPECT_EQ(m.out, "Z|?|up.txt:file body\r\n--not-a-boundary");
        EXPECT_EQ(aiotest::status_of(bad.out), 400) << bad.out;
    }());
}

TEST(WebServer, MiddlewaresRunOutermostFirstAndSeeHttpErrors) {
    aiotest::run_net([]() -> aio::Task<void> {
        TestServer s;
        std::vector<std::string> trace;
        s.app.add_middleware([&trace](Request r, aio::http::Handler next) -> aio::Task<Response> {
            trace.push_back("outer in");
            Response resp = co_await next(r);
            trace.push_back("outer out");
            resp.headers().set("X-Outer", "1");
            co_return resp;
        });
        s.app.add_middleware([&trace](Request r, aio::http::Handler next) -> aio::Task<Response> {
            trace.push_back("inner in");
            std::optional<Response> replaced;
            try {
                co_return co_await next(r);
            } catch (const aio::http::HTTPNotFound&) {
                replaced.emplace("custom not found", 404);
            }
            co_return std::move(*replaced);
        });
        s.app.router().add_get("/", hello);
        s.app.router().add_get("/boom", [](Request) -> aio::Task<Response> {
            throw std::runtime_error("handler failed");
            co_return Response();
        });
        co_await s.start();
        std::vector<std::string> logged;
        aio::get_running_loop().set_exception_handler(
            [&logged](aio::EventLoop&, const aio::ExceptionContext& c) { logged.push_back(c.message); });
        std::string ok = co_await aiotest::raw_exchange(s.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        std::string nf = co_await aiotest::raw_exchange(s.port, "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        std::string boom = co_await aiotest::raw_exchange(
            s.port, "GET /boom HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        co_await s.stop();
        EXPECT_EQ(aiotest::status_of(ok), 200);
        EXPECT_NE(ok.find("X-Outer: 1"), std::string::npos) << ok;
        EXPECT_EQ(aiotest::status_of(nf), 404);
        EXPECT_TRUE(nf.ends_with("custom not found")) << nf;
        EXPECT_NE(nf.find("X-Outer: 1"), std::string::npos);
        NET_CO_ASSERT(trace.size() >= 4u);
        EXPECT_EQ(trace[0], "outer in");
        EXPECT_EQ(trace[1], "inner in");
        EXPECT_EQ(trace[2], "outer out");
        // A handler's exception is a 500, logged, and the connection goes on to the next request.
        EXPECT_EQ(aiotest::status_of(boom), 500) << boom;
        EXPECT_EQ(aiotest::count_responses(boom), 2) << boom;
        EXPECT_TRUE(boom.ends_with("Hello, World!")) << boom;
        NET_CO_ASSERT(logged.size() == 1u);
        EXPECT_NE(logged[0].find("GET /boom"), std::string::npos);
    }());
}

}  // namespace
