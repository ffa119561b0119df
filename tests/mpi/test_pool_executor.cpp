// aio::mpi::MPIPoolExecutor (mpi4py.futures.MPIPoolExecutor): workers spawned from this program,
// itself a singleton MPI process. Each test runs in its own process (ctest), so each spawns its
// own workers.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "aio/core/run.hpp"
#include "aio/core/sleep.hpp"
#include "aio/core/task.hpp"
#include "aio/mpi/executor.hpp"
#include "tasks.hpp"

using namespace aio_mpi_test;
using aio::mpi::MPIPoolExecutor;

namespace {

/// Two FIFOs: a task writes its pid into `started` once it runs, and waits for `release`.
struct Gate {
    std::filesystem::path dir;
    std::string started, release;
    Gate() {
        char tmpl[] = "/tmp/aio-mpi-gate-XXXXXX";
        dir = mkdtemp(tmpl);
        started = (dir / "started").string();
        release = (dir / "release").string();
        EXPECT_EQ(mkfifo(started.c_str(), 0600), 0);
        EXPECT_EQ(mkfifo(release.c_str(), 0600), 0);
    }
    ~Gate() { std::filesystem::remove_all(dir); }
    /// Blocks until a task has started; its pid.
    int wait_started() const {
        const int fd = open(started.c_str(), O_RDONLY);
        int pid = -1;
        EXPECT_EQ(read(fd, &pid, sizeof pid), static_cast<ssize_t>(sizeof pid));
        close(fd);
        return pid;
    }
    void open_release() const { close(open(release.c_str(), O_WRONLY)); }
};

}  // namespace

TEST(MPIPool, SubmitRunsTheCallOnAWorkerProcess) {
    MPIPoolExecutor ex(2);
    auto f = ex.submit(square, 7);
    EXPECT_EQ(f.result(), 49);
    EXPECT_NE(ex.submit(worker_pid, 0).result(), getpid());
    EXPECT_EQ(ex.num_workers(), 2);
    auto pids = ex.worker_pids();
    ASSERT_EQ(pids.size(), 2u);
    for (int p : pids) {
        EXPECT_GT(p, 0);
        EXPECT_NE(p, getpid());
    }
}

TEST(MPIPool, MapKeepsInputOrderForEveryChunksize) {
    MPIPoolExecutor ex(2);
    std::vector<int> xs(103);
    std::iota(xs.begin(), xs.end(), -50);
    for (size_t chunk : {1u, 7u, 1000u}) {
        std::vector<int> got;
        for (int v : ex.map(square, xs, {.chunksize = chunk})) got.push_back(v);
        ASSERT_EQ(got.size(), xs.size()) << "chunksize " << chunk;
        for (size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], xs[i] * xs[i]) << i;
    }
}

TEST(MPIPool, UnorderedMapYieldsEveryResultOnce) {
    MPIPoolExecutor ex(2);
    std::vector<int> xs(200);
    std::iota(xs.begin(), xs.end(), 0);
    std::vector<int> got;
    for (int v : ex.map(square, xs, {.chunksize = 9, .unordered = true})) got.push_back(v);
    std::sort(got.begin(), got.end());
    std::vector<int> want;
    for (int x : xs) want.push_back(x * x);
    EXPECT_EQ(got, want);
}

TEST(MPIPool, StarmapSpreadsEachTuple) {
    MPIPoolExecutor ex(2);
    std::vector<std::tuple<double, double>> args{{1, 2}, {0.5, 0.25}, {-3, 3}};
    std::vector<double> got;
    for (double v : ex.starmap(add, args, {.chunksize = 2})) got.push_back(v);
    EXPECT_EQ(got, (std::vector<double>{3, 0.75, 0}));
}

TEST(MPIPool, AnExceptionArrivesWithItsTypeMessageAndRank) {
    MPIPoolExecutor ex(2);
    auto f = ex.submit(fail_on, 3, 3);
    try {
        f.result();
        FAIL() << "no exception";
    } catch (const aio::mpi::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
        EXPECT_EQ(e.message(), "bad 3");
        EXPECT_TRUE(e.rank() == 0 || e.rank() == 1) << e.rank();
        EXPECT_NE(std::string(e.what()).find("raised on MPI rank"), std::string::npos) << e.what();
    }
    // Code written for a process pool catches it too.
    EXPECT_THROW(ex.submit(fail_on, 1, 1).result(), aio::mp::RemoteError);
    EXPECT_EQ(ex.submit(fail_on, 2, 3).result(), 2);  // the worker goes on
}

