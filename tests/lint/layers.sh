#!/usr/bin/env bash
# layers.sh — issue 10 §2: layers only point down, and the build makes it a rule. For one layer,
# compiles a file that includes one header of every folder of src/ with the include flags the
# layer's library really gets (CMakeLists.txt passes them): a header of the layer's own folder or
# of a folder below it must compile, a header of any other folder must fail as not found. Fails
# when the layer can include a higher (or sibling) layer, or cannot include one it may.
# Not a check of the code's includes themselves: the build does that, this keeps the build honest.
# usage: tests/lint/layers.sh CC SRC_DIR LAYER ALLOWED_DIRS(comma-separated) -I… [-I…]
set -euo pipefail
cc=${1:?usage: layers.sh CC SRC_DIR LAYER ALLOWED -I…}
src=${2:?}
layer=${3:?}
allowed=",${4:?},"
shift 4

tmp=$(mktemp -d /tmp/ticketrush-layers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bad=0 may=0 mayNot=0
for dir in "$src"/*/; do
	dir=$(basename "$dir")
	header=$(cd "$src/$dir" && ls -- *.h 2>/dev/null | head -n 1)
	[ -n "$header" ] || continue
	# The probe lives outside src/, as a file of the layer would: its own folder holds no
	# other layer's folder, so a quoted include resolves through the include flags alone.
	printf '#include "%s/%s"\n' "$dir" "$header" >"$tmp/probe.c"
	if out=$("$cc" -std=c11 -D_GNU_SOURCE -fsyntax-only "$@" "$tmp/probe.c" 2>&1); then ok=1; else ok=0; fi
	if [[ $allowed == *",$dir,"* ]]; then
		may=$((may + 1))
		if [ "$ok" -ne 1 ]; then
			echo "layer $layer cannot include $dir/$header, which it may:" >&2
			echo "$out" >&2
			bad=1
		fi
	else
		mayNot=$((mayNot + 1))
		if [ "$ok" -eq 1 ]; then
			echo "layer $layer can include $dir/$header: an upward (or sideways) include builds" >&2
			bad=1
		elif ! grep -q "$dir/$header: No such file" <<<"$out"; then
			echo "layer $layer: including $dir/$header failed, but not as not found:" >&2
			echo "$out" >&2
			bad=1
		fi
	fi
done
# A check that compares nothing must not pass: the layer's own folder is always there.
if [ "$may" -eq 0 ]; then
	echo "layer $layer: no header of an allowed folder was found under $src" >&2
	bad=1
fi
[ "$bad" -eq 0 ] && echo "layer $layer: $may folders resolve, $mayNot refused as they should be"
exit "$bad"
