// E19 — coroutine basics: the course's first asyncio listings (async def, await, asyncio.run,
// asyncio.sleep, a reusable delay() coroutine) ported to aiocpp.
// Standalone: examples/e19_coroutine_basics [--virtual-time]. In the CLI: aiocpp demo coroutine_basics.
#include <chrono>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

// The course sleeps whole seconds; one "second" here is 100 ms so the demo finishes quickly.
constexpr std::chrono::milliseconds kSecond = 100ms;

// Loop time at which main_coroutine() started. A global rather than a parameter so that delay()
// keeps the course's one-argument signature.
double g_start = 0;

void say(std::string_view text) {
    fmt::print("   [{:3.0f} ms] {}\n", (aio::get_running_loop().time() - g_start) * 1000.0, text);
}

// Python: async def coroutine_add_one(number: int) -> int: return number + 1
aio::Task<int> coroutine_add_one(int number) { co_return number + 1; }

// Python: async def add_one(number: int) -> int: return number + 1
aio::Task<int> add_one(int number) { co_return number + 1; }

// Python: async def hello_world_message() -> str: await asyncio.sleep(1); return 'Hello World!'
aio::Task<std::string> hello_world_message() {
    co_await aio::sleep(1 * kSecond);
    co_return "Hello World!";
}

// Python: async def delay(delay_seconds: int) -> int, the helper later examples reuse to stand for
// slow I/O.
aio::Task<int> delay(int delay_seconds) {
    say(fmt::format("sleeping for {} second(s)", delay_seconds));
    co_await aio::sleep(delay_seconds * kSecond);
    say(fmt::format("finished sleeping for {} second(s)", delay_seconds));
    co_return delay_seconds;
}

aio::Task<void> main_coroutine() {
    g_start = aio::get_running_loop().time();

    fmt::print("\n2. Awaiting a coroutine runs it, inside the awaiting one, and gives its result\n");
    const int one_plus_one = co_await add_one(1);
    const int two_plus_one = co_await add_one(2);
    fmt::print("   co_await add_one(1) = {}      (Python: await add_one(1))\n", one_plus_one);
    fmt::print("   co_await add_one(2) = {}\n", two_plus_one);

    fmt::print("\n3. hello_world_message() sleeps 1 second, then returns \"Hello World!\"\n");
    say("main awaits hello_world_message(): main is paused until it returns");
    const std::string message = co_await hello_world_message();
    const int result = co_await add_one(1);
    say(std::to_string(result));
    say(message);

    fmt::print("\n4. A reusable delay(seconds) coroutine, awaited twice in a row\n");
    const double before = aio::get_running_loop().time();
    co_await delay(1);
    co_await delay(2);
    const double took_ms = (aio::get_running_loop().time() - before) * 1000.0;
    fmt::print("   The two delays took {:.0f} ms = 1 + 2 \"seconds\": co_await on its own never runs two things at\n"
               "   once. Running them at the same time takes tasks (aio::create_task, aio::gather): see E18.\n",
               took_ms);
}

void run(const aio_demo::Options& options) {
    fmt::print("A coroutine is a function that can pause at co_await (Python: await) while the event loop runs\n"
               "something else. Here are the course's first listings: define, call, await and run coroutines.\n"
               "Time is scaled down: one \"second\" in this demo is {} ms.\n",
               kSecond.count());

    fmt::print("\n1. Calling a coroutine does not run it\n");
    aio::Task<int> coroutine = coroutine_add_one(1);
    fmt::print("   coroutine_add_one(1) gave an aio::Task<int> that has not started (valid() = {}):\n"
               "   nothing ran yet, exactly like the coroutine object Python returns.\n",
               coroutine.valid());
    const int result = aio::run(std::move(coroutine), options.loop_options());
    fmt::print("   aio::run(coroutine_add_one(1)) = {}     (Python: asyncio.run(coroutine_add_one(1)))\n", result);

    aio::run(main_coroutine(), options.loop_options());

    fmt::print("\nC++ vs Python:\n"
               " - C++ has no `async def`: a function is a coroutine because its body uses co_await or co_return,\n"
               "   and its return type, aio::Task<int>, says what awaiting it gives (the Python annotation is\n"
               "   optional; this type is not).\n"
               " - aio::run(task, options) is asyncio.run: a new loop runs the task and returns its result. An\n"
               "   aio::Task destroyed without ever running is reported like Python's \"coroutine ... was never\n"
               "   awaited\" warning.\n");
}

const aio_demo::Registration registration{{
    .name = "coroutine_basics",
    .number = 19,
    .summary = "Define, call, await and run coroutines: async def, await, asyncio.run, asyncio.sleep.",
    .run = &run,
}};

}  // namespace
