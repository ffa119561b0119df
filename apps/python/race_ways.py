#!/usr/bin/python3
"""The race's four ways, written the way the course writes them in Python.

`aiocpp race --python` runs this file (embedded in the command) with Debian's /usr/bin/python3,
once per way, against the same site and with the same checks as aiocpp's ways, so that one table
shows both. It can also be run by hand against `aiocpp serve`:

    /usr/bin/python3 apps/python/race_ways.py io coroutines http://127.0.0.1:8080 160 5 64 30

Arguments: MODE WAY BASE ITEMS WORKERS CONCURRENCY TIMEOUT_S
    MODE   io: download /pages/1..ITEMS of BASE and check each page's <title>, CONCURRENCY
           requests at once for the coroutines way
           cpu: count the primes below CONCURRENCY (aiocpp's --cpu-size) in ITEMS chunks (its
           --chunks), as aiocpp race --cpu does; BASE and TIMEOUT_S are unused
    WAY    sequential | threads | coroutines | processes
Output, on stdout: "progress N" after every N items finished, then one line
"result {json}" with ok, failed (cpu: primes too), wall_s (the job alone, imports and start-up excluded),
workers (worker processes that took part), workers_rss_kib (the sum of their peak RSS) and
self_rss_kib (this interpreter's own peak).
"""
import concurrent.futures
import http.client
import json
import multiprocessing
import resource
import sys
import threading
import time
import urllib.parse

_print_lock = threading.Lock()


def progress(n):
    with _print_lock:
        sys.stdout.write(f"progress {n}\n")
        sys.stdout.flush()


# --- io: the course's downloads (E26, E6) ----------------------------------------------------------

def targets(base, pages):
    return [(f"{base}/pages/{i}", f"<title>Page {i}</title>") for i in range(1, pages + 1)]


class Fetcher:
    """One http.client connection, kept alive and reopened when the server closes it."""

    def __init__(self, base, timeout):
        u = urllib.parse.urlsplit(base)
        self.host, self.port, self.timeout = u.hostname, u.port or 80, timeout
        self.conn = None

    def fetch(self, url, title):
        path = urllib.parse.urlsplit(url).path
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read().decode("utf-8", "replace")
                return r.status == 200 and title in body
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed: one fresh try, as a browser would.
                self.close()
                if attempt == 2:
                    return False
            except Exception:
                self.close()
                return False
        return False

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def io_sequential(base, pages, workers, concurrency, timeout):
    f = Fetcher(base, timeout)
    ok = 0
    for url, title in targets(base, pages):
        ok += f.fetch(url, title)
        progress(1)
    f.close()
    return ok, pages - ok, 0, 0


def io_threads(base, pages, workers, concurrency, timeout):
    # E26's shape: ThreadPoolExecutor(5), and a connection of each thread's own (threading.local).
    local = threading.local()

    def fetch(target):
        if not hasattr(local, "fetcher"):
            local.fetcher = Fetcher(base, timeout)
        ok = local.fetcher.fetch(*target)
        progress(1)
        return ok

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        ok = sum(pool.map(fetch, targets(base, pages)))
    return ok, pages - ok, 0, 0


def io_coroutines(base, pages, workers, concurrency, timeout):
    import asyncio
    import aiohttp

    async def fetch(session, sem, url, title):
        async with sem:
            try:
                async with session.get(url) as r:
                    body = await r.text()
                    ok = r.status == 200 and title in body
            except Exception:
                ok = False
        progress(1)
        return ok

    async def main():
        sem = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
            return await asyncio.gather(*(fetch(session, sem, u, t) for u, t in targets(base, pages)))

    ok = sum(asyncio.run(main()))
    return ok, pages - ok, 0, 0


def fetch_chunk(args):
    base, chunk, timeout = args
    f = Fetcher(base, timeout)
    ok = sum(f.fetch(url, title) for url, title in chunk)
    f.close()
    return ok, len(chunk) - ok, multiprocessing.current_process().pid, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_pool(workers, func, chunks, count):
    """multiprocessing.Pool(workers) over the chunks; returns ok, failed and the workers' memory."""
    ok = failed = 0
    peak_by_pid = {}
    # fork, as Python 3.11 does on Linux by default: the workers need this file's functions,
    # and the embedded script has no file a spawned interpreter could import.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for o, f, pid, rss in pool.imap_unordered(func, chunks):
            ok += o
            failed += f
            peak_by_pid[pid] = max(peak_by_pid.get(pid, 0), rss)
            progress(count(o, f))
        pool.close()
        pool.join()  # reaped here, so that the parent's wait4() counts the workers' CPU
    return ok, failed, len(peak_by_pid), sum(peak_by_pid.values())


