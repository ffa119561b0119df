// aio::wait and aio::as_completed — asyncio.wait and asyncio.as_completed.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/detail/ensure.hpp"

namespace aio {

/// asyncio.wait's return_when.
enum class ReturnWhen { ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION };
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;

/// asyncio.wait's (done, pending) pair; use with structured bindings:
/// `auto [done, pending] = co_await aio::wait(tasks, aio::FIRST_COMPLETED);`
template <class H>
struct WaitResult {
    std::vector<H> done;
    std::vector<H> pending;
};

namespace detail {
template <class H>
Task<WaitResult<H>> wait_impl(std::vector<H> fs, std::optional<int64_t> timeout_ns, ReturnWhen rw) {
    std::vector<FutureCore*> cores;
    cores.reserve(fs.size());
    for (auto& f : fs) cores.push_back(f.core_ptr());
    {
        auto mode = rw == ReturnWhen::ALL_COMPLETED     ? MultiWait::Mode::all_completed
                    : rw == ReturnWhen::FIRST_COMPLETED ? MultiWait::Mode::first_completed
                                                        : MultiWait::Mode::first_exception;
        MultiWait w(mode, cores, timeout_ns);
        co_await w;
    }
    WaitResult<H> r;
    for (auto& f : fs) (f.core_ptr()->done() ? r.done : r.pending).push_back(f);
    co_return r;
}
template <class H>
void check_wait_args(const std::vector<H>& fs) {
    if (fs.empty()) throw std::invalid_argument("aio::wait: the set of tasks/futures is empty");
}
}  // namespace detail

/// asyncio.wait(fs, return_when=...): waits until the condition holds; returns (done, pending)
/// in input order. Never cancels anything: pending tasks keep running. Cancel safety:
/// cancelling the waiting task only stops the wait.
template <class H>
    requires detail::is_future_handle<H>::value  // TaskHandles or Futures: start Tasks with create_task first
[[nodiscard]] Task<WaitResult<H>> wait(std::vector<H> fs, ReturnWhen return_when = ALL_COMPLETED) {
    detail::check_wait_args(fs);
    return detail::wait_impl(std::move(fs), std::nullopt, return_when);
}
/// asyncio.wait(fs, timeout=..., return_when=...): on timeout returns what is done so far
/// (no TimeoutError, as in Python).
template <class H, class Rep, class Period>
    requires detail::is_future_handle<H>::value
[[nodiscard]] Task<WaitResult<H>> wait(std::vector<H> fs, std::chrono::duration<Rep, Period> timeout,
                                       ReturnWhen return_when = ALL_COMPLETED) {
    detail::check_wait_args(fs);
    return detail::wait_impl(std::move(fs), std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count(), return_when);
}

namespace detail {
/// Shared state of an as_completed iteration: completions queue up in the order they happen
/// (each seen one iteration later, like Python's done-callbacks).
class AsCompletedState final : public Waiting {
public:
    AsCompletedState(std::vector<FutureCore*> fs, std::optional<int64_t> timeout_ns);
    AsCompletedState(const AsCompletedState&) = delete;
    AsCompletedState& operator=(const AsCompletedState&) = delete;
    ~AsCompletedState();

    /// Waits for the next completion; returns its index. Throws TimeoutError past the deadline.
    struct Next {
        AsCompletedState* s;
        bool await_ready() const noexcept { return !s->done_.empty() || s->timed_out_; }
        void await_suspend(std::coroutine_handle<> h);
        size_t await_resume();
    };
    Next next() noexcept { return Next{this}; }
    bool cancel_wait(TaskCore& task) noexcept override;
    void describe(std::string& out) const override;

private:
    static void on_child(void* self, size_t index) noexcept;
    void wake() noexcept;

    ChildWatch* watch_ = nullptr;
    std::deque<size_t> done_;
    size_t remaining_;
    TimerHandle timer_;
    TaskCore* waiter_ = nullptr;
    bool timed_out_ = false;
    bool cancelled_ = false;
};

template <class H>
Task<typename H::value_type> as_completed_next(std::shared_ptr<AsCompletedState> s, std::shared_ptr<std::vector<H>> fs) {
    size_t i = co_await s->next();
    co_return (*fs)[i].result();
}
}  // namespace detail

/// asyncio.as_completed(fs, timeout): an iterable of awaitables; awaiting the k-th gives the
/// k-th result to complete (rethrowing its exception), whatever its position in `fs`:
///
///     for (auto next : aio::as_completed(tasks)) { int r = co_await std::move(next); }
///
/// With a timeout, every await after the deadline throws TimeoutError. Tasks are started at the
/// call, as in Python; nothing is cancelled by a timeout.
template <class H>
class AsCompleted {
public:
    using value_type = typename H::value_type;
    AsCompleted(std::vector<H> fs, std::optional<int64_t> timeout_ns) : fs_(std::make_shared<std::vector<H>>(std::move(fs))) {
        std::vector<detail::FutureCore*> cores;
        for (auto& f : *fs_) cores.push_back(f.core_ptr());
        state_ = std::make_shared<detail::AsCompletedState>(std::move(cores), timeout_ns);
    }
    class iterator {
    public:
        Task<value_type> operator*() const { return detail::as_completed_next(owner_->state_, owner_->fs_); }
        iterator& operator++() {
            ++i_;
            return *this;
        }
        bool operator!=(const iterator& o) const { return i_ != o.i_; }
        bool operator==(const iterator& o) const { return i_ == o.i_; }

    private:
        friend class AsCompleted;
        iterator(const AsCompleted* o, size_t i) : owner_(o), i_(i) {}
        const AsCompleted* owner_;
        size_t i_;
    };
    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, fs_->size()); }
    [[nodiscard]] size_t size() const { return fs_->size(); }

private:
    std::shared_ptr<std::vector<H>> fs_;
    std::shared_ptr<detail::AsCompletedState> state_;
};

/// asyncio.as_completed(fs): accepts Tasks (started now), TaskHandles, Futures or awaitables.
template <class A>
    requires detail::awaitable<A>
auto as_completed(std::vector<A> fs) {
    auto hs = detail::ensure_all(std::move(fs));
    return AsCompleted<typename decltype(hs)::value_type>(std::move(hs), std::nullopt);
}
/// asyncio.as_completed(fs, timeout=...).
template <class A, class Rep, class Period>
    requires detail::awaitable<A>
auto as_completed(std::vector<A> fs, std::chrono::duration<Rep, Period> timeout) {
    auto hs = detail::ensure_all(std::move(fs));
    return AsCompleted<typename decltype(hs)::value_type>(std::move(hs),
                                                          std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count());
}

}  // namespace aio
