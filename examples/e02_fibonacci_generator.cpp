// E2 — the Fibonacci generator: a function that pauses at every `co_yield` (Python: `yield`),
// the suspendable function that coroutines are built on.
// Standalone: examples/e02_fibonacci_generator. In the CLI: aiocpp demo fibonacci_generator.
#include <string>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

// Python:
//     def fibonacci():
//         a, b = 1, 1
//         while True:
//             yield a
//             a, b = b, a + b
// Infinite, as in Python: the consumer decides when to stop, and each number is only computed
// when asked for.
aio::Generator<long> fibonacci() {
    long a = 1;
    long b = 1;
    while (true) {
        co_yield a;
        const long next = a + b;
        a = b;
        b = next;
    }
}

void run(const aio_demo::Options& options) {
    fmt::print("A generator is a function that can pause: at each co_yield it hands a value to its caller and\n"
               "sleeps, locals intact, until the caller asks for the next one. Coroutines are built on exactly\n"
               "this (Python's async def grew out of generators, and aio::Task is the same C++20 machinery\n"
               "as aio::Generator): the only difference is that the event loop, not a for-loop, resumes them.\n\n");

    // Python: for n in fibonacci():
    //             if n > 1000: break
    //             print(n)
    std::string line;
    for (long n : fibonacci()) {
        if (n > 1000) break;
        if (!line.empty()) line += ", ";
        line += std::to_string(n);
    }
    fmt::print("Fibonacci numbers up to 1000:\n{}\n", line);

    fmt::print("\nC++ vs Python:\n"
               " - a generator is a function returning aio::Generator<long> that uses co_yield; there is no\n"
               "   std::generator in g++ 12 (it is C++23), hence aio::Generator.\n"
               " - `break` ends the for statement, which destroys the paused generator and its locals right\n"
               "   there; CPython does the same (it calls close()) when the last reference to a generator goes.\n");
    if (options.virtual_time) fmt::print(" - this demo has no event loop, so --virtual-time changes nothing.\n");
}

const aio_demo::Registration registration{{
    .name = "fibonacci_generator",
    .number = 2,
    .summary = "A generator with co_yield (Python: yield) prints the Fibonacci numbers up to 1000.",
    .run = &run,
}};

}  // namespace
