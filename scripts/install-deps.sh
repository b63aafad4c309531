#!/usr/bin/env bash
# Installs the Debian 12 packages openvss needs to build and test, and only those missing.
# Idempotent and quiet: with everything present it prints nothing and touches nothing.
# Runs as root, or through sudo when that exists; apt output is shown only if apt fails.
#
#   scripts/install-deps.sh            # install what is missing
#   scripts/install-deps.sh --check    # list what is missing; exit 1 if anything is
set -euo pipefail

# Compilers and build tools: g++ 12, clang 14 (+ its sanitizer runtimes), CMake 3.25, Ninja.
packages=(
  g++
  cmake
  ninja-build
  clang
  libclang-rt-14-dev
  git
)
# Libraries (all header-only or with CMake configs; see cmake/dependencies.cmake).
packages+=(
  libasio-dev     # standalone Asio 1.22 (asio.hpp; no CMake config)
  libboost-dev    # Boost 1.74 headers (Signals2)
  libgtest-dev    # GoogleTest 1.12 (GTest:: config)
  libgmock-dev    # GoogleMock 1.12
  libbenchmark-dev  # Google Benchmark 1.7 (benchmark:: config)
  nlohmann-json3-dev  # nlohmann-json 3.11: the daemon protocol's JSON codec (header-only)
  libcli11-dev      # CLI11 2.3: the command lines of openvss, openvssd, openvss-exec-writer
  libspdlog-dev     # spdlog 1.10 (+ fmt 9): openvssd's structured logs
  libsqlite3-dev    # SQLite 3.40: the daemon's snapshot catalog
)
# Tools the filesystem tests run: they make, mount and snapshot their own loop images.
packages+=(
  btrfs-progs  # mkfs.btrfs, btrfs: the btrfs provider's tests
  xfsprogs     # mkfs.xfs: reflink and flush-and-hold tests on XFS
  e2fsprogs    # mkfs.ext4: a filesystem without reflink
  mount        # mount -o loop, umount
)
# Scripts: scripts/bench-side-by-side.sh summarises its runs in Python, and its test
# (bench.side_by_side) runs it.
packages+=(
  python3  # with its standard library (json, glob, statistics)
)
# Add packages here as the issues that need them land (and to cmake/dependencies.cmake):
#   gnuplot-nox          benchmark plots (optional)

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  *)
    echo "install-deps.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps.sh: needs a Debian-based system (dpkg-query and apt-get); install the" \
    "equivalents of: ${packages[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
if ((check_only)); then
  echo "install-deps.sh: missing: ${missing[*]}"
  exit 1
fi

as_root=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install-deps.sh: these packages are missing: ${missing[*]}" >&2
    echo "install-deps.sh: installing them needs root, and sudo is not available." >&2
    echo "install-deps.sh: run this script as root, or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
log="$(mktemp -t openvss-install-deps.XXXXXX)"
trap 'rm -f "$log"' EXIT
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
if ! "${apt[@]}" update -q >"$log" 2>&1 ||
  ! "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps.sh: apt-get failed (output above)" >&2
  exit 1
fi
