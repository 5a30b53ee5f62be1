#!/usr/bin/env bash
# chaos.sh — the fault suite (make chaos, issue 9 §3): for every correct strategy, two server
# processes sell against one Redis and one PostgreSQL through the suite's TCP proxies, one fault
# is injected mid-load, the system recovers, and the run is audited (R1-R8, plus "every
# acknowledged ticket is in PostgreSQL with the seat it was told"). Prints one row per cell and
# the table at the end; writes results/chaos-<UTC time>/. Run with --help for everything.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)
PROG=${0##*/}

ALL_STRATEGIES="db-lock db-atomic db-batch redis-lock redis-lock-cache redis-zset redis-atomic:fast redis-atomic:strict redis-atomic:replicated"
ALL_FAULTS="server-kill redis-kill redis-behind pg-restart server-stop pg-terminate persister-kill
script-flush flushall redis-delay redis-stall redis-cut pg-delay pg-stall pg-cut master-kill reshard"
CLUSTER_FAULTS="master-kill reshard" # run by festival.sh --fault on a private Redis Cluster

usage() {
	cat <<EOF
usage: $PROG [options] [BIN]        (make chaos CHAOS_ARGS="...")

For each strategy x fault cell: a fresh concert, two 'ticketrush serve' processes (ports
differ; each reaches Redis and PostgreSQL through the suite's own 'ticketrush fault-proxy',
in every cell, so all runs measure the same path), 'ticketrush load' spreading its virtual
users over both (--url twice), ONE fault injected a few seconds into the load, recovery, the
drain and the audit. The fault's name and time go into the run file (load --marks-file), so
'ticketrush chaos-table' computes in-flight requests and recovery from the records.

options:
  --strategy S   only S (repeatable): $ALL_STRATEGIES
                 (redis-atomic alone means both durabilities; or --durability)
  --durability D only this redis-atomic durability: fast, strict or replicated (replicated
                 needs a replica: cluster faults only)
  --fault F      only F (repeatable; default: all that apply to the strategy):
$(printf '%s\n' $ALL_FAULTS | sed 's/^/                   /')
  --quick        a smaller, shorter cell (make test uses it)
  --seconds S    load length in seconds at the paced rate (default 12; --quick 6)
  --fault-after S  inject the fault S seconds after the load starts (default 4; --quick 2)
  --out DIR      results directory (default results/chaos-<UTC time>)
  --list         print the cells that would run, and exit
  -h, --help     this text

faults (applicable cells; the servers are restarted where a fault killed one):
  server-kill     SIGKILL of server 1; a supervisor restarts it 1 s later
  redis-kill      SIGKILL of Redis, restarted on its append-only file (Redis strategies)
  redis-behind    cp -a of Redis's appendonlydir while it runs, 1 s more of load, SIGKILL,
                  the copy restored, Redis restarted: Redis is behind PostgreSQL
  pg-restart      pg_ctl stop -m immediate, then start (as the postgres user)
  server-stop     SIGSTOP of server 1 for 4 s (past the 3 s --lock-lease), then SIGCONT
  pg-terminate    pg_terminate_backend of the persister's and issuer's connections
                  (application_name ticketrush-persister / ticketrush-issuer; when none has
                  it, every backend of the database but the suite's own, said in the notes)
                  (redis-zset, redis-atomic)
  persister-kill  SIGKILL of server 1 while its persister holds pending entries (seen with
                  XPENDING); server 2's persister reclaims them after --reclaim-idle 3 s
                  (redis-atomic); server 1 restarted 1 s later
  script-flush    SCRIPT FLUSH on Redis (Redis strategies)
  flushall        FLUSHALL on Redis (Redis strategies)
  redis-delay / pg-delay   50 ms added each way for 4 s, through the proxy
  redis-stall / pg-stall   no byte forwarded for 5 s
  redis-cut / pg-cut       every proxied connection closed at once (both sides)
  master-kill, reshard     on a private Redis Cluster, mid-festival: these cells run after the
                  others, all in one 'scripts/festival.sh --fault ...' (its --help says how):
                  30 concerts, 3 server processes on one port, no proxies; master-kill
                  SIGKILLs the master of the headliner's slot (its replica is promoted by the
                  cluster, the killed node restarted as a replica), reshard moves that slot
                  to another master (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE).
                  For redis-atomic fast, replicated and strict, and redis-zset

scenario: 20,000 seats (100 VIP), customers 1..40,000 drawn at random, 64 virtual users,
requests paced (load --rate) so the sale is still open when the fault comes: 1,500/s for
redis-zset, redis-atomic and db-batch, 800/s db-atomic, 600/s db-lock, 300/s redis-lock(-cache),
for --seconds; time limit --seconds + 15 s; the load retries a purchase whose connection
failed (load --retry-connection-errors) and a 500 with Retry-After, as a client would.

PASS means: no acknowledged ticket lost or contradicted, no 202 left unissued, no other
anomaly (R1-R5, R8, phantoms no unknown outcome explains), no R6 violation — except that
redis-atomic fast may lose acknowledged tickets and redis-zset admissions in redis-kill,
redis-behind, flushall and master-kill (Redis itself lost writes: the replica promoted without
what its master had not sent yet; counted and printed), and redis-lock / redis-lock-cache do
not promise R6. replicated and strict lose nothing acknowledged in any fault. The cluster
cells' run files and logs are under OUT/festival/. The table's columns: ticketrush
chaos-table --help.

exit status: 0 every cell PASS, 3 a cell FAIL, 1 the suite itself failed, 2 bad options.
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }

# --- options -------------------------------------------------------------------------------
want_strategies=() want_faults=() durability='' quick=0 seconds='' fault_after='' out='' list=0 bin=''
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--strategy) want_strategies+=("${2:?--strategy needs a value}"); shift ;;
	--durability) durability=${2:?--durability needs a value}; shift ;;
	--fault) want_faults+=("${2:?--fault needs a value}"); shift ;;
	--quick) quick=1 ;;
	--seconds) seconds=${2:?}; shift ;;
	--fault-after) fault_after=${2:?}; shift ;;
	--out) out=${2:?}; shift ;;
	--list) list=1 ;;
	-*) echo "$PROG: unknown option $1 (try --help)" >&2; exit 2 ;;
	*) bin=$1 ;;
	esac
	shift
