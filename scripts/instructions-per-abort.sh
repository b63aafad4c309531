#!/usr/bin/env bash
# Counts what one abort of the M-session burst costs in instructions and in memory lines, with
# callgrind: what every thread runs from the burst's first async_abort_backup call until the
# last abort reported done and the tear-down it posted after that ran, divided by the aborts.
# A time moves with this shared machine's load; these counts do not, so they resolve a change
# of a few per cent that side-by-side timings cannot (docs/performance.md §3.5). They do not
# see two CPUs passing lines between them: whether a cut is one in time, timing still decides.
#
#   scripts/instructions-per-abort.sh BENCH [M [BURSTS [bench arguments...]]]
#
# e.g. scripts/instructions-per-abort.sh build/release/bench/openvss-bench-abort 1000 2 \
#        --group-writers
# Defaults: M = 1000 sessions of 10 writers, BURSTS = 2, one io thread (valgrind runs one
# thread at a time anyway; with --io-threads 2 the threads' waits for each other count too).
# Use M >= 100: a few timer completions and the harness's own wait land in the window or not
# by chance, about 2 % of an abort at M = 10 and nothing at M = 1,000.
# Prints instructions per abort in all and per thread; thread 1 is the caller's. Also "cold
# lines": last-level data misses of a simulated 8 MiB cache, which callgrind empties each time
# the window opens, so mostly the 64-byte lines an abort reads or writes that no earlier abort
# of its burst touched: its footprint in memory (per thread: the thread that touched it first).
# Needs valgrind (`sudo apt-get install valgrind`), and BENCH built while it was installed:
# the harness marks the burst with valgrind's client requests only if their header was there.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
bench=$1 m=${2:-1000} bursts=${3:-2}
shift $(($# < 3 ? $# : 3))
if [[ ! -f $bench || ! -x $bench ]]; then
  echo "instructions-per-abort: not an executable file: $bench" >&2
  exit 2
fi
[[ $bench == */* ]] || bench=./$bench # valgrind would look a bare name up on PATH
for v in "$m" "$bursts"; do
  if ! [[ $v =~ ^[1-9][0-9]*$ ]]; then
    echo "instructions-per-abort: M and BURSTS must be positive integers, got '$v'" >&2
    exit 2
  fi
done
if ! command -v valgrind >/dev/null; then
  echo "instructions-per-abort: needs valgrind: sudo apt-get install valgrind" >&2
  exit 2
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# --io-threads 1 first: a later --io-threads among the caller's arguments wins.
# Every cache level given, so that counts compare across machines: L1 as this guest's (32 KiB),
# the last level at 8 MiB, where §4.L's pointer chase finds this guest's share of the L3 ending.
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --cache-sim=yes \
  --I1=32768,8,64 --D1=32768,8,64 --LL=8388608,16,64 --callgrind-out-file="$out/cg" \
  "$bench" --latency --io-threads 1 --writers none \
  --sessions "$m" --phases none --behaviours off --race 0 --samples $((m * bursts)) \
  --budget 3600 --runs 1 "$@" >"$out/stdout" 2>"$out/stderr" || {
  echo "instructions-per-abort: the harness failed under valgrind:" >&2
  tail -20 "$out/stderr" >&2
  exit 1
}
# The divisor: every abort callgrind saw must be a sample. Arguments that add cells or runs,
# or aborts the harness set aside as anomalies, would make the count cover other aborts too.
aborts=$(awk '$1 == "openvss" && $2 == "t_done" { print $3; exit }' "$out/stdout")
anomalies=$(sed -n 's/^anomalies (samples not counted): //p' "$out/stdout")
if [[ $aborts != "$((m * bursts))" || $anomalies != 0 ]]; then
  echo "instructions-per-abort: expected $((m * bursts)) aborts in one cell and no anomaly;" \
    "the harness reported '${aborts:-none}' and '${anomalies:-?}' anomalies. Its output:" >&2
  cat "$out/stdout" >&2
  exit 1
fi

# Per thread: instructions (Ir) and last-level data misses (DLmr + DLmw), found by the names
# on the file's events: line.
total=0 total_cold=0
lines=()
for f in "$out"/cg-*; do
  # Ir as callgrind wrote it: mawk prints sums past 2^31 in exponent form unless told %.0f.
  if ! read -r n cold < <(awk '$1 == "events:" { for (i = 2; i <= NF; ++i) col[$i] = i }
    $1 == "totals:" {
      if (!("Ir" in col) || !("DLmr" in col) || !("DLmw" in col)) exit
      printf "%s %.0f\n", ($(col["Ir"]) == "" ? 0 : $(col["Ir"])), $(col["DLmr"]) + $(col["DLmw"])
      exit
    }' "$f"); then
    echo "instructions-per-abort: no totals with Ir, DLmr and DLmw in $f" >&2
    exit 1
  fi
  [[ $n -eq 0 ]] && continue
  thread=${f##*-}
  what="other"
  if [[ $((10#$thread)) -eq 1 ]]; then
    what="caller (async_abort_backup, waiting for the burst)"
  elif grep -q 'scheduler::run' "$f"; then
    what="io thread"
  fi
  total=$((total + n))
  total_cold=$((total_cold + cold))
  lines+=("$(awk -v t="$((10#$thread))" -v n="$n" -v c="$cold" -v a="$aborts" -v w="$what" \
    'BEGIN { printf "thread %2d  %12.0f  %10.0f  %s", t, n / a, c / a, w }')")
done
if [[ $total -eq 0 ]]; then
  echo "instructions-per-abort: callgrind counted nothing. Was $bench built before valgrind" >&2
  echo "was installed? Rebuild it (the burst is marked only if valgrind/callgrind.h exists)." >&2
  exit 1
fi
awk -v a="$aborts" -v m="$m" -v b="$bursts" -v n="$total" -v c="$total_cold" \
  'BEGIN { printf "%d aborts (M = %d, %d bursts): %.0f instructions and %.0f cold lines per abort\n", a, m, b, n / a, c / a }'
echo "           instructions  cold lines"
printf '%s\n' "${lines[@]}"
