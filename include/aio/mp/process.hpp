// aio::mp::Process — multiprocessing.Process: run a callable in a child process.
//
// Two start methods, as in Python:
//   - fork (the default): the child is a copy of the parent at start(), so any callable with any
//     captures works as-is. Safe while the parent runs no other threads; with threads running, a
//     lock another thread held at fork stays locked forever in the child (the classic deadlock),
//     so touch nothing in the child that those threads may have held.
//   - spawn: the child is a fresh image of this program (exec of /proc/self/exe) that runs one
//     registered function with its arguments sent over a socket: safe whatever threads the
//     parent has, at the price of an exec. The function is registered with AIO_MP_REGISTER(fn),
//     its arguments must be Sendable, and main() must call aio::mp::freeze_support() first.
//
// A child never outlives its parent: if the parent dies (even by SIGKILL) its children are
// killed, and a daemon child is terminated when the parent exits normally. A Process object
// that is destroyed while its child runs joins it (like std::jthread), or terminates it if it is
// a daemon; either way the child is reaped: no zombie is left.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "aio/mp/serialize.hpp"

namespace aio::mp {

/// multiprocessing's start methods ("fork", "spawn").
enum class StartMethod { fork, spawn };

/// multiprocessing.cpu_count() — as os.process_cpu_count() (Python 3.13): the CPUs this process
/// may run on, i.e. its affinity mask, further limited by a cgroup v2 CPU quota (cpu.max),
/// rounded up. At least 1.
[[nodiscard]] int cpu_count();

/// multiprocessing.freeze_support(): call it first in main(). In a child started with the spawn
/// method it runs that child's target and exits; elsewhere it returns at once.
void freeze_support();

/// multiprocessing.current_process().name: "MainProcess", or the name of the Process this
/// child runs.
[[nodiscard]] const std::string& current_process_name();

namespace detail {

using AnyFn = void (*)();
/// A registered function's entry: decodes the arguments and calls it.
using SpawnEntry = void (*)(std::string_view payload);

void register_spawn_function(const char* name, AnyFn fn, SpawnEntry entry);
/// The name `fn` was registered under; throws std::invalid_argument if it was not.
const char* spawn_function_name(AnyFn fn);

template <auto Fn>
struct SpawnRegistration;
template <class R, class... P, R (*Fn)(P...)>
struct SpawnRegistration<Fn> {
    static_assert((Sendable<std::decay_t<P>> && ...),
                  "AIO_MP_REGISTER: every parameter of a spawn target must be Sendable (see aio/mp/serialize.hpp)");
    static void entry(std::string_view payload) {
        auto args = loads<std::tuple<std::decay_t<P>...>>(payload);
        std::apply([](auto&... a) { Fn(std::move(a)...); }, args);
    }
    explicit SpawnRegistration(const char* name) {
        register_spawn_function(name, reinterpret_cast<AnyFn>(Fn), &entry);
    }
};

struct ProcessState;

}  // namespace detail

/// Passed as Process's first argument to choose the spawn start method.
struct spawn_t {
    explicit spawn_t() = default;
};
inline constexpr spawn_t spawn{};

/// multiprocessing.Process(target=fn, args=args): runs `fn(args...)` in a child process once
/// start() is called. Move-only. Settings (name, daemon) are made before start().
class Process {
public:
    /// Process(target, *args) with the fork start method: the callable and its arguments are
    /// copied into the child with the rest of the address space.
    template <class F, class... A>
        requires(std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...> && !std::is_same_v<std::decay_t<F>, spawn_t>)
    explicit Process(F&& target, A&&... args)
        : Process(StartMethod::fork, std::function<void()>([f = std::forward<F>(target),
                                                           tup = std::make_tuple(std::forward<A>(args)...)]() mutable {
              std::apply(f, tup);
          }),
                  nullptr, {}) {}

    /// Process(target, *args) with the spawn start method: `target` must be a function
    /// registered with AIO_MP_REGISTER, and the arguments Sendable to its parameter types.
    template <class R, class... P, class... A>
        requires(sizeof...(P) == sizeof...(A))
    Process(spawn_t, R (*target)(P...), A&&... args)
        : Process(StartMethod::spawn, {}, detail::spawn_function_name(reinterpret_cast<detail::AnyFn>(target)),
                  dumps(std::tuple<std::decay_t<P>...>(std::forward<A>(args)...))) {}

    Process(Process&&) noexcept;
    Process& operator=(Process&&) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    /// Joins a running non-daemon child; terminates and reaps a running daemon child.
    ~Process();

    /// Process.name (default "Process-N"). Throws InvalidStateError after start().
    Process& name(std::string n);
    [[nodiscard]] const std::string& name() const noexcept;
    /// Process.daemon: a daemon child is terminated when the parent exits normally (or destroys
    /// this object) instead of being waited for. Throws InvalidStateError after start().
    Process& daemon(bool d);
    [[nodiscard]] bool daemon() const noexcept;
    [[nodiscard]] StartMethod start_method() const noexcept;

    /// Process.start(). Throws InvalidStateError if already started, aio::mp::ProcessError
    /// (with the errno text) if the child cannot be created.
    void start();
    /// Process.join(): waits for the child to exit and reaps it. Throws InvalidStateError if not
    /// started.
    void join();
    /// Process.join(timeout): true if the child has exited (and is reaped), false on timeout.
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return join_for(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
    }
    /// Process.is_alive(): started and not yet exited.
    [[nodiscard]] bool is_alive();
    /// Process.pid: empty before start().
    [[nodiscard]] std::optional<pid_t> pid() const noexcept;
    /// Process.exitcode: empty while running (or not started); the exit status once exited;
    /// -N when killed by signal N (as Python). A target that throws exits with 1, after printing
    /// the exception to stderr.
    [[nodiscard]] std::optional<int> exitcode();
    /// Process.terminate(): SIGTERM. Nothing happens if the child has already exited.
    void terminate();
    /// Process.kill(): SIGKILL.
    void kill();

private:
    Process(StartMethod m, std::function<void()> target, const char* spawn_name, std::string spawn_payload);
    bool join_for(std::chrono::nanoseconds timeout);
    std::unique_ptr<detail::ProcessState> s_;
};

}  // namespace aio::mp

#define AIO_MP_CONCAT_INNER(a, b) a##b
#define AIO_MP_CONCAT(a, b) AIO_MP_CONCAT_INNER(a, b)
/// Registers a function (by name) so that a child started with the spawn method can run it.
/// Use at namespace scope, once per function: AIO_MP_REGISTER(count_primes);
#define AIO_MP_REGISTER(fn)                                                                               \
    static const ::aio::mp::detail::SpawnRegistration<&fn> AIO_MP_CONCAT(aio_mp_spawn_registration_, \
                                                                        __LINE__) {                   \
        #fn                                                                                           \
    }
