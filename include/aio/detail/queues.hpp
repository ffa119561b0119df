// The loop's two hot data structures: a FIFO ring of ready work and an indexed timer heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "aio/detail/core.hpp"

namespace aio::detail {

/// FIFO of ready work: task steps and callbacks. A task is stored as its pointer with the low
/// bit set (tasks need no function pointer of their own); anything else is a Runnable.
/// A power-of-two ring that only grows: call_soon order is preserved and a push is a store.
class ReadyQueue {
public:
    ReadyQueue() {
        buf_ = static_cast<uintptr_t*>(std::malloc(sizeof(uintptr_t) * cap_));
        if (!buf_) throw std::bad_alloc();
    }
    ReadyQueue(const ReadyQueue&) = delete;
    ReadyQueue& operator=(const ReadyQueue&) = delete;
    ~ReadyQueue() { std::free(buf_); }

    void push(Runnable* r) { push_raw(reinterpret_cast<uintptr_t>(r)); }
    void push_task(TaskCore* t) { push_raw(reinterpret_cast<uintptr_t>(t) | 1u); }
    /// "Schedule this task when you get here": one extra hop, as when Python's timer callback
    /// sets a future and the task's wake-up is scheduled by call_soon.
    void push_deferred_wake(TaskCore* t) { push_raw(reinterpret_cast<uintptr_t>(t) | 3u); }
    uintptr_t pop() noexcept { return buf_[head_++ & (cap_ - 1)]; }
    static bool is_task(uintptr_t v) noexcept { return v & 1u; }
    static bool is_deferred_wake(uintptr_t v) noexcept { return v & 2u; }
    static TaskCore* as_task(uintptr_t v) noexcept { return reinterpret_cast<TaskCore*>(v & ~uintptr_t{3}); }
    static Runnable* as_runnable(uintptr_t v) noexcept { return reinterpret_cast<Runnable*>(v); }
    [[nodiscard]] size_t size() const noexcept { return tail_ - head_; }
    [[nodiscard]] bool empty() const noexcept { return tail_ == head_; }
    /// After a burst (a million tasks created in one step) the ring would keep its peak size for
    /// good; give the memory back once it is empty again.
    void shrink_if_idle() noexcept {
        if (cap_ <= kShrinkAbove || !empty()) return;
        if (auto* nb = static_cast<uintptr_t*>(std::malloc(sizeof(uintptr_t) * kInitialCap))) {
            std::free(buf_);
            buf_ = nb;
            cap_ = kInitialCap;
            head_ = tail_ = 0;
        }
    }

private:
    static constexpr size_t kInitialCap = 256;
    static constexpr size_t kShrinkAbove = 64 * 1024;
    void push_raw(uintptr_t v) {
        if (tail_ - head_ == cap_) [[unlikely]] grow();
        buf_[tail_++ & (cap_ - 1)] = v;
    }
    void grow() {
        size_t ncap = cap_ * 2;
        auto* nb = static_cast<uintptr_t*>(std::malloc(sizeof(uintptr_t) * ncap));
        if (!nb) throw std::bad_alloc();
        for (size_t i = 0, n = size(); i < n; ++i) nb[i] = buf_[(head_ + i) & (cap_ - 1)];
        tail_ = size();
        head_ = 0;
        std::free(buf_);
        buf_ = nb;
        cap_ = ncap;
    }
    uintptr_t* buf_;
    size_t cap_ = kInitialCap;
    size_t head_ = 0;
    size_t tail_ = 0;
};

/// Min-heap of timers keyed by (when, seq), 4-ary, with the deadlines stored in the array so
/// that sifting compares within a cache line instead of chasing node pointers. Each node knows its
/// index, so removal is O(log n) and needs no tombstones (asyncio keeps cancelled TimerHandles
/// until they surface).
class TimerHeap {
public:
    void push(TimerNode* n) {
        n->seq = next_seq_++;
        v_.push_back(Entry{n->when, n});
        sift_up(static_cast<uint32_t>(v_.size() - 1));
    }
    [[nodiscard]] TimerNode* top() const noexcept { return v_.empty() ? nullptr : v_.front().node; }
    [[nodiscard]] int64_t top_when() const noexcept { return v_.front().when; }
    [[nodiscard]] bool empty() const noexcept { return v_.empty(); }
    [[nodiscard]] size_t size() const noexcept { return v_.size(); }
    void remove(TimerNode* n) noexcept {
        uint32_t i = n->heap_index;
        n->heap_index = TimerNode::npos;
        Entry last = v_.back();
        v_.pop_back();
        if (i == v_.size()) return;  // it was the last entry
        v_[i] = last;
        last.node->heap_index = i;
        if (i > 0 && less(last, v_[(i - 1) / 4])) sift_up(i); else sift_down(i);
    }
    /// Removes the earliest timer. Floyd's bottom-up pop: walk the hole down to a leaf along the
    /// smallest children (comparing children only), then sift the last entry up from there —
    /// it usually belongs near the bottom, so that costs little.
    TimerNode* pop() noexcept {
        TimerNode* n = v_.front().node;
        n->heap_index = TimerNode::npos;
        Entry last = v_.back();
        v_.pop_back();
        const uint32_t sz = static_cast<uint32_t>(v_.size());
        if (sz == 0) return n;
        uint32_t i = 0;
        for (;;) {
            const uint32_t best = min_child(i, sz);
            if (best == 0) break;
            v_[i] = v_[best];
            v_[i].node->heap_index = i;
            i = best;
        }
        v_[i] = last;
        last.node->heap_index = i;
        sift_up(i);
        return n;
    }

private:
    struct Entry {  // 16 bytes: four children share a cache line
        int64_t when;
        TimerNode* node;
    };
    // Equal deadlines (common on the virtual clock) fall back to the node's sequence number.
    static bool less(const Entry& a, const Entry& b) noexcept {
        return a.when < b.when || (a.when == b.when && a.node->seq < b.node->seq);
    }
    /// The smallest of i's (up to four) children, or 0 when i is a leaf.
    uint32_t min_child(uint32_t i, uint32_t sz) const noexcept {
        const uint32_t c = 4 * i + 1;
        if (c >= sz) return 0;
        uint32_t best = c;
        const uint32_t end = c + 4 < sz ? c + 4 : sz;
        for (uint32_t k = c + 1; k < end; ++k)
            if (less(v_[k], v_[best])) best = k;
        return best;
    }
    void sift_up(uint32_t i) noexcept {
        Entry e = v_[i];
        while (i > 0) {
            uint32_t p = (i - 1) / 4;
            if (!less(e, v_[p])) break;
            v_[i] = v_[p];
            v_[i].node->heap_index = i;
            i = p;
        }
        v_[i] = e;
        e.node->heap_index = i;
    }
    void sift_down(uint32_t i) noexcept {
        const uint32_t sz = static_cast<uint32_t>(v_.size());
        Entry e = v_[i];
        for (;;) {
            const uint32_t best = min_child(i, sz);
            if (best == 0 || !less(v_[best], e)) break;
            v_[i] = v_[best];
            v_[i].node->heap_index = i;
            i = best;
        }
        v_[i] = e;
        e.node->heap_index = i;
    }
    std::vector<Entry> v_;
    uint64_t next_seq_ = 0;
};

}  // namespace aio::detail
