// E17 — non-blocking sockets in one thread: open_connection, write a GET, drain, read, close and
// wait_closed, for two hosts at once with gather. The course fetches www.example.com and
// www.google.com; this port starts two tiny HTTP servers of its own on 127.0.0.1 standing in for
// them (each answers after a set "network" delay), so it runs offline and its timings are exact.
// Standalone: examples/e17_http_get [--virtual-time]. In the CLI: aiocpp demo http_get.
#include <chrono>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

struct Site {
    std::string name;                // the host the course used
    std::chrono::milliseconds delay;  // how long "the internet" takes to answer
};

// The stand-in server: reads a request's head, waits its delay, answers one small page and closes
// (Connection: close, as HTTP/1.0 would).
aio::ClientConnected page_server(Site site) {
    return [site](aio::StreamReader reader, aio::StreamWriter writer) -> aio::Task<void> {
        std::string head = co_await reader.readuntil("\r\n\r\n");
        co_await aio::sleep(site.delay);
        const std::string body = fmt::format("<html><body>Hello from {} (the stand-in)</body></html>\n", site.name);
        writer.write(fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n"
                                 "Connection: close\r\n\r\n{}",
                                 body.size(), body));
        co_await writer.drain();
        writer.close();
        co_await writer.wait_closed();
    };
}

// Python: async def fetch_data(host, port) — the course's coroutine, line for line.
aio::Task<void> fetch_data(std::string host, uint16_t port, aio_demo::LoopStopwatch clock) {
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
    fmt::print("   [{:4.0f} ms] {}: connected, sending GET\n", clock.ms(), host);
    writer.write(fmt::format("GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", host));
    co_await writer.drain();  // Python: await writer.drain()

    std::string response = co_await reader.read();  // Python: await reader.read() — to EOF
    const std::string status = response.substr(0, response.find("\r\n"));
    fmt::print("   [{:4.0f} ms] {}: {}  ({} bytes)\n", clock.ms(), host, status, response.size());

    writer.close();
    co_await writer.wait_closed();
}

aio::Task<void> main_coroutine() {
    const std::vector<Site> sites = {{"www.example.com", 300ms}, {"www.google.com", 200ms}};
    std::vector<aio::Server> servers;
    std::vector<uint16_t> ports;
    for (const Site& s : sites) {
        servers.push_back(co_await aio::start_server(page_server(s), "127.0.0.1", 0));
        ports.push_back(servers.back().port());
        fmt::print("   {} stands in at 127.0.0.1:{}, answers after {} ms\n", s.name, ports.back(),
                   s.delay.count());
    }

    fmt::print("\n1. One after the other (await fetch_data(...) twice):\n");
    aio_demo::LoopStopwatch seq;
    for (size_t i = 0; i < sites.size(); ++i) co_await fetch_data(sites[i].name, ports[i], seq);
    const double sequential = seq.ms();

    fmt::print("\n2. Both at once (await asyncio.gather(*tasks)):\n");
    aio_demo::LoopStopwatch together;
    co_await aio::gather(fetch_data(sites[0].name, ports[0], together), fetch_data(sites[1].name, ports[1], together));
    const double gathered = together.ms();

    fmt::print("\n   one after the other: {:.0f} ms (300 + 200)\n   with gather:         {:.0f} ms (the slower one)\n",
               sequential, gathered);
    fmt::print("   Both requests were in flight at once, on one thread: while one socket waits, the loop serves\n"
               "   the other (epoll tells it which is ready).\n");
    for (aio::Server& s : servers) {
        s.close();
        co_await s.wait_closed();
    }
}

void run(const aio_demo::Options& options) {
    fmt::print("Two HTTP GETs over non-blocking sockets from one thread, first one after the other, then together.\n"
               "The course's hosts are replaced by local stand-ins so the demo needs no network.\n\n");
    aio::run(main_coroutine(), options.loop_options());
    fmt::print("\nC++ vs Python:\n"
               " - `reader, writer = await asyncio.open_connection(host, port)` is\n"
               "   `auto [reader, writer] = co_await aio::open_connection(host, port);`.\n"
               " - bytes are std::string (b'...'.encode() is not needed); read(), readline(), readexactly()\n"
               "   return std::string, \"\" at EOF.\n"
               " - a failed connect throws std::system_error carrying errno (Python: ConnectionRefusedError and\n"
               "   friends); compare e.code() with std::errc::connection_refused.\n");
}

const aio_demo::Registration registration{{
    .name = "http_get",
    .number = 17,
    .summary = "open_connection, a raw GET, drain, read, close: two servers at once with gather.",
    .run = &run,
}};

}  // namespace
