#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS (default 60) from its committed seed corpus.
#   scripts/fuzz.sh [SECONDS]
# The corpus is copied to a temporary directory first: what the fuzzer adds stays out of the
# checkout. A crash, a sanitizer report, a leak or a timeout fails the script; the input that
# caused it is kept (the path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

work="$(mktemp -d "${TMPDIR:-/tmp}/aiocpp-fuzz.XXXXXX")"
echo "fuzz: working in $work"
status=0
for target in fuzz_server_request fuzz_client_response fuzz_ws_frame_reader; do
  case "$target" in
    fuzz_server_request) seeds=fuzz/corpus/server_request ;;
    fuzz_client_response) seeds=fuzz/corpus/client_response ;;
    fuzz_ws_frame_reader) seeds=fuzz/corpus/ws_frame_reader ;;
  esac
  mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
  cp -R "$seeds"/. "$work/$target/corpus/"
  echo "=== $target: ${seconds}s"
  if ! ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      "build/fuzz/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/$target/artifacts/" "$work/$target/corpus" 2>"$work/$target/log"; then
    status=1
    echo "fuzz: $target found a problem; the log and the input are under $work/$target:"
    tail -n 60 "$work/$target/log"
    ls -l "$work/$target/artifacts"
  else
    grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|#[0-9]+ +DONE)" "$work/$target/log" || true
  fi
done
if [ "$status" -eq 0 ]; then rm -rf "$work"; fi
exit "$status"
