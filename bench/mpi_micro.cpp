// Issue #22: what one task costs on the MPI executors, beside mpi4py.futures (bench/py_mpi_peer.py,
// run by bench/compare_mpi.sh). Started as a singleton it spawns its workers (MPIPoolExecutor);
// under `mpiexec -n N` it serves with a CommExecutor (rank 0 the client).
//
//   aio_mpi_micro latency N          N submit+result round trips, one at a time: us per trip
//   aio_mpi_micro map N CHUNK        map over N tiny tasks with that chunksize: tasks per second
//   aio_mpi_micro cpu                CPU of the client and the workers: idle for 1 s, then while
//                                    waiting on a task that sleeps 1 s (percent of one core)
//   aio_mpi_micro e21 N              E21's primes below N in two halves: one process, then
//                                    aio::mp::Pool(2) and the MPI executor's 2 workers, both
//                                    already started: the speed-ups over one process
//   --workers W (singleton only)     workers to spawn (default 2)
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "aio/mp/pool.hpp"
#include "aio/mpi/executor.hpp"

namespace {

int tiny(int x) { return x + 1; }
/// E21's task: the primes in [lo, hi), by the seed's trial division.
long count_primes(int lo, int hi) {
    long count = 0;
    for (int n = lo; n < hi; ++n) {
        bool prime = n >= 2;
        for (int d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
        count += prime;
    }
    return count;
}

int nap(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

/// utime + stime of a process, in seconds (from /proc).
double cpu_of(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto close = s.rfind(')');
    if (close == std::string::npos) return 0;
    std::vector<std::string> fields;
    size_t p = close + 2;
    while (p < s.size()) {
        const auto q = s.find(' ', p);
        fields.push_back(s.substr(p, q - p));
        if (q == std::string::npos) break;
        p = q + 1;
    }
    // Fields after ")" start at state (3rd); utime is the 14th, stime the 15th.
    return (std::stod(fields.at(11)) + std::stod(fields.at(12))) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

AIO_MPI_REGISTER(tiny);
AIO_MPI_REGISTER(nap);
AIO_MPI_REGISTER(count_primes);

int main(int argc, char** argv) {
    aio::mpi::freeze_support();
    std::vector<std::string> args(argv + 1, argv + argc);
    int workers = 2;
    if (args.size() >= 2 && args[0] == "--workers") {
        workers = std::stoi(args[1]);
        args.erase(args.begin(), args.begin() + 2);
    }
    if (args.empty()) {
        std::fprintf(stderr, "usage: aio_mpi_micro [--workers W] latency N | map N CHUNK | cpu | e21 N\n");
        return 2;
    }
    const bool under_mpiexec = std::getenv("OMPI_COMM_WORLD_SIZE") && std::atoi(std::getenv("OMPI_COMM_WORLD_SIZE")) > 1;
    std::unique_ptr<aio::mpi::MPIExecutorBase> ex;
    if (under_mpiexec) {
        auto c = std::make_unique<aio::mpi::CommExecutor>();
        if (!*c) return 0;  // a worker rank: served until the client finished
        ex = std::move(c);
    } else {
        ex = std::make_unique<aio::mpi::MPIPoolExecutor>(workers);
    }
    ex->bootup();
    for (int i = 0; i < 200; ++i) (void)ex->submit(tiny, i).result();  // warm up every path

    if (args[0] == "latency") {
        const int n = args.size() > 1 ? std::stoi(args[1]) : 10000;
        const double t0 = now_s();
        for (int i = 0; i < n; ++i)
            if (ex->submit(tiny, i).result() != i + 1) return 1;
        std::printf("latency_us %.2f\n", (now_s() - t0) / n * 1e6);
    } else if (args[0] == "map") {
        const int n = args.size() > 1 ? std::stoi(args[1]) : 100000;
        const size_t chunk = args.size() > 2 ? std::stoul(args[2]) : 1000;
        std::vector<int> xs(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) xs[static_cast<size_t>(i)] = i;
        const double t0 = now_s();
        long long sum = 0;
        for (int v : ex->map(tiny, xs, {.chunksize = chunk})) sum += v;
        const double dt = now_s() - t0;
        if (sum != static_cast<long long>(n) * (n + 1) / 2) return 1;
        std::printf("map_tasks_per_s %.0f\n", n / dt);
    } else if (args[0] == "cpu") {
        auto pids = ex->worker_pids();
        auto snapshot = [&] {
            std::vector<double> v{cpu_of(getpid())};
            for (int p : pids) v.push_back(cpu_of(p));
            return v;
        };
        auto report = [&](const char* what, const std::vector<double>& a, const std::vector<double>& b, double dt) {
            std::printf("%s client %.1f%%", what, (b[0] - a[0]) / dt * 100);
            for (size_t i = 1; i < a.size(); ++i) std::printf(" worker%zu %.1f%%", i - 1, (b[i] - a[i]) / dt * 100);
            std::printf("\n");
        };
        auto a = snapshot();
        double t0 = now_s();
        std::this_thread::sleep_for(std::chrono::seconds(1));
        report("idle", a, snapshot(), now_s() - t0);
        a = snapshot();
        t0 = now_s();
        (void)ex->submit(nap, 1000).result();
        report("waiting_1s_task", a, snapshot(), now_s() - t0);
    } else if (args[0] == "e21") {
        const int n = args.size() > 1 ? std::stoi(args[1]) : 2'000'001;
        const int mid = n / 2;
        std::vector<std::tuple<int, int>> halves{{2, mid}, {mid, n}};
        double t0 = now_s();
        const long one = count_primes(2, n);
        const double t_one = now_s() - t0;
        aio::mp::Pool pool(2);
        (void)pool.apply(count_primes, 2, 3);  // the workers are up
        t0 = now_s();
        long by_pool = 0;
        for (long c : pool.starmap(count_primes, halves, 1)) by_pool += c;
        const double t_pool = now_s() - t0;
        t0 = now_s();
        long by_mpi = 0;
        for (long c : ex->starmap(count_primes, halves)) by_mpi += c;
        const double t_mpi = now_s() - t0;
        if (by_pool != one || by_mpi != one) return 1;
        std::printf("e21_speedup_pool %.3f\ne21_speedup_mpi %.3f\n", t_one / t_pool, t_one / t_mpi);
    } else {
        std::fprintf(stderr, "unknown mode %s\n", args[0].c_str());
        return 2;
    }
    return 0;
}
