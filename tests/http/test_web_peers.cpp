// Python's own clients against the server: urllib (http.client underneath) and aiohttp's
// ClientSession, the library aiocpp's server stands in for.
#include <gtest/gtest.h>

#include "web_test_util.hpp"

using aio::http::Request;
using aio::http::Response;
using aiotest::TestServer;

namespace {

const char* kUrllib = R"PY(
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
out = []
with urllib.request.urlopen(base + "/hello") as r:
    out.append(f"{r.status} {r.read().decode()}")
req = urllib.request.Request(base + "/echo?x=1&y=two", data=json.dumps({"k": [1, 2]}).encode(),
                             headers={"Content-Type": "application/json"}, method="PUT")
with urllib.request.urlopen(req) as r:
    out.append(r.read().decode())
try:
    urllib.request.urlopen(base + "/nope")
except urllib.error.HTTPError as e:
    out.append(f"{e.code}")
print("\n".join(out))
)PY";

const char* kAiohttp = R"PY(
import asyncio, sys
import aiohttp
async def main(base):
    async with aiohttp.ClientSession() as s:
        results = []
        for _ in range(3):  # keep-alive: one connection for all three
            async with s.get(base + "/hello") as r:
                results.append(f"{r.status} {await r.text()}")
        async with s.post(base + "/echo", json={"a": "b"}) as r:
            results.append(await r.text())
        async with s.post(base + "/form", data={"name": "x y", "n": "5"}) as r:
            results.append(await r.text())
        async with s.get(base + "/stream") as r:
            results.append(f"{r.headers.get('Transfer-Encoding')} {await r.text()}")
        print("\n".join(results))
asyncio.run(main(sys.argv[1]))
)PY";

void routes(aio::http::Application& app) {
    app.router().add_get("/hello", [](Request) -> aio::Task<Response> { co_return Response("hi"); });
    app.router().add_route("*", "/echo", [](Request r) -> aio::Task<Response> {
        nlohmann::json j = co_await r.json();
        nlohmann::json q = nlohmann::json::object();
        for (const auto& [k, v] : r.query()) q[k] = v;
        co_return aio::http::json_response({{"method", r.method()}, {"body", j}, {"query", q}});
    });
    app.router().add_post("/form", [](Request r) -> aio::Task<Response> {
        auto form = co_await r.post();
        co_return Response(std::string(form.get("name").value_or("")) + "/" + std::string(form.get("n").value_or("")));
    });
    app.router().add_get("/stream", [](Request r) -> aio::Task<Response> {
        aio::http::StreamResponse resp;
        co_await resp.prepare(r);
        co_await resp.write("a");
        co_await resp.write("b");
        co_await resp.write_eof();
        co_return resp;
    });
}

TEST(WebPeers, PythonUrllibTalksToTheServer) {
    std::string py = aiotest::debian_python();
    if (py.empty()) GTEST_SKIP() << "no python3";
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        routes(s.app);
        co_await s.start();
        std::vector<std::string> a{"-c", kUrllib, s.url("")};
        auto r = co_await aiotest::run_process(py, std::move(a));
        co_await s.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.out, "200 hi\n{\"body\":{\"k\":[1,2]},\"method\":\"PUT\",\"query\":{\"x\":\"1\",\"y\":\"two\"}}\n404\n");
    }());
}

TEST(WebPeers, AiohttpsClientSessionTalksToTheServerOverOneConnection) {
    std::string py = aiotest::debian_python();
    if (py.empty() || std::system((py + " -c 'import aiohttp' 2>/dev/null").c_str()) != 0)
        GTEST_SKIP() << "python3-aiohttp is not installed";
    aiotest::run_net([&]() -> aio::Task<void> {
        TestServer s;
        routes(s.app);
        size_t peak = 0;
        s.app.add_middleware([&](Request r, aio::http::Handler next) -> aio::Task<Response> {
            peak = std::max(peak, s.runner->connections());
            co_return co_await next(r);
        });
        co_await s.start();
        std::vector<std::string> a{"-c", kAiohttp, s.url("")};
        auto r = co_await aiotest::run_process(py, std::move(a));
        co_await s.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.out,
                  "200 hi\n200 hi\n200 hi\n{\"body\":{\"a\":\"b\"},\"method\":\"POST\",\"query\":{}}\nx y/5\nchunked ab\n");
        EXPECT_EQ(peak, 1u);
    }());
}

}  // namespace
