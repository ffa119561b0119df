// The one awaiter the networking layer needs below transports: "suspend this task until fd is
// readable (or writable)". Private to src/net.
#pragma once

#include <coroutine>
#include <string>
#include <system_error>

#include "aio/core/event_loop.hpp"
#include "aio/detail/core.hpp"
#include "aio/detail/slot_wait.hpp"

namespace aio::detail {

/// Registers a reader or writer for the wait only (Python's sock_* calls add and remove one each
/// time too). Cancelling the task unregisters at once and resumes it with CancelledError.
class FdWait final : public SlotWait {
public:
    FdWait(int fd, bool write) noexcept : fd_(fd), write_(write) {}
    FdWait(const FdWait&) = delete;
    FdWait& operator=(const FdWait&) = delete;
    ~FdWait() { disarm(); }

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        TaskCore& t = current_task_core();
        loop_ = t.loop();
        if (write_) loop_->add_writer(fd_, [this] { fired(); });
        else loop_->add_reader(fd_, [this] { fired(); });
        armed_ = true;
        suspend(t, h);
    }
    void await_resume() { resumed(); }
    bool cancel_wait(TaskCore& t) noexcept override {
        disarm();
        return cancelled(t);
    }
    void describe(std::string& out) const override {
        out += "waiting for fd " + std::to_string(fd_) + (write_ ? " to become writable" : " to become readable");
    }

private:
    void fired() noexcept {
        disarm();
        wake_task();
    }
    void disarm() noexcept {
        if (!armed_) return;
        armed_ = false;
        try {
            if (write_) loop_->remove_writer(fd_);
            else loop_->remove_reader(fd_);
        } catch (...) {  // epoll_ctl failing on removal leaves nothing of ours behind
        }
    }

    int fd_;
    bool write_;
    bool armed_ = false;
    EventLoop* loop_ = nullptr;
};

[[noreturn]] inline void throw_errno(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

}  // namespace aio::detail
