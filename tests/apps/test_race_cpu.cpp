// `aiocpp race --cpu` and `--python` as a library (apps/lib/aio_app/race.hpp): the primes counted
// by trial division agree with known counts and across the four ways, the chunks cover the range
// exactly once, the ideal follows the cores; Python's ways join the table with their own
// sequential as the baseline, and a Python that cannot run them is a skipped row, not a failure.
// Timings are never asserted here: a CPU race on a shared machine is noise (bench/ measures it).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <aio_app/race.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "aio/core/run.hpp"

using namespace std::chrono_literals;
using aio::app::Job;
using aio::app::RaceOptions;
using aio::app::Way;
using aio::app::WayResult;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

bool have_python() { return ::access(kPython, X_OK) == 0; }

RaceOptions cpu_race() {
    RaceOptions o;
    o.job = Job::cpu;
    o.cpu_size = 60'000;  // small: sanitizer builds run it too
    o.chunks = 8;
    o.workers = 2;
    o.progress = aio::app::Progress::none;
    o.python_cpu_size = 20'000;
    return o;
}

TEST(RaceCpu, CountPrimesMatchesKnownCounts) {
    EXPECT_EQ(aio::app::count_primes(0, 2), 0u);
    EXPECT_EQ(aio::app::count_primes(0, 3), 1u);
    EXPECT_EQ(aio::app::count_primes(2, 10), 4u);
    EXPECT_EQ(aio::app::count_primes(2, 100), 25u);
    EXPECT_EQ(aio::app::count_primes(2, 1'000'000), 78'498u);
    // The seed's second half (E21): 1,000,001..2,000,000.
    EXPECT_EQ(aio::app::count_primes(1'000'001, 2'000'001), 70'435u);
    EXPECT_EQ(aio::app::count_primes(9, 10), 0u);    // 9 = 3 * 3: the root itself is tried
    EXPECT_EQ(aio::app::count_primes(25, 26), 0u);   // 25 = 5 * 5
    EXPECT_EQ(aio::app::count_primes(97, 98), 1u);
}

TEST(RaceCpu, RangesCoverTwoToSizeOnceInAlmostEqualChunks) {
    for (uint64_t size : {3ull, 10ull, 1001ull, 5'000'000ull}) {
        for (size_t chunks : {size_t{1}, size_t{3}, size_t{32}}) {
            const auto rs = aio::app::cpu_ranges(size, chunks);
            ASSERT_EQ(rs.size(), chunks);
            EXPECT_EQ(rs.front().first, 2u);
            EXPECT_EQ(rs.back().second, size);
            uint64_t shortest = UINT64_MAX, longest = 0;
            for (size_t i = 0; i < rs.size(); ++i) {
                if (i > 0) {
                    EXPECT_EQ(rs[i].first, rs[i - 1].second);
                }
                EXPECT_LE(rs[i].first, rs[i].second);
                shortest = std::min(shortest, rs[i].second - rs[i].first);
                longest = std::max(longest, rs[i].second - rs[i].first);
            }
            EXPECT_LE(longest - shortest, 1u);
        }
    }
    EXPECT_TRUE(aio::app::cpu_ranges(2, 4).empty());
    EXPECT_TRUE(aio::app::cpu_ranges(100, 0).empty());
}

TEST(RaceCpu, ParallelismIsOneForOneThreadAndTheCoresBoundTheRest) {
    EXPECT_EQ(aio::app::cpu_parallelism(Way::sequential, 8, 4, 32), 1u);
    EXPECT_EQ(aio::app::cpu_parallelism(Way::coroutines, 8, 4, 32), 1u);
    EXPECT_EQ(aio::app::cpu_parallelism(Way::threads, 8, 4, 32), 4u);
    EXPECT_EQ(aio::app::cpu_parallelism(Way::processes, 2, 4, 32), 2u);
    EXPECT_EQ(aio::app::cpu_parallelism(Way::threads, 8, 8, 3), 3u);
    EXPECT_GE(aio::app::available_cores(), 1);
}

TEST(RaceCpu, EveryWayCountsTheSamePrimesInEveryChunk) {
    const RaceOptions o = cpu_race();
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 4u);
    const uint64_t want = aio::app::count_primes(2, o.cpu_size);
    const int cores = aio::app::available_cores();
    const Way order[] = {Way::sequential, Way::threads, Way::coroutines, Way::processes};
    for (size_t i = 0; i < rs.size(); ++i) {
        const WayResult& r = rs[i];
        SCOPED_TRACE(r.label);
        EXPECT_EQ(r.way, order[i]);
        EXPECT_EQ(r.job, Job::cpu);
        EXPECT_EQ(r.lang, "C++");
        ASSERT_TRUE(r.answer.has_value());
        EXPECT_EQ(*r.answer, want);
        EXPECT_EQ(r.pages, 8u);
        EXPECT_EQ(r.ok, 8u);
        EXPECT_EQ(r.failed, 0u);
        EXPECT_EQ(r.at_once, aio::app::cpu_parallelism(r.way, 2, cores, 8));
        EXPECT_DOUBLE_EQ(r.ideal_speedup, aio::app::ideal_speedup(8, r.at_once));
        ASSERT_TRUE(r.speedup.has_value());
        EXPECT_GT(r.cpu_s, 0.0);
    }
    EXPECT_EQ(rs[1].label, "threads (2)");
    EXPECT_EQ(rs[2].label, "coroutines");  // one thread, whatever the tasks
    EXPECT_DOUBLE_EQ(rs[2].ideal_speedup, 1.0);
    EXPECT_GE(rs[3].processes, 2u);

    const std::string table = aio::app::format_table(rs);
    EXPECT_NE(table.find("chunks/s"), std::string::npos) << table;
    EXPECT_NE(table.find(aio::app::cpu_ideal_formula), std::string::npos) << table;
    const std::string why = aio::app::explanation(rs, o);
    EXPECT_NE(why.find("CPU-bound"), std::string::npos) << why;
    EXPECT_NE(why.find("6,057 primes"), std::string::npos) << why;  // below 60,000
    const nlohmann::json j = aio::app::to_json(rs, o);
    EXPECT_EQ(j["options"]["job"], "cpu");
    EXPECT_EQ(j["options"]["cpu_size"], 60'000);
    EXPECT_EQ(j["ways"][1]["primes"], want);
    EXPECT_EQ(j["ways"][1]["lang"], "C++");
    EXPECT_TRUE(j["ways"][1]["skipped"].is_null());
}

TEST(RaceCpu, BadOptionsAreUsageErrors) {
    RaceOptions o = cpu_race();
    o.cpu_size = 2;
    EXPECT_THROW((void)aio::app::run_race(o), aio::app::RaceUsageError);
    o = cpu_race();
    o.chunks = 0;
    EXPECT_THROW((void)aio::app::run_race(o), aio::app::RaceUsageError);
    o = cpu_race();
    o.urls = {"http://127.0.0.1:9/"};
    EXPECT_THROW((void)aio::app::run_race(o), aio::app::RaceUsageError);
    RaceOptions io;
    io.python = true;
    io.urls = {"http://127.0.0.1:9/"};
    EXPECT_THROW((void)aio::app::run_race(io), aio::app::RaceUsageError);
}

TEST(RacePython, CpuWaysCountWhatCppCountsAndThreadsAreRowsOfTheirOwn) {
    if (!have_python()) GTEST_SKIP() << kPython << " is not installed";
    RaceOptions o = cpu_race();
    o.python = true;
    o.python_path = kPython;
    o.ways = {Way::sequential, Way::threads, Way::processes};
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 6u);
    for (size_t i = 3; i < 6; ++i) {
        const WayResult& r = rs[i];
        SCOPED_TRACE(r.label);
        EXPECT_EQ(r.lang, "Python");
        EXPECT_EQ(r.way, o.ways[i - 3]);
        EXPECT_TRUE(r.skipped.empty()) << r.skipped;
        ASSERT_TRUE(r.answer.has_value());
        EXPECT_EQ(*r.answer, aio::app::count_primes(2, o.python_cpu_size));
        EXPECT_EQ(r.ok, 8u);
        ASSERT_TRUE(r.speedup.has_value());
        EXPECT_DOUBLE_EQ(*r.speedup, rs[3].wall_s / r.wall_s);  // against Python's sequential
        EXPECT_GT(r.cpu_s, 0.0);
    }
    EXPECT_EQ(rs[4].label, "Python threads (2)");
    EXPECT_GE(rs[5].processes, 2u);
    const std::string table = aio::app::format_table(rs);
    EXPECT_NE(table.find("against the sequential way of the same language"), std::string::npos) << table;
    const std::string why = aio::app::explanation(rs, o);
    EXPECT_NE(why.find("GIL"), std::string::npos) << why;
    EXPECT_NE(why.find("below 20,000"), std::string::npos) << why;
}

TEST(RacePython, IoWaysFetchEveryPageOfTheSameSite) {
    if (!have_python()) GTEST_SKIP() << kPython << " is not installed";
    RaceOptions o;
    o.pages = 8;
    o.latency = 5ms;
    o.jitter = 0ms;
    o.workers = 2;
    o.concurrency = 4;
    o.python = true;
    o.progress = aio::app::Progress::none;
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 8u);
    for (size_t i = 4; i < 8; ++i) {
        const WayResult& r = rs[i];
        SCOPED_TRACE(r.label);
        EXPECT_EQ(r.lang, "Python");
        if (!r.skipped.empty()) {
            // Only aiohttp may be missing, and only for the coroutines.
            EXPECT_EQ(r.way, Way::coroutines);
            EXPECT_NE(r.skipped.find("aiohttp"), std::string::npos) << r.skipped;
            continue;
        }
        EXPECT_EQ(r.ok, 8u);
        EXPECT_EQ(r.failed, 0u);
        EXPECT_EQ(r.at_once, rs[i - 4].at_once);
        EXPECT_GE(r.wall_s, 0.005 * static_cast<double>((8 + r.at_once - 1) / r.at_once));
    }
    EXPECT_NE(aio::app::explanation(rs, o).find("Python's sequential way spent"), std::string::npos);
}

