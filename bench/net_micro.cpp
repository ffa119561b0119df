// A self-contained echo benchmark (no peers lab needed): an aiocpp echo server and N aiocpp
// clients on one loop over loopback TCP, each client doing request/response with 64-byte
// messages. Prints `bench=net_echo api=... conns=N requests=R seconds=S` like the lab's programs.
// It measures both ends at once on one core, so it is a regression check for our own code; the
// comparison with other stacks is bench/compare_net.sh (../shared/peers).
//   aio_net_micro [--api protocol|streams] [--conns N] [--requests R]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aio/aio.hpp"

namespace {

class EchoProtocol final : public aio::Protocol {
public:
    void connection_made(aio::Transport& t) override { t_ = &t; }
    void data_received(std::string_view d) override { t_->write(d); }

private:
    aio::Transport* t_ = nullptr;
};

aio::Task<void> echo_streams(aio::StreamReader r, aio::StreamWriter w) {
    for (;;) {
        std::string d = co_await r.read(65536);
        if (d.empty()) break;
        w.write(d);
        co_await w.drain();
    }
}

aio::Task<void> client(uint16_t port, int requests) {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port);
    const std::string msg(64, 'm');
    for (int i = 0; i < requests; ++i) {
        w.write(msg);
        co_await w.drain();
        std::string back = co_await r.readexactly(msg.size());
        if (back != msg) throw std::runtime_error("echo mismatch");
    }
    w.close();
    co_await w.wait_closed();
}

aio::Task<double> bench(bool protocol, int conns, int requests) {
    aio::Server server;
    if (protocol) {
        aio::ProtocolFactory f = [] { return std::make_shared<EchoProtocol>(); };
        server = co_await aio::create_server(std::move(f), "127.0.0.1", 0);
    } else {
        server = co_await aio::start_server(echo_streams, "127.0.0.1", 0);
    }
    std::vector<aio::Task<void>> clients;
    for (int i = 0; i < conns; ++i) clients.push_back(client(server.port(), requests / conns));
    const auto t0 = std::chrono::steady_clock::now();
    co_await aio::gather(std::move(clients));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    server.close();
    co_await server.wait_closed();
    co_return s;
}

}  // namespace

int main(int argc, char** argv) {
    bool protocol = true;
    int conns = 16;
    int requests = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--api")) protocol = std::strcmp(argv[i + 1], "streams") != 0;
        else if (!std::strcmp(argv[i], "--conns")) conns = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--requests")) requests = std::atoi(argv[i + 1]);
    }
    if (conns <= 0 || requests < conns) {
        std::fprintf(stderr, "usage: %s [--api protocol|streams] [--conns N] [--requests R >= N]\n", argv[0]);
        return 2;
    }
    const double s = aio::run(bench(protocol, conns, requests));
    std::printf("bench=net_echo api=%s conns=%d requests=%d seconds=%.6f rps=%.0f\n", protocol ? "protocol" : "streams",
                conns, requests, s, requests / s);
    return 0;
}
