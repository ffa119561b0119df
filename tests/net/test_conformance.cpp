// Stream conformance suite (after Trio's testing/_check_streams.py): one set of test bodies run
// over every kind of stream.
//
//   ReaderConformance<Kind>  the StreamReader contract, over an in-memory reader (fed with
//                            feed_data / feed_eof), TCP loopback, a Unix socket and TLS over TCP;
//   StreamConformance<Kind>  what needs a real peer (half-close, backpressure, drain), over TCP,
//                            Unix sockets and TLS (whose half-close tests skip: TLS has none).
//
// For the socket kinds, feed() sends the bytes from the server side and waits until the client
// transport has taken them from the kernel (SIOCOUTQ on the sender and FIONREAD on the receiver
// are both 0): each feed() is then one chunk for the reader, so "across chunk boundaries" means
// the same thing as for the in-memory stream.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "net_test_util.hpp"

using namespace std::chrono_literals;
using aiotest::capture;
using aiotest::run_net;

namespace {

// --- stream kinds -------------------------------------------------------------------------------

struct MemoryStream {
    static constexpr const char* name = "Memory";
    aio::StreamReader reader{64 * 1024};

    aio::Task<void> open(size_t limit = 64 * 1024) {
        reader = aio::StreamReader(limit);
        co_return;
    }
    aio::Task<void> feed(std::string data) {
        reader.feed_data(data);
        co_return;
    }
    aio::Task<void> feed_eof() {
        reader.feed_eof();
        co_return;
    }
    aio::Task<void> close() { co_return; }
};

/// The server side of a socket stream: the handler parks its reader and writer here until done.
struct PeerSlot {
    std::optional<aio::StreamReader> r;
    std::optional<aio::StreamWriter> w;
    aio::Event ready;
    aio::Event done;
};

aio::Task<void> hold_peer(std::shared_ptr<PeerSlot> slot, aio::StreamReader r, aio::StreamWriter w) {
    slot->r = r;
    slot->w = w;
    slot->ready.set();
    co_await slot->done.wait();
}

/// A connected pair of streams; the client side is the one under test.
class SocketStream {
public:
    virtual ~SocketStream() = default;
    aio::StreamReader reader{64 * 1024};
    std::optional<aio::StreamWriter> writer;
    std::shared_ptr<PeerSlot> peer;
    aio::Server server;

    aio::Task<void> open(size_t limit = 64 * 1024) {
        peer = std::make_shared<PeerSlot>();
        aio::ClientConnected cb = [p = peer](aio::StreamReader r, aio::StreamWriter w) {
            return hold_peer(p, std::move(r), std::move(w));
        };
        server = co_await listen(std::move(cb));
        aio::StreamPair pair = co_await connect(limit);
        reader = pair.reader;
        writer = pair.writer;
        co_await peer->ready.wait();
    }
    aio::Task<void> feed(std::string data) {
        peer->w->write(data);
        co_await peer->w->drain();
        co_await settle();
    }
    aio::Task<void> feed_eof() {
        peer->w->write_eof();
        co_return;
    }
    /// Until every byte the peer wrote has been read from the kernel by our transport.
    aio::Task<void> settle() {
        aio::Transport& sender = peer->w->transport();
        const int from = sender.fileno();
        const int to = writer->transport().fileno();
        const bool ok = co_await aiotest::eventually([&sender, from, to] {
            return sender.get_write_buffer_size() == 0 && aiotest::outq(from) == 0 && aiotest::inq(to) == 0;
        });
        EXPECT_TRUE(ok) << "the bytes sent never reached the reader";
        // On io_uring the bytes may have left the socket for the loop's receive buffer and wait
        // to be handed over at the loop's next poll: a timer makes the loop poll once.
        if (aio::get_running_loop().completion_io()) co_await aio::sleep(1ms);
    }
    aio::Task<void> close() {
        writer->close();
        peer->done.set();
        co_await writer->wait_closed();
        server.close();
        co_await server.wait_closed();
        EXPECT_EQ(server.active_connections(), 0u);
    }

protected:
    virtual aio::Task<aio::Server> listen(aio::ClientConnected cb) = 0;
    virtual aio::Task<aio::StreamPair> connect(size_t limit) = 0;
};

class TcpStream final : public SocketStream {
public:
    static constexpr const char* name = "Tcp";

protected:
    aio::Task<aio::Server> listen(aio::ClientConnected cb) override {
        co_return co_await aio::start_server(std::move(cb), "127.0.0.1", 0);
    }
    aio::Task<aio::StreamPair> connect(size_t limit) override {
        aio::ConnectOptions o;
        o.limit = limit;
        co_return co_await aio::open_connection("127.0.0.1", server.port(), o);
    }
};

class UnixStream final : public SocketStream {
public:
    static constexpr const char* name = "Unix";

protected:
    aio::Task<aio::Server> listen(aio::ClientConnected cb) override {
        co_return co_await aio::start_unix_server(std::move(cb), path_);
    }
    aio::Task<aio::StreamPair> connect(size_t limit) override {
        co_return co_await aio::open_unix_connection(path_, limit);
    }

private:
    aiotest::TempDir dir_;
    std::string path_ = dir_.path() + "/s.sock";
};

/// A self-signed certificate for localhost, made once per process by the `openssl` command.
struct TlsFiles {
    aiotest::TempDir dir;
    std::string cert = dir.path() + "/cert.pem";
    std::string key = dir.path() + "/key.pem";
    bool ok = std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                           "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout '" +
                           key + "' -out '" + cert + "' >/dev/null 2>&1")
                              .c_str()) == 0;
};
const TlsFiles& tls_files() {
    static TlsFiles files;
    return files;
}

