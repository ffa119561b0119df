// The loop's kernel interface (include/aio/core/event_loop.hpp: Backend, LoopOptions::backend):
// how it is chosen, the fall-back to epoll where the kernel refuses io_uring, and the readiness
// rules the loop relies on, checked on the ring itself. The whole core, net and http suites also
// run with AIO_BACKEND=io_uring (tests/CMakeLists.txt).
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <aio/aio.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using aio::Backend;

// Sets (or unsets, value nullptr) an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) ::setenv(name, value, 1);
        else ::unsetenv(name);
    }
    ~ScopedEnv() {
        if (old_.empty()) ::unsetenv(name_);
        else ::setenv(name_, old_.c_str(), 1);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::string old_;
};

// Collects the warnings logged while it lives.
class LogCapture {
public:
    LogCapture() {
        previous_ = aio::set_log_handler([this](aio::LogLevel level, std::string_view m) {
            if (level >= aio::LogLevel::warning) lines.emplace_back(m);
        });
    }
    ~LogCapture() { aio::set_log_handler(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    std::vector<std::string> lines;

private:
    aio::LogHandler previous_;
};

aio::LoopOptions with(Backend b) {
    aio::LoopOptions o;
    o.backend = b;
    return o;
}

bool ring_available() {
    LogCapture quiet;
    aio::EventLoop loop(with(Backend::io_uring));
    return loop.backend() == Backend::io_uring;
}

#define SKIP_WITHOUT_RING() \
    if (!ring_available()) GTEST_SKIP() << "this kernel refuses io_uring: the fall-back test covers it"

TEST(LoopBackend, OptionsAndTheEnvironmentChooseIt) {
    ScopedEnv unset("AIO_BACKEND", nullptr);
    EXPECT_EQ(aio::EventLoop().backend(), Backend::epoll) << "automatic stays on epoll for now";
    EXPECT_EQ(aio::EventLoop(with(Backend::epoll)).backend(), Backend::epoll);
    EXPECT_STREQ(aio::to_string(Backend::epoll), "epoll");
    EXPECT_STREQ(aio::to_string(Backend::io_uring), "io_uring");
    SKIP_WITHOUT_RING();
    EXPECT_EQ(aio::EventLoop(with(Backend::io_uring)).backend(), Backend::io_uring);
    {
        ScopedEnv env("AIO_BACKEND", "io_uring");
        EXPECT_EQ(aio::EventLoop().backend(), Backend::io_uring);
        // An explicit choice wins over the environment.
        EXPECT_EQ(aio::EventLoop(with(Backend::epoll)).backend(), Backend::epoll);
    }
    {
        ScopedEnv env("AIO_BACKEND", "kqueue");
        LogCapture log;
        EXPECT_EQ(aio::EventLoop().backend(), Backend::epoll);
        ASSERT_EQ(log.lines.size(), 1u);
        EXPECT_NE(log.lines[0].find("AIO_BACKEND=kqueue"), std::string::npos) << log.lines[0];
    }
}

// io_uring_setup made to fail with ENOSYS by a seccomp filter, in a child process (a filter
// cannot be taken off again): the loop says so once and runs on epoll.
TEST(LoopBackend, AKernelWithoutIoUringFallsBackToEpollWithOneWarning) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(offsetof(seccomp_data, nr))),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
        if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) ::_exit(11);
        int code = 0;
        {
            LogCapture log;
            aio::EventLoop loop(with(Backend::io_uring));
            if (loop.backend() != Backend::epoll) code = 12;
            else if (log.lines.size() != 1) code = 13;
            else if (log.lines[0].find("io_uring is not available") == std::string::npos ||
                     log.lines[0].find("using epoll") == std::string::npos)
                code = 14;
            // ...and works.
            bool ran = false;
            loop.call_later(std::chrono::milliseconds(1), [&] {
                ran = true;
                loop.stop();
            });
            loop.run_forever();
            if (code == 0 && !ran) code = 15;
            loop.close();
        }
        ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10/11: seccomp refused; 12: not on epoll; 13: not one warning; "
                                         "14: the warning does not say why; 15: the loop did not run";
}

