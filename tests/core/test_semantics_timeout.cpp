// asyncio.wait_for, asyncio.timeout and asyncio.shield, pinned against CPython 3.11.
//
// C++ shape (documented in include/aio/core/timeout.hpp): `async with asyncio.timeout(d) as cm:
// body` is `aio::Timeout cm = aio::timeout(d); co_await cm.run(body())`, since a destructor
// cannot await nor turn CancelledError into TimeoutError.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "semantics_util.hpp"

namespace {

using namespace std::chrono_literals;
using sem::Log;

// ------------------------------------------------------------------------------------------
// wait_for

aio::Task<> inner_with_slow_cleanup(Log& log) {
    std::exception_ptr cancelled;
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
        cancelled = std::current_exception();
    }
    if (cancelled) {
        log.push_back("inner cleanup start");
        co_await aio::sleep(500ms);
        log.push_back("inner cleanup end");
        std::rethrow_exception(cancelled);
    }
}

// Python:
//   async def inner(log):
//       try: await asyncio.sleep(10)
//       except asyncio.CancelledError:
//           log.append("inner cleanup start"); await asyncio.sleep(0.5); log.append("inner cleanup end"); raise
//   try: await asyncio.wait_for(inner(log), 1)
//   except asyncio.TimeoutError as e: log.append(("TimeoutError", elapsed, type(e) is TimeoutError))
//   print(log, asyncio.current_task().cancelling())
// -> ['inner cleanup start', 'inner cleanup end', ('TimeoutError', 1.5, True)] 0
TEST(SemanticsWaitFor, TimeoutCancelsInnerWaitsForItsCleanupThenRaisesTimeoutError) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        try {
            co_await aio::wait_for(inner_with_slow_cleanup(log), 1s);
            log.push_back("no exception");
        } catch (const aio::TimeoutError&) {
            log.push_back("TimeoutError at " + std::to_string(sem::now()));
        }
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
    EXPECT_EQ(log, (Log{"inner cleanup start", "inner cleanup end", "TimeoutError at " + std::to_string(1.5)}));
}

aio::Task<int> sleep_then(std::chrono::milliseconds d, int v) {
    co_await aio::sleep(d);
    co_return v;
}

// Python:
//   t = create_task(inner())            # inner: await asyncio.sleep(10); return 1
//   try: await asyncio.wait_for(t, 1)
//   except TimeoutError: print("timeout", t.done(), t.cancelled())
// -> timeout True True
TEST(SemanticsWaitFor, TimeoutOnATaskHandleCancelsTheTask) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto t = aio::create_task(sleep_then(10s, 1));
        bool timed_out = false;
        try {
            co_await aio::wait_for(t, 1s);
        } catch (const aio::TimeoutError&) {
            timed_out = true;
            EXPECT_TRUE(t.done());
            EXPECT_TRUE(t.cancelled());
        }
        EXPECT_TRUE(timed_out);
    }());
}

aio::Task<int> raises_after_1s() {
    co_await aio::sleep(1s);
    throw sem::ValueError("boom");
}

// Python:
//   print(await asyncio.wait_for(inner(), 5), elapsed)   # inner: sleep(1); return 42 -> 42 1.0
//   try: await asyncio.wait_for(bad(), 5)                # bad: sleep(1); raise ValueError("boom")
//   except ValueError as e: print("ValueError", e)       -> ValueError boom
//   await asyncio.sleep(10); print("no late cancellation", current_task().cancelling())  -> 0
TEST(SemanticsWaitFor, InnerFinishingInTimeReturnsItsValueOrException) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        int v = co_await aio::wait_for(sleep_then(1s, 42), 5s);
        EXPECT_EQ(v, 42);
        EXPECT_EQ(sem::now(), 1.0);
        std::string caught;
        try {
            co_await aio::wait_for(raises_after_1s(), 5s);
        } catch (const sem::ValueError& e) {
            caught = e.what();
        }
        EXPECT_EQ(caught, "boom");
        // The disarmed deadlines (t=5, t=6) must not cancel anything later.
        co_await aio::sleep(10s);
        EXPECT_EQ(aio::current_task().cancelling(), 0);
        EXPECT_EQ(sem::now(), 12.0);
    }());
}

