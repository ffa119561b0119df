// Task functions shared by the MPI tests: registered by name on every rank (tasks.cpp).
#pragma once

#include <string>
#include <vector>

namespace aio_mpi_test {

int square(int x);
double add(double a, double b);
/// Throws std::invalid_argument("bad N") when x == bad.
int fail_on(int x, int bad);
std::string echo(std::string s);
/// Writes this worker's pid into `started` (a FIFO the test is reading), then blocks until
/// `release` (a FIFO) is opened and closed by the test. Returns the pid.
int block_until_released(std::string started, std::string release);
int worker_pid(int);
/// Kills its own process (SIGKILL).
int die_now(int);
/// Registered at run time by the client only (its workers never register it).
int late_task(int x);
/// Sleeps ms milliseconds (a long task), returns ms.
int nap_ms(int ms);
/// Creates the file `path`; returns 1.
int touch(std::string path);
/// Never registered anywhere.
int unregistered_task(int x);

}  // namespace aio_mpi_test
