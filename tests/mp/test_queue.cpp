// aio::mp::Queue / SimpleQueue (aio/mp/queue.hpp): FIFO order across processes, many producers
// and consumers, the maxsize and buffer limits, timeouts, items larger than the shared buffer,
// close(), and processes killed in the middle of an item (the queue breaks, nothing hangs).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aio/mp/connection.hpp"
#include "aio/mp/process.hpp"
#include "aio/mp/queue.hpp"
#include "mp_test_util.hpp"

using namespace std::chrono_literals;

namespace {

using aio::mp::Pipe;
using aio::mp::Process;
using aio::mp::Queue;
using aio::mp::SimpleQueue;
using mp_test::checksum;
using mp_test::recv_within;
using Clock = std::chrono::steady_clock;

/// Polls `pred` until it holds or `bound` has passed.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds bound = 5000ms) {
    const auto deadline = Clock::now() + bound;
    while (!pred()) {
        if (Clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/// The state letter of /proc/PID/stat: 'R', 'S', 'T' (stopped), 'Z'...; '?' if gone.
char proc_state(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(f, stat)) return '?';
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

std::string patterned(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 13 + i / 1000) % 253);
    return s;
}

/// What a child's get() did, reported over a pipe.
enum class Outcome : int { value = 1, process_error = 2, other_error = 3 };

/// Starts a child that calls q.get() once and reports the outcome; returns its verdict, or
/// nullopt if it did not answer within `bound` (the child is then killed: a hung get()).
template <class T>
std::optional<Outcome> get_in_child(Queue<T>& q, std::chrono::milliseconds bound) {
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process reader([&] {
        Outcome o;
        try {
            (void)q.get();
            o = Outcome::value;
        } catch (const aio::mp::ProcessError&) {
            o = Outcome::process_error;
        } catch (...) {
            o = Outcome::other_error;
        }
        child.send(static_cast<int>(o));
    });
    reader.start();
    child.close();
    std::optional<Outcome> result;
    if (parent.poll(bound)) result = static_cast<Outcome>(parent.recv());
    if (!result) reader.kill();
    reader.join();
    return result;
}

}  // namespace

TEST(MpQueue, FifoAcrossProcesses) {
    Queue<int> q;
    Process producer([&q] {
        for (int i = 0; i < 1000; ++i) q.put(i);
    });
    producer.start();
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(q.get(5s), i);
    producer.join();
    EXPECT_EQ(producer.exitcode(), 0);

    // And the other way: the parent produces, the child checks the order.
    Process consumer([&q] {
        for (int i = 0; i < 1000; ++i)
            if (q.get(5s) != i) ::_exit(10);
        ::_exit(q.empty() ? 0 : 11);
    });
    consumer.start();
    for (int i = 0; i < 1000; ++i) q.put(i);
    consumer.join();
    EXPECT_EQ(consumer.exitcode(), 0);
    EXPECT_TRUE(q.empty());
}

TEST(MpQueue, FourProducersOneConsumerGetEverything) {
    // A small buffer, so that the producers block and contend.
    Queue<std::pair<int, int>> q(0, 1024);
    std::vector<Process> producers;
    for (int p = 0; p < 4; ++p)
        producers.emplace_back([&q, p] {
            for (int i = 0; i < 1000; ++i) q.put({p, i});
        });
    for (auto& p : producers) p.start();
    std::multiset<std::pair<int, int>> got;
    std::map<int, int> last{{0, -1}, {1, -1}, {2, -1}, {3, -1}};
    for (int n = 0; n < 4000; ++n) {
        const auto item = q.get(10s);
        EXPECT_GT(item.second, last[item.first]) << "producer " << item.first << "'s items out of order";
        last[item.first] = item.second;
        got.insert(item);
    }
    for (auto& p : producers) {
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
    }
    std::multiset<std::pair<int, int>> expected;
    for (int p = 0; p < 4; ++p)
        for (int i = 0; i < 1000; ++i) expected.insert({p, i});
    EXPECT_TRUE(got == expected);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW((void)q.get_nowait(), aio::threading::Empty);
}

