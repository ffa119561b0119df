// The `aiocpp` command: main() only wires the subcommands, each in its own file (commands.hpp).
//
//   aiocpp demo ...     the ports of the course's examples (demo_cmd.cpp)
//   aiocpp serve ...    the demo site (serve_cmd.cpp)
//   aiocpp race ...     one I/O-bound job four ways: sequential, threads, coroutines, processes (race_cmd.cpp)
//   aiocpp fetch ...    a concurrent downloader: retries, resume, progress (fetch_cmd.cpp)
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "aio/mp/process.hpp"
#if defined(AIO_HAVE_MPI)
#include "aio/mpi/executor.hpp"
#endif
#include "commands.hpp"

int main(int argc, char** argv) {
    // First of all: in a child started with the spawn method (E14's hello_process), this runs the
    // child's target and exits; in every other run it returns at once.
    aio::mp::freeze_support();
#if defined(AIO_HAVE_MPI)
    // Likewise for a worker spawned by an MPIPoolExecutor (aiocpp demo E21 --mpi N): it serves.
    aio::mpi::freeze_support();
#endif
    CLI::App app{"aiocpp: Python's asyncio in C++20. Runs the ports of the asyncio course's examples, and serves a "
                 "demo site to run clients against."};
    app.set_version_flag("--version", "aiocpp " AIO_VERSION);
    app.require_subcommand(1);

    const std::vector<aiocpp_cli::Command> commands{aiocpp_cli::register_demo(app), aiocpp_cli::register_serve(app),
                                                    aiocpp_cli::register_race(app), aiocpp_cli::register_fetch(app)};

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        // A usage error is one line naming the subcommand, and status 2 (argparse's): a script
        // that starts `aiocpp serve` with a bad option fails at once and says why.
        std::string who = "aiocpp";
        for (const CLI::App* sub : app.get_subcommands()) who += " " + sub->get_name();
        fmt::print(stderr, "{}: {}\n", who, e.what());
        return 2;
    }

    for (const aiocpp_cli::Command& c : commands)
        if (c.app->parsed()) return c.run();
    return 2;  // unreachable: require_subcommand(1) made the parser pick one
}
