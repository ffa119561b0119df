#include "signals.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include "aio/core/errors.hpp"

namespace aio::detail::signals {

namespace {
constexpr int kMax = 65;
std::atomic<int> g_fd[kMax];
std::atomic<bool> g_pending[kMax];
std::atomic<bool> g_escalate{false};
std::atomic<int> g_sigint_count{0};

struct Slot {
    EventLoop* owner = nullptr;
    struct sigaction previous {};
};
std::mutex g_mutex;
Slot g_slots[kMax];

extern "C" void on_signal(int sig) {
    const int saved = errno;
    if (sig == SIGINT && g_escalate.load(std::memory_order_relaxed)) {
        if (g_sigint_count.fetch_add(1, std::memory_order_relaxed) >= 1) {
            ::signal(SIGINT, SIG_DFL);
            ::raise(SIGINT);
        }
    }
    g_pending[sig].store(true, std::memory_order_relaxed);
    const int fd = g_fd[sig].load(std::memory_order_relaxed);
    if (fd >= 0) {
        uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(fd, &one, sizeof one);
    }
    errno = saved;
}

struct Init {
    Init() {
        for (auto& f : g_fd) f.store(-1);
    }
} g_init;
}  // namespace

void install(int sig, int wakeup_fd, EventLoop* loop) {
    if (sig <= 0 || sig >= kMax) throw std::invalid_argument("invalid signal number " + std::to_string(sig));
    if (sig == SIGKILL || sig == SIGSTOP) throw std::invalid_argument("signal " + std::to_string(sig) + " cannot be caught");
    std::lock_guard lk(g_mutex);
    Slot& s = g_slots[sig];
    if (s.owner && s.owner != loop) throw RuntimeError("signal " + std::to_string(sig) + " is already handled by another event loop");
    if (s.owner == loop) return;
    struct sigaction sa {};
    sa.sa_handler = &on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    g_fd[sig].store(wakeup_fd);
    g_pending[sig].store(false);
    if (::sigaction(sig, &sa, &s.previous) < 0) {
        g_fd[sig].store(-1);
        throw std::system_error(errno, std::generic_category(), "sigaction");
    }
    s.owner = loop;
}

void uninstall(int sig, EventLoop* loop) noexcept {
    if (sig <= 0 || sig >= kMax) return;
    std::lock_guard lk(g_mutex);
    Slot& s = g_slots[sig];
    if (s.owner != loop) return;
    ::sigaction(sig, &s.previous, nullptr);
    g_fd[sig].store(-1);
    s.owner = nullptr;
}

bool take_pending(int sig) noexcept {
    return sig > 0 && sig < kMax && g_pending[sig].exchange(false, std::memory_order_relaxed);
}

void set_sigint_escalation(bool enabled) noexcept {
    g_sigint_count.store(0);
    g_escalate.store(enabled);
}

int sigint_count() noexcept { return g_sigint_count.load(); }

}  // namespace aio::detail::signals
