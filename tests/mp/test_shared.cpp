// aio/mp/shared.hpp: anonymous shared mappings, multiprocessing.Value and multiprocessing.Array,
// across real fork()ed processes.
#include "aio/mp/shared.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mp_test_util.hpp"

using namespace std::chrono_literals;
using mp_test::fork_child;
using mp_test::wait_exit_code;

namespace {

constexpr int kChildren = 4;
constexpr int kIncrements = 10'000;

// The line of /proc/self/maps that contains `p`.
std::string maps_line_of(const void* p) {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream in(line);
        std::uintptr_t lo = 0;
        std::uintptr_t hi = 0;
        char dash = 0;
        in >> std::hex >> lo >> dash >> hi;
        if (addr >= lo && addr < hi) return line;
    }
    return {};
}

}  // namespace

// --- the mapping ---------------------------------------------------------------------------------

TEST(SharedMemory, IsAnAnonymousSharedMappingRoundedToPages) {
    aio::mp::detail::SharedMemory mem(10);
    EXPECT_GE(mem.size(), 10u);
    EXPECT_EQ(mem.size() % static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), 0u);
    const auto* bytes = static_cast<const unsigned char*>(mem.data());
    for (std::size_t i = 0; i < mem.size(); ++i) ASSERT_EQ(bytes[i], 0) << i;
    // "rw-s" (shared), and no file: the kernel shows anonymous shared memory as /dev/zero — it is
    // not in /dev/shm, and has no name anything could leak under.
    const std::string line = maps_line_of(mem.data());
    ASSERT_FALSE(line.empty());
    EXPECT_NE(line.find(" rw-s "), std::string::npos) << line;
    EXPECT_NE(line.find("/dev/zero"), std::string::npos) << line;
    EXPECT_EQ(line.find("/dev/shm"), std::string::npos) << line;
}

TEST(SharedMemory, ForkedChildWritesAreSeenByTheParent) {
    aio::mp::detail::SharedMemory mem(sizeof(int));
    auto* p = static_cast<int*>(mem.data());
    *p = 1;
    const pid_t pid = fork_child([p] { return *p == 1 ? (*p = 2, 0) : 1; });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    EXPECT_EQ(*p, 2);
}

// --- Value ---------------------------------------------------------------------------------------

TEST(SharedValue, InitialValueLoadAndStore) {
    aio::mp::Value<int> zero;
    EXPECT_EQ(zero.load(), 0);
    aio::mp::Value<double> d(2.5);
    EXPECT_EQ(d.load(), 2.5);
    d.store(-1.25);
    EXPECT_EQ(d.load(), -1.25);
    EXPECT_EQ(d.value(), -1.25);
    d.value() = 4;
    EXPECT_EQ(d.load(), 4);
}

TEST(SharedValue, HoldsTriviallyCopyableStructs) {
    struct Point {
        int x;
        double y;
    };
    aio::mp::Value<Point> p(Point{1, 2.0});
    EXPECT_EQ(p.load().x, 1);
    p.store(Point{3, 4.5});
    const pid_t pid = fork_child([p]() mutable {
        const Point q = p.load();
        if (q.x != 3 || q.y != 4.5) return 1;
        p.store(Point{5, 6.5});
        return 0;
    });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    EXPECT_EQ(p.load().x, 5);
    EXPECT_EQ(p.load().y, 6.5);
}

TEST(SharedValue, CopiesShareTheValueAndTheLock) {
    aio::mp::Value<int> a(1);
    auto b = a;
    b.store(5);
    EXPECT_EQ(a.load(), 5);
    EXPECT_EQ(&a.value(), &b.value());
    auto held = a.get_lock().scoped();
    EXPECT_TRUE(b.get_lock().owned_by_this_thread());
    aio::mp::Value<int> moved = std::move(b);
    EXPECT_EQ(moved.value(), 5);
    EXPECT_EQ(b.value(), 5);  // a moved-from handle is still a handle
}

TEST(SharedValue, TheLockIsAnRLockSoLoadAndStoreWorkWhileHoldingIt) {
    aio::mp::Value<int> v(1);
    auto held = v.get_lock().scoped();  // Python: with v.get_lock(): v.value += 1
    v.store(v.load() + 1);
    EXPECT_EQ(v.get_lock().recursion_depth(), 1u);
    EXPECT_EQ(v.value(), 2);
}

TEST(SharedValue, ChildSeesTheParentsValueAndTheParentSeesTheChilds) {
    aio::mp::Value<long> v(7);
    const pid_t pid = fork_child([v]() mutable {
        if (v.load() != 7) return 1;
        v.store(42);
        return 0;
    });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    EXPECT_EQ(v.load(), 42);
}

