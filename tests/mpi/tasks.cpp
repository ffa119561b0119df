#include "tasks.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "aio/mpi/task.hpp"

namespace aio_mpi_test {

int square(int x) { return x * x; }
double add(double a, double b) { return a + b; }
int fail_on(int x, int bad) {
    if (x == bad) throw std::invalid_argument("bad " + std::to_string(x));
    return x;
}
std::string echo(std::string s) { return s; }

int block_until_released(std::string started, std::string release) {
    const int pid = getpid();
    int fd = open(started.c_str(), O_WRONLY);  // blocks until the test opens it for reading
    if (fd < 0) throw std::runtime_error("cannot open " + started);
    if (write(fd, &pid, sizeof pid) != sizeof pid) throw std::runtime_error("cannot write " + started);
    close(fd);
    fd = open(release.c_str(), O_RDONLY);  // blocks until the test opens it for writing
    if (fd < 0) throw std::runtime_error("cannot open " + release);
    char c;
    while (read(fd, &c, 1) > 0) {
    }
    close(fd);
    return pid;
}

int worker_pid(int) { return getpid(); }
int die_now(int) {
    raise(SIGKILL);
    return 0;
}
int late_task(int x) { return x + 1; }
int nap_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
int touch(std::string path) {
    std::ofstream(path) << "x";
    return 1;
}
int unregistered_task(int x) { return x; }

}  // namespace aio_mpi_test

AIO_MPI_REGISTER(aio_mpi_test::square);
AIO_MPI_REGISTER(aio_mpi_test::add);
AIO_MPI_REGISTER(aio_mpi_test::fail_on);
AIO_MPI_REGISTER(aio_mpi_test::echo);
AIO_MPI_REGISTER(aio_mpi_test::block_until_released);
AIO_MPI_REGISTER(aio_mpi_test::worker_pid);
AIO_MPI_REGISTER(aio_mpi_test::die_now);
AIO_MPI_REGISTER(aio_mpi_test::nap_ms);
AIO_MPI_REGISTER(aio_mpi_test::touch);
