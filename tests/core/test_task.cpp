// aio::Task / TaskHandle / create_task / current_task / all_tasks, and loop shutdown.
#include <gtest/gtest.h>

#include <memory>

#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {
aio::Task<int> add_one(int x) {
    co_await aio::sleep(10ms);
    co_return x + 1;
}

aio::Task<int> answer() { co_return 42; }

aio::Task<void> fail(std::string msg) {
    co_await aio::sleep(1ms);
    throw std::runtime_error(msg);
}

// Counts live instances: proves frames and their locals are destroyed.
struct Tracker {
    static inline int alive = 0;
    Tracker() { ++alive; }
    Tracker(const Tracker&) { ++alive; }
    ~Tracker() { --alive; }
};
}  // namespace

TEST(Task, IsLazyUntilAwaited) {
    bool ran = false;
    auto body = [](bool& flag) -> aio::Task<int> {
        flag = true;
        co_return 1;
    };
    auto main = [&]() -> aio::Task<int> {
        aio::Task<int> t = body(ran);
        EXPECT_FALSE(ran);  // creating a coroutine runs nothing
        int v = co_await std::move(t);
        EXPECT_TRUE(ran);
        co_return v;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), 1);
}

TEST(Task, InlineAwaitDoesNotGoThroughTheLoop) {
    auto main = []() -> aio::Task<uint64_t> {
        auto before = aio::get_running_loop().stats().steps;
        int total = 0;
        for (int i = 0; i < 100; ++i) total += co_await answer();
        EXPECT_EQ(total, 4200);
        co_return aio::get_running_loop().stats().steps - before;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), 0u);  // still inside the same step
}

TEST(Task, CreateTaskRunsConcurrently) {
    auto main = []() -> aio::Task<double> {
        auto& loop = aio::get_running_loop();
        double t0 = loop.time();
        auto a = aio::create_task(add_one(1));
        auto b = aio::create_task(add_one(2));
        EXPECT_EQ(co_await a, 2);
        EXPECT_EQ(co_await b, 3);
        co_return loop.time() - t0;
    };
    EXPECT_DOUBLE_EQ(aiotest::run_virtual(main()), 0.010);  // both slept at once
}

TEST(Task, LoopKeepsUnreferencedTasksAlive) {
    static int finished;
    finished = 0;
    auto main = []() -> aio::Task<void> {
        for (int i = 0; i < 10; ++i) {
            (void)aio::create_task([]() -> aio::Task<void> {  // handle dropped at once
                co_await aio::sleep(5ms);
                ++finished;
            });
        }
        co_await aio::sleep(10ms);
    };
    aiotest::run_virtual(main());
    EXPECT_EQ(finished, 10);
}

TEST(Task, HandleIsCopyableAndAwaitableManyTimes) {
    auto main = []() -> aio::Task<int> {
        auto t = aio::create_task(add_one(41));
        auto copy = t;
        auto waiter = [](aio::TaskHandle<int> h) -> aio::Task<int> { co_return co_await h; };
        auto w1 = aio::create_task(waiter(t));
        auto w2 = aio::create_task(waiter(copy));
        int a = co_await t;   // before it finishes
        int b = co_await copy;  // after it finished
        EXPECT_EQ(co_await w1, 42);
        EXPECT_EQ(co_await w2, 42);
        EXPECT_TRUE(t == copy);
        co_return a + b;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), 84);
}

TEST(Task, ResultBeforeDoneThrowsInvalidState) {
    auto main = []() -> aio::Task<void> {
        auto t = aio::create_task(add_one(1));
        EXPECT_FALSE(t.done());
        EXPECT_THROW(t.result(), aio::InvalidStateError);
        EXPECT_THROW((void)t.exception(), aio::InvalidStateError);
        co_await t;
        EXPECT_EQ(t.result(), 2);
        EXPECT_EQ(t.exception(), nullptr);
    };
    aiotest::run_virtual(main());
}

