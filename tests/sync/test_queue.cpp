// aio::Queue, LifoQueue, PriorityQueue (include/aio/queues/queue.hpp): order, bounds, the
// nowait forms, cancel safety of get and put, task_done/join, shutdown (Python 3.13), inspection.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "sync_util.hpp"

namespace {

using namespace std::chrono_literals;
using synctest::Log;

TEST(Queue, FifoWithSizeAndBounds) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q(3);
        EXPECT_EQ(q.maxsize(), 3u);
        EXPECT_TRUE(q.empty());
        EXPECT_FALSE(q.full());
        for (int i = 1; i <= 3; ++i) co_await q.put(i);
        EXPECT_EQ(q.qsize(), 3u);
        EXPECT_TRUE(q.full());
        EXPECT_EQ(co_await q.get(), 1);
        EXPECT_EQ(q.get_nowait(), 2);
        EXPECT_EQ(co_await q.get(), 3);
        EXPECT_TRUE(q.empty());
        aio::Queue<std::string> unbounded;
        EXPECT_EQ(unbounded.maxsize(), 0u);
        for (int i = 0; i < 1000; ++i) unbounded.put_nowait(std::to_string(i));
        EXPECT_FALSE(unbounded.full());
        for (int i = 0; i < 1000; ++i) EXPECT_EQ(unbounded.get_nowait(), std::to_string(i));
    }());
}

TEST(Queue, NowaitFormsThrowAndLeaveTheQueueUnchanged) {
    aio::Queue<int> q(1);  // the nowait forms need no loop, as in Python
    EXPECT_THROW(q.get_nowait(), aio::QueueEmpty);
    q.put_nowait(7);
    EXPECT_THROW(q.put_nowait(8), aio::QueueFull);
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.stats().unfinished, 1u);
    EXPECT_EQ(q.get_nowait(), 7);
    EXPECT_THROW(q.get_nowait(), aio::QueueEmpty);
    try {
        q.get_nowait();
    } catch (const aio::Error& e) {  // the queue errors are aio::Errors
        EXPECT_NE(std::string(e.what()).find("QueueEmpty"), std::string::npos);
    }
}

