// ThreadPoolExecutor: the workers, the wake-up protocol, shutdown.
//
// The wake-up protocol (an "eventcount"): a worker that finds the queue empty first spins for a
// few microseconds (at most max_spinners_ workers at a time, so that spinning never starves the
// threads producing work on a small machine), then moves itself from "spinning" to "sleeping"
// in the word idle_, looks at the queue once more, and sleeps on the futex word wake_seq_.
// submit() pushes, then reads idle_ with a read-modify-write: if a worker is spinning it will see
// the job; otherwise, if one sleeps, it is woken. Both sides change or read idle_ with RMWs, which
// are totally ordered: either the submitter's comes first, and then the worker's RMW synchronises
// with it and its last look at the queue sees the job; or the worker's comes first, and then the
// submitter sees the sleeper. (A seq_cst fence would do too, but ThreadSanitizer models RMWs,
// not fences.)
// One wake-up in flight at a time: without it a burst of submits made one futex_wake system call
// each while the woken worker was still getting onto a CPU. wake_pending_ is set by the waker;
// if futex_wake woke a worker, that worker clears it when it returns from futex_wait, otherwise
// the waker clears it at once. So the flag is never left set with nobody on the way to clear it,
// and a sleeper it holds off is woken by the next submit after the woken worker is back.
#include "aio/threads/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "aio/core/log.hpp"
#include "aio/threads/thread.hpp"

namespace aio {

namespace detail {

namespace {

// Threads of pools destroyed after shutdown(wait=false) (or destroyed from one of their own
// workers): they finish on their own and are joined at process exit, as Python joins its
// executor threads at interpreter exit.
struct Reaper {
    std::mutex mu;
    std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> threads;

    static Reaper& get() {
        static Reaper* r = [] {
            auto* p = new Reaper();  // never destroyed: used from an atexit handler
            std::atexit([] { Reaper::get().join_all(); });
            return p;
        }();
        return *r;
    }
    void add(std::thread t, std::shared_ptr<std::atomic<bool>> exited) {
        std::lock_guard lk(mu);
        // Join the ones already finished, so the list does not grow with every pool.
        auto it = std::remove_if(threads.begin(), threads.end(), [](auto& p) {
            if (!p.second->load(std::memory_order_acquire)) return false;
            p.first.join();
            return true;
        });
        threads.erase(it, threads.end());
        threads.emplace_back(std::move(t), std::move(exited));
    }
    void join_all() {
        std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> ts;
        {
            std::lock_guard lk(mu);
            ts.swap(threads);
        }
        for (auto& [t, e] : ts)
            if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
            else if (t.joinable()) t.detach();
    }
};

std::atomic<int> g_pool_counter{0};

}  // namespace

class PoolCore : public std::enable_shared_from_this<PoolCore> {
public:
    PoolCore(int max_workers, std::string prefix, std::function<void()> init)
        : max_(max_workers), prefix_(std::move(prefix)), init_(std::move(init)) {
        if (prefix_.empty()) prefix_ = "ThreadPoolExecutor-" + std::to_string(g_pool_counter.fetch_add(1));
        unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        max_spinners_ = static_cast<int>(std::max(1u, hw / 2));
    }

    void submit(Job* j) {
        uint32_t g = gate_.fetch_add(kInflight, std::memory_order_acquire);
        if (g & (kShutdown | kBroken)) [[unlikely]] {
            leave_gate();
            if (g & kBroken) throw BrokenThreadPool(kBrokenMessage);
            throw RuntimeError("cannot schedule new futures after shutdown");
        }
        // A pool without a worker starts one before queuing: if that fails, the job is not in
        // the queue yet and the caller can still take it back (a queued job is the queue's).
        // Inside the gate, so that shutdown (which waits for the gate) sees every thread.
        bool started_now = false;
        if (started_.load(std::memory_order_acquire) == 0) [[unlikely]] {
            try {
                started_now = start_thread(true);
            } catch (...) {
                leave_gate();
                throw;
            }
        }
        queue_.push(j);
        const uint32_t idle = idle_.fetch_add(0, std::memory_order_acq_rel);
        if (spinners(idle) == 0) {
            if (sleepers(idle) > 0) wake_one();
            else if (!started_now && started_.load(std::memory_order_relaxed) < max_) [[unlikely]] add_worker(true);
        }
        leave_gate();
    }
    void shutdown(bool wait, bool cancel_futures) noexcept {
        gate_.fetch_or(kShutdown, std::memory_order_acq_rel);
        if (!wait) nowait_ = true;
        wait_for_submitters();
        if (cancel_futures) drain(nullptr);
        wake_all();
        if (wait) join_all();
    }