done
bin=$(realpath -- "${bin:-$root/build/ticketrush}")
[[ -x $bin ]] || die "$bin is not built; run make build"
[[ -z $durability || $durability == fast || $durability == strict || $durability == replicated ]] || { echo "$PROG: --durability is fast, strict or replicated" >&2; exit 2; }
if ((quick)); then
	: "${seconds:=6}" "${fault_after:=2}"
	tickets=5000 vip=50 customers=10000
else
	: "${seconds:=12}" "${fault_after:=4}"
	tickets=20000 vip=100 customers=40000
fi
[[ $seconds =~ ^[1-9][0-9]*$ && $fault_after =~ ^[0-9]+$ ]] || { echo "$PROG: --seconds and --fault-after are whole seconds" >&2; exit 2; }
for f in "${want_faults[@]}"; do
	[[ " $(echo $ALL_FAULTS) " == *" $f "* ]] || { echo "$PROG: unknown fault $f (try --help)" >&2; exit 2; }
done

labels=()
for l in $ALL_STRATEGIES; do
	s=${l%%:*} d=''
	[[ $l == *:* ]] && d=${l#*:}
	if ((${#want_strategies[@]})); then
		hit=0
		for w in "${want_strategies[@]}"; do [[ $w == "$s" || $w == "$l" ]] && hit=1; done
		((hit)) || continue
	fi
	[[ -n $durability && -n $d && $d != "$durability" ]] && continue
	labels+=("$l")
done
for w in "${want_strategies[@]}"; do
	[[ " $ALL_STRATEGIES " == *" $w "* || " $ALL_STRATEGIES " == *" $w:"* ]] || { echo "$PROG: unknown strategy $w (try --help)" >&2; exit 2; }
done

uses_redis() { [[ $1 == redis-* ]]; }
is_cluster_fault() { [[ " $CLUSTER_FAULTS " == *" $1 "* ]]; }
applies() { # label fault
	local s=${1%%:*}
	# replicated needs a replica: only the cluster has one
	[[ $1 == *:replicated ]] && ! is_cluster_fault "$2" && return 1
	case $2 in
	master-kill | reshard) [[ $s == redis-zset || $s == redis-atomic ]] ;;
	redis-kill | redis-behind | script-flush | flushall | redis-delay | redis-stall | redis-cut) uses_redis "$s" ;;
	pg-terminate) [[ $s == redis-zset || $s == redis-atomic ]] ;;
	persister-kill) [[ $s == redis-atomic ]] ;;
	*) return 0 ;;
	esac
}
rate_of() {
	case ${1%%:*} in
	redis-zset | redis-atomic | db-batch) echo 1500 ;;
	db-atomic) echo 800 ;;
	db-lock) echo 600 ;;
	*) echo 300 ;;
	esac
}

