// E27 — which concurrency for which job. The course ends on a table: threading switches
// preemptively on one CPU, asyncio cooperatively on one CPU, multiprocessing uses many CPUs; so
// I/O-bound work wants asyncio (or threads), CPU-bound work wants multiprocessing. Here every
// cell of that table is a measurement: `aiocpp race` run twice, once on an I/O-bound job (pages
// of the demo site, each behind a latency) and once on a CPU-bound one (counting primes), and,
// when Debian's Python is there, its threads on the CPU-bound job beside ours. C++ differs in
// one cell, and the table says so: with no GIL, its threads use many CPUs.
// Standalone: examples/e27_which_concurrency. In the CLI: aiocpp demo which_concurrency (or E27).
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "aio_app/race.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
using aio::app::Way;
using aio::app::WayResult;

constexpr const char* kPython = "/usr/bin/python3";

const WayResult* find(const std::vector<WayResult>& rs, Way w, const char* lang = "C++") {
    for (const WayResult& r : rs)
        if (r.way == w && r.lang == lang && r.skipped.empty() && r.speedup) return &r;
    return nullptr;
}

std::string cell(const WayResult* r) {
    if (!r) return "-";
    return fmt::format("{:.1f}x of {:.1f}x", *r->speedup, r->ideal_speedup);
}

void run(const aio_demo::Options& options) {
    // --virtual-time (the tests) asks for a quick run: smaller jobs, the same lesson.
    const bool quick = options.virtual_time;
    const int cores = aio::app::available_cores();

    aio::app::RaceOptions io;
    io.pages = quick ? 12 : 40;
    io.latency = quick ? 10ms : 25ms;
    io.jitter = 0ms;
    io.workers = 4;
    io.concurrency = io.pages;
    fmt::print("1. I/O-bound: {} pages, each {} ms behind the site's latency; 4 threads, {} coroutines, 4 "
               "processes\n",
               io.pages, std::chrono::duration_cast<std::chrono::milliseconds>(io.latency).count(), io.concurrency);
    std::fflush(stdout);
    const std::vector<WayResult> io_rs = aio::app::run_race(io);

    aio::app::RaceOptions cpu;
    cpu.job = aio::app::Job::cpu;
    cpu.cpu_size = quick ? 100'000 : 2'000'000;
    cpu.chunks = 16;
    cpu.workers = cores;
    cpu.python = ::access(kPython, X_OK) == 0;
    cpu.python_path = kPython;
    cpu.python_cpu_size = quick ? 20'000 : 200'000;
    cpu.ways = {Way::sequential, Way::threads, Way::coroutines, Way::processes};
    fmt::print("2. CPU-bound: the primes below {} in {} chunks on {} core{}{}\n\n", cpu.cpu_size, cpu.chunks, cores,
               cores == 1 ? "" : "s",
               cpu.python ? fmt::format("; Python's ways below {} (pure Python is slower)", cpu.python_cpu_size) : "");
    std::fflush(stdout);
    const std::vector<WayResult> cpu_rs = aio::app::run_race(cpu);

    fmt::print("{:<11} {:<12} {:<32} {:<16} {}\n", "", "switching", "processors used", "I/O-bound",
               "CPU-bound");
    fmt::print("{:<11} {:<12} {:<32} {:<16} {}\n", "threads", "preemptive",
               "many in C++ (one in Python: GIL)", cell(find(io_rs, Way::threads)),
               cell(find(cpu_rs, Way::threads)));
    fmt::print("{:<11} {:<12} {:<32} {:<16} {}\n", "coroutines", "cooperative", "one",
               cell(find(io_rs, Way::coroutines)), cell(find(cpu_rs, Way::coroutines)));
    fmt::print("{:<11} {:<12} {:<32} {:<16} {}\n", "processes", "preemptive", "many",
               cell(find(io_rs, Way::processes)), cell(find(cpu_rs, Way::processes)));
    const WayResult* py_threads = find(cpu_rs, Way::threads, "Python");
    const WayResult* py_procs = find(cpu_rs, Way::processes, "Python");
    if (py_threads || py_procs) {
        fmt::print("{:<11} {:<12} {:<32} {:<16} {}\n", "Python thr.", "preemptive", "one (the GIL)", "",
                   cell(py_threads));
        fmt::print("{:<11} {:<12} {:<32} {:<16} {}\n", "Python proc", "preemptive", "many", "", cell(py_procs));
    }
    fmt::print("(each cell: the speed-up over one at a time, of the ideal the latency or the cores allow)\n\n");

    const WayResult* io_coro = find(io_rs, Way::coroutines);
    const WayResult* io_thr = find(io_rs, Way::threads);
    if (io_coro && io_thr)
        fmt::print("I/O-bound: coroutines, {} requests in flight on one thread for {:.3f} s of CPU; threads are\n"
                   "as fast per request in flight but cost a thread each ({:.3f} s of CPU for {}).\n",
                   io_coro->at_once, io_coro->cpu_s, io_thr->cpu_s, io_thr->at_once);
    fmt::print("CPU-bound: in Python, processes (its threads share one GIL); in C++, threads or processes,\n"
               "as many as the cores. Coroutines never help there: they take turns on one thread.\n");
    fmt::print("So the course's table holds, but for one cell: C++ threads are not held to one CPU.\n");
}

const aio_demo::Registration registration{
    {.name = "which_concurrency",
     .number = 27,
     .summary = "When to use which: the concurrency table, each cell measured by aiocpp race (I/O- and CPU-bound).",
     .run = &run}};

}  // namespace
