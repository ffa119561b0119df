// Helpers for the tests of the sync layer (tests/sync/test_*.cpp). Scenarios marked "CPython"
// were run on CPython 3.11 first; the Python code and its output are in a comment above the test.
#pragma once

#include <aio/aio.hpp>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace synctest {

using namespace std::chrono_literals;

/// The event log scenarios append to (Python: `log = []`).
using Log = std::vector<std::string>;

/// loop.time() of the running loop (0 when aio::run starts on the virtual clock).
inline double now() { return aio::get_running_loop().time(); }

/// aio::dump_tasks of the running loop, as a string.
inline std::string dump() {
    std::ostringstream out;
    aio::dump_tasks(out);
    return out.str();
}

/// Lets every ready task run `n` times (Python: `for _ in range(n): await asyncio.sleep(0)`).
inline aio::Task<> yield(int n = 1) {
    for (int i = 0; i < n; ++i) co_await aio::sleep(0ms);
}

}  // namespace synctest
