// The race's bar chart (aio_app/chart.hpp).
//
// The script is built here and fed to gnuplot's stdin with the data inline, so nothing but the
// output is ever written to disk. Only numbers go into the datablock; every text (titles, tick
// labels, value labels) is a double-quoted gnuplot literal with its quotes and backslashes
// escaped, and the terminal is `noenhanced`, so no '^', '_', '{' or '@' in a label turns into
// markup. Not single quotes, though only the quote is special in them: gnuplot's scanner reads a
// literal that starts with a doubled quote ('''') as an empty string and a stray token.
#include "aio_app/chart.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <exception>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/core.h>

#include "aio/core/errors.hpp"
#include "aio/core/run.hpp"
#include "aio/core/timeout.hpp"
#include "aio/net/subprocess.hpp"

namespace aio::app {

namespace {

namespace fs = std::filesystem;

// Colour-blind-safe (Okabe and Ito), in the order groups first appear.
constexpr const char* kGroupColours[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"};
constexpr std::string_view kInstallHint = "apt-get install gnuplot-nox";

struct Layout {
    std::vector<std::string> labels;  // the clusters, in order
    std::vector<std::string> groups;
    std::vector<size_t> cluster_of;  // per bar
    std::vector<size_t> group_of;    // per bar
};

size_t index_of(std::vector<std::string>& names, const std::string& name) {
    auto at = std::find(names.begin(), names.end(), name);
    if (at != names.end()) return static_cast<size_t>(at - names.begin());
    names.push_back(name);
    return names.size() - 1;
}

Layout check_and_lay_out(const ChartSpec& spec) {
    if (spec.bars.empty()) throw std::invalid_argument("chart: no bars to draw");
    if (spec.path.empty()) throw std::invalid_argument("chart: no output path");
    if (spec.gnuplot.empty()) throw std::invalid_argument("chart: no gnuplot program");
    if (spec.width < 1 || spec.height < 1)
        throw std::invalid_argument(fmt::format("chart: size {}x{} is not a size in pixels", spec.width, spec.height));
    Layout l;
    for (const ChartBar& b : spec.bars) {
        if (!std::isfinite(b.value) || (b.ideal && !std::isfinite(*b.ideal)))
            throw std::invalid_argument(fmt::format("chart: bar '{}' has a value that is not a number", b.label));
        const size_t c = index_of(l.labels, b.label);
        const size_t g = index_of(l.groups, b.group);
        for (size_t i = 0; i < l.cluster_of.size(); ++i)
            if (l.cluster_of[i] == c && l.group_of[i] == g)
                throw std::invalid_argument(fmt::format("chart: bar '{}' of group '{}' given twice", b.label, b.group));
        l.cluster_of.push_back(c);
        l.group_of.push_back(g);
    }
    return l;
}

/// A number as the datablock and the script take it: enough digits to round-trip, no locale.
std::string number(double v) { return fmt::format("{:.17g}", v); }

/// gnuplot's complaint, in one line. It echoes the offending command and a caret before the
/// error itself ("line 0: cannot open file; output not changed"), then sometimes the errno
/// ("system error: No such file or directory"): the error line, with that errno, says the most.
std::string first_error_line(const std::string& err) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < err.size()) {
        size_t end = err.find('\n', start);
        if (end == std::string::npos) end = err.size();
        std::string line = err.substr(start, end - start);
        const size_t first = line.find_first_not_of(" \t\r");
        const size_t last = line.find_last_not_of(" \t\r");
        lines.push_back(first == std::string::npos ? std::string() : line.substr(first, last - first + 1));
        start = end + 1;
    }
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string& l = lines[i];
        size_t digits = 5;
        if (l.rfind("line ", 0) != 0) continue;
        while (digits < l.size() && std::isdigit(static_cast<unsigned char>(l[digits])))
            ++digits;
        if (digits == 5 || digits >= l.size() || l[digits] != ':') continue;
        std::string what = l.substr(digits + 1);
        what.erase(0, what.find_first_not_of(" \t"));
        constexpr std::string_view kSystem = "system error: ";
        if (i + 1 < lines.size() && lines[i + 1].rfind(kSystem, 0) == 0)
            what += " (" + lines[i + 1].substr(kSystem.size()) + ")";
        return what;
    }
    for (const std::string& l : lines)
        if (!l.empty()) return l;
    return "no message on stderr";
}

