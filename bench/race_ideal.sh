#!/usr/bin/env bash
# How close each way of `aiocpp race` comes to the speed-up its latency allows (issue #19: the
# coroutine way within 10 % of the ideal on the defaults). Runs the race ROUNDS times on its
# defaults (plus any arguments after ROUNDS, e.g. --python) and prints, per way, the median
# speed-up, the ideal, and how far below the ideal the median is. Timings, so a benchmark and not a
# test: on a shared machine, read the median.
# Usage: bench/race_ideal.sh [ROUNDS] [race options...]
#   AIOCPP=path/to/aiocpp  use that build instead of building the release preset's
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
shift || true
if [[ -z "${AIOCPP:-}" ]]; then
  cmake --preset release >/dev/null
  cmake --build build/release --target aiocpp_cli >/dev/null
  AIOCPP=build/release/apps/aiocpp
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$ROUNDS"); do
  echo "round $i/$ROUNDS" >&2
  "$AIOCPP" race --json --no-chart "$@" >"$out/$i.json"
done
/usr/bin/python3 - "$out" "$ROUNDS" <<'PY'
import json, statistics, sys, pathlib
d, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
runs = [json.loads((d / f"{i}.json").read_text()) for i in range(1, rounds + 1)]
print(f"aiocpp race, {rounds} rounds: {json.dumps(runs[0]['options'])}")
print(f"{'way':<28} {'speed-up (median)':>18} {'min':>6} {'max':>6} {'ideal':>6} {'below ideal':>12} {'wall s':>7}")
for k, first in enumerate(runs[0]["ways"]):
    ws = [r["ways"][k] for r in runs]
    sp = [w["speedup"] for w in ws if w["speedup"] is not None]
    ideal = first["ideal_speedup"]
    wall = statistics.median(w["wall_s"] for w in ws)
    if not sp:
        print(f"{first['label']:<28} {'-':>18} {'':>6} {'':>6} {ideal:>5.1f}x {'-':>12} {wall:>7.2f}")
        continue
    med = statistics.median(sp)
    print(f"{first['label']:<28} {med:>17.1f}x {min(sp):>5.1f}x {max(sp):>5.1f}x {ideal:>5.1f}x"
          f" {100 * (1 - med / ideal):>11.1f}% {wall:>7.2f}")
PY
