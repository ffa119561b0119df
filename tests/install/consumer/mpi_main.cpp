// Builds against the installed aiocpp::mpi (find_package(aiocpp COMPONENTS mpi)). Run without
// mpiexec, it never starts MPI: freeze_support() returns at once, and a pool never used spawns
// nothing.
#include <aio/mpi/executor.hpp>

int twice(int x) { return 2 * x; }
AIO_MPI_REGISTER(twice);

int main() {
    aio::mpi::freeze_support();
    aio::mpi::MPIPoolExecutor pool(2);
    pool.shutdown(true);
    return aio::mpi::is_worker() ? 1 : 0;
}
