#!/usr/bin/env bash
# Test of scripts/instructions-per-abort.sh (CTest `bench.instructions_per_abort`, registered
# only where valgrind and its header are installed, with GCC, unsanitized): a real count over
# one small burst, then the script's answers to bad arguments. Checks the report's shape, that
# every abort was counted, that the caller's thread and an io thread both ran some of the
# burst, and that the io thread touched memory; no figure is asserted.
set -euo pipefail

script=$1 bench=$2
out=$("$script" "$bench" 10 2)
echo "$out"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
grep -Eq '^20 aborts \(M = 10, 2 bursts\): [1-9][0-9]* instructions and [1-9][0-9]* cold lines per abort$' <<<"$out" ||
  fail "no summary line for 20 aborts"
grep -Eq '^thread +1 +[1-9][0-9]* +[0-9]+ +caller' <<<"$out" || fail "no count for the caller's thread"
grep -Eq '^thread +[0-9]+ +[1-9][0-9]* +[1-9][0-9]* +io thread$' <<<"$out" ||
  fail "no count for an io thread"

# Bad arguments: a usage error (status 2) with a message, never a valgrind run.
expect_usage_error() {
  local status=0 err
  err=$("$script" "$@" 2>&1 >/dev/null) || status=$?
  [[ $status -eq 2 ]] || fail "'$*' exited $status, want 2"
  [[ -n $err ]] || fail "'$*' printed no message"
}
expect_usage_error
expect_usage_error /nonexistent/bench
expect_usage_error "$bench" 0
expect_usage_error "$bench" 10 x
echo "PASS"
