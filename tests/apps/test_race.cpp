// `aiocpp race` as a library (apps/lib/aio_app/race.hpp): a small real race, four ways against the
// embedded site, checked against what the latency makes possible (lower bounds, and upper bounds
// only as loose as "several at once beat one at a time"); the table, the JSON, the ideal formula;
// bad options; and the command's usage errors (one line, status 2).
#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <aio_app/race.hpp>
#include <aio_app/site.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "aio/sync/event.hpp"
#include "http/web_test_util.hpp"

using namespace std::chrono_literals;
using aio::app::RaceOptions;
using aio::app::Way;
using aio::app::WayResult;

namespace {

RaceOptions small_race() {
    RaceOptions o;
    o.pages = 24;
    o.latency = 20ms;
    o.jitter = 0ms;
    o.workers = 3;
    o.concurrency = 8;
    o.progress = aio::app::Progress::none;
    return o;
}

// Every one of the `pages` requests waits `latency`, k at a time: no way can beat ceil(N/k) rounds.
double min_wall(size_t pages, size_t at_once, std::chrono::nanoseconds latency) {
    const size_t rounds = (pages + at_once - 1) / at_once;
    return static_cast<double>(rounds) * std::chrono::duration<double>(latency).count();
}

TEST(Race, EveryWayFetchesEveryPageAndTheTimesFollowTheLatency) {
    const RaceOptions o = small_race();
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 4u);
    const Way order[] = {Way::sequential, Way::threads, Way::coroutines, Way::processes};
    const size_t at_once[] = {1, 3, 8, 3};
    for (size_t i = 0; i < 4; ++i) {
        const WayResult& r = rs[i];
        SCOPED_TRACE(r.label);
        EXPECT_EQ(r.way, order[i]);
        EXPECT_EQ(r.pages, 24u);
        EXPECT_EQ(r.ok, 24u);
        EXPECT_EQ(r.failed, 0u);
        EXPECT_EQ(r.at_once, at_once[i]);
        EXPECT_GE(r.wall_s, min_wall(24, at_once[i], o.latency));
        EXPECT_GT(r.cpu_s, 0.0);
        EXPECT_GT(r.peak_rss_bytes, 0u);
        EXPECT_DOUBLE_EQ(r.pages_per_s, 24.0 / r.wall_s);
        EXPECT_DOUBLE_EQ(r.ideal_speedup, aio::app::ideal_speedup(24, at_once[i]));
        ASSERT_TRUE(r.speedup.has_value());
        EXPECT_DOUBLE_EQ(*r.speedup, rs[0].wall_s / r.wall_s);
    }
    EXPECT_EQ(rs[0].label, "sequential");
    EXPECT_EQ(rs[1].label, "threads (3)");
    EXPECT_EQ(rs[2].label, "coroutines (8)");
    EXPECT_EQ(rs[3].label, "processes (3)");
    EXPECT_DOUBLE_EQ(*rs[0].speedup, 1.0);
    // Several requests in flight beat one at a time; coroutines, 8 at once, by at least half.
    EXPECT_LT(rs[1].wall_s, rs[0].wall_s);
    EXPECT_LE(rs[2].wall_s, rs[0].wall_s / 2);
    EXPECT_LT(rs[3].wall_s, rs[0].wall_s);
    // One process each, except the processes way: its own and the workers that fetched.
    for (size_t i = 0; i < 3; ++i)
        EXPECT_EQ(rs[i].processes, 1u);
    EXPECT_GE(rs[3].processes, 2u);
    EXPECT_LE(rs[3].processes, 4u);
}

