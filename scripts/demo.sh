#!/usr/bin/env bash
# demo.sh — the main job (make demo): reproduce the study's experiment for each strategy on the
# lab's `seed` scenario (1,000 seats, 10 VIP, 10,000 customers, 50,000 requests, 200 virtual
# users), audit every run against PostgreSQL, and print one comparison table.
# usage: scripts/demo.sh [BIN]   (BIN defaults to build/ticketrush)
# environment: DEMO_STRATEGIES (default: all eight — naive db-lock db-atomic db-batch redis-lock
# redis-lock-cache redis-zset redis-atomic; naive runs on the unguarded schema),
# DEMO_REQUESTS / DEMO_VUS to override the scenario's load, TICKETRUSH_SVC_DIR.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)
bin=$(realpath -- "${1:-$root/build/ticketrush}")
[[ -x $bin ]] || { echo "demo.sh: $bin is not built; run make build" >&2; exit 1; }
strategies=${DEMO_STRATEGIES:-naive db-lock db-atomic db-batch redis-lock redis-lock-cache redis-zset redis-atomic}
svc=${TICKETRUSH_SVC_DIR:-$root/.svc}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/results/demo-$stamp"
mkdir -p "$out"

# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

echo "== private PostgreSQL and Redis ($svc)"
"$here/services.sh" start --dir "$svc" >/dev/null
# shellcheck disable=SC1091
source "$svc/env"
echo "   TICKETRUSH_PG=$TICKETRUSH_PG"
echo "   TICKETRUSH_REDIS=$TICKETRUSH_REDIS"

load_args=(--scenario seed)
[[ -n ${DEMO_REQUESTS:-} ]] && load_args+=(--requests "$DEMO_REQUESTS")
[[ -n ${DEMO_VUS:-} ]] && load_args+=(--vus "$DEMO_VUS")

port=$(free_port 18080)
runs=()
for s in $strategies; do
	schema=()
	[[ $s == naive ]] && schema=(--unguarded)
	echo
	echo "== $s: fresh ${schema:+unguarded }schema, seed scenario"
	"$bin" db schema "${schema[@]}" >/dev/null
	"$bin" db seed --scenario seed >/dev/null
	# the Redis strategies load the sale into Redis before the rush, as an operator would
	case $s in redis-zset | redis-atomic) "$bin" db open-sale >/dev/null ;; esac
	start_server "$s" "$port" --strategy "$s"
	"$bin" load "${load_args[@]}" --strategy "$s" --url "http://127.0.0.1:$port" \
		--out "$out/run-$s.json"
	runs+=("$out/run-$s.json")
	stop_server
done

echo
echo "== load generator ceiling against GET /livez, beside wrk on the same endpoint"
start_server livez "$port" --strategy db-atomic
"$bin" ceiling --url "http://127.0.0.1:$port" --vus 200 --requests 200000 | tee "$out/ceiling.txt"
if command -v wrk >/dev/null; then
	echo "wrk -t1 -c200 -d5s http://127.0.0.1:$port/livez" | tee -a "$out/ceiling.txt"
	wrk -t1 -c200 -d5s "http://127.0.0.1:$port/livez" | grep -E 'Requests/sec|Latency' | tee -a "$out/ceiling.txt"
fi
stop_server

echo
echo "== comparison (seed scenario: 1000 seats, 10 VIP, 10000 customers)"
"$bin" table "${runs[@]}" | tee "$out/table.txt"
echo
echo "run files:"
printf '  %s\n' "${runs[@]}"
echo "table: $out/table.txt"

echo
echo "== HTML report (charts, audit R1-R8, the study's figures and the ceilings as ratios)"
"$bin" report "${runs[@]}" --ceiling "$out/ceiling.txt" --out "$out/report.html"
