// aio::gather — asyncio.gather, with asyncio's semantics:
//  * unstarted Tasks are started at once (in argument order), like ensure_future;
//  * results come back in argument order (a tuple, or a vector for the vector form);
//  * the first exception propagates while the other children keep running;
//  * cancelling the task that awaits a gather cancels every child;
//  * `gather(aio::return_exceptions, ...)` returns each child's Outcome instead of throwing.
#pragma once

#include <exception>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/detail/ensure.hpp"

namespace aio {

/// One child's outcome in `gather(return_exceptions, ...)`: a value or an exception
/// (a cancelled child holds a CancelledError).
template <class T>
class Outcome {
public:
    using value_type = detail::value_t<T>;
    Outcome() = default;
    static Outcome of_value(value_type v) {
        Outcome o;
        o.value_.emplace(std::move(v));
        return o;
    }
    static Outcome of_exception(std::exception_ptr e) {
        Outcome o;
        o.error_ = std::move(e);
        return o;
    }
    [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
    /// The value; rethrows the exception if the child failed.
    value_type& value() {
        if (error_) std::rethrow_exception(error_);
        return *value_;
    }
    [[nodiscard]] const std::exception_ptr& exception() const noexcept { return error_; }
    /// True if the child was cancelled.
    [[nodiscard]] bool cancelled() const {
        if (!error_) return false;
        try {
            std::rethrow_exception(error_);
        } catch (const CancelledError&) {
            return true;
        } catch (...) {
            return false;
        }
    }

private:
    std::optional<value_type> value_;
    std::exception_ptr error_;
};

/// Tag selecting gather's return_exceptions=True form.
struct return_exceptions_t {
    explicit return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

namespace detail {

template <class H>
auto child_value(const H& h) {
    using T = typename H::value_type;
    if constexpr (std::is_void_v<T>) {
        h.result();
        return std::monostate{};
    } else {
        return h.result();
    }
}

template <class H>
auto child_outcome(const H& h) {
    using T = typename H::value_type;
    using O = Outcome<T>;
    FutureCore* c = h.core_ptr();
    if (c->cancelled()) return O::of_exception(c->make_cancelled_error());
    if (auto e = c->stored_exception()) {
        c->mark_retrieved();
        return O::of_exception(e);
    }
    return O::of_value(child_value(h));
}

/// After a gather ends early, exceptions of the children still running are nobody's to report
/// (Python: _GatheringFuture retrieves them as they come).
inline void mark_children_retrieved(const std::vector<FutureCore*>& cores) {
    for (FutureCore* c : cores) c->mark_retrieved();
}

template <class... H>
Task<std::tuple<value_t<typename H::value_type>...>> gather_tuple(std::tuple<H...> hs) {
    std::vector<FutureCore*> cores = std::apply([](auto&... h) { return std::vector<FutureCore*>{h.core_ptr()...}; }, hs);
    {
        MultiWait w(MultiWait::Mode::gather, cores);
        try {
            co_await w;
        } catch (...) {
            mark_children_retrieved(cores);
            throw;
        }
    }
    co_return std::apply([](auto&... h) { return std::tuple<value_t<typename H::value_type>...>{child_value(h)...}; }, hs);
}

template <class... H>
Task<std::tuple<Outcome<typename H::value_type>...>> gather_tuple_outcomes(std::tuple<H...> hs) {
    std::vector<FutureCore*> cores = std::apply([](auto&... h) { return std::vector<FutureCore*>{h.core_ptr()...}; }, hs);
    {
        MultiWait w(MultiWait::Mode::gather_all, cores);
        co_await w;
    }
    co_return std::apply([](auto&... h) { return std::tuple<Outcome<typename H::value_type>...>{child_outcome(h)...}; }, hs);
}

template <class H>
Task<std::vector<value_t<typename H::value_type>>> gather_vector(std::vector<H> hs) {
    std::vector<FutureCore*> cores;
    cores.reserve(hs.size());
    for (auto& h : hs) cores.push_back(h.core_ptr());
    {
        MultiWait w(MultiWait::Mode::gather, cores);
        try {
            co_await w;
        } catch (...) {
            mark_children_retrieved(cores);
            throw;
        }
    }
    std::vector<value_t<typename H::value_type>> out;
    out.reserve(hs.size());
    for (auto& h : hs) out.push_back(child_value(h));
    co_return out;
}

template <class H>
Task<std::vector<Outcome<typename H::value_type>>> gather_vector_outcomes(std::vector<H> hs) {
    std::vector<FutureCore*> cores;
    cores.reserve(hs.size());
    for (auto& h : hs) cores.push_back(h.core_ptr());
    {
        MultiWait w(MultiWait::Mode::gather_all, cores);
        co_await w;
    }
    std::vector<Outcome<typename H::value_type>> out;
    out.reserve(hs.size());
    for (auto& h : hs) out.push_back(child_outcome(h));
    co_return out;
}

}  // namespace detail

/// asyncio.gather(*aws): starts every argument (Task, TaskHandle, Future or any awaitable) and
/// returns a Task yielding a tuple of results in argument order; `void` results are
/// std::monostate. The children are started when gather() is called, as in Python, so they
/// run even if the returned Task is never awaited.
/// Throws the first child exception (the others keep running); a cancelled child makes it throw
/// CancelledError. Cancelling the awaiting task cancels every child; it then resumes when
/// the first child finishes.
template <class... A>
    requires(sizeof...(A) > 0)
auto gather(A&&... aws) {
    return detail::gather_tuple(std::tuple{detail::ensure_future(std::forward<A>(aws))...});
}

/// asyncio.gather(*aws, return_exceptions=True): never throws for a child; each result is an
/// Outcome. Cancelling the awaiting task still cancels the children and throws CancelledError
/// once they are all done.
template <class... A>
auto gather(return_exceptions_t, A&&... aws) {
    return detail::gather_tuple_outcomes(std::tuple{detail::ensure_future(std::forward<A>(aws))...});
}

/// asyncio.gather(*list): a vector of Tasks, TaskHandles or Futures → vector of results
/// (std::monostate for void), in input order.
template <class A>
auto gather(std::vector<A> aws) {
    return detail::gather_vector(detail::ensure_all(std::move(aws)));
}

/// The vector form of gather(return_exceptions, ...).
template <class A>
auto gather(return_exceptions_t, std::vector<A> aws) {
    return detail::gather_vector_outcomes(detail::ensure_all(std::move(aws)));
}

}  // namespace aio
