// The socket transport on io_uring's completion path (EventLoop::completion_io(): a multishot
// receive into the loop's buffer pool, sends handed whole to the kernel). The rest of the net
// suite runs on it too (ctest's io_uring.* runs); these are the cases only this path has: data
// the kernel received while the transport stopped reading, a cancellation racing a completion
// already in the ring, the buffer pool running dry, operations still in flight when the loop
// closes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>
#include <thread>
#include <vector>

#include "net_test_util.hpp"

using namespace std::chrono_literals;
using aiotest::open_fds;
using aiotest::recv_all;

namespace {

bool ring_available() {
    aio::LoopOptions o;
    o.backend = aio::Backend::io_uring;
    aio::EventLoop loop(o);
    return loop.completion_io();
}

#define SKIP_WITHOUT_RING()                                                                        \
    if (!ring_available()) GTEST_SKIP() << "this kernel has no io_uring with provided buffer rings"

template <class T>
T run_ring(aio::Task<T> t) {
    aio::LoopOptions o;
    o.backend = aio::Backend::io_uring;
    return aio::run(aiotest::with_deadline(std::move(t), std::chrono::seconds(20)), o);
}

/// Records what the transport hands over; optionally pauses reading on every chunk.
class Sink : public aio::Protocol {
public:
    void connection_made(aio::Transport& t) override { transport = &t; }
    void data_received(std::string_view d) override {
        if (paused_by_us) ++while_paused;
        data += d;
        ++chunks;
        if (pause_on_data) {
            transport->pause_reading();
            paused_by_us = true;
        }
        changed.set();
    }
    bool eof_received() override {
        if (paused_by_us) ++while_paused;
        eof = true;
        eof_after_bytes = data.size();
        changed.set();
        return false;
    }
    void connection_lost(std::exception_ptr e) override {
        lost = true;
        lost_exc = e;
        changed.set();
    }
    void resume() {
        paused_by_us = false;
        transport->resume_reading();
    }
    template <class P>
    aio::Task<void> until(P pred) {
        while (!pred()) {
            changed.clear();
            co_await changed.wait();
        }
    }

    aio::Transport* transport = nullptr;
    std::string data;
    size_t chunks = 0;
    bool pause_on_data = false;
    bool paused_by_us = false;
    int while_paused = 0;  // callbacks that came while we had paused reading: must stay 0
    bool eof = false;
    size_t eof_after_bytes = 0;
    bool lost = false;
    std::exception_ptr lost_exc;
    aio::Event changed;
};

struct Listener {
    aio::Socket sock{AF_INET, SOCK_STREAM};
    Listener() {
        sock.bind(aio::SockAddr::ip("127.0.0.1", 0));
        sock.listen(512);
    }
    [[nodiscard]] uint16_t port() const { return sock.getsockname().port(); }
};

struct Conn {
    std::shared_ptr<aio::Transport> t;
    std::shared_ptr<Sink> p;
    aio::Socket peer;
};

aio::Task<Conn> connect_sink(const Listener& l) {
    auto conn = co_await aio::create_connection_as<Sink>([] { return std::make_shared<Sink>(); }, "127.0.0.1",
                                                         l.port());
    auto accepted = co_await aio::sock_accept(l.sock.fileno());
    co_return Conn{std::move(conn.first), std::move(conn.second), std::move(accepted.first)};
}

// Bytes that say where they are in the stream, so a reordering or a repeat shows.
std::string pattern(size_t offset, size_t n, unsigned salt = 0) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((offset + i) * 131 + salt + (offset + i) / 251);
    return s;
}

// Sends all of `data` on a blocking copy of `fd` from this thread.
void send_blocking(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EAGAIN) {
                pollfd p{fd, POLLOUT, 0};
                ::poll(&p, 1, 1000);
                continue;
            }
            return;
        }
        off += static_cast<size_t>(n);
    }
}

}  // namespace

TEST(RingTransport, ReadsAndWritesWithoutReadinessCallbacks) {
    SKIP_WITHOUT_RING();
    run_ring([]() -> aio::Task<void> {
        aio::EventLoop& loop = aio::get_running_loop();
        NET_CO_ASSERT(loop.completion_io());
        Listener l;
        const size_t fds_before = loop.stats().fds;
        Conn c = co_await connect_sink(l);
        EXPECT_EQ(loop.stats().fds, fds_before) << "the transport registered a reader or writer with the loop";
        c.t->write("ping");
        EXPECT_EQ(c.t->get_write_buffer_size(), 4u) << "the send is the kernel's until it completes";
        std::string got = co_await aio::sock_recv(c.peer.fileno(), 100);
        EXPECT_EQ(got, "ping");
        EXPECT_EQ(c.t->get_write_buffer_size(), 0u);
        co_await aio::sock_sendall(c.peer.fileno(), "pong");
        co_await c.p->until([&] { return c.p->data.size() >= 4; });
        EXPECT_EQ(c.p->data, "pong");
        c.t->close();
        co_await c.p->until([&] { return c.p->lost; });
        EXPECT_EQ(co_await aio::sock_recv(c.peer.fileno(), 10), "") << "the peer sees our close";
    }());
}

