// Scale of connections (issue #21): one process holds 50,000 idle connections, then 10,000 of
// them are active at once, on whichever backend the run uses (ctest runs the net suite on epoll
// and again on io_uring). The clients are plain blocking sockets on a thread of the test; the
// server is an echo protocol on the loop. Memory per idle connection is recorded (and bounded
// where no sanitizer inflates it).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.hpp"
#include "sanitizers.hpp"

namespace {

constexpr bool kSanitized = AIO_UNDER_TSAN || AIO_UNDER_ASAN;
// Sanitizers multiply the cost of every connection; they check the same code at a tenth.
constexpr int kWantIdle = kSanitized ? 5000 : 50000;

long rss_bytes() {
    std::ifstream f("/proc/self/statm");
    long pages = 0, resident = 0;
    f >> pages >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}

// Both ends live in this process: two fds per connection, plus headroom. Raises RLIMIT_NOFILE
// as far as it may (the hard limit too, given CAP_SYS_RESOURCE) and returns how many connections
// fit.
int connections_that_fit(int want) {
    const auto need = static_cast<rlim_t>(2 * want + 500);
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    rlimit n{need, std::max(need, r.rlim_max)};
    if (r.rlim_cur < need && ::setrlimit(RLIMIT_NOFILE, &n) != 0) {
        n = {std::min(need, r.rlim_max), r.rlim_max};
        ::setrlimit(RLIMIT_NOFILE, &n);
    }
    ::getrlimit(RLIMIT_NOFILE, &r);
    return static_cast<int>(std::min<rlim_t>(static_cast<rlim_t>(want), (r.rlim_cur - 500) / 2));
}

class Echo : public aio::Protocol {
public:
    explicit Echo(std::shared_ptr<int> live, aio::Event* all_in, int target) : live_(std::move(live)), all_in_(all_in), target_(target) {}
    void connection_made(aio::Transport& t) override {
        t_ = &t;
        if (++*live_ == target_) all_in_->set();
    }
    void data_received(std::string_view d) override { t_->write(d); }
    void connection_lost(std::exception_ptr) override { --*live_; }

private:
    std::shared_ptr<int> live_;
    aio::Event* all_in_;
    int target_;
    aio::Transport* t_ = nullptr;
};

// Opens `n` connections to 127.0.0.1:port from source addresses 127.0.0.2, .3, ... (one
// address's ephemeral ports cannot hold 50,000 connections to one port).
std::vector<int> connect_many(uint16_t port, int n, std::string& error) {
    std::vector<int> fds;
    fds.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            error = "socket: " + std::string(std::strerror(errno));
            break;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        timeval limit{10, 0};  // a lost echo fails the test instead of hanging it
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000002u + static_cast<uint32_t>(i / 20000));
        ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(port);
        dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
            error = "connect #" + std::to_string(i) + ": " + std::strerror(errno);
            ::close(fd);
            break;
        }
        fds.push_back(fd);
    }
    return fds;
}

}  // namespace

TEST(Scale, IdleConnectionsUpToFiftyThousandThenAFifthActiveAtOnce) {
    // Where RLIMIT_NOFILE's hard limit cannot be raised (no CAP_SYS_RESOURCE: a container), as
    // many as it allows, said in the output.
    const int kIdle = connections_that_fit(kWantIdle);
    const int kActive = kIdle / 5;
    if (kIdle < 1000) GTEST_SKIP() << "RLIMIT_NOFILE allows only " << kIdle << " connections";
    if (kIdle < kWantIdle)
        std::printf("RLIMIT_NOFILE's hard limit allows %d connections, not %d: testing %d\n", kIdle, kWantIdle, kIdle);
    long per_connection = 0;
    aiotest::run_net(
        [&per_connection, kIdle, kActive]() -> aio::Task<void> {
            auto live = std::make_shared<int>(0);
            aio::Event all_in;
            aio::ServerOptions o;
            o.backlog = 4096;
            aio::ProtocolFactory factory = [live, &all_in, kIdle] { return std::make_shared<Echo>(live, &all_in, kIdle); };
            aio::Server server = co_await aio::create_server(std::move(factory), "127.0.0.1", 0, o);
            const uint16_t port = server.port();
            const long rss_before = rss_bytes();

            // The clients: connect them all; hold them; then write to kActive of them at once and
            // read every echo back.
            aio::EventLoop& loop = aio::get_running_loop();
            aio::Future<std::string> connected = loop.create_future<std::string>();
            aio::Future<std::string> clients_done = loop.create_future<std::string>();
            std::atomic<bool> go_active{false};
            std::vector<int> fds;
            std::thread clients([&, kIdle, kActive, p_connected = &connected, p_done = &clients_done] {
                std::string error;
                fds = connect_many(port, kIdle, error);
                loop.call_soon_threadsafe([p_connected, error] { p_connected->set_result(error); });
                go_active.wait(false);
                const std::string msg(64, 'x');
                const size_t stride = kIdle / kActive;
                for (int i = 0; i < kActive && error.empty(); ++i)
                    if (::send(fds[static_cast<size_t>(i) * stride], msg.data(), msg.size(), MSG_NOSIGNAL) != 64)
                        error = "send failed";
                char buf[64];
                for (int i = 0; i < kActive && error.empty(); ++i) {
                    size_t got = 0;
                    while (got < sizeof buf) {
                        const ssize_t r = ::recv(fds[static_cast<size_t>(i) * stride], buf + got, sizeof buf - got, 0);
                        if (r <= 0) {
                            error = "echo " + std::to_string(i) + " lost";
                            break;
                        }
                        got += static_cast<size_t>(r);
                    }
                }
                loop.call_soon_threadsafe([p_done, error] { p_done->set_result(error); });
            });
            // Whatever happens below, the thread is released and joined before the frame goes.
            struct Release {
                std::atomic<bool>& go;
                std::thread& t;
                ~Release() {
                    go.store(true);
                    go.notify_one();
                    if (t.joinable()) t.join();
                }
            } release{go_active, clients};

            // All connected and accepted; nothing moves.
            const std::string connect_error = co_await connected;
            EXPECT_EQ(connect_error, "");
            if (connect_error.empty()) co_await aio::wait_for(all_in.wait(), std::chrono::seconds(60));
            EXPECT_EQ(server.active_connections(), static_cast<size_t>(kIdle));
            const long rss_idle = rss_bytes();
            per_connection = (rss_idle - rss_before) / kIdle;
            go_active.store(true);
            go_active.notify_one();
            const std::string error = co_await clients_done;
            clients.join();
            EXPECT_EQ(error, "");
            EXPECT_EQ(*live, kIdle) << "an active connection was dropped";

            for (int fd : fds) ::close(fd);
            co_await aiotest::eventually([&live] { return *live == 0; });
            EXPECT_EQ(*live, 0);
            server.close();
            co_await server.wait_closed();
        }(),
        std::chrono::seconds(120));
    RecordProperty("bytes_per_idle_connection", static_cast<int>(per_connection));
    std::printf("%d idle connections on %s: %ld bytes of the process's memory each (RSS)\n", kIdle,
                std::getenv("AIO_BACKEND") ? std::getenv("AIO_BACKEND") : "the default backend", per_connection);
    if (!kSanitized) {
        // The client's raw sockets hold no user memory: this is the server's transport, protocol
        // and bookkeeping per connection.
        EXPECT_LT(per_connection, 4096);
    }
}
