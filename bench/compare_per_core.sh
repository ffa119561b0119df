#!/usr/bin/env bash
# Issue #21's timed rows: the HTTP hello world (bench/http_server.cpp) on one loop and on a loop
# per core (run_app's workers = 2, SO_REUSEPORT, pinned), beside nginx with worker_processes 2
# (reuseport, worker_cpu_affinity auto). The load generator shares the two cores with the server,
# as the issue asks: wrk -t2 -c128, unpinned. Runs interleaved; medians.
# Usage: bench/compare_per_core.sh [RUNS] [SECONDS]      (default 3 runs of 5 s)
#   AIO_HTTP_SERVER=path  use that binary instead of building the release preset's
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECS=${2:-5}
LAB=$(cd ../shared/peers && pwd)
if [ -z "${AIO_HTTP_SERVER:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_http_server >&2
fi
BIN=$(realpath "${AIO_HTTP_SERVER:-build/release/bench/aio_http_server}")
WORK=$(mktemp -d /tmp/aiocpp-per-core-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

nginx2() {  # PORT: nginx, two workers, from a scratch config
  local dir="$WORK/nginx-$1"
  mkdir -p "$dir"
  sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$1#g" -e 's#^worker_processes 1;#worker_processes 2;\nworker_cpu_affinity auto;#' \
      -e "s#listen 127.0.0.1:$1;#listen 127.0.0.1:$1 reuseport;#" "$LAB/conf/nginx.conf.in" >"$dir/nginx.conf"
  exec /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf"
}

measure() {  # NAME COMMAND...  (PORT in the command is replaced)
  local name=$1 port
  shift
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local cmd=("${@//PORT/$port}")
  setsid "${cmd[@]}" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
  local out rps
  out=$(wrk -t2 -c128 -d"${SECS}s" "http://127.0.0.1:$port/")
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  echo "$name $rps"
}

declare -A rows
export -f nginx2
export LAB WORK
for r in $(seq "$RUNS"); do
  for name in aiocpp-1-loop aiocpp-2-loops nginx-2-workers; do
    case $name in
      aiocpp-1-loop) cmd=("$BIN" PORT) ;;
      aiocpp-2-loops) cmd=("$BIN" PORT --workers 2) ;;
      nginx-2-workers) cmd=(bash -c 'nginx2 "$0"' PORT) ;;
    esac
    line=$(measure "$name" "${cmd[@]}")
    echo "run $r: $line" >&2
    rows[$name]+="${line#* }"$'\n'
  done
done
median() { sort -n | grep . | awk -v m="$(( (RUNS + 1) / 2 ))" 'NR == m'; }
a1=$(median <<<"${rows[aiocpp-1-loop]}")
a2=$(median <<<"${rows[aiocpp-2-loops]}")
n2=$(median <<<"${rows[nginx-2-workers]}")
echo "| server | req/s (median of $RUNS, wrk -t2 -c128 on the same 2 cores) |"
echo "|---|---|"
echo "| aiocpp, one loop | $a1 |"
echo "| aiocpp, run_app workers=2 (a loop per core) | $a2 |"
echo "| nginx, worker_processes 2, reuseport | $n2 |"
awk -v a1="$a1" -v a2="$a2" -v n2="$n2" 'BEGIN { printf "\n2 loops / 1 loop: %.2fx; aiocpp 2 loops / nginx 2 workers: %.2fx\n", a2 / a1, a2 / n2 }'