TEST(MpQueue, TwoConsumersGetEachItemOnce) {
    Queue<int> work(0, 2048);
    Queue<std::pair<int, int>> done;
    std::vector<Process> consumers;
    for (int c = 0; c < 2; ++c)
        consumers.emplace_back([&, c] {
            for (;;) {
                const int x = work.get(10s);
                if (x < 0) break;
                done.put({c, x});
            }
        });
    for (auto& c : consumers) c.start();
    for (int i = 0; i < 2000; ++i) work.put(i, 10s);
    work.put(-1, 10s);
    work.put(-1, 10s);
    for (auto& c : consumers) {
        c.join();
        EXPECT_EQ(c.exitcode(), 0);
    }
    std::vector<int> got;
    while (!done.empty()) got.push_back(done.get_nowait().second);
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got.size(), 2000u);
    for (int i = 0; i < 2000; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i);
}

TEST(MpQueue, QsizeEmptyFull) {
    Queue<std::string> q(3);
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.full());
    EXPECT_EQ(q.qsize(), 0u);
    q.put("a");
    EXPECT_FALSE(q.empty());
    EXPECT_EQ(q.qsize(), 1u);
    q.put("b");
    q.put("c");
    EXPECT_EQ(q.qsize(), 3u);
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.get(), "a");
    EXPECT_FALSE(q.full());
    EXPECT_EQ(q.qsize(), 2u);
    // The count is shared: a child sees it and changes it.
    Process p([&q] { ::_exit(q.qsize() == 2 && q.get() == "b" ? 0 : 1); });
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(q.qsize(), 1u);

    Queue<int> unlimited;
    for (int i = 0; i < 10000; ++i) unlimited.put(i);
    EXPECT_FALSE(unlimited.full());
    EXPECT_EQ(unlimited.qsize(), 10000u);
}

TEST(MpQueue, MaxsizeTwoThirdPutNowaitThrowsFull) {
    Queue<int> q(2);
    q.put_nowait(1);
    q.put(2, false);
    EXPECT_TRUE(q.full());
    EXPECT_THROW(q.put_nowait(3), aio::threading::Full);
    EXPECT_THROW(q.put(3, false), aio::threading::Full);
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.get(), 1);
    q.put_nowait(3);
    EXPECT_EQ(q.get(), 2);
    EXPECT_EQ(q.get(), 3);
}

TEST(MpQueue, GetNowaitOnEmptyThrowsEmpty) {
    Queue<int> q;
    EXPECT_THROW((void)q.get_nowait(), aio::threading::Empty);
    EXPECT_THROW((void)q.get(false), aio::threading::Empty);
    q.put(1);
    EXPECT_EQ(q.get_nowait(), 1);
    EXPECT_THROW((void)q.get_nowait(), aio::threading::Empty);
}

TEST(MpQueue, GetTimeoutThrowsEmptyAfterTheTimeout) {
    Queue<int> q;
    const auto t0 = Clock::now();
    EXPECT_THROW((void)q.get(100ms), aio::threading::Empty);
    const auto waited = Clock::now() - t0;
    EXPECT_GE(waited, 99ms);
    EXPECT_LT(waited, 2s);
    EXPECT_THROW((void)q.get(0ms), aio::threading::Empty);
}

TEST(MpQueue, GetTimeoutReturnsAnItemThatComesInTime) {
    Queue<int> q;
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process p([&] { q.put(child.recv()); });
    p.start();
    parent.send(77);
    EXPECT_EQ(q.get(5s), 77);
    p.join();
}

TEST(MpQueue, PutTimeoutOnFullQueueThrowsFull) {
    Queue<int> q(1);
    q.put(1);
    auto t0 = Clock::now();
    EXPECT_THROW(q.put(2, 100ms), aio::threading::Full);
    auto waited = Clock::now() - t0;
    EXPECT_GE(waited, 99ms);
    EXPECT_LT(waited, 2s);
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.get(), 1);

    // Full by bytes rather than by count.
    Queue<std::string> bytes(0, 4096);
    bytes.put(std::string(3000, 'a'));
    t0 = Clock::now();
    EXPECT_THROW(bytes.put(std::string(3000, 'b'), 100ms), aio::threading::Full);
    waited = Clock::now() - t0;
    EXPECT_GE(waited, 99ms);
    EXPECT_LT(waited, 2s);
    EXPECT_THROW(bytes.put_nowait(std::string(3000, 'c')), aio::threading::Full);
    EXPECT_EQ(bytes.qsize(), 1u);  // a refused put leaves nothing behind
    EXPECT_EQ(bytes.get(), std::string(3000, 'a'));
    bytes.put_nowait(std::string(3000, 'd'));
    EXPECT_EQ(bytes.get(), std::string(3000, 'd'));
}

