// Issue #20's figures: aiohttp's WebSocket echo on aiocpp (bench/compare_ws.sh): GET /ws upgrades,
// then every message comes back as it came (text as text, binary as binary), through the same
// WebSocketResponse a user writes.
// Usage: aio_ws_server PORT [--no-compress]
#include <aio/aio.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool g_compress = true;

aio::Task<aio::http::Response> echo(aio::http::Request request) {
    aio::http::WebSocketOptions options;
    options.compress = g_compress;
    aio::http::WebSocketResponse ws(options);
    co_await ws.prepare(request);
    auto messages = ws.iter();
    while (auto m = co_await messages.next()) {
        if (m->type == aio::http::WSMsgType::TEXT) co_await ws.send_str(m->data);
        else if (m->type == aio::http::WSMsgType::BINARY) co_await ws.send_bytes(m->data);
    }
    co_return ws;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PORT [--no-compress]\n", argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; ++i)
        if (std::strcmp(argv[i], "--no-compress") == 0) g_compress = false;
    aio::http::Application app;
    app.router().add_get("/ws", echo);
    aio::http::RunAppOptions options;
    options.print_banner = false;
    aio::http::run_app(app, "127.0.0.1", static_cast<uint16_t>(std::atoi(argv[1])), std::move(options));
    return 0;
}
