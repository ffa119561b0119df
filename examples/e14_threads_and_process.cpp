// E14 — what a program can ask about itself: active_count(), current_thread().name, the process
// id; hello from a thread.
// Standalone: examples/e14_threads_and_process. In the CLI: aiocpp demo threads_and_process.
#include <unistd.h>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

namespace threading = aio::threading;

void run(const aio_demo::Options&) {
    fmt::print("Python: print(os.getpid(), threading.active_count(), threading.current_thread().name)\n");
    fmt::print("   pid {}, {} thread(s) alive, this is '{}'\n", ::getpid(), threading::active_count(),
               threading::current_thread_name());
    threading::Event go;
    threading::Thread t(threading::ThreadOptions{.name = "hello-thread"}, [&] {
        fmt::print("   hello from '{}' (native id {}), in process {}; {} threads alive now\n", threading::current_thread_name(),
                   threading::get_native_id(), ::getpid(), threading::active_count());
        go.wait();
    });
    t.start();
    t.join(std::chrono::milliseconds(0));
    go.set();
    t.join();
    fmt::print("   after join: '{}' is_alive = {}\n", t.name(), t.is_alive());
    fmt::print("\nactive_count() counts every OS thread of the process (/proc/self/task), including threads that\n"
               "aiocpp did not start; Python counts the threads its threading module knows about.\n");
}

const aio_demo::Registration registration{{
    .name = "threads_and_process",
    .number = 14,
    .summary = "active_count(), the current thread's name and the process id, from main and from a thread.",
    .run = &run,
}};

}  // namespace
