// E26 — 160 downloads: sequentially with one requests.Session (18.4 s in the course), then with a
// ThreadPoolExecutor(max_workers=5) where each thread keeps its own session in thread-local
// storage (3.17 s), because a Session is not safe to share between threads. The pages come from
// the embedded demo site (aiocpp serve's library) with 20 ms of latency each; a third run adds
// what the course moves to next: one loop, one ClientSession, 160 tasks gathered.
// Standalone: examples/e26_downloads. In the CLI: aiocpp demo downloads (or E26).
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "background_site.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr size_t kPages = 160;
constexpr auto kLatency = 20ms;
constexpr int kWorkers = 5;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

aio::Task<size_t> download(aio::http::ClientSession& session, std::string url) {
    aio::http::ClientResponse r = co_await session.get(url);
    r.raise_for_status();  // a page that is not there is an error, not a few bytes
    std::string body = co_await r.read();
    co_return body.size();
}

// Python: for url in urls: download_site(url, session)
aio::Task<size_t> all_in_order(std::vector<std::string> urls) {
    aio::http::ClientSession session;
    size_t bytes = 0;
    for (const auto& u : urls) bytes += co_await download(session, u);
    co_return bytes;
}

// Python: thread_local = threading.local()
//         def get_session(): if not hasattr(thread_local, "session"): thread_local.session = requests.Session()
// A C++ thread_local holds the thread's own loop and session: a session belongs to one loop.
// Members go in reverse order when the thread ends: the session (closing its connections), then
// the loop.
struct ThreadClient {
    aio::EventLoop loop;
    std::optional<aio::http::ClientSession> session;
};
thread_local std::unique_ptr<ThreadClient> tls_client;

size_t download_on_this_thread(const std::string& url) {
    if (!tls_client) tls_client = std::make_unique<ThreadClient>();
    ThreadClient& c = *tls_client;
    return c.loop.run_until_complete([](ThreadClient& client, std::string u) -> aio::Task<size_t> {
        if (!client.session) client.session.emplace();
        co_return co_await download(*client.session, std::move(u));
    }(c, url));
}

// asyncio: async with ClientSession() as s: await asyncio.gather(*(download(s, u) for u in urls))
aio::Task<size_t> all_at_once(std::vector<std::string> urls) {
    aio::http::ClientSessionOptions o;
    o.limit = 100;  // aiohttp's TCPConnector default
    aio::http::ClientSession session(o);
    std::vector<aio::Task<size_t>> jobs;
    for (const auto& u : urls) jobs.push_back(download(session, u));
    std::vector<size_t> sizes = co_await aio::gather(std::move(jobs));
    size_t bytes = 0;
    for (size_t n : sizes) bytes += n;
    co_return bytes;
}

void run(const aio_demo::Options&) {
    aio::app::SiteOptions o;
    o.pages = kPages;
    o.latency = kLatency;
    aio_demo::BackgroundSite site(o);
    std::vector<std::string> urls;
    for (size_t i = 1; i <= kPages; ++i) urls.push_back(site.url(aio::app::page_path(i)));
    fmt::print("{} pages, each answered after {} ms:\n\n", kPages, kLatency.count());

    auto t = Clock::now();
    const size_t seq_bytes = aio::run(all_in_order(urls));
    const double sequential = seconds_since(t);
    fmt::print("   sequential, one session:                 {} pages, {} bytes in {:.2f} s\n", kPages, seq_bytes, sequential);

    t = Clock::now();
    size_t pool_bytes = 0;
    {
        // Python: with ThreadPoolExecutor(max_workers=5) as executor: executor.map(download_site, sites)
        aio::ThreadPoolExecutor pool(kWorkers);
        std::vector<aio::ConcurrentFuture<size_t>> futures;
        for (const auto& u : urls) futures.push_back(pool.submit(download_on_this_thread, u));
        for (auto& f : futures) pool_bytes += f.result();
    }  // the pool's threads end here; each one's thread_local session closes, then its loop
    const double threads = seconds_since(t);
    fmt::print("   ThreadPoolExecutor(5), a session each:   {} pages, {} bytes in {:.2f} s ({:.1f}x)\n", kPages,
               pool_bytes, threads, sequential / threads);

    t = Clock::now();
    const size_t async_bytes = aio::run(all_at_once(urls));
    const double tasks = seconds_since(t);
    fmt::print("   one loop, {} tasks, one ClientSession:  {} pages, {} bytes in {:.2f} s ({:.1f}x)\n", kPages, kPages,
               async_bytes, tasks, sequential / tasks);

    fmt::print("\nThe course: 18.4 s sequential, 3.17 s with 5 threads (5.8x). Five threads wait five pages\n"
               "at a time, so the ideal is 5x; a loop waits all {} at once for the cost of one thread.\n",
               kPages);
}

const aio_demo::Registration registration{{.name = "downloads",
                                           .number = 26,
                                           .summary = "160 downloads: in order, with 5 threads and their own sessions, as tasks.",
                                           .run = &run}};

}  // namespace
