// `aiocpp race --python`: the course's four ways in Python (apps/python/race_ways.py, embedded in
// the command), run by Debian's /usr/bin/python3 against the same site as aiocpp's ways and
// measured the same way, so that one table shows both. Internal to race.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace aio::app::detail {

/// The text of apps/python/race_ways.py (generated at build time from that file).
extern const std::string_view race_ways_py;

/// What one run of the script reports, with what wait4() says of its process.
struct PythonReport {
    size_t ok = 0;
    size_t failed = 0;
    /// The job alone, as the script timed it: the interpreter's start-up and imports excluded,
    /// as aiocpp's ways exclude their fork.
    double wall_s = 0;
    /// User + system of the interpreter and every process it waited for (the Pool's workers).
    double cpu_s = 0;
    /// The interpreter's own peak RSS, in KiB, and the sum of its workers' (processes way).
    uint64_t self_rss_kib = 0;
    uint64_t workers_rss_kib = 0;
    size_t workers = 0;
    /// cpu: the primes the way counted.
    std::optional<uint64_t> primes;
};

struct PythonRun {
    std::string python;  // the interpreter
    std::string mode;    // "io" or "cpu"
    std::string way;     // "sequential", "threads", "coroutines", "processes"
    std::string base;    // the site, "http://127.0.0.1:PORT" ("" for cpu)
    size_t items = 0;    // pages, or the cpu job's items
    int workers = 1;
    size_t concurrency = 1;
    double timeout_s = 30;
    /// Called with every "progress N" the script prints.
    std::function<void(size_t)> on_progress;
};

/// Why `python` cannot run the ways ("" when it can): not there, not runnable.
[[nodiscard]] std::string python_problem(const std::string& python);
/// Whether `python` can import `module` (aiohttp, for the coroutines way).
[[nodiscard]] bool python_has_module(const std::string& python, const std::string& module);

/// Runs the script for one way and waits for it (ten minutes at most, then it is killed). Throws
/// std::runtime_error with the script's last error line when it fails or reports nothing.
[[nodiscard]] PythonReport run_python_way(const PythonRun& run);

}  // namespace aio::app::detail