TEST(Queue, ABurstGrowsTheRingAndKeepsTheOrder) {
    aio::Queue<int> q;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 200'000; ++i) q.put_nowait(i);
        for (int i = 0; i < 100'000; ++i) ASSERT_EQ(q.get_nowait(), i);
        for (int i = 0; i < 1000; ++i) q.put_nowait(200'000 + i);  // wraps around
        for (int i = 100'000; i < 201'000; ++i) ASSERT_EQ(q.get_nowait(), i);
        EXPECT_TRUE(q.empty());
    }
}

// Large queues continue in 2 MiB blocks; items with destructors must survive the block changes and
// be destroyed exactly once (ASan and LeakSanitizer check this one).
TEST(Queue, LargeQueuesOfStringsAcrossBlockSizes) {
    auto q = std::make_unique<aio::Queue<std::string>>();
    const std::string pad(40, 'x');  // beyond the small-string buffer: every item owns heap memory
    for (int i = 0; i < 50'000; ++i) q->put_nowait(pad + std::to_string(i));
    for (int i = 0; i < 30'000; ++i) ASSERT_EQ(q->get_nowait(), pad + std::to_string(i));
    for (int i = 50'000; i < 60'000; ++i) q->put_nowait(pad + std::to_string(i));
    for (int i = 30'000; i < 40'000; ++i) ASSERT_EQ(q->get_nowait(), pad + std::to_string(i));
    EXPECT_EQ(q->qsize(), 20'000u);
    q.reset();  // 20,000 strings left: the destructor frees them and every block
    aio::LifoQueue<std::string> lifo;
    for (int i = 0; i < 1000; ++i) lifo.put_nowait(pad);
}

aio::Task<> get_logging(aio::Queue<int>& q, Log& log, std::string name) {
    try {
        int x = co_await q.get();
        log.push_back(name + " got " + std::to_string(x));
    } catch (const aio::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}

// CPython 3.11, except for qsize() right after the puts:
//   ts = [create_task(g(n)) for n in "abc"]; await sleep(0)
//   q.put_nowait(1); q.put_nowait(2); log.append(f"qsize={q.qsize()}")
//   ts[0].cancel()          # "a" was woken for an item, cancelled before resuming
//   await sleep(0) x2; log.append(f"qsize={q.qsize()}"); q.put_nowait(3)
//   await gather(*ts, return_exceptions=True); log.append(f"left {q.qsize()}")
// -> ['qsize=2', 'a cancelled', 'b got 1', 'c got 2', 'qsize=0', 'left 1']
// Here the two items are claimed by the getters they woke, so qsize() is 0 at once; the rest is
// the same: the cancelled getter's item goes to the next getter, nothing is lost.
TEST(Queue, CancelledGetterNeverLosesAnItem) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Queue<int> q;
        std::vector<aio::TaskHandle<>> ts;
        for (const char* n : {"a", "b", "c"}) ts.push_back(aio::create_task(get_logging(q, log, n)));
        co_await aio::sleep(0ms);
        EXPECT_EQ(q.stats().getters, 3u);
        q.put_nowait(1);
        q.put_nowait(2);
        log.push_back("qsize=" + std::to_string(q.qsize()));
        EXPECT_EQ(q.stats().handing_off, 2u);
        ts[0].cancel();
        co_await synctest::yield(2);
        log.push_back("qsize=" + std::to_string(q.qsize()));
        q.put_nowait(3);
        co_await aio::gather(aio::return_exceptions, ts[0], ts[1], ts[2]);
        log.push_back("left " + std::to_string(q.qsize()));
        EXPECT_EQ(q.get_nowait(), 3);
    }());
    EXPECT_EQ(log, (Log{"qsize=0", "a cancelled", "b got 1", "c got 2", "qsize=0", "left 1"}));
}

// CPython: q = Queue(1); a getter waits; put_nowait(1) -> the item stays in the queue until the
// getter resumes, so put_nowait(2) raises QueueFull.
TEST(Queue, ItemClaimedByAWokenGetterStillTakesItsSlot) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Queue<int> q(1);
        auto a = aio::create_task(get_logging(q, log, "a"));
        co_await aio::sleep(0ms);
        q.put_nowait(1);
        EXPECT_TRUE(q.full());
        EXPECT_THROW(q.put_nowait(2), aio::QueueFull);
        a.cancel();  // the claim is dropped: the item stays, and the bound still holds
        co_await aio::gather(aio::return_exceptions, a);
        EXPECT_TRUE(a.cancelled());
        EXPECT_EQ(q.qsize(), 1u);
        EXPECT_TRUE(q.full());
        EXPECT_EQ(q.get_nowait(), 1);
        EXPECT_TRUE(q.empty());
    }());
}

TEST(Queue, CancelledGetterWithNobodyBehindLeavesTheItemFirstInLine) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Queue<int> q;
        auto a = aio::create_task(get_logging(q, log, "a"));
        co_await aio::sleep(0ms);
        q.put_nowait(1);
        q.put_nowait(2);
        EXPECT_EQ(q.qsize(), 1u);  // 1 is claimed by "a"
        a.cancel();
        co_await aio::gather(aio::return_exceptions, a);
        EXPECT_EQ(q.qsize(), 2u);
        EXPECT_EQ(q.get_nowait(), 1);  // back at the front: never left it
        EXPECT_EQ(q.get_nowait(), 2);
        EXPECT_EQ(log, (Log{"a cancelled"}));
    }());
}

