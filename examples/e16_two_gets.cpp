// E16 — two GETs, sequential vs two threads: the course fetched example.com twice and saw 0.23 s
// become 0.098 s, because a thread waiting on the network releases the GIL. Here the two GETs go
// to the embedded demo site (aiocpp serve's library, 100 ms of latency per answer) three ways:
// one after the other, on two threads (each with its own loop and ClientSession, as each Python
// thread had its own requests call), and as two tasks on one loop.
// Standalone: examples/e16_two_gets. In the CLI: aiocpp demo two_gets (or E16).
#include <chrono>
#include <optional>
#include <string>
#include <tuple>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "background_site.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kLatency = 100ms;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Python: requests.get(url).status_code
aio::Task<int> get_status(std::string url) {
    aio::http::ClientSession session;
    aio::http::ClientResponse r = co_await session.get(url);
    r.raise_for_status();
    (void)co_await r.read();  // the whole answer, as requests.get reads it
    co_return r.status();
}

void run(const aio_demo::Options&) {
    aio::app::SiteOptions o;
    o.pages = 2;
    o.latency = kLatency;
    std::optional<aio_demo::BackgroundSite> site(std::in_place, o);
    const std::string urls[2] = {site->url("/pages/1"), site->url("/pages/2")};
    fmt::print("Two GETs of the demo site, which answers after {} ms:\n\n", kLatency.count());

    // 1. Python: for url in urls: requests.get(url)
    auto t = Clock::now();
    for (const auto& u : urls) {
        const int status = aio::run(get_status(u));
        fmt::print("   sequential: {} -> {}\n", u, status);
    }
    const double sequential = seconds_since(t);

    // 2. Python: threads = [Thread(target=get, args=(url,)) for url in urls]; start; join
    t = Clock::now();
    std::vector<std::thread> threads;
    int statuses[2] = {0, 0};
    for (int i = 0; i < 2; ++i)
        threads.emplace_back([&statuses, &urls, i] { statuses[i] = aio::run(get_status(urls[i])); });
    for (auto& th : threads) th.join();
    const double threaded = seconds_since(t);
    fmt::print("   two threads: {} and {}\n", statuses[0], statuses[1]);

    // 3. asyncio: await asyncio.gather(get(url1), get(url2))
    t = Clock::now();
    const std::tuple<int, int> both = aio::run([](const std::string (&u)[2]) -> aio::Task<std::tuple<int, int>> {
        co_return co_await aio::gather(get_status(u[0]), get_status(u[1]));
    }(urls));
    const double tasks = seconds_since(t);
    fmt::print("   two tasks: {} and {}\n\n", std::get<0>(both), std::get<1>(both));

    site.reset();

    fmt::print("   sequential   {:.3f} s\n   two threads  {:.3f} s  ({:.1f}x)\n   two tasks    {:.3f} s  ({:.1f}x)\n",
               sequential, threaded, sequential / threaded, tasks, sequential / tasks);
    fmt::print("\nThe course saw 0.23 s become 0.098 s. Waiting for the network costs no CPU, so two waits\n"
               "overlap whether two threads or two tasks do the waiting; the tasks need no second thread.\n");
}

const aio_demo::Registration registration{
    {.name = "two_gets", .number = 16, .summary = "Two GETs: sequential, on two threads, as two tasks.", .run = &run}};

}  // namespace
