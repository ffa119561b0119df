// aio::mp::Queue<T> / SimpleQueue<T> / JoinableQueue<T> — multiprocessing.Queue: a FIFO shared by processes.
//
// Create it, then fork (Process, Pool): every process holding a copy of the handle puts and gets
// on the same queue. The items live, encoded, in a ring buffer in shared memory (an anonymous
// mapping: nothing in /dev/shm, nothing to leak), guarded by process-shared robust mutexes.
//
// Differences from Python, each on purpose:
//   - There is no feeder thread. put() has copied the item into the shared buffer when it
//     returns, so a process may exit right after put() and nothing is lost; join_thread() and
//     cancel_join_thread() have nothing to wait for. The other side of that: put() blocks while
//     the buffer (1 MiB by default) is full, as SimpleQueue's does in Python.
//   - An item larger than the buffer still goes through: it is streamed while a reader drains it.
//   - qsize() is exact (Python's is approximate, and raises on macOS).
//   - A process killed in the middle of a put or a get leaves the queue broken: every later call
//     throws ProcessError saying so, instead of returning torn data or hanging.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "aio/mp/serialize.hpp"
#include "aio/mp/shared.hpp"
#include "aio/mp/sync.hpp"
#include "aio/threads/errors.hpp"

namespace aio::mp {

namespace detail {
struct RingShared;
/// The untyped queue: encoded items in a shared ring buffer.
class SharedRing {
public:
    SharedRing(size_t maxsize, size_t buffer_bytes);
    SharedRing(const SharedRing&) = delete;
    SharedRing& operator=(const SharedRing&) = delete;
    ~SharedRing();

    /// False if not put in time (the queue is full); a null deadline waits forever.
    bool put(std::string_view item, bool block, const std::chrono::steady_clock::time_point* deadline);
    /// Empty if nothing came in time.
    std::optional<std::string> get(bool block, const std::chrono::steady_clock::time_point* deadline);
    [[nodiscard]] size_t qsize() const;
    [[nodiscard]] size_t maxsize() const noexcept;
    [[nodiscard]] size_t buffer_bytes() const noexcept;

private:
    RingShared* s_;
    size_t map_bytes_;
};
}  // namespace detail

/// multiprocessing.Queue(maxsize=0): a process-shared FIFO of T. A copyable handle: copies (and
/// forked children's copies) are the same queue. `maxsize` ≤ 0 means no limit on the number of
/// items; `buffer_bytes` is the shared buffer's size.
template <class T>
class Queue {
    static_assert(Sendable<T>, "aio::mp::Queue<T>: T must be Sendable (see aio/mp/serialize.hpp)");

public:
    explicit Queue(long maxsize = 0, size_t buffer_bytes = size_t{1} << 20)
        : ring_(std::make_shared<detail::SharedRing>(maxsize > 0 ? static_cast<size_t>(maxsize) : 0, buffer_bytes)) {}

    /// Queue.put(obj): blocks while the queue is full (maxsize items, or a full buffer).
    void put(const T& item) { check_open("put")->put(dumps(item), true, nullptr); }
    /// Queue.put(obj, block=False) when `block` is false: throws aio::threading::Full if full.
    void put(const T& item, bool block) {
        if (!check_open("put")->put(dumps(item), block, nullptr)) throw threading::Full();
    }
    /// Queue.put(obj, timeout=t): throws aio::threading::Full if still full after `timeout`.
    template <class Rep, class Period>
    void put(const T& item, std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
        if (!check_open("put")->put(dumps(item), true, &deadline)) throw threading::Full();
    }
    /// Queue.put_nowait(obj).
    void put_nowait(const T& item) { put(item, false); }

    /// Queue.get(): blocks until an item is there.
    T get() { return loads<T>(*check_open("get")->get(true, nullptr)); }
    /// Queue.get(block=False) when `block` is false: throws aio::threading::Empty if empty.
    T get(bool block) {
        auto s = check_open("get")->get(block, nullptr);
        if (!s) throw threading::Empty();
        return loads<T>(*s);
    }
    /// Queue.get(timeout=t): throws aio::threading::Empty if nothing came in time.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
        auto s = check_open("get")->get(true, &deadline);
        if (!s) throw threading::Empty();
        return loads<T>(*s);
    }
    /// Queue.get_nowait().
    T get_nowait() { return get(false); }

