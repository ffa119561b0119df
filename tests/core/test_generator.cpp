// aio::Generator and aio::AsyncGenerator.
#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {
aio::Generator<int> fibonacci() {
    int a = 1, b = 1;
    for (;;) {
        co_yield a;
        int c = a + b;
        a = b;
        b = c;
    }
}

aio::Generator<int> broken() {
    co_yield 1;
    throw std::runtime_error("generator failed");
}

aio::AsyncGenerator<int> ticks(int n) {
    for (int i = 0; i < n; ++i) {
        co_await aio::sleep(10ms);
        co_yield i;
    }
}
}  // namespace

TEST(Generator, FibonacciUpTo1000) {
    std::vector<int> got;
    for (int v : fibonacci()) {
        if (v > 1000) break;
        got.push_back(v);
    }
    ASSERT_EQ(got.size(), 16u);
    EXPECT_EQ(got.front(), 1);
    EXPECT_EQ(got[2], 2);
    EXPECT_EQ(got.back(), 987);
}

TEST(Generator, ExceptionPropagatesFromIteration) {
    std::vector<int> got;
    auto g = broken();
    EXPECT_THROW(
        {
            for (int v : g) got.push_back(v);
        },
        std::runtime_error);
    EXPECT_EQ(got, std::vector<int>{1});
}

TEST(AsyncGenerator, YieldsAcrossAwaits) {
    auto main = []() -> aio::Task<double> {
        auto& loop = aio::get_running_loop();
        double t0 = loop.time();
        std::vector<int> got;
        auto g = ticks(3);
        while (auto v = co_await g.next()) got.push_back(*v);
        EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
        EXPECT_FALSE(co_await g.next());  // stays exhausted
        co_return loop.time() - t0;
    };
    EXPECT_DOUBLE_EQ(aiotest::run_virtual(main()), 0.030);
}

TEST(AsyncGenerator, CancellationInsideTheBodyReachesTheConsumer) {
    auto main = []() -> aio::Task<void> {
        auto consumer = []() -> aio::Task<int> {
            int n = 0;
            auto g = ticks(100);
            while (auto v = co_await g.next()) n = *v;
            co_return n;
        };
        auto t = aio::create_task(consumer());
        co_await aio::sleep(25ms);
        t.cancel();
        EXPECT_THROW(co_await t, aio::CancelledError);
        EXPECT_TRUE(t.cancelled());
    };
    aiotest::run_virtual(main());
}

TEST(AsyncGenerator, DestroyedMidwayFreesItsLocals) {
    static int alive;
    alive = 0;
    struct Guard {
        Guard() { ++alive; }
        ~Guard() { --alive; }
    };
    auto gen = []() -> aio::AsyncGenerator<int> {
        Guard g;
        for (int i = 0;; ++i) co_yield i;
    };
    auto main = [&]() -> aio::Task<void> {
        {
            auto g = gen();
            EXPECT_EQ(*co_await g.next(), 0);
            EXPECT_EQ(alive, 1);
        }
        EXPECT_EQ(alive, 0);
    };
    aiotest::run_virtual(main());
}