    /// After shutdown: the threads not joined (wait=false, or the caller is a worker) go to the
    /// reaper; they hold their own reference to this core.
    void orphan_threads() noexcept {
        std::lock_guard jl(join_mu_);
        std::lock_guard lk(threads_mu_);
        for (auto& w : threads_)
            if (w.thread.joinable()) {
                try {
                    Reaper::get().add(std::move(w.thread), w.exited);
                } catch (...) {
                    w.thread.detach();
                }
            }
    }

    [[nodiscard]] bool nowait_requested() const noexcept { return nowait_.load(std::memory_order_relaxed); }
    [[nodiscard]] int max_workers() const noexcept { return max_; }
    [[nodiscard]] int started() const noexcept { return started_.load(std::memory_order_relaxed); }

private:
    static constexpr uint32_t kShutdown = 1, kBroken = 2, kInflight = 4;
    static constexpr const char* kBrokenMessage = "A thread initializer failed, the thread pool is not usable anymore";
    static constexpr int kSpinRounds = 4000;

    struct Worker {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> exited;
    };

    void leave_gate() noexcept {
        uint32_t old = gate_.fetch_sub(kInflight, std::memory_order_acq_rel);
        // The last submitter leaving a shut-down pool: idle workers may now exit.
        if ((old & kShutdown) && (old >> 2) == 1) wake_all();
    }
    void wait_for_submitters() const noexcept {
        while (gate_.load(std::memory_order_acquire) >= kInflight) std::this_thread::yield();
    }

    void wake_one() noexcept {
        if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
        wake_seq_.fetch_add(1, std::memory_order_release);
        if (futex_wake(wake_seq_, 1) == 0) wake_pending_.store(false, std::memory_order_release);
    }
    void stop_sleeping() noexcept {
        idle_.fetch_sub(kSleeper, std::memory_order_acq_rel);
        wake_pending_.store(false, std::memory_order_release);
    }
    void wake_all() noexcept {
        wake_seq_.fetch_add(1, std::memory_order_release);
        futex_wake_all(wake_seq_);
    }

    Job* try_pop() noexcept {
        std::lock_guard lk(pop_mu_);
        return queue_.pop();
    }
    Job* try_pop_nowait() noexcept {
        if (!queue_.maybe_nonempty()) return nullptr;
        std::unique_lock lk(pop_mu_, std::try_to_lock);
        return lk.owns_lock() ? queue_.pop() : nullptr;
    }

    static uint32_t spinners(uint32_t idle) noexcept { return idle & 0xffff; }
    static uint32_t sleepers(uint32_t idle) noexcept { return idle >> 16; }
    static constexpr uint32_t kSpinner = 1, kSleeper = 1u << 16;

    /// A worker found work after being idle: if more is queued and nobody else is looking, wake a
    /// sleeper — or, with none, start another worker (as Python does when no thread is idle) —
    /// so that a burst submitted while one worker spun is not run by that worker alone. (The
    /// submitters saw the spinner and left the job to it; it can take only one.)
    void found_work() noexcept {
        const uint32_t idle = idle_.load(std::memory_order_relaxed);
        if (spinners(idle) != 0 || !queue_.maybe_nonempty()) return;
        if (sleepers(idle) > 0) wake_one();
        else if (started_.load(std::memory_order_relaxed) < max_) add_worker(false);
    }