TEST(Race, ASubsetRunsInTheOrderGivenAndWithoutSequentialThereIsNoSpeedup) {
    RaceOptions o = small_race();
    o.pages = 6;
    o.latency = 1ms;
    o.ways = {Way::coroutines, Way::threads};
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].way, Way::coroutines);
    EXPECT_EQ(rs[0].at_once, 6u);  // the concurrency, 8, is more than the pages
    EXPECT_DOUBLE_EQ(rs[0].ideal_speedup, 6.0);
    EXPECT_EQ(rs[1].way, Way::threads);
    for (const WayResult& r : rs) {
        EXPECT_EQ(r.ok, 6u);
        EXPECT_FALSE(r.speedup.has_value());
    }
    const nlohmann::json j = aio::app::to_json(rs, o);
    EXPECT_TRUE(j["ways"][0]["speedup"].is_null());
    EXPECT_NE(aio::app::format_table(rs).find(" -  "), std::string::npos) << aio::app::format_table(rs);
}

TEST(Race, ProgressLinesAreAtMostTenAndEndWithTheTotal) {
    RaceOptions o = small_race();
    o.pages = 20;
    o.latency = 0ms;
    o.ways = {Way::sequential, Way::processes};
    o.progress = aio::app::Progress::lines;
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    o.progress_out = f;
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 2u);
    std::rewind(f);
    std::string text;
    char buf[512];
    while (std::fgets(buf, sizeof buf, f))
        text += buf;
    std::fclose(f);
    EXPECT_NE(text.find("sequential: 2/20\nsequential: 4/20\n"), std::string::npos) << text;
    EXPECT_NE(text.find("sequential: 20/20\n"), std::string::npos) << text;
    EXPECT_NE(text.find("processes: 20/20\n"), std::string::npos) << text;
    for (const char* way : {"sequential: ", "processes: "}) {
        size_t lines = 0;
        for (size_t at = text.find(way); at != std::string::npos; at = text.find(way, at + 1))
            ++lines;
        EXPECT_GE(lines, 1u) << way;
        EXPECT_LE(lines, 10u) << way;
    }
    EXPECT_EQ(text.find('\r'), std::string::npos) << "lines, not a bar";
}

TEST(Race, IdealSpeedupIsPagesOverRounds) {
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(160, 1), 1.0);
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(160, 5), 5.0);
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(160, 64), 160.0 / 3);  // 64, 64, 32: three rounds
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(10, 3), 2.5);
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(5, 64), 5.0);
}

TEST(Race, IdealFromDelaysIsTheirSumOverTheLongestOfKLanesInOrder) {
    using ns = std::chrono::nanoseconds;
    // Equal delays: the rounds formula.
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(std::vector<ns>(160, 50ms), 64), 160.0 / 3);
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(std::vector<ns>(160, 50ms), 5), 5.0);
    // 10, 10, 10, 30 ms two at a time: lanes end at 20 and 40 ms; 60 ms one at a time.
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(std::vector<ns>{10ms, 10ms, 10ms, 30ms}, 2), 1.5);
    // A slow page first does not hold the others up: 30 | 10 10 10 -> 30 ms for 60.
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(std::vector<ns>{30ms, 10ms, 10ms, 10ms}, 2), 2.0);
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(std::vector<ns>{10ms, 20ms}, 1), 1.0);
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(std::vector<ns>(7, ns(0)), 2), 7.0 / 4);  // no latency: rounds
    EXPECT_DOUBLE_EQ(aio::app::ideal_speedup(std::vector<ns>{}, 4), 1.0);
}

TEST(Race, WithJitterTheIdealComesFromThePagesOwnDelays) {
    RaceOptions o = small_race();
    o.pages = 12;
    o.latency = 10ms;
    o.jitter = 5ms;
    o.ways = {Way::coroutines};
    o.concurrency = 4;
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 1u);
    aio::app::SiteOptions so;
    so.pages = 12;
    so.latency = 10ms;
    so.jitter = 5ms;
    std::vector<std::chrono::nanoseconds> delays;
    for (size_t i = 1; i <= 12; ++i)
        delays.push_back(aio::app::page_delay(i, so));
    EXPECT_DOUBLE_EQ(rs[0].ideal_speedup, aio::app::ideal_speedup(delays, 4));
    EXPECT_EQ(rs[0].ok, 12u);
}

