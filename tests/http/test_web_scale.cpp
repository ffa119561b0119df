// 10,000 idle keep-alive connections held at once, and what each costs the server in heap
// memory. The clients live in a forked child (each process may hold 20,000 fds here).
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <csignal>

#include "web_test_util.hpp"

using namespace std::chrono_literals;
using aio::http::Request;
using aio::http::Response;

namespace {

constexpr int kConnections = 10000;

/// In the child: opens `n` connections, makes one request on each (so each is a used keep-alive
/// connection, idle after its response), reports "ready" on `report`, then waits to be killed.
[[noreturn]] void hold_connections(uint16_t port, int n, int report) {
    std::vector<int> fds;
    fds.reserve(static_cast<size_t>(n));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < n; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(2);
        if (::send(fd, req, sizeof req - 1, 0) != static_cast<ssize_t>(sizeof req - 1)) ::_exit(3);
        fds.push_back(fd);
    }
    for (int fd : fds) {  // every response, in full (the body ends the 2nd line after the blank one)
        char buf[512];
        std::string got;
        while (got.find("Hello") == std::string::npos) {
            ssize_t r = ::recv(fd, buf, sizeof buf, 0);
            if (r <= 0) ::_exit(4);
            got.append(buf, static_cast<size_t>(r));
        }
    }
    if (::write(report, "R", 1) != 1) ::_exit(5);
    for (;;) ::pause();
}

size_t heap_in_use() {
    struct mallinfo2 mi = ::mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

TEST(WebScale, TenThousandIdleKeepAliveConnectionsAreHeld) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < kConnections + 100) GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is " << rl.rlim_max;
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
    aiotest::run_net(
        []() -> aio::Task<void> {
            aio::http::Application app;
            app.router().add_get("/", [](Request) -> aio::Task<Response> { co_return Response("Hello"); });
            aio::http::AppRunner runner(app);
            co_await runner.setup();
            aio::http::TCPSiteOptions so;
            so.backlog = 4096;
            aio::http::TCPSite site(runner, "127.0.0.1", 0, so);
            co_await site.start();
            int sv[2];
            NET_CO_ASSERT(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
            size_t before = heap_in_use();
            // Killed and reaped on every way out of this scope, a failed assertion included.
            struct Child {
                pid_t pid = -1;
                int status = 0;
                void reap() {
                    if (pid <= 0) return;
                    ::kill(pid, SIGKILL);
                    ::waitpid(pid, &status, 0);
                    pid = -1;
                }
                ~Child() { reap(); }
            } child;
            child.pid = ::fork();
            if (child.pid == 0) hold_connections(site.port(), kConnections, sv[1]);
            ::close(sv[1]);
            auto [ready, unused] = co_await aio::open_connection(aio::Socket::adopt(sv[0]));
            std::string r = co_await aio::wait_for(ready.read(1), 90s);
            size_t held = runner.connections();
            size_t after = heap_in_use();
            child.reap();
            EXPECT_EQ(r, "R") << "the client child failed (exit " << WEXITSTATUS(child.status) << ")";
            EXPECT_EQ(held, static_cast<size_t>(kConnections));
            double per_conn = static_cast<double>(after - before) / kConnections;
            std::printf("heap per idle keep-alive connection: %.0f bytes\n", per_conn);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
            // What the issue allows beyond the kernel's socket buffers (the kernel's are not heap).
            if (after > before) {
                EXPECT_LE(per_conn, 4096.0);
            }
#endif
            // The server notices every client going away and frees each connection.
            for (int i = 0; i < 2000 && runner.connections() > 0; ++i) co_await aio::sleep(5ms);
            EXPECT_EQ(runner.connections(), 0u);
            co_await runner.cleanup();
        }(),
        std::chrono::seconds(120));
    ::setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace
