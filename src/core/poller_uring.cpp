// io_uring backend. Two kinds of work share the ring:
// - readiness, for everything written against add_reader/add_writer: every interest is a one-shot
//   IORING_OP_POLL_ADD, re-armed when its completion has been handed to the loop;
// - whole operations (IoOperation: multishot receive into a pool of provided buffers, send), for
//   the socket transports, which then make no system call of their own per read or write.
// The re-arms, removals, operations and the wait go to the kernel together in one io_uring_enter
// per loop iteration.
//
// Why one-shot and not multishot polls: a multishot poll posts a completion when the socket
// *becomes* ready, so a reader that leaves bytes behind would not hear of them again; the loop
// and every transport are written for level-triggered readiness (as asyncio's selector loop
// and our epoll backend are). A one-shot poll that is armed while the socket is ready completes
// at once, which is exactly level-triggered, at the price of one submission per event, and
// submissions cost no system call of their own.
#include "poller.hpp"

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <system_error>

#if AIO_HAVE_LIBURING
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <unistd.h>

#include <sys/mman.h>

#include <chrono>
#include <vector>

namespace aio::detail {
namespace {

// user_data of a poll: the fd in the low half, its registration's generation in the high half
// (top bit set), so that the completion of a poll removed meanwhile (or of an fd number reused)
// is recognised and dropped. An IoOperation's user_data is its address (top bit clear: user-space
// pointers). Removals and cancellations carry kRemoveTag and are never reported.
constexpr uint64_t kRemoveTag = ~uint64_t{0};
constexpr uint64_t kPollBit = uint64_t{1} << 63;
constexpr uint32_t kGenMask = 0x7fffffffu;  // a generation keeps clear of kPollBit

uint64_t tag(int fd, uint32_t gen) noexcept { return kPollBit | (uint64_t{gen} << 32) | static_cast<uint32_t>(fd); }

// The provided buffer pool a multishot receive fills: shared by every socket of the loop, so an
// idle connection holds no receive buffer (as the readiness path's one buffer per thread). 128
// buffers of 32 KiB: 4 MiB of address space per loop, touched only as traffic needs it.
constexpr unsigned kBufCount = 128;
constexpr unsigned kBufSize = 32 * 1024;
constexpr uint16_t kBufGroup = 0;

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
        setup_buffers();
    }
    ~UringPoller() override {
        quiesce();
        io_uring_queue_exit(&ring_);
        if (br_) ::munmap(br_, br_bytes_);
        if (bufs_) ::munmap(bufs_, size_t{kBufCount} * kBufSize);
    }
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
            // GETEVENTS even without waiting: it runs the task work the kernel queued for us
            // (COOP_TASKRUN), so a receive whose bytes our own send just delivered is reported
            // now, not at some later wait (a virtual-time loop would think itself idle).
            r = io_uring_submit_and_get_events(&ring_);
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
            if (!(ud & kPollBit)) {
                done_.push_back({ud, cqe->res, cqe->flags});
                continue;
            }
            const int fd = static_cast<int>(static_cast<uint32_t>(ud));
            const auto gen = static_cast<uint32_t>(ud >> 32) & kGenMask;
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

    [[nodiscard]] bool completion_io() const noexcept override { return br_ != nullptr; }

    void recv_multishot(int fd, IoOperation& op) override {
        io_uring_sqe* s = sqe();
        io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = kBufGroup;
        start(s, op);
    }

    void send(int fd, std::string_view data, IoOperation& op) override {
        io_uring_sqe* s = sqe();
        io_uring_prep_send(s, fd, data.data(), data.size(), MSG_NOSIGNAL);
        start(s, op);
    }

    void cancel(IoOperation& op) override {
        if (!op.in_flight()) return;
        io_uring_sqe* s = sqe();
        io_uring_prep_cancel64(s, reinterpret_cast<uint64_t>(&op), 0);
        io_uring_sqe_set_data64(s, kRemoveTag);
        // At once, as epoll_ctl would: a transport that pauses reading expects what arrives from
        // now on to stay in the kernel (TCP's flow control), not to be received and held.
        submit_now();
    }

    int dispatch_completions() override {
        if (done_.empty()) return 0;
        // io_complete may submit, cancel, or end the loop's interest in anything: work on a
        // batch of our own.
        batch_.swap(done_);
        unsigned returned = 0;
        for (const Done& d : batch_) {
            auto* op = reinterpret_cast<IoOperation*>(d.user_data);
            const bool more = (d.flags & IORING_CQE_F_MORE) != 0;
            std::string_view data;
            int bid = -1;
            if (d.flags & IORING_CQE_F_BUFFER) {
                bid = static_cast<int>(d.flags >> IORING_CQE_BUFFER_SHIFT);
                if (d.res > 0) data = {buffer(bid), static_cast<size_t>(d.res)};
            }
            if (!more) {
                IoOperationAccess::set_in_flight(*op, false);
                --in_flight_;
            }
            op->io_complete(d.res, data, more);
            if (bid >= 0) {
                give_back(bid, returned);
                ++returned;
            }
        }
        if (returned) io_uring_buf_ring_advance(br_, static_cast<int>(returned));
        const auto count = static_cast<int>(batch_.size());
        batch_.clear();
        return count;
    }

    void flush() override {
        if (io_uring_sq_ready(&ring_) > 0) submit_now();
    }

    size_t quiesce() noexcept override {
        if (in_flight_ == 0) return 0;
        // Nothing runs the operations' callbacks any more; what matters is that the kernel is
        // done with their buffers before their owners free them.
        for (Done& d : done_)
            if (!(d.flags & IORING_CQE_F_MORE)) {
                IoOperationAccess::set_in_flight(*reinterpret_cast<IoOperation*>(d.user_data), false);
                --in_flight_;
            }
        done_.clear();
        if (io_uring_sqe* s = io_uring_get_sqe(&ring_)) {
            io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(s, kRemoveTag);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
            __kernel_timespec ts{0, 50'000'000};
            io_uring_cqe* cqe = nullptr;
            int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
            if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN) break;
            unsigned head;
            unsigned seen = 0;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                const uint64_t ud = cqe->user_data;
                if (ud == kRemoveTag || (ud & kPollBit) || (cqe->flags & IORING_CQE_F_MORE)) continue;
                IoOperationAccess::set_in_flight(*reinterpret_cast<IoOperation*>(ud), false);
                --in_flight_;
            }
            io_uring_cq_advance(&ring_, seen);
        }
        return in_flight_;
    }

private:
    struct Done {
        uint64_t user_data;
        int res;
        uint32_t flags;
    };

    void start(io_uring_sqe* s, IoOperation& op) {
        io_uring_sqe_set_data64(s, reinterpret_cast<uint64_t>(&op));
        IoOperationAccess::set_in_flight(op, true);
        ++in_flight_;
    }

    // Registers the provided buffer pool; a kernel without buffer rings (before 5.19) keeps the
    // backend to readiness, which works everywhere io_uring does.
    void setup_buffers() noexcept {
        const char* env = std::getenv("AIO_URING_IO");
        if (env && std::string_view(env) == "readiness") return;
        br_bytes_ = kBufCount * sizeof(io_uring_buf);
        void* ring_mem = ::mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ring_mem == MAP_FAILED) return;
        void* buf_mem = ::mmap(nullptr, size_t{kBufCount} * kBufSize, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (buf_mem == MAP_FAILED) {
            ::munmap(ring_mem, br_bytes_);
            return;
        }
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<uint64_t>(ring_mem);
        reg.ring_entries = kBufCount;
        reg.bgid = kBufGroup;
        if (io_uring_register_buf_ring(&ring_, &reg, 0) < 0) {
            ::munmap(ring_mem, br_bytes_);
            ::munmap(buf_mem, size_t{kBufCount} * kBufSize);
            return;
        }
        br_ = static_cast<io_uring_buf_ring*>(ring_mem);
        bufs_ = static_cast<char*>(buf_mem);
        io_uring_buf_ring_init(br_);
        for (unsigned i = 0; i < kBufCount; ++i) give_back(static_cast<int>(i), i);
        io_uring_buf_ring_advance(br_, kBufCount);
    }

    char* buffer(int bid) const noexcept { return bufs_ + static_cast<size_t>(bid) * kBufSize; }
    // Puts buffer `bid` in the ring `offset` entries past its tail (made visible by an advance).
    void give_back(int bid, unsigned offset) noexcept {
        io_uring_buf_ring_add(br_, buffer(bid), kBufSize, static_cast<unsigned short>(bid),
                              io_uring_buf_ring_mask(kBufCount), static_cast<int>(offset));
    }

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
        f.gen = (f.gen + 1) & kGenMask;
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
    io_uring_buf_ring* br_ = nullptr;
    size_t br_bytes_ = 0;
    char* bufs_ = nullptr;
    size_t in_flight_ = 0;      // operations submitted and not finally completed
    std::vector<Done> done_;    // completions collected by wait(), for dispatch_completions()
    std::vector<Done> batch_;
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
