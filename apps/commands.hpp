// The subcommands of the `aiocpp` command, one file each (demo_cmd.cpp, serve_cmd.cpp...), over
// library code; aiocpp.cpp only wires them. Each register_* function adds its subcommand to the
// command line and returns how to run it once the line is parsed.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace aiocpp_cli {

/// A registered subcommand. `run` reads the options CLI11 filled in and returns the exit status.
struct Command {
    CLI::App* app = nullptr;
    std::function<int()> run;
};

/// `aiocpp demo list|all|NAME|ENN [--virtual-time]`: the ports of the course's examples.
Command register_demo(CLI::App& parent);
/// `aiocpp serve [--port P] [--latency 50ms] [--tls] ...`: the demo site until Ctrl-C or SIGTERM.
Command register_serve(CLI::App& parent);
/// `aiocpp race [--pages N] [--ways seq,threads,coro,procs] [--json] ...`: one I/O-bound job done
/// four ways, measured side by side.
Command register_race(CLI::App& parent);
/// `aiocpp fetch URL... | --urls FILE [--output-dir DIR] [--concurrency N] ...`: a concurrent
/// downloader with retries, resume and progress.
Command register_fetch(CLI::App& parent);

}  // namespace aiocpp_cli
