// asyncio.TaskGroup, pinned against CPython 3.11.
//
// C++ shape (include/aio/core/task_group.hpp): `async with TaskGroup() as tg: body` is
// `co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> { body })`, and
// `except* E as eg` is `catch (const aio::ExceptionGroup& eg)`. The header documents that
// aiocpp follows CPython 3.12's __aexit__; the scenarios below behave the same in 3.11 and 3.12.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "semantics_util.hpp"

namespace {

using namespace std::chrono_literals;
using sem::Log;

aio::Task<int> work(Log& log, int d) {
    co_await aio::sleep(std::chrono::seconds(d));
    log.push_back(std::to_string(d));
    co_return d;
}

// Python:
//   async with asyncio.TaskGroup() as tg:
//       ts = [tg.create_task(work(log, d)) for d in (2, 1, 3)]
//       log.append("body end")
//   print(log, [t.done() for t in ts], [t.result() for t in ts], elapsed)
// -> ['body end', 1, 2, 3] [True, True, True] [2, 1, 3] 3.0
TEST(SemanticsTaskGroup, AllChildrenFinishedWhenRunReturns) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<aio::TaskHandle<int>> ts;
        co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
            for (int d : {2, 1, 3}) ts.push_back(tg.create_task(work(log, d)));
            log.push_back("body end");
            co_return;
        });
        for (auto& t : ts) EXPECT_TRUE(t.done());
        EXPECT_EQ(ts[0].result(), 2);
        EXPECT_EQ(ts[1].result(), 1);
        EXPECT_EQ(ts[2].result(), 3);
        EXPECT_EQ(sem::now(), 3.0);
    }());
    EXPECT_EQ(log, (Log{"body end", "1", "2", "3"}));
}

aio::Task<> ok_child(Log& log, std::string name, std::chrono::milliseconds d) {
    try {
        co_await aio::sleep(d);
        log.push_back(name + " done");
    } catch (const aio::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}
aio::Task<> bad_child(Log& log, std::chrono::milliseconds d) {
    co_await aio::sleep(d);
    log.push_back("bad raises");
    throw sem::ValueError("bad");
}

// Python:
//   try:
//       async with asyncio.TaskGroup() as tg:
//           a = tg.create_task(ok(log, "a", 5)); b = tg.create_task(bad(log, 1)); c = tg.create_task(ok(log, "c", 0.5))
//           try: await asyncio.sleep(10); log.append("body done")
//           except asyncio.CancelledError: log.append("body cancelled"); raise
//   except* ValueError as eg: log.append(("ExceptionGroup", [str(e) for e in eg.exceptions]))
//   print(log, a.cancelled(), b.cancelled(), c.cancelled(), elapsed, current_task().cancelling())
// -> ['c done', 'bad raises', 'a cancelled', 'body cancelled', ('ExceptionGroup', ['bad'])]
//    True False False 1.0 0
TEST(SemanticsTaskGroup, FirstFailureCancelsSiblingsAndTheBody) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::TaskHandle<> a, b, c;
        try {
            co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
                a = tg.create_task(ok_child(log, "a", 5s));
                b = tg.create_task(bad_child(log, 1s));
                c = tg.create_task(ok_child(log, "c", 500ms));
                try {
                    co_await aio::sleep(10s);
                    log.push_back("body done");
                } catch (const aio::CancelledError&) {
                    log.push_back("body cancelled");
                    throw;
                }
            });
            log.push_back("no exception (wrong)");
        } catch (const aio::ExceptionGroup& eg) {
            auto subs = sem::describe_all(eg);
            log.push_back("ExceptionGroup");
            EXPECT_EQ(subs, (std::vector<std::string>{"ValueError:bad"}));
        }
        EXPECT_TRUE(a.cancelled());
        EXPECT_FALSE(b.cancelled());
        EXPECT_FALSE(c.cancelled());
        EXPECT_EQ(sem::now(), 1.0);
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
    EXPECT_EQ(log, (Log{"c done", "bad raises", "a cancelled", "body cancelled", "ExceptionGroup"}));
}

aio::Task<> raise_after(std::chrono::milliseconds d, std::string msg) {
    co_await aio::sleep(d);
    throw sem::ValueError(msg);
}
aio::Task<> raise_on_cancel(std::chrono::milliseconds d) {
    bool cancelled = false;
    try {
        co_await aio::sleep(d);
    } catch (const aio::CancelledError&) {
        cancelled = true;
    }
    if (cancelled) throw sem::KeyError("cleanup failed");
}