aio::Task<int> swallows_cancel_returns_99() {
    try {
        co_await aio::sleep(10s);
        co_return 1;
    } catch (const aio::CancelledError&) {
    }
    co_return 99;
}

// Python:
//   async def inner():
//       try: await asyncio.sleep(10); return 1
//       except asyncio.CancelledError: return 99
//   print(await asyncio.wait_for(inner(), 1), asyncio.current_task().cancelling())
// -> 99 0
TEST(SemanticsWaitFor, InnerSwallowingTheCancellationReturnsItsValue) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        int v = co_await aio::wait_for(swallows_cancel_returns_99(), 1s);
        EXPECT_EQ(v, 99);
        EXPECT_EQ(sem::now(), 1.0);
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
}

aio::Task<> sleeper_logging(Log& log) {
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
        log.push_back("inner cancelled");
        throw;
    }
}
aio::Task<> wait_for_outer(Log& log) {
    try {
        co_await aio::wait_for(sleeper_logging(log), 5s);
    } catch (const aio::CancelledError&) {
        log.push_back("outer CancelledError");
        throw;
    } catch (const aio::TimeoutError&) {
        log.push_back("outer TimeoutError");
    }
}

// Python:
//   async def inner(log):
//       try: await asyncio.sleep(10)
//       except asyncio.CancelledError: log.append("inner cancelled"); raise
//   async def outer(log):
//       try: await asyncio.wait_for(inner(log), 5)
//       except asyncio.CancelledError: log.append("outer CancelledError"); raise
//       except TimeoutError: log.append("outer TimeoutError")
//   o = create_task(outer(log)); await asyncio.sleep(1); o.cancel(); (await o)
// -> ['inner cancelled', 'outer CancelledError'] True
TEST(SemanticsWaitFor, OuterCancelledInsideWaitForGetsCancelledErrorNotTimeout) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto o = aio::create_task(wait_for_outer(log));
        co_await aio::sleep(1s);
        o.cancel();
        try {
            co_await o;
        } catch (const aio::CancelledError&) {
        }
        EXPECT_TRUE(o.cancelled());
    }());
    EXPECT_EQ(log, (Log{"inner cancelled", "outer CancelledError"}));
}

aio::Task<int> logs_then_sleeps(Log& log) {
    log.push_back("inner started");
    co_await aio::sleep(1s);
    co_return 1;
}
aio::Task<int> instant(Log& log) {
    log.push_back("instant started");
    co_return 2;
}

// Python (3.11; 3.12 keeps this special case in front of its `async with timeout`):
//   async def inner(log): log.append("inner started"); await asyncio.sleep(1); return 1
//   async def instant(log): log.append("instant started"); return 2
//   try: await asyncio.wait_for(inner(log), 0)
//   except TimeoutError: log.append("TimeoutError")
//   try: log.append(("instant result", await asyncio.wait_for(instant(log), 0)))
//   except TimeoutError: log.append("TimeoutError 2")
//   (same with -1 -> "TimeoutError 3")
// -> ['TimeoutError', 'TimeoutError 2', 'TimeoutError 3']
// A timeout <= 0 cancels the awaitable before it starts: its body never runs.
TEST(SemanticsWaitFor, NonPositiveTimeoutNeverStartsTheCoroutine) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        try {
            co_await aio::wait_for(logs_then_sleeps(log), 0s);
            log.push_back("no exception");
        } catch (const aio::TimeoutError&) {
            log.push_back("TimeoutError");
        }
        try {
            int r = co_await aio::wait_for(instant(log), 0s);
            log.push_back("instant result " + std::to_string(r));
        } catch (const aio::TimeoutError&) {
            log.push_back("TimeoutError 2");
        }
        try {
            int r = co_await aio::wait_for(instant(log), -1s);
            log.push_back("instant result " + std::to_string(r));
        } catch (const aio::TimeoutError&) {
            log.push_back("TimeoutError 3");
        }
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
    EXPECT_EQ(log, (Log{"TimeoutError", "TimeoutError 2", "TimeoutError 3"}));
}

aio::Task<bool> runs_in_task(aio::TaskRef caller) {
    co_await aio::sleep(0ms);
    co_return aio::current_task() == caller;
}

