// main() of the standalone examples: each example executable is one demo file linked with this,
// so the demo's code exists once and `aiocpp demo NAME` runs exactly the same thing.
#include <cstdlib>
#include <string_view>

#include <fmt/core.h>

#include "demo.hpp"

int main(int argc, char** argv) {
    // First of all: in a child started with the spawn method (E14's hello_process), this runs the
    // child's target and exits; in every other run it returns at once.
    aio::mp::freeze_support();
#if defined(AIO_HAVE_MPI)
    aio::mpi::freeze_support();  // likewise for a worker spawned by an MPIPoolExecutor (--mpi N)
#endif
    aio_demo::Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--virtual-time") {
            options.virtual_time = true;
        } else if (arg == "--mpi" && i + 1 < argc) {
            options.mpi = std::atoi(argv[++i]);
            if (options.mpi < 1) {
                fmt::print(stderr, "{}: --mpi wants a number of ranks, at least 1\n", argv[0]);
                return 2;
            }
        } else if (arg == "-h" || arg == "--help") {
            fmt::print("usage: {} [--virtual-time] [--mpi N]\n  --virtual-time  run the event loop on the test clock "
                       "(sleeps take no real time, loop times are exact)\n  --mpi N         (E12, E21) also split the work "
                       "over N MPI ranks\n",
                       argv[0]);
            return 0;
        } else {
            fmt::print(stderr, "{}: unknown argument '{}' (try --help)\n", argv[0], arg);
            return 2;
        }
    }
    int status = 0;
    try {
        for (const aio_demo::Demo& demo : aio_demo::all())
            if (!aio_demo::run(demo, options)) status = 1;
    } catch (const aio::KeyboardInterrupt&) {
        return 130;  // the shell's convention for "stopped by SIGINT"
    }
    return status;
}