std::vector<WayResult> made_up_results() {
    std::vector<WayResult> rs;
    const Way ways[] = {Way::sequential, Way::threads, Way::coroutines, Way::processes};
    const char* labels[] = {"sequential", "threads (5)", "coroutines (64)", "processes (5)"};
    const size_t at_once[] = {1, 5, 64, 5};
    const double walls[] = {8.0, 1.6, 0.2, 1.8};
    for (size_t i = 0; i < 4; ++i) {
        WayResult r;
        r.way = ways[i];
        r.label = labels[i];
        r.at_once = at_once[i];
        r.pages = r.ok = 160;
        r.wall_s = walls[i];
        r.pages_per_s = 160 / walls[i];
        r.cpu_s = 0.25;
        r.peak_rss_bytes = (i == 3 ? 60 : 12) << 20;
        r.processes = i == 3 ? 6 : 1;
        r.speedup = 8.0 / walls[i];
        r.ideal_speedup = aio::app::ideal_speedup(160, at_once[i]);
        rs.push_back(r);
    }
    return rs;
}

TEST(Race, TheTableHasARowPerWayAndStatesTheFormula) {
    const std::string t = aio::app::format_table(made_up_results());
    for (const char* row : {"\nsequential           160      0    8.00     20.0  0.250   12.0 MiB     1.0x   1.0x\n",
                            "\nthreads (5)          160      0    1.60    100.0  0.250   12.0 MiB     5.0x   5.0x\n",
                            "\ncoroutines (64)      160      0    0.20    800.0  0.250   12.0 MiB    40.0x  53.3x\n",
                            "\nprocesses (5)        160      0    1.80     88.9  0.250  60.0 MiB*     4.4x   5.0x\n"})
        EXPECT_NE(t.find(row), std::string::npos) << row << "\nin\n" << t;
    EXPECT_NE(t.find(aio::app::ideal_formula), std::string::npos) << t;
    EXPECT_NE(t.find("* the sum of the peaks"), std::string::npos) << t;
    std::string e = aio::app::explanation(made_up_results(), RaceOptions());
    std::istringstream lines(e);
    for (std::string line; std::getline(lines, line);)
        EXPECT_LE(line.size(), 100u) << line;
    std::replace(e.begin(), e.end(), '\n', ' ');  // the words' order, not where the lines break
    EXPECT_NE(e.find("I/O-bound"), std::string::npos) << e;
    EXPECT_NE(e.find("no GIL"), std::string::npos) << e;
}

TEST(Race, TheJsonHasTheFourWaysWithTheDocumentedKeys) {
    const nlohmann::json j = aio::app::to_json(made_up_results(), RaceOptions());
    EXPECT_EQ(j["options"]["pages"], 160);
    EXPECT_EQ(j["options"]["latency"], "50ms");
    EXPECT_EQ(j["options"]["jitter"], "10ms");
    EXPECT_EQ(j["options"]["concurrency"], 64);
    EXPECT_EQ(j["options"]["workers"], 5);
    EXPECT_EQ(j["ideal_formula"], std::string(aio::app::ideal_formula));
    ASSERT_EQ(j["ways"].size(), 4u);
    const char* names[] = {"sequential", "threads", "coroutines", "processes"};
    for (size_t i = 0; i < 4; ++i) {
        const nlohmann::json& w = j["ways"][i];
        EXPECT_EQ(w["way"], names[i]);
        for (const char* key : {"lang", "label", "skipped", "at_once", "pages", "ok", "failed", "wall_s",
                                "pages_per_s", "cpu_s", "peak_rss_bytes", "processes", "speedup", "ideal_speedup",
                                "primes"})
            EXPECT_TRUE(w.contains(key)) << names[i] << " has no " << key;
        EXPECT_EQ(w.size(), 16u) << w.dump();
        EXPECT_EQ(w["lang"], "C++");
        EXPECT_TRUE(w["skipped"].is_null());
        EXPECT_TRUE(w["primes"].is_null());
    }
    EXPECT_EQ(j["ways"][3]["processes"], 6);
    EXPECT_DOUBLE_EQ(j["ways"][1]["speedup"].get<double>(), 5.0);
}