TEST(MpQueue, BlockingPutWakesWhenAConsumerDrains) {
    Queue<int> q(1);
    auto pipe = Pipe<int64_t>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process consumer([&] {
        int64_t sum = 0;
        for (int i = 0; i < 300; ++i) sum += q.get(10s);
        child.send(sum);
    });
    consumer.start();
    child.close();
    for (int i = 1; i <= 300; ++i) q.put(i, 10s);  // blocks at every item but the first
    EXPECT_EQ(recv_within(parent, 10000ms), 300 * 301 / 2);
    consumer.join();
}

TEST(MpQueue, ItemLargerThanTheBufferGoesThrough) {
    const std::string big = patterned(1u << 20);
    Queue<std::string> q(0, 4096);
    Process producer([&] {
        q.put(big);
        q.put("after");
    });
    producer.start();
    const std::string got = q.get(10s);
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);
    EXPECT_EQ(q.get(5s), "after");
    producer.join();
    EXPECT_EQ(producer.exitcode(), 0);

    // The parent streams while a child reads.
    auto pipe = Pipe<uint64_t>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process consumer([&] {
        const std::string s = q.get(10s);
        child.send(checksum(s));
        child.send(s.size());
    });
    consumer.start();
    child.close();
    q.put(big);
    EXPECT_EQ(recv_within(parent), checksum(big));
    EXPECT_EQ(recv_within(parent), big.size());
    consumer.join();
    EXPECT_TRUE(q.empty());
}

TEST(MpQueue, WrapsAroundTheRing) {
    // Items of awkward sizes, many times the buffer in total: every offset of the ring is a
    // boundary once.
    Queue<std::string> q(0, 100);
    Process producer([&q] {
        for (size_t i = 0; i < 500; ++i) q.put(patterned(i % 150));
    });
    producer.start();
    for (size_t i = 0; i < 500; ++i) ASSERT_EQ(q.get(5s), patterned(i % 150)) << i;
    producer.join();
}

TEST(MpQueue, CloseThenPutOrGetThrowsInvalidState) {
    Queue<int> q;
    Queue<int> other = q;  // a copy of the handle is the same queue
    q.put(1);
    q.close();
    EXPECT_THROW(q.put(2), aio::InvalidStateError);
    EXPECT_THROW(q.put_nowait(2), aio::InvalidStateError);
    EXPECT_THROW(q.put(2, 10ms), aio::InvalidStateError);
    EXPECT_THROW((void)q.get(), aio::InvalidStateError);
    EXPECT_THROW((void)q.get_nowait(), aio::InvalidStateError);
    EXPECT_THROW((void)q.get(10ms), aio::InvalidStateError);
    EXPECT_NO_THROW(q.join_thread());
    EXPECT_NO_THROW(q.cancel_join_thread());
    // Other handles are not affected.
    EXPECT_EQ(other.get_nowait(), 1);
    other.put(3);
    EXPECT_EQ(other.get_nowait(), 3);
}

TEST(MpQueue, HandleCopiesShareTheQueue) {
    Queue<int> a;
    Queue<int> b = a;
    Queue<int> c(5);
    c = a;
    a.put(1);
    EXPECT_EQ(b.qsize(), 1u);
    EXPECT_EQ(c.get(), 1);
    EXPECT_TRUE(a.empty());
}

TEST(MpQueue, StructuredItems) {
    struct Pod {
        int id;
        double v;
    };
    Queue<Pod> pods;
    Queue<std::map<std::string, std::vector<int>>> maps;
    Process p([&] {
        pods.put({7, 0.5});
        maps.put({{"k", {1, 2}}, {"", {0}}});
    });
    p.start();
    const Pod got = pods.get(5s);
    EXPECT_EQ(got.id, 7);
    EXPECT_EQ(got.v, 0.5);
    EXPECT_EQ(maps.get(5s), (std::map<std::string, std::vector<int>>{{"k", {1, 2}}, {"", {0}}}));
    p.join();
}

TEST(MpQueue, BufferTooSmallThrows) {
    EXPECT_THROW(Queue<int>(0, 10), std::invalid_argument);
    EXPECT_NO_THROW(Queue<int>(0, 64));
}