// Python 3.11 runs a coroutine given to wait_for in a new task:
//   async def inner(caller): await asyncio.sleep(0); return asyncio.current_task() is caller
//   print(await asyncio.wait_for(inner(asyncio.current_task()), 1))     -> False (3.11)
// CPython 3.12 rewrote wait_for on top of asyncio.timeout, which awaits the coroutine inline
// (-> True). include/aio/core/timeout.hpp documents that aiocpp follows 3.12 here ("`aw` runs
// inline in the calling task (as 3.12 does)"), so this test pins the documented behaviour.
TEST(SemanticsWaitFor, CoroutineRunsInlineInTheCallingTaskAsDocumented) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        bool same = co_await aio::wait_for(runs_in_task(aio::current_task()), 1s);
        EXPECT_TRUE(same);
    }());
}

// ------------------------------------------------------------------------------------------
// timeout()

aio::Task<> body_sleeps_10_logs_cancel(Log& log) {
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
        log.push_back("body cancelled");
        throw;
    }
}

// Python:
//   try:
//       async with asyncio.timeout(1) as cm:
//           log.append(("when", cm.when() - t0))
//           try: await asyncio.sleep(10)
//           except asyncio.CancelledError: log.append("body cancelled"); raise
//   except TimeoutError: log.append(("TimeoutError", elapsed))
//   log.append(("expired", cm.expired()))
//   async with asyncio.timeout(5) as cm2: await asyncio.sleep(1)
//   log.append(("not expired", cm2.expired()))
// -> [('when', 1.0), 'body cancelled', ('TimeoutError', 1.0), ('expired', True), ('not expired', False)]
TEST(SemanticsTimeout, ExpiredAfterTheDeadlineAndTimeoutErrorRaised) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Timeout cm = aio::timeout(1s);
        EXPECT_EQ(cm.when(), std::optional<double>(1.0));
        EXPECT_FALSE(cm.expired());
        try {
            co_await cm.run(body_sleeps_10_logs_cancel(log));
        } catch (const aio::TimeoutError&) {
            log.push_back("TimeoutError at " + std::to_string(sem::now()));
        }
        EXPECT_TRUE(cm.expired());
        aio::Timeout cm2 = aio::timeout(5s);
        co_await cm2.run(aio::sleep(1s));
        EXPECT_FALSE(cm2.expired());
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
    EXPECT_EQ(log, (Log{"body cancelled", "TimeoutError at " + std::to_string(1.0)}));
}

aio::Task<> reschedule_later_then_sleep(aio::Timeout& cm) {
    cm.reschedule(sem::now() + 3);
    co_await aio::sleep(2s);
}
aio::Task<> sleep_then_reschedule_earlier(aio::Timeout& cm) {
    co_await aio::sleep(1s);
    cm.reschedule(sem::now() + 1);
    co_await aio::sleep(5s);
}
aio::Task<> remove_deadline_then_sleep(aio::Timeout& cm) {
    cm.reschedule(std::nullopt);
    co_await aio::sleep(5s);
}

// Python:
//   async with asyncio.timeout(1) as cm:
//       cm.reschedule(loop.time() + 3); await asyncio.sleep(2)
//   print("no timeout", cm.expired(), elapsed)                     -> no timeout False 2.0
//   try:
//       async with asyncio.timeout(10) as cm:
//           await asyncio.sleep(1); cm.reschedule(loop.time() + 1); await asyncio.sleep(5)
//   except TimeoutError: print("earlier timeout at", elapsed, cm.expired())  -> 4.0 True
//   async with asyncio.timeout(1) as cm: cm.reschedule(None); await asyncio.sleep(5)
//   print("none", cm.expired(), cm.when())                         -> none False None
TEST(SemanticsTimeout, RescheduleMovesTheDeadline) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Timeout cm1 = aio::timeout(1s);
        co_await cm1.run(reschedule_later_then_sleep(cm1));
        EXPECT_FALSE(cm1.expired());
        EXPECT_EQ(sem::now(), 2.0);

        aio::Timeout cm2 = aio::timeout(10s);
        bool timed_out = false;
        try {
            co_await cm2.run(sleep_then_reschedule_earlier(cm2));
        } catch (const aio::TimeoutError&) {
            timed_out = true;
            EXPECT_EQ(sem::now(), 4.0);
        }
        EXPECT_TRUE(timed_out);
        EXPECT_TRUE(cm2.expired());

        aio::Timeout cm3 = aio::timeout(1s);
        co_await cm3.run(remove_deadline_then_sleep(cm3));
        EXPECT_FALSE(cm3.expired());
        EXPECT_EQ(cm3.when(), std::nullopt);
        EXPECT_EQ(sem::now(), 9.0);
    }());
}

