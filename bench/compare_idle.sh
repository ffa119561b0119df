#!/usr/bin/env bash
# Issue #21's connection-scale figures: the memory an echo server holds per idle connection
# (VmRSS with N connections held, minus before, over N), then M of them active at once, for
# aiocpp on epoll and on io_uring beside the peers lab's raw epoll, libuv, Asio and Tokio servers.
# Kernel socket memory is not in VmRSS: it is the same for every server.
# Usage: bench/compare_idle.sh [N [M]]      (default 50000 10000; the server needs an RLIMIT_NOFILE
# hard limit above N: without CAP_SYS_RESOURCE, pass an N below it)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000}
M=${2:-10000}
LAB=$(cd ../shared/peers && pwd)
PEERS=${PEERS_BUILD:-/tmp/peers-build}/bin
cmake --preset release >/dev/null
cmake --build --preset release --target aio_echo_server aio_idle_conns >&2
BIN=build/release/bench
[ -x "$PEERS/echo_tokio" ] || "$LAB/run.sh" --build-only >&2
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
printf '| server | bytes per idle connection (VmRSS) | %d connections, %d active at once |\n|---|---|---|\n' "$N" "$M"
measure() {
  local name=$1; shift
  local port; port=$(free_port)
  ulimit -n "$(ulimit -Hn)"
  "$@" "$port" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  local before; before=$(rss $pid)
  coproc CLIENT { "$BIN/aio_idle_conns" "$port" "$N" "$M"; }
  local status=ok line
  read -r line <&"${CLIENT[0]}" || status="connect failed"
  [ "$status" = ok ] && { read -r line <&"${CLIENT[0]}" || status="echo failed"; }
  local after; after=$(rss $pid)
  echo done >&"${CLIENT[1]}"
  wait "$CLIENT_PID" || true
  kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true
  awk -v n="$name" -v a="$after" -v b="$before" -v c="$N" -v s="$status" 'BEGIN { printf "| %s | %.0f | %s |\n", n, (a - b) / c, s }'
}
measure "aiocpp-protocol (epoll)" env AIO_BACKEND=epoll "$BIN/aio_echo_server" --api protocol
measure "aiocpp-protocol (io_uring)" env AIO_BACKEND=io_uring "$BIN/aio_echo_server" --api protocol
measure "aiocpp-streams (epoll)" env AIO_BACKEND=epoll "$BIN/aio_echo_server" --api streams
measure "aiocpp-streams (io_uring)" env AIO_BACKEND=io_uring "$BIN/aio_echo_server" --api streams
measure "epoll-c" "$PEERS/echo_epoll"
measure "libuv-c" "$PEERS/echo_libuv"
measure "asio-coro" "$PEERS/echo_asio"
measure "tokio-ct" "$PEERS/echo_tokio"
