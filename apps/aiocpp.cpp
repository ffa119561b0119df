// The `aiocpp` command: main() only wires the subcommands, each in its own file (commands.hpp).
//
//   aiocpp demo ...     the ports of the course's examples (demo_cmd.cpp)
#include <vector>

#include <CLI/CLI.hpp>

#include "aio/mp/process.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
    // First of all: in a child started with the spawn method (E14's hello_process), this runs the
    // child's target and exits; in every other run it returns at once.
    aio::mp::freeze_support();
    CLI::App app{"aiocpp: Python's asyncio in C++20. Runs the ports of the asyncio course's examples."};
    app.set_version_flag("--version", "aiocpp " AIO_VERSION);
    app.require_subcommand(1);

    const std::vector<aiocpp_cli::Command> commands{aiocpp_cli::register_demo(app)};

    CLI11_PARSE(app, argc, argv);

    for (const aiocpp_cli::Command& c : commands)
        if (c.app->parsed()) return c.run();
    return 2;  // unreachable: require_subcommand(1) made the parser pick one
}
