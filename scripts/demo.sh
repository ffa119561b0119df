#!/usr/bin/env bash
# Quick start 1: install dependencies, build (release), run every `aiocpp` demo on its defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target aiocpp_cli
exec build/release/apps/aiocpp demo all
