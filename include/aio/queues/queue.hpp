// aio::Queue, aio::LifoQueue, aio::PriorityQueue — asyncio.Queue and friends, typed.
//
// How waiting works (and why it is cancel safe):
//  * An item put while getters wait stays in the queue, and is *claimed* for the first getter,
//    which is woken. The claim hides one item from everybody else: qsize(), empty(), get_nowait()
//    and newcomers' get() do not see it. The getter takes the next item in queue order when it
//    resumes (so a PriorityQueue getter gets the smallest item present then, as in Python). If it
//    is cancelled before resuming, the claim is dropped: the item, never removed, goes to the next
//    getter (claimed for it) or stays first in line. No item is lost, none is delivered twice.
//  * A slot freed while putters wait is *reserved* for the first putter, which is woken and
//    inserts its item when it resumes. full() counts reservations (and claimed items, which still
//    occupy their slots), so nobody takes that slot
//    meanwhile. A putter cancelled before resuming never inserts; its reservation passes on.
// CPython instead wakes a waiter and lets it re-check, so a newcomer can overtake it (the woken
// task then queues again, at the back). Here a woken task is never overtaken.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"
#include "aio/sync/detail/waiters.hpp"

namespace aio {

/// asyncio.QueueEmpty: get_nowait() on a queue with nothing to take.
class QueueEmpty : public Error {
public:
    QueueEmpty() : Error("QueueEmpty: get_nowait() on an empty queue") {}
    using Error::Error;
};

/// asyncio.QueueFull: put_nowait() on a queue at its maxsize.
class QueueFull : public Error {
public:
    QueueFull() : Error("QueueFull: put_nowait() on a full queue") {}
    using Error::Error;
};

/// asyncio.QueueShutDown (Python 3.13): put on a shut-down queue, or get from one that is shut
/// down and empty (or shut down immediately).
class QueueShutDown : public Error {
public:
    QueueShutDown() : Error("QueueShutDown: the queue is shut down") {}
    using Error::Error;
};

/// Queue::stats().
struct QueueStats {
    size_t size = 0;         // qsize()
    size_t maxsize = 0;      // 0: unbounded
    size_t getters = 0;      // tasks waiting in get()
    size_t putters = 0;      // tasks waiting in put()
    size_t joiners = 0;      // tasks waiting in join()
    size_t handing_off = 0;  // woken getters and putters that have not resumed yet
    size_t unfinished = 0;   // items put and not yet task_done()
    bool shutdown = false;
};

namespace detail {

/// The untyped part of a queue: counters, waiter lists and the slow paths (src/queues/queue.cpp).
class QueueCore {
public:
    explicit QueueCore(size_t maxsize) noexcept : maxsize_(maxsize) {}
    QueueCore(const QueueCore&) = delete;
    QueueCore& operator=(const QueueCore&) = delete;

    /// Items anyone may take, out of `stored` physically held. Saturating: shutdown(immediate)
    /// can empty the store under claims still in flight.
    [[nodiscard]] size_t avail(size_t stored) const noexcept { return stored > claimed_ ? stored - claimed_ : 0; }
    /// Items claimed by woken getters still occupy their slots until taken (CPython: they are
    /// still in the deque), so they count: the store never holds more than maxsize items.
    [[nodiscard]] bool full(size_t stored) const noexcept {
        return maxsize_ != 0 && stored + reserved_ >= maxsize_;
    }

    /// Items became available while getters wait: claim them for the first getters and wake them.
    void claim_for_getters(size_t stored) noexcept;
    /// Slots became free while putters wait: reserve them for the first putters and wake them.
    void reserve_for_putters(size_t stored) noexcept;
    /// task_done(): throws std::invalid_argument when called more times than items were put.
    void task_done();
    /// shutdown(immediate) after an immediate drain of `drained` items: fixes unfinished_,
    /// then wakes every getter and putter (without claims or reservations).
    void shut_down(size_t drained) noexcept;
    [[noreturn]] void throw_empty() const;
    [[nodiscard]] QueueStats stats(size_t stored) const noexcept;
    void describe(std::string& out, const void* queue, const char* what, size_t stored) const;

