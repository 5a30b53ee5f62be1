#!/usr/bin/env bash
# format.sh — lays out every C file under src/ and tests/ as .clang-format says (clang-format 14),
# in place. tests/lint/format.sh (ctest lint/format, part of make test) checks it.
# usage: scripts/format.sh
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
fmt=$(command -v clang-format-14 || command -v clang-format || true)
[[ -n $fmt ]] || { echo "format.sh: clang-format-14 is not installed (apt-get install clang-format-14)" >&2; exit 1; }
find src tests -name '*.[ch]' -print0 | xargs -0 "$fmt" --style=file -i
