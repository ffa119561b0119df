// aio::TaskGroup — asyncio.TaskGroup (Trio's nursery).
//
// The C++ shape: the group exists only inside TaskGroup::run, which calls your body with a
// reference to it and does not return until every child has finished:
//
//     co_await aio::TaskGroup::run([&](aio::TaskGroup& tg) -> aio::Task<> {
//         tg.create_task(fetch(1));
//         tg.create_task(fetch(2));
//         co_return;
//     });
//
// No group object outlives its scope, so a leaked child is impossible: there is nothing to
// forget to await. Semantics follow CPython 3.12's TaskGroup.__aexit__:
//  * the first child failure cancels the other children and the body;
//  * every failure (and the body's own exception) comes out together in aio::ExceptionGroup;
//  * a cancellation of the task that runs the group from outside cancels the children and
//    propagates as CancelledError;
//  * create_task on a group that is shutting down throws RuntimeError.
#pragma once

#include <exception>
#include <list>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"

namespace aio {

class TaskGroup {
public:
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;
    ~TaskGroup();

    /// Runs `body(group)` (a callable returning Task<R>) and returns its result once every
    /// child has finished. Throws ExceptionGroup if any child or the body failed.
    template <class F>
    static auto run(F body) -> Task<typename std::invoke_result_t<F&, TaskGroup&>::value_type>;

    /// TaskGroup.create_task(coro, name=...): starts a child of this group.
    template <class T>
    TaskHandle<T> create_task(Task<T> task, std::string name = {}) {
        check_open();
        TaskHandle<T> h = get_running_loop().create_task(std::move(task), std::move(name));
        adopt(h);
        return h;
    }
    /// The safe form: keeps `fn` and copies of `args` alive inside the child.
    template <class F, class... Args>
        requires(!is_task_v<F> && std::is_invocable_v<std::decay_t<F>&, std::decay_t<Args>&...>)
    auto create_task(F&& fn, Args&&... args) {
        return create_task(detail::invoke_owned(std::decay_t<F>(std::forward<F>(fn)), std::decay_t<Args>(std::forward<Args>(args))...));
    }

    /// Children not yet finished.
    [[nodiscard]] size_t size() const noexcept { return children_.size(); }

private:
    TaskGroup() = default;

    // A child's completion is handled one loop iteration later, like Python's done-callbacks
    // (call_soon): children failing in the same iteration are then all reported, because the
    // sibling has finished before the group reacts by cancelling it.
    struct Child final : detail::DoneCallbackNode {
        TaskGroup* group = nullptr;
        TaskRef task;
        std::list<Child*>::iterator self;
        void invoke(detail::FutureCore& f) override { group->on_child_done(this, f); }
    };
    class AllDone;

    void check_open() const;
    void adopt(const TaskRef& t);
    void abort() noexcept;
    void on_child_done(Child* c, detail::FutureCore& f) noexcept;
    void enter();
    /// __aexit__: waits for the children, then decides what to throw.
    Task<void> exit(std::exception_ptr body_exc);

    detail::TaskCore* parent_ = nullptr;
    std::list<Child*> children_;  // owned; a fired Child is freed by the loop after invoke()
    std::vector<std::exception_ptr> errors_;
    detail::TaskCore* waiter_ = nullptr;  // parent task while it waits in exit()
    bool entered_ = false;
    bool exiting_ = false;
    bool aborting_ = false;
    bool parent_cancel_requested_ = false;
};

template <class F>
auto TaskGroup::run(F body) -> Task<typename std::invoke_result_t<F&, TaskGroup&>::value_type> {
    using R = typename std::invoke_result_t<F&, TaskGroup&>::value_type;
    TaskGroup tg;
    tg.enter();
    std::exception_ptr body_exc;
    if constexpr (std::is_void_v<R>) {
        try {
            co_await body(tg);
        } catch (...) {
            body_exc = std::current_exception();
        }
        co_await tg.exit(body_exc);
    } else {
        std::optional<R> result;
        try {
            result.emplace(co_await body(tg));
        } catch (...) {
            body_exc = std::current_exception();
        }
        co_await tg.exit(body_exc);
        co_return std::move(*result);
    }
}

}  // namespace aio
