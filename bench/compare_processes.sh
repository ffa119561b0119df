#!/usr/bin/env bash
# Issue #6's benchmarks beside Python's, measured in one session, interleaved: aiocpp's
# aio::mp::Pool (bench/mp_micro.cpp) and Python's multiprocessing.Pool
# (../shared/peers/py/micro.py, and bench/py_mp_peer.py for the modes micro.py lacks).
# Prints medians of ROUNDS runs, the ratios, and E12's / E21's multi-process speed-ups.
# Not pinned: every pooled workload uses several processes (the one-process rows are not pinned
# either, so that both sides of a speed-up run under the same conditions).
# Usage: bench/compare_processes.sh [ROUNDS]
#   AIO_MP_MICRO=path/to/aio_mp_micro  use that build instead of building the release preset's
#   APPLY_N=N  (default 10000)          mp_apply tasks
#   RT_N=N     (default 2000)           mp_roundtrip round trips
#   MAP_N=N    (default 10000)          mp_map items
#   MID_N=N    (default 1000)           mp_mid tasks of 1 ms
#   SQRT_N=N   (default 50000000)       E12's sum of sqrt(i), i = 1..N
#   PRIMES_N=N (default 2000000)        E21's primes below N
#   WAIT_QUIET=S (default 0: off)       before each round, wait up to S seconds until the box is
#                                       quiet (< 10% of a core busy over 2 s): for a shared machine
#   RETRY_BUSY=P (default 0: off)       run a measurement again (up to 3 more times, after
#                                       WAIT_QUIET) when other work took more than P% of a core
#                                       during it; the table's "other cpu" is of the runs kept
#   SCALED_ROUNDS=R (default 0: off)    then R more rounds of our E12 / E21 speed-ups alone, at
#   BIG_SQRT_N=N (default 800000000)    the work Python's one process needs ~2.3 s / ~5 s for at
#   BIG_PRIMES_N=N (default 17000000)   the course's N (ours is 16-26x faster, so fork's and exit's
#                                       fixed costs weigh 16-26x more in our ratio than in Python's)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
APPLY_N=${APPLY_N:-10000}
RT_N=${RT_N:-2000}
MAP_N=${MAP_N:-10000}
MID_N=${MID_N:-1000}
SQRT_N=${SQRT_N:-50000000}
PRIMES_N=${PRIMES_N:-2000000}
PEERS=$(cd ../shared/peers && pwd)
if [ -z "${AIO_MP_MICRO:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_mp_micro >&2
fi
A=${AIO_MP_MICRO:-build/release/bench/aio_mp_micro}
PY=/usr/bin/python3
MICRO=$PEERS/py/micro.py
PEER=bench/py_mp_peer.py
CORES=$(nproc)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A R  # NAME -> " s1 s2 ..."
declare -A RES  # NAME -> the result= of the last run (checked between the two sides)
declare -A OTHER_T OTHER_W  # NAME -> other work's CPU ticks / wall ns, summed over the runs kept
# Machine-wide busy CPU ticks (user nice system irq softirq steal) and our reaped children's
# (utime + stime of every process this script waited for, grandchildren included).
HZ=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
our_ticks() { awk '{print $16 + $17}' /proc/$$/stat; }
WAIT_QUIET=${WAIT_QUIET:-0}
wait_quiet() {  # until less than 10% of one core was busy over 2 s, or WAIT_QUIET seconds passed
  local end=$((SECONDS + WAIT_QUIET)) b0 b1 hz=$HZ
  while ((SECONDS < end)); do
    b0=$(busy_ticks); sleep 2; b1=$(busy_ticks)
    (((b1 - b0) * 100 < hz * 2 * 10)) && return 0
    echo "  waiting for a quiet machine: $(((b1 - b0) * 100 / (hz * 2)))% of a core busy" >&2
  done
  echo "  still busy after ${WAIT_QUIET}s: measuring anyway" >&2
}
RETRY_BUSY=${RETRY_BUSY:-0}
run() {  # NAME COMMAND...: records seconds= (and median_ns= / p99_ns= when printed)
  local name=$1; shift
  local b0 o0 t0 b1 o1 t1 x out try
  for ((try = 1; ; try++)); do
    b0=$(busy_ticks); o0=$(our_ticks); t0=$(date +%s%N)
    out=$("$@" | tail -1) || { echo "FAILED: $*" >&2; out=""; }
    b1=$(busy_ticks); o1=$(our_ticks); t1=$(date +%s%N)
    x=$(awk -v b=$((b1 - b0)) -v o=$((o1 - o0)) -v w=$((t1 - t0)) -v hz="$HZ" \
      'BEGIN {x = (b - o) / hz / (w / 1e9) * 100; printf "%.0f", (x < 0 ? 0 : x)}')
    # Below 0.3 s the 10 ms ticks make x meaningless: such runs are kept whatever it says.
    ((RETRY_BUSY > 0 && x > RETRY_BUSY && t1 - t0 > 300000000 && try < 4)) || break
    echo "  $name: other work took ${x}% of a core during the run: again" >&2
    ((WAIT_QUIET == 0)) || wait_quiet
  done
  OTHER_T[$name]=$((${OTHER_T[$name]:-0} + (b1 - b0) - (o1 - o0)))
  OTHER_W[$name]=$((${OTHER_W[$name]:-0} + t1 - t0))
  local s; s=$(tr ' ' '\n' <<<"$out" | sed -n 's/^seconds=//p')
  [ -n "$s" ] || { echo "no seconds= in the output of: $*" >&2; s=nan; }
  R[$name]="${R[$name]:-} $s"
  local k v
  for k in median_ns p99_ns; do
    v=$(tr ' ' '\n' <<<"$out" | sed -n "s/^$k=//p")
    [ -z "$v" ] || R[$name.$k]="${R[$name.$k]:-} $v"
  done
  v=$(tr ' ' '\n' <<<"$out" | sed -n 's/^result=//p')
  [ -z "$v" ] || RES[$name]=$v
}
pair_order() { ((${1} % 2)) && echo "$2 $3" || echo "$3 $2"; }  # ROUND A B: A B in odd rounds, B A in even
for ((i = 1; i <= ROUNDS; i++)); do
  ((WAIT_QUIET == 0)) || wait_quiet
  echo "round $i/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  run aio_mp_apply "$A" mp_apply "$APPLY_N"
  run py_mp_apply "$PY" "$MICRO" mp_apply --n "$APPLY_N"
  run aio_mp_roundtrip "$A" mp_roundtrip "$RT_N"
  run py_mp_roundtrip "$PY" "$PEER" roundtrip --n "$RT_N"
  run aio_mp_map "$A" mp_map "$MAP_N"
  run py_mp_map "$PY" "$PEER" map --n "$MAP_N"
  run aio_mp_balance "$A" mp_balance
  run py_mp_balance "$PY" "$PEER" balance
  run aio_mp_mid "$A" mp_mid "$MID_N"
  run py_mp_mid "$PY" "$PEER" mid --n "$MID_N"
  # The run right after a one-process run is ~1% slower (one vCPU sat idle): the pool and the bare
  # forks take that place in turn.
  run aio_sqrt_seq "$A" sqrt_seq "$SQRT_N"
  for w in $(pair_order $i sqrt_mp sqrt_fork); do run aio_$w "$A" $w "$SQRT_N"; done
  run py_sqrt_seq "$PY" "$MICRO" sqrt_sync --n "$SQRT_N"
  run py_sqrt_mp "$PY" "$MICRO" sqrt_mp --n "$SQRT_N"
  run aio_primes_seq "$A" primes_seq "$PRIMES_N"
  for w in $(pair_order $i primes_mp primes_fork); do run aio_$w "$A" $w "$PRIMES_N"; done
  run py_primes_seq "$PY" "$MICRO" primes_sync --n "$PRIMES_N"
  run py_primes_mp "$PY" "$MICRO" primes_mp --n "$PRIMES_N"
done

SCALED_ROUNDS=${SCALED_ROUNDS:-0}
BIG_SQRT_N=${BIG_SQRT_N:-800000000}
BIG_PRIMES_N=${BIG_PRIMES_N:-17000000}
for ((i = 1; i <= SCALED_ROUNDS; i++)); do
  ((WAIT_QUIET == 0)) || wait_quiet
  echo "scaled round $i/$SCALED_ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  for w in sqrt_seq $(pair_order $i sqrt_mp sqrt_fork); do run big_$w "$A" $w "$BIG_SQRT_N"; done
  for w in primes_seq $(pair_order $i primes_mp primes_fork); do run big_$w "$A" $w "$BIG_PRIMES_N"; done
done

# Both sides must have computed the same thing (sqrt: to the 6 printed digits).
RES[py_sqrt_fork]=${RES[py_sqrt_mp]:-?}; RES[py_primes_fork]=${RES[py_primes_mp]:-?}
for w in sqrt_seq sqrt_mp sqrt_fork primes_seq primes_mp primes_fork; do
  a=${RES[aio_$w]:-?}; p=${RES[py_$w]:-?}
  [ "${a%%,*}" = "${p%%,*}" ] || echo "WARNING: $w results differ: aiocpp ${a} vs Python ${p}" >&2
done
if ((SCALED_ROUNDS > 0)); then  # and at the larger N, the pool and the forks what one process did
  for w in sqrt primes; do
    for v in mp fork; do
      [ "${RES[big_${w}_$v]:-?}" = "${RES[big_${w}_seq]:-?}" ] ||
        echo "WARNING: big ${w}_$v result ${RES[big_${w}_$v]:-?} differs from ${w}_seq's ${RES[big_${w}_seq]:-?}" >&2
    done
  done
fi

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
spread() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {printf "%s..%s", a[1], a[NR]}'; }
m() { echo "${R[$1]}" | median; }
us() { awk -v s="$1" -v n="$2" 'BEGIN {printf "%.2f µs", s * 1e6 / n}'; }
ns_us() { awk -v x="$1" 'BEGIN {printf "%.1f µs", x / 1000}'; }
sec() { awk -v s="$1" 'BEGIN {printf "%.3f s", s}'; }
ms() { awk -v s="$1" 'BEGIN {printf "%.2f ms", s * 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", b / a}'; }
other() { awk -v t="${OTHER_T[$1]:-0}" -v w="${OTHER_W[$1]:-0}" -v hz="$HZ" 'BEGIN {x = w > 0 ? t / hz / (w / 1e9) * 100 : 0; printf "%.0f%%", (x < 0 ? 0 : x)}'; }
oth() { echo "$(other $1) / $(other $2)"; }
speedup() { awk -v s="$1" -v t="$2" 'BEGIN {printf "%.3fx", s / t}'; }

echo "## aiocpp processes vs Python multiprocessing — medians of $ROUNDS interleaved runs, $(date -u +%F\ %H:%M) UTC, $CORES cores, load $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
echo
echo "| workload | aiocpp | Python 3.11 | Python's time / ours | other cpu (aiocpp / Python) |"
echo "|---|---|---|---|---|"
a=$(m aio_mp_apply); p=$(m py_mp_apply)
echo "| mp_apply: Pool(2), $APPLY_N × apply_async(noop), then get() each | $(us $a $APPLY_N)/task ($(ms $a)) | $(us $p $APPLY_N)/task ($(ms $p)) | $(ratio $a $p) (goal ≥ 10x, ≤ 3.7 µs/task) | $(oth aio_mp_apply py_mp_apply) |"
a=$(m aio_mp_roundtrip.median_ns); p=$(m py_mp_roundtrip.median_ns)
echo "| mp_roundtrip: one apply_async(noop).get() at a time, median of $RT_N | $(ns_us $a) | $(ns_us $p) | $(ratio $a $p) | $(oth aio_mp_roundtrip py_mp_roundtrip) |"
a=$(m aio_mp_roundtrip.p99_ns); p=$(m py_mp_roundtrip.p99_ns)
echo "| mp_roundtrip: p99 | $(ns_us $a) | $(ns_us $p) | $(ratio $a $p) | |"
a=$(m aio_mp_map); p=$(m py_mp_map)
echo "| mp_map: Pool(2).map(x*x, $MAP_N items), default chunksize | $(ms $a) ($(us $a $MAP_N)/item) | $(ms $p) ($(us $p $MAP_N)/item) | $(ratio $a $p) | $(oth aio_mp_map py_mp_map) |"
a=$(m aio_mp_balance); p=$(m py_mp_balance)
echo "| mp_balance: Pool(2), after 1000 no-ops, 1 × 200 ms + 63 × 5 ms busy tasks at once (ideal 257.5 ms) | $(ms $a) | $(ms $p) | $(ratio $a $p) | $(oth aio_mp_balance py_mp_balance) |"
a=$(m aio_mp_mid); p=$(m py_mp_mid)
echo "| mp_mid: Pool(2), $MID_N tasks busy for 1 ms, at once (ideal $(ms $(awk -v n="$MID_N" 'BEGIN {print n / 2000}'))) | $(ms $a) | $(ms $p) | $(ratio $a $p) | $(oth aio_mp_mid py_mp_mid) |"
as=$(m aio_sqrt_seq); am=$(m aio_sqrt_mp); ps=$(m py_sqrt_seq); pm=$(m py_sqrt_mp)
echo "| E12 sum of sqrt(i), 1..$SQRT_N, one process | $(sec $as) | $(sec $ps) | $(ratio $as $ps) | $(oth aio_sqrt_seq py_sqrt_seq) |"
echo "| E12 the same over Pool($CORES), start-up included | $(sec $am) | $(sec $pm) | $(ratio $am $pm) | $(oth aio_sqrt_mp py_sqrt_mp) |"
bs=$(m aio_primes_seq); bm=$(m aio_primes_mp); qs=$(m py_primes_seq); qm=$(m py_primes_mp)
echo "| E21 primes < $PRIMES_N, trial division, 64 chunks, one process | $(sec $bs) | $(sec $qs) | $(ratio $bs $qs) | $(oth aio_primes_seq py_primes_seq) |"
echo "| E21 the same over Pool(2), start-up included | $(sec $bm) | $(sec $qm) | $(ratio $bm $qm) | $(oth aio_primes_mp py_primes_mp) |"
echo
goal=$(awk -v c="$CORES" 'BEGIN {printf "%.2fx", 0.95 * c}')
af=$(m aio_sqrt_fork); bf=$(m aio_primes_fork)
echo "| speed-up (one process / pool) | aiocpp | Python 3.11 | goal | the machine's ceiling: bare fork() + pipe, no pool |"
echo "|---|---|---|---|---|"
echo "| E12 sqrt_seq / sqrt_mp | $(speedup $as $am) | $(speedup $ps $pm) | ≥ $goal ($CORES cores) | $(speedup $as $af) ($(sec $af)) |"
echo "| E21 primes_seq / primes_mp | $(speedup $bs $bm) | $(speedup $qs $qm) | ≥ $goal ($CORES cores) | $(speedup $bs $bf) ($(sec $bf)) |"
if ((SCALED_ROUNDS > 0)); then
  as=$(m big_sqrt_seq); am=$(m big_sqrt_mp); af=$(m big_sqrt_fork)
  bs=$(m big_primes_seq); bm=$(m big_primes_mp); bf=$(m big_primes_fork)
  echo
  echo "The same speed-ups at a larger N, aiocpp alone (by default the N at which our one process takes about what Python's takes at the course's N), medians of $SCALED_ROUNDS interleaved rounds:"
  echo
  echo "| speed-up (one process / pool) | one process | aiocpp Pool | bare fork() + pipe, no pool | other cpu (one process / pool) |"
  echo "|---|---|---|---|---|"
  echo "| E12, 1..$BIG_SQRT_N | $(sec $as) | $(speedup $as $am) ($(sec $am)) | $(speedup $as $af) ($(sec $af)) | $(oth big_sqrt_seq big_sqrt_mp) |"
  echo "| E21, primes < $BIG_PRIMES_N | $(sec $bs) | $(speedup $bs $bm) ($(sec $bm)) | $(speedup $bs $bf) ($(sec $bf)) | $(oth big_primes_seq big_primes_mp) |"
fi
echo
echo "other cpu: CPU taken by other work on the box while the row's runs ran (machine-wide busy ticks minus this script's children's, over the runs' wall time), in % of one core; 10 ms ticks make it rough on the short rows. Where it is high, above all in the speed-ups, the figures are not to be trusted."
echo
echo "Spreads (min..max seconds): $(for k in aio_mp_apply py_mp_apply aio_mp_map py_mp_map aio_mp_balance py_mp_balance aio_mp_mid py_mp_mid aio_sqrt_seq aio_sqrt_mp aio_sqrt_fork py_sqrt_mp aio_primes_seq aio_primes_mp aio_primes_fork py_primes_mp; do printf '%s %s; ' "$k" "$(echo "${R[$k]}" | spread)"; done)"
echo "Results: sqrt $(echo "${RES[aio_sqrt_seq]:-?}") (aiocpp) / $(echo "${RES[py_sqrt_seq]:-?}") (Python); primes ${RES[aio_primes_seq]:-?} / ${RES[py_primes_seq]:-?}."