aio::Task<> nested_inner_expires(Log& log, aio::Timeout& inner) {
    try {
        co_await inner.run(aio::sleep(5s));
    } catch (const aio::TimeoutError&) {
        log.push_back("inner TimeoutError at " + std::to_string(sem::now()));
    }
    co_await aio::sleep(2s);
    log.push_back("outer body continues");
}
aio::Task<> nested_outer_expires(Log& log, aio::Timeout& inner) {
    try {
        co_await inner.run(aio::sleep(5s));
    } catch (const aio::TimeoutError&) {
        log.push_back("inner caught TimeoutError (wrong)");
    } catch (const aio::CancelledError&) {
        log.push_back("inner scope saw CancelledError");
        throw;
    }
}

// Python:
//   async with asyncio.timeout(10) as outer:
//       try:
//           async with asyncio.timeout(1) as inner: await asyncio.sleep(5)
//       except TimeoutError: log.append(("inner TimeoutError", elapsed))
//       await asyncio.sleep(2); log.append("outer body continues")
//   log.append((inner.expired(), outer.expired(), elapsed))
//   try:
//       async with asyncio.timeout(1) as outer:
//           try:
//               async with asyncio.timeout(10) as inner: await asyncio.sleep(5)
//           except TimeoutError: log.append("inner caught TimeoutError (wrong)")
//           except asyncio.CancelledError: log.append("inner scope saw CancelledError"); raise
//   except TimeoutError: log.append(("outer TimeoutError", inner.expired(), outer.expired()))
// -> [('inner TimeoutError', 1.0), 'outer body continues', (True, False, 3.0),
//     'inner scope saw CancelledError', ('outer TimeoutError', False, True)]
TEST(SemanticsTimeout, NestedTimeoutsOnlyTheExpiredOneRaisesTimeoutError) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        {
            aio::Timeout outer = aio::timeout(10s);
            aio::Timeout inner = aio::timeout(1s);
            co_await outer.run(nested_inner_expires(log, inner));
            EXPECT_TRUE(inner.expired());
            EXPECT_FALSE(outer.expired());
            EXPECT_EQ(sem::now(), 3.0);
        }
        {
            aio::Timeout outer = aio::timeout(1s);
            aio::Timeout inner = aio::timeout(10s);
            try {
                co_await outer.run(nested_outer_expires(log, inner));
            } catch (const aio::TimeoutError&) {
                log.push_back("outer TimeoutError");
            }
            EXPECT_FALSE(inner.expired());
            EXPECT_TRUE(outer.expired());
            EXPECT_EQ(sem::now(), 4.0);
        }
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
    EXPECT_EQ(log, (Log{"inner TimeoutError at " + std::to_string(1.0), "outer body continues",
                        "inner scope saw CancelledError", "outer TimeoutError"}));
}

aio::Task<> body_in_timeout(Log& log, aio::Timeout& cm) {
    try {
        co_await cm.run(aio::sleep(10s));
    } catch (const aio::TimeoutError&) {
        log.push_back("TimeoutError");
        throw;
    } catch (const aio::CancelledError&) {
        log.push_back("CancelledError");
        throw;
    }
}