TEST(Queue, NewcomerDoesNotTakeAnItemClaimedByAWokenGetter) {
    aiotest::run_virtual([]() -> aio::Task<> {
        Log log;
        aio::Queue<int> q;
        auto a = aio::create_task(get_logging(q, log, "a"));
        co_await aio::sleep(0ms);
        q.put_nowait(1);  // claimed by "a"
        EXPECT_TRUE(q.empty());
        EXPECT_THROW(q.get_nowait(), aio::QueueEmpty);
        auto b = aio::create_task(get_logging(q, log, "b"));  // queues behind
        co_await aio::sleep(0ms);
        EXPECT_EQ(log, (Log{"a got 1"}));
        q.put_nowait(2);
        co_await aio::gather(a, b);
        EXPECT_EQ(log, (Log{"a got 1", "b got 2"}));
    }());
}

// wait_for around get(): whatever the timing of the put against the deadline, every item is
// either returned by get() or still in the queue.
TEST(Queue, TimedOutGetNeverLosesAnItem) {
    for (int put_ms = 998; put_ms <= 1002; ++put_ms) {
        aiotest::run_virtual([put_ms]() -> aio::Task<> {
            aio::Queue<int> q;
            aio::get_running_loop().call_later(std::chrono::milliseconds(put_ms), [&q] { q.put_nowait(42); });
            int received = 0;
            try {
                received = co_await aio::wait_for(q.get(), 1s);
            } catch (const aio::TimeoutError&) {
            }
            co_await aio::sleep(10ms);
            const int left = q.empty() ? 0 : q.get_nowait();
            EXPECT_EQ(received + left, 42) << "put at " << put_ms << " ms";
            EXPECT_TRUE(q.empty());
            EXPECT_EQ(q.stats().getters, 0u);
        }());
    }
}

// The sharp case: the item is claimed for the getter, and its deadline fires in the same
// iteration, before it resumes.
TEST(Queue, GetterCancelledInTheIterationItWasHandedAnItem) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q;
        Log log;
        auto a = aio::create_task(get_logging(q, log, "a"));
        co_await aio::sleep(0ms);
        aio::get_running_loop().call_soon([&] {
            q.put_nowait(5);
            a.cancel();
        });
        co_await aio::gather(aio::return_exceptions, a);
        EXPECT_EQ(log, (Log{"a cancelled"}));
        EXPECT_EQ(q.get_nowait(), 5);
    }());
}

aio::Task<> put_logging(aio::Queue<std::string>& q, Log& log, std::string item) {
    try {
        co_await q.put(item);
    } catch (const aio::CancelledError&) {
        log.push_back("put " + item + " cancelled");
        throw;
    }
    log.push_back("put " + item);
}

// CPython 3.11:
//   q = Queue(1); q.put_nowait("x"); a, b = create_task(p("a")), create_task(p("b")); await sleep(0)
//   log.append(f"full={q.full()}"); log.append(f"got {q.get_nowait()}")   # a is woken
//   a.cancel()                                                          # ...before it inserts
//   await sleep(0) x2; log.append(f"qsize={q.qsize()} item={q.get_nowait()}")
// -> ['full=True', 'got x', 'put a cancelled', 'put b', 'qsize=1 item=b']
TEST(Queue, CancelledPutterNeverInserts) {
    Log log;
    aiotest::run_virtual([&]() -> aio::Task<> {
        aio::Queue<std::string> q(1);
        q.put_nowait("x");
        auto a = aio::create_task(put_logging(q, log, "a"));
        auto b = aio::create_task(put_logging(q, log, "b"));
        co_await aio::sleep(0ms);
        EXPECT_EQ(q.stats().putters, 2u);
        log.push_back(std::string("full=") + (q.full() ? "True" : "False"));
        log.push_back("got " + q.get_nowait());
        EXPECT_TRUE(q.full());  // the freed slot is reserved for "a"
        EXPECT_THROW(q.put_nowait("newcomer"), aio::QueueFull);
        a.cancel();
        co_await synctest::yield(2);
        const std::string size = "qsize=" + std::to_string(q.qsize());
        log.push_back(size + " item=" + q.get_nowait());
        co_await aio::gather(aio::return_exceptions, a, b);
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.stats().unfinished, 2u);  // "x" and "b"; never "a"
    }());
    EXPECT_EQ(log, (Log{"full=True", "got x", "put a cancelled", "put b", "qsize=1 item=b"}));
}