TEST(MpQueue, ProducerKilledMidItemBreaksTheQueue) {
    Queue<std::string> q(0, 4096);
    Process producer([&q] { q.put(std::string(1u << 20, 'x')); });  // no reader yet: blocks mid-item
    producer.start();
    // The item has begun once it counts; from then on the producer is in the middle of it.
    ASSERT_TRUE(eventually([&] { return q.qsize() == 1; }));
    producer.kill();
    producer.join();
    EXPECT_EQ(producer.exitcode(), -SIGKILL);
    EXPECT_EQ(get_in_child(q, 5000ms), Outcome::process_error);  // not a hang, not torn data
    // Broken for good, and for everyone.
    EXPECT_THROW((void)q.get(), aio::mp::ProcessError);
    EXPECT_THROW((void)q.get_nowait(), aio::mp::ProcessError);
    EXPECT_THROW(q.put("more"), aio::mp::ProcessError);
    EXPECT_THROW((void)q.qsize(), aio::mp::ProcessError);
}

TEST(MpQueue, ProducerKilledMidItemBreaksTheQueueBeforeItIsReaped) {
    // BUG: src/mp/queue.cpp, pid_alive(): a writer is taken for alive while kill(pid, 0)
    // succeeds, and it does for a zombie. A producer killed mid-item but not yet reaped (its
    // parent has not joined it — here the consumer's get() runs before the join) leaves the
    // reader polling forever instead of finding the queue broken; the same holds for a reused
    // pid. The writer already holds the robust mutex `wlock` for the whole item: the kernel marks
    // it EOWNERDEAD at death, before the zombie stage, so a reader that finds the ring empty could
    // pthread_mutex_trylock(&wlock) and treat EOWNERDEAD as "the writer died".
    Queue<std::string> q(0, 4096);
    Process producer([&q] { q.put(std::string(1u << 20, 'x')); });
    producer.start();
    ASSERT_TRUE(eventually([&] { return q.qsize() == 1; }));
    producer.kill();  // not joined: a zombie until the end of the test
    EXPECT_EQ(get_in_child(q, 5000ms), Outcome::process_error);
    producer.join();
}

TEST(MpQueue, ConsumerKilledMidItemBreaksTheQueue) {
    Queue<std::string> q(0, 4096);
    Process producer([&q] { q.put(std::string(1u << 20, 'y')); });
    producer.start();
    const pid_t writer = *producer.pid();
    // Begun, the ring full, the producer waiting for room: stop it there, so that the item stalls.
    ASSERT_TRUE(eventually([&] { return q.qsize() == 1; }));
    ASSERT_TRUE(eventually([&] { return proc_state(writer) == 'S'; }));
    ASSERT_EQ(::kill(writer, SIGSTOP), 0);
    ASSERT_TRUE(eventually([&] { return proc_state(writer) == 'T'; }));

    // A reader begins the item, drains the ring and waits for the stalled producer: asleep
    // in the middle of the item. It dies there.
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process reader([&] {
        child.send(0);
        (void)q.get();
    });
    reader.start();
    child.close();
    (void)recv_within(parent);
    const pid_t r = *reader.pid();
    ASSERT_TRUE(eventually([&] { return proc_state(r) == 'S'; }));
    reader.kill();
    reader.join();
    ASSERT_EQ(::kill(writer, SIGCONT), 0);

    EXPECT_EQ(get_in_child(q, 5000ms), Outcome::process_error);  // half an item is gone: broken
    // The producer does not hang either: it finds the queue broken (ProcessError: exit code 1).
    const bool ended = producer.join(5s);
    if (!ended) producer.kill();
    producer.join();
    EXPECT_TRUE(ended);
    EXPECT_EQ(producer.exitcode(), 1);
    EXPECT_THROW(q.put("x"), aio::mp::ProcessError);
}

TEST(MpQueue, KilledWaitingWriterLeavesTheQueueUsable) {
    Queue<int> q(1);
    q.put(1);
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process writer([&] {
        child.send(0);
        q.put(2);  // blocks: the queue is full; it has not begun an item
    });
    writer.start();
    (void)recv_within(parent);
    writer.kill();
    writer.join();
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.get(), 1);
    q.put_nowait(3);
    EXPECT_EQ(q.get(), 3);
}

