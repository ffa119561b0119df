// The loop's two hot data structures: a FIFO ring of ready work and an indexed timer heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "aio/detail/core.hpp"

namespace aio::detail {

/// FIFO of Runnables. A power-of-two ring that only grows: call_soon order is preserved and a
/// push is a store and an increment.
class ReadyQueue {
public:
    ReadyQueue() { buf_ = static_cast<Runnable**>(std::malloc(sizeof(Runnable*) * cap_)); if (!buf_) throw std::bad_alloc(); }
    ReadyQueue(const ReadyQueue&) = delete;
    ReadyQueue& operator=(const ReadyQueue&) = delete;
    ~ReadyQueue() { std::free(buf_); }

    void push(Runnable* r) {
        if (tail_ - head_ == cap_) [[unlikely]] grow();
        buf_[tail_++ & (cap_ - 1)] = r;
    }
    Runnable* pop() noexcept { return buf_[head_++ & (cap_ - 1)]; }
    [[nodiscard]] size_t size() const noexcept { return tail_ - head_; }
    [[nodiscard]] bool empty() const noexcept { return tail_ == head_; }

private:
    void grow() {
        size_t ncap = cap_ * 2;
        auto* nb = static_cast<Runnable**>(std::malloc(sizeof(Runnable*) * ncap));
        if (!nb) throw std::bad_alloc();
        for (size_t i = 0, n = size(); i < n; ++i) nb[i] = buf_[(head_ + i) & (cap_ - 1)];
        tail_ = size();
        head_ = 0;
        std::free(buf_);
        buf_ = nb;
        cap_ = ncap;
    }
    Runnable** buf_;
    size_t cap_ = 256;
    size_t head_ = 0;
    size_t tail_ = 0;
};

/// Min-heap of timers keyed by (when, seq). Each node knows its index, so removal is
/// O(log n) and needs no tombstones (asyncio keeps cancelled TimerHandles until they surface).
class TimerHeap {
public:
    void push(TimerNode* n) {
        n->seq = next_seq_++;
        n->heap_index = static_cast<uint32_t>(v_.size());
        v_.push_back(n);
        sift_up(n->heap_index);
    }
    [[nodiscard]] TimerNode* top() const noexcept { return v_.empty() ? nullptr : v_.front(); }
    [[nodiscard]] bool empty() const noexcept { return v_.empty(); }
    [[nodiscard]] size_t size() const noexcept { return v_.size(); }
    void remove(TimerNode* n) noexcept {
        uint32_t i = n->heap_index;
        n->heap_index = TimerNode::npos;
        TimerNode* last = v_.back();
        v_.pop_back();
        if (last == n) return;
        v_[i] = last;
        last->heap_index = i;
        if (i > 0 && less(last, v_[(i - 1) / 2])) sift_up(i); else sift_down(i);
    }
    TimerNode* pop() noexcept {
        TimerNode* n = v_.front();
        remove(n);
        return n;
    }
    [[nodiscard]] const std::vector<TimerNode*>& nodes() const noexcept { return v_; }

private:
    static bool less(const TimerNode* a, const TimerNode* b) noexcept {
        return a->when < b->when || (a->when == b->when && a->seq < b->seq);
    }
    void sift_up(uint32_t i) noexcept {
        TimerNode* n = v_[i];
        while (i > 0) {
            uint32_t p = (i - 1) / 2;
            if (!less(n, v_[p])) break;
            v_[i] = v_[p];
            v_[i]->heap_index = i;
            i = p;
        }
        v_[i] = n;
        n->heap_index = i;
    }
    void sift_down(uint32_t i) noexcept {
        const uint32_t sz = static_cast<uint32_t>(v_.size());
        TimerNode* n = v_[i];
        for (;;) {
            uint32_t c = 2 * i + 1;
            if (c >= sz) break;
            if (c + 1 < sz && less(v_[c + 1], v_[c])) ++c;
            if (!less(v_[c], n)) break;
            v_[i] = v_[c];
            v_[i]->heap_index = i;
            i = c;
        }
        v_[i] = n;
        n->heap_index = i;
    }
    std::vector<TimerNode*> v_;
    uint64_t next_seq_ = 0;
};

}  // namespace aio::detail
