// The OS readiness interface behind the loop. One implementation per OS facility (epoll now;
// io_uring and kqueue can be added beside it) so the loop itself stays portable.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "aio/core/io_operation.hpp"

namespace aio::detail {

/// Interest and readiness bits, independent of the OS's own constants.
enum : uint32_t { kReadable = 1, kWritable = 2, kError = 4 };

struct PollEvent {
    int fd;
    uint32_t events;  // kReadable | kWritable | kError
};

class Poller {
public:
    virtual ~Poller() = default;
    /// Changes the interest set of `fd` from `old_events` to `new_events` (0 = unregister).
    virtual void modify(int fd, uint32_t old_events, uint32_t new_events) = 0;
    /// Waits up to `timeout_ns` (< 0: forever, 0: don't block) and fills `out`; returns the
    /// number of events. EINTR returns 0.
    virtual int wait(int64_t timeout_ns, PollEvent* out, int max_events) = 0;

    // Completion-based I/O (io_uring): completion_io() says whether the rest may be called.
    [[nodiscard]] virtual bool completion_io() const noexcept { return false; }
    virtual void recv_multishot(int /*fd*/, IoOperation& /*op*/) { unsupported(); }
    virtual void send(int /*fd*/, std::string_view /*data*/, IoOperation& /*op*/) { unsupported(); }
    virtual void cancel(IoOperation& /*op*/) { unsupported(); }
    /// Runs io_complete for what the last wait() collected; returns how many ran.
    virtual int dispatch_completions() { return 0; }
    /// Hands queued submissions to the kernel now (a busy loop that is not about to wait).
    virtual void flush() {}
    /// At loop close: cancels every operation in flight and waits (bounded) for the kernel to
    /// let go of their buffers, without running their callbacks. Returns how many are still out.
    virtual size_t quiesce() noexcept { return 0; }

private:
    [[noreturn]] static void unsupported() {
        throw std::logic_error("completion-based I/O needs EventLoop::completion_io() (the io_uring backend)");
    }
};

std::unique_ptr<Poller> make_epoll_poller();
/// Throws std::system_error when the kernel refuses io_uring (or aiocpp was built without
/// liburing: ENOSYS).
std::unique_ptr<Poller> make_uring_poller();

}  // namespace aio::detail
