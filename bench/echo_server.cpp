// aiocpp's echo servers for the peers lab (../shared/peers, issue #4's figures): one thread,
// 127.0.0.1:PORT, until SIGTERM. Two flavours, as the Python peers have:
//   aio_echo_server --api protocol PORT   a Protocol whose data_received writes the bytes back
//   aio_echo_server --api streams PORT    a coroutine per connection: read(65536), write, drain
// bench/compare_net.sh runs them beside the peers (cost mode and timed runs).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "aio/aio.hpp"

namespace {

// --exit-after N: stop once N connections have closed. Valgrind cannot deliver the lab's SIGTERM
// to a thread blocked in io_uring_enter, so bench/compare_uring_cost.sh ends the io_uring runs
// this way instead.
long g_exit_after = 0;
long g_closed = 0;
aio::Event* g_stop = nullptr;

void connection_closed() {
    if (g_exit_after > 0 && ++g_closed == g_exit_after && g_stop) g_stop->set();
}

class EchoProtocol final : public aio::Protocol {
public:
    void connection_made(aio::Transport& t) override { transport_ = &t; }
    void data_received(std::string_view data) override { transport_->write(data); }
    void connection_lost(std::exception_ptr) override { connection_closed(); }

private:
    aio::Transport* transport_ = nullptr;
};

aio::Task<void> echo_streams(aio::StreamReader reader, aio::StreamWriter writer) {
    for (;;) {
        std::string data = co_await reader.read(65536);
        if (data.empty()) break;
        writer.write(data);
        co_await writer.drain();
    }
    connection_closed();
}

aio::Task<void> serve(bool protocol, uint16_t port) {
    aio::Event stop;
    g_stop = &stop;
    aio::get_running_loop().add_signal_handler(SIGTERM, [&stop] { stop.set(); });
    aio::Server server;
    if (protocol) {
        aio::ProtocolFactory factory = [] { return std::make_shared<EchoProtocol>(); };
        server = co_await aio::create_server(std::move(factory), "127.0.0.1", port);
    } else {
        server = co_await aio::start_server(echo_streams, "127.0.0.1", port);
    }
    co_await stop.wait();
    server.close();
    server.abort_clients();
}

}  // namespace

int main(int argc, char** argv) {
    bool protocol = true;
    int i = 1;
    for (; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--api") == 0) protocol = std::strcmp(argv[i + 1], "streams") != 0;
        else if (std::strcmp(argv[i], "--exit-after") == 0) g_exit_after = std::atol(argv[i + 1]);
        else break;
    }
    if (i != argc - 1) {
        std::fprintf(stderr, "usage: %s [--api protocol|streams] [--exit-after CONNECTIONS] PORT\n", argv[0]);
        return 2;
    }
    aio::run(serve(protocol, static_cast<uint16_t>(std::atoi(argv[i]))));
    return 0;
}