cells=()
for l in "${labels[@]}"; do
	for f in $ALL_FAULTS; do
		if ((${#want_faults[@]})); then
			hit=0
			for w in "${want_faults[@]}"; do [[ $w == "$f" ]] && hit=1; done
			((hit)) || continue
		fi
		applies "$l" "$f" && cells+=("$l $f")
	done
done
((${#cells[@]})) || die "no cell matches (see --list and --help)"
plain_cells=() cluster_cells=()
for cell in "${cells[@]}"; do
	if is_cluster_fault "${cell#* }"; then cluster_cells+=("$cell"); else plain_cells+=("$cell"); fi
done
if ((list)); then
	printf '%s\n' "${cells[@]}"
	exit 0
fi

# --- processes we start, stopped on every exit ---------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${out:-$root/results/chaos-$stamp}
mkdir -p "$out/logs"
out=$(cd -- "$out" && pwd -P)
svc=$(mktemp -d /tmp/ticketrush-chaos.XXXXXX)
chmod 755 "$svc"
server_pid=('' '') server_port=('' '') proxy_pids=() load_pid=''

stop_servers() {
	local i p
	for i in 0 1; do
		p=${server_pid[$i]}
		[[ -n $p ]] && kill -0 "$p" 2>/dev/null && { kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; }
	done
	for i in 0 1; do
		p=${server_pid[$i]}
		[[ -n $p ]] || continue
		for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$p" 2>/dev/null; then
			echo "$PROG: server pid $p did not stop in 20 s, killing it" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
		wait "$p" 2>/dev/null || true
		server_pid[$i]=''
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $load_pid ]] && kill -TERM "$load_pid" 2>/dev/null || true
	stop_servers
	local p
	for p in "${proxy_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${proxy_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$here/services.sh" stop --purge --dir "$svc" >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "$PROG: interrupted" >&2; exit 130' INT TERM

free_port() { # first port from $1 on that nothing uses
	local p=$1
	while ss -Htan "sport = :$p" 2>/dev/null | grep -q .; do p=$((p + 1)); done
	echo "$p"
}
now_ms() { date +%s%3N; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if ((${#plain_cells[@]})); then # the plain Redis, PostgreSQL and proxies
echo "== private PostgreSQL and Redis ($svc)"
"$here/services.sh" start --dir "$svc" >"$out/logs/services.log" 2>&1 || { cat "$out/logs/services.log" >&2; die "could not start the services"; }
# shellcheck disable=SC1091
source "$svc/env"
PG_DIRECT=$TICKETRUSH_PG
REDIS_PORT=${TICKETRUSH_REDIS##*:}
PG_PORT=$(sed -n 's/^PG_PORT=//p' "$svc/state" | tail -n 1)
PG_ROOT=$(sed -n 's/^PG_ROOT=//p' "$svc/state" | tail -n 1)
PG_BIN=${TICKETRUSH_PG_BIN:-/usr/lib/postgresql/15/bin}
[[ -x $PG_BIN/pg_ctl ]] || PG_BIN=$(pg_config --bindir)
REDIS_DIR=$svc/redis
fi

as_pg() { if ((EUID == 0)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
psql_direct() { PGAPPNAME=ticketrush-chaos psql -X -q -tA -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ticketrush "$@"; }

# --- the proxies ----------------------------------------------------------------------------
start_proxy() { # name backend-port first-port -> sets ${name}_PORT ${name}_CTL
	local name=$1 to=$2 lp cp pid
	lp=$(free_port "$3")
	cp=$(free_port $((lp + 1)))
	"$bin" fault-proxy --listen "$lp" --to "127.0.0.1:$to" --control "$cp" >>"$out/logs/proxy-$name.log" 2>&1 &
	pid=$!
	proxy_pids+=("$pid")
	for _ in $(seq 1 50); do
		grep -q "^fault-proxy: 127.0.0.1:$lp" "$out/logs/proxy-$name.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || die "the $name proxy did not start: $(tail -n 3 "$out/logs/proxy-$name.log")"
		sleep 0.1
	done
	printf -v "${name}_PORT" '%s' "$lp"
	printf -v "${name}_CTL" '%s' "$cp"
}
if ((${#plain_cells[@]})); then # the plain Redis, PostgreSQL and proxies
start_proxy redis "$REDIS_PORT" 17100
start_proxy pg "$PG_PORT" 17200
# shellcheck disable=SC2154
echo "   Redis 127.0.0.1:$REDIS_PORT via proxy :$redis_PORT (control :$redis_CTL)"
# shellcheck disable=SC2154
echo "   PostgreSQL 127.0.0.1:$PG_PORT via proxy :$pg_PORT (control :$pg_CTL)"
fi

proxy_ctl() { # proxy command -> prints the answer
	local port
	port=${1}_CTL
	port=${!port}
	exec 7<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '%s\n' "$2" >&7
	local answer=''
	read -r -t 5 answer <&7 || true
	exec 7>&-
	printf '%s\n' "$answer"
	[[ $answer == ok* ]]
}

if ((${#plain_cells[@]})); then # the plain Redis, PostgreSQL and proxies
SERVER_PG="host=127.0.0.1 port=$pg_PORT dbname=ticketrush user=postgres"
SERVER_REDIS="127.0.0.1:$redis_PORT"
server_port[0]=$(free_port 18300)
server_port[1]=$(free_port $((server_port[0] + 1)))
fi

start_server() { # index strategy durability logfile
	local i=$1 s=$2 d=$3 log=$4 args=(--strategy "$2" --port "${server_port[$1]}")
	[[ -n $d ]] && args+=(--durability "$d")
	[[ $s == redis-atomic ]] && args+=(--reclaim-idle 3000)
	TICKETRUSH_PG=$SERVER_PG TICKETRUSH_REDIS=$SERVER_REDIS "$bin" serve "${args[@]}" >>"$log" 2>&1 &
	server_pid[$i]=$!
	for _ in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:${server_port[$i]}/livez" >/dev/null 2>&1 && return 0
		kill -0 "${server_pid[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "$PROG: server $i ($s) did not start; its log:" >&2
	tail -n 20 "$log" >&2
	return 1
}

redis_pid() { tr -dc 0-9 <"$REDIS_DIR/redis.pid" 2>/dev/null || true; }
redis_up() {
	local p
	p=$(redis_pid)
	if [[ -n $p ]] && kill -0 "$p" 2>/dev/null && [[ $(rcli ping 2>/dev/null) == PONG ]]; then return 0; fi
	# not running (a fault left it down): start it on its append-only file
	(cd "$REDIS_DIR" && redis-server "$REDIS_DIR/redis.conf" </dev/null >/dev/null 2>&1) || return 1
	for _ in $(seq 1 300); do
		[[ $(rcli ping 2>/dev/null) == PONG ]] && return 0
		sleep 0.1
	done
	return 1
}
redis_start_again() { # after a kill; waits until it answers (loading the AOF may take a moment)
	(cd "$REDIS_DIR" && redis-server "$REDIS_DIR/redis.conf" </dev/null >/dev/null 2>&1)
	for _ in $(seq 1 300); do
		[[ $(rcli ping 2>/dev/null) == PONG ]] && return 0
		sleep 0.1
	done
	return 1
}
pg_start_again() {
	as_pg "$PG_BIN/pg_ctl" start -D "$PG_ROOT/pg" -l "$PG_ROOT/pg.log" -w -t 60 -s </dev/null >/dev/null 2>&1
}
pg_up() {
	pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 && return 0
	pg_start_again || return 1
	for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 && return 0; sleep 0.2; done
	return 1
}

mark() { printf '%s=%s\n' "$1" "$2" >>"$marks"; }
fault_now() { mark fault_at_ms "$(now_ms)"; }

# restart_server I: a supervisor brings a killed server back on its port
restart_server() {
	wait "${server_pid[$1]}" 2>/dev/null || true
	sleep 1
	start_server "$1" "$strategy" "$dur" "$slog1" || mark note "server 1 did not restart"
}

inject() { # fault
	local p n pending
	case $1 in
	server-kill)
		fault_now
		kill -KILL "${server_pid[0]}"
		restart_server 0
		;;
	redis-kill)
		p=$(redis_pid)
		fault_now
		kill -KILL "$p"
		while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
		redis_start_again || mark fault_error "Redis did not come back"
		;;
	redis-behind)
		rm -rf "$svc/aof-snapshot"
		cp -a "$REDIS_DIR/appendonlydir" "$svc/aof-snapshot"
		mark snapshot_at_ms "$(now_ms)"
		sleep 1
		p=$(redis_pid)
		fault_now
		kill -KILL "$p"
		while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
		rm -rf "$REDIS_DIR/appendonlydir"
		cp -a "$svc/aof-snapshot" "$REDIS_DIR/appendonlydir"
		redis_start_again || mark fault_error "Redis did not come back"
		mark note "Redis restarted from a copy of its appendonlydir taken 1 s before the kill"
		;;
	pg-restart)
		fault_now
		as_pg "$PG_BIN/pg_ctl" stop -D "$PG_ROOT/pg" -m immediate -w -t 30 -s >/dev/null 2>&1 || mark fault_error "pg_ctl stop -m immediate failed"
		pg_start_again || mark fault_error "PostgreSQL did not start again"
		;;
	server-stop)
		fault_now
		kill -STOP "${server_pid[0]}"
		sleep 4
		kill -CONT "${server_pid[0]}"
		;;
	pg-terminate)
		fault_now
		n=$(psql_direct -c "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = 'ticketrush' and application_name in ('ticketrush-persister', 'ticketrush-issuer')" 2>/dev/null || echo 0)
		if [[ $n == 0 ]]; then
			n=$(psql_direct -c "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = 'ticketrush' and pid <> pg_backend_pid() and application_name not in ('ticketrush-load', 'ticketrush-chaos')" 2>/dev/null || echo 0)
			mark note "no backend had application_name ticketrush-persister/-issuer: terminated all $n backends of the database but the suite's own (fallback)"
		else
			mark note "terminated $n persister/issuer backends"
		fi
		;;
	persister-kill)
		# XPENDING's summary lists consumers (host:pid) with their pending counts
		pending=''
		for _ in $(seq 1 200); do
			pending=$(rcli --no-raw xpending '{concert:1}:tickets' persister 2>/dev/null |
				tr -d '"' | awk -v pid=":${server_pid[0]}" '$0 ~ pid"$" {getline; print $NF; exit}')
			[[ -n $pending && $pending != 0 ]] && break
			sleep 0.02
		done
		fault_now
		kill -KILL "${server_pid[0]}"
		if [[ -n $pending && $pending != 0 ]]; then
			mark note "server 1 killed holding $pending pending entries"
		else
			mark note "no pending entries of server 1 seen in 4 s; killed anyway"
		fi
		restart_server 0
		;;
	script-flush) fault_now; rcli script flush >/dev/null || mark fault_error "SCRIPT FLUSH failed" ;;
	flushall) fault_now; rcli flushall >/dev/null || mark fault_error "FLUSHALL failed" ;;
	redis-delay | pg-delay)
		fault_now
		proxy_ctl "${1%-*}" "delay 50" >/dev/null || mark fault_error "proxy refused delay"
		sleep 4
		proxy_ctl "${1%-*}" pass >/dev/null || true
		;;
	redis-stall | pg-stall)
		fault_now
		proxy_ctl "${1%-*}" "stall 5000" >/dev/null || mark fault_error "proxy refused stall"
		sleep 5
		;;
	redis-cut | pg-cut)
		fault_now
		n=$(proxy_ctl "${1%-*}" cut) || mark fault_error "proxy refused cut"
		mark note "proxy: $n"
		;;
	esac
}

# --- one cell -------------------------------------------------------------------------------
run_cell() { # label fault
	local label=$1 fault=$2 rate requests tag rc
	strategy=${label%%:*} dur=''
	[[ $label == *:* ]] && dur=${label#*:}
	tag=${label/:/-}-$fault
	marks=$out/logs/marks-$tag.txt
	slog0=$out/logs/server0-$tag.log slog1=$out/logs/server1-$tag.log
	local run=$out/run-$tag.json
	rm -f "$marks"
	rate=$(rate_of "$label")
	requests=$((rate * seconds))

	proxy_ctl redis pass >/dev/null || true
	proxy_ctl pg pass >/dev/null || true
	pg_up || die "PostgreSQL is down and does not start"
	redis_up || die "Redis is down and does not start"
	rcli flushall >/dev/null
	TICKETRUSH_PG=$PG_DIRECT "$bin" db schema >/dev/null
	TICKETRUSH_PG=$PG_DIRECT "$bin" db seed --scenario seed --tickets "$tickets" --vip "$vip" --customers "$customers" >/dev/null
	case $strategy in redis-zset | redis-atomic) TICKETRUSH_PG=$PG_DIRECT "$bin" db open-sale >/dev/null ;; esac
	rcli bgrewriteaof >/dev/null 2>&1 || true # compact now, not mid-load
	for _ in $(seq 1 100); do
		rcli info persistence 2>/dev/null | tr -d '\r' | grep -q '^aof_rewrite_in_progress:0' && break
		sleep 0.1
	done
	start_server 0 "$strategy" "$dur" "$slog0" || return 1
	start_server 1 "$strategy" "$dur" "$slog1" || return 1
	mark fault "$fault"
	[[ -n $dur ]] && mark durability "$dur"

	PGAPPNAME=ticketrush-load "$bin" load --strategy "$strategy" --pg "$PG_DIRECT" \
		--url "http://127.0.0.1:${server_port[0]}" --url "http://127.0.0.1:${server_port[1]}" \
		--scenario seed --tickets "$tickets" --vip "$vip" --customers "$customers" \
		--requests "$requests" --vus 64 --max-connections 64 --rate "$rate" --retry-connection-errors \
		--time-limit-s $((seconds + 15)) --drain-stable-s 2 --drain-timeout-s 30 \
		--marks-file "$marks" --out "$run" --progress plain >"$out/logs/load-$tag.log" 2>&1 &
	load_pid=$!
	sleep "$fault_after"
	if kill -0 "$load_pid" 2>/dev/null; then
		inject "$fault"
	else
		mark fault_error "the load ended before the fault"
	fi
	rc=0
	wait "$load_pid" || rc=$?
	load_pid=''
	stop_servers
	if ((rc != 0)) || [[ ! -f $run ]]; then
		echo "$PROG: the load of $label x $fault failed (exit $rc); $out/logs/load-$tag.log:" >&2
		tail -n 5 "$out/logs/load-$tag.log" >&2
		return 1
	fi
	return 0
}

if ((${#plain_cells[@]})); then
	echo "== ${#cells[@]} cells, $seconds s of load each, fault at ${fault_after} s; results in $out"
else
	echo "== ${#cells[@]} cells on a Redis Cluster (festival.sh --fault; its --help); results in $out"
fi
started=$SECONDS
runs=() failed_runs=() broken=()
i=0
for cell in "${plain_cells[@]}"; do
	i=$((i + 1))
	read -r label fault <<<"$cell"
	tag=${label/:/-}-$fault
	log "[$i/${#cells[@]}] $label x $fault"
	if run_cell "$label" "$fault"; then
		runs+=("$out/run-$tag.json")
		row=$("$bin" chaos-table --rows-only "$out/run-$tag.json") || failed_runs+=("$out/run-$tag.json")
		printf '         %s\n' "$row"
	else
		broken+=("$cell")
		stop_servers
	fi
done

# The cluster cells: one festival.sh run for all of them (its own private cluster and PostgreSQL).
festival_label() { case $1 in redis-atomic:*) echo "redis-atomic-${1#*:}" ;; *) echo "$1" ;; esac; }
if ((${#cluster_cells[@]})); then
	fargs=()
	for cell in "${cluster_cells[@]}"; do
		read -r label fault <<<"$cell"
		fs=$(festival_label "$label")
		[[ " ${fargs[*]} " == *" --strategy $fs "* ]] || fargs+=(--strategy "$fs")
		[[ " ${fargs[*]} " == *" --fault $fault "* ]] || fargs+=(--fault "$fault")
	done
	((quick)) && fargs+=(--seconds 10 --fault-after 2 --rate 1000 --tickets 2000)
	log "[$((i + 1))..${#cells[@]}/${#cells[@]}] on a private Redis Cluster: scripts/festival.sh ${fargs[*]}"
	fsvc=$(mktemp -d /tmp/ticketrush-chaos-cluster.XXXXXX)
	chmod 755 "$fsvc"
	frc=0
	TICKETRUSH_SVC_DIR=$fsvc "$here/festival.sh" "${fargs[@]}" --out "$out/festival" "$bin" \
		>"$out/logs/festival.log" 2>&1 || frc=$?
	"$here/services.sh" stop --purge --dir "$fsvc" >/dev/null 2>&1 || true
	grep -E '^[0-9:]+ \[|^ {9}' "$out/logs/festival.log" | grep -v '^ *process ' || true
	((frc == 0 || frc == 3)) || echo "$PROG: festival.sh exited $frc; see $out/logs/festival.log" >&2
	for cell in "${cluster_cells[@]}"; do
		read -r label fault <<<"$cell"
		r=$out/festival/run-$(festival_label "$label")-$fault.json
		if [[ -f $r ]]; then
			runs+=("$r")
			"$bin" chaos-table --rows-only "$r" >/dev/null || failed_runs+=("$r")
		else
			broken+=("$cell")
		fi
	done
fi

echo
echo "== fault suite: $((SECONDS - started)) s for ${#cells[@]} cells ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
rc=0
if ((${#runs[@]})); then
	"$bin" chaos-table "${runs[@]}" | tee "$out/table.txt" || rc=3
fi
if ((${#broken[@]})); then
	echo "cells whose load did not complete (see $out/logs): ${broken[*]}" | tee -a "$out/table.txt"
	rc=1
fi
{
	echo
	((${#plain_cells[@]} == 0)) || echo "scenario: $tickets seats ($vip VIP), customers 1..$customers, 64 virtual users, $seconds s paced, fault at $fault_after s; two servers through the proxies"
	((${#cluster_cells[@]} == 0)) || grep '^scenario: festival' "$out/festival/chaos-table.txt" 2>/dev/null || true
	echo "suite time: $((SECONDS - started)) s"
} | tee -a "$out/table.txt"

# The report: the table first, then the runs of the server-kill cells and of every FAIL.
if ((${#runs[@]})); then
	shown=()
	for r in "${runs[@]}"; do [[ $r == *-server-kill.json ]] && shown+=("$r"); done
	for r in "${failed_runs[@]}"; do [[ " ${shown[*]} " == *" $r "* ]] || shown+=("$r"); done
	((${#shown[@]})) || shown=("${runs[0]}")
	"$bin" report --title "ticketrush fault suite" --chaos-table "$out/table.txt" --out "$out/report.html" "${shown[@]:0:24}" >/dev/null &&
		echo "report: $out/report.html (the table, then the server-kill runs and the failing ones)"
fi
echo "table: $out/table.txt"
exit "$rc"
