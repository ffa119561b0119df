// asyncio's scheduling order, pinned against CPython 3.11: call_soon FIFO, task start order,
// sleep(0) round-robin, timers in deadline order, a task resuming after the task it awaits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "semantics_util.hpp"

namespace {

using namespace std::chrono_literals;
using sem::Log;

// Python:
//   for i in range(3): loop.call_soon(log.append, f"cb{i}")
//   log.append("main"); await asyncio.sleep(0); log.append("main resumed")
// -> ['main', 'cb0', 'cb1', 'cb2', 'main resumed']
TEST(SemanticsOrdering, CallSoonIsFifoAndRunsBeforeTheYieldingTaskResumes) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        for (int i = 0; i < 3; ++i) loop.call_soon([&log, i] { log.push_back("cb" + std::to_string(i)); });
        log.push_back("main");
        co_await aio::sleep(0ms);
        log.push_back("main resumed");
    }());
    EXPECT_EQ(log, (Log{"main", "cb0", "cb1", "cb2", "main resumed"}));
}

aio::Task<> start_end_child(Log& log, int n) {
    log.push_back("start" + std::to_string(n));
    co_await aio::sleep(0ms);
    log.push_back("end" + std::to_string(n));
}

// Python:
//   async def child(log, n): log.append(f"start{n}"); await asyncio.sleep(0); log.append(f"end{n}")
//   ts = [asyncio.create_task(child(log, i)) for i in range(3)]
//   log.append("main after create"); for t in ts: await t
// -> ['main after create', 'start0', 'start1', 'start2', 'end0', 'end1', 'end2']
TEST(SemanticsOrdering, CreatedTasksStartInCreationOrderAfterTheCreatorYields) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<>> ts;
        for (int i = 0; i < 3; ++i) ts.push_back(aio::create_task(start_end_child(log, i)));
        log.push_back("main after create");
        for (auto& t : ts) co_await t;
    }());
    EXPECT_EQ(log, (Log{"main after create", "start0", "start1", "start2", "end0", "end1", "end2"}));
}

aio::Task<> sleep0_worker(Log& log, std::string name) {
    for (int i = 0; i < 3; ++i) {
        log.push_back(name + std::to_string(i));
        co_await aio::sleep(0ms);
    }
}

// Python:
//   async def worker(log, name):
//       for i in range(3): log.append(f"{name}{i}"); await asyncio.sleep(0)
//   a = create_task(worker(log, "A")); b = create_task(worker(log, "B")); await a; await b
// -> ['A0', 'B0', 'A1', 'B1', 'A2', 'B2']
TEST(SemanticsOrdering, SleepZeroLetsEveryOtherReadyTaskRunExactlyOnce) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto a = aio::create_task(sleep0_worker(log, "A"));
        auto b = aio::create_task(sleep0_worker(log, "B"));
        co_await a;
        co_await b;
    }());
    EXPECT_EQ(log, (Log{"A0", "B0", "A1", "B1", "A2", "B2"}));
}

aio::Task<> timed_sleeper(Log& log, std::vector<double>& when, std::string name, std::chrono::milliseconds d) {
    co_await aio::sleep(d);
    log.push_back(name);
    when.push_back(sem::now());
}

// Python:
//   async def sleeper(log, name, d): await asyncio.sleep(d); log.append(name)
//   ts = [create_task(sleeper(log, n, d)) for n, d in [("c",3),("a",1),("b",2),("a2",1)]]
// -> ['a', 'a2', 'b', 'c']   (equal deadlines keep creation order; each wakes at its deadline)
TEST(SemanticsOrdering, TimersFireInDeadlineOrderThenFifo) {
    Log log;
    std::vector<double> when;
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<>> ts;
        ts.push_back(aio::create_task(timed_sleeper(log, when, "c", 3000ms)));
        ts.push_back(aio::create_task(timed_sleeper(log, when, "a", 1000ms)));
        ts.push_back(aio::create_task(timed_sleeper(log, when, "b", 2000ms)));
        ts.push_back(aio::create_task(timed_sleeper(log, when, "a2", 1000ms)));
        for (auto& t : ts) co_await t;
    }());
    EXPECT_EQ(log, (Log{"a", "a2", "b", "c"}));
    EXPECT_EQ(when, (std::vector<double>{1.0, 1.0, 2.0, 3.0}));
}

// Python:
//   loop.call_later(0.2, log.append, "b"); loop.call_later(0.1, log.append, "a")
//   loop.call_later(0.2, log.append, "b2"); loop.call_soon(log.append, "soon")
//   h = loop.call_later(0.15, log.append, "cancelled"); h.cancel()
//   await asyncio.sleep(1)
// -> ['soon', 'a', 'b', 'b2']
TEST(SemanticsOrdering, CallLaterRunsByDeadlineAndCancelledHandlesNever) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        loop.call_later(200ms, [&log] { log.push_back("b"); });
        loop.call_later(100ms, [&log] { log.push_back("a"); });
        loop.call_later(200ms, [&log] { log.push_back("b2"); });
        loop.call_soon([&log] { log.push_back("soon"); });
        auto h = loop.call_later(150ms, [&log] { log.push_back("cancelled"); });
        h.cancel();
        EXPECT_TRUE(h.cancelled());
        co_await aio::sleep(1s);
    }());
    EXPECT_EQ(log, (Log{"soon", "a", "b", "b2"}));
}

