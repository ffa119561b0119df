#!/usr/bin/env bash
# Issue #21's cost figures: user-space instructions (callgrind) and system calls (strace) per
# 64-byte echo of bench/echo_server.cpp on epoll, on io_uring doing the reads and writes, and on
# io_uring doing readiness only (AIO_URING_IO=readiness), protocol and streams APIs.
# The peers lab's cost mode stops a server with SIGTERM, which valgrind cannot deliver to a thread
# blocked in io_uring_enter; here the server exits once the load's connections have closed
# (--exit-after), and the per-echo figure is the difference of two runs (LONG and SHORT requests
# on the same 16 connections) divided by their difference: start-up, accept and teardown cancel.
# Usage: bench/compare_uring_cost.sh [LONG [SHORT]]      (default 20000 2000)
#   AIO_ECHO_SERVER=path  the binary (default: build the release preset's)
set -euo pipefail
cd "$(dirname "$0")/.."
LONG=${1:-20000}
SHORT=${2:-2000}
CONNS=16
LAB=$(cd ../shared/peers && pwd)
if [ -z "${AIO_ECHO_SERVER:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_echo_server >&2
fi
BIN=$(realpath "${AIO_ECHO_SERVER:-build/release/bench/aio_echo_server}")
WORK=$(mktemp -d /tmp/aiocpp-uring-cost-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -o "$WORK/echo-load" "$LAB/src/echo_load.c"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# run TOOL ENV API REQUESTS -> prints the tool's total (instructions or syscalls)
run() {
  local tool=$1 env=$2 api=$3 n=$4 port out
  port=$(free_port)
  out="$WORK/$tool-$RANDOM"
  mkdir -p "$out"
  # wait_port's probe is a connection too: one more to wait for.
  if [ "$tool" = callgrind ]; then
    env $env valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$BIN" --api "$api" --exit-after $((CONNS + 1)) "$port" 2>/dev/null &
  else
    env $env strace -f -c -o "$out/st" "$BIN" --api "$api" --exit-after $((CONNS + 1)) "$port" &
  fi
  local pid=$!
  wait_port "$port"
  "$WORK/echo-load" 127.0.0.1 "$port" --conns $CONNS --size 64 --seconds 60 --requests "$n" >/dev/null
  wait "$pid"
  if [ "$tool" = callgrind ]; then
    # awk reads to the end: an early exit would SIGPIPE callgrind_annotate (pipefail)
    callgrind_annotate "$out/cg" 2>/dev/null | awk '!done && /PROGRAM TOTALS/ {gsub(",","",$1); print $1; done = 1}'
  else
    awk '$NF=="total" {print $(NF-2); exit}' "$out/st"
  fi
}

printf '| server | backend | instructions / echo | syscalls / echo |\n|---|---|---|---|\n'
for api in protocol streams; do
  for cfg in "epoll|AIO_BACKEND=epoll" "io_uring|AIO_BACKEND=io_uring" "io_uring, readiness only|AIO_BACKEND=io_uring AIO_URING_IO=readiness"; do
    name=${cfg%%|*}; env=${cfg#*|}
    il=$(run callgrind "$env" $api "$LONG"); is=$(run callgrind "$env" $api "$SHORT")
    sl=$(run strace "$env" $api "$LONG"); ss=$(run strace "$env" $api "$SHORT")
    awk -v a="$api" -v b="$name" -v il="$il" -v is="$is" -v sl="$sl" -v ss="$ss" -v d=$((LONG - SHORT)) \
      'BEGIN { printf "| aiocpp-%s | %s | %.0f | %.2f |\n", a, b, (il - is) / d, (sl - ss) / d }'
  done
done
