// asyncio.gather, pinned against CPython 3.11: result order, first exception, return_exceptions,
// cancellation in both directions, the vector form, and eager start of the children.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "semantics_util.hpp"

namespace {

using namespace std::chrono_literals;
using sem::Log;

aio::Task<std::string> work(Log& log, std::string name, std::chrono::milliseconds d, bool fail = false) {
    co_await aio::sleep(d);
    log.push_back(name);
    if (fail) throw sem::ValueError(name);
    co_return name;
}

// Python:
//   async def work(log, name, d): await asyncio.sleep(d); log.append(name); return name
//   r = await asyncio.gather(work(log, "a", 3), work(log, "b", 1), work(log, "c", 2))
// -> ['a', 'b', 'c'] ['b', 'c', 'a']
TEST(SemanticsGather, ResultsComeInArgumentOrderWhateverTheCompletionOrder) {
    Log log;
    auto r = aiotest::run_virtual([&]() -> aio::Task<std::tuple<std::string, std::string, std::string>> {
        co_return co_await aio::gather(work(log, "a", 3s), work(log, "b", 1s), work(log, "c", 2s));
    }());
    EXPECT_EQ(r, std::make_tuple(std::string("a"), std::string("b"), std::string("c")));
    EXPECT_EQ(log, (Log{"b", "c", "a"}));
}

// Python:
//   ts = [create_task(work(log, "a", 3)), create_task(work(log, "b", 1, fail=True)), create_task(work(log, "c", 2))]
//   try: await asyncio.gather(*ts)
//   except ValueError as e: print("raised", e, elapsed, [t.done() for t in ts], log)
//   await asyncio.sleep(5)
//   print([t.done() for t in ts], [t.cancelled() for t in ts], ts[0].result(), ts[2].result(), log)
// -> raised b 1.0 [False, True, False] ['b']
//    [True, True, True] [False, False, False] a c ['b', 'c', 'a']
TEST(SemanticsGather, FirstExceptionPropagatesWhileOtherChildrenKeepRunning) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto a = aio::create_task(work(log, "a", 3s));
        auto b = aio::create_task(work(log, "b", 1s, true));
        auto c = aio::create_task(work(log, "c", 2s));
        std::string caught;
        try {
            co_await aio::gather(a, b, c);
        } catch (const sem::ValueError& e) {
            caught = e.what();
            EXPECT_EQ(sem::now(), 1.0);
            EXPECT_FALSE(a.done());
            EXPECT_TRUE(b.done());
            EXPECT_FALSE(c.done());
            EXPECT_EQ(log, (Log{"b"}));
        }
        EXPECT_EQ(caught, "b");
        co_await aio::sleep(5s);
        EXPECT_TRUE(a.done() && b.done() && c.done());
        EXPECT_FALSE(a.cancelled() || b.cancelled() || c.cancelled());
        EXPECT_EQ(a.result(), "a");
        EXPECT_EQ(c.result(), "c");
    }());
    EXPECT_EQ(log, (Log{"b", "c", "a"}));
}

aio::Task<int> ok_after_1() {
    co_await aio::sleep(1s);
    co_return 1;
}
aio::Task<int> bad_after_2() {
    co_await aio::sleep(2s);
    throw sem::ValueError("bad");
}
aio::Task<int> slow_10() {
    co_await aio::sleep(10s);
    co_return 3;
}

// Python:
//   s = create_task(slow()); loop.call_later(3, s.cancel)
//   r = await asyncio.gather(ok(), bad(), s, return_exceptions=True)
//   print([type(x).__name__ for x in r], r[0], str(r[1]))
// -> ['int', 'ValueError', 'CancelledError'] 1 bad
TEST(SemanticsGather, ReturnExceptionsGivesOutcomesIncludingCancelledError) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto s = aio::create_task(slow_10());
        aio::get_running_loop().call_later(3s, [s]() mutable { s.cancel(); });
        auto [r0, r1, r2] = co_await aio::gather(aio::return_exceptions, ok_after_1(), bad_after_2(), s);
        EXPECT_TRUE(r0.has_value());
        EXPECT_EQ(r0.value(), 1);
        EXPECT_FALSE(r1.has_value());
        EXPECT_EQ(sem::describe(r1.exception()), "ValueError:bad");
        EXPECT_FALSE(r1.cancelled());
        EXPECT_TRUE(r2.cancelled());
        EXPECT_EQ(sem::describe(r2.exception()), "CancelledError:");
        EXPECT_EQ(sem::now(), 3.0);
    }());
}

