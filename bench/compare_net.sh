#!/usr/bin/env bash
# Issue #4's figures: aiocpp's echo servers (bench/echo_server.cpp, protocol and streams APIs)
# measured in the peers lab (../shared/peers/lab.py) in the same run as raw epoll, libuv, Asio,
# Tokio, uvloop and asyncio.
# Usage: bench/compare_net.sh cost [lab.py options...]   instructions and syscalls per request
#        bench/compare_net.sh timed [lab.py options...]  req/s at 1 and 64 connections, pipelined
#   AIO_ECHO_SERVER=path  use that binary instead of building the release preset's
#   ONLY=regex            which servers (default: aiocpp and the echo peers)
# aiocpp runs three ways: epoll; io_uring (reads and writes on the ring: "-uring"); and io_uring
# doing readiness only (AIO_URING_IO=readiness: "-uring-readiness"), issue #21's first step.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-cost}
shift || true
LAB=$(cd ../shared/peers && pwd)
if [ -z "${AIO_ECHO_SERVER:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target aio_echo_server >&2
fi
BIN=$(realpath "${AIO_ECHO_SERVER:-build/release/bench/aio_echo_server}")
CONF=$(mktemp /tmp/aiocpp-peers-XXXXXX.conf)
trap 'rm -f "$CONF"' EXIT
cat >"$CONF" <<CONF
echo  aiocpp-protocol   $BIN --api protocol {port}
echo  aiocpp-streams    $BIN --api streams {port}
echo  aiocpp-protocol-uring   /usr/bin/env AIO_BACKEND=io_uring $BIN --api protocol {port}
echo  aiocpp-streams-uring    /usr/bin/env AIO_BACKEND=io_uring $BIN --api streams {port}
echo  aiocpp-protocol-uring-readiness   /usr/bin/env AIO_BACKEND=io_uring AIO_URING_IO=readiness $BIN --api protocol {port}
CONF
ONLY=${ONLY:-'aiocpp|epoll-c|libuv|asio|tokio|uvloop|asyncio'}
args=(--conf "$LAB/servers.conf" --conf "$CONF" --only "$ONLY" --sections echo)
[ "$MODE" = cost ] && args+=(--cost)
# run.sh builds the peers (once; later runs reuse $PEERS_BUILD) and installs what is missing.
exec "$LAB/run.sh" "${args[@]}" "$@"
