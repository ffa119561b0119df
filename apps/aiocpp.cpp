// The `aiocpp` command: runs the ports of the course's examples.
//
//   aiocpp demo list                          one line per demo: name, E-number, what it shows
//   aiocpp demo NAME|ENN [--virtual-time]     one demo, by name or E-number
//   aiocpp demo all [--virtual-time]          every demo, in the course's order
#include <algorithm>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "demo.hpp"

namespace {

void print_list() {
    size_t width = 0;
    for (const aio_demo::Demo& d : aio_demo::all()) width = std::max(width, d.name.size());
    for (const aio_demo::Demo& d : aio_demo::all()) fmt::print("{:<{}}  {:<4}  {}\n", d.name, width, d.id(), d.summary);
}

// Keeps going after a failed demo so one broken port does not hide the others.
int run_all(const aio_demo::Options& options) {
    int failed = 0;
    for (const aio_demo::Demo& d : aio_demo::all())
        if (!aio_demo::run(d, options)) ++failed;
    const size_t count = aio_demo::all().size();
    if (failed == 0) fmt::print("All {} demos ran.\n", count);
    else fmt::print(stderr, "{} of {} demos failed.\n", failed, count);
    return failed == 0 ? 0 : 1;
}

std::string demo_names() {
    std::string names;
    for (const aio_demo::Demo& d : aio_demo::all()) names += fmt::format("\n  {} ({})", d.name, d.id());
    return names;
}

}  // namespace

int main(int argc, char** argv) {
    // First of all: in a child started with the spawn method (E14's hello_process), this runs the
    // child's target and exits; in every other run it returns at once.
    aio::mp::freeze_support();
    CLI::App app{"aiocpp: Python's asyncio in C++20. Runs the ports of the asyncio course's examples."};
    app.set_version_flag("--version", "aiocpp " AIO_VERSION);
    app.require_subcommand(1);

    std::string what;
    aio_demo::Options options;
    CLI::App* demo = app.add_subcommand("demo", "Run a port of one of the course's examples");
    demo->add_option("name", what, "'list', 'all', or a demo's name or E-number (e.g. masha_and_dasha or E20)")
        ->required()
        ->type_name("list|all|NAME")
        ->check(CLI::Validator(
            [](std::string& value) -> std::string {
                if (value == "list" || value == "all" || !aio_demo::find(value).empty()) return {};
                return fmt::format("unknown demo '{}' (aiocpp demo list shows them)", value);
            },
            ""));
    demo->add_flag("--virtual-time", options.virtual_time,
                   "Run the event loop on the test clock: sleeps take no real time and loop times are exact");
    demo->footer(fmt::format("Demos:{}", demo_names()));

    CLI11_PARSE(app, argc, argv);

    try {
        if (what == "list") {
            print_list();
            return 0;
        }
        if (what == "all") return run_all(options);
        bool ok = true;
        for (const aio_demo::Demo* d : aio_demo::find(what)) ok = aio_demo::run(*d, options) && ok;
        return ok ? 0 : 1;
    } catch (const aio::KeyboardInterrupt&) {
        return 130;  // the shell's convention for "stopped by SIGINT"
    }
}
