// aio::IoOperation — one read or write handed whole to the kernel, which reports when it is done
// (io_uring's completion model; on Windows, asyncio's proactor loop does the same with
// overlapped I/O). The readiness model (add_reader: "you may read now") costs a system call per
// read and per write; a completion costs none of its own: the loop submits every operation
// queued in an iteration and collects every completion in the one io_uring_enter it makes to
// wait. Transports use this when EventLoop::completion_io() is true; most code never sees it.
#pragma once

#include <string_view>

namespace aio {

class EventLoop;
namespace detail {
struct IoOperationAccess;
}

/// An operation in flight on a loop (no Python counterpart in the public API: asyncio's
/// IocpProactor.recv/send play this part privately). The owner keeps it, and any buffer it
/// names, alive and unmoved from EventLoop::io_send / io_recv_multishot until the completion
/// whose `more` is false: cancelling (EventLoop::io_cancel) only hastens that completion. One
/// operation in flight per object at a time.
class IoOperation {
public:
    IoOperation() = default;
    IoOperation(const IoOperation&) = delete;
    IoOperation& operator=(const IoOperation&) = delete;

    /// The kernel's answer, on the loop's thread. `result`: bytes (>= 0; 0 from a receive is
    /// the peer's EOF) or -errno (-ECANCELED after io_cancel). `data`: the bytes a multishot
    /// receive got, valid during the call only (the buffer goes back to the loop's pool after).
    /// `more`: a multishot receive stays armed and will complete again.
    virtual void io_complete(int result, std::string_view data, bool more) noexcept = 0;

    /// True from submission until the completion whose `more` is false (or the loop closed).
    [[nodiscard]] bool in_flight() const noexcept { return in_flight_; }

protected:
    ~IoOperation() = default;

private:
    friend struct detail::IoOperationAccess;
    bool in_flight_ = false;
};

namespace detail {
/// The backend's handle on an operation's state.
struct IoOperationAccess {
    static void set_in_flight(IoOperation& op, bool v) noexcept { op.in_flight_ = v; }
};
}  // namespace detail

}  // namespace aio
