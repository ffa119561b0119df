// aio::AsyncGenerator<T> — Python's async generator (`async def` with `yield`): a sequence
// whose body may await between items. It runs inline in the task that consumes it.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "aio/detail/core.hpp"

namespace aio {

/// Produce items with `co_yield`, await anything in between; consume with
///
///     while (auto item = co_await gen.next()) use(*item);   // Python: async for item in gen
///
/// next() resumes the body inline in the awaiting task (symmetric transfer) and returns
/// std::nullopt at the end (Python: StopAsyncIteration). An exception (including
/// CancelledError) thrown by the body propagates out of next(); the generator is then finished.
/// Move-only; destroying it mid-way destroys the body's locals (Python: aclose()).
template <class T>
class [[nodiscard]] AsyncGenerator {
public:
    struct promise_type : detail::PromiseBase {
        std::optional<T> value;
        std::exception_ptr error;
        explicit promise_type(detail::SourceLoc loc = detail::SourceLoc::current()) noexcept { loc_ = loc; }
        AsyncGenerator get_return_object() noexcept {
            return AsyncGenerator(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        struct Yield {
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
                auto& p = h.promise();
                if (detail::TaskCore* t = detail::tls_current_task) t->innermost_ = p.parent_;
                return p.continuation_;
            }
            void await_resume() const noexcept {}
        };
        template <class U = T>
        Yield yield_value(U&& v) {
            value.emplace(std::forward<U>(v));
            return {};
        }
        Yield final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { error = std::current_exception(); }
    };
    using handle = std::coroutine_handle<promise_type>;

    AsyncGenerator(AsyncGenerator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    AsyncGenerator& operator=(AsyncGenerator&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~AsyncGenerator() {
        if (h_) h_.destroy();
    }

    struct NextAwaiter {
        handle h;
        bool await_ready() const noexcept { return !h || h.done(); }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> consumer) noexcept {
            auto& p = h.promise();
            p.continuation_ = consumer;
            p.value.reset();
            if constexpr (std::is_base_of_v<detail::PromiseBase, P>) p.parent_ = &consumer.promise();
            if (detail::TaskCore* t = detail::tls_current_task) t->innermost_ = &p;
            return h;
        }
        std::optional<T> await_resume() {
            if (!h) return std::nullopt;
            auto& p = h.promise();
            if (p.error) std::rethrow_exception(std::exchange(p.error, nullptr));
            if (h.done()) return std::nullopt;
            return std::move(p.value);
        }
    };
    /// Python: `await anext(gen, None)`: the next item, or nullopt when the body has returned.
    NextAwaiter next() noexcept { return NextAwaiter{h_}; }

private:
    explicit AsyncGenerator(handle h) : h_(h) {}
    handle h_;
};

}  // namespace aio
