// E25 — Semaphore(3) over 7 threads that each work for 2 "seconds": they start in groups of at
// most three, at t, t+2 and t+4.
// Standalone: examples/e25_semaphore [--virtual-time: simulated work, an exact timeline].
// In the CLI: aiocpp demo threads_semaphore.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
namespace threading = aio::threading;

constexpr auto kSecond = 100ms;  // one second of the course
constexpr int kThreads = 7;
constexpr int kWork = 2;  // seconds each thread holds the semaphore

// --virtual-time: the threads and the Semaphore are real, but the 2 s of work are spent on a
// simulated clock, which jumps to the next wake-up once every thread is idle (working, or waiting
// for a permit). The timeline is then exact on any machine, however loaded — the wall-clock run
// rounds real start times, which a busy machine can push into the wrong group.
class SimClock {
public:
    explicit SimClock(int threads) : live_(threads) {}

    // Takes a permit and returns the time it was granted. A thread blocked inside the
    // semaphore would be invisible to the clock, so it waits here for a release instead and
    // retries; releases happen under the same mutex, so none is missed.
    double acquire(threading::Semaphore& sem) {
        std::unique_lock lk(mu_);
        while (!sem.acquire(false)) {
            const uint64_t seen = releases_;
            ++blocked_;
            ++idle_;
            advance_if_all_idle();
            cv_.wait(lk, [&] { return releases_ != seen; });
        }
        return now_;
    }
    void release(threading::Semaphore& sem) {
        std::lock_guard lk(mu_);
        sem.release();
        ++releases_;
        // The waiters are runnable from now on, before they get to run: count them so, or the
        // clock could jump ahead while they are on their way to the permit.
        idle_ -= blocked_;
        blocked_ = 0;
        cv_.notify_all();
    }
    // Works for `seconds` of simulated time.
    void work(double seconds) {
        std::unique_lock lk(mu_);
        const double until = now_ + seconds;
        wakeups_.insert(until);
        ++idle_;
        advance_if_all_idle();
        cv_.wait(lk, [&] { return now_ >= until; });
    }
    void exit() {
        std::lock_guard lk(mu_);
        --live_;
        advance_if_all_idle();
    }

private:
    void advance_if_all_idle() {
        if (idle_ < live_ || wakeups_.empty()) return;
        now_ = *wakeups_.begin();
        // Woken sleepers count as running at once (as released waiters do).
        while (!wakeups_.empty() && *wakeups_.begin() <= now_) {
            wakeups_.erase(wakeups_.begin());
            --idle_;
        }
        cv_.notify_all();
    }

    std::mutex mu_;
    std::condition_variable cv_;
    double now_ = 0;
    int live_, idle_ = 0, blocked_ = 0;
    uint64_t releases_ = 0;
    std::multiset<double> wakeups_;
};

void run(const aio_demo::Options& options) {
    threading::Semaphore sem(3);
    SimClock sim(kThreads);
    std::mutex mu;
    int inside = 0, max_inside = 0;
    std::vector<double> starts(kThreads);
    const auto t0 = std::chrono::steady_clock::now();
    auto started = [&](int i, double at) {
        {
            std::lock_guard lk(mu);
            starts[static_cast<size_t>(i)] = at;
            max_inside = std::max(max_inside, ++inside);
        }
        fmt::print("   thread {} starts at t={:.0f}\n", i, at);
    };
    auto leaving = [&] {
        std::lock_guard lk(mu);
        --inside;
    };
    auto worker = [&](int i) {
        if (options.virtual_time) {
            started(i, sim.acquire(sem));
            sim.work(kWork);
            leaving();
            sim.release(sem);
            sim.exit();
            return;
        }
        auto permit = sem.scoped();  // Python: with sem:
        started(i, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0) / kSecond);
        std::this_thread::sleep_for(kWork * kSecond);
        leaving();
    };
    if (options.virtual_time) fmt::print("   (--virtual-time: each thread's 2 s of work runs on a simulated clock)\n");
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i) ts.emplace_back(worker, i);
    for (auto& t : ts) t.join();
    std::sort(starts.begin(), starts.end());
    int groups[3] = {0, 0, 0};
    for (double s : starts) ++groups[std::min(2, static_cast<int>(s / kWork + 0.5))];
    fmt::print("\nat most {} threads held the semaphore at once\n", max_inside);
    fmt::print("start times by group: {} at t=0, {} at t=2, {} at t=4\n", groups[0], groups[1], groups[2]);
}

const aio_demo::Registration registration{{
    .name = "threads_semaphore",
    .number = 25,
    .summary = "Semaphore(3) over 7 threads working 2 s each: they start in groups, at t, t+2, t+4.",
    .run = &run,
}};

}  // namespace