// A transport that pauses in every data_received while the peer keeps sending: each pause
// cancels the multishot receive, and whatever the kernel had already received is held and
// handed over, in order, once reading resumes.
TEST(RingTransport, PausingOnEveryChunkLosesAndReordersNothing) {
    SKIP_WITHOUT_RING();
    run_ring([]() -> aio::Task<void> {
        Listener l;
        Conn c = co_await connect_sink(l);
        c.p->pause_on_data = true;
        const std::string all = pattern(0, 3 << 20);
        const int fd = c.peer.fileno();
        std::thread sender([fd, &all] {
            for (size_t off = 0; off < all.size(); off += 7001)
                send_blocking(fd, all.substr(off, std::min<size_t>(7001, all.size() - off)));
        });
        while (c.p->data.size() < all.size() && !c.p->lost) {
            co_await c.p->until([&] { return c.p->paused_by_us || c.p->lost; });
            co_await aio::sleep(0ms);  // a loop iteration while paused: completions come and are held
            c.p->resume();
        }
        sender.join();
        EXPECT_EQ(c.p->while_paused, 0);
        EXPECT_EQ(c.p->data.size(), all.size());
        EXPECT_TRUE(c.p->data == all) << "bytes reordered, repeated or lost";
        EXPECT_GT(c.p->chunks, 1u);
        c.t->close();
        co_await c.p->until([&] { return c.p->lost; });
    }());
}

// The cancellation of a receive whose completion the kernel has already posted: the data is not
// lost, not delivered while paused, and delivered once after resume_reading.
TEST(RingTransport, PauseWhileADataCompletionIsAlreadyInTheRing) {
    SKIP_WITHOUT_RING();
    run_ring([]() -> aio::Task<void> {
        Listener l;
        Conn c = co_await connect_sink(l);
        // Sent while the loop is not polling: the receive completes inside the kernel, and its
        // completion waits in the ring for the loop's next poll.
        std::thread([fd = c.peer.fileno()] { send_blocking(fd, "in the ring"); }).join();
        c.p->paused_by_us = true;
        c.t->pause_reading();
        for (int i = 0; i < 3; ++i) co_await aio::sleep(1ms);
        EXPECT_EQ(c.p->data, "") << "data_received while paused";
        std::thread([fd = c.peer.fileno()] { send_blocking(fd, ", then in the kernel"); }).join();
        for (int i = 0; i < 3; ++i) co_await aio::sleep(1ms);
        EXPECT_EQ(c.p->data, "");
        c.p->resume();
        co_await c.p->until([&] { return c.p->data.size() >= 31 || c.p->lost; });
        EXPECT_EQ(c.p->data, "in the ring, then in the kernel");
        EXPECT_EQ(c.p->while_paused, 0);
        c.t->close();
        co_await c.p->until([&] { return c.p->lost; });
    }());
}

// The peer's EOF arriving while the transport does not read is held too, and comes after the
// data before it.
TEST(RingTransport, EofWhilePausedComesAfterTheData) {
    SKIP_WITHOUT_RING();
    run_ring([]() -> aio::Task<void> {
        Listener l;
        Conn c = co_await connect_sink(l);
        c.p->pause_on_data = true;
        std::thread([fd = c.peer.fileno()] {
            send_blocking(fd, "last words");
            ::shutdown(fd, SHUT_WR);
        }).join();
        co_await c.p->until([&] { return c.p->paused_by_us || c.p->lost; });
        for (int i = 0; i < 3; ++i) co_await aio::sleep(1ms);
        EXPECT_FALSE(c.p->eof) << "eof_received while paused";
        c.p->pause_on_data = false;
        while (!c.p->eof && !c.p->lost) {
            c.p->resume();
            co_await c.p->until([&] { return c.p->eof || c.p->lost || c.p->data.size() >= 10; });
            if (c.p->data.size() >= 10) break;
        }
        co_await c.p->until([&] { return c.p->eof || c.p->lost; });
        EXPECT_TRUE(c.p->eof);
        EXPECT_EQ(c.p->data, "last words");
        EXPECT_EQ(c.p->eof_after_bytes, 10u);
        EXPECT_EQ(c.p->while_paused, 0);
        co_await c.p->until([&] { return c.p->lost; });  // eof_received returned false: we close
    }());
}

