// aio::threading::Queue<T> and friends — Python's queue module: thread-safe queues for
// producer/consumer threads, with blocking, timeouts, task_done/join and shutdown (3.13).
// (For coroutines on one loop, use aio::Queue from aio/queues/queue.hpp instead.)
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "aio/threads/detail/futex.hpp"
#include "aio/threads/errors.hpp"

namespace aio::threading {

namespace detail {
template <class T>
struct FifoStore {
    std::deque<T> d;
    void push(T&& v) { d.push_back(std::move(v)); }
    T pop() {
        T v = std::move(d.front());
        d.pop_front();
        return v;
    }
    [[nodiscard]] std::size_t size() const noexcept { return d.size(); }
    void clear() { d.clear(); }
};
template <class T>
struct LifoStore {
    std::vector<T> d;
    void push(T&& v) { d.push_back(std::move(v)); }
    T pop() {
        T v = std::move(d.back());
        d.pop_back();
        return v;
    }
    [[nodiscard]] std::size_t size() const noexcept { return d.size(); }
    void clear() { d.clear(); }
};
/// heapq's order: the smallest item (by Compare) comes out first.
template <class T, class Compare>
struct HeapStore {
    std::vector<T> d;
    Compare less{};
    // std::push_heap builds a max-heap; reversing the comparison gives the min-heap heapq has.
    bool greater(const T& a, const T& b) const { return less(b, a); }
    void push(T&& v) {
        d.push_back(std::move(v));
        std::push_heap(d.begin(), d.end(), [this](const T& a, const T& b) { return greater(a, b); });
    }
    T pop() {
        std::pop_heap(d.begin(), d.end(), [this](const T& a, const T& b) { return greater(a, b); });
        T v = std::move(d.back());
        d.pop_back();
        return v;
    }
    [[nodiscard]] std::size_t size() const noexcept { return d.size(); }
    void clear() { d.clear(); }
};

/// queue.Queue's algorithm (one mutex, three conditions), over a storage policy.
template <class T, class Store>
class BasicQueue {
public:
    /// maxsize <= 0 means unbounded, as in Python.
    explicit BasicQueue(long maxsize = 0) : maxsize_(maxsize) {}
    BasicQueue(const BasicQueue&) = delete;
    BasicQueue& operator=(const BasicQueue&) = delete;

    /// Python put(item): waits while full. Throws ShutDown after shutdown().
    void put(T item) { put_impl(std::move(item), true, nullptr); }
    /// Python put(item, block=False): throws Full at once if full.
    void put(T item, bool block) { put_impl(std::move(item), block, nullptr); }
    /// Python put(item, timeout=t): throws Full if still full after `timeout`.
    template <class Rep, class Period>
    void put(T item, std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        put_impl(std::move(item), true, &deadline);
    }
    /// Python put_nowait(item).
    void put_nowait(T item) { put_impl(std::move(item), false, nullptr); }

    /// Python get(): waits while empty. Throws ShutDown once shut down and empty (at once if the
    /// shutdown was immediate).
    T get() { return get_impl(true, nullptr); }
    /// Python get(block=False): throws Empty at once if empty.
    T get(bool block) { return get_impl(block, nullptr); }
    /// Python get(timeout=t): throws Empty if still empty after `timeout`.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = aio::detail::deadline_after(timeout);
        return get_impl(true, &deadline);
    }
    /// Python get_nowait().
    T get_nowait() { return get_impl(false, nullptr); }

    /// Python task_done(): a consumer finished an item got earlier. Throws std::invalid_argument
    /// if called more times than items were put (Python: ValueError).
    void task_done() {
        std::lock_guard lk(mu_);
        if (unfinished_ == 0) throw std::invalid_argument("task_done() called too many times");
        if (--unfinished_ == 0) all_done_.notify_all();
    }
    /// Python join(): blocks until every item put has been marked task_done().
    void join() {
        std::unique_lock lk(mu_);
        all_done_.wait(lk, [&] { return unfinished_ == 0; });
    }
    /// join() with a timeout (Python has none): false if items are still unfinished.
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        std::unique_lock lk(mu_);
        return all_done_.wait_until(lk, aio::detail::deadline_after(timeout), [&] { return unfinished_ == 0; });
    }

    /// Python shutdown(immediate=False) (3.13): put() throws ShutDown from now on; get() throws it
    /// once the queue is empty. With `immediate`, the queue is emptied now (its items count as
    /// done for join()) and get() throws at once. Every blocked put/get wakes up.
    void shutdown(bool immediate = false) {
        std::lock_guard lk(mu_);
        shutdown_ = true;
        if (immediate) {
            const std::size_t n = store_.size();
            store_.clear();
            unfinished_ = unfinished_ > n ? unfinished_ - n : 0;
            if (unfinished_ == 0) all_done_.notify_all();
        }
        not_empty_.notify_all();
        not_full_.notify_all();
    }
    [[nodiscard]] bool is_shutdown() const {
        std::lock_guard lk(mu_);
        return shutdown_;
    }

