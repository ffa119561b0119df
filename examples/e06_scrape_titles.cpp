// E6 — scraping a site with aiohttp: `async with ClientSession() as session`, `session.get(url)`,
// `await response.text()`. The course scraped a real site; this port scrapes the embedded demo site
// (aiocpp serve's library, started on a free loopback port inside the same loop): the index first,
// then every page it links to, all at once, printing each page's <title>.
// Standalone: examples/e06_scrape_titles. In the CLI: aiocpp demo scrape_titles (or E6).
#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "aio_app/site.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

constexpr size_t kPages = 12;
constexpr auto kLatency = 50ms;

std::string title_of(const std::string& html) {
    static const std::regex title("<title>([^<]*)</title>");
    std::smatch m;
    return std::regex_search(html, m, title) ? m[1].str() : std::string("(no title)");
}

// Python: async def fetch(session, url): async with session.get(url) as r: return await r.text()
aio::Task<std::string> fetch(aio::http::ClientSession& session, std::string url) {
    aio::http::ClientResponse r = co_await session.get(url);
    r.raise_for_status();
    co_return co_await r.text();
}

aio::Task<void> main_coroutine() {
    aio::app::SiteOptions o;
    o.pages = kPages;
    o.latency = kLatency;
    aio::app::Site site = co_await aio::app::Site::start(o);
    const aio_demo::LoopStopwatch clock;
    {
        aio::http::ClientSession session;  // Python: async with aiohttp.ClientSession() as session
        const std::string index = co_await fetch(session, site.url("/"));
        std::vector<std::string> links;
        static const std::regex href("href=\"(/pages/[0-9]+)\"");
        for (std::sregex_iterator it(index.begin(), index.end(), href), end; it != end; ++it) links.push_back((*it)[1].str());
        fmt::print("   [{:4.0f} ms] index: \"{}\", {} links\n", clock.ms(), title_of(index), links.size());
        // Python: pages = await asyncio.gather(*(fetch(session, base + link) for link in links))
        std::vector<aio::Task<std::string>> jobs;
        for (const auto& l : links) jobs.push_back(fetch(session, site.url(l)));
        std::vector<std::string> pages = co_await aio::gather(std::move(jobs));
        for (size_t i = 0; i < pages.size(); ++i) fmt::print("   {:<12} {}\n", links[i], title_of(pages[i]));
        fmt::print("   [{:4.0f} ms] {} pages, each answered after {} ms: about two round trips in all, not {}.\n",
                   clock.ms(), pages.size(), kLatency.count(), pages.size() + 1);
    }  // the session closes its connections here
    co_await site.stop();
}

void run(const aio_demo::Options&) {
    // Real time: the site's latency is a real wait on real sockets.
    aio::run(main_coroutine());
}

const aio_demo::Registration registration{{.name = "scrape_titles",
                                           .number = 6,
                                           .summary = "Scrape the demo site with a ClientSession: the index, then every page at once.",
                                           .run = &run}};

}  // namespace
