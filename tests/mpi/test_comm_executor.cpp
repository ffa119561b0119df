// aio::mpi::CommExecutor (mpi4py.futures.MPICommExecutor), run as `mpiexec -n 3`: every rank runs
// every test; rank 0 is the client, ranks 1 and 2 serve and see a false executor.
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "aio/mpi/executor.hpp"
#include "tasks.hpp"

using namespace aio_mpi_test;
using aio::mpi::CommExecutor;

TEST(MPIComm, TheRootSubmitsAndTheOtherRanksServe) {
    CommExecutor ex(MPI_COMM_WORLD, 0);
    if (!ex) return;  // a worker rank: it served until the root shut down
    EXPECT_EQ(ex.num_workers(), 2);
    EXPECT_EQ(ex.submit(square, 9).result(), 81);
    std::set<int> pids;
    std::vector<aio::ConcurrentFuture<int>> fs;
    for (int i = 0; i < 40; ++i) fs.push_back(ex.submit(worker_pid, i));
    for (auto& f : fs) pids.insert(f.result());
    EXPECT_FALSE(pids.count(getpid()));
    auto wp = ex.worker_pids();
    for (int p : pids) EXPECT_NE(std::find(wp.begin(), wp.end(), p), wp.end());
}

TEST(MPIComm, MapAndStarmapKeepOrder) {
    CommExecutor ex;
    if (!ex) return;
    std::vector<int> xs(1000);
    std::iota(xs.begin(), xs.end(), 0);
    size_t i = 0;
    for (int v : ex.map(square, xs, {.chunksize = 64})) {
        EXPECT_EQ(v, xs[i] * xs[i]);
        ++i;
    }
    EXPECT_EQ(i, xs.size());
    std::vector<std::pair<double, double>> ps{{1, 1}, {2, 2}};
    std::vector<double> got;
    for (double v : ex.starmap(add, ps)) got.push_back(v);
    EXPECT_EQ(got, (std::vector<double>{2, 4}));
}

TEST(MPIComm, AnExceptionNamesTheRankThatRaisedIt) {
    CommExecutor ex;
    if (!ex) return;
    try {
        ex.submit(fail_on, 5, 5).result();
        FAIL() << "no exception";
    } catch (const aio::mpi::RemoteError& e) {
        EXPECT_TRUE(e.rank() == 1 || e.rank() == 2) << e.rank();
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
    }
}

TEST(MPIComm, ALargeArgumentAndManyTinyTasks) {
    CommExecutor ex;
    if (!ex) return;
    std::string big(64u << 20, 'x');
    big[12345] = 'y';
    EXPECT_TRUE(ex.submit(echo, big).result() == big);
    std::vector<aio::ConcurrentFuture<int>> fs;
    for (int i = 0; i < 10000; ++i) fs.push_back(ex.submit(square, i % 10));
    long long sum = 0;
    for (auto& f : fs) sum += f.result();
    EXPECT_EQ(sum, 1000LL * (0 + 1 + 4 + 9 + 16 + 25 + 36 + 49 + 64 + 81));
}

TEST(MPIComm, ARootOtherThanZero) {
    CommExecutor ex(MPI_COMM_WORLD, 2);
    if (!ex) return;
    EXPECT_EQ(ex.num_workers(), 2);
    EXPECT_EQ(ex.submit(square, 4).result(), 16);
}

// Run only by MPIJob.AKilledRankEndsTheJob (test_mpiexec.cpp), in a job of its own: the task
// kills the worker rank that runs it.
TEST(MPIComm, DISABLED_AWorkerRankKilledMidTask) {
    CommExecutor ex;
    if (!ex) return;
    (void)ex.submit(die_now, 0).result();
}
