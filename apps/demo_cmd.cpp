// `aiocpp demo`: runs the ports of the course's examples.
//
//   aiocpp demo list                          one line per demo: name, E-number ("-" beyond the
//                                             course), what it shows
//   aiocpp demo NAME|ENN [--virtual-time]     one demo, by name or E-number
//   aiocpp demo all [--virtual-time]          every demo, in the course's order
#include <algorithm>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "commands.hpp"
#include "demo.hpp"

namespace aiocpp_cli {

namespace {

void print_list() {
    size_t width = 0;
    for (const aio_demo::Demo& d : aio_demo::all()) width = std::max(width, d.name.size());
    for (const aio_demo::Demo& d : aio_demo::all())
        fmt::print("{:<{}}  {:<4}  {}\n", d.name, width, d.number > 0 ? d.id() : "-", d.summary);
    // The course's numbering, every example: what it is about, and which demo shows it.
    fmt::print("\nBy the course's numbers (aiocpp demo ENN):\n");
    for (int n = 1; n <= aio_demo::kExamples; ++n) {
        std::string shown_by;
        for (const aio_demo::Demo& d : aio_demo::all())
            if (d.covers(n)) shown_by += (shown_by.empty() ? "" : ", ") + std::string(d.name);
        if (shown_by.empty()) shown_by = "(not ported yet)";
        fmt::print("  E{:<3} {:<58} {}\n", n, aio_demo::example_title(n), shown_by);
    }
    std::string beyond;
    for (const aio_demo::Demo& d : aio_demo::all())
        if (d.number <= 0) beyond += (beyond.empty() ? "" : ", ") + std::string(d.name);
    if (!beyond.empty()) fmt::print("\nBeyond the course (aiocpp demo NAME): {}\n", beyond);
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
    for (const aio_demo::Demo& d : aio_demo::all())
        names += d.number > 0 ? fmt::format("\n  {} ({})", d.name, d.id()) : fmt::format("\n  {}", d.name);
    return names;
}

struct DemoArgs {
    std::string what;
    aio_demo::Options options;
};

int run_demo(const DemoArgs& args) {
    try {
        if (args.what == "list") {
            print_list();
            return 0;
        }
        if (args.what == "all") return run_all(args.options);
        bool ok = true;
        for (const aio_demo::Demo* d : aio_demo::find(args.what)) ok = aio_demo::run(*d, args.options) && ok;
        return ok ? 0 : 1;
    } catch (const aio::KeyboardInterrupt&) {
        return 130;  // the shell's convention for "stopped by SIGINT"
    }
}

}  // namespace

Command register_demo(CLI::App& parent) {
    // Shared with the returned runner: CLI11 writes into these while it parses.
    auto args = std::make_shared<DemoArgs>();
    CLI::App* demo = parent.add_subcommand("demo", "Run a port of one of the course's examples");
    demo->add_option("name", args->what, "'list', 'all', or a demo's name or E-number (e.g. masha_and_dasha or E20)")
        ->required()
        ->type_name("list|all|NAME")
        ->check(CLI::Validator(
            [](std::string& value) -> std::string {
                if (value == "list" || value == "all" || !aio_demo::find(value).empty()) return {};
                return fmt::format("unknown demo '{}' (aiocpp demo list shows them)", value);
            },
            ""));
    demo->add_flag("--virtual-time", args->options.virtual_time,
                   "Run the event loop on the test clock: sleeps take no real time and loop times are exact");
    demo->add_option("--mpi", args->options.mpi,
                     "E12 and E21: also split the work over N MPI ranks (workers spawned with MPI_Comm_spawn)")
        ->check(CLI::Range(1, 1024))
        ->type_name("N");
    demo->footer(fmt::format("Demos:{}", demo_names()));
    return Command{demo, [args] { return run_demo(*args); }};
}

}  // namespace aiocpp_cli