TEST(Queue, TimedOutPutNeverInserts) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q(1);
        co_await q.put(1);
        EXPECT_THROW(co_await aio::wait_for(q.put(2), 1s), aio::TimeoutError);
        EXPECT_EQ(q.qsize(), 1u);
        EXPECT_EQ(q.stats().putters, 0u);
        EXPECT_EQ(q.get_nowait(), 1);
        EXPECT_TRUE(q.empty());
        co_await aio::wait_for(q.put(3), 1s);  // room now: no wait
        EXPECT_EQ(q.get_nowait(), 3);
    }());
}

TEST(Queue, PuttersAreServedInOrder) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q(2);
        std::vector<aio::Task<>> producers;
        for (int i = 0; i < 10; ++i) producers.push_back([](aio::Queue<int>& qq, int v) -> aio::Task<> { co_await qq.put(v); }(q, i));
        auto all = aio::create_task(aio::gather(std::move(producers)));
        co_await aio::sleep(0ms);
        EXPECT_EQ(q.stats().putters, 8u);
        std::vector<int> got;
        for (int i = 0; i < 10; ++i) got.push_back(co_await q.get());
        co_await all;
        for (int i = 0; i < 10; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i);
    }());
}

TEST(Queue, ProducersAndConsumersUnderRandomDelaysDeliverEveryItemOnce) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q(4);
        std::mt19937 rng(3);
        std::vector<int> seen(1000, 0);
        auto producer = [&](int base) -> aio::Task<> {
            for (int i = 0; i < 250; ++i) {
                co_await q.put(base + i);
                if (rng() % 3 == 0) co_await aio::sleep(std::chrono::microseconds(rng() % 50));
            }
        };
        auto consumer = [&]() -> aio::Task<> {
            for (;;) {
                int x = co_await q.get();
                ++seen[static_cast<size_t>(x)];
                if (rng() % 2 == 0) co_await aio::sleep(std::chrono::microseconds(rng() % 80));
                q.task_done();
            }
        };
        std::vector<aio::TaskHandle<>> consumers;
        for (int i = 0; i < 3; ++i) consumers.push_back(aio::create_task(consumer));
        co_await aio::gather(producer(0), producer(250), producer(500), producer(750));
        co_await q.join();
        for (auto& c : consumers) c.cancel();
        for (int n : seen) EXPECT_EQ(n, 1);
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.stats().unfinished, 0u);
    }());
}

// CPython 3.11: a waiting PriorityQueue getter takes the smallest item present when it resumes.
//   t = create_task(g()); await sleep(0); q.put_nowait(5); q.put_nowait(1); q.put_nowait(3); await t
//   -> got 1, then [3, 5];  LifoQueue 0, 1, 2 -> [2, 1, 0]
TEST(PriorityQueue, SmallestFirstEvenForAWaitingGetter) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::PriorityQueue<int> q;
        auto t = aio::create_task([&]() -> aio::Task<int> { co_return co_await q.get(); });
        co_await aio::sleep(0ms);
        q.put_nowait(5);
        q.put_nowait(1);
        q.put_nowait(3);
        EXPECT_EQ(co_await t, 1);
        EXPECT_EQ(q.get_nowait(), 3);
        EXPECT_EQ(q.get_nowait(), 5);

        // (priority, data) pairs, as Python's tuples.
        aio::PriorityQueue<std::pair<int, std::string>> jobs;
        co_await jobs.put({2, "write"});
        co_await jobs.put({0, "urgent"});
        co_await jobs.put({1, "read"});
        EXPECT_EQ((co_await jobs.get()).second, "urgent");
        EXPECT_EQ((co_await jobs.get()).second, "read");
        EXPECT_EQ((co_await jobs.get()).second, "write");

        // A custom order: largest first.
        aio::PriorityQueue<int, std::greater<int>> maxq;
        for (int x : {4, 9, 1}) maxq.put_nowait(x);
        EXPECT_EQ(maxq.get_nowait(), 9);
        EXPECT_EQ(maxq.get_nowait(), 4);
        EXPECT_EQ(maxq.get_nowait(), 1);
    }());
}

