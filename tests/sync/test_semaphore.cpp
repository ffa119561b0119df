// aio::Semaphore and aio::BoundedSemaphore (include/aio/sync/semaphore.hpp): limiting, FIFO
// hand-off, cancel safety (no permit held or leaked), over-release, inspection.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "sync_util.hpp"

namespace {

using namespace std::chrono_literals;
using synctest::Log;

// CPython 3.11 (E25's async twin):
//   sem = Semaphore(3)
//   async def f(i):
//       async with sem: log.append((i, now)); await asyncio.sleep(2)
//   await gather(*(f(i) for i in range(7)))
// -> starts at 0, 0, 0, 2, 2, 2, 4
TEST(Semaphore, LimitsHowManyRunAtOnce) {
    std::vector<std::pair<int, double>> starts;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Semaphore sem(3);
        int inside = 0, most = 0;
        auto f = [&](int i) -> aio::Task<> {
            auto permit = co_await sem.scoped();
            starts.emplace_back(i, synctest::now());
            most = std::max(most, ++inside);
            co_await aio::sleep(2s);
            --inside;
        };
        std::vector<aio::Task<>> ts;
        for (int i = 0; i < 7; ++i) ts.push_back(f(i));
        co_await aio::gather(std::move(ts));
        EXPECT_EQ(most, 3);
        EXPECT_EQ(sem.stats().value, 3u);
    }());
    EXPECT_EQ(starts, (std::vector<std::pair<int, double>>{{0, 0.0}, {1, 0.0}, {2, 0.0}, {3, 2.0}, {4, 2.0}, {5, 2.0}, {6, 4.0}}));
}

aio::Task<> take_logging(aio::Semaphore& sem, Log& log, std::string name) {
    try {
        co_await sem.acquire();
    } catch (const aio::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
    log.push_back(name);
    co_await aio::sleep(0ms);
    sem.release();
}

// CPython 3.11:
//   sem = Semaphore(1); await sem.acquire()
//   a, b, c = tasks of w(); await asyncio.sleep(0)
//   sem.release()                  # a is handed the permit
//   log.append(f"locked={sem.locked()} value={sem._value}")
//   a.cancel()                     # cancelled before resuming: the permit goes to b
//   d = create_task(w("d"))        # a newcomer queues behind
//   await gather(a, b, c, d, return_exceptions=True)
// -> ['locked=True value=0', 'a cancelled', 'b', 'c', 'd'], value 1, not locked
TEST(Semaphore, CancelAfterHandOffPassesThePermitOnAndNewcomersQueue) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Semaphore sem(1);
        co_await sem.acquire();
        auto a = aio::create_task(take_logging(sem, log, "a"));
        auto b = aio::create_task(take_logging(sem, log, "b"));
        auto c = aio::create_task(take_logging(sem, log, "c"));
        co_await aio::sleep(0ms);
        sem.release();
        log.push_back(std::string("locked=") + (sem.locked() ? "True" : "False") +
                      " value=" + std::to_string(sem.stats().value));
        EXPECT_EQ(sem.stats().handing_off, 1u);
        a.cancel();
        auto d = aio::create_task(take_logging(sem, log, "d"));
        co_await aio::gather(aio::return_exceptions, a, b, c, d);
        EXPECT_EQ(sem.stats().value, 1u);
        EXPECT_FALSE(sem.locked());
    }());
    EXPECT_EQ(log, (Log{"locked=True value=0", "a cancelled", "b", "c", "d"}));
}

TEST(Semaphore, CancelledQueuedWaiterNeverHoldsOrLeaksAPermit) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Semaphore sem(0);
        EXPECT_TRUE(sem.locked());
        auto a = aio::create_task(take_logging(sem, log, "a"));
        auto b = aio::create_task(take_logging(sem, log, "b"));
        co_await aio::sleep(0ms);
        a.cancel();
        co_await aio::sleep(0ms);
        EXPECT_EQ(sem.stats().waiters, 1u);
        EXPECT_EQ(sem.stats().value, 0u);
        sem.release();
        co_await aio::gather(aio::return_exceptions, a, b);
        EXPECT_EQ(log, (Log{"a cancelled", "b"}));
        EXPECT_EQ(sem.stats().value, 1u);  // b gave it back; a never had one
    }());
}

// CPython 3.11: two releases in one step while one task waits; a newcomer arriving before the
// woken task resumes queues (locked() is true while a permit is in flight), then gets the permit
// that is still free as soon as the woken task resumes.
//   sem = Semaphore(2); acquire twice; a = create_task(w("a")); await sleep(0)
//   sem.release(); sem.release(); log.append(f"... locked={sem.locked()} value={sem._value}")
//   b = create_task(w("b")); await sleep(0); log.append(f"after 1 iteration: value={sem._value}")
// -> ['after 2 releases: locked=True value=1', 'a', 'b', 'after 1 iteration: value=0']
TEST(Semaphore, PermitsFreedDuringAHandOffGoToTheNextInLine) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Semaphore sem(2);
        co_await sem.acquire();
        co_await sem.acquire();
        auto w = [&](std::string name) -> aio::Task<> {
            co_await sem.acquire();
            log.push_back(name);
        };
        auto a = aio::create_task(w("a"));
        co_await aio::sleep(0ms);
        sem.release();
        sem.release();
        log.push_back(std::string("after 2 releases: locked=") + (sem.locked() ? "True" : "False") +
                      " value=" + std::to_string(sem.stats().value));
        auto b = aio::create_task(w("b"));
        co_await aio::sleep(0ms);
        log.push_back("after 1 iteration: value=" + std::to_string(sem.stats().value));
        co_await aio::gather(a, b);
    }());
    EXPECT_EQ(log, (Log{"after 2 releases: locked=True value=1", "a", "b", "after 1 iteration: value=0"}));
}

