// The lock-order graph behind aio/threads/deadlock.hpp. Everything is under one mutex: this is
// a debugging aid, run only when enabled, and correctness of the report matters more than speed.
#include "aio/threads/deadlock.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aio/core/log.hpp"
#include "aio/threads/errors.hpp"
#include "aio/threads/thread.hpp"

namespace aio::threading {

namespace detail {
// Constant-initialised (before any dynamic initialiser, such as g_env_applied below, runs).
constinit std::atomic<bool> g_deadlock_detection{
#ifdef NDEBUG
    false
#else
    true
#endif
};
}  // namespace detail

namespace {

using aio::detail::SourceLoc;

struct HeldLock {
    const void* id;
    std::string name;
    SourceLoc where;
};
struct Edge {  // the first time some thread took `to` while holding `from`
    std::string thread;
    std::string from_name, to_name;
    SourceLoc from_site, to_site;
};

struct Detector {
    std::mutex mu;
    std::unordered_map<std::thread::id, std::vector<HeldLock>> held;
    std::unordered_map<const void*, std::unordered_map<const void*, Edge>> edges;
    std::set<std::pair<const void*, const void*>> reported;
    std::atomic<DeadlockAction> action{DeadlockAction::raise};
};

Detector& det() {
    static Detector* d = new Detector();  // never destroyed: locks may be used during static destruction
    return *d;
}

// AIO_DEADLOCK_DETECTION=0/1 overrides the build's default, once, at start-up.
const bool g_env_applied = [] {
    if (const char* e = std::getenv("AIO_DEADLOCK_DETECTION"); e && *e)
        detail::g_deadlock_detection.store(std::strcmp(e, "0") != 0, std::memory_order_relaxed);
    return true;
}();

std::string lock_name(const void* id, const std::string* name) {
    if (name && !name->empty()) return "'" + *name + "'";
    char buf[48];
    std::snprintf(buf, sizeof buf, "Lock@%p", id);
    return buf;
}

std::string site(const SourceLoc& s) {
    std::string out = s.function && *s.function ? s.function : "?";
    out += " (";
    out += s.file ? s.file : "?";
    if (s.line) {
        // Appended piecewise: g++ 12 -O2 flags `":" + std::to_string(n)` with a false -Wrestrict.
        out += ':';
        out += std::to_string(s.line);
    }
    out += ")";
    return out;
}

/// A path from -> ... -> to in the order graph (breadth first: the shortest), or empty.
std::vector<const Edge*> find_path(Detector& d, const void* from, const void* to) {
    std::unordered_map<const void*, std::pair<const void*, const Edge*>> came_from;
    std::deque<const void*> queue{from};
    came_from[from] = {nullptr, nullptr};
    while (!queue.empty()) {
        const void* n = queue.front();
        queue.pop_front();
        auto it = d.edges.find(n);
        if (it == d.edges.end()) continue;
        for (auto& [next, edge] : it->second) {
            if (came_from.count(next)) continue;
            came_from[next] = {n, &edge};
            if (next == to) {
                std::vector<const Edge*> path;
                for (const void* c = to; c != from; c = came_from[c].first) path.insert(path.begin(), came_from[c].second);
                return path;
            }
            queue.push_back(next);
        }
    }
    return {};
}

[[noreturn]] void raise(std::string report) { throw DeadlockError(std::move(report)); }

void deliver(Detector& d, std::string report, std::unique_lock<std::mutex>& lk) {
    lk.unlock();
    if (d.action.load(std::memory_order_relaxed) == DeadlockAction::raise) raise(std::move(report));
    aio::log(LogLevel::error, report);
}

}  // namespace

void set_deadlock_detection(bool enabled) noexcept { detail::g_deadlock_detection.store(enabled, std::memory_order_relaxed); }
bool deadlock_detection_enabled() noexcept { return detail::detecting(); }
void set_deadlock_action(DeadlockAction action) noexcept { det().action.store(action, std::memory_order_relaxed); }

void reset_deadlock_detector() noexcept {
    Detector& d = det();
    std::lock_guard lk(d.mu);
    d.held.clear();
    d.edges.clear();
    d.reported.clear();
}

namespace detail {

void dl_before_acquire(const LockInfo& lock, const SourceLoc& where, bool can_hang) {
    (void)g_env_applied;
    Detector& d = det();
    std::unique_lock lk(d.mu);
    auto hit = d.held.find(std::this_thread::get_id());
    if (hit == d.held.end() || hit->second.empty()) return;  // holding nothing: no order to check
    const std::vector<HeldLock>& mine = hit->second;
    const std::string me = current_thread_name();
    const std::string wanted = lock_name(lock.id, lock.name);

    // A non-reentrant lock this thread already holds: acquiring it again blocks forever
    // (unless another thread releases it — which a lock used that way should not rely on).
    if (!lock.reentrant && can_hang) {
        for (const HeldLock& h : mine) {
            if (h.id != lock.id) continue;
            std::string r = "deadlock detector: thread '" + me + "' acquires non-reentrant lock " + wanted + " at " + site(where) +
                            ", but it already holds it (acquired at " + site(h.where) +
                            "): this would block forever. Use an RLock, or release it first.";
            deliver(d, std::move(r), lk);
            return;
        }
    }
    for (const HeldLock& h : mine) {
        if (h.id == lock.id) continue;  // reentrant re-acquisition
        // Someone took `lock` before (a chain to) `h`: now `h` is held and `lock` is wanted.
        std::vector<const Edge*> path = find_path(d, lock.id, h.id);
        if (!path.empty() && d.reported.insert({h.id, lock.id}).second) {
            std::string r = "deadlock detector: lock-order inversion (potential deadlock)\n  thread '" + me + "' holds lock " +
                            lock_name(h.id, &h.name) + " (acquired at " + site(h.where) + ")\n  and now acquires lock " +
                            wanted + " at " + site(where) + ",\n  but the opposite order was seen before:";
            for (const Edge* e : path)
                r += "\n    thread '" + e->thread + "' acquired lock " + e->to_name + " at " + site(e->to_site) +
                     " while holding lock " + e->from_name + " (acquired at " + site(e->from_site) + ")";
            r += "\n  Two threads taking these locks in opposite orders at the same time deadlock: take them in one order.";
            deliver(d, std::move(r), lk);
            return;
        }
    }
    // No problem: remember this order (before blocking, so that a thread about to deadlock
    // against us finds the edge).
    for (const HeldLock& h : mine) {
        if (h.id == lock.id) continue;
        auto& out = d.edges[h.id];
        if (!out.count(lock.id)) out.emplace(lock.id, Edge{me, lock_name(h.id, &h.name), wanted, h.where, where});
    }
}

void dl_acquired(const LockInfo& lock, const SourceLoc& where) noexcept {
    Detector& d = det();
    try {
        std::lock_guard lk(d.mu);
        d.held[std::this_thread::get_id()].push_back(HeldLock{lock.id, lock.name ? *lock.name : std::string(), where});
    } catch (...) {
    }
}

void dl_released(const void* id) noexcept {
    Detector& d = det();
    std::lock_guard lk(d.mu);
    auto drop = [&](std::vector<HeldLock>& v) {
        for (auto it = v.rbegin(); it != v.rend(); ++it)
            if (it->id == id) {
                v.erase(std::next(it).base());
                return true;
            }
        return false;
    };
    auto mine = d.held.find(std::this_thread::get_id());
    if (mine != d.held.end() && drop(mine->second)) {
        if (mine->second.empty()) d.held.erase(mine);
        return;
    }
    // A Lock released by another thread than the one that acquired it.
    for (auto it = d.held.begin(); it != d.held.end(); ++it)
        if (drop(it->second)) {
            if (it->second.empty()) d.held.erase(it);
            return;
        }
}

void dl_forget(const void* id) noexcept {
    Detector& d = det();
    std::lock_guard lk(d.mu);
    d.edges.erase(id);
    for (auto& [from, out] : d.edges) out.erase(id);
    for (auto it = d.reported.begin(); it != d.reported.end();)
        it = (it->first == id || it->second == id) ? d.reported.erase(it) : std::next(it);
}

}  // namespace detail
}  // namespace aio::threading
