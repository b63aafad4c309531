#!/usr/bin/env bash
# Compares two builds of openvss-bench-abort side by side: runs them alternately, ROUNDS times
# each, with the same arguments, and prints per cell the median of the runs' t_done p50 and
# p99 for each build, with the p50 spread and the p50 as a ratio to the same run's floor.
#
# Alternating matters on a shared or virtual machine: its speed drifts over minutes, and two
# builds measured one after the other would show the drift as a difference
# (docs/performance.md §3.1).
#
#   scripts/bench-side-by-side.sh OUTDIR ROUNDS BENCH_A BENCH_B [bench arguments...]
#
# e.g. scripts/bench-side-by-side.sh /tmp/ab 3 /tmp/old/openvss-bench-abort \
#        build/release/bench/openvss-bench-abort --latency --io-threads 1,2 \
#        --writers 1,100,1000,10000 --sessions none --phases none --behaviours off \
#        --race 0 --samples 3000 --budget 3
# Each run's JSON and output stay in OUTDIR (A-<round>.json, B-<round>.json, ...).
# Needs python3 for the summary.
set -euo pipefail

if [[ $# -lt 4 ]]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
out=$1 rounds=$2 bench_a=$3 bench_b=$4
shift 4
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "bench-side-by-side: ROUNDS must be a positive integer, got '$rounds'" >&2
  exit 2
fi
for b in "$bench_a" "$bench_b"; do
  if [[ ! -x $b ]]; then
    echo "bench-side-by-side: not an executable: $b" >&2
    exit 2
  fi
done
mkdir -p "$out"

for r in $(seq 1 "$rounds"); do
  for side in A B; do
    bench=$bench_a
    [[ $side == B ]] && bench=$bench_b
    echo "[side-by-side] round $r/$rounds, $side: $bench" >&2
    if ! "$bench" "$@" --json "$out/$side-$r.json" >"$out/$side-$r.txt" 2>&1; then
      echo "bench-side-by-side: run $side-$r failed; see $out/$side-$r.txt" >&2
      exit 1
    fi
  done
done

python3 - "$out" <<'PY'
import collections, glob, json, statistics, sys

out = sys.argv[1]
cells = collections.defaultdict(lambda: collections.defaultdict(list))
flags = {}
# ns per dependent load over 32 MiB at each run's start (bench/memory_latency.hpp): whether the
# machine's memory was as fast for both builds. Benches from before it was recorded have none.
memory = collections.defaultdict(list)
for side in ("A", "B"):
    for path in sorted(glob.glob(f"{out}/{side}-*.json")):
        data = json.load(open(path))
        # Benches from before machine.build_flags existed say nothing: no warning then.
        flags.setdefault(side, data["machine"].get("build_flags"))
        profile = data["machine"].get("memory_latency_ns_start", "")
        for point in profile.split():
            size, _, ns = point.partition("=")
            if size == "32MiB":
                memory[side].append(float(ns))
        results = data["results"]
        floor = {}
        for r in results:
            if r["system"] == "floor":
                floor[(r["writers"], r["sessions"], r["io_threads"])] = r["p50_us"]
        for r in results:
            if r["system"] != "openvss" or r["metric"] != "t_done":
                continue
            key = (r["writers"], r["sessions"], r["io_threads"], r["phase"], r["behaviour"])
            f = floor.get(key[:3])
            cells[key][side].append((r["p50_us"], r["p99_us"], r["p50_us"] / f if f else None))

if flags.get("A") and flags.get("B") and flags["A"] != flags["B"]:
    # -O3 against -O2 alone moved a cell's p50 by 12 % (docs/decisions.md §37).
    print(f"WARNING: the builds differ in their flags (A: {flags['A']!r}, B: {flags['B']!r}):"
          " the comparison measures the flags as well as the code", file=sys.stderr)
print("t_done, median of the runs: p50 [min-max] / p99, and p50 as a multiple of the floor")
for key in sorted(cells):
    line = f"N={key[0]} M={key[1]} io={key[2]} {key[3]}/{key[4]}:"
    for side in ("A", "B"):
        runs = cells[key][side]
        if not runs:
            continue
        p50 = [x[0] for x in runs]
        p99 = [x[1] for x in runs]
        ratios = [x[2] for x in runs if x[2] is not None]
        ratio = f" x{statistics.median(ratios):.2f}" if ratios else ""
        line += (f"  {side} {statistics.median(p50):.1f} [{min(p50):.1f}-{max(p50):.1f}]"
                 f" / {statistics.median(p99):.1f}{ratio}")
    print(line)
if memory:
    line = "memory latency at each run's start, 32 MiB, ns per load: median [min-max]"
    for side in ("A", "B"):
        if memory[side]:
            m = memory[side]
            line += f"  {side} {statistics.median(m):.1f} [{min(m):.1f}-{max(m):.1f}]"
    print(line)
PY
