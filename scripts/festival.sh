#!/usr/bin/env bash
# festival.sh — make festival (issue 11): many concerts on sale at once, served by several
# `ticketrush serve` processes sharing one port (serve --reuse-port), for each correct strategy
# that matters at scale; every concert audited alone (R1–R8), then the per-concert summaries,
# the comparison table and an HTML report. Exits 3 when a correct strategy shows an anomaly.
# Run with --help for everything.
set -euo pipefail
PROG=${0##*/}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)

usage() {
	cat <<EOF
usage: $PROG [options] [BIN]        (make festival FESTIVAL_ARGS="...")

The festival scenario (SPEC §4, issue 11 §4): 30 concerts of 500 seats (5 VIP) on sale at once,
40,000 purchases by 20,000 customers, each purchase's concert drawn by a Zipf law (s = 1.2:
concert 1, the headliner, gets a third of the demand, concert 30 about 0.5 %), so most customers
buy at two or more concerts. For each strategy: a fresh schema, the concerts seeded (and opened
in Redis for the Redis strategies), N server processes started on ONE port with
\`serve --reuse-port\` (the kernel spreads the load generator's connections over them), the load,
the drain, and the audit of every concert alone. Prints each strategy's per-concert audit
(\`ticketrush table --concerts\`) and how many purchases each process answered, then the table
(totals, the headliner's row, concerts clean). About a minute per strategy on 2 shared cores.

options:
  --strategy S     a strategy to run; repeat for several (default: redis-atomic,
                   redis-atomic-replicated and redis-atomic-strict (= redis-atomic
                   --durability replicated / strict; redis-atomic-fast is redis-atomic),
                   redis-zset and db-atomic, the no-Redis baseline). naive runs on the
                   unguarded schema and
                   its anomalies are shown, not failed on; redis-lock and redis-lock-cache do
                   not promise R6, so their FCFS violations fail the run
  --processes N    server processes on the shared port, 1..8 (default 3)
  --concerts K     concerts on sale, 2..100 (default 30)
  --requests R     purchases (default 40000)
  --zipf-s S       the concert draw's exponent (default 1.2)
  --seed S         the load's PRNG seed (default 1)
  --cluster        (the default) run on a private Redis Cluster: 3 masters, a replica each,
                   AOF on (scripts/services.sh start --cluster 3); the servers and the db
                   commands get its masters as seeds, --redis host:port,host:port,...; each
                   concert lives on the master of its slot ({concert:ID})
  --plain          run on one plain Redis instead (scripts/services.sh start);
                   (redis-atomic-replicated needs a replica: not among its defaults)
  --out DIR        results directory (default results/festival-<UTC time>)

fault cells (make chaos runs them after its own cells; the cluster only):
  --fault F        run each strategy once per fault F (repeatable), F injected mid-festival
                   on the master that serves the headliner's slot (concert 1, {concert:1}):
     master-kill   SIGKILL of that master; its replica is promoted by the cluster itself
                   after cluster-node-timeout (5 s); once the slot has its new master, the
                   killed node is started again on its own config (as a supervisor would)
                   and rejoins as the new master's replica (so the next cell, and
                   replicated's WAIT, have one again); if it cannot (its port taken by
                   someone else meanwhile) it is left down and the note says so
     reshard       the slot moved to another master while the sale runs (the Redis Cluster
                   specification's live resharding): CLUSTER SETSLOT IMPORTING on the target,
                   MIGRATING on the source, MIGRATE of every key of the slot (GETKEYSINSLOT,
                   100 a time), then SETSLOT NODE on the target, the source and every other
                   master. The slot stays on its new master afterwards
                   Default strategies with --fault: redis-atomic (fast), redis-atomic-replicated,
                   redis-atomic-strict and redis-zset (the strategies whose state is in Redis)
  --rate R         with --fault: the load is paced, R purchases/s (default 2000), so the sale
                   is still on when the fault comes
  --seconds S      with --fault: load length at that rate (default 15): R x S purchases
  --fault-after S  with --fault: the fault S seconds into the load (default 4)
  --tickets N      seats per concert (default 500; with --fault 5000, so the headliner is not
                   sold out before the fault, nor right after it)
  Each cell: a fresh schema and festival, 3 processes (--processes), the paced load (it retries
  a purchase whose connection broke or that got a 500 with Retry-After, as a client would), the
  fault, the drain, the per-concert audit (R1-R8) and the fault's marks in the run file; then
  \`ticketrush chaos-table\` over the cells: acknowledged tickets lost (a 201 whose ticket
  PostgreSQL does not hold after the drain) and contradicted (held with another customer or
  seat), R6, other anomalies, in-flight, failed, recovery, sale-on (ms from the fault to the
  headliner's first ticket sold to a request sent after it) and PASS/FAIL against the mode's
  promise: strict and replicated lose nothing acknowledged in either fault; fast may lose
  acknowledged tickets under master-kill (what the master had not yet sent its replica) and
  redis-zset admissions (202) likewise; under reshard nothing may be lost (MIGRATE moves each
  key whole).
  -h, --help       this text

environment: TICKETRUSH_SVC_DIR (the services' directory, default .svc-cluster, or .svc with
--plain).
output: results/festival-<UTC time>/: run-<strategy>.json, concerts-<strategy>.txt,
server-<strategy>-<i>.log, table.txt, report.html; with --fault, run-<strategy>-<fault>.json,
concerts-<strategy>-<fault>.txt, marks-<strategy>-<fault>.txt and chaos-table.txt.
exit status: 0 every strategy clean (with --fault: every cell PASS), 3 a correct strategy showed
an R1-R8 anomaly in a concert (with --fault: a cell FAIL), 1 an operational failure (a server did
not start, no services, the fault could not be injected), 2 bad options.
EOF
}

strategies=()
processes=3
concerts=30
requests=40000
zipf_s=1.2
seed=1
cluster=1
faults=()
rate=2000
seconds=15
fault_after=4
tickets=
out=
bin=
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--strategy) strategies+=("${2:?--strategy needs a name}"); shift 2 ;;
	--processes) processes=${2:?}; shift 2 ;;
	--concerts) concerts=${2:?}; shift 2 ;;
	--requests) requests=${2:?}; shift 2 ;;
	--zipf-s) zipf_s=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--cluster) cluster=1; shift ;;
	--plain) cluster=0; shift ;;
	--fault) faults+=("${2:?--fault needs master-kill or reshard}"); shift 2 ;;
	--rate) rate=${2:?}; shift 2 ;;
	--seconds) seconds=${2:?}; shift 2 ;;
	--fault-after) fault_after=${2:?}; shift 2 ;;
	--tickets) tickets=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	-*) echo "$PROG: unknown option $1 ($PROG --help lists them)" >&2; exit 2 ;;
	*) [[ -z $bin ]] || { echo "$PROG: one BIN only" >&2; exit 2; }; bin=$1; shift ;;
	esac
done
for f in "${faults[@]}"; do
	[[ $f == master-kill || $f == reshard ]] || { echo "$PROG: unknown fault $f (master-kill or reshard)" >&2; exit 2; }
done
if ((${#faults[@]})); then
	((cluster)) || { echo "$PROG: --fault needs the cluster (not --plain)" >&2; exit 2; }
	[[ $rate =~ ^[1-9][0-9]*$ && $seconds =~ ^[1-9][0-9]*$ && $fault_after =~ ^[0-9]+$ ]] ||
		{ echo "$PROG: --rate, --seconds and --fault-after are whole numbers" >&2; exit 2; }
	((fault_after < seconds)) || { echo "$PROG: --fault-after must be less than --seconds" >&2; exit 2; }
	: "${tickets:=5000}"
	requests=$((rate * seconds))
fi
[[ -z $tickets || $tickets =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: --tickets must be a positive number" >&2; exit 2; }
if [[ ${#strategies[@]} -eq 0 ]]; then
	if ((${#faults[@]})); then
		strategies=(redis-atomic redis-atomic-replicated redis-atomic-strict redis-zset)
	else
		strategies=(redis-atomic redis-atomic-replicated redis-atomic-strict redis-zset db-atomic)
		((cluster)) || strategies=(redis-atomic redis-atomic-strict redis-zset db-atomic) # no replica
	fi
fi
[[ $processes =~ ^[1-8]$ ]] || { echo "$PROG: --processes must be 1..8" >&2; exit 2; }
[[ $concerts =~ ^[0-9]+$ ]] && ((concerts >= 2 && concerts <= 100)) ||
	{ echo "$PROG: --concerts must be 2..100" >&2; exit 2; }
[[ $requests =~ ^[0-9]+$ ]] && ((requests >= 1)) || { echo "$PROG: --requests must be a positive number" >&2; exit 2; }
bin=$(realpath -- "${bin:-$root/build/ticketrush}")
[[ -x $bin ]] || { echo "$PROG: $bin is not built; run make build" >&2; exit 1; }
# strategy_base LABEL / strategy_durability LABEL: redis-atomic-strict -> redis-atomic / strict
strategy_base() {
	case $1 in redis-atomic-fast | redis-atomic-replicated | redis-atomic-strict) echo redis-atomic ;; *) echo "$1" ;; esac
}
strategy_durability() {
	case $1 in redis-atomic-fast | redis-atomic-replicated | redis-atomic-strict) echo "${1##*-}" ;; esac
}
for s in "${strategies[@]}"; do
	base=$(strategy_base "$s")
	"$bin" strategies | grep -qw -- "$base" || { echo "$PROG: unknown strategy $s" >&2; exit 2; }
	if ((${#faults[@]})) && [[ $base != redis-atomic && $base != redis-zset ]]; then
		echo "$PROG: --fault applies to redis-atomic and redis-zset (their sale lives in Redis), not $s" >&2
		exit 2
	fi
done

if ((cluster)); then svc=${TICKETRUSH_SVC_DIR:-$root/.svc-cluster}; else svc=${TICKETRUSH_SVC_DIR:-$root/.svc}; fi
out=${out:-$root/results/festival-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd -- "$out" && pwd -P)

# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
server_pids=()
stop_servers() { # SIGTERM to every server (they drain), then wait for each
	local p
	for p in "${server_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	server_pids=()
}
restart_pid=''
trap '[[ -z $restart_pid ]] || wait "$restart_pid" 2>/dev/null; stop_servers; lab_cleanup' EXIT

echo "== private PostgreSQL and Redis${cluster:+ }$( ((cluster)) && echo "Cluster (3 masters + 3 replicas)") ($svc)"
if ((cluster)); then
	"$here/services.sh" start --cluster 3 --dir "$svc" >/dev/null
else
	"$here/services.sh" start --dir "$svc" >/dev/null
fi
# shellcheck disable=SC1091
source "$svc/env"
redis=${TICKETRUSH_REDIS:-${TICKETRUSH_REDIS_CLUSTER:-}}
[[ -n $redis ]] || { echo "$PROG: the services' env names no Redis" >&2; exit 1; }
export TICKETRUSH_REDIS=$redis
echo "   TICKETRUSH_PG=$TICKETRUSH_PG"
echo "   --redis $redis"

port=$(free_port 18280)

# start_servers LABEL SERVE-ARGS...: $processes servers on $port, each waited for until its log
# says it serves (GET /livez alone could be answered by one started before).
start_servers() {
	local label=$1 i log
	shift
	for i in $(seq 1 "$processes"); do
		log="$out/server-$label-$i.log"
		"$bin" serve --port "$port" --reuse-port --redis "$redis" "$@" >>"$log" 2>&1 &
		server_pids+=($!)
		for _ in $(seq 1 150); do
			grep -q 'serving on' "$log" 2>/dev/null && break
			kill -0 "${server_pids[-1]}" 2>/dev/null || break
			sleep 0.1
		done
		if ! grep -q 'serving on' "$log" 2>/dev/null; then
			echo "$PROG: server $i of $label did not start; its log:" >&2
			tail -n 20 "$log" >&2
			exit 1
		fi
	done
}

# per_process: purchases each server answered, from GET /metrics over fresh connections (the
# kernel picks the process; ticketrush_process_id tells them apart).
per_process() {
	local seen="" body pid n
	for _ in $(seq 1 100); do
		body=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null) || continue
		pid=$(awk '$1 == "ticketrush_process_id" { print $2 }' <<<"$body")
		[[ -n $pid && " $seen " != *" $pid "* ]] || continue
		seen="$seen $pid"
		n=$(awk -F' ' '/^ticketrush_http_requests_total\{route="\/concert\/purchase\/ticket"/ { s += $2 } END { print s + 0 }' <<<"$body")
		printf '   process %s: %s purchases\n' "$pid" "$n"
		[[ $(wc -w <<<"$seen") -ge $processes ]] && break
	done
}

# --- fault cells (--fault) ------------------------------------------------------------------
now_ms() { date +%s%3N; }
node_ports() { awk 'NF == 3 { print $2 }' "$svc/cluster/ports"; }
# master_of_slot SLOT [NOT-PORT] -> "port node-id" of the master that serves SLOT, as CLUSTER
# NODES says on the first node (other than NOT-PORT) that answers; nothing when none does.
master_of_slot() {
	local p nodes
	for p in $(node_ports); do
		[[ $p == "${2:-}" ]] && continue
		nodes=$(timeout 3 redis-cli -h 127.0.0.1 -p "$p" cluster nodes 2>/dev/null) || continue
		[[ -n $nodes ]] || continue
		awk -v s="$1" '$3 ~ /master/ {
			for (i = 9; i <= NF; i++) {
				if ($i ~ /^\[/) continue # a slot being migrated/imported: its owner is listed
				n = split($i, r, "-"); lo = r[1] + 0; hi = (n > 1 ? r[2] : r[1]) + 0
				if (s >= lo && s <= hi) { split($2, h, "@"); n = split(h[1], hp, ":"); print hp[n], $1; exit }
			}
		}' <<<"$nodes"
		return 0
	done
}
# other_master PORT -> "port node-id" of a master (with slots, not failed) other than PORT
other_master() {
	local p nodes
	for p in $(node_ports); do
		nodes=$(timeout 3 redis-cli -h 127.0.0.1 -p "$p" cluster nodes 2>/dev/null) || continue
		awk -v not="$1" '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {
			split($2, h, "@"); n = split(h[1], hp, ":"); if (hp[n] != not) { print hp[n], $1; exit }
		}' <<<"$nodes"
		return 0
	done
}
masters_now() { # the ports of every master that answers, one a line
	local p
	for p in $(node_ports); do
		[[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$p" role 2>/dev/null | head -n 1) == master ]] && echo "$p"
	done
	return 0
}
rcli_p() { local p=$1; shift; timeout 15 redis-cli -h 127.0.0.1 -p "$p" "$@"; }
# cluster_healthy: every node answers cluster_state:ok, and every replica's link is up
cluster_healthy() {
	local p
	for p in $(node_ports); do
		rcli_p "$p" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok' || return 1
		if [[ $(rcli_p "$p" role 2>/dev/null | head -n 1) == slave ]]; then
			rcli_p "$p" info replication 2>/dev/null | tr -d '\r' | grep -qx 'master_link_status:up' || return 1
		fi
	done
}
# wait_replica PORT T0-MS: waits (60 s at most) until the node on PORT is a replica whose link to
# its master is up, and says when (ms after T0).
wait_replica() {
	local i
	for i in $(seq 1 600); do
		if [[ $(rcli_p "$1" role 2>/dev/null | head -n 1) == slave ]] &&
			rcli_p "$1" info replication 2>/dev/null | tr -d '\r' | grep -qx 'master_link_status:up'; then
			echo "festival.sh: 127.0.0.1:$1 is a replica again, its link up, $(($(now_ms) - $2)) ms after the kill"
			return 0
		fi
		sleep 0.1
	done
	echo "festival.sh: 127.0.0.1:$1 is not a linked replica 60 s after its restart"
	return 1
}

mark() { printf '%s=%s\n' "$1" "$2" >>"$marks"; }

inject() { # fault
	local slot victim victim_id node pid t0 now to to_id keys m
	slot=$(rcli_p "$(node_ports | head -n 1)" cluster keyslot '{concert:1}')
	read -r victim victim_id < <(master_of_slot "$slot")
	[[ -n ${victim:-} ]] || { mark fault_error "no master serves slot $slot"; return 0; }
	case $1 in
	master-kill)
		node=$(awk -v p="$victim" '$2 == p { print $1 }' "$svc/cluster/ports")
		pid=$(tr -dc 0-9 <"$svc/cluster/node-$node/redis.pid" 2>/dev/null || true)
		[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || { mark fault_error "no pid for the master on port $victim"; return 0; }
		t0=$(now_ms)
		mark fault_at_ms "$t0"
		kill -KILL "$pid"
		now=''
		for _ in $(seq 1 300); do # 30 s at most
			read -r now _ < <(master_of_slot "$slot" "$victim") || true
			[[ -n $now && $now != "$victim" ]] && break
			sleep 0.1
		done
		if [[ -z $now || $now == "$victim" ]]; then
			mark fault_error "no replica took over slot $slot within 30 s"
			return 0
		fi
		local promoted
		promoted=$(now_ms)
		mark promoted_at_ms "$promoted"
		# The killed node started again on its own config (as a supervisor would), and waited for
		# in the background until it is a replica with its link up. Not `services.sh start`: if
		# another user took the port meanwhile, its rollback stops every node of the cluster.
		local nd=$svc/cluster/node-$node
		if (cd "$nd" && redis-server "$nd/redis.conf" </dev/null >>"$out/services-restart.log" 2>&1); then
			mark note "master 127.0.0.1:$victim (node $node, slot $slot) killed; replica 127.0.0.1:$now promoted after $((promoted - t0)) ms; the killed node restarted then, to rejoin as its replica"
			wait_replica "$victim" "$t0" >>"$out/services-restart.log" 2>&1 &
			restart_pid=$!
		else
			mark note "master 127.0.0.1:$victim (node $node, slot $slot) killed; replica 127.0.0.1:$now promoted after $((promoted - t0)) ms; the killed node did not restart (port taken? $out/services-restart.log): left down"
		fi
		;;
	reshard)
		read -r to to_id < <(other_master "$victim")
		[[ -n ${to:-} ]] || { mark fault_error "no other master to move slot $slot to"; return 0; }
		t0=$(now_ms)
		mark fault_at_ms "$t0"
		rcli_p "$to" cluster setslot "$slot" importing "$victim_id" >/dev/null &&
			rcli_p "$victim" cluster setslot "$slot" migrating "$to_id" >/dev/null ||
			{ mark fault_error "SETSLOT IMPORTING/MIGRATING failed"; return 0; }
		local moved=0 answer
		while :; do
			mapfile -t keys < <(rcli_p "$victim" cluster getkeysinslot "$slot" 100 | tr -d '\r')
			((${#keys[@]})) && [[ -n ${keys[0]} ]] || break
			answer=$(rcli_p "$victim" migrate 127.0.0.1 "$to" "" 0 10000 keys "${keys[@]}" 2>&1)
			[[ $answer == OK || $answer == NOKEY ]] || { mark fault_error "MIGRATE: $answer"; return 0; }
			moved=$((moved + ${#keys[@]}))
		done
		rcli_p "$to" cluster setslot "$slot" node "$to_id" >/dev/null &&
			rcli_p "$victim" cluster setslot "$slot" node "$to_id" >/dev/null ||
			{ mark fault_error "SETSLOT NODE failed"; return 0; }
		for m in $(masters_now); do
			[[ $m == "$to" || $m == "$victim" ]] || rcli_p "$m" cluster setslot "$slot" node "$to_id" >/dev/null || true
		done
		mark moved_at_ms "$(now_ms)"
		mark note "slot $slot moved from 127.0.0.1:$victim to 127.0.0.1:$to: $moved keys in $(($(now_ms) - t0)) ms"
		;;
	esac
}

# run_cell LABEL FAULT: one fault cell; its run file is $out/run-LABEL-FAULT.json
run_cell() {
	local s=$1 f=$2 base dur tag rc load_pid
	restart_pid=''
	base=$(strategy_base "$s")
	dur=$(strategy_durability "$s")
	[[ $base == redis-atomic && -z $dur ]] && dur=fast
	tag=$s-$f
	marks=$out/marks-$tag.txt
	rm -f "$marks"
	# every node up, replicas linked (a killed node of the previous cell is back by now); else
	# services.sh start brings up what is down
	if ! cluster_healthy; then
		"$here/services.sh" start --cluster 3 --dir "$svc" >>"$out/services-restart.log" 2>&1 ||
			{ echo "$PROG: the cluster is not healthy before $tag (see $out/services-restart.log)" >&2; return 1; }
	fi
	serve=(--strategy "$base")
	[[ $base == redis-atomic ]] && serve+=(--durability "$dur")
	"$bin" db schema --redis "$redis" >/dev/null
	"$bin" db seed --scenario festival --concerts "$concerts" --tickets "$tickets" --redis "$redis" >/dev/null
	"$bin" db open-sale --concerts "$concerts" --redis "$redis" >/dev/null
	start_servers "$tag" "${serve[@]}"
	mark fault "$f"
	[[ -n $dur ]] && mark durability "$dur"
	mark fault_concert 1
	"$bin" load --strategy "$base" --scenario festival --concerts "$concerts" --tickets "$tickets" \
		--requests "$requests" --rate "$rate" --max-connections 512 --retry-connection-errors \
		--zipf-s "$zipf_s" --seed "$seed" --url "http://127.0.0.1:$port" --progress plain \
		--time-limit-s $((seconds + 40)) --drain-stable-s 2 --drain-timeout-s 60 \
		--marks-file "$marks" --out "$out/run-$tag.json" >"$out/load-$tag.txt" 2>&1 &
	load_pid=$!
	sleep "$fault_after"
	if kill -0 "$load_pid" 2>/dev/null; then
		inject "$f"
	else
		mark fault_error "the load ended before the fault"
	fi
	rc=0
	wait "$load_pid" || rc=$?
	per_process
	stop_servers
	if [[ -n $restart_pid ]]; then
		wait "$restart_pid" || echo "$PROG: the killed node did not rejoin as a replica (see $out/services-restart.log)" >&2
		tail -n 1 "$out/services-restart.log" | sed 's/^festival.sh: /   /' >>"$out/load-$tag.txt"
		restart_pid=''
	fi
	if [[ $rc != 0 && $rc != 3 ]] || [[ ! -f $out/run-$tag.json ]]; then
		echo "$PROG: the load of $tag failed (exit $rc); $out/load-$tag.txt:" >&2
		tail -n 5 "$out/load-$tag.txt" >&2
		return 1
	fi
	"$bin" table --concerts "$out/run-$tag.json" >"$out/concerts-$tag.txt" || true
	return 0
}

if ((${#faults[@]})); then
	cells=()
	for s in "${strategies[@]}"; do for f in "${faults[@]}"; do cells+=("$s $f"); done; done
	echo
	echo "== ${#cells[@]} fault cells: $concerts concerts of $tickets seats, $requests purchases paced at $rate/s, fault at ${fault_after} s, $processes processes"
	runs=() broken=()
	i=0
	for cell in "${cells[@]}"; do
		i=$((i + 1))
		read -r s f <<<"$cell"
		printf '%s [%d/%d] %s x %s\n' "$(date -u +%H:%M:%S)" "$i" "${#cells[@]}" "$s" "$f"
		if run_cell "$s" "$f"; then
			runs+=("$out/run-$s-$f.json")
			printf '         %s\n' "$("$bin" chaos-table --rows-only "$out/run-$s-$f.json" || true)"
			grep '^total:' "$out/concerts-$s-$f.txt" | sed 's/^/         /' || true
		else
			broken+=("$s x $f")
			stop_servers
		fi
	done
	echo
	echo "== fault cells on the cluster ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	rc=0
	if ((${#runs[@]})); then
		"$bin" chaos-table "${runs[@]}" | tee "$out/chaos-table.txt" || rc=3
		"$bin" report --title "ticketrush festival faults" --chaos-table "$out/chaos-table.txt" \
			--out "$out/report.html" "${runs[@]}" >/dev/null || true
	fi
	if ((${#broken[@]})); then
		echo "cells that did not complete (see $out): ${broken[*]}" | tee -a "$out/chaos-table.txt"
		rc=1
	fi
	echo "scenario: festival, $concerts concerts of $tickets seats, $requests purchases paced at $rate/s for $seconds s, fault at $fault_after s, $processes server processes on one port, a 3-master cluster" | tee -a "$out/chaos-table.txt"
	echo "results: $out (run files, per-concert tables, marks, servers' logs, report.html)"
	exit "$rc"
fi

runs=()
anomalies=()
for s in "${strategies[@]}"; do
	base=$(strategy_base "$s")
	serve=(--strategy "$base")
	dur=$(strategy_durability "$s")
	[[ -n $dur ]] && serve+=(--durability "$dur")
	echo
	echo "== $s: $concerts concerts, $requests purchases, $processes processes on port $port (--reuse-port)"
	schema=()
	[[ $base == naive ]] && schema=(--unguarded) # naive shows its anomalies only there
	"$bin" db schema "${schema[@]}" --redis "$redis" >/dev/null
	"$bin" db seed --scenario festival --concerts "$concerts" --redis "$redis" >/dev/null
	case $base in redis-zset | redis-atomic) "$bin" db open-sale --concerts "$concerts" --redis "$redis" >/dev/null ;; esac
	((cluster)) || compact_aof
	start_servers "$s" "${serve[@]}"
	rc=0
	"$bin" load --strategy "$s" --scenario festival --concerts "$concerts" --requests "$requests" \
		--zipf-s "$zipf_s" --seed "$seed" --url "http://127.0.0.1:$port" --progress plain \
		--expect-clean --out "$out/run-$s.json" >"$out/load-$s.txt" || rc=$?
	[[ $rc == 3 && $base == naive ]] && rc=0
	cat "$out/load-$s.txt"
	per_process
	stop_servers
	if [[ $rc == 3 ]]; then
		anomalies+=("$s")
	elif [[ $rc != 0 ]]; then
		echo "$PROG: the load of $s failed (exit $rc); the servers' logs are in $out" >&2
		exit 1
	fi
	runs+=("$out/run-$s.json")
	echo
	"$bin" table --concerts "$out/run-$s.json" | tee "$out/concerts-$s.txt"
done

echo
echo "== comparison (festival: $concerts concerts, headliner = concert 1; each concert audited alone)"
"$bin" table "${runs[@]}" | tee "$out/table.txt"
"$bin" report "${runs[@]}" --out "$out/report.html" >/dev/null
echo
echo "results: $out (run files, per-concert tables, servers' logs, report.html)"
if [[ ${#anomalies[@]} -gt 0 ]]; then
	echo "$PROG: R1-R8 anomalies in: ${anomalies[*]}" >&2
	exit 3
fi
echo "every strategy clean: R1-R8 held in every concert"