/// TLS over TCP: the reader contract must not change when a TLS layer sits below it. TLS has no
/// half-close, so the peer's EOF is its close (close_notify).
class TlsStream final : public SocketStream {
public:
    static constexpr const char* name = "Tls";
    aio::Task<void> feed_eof() {
        peer->w->close();
        co_return;
    }

protected:
    aio::Task<aio::Server> listen(aio::ClientConnected cb) override {
        if (!tls_files().ok) throw std::runtime_error("openssl could not make a test certificate");
        aio::ServerOptions o;
        o.ssl = aio::SSLContext::server(tls_files().cert, tls_files().key);
        co_return co_await aio::start_server(std::move(cb), "127.0.0.1", 0, o);
    }
    aio::Task<aio::StreamPair> connect(size_t limit) override {
        aio::ConnectOptions o;
        o.limit = limit;
        o.ssl = aio::SSLContext::create_default_context();
        o.ssl->load_verify_locations(tls_files().cert);
        o.server_hostname = "localhost";
        co_return co_await aio::open_connection("127.0.0.1", server.port(), o);
    }
};

struct KindName {
    template <class T>
    static std::string GetName(int) {
        return T::name;
    }
};

template <class Kind>
class ReaderConformance : public ::testing::Test {};
using ReaderKinds = ::testing::Types<MemoryStream, TcpStream, UnixStream, TlsStream>;
TYPED_TEST_SUITE(ReaderConformance, ReaderKinds, KindName);

template <class Kind>
class StreamConformance : public ::testing::Test {};
using SocketKinds = ::testing::Types<TcpStream, UnixStream, TlsStream>;
TYPED_TEST_SUITE(StreamConformance, SocketKinds, KindName);

}  // namespace

// --- the reader contract ----------------------------------------------------------------------

