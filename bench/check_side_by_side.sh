#!/usr/bin/env bash
# Test of scripts/bench-side-by-side.sh (CTest `bench.side_by_side`): two stand-in benches that
# write a fixed JSON each. Checks the summary line (medians of the runs, ratio to the floor),
# the memory-latency line, and that builds with different machine.build_flags are warned about,
# and equal ones are not.
set -euo pipefail

script=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# make_bench NAME FLAGS P50 MEMORY: a bench whose every run reports t_done p50 P50 (floor 10)
# and MEMORY ns per load over 32 MiB at its start.
make_bench() {
  cat >"$work/$1" <<SH
#!/usr/bin/env bash
while [[ \$# -gt 0 && \$1 != --json ]]; do shift; done
cat >"\$2" <<JSON
{"machine": {"build_flags": "$2",
  "memory_latency_ns_start": "256KiB=1.0 2MiB=2.0 8MiB=3.0 32MiB=$4"}, "results": [
 {"system": "openvss", "metric": "t_done", "writers": 1, "sessions": 1, "phase": "frozen",
  "behaviour": "immediate", "io_threads": 1, "samples": 10, "p50_us": $3, "p99_us": 40,
  "p999_us": 50, "max_us": 60},
 {"system": "floor", "metric": "t_return", "writers": 1, "sessions": 1, "phase": "frozen",
  "behaviour": "immediate", "io_threads": 1, "samples": 10, "p50_us": 10, "p99_us": 20,
  "p999_us": 30, "max_us": 40}]}
JSON
SH
  chmod +x "$work/$1"
}
make_bench a 'Release: -O2 -g -DNDEBUG' 20 150.5
make_bench b 'Release: -O2 -g -DNDEBUG' 15 190
make_bench c 'Release: -O3 -DNDEBUG' 15 160

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

out=$("$script" "$work/same" 2 "$work/a" "$work/b" --latency 2>"$work/err")
grep -q 'N=1 M=1 io=1 frozen/immediate:  A 20.0 \[20.0-20.0\] / 40.0 x2.00  B 15.0 \[15.0-15.0\] / 40.0 x1.50' <<<"$out" ||
  fail "unexpected summary: $out"
grep -q 'memory latency at each run.s start, 32 MiB, ns per load: median \[min-max\]  A 150.5 \[150.5-150.5\]  B 190.0 \[190.0-190.0\]' <<<"$out" ||
  fail "unexpected memory-latency line: $out"
if grep -q WARNING "$work/err"; then fail "warned about equal flags: $(cat "$work/err")"; fi

"$script" "$work/differ" 1 "$work/a" "$work/c" --latency >/dev/null 2>"$work/err"
grep -q "WARNING: the builds differ in their flags" "$work/err" ||
  fail "no warning for different flags: $(cat "$work/err")"

if "$script" "$work/bad" 0 "$work/a" "$work/b" 2>/dev/null; then fail "accepted 0 rounds"; fi
echo "bench-side-by-side.sh: ok"