TEST(MpQueue, KilledWaitingReaderLeavesTheQueueUsable) {
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer does not model taking over a robust mutex whose owner process died
    // (EOWNERDEAD from pthread_mutex_timedlock): it reports the later unlock as "unlock of an
    // unlocked mutex". The behaviour is checked by the other builds.
    GTEST_SKIP() << "TSan cannot follow a robust mutex taken over from a dead process";
#endif
    Queue<int> q;
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process reader([&] {
        child.send(0);
        (void)q.get();  // blocks: the queue is empty
    });
    reader.start();
    (void)recv_within(parent);
    reader.kill();
    reader.join();
    q.put(4);
    EXPECT_EQ(q.get(1s), 4);
    EXPECT_TRUE(q.empty());
}

TEST(MpQueue, SimpleQueueBasics) {
    SimpleQueue<std::string> q;
    SimpleQueue<std::string> replies;
    EXPECT_TRUE(q.empty());
    Process p([&] {
        q.put("one");
        q.put("two");
        const std::string reply = replies.get();  // waits for the parent's answer
        ::_exit(reply == "three" ? 0 : 1);
    });
    p.start();
    // SimpleQueue.get() has no timeout: wait (bounded) for the items to be there first.
    ASSERT_TRUE(eventually([&] { return !q.empty(); }));
    EXPECT_EQ(q.get(), "one");
    ASSERT_TRUE(eventually([&] { return !q.empty(); }));
    EXPECT_EQ(q.get(), "two");
    replies.put("three");
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_TRUE(q.empty());
    EXPECT_TRUE(replies.empty());

    SimpleQueue<std::string> small(4096);
    Process big([&small] { small.put(std::string(100'000, 'q')); });
    big.start();
    ASSERT_TRUE(eventually([&] { return !small.empty(); }));  // begun: the rest streams in
    EXPECT_EQ(small.get(), std::string(100'000, 'q'));
    big.join();

    q.close();
    EXPECT_THROW(q.put("x"), aio::InvalidStateError);
    EXPECT_THROW((void)q.get(), aio::InvalidStateError);
}

// ---- JoinableQueue ---------------------------------------------------------------------------

TEST(MpJoinableQueue, JoinWaitsForEveryTaskDone) {
    aio::mp::JoinableQueue<int> q;
    EXPECT_TRUE(q.join(0ms));  // nothing put: nothing to wait for
    for (int i = 0; i < 3; ++i) q.put(i);
    EXPECT_FALSE(q.join(0ms));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(q.get(), i);
    EXPECT_FALSE(q.join(0ms));  // got, but not done
    q.task_done();
    q.task_done();
    EXPECT_FALSE(q.join(0ms));
    q.task_done();
    EXPECT_TRUE(q.join(0ms));
    q.join();
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}

TEST(MpJoinableQueue, ConsumersInChildProcessesMarkTasksDone) {
    aio::mp::JoinableQueue<int> q;
    aio::mp::Value<int64_t> total(0);
    auto consume = [&q, &total] {
        for (;;) {
            const int x = q.get(10s);
            if (x < 0) {
                q.task_done();
                return;
            }
            {
                auto held = total.get_lock().scoped();
                total.value() += x;
            }
            q.task_done();
        }
    };
    Process a(consume), b(consume);
    a.start();
    b.start();
    for (int i = 1; i <= 500; ++i) q.put(i);
    // join() returns only once both children have handled all 500: the sum is complete then.
    q.join();
    {
        auto held = total.get_lock().scoped();
        EXPECT_EQ(total.value(), 500 * 501 / 2);
    }
    q.put(-1);
    q.put(-1);
    q.join();
    a.join();
    b.join();
    EXPECT_EQ(a.exitcode(), 0);
    EXPECT_EQ(b.exitcode(), 0);
}

TEST(MpJoinableQueue, AFailedPutIsNotCounted) {
    aio::mp::JoinableQueue<int> q(1);
    q.put(1);
    EXPECT_THROW(q.put_nowait(2), aio::threading::Full);
    EXPECT_THROW(q.put(3, 1ms), aio::threading::Full);
    EXPECT_EQ(q.get(), 1);
    q.task_done();
    EXPECT_TRUE(q.join(0ms));  // the two puts that failed left nothing to wait for
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}

TEST(MpJoinableQueue, ACopyIsTheSameQueue) {
    aio::mp::JoinableQueue<std::string> q;
    auto copy = q;
    copy.put("x");
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.get(), "x");
    EXPECT_FALSE(copy.join(0ms));
    q.task_done();
    EXPECT_TRUE(copy.join(0ms));
}