TEST(Semaphore, FifoOrder) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Semaphore sem(2);
        std::vector<int> order;
        auto f = [&](int i) -> aio::Task<> {
            auto permit = co_await sem.scoped();
            order.push_back(i);
            co_await aio::sleep(std::chrono::milliseconds(1 + (i * 7) % 5));
        };
        std::vector<aio::Task<>> ts;
        for (int i = 0; i < 50; ++i) ts.push_back(f(i));
        co_await aio::gather(std::move(ts));
        for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
    }());
}

TEST(Semaphore, TimedOutAcquireDoesNotLeakAPermit) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Semaphore sem(1);
        co_await sem.acquire();
        for (int i = 0; i < 3; ++i) EXPECT_THROW(co_await aio::wait_for(sem.acquire(), 1s), aio::TimeoutError);
        EXPECT_EQ(sem.stats().waiters, 0u);
        sem.release();
        EXPECT_EQ(sem.stats().value, 1u);
        EXPECT_FALSE(sem.locked());
    }());
}

TEST(Semaphore, NegativeInitialValueIsRejected) {
    EXPECT_THROW(aio::Semaphore(-1), std::invalid_argument);
    EXPECT_THROW(aio::BoundedSemaphore(-3), std::invalid_argument);
    aio::Semaphore zero(0);
    EXPECT_TRUE(zero.locked());
}

// CPython 3.11:
//   b = BoundedSemaphore(2); await b.acquire(); b.release()
//   b.release()  -> ValueError: BoundedSemaphore released too many times; b._value stays 2
TEST(BoundedSemaphore, ReleasingBeyondTheInitialValueThrowsAndChangesNothing) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::BoundedSemaphore b(2);
        co_await b.acquire();
        b.release();
        try {
            b.release();
            ADD_FAILURE() << "no exception";
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "BoundedSemaphore released too many times");
        }
        EXPECT_EQ(b.stats().value, 2u);
        EXPECT_TRUE(b.stats().bounded);
        EXPECT_EQ(b.stats().capacity, 2u);
        // Still usable, and still a limit of two.
        co_await b.acquire();
        co_await b.acquire();
        EXPECT_TRUE(b.locked());
        b.release();
        b.release();
        EXPECT_THROW(b.release(), std::invalid_argument);
        // A plain Semaphore may be released past its initial value (as in Python).
        aio::Semaphore s(1);
        s.release();
        EXPECT_EQ(s.stats().value, 2u);
    }());
}

TEST(BoundedSemaphore, WorksThroughASemaphoreReference) {
    aio::BoundedSemaphore b(1);
    aio::Semaphore& s = b;
    EXPECT_THROW(s.release(), std::invalid_argument);
}

TEST(Semaphore, ScopedPermitIsReleasedOnCancellation) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::BoundedSemaphore sem(1);
        auto t = aio::create_task([&]() -> aio::Task<> {
            auto permit = co_await sem.scoped();
            co_await aio::sleep(1h);
        });
        co_await aio::sleep(1s);
        EXPECT_TRUE(sem.locked());
        t.cancel();
        co_await aio::gather(aio::return_exceptions, t);
        EXPECT_FALSE(sem.locked());
        EXPECT_EQ(sem.stats().value, 1u);
    }());
}

TEST(Semaphore, StatsAndDumpTasks) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Semaphore sem(1);
        co_await sem.acquire();
        auto t = aio::create_task([&]() -> aio::Task<> { co_await sem.acquire(); });
        t.set_name("limited");
        co_await aio::sleep(0ms);
        const aio::SemaphoreStats s = sem.stats();
        EXPECT_EQ(s.value, 0u);
        EXPECT_EQ(s.waiters, 1u);
        EXPECT_EQ(s.capacity, 1u);
        EXPECT_FALSE(s.bounded);
        const std::string d = synctest::dump();
        EXPECT_NE(d.find("task 'limited': waiting for Semaphore"), std::string::npos) << d;
        EXPECT_NE(d.find("(value 0 of 1, 1 task queued)"), std::string::npos) << d;
        sem.release();
        co_await t;
    }());
}

TEST(Semaphore, ClosingTheLoopUnderAHandOffGivesThePermitBack) {
    aio::Semaphore sem(1);
    {
        aio::EventLoop loop(aio::LoopOptions{.virtual_time = true});
        (void)loop.create_task([](aio::Semaphore& s) -> aio::Task<> {
            co_await s.acquire();
            (void)aio::create_task([](aio::Semaphore& s2) -> aio::Task<> { co_await s2.acquire(); }, std::ref(s));
            co_await aio::sleep(0ms);
            s.release();
            aio::get_running_loop().stop();
            co_await aio::sleep(1h);
        }(sem));
        loop.run_forever();
        EXPECT_EQ(sem.stats().handing_off, 1u);
    }
    EXPECT_EQ(sem.stats().value, 1u);
    EXPECT_EQ(sem.stats().handing_off, 0u);
    EXPECT_FALSE(sem.locked());
}

}  // namespace
