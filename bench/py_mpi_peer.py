"""mpi4py.futures, the peer of bench/mpi_micro.cpp (same modes, same output lines).

Singleton: MPIPoolExecutor(max_workers=W) spawns W workers. Under `mpiexec -n N python3 -m
mpi4py.futures py_mpi_peer.py ...` the pool's workers are the job's other ranks.
"""
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def tiny(x):
    return x + 1


def main():
    args = sys.argv[1:]
    workers = 2
    if len(args) >= 2 and args[0] == "--workers":
        workers = int(args[1])
        args = args[2:]
    with MPIPoolExecutor(max_workers=workers) as ex:
        ex.bootup()
        for i in range(200):
            ex.submit(tiny, i).result()
        if args[0] == "latency":
            n = int(args[1]) if len(args) > 1 else 10000
            t0 = time.perf_counter()
            for i in range(n):
                assert ex.submit(tiny, i).result() == i + 1
            print("latency_us %.2f" % ((time.perf_counter() - t0) / n * 1e6))
        elif args[0] == "map":
            n = int(args[1]) if len(args) > 1 else 100000
            chunk = int(args[2]) if len(args) > 2 else 1000
            t0 = time.perf_counter()
            total = sum(ex.map(tiny, range(n), chunksize=chunk))
            dt = time.perf_counter() - t0
            assert total == n * (n + 1) // 2
            print("map_tasks_per_s %.0f" % (n / dt))
        else:
            sys.exit("unknown mode " + args[0])


if __name__ == "__main__":
    main()