TEST(Task, ExceptionIsStoredAndRethrown) {
    auto main = []() -> aio::Task<void> {
        auto t = aio::create_task(fail("bad"));
        EXPECT_THROW(co_await t, std::runtime_error);
        EXPECT_TRUE(t.done());
        EXPECT_FALSE(t.cancelled());
        EXPECT_THROW(t.result(), std::runtime_error);
        EXPECT_NE(t.exception(), nullptr);
    };
    aiotest::run_virtual(main());
}

TEST(Task, ExceptionPropagatesOutOfRun) {
    EXPECT_THROW(aiotest::run_virtual(fail("from main")), std::runtime_error);
}

TEST(Task, NamesAndCurrentTask) {
    auto main = []() -> aio::Task<void> {
        auto me = aio::current_task();
        EXPECT_TRUE(me);
        EXPECT_EQ(me.get_name(), "main");
        auto child = aio::create_task(
            []() -> aio::Task<std::string> { co_return aio::current_task().get_name(); }(), "worker");
        EXPECT_EQ(co_await child, "worker");
        auto unnamed = aio::create_task(answer());
        EXPECT_EQ(unnamed.get_name().rfind("Task-", 0), 0u);
        unnamed.set_name("renamed");
        EXPECT_EQ(unnamed.get_name(), "renamed");
        co_await unnamed;
    };
    aiotest::run_virtual(main());
    EXPECT_FALSE(aio::current_task());
}

TEST(Task, AllTasksListsUnfinishedTasks) {
    auto main = []() -> aio::Task<void> {
        auto a = aio::create_task(add_one(1));
        auto b = aio::create_task(add_one(2));
        auto all = aio::all_tasks();
        EXPECT_EQ(all.size(), 3u);  // main, a, b
        co_await a;
        co_await b;
        EXPECT_EQ(aio::all_tasks().size(), 1u);
    };
    aiotest::run_virtual(main());
}

TEST(Task, DoneCallbacksRunSoonInOrderAndCanBeRemoved) {
    auto main = []() -> aio::Task<void> {
        std::vector<int> order;
        auto t = aio::create_task(answer());
        t.add_done_callback([&](aio::TaskRef r) {
            EXPECT_TRUE(r.done());
            order.push_back(1);
        });
        auto id = t.add_done_callback([&] { order.push_back(2); });
        t.add_done_callback([&] { order.push_back(3); });
        EXPECT_EQ(t.remove_done_callback(id), 1u);
        co_await t;
        co_await aio::sleep(0ms);  // callbacks are scheduled with call_soon
        EXPECT_EQ(order, (std::vector<int>{1, 3}));
        // On a done task the callback is scheduled at once.
        t.add_done_callback([&] { order.push_back(4); });
        EXPECT_EQ(order.size(), 2u);
        co_await aio::sleep(0ms);
        EXPECT_EQ(order, (std::vector<int>{1, 3, 4}));
    };
    aiotest::run_virtual(main());
}

TEST(Task, EmptyHandleOperationsThrowOrReturnNothing) {
    aio::TaskHandle<int> empty;
    EXPECT_FALSE(empty);
    EXPECT_THROW((void)empty.done(), aio::InvalidStateError);
    EXPECT_THROW(empty.cancel(), aio::InvalidStateError);
    EXPECT_EQ(empty.remove_done_callback(1), 0u);  // noexcept: must not terminate
}

TEST(Task, ExceptionInDoneCallbackGoesToHandler) {
    aiotest::LogCapture cap;
    auto main = []() -> aio::Task<void> {
        auto t = aio::create_task(answer());
        t.add_done_callback([] { throw std::runtime_error("cb failed"); });
        co_await t;
        co_await aio::sleep(0ms);
    };
    aiotest::run_virtual(main());
    EXPECT_TRUE(cap.contains("cb failed"));
}

