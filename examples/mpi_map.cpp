// mpi4py.futures' first example, in C++: an executor's map over a range, on MPI ranks.
//
//     from mpi4py.futures import MPIPoolExecutor
//     with MPIPoolExecutor() as executor:
//         print(list(executor.map(pow, [2] * 16, range(16))))
//
// The workers are this program started again by MPI_Comm_spawn (main() calls
// aio::mpi::freeze_support() first); the task function is registered by name on every rank.
// Standalone: examples/mpi_map. In the CLI: aiocpp demo mpi_map.
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

#if defined(AIO_HAVE_MPI)
/// pow(base, exp) for integers, and the pid of the rank that computed it.
std::tuple<uint64_t, int> power(uint64_t base, int exp) {
    uint64_t r = 1;
    for (int i = 0; i < exp; ++i) r *= base;
    return {r, static_cast<int>(::getpid())};
}
AIO_MPI_REGISTER(power);

void run(const aio_demo::Options& options) {
    aio_demo::prepare_mpi();
    const int ranks = options.mpi > 0 ? options.mpi : 2;
    fmt::print("MPIPoolExecutor({}): {} worker ranks spawned from this program (pid {}).\n\n", ranks, ranks, ::getpid());
    aio::mpi::MPIPoolExecutor executor(ranks);

    std::vector<std::tuple<uint64_t, int>> args;
    for (int k = 0; k < 16; ++k) args.emplace_back(2, k);
    fmt::print("executor.starmap(pow, zip([2] * 16, range(16))), chunksize 4 (four calls per message):\n  ");
    std::map<int, int> by_pid;
    for (const auto& [value, pid] : executor.starmap(power, args, {.chunksize = 4})) {
        fmt::print("{} ", value);
        ++by_pid[pid];
    }
    fmt::print("\n  computed by:");
    for (const auto& [pid, n] : by_pid) fmt::print(" pid {} ({} values)", pid, n);
    fmt::print("\n\nexecutor.submit(pow, 3, 40).result(): {}\n", std::get<0>(executor.submit(power, 3, 40).result()));

    fmt::print("\nThe results came back in input order, as Python's map returns them, although the ranks ran\n"
               "their chunks at the same time. A rank is a process: the same program, started by MPI, here or\n"
               "on another machine listed in a hostfile (docs/mpi.md).\n");
}
#else
void run(const aio_demo::Options&) { fmt::print("This build has no MPI layer (install libopenmpi-dev and rebuild).\n"); }
#endif

const aio_demo::Registration registration{{
    .name = "mpi_map",
    .number = 0,
    .summary = "mpi4py.futures' map over a range, on MPI ranks spawned from this program: results in input order.",
    .run = &run,
}};

}  // namespace
