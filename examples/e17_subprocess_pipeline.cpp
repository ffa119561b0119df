// E17, continued — subprocesses are I/O too: a task feeds `sort` line by line through its stdin
// while another reads the sorted result from its stdout, and the loop waits for it to exit,
// all without blocking. Then a shell pipeline through communicate().
// Standalone: examples/e17_subprocess_pipeline [--virtual-time]. In the CLI: aiocpp demo subprocess_pipeline.
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kWords = {"pear", "apple", "fig", "banana", "cherry", "date", "elderberry"};

// Python: for w in words: proc.stdin.write(...); await proc.stdin.drain(); ... proc.stdin.close()
aio::Task<void> feed(aio::StreamWriter in) {
    for (const std::string& w : kWords) {
        in.write(w + "\n");
        co_await in.drain();
        fmt::print("   fed '{}'\n", w);
        co_await aio::sleep(5ms);  // a producer that takes its time: sort waits, the loop does not
    }
    in.close();  // EOF: now sort can sort
}

aio::Task<std::vector<std::string>> collect(aio::StreamReader out) {
    std::vector<std::string> lines;
    auto gen = out.lines();
    while (auto line = co_await gen.next()) lines.push_back(line->substr(0, line->size() - 1));
    co_return lines;
}

aio::Task<void> main_coroutine() {
    aio::SubprocessOptions pipes;
    pipes.stdin_ = aio::PIPE;
    pipes.stdout_ = aio::PIPE;
    aio::Process sort = co_await aio::create_subprocess_exec("sort", pipes);
    fmt::print("   started sort, pid {}\n", sort.pid());
    auto [fed, sorted] = co_await aio::gather(feed(*sort.stdin), collect(*sort.stdout));
    (void)fed;
    const int code = co_await sort.wait();
    fmt::print("   sort exited with {}; sorted: {}\n", code, fmt::join(sorted, ", "));

    aio::SubprocessOptions out_only;
    out_only.stdout_ = aio::PIPE;
    aio::Process sh = co_await aio::create_subprocess_shell("printf 'b\\na\\nb\\nc\\n' | sort | uniq -c | wc -l", out_only);
    aio::CommunicateResult r = co_await sh.communicate();
    fmt::print("   shell pipeline counted {} distinct lines (exit {})\n", r.stdout_data ? r.stdout_data->substr(0, r.stdout_data->find('\n')) : "?",
               sh.returncode().value_or(-1));
}

void run(const aio_demo::Options& options) {
    fmt::print("A child process is just more I/O for the loop: feed `sort` from one task, read it from another.\n\n");
    aio::run(main_coroutine(), options.loop_options());
    fmt::print("\nC++ vs Python:\n"
               " - asyncio.create_subprocess_exec(\"sort\", stdin=PIPE, stdout=PIPE) is\n"
               "   aio::create_subprocess_exec(\"sort\", options) with options.stdin_ = aio::PIPE, options.stdout_ = aio::PIPE.\n"
               " - proc.stdin / proc.stdout are std::optional<StreamWriter> / <StreamReader>: set when they are PIPEs.\n"
               " - the child is always reaped (a pidfd watched by the loop), even if the Process is dropped early.\n");
}

const aio_demo::Registration registration{{
    .name = "subprocess_pipeline",
    .number = 17,
    .summary = "A task feeds sort through its stdin while another reads its stdout; a shell pipeline.",
    .run = &run,
}};

}  // namespace
