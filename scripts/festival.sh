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
  -h, --help       this text

environment: TICKETRUSH_SVC_DIR (the services' directory, default .svc-cluster, or .svc with
--plain).
output: results/festival-<UTC time>/: run-<strategy>.json, concerts-<strategy>.txt,
server-<strategy>-<i>.log, table.txt, report.html.
exit status: 0 every strategy clean, 3 a correct strategy showed an R1-R8 anomaly in a concert,
1 an operational failure (a server did not start, no services), 2 bad options.
EOF
}

strategies=()
processes=3
concerts=30
requests=40000
zipf_s=1.2
seed=1
cluster=1
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
	-*) echo "$PROG: unknown option $1 ($PROG --help lists them)" >&2; exit 2 ;;
	*) [[ -z $bin ]] || { echo "$PROG: one BIN only" >&2; exit 2; }; bin=$1; shift ;;
	esac
done
if [[ ${#strategies[@]} -eq 0 ]]; then
	strategies=(redis-atomic redis-atomic-replicated redis-atomic-strict redis-zset db-atomic)
	((cluster)) || strategies=(redis-atomic redis-atomic-strict redis-zset db-atomic) # no replica
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
done

if ((cluster)); then svc=${TICKETRUSH_SVC_DIR:-$root/.svc-cluster}; else svc=${TICKETRUSH_SVC_DIR:-$root/.svc}; fi
out="$root/results/festival-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
server_pids=()
stop_servers() { # SIGTERM to every server (they drain), then wait for each
	local p
	for p in "${server_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	server_pids=()
}
trap 'stop_servers; lab_cleanup' EXIT

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
