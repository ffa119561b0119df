// Helpers for the networking tests: run a coroutine on a real-time loop with a deadline, temp
// directories, free ports, open-fd counting.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <aio/aio.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// ASSERT_* returns, which a coroutine cannot: fail the test and leave the coroutine instead.
#define NET_CO_ASSERT(cond)                              \
    do {                                                 \
        if (!(cond)) {                                   \
            ADD_FAILURE() << "assertion failed: " #cond; \
            co_return;                                   \
        }                                                \
    } while (0)

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

/// Awaits `aw` (a Task or a TaskHandle) and returns the exception of type E it threw (nullopt if
/// it returned; anything else propagates). Keeps co_await out of catch handlers.
template <class E, class A>
aio::Task<std::optional<E>> capture(A aw) {
    std::optional<E> caught;
    try {
        co_await std::move(aw);
    } catch (const E& e) {
        caught.emplace(e);
    }
    co_return caught;
}

/// Awaits `aw` and returns what it threw (null if it returned).
///
/// For an exception thrown on an executor thread (getaddrinfo, getnameinfo), keep the result
/// past aio::run and inspect it there: libstdc++'s exception_ptr reference count is not
/// instrumented, so if the worker thread dropped the last reference and freed the exception,
/// ThreadSanitizer would take our earlier reads of it for a race. Once aio::run has joined the
/// executor's threads, our reference is the last one.
template <class A>
aio::Task<std::exception_ptr> capture_ptr(A aw) {
    std::exception_ptr caught;
    try {
        co_await std::move(aw);
    } catch (...) {
        caught = std::current_exception();
    }
    co_return caught;
}

/// Rethrows `e` and returns a copy of it as E (nullopt if it is null or not an E).
template <class E>
std::optional<E> as(const std::exception_ptr& e) {
    if (!e) return std::nullopt;
    try {
        std::rethrow_exception(e);
    } catch (const E& x) {
        return x;
    } catch (...) {
    }
    return std::nullopt;
}

/// Polls `pred` on the loop (sleep(0) first, then 1 ms steps) until it holds; false after ~10 s.
/// Only for waiting on the kernel (socket queues), never on another task or thread.
template <class P>
aio::Task<bool> eventually(P pred) {
    for (int i = 0; i < 10100; ++i) {
        if (pred()) co_return true;
        co_await aio::sleep(std::chrono::milliseconds(i < 100 ? 0 : 1));
    }
    co_return pred();
}

/// Bytes in the socket's receive queue not yet read by the process (FIONREAD).
inline int inq(int fd) {
    int n = -1;
    if (::ioctl(fd, SIOCINQ, &n) < 0) return -1;
    return n;
}
/// Bytes sent by the process and not yet consumed/acknowledged by the peer (SIOCOUTQ).
inline int outq(int fd) {
    int n = -1;
    if (::ioctl(fd, SIOCOUTQ, &n) < 0) return -1;
    return n;
}

/// setsockopt(SO_LINGER, {1, 0}) then close: the peer gets a RST (ECONNRESET), not a FIN.
inline void reset_and_close(aio::Socket& s) {
    linger l{1, 0};
    ::setsockopt(s.fileno(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    s.close();
}
inline void set_int_opt(int fd, int level, int name, int value) { ::setsockopt(fd, level, name, &value, sizeof value); }

/// What reached the running loop's exception handler (installed by install()).
struct ExceptionLog {
    std::vector<aio::ExceptionContext> calls;
    std::vector<double> times;  // loop.time() of each call
    aio::Event called;

    static std::shared_ptr<ExceptionLog> install() {
        auto log = std::make_shared<ExceptionLog>();
        aio::get_running_loop().set_exception_handler([log](aio::EventLoop& loop, const aio::ExceptionContext& c) {
            log->calls.push_back(c);
            log->times.push_back(loop.time());
            log->called.set();
        });
        return log;
    }
    /// Waits until at least `n` calls were made.
    aio::Task<void> wait_count(size_t n) {
        while (calls.size() < n) {
            called.clear();
            co_await called.wait();
        }
    }
    [[nodiscard]] bool any_contains(const std::string& needle) const {
        for (auto& c : calls)
            if (c.message.find(needle) != std::string::npos) return true;
        return false;
    }
};

/// The message of an exception_ptr ("" for null).
inline std::string what_of(const std::exception_ptr& e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "<non-std exception>";
    }
}

/// Lowers RLIMIT_NOFILE's soft limit while alive; restores it on destruction.
class NoFileLimit {
public:
    explicit NoFileLimit(rlim_t soft) {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit r = saved_;
        r.rlim_cur = soft;
        ok_ = ::setrlimit(RLIMIT_NOFILE, &r) == 0;
    }
    NoFileLimit(const NoFileLimit&) = delete;
    NoFileLimit& operator=(const NoFileLimit&) = delete;
    ~NoFileLimit() { restore(); }
    void restore() {
        if (ok_) ::setrlimit(RLIMIT_NOFILE, &saved_);
        ok_ = false;
    }
    [[nodiscard]] bool ok() const { return ok_; }

private:
    rlimit saved_{};
    bool ok_ = false;
};

/// The lowest file descriptor number not in use now (the next one open/socket would return).
inline int lowest_free_fd() {
    int fd = ::dup(0);
    if (fd >= 0) ::close(fd);
    return fd;
}

/// A listener on 127.0.0.1 with backlog 0 whose accept queue is full, so that a further
/// connect() gets no answer (Linux drops the SYN): the way to make a connect hang without a
/// network. `fillers` are the connections that filled the queue.
struct FullListener {
    aio::Socket listener;
    std::vector<aio::Socket> fillers;
    uint16_t port = 0;
    bool full = false;  // a connect was seen to hang
};
inline aio::Task<FullListener> full_listener() {
    FullListener f;
    f.listener = aio::Socket(AF_INET, SOCK_STREAM);
    f.listener.bind(aio::SockAddr::ip("127.0.0.1", 0));
    f.listener.listen(0);
    f.port = f.listener.getsockname().port();
    // Connect until one connect does not complete: the queue is then full.
    for (int i = 0; i < 8; ++i) {
        aio::Socket c(AF_INET, SOCK_STREAM);
        bool hung = false;
        try {
            co_await aio::wait_for(aio::sock_connect(c.fileno(), aio::SockAddr::ip("127.0.0.1", f.port)),
                                   std::chrono::milliseconds(200));
        } catch (const aio::TimeoutError&) {
            hung = true;
        }
        if (hung) {  // c is closed here: its SYN was dropped, nothing to keep
            f.full = true;
            break;
        }
        f.fillers.push_back(std::move(c));
    }
    co_return f;
}

/// Reads from a plain socket until EOF (or an error), at most `cap` bytes in total.
inline aio::Task<std::string> recv_all(int fd, size_t cap = SIZE_MAX) {
    std::string out;
    for (;;) {
        std::string chunk;
        bool failed = false;
        try {
            chunk = co_await aio::sock_recv(fd, 256 * 1024);
        } catch (const std::system_error&) {
            failed = true;  // a reset ends the stream too
        }
        if (failed || chunk.empty()) break;
        out += chunk;
        if (out.size() >= cap) break;
    }
    co_return out;
}

/// Reads exactly `n` bytes from a plain socket (fewer only at EOF).
inline aio::Task<std::string> recv_exactly(int fd, size_t n) {
    std::string out;
    while (out.size() < n) {
        std::string chunk = co_await aio::sock_recv(fd, n - out.size());
        if (chunk.empty()) break;
        out += chunk;
    }
    co_return out;
}

}  // namespace aiotest
