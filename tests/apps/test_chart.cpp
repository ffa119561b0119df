// The race's bar chart (apps/lib/aio_app/chart.hpp): a real PNG of the spec's size from gnuplot,
// grouped bars, labels with quotes and backslashes; and every way it can fail without an
// exception and without leaving a file behind: gnuplot missing, an output directory that does
// not exist, gnuplot failing, hanging, or exiting 0 with nothing written. Stand-in gnuplots
// (small shell scripts) make the failures certain. The real-gnuplot tests skip where it is not
// installed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <aio_app/chart.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/run.hpp"
#include "aio/core/timeout.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using aio::app::ChartBar;
using aio::app::ChartOutcome;
using aio::app::ChartSpec;

namespace {

bool have_gnuplot() {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
    return false;
}

#define REQUIRE_GNUPLOT() \
    if (!have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed (scripts/install-deps.sh installs gnuplot-nox)"

/// A fresh directory for one test, removed with everything in it afterwards.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "aio_chart_XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    [[nodiscard]] std::set<std::string> entries() const {
        std::set<std::string> names;
        for (const auto& e : fs::directory_iterator(path))
            names.insert(e.path().filename().string());
        return names;
    }
    /// An executable shell script named `name` in this directory: a stand-in gnuplot.
    [[nodiscard]] std::string script(const std::string& name, const std::string& body) const {
        const fs::path p = path / name;
        std::ofstream(p) << "#!/bin/sh\n" << body;
        ::chmod(p.c_str(), 0755);
        return p.string();
    }
};

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t big_endian_32(const std::string& s, size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i)
        v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

/// Checks that `png` is a PNG of width x height: the signature, then the IHDR chunk first.
void expect_png(const std::string& png, int width, int height) {
    ASSERT_GE(png.size(), 24u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_EQ(png.substr(12, 4), "IHDR");
    EXPECT_EQ(big_endian_32(png, 16), static_cast<uint32_t>(width));
    EXPECT_EQ(big_endian_32(png, 20), static_cast<uint32_t>(height));
}

ChartBar bar(std::string group, std::string label, double value, std::optional<double> ideal) {
    ChartBar b;
    b.group = std::move(group);
    b.label = std::move(label);
    b.value = value;
    b.ideal = ideal;
    return b;
}

/// The race's four ways, as the command draws them: speed-up beside the ideal.
ChartSpec race_spec(const fs::path& out) {
    ChartSpec spec;
    spec.title = "aiocpp race: 160 pages, 50 ms each";
    spec.y_label = "speed-up over sequential";
    spec.path = out.string();
    spec.width = 640;
    spec.height = 360;
    spec.bars.push_back(bar("C++", "sequential", 1.0, 1.0));
    spec.bars.push_back(bar("C++", "threads (5)", 5.1, 5.0));
    spec.bars.push_back(bar("C++", "coroutines (64)", 46.0, 53.3));
    spec.bars.push_back(bar("C++", "processes (5)", 4.8, 5.0));
    return spec;
}

}  // namespace

TEST(Chart, WritesAPngOfTheSpecsSize) {
    REQUIRE_GNUPLOT();
    TempDir dir;
    const ChartSpec spec = race_spec(dir.path / "race.png");
    const ChartOutcome out = aio::app::write_chart(spec);
    ASSERT_TRUE(out.written) << out.message;
    EXPECT_FALSE(out.gnuplot_missing);
    EXPECT_EQ(out.message, "chart: " + spec.path);
    expect_png(read_file(spec.path), 640, 360);
    EXPECT_EQ(dir.entries(), std::set<std::string>{"race.png"});  // the temporary file was renamed
}

TEST(Chart, ReplacesAnOldChart) {
    REQUIRE_GNUPLOT();
    TempDir dir;
    std::ofstream(dir.path / "race.png") << "an old chart";
    const ChartSpec spec = race_spec(dir.path / "race.png");
    ASSERT_TRUE(aio::app::write_chart(spec).written);
    expect_png(read_file(spec.path), 640, 360);
}

