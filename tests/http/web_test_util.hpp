// Helpers for the server tests: an Application served on a free loopback port inside the test's
// loop, raw HTTP exchanges over a socket, and real clients (curl, Python) run as subprocesses
// through aiocpp's own subprocess API, so the loop keeps serving while they run.
#pragma once

#include <aio/aio.hpp>
#include <aio/http/web_app.hpp>
#include <aio/http/web_runner.hpp>
#include <memory>
#include <string>
#include <vector>

#include "net/net_test_util.hpp"

namespace aiotest {

/// An app served on 127.0.0.1:<free port> for the length of a test coroutine.
struct TestServer {
    aio::http::Application app;
    std::unique_ptr<aio::http::AppRunner> runner;
    std::unique_ptr<aio::http::TCPSite> site;
    uint16_t port = 0;

    explicit TestServer(aio::http::ApplicationOptions o = {}) : app(o) {}

    aio::Task<void> start(aio::http::ServerConfig config = {}) {
        runner = std::make_unique<aio::http::AppRunner>(app, std::move(config));
        co_await runner->setup();
        site = std::make_unique<aio::http::TCPSite>(*runner, "127.0.0.1", 0);
        co_await site->start();
        port = site->port();
    }
    aio::Task<void> stop() {
        if (site) site->stop();
        if (runner) co_await runner->cleanup();
    }
    [[nodiscard]] std::string url(const std::string& path = "/") const {
        return "http://127.0.0.1:" + std::to_string(port) + path;
    }
};

/// Sends `bytes` on a new connection and reads until the server closes it (or `max` bytes).
inline aio::Task<std::string> raw_exchange(uint16_t port, std::string bytes, bool half_close = false) {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port);
    w.write(bytes);
    if (half_close) w.write_eof();
    co_await w.drain();
    std::string out;
    for (;;) {
        std::string chunk;
        try {
            chunk = co_await r.read(65536);
        } catch (const std::system_error&) {
            break;  // ECONNRESET: the server closed with unread input, as it may after an error
        }
        if (chunk.empty()) break;
        out += chunk;
    }
    w.close();
    co_return out;
}

/// The status code of the first response in `raw` (0 if none).
inline int status_of(const std::string& raw) {
    if (raw.size() < 12 || raw.compare(0, 9, "HTTP/1.1 ") != 0) return 0;
    return std::stoi(raw.substr(9, 3));
}

/// Count of status lines ("HTTP/1.1 NNN ") in `raw` (bodies here never contain one).
inline int count_responses(const std::string& raw) {
    int n = 0;
    for (size_t pos = 0; (pos = raw.find("HTTP/1.1 ", pos)) != std::string::npos; pos += 9)
        if (pos + 12 < raw.size() && std::isdigit(static_cast<unsigned char>(raw[pos + 9])) && raw[pos + 12] == ' ') ++n;
    return n;
}

struct ProcResult {
    int code = -1;
    std::string out;
    std::string err;
};

/// Runs a program to completion with its output captured (curl, python3).
inline aio::Task<ProcResult> run_process(std::string program, std::vector<std::string> args,
                                         std::optional<std::string> input = std::nullopt) {
    aio::SubprocessOptions o;
    o.stdout_ = aio::PIPE;
    o.stderr_ = aio::PIPE;
    o.stdin_ = input ? aio::PIPE : aio::DEVNULL;
    aio::Process p = co_await aio::create_subprocess_exec(std::move(program), std::move(args), std::move(o));
    auto res = co_await p.communicate(std::move(input));
    int code = co_await p.wait();
    co_return ProcResult{code, res.stdout_data.value_or(""), res.stderr_data.value_or("")};
}

inline bool have_program(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

/// Debian's python3 (its modules: aiohttp) if present, else "".
inline std::string debian_python() {
    std::string p = AIO_PYTHON3;
    if (have_program("/usr/bin/python3")) return "/usr/bin/python3";
    return p;
}

}  // namespace aiotest
