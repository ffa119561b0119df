// The MPI tests' main(): aio::mpi::freeze_support() first, so that the workers an
// MPIPoolExecutor spawns (this program, started again) serve instead of running the tests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "aio/mpi/executor.hpp"

int main(int argc, char** argv) {
    // What CI's machine needs of Open MPI (root, two cores, a container: tests/CMakeLists.txt),
    // set here so that the tests also run by hand; mpiexec's own runs get them from ctest.
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    if (std::getenv("AIO_TEST_FORGET_FREEZE_SUPPORT") && argc > 1 && std::strcmp(argv[1], "--aio-mpi-worker") == 0) {
        // What a program whose main() forgot freeze_support() does in its spawned workers: the
        // client's work again. The executor must refuse, and tell the real client why.
        aio::mpi::MPIPoolExecutor ex(1);
        ex.bootup();
        return 3;
    }
    aio::mpi::freeze_support();
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
