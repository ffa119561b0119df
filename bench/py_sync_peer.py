"""asyncio / uvloop twins of aio_micro's sync-layer workloads that ../shared/peers/py/micro.py
lacks (its `queue` covers aio_micro queue). Same output line as micro.py, so
bench/compare_core.sh reads both alike. Run with /usr/bin/python3.

usage: python3 py_sync_peer.py BENCH [--loop asyncio|uvloop] [--n N]
  lock_uncontended  N `await lock.acquire(); lock.release()` in one task   (N=1000000)
  lock_contended    1,000 tasks taking one Lock N/1000 times each, all queued (N=1000000)
  semaphore         N tasks, `async with Semaphore(100): await asyncio.sleep(0)`, gathered (N=100000)
  queue_handoff     micro.py queue through Queue(1)                          (N=1000000)
"""
import argparse
import asyncio
import time

DEFAULT_N = {"lock_uncontended": 1_000_000, "lock_contended": 1_000_000, "semaphore": 100_000,
             "queue_handoff": 1_000_000}


async def lock_uncontended(n):
    lock = asyncio.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    return time.perf_counter() - t0


async def lock_contended(n):
    tasks, rounds = 1000, n // 1000
    lock = asyncio.Lock()
    count = 0
    await lock.acquire()

    async def worker():
        nonlocal count
        for _ in range(rounds):
            await lock.acquire()
            count += 1
            lock.release()

    t0 = time.perf_counter()
    all_ = asyncio.gather(*(worker() for _ in range(tasks)))
    while len(lock._waiters or ()) < tasks:
        await asyncio.sleep(0)
    lock.release()
    await all_
    assert count == tasks * rounds
    return time.perf_counter() - t0


async def semaphore(n):
    sem = asyncio.Semaphore(100)

    async def worker():
        async with sem:
            await asyncio.sleep(0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(n)))
    return time.perf_counter() - t0


async def queue_handoff(n):
    q = asyncio.Queue(1)

    async def producer():
        for i in range(n):
            await q.put(i)

    async def consumer():
        s = 0
        for _ in range(n):
            s += await q.get()
        return s

    t0 = time.perf_counter()
    _, s = await asyncio.gather(producer(), consumer())
    dt = time.perf_counter() - t0
    assert s == n * (n - 1) // 2
    return dt


BENCH = {"lock_uncontended": lock_uncontended, "lock_contended": lock_contended, "semaphore": semaphore,
         "queue_handoff": queue_handoff}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", choices=sorted(BENCH))
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--n", type=int)
    a = ap.parse_args()
    n = a.n or DEFAULT_N[a.bench]
    if a.loop == "uvloop":
        import uvloop
        uvloop.install()
    dt = asyncio.run(BENCH[a.bench](n))
    print(f"bench={a.bench} loop={a.loop} n={n} seconds={dt:.6f}", flush=True)


if __name__ == "__main__":
    main()