TEST(Chart, GroupsTwoGroupsSideBySide) {
    REQUIRE_GNUPLOT();
    TempDir dir;
    ChartSpec spec = race_spec(dir.path / "both.png");
    spec.width = 1000;
    spec.height = 420;
    spec.bars.push_back(bar("Python", "sequential", 1.0, 1.0));
    spec.bars.push_back(bar("Python", "threads (5)", 4.9, 5.0));
    spec.bars.push_back(bar("Python", "coroutines (64)", 30.2, 53.3));
    spec.bars.push_back(bar("Python", "processes (5)", 4.1, 5.0));

    const std::string script = aio::app::chart_script(spec, "x.png");
    // One tick per way, not per bar, and one key entry per group plus the ideal.
    EXPECT_NE(script.find("set xtics scale 0 (\"sequential\" 0, \"threads (5)\" 1, \"coroutines (64)\" 2, "
                          "\"processes (5)\" 3)"),
              std::string::npos)
        << script;
    EXPECT_NE(script.find("title \"C++\""), std::string::npos);
    EXPECT_NE(script.find("title \"Python\""), std::string::npos);
    EXPECT_NE(script.find("title 'ideal'"), std::string::npos);
    // The datablock: a row per bar (x, value, ideal, group), each way's C++ bar left of its tick
    // and its Python bar right of it.
    const size_t begin = script.find("$bars << EOD\n");
    ASSERT_NE(begin, std::string::npos);
    std::istringstream rows(script.substr(begin + 13, script.find("EOD\n", begin + 13) - begin - 13));
    std::vector<std::vector<double>> data;
    double x, value, ideal, group;
    while (rows >> x >> value >> ideal >> group)
        data.push_back({x, value, ideal, group});
    ASSERT_EQ(data.size(), 8u) << script;
    for (size_t way = 0; way < 4; ++way) {
        const auto& cpp = data[way];
        const auto& py = data[way + 4];
        EXPECT_NEAR(cpp[0], static_cast<double>(way) - 0.2, 1e-9);
        EXPECT_NEAR(py[0], static_cast<double>(way) + 0.2, 1e-9);
        EXPECT_EQ(cpp[3], 0);
        EXPECT_EQ(py[3], 1);
        EXPECT_EQ(cpp[2], py[2]);
    }
    EXPECT_EQ(data[6][1], 30.2);

    const ChartOutcome out = aio::app::write_chart(spec);
    ASSERT_TRUE(out.written) << out.message;
    expect_png(read_file(spec.path), 1000, 420);
}

