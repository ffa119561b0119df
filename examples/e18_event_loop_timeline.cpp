// E18 — how one event loop interleaves tasks: three make_request tasks (CPU setup, an I/O wait,
// CPU post-processing) run at once with gather, and a timeline shows who runs when.
// Standalone: examples/e18_event_loop_timeline [--virtual-time]. In the CLI: aiocpp demo event_loop_timeline.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

// Setup and post-processing: CPU work, during which the loop can run nothing else.
constexpr Ms kCpuStep = 10ms;

struct Request {
    int id;
    Ms io;  // how long the reply takes: the part the loop can overlap
};
// Replies come back in the opposite order to the requests, and request 2's reply arrives while
// request 1 is post-processing, so it has to wait for the loop: both are worth seeing.
constexpr std::array kRequests{Request{1, 100ms}, Request{2, 95ms}, Request{3, 60ms}};

enum class Kind { cpu, io, queued };

struct Segment {
    int request;
    Kind kind;
    double start;  // ms since the start of the run
    double end;
};

// Records what each request does and when, and prints it as it happens.
class Timeline {
public:
    explicit Timeline(bool virtual_time) : virtual_time_(virtual_time) {}

    [[nodiscard]] double now() const { return clock_.ms(); }
    [[nodiscard]] bool virtual_time() const { return virtual_time_; }
    [[nodiscard]] const std::vector<Segment>& segments() const { return segments_; }
    [[nodiscard]] bool one_thread() const { return one_thread_; }

    void note(int request, std::string_view what) {
        if (std::this_thread::get_id() != thread_) one_thread_ = false;
        fmt::print("{:7.0f} ms   request {}   {}\n", now(), request, what);
    }
    void add(Segment s) { segments_.push_back(s); }

private:
    aio_demo::LoopStopwatch clock_;
    bool virtual_time_;
    std::thread::id thread_ = std::this_thread::get_id();
    bool one_thread_ = true;
    std::vector<Segment> segments_;
};

// Holds the thread, as real CPU work would. The test clock only moves when the loop is idle, so
// under --virtual-time the work is simulated by moving it forward by hand.
void cpu_work(Ms duration, bool virtual_time) {
    if (virtual_time) {
        aio::get_running_loop().advance_time(duration);
        return;
    }
    const auto until = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < until) {
    }
}

// Python:
//     async def make_request(request):
//         prepare(request)                       # CPU
//         reply = await send(request)            # I/O: the loop runs other tasks meanwhile
//         return post_process(reply)             # CPU
aio::Task<std::string> make_request(Timeline& timeline, Request request) {
    const bool virtual_time = timeline.virtual_time();
    double start = timeline.now();
    timeline.note(request.id,
                  fmt::format("setup: builds the request (CPU, {} ms: nothing else can run)", kCpuStep.count()));
    cpu_work(kCpuStep, virtual_time);
    timeline.add({request.id, Kind::cpu, start, timeline.now()});

    start = timeline.now();
    timeline.note(request.id,
                  fmt::format("sends it, awaits the reply (I/O, {} ms): the loop is free", request.io.count()));
    co_await aio::sleep(request.io);

    const double ready = start + static_cast<double>(request.io.count());
    const double resumed = timeline.now();
    timeline.add({request.id, Kind::io, start, ready});
    std::string late;
    // Real sleeps wake a fraction of a millisecond late anyway: only report a visible wait.
    if (resumed - ready >= 1.0) {
        timeline.add({request.id, Kind::queued, ready, resumed});
        late = fmt::format(": in since {:.0f} ms, it waited {:.0f} ms for the loop", ready, resumed - ready);
    }
    timeline.note(request.id, fmt::format("post-processes the reply (CPU, {} ms){}", kCpuStep.count(), late));
    cpu_work(kCpuStep, virtual_time);
    timeline.add({request.id, Kind::cpu, resumed, timeline.now()});
    timeline.note(request.id, "done");
    co_return fmt::format("reply {}", request.id);
}

bool overlaps(const Segment& a, const Segment& b) {
    constexpr double kSlack = 0.5;  // touching segments (one ends as the next starts) do not overlap
    return a.start < b.end - kSlack && b.start < a.end - kSlack;
}

// One row per request, one column per 5 ms: the shape of the timeline at a glance.
void print_chart(const std::vector<Segment>& segments, double total) {
    constexpr double kMsPerColumn = 5.0;
    const int columns = static_cast<int>(std::ceil(total / kMsPerColumn));
    const auto column = [&](double ms) {
        return std::clamp(static_cast<int>(std::lround(ms / kMsPerColumn)), 0, columns);
    };

    fmt::print("\nThe same as a chart, one column per {:.0f} ms:\n"
               "  # CPU work on the loop's thread   ~ waiting for I/O   . reply in, waiting for the loop\n\n",
               kMsPerColumn);
    std::string axis;
    for (int c = 0; c <= columns; c += 5) axis += fmt::format("{:<5}", static_cast<int>(c * kMsPerColumn));
    fmt::print("             {}ms\n", axis);
    for (const Request& r : kRequests) {
        std::string row(static_cast<size_t>(columns), ' ');
        for (const Segment& s : segments) {
            if (s.request != r.id) continue;
            const char mark = s.kind == Kind::cpu ? '#' : s.kind == Kind::io ? '~' : '.';
            for (int c = column(s.start); c < column(s.end); ++c) row[static_cast<size_t>(c)] = mark;
        }
        row.erase(row.find_last_not_of(' ') + 1);
        fmt::print("  request {}  {}\n", r.id, row);
    }
}

