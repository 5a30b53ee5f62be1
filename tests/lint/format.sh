#!/usr/bin/env bash
# format.sh — issue 10 §7: the C sources are laid out as .clang-format says (clang-format 14,
# Debian's clang-format-14, which scripts/bootstrap.sh installs). Lists each file that differs
# and fails; `scripts/format.sh` rewrites them. Regions between `clang-format off` and `on`
# comments (the Lua scripts, the X-macro tables) are laid out by hand.
# usage: tests/lint/format.sh [SOURCE_ROOT]
set -euo pipefail
root=${1:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
cd "$root"
fmt=$(command -v clang-format-14 || command -v clang-format || true)
if [[ -z $fmt ]]; then
	echo "format.sh: clang-format-14 is not installed (scripts/bootstrap.sh installs it)" >&2
	exit 1
fi
bad=0
while IFS= read -r -d '' f; do
	if ! "$fmt" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=1
	fi
done < <(find src tests -name '*.[ch]' -print0 | sort -z)
if ((bad)); then
	echo "format.sh: run scripts/format.sh to lay these out as .clang-format says" >&2
	exit 1
fi
echo "format.sh: every C file under src/ and tests/ is formatted"
