// Forking from tests. A child runs its function and _exit()s with the result: it must never
// return into GoogleTest, which would go on to run the rest of the suite in the child too.
// Also what several mp tests check messages with: a recv() that cannot hang, a checksum.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

#include "aio/mp/connection.hpp"

namespace mp_test {

/// Forks; the child runs `body` and _exit()s with what it returns (121 if it threw). Returns the
/// child's pid (-1 if fork failed).
inline pid_t fork_child(std::function<int()> body) {
    std::fflush(nullptr);  // else output buffered in the parent would be written twice
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    int code = 121;
    try {
        code = body();
    } catch (...) {
    }
    ::_exit(code);
}

/// Reaps the child: its exit code, 128 + the signal's number if a signal ended it, -1 on error.
inline int wait_exit_code(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/// recv() that cannot hang the test: throws std::runtime_error if nothing comes within `bound`.
template <class T>
T recv_within(aio::mp::Connection<T>& c, std::chrono::milliseconds bound = std::chrono::milliseconds(5000)) {
    if (!c.poll(bound)) throw std::runtime_error("nothing received in time");
    return c.recv();
}

/// FNV-1a of `s`: compares a large message with what was sent without printing either.
inline uint64_t checksum(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

}  // namespace mp_test