    size_t maxsize_;
    size_t claimed_ = 0;     // items promised to woken getters (invariant: getters_ waiting => avail == 0)
    size_t reserved_ = 0;    // free slots promised to woken putters (putters_ waiting => full)
    size_t unfinished_ = 0;  // put and not task_done() yet
    bool shutdown_ = false;
    WaiterList getters_;
    WaiterList putters_;
    WaiterList joiners_;
    WaiterList inflight_;  // woken, not resumed yet: getters, putters and joiners
};

/// The awaiter of join().
class QueueJoin final : public SyncWaiter {
public:
    QueueJoin(QueueCore& c, const void* queue) noexcept : core_(&c), queue_(queue) {}
    QueueJoin(const QueueJoin& o) noexcept : SyncWaiter(o), core_(o.core_), queue_(o.queue_) {}
    bool await_ready() const noexcept { return core_->unfinished_ == 0; }
    void await_suspend(std::coroutine_handle<> h) { suspend_on(core_->joiners_, h); }
    void await_resume() {
        if (state_ != State::idle) [[unlikely]] resumed_slow();
    }
    void describe(std::string& out) const override;

private:
    void resumed_slow();
    QueueCore* core_;
    const void* queue_;  // for describe()
};

/// Memory for a FIFO store's large blocks: kBigBlock bytes, kBigBlock-aligned, advised as
/// transparent huge pages (queue.cpp). On a VM a 4 KiB page fault costs microseconds: a queue
/// holding a million items would spend more time faulting its memory in than moving the items.
inline constexpr size_t kBigBlock = size_t{2} << 20;
void* alloc_big_block();
void free_big_block(void* p) noexcept;

/// A FIFO store: a chain of blocks (CPython's deque does the same). Growing never moves items
/// (no O(n) copy, no latency spike), and memory goes back block by block as items leave. Blocks
/// are 1 KB, from the core's per-thread frame pool (a queue that fills and drains repeatedly
/// touches no fresh memory); a queue that grows past 64 of them continues in 2 MiB blocks.
template <class T>
class FifoStore {
public:
    FifoStore() = default;
    FifoStore(const FifoStore&) = delete;
    FifoStore& operator=(const FifoStore&) = delete;
    ~FifoStore() {
        clear();
        free_block(head_);
        free_block(spare_);
    }
    [[nodiscard]] size_t size() const noexcept { return size_; }
    void push(T&& v) {
        if (tail_i_ == tail_cap_) [[unlikely]] add_block();
        ::new (static_cast<void*>(tail_->slot(tail_i_))) T(std::move(v));
        ++tail_i_;
        ++size_;
    }
    /// The next item out (the oldest).
    T pop() {
        T* p = head_->slot(head_i_);
        T v(std::move(*p));
        p->~T();
        after_pop();
        return v;
    }
    void clear() noexcept {
        while (size_ > 0) {
            head_->slot(head_i_)->~T();
            after_pop();
        }
    }

private:
    struct Block {
        Block* next;
        size_t cap;  // items it holds
        static constexpr size_t kItems = (sizeof(Block*) + sizeof(size_t) + alignof(T) - 1) / alignof(T) * alignof(T);
        T* slot(size_t i) noexcept {
            return std::launder(reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(this) + kItems + i * sizeof(T)));
        }
    };
    // A small block fits the frame pool's largest size class (1008 bytes) unless T is large.
    static constexpr size_t kPoolMax = 1008;
    static constexpr size_t kFit = (kPoolMax - Block::kItems) / sizeof(T);
    static constexpr size_t kSmallCap = kFit >= 4 ? kFit : 4;
    static constexpr size_t kSmallBytes = Block::kItems + kSmallCap * sizeof(T);
    static constexpr bool kPooled = kSmallBytes <= kPoolMax && alignof(T) <= 16;
    static constexpr size_t kBigCap = (kBigBlock - Block::kItems) / sizeof(T);
    // Past this many items a queue is large: its next blocks are big ones.
    static constexpr size_t kGoBig = 64 * kSmallCap;
    static constexpr bool kHasBig = alignof(T) <= 16 && kBigCap >= 8 * kSmallCap;

    Block* new_block(bool big) {
        void* p;
        if (big) p = alloc_big_block();
        else if constexpr (kPooled) p = frame_alloc(kSmallBytes);
        else p = ::operator new(kSmallBytes, std::align_val_t(alignof(Block) > alignof(T) ? alignof(Block) : alignof(T)));
        Block* b = ::new (p) Block;
        b->next = nullptr;
        b->cap = big ? kBigCap : kSmallCap;
        return b;
    }
    static void free_block(Block* b) noexcept {
        if (!b) return;
        if (b->cap != kSmallCap) free_big_block(b);
        else if constexpr (kPooled) frame_free(b, kSmallBytes);
        else ::operator delete(b, std::align_val_t(alignof(Block) > alignof(T) ? alignof(Block) : alignof(T)));
    }
    void add_block() {
        Block* b;
        if (kHasBig && size_ >= kGoBig) b = new_block(true);
        else if (spare_) b = std::exchange(spare_, nullptr);
        else b = new_block(false);
        b->next = nullptr;
        if (tail_) tail_->next = b;
        else head_ = b;
        tail_ = b;
        tail_i_ = 0;
        tail_cap_ = b->cap;
    }
    void after_pop() noexcept {
        // Empty: the last item was in tail_, so head_ == tail_; start the block over.
        if (--size_ == 0) head_i_ = tail_i_ = 0;
        else if (++head_i_ == head_->cap) [[unlikely]] next_block();
    }
    // The head block is used up: recycle it, keeping one small spare so that a queue hovering
    // around a block boundary does not allocate on every item.
    void next_block() noexcept {
        Block* old = head_;
        head_ = head_->next;
        head_i_ = 0;
        if (!spare_ && old->cap == kSmallCap) spare_ = old;
        else free_block(old);
    }

