// main() of the processes tests. A spawn-started child re-executes this program: freeze_support()
// runs that child's target and exits before GoogleTest starts.
#include <gtest/gtest.h>

#include "aio/mp/process.hpp"

int main(int argc, char** argv) {
    aio::mp::freeze_support();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
