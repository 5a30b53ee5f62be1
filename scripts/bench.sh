#!/usr/bin/env bash
# bench.sh — make bench: the `scale` scenario (100,000 seats, 100 VIP, 1,000,000 customers,
# 1,000,000 requests, 256 virtual users) for the fast strategies, and in the same run the two
# ceilings it is judged against (issue 3):
#   L = the server's own GET /livez throughput, driven by the load generator at the same concurrency
#   S = the redis-atomic purchase script alone against Redis (ticketrush script-ceiling)
#   C = 1 / (1/L + 1/S), the combined ceiling of a purchase through the server on this machine
#   P = redis-atomic's persister alone storing a stream of tickets (ticketrush store-ceiling), and
#   C'' = 1 / (1/L + 1/S' + 1/P), the whole work of a sold ticket (S' = the script while seats
#   remain)
# It prints each strategy's requests/s and tickets/s (until sold out) and their ratio to C, and
# db-batch's tickets/s against db-atomic's and redis-atomic strict's from the same run (issue 12),
# tickets/s until durable (PostgreSQL holds every acknowledged ticket) against C'', an all-sell
# case (a seat for every request) and an open-loop rate sweep.
# A benchmark, not a test: it never fails on a figure. Loopback only, bounded in count and time.
# usage: scripts/bench.sh [BIN]
# environment: BENCH_STRATEGIES (default "db-atomic db-batch redis-atomic redis-atomic-strict
# redis-zset"),
# BENCH_REQUESTS (default: the scenario's 1,000,000), BENCH_VUS (default 256), TICKETRUSH_SVC_DIR,
# BENCH_ALLSELL (0 skips the all-sell runs), BENCH_ALLSELL_REQUESTS, BENCH_SWEEP (0 skips the
# rate sweep), BENCH_SWEEP_SECONDS, BENCH_SWEEP_PCTS.
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
# The write-behind shares the cores too: P = the persister alone storing a stream of tickets
# (ticketrush store-ceiling, concert 3, the server's batch size), and the whole-work ceiling
# C'' = 1/(1/L + 1/S' + 1/P) of a sold ticket (issue 12 §3).
"$bin" db seed --scenario scale --concert 3 >/dev/null
"$bin" store-ceiling --concert 3 --persist-batch 1000 >"$out/ceiling-store.txt"
P=$(grep -o '[0-9]* tickets/s' "$out/ceiling-store.txt" | head -n 1 | cut -d' ' -f1)
C_whole=$(awk -v l="$L" -v s="${S_sale:-0}" -v p="${P:-0}" 'BEGIN { printf "%.0f", (s > 0 && p > 0) ? 1 / (1 / l + 1 / s + 1 / p) : 0 }')
L_p99=$(grep -o 'p99 [0-9.]* ms' "$out/ceiling-livez.txt" | head -n 1 | cut -d' ' -f2)
echo "L  server GET /livez:                 $L requests/s   (ticketrush ceiling --vus $vus)"
echo "S  purchase script alone in Redis:    $S calls/s      (ticketrush script-ceiling --connections 2 --in-flight $((vus / 2)))"
echo "C  combined ceiling 1/(1/L + 1/S):    $C requests/s"
echo "S' the script while seats remained:   $S_sale tickets/s    (same script-ceiling run, until its last ticket)"
echo "C' sale ceiling 1/(1/L + 1/S'):       $C_sale requests/s   (neither includes the write-behind to PostgreSQL)"
echo "P  the persister alone:              $P tickets/s    (ticketrush store-ceiling: a stream of 100,000 tickets into PostgreSQL)"
echo "C'' whole-work ceiling 1/(1/L+1/S'+1/P): $C_whole requests/s   (every sold ticket: HTTP, script and write-behind)"
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
# summary_table RUN…: one row per run file. tickets/s counts until sold out (the answers); durable
# t/s until PostgreSQL held every acknowledged ticket (the audit's drain: drained_after_us), the
# figure the whole-work ceiling C'' is about — a write-behind strategy answers faster than it
# stores, and its tickets/s ÷ C'' can pass 1 while the write-behind catches up after the sale.
summary_table() {
	printf '%-22s %12s %8s %14s %8s %8s %8s %12s %8s %9s %s\n' strategy "requests/s" "÷ C" "tickets/s" "÷ C" "÷ C'" "÷ C''" "durable t/s" "÷ C''" "p99 ms" "sold out after"
	local f s rpm tickets sold_us drained_us p99
	for f in "$@"; do
		s=$(basename "$f" .json)
		s=${s#run-}
		s=${s#allsell-}
		rpm=$(json_num "$f" requests_per_min)
		tickets=$(json_num "$f" tickets last)
		sold_us=$(json_num "$f" sold_out_after_us)
		drained_us=$(json_num "$f" drained_after_us)
		p99=$(json_num "$f" p99)
		awk -v s="$s" -v rpm="$rpm" -v t="$tickets" -v su="$sold_us" -v du="$drained_us" -v p99="$p99" -v c="$C" -v cs="$C_sale" -v cw="$C_whole" 'BEGIN {
			rps = rpm / 60
			tps = (su != "" && su > 0) ? t / (su / 1e6) : 0
			dps = (du != "" && du > 0) ? t / (du / 1e6) : 0
			printf "%-22s %12.0f %8.2f %14.0f %8.2f %8.2f %8.2f %12.0f %8.2f %9.2f %s\n", s, rps, rps / c, tps, tps / c, (cs > 0) ? tps / cs : 0, (cw > 0) ? tps / cw : 0, dps, (cw > 0) ? dps / cw : 0, p99 / 1000,
				(su != "" && su > 0) ? sprintf("%.2f s", su / 1e6) : "not sold out"
		}'
	done
}
summary_table "${runs[@]}" | tee "$out/summary.txt"
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

# ---- all-sell (issue 12 §3): every request sells ---------------------------------------------
# The scale scenario's customers each buy once and the concert has a seat for every request, so
# each answer is a 201 and each costs the whole work of a sold ticket (script writes, the
# write-behind, PostgreSQL's insert): the figure to watch when making a sold ticket cheaper.
# redis-atomic fast and strict (when listed in BENCH_STRATEGIES) and db-batch; BENCH_ALLSELL=0
# skips it, BENCH_ALLSELL_REQUESTS (default BENCH_REQUESTS, else 1,000,000) sets its size.
if [[ ${BENCH_ALLSELL:-1} != 0 ]]; then
	allsell_requests=${BENCH_ALLSELL_REQUESTS:-$ceiling_requests}
	allsell_runs=()
	for s in redis-atomic redis-atomic-strict db-batch; do
		[[ " $strategies " == *" $s "* ]] || continue
		case $s in
		redis-atomic-strict) args=(--strategy redis-atomic --durability strict) ;;
		redis-atomic) args=(--strategy redis-atomic --durability fast) ;;
		*) args=(--strategy "$s") ;;
		esac
		echo
		echo "== all-sell $s: $allsell_requests requests, as many seats"
		"$bin" db schema >/dev/null
		"$bin" db seed --scenario scale --concert 1 --tickets "$allsell_requests" >/dev/null
		case $s in redis-*) "$bin" db open-sale --concert 1 >/dev/null ;; esac
		compact_aof
		start_server "allsell-$s" "$port" "${args[@]}"
		"$bin" load --scenario scale --tickets "$allsell_requests" --requests "$allsell_requests" \
			--vus "$vus" --strategy "$s" --url "http://127.0.0.1:$port" --time-limit-s 900 \
			--out "$out/allsell-$s.json" | tail -n 1
		allsell_runs+=("$out/allsell-$s.json")
		stop_server
	done
	if ((${#allsell_runs[@]})); then
		echo
		echo "== all-sell: every request sells (requests/s = tickets/s; the ceiling is C'' = $C_whole)"
		summary_table "${allsell_runs[@]}" | tee "$out/allsell.txt"
		echo "commands: BENCH_ALLSELL_REQUESTS=$allsell_requests scripts/bench.sh $bin"
	fi
fi

# ---- rate sweep (issue 12 §2): open-loop latency, without coordinated omission ----------------
# For redis-atomic fast and strict, db-atomic and db-batch (when `ticketrush strategies` lists it
# and it ran above), an open loop (load --rate) at 25/50/75/90/100 % of that strategy's
# closed-loop requests/s measured above, BENCH_SWEEP_SECONDS (10) s per point on a fresh sale of
# as many seats as half the point's requests (the scale scenario's customers, each once), so
# every point has winners (201, the sale's writes) and losers (409 sold_out, reads): p50/p99/
# p99.9 of both, each latency counted from the request's scheduled send time; then GET /livez at
# redis-atomic fast's offered rates, and the highest offered rate each strategy sustained with
# p99 ≤ 100 ms. BENCH_SWEEP=0 skips it.
if [[ ${BENCH_SWEEP:-1} != 0 ]]; then
	sweep_secs=${BENCH_SWEEP_SECONDS:-10}
	sweep_pcts=${BENCH_SWEEP_PCTS:-25 50 75 90 100}
	sweep_runs=()
	sweep_note=()
	sweep_sale() { # SEATS: a fresh concert 1 for every point, every seat for sale
		"$bin" db schema >/dev/null
		"$bin" db seed --scenario scale --concert 1 --tickets "$1" >/dev/null
	}
	declare -A sweep_rate=()
	for s in redis-atomic redis-atomic-strict db-atomic db-batch; do
		if [[ $s == db-batch ]] && ! "$bin" strategies | grep -qw db-batch; then
			sweep_note+=("db-batch: skipped (ticketrush strategies does not list it)")
			continue
		fi
		if [[ ! -f $out/run-$s.json ]]; then
			sweep_note+=("$s: skipped (no closed-loop run above; BENCH_STRATEGIES)")
			continue
		fi
		rps=$(awk -v rpm="$(json_num "$out/run-$s.json" requests_per_min)" 'BEGIN { printf "%.0f", rpm / 60 }')
		case $s in
		redis-atomic-strict) args=(--strategy redis-atomic --durability strict) ;;
		redis-atomic) args=(--strategy redis-atomic --durability fast) ;;
		*) args=(--strategy "$s") ;;
		esac
		echo
		echo "== sweep $s: open loop at $sweep_pcts % of $rps requests/s, $sweep_secs s each"
		for pct in $sweep_pcts; do
			rate=$((rps * pct / 100))
			((rate > 0)) || continue
			[[ $s == redis-atomic ]] && sweep_rate[$pct]=$rate
			seats=$((rate * sweep_secs / 2))
			((seats >= 100)) || seats=100 # the scenario's VIP seats
			sweep_sale "$seats"
			case $s in redis-*) "$bin" db open-sale --concert 1 >/dev/null ;; esac
			compact_aof
			start_server "sweep-$s" "$port" "${args[@]}"
			f="$out/sweep-$s-$pct.json"
			"$bin" load --scenario scale --strategy "$s" --url "http://127.0.0.1:$port" \
				--requests $((rate * sweep_secs)) --tickets "$seats" --rate "$rate" --vus 64 \
				--time-limit-s $((sweep_secs + 60)) --drain-timeout-s 60 --out "$f" --quiet \
				>/dev/null || echo "  $pct %: the load failed (see $out/server-sweep-$s.log)"
			stop_server
			[[ -f $f ]] && sweep_runs+=("$f")
			echo "  $pct %: $rate requests/s offered, $seats seats → $f"
		done
	done
	if ((${#sweep_rate[@]})); then
		echo
		echo "== sweep GET /livez at redis-atomic fast's offered rates"
		start_server sweep-livez "$port" --strategy redis-atomic
		for pct in $sweep_pcts; do
			[[ -n ${sweep_rate[$pct]:-} ]] || continue
			rate=${sweep_rate[$pct]}
			"$bin" ceiling --url "http://127.0.0.1:$port" --vus 64 --rate "$rate" \
				--requests $((rate * sweep_secs)) --progress off >"$out/sweep-livez-$pct.txt"
			echo "  $pct %: $rate requests/s → $(grep -o 'p99 [0-9.]* ms' "$out/sweep-livez-$pct.txt" | head -n 1)"
		done
		stop_server
	fi
	if ((${#sweep_runs[@]})); then
		echo
		echo "== sweep: latency from the scheduled send time (ms; win = 201/202, lose = 409/503)"
		"$bin" table --latency "${sweep_runs[@]}" | tee "$out/sweep.txt"
		echo
		echo "highest offered rate sustained with p99 (every answer) ≤ 100 ms:"
		# columns of table --latency: 1 strategy, 2 offered/s, 6 p99 ms
		tail -n +2 "$out/sweep.txt" | awk '{
			if (!($1 in best)) best[$1] = "none"
			if ($6 != "-" && $6 + 0 <= 100 && ($1 in hi ? $2 + 0 > hi[$1] : 1)) { hi[$1] = $2 + 0; best[$1] = $2 " requests/s" }
		} END { for (s in best) printf "  %-22s %s\n", s, best[s] }' | sort | tee -a "$out/sweep.txt"
		if [[ -f $out/sweep-livez-50.txt && -f $out/sweep-redis-atomic-50.json ]]; then
			lp99=$(grep -o 'p99 [0-9.]* ms' "$out/sweep-livez-50.txt" | head -n 1 | cut -d' ' -f2)
			wp99=$("$bin" table --latency "$out/sweep-redis-atomic-50.json" | awk 'NR == 2 { print $9 }')
			awk -v w="$wp99" -v l="$lp99" 'BEGIN {
				printf "target (issue 12): redis-atomic fast at 50 %%: winners p99 %s ms vs GET /livez p99 %s ms at the same rate: %.2f x (%s 2 x)\n",
					w, l, (l > 0) ? w / l : 0, (l > 0 && w / l <= 2) ? "within" : "NOT within"
			}' | tee -a "$out/sweep.txt"
		fi
		for note in "${sweep_note[@]}"; do echo "note: $note"; done | tee -a "$out/sweep.txt"
		echo "commands: BENCH_SWEEP_SECONDS=$sweep_secs scripts/bench.sh $bin; ticketrush table --latency $out/sweep-*.json"
		"$bin" report "${sweep_runs[@]}" --title "ticketrush open-loop sweep" --out "$out/sweep-report.html" >/dev/null
		echo "sweep report: $out/sweep-report.html"
	fi
fi