    // The counters are kept apart: side by side, g++ updates two of them with one 16-byte store,
    // and the next 8-byte update of either then stalls store forwarding (3x slower put/get pairs).
    size_t size_ = 0;
    Block* head_ = nullptr;  // oldest items; null until the first push
    size_t head_i_ = 0;      // next item out, in head_
    Block* spare_ = nullptr;
    Block* tail_ = nullptr;  // where pushes go
    size_t tail_i_ = 0;      // next free slot, in tail_
    size_t tail_cap_ = 0;    // tail_->cap (0 before the first push: the first push adds a block)
};

/// A LIFO store (asyncio.LifoQueue): the next item out is the newest.
template <class T>
class LifoStore {
public:
    [[nodiscard]] size_t size() const noexcept { return v_.size(); }
    void push(T&& v) { v_.push_back(std::move(v)); }
    T pop() {
        T v(std::move(v_.back()));
        v_.pop_back();
        return v;
    }
    void clear() noexcept { v_.clear(); }

private:
    std::vector<T> v_;
};

/// A binary min-heap store (asyncio.PriorityQueue, heapq): the next item out is the smallest
/// by `Compare`.
template <class T, class Compare>
class HeapStore {
public:
    explicit HeapStore(Compare cmp = Compare()) : cmp_(std::move(cmp)) {}
    [[nodiscard]] size_t size() const noexcept { return v_.size(); }
    void push(T&& v) {
        v_.push_back(std::move(v));
        std::push_heap(v_.begin(), v_.end(), Greater{&cmp_});
    }
    T pop() {
        std::pop_heap(v_.begin(), v_.end(), Greater{&cmp_});
        T v(std::move(v_.back()));
        v_.pop_back();
        return v;
    }
    void clear() noexcept { v_.clear(); }

private:
    // std::push_heap builds a max-heap; reversing the comparison makes it a min-heap.
    struct Greater {
        Compare* cmp;
        bool operator()(const T& a, const T& b) const { return (*cmp)(b, a); }
    };
    std::vector<T> v_;
    Compare cmp_;
};

template <class Q>
class QueueGet;
template <class Q>
class QueuePut;

/// What Queue, LifoQueue and PriorityQueue share; they differ only in their Store.
template <class T, class Store>
class BasicQueue {
public:
    using value_type = T;

    BasicQueue(const BasicQueue&) = delete;
    BasicQueue& operator=(const BasicQueue&) = delete;

