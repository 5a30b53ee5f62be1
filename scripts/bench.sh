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
# case (a seat for every request), an open-loop rate sweep, and the scale-out table (plain Redis,
# a 1-master and a 3-master Redis Cluster, one concert on one master; durability modes).
# A benchmark, not a test: it never fails on a figure. Loopback only, bounded in count and time.
# usage: scripts/bench.sh [BIN]
# environment: BENCH_STRATEGIES (default "db-atomic db-batch redis-atomic redis-atomic-strict
# redis-zset"),
# BENCH_REQUESTS (default: the scenario's 1,000,000), BENCH_VUS (default 256), TICKETRUSH_SVC_DIR,
# BENCH_ALLSELL (0 skips the all-sell runs), BENCH_ALLSELL_REQUESTS, BENCH_SWEEP (0 skips the
# rate sweep), BENCH_SWEEP_SECONDS, BENCH_SWEEP_PCTS, BENCH_SWEEP_ROUNDS, BENCH_CLUSTER (0 skips the scale-out section:
# plain Redis vs a 1-master and a 3-master Redis Cluster, issue 11), BENCH_CLUSTER_REQUESTS,
# BENCH_CLUSTER_CONCERTS, BENCH_CLUSTER_ROUNDS, BENCH_CLUSTER_PORT (62379: the clusters' first port),
# BENCH_SCALE (0 skips the ceilings, the scale table, the all-sell runs
# and the sweep, which use them: BENCH_SCALE=0 make bench runs only the scale-out section).
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

# BENCH_SCALE=0 skips the ceilings and the scale table (to run only the later sections).
if [[ ${BENCH_SCALE:-1} != 0 ]]; then
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
fi # BENCH_SCALE