TYPED_TEST(ReaderConformance, ReadReturnsWhatIsThere) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        EXPECT_EQ(co_await s.reader.read(0), "");
        co_await s.feed("abc");
        EXPECT_EQ(s.reader.buffered(), 3u);
        EXPECT_EQ(co_await s.reader.read(100), "abc") << "read(n) returns what is buffered, not n bytes";
        // A pending read returns as soon as one chunk is there.
        auto t = aio::create_task(s.reader.read(100));
        co_await aio::sleep(0ms);
        EXPECT_FALSE(t.done());
        co_await s.feed("x");
        EXPECT_EQ(co_await t, "x");
        // Never more than asked for.
        co_await s.feed("defgh");
        EXPECT_EQ(co_await s.reader.read(2), "de");
        EXPECT_EQ(co_await s.reader.read(100), "fgh");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, ReadexactlyAcrossSeveralChunks) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        auto t = aio::create_task(s.reader.readexactly(10));
        co_await aio::sleep(0ms);
        co_await s.feed("abcd");
        co_await s.feed("efg");
        EXPECT_FALSE(t.done()) << "7 of 10 bytes";
        co_await s.feed("hijXY");
        EXPECT_EQ(co_await t, "abcdefghij");
        EXPECT_EQ(co_await s.reader.read(100), "XY");
        EXPECT_EQ(co_await s.reader.readexactly(0), "");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, ReadexactlyAtEofRaisesIncompleteRead) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        auto t = aio::create_task(capture<aio::IncompleteReadError>(s.reader.readexactly(5)));
        co_await aio::sleep(0ms);
        co_await s.feed("abc");
        co_await s.feed_eof();
        std::optional<aio::IncompleteReadError> e = co_await t;
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(e->partial(), "abc");
        EXPECT_EQ(e->expected(), std::optional<size_t>(5));
        EXPECT_TRUE(s.reader.at_eof()) << "the partial bytes left the buffer";
        EXPECT_EQ(co_await s.reader.read(), "");
        // readuntil at EOF: expected() is None.
        auto e2 = co_await capture<aio::IncompleteReadError>(s.reader.readuntil("!"));
        NET_CO_ASSERT(e2.has_value());
        EXPECT_EQ(e2->partial(), "");
        EXPECT_EQ(e2->expected(), std::nullopt);
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, ReadlineAcrossChunkBoundaries) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        auto t = aio::create_task(s.reader.readline());
        co_await aio::sleep(0ms);
        co_await s.feed("hel");
        EXPECT_FALSE(t.done());
        co_await s.feed("lo\nwor");
        EXPECT_EQ(co_await t, "hello\n");
        co_await s.feed("ld\nlast");
        EXPECT_EQ(co_await s.reader.readline(), "world\n");
        co_await s.feed_eof();
        EXPECT_EQ(co_await s.reader.readline(), "last") << "at EOF: the rest, without a newline";
        EXPECT_EQ(co_await s.reader.readline(), "");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, ReaduntilSeparatorSplitAcrossChunks) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        auto t = aio::create_task(s.reader.readuntil("\r\n\r\n"));
        co_await aio::sleep(0ms);
        co_await s.feed("ab\r");
        co_await s.feed("\n\r");
        EXPECT_FALSE(t.done());
        co_await s.feed("\nrest");
        EXPECT_EQ(co_await t, "ab\r\n\r\n");
        // A separator whose first byte arrived in a chunk before: "::" split as ":" | ":".
        auto t2 = aio::create_task(s.reader.readuntil("::"));
        co_await aio::sleep(0ms);
        co_await s.feed(":x:");
        EXPECT_FALSE(t2.done());
        co_await s.feed(":tail");
        EXPECT_EQ(co_await t2, "rest:x::");
        EXPECT_EQ(co_await s.reader.read(100), "tail");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, ReaduntilPastLimitLeavesBufferIntact) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open(16);
        // Separator not found, arriving in two chunks: the second one pushes it past the limit.
        auto t = aio::create_task(capture<aio::LimitOverrunError>(s.reader.readuntil("\n")));
        co_await aio::sleep(0ms);
        co_await s.feed(std::string(10, 'a'));
        EXPECT_FALSE(t.done()) << "10 bytes are within the limit of 16";
        co_await s.feed(std::string(10, 'a'));
        auto e = co_await t;
        NET_CO_ASSERT(e.has_value());
        EXPECT_EQ(s.reader.buffered(), 20u) << "readuntil leaves the buffer as it was";
        EXPECT_EQ(co_await s.reader.read(100), std::string(20, 'a')) << "a following read gets the bytes";
        // Separator found, but beyond the limit.
        co_await s.feed(std::string(20, 'b') + "\nok\n");
        auto e2 = co_await capture<aio::LimitOverrunError>(s.reader.readuntil("\n"));
        NET_CO_ASSERT(e2.has_value());
        EXPECT_EQ(e2->consumed(), 20u);
        EXPECT_EQ(co_await s.reader.readexactly(21), std::string(20, 'b') + "\n");
        EXPECT_EQ(co_await s.reader.readuntil("\n"), "ok\n");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, ReadlinePastLimitDiscardsTheLine) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open(16);
        co_await s.feed(std::string(20, 'a') + "\nnext\n");
        auto e = co_await capture<aio::LimitOverrunError>(s.reader.readline());
        EXPECT_TRUE(e.has_value());
        EXPECT_EQ(co_await s.reader.readline(), "next\n") << "the long line was discarded, up to its newline";
        // No newline in the buffer at all: everything buffered is discarded.
        co_await s.feed(std::string(20, 'c'));
        auto e2 = co_await capture<aio::LimitOverrunError>(s.reader.readline());
        EXPECT_TRUE(e2.has_value());
        EXPECT_EQ(s.reader.buffered(), 0u);
        co_await s.feed("short\n");
        EXPECT_EQ(co_await s.reader.readline(), "short\n");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, ReadAllToEof) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        auto t = aio::create_task(s.reader.read(-1));
        co_await aio::sleep(0ms);
        co_await s.feed("ab");
        co_await s.feed("cd");
        EXPECT_FALSE(t.done()) << "read(-1) waits for EOF";
        co_await s.feed_eof();
        EXPECT_EQ(co_await t, "abcd");
        EXPECT_TRUE(s.reader.at_eof());
        EXPECT_EQ(co_await s.reader.read(), "");
        EXPECT_EQ(co_await s.reader.read(10), "");
        EXPECT_EQ(co_await s.reader.readline(), "");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, AtEof) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        EXPECT_FALSE(s.reader.at_eof());
        co_await s.feed("x");
        EXPECT_FALSE(s.reader.at_eof());
        co_await s.feed_eof();
        EXPECT_EQ(co_await s.reader.read(-1), "x");
        EXPECT_TRUE(s.reader.at_eof());
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, LinesGenerator) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        co_await s.feed("a\nbb\n");
        co_await s.feed("c");
        co_await s.feed("c\nd");
        co_await s.feed_eof();
        std::vector<std::string> got;
        auto lines = s.reader.lines();
        while (auto line = co_await lines.next())
            got.push_back(*line);
        EXPECT_EQ(got, (std::vector<std::string>{"a\n", "bb\n", "cc\n", "d"}));
        EXPECT_TRUE(s.reader.at_eof());
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, CancelledReadLosesNothing) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        auto e = co_await capture<aio::TimeoutError>(aio::wait_for(s.reader.read(10), 20ms));
        EXPECT_TRUE(e.has_value());
        co_await s.feed("abc");
        EXPECT_EQ(co_await s.reader.read(10), "abc");
        // And by Task.cancel() with data already on its way.
        auto t = aio::create_task(s.reader.read(10));
        co_await aio::sleep(0ms);
        t.cancel();
        auto c = co_await capture<aio::CancelledError>(aio::TaskHandle<std::string>(t));
        EXPECT_TRUE(c.has_value());
        co_await s.feed("def");
        EXPECT_EQ(co_await s.reader.read(10), "def");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, CancelledReadexactlyLosesNothing) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        co_await s.feed("abc");
        auto e = co_await capture<aio::TimeoutError>(aio::wait_for(s.reader.readexactly(6), 20ms));
        EXPECT_TRUE(e.has_value());
        EXPECT_EQ(s.reader.buffered(), 3u) << "the partial bytes stay in the buffer";
        co_await s.feed("de");
        auto t = aio::create_task(s.reader.readexactly(6));
        co_await aio::sleep(0ms);
        t.cancel();
        auto c = co_await capture<aio::CancelledError>(aio::TaskHandle<std::string>(t));
        EXPECT_TRUE(c.has_value());
        co_await s.feed("fg");
        EXPECT_EQ(co_await s.reader.readexactly(6), "abcdef");
        EXPECT_EQ(co_await s.reader.read(10), "g");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, CancelledReadlineLosesNothing) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        co_await s.feed("hel");
        auto e = co_await capture<aio::TimeoutError>(aio::wait_for(s.reader.readline(), 20ms));
        EXPECT_TRUE(e.has_value());
        co_await s.feed("lo");
        auto t = aio::create_task(s.reader.readuntil("\n"));
        co_await aio::sleep(0ms);
        t.cancel();
        auto c = co_await capture<aio::CancelledError>(aio::TaskHandle<std::string>(t));
        EXPECT_TRUE(c.has_value());
        co_await s.feed("\nworld\n");
        EXPECT_EQ(co_await s.reader.readline(), "hello\n");
        EXPECT_EQ(co_await s.reader.readline(), "world\n");
        co_await s.close();
    }());
}