    /// Python qsize(), empty(), full() (approximate by nature when other threads are active).
    [[nodiscard]] std::size_t qsize() const {
        std::lock_guard lk(mu_);
        return store_.size();
    }
    [[nodiscard]] bool empty() const { return qsize() == 0; }
    [[nodiscard]] bool full() const {
        std::lock_guard lk(mu_);
        return maxsize_ > 0 && store_.size() >= static_cast<std::size_t>(maxsize_);
    }
    [[nodiscard]] long maxsize() const noexcept { return maxsize_; }

protected:
    void put_impl(T&& item, bool block, const aio::detail::SteadyTime* deadline) {
        std::unique_lock lk(mu_);
        if (shutdown_) throw ShutDown();
        if (maxsize_ > 0) {
            auto has_room = [&] { return shutdown_ || store_.size() < static_cast<std::size_t>(maxsize_); };
            if (!block) {
                if (!has_room()) throw Full();
            } else if (!deadline) {
                not_full_.wait(lk, has_room);
            } else if (!not_full_.wait_until(lk, *deadline, has_room)) {
                throw Full();
            }
            if (shutdown_) throw ShutDown();
        }
        store_.push(std::move(item));
        ++unfinished_;
        lk.unlock();
        not_empty_.notify_one();
    }
    T get_impl(bool block, const aio::detail::SteadyTime* deadline) {
        std::unique_lock lk(mu_);
        auto has_item = [&] { return shutdown_ || store_.size() > 0; };
        if (!block) {
            if (store_.size() == 0) {
                if (shutdown_) throw ShutDown();
                throw Empty();
            }
        } else if (!deadline) {
            not_empty_.wait(lk, has_item);
        } else if (!not_empty_.wait_until(lk, *deadline, has_item)) {
            throw Empty();
        }
        if (store_.size() == 0) throw ShutDown();  // shut down and drained
        T v = store_.pop();
        lk.unlock();
        not_full_.notify_one();
        return v;
    }

    mutable std::mutex mu_;
    std::condition_variable not_empty_, not_full_, all_done_;
    Store store_;
    long maxsize_;
    std::size_t unfinished_ = 0;
    bool shutdown_ = false;
};
}  // namespace detail

/// queue.Queue(maxsize=0): FIFO. Thread-safe; `T` only needs to be movable.
template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoStore<T>> {
public:
    using detail::BasicQueue<T, detail::FifoStore<T>>::BasicQueue;
};

/// queue.LifoQueue(maxsize=0): the last item put comes out first.
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoStore<T>> {
public:
    using detail::BasicQueue<T, detail::LifoStore<T>>::BasicQueue;
};

/// queue.PriorityQueue(maxsize=0): the smallest item (by Compare) comes out first, as heapq;
/// Python's `(priority, data)` tuples are std::pair or std::tuple here.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::HeapStore<T, Compare>> {
public:
    using detail::BasicQueue<T, detail::HeapStore<T, Compare>>::BasicQueue;
};

/// queue.SimpleQueue: an unbounded FIFO without task tracking (no task_done/join/shutdown),
/// hence cheaper: put never blocks.
template <class T>
class SimpleQueue {
public:
    SimpleQueue() = default;
    SimpleQueue(const SimpleQueue&) = delete;
    SimpleQueue& operator=(const SimpleQueue&) = delete;

    /// Python put(item) (never blocks; `block` and `timeout` exist in Python only for
    /// compatibility and are ignored there too).
    void put(T item) {
        {
            std::lock_guard lk(mu_);
            d_.push_back(std::move(item));
        }
        cv_.notify_one();
    }
    void put_nowait(T item) { put(std::move(item)); }
    /// Python get(): waits while empty.
    T get() {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return !d_.empty(); });
        return pop_locked();
    }
    /// Python get(block=False): throws Empty if empty.
    T get(bool block) {
        if (block) return get();
        return get_nowait();
    }
    /// Python get(timeout=t): throws Empty after the timeout.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        std::unique_lock lk(mu_);
        if (!cv_.wait_until(lk, aio::detail::deadline_after(timeout), [&] { return !d_.empty(); })) throw Empty();
        return pop_locked();
    }
    T get_nowait() {
        std::lock_guard lk(mu_);
        if (d_.empty()) throw Empty();
        return pop_locked();
    }
    [[nodiscard]] std::size_t qsize() const {
        std::lock_guard lk(mu_);
        return d_.size();
    }
    [[nodiscard]] bool empty() const { return qsize() == 0; }

private:
    T pop_locked() {
        T v = std::move(d_.front());
        d_.pop_front();
        return v;
    }
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<T> d_;
};

}  // namespace aio::threading
