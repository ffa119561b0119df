// run_per_core (include/aio/core/per_core.hpp): n threads, a loop each, and the caller's thread
// running a small loop of its own that owns the signals and hears when each worker ends. Signals
// arrive on whatever thread the kernel picks; the handler only writes the control loop's eventfd,
// so that does not matter.
#include "aio/core/per_core.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <csignal>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/run.hpp"

namespace aio {

namespace {

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

// What the control thread knows of one worker. `loop` is set while its main task may still be
// cancelled through it (under the mutex): cleared by the main task itself as it ends, so no
// callback is posted to a loop that is closing.
struct Worker {
    EventLoop* loop = nullptr;
    TaskRef main;  // touched on the worker's thread only
    std::thread thread;
};

struct Shared {
    std::mutex mutex;
    std::vector<Worker> workers;
    bool stopping = false;
    std::exception_ptr first_error;
    EventLoop* control = nullptr;
    size_t running = 0;  // on the control thread only

    // Cancels every worker's main task; any thread.
    void stop_all() {
        std::lock_guard lk(mutex);
        stopping = true;
        for (Worker& w : workers)
            if (w.loop) {
                Worker* wp = &w;
                w.loop->call_soon_threadsafe([wp] {
                    if (wp->main && !wp->main.done()) wp->main.cancel();
                });
            }
    }
};

Task<void> guarded(Shared& shared, Worker& self, Task<void> body) {
    struct Leave {
        Shared& shared;
        Worker& self;
        ~Leave() {
            std::lock_guard lk(shared.mutex);
            self.loop = nullptr;
        }
    } leave{shared, self};
    co_await std::move(body);
}

void run_worker(Shared& shared, size_t index, const std::function<Task<void>(size_t)>& main,
                const PerCoreOptions& options, int cpu) {
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);  // best effort: a cpuset may forbid it
    }
    Worker& self = shared.workers[index];
    bool failed = false;
    bool stopped_by_us = false;
    try {
        EventLoop loop(options.loop);
        TaskHandle<void> handle = loop.create_task(guarded(shared, self, main(index)), "main");
        {
            std::lock_guard lk(shared.mutex);
            self.loop = &loop;
            self.main = handle;
            if (shared.stopping) handle.cancel();
        }
        struct Forget {  // the task's last reference goes on this thread, its loop's
            Worker& self;
            ~Forget() { self.main = TaskRef(); }
        } forget{self};
        detail::run_main(loop, handle);  // not the main thread: no SIGINT of its own
        handle.result();                 // its exception, if it failed

    } catch (const CancelledError&) {
        std::lock_guard lk(shared.mutex);
        stopped_by_us = shared.stopping;
        if (!stopped_by_us && !shared.first_error) shared.first_error = std::current_exception();
        failed = !stopped_by_us;
    } catch (...) {
        std::lock_guard lk(shared.mutex);
        if (!shared.first_error) shared.first_error = std::current_exception();
        failed = true;
    }
    if (failed) shared.stop_all();
    EventLoop* control = shared.control;
    control->call_soon_threadsafe([&shared] {
        if (--shared.running == 0) shared.control->stop();
    });
}

}  // namespace

size_t available_cpus() noexcept {
    try {
        return std::max<size_t>(1, allowed_cpus().size());
    } catch (...) {
        return 1;
    }
}

void run_per_core(size_t n, std::function<Task<void>(size_t index)> main, PerCoreOptions options) {
    detail::check_not_in_loop();
    const std::vector<int> cpus = allowed_cpus();
    if (n == 0) n = std::max<size_t>(1, cpus.size());
    Shared shared;
    shared.workers.resize(n);
    EventLoop control;
    shared.control = &control;
    shared.running = n;
    int signalled = 0;
    if (options.handle_signals) {
        for (int sig : {SIGINT, SIGTERM})
            control.add_signal_handler(sig, [&shared, &signalled, sig] {
                if (signalled == 0) signalled = sig;
                shared.stop_all();
            });
    }
    size_t started = 0;
    try {
        for (; started < n; ++started) {
            const int cpu = options.pin && !cpus.empty() ? cpus[started % cpus.size()] : -1;
            shared.workers[started].thread =
                std::thread(run_worker, std::ref(shared), started, std::cref(main), std::cref(options), cpu);
        }
    } catch (...) {
        // A thread that could not be started: stop those that were, and report it.
        shared.running -= n - started;
        shared.stop_all();
        if (shared.running > 0) control.run_forever();
        for (size_t i = 0; i < started; ++i) shared.workers[i].thread.join();
        control.close();
        throw;
    }
    control.run_forever();
    for (Worker& w : shared.workers) w.thread.join();
    if (options.handle_signals) {
        control.remove_signal_handler(SIGINT);
        control.remove_signal_handler(SIGTERM);
    }
    control.close();
    if (shared.first_error) std::rethrow_exception(shared.first_error);
    if (signalled == SIGINT) throw KeyboardInterrupt();
}

}  // namespace aio
