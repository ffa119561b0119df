#include "aio/threads/detail/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace aio::detail {

namespace {
uint32_t* addr(std::atomic<uint32_t>& w) noexcept {
    static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
    return reinterpret_cast<uint32_t*>(&w);
}
}  // namespace

bool futex_wait(std::atomic<uint32_t>& word, uint32_t expected, const SteadyTime* deadline) noexcept {
    timespec ts{};
    timespec* tsp = nullptr;
    if (deadline && *deadline != SteadyTime::max()) {
        // steady_clock is CLOCK_MONOTONIC on Linux; FUTEX_WAIT_BITSET takes an absolute time on it,
        // so a wait interrupted by a signal resumes with the same deadline.
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline->time_since_epoch()).count();
        if (ns < 0) ns = 0;
        ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        tsp = &ts;
    }
    long r = ::syscall(SYS_futex, addr(word), FUTEX_WAIT_BITSET_PRIVATE, expected, tsp, nullptr,
                       FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT) return false;
    return true;
}

int futex_wake(std::atomic<uint32_t>& word, int n) noexcept {
    const long r = ::syscall(SYS_futex, addr(word), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
    return r > 0 ? static_cast<int>(r) : 0;
}

}  // namespace aio::detail
