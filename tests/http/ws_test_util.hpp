// Helpers the WebSocket tests share: our server's echo handler and what it saw, a 101 answer
// for raw servers, and finding a Python with a given module (websockets, aiohttp).
#pragma once

#include <aio/aio.hpp>
#include <aio/http/web_app.hpp>
#include <aio/http/web_request.hpp>
#include <aio/http/web_ws.hpp>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "web_test_util.hpp"

namespace aiotest {

/// What the echo handler saw, for the test to check after the exchange.
struct WsSeen {
    std::vector<aio::http::WSMessage> messages;
    std::optional<uint16_t> close_code;
    bool compress = false;
    std::string protocol;
    bool close_result = false;  // what a "close:<code>" close() returned
    aio::Event done;            // the handler returned
    // Set before the handler starts: once the peer's messages end, the handler keeps the socket
    // until `release` is set, so only the socket itself may have closed the connection.
    bool hold = false;
    aio::Event release;
};

/// The echo both sides run, on either kind of socket (aio::http::WebSocketBase): text stays text,
/// binary stays binary; "close:<code>" closes with that code and "bye". Records what came.
inline aio::Task<void> ws_echo_loop(aio::http::WebSocketBase& ws, std::shared_ptr<WsSeen> seen) {
    using aio::http::WSMsgType;
    auto it = ws.iter();
    while (auto m = co_await it.next()) {
        seen->messages.push_back(*m);
        if (m->type == WSMsgType::TEXT && m->data.rfind("close:", 0) == 0) {
            const auto code = static_cast<uint16_t>(std::stoi(m->data.substr(6)));
            seen->close_result = co_await ws.close(code, "bye");
        } else if (ws.closed()) {
            // A message that came before the peer's close frame, answered already by autoclose:
            // nothing may be sent after a close frame.
        } else if (m->type == WSMsgType::TEXT) {
            co_await ws.send_str(m->data);
        } else if (m->type == WSMsgType::BINARY) {
            co_await ws.send_bytes(m->data);
        }
    }
    seen->close_code = ws.close_code();
}

/// Our server's echo (ws_echo_loop) on `path`.
inline void add_ws_echo(aio::http::Application& app, std::shared_ptr<WsSeen> seen, aio::http::WebSocketOptions opt = {},
                        const std::string& path = "/ws") {
    app.router().add_get(path, [seen, opt](aio::http::Request r) -> aio::Task<aio::http::Response> {
        aio::http::WebSocketResponse ws(opt);
        co_await ws.prepare(r);
        seen->compress = ws.compress();
        seen->protocol = ws.protocol();
        co_await ws_echo_loop(ws, seen);
        if (seen->hold) co_await seen->release.wait();
        seen->done.set();
        co_return ws;
    });
}

/// A Python server started with `py -c script arg` that prints its port on its first line;
/// nullopt (and a test failure saying why) if it did not start.
struct PythonServer {
    aio::Process process;
    uint16_t port = 0;
};
inline aio::Task<std::optional<PythonServer>> start_python_server(std::string py, std::string script, std::string arg) {
    aio::SubprocessOptions po;
    po.stdout_ = aio::PIPE;
    po.stderr_ = aio::PIPE;
    po.stdin_ = aio::DEVNULL;
    std::vector<std::string> args{"-c", std::move(script), std::move(arg)};
    aio::Process p = co_await aio::create_subprocess_exec(py, std::move(args), std::move(po));
    std::string port_line = co_await p.stdout->readline();
    if (port_line.empty()) {
        auto failed = co_await p.communicate();
        ADD_FAILURE() << "the server did not start: " << failed.stderr_data.value_or("");
        co_return std::nullopt;
    }
    PythonServer server{std::move(p), static_cast<uint16_t>(std::stoi(port_line))};
    co_return server;
}

/// A server's 101 answer to a handshake, with Sec-WebSocket-Accept `accept`.
inline std::string answer_101(const std::string& accept, const std::string& extra = {}) {
    std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    out += "Sec-WebSocket-Accept: ";
    out += accept;
    out += "\r\n";
    out += extra;
    out += "\r\n";
    return out;
}

inline bool have_module(const std::string& py, const char* module) {
    if (py.empty()) return false;
    std::string cmd = py + " -c 'import " + module + "' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}

/// Debian's python first; the configured one if only it has the module; "" if neither.
inline std::string python_with(const char* module) {
    std::string py = debian_python();
    if (have_module(py, module)) return py;
    std::string configured = AIO_PYTHON3;
    if (have_module(configured, module)) return configured;
    return {};
}

}  // namespace aiotest
