// A failure mode of the course's process pool, fixed: a Pool worker dies while it runs a task.
// (Not one of the course's examples; numbered with E21, its processes chapter.)
// Python: if a multiprocessing.Pool worker is killed (SIGKILL, the OOM killer, a crash in C code),
// the pool starts a new worker, but the task that worker held is never finished nor failed, and
// result.get() waits forever. aio::mp::Pool knows which tasks each worker holds: get() raises
// aio::mp::WorkerLostError naming the worker and the signal, and the pool goes on at full size.
// Standalone: examples/e21_pool_worker_killed. In the CLI: aiocpp demo pool_worker_killed.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;

/// The task to be killed: writes its worker's pid into `fd` (a pipe made before the pool, so that
/// every worker has it), then blocks until it is killed.
int announce_and_block(int fd) {
    const pid_t me = ::getpid();
    if (::write(fd, &me, sizeof me) != static_cast<ssize_t>(sizeof me)) return -1;
    for (;;) ::pause();
}

/// An ordinary task: x squared, and the pid of the worker that computed it.
std::pair<int, int> square(int x) { return {x * x, static_cast<int>(::getpid())}; }

std::string pid_list(const std::vector<pid_t>& pids) {
    std::string s;
    for (pid_t p : pids) {
        if (!s.empty()) s += ", ";
        s += std::to_string(p);
    }
    return s;
}

/// A pipe whose ends are closed when the demo ends. O_CLOEXEC keeps it out of programs this
/// process may exec later; forked workers still inherit it.
struct PidPipe {
    int fds[2] = {-1, -1};
    PidPipe() {
        if (::pipe2(fds, O_CLOEXEC) != 0) throw aio::mp::ProcessError(std::string("pipe2: ") + std::strerror(errno));
    }
    ~PidPipe() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    PidPipe(const PidPipe&) = delete;
    PidPipe& operator=(const PidPipe&) = delete;
    pid_t read_pid() const {
        pid_t p = 0;
        if (::read(fds[0], &p, sizeof p) != static_cast<ssize_t>(sizeof p))
            throw aio::mp::ProcessError("the task did not report its pid");
        return p;
    }
};

void run(const aio_demo::Options&) {
    PidPipe pipe;  // before the pool, so the workers inherit it
    aio::mp::Pool pool(2);
    fmt::print("Pool(2): workers {}\n", pid_list(pool.worker_pids()));

    auto doomed = pool.apply_async(announce_and_block, pipe.fds[1]);
    const pid_t victim = pipe.read_pid();
    fmt::print("a task is running in worker pid {} (it reported its pid through a pipe, and now blocks)\n", victim);

    const auto [v, by] = pool.apply(square, 7);
    fmt::print("meanwhile the other worker (pid {}) computes square(7) = {}\n", by, v);

    fmt::print("\nkill -KILL {}\n", victim);
    if (::kill(victim, SIGKILL) != 0) throw aio::mp::ProcessError(std::string("kill: ") + std::strerror(errno));
    try {
        // Without a limit, Python's get() would wait here forever. The 30 s limit only keeps the
        // demo from hanging if aiocpp had the same bug; the error comes at once.
        const int r = doomed.get(30s);
        fmt::print("get() returned {}?! the task should have failed\n", r);
    } catch (const aio::mp::WorkerLostError& e) {
        fmt::print("get() raised aio::mp::WorkerLostError:\n   {}\n", e.what());
    } catch (const aio::TimeoutError&) {
        fmt::print("get() was still waiting after 30 s: the pool lost the task, as Python's does\n");
    }

    fmt::print("\nthe pool goes on, with a new worker in place of the dead one:\n");
    std::vector<aio::mp::AsyncResult<std::pair<int, int>>> results;
    for (int x = 1; x <= 10; ++x) results.push_back(pool.apply_async(square, x));
    std::string squares;
    std::vector<int> pids;
    for (const auto& r : results) {
        const auto [sq, pid] = r.get();
        // Appending, not (sep + std::to_string(sq)): g++ 12 -O3 reports a bogus -Wrestrict on that form.
        if (!squares.empty()) squares += ' ';
        squares += std::to_string(sq);
        if (std::find(pids.begin(), pids.end(), pid) == pids.end()) pids.push_back(pid);
    }
    fmt::print("   square(1..10) = {}\n", squares);
    const auto workers = pool.worker_pids();
    const bool victim_gone = std::find(workers.begin(), workers.end(), victim) == workers.end();
    const bool victim_used = std::find(pids.begin(), pids.end(), static_cast<int>(victim)) != pids.end();
    fmt::print("   workers now {} ({} of them; pid {} {})\n", pid_list(workers), workers.size(), victim,
               victim_gone && !victim_used ? "is gone" : "IS STILL THERE");

    fmt::print("\nPython's multiprocessing.Pool hangs in this situation: it replaces the dead worker, but the task\n"
               "that worker held is never completed nor failed, so result.get() without a timeout blocks forever\n"
               "(and so does close() followed by join()). concurrent.futures.ProcessPoolExecutor does notice,\n"
               "but breaks the whole pool (BrokenProcessPool). aio::mp::Pool knows which tasks each worker holds:\n"
               "the one it was running fails with WorkerLostError, naming the signal; the ones queued behind it\n"
               "never started, so they run on another worker; and the pool carries on at full size.\n");
}

const aio_demo::Registration registration{{
    .name = "pool_worker_killed",
    .number = 21,
    .summary = "A Pool worker killed mid-task: get() raises WorkerLostError (Python's Pool hangs), the pool goes on.",
    .run = &run,
}};

}  // namespace