// Python:
//   async def bad(d, msg): await asyncio.sleep(d); raise ValueError(msg)
//   async def bad_on_cancel(d):
//       try: await asyncio.sleep(d)
//       except asyncio.CancelledError: raise KeyError("cleanup failed")
//   async with asyncio.TaskGroup() as tg:
//       tg.create_task(bad(1, "first")); tg.create_task(bad_on_cancel(5)); tg.create_task(bad(2, "never"))
//   (except* Exception as eg: print([f"{type(e).__name__}:{e}" for e in eg.exceptions]))
// -> ['ValueError:first', "KeyError:'cleanup failed'"]
TEST(SemanticsTaskGroup, ExceptionGroupHoldsEveryFailureInOrder) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<std::string> subs;
        try {
            co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
                tg.create_task(raise_after(1s, "first"));
                tg.create_task(raise_on_cancel(5s));
                tg.create_task(raise_after(2s, "never"));
                co_return;
            });
        } catch (const aio::ExceptionGroup& eg) {
            subs = sem::describe_all(eg);
        }
        EXPECT_EQ(subs, (std::vector<std::string>{"ValueError:first", "KeyError:cleanup failed"}));
    }());
}

aio::Task<> raise_now(std::string msg) {
    throw sem::ValueError(msg);
    co_return;
}

// Python:
//   async def bad(msg): raise ValueError(msg)
//   async with asyncio.TaskGroup() as tg:
//       tg.create_task(bad("a")); tg.create_task(bad("b"))
// -> ['a', 'b']
// Both children were already scheduled when "a" failed: in CPython the group learns of the
// failure through a done callback (call_soon), so "b" runs its first step and fails too.
TEST(SemanticsTaskGroup, ChildrenFailingInTheSameIterationAreAllReported) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<std::string> subs;
        try {
            co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
                tg.create_task(raise_now("a"));
                tg.create_task(raise_now("b"));
                co_return;
            });
        } catch (const aio::ExceptionGroup& eg) {
            subs = sem::describe_all(eg);
        }
        EXPECT_EQ(subs, (std::vector<std::string>{"ValueError:a", "ValueError:b"}));
    }());
}

// Python:
//   async def bad_later(msg): await asyncio.sleep(1); raise ValueError(msg)
//   async with asyncio.TaskGroup() as tg:
//       tg.create_task(bad_later("a")); tg.create_task(bad_later("b"))
// -> ['a', 'b']   (both timers fire in the same iteration; both children fail)
TEST(SemanticsTaskGroup, ChildrenFailingAtTheSameDeadlineAreAllReported) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        std::vector<std::string> subs;
        try {
            co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
                tg.create_task(raise_after(1s, "a"));
                tg.create_task(raise_after(1s, "b"));
                co_return;
            });
        } catch (const aio::ExceptionGroup& eg) {
            subs = sem::describe_all(eg);
        }
        EXPECT_EQ(subs, (std::vector<std::string>{"ValueError:a", "ValueError:b"}));
    }());
}

// Python:
//   try:
//       async with asyncio.TaskGroup() as tg:
//           t = tg.create_task(child(log))     # child: sleep(5), logs "child cancelled" on cancel
//           await asyncio.sleep(1); raise KeyError("body")
//   except* KeyError as eg: log.append(("group", [repr(e) for e in eg.exceptions]))
//   print(log, t.cancelled())
// -> ['child cancelled', ('group', ["KeyError('body')"])] True
TEST(SemanticsTaskGroup, BodyExceptionCancelsChildrenAndIsInTheGroup) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::TaskHandle<> t;
        try {
            co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
                t = tg.create_task(ok_child(log, "child", 5s));
                co_await aio::sleep(1s);
                throw sem::KeyError("body");
            });
        } catch (const aio::ExceptionGroup& eg) {
            auto subs = sem::describe_all(eg);
            EXPECT_EQ(subs, (std::vector<std::string>{"KeyError:body"}));
            log.push_back("group");
        }
        EXPECT_TRUE(t.cancelled());
        EXPECT_EQ(sem::now(), 1.0);
    }());
    EXPECT_EQ(log, (Log{"child cancelled", "group"}));
}

aio::Task<> noop() { co_return; }