TEST(MPIPool, MapRaisesAtTheFailingItemAfterTheOnesBefore) {
    MPIPoolExecutor ex(2);
    std::vector<int> xs{0, 1, 2, 3, 4, 5};
    auto results = ex.starmap(fail_on, [&] {
        std::vector<std::tuple<int, int>> v;
        for (int x : xs) v.emplace_back(x, 3);
        return v;
    }(), {.chunksize = 4});
    std::vector<int> got;
    try {
        for (int v : results) got.push_back(v);
        FAIL() << "no exception";
    } catch (const aio::mpi::RemoteError& e) {
        EXPECT_EQ(e.message(), "bad 3");
    }
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
}

TEST(MPIPool, AFunctionRegisteredOnlyInTheClientIsAClearErrorNamingIt) {
    aio::mpi::register_function<&late_task>("late_task");
    MPIPoolExecutor ex(1);
    auto f = ex.submit(late_task, 1);
    try {
        f.result();
        FAIL() << "no exception";
    } catch (const aio::mpi::Error& e) {
        EXPECT_NE(std::string(e.what()).find("'late_task' is not registered on MPI rank 0"), std::string::npos) << e.what();
    }
    EXPECT_EQ(ex.submit(square, 3).result(), 9);  // not a broken pool
}

TEST(MPIPool, AnUnregisteredFunctionIsRefusedAtSubmit) {
    MPIPoolExecutor ex(1);
    EXPECT_THROW((void)ex.submit(unregistered_task, 1), aio::mpi::Error);
}

TEST(MPIPool, CancelRemovesACallNotYetSentAndSaysSoForOneRunning) {
    Gate gate;
    MPIPoolExecutor ex(1);
    auto a = ex.submit(block_until_released, gate.started, gate.release);
    gate.wait_started();  // a runs on the worker
    auto b = ex.submit(square, 2);  // sent behind it (two calls per worker)
    auto c = ex.submit(square, 3);  // waits in the client
    auto d = ex.submit(square, 4);
    EXPECT_FALSE(a.cancel());
    EXPECT_TRUE(a.running());
    EXPECT_TRUE(c.cancel());
    EXPECT_TRUE(c.cancelled());
    gate.open_release();
    EXPECT_GT(a.result(), 0);
    EXPECT_EQ(d.result(), 16);
    EXPECT_EQ(b.result(), 4);
    EXPECT_THROW(c.result(), aio::CancelledError);
}

TEST(MPIPool, ShutdownWithCancelFuturesCancelsWhatWasNotSent) {
    Gate gate;
    MPIPoolExecutor ex(1);
    auto a = ex.submit(block_until_released, gate.started, gate.release);
    gate.wait_started();
    std::vector<aio::ConcurrentFuture<int>> rest;
    for (int i = 0; i < 5; ++i) rest.push_back(ex.submit(square, i));
    ex.shutdown(false, true);
    EXPECT_THROW((void)ex.submit(square, 1), aio::RuntimeError);
    gate.open_release();
    ex.shutdown(true);
    EXPECT_GT(a.result(), 0);
    int cancelled = 0;
    for (auto& f : rest) {
        ASSERT_TRUE(f.done());
        if (f.cancelled()) ++cancelled;
        else EXPECT_EQ(f.result() >= 0, true);
    }
    // At most one of them had been sent behind the running call; the others were cancelled.
    EXPECT_GE(cancelled, 4);
}

TEST(MPIPool, ShutdownWithoutCancelRunsEverythingAcceptedThenRefusesMore) {
    MPIPoolExecutor ex(2);
    std::vector<aio::ConcurrentFuture<int>> fs;
    for (int i = 0; i < 50; ++i) fs.push_back(ex.submit(square, i));
    ex.shutdown(true);
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(fs[static_cast<size_t>(i)].done());
        EXPECT_EQ(fs[static_cast<size_t>(i)].result(), i * i);
    }
    EXPECT_THROW((void)ex.submit(square, 1), aio::RuntimeError);
    ex.shutdown(true);  // idempotent
}