TEST(RacePython, AMissingInterpreterSkipsEveryPythonRowAndSaysWhy) {
    RaceOptions o = cpu_race();
    o.python = true;
    o.python_path = "/nonexistent/python3";
    o.ways = {Way::sequential, Way::coroutines};
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 4u);
    for (size_t i = 2; i < 4; ++i) {
        EXPECT_EQ(rs[i].lang, "Python");
        EXPECT_NE(rs[i].skipped.find("/nonexistent/python3"), std::string::npos) << rs[i].skipped;
        EXPECT_FALSE(rs[i].speedup.has_value());
    }
    EXPECT_TRUE(rs[0].skipped.empty());
    const std::string table = aio::app::format_table(rs);
    EXPECT_NE(table.find("Python sequential"), std::string::npos) << table;
    EXPECT_NE(table.find("skipped: /nonexistent/python3"), std::string::npos) << table;
    EXPECT_FALSE(aio::app::to_json(rs, o)["ways"][2]["skipped"].is_null());
}

TEST(RacePython, WithoutAiohttpOnlyTheCoroutinesAreSkipped) {
    if (!have_python()) GTEST_SKIP() << kPython << " is not installed";
    // An interpreter that cannot import aiohttp: a module of that name that refuses to load, first
    // on its path.
    char dir_template[] = "/tmp/aiocpp-noaiohttp-XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    ASSERT_NE(dir, nullptr);
    const std::string d(dir);
    std::ofstream(d + "/aiohttp.py") << "raise ImportError('no aiohttp here')\n";
    const std::string exe = d + "/python3";
    std::ofstream(exe) << "#!/bin/sh\nPYTHONPATH=" << d << " exec " << kPython << " \"$@\"\n";
    ASSERT_EQ(::chmod(exe.c_str(), 0755), 0);

    RaceOptions o;
    o.pages = 4;
    o.latency = 1ms;
    o.jitter = 0ms;
    o.workers = 2;
    o.concurrency = 2;
    o.python = true;
    o.python_path = exe;
    o.ways = {Way::sequential, Way::coroutines};
    o.progress = aio::app::Progress::none;
    const std::vector<WayResult> rs = aio::app::run_race(o);
    std::remove((d + "/aiohttp.py").c_str());
    std::remove(exe.c_str());
    ::rmdir(dir);
    ASSERT_EQ(rs.size(), 4u);
    EXPECT_TRUE(rs[2].skipped.empty()) << rs[2].skipped;
    EXPECT_EQ(rs[2].ok, 4u);
    EXPECT_EQ(rs[3].way, Way::coroutines);
    EXPECT_NE(rs[3].skipped.find("has no aiohttp (apt-get install python3-aiohttp)"), std::string::npos)
        << rs[3].skipped;
}

}  // namespace
