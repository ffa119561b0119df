// E14 — hello from a child process: multiprocessing.Process with both start methods.
//   fork:  the child is a copy of this process made at start(); it runs any callable.
//   spawn: the child is this program started afresh (exec of /proc/self/exe); it runs a function
//          registered with AIO_MP_REGISTER, with arguments sent to it. main() calls
//          aio::mp::freeze_support() first: in such a child, that call runs the function and exits.
// Each child prints its pid, its parent's pid and aio::mp::current_process_name().
// Standalone: examples/e14_hello_process. In the CLI: aiocpp demo hello_process.
#include <unistd.h>

#include <string>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

/// 0 when the program starts; run() sets it just before starting the children, so each child
/// shows whether it has this process's memory (fork) or a fresh program's (spawn).
int g_answer = 0;

void say_hello(const char* how, int expected_parent) {
    const pid_t parent = ::getppid();
    fmt::print("   [child] hello from a child process ({}): pid {}, parent pid {} ({}), current_process_name() = '{}'\n", how,
               ::getpid(), parent, parent == expected_parent ? "the demo's process" : "NOT the demo's process",
               aio::mp::current_process_name());
}

/// The spawn child's target: a plain function whose arguments are sent to the new program.
void hello_spawned(int parent_pid, int answer) {
    say_hello("spawn", parent_pid);
    fmt::print("   [child] g_answer = {}: a fresh program, started with the value it had at startup; the {} main set\n"
               "           came as an argument\n",
               g_answer, answer);
}
AIO_MP_REGISTER(hello_spawned);

void run(const aio_demo::Options&) {
    const int me = static_cast<int>(::getpid());
    fmt::print("Python: print(os.getpid(), multiprocessing.current_process().name)\n");
    fmt::print("   this process: pid {}, current_process_name() = '{}', cpu_count() = {}\n", me,
               aio::mp::current_process_name(), aio::mp::cpu_count());
    g_answer = 42;
    fmt::print("   main sets g_answer = {} (it was 0 when the program started)\n", g_answer);

    fmt::print("\n1. fork, the default start method on Linux: Process(target) copies this process at start()\n");
    {
        aio::mp::Process p([me] {
            say_hello("fork", me);
            fmt::print("   [child] g_answer = {}: the child's memory is a copy of main's, taken at start()\n", g_answer);
            g_answer = 7;
            fmt::print("   [child] sets g_answer = {}\n", g_answer);
        });
        p.start();
        p.join();
        fmt::print("   joined {} (pid {}): exitcode {}\n", p.name(), *p.pid(), *p.exitcode());
        fmt::print("   main's g_answer is still {}: the child changed its own copy\n", g_answer);
    }

    fmt::print("\n2. spawn: Process(aio::mp::spawn, hello_spawned, ...) starts this program afresh\n");
    {
        aio::mp::Process p(aio::mp::spawn, hello_spawned, me, g_answer);
        p.name("hello-spawn");
        p.start();
        p.join();
        fmt::print("   joined {} (pid {}): exitcode {}\n", p.name(), *p.pid(), *p.exitcode());
    }

    fmt::print("\nProcesses share no memory: a forked child sees a copy of what main had (changes it makes stay in\n"
               "the child), a spawned child sees nothing of it; as the seed says, what a process needs must be\n"
               "passed to it as arguments. Python's spawn child finds its target by importing the module it was\n"
               "defined in; that is why the seed's example, run from a notebook under spawn (macOS's default),\n"
               "died in its children with an AttributeError: a notebook's functions cannot be imported. aiocpp\n"
               "finds the target by the name AIO_MP_REGISTER gave it, and refuses an unregistered function when\n"
               "the Process is made, in the parent, not in the child. The spawned child ran this same\n"
               "program: main()'s first call, aio::mp::freeze_support(), ran hello_spawned and exited, so the\n"
               "child never reached the command line or the demos.\n");
}

const aio_demo::Registration registration{{
    .name = "hello_process",
    .number = 14,
    .summary = "Hello from a child process, started by fork and by spawn: pid, parent pid, process name.",
    .run = &run,
}};

}  // namespace
