// Real peers, not mocks: CPython's asyncio as the client of our server and as the server for
// our client. python3 runs a small inline script; it reports on stdout, which we read through a
// pipe on the default executor (blocking reads with a poll() deadline), and we reap it with
// waitpid on the executor too — the loop never blocks. Every script arms alarm(15) so that a
// hung peer dies by itself.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include <csignal>
#include <string>
#include <vector>

#include "net_test_util.hpp"

extern char** environ;

using namespace std::chrono_literals;
using aiotest::run_net;

namespace {

/// A python3 child with its stdout on a pipe. Killed and reaped on destruction if still there.
class PythonPeer {
public:
    PythonPeer(const std::string& script, const std::vector<std::string>& args) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
        out_ = fds[0];
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        std::vector<std::string> argv_s{AIO_PYTHON3, "-c", script};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_s)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        const int rc = ::posix_spawn(&pid_, AIO_PYTHON3, &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[1]);
        if (rc != 0) {
            pid_ = -1;
            throw std::system_error(rc, std::generic_category(), "posix_spawn python3");
        }
    }
    PythonPeer(const PythonPeer&) = delete;
    PythonPeer& operator=(const PythonPeer&) = delete;
    ~PythonPeer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) ::close(out_);
    }

    /// One line of the child's stdout (without "\n"); "" at EOF or after 15 s. Blocking: run it
    /// with aio::to_thread.
    static std::string read_line(int fd) {
        std::string line;
        char c = 0;
        while (wait_readable(fd) && ::read(fd, &c, 1) == 1) {
            if (c == '\n') break;
            line += c;
        }
        return line;
    }
    /// The child's exit status (as waitpid reports it). Blocking: run it with aio::to_thread.
    static int wait_exit(pid_t pid) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return status;
    }

    [[nodiscard]] int out() const { return out_; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    void reaped() { pid_ = -1; }

private:
    static bool wait_readable(int fd) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, 15000) == 1;
    }
    pid_t pid_ = -1;
    int out_ = -1;
};

bool have_python() { return std::string(AIO_PYTHON3).size() > 0; }

/// Reads the child's lines until EOF, then reaps it; returns its lines and its exit status.
aio::Task<std::pair<std::vector<std::string>, int>> finish(PythonPeer& peer) {
    std::vector<std::string> lines;
    for (;;) {
        std::string line = co_await aio::to_thread(&PythonPeer::read_line, peer.out());
        if (line.empty()) break;
        lines.push_back(line);
    }
    const int status = co_await aio::to_thread(&PythonPeer::wait_exit, peer.pid());
    peer.reaped();
    co_return std::pair{lines, status};
}

const char* const kPythonClient = R"PY(
import asyncio, signal, sys
signal.alarm(15)

async def main(port):
    r, w = await asyncio.open_connection('127.0.0.1', port)
    echoed = []
    for i in range(3):
        w.write(f'line {i}\n'.encode())
        await w.drain()
        echoed.append((await r.readline()).decode().strip())
    big = bytes(range(256)) * 4096
    w.write(big)
    await w.drain()
    w.write_eof()
    back = await r.read()          # our server echoes, then closes after our EOF
    w.close()
    await w.wait_closed()
    print('|'.join(echoed))
    print(len(back), back == big, flush=True)

asyncio.run(main(int(sys.argv[1])))
)PY";

const char* const kPythonServer = R"PY(
import asyncio, signal
signal.alarm(15)

async def main():
    done = asyncio.Event()
    async def handle(r, w):
        head = await r.readuntil(b'\n\n')
        w.write(head.upper())
        await w.drain()
        rest = await r.read()      # to our EOF
        w.write(b'%d %d\n' % (len(rest), sum(rest) % 65521))
        await w.drain()
        w.close()
        await w.wait_closed()
        done.set()
    srv = await asyncio.start_server(handle, '127.0.0.1', 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await done.wait()
    print('served', flush=True)

asyncio.run(main())
)PY";

aio::Task<void> echo_until_eof(aio::StreamReader r, aio::StreamWriter w) {
    for (;;) {
        std::string chunk = co_await r.read(65536);
        if (chunk.empty()) break;
        w.write(chunk);
        co_await w.drain();
    }
    w.close();
    co_await w.wait_closed();
}

}  // namespace

TEST(Peers, PythonAsyncioClientAgainstOurServer) {
    if (!have_python()) GTEST_SKIP() << "python3 was not found at configure time";
    run_net([]() -> aio::Task<void> {
        aio::Server server = co_await aio::start_server(echo_until_eof, "127.0.0.1", 0);
        PythonPeer py(kPythonClient, {std::to_string(server.port())});
        auto [lines, status] = co_await finish(py);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "python3 exit status " << status;
        EXPECT_EQ(lines, (std::vector<std::string>{"line 0|line 1|line 2", "1048576 True"}));
        server.close();
        co_await server.wait_closed();
        EXPECT_EQ(server.active_connections(), 0u);
    }());
}

TEST(Peers, OurClientAgainstPythonAsyncioServer) {
    if (!have_python()) GTEST_SKIP() << "python3 was not found at configure time";
    run_net([]() -> aio::Task<void> {
        PythonPeer py(kPythonServer, {});
        std::string port_line = co_await aio::to_thread(&PythonPeer::read_line, py.out());
        NET_CO_ASSERT(!port_line.empty());
        const auto port = static_cast<uint16_t>(std::stoi(port_line));
        auto [r, w] = co_await aio::open_connection("127.0.0.1", port);
        w.write("hello\nworld\n\n");
        co_await w.drain();
        std::string head = co_await r.readuntil("\n\n");
        EXPECT_EQ(head, "HELLO\nWORLD\n\n");
        std::string big(1024 * 1024, '\0');
        size_t sum = 0;
        for (size_t i = 0; i < big.size(); ++i) {
            big[i] = static_cast<char>(i % 251);
            sum += i % 251;
        }
        w.write(big);
        co_await w.drain();
        w.write_eof();
        std::string summary = co_await r.readline();
        EXPECT_EQ(summary, std::to_string(big.size()) + " " + std::to_string(sum % 65521) + "\n");
        std::string eof = co_await r.read();
        EXPECT_EQ(eof, "") << "python closed the connection";
        w.close();
        co_await w.wait_closed();
        auto [lines, status] = co_await finish(py);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "python3 exit status " << status;
        EXPECT_EQ(lines, (std::vector<std::string>{"served"}));
    }());
}
