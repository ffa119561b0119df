#!/usr/bin/env bash
# Issue #18's server figures: aiocpp's HTTP hello world (bench/http_server.cpp) measured in the
# peers lab (../shared/peers/lab.py) in the same run as the fixed-reply epoll server, nginx,
# Boost.Beast and aiohttp.
# Usage: bench/compare_http.sh cost [lab.py options...]   instructions and syscalls per request
#        bench/compare_http.sh timed [lab.py options...]  req/s per server core (wrk -t1 -c64)
#        bench/compare_http.sh pipelined [RUNS] [DEPTH]   wrk -t1 -c64 with DEPTH requests per write
#                                                          (bench/wrk_pipeline.lua), aiocpp and nginx
#                                                          interleaved RUNS times (default 3, 16)
#   AIO_HTTP_SERVER=path  use that binary instead of building the release preset's
#   ONLY=regex            which servers (default: aiocpp and the HTTP peers); aiocpp-http-uring is
#                         the same server on the io_uring backend (reads and writes on the ring)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-cost}
shift || true
LAB=$(cd ../shared/peers && pwd)
if [ -z "${AIO_HTTP_SERVER:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_http_server >&2
fi
BIN=$(realpath "${AIO_HTTP_SERVER:-build/release/bench/aio_http_server}")
if [ "$MODE" = pipelined ]; then
  # The lab has no pipelined HTTP row: the same pinning (server CPU 0, wrk CPU 1) done here.
  RUNS=${1:-3}
  DEPTH=${2:-16}
  PEERS_BUILD=${PEERS_BUILD:-/tmp/peers-build}
  export PEERS_BUILD
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
  group_ticks() {  # the server's process group: nginx's worker is a child of its master
    local t=0 p
    for p in $(pgrep -g "$1"); do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
  }
  measure() {  # NAME START-COMMAND (with PORT)
    local name=$1 cmd=$2 port
    port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    taskset -c 0 setsid bash -c "${cmd//PORT/$port}" >"/tmp/aiocpp-pipelined-$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    local t0 w0 out t1 w1
    t0=$(group_ticks "$pid"); w0=$(date +%s.%N)
    out=$(taskset -c 1 wrk -t1 -c64 -d5s -s bench/wrk_pipeline.lua "http://127.0.0.1:$port/" -- "$DEPTH")
    t1=$(group_ticks "$pid"); w1=$(date +%s.%N)
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local rps
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    awk -v n="$name" -v r="$rps" -v t="$((t1 - t0))" -v a="$w0" -v b="$w1" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { cpu = t / hz / (b - a); printf "%s %.0f %.2f %.0f\n", n, r, cpu, (cpu > 0 ? r / cpu : 0) }'
  }
  declare -A rows
  for r in $(seq "$RUNS"); do
    line=$(measure aiocpp-http "$BIN PORT"); echo "run $r: $line" >&2; rows[aiocpp]+="$line"$'\n'
    line=$(measure nginx-1worker "$LAB/conf/nginx.sh PORT"); echo "run $r: $line" >&2; rows[nginx]+="$line"$'\n'
  done
  echo "| server | req/s (median of $RUNS) | srv cpu | req/s per srv core |"
  echo "|---|---|---|---|"
  for k in aiocpp nginx; do
    sort -k2 -n <<<"${rows[$k]}" | grep . | awk -v m="$(( (RUNS + 1) / 2 ))" 'NR == m {printf "| %s | %s | %.0f%% | %s |\n", $1, $2, $3 * 100, $4}'
  done
  exit 0
fi
CONF=$(mktemp /tmp/aiocpp-peers-XXXXXX.conf)
trap 'rm -f "$CONF"' EXIT
cat >"$CONF" <<CONF
http  aiocpp-http   $BIN {port}
http  aiocpp-http-uring   /usr/bin/env AIO_BACKEND=io_uring $BIN {port}
CONF
ONLY=${ONLY:-'aiocpp|epoll-fixed|nginx|beast|aiohttp'}
args=(--conf "$LAB/servers.conf" --conf "$CONF" --only "$ONLY" --sections http)
[ "$MODE" = cost ] && args+=(--cost)
exec "$LAB/run.sh" "${args[@]}" "$@"
