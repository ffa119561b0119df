// aio::threading::Queue, LifoQueue, PriorityQueue, SimpleQueue (Python's queue module).
#include <aio/threads/queue.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace aio::threading;

namespace {

TEST(ThreadingQueue, FifoLifoPriorityOrders) {
    Queue<int> q;
    LifoQueue<int> l;
    PriorityQueue<std::pair<int, std::string>> p;
    for (int i : {3, 1, 2}) {
        q.put(i);
        l.put(i);
    }
    p.put({2, "b"});
    p.put({1, "a"});
    p.put({3, "c"});
    EXPECT_EQ(q.get(), 3);
    EXPECT_EQ(q.get(), 1);
    EXPECT_EQ(l.get(), 2);
    EXPECT_EQ(l.get(), 1);
    EXPECT_EQ(p.get().second, "a");  // smallest first, as heapq
    EXPECT_EQ(p.get().second, "b");
    PriorityQueue<int, std::greater<int>> maxq;
    maxq.put(1);
    maxq.put(5);
    EXPECT_EQ(maxq.get(), 5);
}

TEST(ThreadingQueue, NowaitAndTimeoutsThrowFullAndEmpty) {
    Queue<int> q(2);
    EXPECT_EQ(q.maxsize(), 2);
    EXPECT_THROW(q.get_nowait(), Empty);
    EXPECT_THROW(q.get(false), Empty);
    EXPECT_THROW(q.get(5ms), Empty);
    q.put_nowait(1);
    q.put(2, 0ms);
    EXPECT_TRUE(q.full());
    EXPECT_THROW(q.put_nowait(3), Full);
    EXPECT_THROW(q.put(3, false), Full);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(q.put(3, 10ms), Full);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 10ms);
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_FALSE(q.empty());
}

TEST(ThreadingQueue, BlockingGetAndPutWakeEachOther) {
    Queue<std::unique_ptr<int>> q(1);  // move-only items
    std::thread consumer([&] {
        for (int i = 0; i < 100; ++i) EXPECT_EQ(*q.get(), i);
    });
    for (int i = 0; i < 100; ++i) q.put(std::make_unique<int>(i));  // blocks while full
    consumer.join();
    EXPECT_TRUE(q.empty());
}

TEST(ThreadingQueue, TaskDoneAndJoin) {
    Queue<int> q;
    std::atomic<int> handled{0};
    for (int i = 0; i < 10; ++i) q.put(i);
    std::thread worker([&] {
        for (int i = 0; i < 10; ++i) {
            q.get();
            ++handled;
            q.task_done();
        }
    });
    q.join();  // returns only when all 10 were marked done
    EXPECT_EQ(handled.load(), 10);
    worker.join();
    EXPECT_THROW(q.task_done(), std::invalid_argument);
    q.put(1);
    EXPECT_FALSE(q.join(5ms));
}

TEST(ThreadingQueue, ShutdownLetsGettersDrainThenThrows) {
    Queue<int> q;
    q.put(1);
    q.shutdown();
    EXPECT_TRUE(q.is_shutdown());
    EXPECT_THROW(q.put(2), ShutDown);
    EXPECT_EQ(q.get(), 1);
    EXPECT_THROW(q.get(), ShutDown);
    EXPECT_THROW(q.get_nowait(), ShutDown);
}

TEST(ThreadingQueue, ImmediateShutdownDropsItemsAndReleasesJoin) {
    Queue<int> q;
    q.put(1);
    q.put(2);
    std::thread joiner([&] { q.join(); });
    q.shutdown(true);
    joiner.join();  // the dropped items count as done
    EXPECT_THROW(q.get(), ShutDown);
}

TEST(ThreadingQueue, ShutdownWakesBlockedGettersAndPutters) {
    Queue<int> empty;
    std::thread getter([&] { EXPECT_THROW(empty.get(), ShutDown); });
    Queue<int> full(1);
    full.put(0);
    std::thread putter([&] { EXPECT_THROW(full.put(1), ShutDown); });
    empty.shutdown();
    full.shutdown();
    getter.join();
    putter.join();
}

TEST(ThreadingQueue, ManyProducersAndConsumers) {
    Queue<int> q(64);
    constexpr int kProducers = 4, kItems = 5000;
    std::atomic<long> sum{0};
    std::vector<std::thread> ts;
    for (int p = 0; p < kProducers; ++p)
        ts.emplace_back([&] {
            for (int i = 1; i <= kItems; ++i) q.put(i);
        });
    for (int c = 0; c < 3; ++c)
        ts.emplace_back([&] {
            try {
                for (;;) {
                    sum += q.get();
                    q.task_done();
                }
            } catch (const ShutDown&) {
            }
        });
    for (int p = 0; p < kProducers; ++p) ts[static_cast<size_t>(p)].join();
    q.join();
    q.shutdown();
    for (size_t i = kProducers; i < ts.size(); ++i) ts[i].join();
    EXPECT_EQ(sum.load(), static_cast<long>(kProducers) * kItems * (kItems + 1) / 2);
}

TEST(ThreadingSimpleQueue, TimedGetThrowsEmptyOnceTheTimeoutPasses) {
    SimpleQueue<int> q;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(q.get(20ms), Empty);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);  // it waited, then gave up
    q.put(1);
    EXPECT_EQ(q.get(20ms), 1);  // an item there already comes at once
    EXPECT_THROW(q.get(0ms), Empty);
    EXPECT_TRUE(q.empty());
}

TEST(ThreadingSimpleQueue, PutGetAndEmpty) {
    SimpleQueue<std::string> q;
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(q.get_nowait(), Empty);
    EXPECT_THROW(q.get(5ms), Empty);
    EXPECT_THROW(q.get(false), Empty);
    std::thread t([&] {
        q.put("a");
        q.put_nowait("b");
    });
    EXPECT_EQ(q.get(), "a");
    EXPECT_EQ(q.get(10s), "b");
    t.join();
    EXPECT_EQ(q.qsize(), 0u);
}

}  // namespace
