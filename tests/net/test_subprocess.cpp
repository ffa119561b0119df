// Subprocesses (include/aio/net/subprocess.hpp) with real programs: /bin/cat, sort, sh.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <csignal>
#include <string>

#include "net_test_util.hpp"

using aiotest::run_net;

namespace {

// True once `pid` has been reaped by someone (waitpid then fails with ECHILD): no zombie.
bool reaped(pid_t pid) {
    int status;
    return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD;
}

aio::SubprocessOptions pipes(bool in, bool out, bool err = false) {
    aio::SubprocessOptions o;
    if (in) o.stdin_ = aio::PIPE;
    if (out) o.stdout_ = aio::PIPE;
    if (err) o.stderr_ = aio::PIPE;
    return o;
}

}  // namespace

TEST(Subprocess, CatEchoesWhatItIsFedLineByLine) {
    pid_t pid = -1;
    run_net([&pid]() -> aio::Task<void> {
        aio::Process p = co_await aio::create_subprocess_exec("cat", {}, pipes(true, true));
        pid = p.pid();
        EXPECT_GT(pid, 0);
        EXPECT_FALSE(p.returncode());
        for (int i = 0; i < 3; ++i) {
            p.stdin->write("line " + std::to_string(i) + "\n");
            co_await p.stdin->drain();
            EXPECT_EQ(co_await p.stdout->readline(), "line " + std::to_string(i) + "\n");
        }
        p.stdin->close();  // cat sees EOF and exits
        EXPECT_EQ(co_await p.stdout->read(), std::string());
        EXPECT_EQ(co_await p.wait(), 0);
        EXPECT_EQ(p.returncode(), 0);
    }());
    EXPECT_TRUE(reaped(pid));
}

TEST(Subprocess, SortFedFromATaskThroughCommunicate) {
    run_net([]() -> aio::Task<void> {
        aio::Process p = co_await aio::create_subprocess_exec("sort", "-n", pipes(true, true, true));
        std::string input;
        for (int i = 2000; i > 0; --i) input += std::to_string(i) + "\n";  // ~9 KB, more than one read
        aio::CommunicateResult r = co_await p.communicate(input);
        std::string expected;
        for (int i = 1; i <= 2000; ++i) expected += std::to_string(i) + "\n";
        EXPECT_EQ(r.stdout_data, expected);
        EXPECT_EQ(r.stderr_data, std::string());
        EXPECT_EQ(p.returncode(), 0);
    }());
}

TEST(Subprocess, ShellExitStatusAndStderrToStdout) {
    run_net([]() -> aio::Task<void> {
        aio::SubprocessOptions o = pipes(false, true);
        o.stderr_ = aio::STDOUT;
        aio::Process p = co_await aio::create_subprocess_shell("echo out; echo err >&2; exit 3", o);
        aio::CommunicateResult r = co_await p.communicate();
        EXPECT_EQ(r.stdout_data, std::string("out\nerr\n"));
        EXPECT_FALSE(r.stderr_data);
        EXPECT_EQ(p.returncode(), 3);
    }());
}

TEST(Subprocess, KilledChildReportsMinusTheSignal) {
    pid_t pid = -1;
    run_net([&pid]() -> aio::Task<void> {
        aio::Process p = co_await aio::create_subprocess_exec("sleep", "60");
        pid = p.pid();
        p.kill();
        EXPECT_EQ(co_await p.wait(), -SIGKILL);
        p.terminate();  // after the child is reaped: a no-op, never a signal to a recycled pid
        aio::Process q = co_await aio::create_subprocess_exec("sleep", "60");
        q.terminate();
        EXPECT_EQ(co_await q.wait(), -SIGTERM);
    }());
    EXPECT_TRUE(reaped(pid));
}

