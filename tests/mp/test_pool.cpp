// aio::mp::Pool and aio::ProcessPoolExecutor: results, errors, the failure modes Python's pool
// hangs on (a dead worker, a failing initializer), and the async bridge.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "mp_test_util.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
std::string shout(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}
int fail_on_three(int x) {
    if (x == 3) throw std::invalid_argument("three is not allowed");
    return x;
}
int my_pid(int) { return static_cast<int>(::getpid()); }
std::string big_result(int n) { return std::string(static_cast<size_t>(n), 'z'); }
void nothing() {}

/// Writes its pid into `fd`, then blocks until killed: a task known to be running.
int announce_and_block(int fd) {
    const pid_t p = ::getpid();
    if (::write(fd, &p, sizeof p) != sizeof p) return -1;
    for (;;) ::pause();
}

/// Closes the worker's end of its pool socket, as a worker does early in its exit, announces its
/// pid through `fd`, then blocks until killed: a worker that has hung up but is not yet reaped.
int hang_up_announce_and_block(int fd) {
    // The pool's socket is the worker's only socket (the workers of earlier pools are gone).
    std::vector<int> socks;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(e.path(), ec).string();
        if (!ec && target.rfind("socket:", 0) == 0) socks.push_back(std::stoi(e.path().filename().string()));
    }
    for (int s : socks) ::close(s);
    return announce_and_block(fd);
}

double process_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// A pipe created before the pool, so that its workers inherit it.
struct PidPipe {
    int fds[2];
    PidPipe() { EXPECT_EQ(::pipe(fds), 0); }
    ~PidPipe() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    pid_t read_pid() const {
        pid_t p = 0;
        EXPECT_EQ(::read(fds[0], &p, sizeof p), static_cast<ssize_t>(sizeof p));
        return p;
    }
};

bool no_children_left() {
    errno = 0;
    return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

}  // namespace

TEST(MpPool, ApplyAsyncReturnsResults) {
    aio::mp::Pool pool(2);
    EXPECT_EQ(pool.processes(), 2);
    std::vector<aio::mp::AsyncResult<int>> rs;
    for (int i = 0; i < 100; ++i) rs.push_back(pool.apply_async(square, i));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(rs[static_cast<size_t>(i)].get(), i * i);
    EXPECT_EQ(pool.apply(add, 2, 40), 42);
    EXPECT_EQ(pool.apply(shout, std::string("hi")), "HI");
    EXPECT_EQ(pool.apply([](int a) { return a + 1; }, 1), 2);  // a capture-less lambda
    pool.apply(nothing);
}

TEST(MpPool, TasksRunInWorkerProcesses) {
    aio::mp::Pool pool(2);
    std::set<int> pids;
    for (int i = 0; i < 20; ++i) pids.insert(pool.apply(my_pid, 0));
    for (int p : pids) EXPECT_NE(p, ::getpid());
    auto workers = pool.worker_pids();
    for (int p : pids) EXPECT_NE(std::find(workers.begin(), workers.end(), p), workers.end());
}

TEST(MpPool, AnExceptionIsReraisedWithItsTypeAndMessage) {
    aio::mp::Pool pool(2);
    auto r = pool.apply_async(fail_on_three, 3);
    try {
        r.get();
        FAIL() << "no exception";
    } catch (const aio::mp::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
        EXPECT_EQ(e.message(), "three is not allowed");
        EXPECT_NE(std::string(e.what()).find("three is not allowed"), std::string::npos);
    }
    EXPECT_TRUE(r.ready());
    EXPECT_FALSE(r.successful());
    EXPECT_EQ(pool.apply(fail_on_three, 4), 4);  // the worker survived
}

TEST(MpPool, MapKeepsInputOrderWithAnyChunksize) {
    aio::mp::Pool pool(2);
    std::vector<int> in(1000);
    for (int i = 0; i < 1000; ++i) in[static_cast<size_t>(i)] = i;
    for (size_t chunk : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{5000}}) {
        auto out = pool.map(square, in, chunk);
        ASSERT_EQ(out.size(), in.size());
        for (int i = 0; i < 1000; ++i) EXPECT_EQ(out[static_cast<size_t>(i)], i * i);
    }
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
}