TEST(SharedValue, IncrementsUnderTheLockFromFourProcessesAreExact) {
    aio::mp::Value<int> counter(0);
    std::vector<pid_t> pids;
    for (int c = 0; c < kChildren; ++c) {
        pids.push_back(fork_child([counter] {
            for (int i = 0; i < kIncrements; ++i) {
                auto held = counter.get_lock().scoped();
                ++counter.value();
            }
            return 0;
        }));
        ASSERT_GT(pids.back(), 0);
    }
    for (pid_t pid : pids) EXPECT_EQ(wait_exit_code(pid), 0);
    EXPECT_EQ(counter.load(), kChildren * kIncrements);
}

TEST(SharedValue, AProcessThatDiesHoldingTheLockDoesNotLockOthersOut) {
    // Python's Value would stay locked for ever; the robust RLock is taken over instead.
    aio::mp::Value<int> v(0);
    const pid_t pid = fork_child([v] {
        v.get_lock().acquire();
        v.value() = 1;  // ... and dies in the middle of an update
        return 0;
    });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    aio::mp::RLock& lock = v.get_lock();
    ASSERT_TRUE(lock.acquire(5s));
    EXPECT_TRUE(lock.previous_owner_died());
    EXPECT_EQ(v.value(), 1);
    lock.release();
    EXPECT_EQ(v.load(), 1);  // usable as before
    ASSERT_TRUE(lock.acquire(false));
    EXPECT_FALSE(lock.previous_owner_died());
    lock.release();
}

TEST(SharedValue, AProcessKilledWhileHoldingTheLockDoesNotLockOthersOut) {
    aio::mp::Value<int> v(0);
    aio::mp::Event holding;
    aio::mp::Event never;
    const pid_t pid = fork_child([v, holding, never]() mutable {
        v.get_lock().acquire();
        holding.set();
        never.wait();  // until killed
        return 1;
    });
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(holding.wait(10s));
    EXPECT_FALSE(v.get_lock().acquire(false));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    EXPECT_EQ(wait_exit_code(pid), 128 + SIGKILL);
    ASSERT_TRUE(v.get_lock().acquire(5s));
    EXPECT_TRUE(v.get_lock().previous_owner_died());
    v.get_lock().release();
}

// --- Array ---------------------------------------------------------------------------------------

TEST(SharedArray, SizeAndInitialisers) {
    aio::mp::Array<int> zeros(5);
    EXPECT_EQ(zeros.size(), 5u);
    EXPECT_EQ(zeros.to_vector(), std::vector<int>(5, 0));
    aio::mp::Array<int> listed{1, 2, 3};
    EXPECT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[1], 2);
    aio::mp::Array<long> from_vector(std::vector<long>{4, 5, 6, 7});
    EXPECT_EQ(from_vector.to_vector(), (std::vector<long>{4, 5, 6, 7}));
    long sum = 0;
    for (long x : from_vector) sum += x;
    EXPECT_EQ(sum, 22);
    aio::mp::Array<double> empty(0);
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_TRUE(empty.to_vector().empty());
}

TEST(SharedArray, CopiesShareTheElements) {
    aio::mp::Array<int> a(3);
    auto b = a;
    b[2] = 9;
    EXPECT_EQ(a[2], 9);
    EXPECT_EQ(a.data(), b.data());
}

TEST(SharedArray, ChildWritesTheParentReads) {
    aio::mp::Array<int> squares(100);
    const pid_t pid = fork_child([squares] {
        auto held = squares.get_lock().scoped();
        for (std::size_t i = 0; i < squares.size(); ++i) squares[i] = static_cast<int>(i * i);
        return 0;
    });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit_code(pid), 0);
    const auto v = squares.to_vector();
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<int>(i * i)) << i;
}

TEST(SharedArray, WholeArrayUpdatesUnderTheLockStayConsistent) {
    // Every update adds one to every element under the lock, so a locked copy always has all
    // elements equal, whoever is writing.
    aio::mp::Array<int> a(16);
    std::vector<pid_t> pids;
    for (int c = 0; c < 2; ++c) {
        pids.push_back(fork_child([a] {
            for (int i = 0; i < 2000; ++i) {
                auto held = a.get_lock().scoped();
                for (int& x : a) ++x;
            }
            return 0;
        }));
        ASSERT_GT(pids.back(), 0);
    }
    for (int i = 0; i < 200; ++i) {
        const auto v = a.to_vector();
        for (int x : v) ASSERT_EQ(x, v[0]);
    }
    for (pid_t pid : pids) EXPECT_EQ(wait_exit_code(pid), 0);
    EXPECT_EQ(a.to_vector(), std::vector<int>(16, 4000));
}
