#!/usr/bin/env bash
# Issue #22's benchmarks beside mpi4py.futures, one session, interleaved: aiocpp's MPI executors
# (bench/mpi_micro.cpp) and mpi4py's (bench/py_mpi_peer.py), on the same ranks of this machine.
# Prints the median of ROUNDS runs of each row, and the ratio.
#   latency: N submit+result round trips one after another (us per trip)
#   map:     MAP_N tiny tasks with chunksize CHUNK (tasks per second)
#   each both ways of getting workers: spawned from a singleton (2 workers), and a job of
#   `mpiexec -n 3` (rank 0 the client, 2 workers).
# Then E21 on 2 ranks beside aio::mp::Pool(2) on the same cores (speed-ups over one process, both
# pools already started), and the progress threads' CPU (aiocpp): idle for 1 s, and while waiting
# on a 1 s task.
# Usage: bench/compare_mpi.sh [ROUNDS]    (AIO_MPI_MICRO=path skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
LAT_N=${LAT_N:-5000}
PY_LAT_N=${PY_LAT_N:-1000}
MAP_N=${MAP_N:-100000}
CHUNK=${CHUNK:-1000}
if [ -z "${AIO_MPI_MICRO:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_mpi_micro >&2
fi
A=${AIO_MPI_MICRO:-build/release/bench/aio_mpi_micro}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

run() {  # run NAME CMD...: appends the number the command prints to $TMP/NAME
  local name=$1; shift
  timeout 300 "$@" | awk '{print $2}' >> "$TMP/$name"
}
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run aio_lat_spawn "$A" --workers 2 latency "$LAT_N"
  run py_lat_spawn "$PY" bench/py_mpi_peer.py --workers 2 latency "$PY_LAT_N"
  run aio_lat_job mpiexec -n 3 "$A" latency "$LAT_N"
  run py_lat_job mpiexec -n 3 "$PY" -m mpi4py.futures bench/py_mpi_peer.py latency "$PY_LAT_N"
  run aio_map_spawn "$A" --workers 2 map "$MAP_N" "$CHUNK"
  run py_map_spawn "$PY" bench/py_mpi_peer.py --workers 2 map "$MAP_N" "$CHUNK"
  run aio_map_job mpiexec -n 3 "$A" map "$MAP_N" "$CHUNK"
  run py_map_job mpiexec -n 3 "$PY" -m mpi4py.futures bench/py_mpi_peer.py map "$MAP_N" "$CHUNK"
  "$A" --workers 2 e21 "${E21_N:-2000001}" > "$TMP/e21.out"
  awk '/e21_speedup_pool/ {print $2}' "$TMP/e21.out" >> "$TMP/e21_pool"
  awk '/e21_speedup_mpi/ {print $2}' "$TMP/e21.out" >> "$TMP/e21_mpi"
done
median() { sort -g "$TMP/$1" | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
echo
echo "medians of $ROUNDS interleaved runs (2 workers; the client is a third process)"
printf "%-34s %14s %14s %10s\n" row aiocpp mpi4py ratio
for way in spawn job; do
  a=$(median aio_lat_$way); p=$(median py_lat_$way)
  printf "%-34s %14s %14s %9.1fx\n" "round trip, us ($way)" "$a" "$p" "$(echo "$p / $a" | bc -l)"
done
for way in spawn job; do
  a=$(median aio_map_$way); p=$(median py_map_$way)
  printf "%-34s %14s %14s %9.1fx\n" "map tasks/s, chunk $CHUNK ($way)" "$a" "$p" "$(echo "$a / $p" | bc -l)"
done
p=$(median e21_pool); m=$(median e21_mpi)
printf "%-34s %14s %14s %9.1f%%\n" "E21 speed-up, 2 workers" "mpi $m" "mp::Pool $p" "$(echo "($m - $p) / $p * 100" | bc -l)"
echo
echo "aiocpp progress threads' CPU (percent of one core):"
"$A" --workers 2 cpu
