#!/usr/bin/env bash
# test.sh — runs ticketrush's unit and integration tests against real PostgreSQL and Redis,
# started privately for this run in a temporary directory and stopped (and deleted) at the end.
# usage: scripts/test.sh BUILD_DIR [RELEASE_BUILD_DIR]   (make test calls it)
# The tests in BUILD_DIR are what runs (make test passes the ASan/UBSan build).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)
build=${1:?usage: scripts/test.sh BUILD_DIR}
build=$(cd -- "$build" && pwd -P)

svc=$(mktemp -d /tmp/ticketrush-test.XXXXXX)
chmod 755 "$svc"
cleanup() { "$here/services.sh" stop --purge --dir "$svc" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

echo "== starting private PostgreSQL and Redis in $svc"
"$here/services.sh" start --dir "$svc"
# shellcheck disable=SC1091
source "$svc/env"
export TICKETRUSH_BIN="$build/ticketrush"
export TICKETRUSH_SVC_DIR="$svc"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== running tests from $build"
cd "$build"
ctest --output-on-failure --timeout 600 -j 1
