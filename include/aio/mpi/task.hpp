// Task functions for the MPI executors: what a worker rank can run.
//
// A worker rank is another process, often on another machine, started from the same program. A
// function pointer means nothing there, so a task function is registered by name on every rank
// (mpi4py pickles a reference to the function by its module and name; this is the same idea):
//
//     double integrate(double a, double b, int n) { ... }
//     AIO_MPI_REGISTER(integrate);          // namespace scope: every rank runs it before main()
//
// Its parameters and result must be Sendable (aio/mp/serialize.hpp), checked at compile time. The
// ranks must run the same build of the program on the same architecture: values travel in the
// processes layer's native format.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "aio/mp/serialize.hpp"

namespace aio::mpi {

namespace detail {

using AnyFn = void (*)();
/// Runs a registered function on a worker: one call (`chunk` false) or a chunk of calls, decoding
/// the arguments from `in` and appending each outcome to `out` (see TaskTraits).
using TaskEntry = void (*)(bool chunk, mp::Reader& in, mp::Writer& out);

/// Outcome tags in a result message.
enum : uint8_t { kOk = 0, kRaised = 1 };

void register_task(const char* name, AnyFn fn, TaskEntry entry);
/// The name `fn` was registered under; throws aio::mpi::Error if it was not.
const char* task_name(AnyFn fn);
/// The entry registered under `name`; nullptr if none.
TaskEntry find_task(std::string_view name) noexcept;

/// Appends kRaised, the exception's type and message.
void put_exception(mp::Writer& out, const std::exception_ptr& e);

template <auto Fn>
struct TaskTraits;
template <class R, class... P, R (*Fn)(P...)>
struct TaskTraits<Fn> {
    using Args = std::tuple<std::decay_t<P>...>;
    using Result = R;
    static_assert((mp::Sendable<std::decay_t<P>> && ...),
                  "AIO_MPI_REGISTER: every parameter of a task function must be Sendable (see aio/mp/serialize.hpp)");
    static_assert(std::is_void_v<R> || mp::Sendable<std::decay_t<R>>,
                  "AIO_MPI_REGISTER: the result of a task function must be Sendable (see aio/mp/serialize.hpp)");

    /// One call: kOk and the result, or kRaised and the exception. Returns false if the
    /// arguments could not be decoded (then the rest of a chunk cannot be found either).
    static bool run_one(mp::Reader& in, mp::Writer& out) {
        const size_t mark = out.size();
        bool decoded = false;
        try {
            auto args = in.get<Args>();
            decoded = true;
            if constexpr (std::is_void_v<R>) {
                std::apply([](auto&... a) { Fn(std::move(a)...); }, args);
                out.put<uint8_t>(kOk);
            } else {
                auto r = std::apply([](auto&... a) { return Fn(std::move(a)...); }, args);
                out.put<uint8_t>(kOk);
                out.put(r);
            }
        } catch (...) {
            out.buffer().resize(mark);  // a result half-encoded when its encoding threw
            put_exception(out, std::current_exception());
        }
        return decoded;
    }
    static void entry(bool chunk, mp::Reader& in, mp::Writer& out) {
        if (!chunk) {
            run_one(in, out);
            return;
        }
        const size_t n = in.get_size(0);
        for (size_t i = 0; i < n; ++i) {
            if (run_one(in, out)) continue;
            // The rest of the chunk cannot be located: each remaining item fails the same way.
            const std::exception_ptr e = std::make_exception_ptr(mp::SerializationError(
                "aio::mpi: a chunk's item " + std::to_string(i) + " could not be decoded on the worker"));
            for (size_t j = i + 1; j < n; ++j) put_exception(out, e);
            return;
        }
    }
};

template <auto Fn>
struct Registration {
    explicit Registration(const char* name) {
        register_task(name, reinterpret_cast<AnyFn>(Fn), &TaskTraits<Fn>::entry);
    }
};

}  // namespace detail

/// Registers `Fn` under `name` in this process, at run time. AIO_MPI_REGISTER is what a program
/// normally uses: a registration made at run time on the client only is missing on the
/// workers, and a task calling it fails with aio::mpi::Error naming it. Registering a second
/// function under a taken name throws std::invalid_argument; registering the same one again is
/// a no-op.
template <auto Fn>
void register_function(const char* name) {
    detail::register_task(name, reinterpret_cast<detail::AnyFn>(Fn), &detail::TaskTraits<Fn>::entry);
}

}  // namespace aio::mpi

#define AIO_MPI_CONCAT_INNER(a, b) a##b
#define AIO_MPI_CONCAT(a, b) AIO_MPI_CONCAT_INNER(a, b)
/// Registers a function by its name on every rank, so that the MPI executors can run it there.
/// Use at namespace scope, once per function: AIO_MPI_REGISTER(count_primes);
#define AIO_MPI_REGISTER(fn)                                                                            \
    static const ::aio::mpi::detail::Registration<&fn> AIO_MPI_CONCAT(aio_mpi_registration_, __LINE__) { \
        #fn                                                                                             \
    }