    /// `T x = co_await q.get();` — Python `await q.get()`. Takes an item at once if one is
    /// available; otherwise waits (FIFO among getters) and resumes on the loop iteration after the
    /// put that gave it an item. Throws QueueShutDown once the queue is shut down and empty (at
    /// once after shutdown(immediate = true)).
    /// Cancel safety: a cancelled get() never loses an item. An item claimed for it before the
    /// cancellation arrived stays in the queue and goes to the next getter.
    [[nodiscard]] QueueGet<BasicQueue> get() noexcept { return QueueGet<BasicQueue>(*this); }
    /// `co_await q.put(x);` — Python `await q.put(x)`. Inserts at once unless the queue is full;
    /// otherwise waits (FIFO among putters) and resumes on the loop iteration after the get that
    /// freed a slot, inserting the item then. Throws QueueShutDown if the queue is, or gets, shut
    /// down before the item is in.
    /// Cancel safety: a cancelled put() never inserts its item (the item dies with the awaiter);
    /// a slot reserved for it goes to the next putter.
    [[nodiscard]] QueuePut<BasicQueue> put(T item) { return QueuePut<BasicQueue>(*this, std::move(item)); }
    /// Python `q.get_nowait()`: an item, or QueueEmpty (QueueShutDown if shut down and empty).
    T get_nowait() {
        if (core_.avail(store_.size()) == 0) [[unlikely]] core_.throw_empty();
        return take();
    }
    /// Python `q.put_nowait(x)`: inserts, or throws QueueFull / QueueShutDown (nothing inserted).
    void put_nowait(T item) {
        if (core_.shutdown_) [[unlikely]] throw QueueShutDown();
        if (core_.full(store_.size())) [[unlikely]] throw QueueFull();
        insert(std::move(item));
    }
    /// Python `q.qsize()`: items a get() could take now (items already claimed by woken getters
    /// are not counted: they are theirs).
    [[nodiscard]] size_t qsize() const noexcept { return core_.avail(store_.size()); }
    /// Python `q.maxsize` (0: unbounded).
    [[nodiscard]] size_t maxsize() const noexcept { return core_.maxsize_; }
    /// Python `q.empty()`.
    [[nodiscard]] bool empty() const noexcept { return qsize() == 0; }
    /// Python `q.full()`: a put would wait (slots reserved for woken putters count as taken).
    [[nodiscard]] bool full() const noexcept { return core_.full(store_.size()); }
    /// Python `q.task_done()`: one put item is processed. Throws std::invalid_argument (Python:
    /// ValueError) when called more times than items were put; the count is unchanged.
    void task_done() { core_.task_done(); }
    /// `co_await q.join()` — Python `await q.join()`: waits until every item put has been
    /// task_done(); returns at once if none is unfinished. Resumes on the iteration after the
    /// task_done() (or shutdown(immediate)) that brought the count to zero.
    /// Cancel safety: consumes nothing.
    [[nodiscard]] QueueJoin join() noexcept { return QueueJoin(core_, this); }
    /// Python 3.13 `q.shutdown(immediate=False)`: put() and put_nowait() throw QueueShutDown from
    /// now on, and tasks waiting in put() wake up with it. get() goes on returning the items left,
    /// then throws QueueShutDown. With immediate = true the items left are dropped (each counts as
    /// task_done(), which may release join()) and waiting getters get QueueShutDown too.
    void shutdown(bool immediate = false) {
        size_t drained = 0;
        if (immediate) {
            drained = store_.size();
            store_.clear();
        }
        core_.shutdown_ = true;
        core_.shut_down(drained);
    }
    /// True after shutdown() (Python keeps this private, as `_is_shutdown`).
    [[nodiscard]] bool is_shutdown() const noexcept { return core_.shutdown_; }
    /// aiocpp only (no Python counterpart): a snapshot for inspecting a stuck program.
    [[nodiscard]] QueueStats stats() const noexcept { return core_.stats(store_.size()); }

protected:
    template <class... StoreArgs>
    explicit BasicQueue(size_t maxsize, StoreArgs&&... store_args)
        : store_(std::forward<StoreArgs>(store_args)...), core_(maxsize) {}
    ~BasicQueue() = default;

private:
    friend class QueueGet<BasicQueue>;
    friend class QueuePut<BasicQueue>;

    T take() {
        T item = store_.pop();
        if (!core_.putters_.empty()) [[unlikely]] core_.reserve_for_putters(store_.size());
        return item;
    }
    void insert(T&& item) {
        store_.push(std::move(item));
        ++core_.unfinished_;
        if (!core_.getters_.empty()) [[unlikely]] core_.claim_for_getters(store_.size());
    }

    Store store_;
    QueueCore core_;
};

/// The awaiter of get().
template <class Q>
class QueueGet final : public SyncWaiter {
public:
    using T = typename Q::value_type;
    explicit QueueGet(Q& q) noexcept : q_(&q) {}
    QueueGet(const QueueGet& o) noexcept : SyncWaiter(o), q_(o.q_) {}
    ~QueueGet() {
        // Woken with a claim, then destroyed without resuming (a closing loop freed the frame).
        if (state_ == State::woken && granted_ && linked()) {
            leave();
            drop_claim();
        }
    }

