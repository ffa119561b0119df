// loop.sendfile (include/aio/net/sendfile.hpp): the kernel path on a plain socket, asyncio's
// read-and-write fallback on TLS and on files that are not regular, the order of bytes around a
// transfer, and what a lost connection, a cancellation, a close or a second transfer do.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>

#include "net_test_util.hpp"

using aiotest::recv_all;
using aiotest::recv_exactly;
using aiotest::run_net;
using namespace std::chrono_literals;

namespace {

// A file of distinct bytes: a dropped, repeated or reordered chunk changes the comparison.
struct DataFile {
    aiotest::TempDir dir;
    std::string path = dir.path() + "/data.bin";
    std::string content;
    int fd = -1;
    explicit DataFile(size_t size) {
        std::mt19937 rng(42);
        content.resize(size);
        for (auto& c : content) c = static_cast<char>(rng());
        int w = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (w < 0 || ::write(w, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
            throw std::runtime_error("cannot write the test file");
        ::close(w);
        fd = ::open(path.c_str(), O_RDONLY);
    }
    ~DataFile() { ::close(fd); }
};

struct Pair {
    aio::StreamPair ours;  // the side that sends the file
    aio::Socket peer;      // a plain socket, read by hand
};

aio::Task<Pair> connect_pair(const aio::Socket& listener) {
    const uint16_t port = listener.getsockname().port();
    aio::StreamPair ours = co_await aio::open_connection("127.0.0.1", port);
    auto accepted = co_await aio::sock_accept(listener.fileno());
    co_return Pair{std::move(ours), std::move(accepted.first)};
}

aio::Socket listen_local() {
    aio::Socket s(AF_INET, SOCK_STREAM);
    s.bind(aio::SockAddr::ip("127.0.0.1", 0));
    s.listen();
    return s;
}

// Large enough that loopback's socket buffers cannot take it at once: the transfer suspends.
constexpr size_t kBig = 24 << 20;

}  // namespace

TEST(Sendfile, SendsTheWholeFileWithTheKernelPath) {
    DataFile f(3 << 20);
    run_net([&f]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        auto reader = aio::create_task(recv_all(p.peer.fileno()));
        const size_t sent = co_await aio::sendfile(p.ours.writer.transport(), f.fd);
        EXPECT_EQ(sent, f.content.size());
        p.ours.writer.close();
        std::string got = co_await reader;
        EXPECT_TRUE(got == f.content) << "received " << got.size() << " of " << f.content.size() << " bytes";
        // The descriptor was not moved: pread/sendfile with an offset leave its position alone.
        EXPECT_EQ(::lseek(f.fd, 0, SEEK_CUR), 0);
    }());
}

TEST(Sendfile, OffsetAndCountSelectASliceAndAShortFileEndsEarly) {
    DataFile f(100000);
    run_net([&f]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        size_t a = co_await aio::sendfile(p.ours.writer.transport(), f.fd, 1000, 5000);
        EXPECT_EQ(a, 5000u);
        std::string got = co_await recv_exactly(p.peer.fileno(), 5000);
        EXPECT_TRUE(got == f.content.substr(1000, 5000));
        // Asking past the end sends what there is and says so.
        size_t b = co_await aio::sendfile(p.ours.writer.transport(), f.fd, 99000, 5000);
        EXPECT_EQ(b, 1000u);
        got = co_await recv_exactly(p.peer.fileno(), 1000);
        EXPECT_TRUE(got == f.content.substr(99000));
        size_t c = co_await aio::sendfile(p.ours.writer.transport(), f.fd, 0, 0);
        EXPECT_EQ(c, 0u);
    }());
}

TEST(Sendfile, BytesBufferedBeforeGoFirstAndBytesWrittenDuringGoAfter) {
    DataFile f(kBig);
    run_net([&f]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        aio::Transport& t = p.ours.writer.transport();
        // More than the socket takes at once, so part of it sits in the transport's buffer.
        const std::string head(8 << 20, 'H');
        t.write(head);
        EXPECT_GT(t.get_write_buffer_size(), 0u);
        auto transfer = aio::create_task(aio::sendfile(t, f.fd));
        co_await aio::sleep(0ms);
        EXPECT_FALSE(transfer.done()) << "the transfer waits for the buffer and the peer";
        t.write("TAIL");  // queued behind the file, not interleaved with it
        auto reader = aio::create_task(recv_all(p.peer.fileno()));
        const size_t sent = co_await transfer;
        EXPECT_EQ(sent, f.content.size());
        p.ours.writer.close();
        std::string got = co_await reader;
        NET_CO_ASSERT(got.size() == head.size() + f.content.size() + 4);
        EXPECT_TRUE(got.compare(0, head.size(), head) == 0);
        EXPECT_TRUE(got.compare(head.size(), f.content.size(), f.content) == 0);
        EXPECT_EQ(got.substr(head.size() + f.content.size()), "TAIL");
    }());
}

TEST(Sendfile, ClosingDuringATransferFinishesItThenCloses) {
    DataFile f(kBig);
    run_net([&f]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        aio::Transport& t = p.ours.writer.transport();
        auto transfer = aio::create_task(aio::sendfile(t, f.fd));
        co_await aio::sleep(0ms);
        NET_CO_ASSERT(!transfer.done());
        p.ours.writer.close();
        auto reader = aio::create_task(recv_all(p.peer.fileno()));
        EXPECT_EQ(co_await transfer, f.content.size());
        std::string got = co_await reader;  // ends at our FIN: close waited for the file
        EXPECT_TRUE(got == f.content) << got.size();
        co_await p.ours.writer.wait_closed();
    }());
}