// More bytes arriving at once than the loop's buffer pool holds (128 x 32 KiB): receives end
// with -ENOBUFS and are armed again; every byte of every connection still arrives, in order.
TEST(RingTransport, TheBufferPoolRunningDryLosesNothing) {
    SKIP_WITHOUT_RING();
    run_ring([]() -> aio::Task<void> {
        Listener l;
        constexpr int kConns = 96;
        constexpr size_t kBytes = 96 * 1024;  // 9 MiB in all: twice the pool
        std::vector<Conn> conns;
        for (int i = 0; i < kConns; ++i) {
            conns.push_back(co_await connect_sink(l));
            aiotest::set_int_opt(conns.back().t->fileno(), SOL_SOCKET, SO_RCVBUF, 256 * 1024);
        }
        std::vector<int> fds;
        for (auto& c : conns) fds.push_back(c.peer.fileno());
        // The loop is blocked in join() meanwhile: the data waits in the sockets and the rings.
        std::thread([&fds] {
            for (size_t i = 0; i < fds.size(); ++i) send_blocking(fds[i], pattern(0, kBytes, static_cast<unsigned>(i)));
        }).join();
        for (size_t i = 0; i < conns.size(); ++i) {
            Sink& p = *conns[i].p;
            co_await p.until([&] { return p.data.size() >= kBytes || p.lost; });
            EXPECT_TRUE(p.data == pattern(0, kBytes, static_cast<unsigned>(i))) << "connection " << i;
        }
        for (auto& c : conns) c.t->close();
        for (auto& c : conns) co_await c.p->until([&] { return c.p->lost; });
    }());
}

TEST(RingTransport, APeerResetDuringTheMultishotReceiveIsConnectionResetError) {
    SKIP_WITHOUT_RING();
    run_ring([]() -> aio::Task<void> {
        Listener l;
        Conn c = co_await connect_sink(l);
        co_await aio::sock_sendall(c.peer.fileno(), "before the reset");
        co_await c.p->until([&] { return c.p->data.size() >= 16 || c.p->lost; });
        linger lg{1, 0};
        ::setsockopt(c.peer.fileno(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        c.peer.close();  // RST
        co_await c.p->until([&] { return c.p->lost; });
        EXPECT_EQ(c.p->data, "before the reset");
        auto err = aiotest::as<std::system_error>(c.p->lost_exc);
        NET_CO_ASSERT(err.has_value());
        EXPECT_EQ(err->code().value(), ECONNRESET);
    }());
}

// abort() with a send the kernel still holds: the buffer is empty at once, connection_lost
// comes, the socket is closed once the kernel gives the send back.
TEST(RingTransport, AbortWithASendInFlight) {
    SKIP_WITHOUT_RING();
    const int before = open_fds();
    run_ring([]() -> aio::Task<void> {
        Listener l;
        Conn c = co_await connect_sink(l);
        aiotest::set_int_opt(c.t->fileno(), SOL_SOCKET, SO_SNDBUF, 64 * 1024);
        c.t->write(std::string(4 << 20, 'x'));  // the peer reads nothing: the send waits
        co_await aio::sleep(1ms);
        EXPECT_GT(c.t->get_write_buffer_size(), 0u);
        c.t->abort();
        EXPECT_EQ(c.t->get_write_buffer_size(), 0u);
        co_await c.p->until([&] { return c.p->lost; });
        EXPECT_TRUE(c.p->lost_exc == nullptr);
        const std::string got = co_await recv_all(c.peer.fileno());  // ends: our socket closed
        EXPECT_LT(got.size(), size_t{4} << 20);
    }());
    EXPECT_EQ(open_fds(), before);
}

// A loop closed while a receive and a send are in flight: it cancels them and waits for the
// kernel before the transports free their buffers (ASan would see a write into freed memory).
TEST(RingTransport, ALoopClosingWithOperationsInFlightLeaksNothing) {
    SKIP_WITHOUT_RING();
    const int before = open_fds();
    aio::Socket peer;
    run_ring([&peer]() -> aio::Task<void> {
        Listener l;
        Conn c = co_await connect_sink(l);
        aiotest::set_int_opt(c.t->fileno(), SOL_SOCKET, SO_SNDBUF, 64 * 1024);
        c.t->write(std::string(4 << 20, 'y'));
        co_await aio::sleep(1ms);
        EXPECT_GT(c.t->get_write_buffer_size(), 0u);
        peer = std::move(c.peer);  // keep the peer open: the send stays stuck
        // Return with the transport open: the loop closes under it.
    }());
    peer.close();
    EXPECT_EQ(open_fds(), before);
}
