// `aiocpp race`: download every page of the demo site sequentially, with threads, with coroutines
// on one loop and with processes, each way in a process of its own, and compare wall time, CPU,
// memory and speed-up (aio_app/race.hpp, docs/race.md).
//
//   aiocpp race [--pages 160] [--latency 50ms] [--jitter 10ms] [--concurrency 64] [--workers 5]
//               [--ways seq,threads,coro,procs] [--json] [--urls FILE] [--python]
//   aiocpp race --cpu [--cpu-size 5000000] [--chunks 32] [--workers CORES] [--python]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "aio_app/chart.hpp"
#include "aio_app/race.hpp"
#include "aio_app/site.hpp"
#include "commands.hpp"

namespace aiocpp_cli {

namespace {

// The same rule as serve's --latency: checked while parsing, so a bad value is a usage error.
CLI::Validator duration_validator() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            if (aio::app::parse_duration(value)) return {};
            return fmt::format("'{}' is not a duration (e.g. 50ms, 1s, 250us; a plain number is milliseconds)", value);
        },
        "");
}

std::vector<std::string_view> split_commas(std::string_view text) {
    std::vector<std::string_view> out;
    for (;;) {
        const size_t comma = text.find(',');
        out.push_back(text.substr(0, comma));
        if (comma == std::string_view::npos) return out;
        text.remove_prefix(comma + 1);
    }
}

CLI::Validator ways_validator() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            std::vector<aio::app::Way> seen;
            for (std::string_view w : split_commas(value)) {
                const std::optional<aio::app::Way> way = aio::app::parse_way(w);
                if (!way) return fmt::format("unknown way '{}' (the ways: seq, threads, coro, procs)", w);
                if (std::find(seen.begin(), seen.end(), *way) != seen.end())
                    return fmt::format("{} is named twice", aio::app::way_name(*way));
                seen.push_back(*way);
            }
            return {};
        },
        "");
}

struct RaceArgs {
    aio::app::RaceOptions race;
    std::string latency = "50ms";
    std::string jitter = "10ms";
    std::string ways = "seq,threads,coro,procs";
    std::string urls_file;
    bool json = false;
    bool cpu = false;
    bool workers_given = false;
    std::string chart;  // "" until parsed: race.png, or race-cpu.png for --cpu
    bool no_chart = false;
};

/// The speed-ups as bars, C++ and Python side by side; nothing to draw without a sequential way.
std::optional<aio::app::ChartSpec> chart_of(const std::vector<aio::app::WayResult>& results,
                                            const aio::app::RaceOptions& o, const std::string& path) {
    aio::app::ChartSpec spec;
    spec.path = path;
    spec.y_label = "speed-up over sequential (outline: the ideal)";
    if (o.job == aio::app::Job::cpu)
        spec.title = fmt::format("aiocpp race --cpu: the primes below {}{} in {} chunks, {} cores", o.cpu_size,
                                 o.python ? fmt::format(" (Python: below {})", o.python_cpu_size) : "", o.chunks,
                                 aio::app::available_cores());
    else if (!o.urls.empty())
        spec.title = fmt::format("aiocpp race: {} URLs", o.urls.size());
    else
        spec.title = fmt::format("aiocpp race: {} pages, latency {}", o.pages, aio::app::format_duration(o.latency));
    for (const aio::app::WayResult& r : results) {
        if (!r.speedup) continue;
        aio::app::ChartBar bar;
        bar.group = r.lang;
        bar.label = r.label.starts_with(r.lang + " ") ? r.label.substr(r.lang.size() + 1) : r.label;
        bar.value = *r.speedup;
        bar.ideal = r.ideal_speedup;
        spec.bars.push_back(std::move(bar));
    }
    if (spec.bars.empty()) return std::nullopt;
    return spec;
}

int run_race_command(RaceArgs& args) {
    aio::app::RaceOptions& o = args.race;
    o.latency = *aio::app::parse_duration(args.latency);
    o.jitter = *aio::app::parse_duration(args.jitter);
    o.job = args.cpu ? aio::app::Job::cpu : aio::app::Job::io;
    // Computing gains from the cores, not from more workers than cores: default to the cores.
    if (args.cpu && !args.workers_given) o.workers = aio::app::available_cores();
    o.ways.clear();
    for (std::string_view w : split_commas(args.ways))
        o.ways.push_back(*aio::app::parse_way(w));
    // The table goes to stdout with the progress before it; JSON keeps stdout to itself, so its
    // progress goes to stderr, and only as a bar a person watches.
    if (args.json) {
        o.progress_out = stderr;
        o.progress = ::isatty(STDERR_FILENO) ? aio::app::Progress::bar : aio::app::Progress::none;
    } else {
        o.progress_out = stdout;
        o.progress = ::isatty(STDOUT_FILENO) ? aio::app::Progress::bar : aio::app::Progress::lines;
    }

    std::vector<aio::app::WayResult> results;
    try {
        if (!args.urls_file.empty()) o.urls = aio::app::read_url_file(args.urls_file);
        if (!args.json && args.cpu) {
            const int cores = aio::app::available_cores();
            fmt::print("counting the primes below {} in {} chunks ({} core{}), each way in a process of its own\n\n",
                       o.cpu_size, o.chunks, cores, cores == 1 ? "" : "s");
            std::fflush(stdout);
        } else if (!args.json && !o.urls.empty()) {
            fmt::print("racing {} URL{} from {}, each way in a process of its own\n\n", o.urls.size(),
                       o.urls.size() == 1 ? "" : "s", args.urls_file);
            std::fflush(stdout);
        } else if (!args.json) {
            std::string latency = aio::app::format_duration(o.latency);
            if (o.jitter.count() > 0) latency += " \u00b1 " + aio::app::format_duration(o.jitter);
            fmt::print("racing {} pages of the demo site (latency {}), each way in a process of its own\n\n", o.pages,
                       latency);
            std::fflush(stdout);
        }
        results = aio::app::run_race(o);
    } catch (const aio::app::RaceUsageError& e) {
        fmt::print(stderr, "aiocpp race: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "aiocpp race: {}\n", e.what());
        return 1;
    }

    if (args.json) {
        fmt::print("{}\n", aio::app::to_json(results, o).dump(2));
    } else {
        fmt::print("\n{}\n{}", aio::app::format_table(results), aio::app::explanation(results, o));
    }
    if (!args.no_chart) {
        // The chart's line goes where the table went, or beside the progress with --json.
        std::FILE* out = args.json ? stderr : stdout;
        const std::string path = !args.chart.empty() ? args.chart : args.cpu ? "race-cpu.png" : "race.png";
        std::optional<aio::app::ChartSpec> spec = chart_of(results, o, path);
        if (!spec) {
            fmt::print(out, "\nno chart: it draws speed-ups over the sequential way, which did not run\n");
        } else {
            const aio::app::ChartOutcome chart = aio::app::write_chart(*spec);
            fmt::print(out, "\n{}\n", chart.message);
        }
    }
    size_t failed = 0;
    for (const aio::app::WayResult& r : results)
        failed += r.failed;
    return failed == 0 ? 0 : 1;
}

}  // namespace

