// E17, continued — an echo server and its clients on streams: start_server gives each connection
// its own task; three clients talk to it at once, line by line, from the same thread.
// Standalone: examples/e17_echo_server [--virtual-time]. In the CLI: aiocpp demo echo_server.
#include <chrono>
#include <string>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

int g_served = 0;

// Python: async def handle(reader, writer): async for line in reader: writer.write(line); await writer.drain()
aio::Task<void> handle_echo(aio::StreamReader reader, aio::StreamWriter writer) {
    const int id = ++g_served;
    fmt::print("   server: connection {} from {}\n", id, writer.peername().to_string());
    auto lines = reader.lines();
    while (auto line = co_await lines.next()) {
        writer.write("echo: " + *line);
        co_await writer.drain();
    }
    fmt::print("   server: connection {} sent EOF, closing\n", id);
    writer.close();
    co_await writer.wait_closed();
}

aio::Task<void> client(std::string name, uint16_t port, int lines, std::chrono::milliseconds pause) {
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
    for (int i = 1; i <= lines; ++i) {
        writer.write(fmt::format("{} line {}\n", name, i));
        co_await writer.drain();
        std::string reply = co_await reader.readline();
        fmt::print("   {}: got '{}'\n", name, reply.substr(0, reply.size() - 1));
        co_await aio::sleep(pause);
    }
    writer.write_eof();  // half-close: "no more lines", the server sees EOF and closes
    std::string rest = co_await reader.read();
    fmt::print("   {}: server closed the connection{}\n", name, rest.empty() ? "" : " after: " + rest);
    writer.close();
    co_await writer.wait_closed();
}

aio::Task<void> main_coroutine() {
    aio::Server server = co_await aio::start_server(handle_echo, "127.0.0.1", 0);
    fmt::print("   echo server listening on {}\n", server.sockets().front().to_string());
    co_await aio::gather(client("alice", server.port(), 2, 30ms), client("bob", server.port(), 3, 20ms),
                         client("carol", server.port(), 1, 10ms));
    server.close();
    co_await server.wait_closed();
    fmt::print("   server closed after serving {} connections\n", g_served);
}

void run(const aio_demo::Options& options) {
    g_served = 0;
    fmt::print("An echo server (one task per connection) and three clients at once, all on one thread.\n\n");
    aio::run(main_coroutine(), options.loop_options());
    fmt::print("\nC++ vs Python:\n"
               " - `async for line in reader` becomes `auto lines = reader.lines(); while (auto line = co_await\n"
               "   lines.next())`.\n"
               " - the handler's task is kept alive by the loop; when it returns, an unclosed writer is closed.\n"
               " - `async with server` is the aio::Server object itself: its destructor closes it.\n");
}

const aio_demo::Registration registration{{
    .name = "echo_server",
    .number = 17,
    .summary = "An echo server on start_server and three clients talking to it at once, line by line.",
    .run = &run,
}};

}  // namespace
