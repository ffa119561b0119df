// aiohttp.web's runners: AppRunner (the app's connections and lifetime), TCPSite (a listening
// address), and run_app (serve until SIGINT or SIGTERM, then shut down gracefully).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aio/core/task.hpp"
#include "aio/http/web_app.hpp"
#include "aio/net/address.hpp"
#include "aio/net/tls.hpp"

namespace aio::http {

namespace detail {
struct RunnerState;
}

/// How the server treats its connections (aiohttp: the keyword arguments of AppRunner and
/// run_app, plus the limits nginx has and aiohttp does not).
struct ServerConfig {
    ServerConfig() = default;  // not an aggregate: docs/design.md, "Compiler notes"
    /// An idle keep-alive connection is closed after this long (aiohttp: keepalive_timeout, 75 s).
    std::chrono::nanoseconds keepalive_timeout = std::chrono::seconds(75);
    /// A request head must arrive whole within this long of its first byte, or the client gets
    /// 408 and the connection closes (nginx: client_header_timeout, 60 s): slowloris ends here.
    std::chrono::nanoseconds header_timeout = std::chrono::seconds(60);
    /// cleanup() lets requests in flight finish for this long, then cuts them off (aiohttp:
    /// shutdown_timeout, 60 s).
    std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(60);
    /// Connections served at once; beyond it a new client gets 503 and is closed. 0: no limit.
    size_t max_connections = 0;
    /// The request line's target: 414 beyond (aiohttp: max_line_size).
    size_t max_line_size = 8190;
    /// One header field: 431 beyond (aiohttp: max_field_size).
    size_t max_field_size = 8190;
    /// Header fields per request: 431 beyond.
    size_t max_headers = 100;
    /// The whole request head: 431 beyond.
    size_t max_headers_size = 32 * 1024;
    /// Pipelined requests parsed ahead of the one being answered before the server stops reading.
    size_t max_pipelined = 32;
    /// The Server header ("" sends none).
    std::string server_header = "aiocpp";
    /// The access log (aiohttp: access_log): called with one line per request in aiohttp's
    /// default format, `%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"`. Empty: no log, and no
    /// cost.
    std::function<void(std::string_view line)> access_log;
};

/// An access log writer for ServerConfig::access_log (aiohttp: access_log=logger): lines are
/// appended to a buffer and written to `fd` with one write(2) per loop iteration, however many
/// requests it served, so logging costs a request a copy and no system call. A write error
/// (a closed pipe, a full disk) drops the batch; logging never stops the server. `fd` stays the
/// caller's.
[[nodiscard]] std::function<void(std::string_view line)> access_log_to_fd(int fd);

/// web.AppRunner(app): serves an Application on any number of sites.
///
///     aio::http::AppRunner runner(app);
///     co_await runner.setup();
///     aio::http::TCPSite site(runner, "127.0.0.1", 8080);
///     co_await site.start();
///     ...
///     co_await runner.cleanup();
///
/// Destroying a runner that was not cleaned up aborts its connections (no graceful wait).
class AppRunner {
public:
    explicit AppRunner(Application& app, ServerConfig config = {});
    ~AppRunner();
    AppRunner(const AppRunner&) = delete;
    AppRunner& operator=(const AppRunner&) = delete;

    /// `await runner.setup()`: freezes the app and runs its on_startup callbacks.
    Task<void> setup();
    /// `await runner.cleanup()`: stops every site, lets requests in flight finish within
    /// shutdown_timeout (idle keep-alive connections close at once), aborts what is left, then
    /// runs on_cleanup.
    Task<void> cleanup();
    /// Connections open now.
    [[nodiscard]] size_t connections() const noexcept;
    [[nodiscard]] Application& app() const noexcept;
    [[nodiscard]] const ServerConfig& config() const noexcept;
    /// runner.addresses: the addresses of the started sites.
    [[nodiscard]] std::vector<SockAddr> addresses() const;

    [[nodiscard]] const std::shared_ptr<detail::RunnerState>& state() const noexcept { return s_; }

private:
    std::shared_ptr<detail::RunnerState> s_;
};

/// Options of a TCPSite.
struct TCPSiteOptions {
    TCPSiteOptions() = default;  // not an aggregate: docs/design.md, "Compiler notes"
    int backlog = 128;
    bool reuse_port = false;
    /// Serve HTTPS with this server context (aiohttp: ssl_context=).
    std::shared_ptr<SSLContext> ssl;
};

/// web.TCPSite(runner, host, port): one listening address of a runner.
class TCPSite {
public:
    TCPSite(AppRunner& runner, std::string host = "0.0.0.0", uint16_t port = 8080, TCPSiteOptions options = {});
    ~TCPSite();
    TCPSite(const TCPSite&) = delete;
    TCPSite& operator=(const TCPSite&) = delete;

    /// `await site.start()`: binds and starts accepting. Throws std::system_error (EADDRINUSE...).
    Task<void> start();
    /// `await site.stop()`: stops accepting (connections are the runner's to close).
    void stop();
    /// The bound port (useful with port 0).
    [[nodiscard]] uint16_t port() const;
    /// site.name: "http://127.0.0.1:8080".
    [[nodiscard]] std::string name() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Options of run_app (aiohttp: web.run_app's keyword arguments).
struct RunAppOptions {
    RunAppOptions() = default;  // not an aggregate: docs/design.md, "Compiler notes"
    ServerConfig config;
    TCPSiteOptions site;
    /// Printed once listening ("======== Running on {url} ========"); empty prints nothing.
    bool print_banner = true;
    /// handle_signals=: SIGTERM (and, through aio::run, SIGINT) shut the server down gracefully.
    /// Off: the caller stops it (serve_app: by cancelling it).
    bool handle_signals = true;
    /// aiocpp's addition (gunicorn's --workers, in one process): run_app serves on this many
    /// loops, one per core (aio::run_per_core), each accepting on the port through SO_REUSEPORT.
    /// The application is frozen first and shared: its handlers run on several threads at once,
    /// so what they capture must be thread-safe; on_startup / on_cleanup run once per worker, on
    /// its loop. 0: one per CPU this process may use.
    size_t workers = 1;
    /// aiocpp's addition: called with the bound port once listening (with workers, by each
    /// worker, on its own thread).
    std::function<void(uint16_t port)> on_started;
};

/// web.run_app(app, host=, port=): runs its own event loop (or options.workers of them), serves
/// until SIGINT or SIGTERM, then shuts down gracefully (runner.cleanup(), on every loop).
/// Blocks; returns when done.
void run_app(Application& app, std::string host = "0.0.0.0", uint16_t port = 8080, RunAppOptions options = {});
/// The coroutine run_app runs, for a program that has its own loop: serves until cancelled or
/// until SIGINT/SIGTERM, then cleans up. `on_started`, if given, is called with the bound port.
Task<void> serve_app(Application& app, std::string host, uint16_t port, RunAppOptions options = {},
                     std::function<void(uint16_t)> on_started = {});

}  // namespace aio::http