aio::Task<int> inner_seven(Log& log) {
    log.push_back("inner start");
    co_await aio::sleep(1s);
    log.push_back("inner end");
    co_return 7;
}

// Python:
//   async def inner(log): log.append("inner start"); await asyncio.sleep(1); log.append("inner end"); return 7
//   t = create_task(inner(log)); log.append("outer waits"); r = await t
//   log.append(f"outer resumed {r} {t.done()}")
// -> ['outer waits', 'inner start', 'inner end', 'outer resumed 7 True']
TEST(SemanticsOrdering, TaskAwaitingAnotherResumesAfterItFinishes) {
    Log log;
    double resumed_at = -1;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto t = aio::create_task(inner_seven(log));
        log.push_back("outer waits");
        int r = co_await t;
        log.push_back("outer resumed " + std::to_string(r) + " " + (t.done() ? "True" : "False"));
        resumed_at = sem::now();
    }());
    EXPECT_EQ(log, (Log{"outer waits", "inner start", "inner end", "outer resumed 7 True"}));
    EXPECT_EQ(resumed_at, 1.0);
}

aio::Task<int> sleep_one() {
    co_await aio::sleep(1s);
    co_return 1;
}
aio::Task<> await_and_log(Log& log, aio::TaskHandle<int> t) {
    co_await t;
    log.push_back("waiter");
}

// Python:
//   t = create_task(inner()); t.add_done_callback(lambda _: log.append("cb1"))
//   w = create_task(waiter(log, t))          # waiter: await t; log.append("waiter")
//   await asyncio.sleep(0); t.add_done_callback(lambda _: log.append("cb2")); await w
// -> ['cb1', 'waiter', 'cb2']   (done callbacks and awaiters wake in registration order)
TEST(SemanticsOrdering, DoneCallbacksAndAwaitersWakeInRegistrationOrder) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto t = aio::create_task(sleep_one());
        t.add_done_callback([&log] { log.push_back("cb1"); });
        auto w = aio::create_task(await_and_log(log, t));
        co_await aio::sleep(0ms);
        t.add_done_callback([&log] { log.push_back("cb2"); });
        co_await w;
    }());
    EXPECT_EQ(log, (Log{"cb1", "waiter", "cb2"}));
}

aio::Task<> ticker(Log& log) {
    for (int i = 0; i < 6; ++i) {
        log.push_back("tick" + std::to_string(i));
        co_await aio::sleep(0ms);
    }
}
aio::Task<int> child_logs(Log& log) {
    log.push_back("child");
    co_return 1;
}

// Python:
//   async def ticker(log):
//       for i in range(6): log.append(f"tick{i}"); await asyncio.sleep(0)
//   async def child(log): log.append("child"); return 1
//   t = create_task(ticker(log)); c = create_task(child(log))
//   await c; log.append("await task returned"); await t
// -> ['tick0', 'child', 'tick1', 'await task returned', 'tick2', 'tick3', 'tick4', 'tick5']
TEST(SemanticsOrdering, AwaitingATaskResumesOneIterationAfterItFinishes) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto t = aio::create_task(ticker(log));
        auto c = aio::create_task(child_logs(log));
        co_await c;
        log.push_back("await task returned");
        co_await t;
    }());
    EXPECT_EQ(log, (Log{"tick0", "child", "tick1", "await task returned", "tick2", "tick3", "tick4", "tick5"}));
}

// Python (same ticker and child):
//   t = create_task(ticker(log)); await asyncio.gather(child(log)); log.append("gather returned"); await t
// -> ['tick0', 'child', 'tick1', 'tick2', 'gather returned', 'tick3', 'tick4', 'tick5']
//   t = create_task(ticker(log)); await asyncio.wait([create_task(child(log))]); log.append("wait returned")
// -> ['tick0', 'child', 'tick1', 'tick2', 'wait returned', 'tick3', 'tick4', 'tick5']
//   t = create_task(ticker(log))
//   async with asyncio.TaskGroup() as tg: tg.create_task(child(log))
//   log.append("taskgroup returned")
// -> ['tick0', 'child', 'tick1', 'tick2', 'taskgroup returned', 'tick3', 'tick4', 'tick5']
// gather, wait and TaskGroup learn of a child's completion through a done callback, which the
// loop runs one iteration later (call_soon); only then is the waiting task woken. So the waiter
// resumes one iteration later than when it awaits the task directly (previous test).
TEST(SemanticsOrdering, GatherWaitAndTaskGroupWakeTheWaiterThroughADoneCallback) {
    const Log expected_tail{"tick1", "tick2"};
    for (const char* which : {"gather", "wait", "taskgroup"}) {
        Log log;
        aiotest::run_virtual([&]() -> aio::Task<> {
            auto t = aio::create_task(ticker(log));
            if (std::string(which) == "gather") {
                co_await aio::gather(child_logs(log));
            } else if (std::string(which) == "wait") {
                std::vector<aio::TaskHandle<int>> v{aio::create_task(child_logs(log))};
                co_await aio::wait(v);
            } else {
                co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
                    tg.create_task(child_logs(log));
                    co_return;
                });
            }
            log.push_back(std::string(which) + " returned");
            co_await t;
        }());
        EXPECT_EQ(log, (Log{"tick0", "child", "tick1", "tick2", std::string(which) + " returned", "tick3", "tick4", "tick5"}))
            << "combinator: " << which;
    }
}


}  // namespace
