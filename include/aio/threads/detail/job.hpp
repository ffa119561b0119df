// What an executor runs, and the queue it waits in. Internal to the threads layer.
#pragma once

#include <atomic>
#include <exception>

namespace aio::detail {

/// A unit of work queued on an executor: a ConcurrentFuture's job, a run_in_executor call.
/// The queue owns one reference to it until run() or abandon() is called, exactly once.
struct Job {
    std::atomic<Job*> next_{nullptr};  // the queue's link
    /// Runs the work (unless the job was cancelled meanwhile) and drops the queue's reference.
    virtual void run() noexcept = 0;
    /// The work will never run: cancelled by shutdown(cancel_futures) when `why` is null, else
    /// failed with `why` (a broken pool). Drops the queue's reference.
    virtual void abandon(const std::exception_ptr& why) noexcept = 0;

protected:
    ~Job() = default;
};

/// Where jobs go: implemented by executors that run_in_executor can use (ThreadPoolExecutor).
class JobSink {
public:
    /// Queues `job`, taking the queue's reference. Throws (leaving `job` to the caller) when the
    /// executor no longer accepts work.
    virtual void submit_job(Job* job) = 0;

protected:
    ~JobSink() = default;
};

/// Dmitry Vyukov's intrusive multi-producer queue: push is wait-free (one exchange, one store),
/// so submitting threads never wait for each other or for the workers. pop() must be called by
/// one consumer at a time (the pool serialises its workers with a mutex held for a few
/// instructions). FIFO.
class JobQueue {
public:
    JobQueue() noexcept {
        head_.store(&stub_, std::memory_order_relaxed);
        tail_.store(&stub_, std::memory_order_relaxed);
    }
    JobQueue(const JobQueue&) = delete;
    JobQueue& operator=(const JobQueue&) = delete;

    void push(Job* j) noexcept {
        j->next_.store(nullptr, std::memory_order_relaxed);
        Job* prev = head_.exchange(j, std::memory_order_acq_rel);
        prev->next_.store(j, std::memory_order_release);
    }

    /// The oldest job, or null when the queue is empty — or when a producer is between its two
    /// steps (it will finish in a few instructions, and the pool's wake-up protocol covers it).
    Job* pop() noexcept {
        Job* tail = tail_.load(std::memory_order_relaxed);
        Job* next = tail->next_.load(std::memory_order_acquire);
        if (tail == &stub_) {
            if (!next) return nullptr;
            tail_.store(next, std::memory_order_relaxed);
            tail = next;
            next = next->next_.load(std::memory_order_acquire);
        }
        if (next) {
            tail_.store(next, std::memory_order_relaxed);
            return tail;
        }
        if (tail != head_.load(std::memory_order_acquire)) return nullptr;
        push(&stub_);
        next = tail->next_.load(std::memory_order_acquire);
        if (next) {
            tail_.store(next, std::memory_order_relaxed);
            return tail;
        }
        return nullptr;
    }

    /// A hint, callable without the consumer lock: true if a job may be waiting. It reads no
    /// job's memory (another consumer may be freeing it), and not the producers' word either: an
    /// empty queue's tail is the stub, whose link the first push after it writes. Spinning
    /// workers poll this, so it must not pull the line submitters write on every push.
    [[nodiscard]] bool maybe_nonempty() const noexcept {
        if (tail_.load(std::memory_order_relaxed) != &stub_) return true;
        return stub_.next_.load(std::memory_order_relaxed) != nullptr;
    }

private:
    struct Stub final : Job {
        void run() noexcept override {}
        void abandon(const std::exception_ptr&) noexcept override {}
    };
    alignas(64) std::atomic<Job*> head_;  // producers
    alignas(64) std::atomic<Job*> tail_;  // the consumer (atomic only for maybe_nonempty)
    Stub stub_;
};

}  // namespace aio::detail
