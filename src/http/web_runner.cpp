// AppRunner, TCPSite, run_app (include/aio/http/web_runner.hpp).
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>

#include "aio/core/per_core.hpp"
#include "aio/core/run.hpp"
#include "aio/core/timeout.hpp"
#include "aio/net/transport.hpp"
#include "web_internal.hpp"

namespace aio::http {

namespace detail {
void RunnerState::add(ServerConnection* c) {
    connections.insert(c);
    all_closed.clear();
}

void RunnerState::remove(ServerConnection* c) noexcept {
    connections.erase(c);
    if (connections.empty()) all_closed.set();
}
}  // namespace detail

std::function<void(std::string_view)> access_log_to_fd(int fd) {
    struct Batch {
        int fd;
        std::string buf;
        bool scheduled = false;
        void flush() noexcept {
            scheduled = false;
            size_t off = 0;
            while (off < buf.size()) {
                ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                off += static_cast<size_t>(n);
            }
            buf.clear();
        }
    };
    auto batch = std::make_shared<Batch>();
    batch->fd = fd;
    return [batch](std::string_view line) {
        batch->buf.append(line);
        batch->buf += '\n';
        if (!batch->scheduled) {
            batch->scheduled = true;
            get_running_loop().call_soon([batch] { batch->flush(); });
        }
    };
}

AppRunner::AppRunner(Application& app, ServerConfig config) : s_(std::make_shared<detail::RunnerState>()) {
    s_->app = &app;
    s_->limits.max_line_size = config.max_line_size;
    s_->limits.max_field_size = config.max_field_size;
    s_->limits.max_headers = config.max_headers;
    s_->limits.max_headers_size = config.max_headers_size;
    if (config.max_pipelined == 0) config.max_pipelined = 1;
    s_->config = std::move(config);
    s_->all_closed.set();
}

AppRunner::~AppRunner() {
    s_->shutting_down = true;
    // Copied: abort() may remove connections from the set while we walk it.
    std::vector<detail::ServerConnection*> conns(s_->connections.begin(), s_->connections.end());
    for (auto* c : conns) c->abort();
}

Task<void> AppRunner::setup() {
    Application& app = *s_->app;
    app.freeze();
    for (auto& cb : app.on_startup) co_await cb(app);
}

Task<void> AppRunner::cleanup() {
    auto s = s_;
    s->shutting_down = true;
    std::vector<detail::ServerConnection*> conns(s->connections.begin(), s->connections.end());
    for (auto* c : conns) c->begin_shutdown();
    if (!s->connections.empty()) {
        try {
            co_await wait_for(s->all_closed.wait(), s->config.shutdown_timeout);
        } catch (const TimeoutError&) {
            // Requests still running past the deadline are cut off below.
        }
    }
    conns.assign(s->connections.begin(), s->connections.end());
    for (auto* c : conns) c->abort();
    Application& app = *s->app;
    for (auto& cb : app.on_cleanup) co_await cb(app);
}

size_t AppRunner::connections() const noexcept { return s_->connections.size(); }
Application& AppRunner::app() const noexcept { return *s_->app; }
const ServerConfig& AppRunner::config() const noexcept { return s_->config; }
std::vector<SockAddr> AppRunner::addresses() const { return s_->addresses; }

struct TCPSite::Impl {
    std::shared_ptr<detail::RunnerState> runner;
    std::string host;
    uint16_t port;
    TCPSiteOptions options;
    Server server;
};

TCPSite::TCPSite(AppRunner& runner, std::string host, uint16_t port, TCPSiteOptions options)
    : impl_(std::make_unique<Impl>()) {
    impl_->runner = runner.state();
    impl_->host = std::move(host);
    impl_->port = port;
    impl_->options = std::move(options);
}

TCPSite::~TCPSite() = default;

Task<void> TCPSite::start() {
    Impl& i = *impl_;
    if (!i.runner->app->frozen()) throw RuntimeError("TCPSite::start(): call runner.setup() first");
    ServerOptions so;
    so.backlog = i.options.backlog;
    so.reuse_port = i.options.reuse_port;
    so.ssl = i.options.ssl;
    auto runner = i.runner;
    const bool secure = static_cast<bool>(i.options.ssl);
    ProtocolFactory factory = [runner, secure]() -> std::shared_ptr<Protocol> {
        return std::make_shared<detail::ServerConnection>(runner, secure);
    };
    i.server = co_await create_server(std::move(factory), i.host, i.port, std::move(so));
    for (const auto& a : i.server.sockets()) i.runner->addresses.push_back(a);
}

void TCPSite::stop() { impl_->server.close(); }

uint16_t TCPSite::port() const { return impl_->server.port(); }

std::string TCPSite::name() const {
    std::string scheme = impl_->options.ssl ? "https" : "http";
    std::string host = impl_->host.empty() ? "0.0.0.0" : impl_->host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return scheme + "://" + host + ":" + std::to_string(port());
}

Task<void> serve_app(Application& app, std::string host, uint16_t port, RunAppOptions options,
                     std::function<void(uint16_t)> on_started) {
    AppRunner runner(app, options.config);
    co_await runner.setup();
    TCPSite site(runner, host, port, options.site);
    co_await site.start();
    if (options.print_banner) {
        std::printf("======== Running on %s ========\n(Press CTRL+C to quit)\n", site.name().c_str());
        std::fflush(stdout);
    }
    if (on_started) on_started(site.port());
    if (options.on_started) options.on_started(site.port());
    Event stop;
    EventLoop& loop = get_running_loop();
    if (options.handle_signals) loop.add_signal_handler(SIGTERM, [&stop] { stop.set(); });
    bool cancelled = false;
    try {
        co_await stop.wait();
    } catch (const CancelledError&) {
        cancelled = true;  // SIGINT under aio::run, or the caller: shut down gracefully all the same
    }
    if (options.handle_signals) loop.remove_signal_handler(SIGTERM);
    site.stop();
    co_await runner.cleanup();
    if (cancelled) throw CancelledError();
}

namespace {

// run_app over several loops. Port 0 is resolved by the first worker; the others wait for it
// (blocking their own threads only, before their loops serve anything) and join its port.
void run_app_workers(Application& app, const std::string& host, uint16_t port, const RunAppOptions& options) {
    app.freeze();  // once, here: the workers only read the router
    std::mutex m;
    std::condition_variable cv;
    std::optional<uint16_t> bound;  // nullopt: not yet; 0: the first worker failed
    auto worker = [&](size_t index) -> Task<void> {
        RunAppOptions o = options;
        o.handle_signals = false;  // run_per_core owns the signals
        o.site.reuse_port = true;
        o.print_banner = options.print_banner && index == 0;
        uint16_t p = port;
        if (index > 0 && port == 0) {
            std::unique_lock lk(m);
            cv.wait(lk, [&] { return bound.has_value(); });
            if (*bound == 0) co_return;  // the first one could not listen: its error is reported
            p = *bound;
        }
        std::function<void(uint16_t)> started;
        if (index == 0)
            started = [&](uint16_t actual) {
                std::lock_guard lk(m);
                bound = actual;
                cv.notify_all();
            };
        struct Unblock {  // the first worker failing before it listened must not strand the others
            size_t index;
            std::mutex& m;
            std::condition_variable& cv;
            std::optional<uint16_t>& bound;
            ~Unblock() {
                if (index != 0) return;
                std::lock_guard lk(m);
                if (!bound) bound = 0;
                cv.notify_all();
            }
        } unblock{index, m, cv, bound};
        co_await serve_app(app, host, p, std::move(o), std::move(started));
    };
    PerCoreOptions pc;
    try {
        run_per_core(options.workers, worker, pc);
    } catch (const KeyboardInterrupt&) {
        // Ctrl-C: every worker has shut down gracefully; that is how run_app ends.
    }
}

}  // namespace

void run_app(Application& app, std::string host, uint16_t port, RunAppOptions options) {
    if (options.workers != 1) {
        run_app_workers(app, host, port, options);
        return;
    }
    try {
        aio::run(serve_app(app, std::move(host), port, std::move(options)));
    } catch (const KeyboardInterrupt&) {
        // Ctrl-C: the server has shut down gracefully; that is how run_app ends.
    }
}

}  // namespace aio::http
