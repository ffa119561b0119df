// io_uring backend, readiness first (issue #21's first step): every interest is a one-shot
// IORING_OP_POLL_ADD, re-armed when its completion has been handed to the loop, and the re-arms,
// removals and the wait go to the kernel together in one io_uring_enter per loop iteration.
//
// Why one-shot and not multishot polls: a multishot poll posts a completion when the socket
// *becomes* ready, so a reader that leaves bytes behind would not hear of them again; the loop
// and every transport are written for level-triggered readiness (as asyncio's selector loop
// and our epoll backend are). A one-shot poll that is armed while the socket is ready completes
// at once, which is exactly level-triggered, at the price of one submission per event, and
// submissions cost no system call of their own.
#include "poller.hpp"

#include <cerrno>
#include <system_error>

#if AIO_HAVE_LIBURING
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <unistd.h>

#include <vector>

namespace aio::detail {
namespace {

// user_data of a poll: the fd in the low half, its registration's generation in the high half,
// so that the completion of a poll removed meanwhile (or of an fd number reused) is recognised
// and dropped. Removals carry kRemoveTag and are never reported.
constexpr uint64_t kRemoveTag = ~uint64_t{0};

uint64_t tag(int fd, uint32_t gen) noexcept { return (uint64_t{gen} << 32) | static_cast<uint32_t>(fd); }

unsigned poll_mask(uint32_t events) noexcept {
    unsigned m = 0;
    if (events & kReadable) m |= POLLIN | POLLRDHUP;
    if (events & kWritable) m |= POLLOUT;
    return m;
}

class UringPoller final : public Poller {
public:
    explicit UringPoller(unsigned entries) {
        io_uring_params p{};
        // Not IORING_SETUP_SINGLE_ISSUER: a loop may be made on one thread and run on another.
        p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
        int r = io_uring_queue_init_params(entries, &ring_, &p);
        if (r == -EINVAL) {  // an older kernel without those flags
            p = io_uring_params{};
            r = io_uring_queue_init_params(entries, &ring_, &p);
        }
        if (r < 0) throw std::system_error(-r, std::generic_category(), "io_uring_queue_init");
        if (!(p.features & IORING_FEAT_EXT_ARG)) {
            io_uring_queue_exit(&ring_);
            throw std::system_error(ENOSYS, std::generic_category(),
                                    "io_uring without IORING_FEAT_EXT_ARG (kernel 5.11+ needed)");
        }
    }
    ~UringPoller() override { io_uring_queue_exit(&ring_); }
    UringPoller(const UringPoller&) = delete;
    UringPoller& operator=(const UringPoller&) = delete;

    void modify(int fd, uint32_t old_events, uint32_t new_events) override {
        if (fd < 0) throw std::system_error(EBADF, std::generic_category(), "io_uring poll");
        if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(static_cast<size_t>(fd) + 1);
        Fd& f = fds_[static_cast<size_t>(fd)];
        // epoll_ctl refuses a closed fd at once; a poll would only fail on submission, far from
        // the call that made the mistake.
        if (old_events == 0 && new_events != 0 && ::fcntl(fd, F_GETFD) < 0)
            throw std::system_error(errno, std::generic_category(), "io_uring poll");
        f.interest = new_events;
        if (f.armed && f.armed_events != new_events) {
            disarm(fd, f);
            // A poll holds a reference to the file: a caller that unregisters and then closes
            // the fd (a server's listener) expects the socket closed at once, not at the next
            // wait, so the removal goes to the kernel now.
            if (new_events == 0) submit_now();
        }
        if (new_events != 0 && !f.armed && !f.dirty) {
            f.dirty = true;
            dirty_.push_back(fd);
        }
    }

    int wait(int64_t timeout_ns, PollEvent* out, int max_events) override {
        arm_dirty();
        io_uring_cqe* cqe = nullptr;
        int r;
        if (timeout_ns == 0) {
            r = io_uring_submit(&ring_);
        } else if (timeout_ns < 0) {
            r = io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec ts{static_cast<int64_t>(timeout_ns / 1'000'000'000),
                                 static_cast<long long>(timeout_ns % 1'000'000'000)};
            r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        }
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
            throw std::system_error(-r, std::generic_category(), "io_uring_enter");
        int n = 0;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            if (n == max_events) break;
            ++seen;
            const uint64_t ud = cqe->user_data;
            if (ud == kRemoveTag) continue;
            const int fd = static_cast<int>(static_cast<uint32_t>(ud));
            const auto gen = static_cast<uint32_t>(ud >> 32);
            if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) continue;
            Fd& f = fds_[static_cast<size_t>(fd)];
            if (!f.armed || f.gen != gen) continue;  // removed or replaced since
            f.armed = false;
            if (f.interest != 0 && !f.dirty) {  // re-armed with the next wait
                f.dirty = true;
                dirty_.push_back(fd);
            }
            if (cqe->res == -ECANCELED) continue;
            uint32_t e = 0;
            if (cqe->res < 0) {
                e = kError | kReadable | kWritable;
            } else {
                const auto m = static_cast<unsigned>(cqe->res);
                if (m & (POLLIN | POLLHUP | POLLRDHUP)) e |= kReadable;
                if (m & POLLOUT) e |= kWritable;
                if (m & (POLLERR | POLLNVAL)) e |= kError | kReadable | kWritable;
            }
            e &= f.interest | kError;
            if (e == 0) continue;
            out[n++] = {fd, e};
        }
        io_uring_cq_advance(&ring_, seen);
        return n;
    }

private:
    struct Fd {
        uint32_t interest = 0;      // what the loop wants
        uint32_t armed_events = 0;  // what the poll in flight asks for
        uint32_t gen = 0;
        bool armed = false;
        bool dirty = false;  // in dirty_: to be armed with the next wait
    };

    io_uring_sqe* sqe() {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        if (s) return s;
        // The submission queue is full: hand it to the kernel and take a fresh slot.
        submit_now();
        s = io_uring_get_sqe(&ring_);
        if (!s) throw std::system_error(EBUSY, std::generic_category(), "io_uring submission queue full");
        return s;
    }

    void submit_now() {
        int r = io_uring_submit(&ring_);
        if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR)
            throw std::system_error(-r, std::generic_category(), "io_uring_submit");
    }

    void disarm(int fd, Fd& f) {
        io_uring_sqe* s = sqe();
        io_uring_prep_poll_remove(s, tag(fd, f.gen));
        io_uring_sqe_set_data64(s, kRemoveTag);
        f.armed = false;
        ++f.gen;
    }

    void arm_dirty() {
        for (int fd : dirty_) {
            Fd& f = fds_[static_cast<size_t>(fd)];
            f.dirty = false;
            if (f.interest == 0 || f.armed) continue;
            io_uring_sqe* s = sqe();
            io_uring_prep_poll_add(s, fd, poll_mask(f.interest));
            io_uring_sqe_set_data64(s, tag(fd, f.gen));
            f.armed = true;
            f.armed_events = f.interest;
        }
        dirty_.clear();
    }

    io_uring ring_{};
    std::vector<Fd> fds_;
    std::vector<int> dirty_;
};

}  // namespace

std::unique_ptr<Poller> make_uring_poller() { return std::make_unique<UringPoller>(1024); }

}  // namespace aio::detail

#else  // built without liburing (Debian's liburing-dev)

namespace aio::detail {

std::unique_ptr<Poller> make_uring_poller() {
    throw std::system_error(ENOSYS, std::generic_category(), "aiocpp was built without liburing");
}

}  // namespace aio::detail

#endif