TEST(Sendfile, APeerResetFailsTheTransferAndClosesTheTransport) {
    DataFile f(kBig);
    const int fds_before = aiotest::open_fds();
    run_net([&f]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        aio::Transport& t = p.ours.writer.transport();
        auto transfer = aio::create_task(aio::sendfile(t, f.fd));
        co_await aio::sleep(0ms);
        NET_CO_ASSERT(!transfer.done());
        aiotest::reset_and_close(p.peer);
        bool failed = false;
        try {
            (void)co_await transfer;
        } catch (const std::system_error& e) {
            failed = true;
            EXPECT_TRUE(e.code() == std::errc::connection_reset || e.code() == std::errc::broken_pipe ||
                        e.code() == std::errc::connection_aborted)
                << e.what();
        }
        EXPECT_TRUE(failed) << "a reset mid-transfer is an error, not a short success";
        EXPECT_TRUE(t.is_closing());
        auto closed = co_await aiotest::capture<std::system_error>(p.ours.writer.wait_closed());
        EXPECT_TRUE(closed.has_value()) << "wait_closed reports the reset";
    }());
    EXPECT_EQ(aiotest::open_fds(), fds_before);
}

TEST(Sendfile, CancellingATransferLeavesTheTransportUsable) {
    DataFile f(kBig);
    run_net([&f]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        aio::Transport& t = p.ours.writer.transport();
        auto transfer = aio::create_task(aio::sendfile(t, f.fd));
        co_await aio::sleep(0ms);
        NET_CO_ASSERT(!transfer.done());
        transfer.cancel();
        EXPECT_THROW((void)co_await transfer, aio::CancelledError);
        // Later bytes still go out, after whatever part of the file did, and close completes.
        t.write("AFTER");
        p.ours.writer.close();
        std::string got = co_await recv_all(p.peer.fileno());
        NET_CO_ASSERT(got.size() >= 5 && got.size() < f.content.size() + 5);
        EXPECT_EQ(got.substr(got.size() - 5), "AFTER");
        EXPECT_TRUE(got.compare(0, got.size() - 5, f.content, 0, got.size() - 5) == 0);
        co_await p.ours.writer.wait_closed();
        // A new transfer is allowed once the cancelled one is gone.
    }());
}

TEST(Sendfile, OneTransferAtATimeAndNotOnAClosingTransport) {
    DataFile f(kBig);
    run_net([&f]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        aio::Transport& t = p.ours.writer.transport();
        auto first = aio::create_task(aio::sendfile(t, f.fd));
        co_await aio::sleep(0ms);
        NET_CO_ASSERT(!first.done());
        EXPECT_THROW((void)co_await aio::sendfile(t, f.fd), aio::RuntimeError);
        auto reader = aio::create_task(recv_all(p.peer.fileno()));
        EXPECT_EQ(co_await first, f.content.size());
        t.close();
        EXPECT_THROW((void)co_await aio::sendfile(t, f.fd), aio::RuntimeError);
        std::string got = co_await reader;
        EXPECT_EQ(got.size(), f.content.size());
    }());
}

TEST(Sendfile, APipeUsesTheFallbackOrRefusesWithoutIt) {
    run_net([]() -> aio::Task<void> {
        aio::Socket l = listen_local();
        Pair p = co_await connect_pair(l);
        int fds[2];
        NET_CO_ASSERT(::pipe(fds) == 0);
        const std::string text = "through a pipe, not a regular file";
        NET_CO_ASSERT(::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fds[1]);
        EXPECT_THROW((void)co_await aio::sendfile(p.ours.writer.transport(), fds[0], 0, std::nullopt, false),
                     aio::SendfileNotAvailableError);
        const size_t sent = co_await aio::sendfile(p.ours.writer.transport(), fds[0]);
        ::close(fds[0]);
        EXPECT_EQ(sent, text.size());
        std::string got = co_await recv_exactly(p.peer.fileno(), text.size());
        EXPECT_EQ(got, text);
    }());
}

TEST(Sendfile, TlsUsesTheFallbackWithFlowControl) {
    aiotest::TempDir dir;
    const std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                            "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout '" + key + "' -out '" +
                            cert + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl could not make a certificate";
    DataFile f(5 << 20);
    run_net([&]() -> aio::Task<void> {
        auto received = std::make_shared<std::string>();
        aio::Event got_all;
        aio::ClientConnected sink = [received, &got_all](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<void> {
            *received = co_await r.read(-1);
            got_all.set();
            w.close();
        };
        aio::ServerOptions so;
        so.ssl = aio::SSLContext::server(cert, key);
        aio::Server server = co_await aio::start_server(sink, "127.0.0.1", 0, so);
        aio::ConnectOptions co;
        co.ssl = aio::SSLContext::create_default_context();
        co.ssl->load_verify_locations(cert);
        co.server_hostname = "localhost";
        aio::StreamPair c = co_await aio::open_connection("127.0.0.1", server.port(), co);
        EXPECT_THROW((void)co_await aio::sendfile(c.writer.transport(), f.fd, 0, std::nullopt, false),
                     aio::SendfileNotAvailableError);
        const size_t sent = co_await aio::sendfile(c.writer.transport(), f.fd, 10, std::nullopt);
        EXPECT_EQ(sent, f.content.size() - 10);
        // The fallback waits for the buffer: it never holds much more than the high-water mark.
        EXPECT_LE(c.writer.transport().get_write_buffer_size(), 64u * 1024 + 256u * 1024);
        c.writer.close();
        co_await got_all.wait();
        EXPECT_TRUE(*received == f.content.substr(10)) << received->size();
    }());
}
