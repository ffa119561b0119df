// The OS readiness interface behind the loop. One implementation per OS facility (epoll now;
// io_uring and kqueue can be added beside it) so the loop itself stays portable.
#pragma once

#include <cstdint>
#include <memory>

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
};

std::unique_ptr<Poller> make_epoll_poller();
/// Throws std::system_error when the kernel refuses io_uring (or aiocpp was built without
/// liburing: ENOSYS).
std::unique_ptr<Poller> make_uring_poller();

}  // namespace aio::detail
