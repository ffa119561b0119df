"""Issue #20's figures: aiocpp's WebSocket echo (bench/ws_server.cpp) beside python3-websockets and
aiohttp.web's (bench/py_ws_peers.py, both on uvloop), all driven by the same client
(bench/ws_load.cpp), server pinned to CPU 0 and client to CPU 1 as in ../shared/peers.

  /usr/bin/python3 bench/compare_ws.py timed [--runs 3] [--seconds 3]
      messages/s of 64-byte and 64-KiB echoes over 1 and over 100 connections; runs interleaved,
      medians, and aiocpp's ratio to each peer
  /usr/bin/python3 bench/compare_ws.py cost [--requests 20000]
      user-space instructions (callgrind) and system calls (strace -f -c) per 64-byte echo, as
      the peers lab counts them: (loaded run - baseline run) / echoes, 16 connections; the HTTP
      hello world's (bench/http_server.cpp with the lab's http-load) beside it
  /usr/bin/python3 bench/compare_ws.py memory [--idle 200,2200]
      server RSS per idle WebSocket, with and without permessage-deflate agreed
  AIO_BENCH_DIR=build/release/bench picks the binaries (default: built with the release preset).
"""
import argparse
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(os.path.dirname(ROOT), "shared", "peers")
PY = "/usr/bin/python3"
SERVER_CPU, CLIENT_CPU = "0", "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def servers(bench):
    peers = os.path.join(ROOT, "bench", "py_ws_peers.py")
    return {
        "aiocpp": [os.path.join(bench, "aio_ws_server"), "{port}"],
        "websockets": [PY, peers, "websockets", "{port}"],
        "aiohttp": [PY, peers, "aiohttp", "{port}"],
    }


class Server:
    def __init__(self, cmd, wrap=(), timeout=60.0, stderr=None):
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in cmd]
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + list(wrap) + argv,
                                     stdout=subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
                                     start_new_session=True, env=dict(os.environ, PYTHONHASHSEED="0"))
        if not wait_port(self.port, self.proc, timeout):
            self.stop()
            raise RuntimeError(f"{argv} did not start listening")

    def server_pid(self):
        """The process serving: under taskset it is proc itself (taskset execs)."""
        return self.proc.pid

    def stop(self, signal_all=True):
        for pid in group_pids(self.proc.pid):
            if signal_all or pid != self.proc.pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            if int(st[st.rindex(")") + 2:].split()[2]) == pgid:
                out.append(int(d))
    return out


def load(bench, port, *args, timeout=600):
    cmd = ["taskset", "-c", CLIENT_CPU, os.path.join(bench, "ws_load"), "127.0.0.1", str(port)] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {(p.stdout + p.stderr).strip()[-400:]}")
    return p.stdout.strip()


CASES = [(64, 1), (64, 100), (65536, 1), (65536, 100)]


def group_ticks(pgid):
    """User + system CPU ticks of a process group (the server and anything it started)."""
    total = 0
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def timed(args, bench):
    rows, cpu = {}, {}
    for run in range(1, args.runs + 1):
        for name, cmd in servers(bench).items():
            s = Server(cmd)
            try:
                for size, conns in CASES:
                    t0 = group_ticks(s.proc.pid)
                    out = load(bench, s.port, "--conns", conns, "--size", size, "--seconds", args.seconds,
                               "--warmup", 0.5)
                    ticks = group_ticks(s.proc.pid) - t0
                    words = out.split()
                    mps, echoes = float(words[1]), int(words[3])
                    cpu_us = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / max(echoes, 1)
                    rows.setdefault((size, conns), {}).setdefault(name, []).append(mps)
                    cpu.setdefault((size, conns), {}).setdefault(name, []).append(cpu_us)
                    print(f"run {run}: {name} {size} B x {conns} conns: {mps:.0f} messages/s, "
                          f"server CPU {cpu_us:.1f} us per message", file=sys.stderr)
            finally:
                s.stop()
    names = list(servers(bench))
    print("| message, connections | " + " | ".join(f"{n} msg/s (server CPU per msg)" for n in names) +
          " | aiocpp / websockets | aiocpp / aiohttp |")
    print("|---" * (len(names) + 3) + "|")
    for (size, conns), per in rows.items():
        med = {n: statistics.median(v) for n, v in per.items()}
        spread = {n: (max(v) - min(v)) / med[n] if med[n] else 0 for n, v in per.items()}
        us = {n: statistics.median(v) for n, v in cpu[(size, conns)].items()}
        cells = [f"{med[n]:,.0f}{'*' if spread[n] > 0.10 else ''} ({us[n]:.1f} us)" for n in names]
        label = f"{'64 B' if size == 64 else '64 KiB'}, {conns}"
        ratio = lambda peer: f"{med['aiocpp'] / med[peer]:.1f}x ({us[peer] / us['aiocpp']:.1f}x less CPU)"
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio('websockets')} | {ratio('aiohttp')} |")
    print(f"\nmedians of {args.runs} interleaved runs of {args.seconds} s (after 0.5 s warm-up); "
          "* = min..max spread over 10% of the median; server CPU = user + system time of the server's "
          "process per message echoed")


