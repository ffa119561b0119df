// E8 — stopping a background thread. Python has no way to kill a thread: it sets a flag (an
// Event) that the thread checks. C++20 has the same idea built in: std::stop_token.
// Standalone: examples/e08_stopping_a_thread. In the CLI: aiocpp demo stopping_a_thread.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
namespace threading = aio::threading;

constexpr auto kTick = 20ms;

void run(const aio_demo::Options&) {
    fmt::print("1. The Python way: a stop Event the worker checks between steps.\n"
               "   Python: stop = Event(); def work(): while not stop.is_set(): ...; stop.wait(1)\n");
    {
        threading::Event stop;
        threading::Event three_done;
        int steps = 0;
        threading::Thread worker(threading::ThreadOptions{.name = "worker"}, [&] {
            while (!stop.is_set()) {
                if (++steps == 3) three_done.set();
                stop.wait(kTick);  // a sleep that a stop() cuts short
            }
        });
        worker.start();
        three_done.wait();
        stop.set();
        const auto t0 = std::chrono::steady_clock::now();
        worker.join();
        const auto waited = std::chrono::steady_clock::now() - t0;
        fmt::print("   stopped after {} steps; join {}\n\n", steps,
                   waited < 10 * kTick ? "returned at once: the worker's wait was cut short by set(), not slept out"
                                       : "was slow (a busy machine)");
    }

    fmt::print("2. The C++20 way: the thread's function takes a std::stop_token; request_stop() asks it to stop,\n"
               "   and a condition_variable_any wait wakes up at once when asked.\n");
    {
        threading::Event started;
        threading::Thread worker(threading::ThreadOptions{.name = "stoppable"}, [&](std::stop_token st) {
            std::mutex m;
            std::condition_variable_any cv;
            std::unique_lock lk(m);
            started.set();
            cv.wait(lk, st, [] { return false; });  // "wait for work", interruptible
            fmt::print("   [{}] stop requested: cleaning up and leaving\n", threading::current_thread_name());
        });
        worker.start();
        started.wait();
        worker.request_stop();
        worker.join();
        fmt::print("   joined.\n\n");
    }

    fmt::print("3. Destroying a (non-daemon) Thread requests a stop and joins, as std::jthread does: a thread\n"
               "   cannot be forgotten running.\n");
    {
        threading::Thread worker([](std::stop_token st) {
            while (!st.stop_requested()) std::this_thread::sleep_for(1ms);
        });
        worker.start();
    }
    fmt::print("   the scope ended; the thread had stopped before it did.\n");
}

const aio_demo::Registration registration{{
    .name = "stopping_a_thread",
    .number = 8,
    .summary = "Stopping a thread cooperatively: a stop Event (Python's way) and std::stop_token (C++20's).",
    .run = &run,
}};

}  // namespace
