// aio::Barrier (include/aio/sync/barrier.hpp): tripping, indices, reuse, draining, reset, abort,
// cancellation, misuse, inspection.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <tuple>

#include "sync_util.hpp"

namespace {

using namespace std::chrono_literals;
using synctest::Log;

// CPython 3.11:
//   b = Barrier(3)
//   async def f(name, d): await sleep(d); i = await b.wait(); log.append((name, i, now))
//   await gather(f("a", 1), f("b", 2), f("c", 3)); log.append(("n_waiting", b.n_waiting, b.broken))
//   await gather(f("d", 0), f("e", 0), f("f", 0))                # the barrier is reusable
// -> [('c', 2, 3), ('a', 0, 3), ('b', 1, 3), ('n_waiting', 0, False), ('f', 2, 3), ('d', 0, 3), ('e', 1, 3)]
TEST(Barrier, TripsWhenAllPartiesArriveAndReturnsArrivalIndices) {
    std::vector<std::tuple<std::string, size_t, double>> log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Barrier b(3);
        EXPECT_EQ(b.parties(), 3u);
        auto f = [&](std::string name, int d) -> aio::Task<> {
            co_await aio::sleep(std::chrono::seconds(d));
            size_t i = co_await b.wait();
            log.emplace_back(name, i, synctest::now());
        };
        auto observer = aio::create_task([&]() -> aio::Task<> {
            co_await aio::sleep(2500ms);
            EXPECT_EQ(b.n_waiting(), 2u);
        });
        co_await aio::gather(f("a", 1), f("b", 2), f("c", 3));
        co_await observer;
        EXPECT_EQ(b.n_waiting(), 0u);
        EXPECT_FALSE(b.broken());
        co_await aio::gather(f("d", 0), f("e", 0), f("f", 0));
    }());
    using E = std::tuple<std::string, size_t, double>;
    EXPECT_EQ(log, (std::vector<E>{E{"c", 2, 3.0}, E{"a", 0, 3.0}, E{"b", 1, 3.0}, E{"f", 2, 3.0}, E{"d", 0, 3.0},
                                   E{"e", 1, 3.0}}));
}

TEST(Barrier, OnePartyNeverWaits) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Barrier b(1);
        for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await b.wait(), 0u);
        EXPECT_EQ(b.stats().state, aio::BarrierState::filling);
    }());
}

aio::Task<> wait_logging(aio::Barrier& b, Log& log, std::string name) {
    try {
        size_t i = co_await b.wait();
        log.push_back(name + " " + std::to_string(i));
    } catch (const aio::BrokenBarrierError& e) {
        log.push_back(name + " broken: " + e.what());
    } catch (const aio::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}

// CPython 3.11: while a tripped barrier drains, newcomers wait at the entrance.
//   b = Barrier(2); t1 = create_task(f("a")); await sleep(0)
//   t2, t3, t4 = create_task(f("b")), create_task(f("c")), create_task(f("d"))
// -> ['b 1', 'a 0', 'd 1', 'c 0']
TEST(Barrier, NewcomersWaitForTheDrainToFinish) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Barrier b(2);
        auto t1 = aio::create_task(wait_logging(b, log, "a"));
        co_await aio::sleep(0ms);
        auto t2 = aio::create_task(wait_logging(b, log, "b"));
        auto t3 = aio::create_task(wait_logging(b, log, "c"));
        auto t4 = aio::create_task(wait_logging(b, log, "d"));
        co_await aio::sleep(0ms);
        EXPECT_EQ(b.stats().state, aio::BarrierState::draining);
        EXPECT_EQ(b.stats().blocked, 2u);
        EXPECT_EQ(b.n_waiting(), 0u);  // Python reports 0 while draining
        co_await aio::gather(t1, t2, t3, t4);
    }());
    EXPECT_EQ(log, (Log{"b 1", "a 0", "d 1", "c 0"}));
}

