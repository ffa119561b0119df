#!/usr/bin/env bash
# Quick start 1: install dependencies, build (release), run the main job — `aiocpp race`, the
# seeds' comparison of sequential, threads, coroutines and processes, on an I/O-bound job and on
# its CPU-bound twin — then every demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target aiocpp_cli
build/release/apps/aiocpp race          # race.png beside the table
build/release/apps/aiocpp race --cpu    # the CPU-bound twin, race-cpu.png
exec build/release/apps/aiocpp demo all