TEST(MPIPool, ShutdownOfAPoolNeverUsedSpawnsNothing) {
    MPIPoolExecutor ex(4);
    ex.shutdown(true);
    EXPECT_THROW((void)ex.submit(square, 1), aio::RuntimeError);
    EXPECT_THROW(ex.bootup(), aio::RuntimeError);  // mpi4py: "cannot bootup after shutdown"
    EXPECT_THROW((void)ex.num_workers(), aio::RuntimeError);
}

TEST(MPIPool, AShortLostAfterDoesNotLoseAWorkerBusyWithALongTask) {
    aio::mpi::PoolOptions o;
    o.max_workers = 1;
    o.lost_after = std::chrono::milliseconds(400);  // heartbeats every 80 ms from the first call on
    MPIPoolExecutor ex(o);
    EXPECT_EQ(ex.submit(nap_ms, 1500).result(), 1500);
    EXPECT_EQ(ex.submit(square, 3).result(), 9);
}

TEST(MPIPool, AMapNeverIteratedStillRunsEveryCall) {
    char tmpl[] = "/tmp/aio-mpi-touch-XXXXXX";
    const std::filesystem::path dir = mkdtemp(tmpl);
    std::vector<std::string> paths;
    for (int i = 0; i < 40; ++i) paths.push_back((dir / std::to_string(i)).string());
    {
        MPIPoolExecutor ex(2);
        (void)ex.map(touch, paths, {.chunksize = 3});  // for its effects, as Python's executor.map(f, xs)
        ex.shutdown(true);
    }
    for (const auto& p : paths) EXPECT_TRUE(std::filesystem::exists(p)) << p;
    std::filesystem::remove_all(dir);
}

TEST(MPIPool, ShutdownFromADoneCallbackDoesNotDeadlock) {
    MPIPoolExecutor ex(1);
    auto f = ex.submit(square, 5);
    f.add_done_callback([&ex] { ex.shutdown(true); });  // runs on the MPI progress thread: must not wait for itself
    EXPECT_EQ(f.result(), 25);
    ex.shutdown(true);
    EXPECT_THROW((void)ex.submit(square, 1), aio::RuntimeError);
}

TEST(MPIPool, A64MiBArgumentMakesTheRoundTrip) {
    MPIPoolExecutor ex(1);
    std::string big(64u << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 13));
    auto back = ex.submit(echo, big).result();
    EXPECT_EQ(back.size(), big.size());
    EXPECT_TRUE(back == big);
}

TEST(MPIPool, TenThousandTinyTasks) {
    MPIPoolExecutor ex(2);
    std::vector<aio::ConcurrentFuture<int>> fs;
    fs.reserve(10000);
    for (int i = 0; i < 10000; ++i) fs.push_back(ex.submit(square, i % 100));
    long long sum = 0;
    for (auto& f : fs) sum += f.result();
    long long want = 0;
    for (int i = 0; i < 10000; ++i) want += (i % 100) * (i % 100);
    EXPECT_EQ(sum, want);

    std::vector<int> xs(10000);
    std::iota(xs.begin(), xs.end(), 0);
    long long total = 0;
    for (int v : ex.map(square, xs, {.chunksize = 250})) total += v;
    long long want2 = 0;
    for (long long x : xs) want2 += x * x;
    EXPECT_EQ(total, want2);
}