TEST(Chart, QuotesAndBackslashesInLabels) {
    const std::string label = "it's \"quoted\" \\ back\\slash {x}^2_@";
    EXPECT_EQ(aio::app::gnuplot_quote(label), R"("it's \"quoted\" \\ back\\slash {x}^2_@")");
    EXPECT_EQ(aio::app::gnuplot_quote("two\nlines\t"), "\"two lines \"");
    EXPECT_EQ(aio::app::gnuplot_quote("\\"), R"("\\")");
    EXPECT_EQ(aio::app::gnuplot_quote(""), "\"\"");

    REQUIRE_GNUPLOT();
    TempDir dir;
    ChartSpec spec = race_spec(dir.path / "it's \"a\" chart.png");
    spec.title = "O'Brien's \"race\"\nsecond line \\n";
    spec.y_label = "'";
    spec.bars.push_back(bar("C++'s", label, 2.0, std::nullopt));
    spec.bars.push_back(bar("C++", "no ideal", 0.5, std::nullopt));
    const ChartOutcome out = aio::app::write_chart(spec);
    ASSERT_TRUE(out.written) << out.message;
    expect_png(read_file(spec.path), 640, 360);
}

TEST(Chart, FromACoroutine) {
    REQUIRE_GNUPLOT();
    TempDir dir;
    const ChartSpec spec = race_spec(dir.path / "race.png");
    const ChartOutcome out = aio::run([](ChartSpec s) -> aio::Task<ChartOutcome> {
        co_return co_await aio::app::write_chart_async(std::move(s));
    }(spec));
    ASSERT_TRUE(out.written) << out.message;
    expect_png(read_file(spec.path), 640, 360);
}

TEST(Chart, GnuplotMissingIsAMessage) {
    TempDir dir;
    ChartSpec spec = race_spec(dir.path / "race.png");
    spec.gnuplot = "/nonexistent/gnuplot";
    const ChartOutcome out = aio::app::write_chart(spec);
    EXPECT_FALSE(out.written);
    EXPECT_TRUE(out.gnuplot_missing);
    EXPECT_EQ(out.message, "chart skipped: /nonexistent/gnuplot not found (apt-get install gnuplot-nox)");
    EXPECT_TRUE(dir.entries().empty());

    spec.gnuplot = "aiocpp-no-such-gnuplot";  // looked up in PATH
    EXPECT_EQ(aio::app::write_chart(spec).message,
              "chart skipped: aiocpp-no-such-gnuplot not found (apt-get install gnuplot-nox)");
}

TEST(Chart, UnwritableDirectoryIsAMessage) {
    REQUIRE_GNUPLOT();
    TempDir dir;
    // Root may write anywhere, so the directory is one that does not exist, or a file.
    std::ofstream(dir.path / "a-file") << "x";
    for (const fs::path& target : {dir.path / "missing" / "race.png", dir.path / "a-file" / "race.png"}) {
        ChartSpec spec = race_spec(target);
        const ChartOutcome out = aio::app::write_chart(spec);
        EXPECT_FALSE(out.written);
        EXPECT_FALSE(out.gnuplot_missing);
        EXPECT_EQ(out.message.rfind("chart not written: gnuplot failed (exit 1): cannot open file", 0), 0u)
            << out.message;
        EXPECT_EQ(dir.entries(), std::set<std::string>{"a-file"});  // no chart, no temporary
    }
}

TEST(Chart, FailingGnuplotLeavesNoHalfPng) {
    TempDir dir;
    std::ofstream(dir.path / "race.png") << "the old chart";
    ChartSpec spec = race_spec(dir.path / "race.png");
    // Starts the output it was told to write, complains, and fails.
    spec.gnuplot = dir.script("fake-gnuplot",
                              "out=$(sed -n 's/^set output \"\\(.*\\)\"$/\\1/p')\n"
                              "printf '\\211PNG half' > \"$out\"\n"
                              "echo '' >&2\n"
                              "echo 'fake: out of ink' >&2\n"
                              "echo 'and more' >&2\n"
                              "exit 3\n");
    const ChartOutcome out = aio::app::write_chart(spec);
    EXPECT_FALSE(out.written);
    EXPECT_EQ(out.message, "chart not written: gnuplot failed (exit 3): fake: out of ink");
    EXPECT_EQ(read_file(spec.path), "the old chart");
    EXPECT_EQ(dir.entries(), (std::set<std::string>{"fake-gnuplot", "race.png"}));
}

TEST(Chart, GnuplotThatWritesNothingIsAFailure) {
    TempDir dir;
    ChartSpec spec = race_spec(dir.path / "race.png");
    spec.gnuplot = dir.script("fake-gnuplot", "cat > /dev/null\n");
    const ChartOutcome out = aio::app::write_chart(spec);
    EXPECT_FALSE(out.written);
    EXPECT_EQ(out.message, "chart not written: gnuplot exited with 0 but wrote no image");
    EXPECT_EQ(dir.entries(), std::set<std::string>{"fake-gnuplot"});
}

TEST(Chart, HangingGnuplotIsKilled) {
    TempDir dir;
    ChartSpec spec = race_spec(dir.path / "race.png");
    spec.gnuplot = dir.script("fake-gnuplot", "exec sleep 30\n");
    spec.timeout = 200ms;
    const auto start = std::chrono::steady_clock::now();
    const ChartOutcome out = aio::app::write_chart(spec);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    EXPECT_FALSE(out.written);
    EXPECT_EQ(out.message, "chart not written: gnuplot did not finish within 200 ms and was killed");
    EXPECT_EQ(dir.entries(), std::set<std::string>{"fake-gnuplot"});
}

TEST(Chart, CancelledWhileDrawingLeavesNothing) {
    TempDir dir;
    ChartSpec spec = race_spec(dir.path / "race.png");
    // Starts its output, then never finishes.
    spec.gnuplot = dir.script("fake-gnuplot",
                              "out=$(sed -n 's/^set output \"\\(.*\\)\"$/\\1/p')\n"
                              "printf '\\211PNG half' > \"$out\"\n"
                              "exec sleep 30\n");
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(aio::run([](ChartSpec s) -> aio::Task<void> {
                     auto draw = aio::app::write_chart_async(std::move(s));
                     (void)co_await aio::wait_for(std::move(draw), 300ms);
                 }(spec)),
                 aio::TimeoutError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    EXPECT_EQ(dir.entries(), std::set<std::string>{"fake-gnuplot"});
}

TEST(Chart, UsageErrorsThrow) {
    ChartSpec spec = race_spec("race.png");
    spec.bars.clear();
    EXPECT_THROW((void)aio::app::write_chart(spec), std::invalid_argument);
    EXPECT_THROW((void)aio::app::chart_script(spec, "x.png"), std::invalid_argument);

    spec = race_spec("race.png");
    spec.path.clear();
    EXPECT_THROW((void)aio::app::write_chart(spec), std::invalid_argument);

    spec = race_spec("race.png");
    spec.width = 0;
    EXPECT_THROW((void)aio::app::write_chart(spec), std::invalid_argument);

    spec = race_spec("race.png");
    spec.bars[1].value = std::numeric_limits<double>::quiet_NaN();
    EXPECT_THROW((void)aio::app::write_chart(spec), std::invalid_argument);

    spec = race_spec("race.png");
    spec.bars.push_back(spec.bars[0]);  // the same group and label twice
    EXPECT_THROW((void)aio::app::write_chart(spec), std::invalid_argument);
    EXPECT_FALSE(fs::exists("race.png"));
}