// Python:
//   async def body(log, box):
//       try:
//           async with asyncio.timeout(5) as cm: box.append(cm); await asyncio.sleep(10)
//       except TimeoutError: log.append("TimeoutError"); raise
//       except asyncio.CancelledError: log.append("CancelledError"); raise
//   t = create_task(body(log, box)); await asyncio.sleep(1); t.cancel(); (await t)
//   print(log, t.cancelled(), box[0].expired())
// -> ['CancelledError'] True False
TEST(SemanticsTimeout, OutsideCancelInsideATimeoutStaysCancelledError) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Timeout cm = aio::timeout(5s);
        auto t = aio::create_task(body_in_timeout(log, cm));
        co_await aio::sleep(1s);
        t.cancel();
        try {
            co_await t;
        } catch (const aio::CancelledError&) {
        }
        EXPECT_TRUE(t.cancelled());
        EXPECT_FALSE(cm.expired());
        // The disarmed deadline (t=5) fires nothing.
        co_await aio::sleep(10s);
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
    EXPECT_EQ(log, (Log{"CancelledError"}));
}

aio::Task<> swallow_in_body() {
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
    }
}

// Python:
//   async with asyncio.timeout(1) as cm:
//       try: await asyncio.sleep(10)
//       except asyncio.CancelledError: pass
//   print("no exception", cm.expired(), elapsed, asyncio.current_task().cancelling())
// -> no exception True 1.0 0
TEST(SemanticsTimeout, BodySwallowingTheCancellationEndsWithoutErrorButExpired) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Timeout cm = aio::timeout(1s);
        co_await cm.run(swallow_in_body());
        EXPECT_TRUE(cm.expired());
        EXPECT_EQ(sem::now(), 1.0);
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
}

aio::Task<> no_await_body(Log& log) {
    log.push_back("no-await body");
    co_return;
}
aio::Task<> zero_body_yields(Log& log) {
    log.push_back("body started");
    co_await aio::sleep(0ms);
    log.push_back("after sleep0 (wrong)");
}

// Python:
//   try:
//       async with asyncio.timeout(0) as cm:
//           log.append("body started"); await asyncio.sleep(0); log.append("after sleep0 (wrong)")
//   except TimeoutError: log.append(("TimeoutError", cm.expired()))
//   async with asyncio.timeout(0) as cm: log.append("no-await body")
//   log.append(("no-await expired", cm.expired()))
//   await asyncio.sleep(1); log.append(("cancelling", asyncio.current_task().cancelling()))
// -> ['body started', ('TimeoutError', True), 'no-await body', ('no-await expired', False), ('cancelling', 0)]
// (A deadline already reached cancels at the body's first suspension, not before it starts.)
TEST(SemanticsTimeout, ZeroDelayExpiresAtTheFirstSuspension) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Timeout cm = aio::timeout(0s);
        try {
            co_await cm.run(zero_body_yields(log));
        } catch (const aio::TimeoutError&) {
            log.push_back(std::string("TimeoutError ") + (cm.expired() ? "True" : "False"));
        }
        aio::Timeout cm2 = aio::timeout(0s);
        co_await cm2.run(no_await_body(log));
        log.push_back(std::string("no-await expired ") + (cm2.expired() ? "True" : "False"));
        co_await aio::sleep(1s);
        EXPECT_EQ(aio::current_task().cancelling(), 0);
    }());
    EXPECT_EQ(log, (Log{"body started", "TimeoutError True", "no-await body", "no-await expired False"}));
}

aio::Task<> body_records_timeout(Log& log, aio::Timeout*& box) {
    aio::Timeout cm = aio::timeout(1s);
    box = &cm;
    try {
        co_await cm.run(aio::sleep(10s));
    } catch (const aio::TimeoutError&) {
        log.push_back("TimeoutError");
    } catch (const aio::CancelledError&) {
        log.push_back(std::string("CancelledError expired=") + (cm.expired() ? "True" : "False"));
        throw;
    }
}