TYPED_TEST(ReaderConformance, TwoConcurrentReadersRaiseRuntimeError) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        auto first = aio::create_task(s.reader.readline());
        co_await aio::sleep(0ms);
        auto e1 = co_await capture<aio::RuntimeError>(s.reader.read(10));
        EXPECT_TRUE(e1.has_value());
        auto e2 = co_await capture<aio::RuntimeError>(s.reader.readexactly(2));
        EXPECT_TRUE(e2.has_value());
        auto e3 = co_await capture<aio::RuntimeError>(s.reader.readuntil("x"));
        EXPECT_TRUE(e3.has_value());
        EXPECT_FALSE(first.done()) << "the first reader keeps waiting";
        co_await s.feed("line\n");
        EXPECT_EQ(co_await first, "line\n");
        co_await s.close();
    }());
}

// --- what needs a peer ---------------------------------------------------------------------------

TYPED_TEST(StreamConformance, HalfClose) {
    if constexpr (std::is_same_v<TypeParam, TlsStream>) GTEST_SKIP() << "TLS has no half-close (can_write_eof() is false)";
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        EXPECT_TRUE(s.writer->can_write_eof());
        s.writer->write("ping");
        s.writer->write_eof();
        EXPECT_EQ(co_await s.peer->r->read(-1), "ping") << "the server sees our EOF";
        // Its write side is still open: it answers, and we read the answer.
        s.peer->w->write("pong");
        co_await s.peer->w->drain();
        s.peer->w->close();
        EXPECT_EQ(co_await s.reader.read(-1), "pong");
        EXPECT_TRUE(s.reader.at_eof());
        co_await s.close();
    }());
}