TEST(MpPool, MapRaisesTheFailingChunksError) {
    aio::mp::Pool pool(2);
    EXPECT_THROW(pool.map(fail_on_three, std::vector<int>{1, 2, 3, 4}, 1), aio::mp::RemoteError);
    auto r = pool.map_async(fail_on_three, std::vector<int>{1, 2, 4}, 2);
    EXPECT_EQ(r.get(), (std::vector<int>{1, 2, 4}));
}

TEST(MpPool, Starmap) {
    aio::mp::Pool pool(2);
    std::vector<std::tuple<int, int>> args = {{1, 2}, {3, 4}, {5, 6}};
    EXPECT_EQ(pool.starmap(add, args), (std::vector<int>{3, 7, 11}));
}

TEST(MpPool, ImapInOrderAndUnordered) {
    aio::mp::Pool pool(2);
    std::vector<int> in = {1, 2, 3, 4, 5, 6, 7};
    std::vector<int> ordered;
    for (int x : pool.imap(square, in, 2)) ordered.push_back(x);
    EXPECT_EQ(ordered, (std::vector<int>{1, 4, 9, 16, 25, 36, 49}));
    std::multiset<int> unordered;
    auto it = pool.imap_unordered(square, in);
    while (auto x = it.next(10s)) unordered.insert(*x);
    EXPECT_EQ(unordered, (std::multiset<int>{1, 4, 9, 16, 25, 36, 49}));
}

TEST(MpPool, ImapRaisesAFailedItemAtItsPlaceAndGoesOn) {
    aio::mp::Pool pool(2);
    auto it = pool.imap(fail_on_three, std::vector<int>{1, 2, 3, 4});
    EXPECT_EQ(it.next(), 1);
    EXPECT_EQ(it.next(), 2);
    EXPECT_THROW(it.next(), aio::mp::RemoteError);
    EXPECT_EQ(it.next(), 4);
    EXPECT_EQ(it.next(), std::nullopt);
}

TEST(MpPool, GetWithTimeoutExpiresAndTheTaskGoesOn) {
    PidPipe pipe;
    aio::mp::Pool pool(1);
    auto r = pool.apply_async(announce_and_block, pipe.fds[1]);
    const pid_t worker = pipe.read_pid();
    EXPECT_THROW(r.get(20ms), aio::TimeoutError);
    EXPECT_FALSE(r.wait(1ms));
    EXPECT_FALSE(r.ready());
    EXPECT_THROW((void)r.successful(), aio::InvalidStateError);
    ::kill(worker, SIGKILL);
    EXPECT_THROW(r.get(), aio::mp::WorkerLostError);
}

TEST(MpPool, AKilledWorkerFailsItsTaskAndIsReplaced) {
    PidPipe pipe;
    aio::mp::Pool pool(2);
    auto r = pool.apply_async(announce_and_block, pipe.fds[1]);
    const pid_t worker = pipe.read_pid();
    ASSERT_EQ(::kill(worker, SIGKILL), 0);
    try {
        r.get();
        FAIL() << "no exception";
    } catch (const aio::mp::WorkerLostError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(std::to_string(worker)), std::string::npos) << what;
        EXPECT_NE(what.find("SIGKILL"), std::string::npos) << what;
    }
    // The pool goes on, at full size, with a new worker.
    std::vector<aio::mp::AsyncResult<int>> rs;
    for (int i = 0; i < 50; ++i) rs.push_back(pool.apply_async(square, i));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(rs[static_cast<size_t>(i)].get(), i * i);
    auto pids = pool.worker_pids();
    EXPECT_EQ(pids.size(), 2u);
    EXPECT_EQ(std::find(pids.begin(), pids.end(), worker), pids.end());
}