// CPython 3.11:
//   b = Barrier(2); t = create_task(f("a")); await sleep(0); log.append(f"n_waiting={b.n_waiting}")
//   await b.abort(); await t; log.append(f"broken={b.broken}")
//   await f("late"); await b.reset(); log.append(f"after reset broken={b.broken}")
//   await gather(create_task(f("x")), create_task(f("y")))
// -> ['n_waiting=1', 'a broken: Abort or reset of barrier', 'broken=True', 'late broken: Barrier aborted',
//     'after reset broken=False', 'y 1', 'x 0']
TEST(Barrier, AbortBreaksItUntilReset) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Barrier b(2);
        auto t = aio::create_task(wait_logging(b, log, "a"));
        co_await aio::sleep(0ms);
        log.push_back("n_waiting=" + std::to_string(b.n_waiting()));
        b.abort();
        co_await t;
        log.push_back(std::string("broken=") + (b.broken() ? "True" : "False"));
        co_await wait_logging(b, log, "late");
        EXPECT_THROW(co_await b.wait(), aio::BrokenBarrierError);
        b.reset();
        log.push_back(std::string("after reset broken=") + (b.broken() ? "True" : "False"));
        auto x = aio::create_task(wait_logging(b, log, "x"));
        auto y = aio::create_task(wait_logging(b, log, "y"));
        co_await aio::gather(x, y);
    }());
    EXPECT_EQ(log, (Log{"n_waiting=1", "a broken: Abort or reset of barrier", "broken=True", "late broken: Barrier aborted",
                        "after reset broken=False", "y 1", "x 0"}));
}

// CPython 3.11: a task cancelled while the barrier fills leaves it; reset() breaks the waiters.
//   b = Barrier(3); a, bb = tasks; await sleep(0); a.cancel(); await sleep(0.1); log n_waiting
//   c = task; await sleep(0.1); log n_waiting; await b.reset(); await sleep(0.1); log n_waiting, broken
// -> ['a cancelled', 'n_waiting=1', 'n_waiting=2', 'b broken: Abort or reset of barrier',
//     'c broken: Abort or reset of barrier', 'after reset n_waiting=0 broken=False']
TEST(Barrier, CancelledWaiterLeavesAndResetBreaksTheOthers) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Barrier b(3);
        auto a = aio::create_task(wait_logging(b, log, "a"));
        auto bb = aio::create_task(wait_logging(b, log, "b"));
        co_await aio::sleep(0ms);
        a.cancel();
        co_await aio::sleep(100ms);
        log.push_back("n_waiting=" + std::to_string(b.n_waiting()));
        auto c = aio::create_task(wait_logging(b, log, "c"));
        co_await aio::sleep(100ms);
        log.push_back("n_waiting=" + std::to_string(b.n_waiting()));
        b.reset();
        co_await aio::sleep(100ms);
        log.push_back("after reset n_waiting=" + std::to_string(b.n_waiting()) +
                      " broken=" + (b.broken() ? "True" : "False"));
        co_await aio::gather(aio::return_exceptions, a, bb, c);
        EXPECT_EQ(b.stats().state, aio::BarrierState::filling);
        EXPECT_EQ(b.stats().inside, 0u);
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "n_waiting=1", "n_waiting=2", "b broken: Abort or reset of barrier",
                        "c broken: Abort or reset of barrier", "after reset n_waiting=0 broken=False"}));
}

// A waiter released by the trip but cancelled before resuming loses its index, not the others'.
TEST(Barrier, CancelAfterTheTripOnlyAffectsThatTask) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Barrier b(3);
        auto a = aio::create_task(wait_logging(b, log, "a"));
        auto bb = aio::create_task(wait_logging(b, log, "b"));
        co_await aio::sleep(0ms);
        auto c = aio::create_task(wait_logging(b, log, "c"));
        co_await aio::sleep(0ms);  // c trips the barrier; a and b are woken
        a.cancel();
        co_await aio::gather(aio::return_exceptions, a, bb, c);
        EXPECT_EQ(log, (Log{"c 2", "a cancelled", "b 1"}));
        EXPECT_EQ(b.stats().state, aio::BarrierState::filling);
        EXPECT_EQ(b.stats().inside, 0u);
        // Usable again.
        auto x = aio::create_task([&]() -> aio::Task<size_t> { co_return co_await b.wait(); });
        auto y = aio::create_task([&]() -> aio::Task<size_t> { co_return co_await b.wait(); });
        co_await aio::sleep(0ms);
        EXPECT_EQ(co_await b.wait(), 2u);
        EXPECT_EQ(co_await x, 0u);
        EXPECT_EQ(co_await y, 1u);
    }());
}