// Readiness on the ring is level-triggered, as on epoll: a reader that takes one byte per call
// is called again while bytes are left.
TEST(LoopBackend, ReadinessOnTheRingIsLevelTriggered) {
    SKIP_WITHOUT_RING();
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    aio::EventLoop loop(with(Backend::io_uring));
    ASSERT_EQ(::write(sv[1], "0123456789", 10), 10);
    std::string got;
    loop.add_reader(sv[0], [&] {
        char c;
        if (::read(sv[0], &c, 1) == 1) got += c;
        if (got.size() == 10) {
            loop.remove_reader(sv[0]);
            loop.stop();
        }
    });
    loop.run_forever();
    EXPECT_EQ(got, "0123456789");
    // Writable at once and again and again, until the writer is removed; then a reader again.
    int writable = 0;
    loop.add_writer(sv[0], [&] {
        if (++writable == 3) {
            loop.remove_writer(sv[0]);
            ASSERT_EQ(::write(sv[1], "x", 1), 1);
            loop.add_reader(sv[0], [&] {
                char c;
                EXPECT_EQ(::read(sv[0], &c, 1), 1);
                loop.remove_reader(sv[0]);
                loop.stop();
            });
        }
    });
    loop.run_forever();
    EXPECT_EQ(writable, 3);
    loop.close();
    ::close(sv[0]);
    ::close(sv[1]);
}

// A poll holds a reference to its file: an fd unregistered and then closed must be closed for
// real at once (the peer sees EOF without the loop running again), and its number, reused, must
// not get the old registration's events.
TEST(LoopBackend, AnUnregisteredFdClosesAtOnceAndItsNumberCanBeReused) {
    SKIP_WITHOUT_RING();
    aio::EventLoop loop(with(Backend::io_uring));
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    bool old_called = false;
    loop.add_reader(sv[0], [&] { old_called = true; });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();  // one iteration: the poll is armed
    EXPECT_TRUE(loop.remove_reader(sv[0]));
    const int number = sv[0];
    ::close(sv[0]);
    char c;
    EXPECT_EQ(::read(sv[1], &c, 1), 0) << "the peer does not see the close";
    // The same number again, for a new socket pair.
    int sv2[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv2), 0);
    ASSERT_EQ(sv2[0], number);
    bool new_called = false;
    loop.add_reader(sv2[0], [&] {
        new_called = true;
        loop.remove_reader(sv2[0]);
        loop.stop();
    });
    ASSERT_EQ(::write(sv2[1], "y", 1), 1);
    loop.run_forever();
    EXPECT_TRUE(new_called);
    EXPECT_FALSE(old_called);
    loop.close();
    ::close(sv[1]);
    ::close(sv2[0]);
    ::close(sv2[1]);
}

TEST(LoopBackend, AClosedFdIsRefusedWhenRegistered) {
    SKIP_WITHOUT_RING();
    aio::EventLoop loop(with(Backend::io_uring));
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ::close(sv[0]);
    ::close(sv[1]);
    EXPECT_THROW(loop.add_reader(sv[0], [] {}), std::system_error);
    loop.close();
}

// Many fds at once, more than the ring's 1,024 submission slots: the queue is handed to the
// kernel when full, nothing is lost.
TEST(LoopBackend, MoreFdsThanTheRingHasSlots) {
    SKIP_WITHOUT_RING();
    aio::EventLoop loop(with(Backend::io_uring));
    constexpr int kPairs = 1500;
    std::vector<int> a, b;
    for (int i = 0; i < kPairs; ++i) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
            for (int fd : a) ::close(fd);
            for (int fd : b) ::close(fd);
            GTEST_SKIP() << "not enough file descriptors for " << kPairs << " socket pairs";
        }
        a.push_back(sv[0]);
        b.push_back(sv[1]);
    }
    int seen = 0;
    for (int i = 0; i < kPairs; ++i) {
        const int fd = a[static_cast<size_t>(i)];
        loop.add_reader(fd, [&, fd] {
            char c;
            EXPECT_EQ(::read(fd, &c, 1), 1);
            loop.remove_reader(fd);
            if (++seen == kPairs) loop.stop();
        });
    }
    for (int fd : b) ASSERT_EQ(::write(fd, "z", 1), 1);
    loop.run_forever();
    EXPECT_EQ(seen, kPairs);
    loop.close();
    for (int fd : a) ::close(fd);
    for (int fd : b) ::close(fd);
}

}  // namespace
