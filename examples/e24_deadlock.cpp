// E24 — two threads taking two locks in opposite orders: in Python the program hangs. With
// aiocpp's deadlock detector on, the inversion is reported (both acquisition sites) and the
// demo goes on instead of hanging.
// Standalone: examples/e24_deadlock. In the CLI: aiocpp demo deadlock.
#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

namespace threading = aio::threading;

void run(const aio_demo::Options&) {
    const bool was_on = threading::deadlock_detection_enabled();
    threading::set_deadlock_detection(true);
    threading::reset_deadlock_detector();

    threading::Lock a("a"), b("b");
    threading::Event a_taken, b_taken;
    // Python: def f1(): with a: sleep(); with b: ...   def f2(): with b: sleep(); with a: ...
    // The events make the deadly interleaving certain: each holds its first lock when it asks
    // for the second.
    auto f = [&](threading::Lock& first, threading::Event& mine, threading::Lock& second, threading::Event& other) {
        auto held = first.scoped();
        mine.set();
        other.wait();
        try {
            auto both = second.scoped();
            fmt::print("   [{}] got both locks\n", threading::current_thread_name());
        } catch (const threading::DeadlockError& e) {
            fmt::print("   [{}] {}\n", threading::current_thread_name(), e.what());
            fmt::print("   [{}] gives up, releasing lock '{}'\n", threading::current_thread_name(), first.name());
        }
    };
    fmt::print("Thread f1 takes a then b; thread f2 takes b then a; each holds its first lock when it asks for\n"
               "the second. Without the detector this hangs forever.\n\n");
    threading::Thread t1(threading::ThreadOptions{.name = "f1"}, [&] { f(a, a_taken, b, b_taken); });
    threading::Thread t2(threading::ThreadOptions{.name = "f2"}, [&] { f(b, b_taken, a, a_taken); });
    t1.start();
    t2.start();
    t1.join();
    t2.join();
    fmt::print("\nBoth threads finished: the inversion was reported before it could deadlock. The fix is to take\n"
               "the locks in one global order (or std::scoped_lock(a, b), which avoids the deadlock for you).\n");
    threading::reset_deadlock_detector();
    threading::set_deadlock_detection(was_on);
}

const aio_demo::Registration registration{{
    .name = "deadlock",
    .number = 24,
    .summary = "Two locks taken in opposite orders: the deadlock detector reports the inversion instead of hanging.",
    .run = &run,
}};

}  // namespace
