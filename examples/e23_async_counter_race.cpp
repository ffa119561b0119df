// E23 — a lost update without threads: two tasks read a shared counter, await, then write it back;
// one increment vanishes (20 instead of 30). An aio::Lock around the read-await-write fixes it.
// Standalone: examples/e23_async_counter_race [--virtual-time]. In the CLI: aiocpp demo async_counter_race.
#include <chrono>
#include <thread>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

// One second of the story is 10 ms of loop time.
constexpr std::chrono::milliseconds kSecond = 10ms;

struct Shared {
    int counter = 0;
    aio::Lock lock;
    aio_demo::LoopStopwatch clock;
    std::thread::id thread = std::this_thread::get_id();
    bool one_thread = true;

    void note(int by, int local) {
        if (std::this_thread::get_id() != thread) one_thread = false;
        fmt::print("   [t+{:.0f} s] increase(by={}): wrote counter={} (it had read {})\n",
                   clock.ms() / static_cast<double>(kSecond.count()), by, counter, local - by);
    }
};

// Python (the course, with threads):          The async twin:
//     def increase(by):                           async def increase(by):
//         global counter                              global counter
//         local_counter = counter                     local_counter = counter
//         local_counter += by                         local_counter += by
//         sleep(1)                                    await asyncio.sleep(1)   # other tasks run here
//         counter = local_counter                     counter = local_counter
aio::Task<void> increase(Shared& s, int by) {
    int local_counter = s.counter;
    local_counter += by;
    co_await aio::sleep(kSecond);  // the only place another task can run: between the read and the write
    s.counter = local_counter;
    s.note(by, local_counter);
}

//     async def increase(by, lock):
//         async with lock: <the same>
aio::Task<void> increase_locked(Shared& s, int by) {
    auto held = co_await s.lock.scoped();
    co_await increase(s, by);
}

struct Outcome {
    int counter;
    double seconds;
    bool one_thread;
};

template <class F>
aio::Task<Outcome> race(F body) {
    Shared s;
    co_await aio::gather(body(s, 10), body(s, 20));
    co_return Outcome{s.counter, s.clock.ms() / static_cast<double>(kSecond.count()), s.one_thread};
}

void run(const aio_demo::Options& options) {
    fmt::print("Two tasks each add to a shared counter: read it, wait one second (an await), write it back.\n"
               "Both read 0 before either writes, so the second write overwrites the first. No threads are\n"
               "involved: an await between the read and the write is enough. One second of the story is {} ms.\n",
               kSecond.count());

    fmt::print("\nWithout a lock: gather(increase(10), increase(20))\n");
    const Outcome racy = aio::run(race(increase), options.loop_options());
    fmt::print("   counter = {} (expected 30: the update by 10 was lost), after {:.0f} s\n", racy.counter, racy.seconds);

    fmt::print("\nWith an aio::Lock around the read-await-write:\n");
    const Outcome locked = aio::run(race(increase_locked), options.loop_options());
    fmt::print("   counter = {}, after {:.0f} s: the second task waited for the first, so the waits no longer overlap\n",
               locked.counter, locked.seconds);
    fmt::print("\nEvery step ran on {}.\n", racy.one_thread && locked.one_thread ? "main()'s thread: one thread, two tasks"
                                                                                 : "SEVERAL threads");

    fmt::print("\nC++ vs Python:\n"
               " - the course shows the race with two threads (20 or 10 instead of 30). Between tasks the race is\n"
               "   deterministic: a task is only interrupted at a co_await, so the lost update happens every time,\n"
               "   and code without an await between the read and the write needs no lock at all.\n"
               " - with C++ threads the unlocked version would also be a data race, which is undefined behaviour;\n"
               "   between tasks of one loop it is merely wrong.\n"
               " - `async with lock:` becomes `auto held = co_await lock.scoped();`: released when `held` goes out\n"
               "   of scope, however the task leaves it.\n");
}

const aio_demo::Registration registration{{
    .name = "async_counter_race",
    .number = 23,
    .summary = "Two tasks lose an update to a shared counter (20 instead of 30) with no threads; an aio::Lock fixes it.",
    .run = &run,
}};

}  // namespace
