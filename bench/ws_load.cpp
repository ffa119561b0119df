// Issue #20's load generator: a WebSocket ping-pong client on raw epoll, in the spirit of the
// peers lab's echo-load, so the client is the same for every server measured and costs little.
// Each connection keeps one message in flight: it sends a masked BINARY frame of --size bytes and
// sends the next when the whole echo is back (checked byte for byte).
//
//   ws_load HOST PORT [--path /ws] [--conns N] [--size BYTES] [--seconds S] [--warmup W]
//   ws_load HOST PORT ... --requests R        exactly R echoes in all, then close (cost mode)
//   ws_load HOST PORT --idle N1,N2 --server-pid PID [--deflate]
//       opens N1 sockets (one message each), reads the server's RSS, opens up to N2, reads it
//       again: prints the memory per idle WebSocket, (RSS2 - RSS1) / (N2 - N1).
//
// Not built on aiocpp on purpose: a load generator that shares the library's costs would hide
// them. Handshakes are blocking (they are not measured); the echo loop is non-blocking.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Args {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string path = "/ws";
    int conns = 1;
    size_t size = 64;
    double seconds = 3;
    double warmup = 0.5;
    long requests = -1;
    int idle1 = 0, idle2 = 0;
    int server_pid = 0;
    bool deflate = false;
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "ws_load: %s\n", what.c_str());
    std::exit(1);
}

int connect_to(const Args& a) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(a.port));
    if (::inet_pton(AF_INET, a.host.c_str(), &sa.sin_addr) != 1) die("bad host " + a.host);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        die(std::string("connect: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die(std::string("write: ") + std::strerror(errno));
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
}

// The handshake, blocking; whatever came after the 101's head is handed back.
std::string handshake(int fd, const Args& a) {
    std::string req = "GET " + a.path + " HTTP/1.1\r\nHost: " + a.host + ":" + std::to_string(a.port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (a.deflate) req += "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    req += "\r\n";
    write_all(fd, req.data(), req.size());
    std::string in;
    char buf[4096];
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r <= 0) die("the server closed during the handshake");
        in.append(buf, static_cast<size_t>(r));
    }
    if (in.compare(0, 12, "HTTP/1.1 101") != 0) die("no 101: " + in.substr(0, in.find("\r\n")));
    return in.substr(end + 4);
}

// A masked client frame. The mask is fixed: the server's unmasking costs the same for any key.
std::string client_frame(uint8_t opcode, const std::string& payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    const size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xff));
    } else {
        f.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    f.append(reinterpret_cast<const char*>(key), 4);
    for (size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ static_cast<char>(key[i % 4])));
    return f;
}

// Parses one server frame's head from `in` at `pos`: false until the head is whole.
bool frame_head(const std::string& in, size_t& head, uint64_t& len) {
    if (in.size() < 2) return false;
    const auto b1 = static_cast<unsigned char>(in[1]);
    if (b1 & 0x80) die("the server masked a frame");
    len = b1 & 0x7f;
    head = 2;
    if (len == 126) {
        if (in.size() < 4) return false;
        len = (static_cast<uint64_t>(static_cast<unsigned char>(in[2])) << 8) | static_cast<unsigned char>(in[3]);
        head = 4;
    } else if (len == 127) {
        if (in.size() < 10) return false;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(in[2 + i]);
        head = 10;
    }
    return true;
}

struct Conn {
    int fd = -1;
    std::string in;
    size_t sent_at = 0;  // of the frame being written
    bool writing = false;
};

long rss_kib(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    die("cannot read the RSS of pid " + std::to_string(pid));
}

int idle(const Args& a) {
    std::vector<int> fds;
    const std::string msg = client_frame(0x2, std::string(64, 'x'));
    auto open_up_to = [&](int n) {
        while (static_cast<int>(fds.size()) < n) {
            int fd = connect_to(a);
            std::string rest = handshake(fd, a);
            write_all(fd, msg.data(), msg.size());
            size_t head = 0;
            uint64_t len = 0;
            char buf[4096];
            while (!frame_head(rest, head, len) || rest.size() < head + len) {
                ssize_t r = ::read(fd, buf, sizeof buf);
                if (r <= 0) die("the server closed an idle socket");
                rest.append(buf, static_cast<size_t>(r));
            }
            fds.push_back(fd);
        }
    };
    open_up_to(a.idle1);
    ::usleep(300000);  // the server's RSS settles (its reads of the last replies)
    const long r1 = rss_kib(a.server_pid);
    open_up_to(a.idle2);
    ::usleep(300000);
    const long r2 = rss_kib(a.server_pid);
    std::printf("idle %d -> %d sockets: server RSS %ld -> %ld KiB: %.0f bytes per idle WebSocket\n", a.idle1,
                a.idle2, r1, r2, (static_cast<double>(r2 - r1) * 1024.0) / (a.idle2 - a.idle1));
    for (int fd : fds) ::close(fd);
    return 0;
}