def cost_run(bench, cmd, tool, client_args, outdir):
    os.makedirs(outdir)
    if tool == "callgrind":
        wrap = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--vgdb=no",
                f"--callgrind-out-file={outdir}/callgrind.out.%p", f"--log-file={outdir}/valgrind.%p.log"]
    else:
        wrap = ["strace", "-f", "-c", "-U", "name,calls", "-o", f"{outdir}/strace.txt"]
    with open(os.path.join(outdir, "stderr.txt"), "w") as err:
        s = Server(cmd, wrap, timeout=180, stderr=err)
        try:
            client_args(s.port)
        finally:
            s.stop(signal_all=(tool == "callgrind"))
    if tool == "callgrind":
        total = 0
        for f in os.listdir(outdir):
            if f.startswith("callgrind.out."):
                with open(os.path.join(outdir, f)) as fh:
                    for line in fh:
                        if line.startswith("totals:") or line.startswith("summary:"):
                            total += int(line.split()[1])
                            break
        return total, {}
    calls = {}
    with open(os.path.join(outdir, "strace.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                calls[parts[0]] = int(parts[1])
    return calls.get("total", 0), calls


def http_load_binary(workdir):
    out = os.path.join(workdir, "http-load")
    subprocess.run(["gcc", "-O2", "-o", out, os.path.join(LAB, "src", "http_load.c")], check=True)
    return out


def cost(args, bench):
    work = tempfile.mkdtemp(prefix="aiocpp-ws-cost-")
    n = args.requests
    http_load = http_load_binary(work)

    def ws_client(requests):
        return lambda port: load(bench, port, "--conns", 16 if requests > 1 else 1, "--size", 64,
                                 "--requests", requests)

    def http_client(requests):
        def run(port):
            cmd = ["taskset", "-c", CLIENT_CPU, http_load, "127.0.0.1", str(port), "--conns",
                   str(16 if requests > 1 else 1), "--requests", str(requests), "--seconds", "590"]
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        return run

    rows = []
    entries = [(name, cmd, ws_client) for name, cmd in servers(bench).items()]
    entries.append(("aiocpp HTTP hello (GET /)", [os.path.join(bench, "aio_http_server"), "{port}"], http_client))
    for name, cmd, client in entries:
        res = {}
        for tool in ("callgrind", "strace"):
            d = os.path.join(work, name.split()[0] + ("-http" if "HTTP" in name else ""), tool)
            base, _ = cost_run(bench, cmd, tool, client(1), d + "-base")
            loaded, calls = cost_run(bench, cmd, tool, client(n + 1), d + "-load")
            res[tool] = (loaded - base) / n
            if tool == "strace":
                _, bcalls = cost_run(bench, cmd, tool, client(1), d + "-base2")
                top = sorted(((calls.get(k, 0) - bcalls.get(k, 0)) / n, k) for k in calls if k != "total")
                res["top"] = ", ".join(f"{k} {v:.2f}" for v, k in reversed(top[-3:]))
            print(f"{name}: {tool}: {res[tool]:,.2f} per message", file=sys.stderr)
        rows.append((name, res))
    print(f"| server | Ir per 64-byte echo | syscalls per echo | top syscalls |")
    print("|---|---|---|---|")
    for name, res in rows:
        print(f"| {name} | {res['callgrind']:,.0f} | {res['strace']:.2f} | {res['top']} |")
    print(f"\n{n:,} echoes (requests) on 16 connections, one in flight each, minus a baseline run "
          f"(start, one exchange, stop); profiles in {work}")


def memory(args, bench):
    n1, n2 = args.idle.split(",")
    print("| server | bytes per idle WebSocket | with permessage-deflate agreed (one message each way) |")
    print("|---|---|---|")
    for name, cmd in servers(bench).items():
        cells = []
        for deflate in (False, True):
            s = Server(cmd)
            try:
                extra = ["--deflate"] if deflate else []
                out = load(bench, s.port, "--idle", f"{n1},{n2}", "--server-pid", s.server_pid(), *extra)
                print(f"{name} deflate={deflate}: {out}", file=sys.stderr)
                cells.append(f"{float(out.split(':')[-1].split()[0]):,.0f}")
            finally:
                s.stop()
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    print(f"\nserver RSS with {n2} open sockets minus with {n1}, divided by {int(n2) - int(n1)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["timed", "cost", "memory"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--idle", default="200,2200")
    args = ap.parse_args()
    bench = os.environ.get("AIO_BENCH_DIR")
    if not bench:
        subprocess.run(["cmake", "--preset", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", "--preset", "release", "--target", "aio_ws_server", "ws_load",
                        "aio_http_server"], cwd=ROOT, check=True, stdout=sys.stderr)
        bench = os.path.join(ROOT, "build", "release", "bench")
    {"timed": timed, "cost": cost, "memory": memory}[args.mode](args, os.path.abspath(bench))


if __name__ == "__main__":
    main()
