// StreamReader::read and StreamWriter::drain return frame-free awaitables (not Tasks): they must
// still behave like Python coroutines everywhere one can be used.
#include <gtest/gtest.h>

#include <string>

#include "net_test_util.hpp"

using aiotest::run_net;
using namespace std::chrono_literals;

TEST(StreamOps, ReadWorksWithCreateTaskWaitForAndGather) {
    run_net([]() -> aio::Task<void> {
        aio::StreamReader r;
        auto t = aio::create_task(r.read(5));  // asyncio.create_task(reader.read(5))
        co_await aio::sleep(0ms);
        EXPECT_FALSE(t.done());
        r.feed_data("hello world");
        EXPECT_EQ(co_await t, "hello");
        EXPECT_EQ(co_await aio::wait_for(r.read(100), 1s), " world");
        EXPECT_THROW(co_await aio::wait_for(r.read(1), 10ms), aio::TimeoutError);
        r.feed_data("ab");
        auto [x] = co_await aio::gather(r.read(2));
        EXPECT_EQ(x, "ab");
        r.feed_eof();
        EXPECT_EQ(co_await r.read(), "");
        EXPECT_EQ(co_await r.read(10), "");
    }());
}

TEST(StreamOps, ReadAllToEofDoesNotStallAboveThePauseThreshold) {
    // read(-1) waits for EOF while the peer sends 4x the limit: the reader must keep reading the
    // socket (no pause) or it would never see EOF.
    run_net([]() -> aio::Task<void> {
        const std::string payload(4 * 1024 + 123, 'p');
        auto sender = [payload](aio::StreamReader, aio::StreamWriter w) -> aio::Task<void> {
            for (size_t i = 0; i < payload.size(); i += 100) {
                w.write(std::string_view(payload).substr(i, 100));
                co_await w.drain();
            }
            w.close();
        };
        aio::Server server = co_await aio::start_server(sender, "127.0.0.1", 0);
        aio::ConnectOptions o;
        o.limit = 1024;  // 2 * limit = 2 KiB < payload
        auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), o);
        std::string all = co_await r.read(-1);
        EXPECT_EQ(all.size(), payload.size());
        EXPECT_EQ(all, payload);
        w.close();
        server.close();
        co_await server.wait_closed();
    }());
}

TEST(StreamOps, DrainAsATaskAndAfterTheConnectionIsLost) {
    run_net([]() -> aio::Task<void> {
        auto closer = [](aio::StreamReader, aio::StreamWriter w) -> aio::Task<void> {
            w.transport().abort();
            co_return;
        };
        aio::Server server = co_await aio::start_server(closer, "127.0.0.1", 0);
        auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
        co_await aio::create_task(w.drain());  // nothing to wait for: completes
        EXPECT_EQ(co_await r.read(), "");        // the server's abort: EOF or reset
        bool failed = false;
        try {
            for (int i = 0; i < 50 && !failed; ++i) {
                w.write(std::string(64 * 1024, 'z'));
                co_await aio::wait_for(w.drain(), 5s);
            }
        } catch (const std::system_error& e) {
            failed = e.code() == std::errc::connection_reset || e.code() == std::errc::broken_pipe;
            EXPECT_TRUE(failed) << e.what();
        }
        EXPECT_TRUE(failed) << "writing to an aborted peer must fail in drain()";
        server.close();
    }());
}
