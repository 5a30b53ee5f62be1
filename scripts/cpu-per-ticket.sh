#!/usr/bin/env bash
# cpu-per-ticket.sh — where a sold ticket's CPU goes (issue 12 §3): an all-sell run (a seat for
# every request, each customer once) against one server, with the CPU time (user + system, from
# /proc) that the server, Redis, PostgreSQL (the postmaster's children, those that ended included)
# and the load generator used during the load and its drain, divided by the tickets sold. CPU
# time, unlike throughput, hardly moves when other work shares the cores, so two variants run one
# after the other compare fairly. A benchmark, not a test. Loopback only, bounded.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)
PROG=${0##*/}

usage() {
	cat <<EOF
usage: $PROG [--requests N] [--vus V] [BIN] -- SERVE-ARGS...

Seeds concert 1 with N seats (the scale scenario's customers), opens the sale in Redis for the
Redis strategies, starts 'BIN serve SERVE-ARGS...', sells all N seats with 'ticketrush load'
(V virtual users), waits for PostgreSQL to hold every ticket, and prints the CPU µs per sold
ticket of each process and in all, and the run's requests/s.

options:
  --requests N  requests = seats (default 200000)
  --vus V       virtual users (default 256)
  -h, --help    this text

environment: TICKETRUSH_SVC_DIR (the private services, default .svc; started if not running).
example: $PROG -- --strategy redis-atomic --durability fast
EOF
}

requests=200000 vus=256 bin=''
while (($#)); do
	case $1 in
	--requests) requests=${2:?--requests needs a value}; shift ;;
	--vus) vus=${2:?--vus needs a value}; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) echo "$PROG: unknown option $1 (try --help)" >&2; exit 2 ;;
	*) bin=$1 ;;
	esac
	shift
done
(($#)) || { echo "$PROG: give the server's options after -- (try --help)" >&2; exit 2; }
[[ $requests =~ ^[1-9][0-9]*$ && $vus =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: --requests and --vus are positive integers" >&2; exit 2; }
bin=$(realpath -- "${bin:-$root/build/ticketrush}")
[[ -x $bin ]] || { echo "$PROG: $bin is not built; run make build" >&2; exit 1; }
svc=${TICKETRUSH_SVC_DIR:-$root/.svc}
out=$(mktemp -d /tmp/cpu-per-ticket.XXXXXX)

# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
"$here/services.sh" start --dir "$svc" >/dev/null
# shellcheck disable=SC1091
source "$svc/env"
port=$(free_port 18280)

"$bin" db schema >/dev/null
"$bin" db seed --scenario scale --concert 1 --tickets "$requests" >/dev/null
case " $* " in *" redis-"*) "$bin" db open-sale --concert 1 >/dev/null ;; esac
pm=$(head -n 1 "$svc/pg/postmaster.pid")
redis_pid=$(cat "$svc/redis/redis.pid" 2>/dev/null || true)
[[ -n $redis_pid ]] || redis_pid=$(pgrep -f "redis-server .*:${TICKETRUSH_REDIS##*:}" | head -n 1 || true)
start_server cpu "$port" "$@"

ticks() { # PID... -> user + system clock ticks of those processes
	local t=0 p
	for p in "$@"; do
		[[ -r /proc/$p/stat ]] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t"
}
pg_ticks() { # the postmaster, its children that ended (cutime, cstime) and those that run
	local t
	t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
	echo $((t + $(ticks $(pgrep -P "$pm" || true))))
}

s0=$(ticks "$server_pid") r0=$(ticks $redis_pid) p0=$(pg_ticks)
"$bin" load --scenario scale --tickets "$requests" --requests "$requests" --vus "$vus" \
	--strategy cpu --url "http://127.0.0.1:$port" --out "$out/run.json" --progress off >"$out/load.txt" &
load_pid=$!
l=0
while kill -0 "$load_pid" 2>/dev/null; do # its own ticks, read until it exits
	t=$(ticks "$load_pid")
	((t > 0)) && l=$t
	sleep 0.2
done
wait "$load_pid" || { echo "$PROG: the load failed:" >&2; cat "$out/load.txt" >&2; exit 1; }
s1=$(ticks "$server_pid") r1=$(ticks $redis_pid) p1=$(pg_ticks)
stop_server
tickets=$(grep -o '"tickets": *[0-9]*' "$out/run.json" | tail -n 1 | grep -o '[0-9]*$')
rpm=$(grep -o '"requests_per_min": *[0-9.e+]*' "$out/run.json" | head -n 1 | sed 's/.*: *//')
awk -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v p=$((p1 - p0)) -v l="$l" -v hz="$(getconf CLK_TCK)" \
	-v n="$tickets" -v rpm="$rpm" -v args="$*" 'BEGIN {
	if (n <= 0) { print "no ticket sold"; exit 1 }
	f = 1e6 / hz / n
	printf "%s: %d tickets, %.0f requests/s; CPU µs per sold ticket: server %.1f, Redis %.1f, PostgreSQL %.1f, load generator %.1f, all %.1f\n",
		args, n, rpm / 60, s * f, r * f, p * f, l * f, (s + r + p + l) * f
}'
echo "command: $0 --requests $requests --vus $vus $bin -- $*   (run file: $out/run.json)"
