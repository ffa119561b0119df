// The process-shared ring behind aio::mp::Queue. See aio/mp/queue.hpp.
//
// Layout: a header of process-shared robust mutexes and condition variables, then the ring.
// `head` and `tail` count bytes ever written and read, so the ring's fill is head - tail with no
// wrap-around special case. An item is a 64-bit length and its bytes. One writer streams an
// item at a time (wlock) and one reader consumes one at a time (rlock); `mu` guards the counters
// and is held only to copy one piece, never while waiting for the other side.
//
// Timeouts are honoured only before an item is begun: a put waits until the whole item fits (or,
// for an item larger than the ring, until the ring is empty) and a get until an item has begun,
// so that a timeout never leaves half an item behind.
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

#include "aio/mp/queue.hpp"

namespace aio::mp::detail {

struct RingShared {
    pthread_mutex_t mu;
    pthread_mutex_t wlock;
    pthread_mutex_t rlock;
    pthread_cond_t changed;  // any counter moved: readers and writers re-check
    uint64_t capacity;
    uint64_t maxsize;
    uint64_t head;            // bytes written
    uint64_t tail;            // bytes read
    uint64_t items_begun;     // items whose put has begun
    uint64_t items_done;      // items whose get has finished
    pid_t writer;             // the process streaming an item now, 0 if none
    pid_t reader;
    int broken;               // a process died mid-item: nothing can be trusted
    char data[1];
};

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const char* what, int err) {
    throw ProcessError(std::string("Queue: ") + what + ": " + std::strerror(err));
}

timespec to_monotonic(const Clock::time_point& t) {
    // steady_clock is CLOCK_MONOTONIC on Linux (libstdc++), so its epoch is the clock's.
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    return ts;
}

[[noreturn]] void throw_broken() {
    throw ProcessError("Queue: a process died in the middle of putting or getting an item; the queue is broken");
}

/// A zombie is dead too (kill(pid, 0) still succeeds for it): its state in /proc says so.
bool pid_alive(pid_t p) {
    if (p == 0) return true;
    if (::kill(p, 0) != 0 && errno == ESRCH) return false;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(p));
    FILE* f = std::fopen(path, "r");
    if (!f) return false;
    char buf[512];
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    const char* close_paren = std::strrchr(buf, ')');
    if (!close_paren || close_paren[1] == '\0') return true;
    const char state = close_paren[2];
    return state != 'Z' && state != 'X';
}

/// Locks a robust mutex. A holder that died while holding `mu` left the counters consistent
/// (they move only after a piece is copied).
void lock_robust(pthread_mutex_t& m) {
    const int r = pthread_mutex_lock(&m);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&m);
    else if (r != 0) throw_errno("lock", r);
}

class Locked {
public:
    explicit Locked(pthread_mutex_t& m) : m_(m) { lock_robust(m); }
    ~Locked() { pthread_mutex_unlock(&m_); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

private:
    pthread_mutex_t& m_;
};

/// The writer's or the reader's lock (`owner` is s.writer or s.reader), taken within the
/// deadline. A holder that died after committing to an item (owner still set) left half of it
/// behind: the queue is broken. One that died while still waiting to begin left nothing.
class ItemLock {
public:
    ItemLock(pthread_mutex_t& m, RingShared& s, pid_t RingShared::*owner, bool block, const Clock::time_point* deadline)
        : m_(m) {
        int r;
        if (!block) {
            r = pthread_mutex_trylock(&m);
        } else if (deadline) {
            // timedlock on CLOCK_REALTIME, not clocklock: ThreadSanitizer does not intercept
            // pthread_mutex_clocklock and then reports false "unlock of an unlocked mutex".
            const auto left = *deadline - Clock::now();
            const auto real = std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(real.time_since_epoch()).count();
            timespec ts{};
            ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
            r = pthread_mutex_timedlock(&m, &ts);
        } else {
            r = pthread_mutex_lock(&m);
        }
        if (r == EBUSY || r == ETIMEDOUT) return;
        if (r == EOWNERDEAD) {
            pthread_mutex_consistent(&m);
            Locked g(s.mu);
            if (s.*owner != 0) s.broken = 1;
        } else if (r != 0) {
            throw_errno("lock", r);
        }
        held_ = true;
    }
    ~ItemLock() {
        if (held_) pthread_mutex_unlock(&m_);
    }
    ItemLock(const ItemLock&) = delete;
    ItemLock& operator=(const ItemLock&) = delete;
    [[nodiscard]] bool held() const noexcept { return held_; }

private:
    pthread_mutex_t& m_;
    bool held_ = false;
};

/// Waits on `changed` (mu held); false when the deadline passed. A slice of 50 ms lets a waiter
/// notice that the process it waits for has died.
bool wait_changed(RingShared& s, const Clock::time_point* deadline) {
    auto until = Clock::now() + std::chrono::milliseconds(50);
    if (deadline && *deadline < until) until = *deadline;
    const timespec ts = to_monotonic(until);
    const int r = pthread_cond_timedwait(&s.changed, &s.mu, &ts);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&s.mu);
    return !(deadline && Clock::now() >= *deadline);
}