    /// The next job for a worker; null when the pool is shut down and nothing is left.
    Job* next_job() noexcept {
        if (Job* j = try_pop()) return j;
        for (;;) {
            const uint32_t seq = wake_seq_.load(std::memory_order_acquire);
            uint32_t to_sleep = kSleeper;
            if (spinners(idle_.fetch_add(kSpinner, std::memory_order_acq_rel)) < static_cast<uint32_t>(max_spinners_)) {
                Job* j = nullptr;
                // Poll with a growing pause between looks: a job arriving right away is seen
                // within ~100 ns, and a long wait does not keep stealing the queue's cache line.
                for (int i = 0, pause = 1; i < kSpinRounds && !j; i += pause, pause = pause < 32 ? pause * 2 : pause) {
                    for (int k = 0; k < pause; ++k) cpu_relax();
                    j = try_pop_nowait();
                }
                if (j) {
                    idle_.fetch_sub(kSpinner, std::memory_order_acq_rel);
                    found_work();
                    return j;
                }
            }
            to_sleep -= kSpinner;  // from spinner to sleeper in one step
            idle_.fetch_add(to_sleep, std::memory_order_acq_rel);
            // The gate before the queue: once it reads "shut down, no submitter inside", no job
            // can arrive after the pop below.
            const uint32_t g = gate_.load(std::memory_order_acquire);
            if (Job* j = try_pop()) {
                stop_sleeping();
                found_work();
                return j;
            }
            if ((g & kShutdown) && g < kInflight) {
                stop_sleeping();
                return nullptr;
            }
            futex_wait(wake_seq_, seq, nullptr);
            stop_sleeping();
            if (Job* j = try_pop()) {
                found_work();
                return j;
            }
        }
    }

    /// Starts one more worker unless the pool has max_workers already; true if it did.
    /// `submitting`: called inside the gate by submit(). A worker calls it outside the gate: it
    /// must not start a thread once shutdown began (join_all may have run already), nor wait for
    /// the lock, which join_all holds while it waits for this very worker to exit. Busy means
    /// someone else is starting a thread or shutting down: either way, not this worker's job.
    bool start_thread(bool submitting) {
        std::unique_lock lk(threads_mu_, std::defer_lock);
        if (submitting) lk.lock();
        else if (!lk.try_lock()) return false;
        const int n = started_.load(std::memory_order_relaxed);
        if (n >= max_) return false;
        if (!submitting && (gate_.load(std::memory_order_acquire) & (kShutdown | kBroken))) return false;
        auto exited = std::make_shared<std::atomic<bool>>(false);
        threads_.emplace_back();  // room first: once the thread runs, nothing below may fail
        try {
            threads_.back().thread = std::thread([self = shared_from_this(), n, exited] {
                self->worker_main(n);
                exited->store(true, std::memory_order_release);
            });
        } catch (...) {
            threads_.pop_back();
            throw;
        }
        threads_.back().exited = std::move(exited);
        started_.store(n + 1, std::memory_order_release);
        return true;
    }

    /// More work than idle workers, and the pool may grow. The job is queued already, and at
    /// least one worker exists (started_ never decreases): a busy worker will take it when it
    /// asks for its next job. So a thread that cannot be started costs parallelism, not the
    /// job — the failure is logged, not thrown (throwing would tell a submitter that its job was
    /// not accepted).
    void add_worker(bool submitting) noexcept {
        try {
            start_thread(submitting);
        } catch (...) {
            try {
                aio::log(LogLevel::warning, "ThreadPoolExecutor: could not start another worker thread (" +
                                                describe_exception(std::current_exception()) +
                                                "); the running ones will take the job");
            } catch (...) {
            }
        }
    }