# ---- all-sell (issue 12 §3): every request sells ---------------------------------------------
# The scale scenario's customers each buy once and the concert has a seat for every request, so
# each answer is a 201 and each costs the whole work of a sold ticket (script writes, the
# write-behind, PostgreSQL's insert): the figure to watch when making a sold ticket cheaper.
# redis-atomic fast and strict (when listed in BENCH_STRATEGIES) and db-batch; BENCH_ALLSELL=0
# skips it, BENCH_ALLSELL_REQUESTS (default BENCH_REQUESTS, else 1,000,000) sets its size.
if [[ ${BENCH_ALLSELL:-1} != 0 && ${BENCH_SCALE:-1} != 0 ]]; then
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
# and it ran above), an open loop (load --rate) at BENCH_SWEEP_PCTS (25/50/75/90/100) % of that
# strategy's capacity, BENCH_SWEEP_SECONDS (10) s per point: p50/p99/p99.9 of winners and losers,
# each latency counted from the request's scheduled send time; then GET /livez at redis-atomic
# fast's offered rates, the highest offered rate each strategy sustained with p99 ≤ 100 ms, and
# the target's check (fast's winners' p99 at 50 % against /livez's, BENCH_SWEEP_ROUNDS (3)
# interleaved rounds, their median). BENCH_SWEEP=0 skips it.
# The mix is the same at every instant of a point: each request goes to one of two concerts
# drawn with equal odds (load --concerts 2 --zipf-s 0): concert 1 is on sale with a seat for
# every request it can get (55 % of the point's requests), concert 2's sale has closed (409
# sales_closed, a read). So winners and losers are interleaved over the whole point and "50 %"
# holds throughout. (Before: one concert with seats for half the requests, so every winner came
# in the first half: at "50 %" of the mix's capacity the sale phase was offered 90 % of what the
# strategy sells — measured, p50 6-12 ms all through it.) The capacity is a closed loop on the
# same mix. Each Redis point starts after an AOF compaction (BGREWRITEAOF); when Redis still
# starts an automatic rewrite during a point (auto-aof-rewrite-percentage, as shipped) the
# point is flagged: the rewrite's child takes a core for 1-3 s on this 2-core machine, which
# halves the capacity under the point (measured: p99 350-550 ms while it ran).
if [[ ${BENCH_SWEEP:-1} != 0 && ${BENCH_SCALE:-1} != 0 ]]; then
	sweep_secs=${BENCH_SWEEP_SECONDS:-10}
	sweep_pcts=${BENCH_SWEEP_PCTS:-25 50 75 90 100}
	sweep_rounds=${BENCH_SWEEP_ROUNDS:-3}
	sweep_runs=()
	sweep_note=()
	sweep_sale() { # SEATS: concert 1 on sale, concert 2 (as many seats) closed a minute ago
		"$bin" db schema >/dev/null
		"$bin" db seed --scenario scale --concert 2 --concerts 1 --tickets "$1" --sales-open -60 >/dev/null
		"$bin" db seed --scenario scale --concert 1 --concerts 1 --tickets "$1" >/dev/null
	}
	# sweep_point S RATE OUT ARGS...: a fresh sale, a fresh server (ARGS), the open loop; sets
	# point_flag to " (an AOF rewrite ran during it)" when Redis rewrote its AOF meanwhile (no
	# subshell: the bench's exit trap must see the server it started)
	sweep_point() {
		local s=$1 rate=$2 f=$3 n seats rw0 rw1
		shift 3
		n=$((rate * sweep_secs))
		seats=$((n * 55 / 100))
		((seats >= 100)) || seats=100 # the scenario's VIP seats
		point_flag=''
		sweep_sale "$seats"
		case $s in redis-*) "$bin" db open-sale --concert 1 --concerts 2 >/dev/null ;; esac
		compact_aof
		rw0=$(aof_rewrites)
		start_server "sweep-$s" "$port" "$@"
		"$bin" load --scenario scale --strategy "$s" --url "http://127.0.0.1:$port" \
			--concerts 2 --zipf-s 0 --requests "$n" --tickets "$seats" --rate "$rate" --vus 64 \
			--time-limit-s $((sweep_secs + 60)) --drain-timeout-s 60 --out "$f" --quiet \
			>/dev/null || point_flag=" (the load failed: see $out/server-sweep-$s.log)"
		stop_server
		rw1=$(aof_rewrites)
		[[ $s != redis-* || $rw0 == "$rw1" ]] || point_flag+=" (an AOF rewrite ran during it)"
	}
	livez_p99() { # RATE OUT: GET /livez at RATE for the point's length; sets livez_ms (its p99)
		start_server sweep-livez "$port" --strategy redis-atomic
		"$bin" ceiling --url "http://127.0.0.1:$port" --vus 64 --rate "$1" \
			--requests $(($1 * sweep_secs)) --progress off >"$2"
		stop_server
		livez_ms=$(grep -o 'p99 [0-9.]* ms' "$2" | head -n 1 | cut -d' ' -f2)
	}
	win_p99() { "$bin" table --latency "$1" | awk 'NR == 2 { print $9 }'; } # column: win p99 ms
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
		# the capacity on the sweep's mix: a closed loop (the scale run's virtual users)
		cap_requests=$((rps * sweep_secs))
		((cap_requests >= 200)) || cap_requests=200
		cap_seats=$((cap_requests * 55 / 100))
		sweep_sale "$cap_seats"
		case $s in redis-*) "$bin" db open-sale --concert 1 --concerts 2 >/dev/null ;; esac
		compact_aof
		start_server "sweep-$s" "$port" "${args[@]}"
		"$bin" load --scenario scale --vus "$vus" --strategy "$s" --url "http://127.0.0.1:$port" \
			--concerts 2 --zipf-s 0 --requests "$cap_requests" --tickets "$cap_seats" --time-limit-s 600 \
			--out "$out/sweep-capacity-$s.json" --quiet >/dev/null ||
			echo "  capacity: the load failed (see $out/server-sweep-$s.log)"
		stop_server
		scale_rps=$rps
		rps=$(awk -v rpm="$(json_num "$out/sweep-capacity-$s.json" requests_per_min)" 'BEGIN { printf "%.0f", rpm / 60 }')
		echo
		echo "== sweep $s: capacity on the sweep's mix (closed loop, $cap_requests requests, half to a closed concert): $rps requests/s (scale: $scale_rps)"
		echo "   open loop at $sweep_pcts % of $rps requests/s, $sweep_secs s each"
		for pct in $sweep_pcts; do
			rate=$((rps * pct / 100))
			((rate > 0)) || continue
			[[ $s == redis-atomic ]] && sweep_rate[$pct]=$rate
			f="$out/sweep-$s-$pct.json"
			sweep_point "$s" "$rate" "$f" "${args[@]}"
			[[ -f $f ]] && sweep_runs+=("$f")
			echo "  $pct %: $rate requests/s offered → $f$point_flag"
			[[ -z $point_flag ]] || sweep_note+=("$s at $pct %:$point_flag")
		done
	done
	if ((${#sweep_rate[@]})); then
		echo
		echo "== sweep GET /livez at redis-atomic fast's offered rates"
		for pct in $sweep_pcts; do
			[[ -n ${sweep_rate[$pct]:-} ]] || continue
			rate=${sweep_rate[$pct]}
			livez_p99 "$rate" "$out/sweep-livez-$pct.txt"
			echo "  $pct %: $rate requests/s → p99 $livez_ms ms"
		done
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
	fi
	# The target (issue 12 §2): fast's winners' p99 at 50 % within 2 x GET /livez's p99 at the
	# same rate. One pair is noise on a shared 2-core machine (its steal time alone moves /livez's
	# p99 from 0.6 to 10 ms): BENCH_SWEEP_ROUNDS pairs, each a fast point then /livez, and the
	# median of their ratios.
	if [[ -n ${sweep_rate[50]:-} ]] && ((sweep_rounds > 0)); then
		rate=${sweep_rate[50]}
		echo
		echo "== target (issue 12): redis-atomic fast at 50 % ($rate requests/s), winners' p99 vs GET /livez's p99, $sweep_rounds interleaved rounds"
		ratios=()
		for r in $(seq "$sweep_rounds"); do
			f="$out/sweep-target-$r.json"
			sweep_point redis-atomic "$rate" "$f" --strategy redis-atomic --durability fast
			w=$(win_p99 "$f")
			livez_p99 "$rate" "$out/sweep-target-livez-$r.txt"
			l=$livez_ms
			ratio=$(awk -v w="$w" -v l="$l" 'BEGIN { printf "%.2f", (l > 0) ? w / l : 0 }')
			ratios+=("$ratio")
			echo "  round $r: winners p99 $w ms, /livez p99 $l ms: $ratio x$point_flag" | tee -a "$out/sweep.txt"
		done
		printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "  median %.2f x (%s 2 x)\n", m, (m <= 2) ? "within" : "NOT within"
		}' | tee -a "$out/sweep.txt"
	fi
	if ((${#sweep_runs[@]})); then
		for note in "${sweep_note[@]}"; do echo "note: $note"; done | tee -a "$out/sweep.txt"
		echo "commands: BENCH_SWEEP_SECONDS=$sweep_secs BENCH_SWEEP_ROUNDS=$sweep_rounds scripts/bench.sh $bin; ticketrush table --latency $out/sweep-*.json"
		"$bin" report "${sweep_runs[@]}" --title "ticketrush open-loop sweep" --out "$out/sweep-report.html" >/dev/null
		echo "sweep report: $out/sweep-report.html"
	fi
fi

# ---- scale-out (issue 11 §7): plain Redis, a 1-master cluster, a 3-master cluster ------------
# redis-atomic through the server, the same closed-loop load on every row: K concerts
# (BENCH_CLUSTER_CONCERTS, default 6) on sale at once, each request's concert drawn uniformly
# (load --zipf-s 0, so each master of the 3-master cluster gets the same share), the scale
# scenario's customers each once (no repeat purchases), BENCH_CLUSTER_REQUESTS (150,000)
# requests on $vus virtual users, seats for 30 % of them (the rest are refused sold_out: reads).
#   (a) plain Redis (the bench's own)              (b) a 1-master cluster: what routing costs
#   (c) a 3-master cluster, concerts on all three  (d) one concert (all the seats) on one master
#       of (c): the per-shard figure, one concert's ceiling; its peer (a1): that one concert on
#       plain Redis (one concert's sale differs from six's: one stream, bigger persister batches)
#   then (c) again with --durability replicated (WAIT 1) and strict (PostgreSQL commit).
# Every row uses the bench's PostgreSQL; each cluster is private (services.sh start --cluster,
# a replica per master, AOF on like the plain Redis) and stopped when its rows are done. Each
# row prints requests/s and tickets/s (until the last ticket was answered) with its ratio to (a)
# measured minutes before, p99, the load's wall time and the CPU seconds the server and the Redis
# processes used during it (masters / replicas: on 2 shared cores a replica's CPU is taken from
# everything else), that CPU per request (server + Redis, µs; steadier than a rate on a shared
# machine, whose other work takes cores but not this work's CPU time) and its ratio to (a), the
# machine's 1-minute load average when the row ended, and the audit; (a)
# runs again last, to show how far the shared machine drifted meanwhile. Then the purchase
# script alone (script-ceiling) on plain Redis and on the master of the 3-master cluster that
# holds the first concert. BENCH_CLUSTER_ROUNDS=N (1..9, default 1) runs every row N times,
# interleaved, and prints medians (a row's ratio to (a) taken within each round).
# BENCH_CLUSTER=0 skips the section; one round takes about 3 minutes on 2 cores (3 rounds: 7).
if [[ ${BENCH_CLUSTER:-1} != 0 ]]; then
	cl_requests=${BENCH_CLUSTER_REQUESTS:-150000}
	cl_concerts=${BENCH_CLUSTER_CONCERTS:-6}
	cl_rounds=${BENCH_CLUSTER_ROUNDS:-1}
	# The clusters' ports: a range of their own (services.sh TICKETRUSH_CLUSTER_PORT), away from
	# the default one where tests and fault runs kill and restart nodes.
	cl_port_first=${BENCH_CLUSTER_PORT:-62379}
	if ! [[ $cl_requests =~ ^[1-9][0-9]{0,8}$ && $cl_concerts =~ ^[1-9][0-9]?$ && $cl_rounds =~ ^[1-9]$ ]]; then
		echo "bench.sh: BENCH_CLUSTER_REQUESTS must be a positive integer, BENCH_CLUSTER_CONCERTS 1..99 and BENCH_CLUSTER_ROUNDS 1..9" >&2
		exit 2
	fi
	cl_seats=$((cl_requests * 3 / 10 / cl_concerts)) # per concert
	((cl_seats >= 100)) || cl_seats=100                # the scale scenario's VIP seats
	cl_dirs=()
	cl_cleanup() {
		stop_server
		local d
		for d in "${cl_dirs[@]}"; do "$here/services.sh" stop --purge --dir "$d" >/dev/null 2>&1 || true; done
		lab_cleanup
	}
	trap cl_cleanup EXIT
	plain_redis=$TICKETRUSH_REDIS
	plain_dir=$svc

	# cluster_up MASTERS -> starts a private cluster in $svc-clusterN, sets cl_seeds (its masters)
	cluster_up() {
		local d="$svc-cluster$1"
		cl_dirs+=("$d")
		"$here/services.sh" stop --purge --dir "$d" >/dev/null 2>&1 || true
		TICKETRUSH_CLUSTER_PORT=$cl_port_first "$here/services.sh" start --cluster "$1" --dir "$d" \
			>"$out/services-cluster$1.log" 2>&1 || {
			echo "bench.sh: could not start a $1-master cluster (services.sh start --cluster $1); its output:" >&2
			tail -n 20 "$out/services-cluster$1.log" >&2
			exit 1
		}
		cl_seeds=$(sed -n "s/^export TICKETRUSH_REDIS_CLUSTER='\(.*\)'$/\1/p" "$d/env")
	}
	cluster_down() { # MASTERS: keeps the nodes' logs in the results, then stops and purges
		local f
		for f in "$svc-cluster$1"/cluster/node-*/redis.log; do
			[[ -f $f ]] && cp "$f" "$out/cluster$1-$(basename "$(dirname "$f")").log"
		done
		"$here/services.sh" stop --purge --dir "$svc-cluster$1" >/dev/null 2>&1 || true
	}
	# masters_of DIR -> the ports of the directory's masters, sorted, on one line: a row during
	# which they change saw a failover (or another cluster's client on a reused port)
	masters_of() {
		local port pid
		while read -r port pid; do
			[[ $(redis-cli -p "$port" role 2>/dev/null | head -n 1) != master ]] || echo "$port"
		done < <(redis_nodes "$1") | sort -n | tr '\n' ' '
	}
	# redis_nodes DIR -> "port pid" of every redis-server the services directory runs
	redis_nodes() {
		local f conf
		for f in "$1"/redis/redis.pid "$1"/cluster/node-*/redis.pid; do
			[[ -f $f ]] || continue
			conf=${f%/redis.pid}/redis.conf
			printf '%s %s\n' "$(sed -n 's/^port \([0-9]*\)$/\1/p' "$conf")" "$(tr -dc 0-9 <"$f")"
		done
	}
	cpu_ticks() { # PID -> utime + stime in clock ticks (0 when gone)
		awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
	}
	# redis_cpu DIR -> "master-ticks replica-ticks" used so far by the directory's Redis processes
	redis_cpu() {
		local port pid m=0 r=0 t
		while read -r port pid; do
			t=$(cpu_ticks "$pid")
			if [[ $(redis-cli -p "$port" role 2>/dev/null | head -n 1) == slave ]]; then
				r=$((r + t))
			else m=$((m + t)); fi
		done < <(redis_nodes "$1")
		echo "$m $r"
	}
	# Every node of DIR: FLUSHALL (masters: rows start from the same data), then BGREWRITEAOF.
	redis_reset() {
		local port pid host=127.0.0.1
		while read -r port pid; do
			[[ $(redis-cli -p "$port" role 2>/dev/null | head -n 1) == slave ]] ||
				redis-cli -h "$host" -p "$port" flushall >/dev/null
		done < <(redis_nodes "$1")
		sleep 0.5 # replicas apply the flush
		while read -r port pid; do
			TICKETRUSH_REDIS="$host:$port" compact_aof
		done < <(redis_nodes "$1")
	}
	# concert_masters SEED FIRST K -> for concerts FIRST..FIRST+K-1, the port of each one's master
	concert_masters() {
		local seed_port=${1##*:} i
		for ((i = $2; i < $2 + $3; i++)); do printf 'CLUSTER KEYSLOT {concert:%d}\n' "$i"; done |
			redis-cli -p "$seed_port" | tr -d '\r' >"$out/.slots"
		redis-cli -p "$seed_port" cluster nodes | tr -d '\r' | awk -v slots="$out/.slots" '
			$3 ~ /master/ { split($2, a, "[:@]"); for (f = 9; f <= NF; f++) { n = split($f, r, "-");
				lo[++nr] = r[1]; hi[nr] = (n > 1) ? r[2] : r[1]; port[nr] = a[2] } }
			END { while ((getline s < slots) > 0) { p = "?"; for (j = 1; j <= nr; j++)
				if (s + 0 >= lo[j] + 0 && s + 0 <= hi[j] + 0) p = port[j]; print p } }'
		rm -f "$out/.slots"
	}
	# spread_window SEED K -> the first concert id (1..200) whose K consecutive concerts spread
	# most evenly over the masters (smallest largest share)
	spread_window() {
		local ports best=1 best_max=999999 first m
		mapfile -t ports < <(concert_masters "$1" 1 $((200 + $2)))
		for ((first = 1; first <= 200; first++)); do
			m=$(printf '%s\n' "${ports[@]:first-1:$2}" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 }')
			if ((m < best_max)); then best_max=$m best=$first; fi
		done
		echo "$best"
	}
	json_nth() { grep -o "\"$2\": *[-0-9.e+]*" "$1" | sed -n "${3}p" | sed 's/.*: *//'; }
	anomalies() { # RUN -> the sum of the audit's anomaly counts (its first block: the totals)
		local k n=0 v
		for k in oversold duplicate_customers seat_errors vip_errors sales_after_close \
			fcfs_violations lost phantom count_drift contradicted; do
			v=$(json_num "$1" "$k")
			n=$((n + ${v:-0}))
		done
		echo "$n"
	}
	cl_rows=()
	# scale_row LABEL ROUND DIR ADDRS FIRST K SEATS DURABILITY DESCRIPTION: one closed-loop run,
	# its run file scaleout-LABEL-rROUND.json and a line of scaleout.tsv
	scale_row() {
		local label=$1 round=$2 dir=$3 addrs=$4 first=$5 k=$6 seats=$7 dur=$8 desc=$9 f s0 s1 r0 r1 m1 p1 tck
		f="$out/scaleout-$label-r$round.json"
		echo
		echo "== scale-out $label, round $round: $desc"
		TICKETRUSH_REDIS=$addrs
		"$bin" db schema >/dev/null
		redis_reset "$dir"
		"$bin" db seed --scenario scale --concert "$first" --concerts "$k" --tickets "$seats" \
			--customers "$cl_requests" >/dev/null
		"$bin" db open-sale --concert "$first" --concerts "$k" >/dev/null
		redis_reset_aof_only "$dir"
		start_server "scaleout-$label" "$port" --strategy redis-atomic --durability "$dur" --redis "$addrs"
		read -r r0 r1 < <(redis_cpu "$dir")
		local masters0
		masters0=$(masters_of "$dir")
		# shellcheck disable=SC2154 # server_pid: set by start_server (lib.sh)
		s0=$(cpu_ticks "$server_pid")
		local zipf=()
		((k == 1)) || zipf=(--zipf-s 0)
		"$bin" load --scenario scale --concert "$first" --concerts "$k" "${zipf[@]}" --tickets "$seats" \
			--customers "$cl_requests" --requests "$cl_requests" --vus "$vus" \
			--strategy "redis-atomic-$dur" --url "http://127.0.0.1:$port" --time-limit-s 600 \
			--out "$f" --quiet | tail -n 1
		s1=$(cpu_ticks "$server_pid")
		read -r m1 p1 < <(redis_cpu "$dir")
		local note=''
		if [[ $(masters_of "$dir") != "$masters0" ]]; then
			note=" MASTERS CHANGED during the row: $masters0-> $(masters_of "$dir")"
			echo "  warning:$note (node logs: $out/cluster*-node-*.log)"
		fi
		stop_server
		tck=$(getconf CLK_TCK)
		local rps tickets last tps
		rps=$(awk -v r="$(json_num "$f" requests_per_min)" 'BEGIN { printf "%.0f", r / 60 }')
		tickets=$(json_nth "$f" tickets 2)
		last=$(json_num "$f" last_issued_after_us)
		tps=$(awk -v t="$tickets" -v u="$last" 'BEGIN { printf "%.0f", (u > 0) ? t / (u / 1e6) : 0 }')
		# label round rps tps p99-ms wall-s server-s master-s replica-s load anomalies durability what
		awk -v OFS='\t' -v l="$label" -v rd="$round" -v r="$rps" -v t="$tps" -v p="$(json_num "$f" p99)" \
			-v w="$(json_num "$f" duration_us)" -v s0="$s0" -v s1="$s1" -v r0="$r0" -v m1="$m1" \
			-v r1="$r1" -v p1="$p1" -v tck="$tck" -v la="$(cut -d' ' -f1 /proc/loadavg)" \
			-v n="$(anomalies "$f")" -v d="$dur" -v desc="$desc$note" 'BEGIN {
			print l, rd, r, t, p / 1000, w / 1e6, (s1 - s0) / tck, (m1 - r0) / tck, (p1 - r1) / tck, la, n, d, desc }' \
			>>"$out/scaleout.tsv"
		cl_rows+=("$f")
		TICKETRUSH_REDIS=$plain_redis
	}
	redis_reset_aof_only() {
		local port pid
		while read -r port pid; do TICKETRUSH_REDIS="127.0.0.1:$port" compact_aof; done < <(redis_nodes "$1")
	}
	# script_row WHERE ROUND ADDRS DIR: the purchase script alone (script-ceiling) on concert
	# $first with all the seats, into scaleout-script-WHERE-rROUND.txt and scaleout-script.tsv
	script_row() {
		local f="$out/scaleout-script-$1-r$2.txt"
		TICKETRUSH_REDIS=$3
		"$bin" db schema >/dev/null
		redis_reset "$4"
		"$bin" db seed --scenario scale --concert "$first" --tickets "$total_seats" \
			--customers "$cl_requests" >/dev/null
		redis_reset_aof_only "$4"
		"$bin" script-ceiling --scenario scale --concert "$first" --requests "$cl_requests" \
			--customers "$cl_requests" --connections 2 --in-flight $((vus / 2)) --redis "$3" >"$f"
		printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(grep -o '[0-9]* calls/s' "$f" | head -n 1 | cut -d' ' -f1)" \
			"$(grep -o '[0-9]* tickets/s' "$f" | head -n 1 | cut -d' ' -f1)" >>"$out/scaleout-script.tsv"
		echo "  script alone, $1, round $2: $(grep -o '[0-9]* calls/s' "$f" | head -n 1)"
		TICKETRUSH_REDIS=$plain_redis
	}

	echo
	echo "== scale-out: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	: >"$out/scaleout.tsv"
	: >"$out/scaleout-script.tsv"
	total_seats=$((cl_seats * cl_concerts))
	cluster_up 3
	cl3_seeds=$cl_seeds
	cl3_dir="$svc-cluster3"
	cluster_up 1
	cl1_seeds=$cl_seeds
	cl1_dir="$svc-cluster1"
	first=$(spread_window "$cl3_seeds" "$cl_concerts")
	mapfile -t cl_ports < <(concert_masters "$cl3_seeds" "$first" "$cl_concerts")
	spread=$(printf '%s\n' "${cl_ports[@]}" | sort | uniq -c | awk '{ printf "%s%s on :%s", sep, $1, $2; sep = ", " }')
	echo "concerts $first..$((first + cl_concerts - 1)), $cl_seats seats each; on the 3-master cluster: $spread"
	one_port=${cl_ports[0]}

	for ((round = 1; round <= cl_rounds; round++)); do
		scale_row a "$round" "$plain_dir" "$plain_redis" "$first" "$cl_concerts" "$cl_seats" fast \
			"plain Redis, $cl_concerts concerts"
		scale_row a1 "$round" "$plain_dir" "$plain_redis" "$first" 1 "$total_seats" fast \
			"plain Redis, 1 concert ($first, $total_seats seats): (d)'s peer"
		scale_row b "$round" "$cl1_dir" "$cl1_seeds" "$first" "$cl_concerts" "$cl_seats" fast \
			"1-master cluster, $cl_concerts concerts"
		scale_row c "$round" "$cl3_dir" "$cl3_seeds" "$first" "$cl_concerts" "$cl_seats" fast \
			"3-master cluster, $cl_concerts concerts ($spread)"
		scale_row d "$round" "$cl3_dir" "$cl3_seeds" "$first" 1 "$total_seats" fast \
			"3-master cluster, 1 concert ($first, $total_seats seats) on the master :$one_port"
		scale_row c-replicated "$round" "$cl3_dir" "$cl3_seeds" "$first" "$cl_concerts" "$cl_seats" \
			replicated "3-master cluster, $cl_concerts concerts, --durability replicated"
		scale_row c-strict "$round" "$cl3_dir" "$cl3_seeds" "$first" "$cl_concerts" "$cl_seats" \
			strict "3-master cluster, $cl_concerts concerts, --durability strict"
		if ((cl_rounds == 1)); then
			# (a) once more, last: how far the shared machine drifted while the rows ran.
			scale_row a-again 1 "$plain_dir" "$plain_redis" "$first" "$cl_concerts" "$cl_seats" fast \
				"plain Redis again, last (the machine's drift during the section)"
		fi
		# The purchase script alone: plain Redis vs the master that holds concert $first.
		echo
		echo "== scale-out: the purchase script alone (script-ceiling, concert $first, $cl_requests calls), round $round"
		script_row plain "$round" "$plain_redis" "$plain_dir"
		script_row cluster "$round" "127.0.0.1:$one_port" "$cl3_dir"
	done
	cluster_down 1
	cluster_down 3
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

	echo
	echo "== scale-out: redis-atomic through the server ($cl_requests requests, $vus users, seats for 30 %, $cl_rounds round(s))"
	{
		if ((cl_rounds > 1)); then
			echo "each figure: the median of the $cl_rounds rounds (min–max); ÷ (a): the median of each round's ratio to that round's (a)"
		fi
		# Per row (in order): medians over the rounds; a ratio is taken within a round.
		awk -F '\t' -v rounds="$cl_rounds" -v req="$cl_requests" '
			function med(list,   n, v, i, j, t) {
				n = split(list, v, " ")
				for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
				return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			}
			function lo(list,   n, v, i, m) { n = split(list, v, " "); m = v[1] + 0; for (i = 2; i <= n; i++) if (v[i] + 0 < m) m = v[i] + 0; return m }
			function hi(list,   n, v, i, m) { n = split(list, v, " "); m = v[1] + 0; for (i = 2; i <= n; i++) if (v[i] + 0 > m) m = v[i] + 0; return m }
			{
				l = $1; rd = $2
				k = index($13, " MASTERS CHANGED")
				if (!(l in seen)) { seen[l] = 1; order[++nl] = l; dur[l] = $12; what[l] = (k > 0) ? substr($13, 1, k - 1) : $13 }
				if (k > 0) what[l] = what[l] " [round " rd ":" substr($13, k) "]"
				cpu = ($7 + $8 + $9) * 1e6 / req
				if (l == "a") { arps[rd] = $3; atps[rd] = $4; acpu[rd] = cpu }
				cu[l] = cu[l] " " cpu; cr[l] = cr[l] " " ((acpu[rd] > 0) ? cpu / acpu[rd] : 0)
				if (l == "a1") { a1rps[rd] = $3; a1tps[rd] = $4 }
				if (l == "d" && a1rps[rd] > 0) { drr = drr " " $3 / a1rps[rd]; dtr = dtr " " $4 / a1tps[rd] }
				if (l == "c" && a1rps[rd] > 0) { crr = crr " " $3 / a1rps[rd] }
				rps[l] = rps[l] " " $3; tps[l] = tps[l] " " $4
				rr[l] = rr[l] " " ((arps[rd] > 0) ? $3 / arps[rd] : 0)
				tr[l] = tr[l] " " ((atps[rd] > 0) ? $4 / atps[rd] : 0)
				p99[l] = p99[l] " " $5; wall[l] = wall[l] " " $6; sc[l] = sc[l] " " $7
				mc[l] = mc[l] " " $8; rc[l] = rc[l] " " $9; la[l] = la[l] " " $10; an[l] += $11
			}
			END {
				printf "%-15s %-11s %19s %6s %19s %6s %7s %7s %9s %17s %8s %6s %6s  %-6s %s\n", "row", "durability", "requests/s", "÷ (a)", "tickets/s", "÷ (a)", "p99 ms", "wall s", "server s", "Redis s (m / r)", "CPU µs", "÷ (a)", "load", "audit", "what"
				for (i = 1; i <= nl; i++) {
					l = order[i]
					r = sprintf("%.0f", med(rps[l])); t = sprintf("%.0f", med(tps[l]))
					if (rounds > 1) { r = r sprintf(" (%.0f–%.0f)", lo(rps[l]), hi(rps[l])); t = t sprintf(" (%.0f–%.0f)", lo(tps[l]), hi(tps[l])) }
					printf "%-15s %-11s %19s %6.2f %19s %6.2f %7.1f %7.1f %9.1f %17s %8.1f %6.2f %6.2f  %-6s %s\n", "(" l ")", dur[l], r, med(rr[l]), t, med(tr[l]),
						med(p99[l]), med(wall[l]), med(sc[l]), sprintf("%.1f / %.1f", med(mc[l]), med(rc[l])), med(cu[l]), med(cr[l]), med(la[l]),
						(an[l] == 0) ? "clean" : an[l] " anomalies", what[l]
				}
				if (drr != "") printf "one concert on one master of the 3-master cluster ÷ one concert on plain Redis: %.2f requests/s, %.2f tickets/s; the whole 3-master cluster (c) ÷ that: %.2f\n", med(drr), med(dtr), med(crr)
			}' "$out/scaleout.tsv"
		echo
		awk -F '\t' '
			{ c[$1] = c[$1] " " $3; t[$1] = t[$1] " " $4; if ($1 == "plain") p[$2] = $3; else if (p[$2] > 0) ratio = ratio " " $3 / p[$2] }
			function med(list,   n, v, i, j, x) {
				n = split(list, v, " ")
				for (i = 2; i <= n; i++) { x = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
				return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			}
			END {
				printf "script alone, plain Redis:     %.0f calls/s, %.0f tickets/s while seats remained\n", med(c["plain"]), med(t["plain"])
				printf "script alone, a cluster master: %.0f calls/s, %.0f tickets/s while seats remained\n", med(c["cluster"]), med(t["cluster"])
				printf "script alone, cluster master ÷ plain: %.2f\n", med(ratio)
			}' "$out/scaleout-script.tsv"
	} | tee "$out/scaleout.txt"
	echo "commands: BENCH_CLUSTER_REQUESTS=$cl_requests BENCH_CLUSTER_CONCERTS=$cl_concerts BENCH_CLUSTER_ROUNDS=$cl_rounds scripts/bench.sh $bin; ticketrush table $out/scaleout-*.json"
	"$bin" table "${cl_rows[@]}" >"$out/scaleout-table.txt"
fi
