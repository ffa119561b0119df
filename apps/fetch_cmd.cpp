// `aiocpp fetch`: download URLs concurrently into a directory, with retries, resume, progress and
// a summary (aio_app/fetch.hpp, docs/fetch.md).
//
//   aiocpp fetch URL... | --urls FILE [--output-dir DIR] [--concurrency 4] [--timeout 30s]
//                [--retries 3] [--backoff 500ms] [--backoff-cap 30s] [--max-retry-after 120s]
//                [--no-resume] [--progress auto|bar|lines|none]
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "aio/core/errors.hpp"
#include "aio_app/fetch.hpp"
#include "aio_app/site.hpp"
#include "commands.hpp"

namespace aiocpp_cli {

namespace {

CLI::Validator fetch_duration_validator(bool allow_zero) {
    return CLI::Validator(
        [allow_zero](std::string& value) -> std::string {
            const auto d = aio::app::parse_duration(value);
            if (!d)
                return fmt::format("'{}' is not a duration (e.g. 50ms, 1s, 250us; a plain number is milliseconds)",
                                   value);
            if (!allow_zero && d->count() == 0) return "must be more than 0";
            return {};
        },
        "");
}

struct FetchArgs {
    aio::app::FetchOptions fetch;
    std::vector<std::string> urls;
    std::string urls_file;
    std::string timeout = "30s";
    std::string backoff = "500ms";
    std::string backoff_cap = "30s";
    std::string max_retry_after = "120s";
    std::string progress = "auto";
    bool no_resume = false;
};

int run_fetch_command(FetchArgs& args) {
    aio::app::FetchOptions& o = args.fetch;
    o.timeout = *aio::app::parse_duration(args.timeout);
    o.backoff_base = *aio::app::parse_duration(args.backoff);
    o.backoff_cap = *aio::app::parse_duration(args.backoff_cap);
    o.max_retry_after = *aio::app::parse_duration(args.max_retry_after);
    o.resume = !args.no_resume;
    o.progress_out = stdout;
    if (args.progress == "bar")
        o.progress = aio::app::FetchProgress::bar;
    else if (args.progress == "lines")
        o.progress = aio::app::FetchProgress::lines;
    else if (args.progress == "none")
        o.progress = aio::app::FetchProgress::none;
    else
        o.progress = ::isatty(STDOUT_FILENO) ? aio::app::FetchProgress::bar : aio::app::FetchProgress::lines;

    aio::app::FetchSummary s;
    try {
        o.urls = args.urls;
        if (!args.urls_file.empty()) {
            const std::vector<std::string> more = aio::app::read_fetch_urls(args.urls_file);
            o.urls.insert(o.urls.end(), more.begin(), more.end());
        }
        if (o.urls.empty()) throw aio::app::FetchUsageError("no URL: give URLs or --urls FILE");
        s = aio::app::run_fetch(o);
    } catch (const aio::app::FetchUsageError& e) {
        fmt::print(stderr, "aiocpp fetch: {}\n", e.what());
        return 2;
    } catch (const aio::KeyboardInterrupt&) {
        std::fflush(stdout);
        fmt::print(stderr,
                   "aiocpp fetch: interrupted; unfinished downloads are kept as NAME.part in {} and resume on the "
                   "next run\n",
                   o.output_dir);
        return 130;
    } catch (const std::exception& e) {
        fmt::print(stderr, "aiocpp fetch: {}\n", e.what());
        return 1;
    }

    fmt::print("{}\n", aio::app::format_summary(s));
    for (const aio::app::FetchResult& r : s.results)
        if (!r.ok) fmt::print("failed: {}: {}\n", r.url, r.error);
    std::fflush(stdout);
    return s.failed == 0 ? 0 : 1;
}

}  // namespace

Command register_fetch(CLI::App& parent) {
    auto args = std::make_shared<FetchArgs>();
    CLI::App* cmd = parent.add_subcommand(
        "fetch", "Download URLs concurrently into a directory, with retries, resume of partial files and progress");
    cmd->add_option("url", args->urls, "http or https URLs to download")->type_name("URL");
    cmd->add_option("--urls", args->urls_file, "Also download the URLs in FILE (one a line, '#' comments)")
        ->type_name("FILE");
    cmd->add_option("-o,--output-dir", args->fetch.output_dir, "Where the files go (made if missing)")
        ->type_name("DIR")
        ->capture_default_str();
    cmd->add_option("-c,--concurrency", args->fetch.concurrency, "Downloads in flight at once")
        ->check(CLI::Range(size_t{1}, size_t{1000}))
        ->capture_default_str();
    cmd->add_option("--timeout", args->timeout,
                    "The longest wait for a connection or for more data before an attempt times out")
        ->type_name("DURATION")
        ->check(fetch_duration_validator(false))
        ->capture_default_str();
    cmd->add_option("--retries", args->fetch.retries,
                    "Attempts after the first on connection errors, timeouts, cut bodies, 5xx and 429")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    cmd->add_option("--backoff", args->backoff, "The first retry's delay; it doubles each retry, with jitter")
        ->type_name("DURATION")
        ->check(fetch_duration_validator(true))
        ->capture_default_str();
    cmd->add_option("--backoff-cap", args->backoff_cap, "The longest delay between retries")
        ->type_name("DURATION")
        ->check(fetch_duration_validator(true))
        ->capture_default_str();
    cmd->add_option("--max-retry-after", args->max_retry_after,
                    "A server's Retry-After longer than this fails the download instead of being waited for")
        ->type_name("DURATION")
        ->check(fetch_duration_validator(true))
        ->capture_default_str();
    cmd->add_flag("--no-resume", args->no_resume, "Start over instead of continuing NAME.part files of an earlier run");
    cmd->add_option("--progress", args->progress,
                    "auto: a bar on a terminal, a line per file otherwise; or bar, lines, none")
        ->check(CLI::IsMember({"auto", "bar", "lines", "none"}))
        ->capture_default_str();
    cmd->footer(
        "Exit status: 0 when every URL was downloaded, 1 when any failed (or the output directory is unusable), "
        "2 for bad usage, 130 on Ctrl-C (NAME.part files are kept and resumed). docs/fetch.md");
    return Command{cmd, [args] { return run_fetch_command(*args); }};
}

}  // namespace aiocpp_cli