TEST(Task, SafeCreateTaskKeepsLambdaCapturesAlive) {
    auto main = []() -> aio::Task<int> {
        auto big = std::make_shared<std::vector<int>>(1000, 1);
        // The lambda is a temporary: with create_task(callable) its captures live in the task.
        auto t = aio::create_task([big]() -> aio::Task<int> {
            co_await aio::sleep(1ms);
            int s = 0;
            for (int v : *big) s += v;
            co_return s;
        });
        big.reset();
        co_return co_await t;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), 1000);
}

TEST(Task, SafeCreateTaskPassesArgumentsByValue) {
    auto main = []() -> aio::Task<std::string> {
        std::string s = "hello";
        auto t = aio::create_task([](std::string& x, int n) -> aio::Task<std::string> {
            co_await aio::sleep(1ms);
            co_return x + std::to_string(n);
        }, s, 7);
        s = "changed";  // the task holds its own copy
        co_return co_await t;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), "hello7");
}

TEST(Task, CreateTaskAcceptsAnyAwaitable) {
    // Python: asyncio.create_task(asyncio.sleep(1, "x")) — sleep is a coroutine there.
    auto main = []() -> aio::Task<std::string> {
        auto t = aio::create_task(aio::sleep(1s, std::string("slept")));
        auto f = aio::create_future<int>();
        auto waiter = aio::create_task(aio::shield(f));
        f.set_result(5);
        EXPECT_EQ(co_await waiter, 5);
        co_return co_await t;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), "slept");
}

TEST(Task, CreateTaskOutsideLoopThrows) {
    EXPECT_THROW((void)aio::create_task(answer()), aio::RuntimeError);
}

TEST(Task, NeverAwaitedTaskIsReported) {
    aiotest::LogCapture cap;
    { auto t = answer(); }
    EXPECT_TRUE(cap.contains("was never awaited"));
    EXPECT_TRUE(cap.contains("answer"));  // the coroutine's own name
}

TEST(Task, UnretrievedExceptionIsReported) {
    aiotest::LogCapture cap;
    auto main = []() -> aio::Task<void> {
        (void)aio::create_task(fail("nobody looked"));
        co_await aio::sleep(5ms);
    };
    aiotest::run_virtual(main());
    EXPECT_TRUE(cap.contains("Task exception was never retrieved"));
    EXPECT_TRUE(cap.contains("nobody looked"));
}

TEST(Task, RetrievedExceptionIsNotReported) {
    aiotest::LogCapture cap;
    auto main = []() -> aio::Task<void> {
        auto t = aio::create_task(fail("seen"));
        try {
            co_await t;
        } catch (const std::runtime_error&) {
        }
    };
    aiotest::run_virtual(main());
    EXPECT_FALSE(cap.contains("never retrieved"));
}

TEST(Task, DestroyingLoopWithPendingTasksFreesThem) {
    Tracker::alive = 0;
    {
        aio::EventLoop loop({.virtual_time = true});
        auto sleeper = [](Tracker) -> aio::Task<void> { co_await aio::sleep(1h); };
        auto waiter = [](aio::TaskHandle<void> h, Tracker) -> aio::Task<void> { co_await h; };
        auto s = loop.create_task(sleeper(Tracker{}));
        (void)loop.create_task(waiter(s, Tracker{}));
        loop.call_later(1ms, [&] { loop.stop(); });
        loop.run_forever();
        EXPECT_EQ(Tracker::alive, 2);
    }  // ~EventLoop: both frames destroyed (ASan/LSan check there is no leak)
    EXPECT_EQ(Tracker::alive, 0);
}

TEST(Task, RunUntilCompleteReturnsResult) {
    aio::EventLoop loop({.virtual_time = true});
    EXPECT_EQ(loop.run_until_complete(add_one(4)), 5);
    EXPECT_THROW(loop.run_until_complete(fail("x")), std::runtime_error);
}

TEST(Task, MoveOnlyResults) {
    auto make = []() -> aio::Task<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
    auto main = [&]() -> aio::Task<int> {
        auto p = co_await make();
        auto t = aio::create_task(make());
        auto q = co_await std::move(t);
        co_return *p + *q;
    };
    EXPECT_EQ(aiotest::run_virtual(main()), 14);
}