Command register_race(CLI::App& parent) {
    auto args = std::make_shared<RaceArgs>();
    CLI::App* cmd = parent.add_subcommand(
        "race",
        "Download every page of the demo site four ways (sequential, threads, coroutines, processes) and "
        "compare time, CPU and memory");
    cmd->add_option("--pages", args->race.pages, "Pages to download, /pages/1 to /pages/N")
        ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
        ->capture_default_str();
    cmd->add_option("--latency", args->latency, "The site's delay before each response (50ms, 1s; a number is ms)")
        ->type_name("DURATION")
        ->check(duration_validator())
        ->capture_default_str();
    cmd->add_option("--jitter", args->jitter, "Each delay varies uniformly by up to this much either way")
        ->type_name("DURATION")
        ->check(duration_validator())
        ->capture_default_str();
    cmd->add_option("--concurrency", args->race.concurrency, "Requests in flight at once for the coroutines way")
        ->check(CLI::Range(size_t{1}, size_t{10'000}))
        ->capture_default_str();
    cmd->add_option("--workers", args->race.workers,
                    "Threads of the threads way, worker processes of the processes way")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--ways", args->ways, "The ways to run, in this order: seq, threads, coro, procs")
        ->type_name("LIST")
        ->check(ways_validator())
        ->capture_default_str();
    CLI::Option* urls =
        cmd->add_option("--urls", args->urls_file,
                        "Race the URLs in FILE (one a line, '#' comments) instead of the demo site; any 2xx counts")
            ->type_name("FILE");
    for (const char* site_only : {"--pages", "--latency", "--jitter"})
        urls->excludes(cmd->get_option(site_only));
    CLI::Option* cpu = cmd->add_flag(
        "--cpu", args->cpu,
        "Race the CPU-bound twin instead: count the primes below --cpu-size in --chunks chunks (workers "
        "default to the cores)");
    for (const char* io_only : {"--pages", "--latency", "--jitter", "--concurrency", "--urls"})
        cpu->excludes(cmd->get_option(io_only));
    cmd->add_option("--cpu-size", args->race.cpu_size, "--cpu: count the primes below this")
        ->check(CLI::Range(uint64_t{3}, uint64_t{4'000'000'000}))
        ->capture_default_str()
        ->needs(cpu);
    cmd->add_option("--chunks", args->race.chunks, "--cpu: the ranges the ways share out")
        ->check(CLI::Range(size_t{1}, size_t{100'000}))
        ->capture_default_str()
        ->needs(cpu);
    CLI::Option* python = cmd->add_flag(
        "--python", args->race.python,
        "Also run the same ways written in Python (the course's shapes) by --python-exe, in the same table");
    python->excludes(urls);
    cmd->add_option("--python-exe", args->race.python_path, "The interpreter for --python (it needs aiohttp)")
        ->capture_default_str()
        ->needs(python);
    cmd->add_option("--python-cpu-size", args->race.python_cpu_size,
                    "--python --cpu: Python counts the primes below this (pure Python is slow at it)")
        ->check(CLI::Range(uint64_t{3}, uint64_t{4'000'000'000}))
        ->capture_default_str()
        ->needs(python);
    CLI::Option* chart =
        cmd->add_option("--chart", args->chart, "Draw the speed-ups to this PNG (default race.png, race-cpu.png for --cpu)")
            ->type_name("FILE");
    cmd->add_flag("--no-chart", args->no_chart, "Draw no chart")->excludes(chart);
    cmd->add_flag("--json", args->json, "Print the results as JSON instead of the table (docs/race.md lists the keys)");
    cmd->footer("Each way runs in a forked process of its own; docs/race.md explains the measures and the ideal.");
    return Command{cmd, [args, cmd] {
        args->workers_given = cmd->get_option("--workers")->count() > 0;
        return run_race_command(*args);
    }};
}

}  // namespace aiocpp_cli
