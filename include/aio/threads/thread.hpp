// What Python's threading module knows about threads, for C++ threads: names, the count of
// live threads, identities; and aio::threading::Thread, for what std::jthread does not do —
// a timed join, is_alive(), a name, daemon threads, and an exception hook instead of
// std::terminate when the thread's function throws. For everything else, std::jthread is the
// tool (docs/threads.md).
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "aio/core/errors.hpp"
#include "aio/threads/detail/futex.hpp"
#include "aio/threads/sync.hpp"

namespace aio::threading {

/// threading.current_thread().name: the name given with set_current_thread_name (or by the pool
/// or Thread that started the thread); otherwise "MainThread" for the main thread and
/// "Thread-<tid>".
[[nodiscard]] std::string current_thread_name();
/// threading.current_thread().name = name. Also sets the OS name (pthread_setname_np, which
/// keeps the first 15 bytes) shown by top, ps -L, gdb and perf.
void set_current_thread_name(std::string_view name);
/// threading.active_count(): the threads alive in this process — every OS thread, including
/// those not started through aiocpp (C++ has no registry of its own to consult).
[[nodiscard]] int active_count();
/// threading.get_native_id(): the kernel's thread id (gettid).
[[nodiscard]] int64_t get_native_id() noexcept;
/// threading.current_thread() is threading.main_thread().
[[nodiscard]] bool is_main_thread() noexcept;

/// What threading.excepthook receives.
struct ExceptHookArgs {
    std::exception_ptr exception;
    std::string thread_name;
};
using ExceptHook = std::function<void(const ExceptHookArgs&)>;
/// threading.excepthook = hook: called (in the dying thread) with an exception that escaped a
/// Thread's function. The default logs "Exception in thread NAME: ..." through aio::log.
/// nullptr restores the default. Returns the previous hook.
ExceptHook set_excepthook(ExceptHook hook);

/// Options of a Thread (Python: Thread(name=..., daemon=...)).
struct ThreadOptions {
    std::string name;     ///< default "Thread-N"
    bool daemon = false;  ///< true: destroying the Thread object detaches it (it dies with the process)
};

/// threading.Thread(target, args, name, daemon). Created, then start()ed, as in Python. The
/// function may take a std::stop_token first (as with std::jthread): request_stop() asks it to
/// stop — the cooperative way to stop a thread (E8). An exception escaping it goes to the
/// excepthook. A non-daemon Thread's destructor requests a stop and joins (std::jthread's rule);
/// a daemon's detaches.
class Thread {
public:
    template <class F, class... A>
        requires(!std::is_same_v<std::decay_t<F>, ThreadOptions>)
    explicit Thread(F&& fn, A&&... args) : Thread(ThreadOptions{}, std::forward<F>(fn), std::forward<A>(args)...) {}
    template <class F, class... A>
    Thread(ThreadOptions options, F&& fn, A&&... args)
        : s_(std::make_shared<State>()), daemon_(options.daemon) {
        s_->name = options.name.empty() ? default_name() : std::move(options.name);
        s_->body = make_body(std::forward<F>(fn), std::forward<A>(args)...);
    }
    Thread(const Thread&) = delete;
    Thread& operator=(const Thread&) = delete;
    ~Thread();

    /// Python start(): RuntimeError if called twice.
    void start();
    /// Python join(): waits for the thread to end. RuntimeError before start() or from the
    /// thread itself. Several threads may join the same Thread at once, as in Python.
    void join();
    /// Python join(timeout) + is_alive(): true if the thread ended within `timeout`.
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        check_joinable();
        {
            std::unique_lock lk(s_->mu);
            if (!s_->cv.wait_until(lk, aio::detail::deadline_after(timeout), [&] { return s_->finished; })) return false;
        }
        reap();
        return true;
    }
    /// Python is_alive(): started and not finished.
    [[nodiscard]] bool is_alive() const;
    [[nodiscard]] const std::string& name() const noexcept { return s_->name; }
    [[nodiscard]] bool daemon() const noexcept { return daemon_; }
    /// Python native_id: the kernel thread id once started, else 0.
    [[nodiscard]] int64_t native_id() const noexcept { return s_->tid.load(std::memory_order_acquire); }
    /// Asks the function to stop (through its std::stop_token); true if this call made the request.
    bool request_stop() noexcept { return s_->stop.request_stop(); }
    [[nodiscard]] std::stop_token get_stop_token() const noexcept { return s_->stop.get_token(); }

private:
    struct Body {
        virtual ~Body() = default;
        virtual void run(std::stop_token st) = 0;
    };
    template <class F, class Tuple>
    struct BodyImpl final : Body {
        BodyImpl(F f, Tuple t) : fn(std::move(f)), args(std::move(t)) {}
        void run(std::stop_token st) override {
            std::apply(
                [&](auto&... a) {
                    if constexpr (std::is_invocable_v<F&, std::stop_token, decltype(a)...>) std::invoke(fn, std::move(st), std::move(a)...);
                    else std::invoke(fn, std::move(a)...);
                },
                args);
        }
        F fn;
        Tuple args;
    };
    template <class F, class... A>
    static std::unique_ptr<Body> make_body(F&& fn, A&&... args) {
        using FD = std::decay_t<F>;
        using T = std::tuple<std::decay_t<A>...>;
        static_assert(std::is_invocable_v<FD&, std::decay_t<A>...> || std::is_invocable_v<FD&, std::stop_token, std::decay_t<A>...>,
                      "Thread: the function cannot be called with these arguments");
        return std::make_unique<BodyImpl<FD, T>>(FD(std::forward<F>(fn)), T(std::forward<A>(args)...));
    }
    struct State {
        std::unique_ptr<Body> body;
        std::string name;
        std::stop_source stop;
        std::mutex mu;
        std::condition_variable cv;
        bool finished = false;
        std::atomic<int64_t> tid{0};
    };
    static std::string default_name();
    static void run(const std::shared_ptr<State>& s) noexcept;
    void check_joinable() const;
    /// Joins the OS thread once it has finished; the first of several joiners does it.
    void reap();

    std::shared_ptr<State> s_;  // shared with the running thread: a daemon outlives this object
    // start() and the joiners may race (Python allows joining from several threads): t_ is only
    // touched under os_mu_, and started_ is read without it.
    std::mutex os_mu_;
    std::thread t_;
    bool daemon_;
    std::atomic<bool> started_{false};
};

/// threading.Timer(interval, function, args): a thread that calls the function after `interval`
/// unless cancel() came first. Destroying a Timer that has not fired cancels it (and joins).
class Timer {
public:
    template <class Rep, class Period, class F, class... A>
    Timer(std::chrono::duration<Rep, Period> interval, F&& fn, A&&... args)
        : finished_(std::make_shared<Event>()),
          thread_(ThreadOptions{.name = "Timer", .daemon = false},
                  [done = finished_, d = std::chrono::duration_cast<std::chrono::nanoseconds>(interval),
                   call = std::bind_front(std::forward<F>(fn), std::forward<A>(args)...)]() mutable {
                      if (!done->wait(d)) call();  // (ran to the deadline without being cancelled)
                      done->set();
                  }) {}
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    ~Timer() {
        cancel();  // then Thread's destructor joins
    }
    /// Python start().
    void start() { thread_.start(); }
    /// Python cancel(): the function will not run if it has not started yet.
    void cancel() { finished_->set(); }
    /// Python join().
    void join() { thread_.join(); }
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return thread_.join(timeout);
    }
    [[nodiscard]] bool is_alive() const { return thread_.is_alive(); }

private:
    std::shared_ptr<Event> finished_;
    Thread thread_;
};

}  // namespace aio::threading