aio::Task<> child_logs_cancel(Log& log, std::string name, std::chrono::milliseconds d) {
    try {
        co_await aio::sleep(d);
    } catch (const aio::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}
aio::Task<> gather_runner(Log& log, std::vector<aio::TaskHandle<>>& box) {
    box.push_back(aio::create_task(child_logs_cancel(log, "a", 5s)));
    box.push_back(aio::create_task(child_logs_cancel(log, "b", 10s)));
    try {
        co_await aio::gather(box[0], box[1]);
    } catch (const aio::CancelledError&) {
        log.push_back("runner CancelledError");
        throw;
    }
}

// Python:
//   async def child(log, name, d):
//       try: await asyncio.sleep(d)
//       except asyncio.CancelledError: log.append(f"{name} cancelled"); raise
//   async def runner(log, box):
//       box.extend([create_task(child(log, "a", 5)), create_task(child(log, "b", 10))])
//       try: await asyncio.gather(*box)
//       except asyncio.CancelledError: log.append("runner CancelledError"); raise
//   r = create_task(runner(log, box)); await asyncio.sleep(1); r.cancel(); (await r)
//   print(log, r.cancelled(), [t.cancelled() for t in box])
// -> ['a cancelled', 'b cancelled', 'runner CancelledError'] True [True, True]
TEST(SemanticsGather, CancellingTheAwaitingTaskCancelsEveryChild) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<>> box;
        auto r = aio::create_task(gather_runner(log, box));
        co_await aio::sleep(1s);
        r.cancel();
        try {
            co_await r;
        } catch (const aio::CancelledError&) {
        }
        EXPECT_TRUE(r.cancelled());
        EXPECT_EQ(box.size(), 2u);
        for (auto& child : box) EXPECT_TRUE(child.cancelled());
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "b cancelled", "runner CancelledError"}));
}

aio::Task<> slow_cleanup_child(Log& log, std::string name, std::chrono::milliseconds d) {
    std::exception_ptr cancelled;
    try {
        co_await aio::sleep(d);
    } catch (const aio::CancelledError&) {
        cancelled = std::current_exception();
    }
    if (cancelled) {
        log.push_back(name + " cancelled");
        co_await aio::sleep(d);
        log.push_back(name + " cleanup done");
        std::rethrow_exception(cancelled);
    }
}
aio::Task<> gather_all_runner(Log& log, std::vector<aio::TaskHandle<>>& box) {
    box.push_back(aio::create_task(slow_cleanup_child(log, "a", 1s)));
    box.push_back(aio::create_task(slow_cleanup_child(log, "b", 2s)));
    try {
        co_await aio::gather(aio::return_exceptions, box[0], box[1]);
    } catch (const aio::CancelledError&) {
        log.push_back("runner CancelledError at " + std::to_string(sem::now()));
        throw;
    }
}

// Python:
//   async def child(log, name, d):
//       try: await asyncio.sleep(d)
//       except asyncio.CancelledError:
//           log.append(f"{name} cancelled"); await asyncio.sleep(d); log.append(f"{name} cleanup done"); raise
//   runner: await asyncio.gather(child(log,"a",1), child(log,"b",2), return_exceptions=True)
//   r = create_task(runner(...)); await asyncio.sleep(0.5); r.cancel()
// -> ['a cancelled', 'b cancelled', 'a cleanup done', 'b cleanup done', 'runner CancelledError 2.5']
//    True [True, True]
// (With return_exceptions the cancelled gather still raises CancelledError, once all are done.)
TEST(SemanticsGather, ReturnExceptionsGatherCancelledFromOutsideWaitsForChildrenThenRaises) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<>> box;
        auto r = aio::create_task(gather_all_runner(log, box));
        co_await aio::sleep(500ms);
        r.cancel();
        try {
            co_await r;
        } catch (const aio::CancelledError&) {
        }
        EXPECT_TRUE(r.cancelled());
        EXPECT_EQ(box.size(), 2u);
        for (auto& child : box) EXPECT_TRUE(child.cancelled());
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "b cancelled", "a cleanup done", "b cleanup done",
                        "runner CancelledError at " + std::to_string(2.5)}));
}

