// Awaiting a future or a started task, and done-callbacks: the bridge between FutureCore's
// completion list and tasks.
#pragma once

#include <optional>
#include <type_traits>
#include <variant>

#include "aio/core/event_loop.hpp"
#include "aio/detail/core.hpp"

namespace aio::detail {

template <class T>
using value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// Typed result storage shared by futures and task promises.
template <class T>
struct ResultSlot {
    std::optional<T> value;
    template <class U>
    void set(U&& v) { value.emplace(std::forward<U>(v)); }
    /// A copy when T is copyable (a result can be read many times), else a move.
    T get() {
        if constexpr (std::is_copy_constructible_v<T>) return *value;
        else return std::move(*value);
    }
    const T& ref() const { return *value; }
};
template <>
struct ResultSlot<void> {
    void get() const noexcept {}
    void ref() const noexcept {}
};

/// A task step waiting for a future: registers on its completion list.
/// Cancelling the waiting task cancels the awaited future or task (asyncio semantics: the
/// cancellation travels inward); the waiting task resumes when that one finishes.
class FutureWait : public Waiting, private CompletionNode {
public:
    explicit FutureWait(FutureCore* f) noexcept : fut_(f), keep_(f) { fire = &on_done; }
    FutureWait(const FutureWait& o) noexcept : Waiting(), CompletionNode(), fut_(o.fut_), keep_(o.fut_) { fire = &on_done; }
    ~FutureWait() { unlink(); }  // before keep_ may free the future
    FutureWait& operator=(const FutureWait&) = delete;

    [[nodiscard]] bool ready() const noexcept { return fut_->done(); }
    void suspend(std::coroutine_handle<> h);
    /// After resumption: throws a pending cancellation of the waiting task.
    void resumed() {
        if (task_) task_->throw_if_must_cancel();
    }
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;
    [[nodiscard]] FutureCore* future() const noexcept { return fut_; }

private:
    static void on_done(CompletionNode* n, FutureCore&) noexcept;
    FutureCore* fut_;
    CoreRef keep_;
    TaskCore* task_ = nullptr;
};

/// A done-callback: scheduled with call_soon semantics when the future completes.
struct DoneCallbackNode : CompletionNode, Runnable {
    uint64_t id = 0;
    FutureCore* fut = nullptr;  // referenced while scheduled
    DoneCallbackNode() {
        fire = &fire_cb;
        run_fn = &run;
        drop_fn = &drop;
    }
    virtual ~DoneCallbackNode() = default;
    virtual void invoke(FutureCore& f) = 0;
    static void fire_cb(CompletionNode* n, FutureCore& f) noexcept;
    static void run(Runnable* r);
    static void drop(Runnable* r) noexcept;
};

/// Watches N futures for an owner (gather, wait, as_completed, shield) and tells it about each
/// completion one loop iteration later — Python's done-callback hop, so the waiter wakes when
/// CPython's would. Reference counted: a completion already queued when the owner goes away
/// finds the owner detached and does nothing.
class ChildWatch {
public:
    using Callback = void (*)(void* owner, size_t index) noexcept;
    static ChildWatch* create(size_t n, void* owner, Callback cb);
    /// Starts watching `f` as child `index` (a future already done is reported next iteration).
    void watch(size_t index, FutureCore& f);
    /// The owner is going away: stop watching, and never call back again.
    void detach() noexcept;

private:
    struct Node : CompletionNode, Runnable {
        ChildWatch* block = nullptr;
        size_t index = 0;
    };
    ChildWatch(size_t n, void* owner, Callback cb);
    static void on_fire(CompletionNode* n, FutureCore& f) noexcept;
    static void on_run(Runnable* r);
    static void on_drop(Runnable* r) noexcept;
    void release() noexcept;

    std::unique_ptr<Node[]> nodes_;
    size_t n_;
    void* owner_;
    Callback cb_;
    uint32_t refs_ = 1;
};

template <class F>
struct DoneCallbackImpl final : DoneCallbackNode {
    explicit DoneCallbackImpl(F f) : fn(std::move(f)) {}
    void invoke(FutureCore& f) override { fn(f); }
    F fn;
};

/// Registers `cb(FutureCore&)`; returns an id for remove_done_callback. Runs soon if already done.
uint64_t add_done_callback(FutureCore& f, DoneCallbackNode* node);
/// Removes callbacks registered with that id; returns how many were removed.
size_t remove_done_callback(FutureCore& f, uint64_t id) noexcept;

}  // namespace aio::detail
