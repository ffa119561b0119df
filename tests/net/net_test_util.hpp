// Helpers for the networking tests: run a coroutine on a real-time loop with a deadline, temp
// directories, free ports, open-fd counting.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <aio/aio.hpp>
#include <cstdlib>
#include <string>

namespace aiotest {

/// Runs `t` with aio::run on the real clock under a deadline: a bug that hangs fails the test
/// with TimeoutError instead of hanging ctest. (Sockets need real time: the peer is the kernel.)
template <class T>
aio::Task<T> with_deadline(aio::Task<T> t, std::chrono::seconds deadline) {
    co_return co_await aio::wait_for(std::move(t), deadline);
}
template <class T>
T run_net(aio::Task<T> t, std::chrono::seconds deadline = std::chrono::seconds(20)) {
    return aio::run(with_deadline(std::move(t), deadline));
}

/// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/aiocpp-net-XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() { (void)std::system(("rm -rf '" + path_ + "'").c_str()); }
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline bool file_exists(const std::string& p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0;
}

/// A TCP port on 127.0.0.1 that was free a moment ago and has no listener now.
inline uint16_t unused_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

/// The number of open file descriptors of this process (/proc/self/fd, minus the one opendir uses).
inline int open_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
        --n;
    }
    return n;
}

}  // namespace aiotest