// Python:
//   async def body(log, box):
//       try:
//           async with asyncio.timeout(1) as cm: box.append(cm); await asyncio.sleep(10)
//       except TimeoutError: log.append("TimeoutError")
//       except asyncio.CancelledError: log.append(("CancelledError", cm.expired())); raise
//   t = create_task(body(log, box)); await asyncio.sleep(0)
//   loop.call_at(box[0].when(), t.cancel)        # an outside cancel at the very deadline
//   (await t)
// -> [('CancelledError', True)] True
// Both the deadline and the outside cancel land before the task resumes; uncancel() then
// leaves a request pending, so the timeout must not turn it into TimeoutError.
TEST(SemanticsTimeout, OutsideCancelAtTheDeadlineInstantStaysCancelledError) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Timeout* box = nullptr;
        auto t = aio::create_task(body_records_timeout(log, box));
        co_await aio::sleep(0ms);
        EXPECT_NE(box, nullptr);
        if (!box) co_return;
        aio::get_running_loop().call_at(*box->when(), [t]() mutable { t.cancel(); });
        try {
            co_await t;
        } catch (const aio::CancelledError&) {
        }
        EXPECT_TRUE(t.cancelled());
    }());
    EXPECT_EQ(log, (Log{"CancelledError expired=True"}));
}

// ------------------------------------------------------------------------------------------
// shield

aio::Task<int> shielded_inner(Log& log) {
    try {
        co_await aio::sleep(2s);
        log.push_back("inner finished");
        co_return 7;
    } catch (const aio::CancelledError&) {
        log.push_back("inner cancelled (wrong)");
        throw;
    }
}
aio::Task<> shield_outer(Log& log, aio::TaskHandle<int>& inner) {
    inner = aio::create_task(shielded_inner(log));
    try {
        co_await aio::shield(inner);
    } catch (const aio::CancelledError&) {
        log.push_back("outer CancelledError at " + std::to_string(sem::now()));
        throw;
    }
}

// Python:
//   async def inner(log):
//       try: await asyncio.sleep(2); log.append("inner finished"); return 7
//       except asyncio.CancelledError: log.append("inner cancelled (wrong)"); raise
//   async def outer(log, box):
//       box.append(create_task(inner(log)))
//       try: await asyncio.shield(box[0])
//       except asyncio.CancelledError: log.append(("outer CancelledError", elapsed)); raise
//   o = create_task(outer(log, box)); await asyncio.sleep(1); o.cancel(); (await o)
//   log.append(("inner done?", box[0].done())); log.append(("inner result", await box[0]))
//   print(log, o.cancelled(), box[0].cancelled(), elapsed)
//   print(await asyncio.shield(inner(log)))
// -> [('outer CancelledError', 1.0), ('inner done?', False), 'inner finished', ('inner result', 7)]
//    True False 2.0
//    7
TEST(SemanticsShield, CancellingTheOuterDoesNotCancelTheInner) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::TaskHandle<int> inner;
        auto o = aio::create_task(shield_outer(log, inner));
        co_await aio::sleep(1s);
        o.cancel();
        try {
            co_await o;
        } catch (const aio::CancelledError&) {
        }
        log.push_back(std::string("inner done? ") + (inner.done() ? "True" : "False"));
        int r = co_await inner;
        log.push_back("inner result " + std::to_string(r));
        EXPECT_TRUE(o.cancelled());
        EXPECT_FALSE(inner.cancelled());
        EXPECT_EQ(sem::now(), 2.0);
        int r2 = co_await aio::shield(shielded_inner(log));
        EXPECT_EQ(r2, 7);
    }());
    EXPECT_EQ(log, (Log{"outer CancelledError at " + std::to_string(1.0), "inner done? False", "inner finished",
                        "inner result 7", "inner finished"}));
}

// Python:
//   t = create_task(inner()); loop.call_later(1, t.cancel)      # inner: sleep(10)
//   try: await asyncio.shield(t)
//   except asyncio.CancelledError: print("outer CancelledError", t.cancelled(), current_task().cancelling())
// -> outer CancelledError True 0
TEST(SemanticsShield, InnerCancelledDirectlyMakesTheShieldRaiseCancelledError) {
    aiotest::run_virtual([&]() -> aio::Task<> {
        auto t = aio::create_task(sleep_then(10s, 1));
        aio::get_running_loop().call_later(1s, [t]() mutable { t.cancel(); });
        bool raised = false;
        try {
            co_await aio::shield(t);
        } catch (const aio::CancelledError&) {
            raised = true;
            EXPECT_TRUE(t.cancelled());
            EXPECT_EQ(aio::current_task().cancelling(), 0);
            EXPECT_EQ(sem::now(), 1.0);
        }
        EXPECT_TRUE(raised);
    }());
}

}  // namespace