TEST(Race, BadOptionsAreUsageErrorsBeforeAnythingRuns) {
    auto expect_usage_error = [](RaceOptions o, const std::string& what) {
        try {
            (void)aio::app::run_race(o);
            ADD_FAILURE() << "no error for " << what;
        } catch (const aio::app::RaceUsageError& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    RaceOptions o = small_race();
    o.pages = 0;
    expect_usage_error(o, "--pages");
    o = small_race();
    o.workers = 0;
    expect_usage_error(o, "--workers");
    o = small_race();
    o.concurrency = 0;
    expect_usage_error(o, "--concurrency");
    o = small_race();
    o.ways = {Way::threads, Way::threads};
    expect_usage_error(o, "threads is named twice");
    o = small_race();
    o.ways.clear();
    expect_usage_error(o, "--ways");
}

TEST(Race, WayNamesReadBack) {
    for (Way w : {Way::sequential, Way::threads, Way::coroutines, Way::processes})
        EXPECT_EQ(aio::app::parse_way(aio::app::way_name(w)), w);
    EXPECT_EQ(aio::app::parse_way("seq"), Way::sequential);
    EXPECT_EQ(aio::app::parse_way("coro"), Way::coroutines);
    EXPECT_EQ(aio::app::parse_way("procs"), Way::processes);
    EXPECT_FALSE(aio::app::parse_way("fibers").has_value());
}

// --- --urls ------------------------------------------------------------------------------------------

// A file in the test's temporary directory holding `text`; removed at the end of the scope.
struct TempFile {
    explicit TempFile(const std::string& text) {
        path = ::testing::TempDir() + "race_urls_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
        std::ofstream(path) << text;
    }
    ~TempFile() { std::remove(path.c_str()); }
    std::string path;
    static inline int counter = 0;
};

std::string usage_error_of(const std::string& path) {
    try {
        (void)aio::app::read_url_file(path);
    } catch (const aio::app::RaceUsageError& e) {
        return e.what();
    }
    return "no error";
}

TEST(RaceUrls, TheFileSkipsCommentsAndBlankLinesAndNamesTheLineOfABadUrl) {
    TempFile good("# the demo site\n\n  http://127.0.0.1:8080/pages/1  # first\r\nhttps://example.com/\n");
    EXPECT_EQ(aio::app::read_url_file(good.path),
              (std::vector<std::string>{"http://127.0.0.1:8080/pages/1", "https://example.com/"}));

    EXPECT_EQ(usage_error_of("/nonexistent/urls.txt"),
              "--urls: cannot read /nonexistent/urls.txt: No such file or directory");
    TempFile empty("");
    EXPECT_EQ(usage_error_of(empty.path), "--urls: " + empty.path + " holds no URL");
    TempFile comments("# nothing here\n\n   # nor here\n");
    EXPECT_EQ(usage_error_of(comments.path), "--urls: " + comments.path + " holds no URL");
    TempFile ftp("http://a.example/\nftp://b.example/\n");
    EXPECT_EQ(usage_error_of(ftp.path),
              "--urls: " + ftp.path + " line 2: 'ftp://b.example/': not an http or https URL");
    TempFile relative("/pages/1\n");
    EXPECT_NE(usage_error_of(relative.path).find(" line 1: '/pages/1': "), std::string::npos)
        << usage_error_of(relative.path);
    TempFile spaces("http://exa mple.com/\n");
    EXPECT_NE(usage_error_of(spaces.path).find(" line 1: 'http://exa mple.com/': invalid URL"), std::string::npos)
        << usage_error_of(spaces.path);
}

TEST(RaceUrls, AHostThatCannotBeReachedIsOneErrorNamingIt) {
    RaceOptions o = small_race();
    // Port 1 on loopback: nothing listens there, and the refusal is immediate.
    o.urls = {"http://127.0.0.1:1/a", "http://127.0.0.1:1/b"};
    try {
        (void)aio::app::run_race(o);
        ADD_FAILURE() << "no error";
    } catch (const aio::app::RaceError& e) {
        EXPECT_TRUE(std::string(e.what()).starts_with("cannot reach 127.0.0.1:1: ")) << e.what();
    }
    o.urls = {"http://127.0.0.1:1/a", "gopher://x/"};
    EXPECT_THROW((void)aio::app::run_race(o), aio::app::RaceUsageError);
}

// The demo site in a child process, as any server the URLs might name. Not on a thread of this
// test: run_race forks its ways, and a fork with another thread running is what it avoids (under
// TSan, a way that starts threads in such a child dies).
class SiteInAChild {
public:
    SiteInAChild() {
        int fds[2];
        EXPECT_EQ(::pipe(fds), 0);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(fds[0]);
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
            aio::run(serve(fds[1]));
            ::_exit(0);
        }
        ::close(fds[1]);
        char c;
        while (::read(fds[0], &c, 1) == 1 && c != '\n')
            base_ += c;
        ::close(fds[0]);
    }
    ~SiteInAChild() {
        ::kill(pid_, SIGKILL);
        int st;
        ::waitpid(pid_, &st, 0);
    }
    const std::string& base() const { return base_; }

private:
    static aio::Task<void> serve(int fd) {
        aio::app::SiteOptions so;
        so.pages = 6;
        so.latency = 5ms;
        aio::app::Site site = co_await aio::app::Site::start(so);
        const std::string line = site.url("/") + "\n";
        EXPECT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
        ::close(fd);
        aio::Event never;
        co_await never.wait();  // until the test kills this process
    }
    pid_t pid_ = -1;
    std::string base_;
};

TEST(RaceUrls, EveryWayFetchesTheUrlsAndA404Counts) {
    SiteInAChild site;
    ASSERT_FALSE(site.base().empty()) << "the site did not start";
    RaceOptions o = small_race();
    for (int i = 1; i <= 6; ++i)
        o.urls.push_back(site.base() + "pages/" + std::to_string(i));
    o.urls.push_back(site.base() + "status/204");  // any 2xx will do
    o.urls.push_back(site.base() + "status/404");
    const std::vector<WayResult> rs = aio::app::run_race(o);
    ASSERT_EQ(rs.size(), 4u);
    for (const WayResult& r : rs) {
        SCOPED_TRACE(r.label);
        EXPECT_EQ(r.pages, 8u);
        EXPECT_EQ(r.ok, 7u);
        EXPECT_EQ(r.failed, 1u);
    }
    EXPECT_EQ(aio::app::to_json(rs, o)["options"]["urls"].size(), 8u);
    // Real URLs' delays are unknown: the ideal assumes one even latency, and says so.
    EXPECT_DOUBLE_EQ(rs[1].ideal_speedup, aio::app::ideal_speedup(8, 3));
    EXPECT_NE(aio::app::format_table(rs).find(aio::app::urls_ideal_formula), std::string::npos);
    EXPECT_EQ(aio::app::to_json(rs, o)["ideal_formula"], std::string(aio::app::urls_ideal_formula));
}

#ifdef AIO_CLI
TEST(RaceCommand, UsageErrorsAreOneLineWithStatusTwo) {
    const std::vector<std::vector<std::string>> cases{
        {"race", "--pages", "0"},        {"race", "--workers", "0"},
        {"race", "--latency", "soon"},   {"race", "--ways", "seq,fibers"},
        {"race", "--ways", "seq,seq"},   {"race", "--urls", "/nonexistent"},
        {"race", "--urls", "/dev/null"}, {"race", "--pages", "3", "--urls", "/dev/null"},
    };
    for (const auto& args : cases) {
        aiotest::ProcResult r = aiotest::run_net([](std::vector<std::string> a) -> aio::Task<aiotest::ProcResult> {
            co_return co_await aio::wait_for(aiotest::run_process(AIO_CLI, std::move(a)), 20s);
        }(args));
        EXPECT_EQ(r.code, 2) << args.back();
        EXPECT_TRUE(r.err.starts_with("aiocpp race: ")) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}
#endif

}  // namespace
