#!/usr/bin/env bash
# THE test command: installs missing build dependencies (scripts/install-deps.sh), then
# configures, builds and runs every test of a CMake workflow preset (CMakePresets.json).
#
#   scripts/test.sh                    # dev: g++ Debug, warnings as errors, header checks,
#                                      #      unit + stress + example + package tests
#   scripts/test.sh --preset asan      # another workflow: dev, release, clang, clang-ci,
#                                      #   asan, tsan
#   scripts/test.sh --skip-deps        # do not check/install packages
#   scripts/test.sh -j 1               # build and test parallelism (default:
#                                      #   $CMAKE_BUILD_PARALLEL_LEVEL, else nproc)
#
# Exits non-zero if anything fails. Build trees go to build/<preset>/.
set -euo pipefail

preset=dev
skip_deps=0
jobs="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while (($#)); do
  case "$1" in
    --preset) preset="${2:?--preset needs a name}"; shift 2 ;;
    --preset=*) preset="${1#*=}"; shift ;;
    --skip-deps) skip_deps=1; shift ;;
    -j) jobs="${2:?-j needs a number}"; shift 2 ;;
    -j*) jobs="${1#-j}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ((!skip_deps)); then
  bash scripts/install-deps.sh
fi

# Workflow presets take no -j: CMake and CTest read these instead.
export CMAKE_BUILD_PARALLEL_LEVEL="$jobs"
export CTEST_PARALLEL_LEVEL="$jobs"

echo "test.sh: cmake --workflow --preset $preset (-j$jobs)"
exec cmake --workflow --preset "$preset"
