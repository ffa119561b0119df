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
class FutureWait : public Waiting {
public:
    explicit FutureWait(FutureCore* f) noexcept : fut_(f), keep_(f) { node_.fire = &on_done; }
    FutureWait(const FutureWait& o) noexcept : fut_(o.fut_), keep_(o.fut_) { node_.fire = &on_done; }
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
    struct Node : CompletionNode {
        FutureWait* self;
    };
    static void on_done(CompletionNode* n, FutureCore&) noexcept;
    FutureCore* fut_;
    CoreRef keep_;  // declared before node_: the node unlinks before the future may be freed
    TaskCore* task_ = nullptr;
    Node node_{{}, this};
};

/// A done-callback: scheduled with call_soon semantics when the future completes.
struct DoneCallbackNode : CompletionNode, Runnable {
    uint64_t id = 0;
    FutureCore* fut = nullptr;  // referenced while scheduled
    DoneCallbackNode() {
        fire = &fire_cb;
        run_fn = &run;
    }
    virtual ~DoneCallbackNode() = default;
    virtual void invoke(FutureCore& f) = 0;
    static void fire_cb(CompletionNode* n, FutureCore& f) noexcept;
    static void run(Runnable* r);
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