/// A fresh name beside `path`: in the same directory, so the final rename cannot cross a file
/// system, and unique within and across processes.
std::string temp_path_for(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    return fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter.fetch_add(1));
}

void remove_quietly(const std::string& path) {
    std::error_code ec;
    fs::remove(path, ec);
}

ChartOutcome failed(std::string why) {
    ChartOutcome o;
    o.message = "chart not written: " + std::move(why);
    return o;
}

}  // namespace

std::string gnuplot_quote(const std::string& text) {
    std::string out = "\"";
    for (const char ch : text) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (u < 0x20 || u == 0x7f) {
            out += ' ';
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

std::string chart_script(const ChartSpec& spec, const std::string& output) {
    const Layout l = check_and_lay_out(spec);
    const size_t groups = l.groups.size();
    // Each cluster spans 0.8 of its unit, split evenly among the groups.
    const double slot = groups > 1 ? 0.8 / static_cast<double>(groups) : 0.6;
    const double box = slot * 0.9;

    double lo = 0, hi = 0;
    bool any_ideal = false;
    for (const ChartBar& b : spec.bars) {
        lo = std::min(lo, b.value);
        hi = std::max(hi, b.value);
        if (b.ideal) {
            any_ideal = true;
            lo = std::min(lo, *b.ideal);
            hi = std::max(hi, *b.ideal);
        }
    }
    if (hi <= lo) hi = lo + 1;
    const double headroom = (hi - lo) * 0.12;  // the value labels sit above the tallest bar

    std::string s;
    s += "# aiocpp: a bar chart (apps/lib/chart.cpp)\n";
    s += "set encoding utf8\n";
    // pngcairo draws anti-aliased text and lines; plain png (libgd) is what some builds have.
    s += fmt::format(
        "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {{\n"
        "  set terminal pngcairo noenhanced size {0},{1} font 'sans,10'\n"
        "}} else {{\n"
        "  set terminal png noenhanced size {0},{1}\n"
        "}}\n",
        spec.width, spec.height);
    s += "set output " + gnuplot_quote(output) + "\n";
    if (!spec.title.empty()) s += "set title " + gnuplot_quote(spec.title) + "\n";
    if (!spec.y_label.empty()) s += "set ylabel " + gnuplot_quote(spec.y_label) + "\n";
    s += "set datafile missing '?'\n";
    s += "set border 3\nset tics nomirror\nset grid ytics lc rgb '#dddddd'\n";
    s += fmt::format("set xrange [-0.6:{}]\n", number(static_cast<double>(l.labels.size()) - 0.4));
    s += fmt::format("set yrange [{}:{}]\n", number(lo < 0 ? lo - headroom : 0), number(hi + headroom));
    s += "set xtics scale 0 (";
    for (size_t c = 0; c < l.labels.size(); ++c)
        s += fmt::format("{}{} {}", c ? ", " : "", gnuplot_quote(l.labels[c]), c);
    s += ")\n";
    s += "set key top left opaque box lc rgb '#bbbbbb'\n";

    // The datablock: x, value, ideal ('?' when none), the group's index.
    s += "$bars << EOD\n";
    std::vector<double> xs;
    for (size_t i = 0; i < spec.bars.size(); ++i) {
        const ChartBar& b = spec.bars[i];
        const double centre = static_cast<double>(l.cluster_of[i]);
        const double x = groups > 1 ? centre - 0.4 + slot * (static_cast<double>(l.group_of[i]) + 0.5) : centre;
        xs.push_back(x);
        s += fmt::format("{} {} {} {}\n", number(x), number(b.value), b.ideal ? number(*b.ideal) : "?", l.group_of[i]);
    }
    s += "EOD\n";

    for (size_t i = 0; i < spec.bars.size(); ++i) {
        const ChartBar& b = spec.bars[i];
        const std::string text = fmt::format("{:.1f}{}", b.value, spec.value_suffix);
        // Just under its ideal, the label would sit on the outline's dashed top: above it, then.
        double y = b.value;
        if (b.ideal && *b.ideal > b.value && *b.ideal - b.value < (hi - lo) * 0.05) y = *b.ideal;
        s += fmt::format("set label {} {} at {},{} center offset 0,{} front\n", i + 1, gnuplot_quote(text),
                         number(xs[i]), number(y), b.value < 0 ? "-0.8" : "0.6");
    }

    s += "plot";
    for (size_t g = 0; g < groups; ++g) {
        std::string title = l.groups[g];
        if (title.empty()) title = "measured";
        s += fmt::format(
            "{} $bars using 1:($4 == {} ? $2 : NaN):({}) with boxes fill solid 0.85 noborder lc rgb '{}' title {}",
            g ? ", \\\n    " : " ", g, number(box), kGroupColours[g % std::size(kGroupColours)], gnuplot_quote(title));
    }
    if (any_ideal)
        s += fmt::format(
            ", \\\n    $bars using 1:3:({}) with boxes fill empty lc rgb '#333333' dt 2 lw 1.5 title 'ideal'",
            number(box));
    s += "\nunset output\n";
    return s;
}

Task<ChartOutcome> write_chart_async(ChartSpec spec) {
    const std::string tmp = temp_path_for(spec.path);
    std::string script = chart_script(spec, tmp);

    SubprocessOptions options;
    options.stdin_ = PIPE;
    options.stdout_ = DEVNULL;  // where gnuplot would draw if `set output` failed
    options.stderr_ = PIPE;
    std::optional<Process> started;
    std::string cannot_start;
    bool missing = false;
    try {
        std::vector<std::string> no_args;
        Process p = co_await create_subprocess_exec(spec.gnuplot, std::move(no_args), std::move(options));
        started.emplace(std::move(p));
    } catch (const std::system_error& e) {
        missing = e.code() == std::errc::no_such_file_or_directory;
        cannot_start = e.what();
    }
    if (!started) {
        ChartOutcome o;
        o.gnuplot_missing = missing;
        o.message = missing ? fmt::format("chart skipped: {} not found ({})", spec.gnuplot, kInstallHint)
                            : fmt::format("chart skipped: {}", cannot_start);
        co_return o;
    }
    Process& gnuplot = *started;

    std::optional<CommunicateResult> result;
    bool timed_out = false;
    std::optional<std::string> broken;
    try {
        auto talk = gnuplot.communicate(std::move(script));
        result = co_await wait_for(std::move(talk), spec.timeout);
    } catch (const TimeoutError&) {
        timed_out = true;
    } catch (const std::exception& e) {
        broken = e.what();
    } catch (const CancelledError&) {
        gnuplot.kill();
        remove_quietly(tmp);
        throw;
    }
    if (timed_out || broken) {
        gnuplot.kill();
        co_await gnuplot.wait();
        remove_quietly(tmp);
        co_return failed(timed_out
                             ? fmt::format("gnuplot did not finish within {} ms and was killed", spec.timeout.count())
                             : fmt::format("talking to gnuplot: {}", *broken));
    }

    const int code = gnuplot.returncode().value_or(-1);
    if (code != 0) {
        remove_quietly(tmp);
        const std::string how = code < 0 ? fmt::format("killed by signal {}", -code) : fmt::format("exit {}", code);
        co_return failed(
            fmt::format("gnuplot failed ({}): {}", how, first_error_line(result->stderr_data.value_or(std::string()))));
    }
    std::error_code ec;
    if (fs::file_size(tmp, ec) == 0 || ec) {
        remove_quietly(tmp);
        co_return failed("gnuplot exited with 0 but wrote no image");
    }
    fs::rename(tmp, spec.path, ec);
    if (ec) {
        remove_quietly(tmp);
        co_return failed(fmt::format("cannot rename {} to {}: {}", tmp, spec.path, ec.message()));
    }
    ChartOutcome o;
    o.written = true;
    o.message = "chart: " + spec.path;
    co_return o;
}

ChartOutcome write_chart(const ChartSpec& spec) {
    (void)check_and_lay_out(spec);  // a usage error is thrown before any loop exists
    return aio::run(write_chart_async(spec));
}

}  // namespace aio::app