// Between closing its socket and being reaped, an exiting worker's hang-up stays readable. The
// pool must wait for the pidfd without spinning on it: that spin preempted exiting workers until
// the next scheduler tick, adding ~4 ms to most Pool destructions on a 2-vCPU machine.
TEST(MpPool, AWorkerThatHungUpButLivesOnCostsThePoolNoCpu) {
    PidPipe pipe;
    aio::mp::Pool pool(1);
    auto r = pool.apply_async(hang_up_announce_and_block, pipe.fds[1]);
    const pid_t worker = pipe.read_pid();
    const double cpu0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(r.wait(200ms));  // the window watched; the task never finishes by itself
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = process_cpu_seconds() - cpu0;
    EXPECT_LT(cpu, wall / 4) << "the pool used " << cpu * 1e3 << " ms of CPU in " << wall * 1e3 << " ms";
    ASSERT_EQ(::kill(worker, SIGKILL), 0);
    EXPECT_THROW(r.get(), aio::mp::WorkerLostError);
    std::vector<aio::mp::AsyncResult<int>> rs;  // and the replacement works
    for (int i = 0; i < 5; ++i) rs.push_back(pool.apply_async(square, i));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(rs[static_cast<size_t>(i)].get(), i * i);
}

// A worker dies with the thread that forked it (PR_SET_PDEATHSIG). The main thread forks the first
// workers itself; any other thread must leave that to the pool's own thread, or its pool would lose
// every worker the moment the thread that made it ends.
TEST(MpPool, OutlivesTheThreadThatMadeIt) {
    std::unique_ptr<aio::mp::Pool> pool;
    pid_t tid = 0;
    std::thread maker([&] {
        tid = static_cast<pid_t>(::gettid());
        pool = std::make_unique<aio::mp::Pool>(2);
    });
    maker.join();
    // join() returns before the kernel has sent the parent-death signals; a pidfd of the thread
    // (PIDFD_THREAD, Linux 6.9) reports the thread's exit only after they are sent.
    // ESRCH: the thread is already gone, signals sent. EINVAL (an older kernel): no such wait.
    const int tfd = static_cast<int>(::syscall(SYS_pidfd_open, tid, 0x80 /* PIDFD_THREAD */));
    if (tfd >= 0) {
        pollfd p{tfd, POLLIN, 0};
        EXPECT_EQ(::poll(&p, 1, 10'000), 1);
        ::close(tfd);
    }
    const auto before = pool->worker_pids();
    ASSERT_EQ(before.size(), 2u);
    std::vector<aio::mp::AsyncResult<int>> rs;
    for (int i = 0; i < 20; ++i) rs.push_back(pool->apply_async(square, i));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(rs[static_cast<size_t>(i)].get(30s), i * i);
    EXPECT_EQ(pool->worker_pids(), before);
    // A SIGKILL sent is not yet a worker dead: look for it pending too.
    for (pid_t w : before) {
        std::ifstream status("/proc/" + std::to_string(w) + "/status");
        ASSERT_TRUE(status) << "worker " << w << " is gone";
        std::string line;
        while (std::getline(status, line)) {
            if (line.starts_with("State:")) {
                EXPECT_EQ(line.find('Z'), std::string::npos) << "worker " << w << ": " << line;
            }
            if (line.starts_with("SigPnd:") || line.starts_with("ShdPnd:")) {
                EXPECT_EQ(std::stoull(line.substr(7), nullptr, 16) & (1ull << (SIGKILL - 1)), 0u) << "worker " << w << ": " << line;
            }
        }
    }
    pool.reset();
    EXPECT_TRUE(no_children_left());
}

TEST(MpPool, TasksQueuedBehindAKilledWorkersTaskRunElsewhere) {
    PidPipe pipe;
    aio::mp::Pool pool(1);
    // A burst of short tasks first, in which the pool learns to queue many per worker; the
    // blocking task and more short ones follow in the same burst, so they queue behind it.
    std::vector<aio::mp::AsyncResult<int>> rs;
    for (int i = 0; i < 500; ++i) rs.push_back(pool.apply_async(square, i));
    auto blocked = pool.apply_async(announce_and_block, pipe.fds[1]);
    for (int i = 500; i < 520; ++i) rs.push_back(pool.apply_async(square, i));
    const pid_t worker = pipe.read_pid();
    ASSERT_EQ(::kill(worker, SIGKILL), 0);
    EXPECT_THROW(blocked.get(), aio::mp::WorkerLostError);
    // Only the running task is lost; those waiting behind it never started, so they run on the
    // replacement worker instead of failing with it.
    for (int i = 0; i < 520; ++i) EXPECT_EQ(rs[static_cast<size_t>(i)].get(30s), i * i);
}

TEST(MpPool, WhileOneWorkerIsBusyTheOthersTakeTheTasks) {
    PidPipe pipe;
    aio::mp::Pool pool(2);
    auto blocked = pool.apply_async(announce_and_block, pipe.fds[1]);
    const pid_t busy = pipe.read_pid();
    for (int i = 0; i < 20; ++i) EXPECT_NE(pool.apply(my_pid, 0), busy);
    EXPECT_FALSE(blocked.ready());
    ::kill(busy, SIGKILL);
    EXPECT_THROW(blocked.get(), aio::mp::WorkerLostError);
}

TEST(MpPool, ACrashingTaskFailsWithTheSignal) {
    aio::mp::Pool pool(1);
    // abort(), not a SIGSEGV: the sanitizers catch a SEGV and turn it into an exit code.
    auto r = pool.apply_async([](int) -> int { std::abort(); }, 0);
    try {
        r.get();
        FAIL() << "no exception";
    } catch (const aio::mp::WorkerLostError& e) {
        EXPECT_NE(std::string(e.what()).find("SIGABRT"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pool.apply(square, 5), 25);
}

TEST(MpPool, AFailingInitializerBreaksThePoolInsteadOfLooping) {
    aio::mp::Pool pool(2, [] { throw std::runtime_error("no database"); });
    // The first submit fails either at once (the pool already broke) or through get().
    try {
        auto r = pool.apply_async(square, 2);
        r.get();
        FAIL() << "no exception";
    } catch (const aio::mp::ProcessError& e) {
        EXPECT_NE(std::string(e.what()).find("no database"), std::string::npos) << e.what();
    }
    // Broken for good: later submits fail at once.
    EXPECT_THROW(pool.apply_async(square, 3), aio::mp::ProcessError);
}

TEST(MpPool, InitializerRunsInEachWorker) {
    static int initialised = 0;  // per process: the workers' copies
    aio::mp::Pool pool(2, [] { initialised = 7; });
    EXPECT_EQ(pool.apply([](int) { return initialised; }, 0), 7);
    EXPECT_EQ(initialised, 0);
}

TEST(MpPool, MaxTasksPerChildReplacesWorkers) {
    aio::mp::Pool pool(1, {}, 2);
    std::set<int> pids;
    for (int i = 0; i < 6; ++i) pids.insert(pool.apply(my_pid, 0));
    EXPECT_EQ(pids.size(), 3u);  // two tasks per worker
}

TEST(MpPool, AResultLargerThanThePipeBuffer) {
    aio::mp::Pool pool(2);
    auto a = pool.apply_async(big_result, 8 << 20);
    auto b = pool.apply_async(big_result, 3 << 20);
    EXPECT_EQ(a.get().size(), size_t{8} << 20);
    EXPECT_EQ(b.get(), std::string(size_t{3} << 20, 'z'));
    EXPECT_EQ(pool.apply(shout, std::string(1 << 20, 'a')), std::string(1 << 20, 'A'));
}

TEST(MpPool, CloseThenJoinFinishesQueuedWork) {
    aio::mp::Pool pool(2);
    std::vector<aio::mp::AsyncResult<int>> rs;
    for (int i = 0; i < 200; ++i) rs.push_back(pool.apply_async(square, i));
    pool.close();
    EXPECT_THROW(pool.apply_async(square, 1), aio::InvalidStateError);
    pool.join();
    for (int i = 0; i < 200; ++i) {
        EXPECT_TRUE(rs[static_cast<size_t>(i)].ready());
        EXPECT_EQ(rs[static_cast<size_t>(i)].get(), i * i);
    }
    EXPECT_TRUE(pool.worker_pids().empty());
    EXPECT_TRUE(no_children_left());
}

TEST(MpPool, JoinWithoutCloseThrows) {
    aio::mp::Pool pool(1);
    EXPECT_THROW(pool.join(), aio::InvalidStateError);
}

TEST(MpPool, TerminateDuringMapFailsInsteadOfHanging) {
    PidPipe pipe;
    aio::mp::Pool pool(2);
    auto blocked = pool.apply_async(announce_and_block, pipe.fds[1]);
    (void)pipe.read_pid();
    auto m = pool.map_async(square, std::vector<int>(100, 3), 1);
    pool.terminate();
    pool.join();
    // terminate() signals the workers itself, so the handler may see the worker's death before the
    // request: the task must still fail as terminated, not as a lost worker.
    try {
        blocked.get();
        ADD_FAILURE() << "a task running at terminate() succeeded";
    } catch (const aio::mp::WorkerLostError& e) {
        ADD_FAILURE() << "terminate() reported as a lost worker: " << e.what();
    } catch (const aio::mp::ProcessError& e) {
        EXPECT_NE(std::string(e.what()).find("Pool was terminated before this task finished"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(m.ready());
    EXPECT_TRUE(no_children_left());
}

TEST(MpPool, DestroyingThePoolReapsEveryWorker) {
    {
        aio::mp::Pool pool(3);
        EXPECT_EQ(pool.apply(square, 3), 9);
    }
    EXPECT_TRUE(no_children_left());
}

// A pool's workers must not linger as orphans when the parent is killed: neither the one running
// a task nor the idle one. (PR_SET_PDEATHSIG; the test sees each death through a pidfd, opened
// while the killed parent still held the workers, so no reused pid can answer for them.)
TEST(MpPool, WorkersDieWithAKilledParent) {
    PidPipe pipe;
    const pid_t mid = mp_test::fork_child([&] {
        aio::mp::Pool pool(2);
        const auto pids = pool.worker_pids();
        if (pids.size() != 2) return 2;
        for (pid_t p : pids)
            if (::write(pipe.fds[1], &p, sizeof p) != sizeof p) return 3;
        auto r = pool.apply_async(announce_and_block, pipe.fds[1]);  // one worker busy for good
        for (;;) ::pause();
    });
    ASSERT_GT(mid, 0);
    pid_t pids[3] = {0, 0, 0};  // the two workers, then the busy one's own announcement
    for (pid_t& p : pids) {
        pollfd pfd{pipe.fds[0], POLLIN, 0};
        if (::poll(&pfd, 1, 5000) != 1) break;
        p = pipe.read_pid();
    }
    int pidfds[2] = {-1, -1};
    int open_errno[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
        if (pids[i] > 0) pidfds[i] = static_cast<int>(::syscall(SYS_pidfd_open, pids[i], 0));
        open_errno[i] = pidfds[i] < 0 ? errno : 0;
    }
    ::kill(mid, SIGKILL);
    EXPECT_EQ(mp_test::wait_exit_code(mid), 128 + SIGKILL);
    ASSERT_GT(pids[2], 0) << "the pool in the child did not run its task";
    EXPECT_TRUE(pids[2] == pids[0] || pids[2] == pids[1]);
    for (int i = 0; i < 2; ++i) {
        if (pidfds[i] < 0) {  // not ASSERT: the other worker must still be checked (and killed)
            ADD_FAILURE() << "pidfd_open(" << pids[i] << "): " << std::strerror(open_errno[i]);
            continue;
        }
        pollfd pfd{pidfds[i], POLLIN, 0};
        const bool died = ::poll(&pfd, 1, 5000) == 1;
        EXPECT_TRUE(died) << "worker " << pids[i] << " outlived its killed parent";
        if (!died) ::syscall(SYS_pidfd_send_signal, pidfds[i], SIGKILL, nullptr, 0);
        ::close(pidfds[i]);
    }
}

TEST(MpPool, BadArguments) {
    EXPECT_THROW(aio::mp::Pool(0), std::invalid_argument);
    EXPECT_THROW(aio::mp::Pool(1, {}, 0), std::invalid_argument);
}

TEST(MpPool, AwaitingAnAsyncResultDoesNotBlockTheLoop) {
    aio::mp::Pool pool(2);
    int ticks = 0;
    auto tick = [&]() -> aio::Task<void> {
        for (;;) {
            ++ticks;
            co_await aio::sleep(0s);
        }
    };
    auto body = [&]() -> aio::Task<int> {
        auto r = pool.apply_async(square, 12);
        auto ticker = aio::create_task(tick());
        const int v = co_await r;
        ticker.cancel();
        co_return v;
    };
    EXPECT_EQ(aio::run(body()), 144);
    EXPECT_GT(ticks, 0);
}

// ---- ProcessPoolExecutor ---------------------------------------------------------------------

TEST(MpProcessPoolExecutor, SubmitAndMap) {
    aio::ProcessPoolExecutor ex(2);
    auto f = ex.submit(add, 20, 22);
    EXPECT_EQ(f.result(), 42);
    std::vector<int> out;
    for (int x : ex.map(square, std::vector<int>{1, 2, 3})) out.push_back(x);
    EXPECT_EQ(out, (std::vector<int>{1, 4, 9}));
    auto g = ex.submit(fail_on_three, 3);
    EXPECT_THROW(g.result(), aio::mp::RemoteError);
    auto fs = std::vector<aio::ConcurrentFuture<int>>{ex.submit(square, 4), ex.submit(square, 5)};
    auto [done, pending] = aio::wait(fs);
    EXPECT_EQ(done.size(), 2u);
    EXPECT_TRUE(pending.empty());
}

TEST(MpProcessPoolExecutor, ADeadWorkerBreaksThePool) {
    PidPipe pipe;
    aio::ProcessPoolExecutor ex(2);
    auto f = ex.submit(announce_and_block, pipe.fds[1]);
    const pid_t worker = pipe.read_pid();
    ::kill(worker, SIGKILL);
    EXPECT_THROW(f.result(), aio::BrokenProcessPool);
    EXPECT_THROW(ex.submit(square, 2), aio::BrokenProcessPool);
}

TEST(MpProcessPoolExecutor, AFailingInitializerBreaksThePool) {
    {
        aio::ProcessPoolExecutor ex(2, [] { throw std::runtime_error("no database"); });
        // As in Python: BrokenProcessPool, at submit (already broken) or from the future.
        try {
            auto f = ex.submit(square, 2);
            (void)f.result();
            FAIL() << "no exception";
        } catch (const aio::BrokenProcessPool& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("initializer"), std::string::npos) << what;
            EXPECT_NE(what.find("no database"), std::string::npos) << what;
        }
        EXPECT_THROW(ex.submit(square, 3), aio::BrokenProcessPool);
    }
    EXPECT_TRUE(no_children_left());  // the workers whose initializer failed were reaped
}

TEST(MpProcessPoolExecutor, ShutdownCancelsPendingFutures) {
    PidPipe pipe;
    aio::ProcessPoolExecutor ex(1);
    auto running = ex.submit(announce_and_block, pipe.fds[1]);
    const pid_t worker = pipe.read_pid();
    std::vector<aio::ConcurrentFuture<int>> queued;
    for (int i = 0; i < 10; ++i) queued.push_back(ex.submit(square, i));
    ex.shutdown(false, true);
    int cancelled = 0;
    for (auto& q : queued) cancelled += q.cancelled();
    EXPECT_GE(cancelled, 8);  // at most kWindow - 1 = 1 was already sent behind the running one
    EXPECT_THROW(ex.submit(square, 1), aio::RuntimeError);
    ::kill(worker, SIGKILL);
    EXPECT_THROW(running.result(), aio::BrokenProcessPool);
}

TEST(MpProcessPoolExecutor, RunInExecutorFromACoroutine) {
    aio::ProcessPoolExecutor ex(2);
    auto body = [&]() -> aio::Task<int> {
        auto [a, b] = co_await aio::gather(aio::run_in_executor(ex, square, 6), aio::run_in_executor(&ex, add, 1, 2));
        co_return a + b;
    };
    EXPECT_EQ(aio::run(body()), 39);
}

TEST(MpProcessPoolExecutor, CancellingTheAwaitingTaskCancelsAQueuedJob) {
    PidPipe pipe;
    aio::ProcessPoolExecutor ex(1);
    auto running = ex.submit(announce_and_block, pipe.fds[1]);
    const pid_t worker = pipe.read_pid();
    auto filler = ex.submit(square, 0);  // fills the worker's window: the next job stays queued
    auto queued = ex.submit(square, 9);
    bool timed_out = false;
    auto body = [&]() -> aio::Task<void> {
        try {
            co_await aio::wait_for(aio::wrap_future(queued), 10ms);
        } catch (const aio::TimeoutError&) {
            timed_out = true;
        }
    };
    aio::run(body());
    EXPECT_TRUE(timed_out);
    EXPECT_TRUE(queued.cancelled());
    ::kill(worker, SIGKILL);
    EXPECT_THROW(running.result(), aio::BrokenProcessPool);
    EXPECT_THROW(filler.result(), aio::BrokenProcessPool);
}
