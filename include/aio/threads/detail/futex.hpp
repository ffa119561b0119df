// Blocking on a 32-bit atomic word, with a deadline: the primitive under ConcurrentFuture's
// result(timeout), the pool's idle workers and the threading locks. std::atomic::wait has no
// timeout in C++20, and std::condition_variable needs a mutex on every state change; a futex
// lets the fast paths stay a single atomic operation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace aio::detail {

using SteadyTime = std::chrono::steady_clock::time_point;

/// Blocks while `word` holds `expected`, until woken or past `deadline` (null: no deadline).
/// Returns false only when the deadline passed. May return spuriously: callers re-check.
bool futex_wait(std::atomic<uint32_t>& word, uint32_t expected, const SteadyTime* deadline) noexcept;
/// Wakes up to `n` threads blocked on `word`; returns how many it woke.
int futex_wake(std::atomic<uint32_t>& word, int n) noexcept;
inline void futex_wake_all(std::atomic<uint32_t>& word) noexcept { futex_wake(word, 0x7fffffff); }

/// One step of a spin-wait: tells the CPU (and a hyper-threaded sibling) that we are spinning.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// Converts a relative timeout to an absolute deadline; negative timeouts mean "already due".
template <class Rep, class Period>
SteadyTime deadline_after(std::chrono::duration<Rep, Period> timeout) {
    auto d = std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
    if (d.count() < 0) d = d.zero();
    // Saturate: "wait 100 years" must not overflow into the past.
    auto now = std::chrono::steady_clock::now();
    if (d > SteadyTime::max() - now) return SteadyTime::max();
    return now + d;
}

}  // namespace aio::detail
