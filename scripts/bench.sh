#!/usr/bin/env bash
# bench.sh — make bench: the `scale` scenario (100,000 seats, 100 VIP, 1,000,000 customers,
# 1,000,000 requests, 256 virtual users) for the fast strategies, and in the same run the two
# ceilings it is judged against (issue 3):
#   L = the server's own GET /livez throughput, driven by the load generator at the same concurrency
#   S = the redis-atomic purchase script alone against Redis (ticketrush script-ceiling)
#   C = 1 / (1/L + 1/S), the combined ceiling of a purchase through the server on this machine
# It prints each strategy's requests/s and tickets/s (until sold out) and their ratio to C, and
# db-batch's tickets/s against db-atomic's and redis-atomic strict's from the same run (issue 12).
# A benchmark, not a test: it never fails on a figure. Loopback only, bounded in count and time.
# usage: scripts/bench.sh [BIN]
# environment: BENCH_STRATEGIES (default "db-atomic db-batch redis-atomic redis-atomic-strict
# redis-zset"),
# BENCH_REQUESTS (default: the scenario's 1,000,000), BENCH_VUS (default 256), TICKETRUSH_SVC_DIR.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)
bin=$(realpath -- "${1:-$root/build/ticketrush}")
[[ -x $bin ]] || { echo "bench.sh: $bin is not built; run make build" >&2; exit 1; }
strategies=${BENCH_STRATEGIES:-db-atomic db-batch redis-atomic redis-atomic-strict redis-zset}
vus=${BENCH_VUS:-256}
svc=${TICKETRUSH_SVC_DIR:-$root/.svc}
out="$root/results/bench-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
port=$(free_port 18180)

fresh_sale() { # seats the server sells (concert 1) and the script ceiling's own (concert 2)
	"$bin" db schema >/dev/null
	"$bin" db seed --scenario scale --concert 1 >/dev/null
	"$bin" db seed --scenario scale --concert 2 >/dev/null
}

# json_num FILE KEY [last]: a number from a run file (the first occurrence, or the last: "tickets"
# is first the scenario's seats, then the audit's count).
json_num() {
	grep -o "\"$2\": *[-0-9.e+]*" "$1" | if [[ ${3:-} == last ]]; then tail -n 1; else head -n 1; fi |
		sed 's/.*: *//'
}

echo "== private PostgreSQL and Redis ($svc)"
"$here/services.sh" start --dir "$svc" >/dev/null
# shellcheck disable=SC1091
source "$svc/env"

load_args=(--scenario scale --vus "$vus")
[[ -n ${BENCH_REQUESTS:-} ]] && load_args+=(--requests "$BENCH_REQUESTS")
ceiling_requests=${BENCH_REQUESTS:-1000000}

echo
echo "== ceilings at $vus concurrent requests"
fresh_sale
compact_aof
start_server livez "$port" --strategy redis-atomic
"$bin" ceiling --url "http://127.0.0.1:$port" --vus "$vus" --requests "$ceiling_requests" \
	>"$out/ceiling-livez.txt" 2>/dev/null
stop_server
L=$(grep -o '[0-9]* requests/s' "$out/ceiling-livez.txt" | head -n 1 | cut -d' ' -f1)
"$bin" script-ceiling --scenario scale --concert 2 --requests "$ceiling_requests" \
	--connections 2 --in-flight $((vus / 2)) >"$out/ceiling-script.txt"
