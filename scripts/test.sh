#!/usr/bin/env bash
# Quick start 2: install dependencies, build (debug, -Werror), run every test.
# Pass a preset name to use another build: scripts/test.sh asan | tsan | clang | release
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" -j2
