// epoll backend. Level-triggered, as asyncio's selector loop is; epoll_pwait2 gives timers
// nanosecond resolution where the kernel has it (5.11+), else we round up to milliseconds so a
// timer never fires early.
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <system_error>

#include "poller.hpp"

namespace aio::detail {
namespace {

class EpollPoller final : public Poller {
public:
    EpollPoller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    ~EpollPoller() override { ::close(epfd_); }

    void modify(int fd, uint32_t old_events, uint32_t new_events) override {
        epoll_event ev{};
        ev.data.fd = fd;
        if (new_events & kReadable) ev.events |= EPOLLIN;
        if (new_events & kWritable) ev.events |= EPOLLOUT;
        int op = old_events == 0 ? EPOLL_CTL_ADD : (new_events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
        if (::epoll_ctl(epfd_, op, fd, &ev) < 0) {
            // A closed fd has left the epoll set already; removing it is then a no-op.
            if (op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT)) return;
            throw std::system_error(errno, std::generic_category(), "epoll_ctl");
        }
    }

    int wait(int64_t timeout_ns, PollEvent* out, int max_events) override {
        epoll_event evs[256];
        if (max_events > 256) max_events = 256;
        int n = -1;
        if (have_pwait2_ && timeout_ns > 0) {
            timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
            n = static_cast<int>(::syscall(SYS_epoll_pwait2, epfd_, evs, max_events, &ts, nullptr, 0));
            if (n < 0 && errno == ENOSYS) have_pwait2_ = false;
        }
        if (!have_pwait2_ || timeout_ns <= 0) {
            int ms = timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
            n = ::epoll_wait(epfd_, evs, max_events, ms);
        }
        if (n < 0) {
            if (errno == EINTR) return 0;
            throw std::system_error(errno, std::generic_category(), "epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            uint32_t e = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) e |= kReadable;
            if (evs[i].events & EPOLLOUT) e |= kWritable;
            if (evs[i].events & EPOLLERR) e |= kError | kReadable | kWritable;
            out[i] = {evs[i].data.fd, e};
        }
        return n;
    }

private:
    int epfd_;
    bool have_pwait2_ = true;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() { return std::make_unique<EpollPoller>(); }

}  // namespace aio::detail
