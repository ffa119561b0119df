// The demo registry and the banner-and-error handling shared by `aiocpp demo` and the
// standalone examples.
#include "demo.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <fmt/core.h>

namespace aio_demo {

namespace {
// A function-local static: registrations run during static initialisation, in an order the
// language leaves unspecified, so the vector must exist before the first of them.
std::vector<Demo>& registry() {
    static std::vector<Demo> demos;
    return demos;
}

// "E20", "e20" or "20" -> 20; anything else -> 0 (no demo has number 0).
int parse_number(std::string_view key) {
    if (!key.empty() && (key.front() == 'E' || key.front() == 'e')) key.remove_prefix(1);
    if (key.empty() || key.size() > 4) return 0;
    int n = 0;
    for (char c : key) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return 0;
        n = n * 10 + (c - '0');
    }
    return n;
}
}  // namespace

Registration::Registration(const Demo& demo) {
    auto& demos = registry();
    for (const Demo& d : demos) {
        if (d.name == demo.name) {
            fmt::print(stderr, "aiocpp: two demos are called '{}'\n", demo.name);
            std::abort();
        }
    }
    demos.push_back(demo);
    // The course's examples first; those beyond it (number 0) after them.
    const auto order = [](const Demo& d) { return d.number > 0 ? d.number : kExamples + 1; };
    std::sort(demos.begin(), demos.end(), [&order](const Demo& a, const Demo& b) {
        return order(a) != order(b) ? order(a) < order(b) : a.name < b.name;
    });
}

const std::vector<Demo>& all() { return registry(); }

std::string_view example_title(int n) noexcept {
    // The seeds' catalogue (../shared/seeds/CATALOGUE.md), one line each.
    static constexpr std::string_view kTitles[kExamples] = {
        "an endless x += 1 keeps one core busy",
        "a Fibonacci generator: yield and next()",
        "a scraper: producer and consumer over an asyncio.Queue",
        "time.sleep inside async code blocks the loop",
        "uvloop: a faster loop",
        "aiohttp: scraping a site with ClientSession",
        "greeter threads: start, join, daemon",
        "stopping a background thread",
        "squares of 1..50,000,000 with threads: CPU-bound work",
        "cinema seat booking by two threads without a lock",
        "the same with a Lock, then an RLock",
        "sum of sqrt with threads vs a process Pool",
        "the same through concurrent.futures",
        "threads and processes: active_count, getpid, hello",
        "fib(40) and fib(41), sequential vs two threads (the GIL)",
        "two GETs, sequential vs two threads",
        "open_connection: two GETs over raw sockets with gather",
        "the event loop: a queue of messages, tasks resumed on I/O",
        "coroutine basics: async def, await, asyncio.run",
        "Masha and Dasha: waits overlapped vs in order",
        "counting primes with two processes and a Queue",
        "the same with two threads",
        "a counter race between two threads, and its Lock",
        "deadlock: two locks taken in opposite orders",
        "Semaphore(3) with seven threads",
        "160 downloads: sequential vs ThreadPoolExecutor(5)",
        "when to use threads, asyncio or processes",
    };
    return n >= 1 && n <= kExamples ? kTitles[n - 1] : std::string_view();
}

std::vector<const Demo*> find(std::string_view key) {
    for (const Demo& d : registry())
        if (d.name == key) return {&d};
    const int number = parse_number(key);
    std::vector<const Demo*> found;
    for (const Demo& d : registry())
        if (d.covers(number)) found.push_back(&d);
    return found;
}

bool run(const Demo& demo, const Options& options) {
    const std::string rule(96, '=');
    fmt::print("{}\n{}: {}\n", rule, demo.title(), demo.summary);
    if (options.virtual_time) fmt::print("(virtual time: sleeps take no real time, and loop times are exact)\n");
    fmt::print("{}\n", rule);
    std::fflush(stdout);
    try {
        demo.run(options);
        fmt::print("\n");
        std::fflush(stdout);
        return true;
    } catch (const aio::KeyboardInterrupt&) {
        throw;
    } catch (...) {
        // describe_exception also names aio::CancelledError, which (as in Python) is not a
        // std::exception and would slip past a `catch (const std::exception&)`.
        std::fflush(stdout);
        fmt::print(stderr, "demo {} failed: {}\n", demo.name, aio::describe_exception(std::current_exception()));
    }
    return false;
}

void prepare_mpi() {
    if (::geteuid() == 0) {
        ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
        ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    ::setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
    ::setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
}

}  // namespace aio_demo
