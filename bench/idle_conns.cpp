// The client of issue #21's connection-scale figures: opens N connections to an echo server and
// holds them (idle), then makes M of them active at once (each writes SIZE bytes and reads the
// echo back), then waits for a line on stdin before closing them, so that a script can read the
// server's memory while they are held. Plain blocking sockets: the client must cost the server
// nothing but the connections themselves.
// Usage: idle_conns PORT N [M [SIZE]]     prints "connected N", "active M ok", then waits
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PORT N [M [SIZE]]\n", argv[0]);
        return 2;
    }
    const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
    const long n = std::atol(argv[2]);
    const long m = argc > 3 ? std::atol(argv[3]) : 0;
    const size_t size = argc > 4 ? static_cast<size_t>(std::atol(argv[4])) : 64;
    rlimit r{static_cast<rlim_t>(n + 100), static_cast<rlim_t>(n + 100)};
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) std::perror("setrlimit (continuing)");
    std::vector<int> fds;
    fds.reserve(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            std::perror("socket");
            return 1;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        // One source address's ephemeral ports hold ~28,000 connections to one port.
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000002u + static_cast<uint32_t>(i / 20000));
        ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(port);
        dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
            std::fprintf(stderr, "connect #%ld: %s\n", i, std::strerror(errno));
            return 1;
        }
        fds.push_back(fd);
    }
    std::printf("connected %ld\n", n);
    std::fflush(stdout);
    if (m > 0) {
        const std::string msg(size, 'x');
        const long stride = n / m;
        for (long i = 0; i < m; ++i)
            if (::send(fds[static_cast<size_t>(i * stride)], msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
                std::perror("send");
                return 1;
            }
        std::string buf(size, '\0');
        for (long i = 0; i < m; ++i) {
            size_t got = 0;
            while (got < size) {
                const ssize_t k = ::recv(fds[static_cast<size_t>(i * stride)], buf.data() + got, size - got, 0);
                if (k <= 0) {
                    std::fprintf(stderr, "echo %ld lost\n", i);
                    return 1;
                }
                got += static_cast<size_t>(k);
            }
        }
        std::printf("active %ld ok\n", m);
        std::fflush(stdout);
    }
    char line[16];
    (void)!std::fgets(line, sizeof line, stdin);
    for (int fd : fds) ::close(fd);
    return 0;
}
