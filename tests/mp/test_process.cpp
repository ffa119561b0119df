// aio::mp::Process (aio/mp/process.hpp): both start methods, exit codes, signals, join with a
// timeout, names, daemons, reaping, and children that must not outlive a killed parent.
//
// Synchronisation with a child is always a Pipe or a Queue, never a sleep; the only loops that
// sleep poll for a state the test expects (a process gone), with a bound.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aio/mp/connection.hpp"
#include "aio/mp/process.hpp"
#include "aio/mp/queue.hpp"
#include "mp_test_util.hpp"

using namespace std::chrono_literals;

namespace {

using aio::mp::Pipe;
using aio::mp::Process;
using mp_test::recv_within;
using Clock = std::chrono::steady_clock;

/// True once `pid` no longer runs: no such process, or a zombie waiting for a reaper that may
/// never come (whoever adopted an orphan need not reap it promptly).
bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(f, stat)) return true;
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

/// Polls `pred` until it holds or `bound` has passed.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds bound = 5000ms) {
    const auto deadline = Clock::now() + bound;
    while (!pred()) {
        if (Clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

/// No zombie: `pid` is not (or no longer) a child of this process.
bool reaped(pid_t pid) {
    errno = 0;
    return ::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

/// Whether `pid` goes (see process_gone) within 5 s. If it does not, kills it, so that a failing
/// test leaves no orphan behind.
bool dies_soon(pid_t pid) {
    const bool died = eventually([pid] { return process_gone(pid); }, 5000ms);
    if (!died) ::kill(pid, SIGKILL);
    return died;
}

/// Starts a child that starts a grandchild, Process(grandchild_args...), sends its pid and waits;
/// then kills the child. Returns the grandchild's pid and the killed child's exit code.
template <class... Args>
std::pair<pid_t, std::optional<int>> start_grandchild_and_kill_its_parent(Args... grandchild_args) {
    auto pipe = Pipe<pid_t>();
    auto& from_mid = pipe.first;
    auto& to_parent = pipe.second;
    Process mid([&to_parent, grandchild_args...] {
        Process grandchild(grandchild_args...);
        grandchild.start();
        to_parent.send(*grandchild.pid());
        for (;;) ::pause();
    });
    mid.start();
    to_parent.close();
    const pid_t g = recv_within(from_mid);
    mid.kill();
    mid.join();
    return {g, mid.exitcode()};
}

/// Runs `action` if it is not destroyed within `after`: unblocks a test that would hang.
class Watchdog {
public:
    Watchdog(std::chrono::milliseconds after, std::function<void()> action)
        : thread_([this, after, a = std::move(action)] {
              std::unique_lock lk(mu_);
              if (!cv_.wait_for(lk, after, [this] { return done_; })) a();
          }) {}
    ~Watchdog() {
        {
            std::lock_guard lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

/// A file a spawn child writes into (spawn children inherit no pipe: every descriptor is CLOEXEC).
class TempFile {
public:
    TempFile() {
        char tmpl[] = "/tmp/aio_mp_process_test_XXXXXX";
        const int fd = ::mkstemp(tmpl);
        if (fd >= 0) ::close(fd);
        path_ = tmpl;
    }
    ~TempFile() { ::unlink(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] std::string contents() const {
        std::ifstream f(path_);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }

private:
    std::string path_;
};

int name_number(const std::string& name) {
    std::smatch m;
    if (!std::regex_match(name, m, std::regex("Process-([0-9]+)"))) return -1;
    return std::stoi(m[1]);
}

}  // namespace

// ---- spawn targets: namespace scope, registered by name ----------------------------------------

namespace mp_process_test {

/// Writes its arguments and its process name into the file at `path`.
void mp_proc_spawn_write_args(std::string path, int n, std::vector<std::string> words, std::map<std::string, int> m) {
    std::ofstream f(path);
    f << n << '|';
    for (const auto& w : words) f << w << ',';
    f << '|';
    for (const auto& [k, v] : m) f << k << '=' << v << ';';
    f << '|' << aio::mp::current_process_name();
}
AIO_MP_REGISTER(mp_proc_spawn_write_args);

void mp_proc_spawn_exit_code(int tens, int units) { ::_exit(tens * 10 + units); }
AIO_MP_REGISTER(mp_proc_spawn_exit_code);

void mp_proc_spawn_throw(std::string message) { throw std::runtime_error(message); }
AIO_MP_REGISTER(mp_proc_spawn_throw);

void mp_proc_spawn_return(int) {}
AIO_MP_REGISTER(mp_proc_spawn_return);

void mp_proc_spawn_block_forever() {
    for (;;) ::pause();
}
AIO_MP_REGISTER(mp_proc_spawn_block_forever);

void mp_proc_spawn_not_registered(int) {}

}  // namespace mp_process_test

// Two functions with the same unqualified name, each registered where it is declared.
namespace mp_process_test_a {
void mp_proc_spawn_same_name(int code) { ::_exit(code); }
AIO_MP_REGISTER(mp_proc_spawn_same_name);
}  // namespace mp_process_test_a
namespace mp_process_test_b {
void mp_proc_spawn_same_name(int code) { ::_exit(code + 100); }
AIO_MP_REGISTER(mp_proc_spawn_same_name);
}  // namespace mp_process_test_b

// ---- fork: results and exit codes ---------------------------------------------------------------

TEST(MpProcess, TargetSideEffectVisibleThroughPipe) {
    auto pipe = Pipe<std::string>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process p([&child](const std::string& s, int n) { child.send(s + ":" + std::to_string(n) + ":" + std::to_string(::getpid())); },
              std::string("arg"), 42);
    EXPECT_EQ(p.start_method(), aio::mp::StartMethod::fork);
    p.start();
    child.close();
    EXPECT_EQ(recv_within(parent), "arg:42:" + std::to_string(*p.pid()));
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(MpProcess, TargetSideEffectVisibleThroughQueue) {
    aio::mp::Queue<std::vector<int>> q;
    Process p([&q] {
        q.put({1, 2, 3});
        q.put({4});
    });
    p.start();
    p.join();  // put() has written the item when it returns: nothing is lost at exit
    EXPECT_EQ(q.get(5s), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(q.get(5s), std::vector<int>{4});
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(MpProcess, ArgumentsAreCopiedAtConstruction) {
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    int value = 1;
    Process p([&child](int v) { child.send(v); }, value);
    value = 2;  // after construction: the child sees the copy
    p.start();
    child.close();
    EXPECT_EQ(recv_within(parent), 1);
    p.join();
}

TEST(MpProcess, ReturningTargetExitsWithZero) {
    Process p([] {});
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_FALSE(p.is_alive());
}

TEST(MpProcess, ThrowingTargetExitsWithOne) {
    Process p([] { throw std::runtime_error("the child fails on purpose"); });
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 1);
    Process q([] { throw 5; });  // not a std::exception
    q.start();
    q.join();
    EXPECT_EQ(q.exitcode(), 1);
}

TEST(MpProcess, UnderscoreExitCodeIsTheExitcode) {
    Process p([] { ::_exit(7); });
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 7);
    Process q([] { std::_Exit(255); });
    q.start();
    q.join();
    EXPECT_EQ(q.exitcode(), 255);
}

TEST(MpProcess, KillGivesMinusSigkill) {
    auto pipe = Pipe<int>();
    auto& child = pipe.second;
    Process p([&child] { (void)child.recv(); });  // blocks: the parent never sends
    p.start();
    child.close();
    EXPECT_TRUE(p.is_alive());
    p.kill();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGKILL);
    EXPECT_FALSE(p.is_alive());
}

TEST(MpProcess, TerminateGivesMinusSigterm) {
    auto pipe = Pipe<int>();
    auto& child = pipe.second;
    Process p([&child] { (void)child.recv(); });
    p.start();
    child.close();
    p.terminate();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGTERM);
}

TEST(MpProcess, SignalsAfterExitDoNothing) {
    Process p([] { ::_exit(3); });
    p.start();
    p.join();
    EXPECT_NO_THROW(p.terminate());
    EXPECT_NO_THROW(p.kill());
    EXPECT_EQ(p.exitcode(), 3);
}

TEST(MpProcess, JoinTimeoutWhileBlockedThenTrue) {
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process p([&child] { ::_exit(child.recv()); });
    p.start();
    child.close();
    EXPECT_TRUE(p.is_alive());
    EXPECT_FALSE(p.exitcode().has_value());
    const auto t0 = Clock::now();
    EXPECT_FALSE(p.join(100ms));
    const auto waited = Clock::now() - t0;
    EXPECT_GE(waited, 99ms);
    EXPECT_LT(waited, 2s);
    EXPECT_FALSE(p.join(0ms));
    EXPECT_TRUE(p.is_alive());
    EXPECT_FALSE(p.exitcode().has_value());
    parent.send(5);
    EXPECT_TRUE(p.join(5s));
    EXPECT_EQ(p.exitcode(), 5);
    EXPECT_FALSE(p.is_alive());
    EXPECT_TRUE(p.join(0ms));  // already reaped: still true
    EXPECT_NO_THROW(p.join());
}

TEST(MpProcess, ExitcodeAppearsWithoutJoin) {
    Process p([] { ::_exit(4); });
    p.start();
    EXPECT_TRUE(eventually([&] { return p.exitcode().has_value(); }));
    EXPECT_EQ(p.exitcode(), 4);
    EXPECT_FALSE(p.is_alive());
    EXPECT_TRUE(reaped(*p.pid()));  // exitcode() reaped it
}

TEST(MpProcess, PidEmptyBeforeStartThenTheChilds) {
    auto pipe = Pipe<pid_t>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process p([&child] { child.send(::getpid()); });
    EXPECT_FALSE(p.pid().has_value());
    EXPECT_FALSE(p.exitcode().has_value());
    EXPECT_FALSE(p.is_alive());
    p.start();
    child.close();
    ASSERT_TRUE(p.pid().has_value());
    EXPECT_GT(*p.pid(), 0);
    EXPECT_NE(*p.pid(), ::getpid());
    EXPECT_EQ(recv_within(parent), *p.pid());
    p.join();
    EXPECT_TRUE(p.pid().has_value());  // still known after exit, as in Python
}

TEST(MpProcess, StartTwiceThrows) {
    Process p([] {});
    p.start();
    EXPECT_THROW(p.start(), aio::InvalidStateError);
    p.join();
    EXPECT_THROW(p.start(), aio::InvalidStateError);
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(MpProcess, OperationsBeforeStartThrow) {
    Process p([] {});
    EXPECT_THROW(p.join(), aio::InvalidStateError);
    EXPECT_THROW((void)p.join(10ms), aio::InvalidStateError);
    EXPECT_THROW(p.terminate(), aio::InvalidStateError);
    EXPECT_THROW(p.kill(), aio::InvalidStateError);
    EXPECT_FALSE(p.is_alive());
    EXPECT_FALSE(p.exitcode().has_value());
}

TEST(MpProcess, SettingsAfterStartThrow) {
    Process p([] {});
    p.name("before").daemon(false);
    p.start();
    EXPECT_THROW(p.name("after"), aio::InvalidStateError);
    EXPECT_THROW(p.daemon(true), aio::InvalidStateError);
    EXPECT_EQ(p.name(), "before");
    EXPECT_FALSE(p.daemon());
    p.join();
}

TEST(MpProcess, DefaultNamesAreNumbered) {
    Process a([] {});
    Process b([] {});
    const int na = name_number(a.name());
    const int nb = name_number(b.name());
    EXPECT_GT(na, 0) << a.name();
    EXPECT_EQ(nb, na + 1) << a.name() << " then " << b.name();
    EXPECT_FALSE(a.daemon());
    EXPECT_EQ(aio::mp::current_process_name(), "MainProcess");
}

TEST(MpProcess, NameVisibleInChild) {
    auto pipe = Pipe<std::string>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    auto report_name = [&child] { child.send(aio::mp::current_process_name()); };
    Process custom(report_name);
    custom.name("worker-7");
    custom.start();
    EXPECT_EQ(recv_within(parent), "worker-7");
    custom.join();
    Process numbered(report_name);
    const std::string expected = numbered.name();
    numbered.start();
    EXPECT_EQ(recv_within(parent), expected);
    numbered.join();
    EXPECT_EQ(aio::mp::current_process_name(), "MainProcess");  // the parent's is unchanged
}

// ---- destruction, reaping, daemons ------------------------------------------------------------

TEST(MpProcess, DestroyingDaemonTerminatesIt) {
    auto pipe = Pipe<int>();
    auto& child = pipe.second;
    pid_t pid = -1;
    Clock::duration took{};
    {
        Process p([&child] { (void)child.recv(); });  // blocks forever: the parent holds the other end
        p.daemon(true);
        EXPECT_TRUE(p.daemon());
        p.start();
        pid = *p.pid();
        // Should the destructor join instead of terminating, the test fails rather than hangs.
        Watchdog dog(10s, [pid] { ::kill(pid, SIGKILL); });
        const auto t0 = Clock::now();
        {
            Process dying(std::move(p));
        }
        took = Clock::now() - t0;
    }
    EXPECT_LT(took, 2s);
    EXPECT_TRUE(reaped(pid));
    EXPECT_TRUE(process_gone(pid));
}

TEST(MpProcess, DestroyingNonDaemonJoinsIt) {
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    aio::mp::Queue<int> results;
    pid_t pid = -1;
    {
        Process p([&] {
            const int go = child.recv();
            for (int i = 0; i < 1000; ++i) results.put(go + i);
        });
        p.start();
        pid = *p.pid();
        parent.send(1);
    }  // joins: the child finishes its work
    EXPECT_TRUE(reaped(pid));
    ASSERT_EQ(results.qsize(), 1000u);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(results.get_nowait(), 1 + i);
}

TEST(MpProcess, NoZombieLeft) {
    Process joined([] {});
    joined.start();
    joined.join();
    EXPECT_TRUE(reaped(*joined.pid()));

    Process timed([] {});
    timed.start();
    EXPECT_TRUE(timed.join(5s));
    EXPECT_TRUE(reaped(*timed.pid()));

    auto pipe = Pipe<int>();
    auto& child = pipe.second;
    Process killed([&child] { (void)child.recv(); });
    killed.start();
    killed.kill();
    killed.join();
    EXPECT_TRUE(reaped(*killed.pid()));

    pid_t destroyed_pid = -1;
    {
        Process destroyed([] {});
        destroyed.start();
        destroyed_pid = *destroyed.pid();
    }
    EXPECT_TRUE(reaped(destroyed_pid));
}

TEST(MpProcess, MoveKeepsTheChild) {
    Process a([] { ::_exit(3); });
    a.start();
    const pid_t pid = *a.pid();
    Process b(std::move(a));
    EXPECT_FALSE(a.pid().has_value());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_FALSE(a.is_alive());         // NOLINT(bugprone-use-after-move)
    // A moved-from Process answers every question without touching its (gone) state.
    EXPECT_EQ(a.name(), "");       // NOLINT(bugprone-use-after-move)
    EXPECT_FALSE(a.daemon());      // NOLINT(bugprone-use-after-move)
    EXPECT_FALSE(a.exitcode());    // NOLINT(bugprone-use-after-move)
    EXPECT_THROW(a.name("x"), aio::InvalidStateError);
    EXPECT_THROW(a.daemon(true), aio::InvalidStateError);
    EXPECT_THROW(a.start(), aio::InvalidStateError);
    EXPECT_THROW(a.join(), aio::InvalidStateError);
    EXPECT_EQ(b.pid(), pid);
    b.join();
    EXPECT_EQ(b.exitcode(), 3);

    // Assigning over a started Process joins its child first.
    Process c([] { ::_exit(4); });
    c.start();
    const pid_t old = *c.pid();
    c = std::move(b);
    EXPECT_TRUE(reaped(old));
    EXPECT_EQ(c.exitcode(), 3);
}

TEST(MpProcess, ManyChildrenAtOnce) {
    std::vector<Process> ps;
    for (int i = 0; i < 8; ++i) ps.emplace_back([i] { ::_exit(10 + i); });
    for (auto& p : ps) p.start();
    for (int i = 0; i < 8; ++i) {
        ps[static_cast<size_t>(i)].join();
        EXPECT_EQ(ps[static_cast<size_t>(i)].exitcode(), 10 + i);
    }
}

TEST(MpProcess, StartedFromAThreadThatEnded) {
    // The child must survive the end of the thread that started it (PR_SET_PDEATHSIG would not).
    auto pipe = Pipe<int>();
    auto& parent = pipe.first;
    auto& child = pipe.second;
    Process p([&child] { child.send(child.recv() + 1); });
    std::thread t([&p] { p.start(); });
    t.join();
    parent.send(41);
    EXPECT_EQ(recv_within(parent), 42);
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

// ---- a child never outlives its parent ----------------------------------------------------------

TEST(MpProcess, ChildDiesWhenParentIsKilled) {
    const auto [g, mid_exitcode] = start_grandchild_and_kill_its_parent([] {
        for (;;) ::pause();
    });
    EXPECT_EQ(mid_exitcode, -SIGKILL);
    EXPECT_TRUE(dies_soon(g)) << "grandchild " << g << " outlived its killed parent";
}

TEST(MpProcess, ChildDiesWhenRawForkedParentIsKilled) {
    // BUG: src/mp/process.cpp, lifeline(): the lifeline is created once per address space and a
    // plain fork() inherits it, write end included. A process forked without aio::mp (as here,
    // or by any library) that starts a Process hands its child the *original* process's lifeline;
    // its own copy of the write end, and the original's, keep that pipe open, so killing it does
    // not kill the child, which lives on as an orphan.
    {
        Process warm([] {});  // this process holds a lifeline, as it does once any Process ran
        warm.start();
        warm.join();
    }
    auto pipe = Pipe<pid_t>();
    auto& from_mid = pipe.first;
    auto& to_parent = pipe.second;
    const pid_t mid = ::fork();
    ASSERT_GE(mid, 0);
    if (mid == 0) {
        try {
            Process grandchild([] {
                for (;;) ::pause();
            });
            grandchild.start();
            to_parent.send(*grandchild.pid());
        } catch (...) {
            ::_exit(2);
        }
        for (;;) ::pause();
    }
    to_parent.close();
    pid_t g = -1;
    try {
        g = recv_within(from_mid);
    } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
    }
    ::kill(mid, SIGKILL);
    ::waitpid(mid, nullptr, 0);
    ASSERT_GT(g, 0);
    EXPECT_TRUE(dies_soon(g)) << "grandchild " << g << " outlived its killed (raw-forked) parent";
}

TEST(MpProcess, DaemonTerminatedWhenParentExits) {
    // BUG: src/mp/process.cpp, Process::start(): at_exit_handler is registered with std::atexit
    // before live_children()'s static vector is first constructed, so at exit the vector is
    // destroyed *before* the handler runs and the handler copies a destroyed vector (a
    // use-after-free): a parent calling exit() with a live Process crashes instead of
    // terminating its daemon children and waiting for the others.
    auto pipe = Pipe<pid_t>();
    auto& from_mid = pipe.first;
    auto& to_parent = pipe.second;
    Process mid([&to_parent] {
        Process d([] {
            for (;;) ::pause();
        });
        d.daemon(true);
        d.start();
        to_parent.send(*d.pid());
        // A normal exit with `d` still alive (exit() does not unwind this frame): the at-exit
        // handler must terminate the daemon. (The one child in this file that does not _exit().)
        std::exit(0);
    });
    mid.start();
    to_parent.close();
    const pid_t d = recv_within(from_mid);
    Watchdog dog(10s, [&mid] { mid.kill(); });
    mid.join();
    EXPECT_EQ(mid.exitcode(), 0);
    EXPECT_TRUE(dies_soon(d));
}

// ---- cpu_count ------------------------------------------------------------------------------------

TEST(MpProcess, CpuCount) {
    const int n = aio::mp::cpu_count();
    EXPECT_GE(n, 1);
    if (std::thread::hardware_concurrency() > 0) {
        EXPECT_LE(n, static_cast<int>(std::thread::hardware_concurrency()));
    }
    // Follows the affinity mask: a child pinned to one CPU counts one.
    Process p([] {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (::sched_getaffinity(0, sizeof set, &set) != 0) ::_exit(100);
        int first = 0;
        while (first < CPU_SETSIZE && !CPU_ISSET(first, &set)) ++first;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        if (::sched_setaffinity(0, sizeof one, &one) != 0) ::_exit(101);
        ::_exit(aio::mp::cpu_count());
    });
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 1);
}

// ---- spawn ------------------------------------------------------------------------------------------

TEST(MpProcess, SpawnChildGetsItsArguments) {
    TempFile out;
    Process p(aio::mp::spawn, mp_process_test::mp_proc_spawn_write_args, out.path(), 42,
              std::vector<std::string>{"alpha", "", "gamma"}, std::map<std::string, int>{{"x", 1}, {"y", -2}});
    EXPECT_EQ(p.start_method(), aio::mp::StartMethod::spawn);
    p.name("spawned-one");
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(out.contents(), "42|alpha,,gamma,|x=1;y=-2;|spawned-one");
}

TEST(MpProcess, SpawnExitcodeComputedFromArguments) {
    Process p(aio::mp::spawn, mp_process_test::mp_proc_spawn_exit_code, 4, 2);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 42);
    Process q(aio::mp::spawn, mp_process_test::mp_proc_spawn_return, 0);
    q.start();
    q.join();
    EXPECT_EQ(q.exitcode(), 0);
    EXPECT_TRUE(reaped(*q.pid()));
}

TEST(MpProcess, SpawnThrowingTargetExitsWithOne) {
    Process p(aio::mp::spawn, mp_process_test::mp_proc_spawn_throw, std::string("spawned child fails on purpose"));
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 1);
}

TEST(MpProcess, SpawnUnregisteredFunctionThrows) {
    EXPECT_THROW((void)Process(aio::mp::spawn, mp_process_test::mp_proc_spawn_not_registered, 1), std::invalid_argument);
}

TEST(MpProcess, SpawnKillAndJoinTimeout) {
    Process p(aio::mp::spawn, mp_process_test::mp_proc_spawn_block_forever);
    p.start();
    EXPECT_FALSE(p.join(50ms));
    EXPECT_TRUE(p.is_alive());
    p.kill();
    EXPECT_TRUE(p.join(5s));
    EXPECT_EQ(p.exitcode(), -SIGKILL);
    EXPECT_TRUE(reaped(*p.pid()));
}

TEST(MpProcess, SpawnStartedWhileThreadsRun) {
    std::atomic<bool> stop{false};
    std::thread busy([&stop] {
        while (!stop.load()) std::this_thread::yield();
    });
    Process p(aio::mp::spawn, mp_process_test::mp_proc_spawn_exit_code, 1, 3);
    p.start();
    p.join();
    stop = true;
    busy.join();
    EXPECT_EQ(p.exitcode(), 13);
}

TEST(MpProcess, SpawnChildDiesWhenParentIsKilled) {
    const pid_t g =
        start_grandchild_and_kill_its_parent(aio::mp::spawn, mp_process_test::mp_proc_spawn_block_forever).first;
    EXPECT_TRUE(dies_soon(g)) << "spawned grandchild " << g << " outlived its killed parent";
}

TEST(MpProcess, SpawnFunctionsWithTheSameNameAreRefused) {
    // Two functions spelled alike in different namespaces register under one name (#fn). The child
    // could not tell them apart, so spawning either is refused with a clear error rather than
    // running the wrong one.
    try {
        Process a(aio::mp::spawn, mp_process_test_a::mp_proc_spawn_same_name, 5);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("two different functions"), std::string::npos) << e.what();
    }
    EXPECT_THROW(Process(aio::mp::spawn, mp_process_test_b::mp_proc_spawn_same_name, 5), std::invalid_argument);
}
