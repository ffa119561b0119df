#!/usr/bin/python3
"""The race's four ways, written the way the course writes them in Python.

`aiocpp race --python` runs this file (embedded in the command) with Debian's /usr/bin/python3,
once per way, against the same site and with the same checks as aiocpp's ways, so that one table
shows both. It can also be run by hand against `aiocpp serve`:

    /usr/bin/python3 apps/python/race_ways.py io coroutines http://127.0.0.1:8080 160 5 64 30

Arguments: MODE WAY BASE PAGES WORKERS CONCURRENCY TIMEOUT_S
    MODE         io: download /pages/1..PAGES of BASE and check each page's <title>
                 cpu: the CPU-bound twin (see cpu_job below); BASE is unused
    WAY          sequential | threads | coroutines | processes
Output, on stdout: "progress N" after every N items finished, then one line
"result {json}" with ok, failed, wall_s (the job alone, imports and start-up excluded),
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


# --- cpu: the CPU-bound twin --------------------------------------------------------------------

def cpu_job(item):
    """Placeholder for the CPU twin; filled in with aiocpp's own job (race --cpu)."""
    raise NotImplementedError("the cpu mode is not written yet")


IO_WAYS = {
    "sequential": io_sequential,
    "threads": io_threads,
    "coroutines": io_coroutines,
    "processes": io_processes,
}


def main(argv):
    if len(argv) != 8:
        sys.stderr.write(__doc__)
        return 2
    mode, way, base, pages, workers, concurrency, timeout = argv[1:]
    ways = {"io": IO_WAYS}.get(mode)
    if ways is None or way not in ways:
        sys.stderr.write(f"race_ways.py: unknown mode or way: {mode} {way}\n")
        return 2
    t0 = time.perf_counter()
    ok, failed, nworkers, workers_rss = ways[way](base, int(pages), int(workers), int(concurrency), float(timeout))
    wall = time.perf_counter() - t0
    print("result " + json.dumps({"ok": ok, "failed": failed, "wall_s": wall, "workers": nworkers,
                                  "workers_rss_kib": workers_rss,
                                  "self_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
