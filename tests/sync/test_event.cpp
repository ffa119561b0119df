// aio::Event (include/aio/sync/event.hpp): set wakes every waiter, clear, fast path, cancellation.
#include <gtest/gtest.h>

#include <string>

#include "sync_util.hpp"

namespace {

using namespace std::chrono_literals;
using synctest::Log;

aio::Task<> wait_logging(aio::Event& ev, Log& log, std::string name) {
    try {
        co_await ev.wait();
    } catch (const aio::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
    log.push_back(name);
}

aio::Task<> ticker(Log& log, int n) {
    for (int i = 0; i < n; ++i) {
        log.push_back("tick " + std::to_string(i));
        co_await aio::sleep(0ms);
    }
}

// CPython 3.11:
//   ts = [create_task(w(n)) for n in "abc"]; await asyncio.sleep(0)
//   ts[1].cancel()                  # queued: leaves at once
//   tk = create_task(ticker())
//   ev.set(); ev.clear(); log.append(f"set+clear is_set={ev.is_set()}")
//   ts[2].cancel()                  # woken by set(), then cancelled before resuming
//   await gather(*ts, tk, return_exceptions=True)
// -> ['set+clear is_set=False', 'b cancelled', 'tick 0', 'a', 'c cancelled', 'tick 1', 'tick 2']
TEST(Event, SetWakesEveryWaiterEvenIfClearedAtOnce) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Event ev;
        std::vector<aio::TaskHandle<>> ts;
        for (const char* n : {"a", "b", "c"}) ts.push_back(aio::create_task(wait_logging(ev, log, n)));
        co_await aio::sleep(0ms);
        EXPECT_EQ(ev.stats().waiters, 3u);
        ts[1].cancel();
        EXPECT_EQ(ev.stats().waiters, 2u);
        auto tk = aio::create_task(ticker(log, 3));
        ev.set();
        ev.clear();
        log.push_back(ev.is_set() ? "set+clear is_set=True" : "set+clear is_set=False");
        EXPECT_EQ(ev.stats().waiters, 0u);
        ts[2].cancel();
        co_await aio::gather(aio::return_exceptions, ts[0], ts[1], ts[2], tk);
        EXPECT_TRUE(ts[1].cancelled());
        EXPECT_TRUE(ts[2].cancelled());
    }());
    EXPECT_EQ(log, (Log{"set+clear is_set=False", "b cancelled", "tick 0", "a", "c cancelled", "tick 1", "tick 2"}));
}

TEST(Event, WaitOnASetEventReturnsWithoutSuspending) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Event ev;
        EXPECT_FALSE(ev.is_set());
        ev.set();
        ev.set();  // no-op
        EXPECT_TRUE(ev.is_set());
        auto t = aio::create_task(ticker(log, 1));
        co_await ev.wait();
        co_await ev.wait();
        EXPECT_TRUE(log.empty());
        co_await t;
    }());
}

TEST(Event, WaitersResumeInTheOrderTheyStartedWaiting) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Event ev;
        std::vector<aio::Task<>> ts;
        for (int i = 0; i < 5; ++i) ts.push_back(wait_logging(ev, log, std::to_string(i)));
        auto all = aio::create_task(aio::gather(std::move(ts)));
        co_await aio::sleep(1s);
        EXPECT_TRUE(log.empty());
        ev.set();
        co_await all;
        EXPECT_EQ(log, (Log{"0", "1", "2", "3", "4"}));
    }());
}

TEST(Event, ClearThenWaitBlocksAgain) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Event ev;
        ev.set();
        ev.clear();
        EXPECT_THROW(co_await aio::wait_for(ev.wait(), 1s), aio::TimeoutError);
        EXPECT_EQ(ev.stats().waiters, 0u);  // the timed-out wait left the list
        auto setter = aio::create_task([&]() -> aio::Task<> {
            co_await aio::sleep(2s);
            ev.set();
        });
        co_await aio::wait_for(ev.wait(), 5s);
        EXPECT_EQ(synctest::now(), 3.0);
        co_await setter;
    }());
}

TEST(Event, StatsAndDumpTasks) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Event ev;
        auto t = aio::create_task([&]() -> aio::Task<> { co_await ev.wait(); });
        t.set_name("waiter");
        co_await aio::sleep(0ms);
        EXPECT_FALSE(ev.stats().is_set);
        EXPECT_EQ(ev.stats().waiters, 1u);
        const std::string d = synctest::dump();
        EXPECT_NE(d.find("task 'waiter': waiting for Event"), std::string::npos) << d;
        EXPECT_NE(d.find("(1 task waiting)"), std::string::npos) << d;
        ev.set();
        co_await t;
        EXPECT_TRUE(ev.stats().is_set);
    }());
}

// set() then the Event dies before the woken task resumes: the wait still succeeded.
TEST(Event, WokenWaiterOfADestroyedEventStillReturns) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::TaskHandle<> t;
        {
            aio::Event ev;
            t = aio::create_task([](aio::Event& e) -> aio::Task<> { co_await e.wait(); }, std::ref(ev));
            co_await aio::sleep(0ms);
            ev.set();
        }
        EXPECT_NO_THROW(co_await t);
        EXPECT_TRUE(t.done());
        EXPECT_FALSE(t.cancelled());
    }());
}

}  // namespace
