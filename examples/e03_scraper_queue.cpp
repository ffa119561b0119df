// E3 — the scraper: 20 pages scraped and then processed one after another (24 s), against a
// producer task and a consumer task connected by an aio::Queue, which overlap (12.6 s).
// Standalone: examples/e03_scraper_queue [--virtual-time]. In the CLI: aiocpp demo scraper_queue.
#include <chrono>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

// One second of the story is 10 ms of loop time, so the whole demo takes about 0.4 s.
constexpr std::chrono::milliseconds kSecond = 10ms;
constexpr int kPages = 20;
// Scraping a page (the network) and processing it (parsing, saving) each take 0.6 s here: 20 x 1.2 s
// = 24 s one after the other, as the course measured. Overlapped, the last page is processed 0.6 s
// after it is scraped: 20 x 0.6 + 0.6 = 12.6 s (the course measured 13 s).
constexpr auto kScrape = 60 * kSecond / 100;
constexpr auto kProcess = 60 * kSecond / 100;

double story_seconds(double ms) { return ms / static_cast<double>(kSecond.count()); }

struct Page {
    int number = 0;
    double scrape_start = 0;  // loop ms
    double scraped = 0;
};

// Both are waits (aio::sleep stands in for the network and the disk): the loop can overlap them.
aio::Task<Page> scrape(const aio_demo::LoopStopwatch& clock, int number) {
    Page p{number, clock.ms(), 0};
    co_await aio::sleep(kScrape);
    p.scraped = clock.ms();
    co_return p;
}

aio::Task<void> process(const Page&) { co_await aio::sleep(kProcess); }

// Python (the course's sync_scraper_task.py, on the loop):
//     pages = [scrape(i) for i in range(1, 21)]
//     for page in pages: process(page)
aio::Task<double> one_after_another() {
    const aio_demo::LoopStopwatch clock;
    std::vector<Page> pages;
    for (int i = 1; i <= kPages; ++i) pages.push_back(co_await scrape(clock, i));
    fmt::print("   [{:4.1f} s] scraped pages 1-{} into a list; now processing them\n", story_seconds(clock.ms()), kPages);
    for (const Page& p : pages) co_await process(p);
    fmt::print("   [{:4.1f} s] processed pages 1-{}\n", story_seconds(clock.ms()), kPages);
    co_return clock.ms();
}

// Python (async_scraper_task.py):
//     async def scrap_data(n, queue):
//         for i in range(1, n + 1): await queue.put(await scrape(i))
aio::Task<void> scrap_data(const aio_demo::LoopStopwatch& clock, int n, aio::Queue<Page>& queue) {
    for (int i = 1; i <= n; ++i) co_await queue.put(co_await scrape(clock, i));
}

//     async def process_data(n, queue):
//         for _ in range(n): page = await queue.get(); await process(page)
aio::Task<void> process_data(const aio_demo::LoopStopwatch& clock, int n, aio::Queue<Page>& queue) {
    for (int i = 0; i < n; ++i) {
        const Page page = co_await queue.get();
        const double start = clock.ms();
        co_await process(page);
        fmt::print("   page {:2}: scraped {:4.1f}-{:4.1f} s | processed {:4.1f}-{:4.1f} s\n", page.number,
                   story_seconds(page.scrape_start), story_seconds(page.scraped), story_seconds(start),
                   story_seconds(clock.ms()));
    }
}

//     data = asyncio.Queue()
//     task_1 = asyncio.create_task(scrap_data(20, data)); task_2 = asyncio.create_task(process_data(20, data))
//     await asyncio.gather(task_1, task_2)
aio::Task<double> producer_consumer() {
    const aio_demo::LoopStopwatch clock;
    aio::Queue<Page> data;
    auto task_1 = aio::create_task(scrap_data(clock, kPages, data));
    auto task_2 = aio::create_task(process_data(clock, kPages, data));
    co_await aio::gather(task_1, task_2);
    co_return clock.ms();
}

void run(const aio_demo::Options& options) {
    fmt::print("A scraper fetches {} pages and processes each one. Done in two phases (scrape everything, then\n"
               "process everything) every page waits for the whole list. With a producer task putting pages on an\n"
               "aio::Queue and a consumer task getting them, page N is processed while page N+1 is scraped.\n"
               "Scraping and processing take {:.1f} s each per page; one second of the story is {} ms here.\n",
               kPages, story_seconds(static_cast<double>(kScrape.count())), kSecond.count());

    fmt::print("\nSequential: scrape all pages into a list, then process the list:\n");
    const double sequential_ms = aio::run(one_after_another(), options.loop_options());
    fmt::print("\nProducer/consumer: scrap_data() puts each page on an aio::Queue<Page>, process_data() gets them:\n");
    const double pipelined_ms = aio::run(producer_consumer(), options.loop_options());

    fmt::print("\nMeasured on the loop's clock:\n");
    fmt::print("   sequential:        {:4.1f} s  ({:.1f} ms)\n", story_seconds(sequential_ms), sequential_ms);
    fmt::print("   producer/consumer: {:4.1f} s  ({:.1f} ms)\n", story_seconds(pipelined_ms), pipelined_ms);
    fmt::print("   producer/consumer is {:.2f}x faster (the course measured 24 s against 13 s)\n",
               sequential_ms / pipelined_ms);

    fmt::print("\nC++ vs Python:\n"
               " - aio::Queue<Page> is typed: `co_await queue.get()` returns the Page itself, and put() takes one.\n"
               " - as with asyncio.Queue(), put() on an unbounded queue never waits; a bounded aio::Queue<Page>(5)\n"
               "   would make the scraper wait whenever five pages were waiting to be processed.\n"
               " - a get() cancelled (say by aio::wait_for) never loses a page: an item already on its way to\n"
               "   that getter stays in the queue for the next one.\n");
}

const aio_demo::Registration registration{{
    .name = "scraper_queue",
    .number = 3,
    .summary = "A scraper: 24 s one phase after the other, 12.6 s as a producer and a consumer on an aio::Queue.",
    .run = &run,
}};

}  // namespace