    bool await_ready() const noexcept { return q_->core_.avail(q_->store_.size()) > 0 || q_->core_.shutdown_; }
    void await_suspend(std::coroutine_handle<> h) { suspend_on(q_->core_.getters_, h); }
    T await_resume() {
        if (state_ == State::idle) [[likely]] {
            // await_ready saw an item (or a shutdown) an instant ago, and nothing ran since.
            if (q_->core_.avail(q_->store_.size()) == 0) [[unlikely]] q_->core_.throw_empty();
            return q_->take();
        }
        return resumed_slow();
    }
    void describe(std::string& out) const override {
        if (!linked()) out += "waiting in get() of a queue that was destroyed";
        else q_->core_.describe(out, q_, "get", q_->store_.size());
    }

private:
    void drop_claim() noexcept {
        QueueCore& c = q_->core_;
        --c.claimed_;
        if (!c.getters_.empty()) c.claim_for_getters(q_->store_.size());
    }
    T resumed_slow() {
        TaskCore& t = *task_;
        if (!end_wait()) throw_destroyed("the queue was destroyed while this task was waiting in get()");
        if (!granted_) {
            // Woken by shutdown(): nothing was claimed for us.
            t.throw_if_must_cancel();
            return q_->get_nowait();
        }
        granted_ = false;
        if (t.must_cancel_) {
            drop_claim();  // the item stays in the queue, for the next getter
            t.deliver_cancel();
        }
        --q_->core_.claimed_;
        if (q_->store_.size() == 0) throw QueueShutDown();  // drained by shutdown(immediate = true)
        return q_->take();
    }
    Q* q_;
};

/// The awaiter of put(): holds the item until it is in.
template <class Q>
class QueuePut final : public SyncWaiter {
public:
    using T = typename Q::value_type;
    QueuePut(Q& q, T item) : q_(&q), item_(std::move(item)) {}
    QueuePut(const QueuePut& o) requires std::is_copy_constructible_v<T> : SyncWaiter(o), q_(o.q_), item_(o.item_) {}
    QueuePut(QueuePut&& o) noexcept(std::is_nothrow_move_constructible_v<T>)
        : SyncWaiter(o), q_(o.q_), item_(std::move(o.item_)) {}
    ~QueuePut() {
        if (state_ == State::woken && granted_ && linked()) {
            leave();
            drop_reservation();
        }
    }

    bool await_ready() const noexcept { return q_->core_.shutdown_ || !q_->core_.full(q_->store_.size()); }
    void await_suspend(std::coroutine_handle<> h) { suspend_on(q_->core_.putters_, h); }
    void await_resume() {
        if (state_ == State::idle) [[likely]] {
            // await_ready saw room (or a shutdown) an instant ago, and nothing ran since.
            if (q_->core_.shutdown_) [[unlikely]] throw QueueShutDown();
            q_->insert(std::move(item_));
            return;
        }
        resumed_slow();
    }
    void describe(std::string& out) const override {
        if (!linked()) out += "waiting in put() of a queue that was destroyed";
        else q_->core_.describe(out, q_, "put", q_->store_.size());
    }

private:
    void drop_reservation() noexcept {
        QueueCore& c = q_->core_;
        --c.reserved_;
        if (!c.putters_.empty()) c.reserve_for_putters(q_->store_.size());
    }
    void resumed_slow() {
        TaskCore& t = *task_;
        if (!end_wait()) throw_destroyed("the queue was destroyed while this task was waiting in put()");
        if (!granted_) {
            t.throw_if_must_cancel();
            throw QueueShutDown();  // woken by shutdown()
        }
        granted_ = false;
        if (t.must_cancel_ || q_->core_.shutdown_) {
            drop_reservation();
            t.throw_if_must_cancel();
            throw QueueShutDown();
        }
        --q_->core_.reserved_;
        try {
            q_->insert(std::move(item_));  // the slot was reserved: no full() check
        } catch (...) {
            // Out of memory: the item is not in; the slot goes to the next putter.
            if (!q_->core_.putters_.empty()) q_->core_.reserve_for_putters(q_->store_.size());
            throw;
        }
    }
    Q* q_;
    T item_;
};

}  // namespace detail

/// asyncio.Queue(maxsize=0): FIFO, typed. `maxsize` 0 means unbounded. Belongs to one event loop
/// at a time; not thread-safe. Non-copyable, non-movable (waiting tasks point to it). The item
/// type must be move-constructible. See BasicQueue for every method.
template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoStore<T>> {
public:
    explicit Queue(size_t maxsize = 0) : detail::BasicQueue<T, detail::FifoStore<T>>(maxsize) {}
};

/// asyncio.LifoQueue(maxsize=0): the last item put is the first out.
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoStore<T>> {
public:
    explicit LifoQueue(size_t maxsize = 0) : detail::BasicQueue<T, detail::LifoStore<T>>(maxsize) {}
};

/// asyncio.PriorityQueue(maxsize=0): the smallest item by `Compare` is the first out (Python's
/// heapq order; Python's `(priority, data)` tuples become std::pair or std::tuple). Like heapq,
/// the order of equal items is unspecified.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::HeapStore<T, Compare>> {
public:
    explicit PriorityQueue(size_t maxsize = 0, Compare compare = Compare())
        : detail::BasicQueue<T, detail::HeapStore<T, Compare>>(maxsize, std::move(compare)) {}
};

}  // namespace aio
