// asyncio.ensure_future for C++: turns whatever can be awaited into a started task or future,
// and the awaiter that waits on several futures at once (gather, wait).
#pragma once

#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/future.hpp"
#include "aio/core/task.hpp"

namespace aio::detail {

template <class A>
decltype(auto) get_awaiter(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); }) return std::forward<A>(a).operator co_await();
    else return std::forward<A>(a);
}

/// Something `co_await` accepts inside an aiocpp task (an awaiter, or a type with
/// operator co_await). The check stays in the requires-expression, so it is SFINAE-friendly.
template <class A>
concept awaitable = requires(A&& a) { get_awaiter(std::forward<A>(a)).await_resume(); };

/// The type `co_await std::declval<A>()` produces.
template <class A>
using await_result_t = decltype(get_awaiter(std::declval<A>()).await_resume());

template <class T>
struct is_future_handle : std::false_type {};
template <class T>
struct is_future_handle<TaskHandle<T>> : std::true_type {};
template <class T>
struct is_future_handle<Future<T>> : std::true_type {};

/// Runs any awaitable inside a task of its own.
template <class A>
Task<await_result_t<A>> await_in_task(A a) {
    co_return co_await std::move(a);
}

}  // namespace aio::detail

namespace aio {
/// create_task of any other awaitable (aio::sleep(...), a Future, a shield...): runs it in a task
/// of its own. In Python these are coroutines already (asyncio.sleep is one), so
/// asyncio.create_task(asyncio.sleep(1, x)) works; this keeps that spelling working.
template <class A>
    requires(!is_task_v<A> && detail::awaitable<A> && !std::is_invocable_v<std::decay_t<A>&>)
auto create_task(A&& aw) {
    return create_task(detail::await_in_task(std::remove_cvref_t<A>(std::forward<A>(aw))));
}
}  // namespace aio

namespace aio::detail {

/// asyncio.ensure_future(x): a Task starts on the running loop; a TaskHandle or Future is
/// returned as is; any other awaitable is wrapped in a new task.
template <class A>
auto ensure_future(A&& a) {
    using D = std::remove_cvref_t<A>;
    if constexpr (is_future_handle<D>::value) return D(a);
    else if constexpr (is_task<D>::value) return create_task(D(std::forward<A>(a)));
    else return create_task(await_in_task(D(std::forward<A>(a))));
}

template <class A>
using ensure_future_t = decltype(ensure_future(std::declval<A>()));

/// ensure_future over a vector, in order.
template <class A>
auto ensure_all(std::vector<A>&& v) {
    std::vector<ensure_future_t<A>> hs;
    hs.reserve(v.size());
    for (auto& a : v) hs.push_back(ensure_future(std::move(a)));
    return hs;
}

/// What gather and wait do while suspended: watch N futures, wake the task when the mode's
/// condition holds. Each completion is seen one iteration after it happens and the task wakes
/// one iteration after that — exactly when CPython's _GatheringFuture / _wait would.
class MultiWait final : public Waiting {
public:
    enum class Mode : uint8_t {
        gather,             // until all done, or the first failure / cancellation
        gather_all,         // until all done (return_exceptions)
        all_completed,      // asyncio.wait modes
        first_completed,
        first_exception,
    };
    MultiWait(Mode mode, std::vector<FutureCore*> futures, std::optional<int64_t> timeout_ns = std::nullopt);
    MultiWait(const MultiWait&) = delete;
    MultiWait& operator=(const MultiWait&) = delete;
    ~MultiWait();

    bool await_ready() const noexcept { return futs_.empty(); }
    void await_suspend(std::coroutine_handle<> h);
    void await_resume();
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;

private:
    static void on_child(void* self, size_t index) noexcept;
    void wake() noexcept;
    void stop_watching() noexcept;

    Mode mode_;
    std::vector<FutureCore*> futs_;
    std::optional<int64_t> timeout_ns_;
    ChildWatch* watch_ = nullptr;
    TimerHandle timer_;
    TaskCore* task_ = nullptr;
    size_t pending_ = 0;
    long failed_ = -1;  // gather: the child whose failure ended the wait
    bool woken_ = false;
    bool cancelled_ = false;  // wait(): the waiting task was cancelled
    bool cancel_requested_ = false;  // gather: the waiting task was cancelled, children too
};

}  // namespace aio::detail
