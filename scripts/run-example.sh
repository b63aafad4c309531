#!/usr/bin/env bash
# THE main command: installs missing build dependencies, builds the real-backup example with
# the `release` preset (g++ -O2 -g) and runs it with this script's arguments:
#
#   scripts/run-example.sh [example arguments...]     # e.g. --json, --keep, --source DIR
#
# The example backs up a live SQLite database and its directory with the sqlite writer and the
# reflink provider, then aborts a second backup while the database is frozen, and checks both
# (docs/example-real-backup.md). Build output goes to a log that is shown only if the build
# fails; the example runs in the caller's working directory and its exit status is this
# script's (0: every check passed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target=openvss-example-real-backup
exe="$root/build/release/examples/$target"

bash "$root/scripts/install-deps.sh"

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
log="$(mktemp -t openvss-run-example.XXXXXX)"
trap 'rm -f "$log"' EXIT

echo "run-example.sh: building $target (release preset)..." >&2
if ! (cd "$root" && cmake --preset release && cmake --build --preset release --target "$target") \
  >"$log" 2>&1; then
  cat "$log" >&2
  echo "run-example.sh: building $target failed (output above)" >&2
  exit 1
fi
if [[ ! -x "$exe" ]]; then
  echo "run-example.sh: built $target, but $exe does not exist" >&2
  exit 1
fi

echo "run-example.sh: running $exe $*" >&2
"$exe" "$@"
