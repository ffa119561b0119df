// E1 — an endless `x += 1` keeps one core busy: the course watched it in a task manager ("one
// core of 14 busy"). Here the kernel's own counters tell it (/proc/self/stat for this process's
// CPU time, /proc/stat for each core). Then the C++ difference, measured: with no GIL, N threads
// running the same loop keep N cores busy; in Python they would still share one.
// Standalone: examples/e01_busy_loop. In the CLI: aiocpp demo busy_loop (or E1).
#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <unistd.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

struct CoreTimes {
    std::vector<long long> busy, total;  // per core, in clock ticks
};

CoreTimes read_cores() {
    CoreTimes t;
    std::ifstream in("/proc/stat");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] == ' ') continue;  // "cpuN" lines only
        std::istringstream f(line.substr(line.find(' ')));
        long long v[8] = {};
        for (auto& x : v) f >> x;
        const long long idle = v[3] + v[4];  // idle + iowait
        long long all = 0;
        for (auto x : v) all += x;
        t.busy.push_back(all - idle);
        t.total.push_back(all);
    }
    return t;
}

// This process's user + system CPU time, in seconds.
double process_cpu_seconds() {
    std::ifstream in("/proc/self/stat");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream f(s.substr(s.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && f >> field; ++i) {
        if (i == 14) utime = std::stoll(field);
        if (i == 15) stime = std::stoll(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct Sample {
    double cores_used = 0;            // process CPU seconds / wall seconds
    std::vector<double> per_core;     // busy share of each core over the run
};

// Python: `x = 0; while True: x += 1` — here for `duration`, on `threads` threads.
Sample spin(int threads, std::chrono::milliseconds duration) {
    std::atomic<bool> stop{false};
    const CoreTimes before = read_cores();
    const double cpu0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::jthread> workers;
    for (int i = 0; i < threads; ++i)
        workers.emplace_back([&stop] {
            volatile unsigned long long x = 0;  // volatile: the loop must really run
            while (!stop.load(std::memory_order_relaxed)) x = x + 1;
        });
    std::this_thread::sleep_for(duration);
    stop = true;
    workers.clear();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = process_cpu_seconds() - cpu0;
    const CoreTimes after = read_cores();
    Sample s;
    s.cores_used = cpu / wall;
    for (size_t i = 0; i < after.busy.size() && i < before.busy.size(); ++i) {
        const double total = static_cast<double>(after.total[i] - before.total[i]);
        s.per_core.push_back(total > 0 ? static_cast<double>(after.busy[i] - before.busy[i]) / total : 0.0);
    }
    return s;
}

std::string per_core_line(const Sample& s) {
    std::string out;
    for (size_t i = 0; i < s.per_core.size(); ++i) out += fmt::format("{}cpu{} {:.0f}%", i ? ", " : "", i, s.per_core[i] * 100);
    return out;
}

void run(const aio_demo::Options&) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    fmt::print("Python (the course):  x = 0\n                      while True: x += 1\n\n");
    const Sample one = spin(1, 400ms);
    fmt::print("One thread spinning for 0.4 s: this process used {:.2f} cores -> one core of {} busy.\n", one.cores_used,
               cores);
    fmt::print("  per core (/proc/stat, the whole machine): {}\n\n", per_core_line(one));
    if (cores >= 2) {
        const Sample many = spin(static_cast<int>(cores), 400ms);
        fmt::print("{} threads spinning: {:.2f} cores used -> {} of {} busy.\n", cores, many.cores_used,
                   static_cast<int>(many.cores_used + 0.5), cores);
        fmt::print("  per core: {}\n", per_core_line(many));
    }
    fmt::print("\nThe C++ difference: there is no GIL, so each thread that spins keeps a core of its own busy. In\n"
               "Python the same {} threads would take turns on one core (one interpreter lock), which is why\n"
               "the course reaches for processes (E12, E21) for CPU work. (On a shared machine the figures\n"
               "include what other programs ran meanwhile.)\n",
               cores);
}

const aio_demo::Registration registration{
    {.name = "busy_loop", .number = 1, .summary = "An endless x += 1 keeps one core busy; with no GIL, N threads keep N busy.", .run = &run}};

}  // namespace
