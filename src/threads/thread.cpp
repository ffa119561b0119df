// Thread names and counts, and aio::threading::Thread.
#include "aio/threads/thread.hpp"

#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>

#include "aio/core/log.hpp"

namespace aio::threading {

namespace {
thread_local std::optional<std::string> t_name;
}  // namespace

std::string current_thread_name() {
    if (t_name) return *t_name;
    if (is_main_thread()) return "MainThread";
    return "Thread-" + std::to_string(get_native_id());
}

void set_current_thread_name(std::string_view name) {
    t_name.emplace(name);
    // The kernel keeps 15 bytes and a NUL; cut on a UTF-8 character boundary so that tools show
    // valid text (a cut is clean where the next byte is not a continuation byte).
    size_t n = name.size();
    if (n > 15) {
        n = 15;
        while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
    }
    std::string os(name.substr(0, n));
    ::pthread_setname_np(::pthread_self(), os.c_str());
}

int active_count() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

int64_t get_native_id() noexcept { return static_cast<int64_t>(::gettid()); }

bool is_main_thread() noexcept { return ::gettid() == ::getpid(); }

}  // namespace aio::threading

// --- Thread ------------------------------------------------------------------------------------

namespace aio::threading {

namespace {
std::mutex g_hook_mutex;
ExceptHook g_hook;
std::atomic<int> g_thread_counter{0};

void default_hook(const ExceptHookArgs& a) {
    aio::log(LogLevel::error, "Exception in thread " + a.thread_name + ": " + describe_exception(a.exception));
}
}  // namespace

ExceptHook set_excepthook(ExceptHook hook) {
    std::lock_guard lk(g_hook_mutex);
    std::swap(g_hook, hook);
    return hook;
}

std::string Thread::default_name() { return "Thread-" + std::to_string(g_thread_counter.fetch_add(1) + 1); }

void Thread::run(const std::shared_ptr<State>& s) noexcept {
    s->tid.store(get_native_id(), std::memory_order_release);
    try {
        set_current_thread_name(s->name);
    } catch (...) {
    }
    try {
        s->body->run(s->stop.get_token());
    } catch (...) {
        ExceptHookArgs args{std::current_exception(), s->name};
        ExceptHook hook;
        {
            std::lock_guard lk(g_hook_mutex);
            hook = g_hook;
        }
        try {
            if (hook) hook(args);
            else default_hook(args);
        } catch (...) {
            // Python prints the hook's own failure and goes on; so do we.
            try {
                aio::log(LogLevel::error, "Exception in threading.excepthook: " + describe_exception(std::current_exception()));
            } catch (...) {
            }
        }
    }
    s->body.reset();  // what the function captured dies in its thread, before join() returns
    {
        std::lock_guard lk(s->mu);
        s->finished = true;
    }
    s->cv.notify_all();
}

void Thread::start() {
    std::lock_guard lk(os_mu_);
    if (started_.load(std::memory_order_relaxed)) throw RuntimeError("threads can only be started once");
    t_ = std::thread([s = s_] { run(s); });
    started_.store(true, std::memory_order_release);
}

void Thread::check_joinable() const {
    if (!started_.load(std::memory_order_acquire)) throw RuntimeError("cannot join thread before it is started");
    // Not t_.get_id(): another joiner may be resetting t_ right now. The thread stores its id
    // before running anything, so a call from the thread itself always sees it.
    if (s_->tid.load(std::memory_order_acquire) == get_native_id()) throw RuntimeError("cannot join current thread");
}

void Thread::join() {
    check_joinable();
    {
        std::unique_lock lk(s_->mu);
        s_->cv.wait(lk, [&] { return s_->finished; });
    }
    reap();
}

void Thread::reap() {
    std::lock_guard lk(os_mu_);
    if (t_.joinable()) t_.join();
}

bool Thread::is_alive() const {
    if (!started_.load(std::memory_order_acquire)) return false;
    std::lock_guard lk(s_->mu);
    return !s_->finished;
}

Thread::~Thread() {
    if (!t_.joinable()) return;
    if (daemon_ || t_.get_id() == std::this_thread::get_id()) {
        t_.detach();
        return;
    }
    s_->stop.request_stop();
    t_.join();
}

}  // namespace aio::threading
