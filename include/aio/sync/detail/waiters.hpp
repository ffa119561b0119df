// The waiter list every synchronisation primitive and queue is built on. Nothing here is public API.
//
// A task that must wait on a primitive parks an awaiter (a SyncWaiter, inside its own coroutine
// frame) on one of the primitive's intrusive FIFO lists: no allocation per wait. Each primitive
// keeps two kinds of lists:
//  * waiting lists, in arrival order (Python's `_waiters` deques);
//  * an "in flight" list: waiters that were woken — handed the lock, a permit, an item, a
//    notification — and are scheduled but have not resumed yet. Python keeps those in `_waiters`
//    too, as done futures; a separate list keeps the waiting lists free of them, so a wake-up is O(1).
//
// Lifetime rules:
//  1. A SyncWaiter is linked in at most one list, from suspension until it resumes, is cancelled,
//     or its frame is destroyed; its destructor unlinks it (a closing loop may free a suspended frame).
//  2. A primitive destroyed while tasks still wait on it "orphans" them (WaiterList's destructor):
//     they are unlinked and never touch the primitive again. A queued orphan resumes only if its
//     task is cancelled; a woken one resumes with RuntimeError (Event and join: normally).
//  3. A waiter whose task is done() while it is still queued belongs to a task abandoned by a
//     closed loop: wake_first() drops it instead of handing it anything.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>

#include "aio/core/event_loop.hpp"
#include "aio/detail/core.hpp"

namespace aio::detail {

class WaiterList;

/// One task parked on a primitive. Concrete awaiters derive from it and are `final`.
class SyncWaiter : public Waiting {
public:
    SyncWaiter& operator=(const SyncWaiter&) = delete;

    /// The default cancellation: leave the list, and resume at once with CancelledError.
    /// Only called while queued: once woken, the task's waiting_ is null and a cancel() sets
    /// must_cancel_ instead, which each awaiter's await_resume handles (giving back what it got).
    bool cancel_wait(TaskCore& task) noexcept override;

protected:
    enum class State : uint8_t {
        idle,       // not suspended: the fast path was taken, or not awaited yet
        queued,     // in one of the primitive's waiting lists
        woken,      // moved to the in-flight list and scheduled; resumes on a later iteration
        cancelled,  // left its waiting list because its task was cancelled
    };

    SyncWaiter() noexcept = default;
    /// Awaiters are copied before they are awaited (wait_for, Timeout::run): nothing to copy.
    SyncWaiter(const SyncWaiter&) noexcept : Waiting() {}
    ~SyncWaiter() {
        if (state_ != State::idle) leave();
    }

    /// Joins `list` and suspends the current task on it: Python's `fut = create_future();
    /// waiters.append(fut); await fut`. Throws RuntimeError outside a task, or when the list
    /// holds tasks of another event loop.
    void suspend_on(WaiterList& list, std::coroutine_handle<> h);
    /// The start of every slow resumption: rethrows the cancellation that ended a queued wait;
    /// otherwise (woken) leaves the in-flight list and goes idle. Returns false if the primitive
    /// was destroyed meanwhile (rule 2), true if it woke this waiter and still exists.
    bool end_wait();
    /// A woken waiter whose primitive was destroyed: a pending cancellation wins, otherwise
    /// RuntimeError(`message`).
    [[noreturn]] void throw_destroyed(const char* message);
    /// Unlinks from whatever list holds it (no-op if none). Only once suspended.
    void leave() noexcept;
    /// False once the primitive has been destroyed under a linked waiter (rule 2). Only once
    /// suspended (state_ != idle).
    [[nodiscard]] bool linked() const noexcept { return list_ != nullptr; }

    // Meaningful once suspend_on has run. Initialised all the same: g++ -O3 cannot see that
    // state_ guards every read, and three stores cost less than a suppressed warning.
    SyncWaiter* prev_ = nullptr;
    SyncWaiter* next_ = nullptr;
    WaiterList* list_ = nullptr;
    TaskCore* task_ = nullptr;
    State state_ = State::idle;  // the only field valid before suspension
    bool granted_ = false;       // queues: woken with a claimed item or a reserved slot, not by shutdown

    friend class WaiterList;
    friend SyncWaiter* wake_first(WaiterList& from, WaiterList& to, bool granted) noexcept;
};

/// Intrusive FIFO of SyncWaiters: O(1) append, removal and pop, no allocation.
class WaiterList {
public:
    WaiterList() noexcept = default;
    WaiterList(const WaiterList&) = delete;
    WaiterList& operator=(const WaiterList&) = delete;
    ~WaiterList() { orphan_all(); }

    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] size_t size() const noexcept { return size_; }
    [[nodiscard]] SyncWaiter* front() const noexcept { return head_; }

    void push_back(SyncWaiter& w) noexcept {
        w.list_ = this;
        w.next_ = nullptr;
        w.prev_ = tail_;
        if (tail_) tail_->next_ = &w;
        else head_ = &w;
        tail_ = &w;
        ++size_;
    }
    void remove(SyncWaiter& w) noexcept {
        if (w.prev_) w.prev_->next_ = w.next_;
        else head_ = w.next_;
        if (w.next_) w.next_->prev_ = w.prev_;
        else tail_ = w.prev_;
        w.prev_ = w.next_ = nullptr;
        w.list_ = nullptr;
        --size_;
    }
    SyncWaiter* pop_front() noexcept {
        SyncWaiter* w = head_;
        if (w) remove(*w);
        return w;
    }
    /// Detaches every waiter (rule 2): the list's owner is going away.
    void orphan_all() noexcept {
        while (SyncWaiter* w = head_) {
            head_ = w->next_;
            w->prev_ = w->next_ = nullptr;
            w->list_ = nullptr;
        }
        tail_ = nullptr;
        size_ = 0;
    }
    /// A primitive serves one loop at a time (asyncio binds it to one loop): throws RuntimeError
    /// if the list holds a live task of another loop than `t`'s.
    void check_loop(const TaskCore& t) const;

private:
    SyncWaiter* head_ = nullptr;
    SyncWaiter* tail_ = nullptr;
    size_t size_ = 0;
};

inline void SyncWaiter::leave() noexcept {
    if (list_) list_->remove(*this);
}

/// Wakes the first waiter of `from` whose task is alive: moves it to `to` (the in-flight list),
/// marks it woken and schedules its task (it resumes on a later iteration, as a Python waiter
/// does after fut.set_result). Waiters of abandoned tasks are dropped on the way (rule 3).
/// `granted` records whether it was handed something (queues also wake waiters to tell them of a
/// shutdown). Returns the waiter woken, or null if none.
SyncWaiter* wake_first(WaiterList& from, WaiterList& to, bool granted = true) noexcept;
/// wake_first until `from` is empty.
void wake_all(WaiterList& from, WaiterList& to, bool granted = true) noexcept;

/// "s" unless n == 1, for describe() lines.
inline const char* plural(size_t n) noexcept { return n == 1 ? "" : "s"; }

}  // namespace aio::detail
