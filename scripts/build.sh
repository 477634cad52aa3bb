#!/usr/bin/env bash
# Configures and builds one flavour of the project.
#   scripts/build.sh            -> build/        (RelWithDebInfo)
#   scripts/build.sh asan       -> build-asan/   (ASan + UBSan)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
flavour=${1:-release}
case "$flavour" in
  release) dir=$repo/build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  # The page is JavaScript: bundled once, by the release build.
  asan) dir=$repo/build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DNIXOS_CONTAINERS_SANITIZE=ON -DNIXOS_CONTAINERS_COCKPIT=OFF) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake -S "$repo" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$dir"
