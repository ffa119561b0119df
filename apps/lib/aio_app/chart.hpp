// A PNG bar chart of measured values beside their ideals (`aiocpp race --chart race.png`), drawn
// by gnuplot run through aiocpp's own subprocess API. gnuplot is optional: when it is not
// installed the chart is skipped with a message saying so, never with an exception.
// docs/race.md, "The chart".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "aio/core/task.hpp"

namespace aio::app {

/// One bar: `value` drawn filled, `ideal` (if any) as a dashed outline of the same bar. Bars with
/// the same `label` in different groups stand side by side, one colour per group ("C++" and
/// "Python" for each way); with a single group the bars simply follow one another.
struct ChartBar {
    std::string group;
    std::string label;
    double value = 0;
    std::optional<double> ideal;
};

/// What to draw and where. Texts are shown as given (no gnuplot markup), any characters allowed.
struct ChartSpec {
    ChartSpec() {}  // not an aggregate: docs/design.md, "Compiler notes" (g++ 12 and co_await)
    std::string title;
    std::string y_label;
    /// In order: the clusters (labels) and the groups within them appear as they first occur.
    /// A group and label pair given twice is a usage error.
    std::vector<ChartBar> bars;
    /// The PNG to write. It is drawn into a temporary file beside it and renamed, so a run that
    /// fails leaves the old file (or none), never half a PNG.
    std::string path;
    /// The program, looked up in PATH unless it contains a '/'.
    std::string gnuplot = "gnuplot";
    /// The image's size in pixels.
    int width = 900;
    int height = 500;
    /// Appended to each bar's value label: 5.1 is shown as "5.1x".
    std::string value_suffix = "x";
    /// gnuplot draws a chart in well under a second; one still running after this is killed.
    std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

/// How it went. Every outcome but a usage error is reported here, not thrown.
struct ChartOutcome {
    /// The PNG is at spec.path.
    bool written = false;
    /// gnuplot is not installed (or not at the configured path): nothing was tried.
    bool gnuplot_missing = false;
    /// One line for the user: "chart: race.png", "chart skipped: gnuplot not found (apt-get
    /// install gnuplot-nox)", "chart not written: gnuplot failed (exit 1): cannot open file; ...".
    std::string message;
};

/// Draws the chart, running gnuplot on a loop of its own (aio::run): for plain code, not for a
/// coroutine (it throws aio::RuntimeError on a thread whose loop is running). Throws
/// std::invalid_argument for a spec that cannot be drawn: no bars, no path, no gnuplot program, a
/// size below 1, a value or ideal that is not finite, a group and label pair given twice.
[[nodiscard]] ChartOutcome write_chart(const ChartSpec& spec);

/// The same from a coroutine: `co_await write_chart_async(spec)`. The spec is copied, so the
/// caller's may go away before the task finishes. Usage errors as write_chart. Cancellation kills
/// gnuplot and removes the temporary file, then propagates.
[[nodiscard]] Task<ChartOutcome> write_chart_async(ChartSpec spec);

/// The gnuplot script that draws `spec` into `output` (the data inline, so gnuplot reads nothing
/// but its stdin): what write_chart feeds it. Throws std::invalid_argument as write_chart does.
[[nodiscard]] std::string chart_script(const ChartSpec& spec, const std::string& output);

/// `text` as a gnuplot string literal: double-quoted, quotes and backslashes escaped with a backslash,
/// control characters (line breaks included) turned into spaces, since a literal may not span
/// lines.
[[nodiscard]] std::string gnuplot_quote(const std::string& text);

}  // namespace aio::app