namespace {
constexpr size_t kBig = 4 * 1024 * 1024;

std::string pattern(size_t n) {
    std::string out(n, '\0');
    for (size_t i = 0; i < n; ++i)
        out[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    return out;
}

/// A fixed kernel send buffer (no autotuning up to megabytes) and small transport limits, so
/// that a large write stays mostly in the client transport's buffer until the server reads.
/// (A tiny SO_RCVBUF on the reader would make loopback TCP crawl: zero-window probes.)
void shrink_buffers(SocketStream& s) {
    aiotest::set_int_opt(s.writer->transport().fileno(), SOL_SOCKET, SO_SNDBUF, 64 * 1024);
    s.writer->transport().set_write_buffer_limits(64 * 1024, 16 * 1024);
}
}  // namespace

TYPED_TEST(StreamConformance, DrainBlocksUntilThePeerReads) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        shrink_buffers(s);
        const std::string data = pattern(kBig);
        std::vector<std::string> order;
        s.writer->write(data);
        EXPECT_GT(s.writer->transport().get_write_buffer_size(), 64u * 1024) << "most of it is buffered";
        auto drain = aio::create_task([](aio::StreamWriter w, std::vector<std::string>* log) -> aio::Task<void> {
            co_await w.drain();
            log->push_back("drained");
        }(*s.writer, &order));
        for (int i = 0; i < 20; ++i)
            co_await aio::sleep(0ms);
        EXPECT_FALSE(drain.done()) << "drain() returned while the peer reads nothing";
        order.push_back("peer reads");
        std::string got = co_await s.peer->r->readexactly(kBig);
        co_await drain;
        EXPECT_EQ(order, (std::vector<std::string>{"peer reads", "drained"}));
        EXPECT_TRUE(got == data) << "the bytes arrived intact";
        EXPECT_LE(s.writer->transport().get_write_buffer_size(), 16u * 1024);
        co_await s.close();
    }());
}

TYPED_TEST(StreamConformance, CancelledDrainLosesNothing) {
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        shrink_buffers(s);
        const std::string data = pattern(kBig);
        s.writer->write(data);
        auto e = co_await capture<aio::TimeoutError>(aio::wait_for(s.writer->drain(), 20ms));
        EXPECT_TRUE(e.has_value()) << "drain() must block: the peer does not read";
        auto t = aio::create_task(s.writer->drain());
        co_await aio::sleep(0ms);
        t.cancel();
        auto c = co_await capture<aio::CancelledError>(aio::TaskHandle<void>(t));
        EXPECT_TRUE(c.has_value());
        EXPECT_FALSE(s.writer->is_closing());
        s.writer->write("tail");
        std::string got = co_await s.peer->r->readexactly(kBig + 4);
        EXPECT_TRUE(got == data + "tail") << "everything written before and after the cancelled drains arrived";
        co_await s.writer->drain();
        co_await s.close();
    }());
}

TYPED_TEST(StreamConformance, EchoBothWaysConcurrently) {
    if constexpr (std::is_same_v<TypeParam, TlsStream>) GTEST_SKIP() << "ends each direction with write_eof: no half-close over TLS";
    run_net([]() -> aio::Task<void> {
        TypeParam s;
        co_await s.open();
        const std::string data = pattern(1024 * 1024);
        // The server echoes what it reads while we are still writing: neither side may stall.
        auto echo = aio::create_task([](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<void> {
            for (;;) {
                std::string chunk = co_await r.read(65536);
                if (chunk.empty()) break;
                w.write(chunk);
                co_await w.drain();
            }
            w.write_eof();
        }(*s.peer->r, *s.peer->w));
        auto reader = aio::create_task(s.reader.read(-1));
        for (size_t off = 0; off < data.size(); off += 100000) {
            s.writer->write(std::string_view(data).substr(off, 100000));
            co_await s.writer->drain();
        }
        s.writer->write_eof();
        std::string got = co_await reader;
        co_await echo;
        EXPECT_EQ(got.size(), data.size());
        EXPECT_TRUE(got == data);
        co_await s.close();
    }());
}
