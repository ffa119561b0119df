#!/usr/bin/env bash
# Issue #5's benchmarks beside the peers, measured in one session, interleaved: aiocpp's
# ThreadPoolExecutor, Boost.Asio's thread_pool and a textbook mutex + deque pool
# (bench/threads_micro.cpp), and Python's ThreadPoolExecutor and run_in_executor
# (../shared/peers/py/micro.py). Prints medians of ROUNDS runs and the ratios.
# Not pinned: every workload here uses several threads.
# Usage: bench/compare_threads.sh [ROUNDS]
#   AIO_THREADS_MICRO=path/to/aio_threads_micro  use that build instead of building the release preset's
#   JOBS=N (default 100000)                      jobs per pool / executor run
#   SQRT_N=N (default 50000000)                  E12's sum of sqrt(i), i = 1..N
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
JOBS=${JOBS:-100000}
SQRT_N=${SQRT_N:-50000000}
PEERS=$(cd ../shared/peers && pwd)
# The Boost.Asio peer is header-only and compiled into threads_micro when its header is there:
# install it first (Debian's libboost-dev), as ../shared/peers/run.sh does for its own peers.
if [ ! -e /usr/include/boost/asio/thread_pool.hpp ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing libboost-dev for the Boost.Asio peer" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libboost-dev >&2 ||
    { $SUDO apt-get update -qq >&2 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libboost-dev >&2; } ||
    echo "libboost-dev could not be installed: the Boost.Asio row is left out" >&2
fi
if [ -z "${AIO_THREADS_MICRO:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_threads_micro >&2
fi
A=${AIO_THREADS_MICRO:-build/release/bench/aio_threads_micro}
PY=/usr/bin/python3
MICRO=$PEERS/py/micro.py
CORES=$(nproc)
secs() { "$@" | tail -1 | tr ' ' '\n' | sed -n 's/^seconds=//p'; }

# Optional peers: threads_micro is built without Asio when Boost is missing, and uvloop may
# not be installed. Their rows are left out rather than filled with failures.
have_asio=1; "$A" asio_pool 1 >/dev/null 2>&1 || have_asio=0
have_uvloop=1; "$PY" -c 'import uvloop' 2>/dev/null || have_uvloop=0

declare -A R
run() {  # NAME COMMAND...
  local name=$1; shift
  local s; s=$(secs "$@") || { echo "FAILED: $*" >&2; s=nan; }
  [ -n "$s" ] || { echo "no seconds= in the output of: $*" >&2; s=nan; }
  R[$name]="${R[$name]:-} $s"
}
for ((i = 1; i <= ROUNDS; i++)); do
  echo "round $i/$ROUNDS" >&2
  run aio_threadpool "$A" threadpool "$JOBS"
  [ $have_asio = 0 ] || run asio_pool "$A" asio_pool "$JOBS"
  run naive_pool "$A" naive_pool "$JOBS"
  run py_threadpool "$PY" "$MICRO" threadpool --n "$JOBS"
  run aio_executor "$A" executor "$JOBS"
  run py_executor_asyncio "$PY" "$MICRO" executor --loop asyncio --n "$JOBS"
  [ $have_uvloop = 0 ] || run py_executor_uvloop "$PY" "$MICRO" executor --loop uvloop --n "$JOBS"
  run sqrt_seq "$A" sqrt_seq "$SQRT_N"
  run sqrt_threads "$A" sqrt_threads "$SQRT_N"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m() { echo "${R[$1]}" | median; }
per() { awk -v s="$1" -v n="$2" 'BEGIN {printf "%.0f", s * 1e9 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", b / a}'; }

echo "## aiocpp threads vs peers — medians of $ROUNDS interleaved runs, $(date -u +%F\ %H:%M) UTC, $CORES cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| workload | aiocpp | peer | peer's time / ours |"
echo "|---|---|---|---|"
n=$(printf "%'d" "$JOBS" 2>/dev/null || echo "$JOBS")
a=$(m aio_threadpool)
echo "| submit + result, $n no-op jobs, pool of 2 | $(per $a $JOBS) ns/job | Python ThreadPoolExecutor $(per $(m py_threadpool) $JOBS) ns | $(ratio $a $(m py_threadpool)) (goal ≥ 50x, ≤ 260 ns/job) |"
[ $have_asio = 0 ] || echo "| submit + result, $n no-op jobs, pool of 2 | $(per $a $JOBS) ns/job | Asio thread_pool + post(packaged_task) $(per $(m asio_pool) $JOBS) ns | $(ratio $a $(m asio_pool)) (goal > 1x) |"
echo "| submit + result, $n no-op jobs, pool of 2 | $(per $a $JOBS) ns/job | mutex + deque pool, packaged_task $(per $(m naive_pool) $JOBS) ns | $(ratio $a $(m naive_pool)) |"
a=$(m aio_executor)
echo "| run_in_executor from a coroutine, $n jobs, gathered | $(per $a $JOBS) ns/job | asyncio $(per $(m py_executor_asyncio) $JOBS) ns | $(ratio $a $(m py_executor_asyncio)) (goal ≤ 3000 ns/job) |"
[ $have_uvloop = 0 ] || echo "| run_in_executor from a coroutine, $n jobs, gathered | $(per $a $JOBS) ns/job | uvloop $(per $(m py_executor_uvloop) $JOBS) ns | $(ratio $a $(m py_executor_uvloop)) |"
s=$(m sqrt_seq); t=$(m sqrt_threads)
echo "| E12 sum of sqrt, 1..$SQRT_N: one thread vs $CORES threads (pool start included) | $t s on $CORES threads, $s s on one | speed-up $(awk -v s=$s -v t=$t 'BEGIN {printf "%.2fx", s / t}') | goal ≥ $(awk -v c=$CORES 'BEGIN {printf "%.2fx", 0.9 * c}') (0.9 × cores) |"