TEST(LifoQueue, LastInFirstOut) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::LifoQueue<int> q(3);
        for (int i = 0; i < 3; ++i) co_await q.put(i);
        EXPECT_TRUE(q.full());
        EXPECT_THROW(q.put_nowait(3), aio::QueueFull);
        EXPECT_EQ(co_await q.get(), 2);
        EXPECT_EQ(co_await q.get(), 1);
        EXPECT_EQ(co_await q.get(), 0);
        // A waiting getter cancelled after being handed an item: the item stays on top.
        auto t = aio::create_task([&]() -> aio::Task<int> { co_return co_await q.get(); });
        co_await aio::sleep(0ms);
        q.put_nowait(10);
        q.put_nowait(11);
        t.cancel();
        co_await aio::gather(aio::return_exceptions, t);
        EXPECT_EQ(q.get_nowait(), 11);
        EXPECT_EQ(q.get_nowait(), 10);
    }());
}

// CPython 3.11:
//   worker: x = await q.get(); await sleep(x); q.task_done()   (puts 1, 2, 3)
//   await q.join() -> at t = 6; one more q.task_done() -> ValueError: task_done() called too many times
TEST(Queue, JoinWaitsForEveryTaskDone) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q;
        co_await q.join();  // nothing unfinished: returns at once
        Log log;
        auto worker = aio::create_task([&]() -> aio::Task<> {
            for (;;) {
                int x = co_await q.get();
                co_await aio::sleep(std::chrono::seconds(x));
                log.push_back("done " + std::to_string(x));
                q.task_done();
            }
        });
        for (int x : {1, 2, 3}) q.put_nowait(x);
        EXPECT_EQ(q.stats().unfinished, 3u);
        co_await q.join();
        EXPECT_EQ(synctest::now(), 6.0);
        EXPECT_EQ(log, (Log{"done 1", "done 2", "done 3"}));
        try {
            q.task_done();
            ADD_FAILURE() << "no exception";
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "task_done() called too many times");
        }
        EXPECT_EQ(q.stats().unfinished, 0u);
        q.put_nowait(1);  // still consistent: one more round works
        co_await q.join();
        worker.cancel();
    }());
}

TEST(Queue, CancelledJoinConsumesNothing) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q;
        q.put_nowait(1);
        auto j1 = aio::create_task([&]() -> aio::Task<> { co_await q.join(); });
        auto j2 = aio::create_task([&]() -> aio::Task<> { co_await q.join(); });
        co_await aio::sleep(0ms);
        EXPECT_EQ(q.stats().joiners, 2u);
        j1.cancel();
        (void)q.get_nowait();
        q.task_done();
        co_await aio::gather(aio::return_exceptions, j1, j2);
        EXPECT_TRUE(j1.cancelled());
        EXPECT_FALSE(j2.cancelled());
    }());
}