S=$(grep -o '[0-9]* calls/s' "$out/ceiling-script.txt" | head -n 1 | cut -d' ' -f1)
C=$(awk -v l="$L" -v s="$S" 'BEGIN { printf "%.0f", 1 / (1 / l + 1 / s) }')
# The sale phase has its own, lower ceiling: a call that sells a seat writes (owner, seat count,
# stream entry and their AOF records) where the refusals that make up 90 % of S only read.
S_sale=$(grep -o '[0-9]* tickets/s' "$out/ceiling-script.txt" | head -n 1 | cut -d' ' -f1)
C_sale=$(awk -v l="$L" -v s="${S_sale:-0}" 'BEGIN { printf "%.0f", (s > 0) ? 1 / (1 / l + 1 / s) : 0 }')
L_p99=$(grep -o 'p99 [0-9.]* ms' "$out/ceiling-livez.txt" | head -n 1 | cut -d' ' -f2)
echo "L  server GET /livez:                 $L requests/s   (ticketrush ceiling --vus $vus)"
echo "S  purchase script alone in Redis:    $S calls/s      (ticketrush script-ceiling --connections 2 --in-flight $((vus / 2)))"
echo "C  combined ceiling 1/(1/L + 1/S):    $C requests/s"
echo "S' the script while seats remained:   $S_sale tickets/s    (same script-ceiling run, until its last ticket)"
echo "C' sale ceiling 1/(1/L + 1/S'):       $C_sale requests/s   (neither includes the write-behind to PostgreSQL)"
echo "L p99 at $vus connections:            $L_p99 ms            (/livez does no work: the latency floor of this load)"

runs=()
for s in $strategies; do
	case $s in
	redis-atomic-strict) args=(--strategy redis-atomic --durability strict) ;;
	redis-atomic) args=(--strategy redis-atomic --durability fast) ;;
	*) args=(--strategy "$s") ;;
	esac
	echo
	echo "== $s: scale scenario"
	fresh_sale
	case $s in redis-*) "$bin" db open-sale --concert 1 >/dev/null ;; esac
	compact_aof
	start_server "$s" "$port" "${args[@]}"
	"$bin" load "${load_args[@]}" --strategy "$s" --url "http://127.0.0.1:$port" \
		--time-limit-s 600 --out "$out/run-$s.json" | tail -n 1
	runs+=("$out/run-$s.json")
	stop_server
done

echo
echo "== scale: each strategy against the ceilings measured above"
printf '%-22s %12s %8s %14s %8s %8s %9s %s\n' strategy "requests/s" "÷ C" "tickets/s" "÷ C" "÷ C'" "p99 ms" "sold out after"
for f in "${runs[@]}"; do
	s=$(basename "$f" .json)
	s=${s#run-}
	rpm=$(json_num "$f" requests_per_min)
	tickets=$(json_num "$f" tickets last)
	sold_us=$(json_num "$f" sold_out_after_us)
	p99=$(json_num "$f" p99)
	awk -v s="$s" -v rpm="$rpm" -v t="$tickets" -v su="$sold_us" -v p99="$p99" -v c="$C" -v cs="$C_sale" 'BEGIN {
		rps = rpm / 60
		tps = (su != "" && su > 0) ? t / (su / 1e6) : 0
		printf "%-22s %12.0f %8.2f %14.0f %8.2f %8.2f %9.2f %s\n", s, rps, rps / c, tps, tps / c, (cs > 0) ? tps / cs : 0, p99 / 1000,
			(su != "" && su > 0) ? sprintf("%.2f s", su / 1e6) : "not sold out"
	}'
done | tee "$out/summary.txt"
# db-batch (PostgreSQL only, group commit) against its plain peer and the durable Redis one
tickets_per_s() { awk -v s="$1" '$1 == s { print $4 }' "$out/summary.txt"; }
batch_tps=$(tickets_per_s db-batch)
if [[ -n $batch_tps ]]; then
	for peer in db-atomic redis-atomic-strict; do
		peer_tps=$(tickets_per_s "$peer")
		[[ -n $peer_tps ]] || continue
		awk -v b="$batch_tps" -v p="$peer_tps" -v peer="$peer" 'BEGIN {
			printf "db-batch tickets/s ÷ %-20s %8.2f   (%.0f / %.0f)\n", peer ":", (p > 0) ? b / p : 0, b, p
		}'
	done | tee -a "$out/summary.txt"
fi
echo
echo "commands: scripts/bench.sh $bin   (make bench); results in $out"
"$bin" table "${runs[@]}" | tee "$out/table.txt"
"$bin" report "${runs[@]}" --ceiling "$out/ceiling-livez.txt" --ceiling "$out/ceiling-script.txt" --out "$out/report.html"
