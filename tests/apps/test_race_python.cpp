// `aiocpp race --python`'s runner (apps/lib/race_python.hpp): the course's four ways in Python,
// run by Debian's /usr/bin/python3 against the embedded site, each fetching every page and
// reporting what aiocpp's ways report; a missing interpreter and a failing script are clear
// errors. Skips where the interpreter (or aiohttp, for the coroutines way) is not installed.
#include <gtest/gtest.h>

#include <aio_app/site.hpp>
#include <race_python.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "aio/threads/bridge.hpp"
#include "http/web_test_util.hpp"

using namespace std::chrono_literals;
using aio::app::Site;
using aio::app::SiteOptions;
using aio::app::detail::PythonReport;
using aio::app::detail::PythonRun;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

bool have_python() { return aio::app::detail::python_problem(kPython).empty(); }

/// Runs `run` against a fresh site of `pages` pages, the blocking runner on the loop's executor
/// while the loop serves the site.
PythonReport race_python(PythonRun run, size_t pages, size_t* served = nullptr) {
    PythonReport rep;
    aiotest::run_net([&]() -> aio::Task<void> {
        SiteOptions so;
        so.pages = pages;
        so.latency = 5ms;
        so.jitter = 0ms;
        Site site = co_await Site::start(so);
        run.base = site.url("/");
        run.base.pop_back();
        run.items = pages;
        auto job = [&run] { return aio::app::detail::run_python_way(run); };
        rep = co_await aio::to_thread(std::move(job));
        if (served) *served = site.requests();
        co_await site.stop();
    }());
    return rep;
}

PythonRun io_run(const char* way) {
    PythonRun r;
    r.python = kPython;
    r.mode = "io";
    r.way = way;
    r.workers = 3;
    r.concurrency = 6;
    r.timeout_s = 30;
    return r;
}

class PythonWays : public ::testing::TestWithParam<const char*> {};

TEST_P(PythonWays, FetchesAndChecksEveryPageAndReportsItsCosts) {
    if (!have_python()) GTEST_SKIP() << kPython << " is not installed";
    if (std::string(GetParam()) == "coroutines" && !aio::app::detail::python_has_module(kPython, "aiohttp"))
        GTEST_SKIP() << "python3-aiohttp is not installed";
    PythonRun run = io_run(GetParam());
    size_t progress = 0;
    run.on_progress = [&progress](size_t n) { progress += n; };
    size_t served = 0;
    const PythonReport rep = race_python(run, 12, &served);
    EXPECT_EQ(rep.ok, 12u);
    EXPECT_EQ(rep.failed, 0u);
    EXPECT_EQ(served, 12u);  // every page once: no retry, no extra request
    EXPECT_EQ(progress, 12u);
    EXPECT_GE(rep.wall_s, 0.005);  // at least one latency
    EXPECT_GT(rep.cpu_s, 0.0);
    EXPECT_GT(rep.self_rss_kib, 0u);
    if (std::string(GetParam()) == "processes") {
        EXPECT_GE(rep.workers, 1u);
        EXPECT_LE(rep.workers, 3u);
        EXPECT_GT(rep.workers_rss_kib, 0u);
    } else {
        EXPECT_EQ(rep.workers, 0u);
        EXPECT_EQ(rep.workers_rss_kib, 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(EachWay, PythonWays, ::testing::Values("sequential", "threads", "coroutines", "processes"));

TEST(PythonRace, APageThatIsNotThereCountsAsFailedAndTheRunGoesOn) {
    if (!have_python()) GTEST_SKIP() << kPython << " is not installed";
    // The site has 4 pages, the script asks for 6: pages 5 and 6 are 404s.
    PythonRun run = io_run("sequential");
    PythonReport rep;
    aiotest::run_net([&]() -> aio::Task<void> {
        SiteOptions so;
        so.pages = 4;
        so.latency = 0ms;
        so.jitter = 0ms;
        Site site = co_await Site::start(so);
        run.base = site.url("/");
        run.base.pop_back();
        run.items = 6;
        auto job = [&run] { return aio::app::detail::run_python_way(run); };
        rep = co_await aio::to_thread(std::move(job));
        co_await site.stop();
    }());
    EXPECT_EQ(rep.ok, 4u);
    EXPECT_EQ(rep.failed, 2u);
}

TEST(PythonRace, AServerThatIsNotThereFailsEveryPageNotTheRace) {
    if (!have_python()) GTEST_SKIP() << kPython << " is not installed";
    PythonRun run = io_run("threads");
    run.base = "http://127.0.0.1:1";  // nothing listens on port 1
    run.items = 5;
    const PythonReport rep = aio::app::detail::run_python_way(run);
    EXPECT_EQ(rep.ok, 0u);
    EXPECT_EQ(rep.failed, 5u);
}

TEST(PythonRace, AScriptErrorIsAnExceptionWithItsLastLine) {
    if (!have_python()) GTEST_SKIP() << kPython << " is not installed";
    PythonRun run = io_run("fibers");
    run.base = "http://127.0.0.1:1";
    run.items = 1;
    try {
        (void)aio::app::detail::run_python_way(run);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "the Python fibers way failed: race_ways.py: unknown mode or way: io fibers");
    }
}

TEST(PythonRace, AMissingInterpreterIsNamed) {
    const std::string why = aio::app::detail::python_problem("/nonexistent/python3");
    EXPECT_NE(why.find("/nonexistent/python3 is not there"), std::string::npos) << why;
    EXPECT_NE(why.find("install python3"), std::string::npos) << why;
    PythonRun run = io_run("sequential");
    run.python = "/nonexistent/python3";
    run.base = "http://127.0.0.1:1";
    run.items = 1;
    EXPECT_THROW((void)aio::app::detail::run_python_way(run), std::runtime_error);
}

TEST(PythonRace, TheEmbeddedScriptIsTheProjectsFile) {
    std::ifstream in(AIO_SOURCE_DIR "/apps/python/race_ways.py");
    ASSERT_TRUE(in) << "cannot read apps/python/race_ways.py";
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), aio::app::detail::race_ways_py);
}

}  // namespace
