#!/usr/bin/env bash
# Issue #18's server figures: aiocpp's HTTP hello world (bench/http_server.cpp) measured in the
# peers lab (../shared/peers/lab.py) in the same run as the fixed-reply epoll server, nginx,
# Boost.Beast and aiohttp.
# Usage: bench/compare_http.sh cost [lab.py options...]   instructions and syscalls per request
#        bench/compare_http.sh timed [lab.py options...]  req/s per server core (wrk -t1 -c64)
#   AIO_HTTP_SERVER=path  use that binary instead of building the release preset's
#   ONLY=regex            which servers (default: aiocpp and the HTTP peers)
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
CONF=$(mktemp /tmp/aiocpp-peers-XXXXXX.conf)
trap 'rm -f "$CONF"' EXIT
cat >"$CONF" <<CONF
http  aiocpp-http   $BIN {port}
CONF
ONLY=${ONLY:-'aiocpp|epoll-fixed|nginx|beast|aiohttp'}
args=(--conf "$LAB/servers.conf" --conf "$CONF" --only "$ONLY" --sections http)
[ "$MODE" = cost ] && args+=(--cost)
exec "$LAB/run.sh" "${args[@]}" "$@"
