// E15 — recursive fib(40) and fib(41), one after the other vs on two threads. Python: 65.2 s vs
// 66.1 s (the GIL: no speed-up). C++: the two-thread run takes about as long as fib(41) alone.
// Standalone: examples/e15_fibonacci_threads [--virtual-time: fib(30)/fib(31), for tests].
// In the CLI: aiocpp demo fibonacci_threads.
#include <chrono>
#include <cstdint>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using Clock = std::chrono::steady_clock;

uint64_t fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

void run(const aio_demo::Options& options) {
    const unsigned a = options.virtual_time ? 30 : 40, b = a + 1;
    auto t0 = Clock::now();
    const uint64_t fa = fib(a), fb = fib(b);
    const double seq = std::chrono::duration<double>(Clock::now() - t0).count();
    fmt::print("sequential:  fib({}) = {}, fib({}) = {}   {:.2f} s\n", a, fa, b, fb, seq);

    t0 = Clock::now();
    uint64_t ra = 0, rb = 0;
    {
        aio::threading::Thread ta([&] { ra = fib(a); }), tb([&] { rb = fib(b); });
        ta.start();
        tb.start();
        ta.join();
        tb.join();
    }
    const double par = std::chrono::duration<double>(Clock::now() - t0).count();
    fmt::print("two threads: fib({}) = {}, fib({}) = {}   {:.2f} s   speed-up {:.2f}x\n", a, ra, b, rb, par, seq / par);
    fmt::print("\nThe best two threads can do here is the time of fib({}) alone, about 62% of the sequential time\n"
               "(speed-up about 1.6x), since fib({}) is 1.6 times fib({}). Python's threads showed no speed-up at all\n"
               "(65.2 s vs 66.1 s): the GIL runs one thread's bytecode at a time.\n",
               b, b, a);
}

const aio_demo::Registration registration{{
    .name = "fibonacci_threads",
    .number = 15,
    .summary = "fib(40) and fib(41) one after the other vs on two threads: no GIL, so threads do help.",
    .run = &run,
}};

}  // namespace