int echo(const Args& a) {
    std::string payload(a.size, '\0');
    for (size_t i = 0; i < a.size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    const std::string frame = client_frame(0x2, payload);
    int ep = ::epoll_create1(0);
    std::vector<Conn> conns(static_cast<size_t>(a.conns));
    for (size_t i = 0; i < conns.size(); ++i) {
        Conn& c = conns[i];
        c.fd = connect_to(a);
        c.in = handshake(c.fd, a);
        ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const auto t_measure = t0 + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(a.warmup));
    const auto t_end =
        t_measure + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(a.seconds));
    long sent = 0, done = 0, counted = 0;
    bool measuring = false;
    clock::time_point measured_from = t_measure;

    // Writes what is left of the frame; a partial write waits for EPOLLOUT.
    auto send_frame = [&](size_t i) {
        Conn& c = conns[i];
        while (c.sent_at < frame.size()) {
            ssize_t w = ::write(c.fd, frame.data() + c.sent_at, frame.size() - c.sent_at);
            if (w < 0) {
                if (errno == EAGAIN) break;
                die(std::string("write: ") + std::strerror(errno));
            }
            c.sent_at += static_cast<size_t>(w);
        }
        const bool want_out = c.sent_at < frame.size();
        if (want_out != c.writing) {
            epoll_event ev{};
            ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
            ev.data.u64 = i;
            ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
            c.writing = want_out;
        }
    };
    auto start_one = [&](size_t i) {
        if (a.requests >= 0 && sent >= a.requests) return false;
        ++sent;
        conns[i].sent_at = 0;
        send_frame(i);
        return true;
    };
    long active = 0;
    for (size_t i = 0; i < conns.size(); ++i)
        if (start_one(i)) ++active;
    std::vector<epoll_event> evs(conns.size());
    std::vector<char> buf(1 << 16);
    while (active > 0) {
        const auto now = clock::now();
        if (a.requests < 0) {
            if (!measuring && now >= t_measure) {
                measuring = true;
                measured_from = now;
            }
            if (now >= t_end) break;
        }
        int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
        for (int k = 0; k < n; ++k) {
            const size_t i = evs[static_cast<size_t>(k)].data.u64;
            Conn& c = conns[i];
            if (evs[static_cast<size_t>(k)].events & EPOLLOUT) send_frame(i);
            if (!(evs[static_cast<size_t>(k)].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            for (;;) {
                ssize_t r = ::read(c.fd, buf.data(), buf.size());
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) die("the server closed a connection");
                c.in.append(buf.data(), static_cast<size_t>(r));
                if (static_cast<size_t>(r) < buf.size()) break;
            }
            size_t head = 0;
            uint64_t len = 0;
            if (!frame_head(c.in, head, len) || c.in.size() < head + len) continue;
            if ((static_cast<unsigned char>(c.in[0]) & 0x0f) != 0x2 || len != payload.size() ||
                c.in.compare(head, len, payload) != 0)
                die("the echo differs from what was sent");
            if (c.in.size() != head + len) die("a frame came that was not asked for");
            c.in.clear();
            ++done;
            if (measuring) ++counted;
            if (!start_one(i)) --active;
        }
    }
    const double secs = std::chrono::duration<double>(clock::now() - measured_from).count();
    const std::string close_frame = client_frame(0x8, std::string("\x03\xe8", 2));
    for (Conn& c : conns) {
        if (::write(c.fd, close_frame.data(), close_frame.size()) < 0) {
            // the server is gone already: nothing to close politely
        }
        ::close(c.fd);
    }
    if (a.requests >= 0) std::printf("echoes %ld\n", done);
    else std::printf("messages/s %.0f echoes %ld\n", counted / secs, done);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (argc < 3) {
        std::fprintf(stderr, "usage: ws_load HOST PORT [--path P] [--conns N] [--size B] [--seconds S] "
                             "[--warmup W] [--requests R] [--idle N1,N2 --server-pid PID [--deflate]]\n");
        return 2;
    }
    a.host = argv[1];
    a.port = std::atoi(argv[2]);
    for (int i = 3; i < argc; ++i) {
        std::string k = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) die(k + " needs a value");
            return argv[++i];
        };
        if (k == "--path") a.path = val();
        else if (k == "--conns") a.conns = std::atoi(val().c_str());
        else if (k == "--size") a.size = std::strtoul(val().c_str(), nullptr, 10);
        else if (k == "--seconds") a.seconds = std::atof(val().c_str());
        else if (k == "--warmup") a.warmup = std::atof(val().c_str());
        else if (k == "--requests") a.requests = std::atol(val().c_str());
        else if (k == "--server-pid") a.server_pid = std::atoi(val().c_str());
        else if (k == "--deflate") a.deflate = true;
        else if (k == "--idle") {
            std::string v = val();
            a.idle1 = std::atoi(v.c_str());
            a.idle2 = std::atoi(v.c_str() + v.find(',') + 1);
        } else die("unknown option " + k);
    }
    if (a.idle2 > 0) {
        rlimit rl{};
        ::getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        if (a.server_pid <= 0) die("--idle needs --server-pid");
        return idle(a);
    }
    return echo(a);
}