    void worker_main(int index) noexcept {
        try {
            threading::set_current_thread_name(prefix_ + "_" + std::to_string(index));
        } catch (...) {
        }
        if (init_) {
            try {
                init_();
            } catch (...) {
                try {
                    aio::log(LogLevel::error, "Exception in initializer: " + describe_exception(std::current_exception()));
                } catch (...) {
                }
                mark_broken();
                return;
            }
        }
        while (Job* j = next_job()) {
            if (gate_.load(std::memory_order_acquire) & kBroken) [[unlikely]] j->abandon(broken_exc_);
            else j->run();
        }
    }

    void mark_broken() noexcept {
        {
            // Not threads_mu_: join_all holds that while it joins this very worker.
            std::lock_guard lk(broken_mu_);
            if (gate_.load(std::memory_order_relaxed) & kBroken) return;
            try {
                broken_exc_ = std::make_exception_ptr(BrokenThreadPool(kBrokenMessage));
            } catch (...) {
                broken_exc_ = std::current_exception();  // std::bad_alloc: still an error to deliver
            }
            gate_.fetch_or(kBroken, std::memory_order_acq_rel);
        }
        wait_for_submitters();
        drain(broken_exc_);
        wake_all();
    }

    /// Takes every queued job out (without running it): cancelled when `why` is null, else failed.
    void drain(const std::exception_ptr& why) noexcept {
        std::vector<Job*> jobs;
        {
            std::lock_guard lk(pop_mu_);
            while (Job* j = queue_.pop()) {
                try {
                    jobs.push_back(j);
                } catch (...) {
                    j->abandon(why);  // out of memory: abandon under the lock rather than lose it
                }
            }
        }
        // Outside the lock: cancelling runs done-callbacks, which may submit or shut down.
        for (Job* j : jobs) j->abandon(why);
    }

    void join_all() noexcept {
        std::lock_guard jl(join_mu_);
        // Submitters are out of the gate: the list is final.
        std::lock_guard lk(threads_mu_);
        for (auto& w : threads_)
            if (w.thread.joinable() && w.thread.get_id() != std::this_thread::get_id()) w.thread.join();
    }

    // Submitters' words and workers' words on separate cache lines.
    alignas(64) std::atomic<uint32_t> gate_{0};  // shutdown and broken bits, submitters inside
    JobQueue queue_;
    alignas(64) std::atomic<uint32_t> idle_{0};  // spinning workers (low 16 bits), sleeping ones (high)
    std::atomic<uint32_t> wake_seq_{0};
    std::atomic<bool> wake_pending_{false};
    alignas(64) std::mutex pop_mu_;

    const int max_;
    int max_spinners_ = 1;
    std::atomic<int> started_{0};
    std::atomic<bool> nowait_{false};
    std::string prefix_;  // const once constructed
    std::function<void()> init_;
    std::exception_ptr broken_exc_;  // written before kBroken is set, read after it is seen
    std::mutex threads_mu_;
    std::mutex join_mu_;
    std::mutex broken_mu_;  // mark_broken: one worker publishes broken_exc_
    std::deque<Worker> threads_;
};

}  // namespace detail

ThreadPoolExecutor::ThreadPoolExecutor(std::optional<int> max_workers, std::string thread_name_prefix,
                                       std::function<void()> initializer) {
    int n = max_workers ? *max_workers : default_max_workers();
    if (n <= 0) throw std::invalid_argument("max_workers must be greater than 0");
    core_ = std::make_shared<detail::PoolCore>(n, std::move(thread_name_prefix), std::move(initializer));
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
    core_->shutdown(!core_->nowait_requested(), false);
    core_->orphan_threads();
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) noexcept { core_->shutdown(wait, cancel_futures); }

void ThreadPoolExecutor::submit_job(detail::Job* job) { core_->submit(job); }

int ThreadPoolExecutor::max_workers() const noexcept { return core_->max_workers(); }

int ThreadPoolExecutor::thread_count() const noexcept { return core_->started(); }

int ThreadPoolExecutor::default_max_workers() noexcept {
    int cpus = static_cast<int>(std::thread::hardware_concurrency());
    if (cpus <= 0) cpus = 1;
    return std::min(32, cpus + 4);
}

}  // namespace aio
