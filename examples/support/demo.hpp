// The demo registry: every example file registers one demo here, and both its standalone
// executable and the `aiocpp demo` command find it. Adding a demo = adding one file
// examples/eNN_name.cpp (a port of the course's example NN) or examples/name.cpp (a demo beyond
// the course, number 0) that defines a run function and an aio_demo::Registration.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "aio/aio.hpp"

namespace aio_demo {

/// What the command line passes to a demo. Demos read only the fields they care about, so new
/// fields can be added without touching the existing demos.
struct Options {
    /// Run the event loop on the test clock: sleeps take no real time and loop times are exact.
    bool virtual_time = false;
    /// `--mpi N` (E12, E21): also split the work over N MPI ranks (aio::mpi::MPIPoolExecutor);
    /// 0: not at all.
    int mpi = 0;

    [[nodiscard]] aio::LoopOptions loop_options() const { return aio::LoopOptions{.virtual_time = virtual_time}; }
};

/// One port of a course example, or a demo beyond the course (number 0).
struct Demo {
    std::string_view name;     // what `aiocpp demo NAME` accepts, e.g. "coroutine_basics"
    int number = 0;            // the course's example number: 19 for E19; 0 for none
    std::string_view summary;  // one sentence, for `aiocpp demo list`
    void (*run)(const Options&) = nullptr;
    std::array<int, 3> also{};  // further course examples this demo shows (E11 in seat_booking); 0 = none

    /// Does `aiocpp demo E<n>` run this demo?
    [[nodiscard]] bool covers(int n) const noexcept {
        return n > 0 && (n == number || std::find(also.begin(), also.end(), n) != also.end());
    }

    /// "E19"; "" for a demo beyond the course.
    [[nodiscard]] std::string id() const {
        if (number <= 0) return {};
        // Appending, not "E" + std::to_string(n): g++ 12 -O3 reports a bogus -Wrestrict on that form.
        std::string id = "E";
        id += std::to_string(number);
        return id;
    }

    /// What the banner and the usage text call it: "E19 coroutine_basics", or just "chat".
    [[nodiscard]] std::string title() const {
        std::string title = id();
        if (!title.empty()) title += ' ';
        title += name;
        return title;
    }
};

/// Adds a demo to the registry when the program starts. Define one per example file, at
/// namespace scope:
///
///     const aio_demo::Registration registration{{.name = "...", .number = 19, .summary = "...", .run = &run}};
///
/// Duplicate names abort at startup, so a clash is found by the first run, not by a user.
class Registration {
public:
    explicit Registration(const Demo& demo);
};

/// Before a demo's first MPI executor: lets Open MPI run where the demos run — as root (CI's
/// containers: Open MPI refuses root unless told), with more processes than cores, and without the
/// shared-memory single copy that containers forbid. Only variables the user has not set are set.
void prepare_mpi();

/// The course's examples E1..E27, each with what it is about (the seeds' catalogue).
inline constexpr int kExamples = 27;
/// Example n's title ("" outside 1..kExamples).
[[nodiscard]] std::string_view example_title(int n) noexcept;

/// Every registered demo, in the course's order (by E-number, then by name), then the demos
/// beyond the course (by name).
[[nodiscard]] const std::vector<Demo>& all();

/// The demos `key` names: a name ("masha_and_dasha") gives that one; an E-number ("E20", "e20")
/// gives every demo of that example, in the course's order (E23 has an async and a threads twin;
/// E11 is shown by seat_booking).
/// Empty if nothing matches.
[[nodiscard]] std::vector<const Demo*> find(std::string_view key);

/// Prints the demo's banner, runs it, and reports an exception instead of letting it escape.
/// Returns false if the demo failed. aio::KeyboardInterrupt (Ctrl-C) is rethrown: it should
/// stop the whole program, not just one demo.
bool run(const Demo& demo, const Options& options);

/// Milliseconds of loop time since construction: the clock every demo's timeline uses.
/// Loop time (not wall time) so that --virtual-time timelines are exact.
class LoopStopwatch {
public:
    LoopStopwatch() : start_(aio::get_running_loop().time()) {}
    [[nodiscard]] double ms() const { return (aio::get_running_loop().time() - start_) * 1000.0; }

private:
    double start_;
};

}  // namespace aio_demo