void init_mutex(pthread_mutex_t& m) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);
    pthread_mutexattr_destroy(&a);
}

}  // namespace

SharedRing::SharedRing(size_t maxsize, size_t buffer_bytes) {
    if (buffer_bytes < 64) throw std::invalid_argument("Queue: buffer_bytes must be at least 64");
    map_bytes_ = offsetof(RingShared, data) + buffer_bytes;
    void* p = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_errno("mmap", errno);
    s_ = static_cast<RingShared*>(p);  // zero-filled by mmap
    init_mutex(s_->mu);
    init_mutex(s_->wlock);
    init_mutex(s_->rlock);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s_->changed, &ca);
    pthread_condattr_destroy(&ca);
    s_->capacity = buffer_bytes;
    s_->maxsize = maxsize;
}

SharedRing::~SharedRing() { ::munmap(s_, map_bytes_); }

size_t SharedRing::maxsize() const noexcept { return static_cast<size_t>(s_->maxsize); }
size_t SharedRing::buffer_bytes() const noexcept { return static_cast<size_t>(s_->capacity); }

size_t SharedRing::qsize() const {
    Locked g(s_->mu);
    if (s_->broken) throw_broken();
    return static_cast<size_t>(s_->items_begun - s_->items_done);
}

bool SharedRing::put(std::string_view item, bool block, const Clock::time_point* deadline) {
    RingShared& s = *s_;
    const uint64_t len = item.size();
    const uint64_t total = sizeof len + len;
    ItemLock w(s.wlock, s, &RingShared::writer, block, deadline);
    if (!w.held()) return false;
    {
        Locked g(s.mu);
        for (bool last = false;;) {
            if (s.broken) throw_broken();
            const bool slot = !s.maxsize || s.items_begun - s.items_done < s.maxsize;
            const uint64_t fill = s.head - s.tail;
            const bool room = total <= s.capacity ? s.capacity - fill >= total : fill == 0;
            if (slot && room) break;
            if (!block || last) return false;
            last = !wait_changed(s, deadline);  // one more look after the deadline
        }
        ++s.items_begun;
        s.writer = ::getpid();
        pthread_cond_broadcast(&s.changed);
    }
    // Committed: from here on the item is written whole, however long a reader takes.
    const char* parts[2] = {reinterpret_cast<const char*>(&len), item.data()};
    const uint64_t sizes[2] = {sizeof len, len};
    for (int part = 0; part < 2; ++part) {
        uint64_t off = 0;
        while (off < sizes[part]) {
            Locked g(s.mu);
            if (s.broken) throw_broken();
            const uint64_t free_bytes = s.capacity - (s.head - s.tail);
            if (free_bytes == 0) {
                if (!pid_alive(s.reader)) s.broken = 1;
                wait_changed(s, nullptr);
                continue;
            }
            uint64_t n = std::min(free_bytes, sizes[part] - off);
            const uint64_t pos = s.head % s.capacity;
            n = std::min(n, s.capacity - pos);  // up to the end of the ring; the rest next turn
            std::memcpy(s.data + pos, parts[part] + off, n);
            s.head += n;
            off += n;
            pthread_cond_broadcast(&s.changed);
        }
    }
    Locked g(s.mu);
    s.writer = 0;
    return true;
}

std::optional<std::string> SharedRing::get(bool block, const Clock::time_point* deadline) {
    RingShared& s = *s_;
    ItemLock rl(s.rlock, s, &RingShared::reader, block, deadline);
    if (!rl.held()) return std::nullopt;
    {
        Locked g(s.mu);
        for (bool last = false;;) {
            if (s.broken) throw_broken();
            if (s.items_begun > s.items_done) break;
            if (!block || last) return std::nullopt;
            last = !wait_changed(s, deadline);
        }
        s.reader = ::getpid();
    }
    auto read_piece = [&](char* out, uint64_t size) {
        uint64_t off = 0;
        while (off < size) {
            Locked g(s.mu);
            if (s.broken) throw_broken();
            const uint64_t avail = s.head - s.tail;
            if (avail == 0) {
                // The item has begun, so its writer owes us the rest — unless it died.
                if (!pid_alive(s.writer)) s.broken = 1;
                wait_changed(s, nullptr);
                continue;
            }
            uint64_t n = std::min(avail, size - off);
            const uint64_t pos = s.tail % s.capacity;
            n = std::min(n, s.capacity - pos);
            std::memcpy(out + off, s.data + pos, n);
            s.tail += n;
            off += n;
            pthread_cond_broadcast(&s.changed);
        }
    };
    uint64_t len = 0;
    read_piece(reinterpret_cast<char*>(&len), sizeof len);
    std::string out;
    try {
        out.resize(static_cast<size_t>(len));
    } catch (const std::bad_alloc&) {
        Locked g(s.mu);
        s.broken = 1;
        throw ProcessError("Queue.get: cannot allocate an item of " + std::to_string(len) + " bytes; the queue is broken");
    }
    read_piece(out.data(), len);
    Locked g(s.mu);
    ++s.items_done;
    s.reader = 0;
    pthread_cond_broadcast(&s.changed);
    return out;
}

}  // namespace aio::mp::detail
