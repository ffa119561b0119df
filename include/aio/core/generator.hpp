// aio::Generator<T> — a synchronous generator (Python: a generator function with `yield`),
// usable in range-for. g++ 12 has no std::generator.
#pragma once

#include <coroutine>
#include <exception>
#include <iterator>
#include <memory>
#include <utility>

namespace aio {

/// A lazily evaluated sequence produced with `co_yield` (Python: a generator). Move-only;
/// iterate it once with range-for. An exception thrown by the body propagates out of the
/// iteration step that resumed it.
template <class T>
class [[nodiscard]] Generator {
public:
    struct promise_type {
        const T* current = nullptr;
        std::exception_ptr error;
        Generator get_return_object() noexcept { return Generator(std::coroutine_handle<promise_type>::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        std::suspend_always yield_value(const T& v) noexcept {
            current = std::addressof(v);
            return {};
        }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { error = std::current_exception(); }
        template <class U>
        U&& await_transform(U&&) = delete;  // a Generator cannot await: use AsyncGenerator
    };
    using handle = std::coroutine_handle<promise_type>;

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(handle h) : h_(h) {}
        const T& operator*() const { return *h_.promise().current; }
        const T* operator->() const { return h_.promise().current; }
        iterator& operator++() {
            h_.resume();
            rethrow();
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const noexcept { return !h_ || h_.done(); }
        void rethrow() const {
            if (h_.done() && h_.promise().error) std::rethrow_exception(std::exchange(h_.promise().error, nullptr));
        }

    private:
        handle h_;
    };

    Generator(Generator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    Generator& operator=(Generator&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~Generator() {
        if (h_) h_.destroy();
    }

    /// Starts (or continues) the generator; python's iter() + first next().
    iterator begin() {
        if (h_ && !h_.done()) h_.resume();
        iterator it(h_);
        it.rethrow();
        return it;
    }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    explicit Generator(handle h) : h_(h) {}
    handle h_;
};

}  // namespace aio
