// What happens to a job started with mpiexec when a worker rank dies: Open MPI 4.1 (no ULFM)
// ends the whole job, naming the rank, with a non-zero status. Checked by running the comm
// tests' killing case as a job of its own.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

TEST(MPIJob, AKilledWorkerRankEndsTheJobWithItsRankNamedWithinTenSeconds) {
    const std::string cmd = std::string("timeout 30 ") + AIO_MPIEXEC + " -n 3 " + AIO_MPI_COMM_TESTS +
                            " --gtest_also_run_disabled_tests --gtest_filter=MPIComm.DISABLED_AWorkerRankKilledMidTask 2>&1";
    const auto t0 = std::chrono::steady_clock::now();
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_NE(WEXITSTATUS(status), 0) << out;
    EXPECT_NE(WEXITSTATUS(status), 124) << "the job hung\n" << out;
    EXPECT_NE(out.find("process rank 1"), std::string::npos) << out;
    EXPECT_NE(out.find("signal 9"), std::string::npos) << out;
    EXPECT_LT(took, std::chrono::seconds(10)) << out;
}
