// Exception types of the MPI layer, with their mpi4py.futures counterparts.
#pragma once

#include <string>

#include "aio/core/errors.hpp"
#include "aio/mp/errors.hpp"
#include "aio/threads/errors.hpp"

namespace aio::mpi {

/// The base of the MPI layer's own errors: a function not registered on a rank, MPI not started
/// the way a call needs it, a failed spawn. Its message says what to do (mpi4py raises plain
/// RuntimeError or MPI.Exception for these).
class Error : public aio::Error {
public:
    using aio::Error::Error;
};

/// An exception a task threw on a worker rank, re-raised by result() (mpi4py re-raises the
/// unpickled exception). As with the process pool, what travels is the exception's type and
/// message; what() reads "std::runtime_error: boom (raised on MPI rank 2)". Catching
/// aio::mp::RemoteError catches it too, so code written for a process pool keeps working.
class RemoteError : public mp::RemoteError {
public:
    RemoteError(std::string type_name, std::string message, int rank);
    /// The rank of the worker that raised it (in the executor's communicator; for a spawned pool,
    /// in the workers' own MPI_COMM_WORLD).
    [[nodiscard]] int rank() const noexcept { return rank_; }

private:
    int rank_;
};

/// A worker rank was lost (killed, crashed, its host gone) while it held tasks: those tasks, every
/// task not yet run, and every later submit fail with this, as a ProcessPoolExecutor breaks with
/// BrokenProcessPool (mpi4py.futures hangs or aborts the job instead). Names the lost rank.
class BrokenMPIPool : public BrokenExecutor {
public:
    BrokenMPIPool(const std::string& what, int rank) : BrokenExecutor(what), rank_(rank) {}
    /// The rank that was lost (-1 when the pool broke for another reason, such as its spawn).
    [[nodiscard]] int rank() const noexcept { return rank_; }

private:
    int rank_;
};

}  // namespace aio::mpi
