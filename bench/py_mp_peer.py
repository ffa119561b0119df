"""Python peers of bench/mp_micro.cpp that ../shared/peers/py/micro.py does not have.

usage: /usr/bin/python3 bench/py_mp_peer.py map|roundtrip|balance|mid [--n N]

Prints one line in micro.py's format, seconds= last:
    bench=NAME loop=- n=N ... seconds=S
  map        multiprocessing.Pool(2), started and warmed by one call: pool.map(square, range(N))
             with the default chunksize (N=10000); times the map only
  roundtrip  multiprocessing.Pool(2), warmed: N times apply_async(noop).get(), one at a time
             (N=2000); prints the median and p99 round trip in ns and the total seconds
  balance    multiprocessing.Pool(2), after 1,000 no-ops: one task busy for 200 ms, then 63 busy
             for 5 ms, all submitted at once (N ignored); the ideal is 257.5 ms
  mid        multiprocessing.Pool(2), warmed: N tasks busy for 1 ms each, all submitted at once
             (N=1000); the ideal is N/2 ms
"""
import argparse
import multiprocessing
import time

DEFAULT_N = {"map": 10_000, "roundtrip": 2_000, "balance": 1, "mid": 1_000}


def noop():
    return None


def square(x):
    return x * x


def spin_for(us):
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def bench_map(n):
    with multiprocessing.Pool(2) as pool:
        pool.apply(noop)
        t0 = time.perf_counter()
        r = pool.map(square, range(n))
        dt = time.perf_counter() - t0
    assert len(r) == n
    return dt, f"ns_per_item={dt * 1e9 / n:.1f} result={sum(r)}"


def bench_roundtrip(n):
    with multiprocessing.Pool(2) as pool:
        pool.apply(noop)
        ns = []
        clock = time.perf_counter_ns
        t0 = time.perf_counter()
        for _ in range(n):
            a = clock()
            pool.apply_async(noop).get()
            ns.append(clock() - a)
        dt = time.perf_counter() - t0
    ns.sort()
    at = lambda q: ns[min(len(ns) - 1, int(q * len(ns)))]  # noqa: E731 - same rule as mp_micro.cpp
    return dt, f"median_ns={at(0.5)} p99_ns={at(0.99)} min_ns={ns[0]} max_ns={ns[-1]}"


def bench_balance(_n):
    with multiprocessing.Pool(2) as pool:
        for r in [pool.apply_async(noop) for _ in range(1000)]:
            r.get()
        t0 = time.perf_counter()
        rs = [pool.apply_async(spin_for, (200_000,))]
        rs += [pool.apply_async(spin_for, (5_000,)) for _ in range(63)]
        for r in rs:
            r.get()
        dt = time.perf_counter() - t0
    return dt, f"ideal_seconds=0.2575 ratio_to_ideal={dt / 0.2575:.3f}"


def bench_mid(n):
    with multiprocessing.Pool(2) as pool:
        pool.apply(noop)
        t0 = time.perf_counter()
        for r in [pool.apply_async(spin_for, (1_000,)) for _ in range(n)]:
            r.get()
        dt = time.perf_counter() - t0
    ideal = n * 1e-3 / 2
    return dt, f"ideal_seconds={ideal:.4f} ratio_to_ideal={dt / ideal:.3f}"


BENCH = {"map": bench_map, "roundtrip": bench_roundtrip, "balance": bench_balance, "mid": bench_mid}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", choices=sorted(BENCH))
    ap.add_argument("--n", type=int)
    a = ap.parse_args()
    n = a.n or DEFAULT_N[a.bench]
    dt, extra = BENCH[a.bench](n)
    print(f"bench=py_{a.bench} loop=- n={n} {extra} seconds={dt:.6f}", flush=True)


if __name__ == "__main__":
    main()
