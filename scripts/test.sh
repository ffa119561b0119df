#!/usr/bin/env bash
# Quick start 2: install dependencies, build (debug, -Werror), run every test.
# Pass a preset name to use another build: scripts/test.sh asan | tsan | clang | release
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
# The io_uring reruns of the core, net and HTTP suites (ctest -L io_uring) go with the debug
# build; the sanitizer and clang builds run the suites once, on epoll, to keep CI inside its time
# (they still run tests/core/test_backend.cpp, which drives the ring directly).
extra=()
case "$preset" in asan | tsan | clang) extra=(-LE io_uring) ;; esac
ctest --preset "$preset" -j2 "${extra[@]}"
