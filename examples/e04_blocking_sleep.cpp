// E4 — `time.sleep` inside a coroutine blocks the loop: every other task stops with it. A ticker
// that should tick every 50 ms shows the hole; the loop's debug mode names the culprit ("Executing
// task 'blocker' ... took 0.300 seconds", asyncio's slow-callback warning); then the two fixes:
// `aio::sleep` (asyncio.sleep) when the wait is a timer, `aio::to_thread` when it is blocking work.
// Standalone: examples/e04_blocking_sleep. In the CLI: aiocpp demo blocking_sleep (or E4).
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kTick = 50ms;
constexpr auto kBlock = 300ms;

// Ticks until `stop`, and returns the longest gap between two ticks, in wall-clock ms (a blocked
// loop stops the wall clock for nobody).
aio::Task<double> ticker(const bool& stop) {
    double longest = 0;
    auto last = Clock::now();
    while (!stop) {
        co_await aio::sleep(kTick);
        const auto now = Clock::now();
        longest = std::max(longest, std::chrono::duration<double, std::milli>(now - last).count());
        last = now;
    }
    co_return longest;
}

enum class Way { blocking, async_sleep, to_thread };

aio::Task<void> blocker(Way way) {
    co_await aio::sleep(kTick);  // let the ticker start
    switch (way) {
        case Way::blocking:  // Python: time.sleep(0.3) inside `async def` — the mistake
            std::this_thread::sleep_for(kBlock);
            break;
        case Way::async_sleep:  // Python: await asyncio.sleep(0.3)
            co_await aio::sleep(kBlock);
            break;
        case Way::to_thread:  // Python: await asyncio.to_thread(time.sleep, 0.3) — blocking work off the loop
            co_await aio::to_thread([] { std::this_thread::sleep_for(kBlock); });
            break;
    }
}

aio::Task<double> scene(Way way) {
    bool stop = false;
    auto tick = aio::create_task(ticker(stop));
    co_await aio::create_task(blocker(way), "blocker");
    co_await aio::sleep(kTick);
    stop = true;
    co_return co_await tick;
}

void run(const aio_demo::Options&) {
    // Real time throughout: a blocking call stops real time for the loop, which is the point
    // (a virtual clock would not see it).
    std::vector<std::string> warnings;
    auto previous = aio::set_log_handler([&warnings](aio::LogLevel, std::string_view message) {
        warnings.emplace_back(message);
    });
    struct Restore {
        aio::LogHandler h;
        ~Restore() { aio::set_log_handler(std::move(h)); }
    } restore{std::move(previous)};

    const aio::LoopOptions debug{.debug = true, .slow_callback_duration = 100ms};
    fmt::print("A ticker should tick every {} ms while a task named 'blocker' waits {} ms.\n\n", kTick.count(),
               kBlock.count());
    const double bad = aio::run(scene(Way::blocking), debug);
    fmt::print("1. time.sleep inside the coroutine (std::this_thread::sleep_for):\n");
    fmt::print("   longest gap between ticks: {:.0f} ms -- the whole loop stood still.\n", bad);
    bool named = false;
    for (const auto& w : warnings)
        if (w.find("blocker") != std::string::npos) {
            fmt::print("   debug mode said: {}\n", w.substr(0, std::min<size_t>(w.size(), 150)));
            named = true;
            break;
        }
    if (!named) fmt::print("   (debug mode logged {} slow-step warnings)\n", warnings.size());
    warnings.clear();
    const double good = aio::run(scene(Way::async_sleep), debug);
    fmt::print("\n2. await asyncio.sleep (co_await aio::sleep): longest gap {:.0f} ms; slow-step warnings: {}.\n", good,
               warnings.size());
    warnings.clear();
    const double threaded = aio::run(scene(Way::to_thread), debug);
    fmt::print("3. await asyncio.to_thread (co_await aio::to_thread): longest gap {:.0f} ms; slow-step warnings: {}.\n",
               threaded, warnings.size());
    fmt::print("\nA coroutine gives the loop back only at an await. Anything that blocks without one -- sleep,\n"
               "a blocking socket, a heavy loop -- freezes every task on the loop. Same in C++ as in Python.\n");
}

const aio_demo::Registration registration{{.name = "blocking_sleep",
                                           .number = 4,
                                           .summary = "A blocking sleep in a coroutine stalls every task; debug mode names it.",
                                           .run = &run}};

}  // namespace
