#!/usr/bin/env bash
# Issue #2's core benchmarks and issue #3's sync-layer ones beside the peers, measured in one
# session, interleaved: aiocpp (bench/aio_micro), Tokio current_thread and Asio co_spawn
# (../shared/peers), and Python asyncio / uvloop (../shared/peers/py/micro.py, and
# bench/py_sync_peer.py for what micro.py lacks). Single-threaded ones pinned to CPU 0.
# Prints medians of ROUNDS runs and the ratios.
# Usage: bench/compare_core.sh [ROUNDS] [all|core|sync]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
WHAT=${2:-all}
PEERS=$(cd ../shared/peers && pwd)
export PEERS_BUILD=${PEERS_BUILD:-/tmp/peers-build}
PB=$PEERS_BUILD/bin
if [ "$WHAT" != sync ] && { [ ! -x "$PB/spawn_tokio" ] || [ ! -x "$PB/spawn_asio" ]; }; then
  echo "building the peers (../shared/peers/run.sh --build-only)..." >&2
  "$PEERS/run.sh" --build-only >&2
fi
# AIO_MICRO=path/to/aio_micro uses that build instead of building the release preset's.
if [ -z "${AIO_MICRO:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_micro >&2
fi
A=${AIO_MICRO:-build/release/bench/aio_micro}
PY=/usr/bin/python3
PYSYNC=bench/py_sync_peer.py
pin() { taskset -c 0 "$@"; }
secs() { "$@" | tail -1 | tr ' ' '\n' | sed -n 's/^seconds=//p'; }

declare -A R
run() {  # NAME COMMAND...
  local name=$1; shift
  local s; s=$(secs "$@") || { echo "FAILED: $*" >&2; s=nan; }
  R[$name]="${R[$name]:-} $s"
}
core_round() {
  run aio_spawn_trivial pin $A spawn_trivial 1000000
  run tokio_spawn_trivial pin $PB/spawn_tokio 1000000 trivial
  run asio_spawn_trivial pin $PB/spawn_asio 1000000 trivial
  run aio_spawn_yield pin $A spawn_yield 1000000
  run tokio_spawn_yield pin $PB/spawn_tokio 1000000 yield
  run asio_spawn_yield pin $PB/spawn_asio 1000000 yield
  run aio_tasks pin $A tasks 100000
  run py_tasks_asyncio pin $PY $PEERS/py/micro.py tasks --loop asyncio --n 100000
  run py_tasks_uvloop pin $PY $PEERS/py/micro.py tasks --loop uvloop --n 100000
  run aio_create_await pin $A create_await 1000000
  run aio_switch pin $A switch 10000000
  run aio_timers pin $A timers 1000000
  run aio_threadsafe $A threadsafe 1000000
}
# Python runs the slow hand-off workloads on fewer items; the tables compare time per item.
sync_round() {
  run aio_queue pin $A queue 1000000
  run py_queue_asyncio pin $PY $PEERS/py/micro.py queue --loop asyncio --n 1000000
  run py_queue_uvloop pin $PY $PEERS/py/micro.py queue --loop uvloop --n 1000000
  run aio_queue_handoff pin $A queue_handoff 1000000
  run py_queue_handoff_asyncio pin $PY $PYSYNC queue_handoff --loop asyncio --n 100000
  run py_queue_handoff_uvloop pin $PY $PYSYNC queue_handoff --loop uvloop --n 100000
  run aio_lock_uncontended pin $A lock_uncontended 10000000
  run py_lock_uncontended_asyncio pin $PY $PYSYNC lock_uncontended --loop asyncio --n 1000000
  run aio_lock_contended pin $A lock_contended 1000000
  run py_lock_contended_asyncio pin $PY $PYSYNC lock_contended --loop asyncio --n 100000
  run py_lock_contended_uvloop pin $PY $PYSYNC lock_contended --loop uvloop --n 100000
  run aio_semaphore pin $A semaphore 100000
  run py_semaphore_asyncio pin $PY $PYSYNC semaphore --loop asyncio --n 100000
  run py_semaphore_uvloop pin $PY $PYSYNC semaphore --loop uvloop --n 100000
}
for ((i = 1; i <= ROUNDS; i++)); do
  echo "round $i/$ROUNDS" >&2
  [ "$WHAT" = sync ] || core_round
  [ "$WHAT" = core ] || sync_round
done
[ "$WHAT" = sync ] || mem=$(pin $A sleepers 1000000 | sed -n 's/.*result=//p')

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m() { echo "${R[$1]}" | median; }
per() { awk -v s="$1" -v n="$2" 'BEGIN {printf "%.1f", s * 1e9 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", b / a}'; }

echo "## aiocpp core vs peers — medians of $ROUNDS interleaved runs, $(date -u +%F\ %H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| workload | aiocpp | peer | peer's time / ours |"
echo "|---|---|---|---|"
# ratio of times per item: a ns/item against b ns/item
pratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0fx", b / a}'; }
if [ "$WHAT" != core ]; then
  a=$(per $(m aio_queue) 1000000)
  echo "| Queue(): 1M ints, one producer task, one consumer task | $a ns/item | asyncio $(per $(m py_queue_asyncio) 1000000) ns | $(pratio $a $(per $(m py_queue_asyncio) 1000000)) (goal ≥ 100x) |"
  echo "| Queue(): 1M ints, one producer task, one consumer task | $a ns/item | uvloop $(per $(m py_queue_uvloop) 1000000) ns | $(pratio $a $(per $(m py_queue_uvloop) 1000000)) |"
  a=$(per $(m aio_queue_handoff) 1000000)
  echo "| Queue(1): every item a hand-off between the two tasks | $a ns/item | asyncio $(per $(m py_queue_handoff_asyncio) 100000) ns | $(pratio $a $(per $(m py_queue_handoff_asyncio) 100000)) |"
  echo "| Queue(1): every item a hand-off between the two tasks | $a ns/item | uvloop $(per $(m py_queue_handoff_uvloop) 100000) ns | $(pratio $a $(per $(m py_queue_handoff_uvloop) 100000)) |"
  a=$(per $(m aio_lock_uncontended) 10000000)
  echo "| Lock: uncontended acquire + release | $a ns | asyncio $(per $(m py_lock_uncontended_asyncio) 1000000) ns | $(pratio $a $(per $(m py_lock_uncontended_asyncio) 1000000)) (goal ≤ 10 ns) |"
  a=$(per $(m aio_lock_contended) 1000000)
  echo "| Lock: 1,000 tasks contending, per hand-off | $a ns | asyncio $(per $(m py_lock_contended_asyncio) 100000) ns | $(pratio $a $(per $(m py_lock_contended_asyncio) 100000)) (goal ≤ 50 ns) |"
  echo "| Lock: 1,000 tasks contending, per hand-off | $a ns | uvloop $(per $(m py_lock_contended_uvloop) 100000) ns | $(pratio $a $(per $(m py_lock_contended_uvloop) 100000)) |"
  a=$(m aio_semaphore)
  echo "| 100k tasks bounded by Semaphore(100), each sleep(0) | $a s | asyncio $(m py_semaphore_asyncio) s | $(pratio $a $(m py_semaphore_asyncio)) |"
  echo "| 100k tasks bounded by Semaphore(100), each sleep(0) | $a s | uvloop $(m py_semaphore_uvloop) s | $(pratio $a $(m py_semaphore_uvloop)) |"
fi
[ "$WHAT" = sync ] && exit 0
for mode in trivial yield; do
  a=$(m aio_spawn_$mode); t=$(m tokio_spawn_$mode); s=$(m asio_spawn_$mode)
  echo "| spawn 1M tasks ($mode), await each | $(per $a 1000000) ns/task | Tokio current_thread $(per $t 1000000) ns | $(ratio $a $t) |"
  echo "| spawn 1M tasks ($mode) | $(per $a 1000000) ns/task | Asio co_spawn $(per $s 1000000) ns | $(ratio $a $s) |"
done
a=$(m aio_tasks); pa=$(m py_tasks_asyncio); pu=$(m py_tasks_uvloop)
echo "| 100k tasks awaiting sleep(0), gathered | $(per $a 100000) ns/task | uvloop $(per $pu 100000) ns | $(ratio $a $pu) |"
echo "| 100k tasks awaiting sleep(0), gathered | $(per $a 100000) ns/task | asyncio $(per $pa 100000) ns | $(ratio $a $pa) |"
echo "| create_task + await, 1M one at a time | $(per $(m aio_create_await) 1000000) ns/task | goal ≤ 50 ns | |"
echo "| sleep(0) switch between two tasks | $(per $(m aio_switch) 10000000) ns/switch | goal ≤ 25 ns | |"
echo "| 1M timers scheduled and fired | $(m aio_timers) s | goal ≤ 0.5 s | |"
echo "| call_soon_threadsafe from another thread | $(awk -v s=$(m aio_threadsafe) 'BEGIN {printf "%.1f", 1e6 / s / 1e6}') M calls/s | goal ≥ 5 M/s | |"
echo "| 1M tasks asleep at once | $(printf %.0f "$mem") resident bytes/task | goal ≤ 256 B | |"
