#!/usr/bin/env bash
# Installs every Debian 12 package aiocpp needs to build, test and benchmark.
# Safe to run repeatedly: apt is only called when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential g++ clang cmake ninja-build ccache pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  libssl-dev zlib1g-dev node-llhttp
  libclang-rt-14-dev
  python3 python3-aiohttp python3-websockets python3-uvloop curl openssl procps nginx-light wrk tinyproxy
  gnuplot-nox
  liburing-dev
  libopenmpi-dev openmpi-bin python3-mpi4py
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