def chunked(items, workers):
    # A quarter of a worker's share a chunk, as aiocpp's processes way does.
    size = max(1, -(-len(items) // (4 * workers)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def io_processes(base, pages, workers, concurrency, timeout):
    chunks = [(base, c, timeout) for c in chunked(targets(base, pages), workers)]
    return run_pool(workers, fetch_chunk, chunks, lambda o, f: o + f)


# --- cpu: the CPU-bound twin (E12, E21, E22) ------------------------------------------------------

def count_primes(lo, hi):
    """The primes in [lo, hi) by trial division: aiocpp's count_primes, line for line."""
    count = 0
    for n in range(max(lo, 2), hi):
        prime = n == 2 or n % 2 != 0
        d = 3
        while prime and d * d <= n:
            prime = n % d != 0
            d += 2
        count += prime
    return count


def cpu_ranges(size, chunks):
    """2..size-1 in `chunks` ranges of (almost) equal length, as aiocpp cuts them."""
    n = size - 2
    return [(2 + n * i // chunks, 2 + n * (i + 1) // chunks) for i in range(chunks)]


def cpu_sequential(size, chunks, workers):
    total = 0
    for lo, hi in cpu_ranges(size, chunks):
        total += count_primes(lo, hi)
        progress(1)
    return total, 0, 0


def cpu_threads(size, chunks, workers):
    # The GIL lets one thread run Python bytecode at a time: the threads take turns on one core.
    def count(r):
        primes = count_primes(*r)
        progress(1)
        return primes

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(count, cpu_ranges(size, chunks))), 0, 0


def cpu_coroutines(size, chunks, workers):
    import asyncio

    async def count(lo, hi):
        await asyncio.sleep(0)  # take turns, as aiocpp's tasks do; none can give up the CPU mid-count
        primes = count_primes(lo, hi)
        progress(1)
        return primes

    async def main():
        return sum(await asyncio.gather(*(count(lo, hi) for lo, hi in cpu_ranges(size, chunks))))

    return asyncio.run(main()), 0, 0


def count_chunk(r):
    return count_primes(*r), 0, multiprocessing.current_process().pid, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_processes(size, chunks, workers):
    ranges = cpu_ranges(size, chunks)
    total, _, nworkers, rss = run_pool(workers, count_chunk, ranges, lambda o, f: 1)
    return total, nworkers, rss


IO_WAYS = {
    "sequential": io_sequential,
    "threads": io_threads,
    "coroutines": io_coroutines,
    "processes": io_processes,
}


CPU_WAYS = {
    "sequential": cpu_sequential,
    "threads": cpu_threads,
    "coroutines": cpu_coroutines,
    "processes": cpu_processes,
}


def main(argv):
    if len(argv) != 8:
        sys.stderr.write(__doc__)
        return 2
    mode, way, base, items, workers, concurrency, timeout = argv[1:]
    ways = {"io": IO_WAYS, "cpu": CPU_WAYS}.get(mode)
    if ways is None or way not in ways:
        sys.stderr.write(f"race_ways.py: unknown mode or way: {mode} {way}\n")
        return 2
    items, workers = int(items), int(workers)
    result = {}
    if way == "coroutines":
        # Imported before the clock starts, as the docstring promises: a way's time is its job.
        import asyncio  # noqa: F401
        if mode == "io":
            import aiohttp  # noqa: F401
    t0 = time.perf_counter()
    if mode == "io":
        ok, failed, nworkers, workers_rss = ways[way](base, items, workers, int(concurrency), float(timeout))
    else:
        # items is the chunks and concurrency the numbers' bound (cpu_size).
        result["primes"], nworkers, workers_rss = ways[way](int(concurrency), items, workers)
        ok, failed = items, 0
    wall = time.perf_counter() - t0
    result.update({"ok": ok, "failed": failed, "wall_s": wall, "workers": nworkers, "workers_rss_kib": workers_rss,
                   "self_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
