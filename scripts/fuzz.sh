#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer harnesses of tests/fuzz with clang and runs each for a bounded
# time, one after the other (one fuzzer process at a time), then prints what each did.
# Not needed by `make test`: ctest replays the committed corpus with the normal gcc build.
set -euo pipefail

PROG=${0##*/}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)

# Targets, in order, with the -max_len each gets (bytes): the purchase body's limit is 4 KiB
# (SPEC §2); an id is at most 19 digits; paths and header values are short; .jtl and run files
# need room for a header and several rows; runfile_write's input is the bytes a run is built
# from (2 KiB covers every field, 7 outcomes and 15 rows).
TARGETS=(purchase id match_path unescape content_type framing jtl runfile runfile_write jscan)
declare -A MAX_LEN=([purchase]=4200 [id]=32 [match_path]=512 [unescape]=512 [content_type]=256 [framing]=8192
	[jtl]=4096 [runfile]=8192 [runfile_write]=2048 [jscan]=4096)
declare -A DICT=([purchase]=json [runfile]=json [jscan]=json [jtl]=jtl [match_path]=match_path
	[unescape]=unescape [content_type]=content_type)

usage() {
	cat <<EOF
usage: $PROG [options]

Builds the fuzz harnesses (tests/fuzz/fuzz_<target>.c) with clang and libFuzzer
(-fsanitize=fuzzer,address,undefined, CMake option TR_FUZZ) and runs each target in turn
for a bounded time. Each run starts from the committed seeds (tests/fuzz/corpus/<target>)
and crash regressions (tests/fuzz/crashes/<target>) plus a working corpus kept outside the
repository (WORK_DIR/corpus/<target>), where libFuzzer adds every new interesting input.
A crash (or leak, timeout, out-of-memory, broken property) stops that target; its input is
copied to tests/fuzz/crashes/<target>/ so that ctest replays it from then on. At the end a
table gives, per target: seconds, executions, exec/s, coverage (cov: edges and ft: features
from libFuzzer's last stats line), corpus size and crashes. Exit status 1 when anything
crashed, 0 otherwise.

Options:
  --seconds-per-target N  fuzzing time per target (default 60)
  --target NAME           run only this target (repeatable); targets: ${TARGETS[*]}
  --update-corpus         afterwards merge the inputs that add coverage into the committed
                          seeds (tests/fuzz/corpus/<target>, libFuzzer -merge=1); without it
                          the repository's corpus is left alone
  --build-dir DIR         the clang build (default: build-fuzz in the repository)
  --work-dir DIR          working corpus, crash artifacts and logs
                          (default: \${TMPDIR:-/tmp}/ticketrush-fuzz)
  --jobs N                build parallelism (default 2)
  --help                  show this help

Installs clang and libfuzzer-14-dev with apt-get when clang cannot link a libFuzzer binary
(sudo when not root). The other build dependencies come from scripts/bootstrap.sh
(make fuzz runs it first).

Example: $PROG --seconds-per-target 90
Replay one input: BUILD_DIR/fuzz_<target> FILE   (or build/fuzz_replay_<target> FILE with gcc)
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

seconds=60
build="$root/build-fuzz"
work="${TMPDIR:-/tmp}/ticketrush-fuzz"
jobs=2
update=0
only=()
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--seconds-per-target) seconds=${2:?--seconds-per-target needs a number}; shift ;;
	--seconds-per-target=*) seconds=${1#*=} ;;
	--target) only+=("${2:?--target needs a name}"); shift ;;
	--target=*) only+=("${1#*=}") ;;
	--update-corpus) update=1 ;;
	--build-dir) build=${2:?--build-dir needs a directory}; shift ;;
	--work-dir) work=${2:?--work-dir needs a directory}; shift ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "--seconds-per-target must be a positive whole number, not \"$seconds\""
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive whole number, not \"$jobs\""
if ((${#only[@]})); then
	for t in "${only[@]}"; do
		[[ -n ${MAX_LEN[$t]:-} ]] || die "unknown target: $t (targets: ${TARGETS[*]})"
	done
	TARGETS=("${only[@]}")
fi

# --- clang with libFuzzer ---------------------------------------------------------------
libfuzzer_works() {
	local dir rc
	dir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-probe.XXXXXX")
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$dir/probe.c"
	clang -fsanitize=fuzzer,address,undefined "$dir/probe.c" -o "$dir/probe" >/dev/null 2>&1
	rc=$?
	rm -rf "$dir"
	return $rc
}

if ! command -v clang >/dev/null 2>&1 || ! libfuzzer_works; then
	echo "== installing clang and libfuzzer-14-dev (clang cannot link a libFuzzer binary)"
	SUDO=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || die "not root and sudo not found: install clang and libfuzzer-14-dev"
		SUDO=(sudo)
	fi
	"${SUDO[@]}" apt-get update >/dev/null || die "apt-get update failed"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		clang libfuzzer-14-dev >/dev/null || die "apt-get install clang libfuzzer-14-dev failed"
	libfuzzer_works || die "clang still cannot link with -fsanitize=fuzzer"
fi

# --- build -------------------------------------------------------------------------------
echo "== building the fuzzers in $build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DTR_FUZZ=ON >/dev/null || die "cmake configure failed (missing libraries? run scripts/bootstrap.sh)"
cmake --build "$build" --target fuzzers -j "$jobs" >"$build/fuzzers-build.log" 2>&1 ||
	{ tail -n 30 "$build/fuzzers-build.log" >&2; die "building the fuzzers failed"; }

# --- run ---------------------------------------------------------------------------------
mkdir -p "$work/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rows=()
total_crashes=0
for t in "${TARGETS[@]}"; do
	bin="$build/fuzz_$t"
	seeds="$root/tests/fuzz/corpus/$t"
	regress="$root/tests/fuzz/crashes/$t"
	corpus="$work/corpus/$t"
	artifacts="$work/artifacts/$t"
	log="$work/logs/$t.log"
	mkdir -p "$corpus" "$artifacts" "$seeds" "$regress"
	rm -f "$artifacts"/*
	args=(-max_total_time="$seconds" -max_len="${MAX_LEN[$t]}" -timeout=10 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$artifacts/")
	dict="$root/tests/fuzz/dict/${DICT[$t]:-none}.dict"
	[[ -f $dict ]] && args+=(-dict="$dict")
	echo "== fuzzing $t for ${seconds}s (log: $log)"
	start=$(date +%s.%N)
	set +e
	"$bin" "${args[@]}" "$corpus" "$seeds" "$regress" >"$log" 2>&1
	rc=$?
	set -e
	end=$(date +%s.%N)
	# libFuzzer's stats: the last "#N ... cov: C ft: F corp: K/..." line, and print_final_stats.
	stats=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	[[ -n $execs ]] || execs=$(sed -E -n 's/^#([0-9]+).*/\1/p' <<<"$stats")
	cov=$(sed -E -n 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")
	ft=$(sed -E -n 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")
	corp=$(sed -E -n 's/.* corp: ([0-9]+).*/\1/p' <<<"$stats")
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
	[[ -n $rate ]] || rate=$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { printf "%.0f", s > 0 ? n / s : 0 }')
	crashes=0
	for a in "$artifacts"/*; do
		[[ -e $a ]] || continue
		cp -- "$a" "$regress/"
		echo "   $t: $(basename -- "$a") copied to tests/fuzz/crashes/$t/ (see $log)"
		crashes=$((crashes + 1))
	done
	if ((rc != 0 && crashes == 0)); then
		echo "   $t: the fuzzer exited $rc without an artifact (see $log)"
		crashes=1
	fi
	total_crashes=$((total_crashes + crashes))
	if ((update)); then
		"$bin" -merge=1 -max_len="${MAX_LEN[$t]}" "$seeds" "$corpus" >>"$log" 2>&1 ||
			echo "   $t: merging into tests/fuzz/corpus/$t failed (see $log)"
	fi
	rows+=("$t|$secs|${execs:-?}|${rate:-?}|${cov:-?}|${ft:-?}|${corp:-?}|$crashes")
done

echo
printf '%-13s %7s %12s %9s %6s %7s %7s %8s\n' target seconds executions exec/s cov ft corpus crashes
for r in "${rows[@]}"; do
	IFS='|' read -r t s n x c f k k2 <<<"$r"
	printf '%-13s %7s %12s %9s %6s %7s %7s %8s\n' "$t" "$s" "$n" "$x" "$c" "$f" "$k" "$k2"
done
echo
echo "working corpus: $work/corpus   logs: $work/logs"
((total_crashes == 0)) || { echo "crash inputs are in tests/fuzz/crashes/: fix the code, keep them"; exit 1; }