TEST(MPIPool, AKilledWorkerFailsItsCallsAndBreaksThePoolInBoundedTime) {
    Gate gate;
    aio::mpi::PoolOptions o;
    o.max_workers = 2;
    o.lost_after = std::chrono::milliseconds(1500);
    MPIPoolExecutor ex(o);
    auto a = ex.submit(block_until_released, gate.started, gate.release);
    const int pid = gate.wait_started();
    auto pids = ex.worker_pids();
    const auto it = std::find(pids.begin(), pids.end(), pid);
    ASSERT_NE(it, pids.end());
    const int rank = static_cast<int>(it - pids.begin());
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    try {
        a.result();
        FAIL() << "no exception";
    } catch (const aio::mpi::BrokenMPIPool& e) {
        EXPECT_EQ(e.rank(), rank);
        const std::string what = e.what();
        EXPECT_NE(what.find("MPI rank " + std::to_string(rank) + " (pid " + std::to_string(pid)), std::string::npos) << what;
        EXPECT_NE(what.find("was lost"), std::string::npos) << what;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    EXPECT_THROW((void)ex.submit(square, 1), aio::mpi::BrokenMPIPool);
    EXPECT_THROW((void)ex.submit(square, 1), aio::BrokenExecutor);
}

TEST(MPIPool, RunInExecutorAwaitsFromACoroutine) {
    MPIPoolExecutor ex(1);
    const int r = aio::run([&]() -> aio::Task<int> {
        const int a = co_await aio::run_in_executor(ex, square, 5);  // as with a process pool
        const int b = co_await aio::run_in_executor(&ex, square, 6);
        co_return a + b;
    }());
    EXPECT_EQ(r, 61);
}

TEST(MPIPool, ACoroutineIteratesAMapWithoutBlockingItsLoop) {
    MPIPoolExecutor ex(2);
    std::vector<int> xs(300);
    std::iota(xs.begin(), xs.end(), 0);
    auto [ordered, unordered, loop_turns] = aio::run([&]() -> aio::Task<std::tuple<std::vector<int>, std::vector<int>, int>> {
        int ticks = 0;
        bool done = false;
        // A task beside the iteration: it runs while the chunks are awaited.
        auto tick = [&]() -> aio::Task<void> {  // named: the coroutine reads its captures through it
            while (!done) {
                ++ticks;
                co_await aio::sleep(std::chrono::milliseconds(0));
            }
        };
        auto ticker = aio::create_task(tick());
        std::vector<int> a, b;
        auto in_order = aio::mpi::aiter(ex.map(square, xs, {.chunksize = 7}));
        while (auto v = co_await in_order.next()) a.push_back(*v);
        auto any_order = aio::mpi::aiter(ex.map(square, xs, {.chunksize = 7, .unordered = true}));
        while (auto v = co_await any_order.next()) b.push_back(*v);
        done = true;
        co_await ticker;
        co_return std::tuple{a, b, ticks};
    }());
    std::vector<int> want;
    for (int x : xs) want.push_back(x * x);
    EXPECT_EQ(ordered, want);
    std::sort(unordered.begin(), unordered.end());
    EXPECT_EQ(unordered, want);
    EXPECT_GT(loop_turns, 1);
}

TEST(MPIPool, ACoroutineMapRaisesAtTheFailingItem) {
    MPIPoolExecutor ex(1);
    std::vector<std::tuple<int, int>> args{{0, 2}, {1, 2}, {2, 2}, {3, 2}};
    std::vector<int> got;
    bool raised = aio::run([&]() -> aio::Task<bool> {
        auto gen = aio::mpi::aiter(ex.starmap(fail_on, args, {.chunksize = 3}));
        try {
            while (auto v = co_await gen.next()) got.push_back(*v);
        } catch (const aio::mpi::RemoteError& e) {
            co_return e.message() == "bad 2";
        }
        co_return false;
    }());
    EXPECT_TRUE(raised);
    EXPECT_EQ(got, (std::vector<int>{0, 1}));
}

TEST(MPIPool, AWorkerWhoseMainForgotFreezeSupportBreaksThePoolWithTheReason) {
    setenv("AIO_TEST_FORGET_FREEZE_SUPPORT", "1", 1);
    MPIPoolExecutor ex(1);
    try {
        ex.bootup();
        FAIL() << "no exception";
    } catch (const aio::mpi::BrokenMPIPool& e) {
        EXPECT_NE(std::string(e.what()).find("freeze_support"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)ex.submit(square, 1), aio::mpi::BrokenMPIPool);
}

TEST(MPIPool, BadOptionsAreRefused) {
    EXPECT_THROW(MPIPoolExecutor(0), std::invalid_argument);
    aio::mpi::PoolOptions o;
    o.lost_after = std::chrono::milliseconds(0);
    EXPECT_THROW(MPIPoolExecutor{o}, std::invalid_argument);
    o.lost_after = std::chrono::milliseconds::max();  // "never" would overflow the clock arithmetic
    EXPECT_THROW(MPIPoolExecutor{o}, std::invalid_argument);
    MPIPoolExecutor ex(1);
    std::vector<int> xs{1};
    EXPECT_THROW((void)ex.map(square, xs, {.chunksize = 0}), std::invalid_argument);
}

TEST(MPISingleton, CommExecutorWithoutMpiexecSaysHowToStartTheProgram) {
    try {
        aio::mpi::CommExecutor ex;
        FAIL() << "no exception";
    } catch (const aio::mpi::Error& e) {
        EXPECT_NE(std::string(e.what()).find("mpiexec -n N"), std::string::npos) << e.what();
    }
}
