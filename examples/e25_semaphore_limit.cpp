// E25 — Semaphore(3) lets at most three of seven workers in at a time: they start in groups at
// t, t+2 and t+4. The course used threads; this is the async twin, with tasks on one loop.
// Standalone: examples/e25_semaphore_limit [--virtual-time]. In the CLI: aiocpp demo semaphore_limit.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

// One second of the story is 10 ms of loop time.
constexpr std::chrono::milliseconds kSecond = 10ms;
constexpr int kWorkers = 7;
constexpr int kLimit = 3;
constexpr int kWorkSeconds = 2;

struct Report {
    std::vector<double> starts;  // story seconds, by payload
    int most_inside = 0;
};

// Python (the course, with threading.Semaphore):
//     def semaphore_func(payload):
//         s.acquire(); print(f'{now=}, {payload=}'); sleep(2); s.release()
// The async twin:
//     async def semaphore_func(payload):
//         async with s: print(...); await asyncio.sleep(2)
aio::Task<void> semaphore_func(aio::Semaphore& s, const aio_demo::LoopStopwatch& clock, Report& report, int& inside,
                               int payload) {
    auto permit = co_await s.scoped();  // `async with s:` — released on every way out
    const double now = clock.ms() / static_cast<double>(kSecond.count());
    report.starts[static_cast<size_t>(payload)] = now;
    report.most_inside = std::max(report.most_inside, ++inside);
    fmt::print("   now=t+{:.0f} s, payload={}  ({} running)\n", now, payload, inside);
    co_await aio::sleep(kWorkSeconds * kSecond);
    --inside;
}

aio::Task<Report> main_coroutine() {
    aio::Semaphore s(kLimit);
    const aio_demo::LoopStopwatch clock;
    Report report;
    report.starts.resize(kWorkers);
    int inside = 0;
    // Python: threads = [Thread(target=semaphore_func, args=(i,)) for i in range(7)] ... join()
    std::vector<aio::Task<void>> workers;
    for (int i = 0; i < kWorkers; ++i) workers.push_back(semaphore_func(s, clock, report, inside, i));
    co_await aio::gather(std::move(workers));
    co_return report;
}

void run(const aio_demo::Options& options) {
    fmt::print("Seven workers each need the resource for {} seconds; aio::Semaphore({}) lets three in at a time.\n"
               "Each worker prints when it gets in. One second of the story is {} ms here.\n\n",
               kWorkSeconds, kLimit, kSecond.count());

    const Report report = aio::run(main_coroutine(), options.loop_options());

    std::map<long, std::vector<int>> groups;
    for (int i = 0; i < kWorkers; ++i) groups[std::lround(report.starts[static_cast<size_t>(i)])].push_back(i);
    fmt::print("\nStart times, grouped:\n");
    for (const auto& [t, payloads] : groups) {
        std::string who;
        for (int p : payloads) who += fmt::format("{}{}", who.empty() ? "" : ", ", p);
        fmt::print("   t+{} s: payloads {}\n", t, who);
    }
    fmt::print("At most {} workers ran at once; all {} were done after {} seconds.\n", report.most_inside, kWorkers,
               (kWorkers + kLimit - 1) / kLimit * kWorkSeconds);

    fmt::print("\nC++ vs Python:\n"
               " - the course ran seven threads with threading.Semaphore; here seven tasks share one thread, and\n"
               "   a waiting task costs no thread at all. The grouping (t, t+2, t+4) is the same.\n"
               " - `async with s:` becomes `auto permit = co_await s.scoped();`: the permit goes back when `permit`\n"
               "   goes out of scope, exception or cancellation included (a destructor needs no await).\n"
               " - permits are handed out first come, first served, as in asyncio (payload 3 before 4 before 5).\n");
}

const aio_demo::Registration registration{{
    .name = "semaphore_limit",
    .number = 25,
    .summary = "Semaphore(3) and seven tasks of 2 s each: they start in groups at t, t+2 and t+4.",
    .run = &run,
}};

}  // namespace