TEST(Queue, ShutdownMakesPutsFailAndLetsGetsDrain) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q(2);
        q.put_nowait(1);
        q.put_nowait(2);
        Log log;
        auto blocked_put = aio::create_task([&]() -> aio::Task<> {
            try {
                co_await q.put(3);
            } catch (const aio::QueueShutDown&) {
                log.push_back("put 3: QueueShutDown");
            }
        });
        co_await aio::sleep(0ms);
        q.shutdown();
        EXPECT_TRUE(q.is_shutdown());
        co_await blocked_put;
        EXPECT_THROW(q.put_nowait(4), aio::QueueShutDown);
        EXPECT_THROW(co_await q.put(4), aio::QueueShutDown);
        EXPECT_EQ(co_await q.get(), 1);  // items left are still delivered
        EXPECT_EQ(q.get_nowait(), 2);
        EXPECT_THROW(co_await q.get(), aio::QueueShutDown);  // then: shut down and empty
        EXPECT_THROW(q.get_nowait(), aio::QueueShutDown);
        EXPECT_EQ(log, (Log{"put 3: QueueShutDown"}));
        EXPECT_EQ(q.stats().unfinished, 2u);
        q.task_done();
        q.task_done();
        co_await q.join();
        q.shutdown();  // again: no-op
    }());
}

TEST(Queue, ShutdownWakesBlockedGetters) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q;
        Log log;
        auto getter = [&](std::string name) -> aio::Task<> {
            try {
                (void)co_await q.get();
            } catch (const aio::QueueShutDown&) {
                log.push_back(name + ": QueueShutDown");
            }
        };
        auto a = aio::create_task(getter("a"));
        auto b = aio::create_task(getter("b"));
        co_await aio::sleep(0ms);
        q.shutdown();
        co_await aio::gather(a, b);
        EXPECT_EQ(log, (Log{"a: QueueShutDown", "b: QueueShutDown"}));
        EXPECT_EQ(q.stats().getters, 0u);
    }());
}

TEST(Queue, ImmediateShutdownDropsTheItemsAndReleasesJoin) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q;
        for (int i = 0; i < 3; ++i) q.put_nowait(i);
        (void)q.get_nowait();  // taken but never task_done(): stays unfinished
        auto joiner = aio::create_task([&]() -> aio::Task<> { co_await q.join(); });
        co_await aio::sleep(0ms);
        q.shutdown(true);
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.stats().unfinished, 1u);  // the two dropped items count as done
        EXPECT_THROW(q.get_nowait(), aio::QueueShutDown);
        co_await aio::sleep(0ms);
        EXPECT_FALSE(joiner.done());
        q.task_done();
        co_await joiner;

        aio::Queue<int> q2;
        q2.put_nowait(1);
        auto j2 = aio::create_task([&]() -> aio::Task<> { co_await q2.join(); });
        co_await aio::sleep(0ms);
        q2.shutdown(true);  // unfinished drops to zero: join returns
        co_await j2;
    }());
}

// A getter already claimed an item when the queue is shut down: a normal shutdown lets it have
// the item; an immediate one drops it, and the getter gets QueueShutDown.
TEST(Queue, ShutdownUnderAClaim) {
    aiotest::run_virtual([]() -> aio::Task<> {
        for (bool immediate : {false, true}) {
            aio::Queue<int> q;
            auto t = aio::create_task([&]() -> aio::Task<int> { co_return co_await q.get(); });
            co_await aio::sleep(0ms);
            q.put_nowait(9);
            q.shutdown(immediate);
            if (immediate) {
                EXPECT_THROW(co_await t, aio::QueueShutDown);
            } else {
                EXPECT_EQ(co_await t, 9);
            }
            EXPECT_TRUE(q.empty());
            EXPECT_EQ(q.stats().handing_off, 0u);
        }
    }());
}

TEST(Queue, MoveOnlyItems) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<std::unique_ptr<int>> q(1);
        co_await q.put(std::make_unique<int>(1));
        auto t = aio::create_task([&]() -> aio::Task<> { co_await q.put(std::make_unique<int>(2)); });
        co_await aio::sleep(0ms);
        EXPECT_EQ(*co_await q.get(), 1);
        co_await t;
        EXPECT_EQ(*q.get_nowait(), 2);
        // wait_for moves the awaiter, item included.
        co_await aio::wait_for(q.put(std::make_unique<int>(3)), 1s);
        EXPECT_EQ(*co_await aio::wait_for(q.get(), 1s), 3);
    }());
}

