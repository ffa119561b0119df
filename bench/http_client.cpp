// Issue #18's client figure: N GETs of one URL at concurrency C with one ClientSession (a pool
// of C), the same shape as the peers lab's aiohttp client (../shared/peers/client). Prints
// "<req/s> req/s ok=<n>" last, as ../shared/peers/client/run.sh --ours expects.
//   aio_http_client URL N C
#include <aio/aio.hpp>
#include <aio/http/client.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
aio::Task<void> worker(aio::http::ClientSession& session, const std::string& url, int& next, int n, int& ok) {
    while (next < n) {
        ++next;
        aio::http::ClientResponse r = co_await session.get(url);
        std::string body = co_await r.read();
        ok += r.status() == 200 && !body.empty();
    }
}

aio::Task<int> bench(std::string url, int n, int c) {
    aio::http::ClientSessionOptions o;
    o.limit = static_cast<size_t>(c);
    aio::http::ClientSession session(o);
    int next = 0, ok = 0;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<aio::TaskHandle<void>> workers;
    for (int i = 0; i < c; ++i) workers.push_back(aio::create_task(worker(session, url, next, n, ok)));
    for (auto& w : workers) co_await w;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.0f req/s ok=%d\n", n / seconds, ok);
    co_return ok == n ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s URL N C\n", argv[0]);
        return 2;
    }
    return aio::run(bench(argv[1], std::atoi(argv[2]), std::atoi(argv[3])));
}
