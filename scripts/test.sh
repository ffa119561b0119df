#!/usr/bin/env bash
# Quick start 2: install dependencies, build (debug, -Werror), run every test.
# Pass a preset name to use another build: scripts/test.sh asan | tsan | clang | release
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
# The io_uring reruns of the core, net and HTTP suites (ctest -L io_uring) go with the debug and
# ASan builds; TSan and clang repeat the epoll runs only, to keep CI inside its time.
extra=()
case "$preset" in tsan | clang) extra=(-LE io_uring) ;; esac
ctest --preset "$preset" -j2 "${extra[@]}"
