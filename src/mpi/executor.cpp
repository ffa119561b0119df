// MPIPoolExecutor and CommExecutor over the client and server in runtime.hpp.
#include "aio/mpi/executor.hpp"

#include "runtime.hpp"

namespace aio::mpi {

namespace {
// Up to a day: "never" written as milliseconds::max() would overflow the clock arithmetic.
void check_lost_after(std::chrono::milliseconds d) {
    if (d.count() <= 0 || d > std::chrono::hours(24))
        throw std::invalid_argument("aio::mpi: lost_after must be between 1 ms and 24 h");
}
}  // namespace

MPIExecutorBase::~MPIExecutorBase() {
    if (client_) client_->shutdown(true, false);
}

void MPIExecutorBase::submit_raw(const char* name, bool chunk, std::unique_ptr<detail::Sink> sink) {
    if (!client_) throw RuntimeError("aio::mpi: this CommExecutor is a worker rank's: only the root submits");
    client_->submit(name, chunk, std::move(sink));
}

void MPIExecutorBase::shutdown(bool wait, bool cancel_futures) noexcept {
    if (client_) client_->shutdown(wait, cancel_futures);
}

void MPIExecutorBase::bootup() {
    if (client_) client_->bootup();
}

int MPIExecutorBase::num_workers() { return client_ ? client_->num_workers() : 0; }

std::vector<int> MPIExecutorBase::worker_pids() { return client_ ? client_->worker_pids() : std::vector<int>{}; }

MPIPoolExecutor::MPIPoolExecutor(PoolOptions options) {
    if (options.max_workers && *options.max_workers < 1)
        throw std::invalid_argument("aio::mpi: MPIPoolExecutor's max_workers must be at least 1");
    check_lost_after(options.lost_after);
    client_ = std::make_shared<detail::Client>(std::move(options));
}

MPIPoolExecutor::MPIPoolExecutor(int max_workers) : MPIPoolExecutor([&] {
    PoolOptions o;
    o.max_workers = max_workers;
    return o;
}()) {}

CommExecutor::CommExecutor(MPI_Comm comm, int root, std::chrono::milliseconds lost_after) {
    check_lost_after(lost_after);
    auto& rt = detail::Runtime::get();
    struct Shape {
        MPI_Comm dup = MPI_COMM_NULL;
        int rank = 0;
        int size = 0;
        int rc = MPI_SUCCESS;
    };
    // A communicator of our own: the executor's messages never meet the program's on `comm`.
    const Shape s = rt.call([comm] {
        Shape sh;
        sh.rc = MPI_Comm_dup(comm, &sh.dup);
        if (sh.rc != MPI_SUCCESS) return sh;
        MPI_Comm_set_errhandler(sh.dup, MPI_ERRORS_RETURN);
        MPI_Comm_rank(sh.dup, &sh.rank);
        MPI_Comm_size(sh.dup, &sh.size);
        return sh;
    });
    if (s.rc != MPI_SUCCESS) throw Error(detail::mpi_error("MPI_Comm_dup", s.rc));
    auto release = [&rt](MPI_Comm c) {
        rt.call([c]() mutable { MPI_Comm_free(&c); });
    };
    if (s.size < 2) {
        release(s.dup);
        throw Error("aio::mpi: CommExecutor needs workers, and this communicator has only " + std::to_string(s.size) +
                    " process: start the program with `mpiexec -n N " + std::string("./program`") +
                    " (N >= 2), or use MPIPoolExecutor, which spawns its workers");
    }
    if (root < 0 || root >= s.size) {
        release(s.dup);
        throw std::invalid_argument("aio::mpi: CommExecutor's root " + std::to_string(root) + " is not a rank of the communicator (size " +
                                    std::to_string(s.size) + ")");
    }
    if (s.rank == root) {
        client_ = std::make_shared<detail::Client>(s.dup, root, lost_after);
        client_->bootup();
        return;
    }
    detail::serve(s.dup, root, false);
}

}  // namespace aio::mpi