TEST(Barrier, WaitForOnABarrierLeavesItConsistent) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Barrier b(2);
        EXPECT_THROW(co_await aio::wait_for(b.wait(), 1s), aio::TimeoutError);
        EXPECT_EQ(b.n_waiting(), 0u);
        auto other = aio::create_task([&]() -> aio::Task<size_t> { co_return co_await b.wait(); });
        co_await aio::sleep(0ms);
        EXPECT_EQ(co_await aio::wait_for(b.wait(), 1s), 1u);
        EXPECT_EQ(co_await other, 0u);
    }());
}

TEST(Barrier, PartiesMustBePositive) {
    EXPECT_THROW(aio::Barrier(0), std::invalid_argument);
    EXPECT_THROW(aio::Barrier(-2), std::invalid_argument);
}

TEST(Barrier, StatsAndDumpTasks) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Barrier b(3);
        auto t = aio::create_task([&]() -> aio::Task<size_t> { co_return co_await b.wait(); });
        t.set_name("early");
        co_await aio::sleep(0ms);
        const aio::BarrierStats s = b.stats();
        EXPECT_EQ(s.parties, 3u);
        EXPECT_EQ(s.n_waiting, 1u);
        EXPECT_EQ(s.state, aio::BarrierState::filling);
        const std::string d = synctest::dump();
        EXPECT_NE(d.find("task 'early': waiting at Barrier"), std::string::npos) << d;
        EXPECT_NE(d.find("(1 of 3 parties arrived)"), std::string::npos) << d;
        b.abort();
        EXPECT_THROW(co_await t, aio::BrokenBarrierError);
        EXPECT_EQ(b.stats().state, aio::BarrierState::broken);
    }());
}

// The barrier dies with the coroutine that owned it, and the loop is then closed without
// cancelling the tasks still inside wait(): their frames are destroyed, never resumed, and must
// not touch the dead barrier on the way out (ASan checks).
TEST(Barrier, FramesAbandonedByAClosingLoopAfterTheBarrierDiedLeaveItAlone) {
    aio::EventLoop loop({.virtual_time = true});
    std::vector<aio::TaskRef> ts;
    loop.run_until_complete([&]() -> aio::Task<> {
        aio::Barrier b(3);
        for (int i = 0; i < 2; ++i)
            ts.emplace_back(aio::create_task([](aio::Barrier& bar) -> aio::Task<size_t> { co_return co_await bar.wait(); },
                                             std::ref(b)));
        co_await aio::sleep(0ms);
        EXPECT_EQ(b.n_waiting(), 2u);
    }());
    for (auto& t : ts) EXPECT_FALSE(t.done());
    loop.close();  // abandons the two waiters
    for (auto& t : ts) EXPECT_TRUE(t.done());
}

TEST(Barrier, DestroyedWithWaitersLeavesThemSafeToCancel) {
    aiotest::run_virtual([]() -> aio::Task<> {
        std::vector<aio::TaskRef> ts;
        {
            aio::Barrier b(5);
            for (int i = 0; i < 2; ++i)
                ts.emplace_back(aio::create_task([](aio::Barrier& bar) -> aio::Task<size_t> { co_return co_await bar.wait(); },
                                                 std::ref(b)));
            co_await aio::sleep(0ms);
        }
        for (auto& t : ts) t.cancel();
        for (auto& t : ts) {
            EXPECT_THROW(co_await t, aio::CancelledError);
            EXPECT_TRUE(t.cancelled());
        }
    }());
}

}  // namespace