    /// Queue.qsize(): the number of items in the queue (exact; items being put or got count).
    [[nodiscard]] size_t qsize() const { return ring_->qsize(); }
    /// Queue.empty().
    [[nodiscard]] bool empty() const { return qsize() == 0; }
    /// Queue.full(): maxsize items are queued.
    [[nodiscard]] bool full() const { return ring_->maxsize() && qsize() >= ring_->maxsize(); }
    /// Queue.close(): this handle will neither put nor get again (others, and other processes'
    /// copies, are not affected); later calls on it throw InvalidStateError.
    void close() noexcept { closed_ = true; }
    /// Queue.join_thread(): returns at once — there is no feeder thread; every put() has
    /// finished writing its item to shared memory when it returns.
    void join_thread() const noexcept {}
    /// Queue.cancel_join_thread(): nothing to cancel, for the same reason.
    void cancel_join_thread() const noexcept {}

private:
    detail::SharedRing* check_open(const char* op) const {
        if (closed_) throw InvalidStateError(std::string("Queue.") + op + ": the queue is closed");
        return ring_.get();
    }
    std::shared_ptr<detail::SharedRing> ring_;
    bool closed_ = false;
};

/// multiprocessing.SimpleQueue: put, get, empty, close — a Queue without a size limit.
template <class T>
class SimpleQueue {
public:
    explicit SimpleQueue(size_t buffer_bytes = size_t{1} << 20) : q_(0, buffer_bytes) {}
    /// SimpleQueue.put(obj): blocks only while the shared buffer is full.
    void put(const T& item) { q_.put(item); }
    /// SimpleQueue.get(): blocks until an item is there.
    T get() { return q_.get(); }
    /// SimpleQueue.empty().
    [[nodiscard]] bool empty() const { return q_.empty(); }
    /// SimpleQueue.close().
    void close() noexcept { q_.close(); }

private:
    Queue<T> q_;
};

/// multiprocessing.JoinableQueue(maxsize=0): a Queue whose consumers mark each item done, so that
/// a producer can wait until every item put has been handled. The count of unfinished items
/// lives in shared memory beside a process-shared Condition; copies, and forked children's
/// copies, share it with the queue.
///
/// As in Python, a consumer that dies between get() and task_done() leaves its item unfinished
/// for ever: join() then waits for ever. join(timeout) is the way out (Python has none).
template <class T>
class JoinableQueue {
public:
    explicit JoinableQueue(long maxsize = 0, size_t buffer_bytes = size_t{1} << 20)
        : q_(maxsize, buffer_bytes), cond_(Lock()), unfinished_(0) {}

    /// JoinableQueue.put(obj): as Queue::put; the item counts as unfinished from now on.
    void put(const T& item) {
        counted([&] { q_.put(item); });
    }
    /// put(obj, block=False) when `block` is false: throws aio::threading::Full if full.
    void put(const T& item, bool block) {
        counted([&] { q_.put(item, block); });
    }
    /// put(obj, timeout=t): throws aio::threading::Full if still full after `timeout`.
    template <class Rep, class Period>
    void put(const T& item, std::chrono::duration<Rep, Period> timeout) {
        counted([&] { q_.put(item, timeout); });
    }
    /// put_nowait(obj).
    void put_nowait(const T& item) { put(item, false); }

    /// get() and its forms, as Queue's.
    T get() { return q_.get(); }
    T get(bool block) { return q_.get(block); }
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return q_.get(timeout);
    }
    T get_nowait() { return q_.get_nowait(); }

    /// JoinableQueue.task_done(): a consumer has finished with an item it got. Throws
    /// std::invalid_argument if called more times than items were put (Python: ValueError).
    void task_done() {
        auto held = cond_.scoped();
        if (unfinished_.value() <= 0) throw std::invalid_argument("JoinableQueue.task_done() called too many times");
        if (--unfinished_.value() == 0) cond_.notify_all();
    }
    /// JoinableQueue.join(): blocks until every item put has been marked task_done(), in any
    /// process.
    void join() {
        auto held = cond_.scoped();
        cond_.wait_for([&] { return unfinished_.value() == 0; });
    }
    /// join() with a timeout (Python has none): false if items are still unfinished.
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        auto held = cond_.scoped();
        return cond_.wait_for([&] { return unfinished_.value() == 0; }, timeout);
    }

    [[nodiscard]] size_t qsize() const { return q_.qsize(); }
    [[nodiscard]] bool empty() const { return q_.empty(); }
    [[nodiscard]] bool full() const { return q_.full(); }
    void close() noexcept { q_.close(); }
    void join_thread() const noexcept {}
    void cancel_join_thread() const noexcept {}

private:
    /// Counts the item before putting it, so that a consumer quick enough to get it and call
    /// task_done() before the count went up cannot find the count at zero; takes the count back
    /// if the put fails.
    template <class Put>
    void counted(Put&& put) {
        {
            auto held = cond_.scoped();
            ++unfinished_.value();
        }
        try {
            put();
        } catch (...) {
            auto held = cond_.scoped();
            if (--unfinished_.value() == 0) cond_.notify_all();
            throw;
        }
    }

    Queue<T> q_;
    Condition cond_;
    Value<int64_t> unfinished_;  // guarded by cond_'s lock, not by its own
};

}  // namespace aio::mp
