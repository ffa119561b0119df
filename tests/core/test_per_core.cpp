// aio::run_per_core (include/aio/core/per_core.hpp): a loop per thread, each main task run to
// completion, a failure stopping the others, one signal stopping all, pinning.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <aio/aio.hpp>
#include <atomic>
#include <latch>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "sanitizers.hpp"

namespace {

TEST(RunPerCore, EachIndexRunsOnItsOwnThreadAndLoop) {
    std::mutex m;
    std::set<size_t> indexes;
    std::set<std::thread::id> threads;
    std::set<aio::EventLoop*> loops;
    aio::run_per_core(3, [&](size_t i) -> aio::Task<void> {
        co_await aio::sleep(std::chrono::milliseconds(0));
        std::lock_guard lk(m);
        indexes.insert(i);
        threads.insert(std::this_thread::get_id());
        loops.insert(&aio::get_running_loop());
    });
    EXPECT_EQ(indexes, (std::set<size_t>{0, 1, 2}));
    EXPECT_EQ(threads.size(), 3u);
    EXPECT_EQ(loops.size(), 3u);
    EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(RunPerCore, ZeroMeansOnePerAvailableCpu) {
    std::atomic<size_t> ran{0};
    aio::run_per_core(0, [&](size_t) -> aio::Task<void> {
        ++ran;
        co_return;
    });
    EXPECT_EQ(ran.load(), aio::available_cpus());
    EXPECT_GE(aio::available_cpus(), 1u);
}

TEST(RunPerCore, LoopsArePinnedOneCpuEach) {
    std::vector<int> got(2, -2);
    aio::run_per_core(2, [&](size_t i) -> aio::Task<void> {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (::pthread_getaffinity_np(::pthread_self(), sizeof set, &set) == 0)
            got[i] = CPU_COUNT(&set) == 1 ? 1 : CPU_COUNT(&set);
        co_return;
    });
    EXPECT_EQ(got[0], 1) << "loop 0 may run on " << got[0] << " CPUs";
    EXPECT_EQ(got[1], 1) << "loop 1 may run on " << got[1] << " CPUs";
    aio::PerCoreOptions o;
    o.pin = false;
    aio::run_per_core(1, [&](size_t i) -> aio::Task<void> {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (::pthread_getaffinity_np(::pthread_self(), sizeof set, &set) == 0) got[i] = CPU_COUNT(&set);
        co_return;
    }, o);
    EXPECT_EQ(static_cast<size_t>(got[0]), aio::available_cpus());
}

// One main failing cancels the others, which clean up; its exception comes out.
TEST(RunPerCore, AFailureCancelsTheOthersAndIsRethrown) {
    std::atomic<int> cleaned{0};
    std::latch both_running(2);
    EXPECT_THROW(aio::run_per_core(2, [&](size_t i) -> aio::Task<void> {
                     both_running.arrive_and_wait();
                     if (i == 0) throw std::runtime_error("worker 0 failed");
                     aio::Event never;
                     try {
                         co_await never.wait();
                     } catch (const aio::CancelledError&) {
                         ++cleaned;
                         throw;
                     }
                 }),
                 std::runtime_error);
    EXPECT_EQ(cleaned.load(), 1);
}

// One SIGTERM (or SIGINT) stops every loop: their main tasks are cancelled and shut down as
// aio::run's would. SIGTERM returns; SIGINT throws KeyboardInterrupt, as aio::run does.
void stopped_by(int sig) {
#if AIO_UNDER_TSAN
    AIO_TSAN_DEFERS_SIGNALS_SKIP();
#endif
    std::atomic<int> cleaned{0};
    std::latch all_waiting(3);
    auto body = [&](size_t i) -> aio::Task<void> {
        aio::Event never;
        // Every loop is inside its main task before the signal goes.
        all_waiting.arrive_and_wait();
        if (i == 0) ::kill(::getpid(), sig);
        try {
            co_await never.wait();
        } catch (const aio::CancelledError&) {
            ++cleaned;
            throw;
        }
    };
    if (sig == SIGINT) EXPECT_THROW(aio::run_per_core(3, body), aio::KeyboardInterrupt);
    else EXPECT_NO_THROW(aio::run_per_core(3, body));
    EXPECT_EQ(cleaned.load(), 3);
}

TEST(RunPerCore, OneSigtermStopsEveryLoop) { stopped_by(SIGTERM); }
TEST(RunPerCore, OneSigintStopsEveryLoopAndIsAKeyboardInterrupt) { stopped_by(SIGINT); }

TEST(RunPerCore, CalledFromARunningLoopIsARuntimeError) {
    aio::run([]() -> aio::Task<void> {
        EXPECT_THROW(aio::run_per_core(1, [](size_t) -> aio::Task<void> { co_return; }), aio::RuntimeError);
        co_return;
    }());
}

}  // namespace