TEST(Queue, StatsAndDumpTasks) {
    aiotest::run_virtual([]() -> aio::Task<> {
        aio::Queue<int> q(1);
        auto g = aio::create_task([&]() -> aio::Task<int> { co_return co_await q.get(); });
        g.set_name("getter");
        co_await aio::sleep(0ms);
        std::string d = synctest::dump();
        EXPECT_NE(d.find("task 'getter': waiting in Queue"), std::string::npos) << d;
        EXPECT_NE(d.find("get() (size 0 of 1; 1 task waiting to get)"), std::string::npos) << d;
        q.put_nowait(1);
        EXPECT_EQ(co_await g, 1);
        q.task_done();
        q.put_nowait(2);
        auto p = aio::create_task([&]() -> aio::Task<> { co_await q.put(3); });
        p.set_name("putter");
        auto j = aio::create_task([&]() -> aio::Task<> { co_await q.join(); });
        j.set_name("joiner");
        co_await aio::sleep(0ms);
        const aio::QueueStats s = q.stats();
        EXPECT_EQ(s.size, 1u);
        EXPECT_EQ(s.maxsize, 1u);
        EXPECT_EQ(s.getters, 0u);
        EXPECT_EQ(s.putters, 1u);
        EXPECT_EQ(s.joiners, 1u);
        EXPECT_EQ(s.unfinished, 1u);
        EXPECT_FALSE(s.shutdown);
        d = synctest::dump();
        EXPECT_NE(d.find("task 'putter': waiting in Queue"), std::string::npos) << d;
        EXPECT_NE(d.find("put() (size 1 of 1; 1 task waiting to put)"), std::string::npos) << d;
        EXPECT_NE(d.find("task 'joiner': waiting in Queue"), std::string::npos) << d;
        EXPECT_NE(d.find("join() (1 unfinished item)"), std::string::npos) << d;
        q.shutdown(true);
        co_await aio::gather(aio::return_exceptions, p, j);
    }());
}

TEST(Queue, DestroyedWithWaitersLeavesThemSafeToCancel) {
    aiotest::run_virtual([]() -> aio::Task<> {
        std::vector<aio::TaskRef> ts;
        {
            aio::Queue<int> q(1);
            q.put_nowait(0);
            ts.emplace_back(aio::create_task([](aio::Queue<int>& qq) -> aio::Task<> { co_await qq.put(1); }, std::ref(q)));
            aio::Queue<int> empty;
            ts.emplace_back(aio::create_task([](aio::Queue<int>& qq) -> aio::Task<> { (void)co_await qq.get(); }, std::ref(empty)));
            co_await aio::sleep(0ms);
            EXPECT_EQ(q.stats().putters, 1u);
        }
        for (auto& t : ts) t.cancel();
        for (auto& t : ts) {
            try {
                co_await t;
            } catch (const aio::CancelledError&) {
            }
        }
    }());
}

TEST(Queue, ClosingTheLoopUnderAClaimLeavesTheItemInTheQueue) {
    aio::Queue<int> q;
    {
        aio::EventLoop loop(aio::LoopOptions{.virtual_time = true});
        (void)loop.create_task([](aio::Queue<int>& qq) -> aio::Task<> {
            (void)aio::create_task([](aio::Queue<int>& q2) -> aio::Task<> { (void)co_await q2.get(); }, std::ref(qq));
            co_await aio::sleep(0ms);
            qq.put_nowait(1);                // claimed; the loop stops before the getter resumes
            aio::get_running_loop().stop();
            co_await aio::sleep(1h);
        }(q));
        loop.run_forever();
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.stats().handing_off, 1u);
    }
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.get_nowait(), 1);
}

}  // namespace
