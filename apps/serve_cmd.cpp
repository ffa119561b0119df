// `aiocpp serve`: the demo site (aio_app/site.hpp, docs/serve.md) on a port until Ctrl-C or
// SIGTERM, then a graceful shutdown and exit status 0.
//
//   aiocpp serve [--host H] [--port P] [--pages N] [--latency 50ms] [--jitter 10ms]
//                [--page-bytes B] [--seed S] [--tls [--cert-out FILE]]
//
// Its first line of output, flushed at once, names the URL (and so the port, with --port 0):
//   serving 160 pages on http://127.0.0.1:8080/ (latency 50ms ± 10ms)
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <fmt/core.h>

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/run.hpp"
#include "aio/net/errors.hpp"
#include "aio/sync/event.hpp"
#include "aio_app/site.hpp"
#include "commands.hpp"

namespace aiocpp_cli {

namespace {

struct ServeArgs {
    std::string host = "127.0.0.1";
    uint16_t port = 8080;
    aio::app::SiteOptions site;
    std::string cert_out;
};

// Checked while parsing, so a bad value is a usage error like any other (one line, status 2).
CLI::Validator duration_validator() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            if (aio::app::parse_duration(value)) return {};
            return fmt::format("'{}' is not a duration (e.g. 50ms, 1s, 250us; a plain number is milliseconds)", value);
        },
        "");
}

std::string latency_text(const aio::app::SiteOptions& o) {
    std::string text = "latency " + aio::app::format_duration(o.latency);
    if (o.jitter.count() > 0) text += " \u00b1 " + aio::app::format_duration(o.jitter);
    return text;
}

bool copy_certificate(const std::string& from, const std::string& to) {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
    out.close();
    return in.good() && out.good();
}

// Removes the SIGTERM handler on every way out of serve(), and before the Event it sets is gone.
struct SigtermHandler {
    aio::EventLoop& loop;
    SigtermHandler(aio::EventLoop& l, aio::Event& stop) : loop(l) {
        loop.add_signal_handler(SIGTERM, [&stop] { stop.set(); });
    }
    ~SigtermHandler() { loop.remove_signal_handler(SIGTERM); }
    SigtermHandler(const SigtermHandler&) = delete;
    SigtermHandler& operator=(const SigtermHandler&) = delete;
};

aio::Task<int> serve(ServeArgs args) {
    // Caught from the start, not from the first line on: a parent may send SIGTERM as soon as it
    // has read that line, and the default action would kill us with no graceful shutdown.
    aio::Event stop;
    SigtermHandler sigterm(aio::get_running_loop(), stop);

    const std::string where = args.host.find(':') != std::string::npos
                                  ? fmt::format("[{}]:{}", args.host, args.port)
                                  : fmt::format("{}:{}", args.host, args.port);
    std::optional<aio::app::Site> site;
    try {
        site.emplace(co_await aio::app::Site::start(args.site, args.host, args.port));
    } catch (const std::system_error& e) {
        // What bind and listen throw: EADDRINUSE, EACCES (a port below 1024), EADDRNOTAVAIL.
        fmt::print(stderr, "aiocpp serve: cannot listen on {}: {}\n", where, e.code().message());
        co_return 1;
    } catch (const aio::GaiError& e) {
        fmt::print(stderr, "aiocpp serve: cannot listen on {}: {}\n", where, e.what());
        co_return 1;
    } catch (const aio::Error& e) {  // making the certificate (SSLError, or writing its files)
        fmt::print(stderr, "aiocpp serve: {}\n", e.what());
        co_return 1;
    }

    if (!args.cert_out.empty() && !copy_certificate(site->cert_file(), args.cert_out)) {
        fmt::print(stderr, "aiocpp serve: cannot write the certificate to {}\n", args.cert_out);
        co_await site->stop();
        co_return 1;
    }
    fmt::print("serving {} pages on {} ({})\n", args.site.pages, site->url("/"), latency_text(args.site));
    if (args.site.tls) {
        const std::string& cert = args.cert_out.empty() ? site->cert_file() : args.cert_out;
        fmt::print("certificate: {} (trust it: curl --cacert {} {})\n", cert, cert, site->url("/"));
    }
    // A parent reading our stdout through a pipe (a test, `aiocpp race`) waits for this line.
    std::fflush(stdout);

    bool interrupted = false;
    try {
        co_await stop.wait();
    } catch (const aio::CancelledError&) {
        interrupted = true;  // SIGINT: aio::run cancelled us. Shut down gracefully all the same.
    }
    co_await site->stop();
    const uint64_t n = site->requests();
    fmt::print("stopped after {} request{}\n", n, n == 1 ? "" : "s");
    std::fflush(stdout);
    if (interrupted) throw aio::CancelledError();
    co_return 0;
}

int run_serve(const ServeArgs& args) {
    try {
        return aio::run(serve(args));
    } catch (const aio::KeyboardInterrupt&) {
        return 0;  // Ctrl-C is how a server is meant to end (aiohttp's run_app returns normally)
    }
}

}  // namespace

Command register_serve(CLI::App& parent) {
    // Shared with the returned runner: CLI11 writes into these while it parses.
    auto args = std::make_shared<ServeArgs>();
    auto latency = std::make_shared<std::string>("0ms");
    auto jitter = std::make_shared<std::string>("0ms");
    CLI::App* cmd = parent.add_subcommand(
        "serve", "Serve the demo site: N linked pages with a chosen latency, for demos, tests and races");
    cmd->add_option("--host", args->host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", args->port, "Port to listen on; 0 picks a free one (the first line names it)")
        ->capture_default_str();
    cmd->add_option("--pages", args->site.pages, "Number of pages, /pages/1 to /pages/N")
        ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
        ->capture_default_str();
    cmd->add_option("--latency", *latency, "Delay before each response (50ms, 1s, 250us; a number is ms)")
        ->type_name("DURATION")
        ->check(duration_validator())
        ->capture_default_str();
    cmd->add_option("--jitter", *jitter, "Each delay varies uniformly by up to this much either way (never below 0)")
        ->type_name("DURATION")
        ->check(duration_validator())
        ->capture_default_str();
    cmd->add_option("--page-bytes", args->site.page_bytes,
                    "Size of each page's HTML (at least what its title and links need)")
        ->capture_default_str();
    cmd->add_option("--seed", args->site.seed, "Seed of the jitter: the same seed, the same delays")
        ->capture_default_str();
    CLI::Option* tls = cmd->add_flag("--tls", args->site.tls,
                                     "Serve HTTPS with a self-signed certificate for localhost made at start");
    cmd->add_option("--cert-out", args->cert_out, "Also write the certificate (PEM) to FILE, for clients to trust")
        ->type_name("FILE")
        ->needs(tls);
    cmd->footer("Serves /, /pages/{i}, /bytes/{n} and /status/{code}; docs/serve.md describes them.");
    return Command{cmd, [args, latency, jitter] {
                       args->site.latency = *aio::app::parse_duration(*latency);
                       args->site.jitter = *aio::app::parse_duration(*jitter);
                       return run_serve(*args);
                   }};
}

}  // namespace aiocpp_cli
