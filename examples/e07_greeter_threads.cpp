// E7 — greeter threads: one thread, two threads, a list of threads; join; a daemon thread.
// Python: threading.Thread(target=greeter, args=(name, count)), start(), join(), daemon=True.
// Standalone: examples/e07_greeter_threads. In the CLI: aiocpp demo greeter_threads.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
namespace threading = aio::threading;

// One second of the course is 50 ms here.
constexpr auto kSecond = 50ms;

// Python: def greeter(name, count): for i in range(count): print(f"Hello {name}"); sleep(1)
void greeter(const std::string& name, int count) {
    for (int i = 0; i < count; ++i) {
        fmt::print("   [{}] hello {} ({}/{})\n", threading::current_thread_name(), name, i + 1, count);
        std::this_thread::sleep_for(kSecond);
    }
}

void run(const aio_demo::Options&) {
    fmt::print("1. One thread. Python: t = Thread(target=greeter, args=('Ali', 2)); t.start(); t.join()\n");
    {
        threading::Thread t(threading::ThreadOptions{.name = "greeter-1"}, greeter, std::string("Ali"), 2);
        t.start();
        t.join();
    }
    fmt::print("   joined: main waited for it.\n\n");

    fmt::print("2. Two threads at once: their lines interleave (the OS schedules them, not us).\n");
    {
        threading::Thread a(threading::ThreadOptions{.name = "greeter-a"}, greeter, std::string("Sara"), 3);
        threading::Thread b(threading::ThreadOptions{.name = "greeter-b"}, greeter, std::string("Reza"), 3);
        const auto t0 = std::chrono::steady_clock::now();
        a.start();
        b.start();
        a.join();
        b.join();
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        fmt::print("   both done in about {} 'seconds', not 6: they slept at the same time.\n\n",
                   (ms + kSecond.count() / 2) / kSecond.count());
    }

    fmt::print("3. A list of threads, started in a loop, then joined in a loop.\n");
    {
        std::vector<std::unique_ptr<threading::Thread>> threads;
        for (const char* name : {"Mina", "Omid", "Nima", "Leila"})
            threads.push_back(std::make_unique<threading::Thread>(greeter, std::string(name), 1));
        for (auto& t : threads) t->start();
        for (auto& t : threads) t->join();
        fmt::print("   all {} joined.\n\n", threads.size());
    }

    fmt::print("4. A daemon thread: Python does not wait for it at exit. Thread(daemon=true) is detached when its\n"
               "   object goes away instead of being joined (std::jthread would join, std::thread would terminate).\n");
    {
        auto stop = std::make_shared<threading::Event>();
        auto beats = std::make_shared<std::atomic<int>>(0);
        auto first_beat = std::make_shared<threading::Event>();
        {
            threading::Thread heartbeat(threading::ThreadOptions{.name = "heartbeat", .daemon = true}, [stop, beats, first_beat] {
                while (!stop->is_set()) {
                    ++*beats;
                    first_beat->set();
                    stop->wait(kSecond);
                }
            });
            heartbeat.start();
            first_beat->wait();
        }  // not joined: the heartbeat goes on in the background
        fmt::print("   the Thread object is gone, main did not wait, and the heartbeat thread runs on in the background\n"
                   "   ({} beat{} so far).\n", beats->load() > 1 ? "several" : "one", beats->load() > 1 ? "s" : "");
        // A daemon dies with the process; here we stop it so that it does not talk over the next demo.
        stop->set();
    }
    fmt::print("\nC++ vs Python: std::jthread covers start+join; aio::threading::Thread adds the name, daemon threads,\n"
               "join(timeout), is_alive() and an exception hook (an exception in a std::thread calls std::terminate).\n");
}

const aio_demo::Registration registration{{
    .name = "greeter_threads",
    .number = 7,
    .summary = "Greeter threads: one, two, a list; join; a daemon thread that main does not wait for.",
    .run = &run,
}};

}  // namespace