// What the recorded segments prove, computed rather than asserted, so a real-time run on a busy
// machine reports what actually happened.
struct Findings {
    int cpu_steps = 0;
    int cpu_during_other_io = 0;  // CPU steps run while another request waited for its reply
    int cpu_clashes = 0;          // pairs of CPU steps that overlapped: impossible on one thread
    int finished_first = 0;       // the request whose last step ended first
    bool a_reply_waited = false;  // some reply was in but had to wait for the loop
};

Findings examine(const std::vector<Segment>& segments) {
    Findings f;
    for (const Segment& a : segments) {
        if (a.kind == Kind::queued) f.a_reply_waited = true;
        if (a.kind != Kind::cpu) continue;
        ++f.cpu_steps;
        bool during_io = false;
        for (const Segment& b : segments) {
            if (b.request == a.request || !overlaps(a, b)) continue;
            if (b.kind == Kind::io) during_io = true;
            if (b.kind == Kind::cpu && &b > &a) ++f.cpu_clashes;  // count each pair once
        }
        if (during_io) ++f.cpu_during_other_io;
    }
    double first_end = 0;
    for (const Request& r : kRequests) {
        double end = 0;
        for (const Segment& s : segments)
            if (s.request == r.id) end = std::max(end, s.end);
        if (f.finished_first == 0 || end < first_end) {
            first_end = end;
            f.finished_first = r.id;
        }
    }
    return f;
}

// Returns whether some reply had to wait for the loop, which the closing notes point at.
aio::Task<bool> main_coroutine(bool virtual_time) {
    Timeline timeline(virtual_time);
    fmt::print("{:>10}   {:<9}   {}\n", "loop time", "task", "step");

    // Python: replies = await asyncio.gather(make_request(1), make_request(2), make_request(3))
    auto [r1, r2, r3] = co_await aio::gather(make_request(timeline, kRequests[0]),
                                             make_request(timeline, kRequests[1]),
                                             make_request(timeline, kRequests[2]));
    const double total = timeline.now();
    print_chart(timeline.segments(), total);

    const Findings f = examine(timeline.segments());
    Ms sequential = kCpuStep * 2 * static_cast<int>(kRequests.size());
    for (const Request& r : kRequests) sequential += r.io;

    fmt::print("\nWhat the timeline shows:\n");
    fmt::print(" - overlap: {} of the {} CPU steps ran while another request was waiting for its I/O.\n",
               f.cpu_during_other_io, f.cpu_steps);
    fmt::print(" - {} of the CPU steps overlapped each other, and every step ran on {}: one thread, taking turns.\n",
               f.cpu_clashes == 0 ? "none" : std::to_string(f.cpu_clashes),
               timeline.one_thread() ? "main()'s thread" : "SEVERAL threads");
    fmt::print(" - all three replies took {:.0f} ms; one request after the other would take {} ms\n"
               "   ({} x {} ms of CPU + {} + {} + {} ms of I/O).\n",
               total, sequential.count(), 2 * kRequests.size(), kCpuStep.count(), kRequests[0].io.count(),
               kRequests[1].io.count(), kRequests[2].io.count());
    fmt::print(" - gather returned [\"{}\", \"{}\", \"{}\"], in argument order, although request {} finished first.\n",
               r1, r2, r3, f.finished_first);
    co_return f.a_reply_waited;
}

void run(const aio_demo::Options& options) {
    fmt::print("Three make_request tasks run at once on one event loop (gather). Each one does CPU work, waits for\n"
               "I/O (a sleep stands in for the network), then does more CPU work. While one waits, the loop runs\n"
               "another: concurrency on a single thread. Times are loop time since the start, in ms.\n\n");

    const bool a_reply_waited = aio::run(main_coroutine(options.virtual_time), options.loop_options());

    fmt::print("\nC++ vs Python:\n"
               " - the same model as asyncio: a task only gives the loop back at a co_await, so CPU work blocks\n"
               "   every other task{}.\n"
               " - aio::gather(a, b, c) starts the three Tasks as tasks at once and returns a std::tuple, where\n"
               "   asyncio.gather returns a list.\n",
               a_reply_waited ? " (the '.' above: a reply that was in had to wait for another task's CPU step)" : "");
    if (options.virtual_time)
        fmt::print(" - the test clock does not see CPU time, so here each CPU step moves it forward by exactly\n"
                   "   {} ms (EventLoop::advance_time) instead of spinning.\n",
                   kCpuStep.count());
}

const aio_demo::Registration registration{{
    .name = "event_loop_timeline",
    .number = 18,
    .summary = "Three requests (CPU, I/O wait, CPU) on one loop: a timeline shows one runs while another waits.",
    .run = &run,
}};

}  // namespace