aio::Task<int> child_d(std::chrono::seconds d) {
    co_await aio::sleep(d);
    co_return static_cast<int>(d.count());
}

// Python:
//   c = create_task(child(10)); loop.call_later(1, c.cancel); d = create_task(child(20))
//   try: await asyncio.gather(c, d)
//   except asyncio.CancelledError:
//       log.append(("gather CancelledError", elapsed, d.done(), current_task().cancelling()))
//   await asyncio.sleep(0); log.append(("d still running", not d.done())); log.append(("d result", await d))
// -> [('gather CancelledError', 1.0, False, 0), ('d still running', True), ('d result', 20)]
TEST(SemanticsGather, ChildCancelledOnItsOwnMakesGatherRaiseCancelledError) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto c = aio::create_task(child_d(10s));
        aio::get_running_loop().call_later(1s, [c]() mutable { c.cancel(); });
        auto d = aio::create_task(child_d(20s));
        bool raised = false;
        try {
            co_await aio::gather(c, d);
        } catch (const aio::CancelledError&) {
            raised = true;
            EXPECT_EQ(sem::now(), 1.0);
            EXPECT_FALSE(d.done());
            EXPECT_EQ(aio::current_task().cancelling(), 0);
        }
        EXPECT_TRUE(raised);
        co_await aio::sleep(0ms);
        EXPECT_FALSE(d.done());
        int dr = co_await d;
        EXPECT_EQ(dr, 20);
        EXPECT_FALSE(d.cancelled());
    }());
}

aio::Task<int> square_later(int x) {
    co_await aio::sleep(std::chrono::seconds(5 - x));
    co_return x * x;
}

// Python:
//   async def sq(x): await asyncio.sleep(5 - x); return x * x
//   print(await asyncio.gather(*[sq(i) for i in range(5)]))   -> [0, 1, 4, 9, 16]
//   print(await asyncio.gather())                              -> []
TEST(SemanticsGather, VectorFormKeepsInputOrder) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::Task<int>> tasks;
        for (int i = 0; i < 5; ++i) tasks.push_back(square_later(i));
        std::vector<int> r = co_await aio::gather(std::move(tasks));
        EXPECT_EQ(r, (std::vector<int>{0, 1, 4, 9, 16}));
        EXPECT_EQ(sem::now(), 5.0);
        std::vector<int> empty = co_await aio::gather(std::vector<aio::Task<int>>{});
        EXPECT_TRUE(empty.empty());
    }());
}

aio::Task<int> logs_start(Log& log, int n) {
    log.push_back("start " + std::to_string(n));
    co_return n;
}

// Python:
//   async def c(log, n): log.append(f"start {n}"); return n
//   g = asyncio.gather(c(log, 1), c(log, 2)); log.append("gather created")
//   await asyncio.sleep(0); print(await g, log)
// -> [1, 2] ['gather created', 'start 1', 'start 2']
// (gather() schedules its children when called, before anything awaits it.)
TEST(SemanticsGather, ChildrenAreScheduledWhenGatherIsCalled) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto g = aio::gather(logs_start(log, 1), logs_start(log, 2));
        log.push_back("gather created");
        co_await aio::sleep(0ms);
        EXPECT_EQ(log, (Log{"gather created", "start 1", "start 2"}));
        auto [a, b] = co_await std::move(g);
        EXPECT_EQ(a, 1);
        EXPECT_EQ(b, 2);
    }());
    EXPECT_EQ(log, (Log{"gather created", "start 1", "start 2"}));
}

}  // namespace
