// asyncio.run's shutdown rules, pinned against CPython 3.11: tasks still pending when main
// returns are cancelled and waited for (their cleanup runs), main's exception propagates, and
// run() refuses to nest.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "semantics_util.hpp"

namespace {

using namespace std::chrono_literals;
using sem::Log;

struct Guard {
    Log& log;
    ~Guard() { log.push_back("guard destroyed"); }
};

aio::Task<> background(Log& log) {
    Guard g{log};
    std::exception_ptr cancelled;
    try {
        co_await aio::sleep(100s);
    } catch (const aio::CancelledError&) {
        cancelled = std::current_exception();
    }
    if (cancelled) {
        log.push_back("bg cancelled");
        co_await aio::sleep(1s);
        log.push_back("bg cleanup done at " + std::to_string(sem::now()));
        std::rethrow_exception(cancelled);
    }
}

aio::Task<std::string> main_leaves_background(Log& log) {
    aio::create_task(background(log));
    co_await aio::sleep(1s);
    log.push_back("main returns");
    co_return "result";
}

// Python:
//   class Guard:
//       def __del__(s): s.log.append("guard destroyed")
//   async def bg(log):
//       g = Guard(log)
//       try: await asyncio.sleep(100)
//       except asyncio.CancelledError:
//           log.append("bg cancelled"); await asyncio.sleep(1); log.append("bg cleanup done"); raise
//   async def main(log): asyncio.create_task(bg(log)); await asyncio.sleep(1); log.append("main returns"); return "result"
//   print(asyncio.run(main(log)), log)
// -> result ['main returns', 'bg cancelled', 'bg cleanup done', 'guard destroyed']
// (The RAII guard stands in for the __del__ of a local: it runs before run() returns.)
TEST(SemanticsShutdown, RunCancelsPendingTasksAndWaitsForTheirCleanup) {
    Log log;
    std::string r = aiotest::run_virtual(main_leaves_background(log));
    EXPECT_EQ(r, "result");
    EXPECT_EQ(log, (Log{"main returns", "bg cancelled", "bg cleanup done at " + std::to_string(2.0), "guard destroyed"}));
}

aio::Task<> bg_logs_start(Log& log, int n) {
    log.push_back("bg" + std::to_string(n) + " started");
    try {
        co_await aio::sleep(100s);
    } catch (const aio::CancelledError&) {
        log.push_back("bg" + std::to_string(n) + " cancelled");
        throw;
    }
}
aio::Task<> main_returns_at_once(Log& log) {
    aio::create_task(bg_logs_start(log, 1));
    aio::create_task(bg_logs_start(log, 2));
    log.push_back("main returns");
    co_return;
}

// Python:
//   async def bg(log, n):
//       log.append(f"bg{n} started")
//       try: await asyncio.sleep(100)
//       except asyncio.CancelledError: log.append(f"bg{n} cancelled"); raise
//   async def main(log): create_task(bg(log, 1)); create_task(bg(log, 2)); log.append("main returns")
// -> ['main returns', 'bg1 started', 'bg2 started', 'bg1 cancelled', 'bg2 cancelled']
// (The loop stops through a call_soon'd callback, so tasks already scheduled take their first
//  step before the shutdown cancels them.) The order of the two "cancelled" entries is not
// pinned: asyncio.run cancels `all_tasks()`, a set, whose order varies from run to run
// (with 12 tasks CPython printed [8, 0, 3, 11, ...], then [6, 2, 9, 10, ...]).
TEST(SemanticsShutdown, TasksScheduledWhenMainReturnsStartThenGetCancelled) {
    Log log;
    aiotest::run_virtual(main_returns_at_once(log));
    ASSERT_EQ(log.size(), 5u) << ::testing::PrintToString(log);
    EXPECT_EQ(Log(log.begin(), log.begin() + 3), (Log{"main returns", "bg1 started", "bg2 started"}));
    Log cancelled(log.begin() + 3, log.end());
    std::sort(cancelled.begin(), cancelled.end());
    EXPECT_EQ(cancelled, (Log{"bg1 cancelled", "bg2 cancelled"}));
}

aio::Task<> main_raises(Log& log) {
    aio::create_task(bg_logs_start(log, 1));
    co_await aio::sleep(1s);
    throw sem::ValueError("main failed");
}

// Python:
//   async def bg(log): try: await asyncio.sleep(100) except CancelledError: log.append("bg cancelled"); raise
//   async def main(log): create_task(bg(log)); await asyncio.sleep(1); raise ValueError("main failed")
//   try: asyncio.run(main(log))
//   except ValueError as e: print("ValueError", e, log)
// -> ValueError main failed ['bg cancelled']
TEST(SemanticsShutdown, ExceptionFromMainPropagatesOutOfRunAfterCancellingTheRest) {
    Log log;
    std::string caught;
    try {
        aiotest::run_virtual(main_raises(log));
    } catch (const sem::ValueError& e) {
        caught = e.what();
    }
    EXPECT_EQ(caught, "main failed");
    EXPECT_EQ(log, (Log{"bg1 started", "bg1 cancelled"}));
}

aio::Task<> nothing() { co_return; }

aio::Task<int> main_calls_run(std::string& error) {
    try {
        aio::run(nothing());
    } catch (const aio::RuntimeError& e) {
        error = e.what();
    }
    co_return 1;
}

// Python:
//   async def main():
//       c = noop()
//       try: asyncio.run(c)
//       except RuntimeError as e: print("RuntimeError:", e)
//       c.close(); return 1
//   print(asyncio.run(main()))
// -> RuntimeError: asyncio.run() cannot be called from a running event loop
//    1
TEST(SemanticsShutdown, RunInsideARunningLoopThrowsRuntimeError) {
    aiotest::LogCapture capture;  // the refused coroutine is reported as never awaited, as in Python
    std::string error;
    int r = aiotest::run_virtual(main_calls_run(error));
    EXPECT_EQ(r, 1);
    EXPECT_NE(error.find("cannot be called from a running event loop"), std::string::npos) << error;
}

aio::Task<int> stubborn(Log& log) {
    try {
        co_await aio::sleep(100s);
    } catch (const aio::CancelledError&) {
        log.push_back("swallowed");
    }
    co_await aio::sleep(2s);
    log.push_back("stubborn finished at " + std::to_string(sem::now()));
    co_return 1;
}
aio::Task<> fails_on_cancel() {
    bool cancelled = false;
    try {
        co_await aio::sleep(100s);
    } catch (const aio::CancelledError&) {
        cancelled = true;
    }
    if (cancelled) throw sem::ValueError("failed during shutdown");
}
aio::Task<> main_with_stubborn(Log& log) {
    aio::create_task(stubborn(log));
    aio::create_task(fails_on_cancel());
    co_await aio::sleep(0ms);
}

// Python:
//   async def stubborn(log):
//       try: await asyncio.sleep(100)
//       except asyncio.CancelledError: log.append("swallowed")
//       await asyncio.sleep(2); log.append("stubborn finished"); return 1
//   async def failing(log):
//       try: await asyncio.sleep(100)
//       except asyncio.CancelledError: raise ValueError("failed during shutdown")
//   async def main(log): create_task(stubborn(log)); create_task(failing(log)); await asyncio.sleep(0)
// -> ['swallowed', 'stubborn finished']
//    and on stderr: "unhandled exception during asyncio.run() shutdown ... ValueError: failed during shutdown"
TEST(SemanticsShutdown, ShutdownWaitsForTasksThatSwallowTheCancellationAndReportsFailures) {
    aiotest::LogCapture capture;
    Log log;
    aiotest::run_virtual(main_with_stubborn(log));
    EXPECT_EQ(log, (Log{"swallowed", "stubborn finished at " + std::to_string(2.0)}));
    EXPECT_TRUE(capture.contains("shutdown")) << ::testing::PrintToString(capture.lines());
    EXPECT_TRUE(capture.contains("failed during shutdown")) << ::testing::PrintToString(capture.lines());
}

}  // namespace
