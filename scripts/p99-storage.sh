#!/usr/bin/env bash
# p99-storage.sh — a benchmark, not a test (issue 12 §2): redis-atomic --durability fast with
# every request selling, open loop (load --rate), on two private PostgreSQL + Redis instances at
# once — one with its data (Redis's append-only file, PostgreSQL's WAL) on the disk, one on tmpfs
# (/dev/shm) — and GET /livez at the same rate, interleaved round by round. Prints the winners'
# p50/p99/p99.9 per run: whether the disk's syncs are what a sold ticket's tail waits for.
# usage: scripts/p99-storage.sh [BIN]   (default build/ticketrush)
#   P99_RATE (7000 requests/s), P99_SECONDS (10), P99_ROUNDS (3)
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
case ${1:-} in
-h | --help)
	sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac
bin=$(realpath "${1:-$here/../build/ticketrush}")
[[ -x $bin ]] || { echo "p99-storage.sh: $bin is not an executable (make build)" >&2; exit 2; }
rate=${P99_RATE:-7000}
secs=${P99_SECONDS:-10}
rounds=${P99_ROUNDS:-3}
[[ -d /dev/shm && -w /dev/shm ]] || { echo "p99-storage.sh: needs a writable /dev/shm (tmpfs)" >&2; exit 2; }
out=$here/../results/p99-storage-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
out=$(realpath "$out")
disk=$(mktemp -d "$out/svc-disk.XXXXXX")
shm=$(mktemp -d /dev/shm/ticketrush-p99.XXXXXX)
chmod 755 "$disk" "$shm"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh" # compact_aof, aof_rewrites
spid=''
cleanup() {
	[[ -z $spid ]] || kill -TERM "$spid" 2>/dev/null || true
	"$here/services.sh" stop --purge --dir "$disk" >/dev/null 2>&1 || true
	"$here/services.sh" stop --purge --dir "$shm" >/dev/null 2>&1 || true
	rm -rf -- "$shm"
}
trap cleanup EXIT INT TERM
"$here/services.sh" start --dir "$disk" >/dev/null
"$here/services.sh" start --dir "$shm" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
n=$((rate * secs))
echo "redis-atomic fast, every request selling, open loop at $rate requests/s for $secs s; $rounds rounds"
echo "results: $out"
for round in $(seq "$rounds"); do
	for c in disk tmpfs livez; do
		dir=$disk
		[[ $c == tmpfs ]] && dir=$shm
		# shellcheck disable=SC1091
		source "$dir/env"
		if [[ $c != livez ]]; then
			"$bin" db schema >/dev/null
			"$bin" db seed --scenario scale --concert 1 --tickets "$n" >/dev/null
			"$bin" db open-sale --concert 1 >/dev/null
			# Rewrite the AOF now (it holds the 1,000,000 customers open-sale just loaded), so
			# Redis does not start an automatic rewrite inside the run: its child takes a core
			# for 1-3 s (session 8: p99 350-550 ms while it ran). A rewrite still seen is flagged.
			compact_aof
			rw0=$(aof_rewrites)
		fi
		"$bin" serve --strategy redis-atomic --durability fast --port "$port" >"$out/server-$c-$round.log" 2>&1 &
		spid=$!
		for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/livez" >/dev/null && break; sleep 0.1; done
		if [[ $c == livez ]]; then
			"$bin" ceiling --url "http://127.0.0.1:$port" --vus 64 --rate "$rate" --requests "$n" \
				--progress off >"$out/livez-$round.txt" 2>&1
			echo "round $round  /livez   $(grep -o 'p99 [0-9.]* ms' "$out/livez-$round.txt" | head -n 1)"
		else
			"$bin" load --scenario scale --strategy redis-atomic --url "http://127.0.0.1:$port" \
				--requests "$n" --tickets "$n" --rate "$rate" --vus 64 --time-limit-s $((secs + 60)) \
				--drain-timeout-s 30 --out "$out/$c-$round.json" --quiet >/dev/null
			flag=''
			[[ $(aof_rewrites) == "$rw0" ]] || flag=' (an AOF rewrite ran during it)'
			"$bin" table --latency "$out/$c-$round.json" | awk -v r="$round" -v c="$c" -v f="$flag" 'NR == 2 {
				printf "round %s  %-7s  late %s  winners p50 %s ms, p99 %s ms, p99.9 %s ms%s\n", r, c, $4, $8, $9, $10, f }'
		fi
		kill -TERM "$spid"
		wait "$spid" 2>/dev/null || true
		spid=''
	done
done
echo "command: P99_RATE=$rate P99_SECONDS=$secs P99_ROUNDS=$rounds scripts/p99-storage.sh $bin"
