#!/usr/bin/env bash
# build.sh — configure and build sluice into a build directory.
# usage: ops/build.sh BUILD_DIR [extra cmake -D options...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: ops/build.sh BUILD_DIR [cmake options]}
shift
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