// Python:
//   try:
//       async with asyncio.TaskGroup() as tg:
//           tg.create_task(bad())                      # bad: sleep(1); raise ValueError
//           try: await asyncio.sleep(5)
//           except asyncio.CancelledError:
//               try: tg.create_task(noop())
//               except RuntimeError as e: log.append(("RuntimeError", "shutting down" in str(e)))
//               raise
//   except* ValueError: log.append("ExceptionGroup")
// -> [('RuntimeError', True), 'ExceptionGroup']
TEST(SemanticsTaskGroup, CreateTaskOnAFailingGroupThrowsRuntimeError) {
    Log log;
    aiotest::LogCapture capture;  // the refused coroutine is reported as never awaited, as in Python
    aiotest::run_virtual([&]() -> aio::Task<> {
        try {
            co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
                tg.create_task(raise_after(1s, "x"));
                try {
                    co_await aio::sleep(5s);
                } catch (const aio::CancelledError&) {
                    try {
                        tg.create_task(noop());
                        log.push_back("create_task accepted (wrong)");
                    } catch (const aio::RuntimeError& e) {
                        log.push_back(std::string("RuntimeError ") +
                                      (std::string(e.what()).find("shutting down") != std::string::npos ? "True" : "False"));
                    }
                    throw;
                }
            });
        } catch (const aio::ExceptionGroup&) {
            log.push_back("ExceptionGroup");
        }
    }());
    EXPECT_EQ(log, (Log{"RuntimeError True", "ExceptionGroup"}));
}

aio::Task<> tg_child(Log& log, int n) {
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
        log.push_back("child" + std::to_string(n) + " cancelled");
        throw;
    }
}
aio::Task<> tg_runner(Log& log, std::vector<aio::TaskHandle<>>& box, bool body_waits) {
    try {
        co_await aio::TaskGroup::run([&log, &box, body_waits](aio::TaskGroup& tg) -> aio::Task<> {
            box.push_back(tg.create_task(tg_child(log, 1)));
            if (body_waits) {
                box.push_back(tg.create_task(tg_child(log, 2)));
                co_await aio::sleep(10s);
            }
        });
    } catch (const aio::CancelledError&) {
        log.push_back("runner CancelledError");
        throw;
    }
}

// Python:
//   async def runner(log, box):
//       try:
//           async with asyncio.TaskGroup() as tg:
//               box.extend([tg.create_task(child(log, 1)), tg.create_task(child(log, 2))])
//               await asyncio.sleep(10)
//       except asyncio.CancelledError: log.append("runner CancelledError"); raise
//   r = create_task(runner(log, box)); await asyncio.sleep(1); r.cancel(); (await r)
// -> ['child1 cancelled', 'child2 cancelled', 'runner CancelledError'] True [True, True]
//   and with a body that ends at once (the group waits in __aexit__ when cancelled):
// -> ['child1 cancelled', 'runner2 CancelledError'] True [True]
TEST(SemanticsTaskGroup, OutsideCancellationPropagatesAndCancelsChildren) {
    for (bool body_waits : {true, false}) {
        Log log;
        aiotest::run_virtual([&]() -> aio::Task<> {
            std::vector<aio::TaskHandle<>> box;
            auto r = aio::create_task(tg_runner(log, box, body_waits));
            co_await aio::sleep(1s);
            r.cancel();
            try {
                co_await r;
            } catch (const aio::CancelledError&) {
            }
            EXPECT_TRUE(r.cancelled());
            EXPECT_EQ(box.size(), body_waits ? 2u : 1u);
            for (auto& t : box) EXPECT_TRUE(t.cancelled());
        }());
        if (body_waits) EXPECT_EQ(log, (Log{"child1 cancelled", "child2 cancelled", "runner CancelledError"}));
        else EXPECT_EQ(log, (Log{"child1 cancelled", "runner CancelledError"}));
    }
}

aio::Task<> leaf(Log& log, int n) {
    co_await aio::sleep(std::chrono::seconds(n));
    log.push_back("leaf" + std::to_string(n));
}
aio::Task<> spawner(Log& log, aio::TaskGroup& tg) {
    co_await aio::sleep(1s);
    tg.create_task(leaf(log, 2));
    log.push_back("spawned");
}

// Python:
//   async def spawner(log, tg): await asyncio.sleep(1); tg.create_task(leaf(log, 2)); log.append("spawned")
//   async with asyncio.TaskGroup() as tg: tg.create_task(spawner(log, tg))
//   print(log, elapsed)
// -> ['spawned', 'leaf2'] 3.0   (a child may add children while the group waits)
TEST(SemanticsTaskGroup, ChildrenAddedWhileExitingAreWaitedFor) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
            tg.create_task(spawner(log, tg));
            co_return;
        });
        EXPECT_EQ(sem::now(), 3.0);
    }());
    EXPECT_EQ(log, (Log{"spawned", "leaf2"}));
}

}  // namespace
