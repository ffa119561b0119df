// Helpers for the HTTP client tests: the Python peer server (tests/http/peers/client_peer.py),
// started once per test process before the loop runs.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <aio/http/client.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net/net_test_util.hpp"

extern char** environ;

namespace aiotest {

/// A child process with its stdin and stdout on pipes. Closing its stdin tells client_peer.py to
/// exit; the destructor does that, then kills and reaps it.
class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> argv) {
        int in[2], out[2];
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
            throw std::system_error(errno, std::generic_category(), "pipe2");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(in[0]);
        ::close(out[1]);
        in_ = in[1];
        out_ = out[0];
        if (rc != 0) {
            pid_ = -1;
            throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
        }
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess() {
        if (in_ >= 0) ::close(in_);
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) ::close(out_);
    }
    /// One line of the child's stdout, waiting at most `timeout_ms`; "" on EOF or timeout.
    std::string read_line(int timeout_ms = 15000) {
        std::string line;
        char c = 0;
        for (;;) {
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, timeout_ms) <= 0) break;
            if (::read(out_, &c, 1) != 1 || c == '\n') break;
            line += c;
        }
        return line;
    }

private:
    pid_t pid_ = -1;
    int in_ = -1;
    int out_ = -1;
};

/// client_peer.py on 127.0.0.1 (plain, or TLS with the given certificate and key).
class PeerServer {
public:
    explicit PeerServer(const std::string& cert = {}, const std::string& key = {}) : proc_(argv(cert, key)) {
        std::string line = proc_.read_line();
        if (line.empty()) throw std::runtime_error("client_peer.py did not report its port");
        port_ = static_cast<uint16_t>(std::stoi(line));
    }
    [[nodiscard]] uint16_t port() const { return port_; }
    /// "http://127.0.0.1:PORT" + path.
    [[nodiscard]] std::string url(const std::string& path, const std::string& scheme = "http",
                                  const std::string& host = "127.0.0.1") const {
        return scheme + "://" + host + ":" + std::to_string(port_) + path;
    }

private:
    static std::vector<std::string> argv(const std::string& cert, const std::string& key) {
        std::vector<std::string> a{AIO_PYTHON3, std::string(AIO_HTTP_PEERS_DIR) + "/client_peer.py"};
        if (!cert.empty()) {
            a.push_back("--tls");
            a.push_back(cert);
            a.push_back(key);
        }
        return a;
    }
    ChildProcess proc_;
    uint16_t port_ = 0;
};

/// The plain peer of this test process, started on first use (before the test's loop runs).
inline PeerServer& peer() {
    static PeerServer p;
    return p;
}

/// Runs a shell command quietly; true if it succeeded.
inline bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

/// A CA, a certificate for "localhost" it signed, and an expired one (made by the openssl command).
struct Certs {
    TempDir dir;
    std::string ca, cert, key, expired;
    bool ok = false;
    Certs() {
        const std::string d = dir.path();
        ca = d + "/ca.pem";
        cert = d + "/leaf.pem";
        key = d + "/leaf.key";
        expired = d + "/expired.pem";
        std::ofstream(d + "/ext.cnf") << "subjectAltName=DNS:localhost\n";
        ok =
            sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + d + "/ca.key -out " + ca +
               " -days 30 -subj '/CN=aiocpp test CA'") &&
            sh("openssl req -newkey rsa:2048 -nodes -keyout " + key + " -out " + d + "/leaf.csr -subj /CN=localhost") &&
            sh("openssl x509 -req -in " + d + "/leaf.csr -CA " + ca + " -CAkey " + d + "/ca.key -CAcreateserial -out " +
               cert + " -days 30 -extfile " + d + "/ext.cnf") &&
            // notAfter a day before notBefore: expired from the start.
            sh("openssl x509 -req -in " + d + "/leaf.csr -CA " + ca + " -CAkey " + d + "/ca.key -CAcreateserial -out " +
               expired + " -days -1 -extfile " + d + "/ext.cnf");
    }
};

/// A client context that trusts `ca` (and the system CAs).
inline std::shared_ptr<aio::SSLContext> trusting(const std::string& ca) {
    auto ctx = aio::SSLContext::create_default_context();
    ctx->load_verify_locations(ca);
    return ctx;
}

/// Whether something accepts connections on 127.0.0.1:port (a peer process starting up).
inline bool can_connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

inline constexpr const char* kTinyproxy = "/usr/bin/tinyproxy";

/// tinyproxy in the foreground (-d) on a free 127.0.0.1 port, its config and log in a temp dir.
/// The destructor kills and reaps it.
class Tinyproxy {
public:
    /// `extra`: more config lines (ConnectPort, BasicAuth...).
    explicit Tinyproxy(const std::string& extra = {}) : port_(aiotest::unused_port()) {
        const std::string conf = dir_.path() + "/tinyproxy.conf";
        log_ = dir_.path() + "/tinyproxy.log";
        // LogLevel Connect logs each request line as the proxy received it, which is how the
        // tests see the absolute form and the CONNECT the client sent.
        std::ofstream(conf) << "Port " << port_ << "\nListen 127.0.0.1\nAllow 127.0.0.1\n"
                            << "Timeout 30\nMaxClients 20\nLogLevel Connect\nLogFile \"" << log_ << "\"\n"
                            << "ViaProxyName \"aiocpp-test-proxy\"\n"
                            << extra;
        proc_ = std::make_unique<aiotest::ChildProcess>(std::vector<std::string>{kTinyproxy, "-d", "-c", conf});
        for (int i = 0; i < 500 && !(up_ = aiotest::can_connect(port_)); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // tinyproxy starting: another process, not a thread of ours
    }
    [[nodiscard]] bool up() const { return up_; }
    [[nodiscard]] uint16_t port() const { return port_; }
    /// "http://127.0.0.1:PORT" (with "user:pass@" if given).
    [[nodiscard]] std::string url(const std::string& userinfo = {}) const {
        return "http://" + (userinfo.empty() ? "" : userinfo + "@") + "127.0.0.1:" + std::to_string(port_);
    }
    /// The log so far.
    [[nodiscard]] std::string log() const {
        std::ifstream in(log_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    /// How many times `needle` occurs in the log.
    [[nodiscard]] size_t count_in_log(const std::string& needle) const {
        const std::string l = log();
        size_t n = 0;
        for (size_t at = l.find(needle); at != std::string::npos; at = l.find(needle, at + 1))
            ++n;
        return n;
    }

private:
    aiotest::TempDir dir_;
    uint16_t port_;
    std::string log_;
    std::unique_ptr<aiotest::ChildProcess> proc_;
    bool up_ = false;
};

}  // namespace aiotest