TEST(Subprocess, AMissingProgramIsASystemErrorAndLeaksNothing) {
    const int before = aiotest::open_fds();
    run_net([]() -> aio::Task<void> {
        try {
            co_await aio::create_subprocess_exec("/nonexistent/program", {}, pipes(true, true, true));
            ADD_FAILURE() << "started a program that does not exist";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
            EXPECT_NE(std::string(e.what()).find("/nonexistent/program"), std::string::npos) << e.what();
        }
        EXPECT_THROW(co_await aio::create_subprocess_exec(""), std::invalid_argument);
    }());
    EXPECT_EQ(aiotest::open_fds(), before);
}

TEST(Subprocess, EnvCwdAndDevnull) {
    aiotest::TempDir dir;
    run_net([&dir]() -> aio::Task<void> {
        aio::SubprocessOptions o = pipes(false, true);
        o.stdin_ = aio::DEVNULL;
        o.cwd = dir.path();
        o.env = std::vector<std::string>{"GREETING=hello from env"};
        aio::Process p = co_await aio::create_subprocess_shell("echo \"$GREETING\"; pwd; cat; echo done", o);
        aio::CommunicateResult r = co_await p.communicate();
        char real[4096] = {};
        EXPECT_NE(::realpath(dir.path().c_str(), real), nullptr);
        EXPECT_EQ(r.stdout_data, "hello from env\n" + std::string(real) + "\ndone\n");  // cat read /dev/null
        EXPECT_EQ(p.returncode(), 0);
    }());
}

TEST(Subprocess, WritingToAChildThatExitedIsAnErrorNotSigpipe) {
    run_net([]() -> aio::Task<void> {
        aio::Process p = co_await aio::create_subprocess_exec("true", {}, pipes(true, false));
        EXPECT_EQ(co_await p.wait(), 0);
        bool failed = false;
        try {
            for (int i = 0; i < 64 && !failed; ++i) {  // the first write may still be accepted by the kernel
                p.stdin->write(std::string(64 * 1024, 'x'));
                co_await p.stdin->drain();
            }
        } catch (const std::system_error& e) {
            failed = e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset;
            EXPECT_TRUE(failed) << e.what();
        }
        EXPECT_TRUE(failed);
        // communicate() ignores the broken pipe, as Python's does.
        aio::Process q = co_await aio::create_subprocess_exec("true", {}, pipes(true, false));
        co_await q.wait();
        aio::CommunicateResult r = co_await q.communicate(std::string(256 * 1024, 'y'));
        EXPECT_FALSE(r.stdout_data);
    }());
}

TEST(Subprocess, CancelledWaitLeavesTheChildRunningAndItIsStillReaped) {
    pid_t pid = -1;
    run_net([&pid]() -> aio::Task<void> {
        aio::Process p = co_await aio::create_subprocess_exec("cat", {}, pipes(true, false));
        pid = p.pid();
        EXPECT_THROW(co_await aio::wait_for(p.wait(), std::chrono::milliseconds(20)), aio::TimeoutError);
        EXPECT_FALSE(p.returncode());
        p.stdin->close();
        EXPECT_EQ(co_await p.wait(), 0);
    }());
    EXPECT_TRUE(reaped(pid));
}

TEST(Subprocess, AChildOutlivingItsLoopIsReapedAnyway) {
    pid_t pid = -1;
    int to_child = -1;
    run_net([&]() -> aio::Task<void> {
        // The child waits on a pipe we control, so it is still running when aio::run returns.
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        aio::SubprocessOptions o;
        o.stdin_ = aio::Redirect::from_fd(fds[0]);
        aio::Process p = co_await aio::create_subprocess_exec("cat", {}, o);
        ::close(fds[0]);
        to_child = fds[1];
        pid = p.pid();
    }());
    ASSERT_GT(pid, 0);
    ::close(to_child);  // now cat sees EOF and exits; the detached reaper collects it
    for (int i = 0; i < 2000 && !reaped(pid); ++i) {
        // Bounded poll for another process's exit; there is nothing to await outside a loop.
        ::usleep(1000);
    }
    EXPECT_TRUE(reaped(pid));
}
