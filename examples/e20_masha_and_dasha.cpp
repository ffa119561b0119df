// E20 — Masha and Dasha cook dinner: the same steps done one after another (32 minutes) and
// overlapped, one shopping while the other cooks (17 minutes).
// Standalone: examples/e20_masha_and_dasha [--virtual-time]. In the CLI: aiocpp demo masha_and_dasha.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <string_view>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

// One minute of the story is 10 ms of loop time, so the whole demo takes about half a second.
constexpr std::chrono::milliseconds kMinute = 10ms;

struct Step {
    std::string_view what;
    int minutes;
};
// Two chains: shop -> sauce needs the shopping, boil -> pasta needs the boiling water. Done one
// after another they take 7 + 8 + 10 + 7 = 32 minutes; side by side, the longer chain decides:
// max(7 + 8, 10 + 7) = 17.
constexpr Step kShop{"goes shopping for tomatoes and cheese", 7};
constexpr Step kSauce{"makes the tomato sauce", 8};
constexpr Step kBoil{"puts the water on and waits for it to boil", 10};
constexpr Step kPasta{"cooks the pasta", 7};
constexpr std::array kAllSteps{kShop, kSauce, kBoil, kPasta};

// Prints who does what, stamped with the story's minutes since the plan started.
class Kitchen {
public:
    [[nodiscard]] double ms() const { return clock_.ms(); }
    void say(std::string_view who, std::string_view what) const {
        fmt::print("   [{:2.0f} min] {}: {}\n", ms() / static_cast<double>(kMinute.count()), who, what);
    }

private:
    aio_demo::LoopStopwatch clock_;
};

// Every step is waiting (the shop's queue, the stove): an aio::sleep, Python's asyncio.sleep.
aio::Task<void> step(const Kitchen& kitchen, std::string_view who, Step s) {
    kitchen.say(who, fmt::format("{} ({} min)", s.what, s.minutes));
    co_await aio::sleep(s.minutes * kMinute);
}

// Plan 1. Python: for step in steps: await do(step)
aio::Task<double> one_after_another() {
    const Kitchen kitchen;
    for (const Step& s : kAllSteps) co_await step(kitchen, "Masha & Dasha", s);
    kitchen.say("Masha & Dasha", "dinner is ready");
    co_return kitchen.ms();
}

aio::Task<void> masha(const Kitchen& kitchen) {
    co_await step(kitchen, "Masha", kShop);
    co_await step(kitchen, "Masha", kSauce);
    kitchen.say("Masha", "the sauce is ready; she waits for the pasta");
}

aio::Task<void> dasha(const Kitchen& kitchen) {
    co_await step(kitchen, "Dasha", kBoil);
    co_await step(kitchen, "Dasha", kPasta);
    kitchen.say("Dasha", "the pasta is ready");
}

// Plan 2. Python: await asyncio.gather(masha(), dasha())
aio::Task<double> together() {
    const Kitchen kitchen;
    co_await aio::gather(masha(kitchen), dasha(kitchen));
    kitchen.say("Masha & Dasha", "dinner is ready");
    co_return kitchen.ms();
}

long to_minutes(double ms) { return std::lround(ms / static_cast<double>(kMinute.count())); }

void run(const aio_demo::Options& options) {
    fmt::print("Masha and Dasha cook pasta with tomato sauce. Done one step after another, dinner takes 32 minutes;\n"
               "if Masha does the shopping while Dasha cooks, it takes 17. Same steps, overlapped waits: that is\n"
               "what an event loop buys you. One minute of the story is {} ms here.\n\n",
               kMinute.count());
    fmt::print("The steps: shop ({} min) then make the sauce ({} min); boil the water ({} min) then cook the pasta "
               "({} min).\n",
               kShop.minutes, kSauce.minutes, kBoil.minutes, kPasta.minutes);
    fmt::print(" - one after another: {} + {} + {} + {} = {} minutes\n", kShop.minutes, kSauce.minutes, kBoil.minutes,
               kPasta.minutes, kShop.minutes + kSauce.minutes + kBoil.minutes + kPasta.minutes);
    fmt::print(" - together: Masha shops and makes the sauce ({} min) while Dasha boils the water and cooks the\n"
               "   pasta ({} min); dinner is ready when the longer of the two ends: {} minutes\n",
               kShop.minutes + kSauce.minutes, kBoil.minutes + kPasta.minutes,
               std::max(kShop.minutes + kSauce.minutes, kBoil.minutes + kPasta.minutes));

    fmt::print("\nPlan 1, one after another (co_await each step in turn):\n");
    const double sequential_ms = aio::run(one_after_another(), options.loop_options());
    fmt::print("\nPlan 2, together (co_await aio::gather(masha(), dasha())):\n");
    const double together_ms = aio::run(together(), options.loop_options());

    fmt::print("\nMeasured on the loop's clock:\n");
    fmt::print("   one after another: {} minutes  ({:.1f} ms)\n", to_minutes(sequential_ms), sequential_ms);
    fmt::print("   together:          {} minutes  ({:.1f} ms)\n", to_minutes(together_ms), together_ms);
    fmt::print("   together is {:.2f}x faster\n", sequential_ms / together_ms);

    fmt::print("\nC++ vs Python:\n"
               " - as in asyncio, Masha and Dasha are two tasks on ONE thread, and they overlap only because every\n"
               "   step is a wait (aio::sleep). If making the sauce were CPU work on that thread, Dasha's steps\n"
               "   would stall while it ran (see E18): two real cooks are more like two threads.\n"
               " - aio::gather returns std::tuple<std::monostate, std::monostate> for two void tasks where asyncio\n"
               "   returns [None, None].\n");
}

const aio_demo::Registration registration{{
    .name = "masha_and_dasha",
    .number = 20,
    .summary = "Dinner for two: 32 minutes one step after another, 17 when one shops while the other cooks.",
    .run = &run,
}};

}  // namespace
