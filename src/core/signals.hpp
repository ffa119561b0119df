// Process-wide signal plumbing. A signal handler may only do async-signal-safe things, so it
// sets a flag and writes the owning loop's eventfd; the loop runs the Python-level callback.
#pragma once

namespace aio {
class EventLoop;
}

namespace aio::detail::signals {

/// Routes `sig` to `loop` (whose wake-up eventfd is `wakeup_fd`). Throws std::invalid_argument
/// for SIGKILL, SIGSTOP or an out-of-range number, RuntimeError if another loop owns `sig`.
void install(int sig, int wakeup_fd, EventLoop* loop);
/// Restores the disposition that was in place before install().
void uninstall(int sig, EventLoop* loop) noexcept;
/// True (once) if `sig` arrived since the last call.
bool take_pending(int sig) noexcept;
/// aio::run's interrupt rule: while enabled, a second SIGINT restores the default action and
/// re-raises, so a program stuck in a blocking call can still be stopped with Ctrl-C twice.
void set_sigint_escalation(bool enabled) noexcept;
/// How many SIGINTs arrived while escalation was enabled.
int sigint_count() noexcept;

}  // namespace aio::detail::signals
