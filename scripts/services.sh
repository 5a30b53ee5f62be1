#!/usr/bin/env bash
# services.sh — a private Redis and a private PostgreSQL 15 for the demo, the tests and CI.
# Both listen on 127.0.0.1 only, on spare ports (never 5432/6379), with all state under one
# directory. It does not touch, use or depend on Debian's system instances.
set -euo pipefail

PROG=${0##*/}
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)

PG_PORT_DEFAULT=55432
REDIS_PORT_DEFAULT=56379
PORT_TRIES=50                  # try default .. default+50
# --cluster: every node's port and cluster bus port from here on: above Linux's ephemeral range
# (32768-60999), so a client's outgoing connection cannot take one between our pick and the
# node's bind() — 4N ports are picked at once, and the load of a test can churn through
# thousands of ephemeral ports a second.
CLUSTER_PORT_DEFAULT=61379
CLUSTER_PORT_FIRST=${TICKETRUSH_CLUSTER_PORT:-$CLUSTER_PORT_DEFAULT}
CLUSTER_PORT_TRIES=100
CLUSTER_MAX_MASTERS=8
TIMEOUT=${TICKETRUSH_SVC_TIMEOUT:-30}
PG_OS_USER=postgres            # the user PostgreSQL runs as when this script runs as root
PG_DB=ticketrush
MARKER=.ticketrush-services    # present in every DIR this script made; --purge requires it

usage() {
	cat <<EOF
usage: $PROG start|stop|status|env [--dir DIR] [--purge] [--cluster N]

Run a private Redis and PostgreSQL 15 on 127.0.0.1 for ticketrush.

commands:
  start    start both (if not already running), wait until they answer,
           create database '$PG_DB', write DIR/env and print it
           --cluster N  a Redis Cluster instead of the one Redis: N masters (1 or 3..$CLUSTER_MAX_MASTERS),
                        each with one replica (2N redis-server processes, AOF on), made with
                        redis-cli --cluster create (3 masters at least), or for N = 1 by hand:
                        the master takes every slot (CLUSTER ADDSLOTSRANGE 0 16383), the
                        replica meets it (CLUSTER MEET) and follows it (CLUSTER REPLICATE) —
                        a cluster that routes like a big one, to measure what routing costs;
                        ready when every node says cluster_state:ok;
                        exit 4 when this Redis cannot (redis-server 7 or newer is needed)
  stop     stop both (every cluster node too); leaves no process started from DIR behind
           --purge  also delete DIR (and PostgreSQL's /tmp fallback directory)
  status   say what is running and where (each cluster node with its role);
           exit 0 if both run (every cluster node with cluster_state:ok), 3 otherwise
  env      print DIR/env (use: source DIR/env, or eval "\$($PROG env)")

options:
  --dir DIR   state directory (default: \$TICKETRUSH_SVC_DIR, else $REPO_ROOT/.svc)
  --help      show this help

environment:
  TICKETRUSH_SVC_DIR      state directory, as --dir
  TICKETRUSH_PG_PORT      use exactly this PostgreSQL port (default: first free of
                          $PG_PORT_DEFAULT..$((PG_PORT_DEFAULT + PORT_TRIES)))
  TICKETRUSH_REDIS_PORT   use exactly this Redis port (default: first free of
                          $REDIS_PORT_DEFAULT..$((REDIS_PORT_DEFAULT + PORT_TRIES)))
  TICKETRUSH_CLUSTER_PORT --cluster: the first port to try for the nodes (default
                          $CLUSTER_PORT_DEFAULT; 4N free ports from there on, data and bus,
                          none of another cluster of this user that has a node running — a
                          port its killed node left free would bring its clients to ours;
                          the clusters are listed in /tmp/ticketrush-services-clusters.\$EUID)
  TICKETRUSH_SVC_TIMEOUT  seconds to wait for each service to answer (default 30)
  TICKETRUSH_PG_BIN       PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)

layout of DIR:
  env              the two settings below, for 'source'
  redis/           redis.conf, redis.pid, redis.log, appendonlydir/
  pg/              PostgreSQL data directory (owned by '$PG_OS_USER' when run as root)
  pg-run/          PostgreSQL's unix socket directory
  pg.log           PostgreSQL's log
  state            ports and paths of the last start
  cluster/         with --cluster: node-1 .. node-2N (redis.conf, redis.pid, redis.log,
                   nodes.conf, appendonlydir/), ports (node, port, bus port), create.log
If '$PG_OS_USER' cannot reach DIR (e.g. DIR is under /root), pg, pg-run and pg.log
live in /tmp/ticketrush-pg-<hash of DIR> instead, recorded in DIR/state.

DIR/env holds exactly:
  export TICKETRUSH_PG='host=127.0.0.1 port=$PG_PORT_DEFAULT dbname=$PG_DB user=postgres'
  export TICKETRUSH_REDIS='127.0.0.1:$REDIS_PORT_DEFAULT'
or, with --cluster, the seed addresses (the masters) in place of TICKETRUSH_REDIS, which it
unsets (so that nothing reaches some other Redis by mistake; export
TICKETRUSH_REDIS=\$TICKETRUSH_REDIS_CLUSTER, or pass --redis, to use the cluster):
  export TICKETRUSH_PG='host=127.0.0.1 port=$PG_PORT_DEFAULT dbname=$PG_DB user=postgres'
  export TICKETRUSH_REDIS_CLUSTER='127.0.0.1:$CLUSTER_PORT_DEFAULT,127.0.0.1:$((CLUSTER_PORT_DEFAULT + 1)),127.0.0.1:$((CLUSTER_PORT_DEFAULT + 2))'
  unset TICKETRUSH_REDIS
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
say() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
# arguments

cmd=
dir_arg=
purge=0
cluster_masters=
cluster_given=0
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--dir) (($# >= 2)) || die "option --dir needs a value"; dir_arg=$2; shift ;;
	--dir=*) dir_arg=${1#--dir=} ;;
	--purge) purge=1 ;;
	--cluster) (($# >= 2)) || die "option --cluster needs a value"; cluster_masters=$2; cluster_given=1; shift ;;
	--cluster=*) cluster_masters=${1#--cluster=}; cluster_given=1 ;;
	start | stop | status | env)
		[[ -z $cmd ]] || die "only one command allowed, got '$cmd' and '$1'"
		cmd=$1 ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done
[[ -n $cmd ]] || { usage >&2; exit 2; }
((purge == 0)) || [[ $cmd == stop ]] || die "--purge only goes with stop"
if ((cluster_given)); then
	[[ $cmd == start ]] || die "--cluster only goes with start (stop and status find the cluster in DIR)"
	if ! [[ $cluster_masters =~ ^[0-9]{1,3}$ ]] || ((10#$cluster_masters != 1 && (10#$cluster_masters < 3 || 10#$cluster_masters > CLUSTER_MAX_MASTERS))); then
		die "--cluster needs a number of masters, 1 or 3..$CLUSTER_MAX_MASTERS (redis-cli --cluster create makes at least 3; 1 is made by hand), got '$cluster_masters'"
	fi
	cluster_masters=$((10#$cluster_masters))
fi
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "TICKETRUSH_SVC_TIMEOUT must be a positive integer, got '$TIMEOUT'"
if ! [[ $CLUSTER_PORT_FIRST =~ ^[0-9]{4,5}$ ]] || ((10#$CLUSTER_PORT_FIRST < 1024 || 10#$CLUSTER_PORT_FIRST > 65535 - CLUSTER_PORT_TRIES)); then
	die "TICKETRUSH_CLUSTER_PORT must be a port in 1024..$((65535 - CLUSTER_PORT_TRIES)), got '$CLUSTER_PORT_FIRST'"
fi
CLUSTER_PORT_FIRST=$((10#$CLUSTER_PORT_FIRST))

DIR=${dir_arg:-${TICKETRUSH_SVC_DIR:-$REPO_ROOT/.svc}}
[[ -n $DIR ]] || die "state directory must not be empty"
DIR=$(realpath -m -- "$DIR")
# Paths go into redis.conf and postgresql.conf inside quotes; keep them plain.
[[ $DIR != *[\'\"\\\ $'\n\t']* ]] || die "state directory must not contain quotes, backslashes or whitespace: $DIR"
[[ $DIR != / ]] || die "state directory must not be /"

REDIS_DIR=$DIR/redis
REDIS_CONF=$REDIS_DIR/redis.conf
REDIS_PID=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log
ENV_FILE=$DIR/env
STATE_FILE=$DIR/state
CLUSTER_DIR=$DIR/cluster
CLUSTER_PORTS_FILE=$CLUSTER_DIR/ports
PG_FALLBACK=/tmp/ticketrush-pg-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)

STOPPED_PIDS=()
CLASH=0
LOG_OFF=0
IS_ROOT=0
((EUID != 0)) || IS_ROOT=1

# ---------------------------------------------------------------------------------------------
# helpers

# Run a PostgreSQL server program: as $PG_OS_USER from / when we are root (initdb and postgres
# refuse root), as ourselves otherwise.
as_pg() {
	if ((IS_ROOT)); then
		(cd / && runuser -u "$PG_OS_USER" -- "$@")
	else
		"$@"
	fi
}

find_pg_bin() {
	local bin=${TICKETRUSH_PG_BIN:-/usr/lib/postgresql/15/bin}
	if [[ ! -x $bin/pg_ctl ]] && command -v pg_config >/dev/null 2>&1; then
		bin=$(pg_config --bindir)
	fi
	[[ -x $bin/pg_ctl && -x $bin/initdb && -x $bin/postgres ]] ||
		die "PostgreSQL 15 server binaries not found in $bin (run scripts/bootstrap.sh, or set TICKETRUSH_PG_BIN)"
	PG_BIN=$bin
}

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "$c not found (run scripts/bootstrap.sh)"
	done
}

# Where PostgreSQL's files live: DIR itself, or the /tmp fallback. Sets PG_ROOT and the paths.
set_pg_paths() {
	PG_ROOT=$1
	PG_DATA=$PG_ROOT/pg
	PG_SOCK=$PG_ROOT/pg-run
	PG_LOG=$PG_ROOT/pg.log
}

# For stop/status/env: the PG_ROOT of an earlier start, without creating anything.
locate_pg() {
	local root=
	if [[ -f $STATE_FILE ]]; then
		root=$(sed -n 's/^PG_ROOT=//p' "$STATE_FILE" | tail -n 1)
	fi
	if [[ -z $root ]]; then
		if [[ ! -d $DIR/pg && -d $PG_FALLBACK/pg ]]; then root=$PG_FALLBACK; else root=$DIR; fi
	fi
	set_pg_paths "$root"
}

state_get() { # key -> value from DIR/state, empty if none
	[[ -f $STATE_FILE ]] || return 0
	sed -n "s/^$1=//p" "$STATE_FILE" | tail -n 1
}

write_state() {
	local tmp=$STATE_FILE.tmp.$$
	{
		printf 'PG_ROOT=%s\n' "$PG_ROOT"
		printf 'PG_PORT=%s\n' "$1"
		printf 'REDIS_PORT=%s\n' "$2"
		if [[ -n ${3:-} ]]; then printf 'CLUSTER_MASTERS=%s\n' "$3"; fi
	} >"$tmp"
	mv -f -- "$tmp" "$STATE_FILE"
}

write_env() { # pg-port redis-port [cluster-seeds]
	local tmp=$ENV_FILE.tmp.$$
	{
		printf "export TICKETRUSH_PG='host=127.0.0.1 port=%s dbname=%s user=postgres'\n" "$1" "$PG_DB"
		if [[ -n ${3:-} ]]; then
			printf "export TICKETRUSH_REDIS_CLUSTER='%s'\n" "$3"
			printf 'unset TICKETRUSH_REDIS\n'
		else
			printf "export TICKETRUSH_REDIS='127.0.0.1:%s'\n" "$2"
		fi
	} >"$tmp"
	mv -f -- "$tmp" "$ENV_FILE"
}

# Local TCP ports in use, one per line: listeners, and also connections, because the kernel's
# ephemeral range (32768-60999) covers our defaults and a client's local port blocks bind().
# Connections a closed server left behind (FIN-WAIT-1/2, CLOSING, LAST-ACK, TIME-WAIT: its side
# closed first, e.g. a Redis shut down while clients kept idle connections) do not block a server
# that sets SO_REUSEADDR, as both of ours do.
used_ports() {
	ss -Htan 2>/dev/null | awk '$1 !~ /^(TIME-WAIT|FIN-WAIT-1|FIN-WAIT-2|CLOSING|LAST-ACK)$/ {
		n = split($4, a, ":"); print a[n] }' | sort -un
}

port_in_use() {
	used_ports | grep -qx -- "$1"
}

check_port_override() { # name value
	[[ -n $2 ]] || return 0
	if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
		die "$1 port must be a number in 1..65535, got '$2' (TICKETRUSH_${1^^}_PORT)"
	fi
}

# pick_port NAME DEFAULT OVERRIDE EXCLUDED... -> prints the port
pick_port() {
	local name=$1 def=$2 override=$3 p used
	shift 3
	local excluded=" $* "
	if [[ -n $override ]]; then
		check_port_override "$name" "$override"
		[[ $excluded != *" $override "* ]] || die "$name port $override is also the other service's port"
		! port_in_use "$override" || die "$name port $override is already in use (see: ss -tanp)"
		printf '%s\n' "$override"
		return
	fi
	# A restart in the same DIR keeps its port, so clients that read the old env reconnect:
	# take it when nothing listens there (connections a crash left half-closed on it do not
	# block our servers, which bind with SO_REUSEADDR; a real clash is retried by the caller).
	local prev
	prev=$(state_get "${name^^}_PORT")
	if [[ $prev =~ ^[0-9]+$ && $excluded != *" $prev "* ]] &&
		! ss -Hltn "sport = :$prev" 2>/dev/null | grep -q .; then
		printf '%s\n' "$prev"
		return
	fi
	used=" $(used_ports | tr '\n' ' ') "
	for ((p = def; p <= def + PORT_TRIES; p++)); do
		[[ $excluded != *" $p "* && $used != *" $p "* ]] || continue
		printf '%s\n' "$p"
		return
	done
	die "no free $name port in $def..$((def + PORT_TRIES)) (set TICKETRUSH_${name^^}_PORT)"
}

# A zombie counts as dead: here pid 1 may take a while to reap a daemon's exit.
pid_alive() {
	local stat
	[[ ${1:-} =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

# Close every descriptor above 2 in the current (sub)shell, so a daemon started from it holds
# none of ours or our caller's: our locks, make's jobserver pipe, a CI runner's log pipe.
close_extra_fds() {
	local f fd
	for f in /proc/"$BASHPID"/fd/*; do
		fd=${f##*/}
		if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2 && fd != 255)); then
			eval "exec $fd>&-" 2>/dev/null || true
		fi
	done
}

wait_gone() { # pid tenths-of-a-second
	local i
	for ((i = 0; i < $2; i++)); do
		pid_alive "$1" || return 0
		sleep 0.1
	done
	! pid_alive "$1"
}

file_size() { stat -c %s -- "$1" 2>/dev/null || echo 0; }

# What a log gained since byte offset $2.
log_since() { tail -c "+$(($2 + 1))" -- "$1" 2>/dev/null || true; }

# Log tail for error messages, indented: this run's lines (from byte offset $2) if any.
log_tail() {
	local f=$1 off=${2:-0} n=20
	if [[ ! -r $f ]]; then
		printf '%s\n' "(no log at $f)" >&2
	elif (($(file_size "$f") > off)); then
		printf '%s\n' "--- $f (last $n lines of this run) ---" >&2
		log_since "$f" "$off" | tail -n "$n" | sed 's/^/  /' >&2
	else
		printf '%s\n' "--- $f (nothing new; last $n lines) ---" >&2
		tail -n "$n" -- "$f" | sed 's/^/  /' >&2
	fi
}

# Processes started from DIR: postgres or redis whose working directory is inside DIR or the
# PostgreSQL fallback (postgres works in its data directory, redis in its 'dir').
leftover_pids() {
	local d pid comm cwd
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		comm=$(cat "$d/comm" 2>/dev/null) || continue
		case $comm in postgres | postmaster | redis-server | redis-check-*) ;; *) continue ;; esac
		cwd=$(readlink "$d/cwd" 2>/dev/null) || continue
		cwd=${cwd% (deleted)}
		case $cwd in
		"$DIR" | "$DIR"/* | "$PG_FALLBACK" | "$PG_FALLBACK"/*) printf '%s\n' "$pid" ;;
		esac
	done
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_running() { # -> 0 and sets PG_RUN_PID / PG_RUN_PORT if the postmaster for PG_DATA is alive
	PG_RUN_PID='' PG_RUN_PORT=''
	[[ -f $PG_DATA/postmaster.pid ]] || return 1
	PG_RUN_PID=$(sed -n 1p "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
	PG_RUN_PORT=$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
	[[ $PG_RUN_PID =~ ^[0-9]+$ ]] && pid_alive "$PG_RUN_PID" || return 1
	# A recycled pid is not our postmaster: it must be a postgres working in PG_DATA.
	[[ $(cat "/proc/$PG_RUN_PID/comm" 2>/dev/null) == postgres ]] || return 1
	[[ $(readlink "/proc/$PG_RUN_PID/cwd" 2>/dev/null) == "$(realpath -m -- "$PG_DATA")" ]] || return 1
}

# Can $PG_OS_USER create files in PG_DATA and PG_SOCK and append to PG_LOG?
pg_user_can_reach() {
	((IS_ROOT)) || return 0
	# shellcheck disable=SC2016 # $1..$3 expand in the inner shell
	as_pg bash -c 'test -w "$1" && test -x "$1" && test -w "$2" && test -x "$2" && test -w "$3"' \
		_ "$PG_DATA" "$PG_SOCK" "$PG_LOG" 2>/dev/null
}

pg_make_dirs() { # create PG_DATA, PG_SOCK, PG_LOG for the PostgreSQL user
	mkdir -p -- "$PG_ROOT" "$PG_DATA" "$PG_SOCK"
	touch -- "$PG_LOG"
	chmod 700 -- "$PG_DATA"
	chmod 755 -- "$PG_SOCK"
	chmod 644 -- "$PG_LOG"
	if ((IS_ROOT)); then
		chown "$PG_OS_USER:" -- "$PG_DATA" "$PG_SOCK" "$PG_LOG"
	fi
}

pg_prepare() {
	if ((IS_ROOT)); then
		id -u "$PG_OS_USER" >/dev/null 2>&1 ||
			die "user '$PG_OS_USER' not found (install postgresql-15: scripts/bootstrap.sh)"
	fi
	local prev
	prev=$(state_get PG_ROOT)
	if [[ -n $prev && -d $prev/pg ]]; then
		set_pg_paths "$prev"
	elif [[ -d $DIR/pg ]]; then
		set_pg_paths "$DIR"
	elif [[ -d $PG_FALLBACK/pg ]]; then
		set_pg_paths "$PG_FALLBACK"
	else
		set_pg_paths "$DIR"
	fi
	# unix socket path: sun_path holds 107 bytes; ".s.PGSQL.NNNNN" adds 15.
	if [[ $PG_ROOT == "$DIR" ]] && ((${#PG_SOCK} + 15 > 107)); then
		warn "state directory path too long for a unix socket, putting PostgreSQL in $PG_FALLBACK"
		set_pg_paths "$PG_FALLBACK"
	fi
	if [[ $PG_ROOT == "$DIR" ]]; then
		pg_make_dirs
		if ! pg_user_can_reach; then
			warn "user '$PG_OS_USER' cannot reach $DIR (a parent directory is not searchable)," \
				"putting PostgreSQL in $PG_FALLBACK"
			# Undo the empty directories we just made; never touch a real data directory.
			[[ -f $PG_DATA/PG_VERSION ]] || rmdir -- "$PG_DATA" 2>/dev/null || true
			rmdir -- "$PG_SOCK" 2>/dev/null || true
			[[ -s $PG_LOG ]] || rm -f -- "$PG_LOG"
			set_pg_paths "$PG_FALLBACK"
		fi
	fi
	if [[ $PG_ROOT == "$PG_FALLBACK" ]]; then
		if [[ -e $PG_ROOT ]]; then
			[[ -d $PG_ROOT && ! -L $PG_ROOT ]] || die "$PG_ROOT exists and is not a directory"
			local owner
			owner=$(stat -c %u -- "$PG_ROOT")
			[[ $owner == 0 || $owner == "$EUID" ]] || die "$PG_ROOT is owned by uid $owner, not by us: refusing to use it"
		fi
		mkdir -p -- "$PG_ROOT"
		chmod 755 -- "$PG_ROOT"
		touch -- "$PG_ROOT/$MARKER"
		pg_make_dirs
		pg_user_can_reach || die "user '$PG_OS_USER' cannot write to $PG_ROOT either"
	fi
}

pg_conf() { # write the settings we own; postgresql.conf includes this file
	local port=$1 conf=$PG_DATA/ticketrush.conf tmp
	tmp=$(mktemp "$PG_DATA/.ticketrush.conf.XXXXXX")
	cat >"$tmp" <<EOF
# written by scripts/services.sh on every start; edit that script, not this file
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_SOCK'
max_connections = 400
shared_buffers = 256MB
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
	chmod 644 -- "$tmp"
	((IS_ROOT == 0)) || chown "$PG_OS_USER:" -- "$tmp"
	mv -f -- "$tmp" "$conf"
	if ! grep -qx "include_if_exists = 'ticketrush.conf'" "$PG_DATA/postgresql.conf"; then
		printf "\n# ticketrush: scripts/services.sh\ninclude_if_exists = 'ticketrush.conf'\n" |
			as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
	fi
}

pg_start() { # -> sets PG_PORT
	find_pg_bin
	need pg_isready psql
	pg_prepare
	if pg_running; then
		PG_PORT=$PG_RUN_PORT
		say "postgresql: already running (pid $PG_RUN_PID, 127.0.0.1:$PG_PORT, data $PG_DATA)"
		return
	fi
	if [[ ! -f $PG_DATA/PG_VERSION ]]; then
		[[ -z $(ls -A -- "$PG_DATA") ]] ||
			die "$PG_DATA is not empty and holds no database cluster: remove it (or run: $PROG stop --purge --dir $DIR)"
		local out
		if ! out=$(as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres --locale=C.UTF-8 -E UTF8 2>&1); then
			printf '%s\n' "$out" | tail -n 20 | sed 's/^/  /' >&2
			die "initdb failed for $PG_DATA"
		fi
		say "postgresql: initialised $PG_DATA"
	else
		local v
		v=$(cat "$PG_DATA/PG_VERSION")
		[[ $v == 15 ]] || die "$PG_DATA holds a PostgreSQL $v cluster, not 15: remove it (or run: $PROG stop --purge --dir $DIR)"
	fi
	# The port can be taken between our check and the server's bind() (another start, a
	# client's ephemeral port): then try the next one, unless the port was asked for.
	local tried=() attempt
	for ((attempt = 1; ; attempt++)); do
		PG_PORT=$(pick_port pg "$PG_PORT_DEFAULT" "${TICKETRUSH_PG_PORT:-}" "${REDIS_PORT:-}" "${tried[@]}")
		CLASH=0
		pg_launch
		((CLASH)) || break
		if [[ -n ${TICKETRUSH_PG_PORT:-} ]] || ((attempt >= 5)); then
			log_tail "$PG_LOG" "$LOG_OFF"
			die "could not start PostgreSQL: port 127.0.0.1:$PG_PORT is in use"
		fi
		warn "port $PG_PORT was taken meanwhile, trying another"
		tried+=("$PG_PORT")
	done
	pg_running || true
	say "postgresql: started (pid ${PG_RUN_PID:-?}, 127.0.0.1:$PG_PORT, data $PG_DATA)"
}

pg_launch() { # one attempt on PG_PORT; dies on failure, sets CLASH=1 if the port was taken
	pg_conf "$PG_PORT"
	STARTED_PG=1
	LOG_OFF=$(file_size "$PG_LOG")
	local out
	if ! out=$(close_extra_fds; as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" -s </dev/null 2>&1); then
		if ! pg_running && log_since "$PG_LOG" "$LOG_OFF" | grep -q 'could not bind.*Address already in use'; then
			CLASH=1
			return 0
		fi
		[[ -z $out ]] || printf '%s\n' "$out" | sed 's/^/  /' >&2
		log_tail "$PG_LOG" "$LOG_OFF"
		die "could not start PostgreSQL on 127.0.0.1:$PG_PORT (data $PG_DATA)"
	fi
	local deadline=$((SECONDS + TIMEOUT))
	until pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2; do
		if ((SECONDS >= deadline)); then
			log_tail "$PG_LOG" "$LOG_OFF"
			die "PostgreSQL on 127.0.0.1:$PG_PORT did not answer within ${TIMEOUT}s"
		fi
		sleep 0.2
	done
}

pg_create_db() {
	local psql=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres)
	local have out
	have=$(PGCONNECT_TIMEOUT=5 "${psql[@]}" -tAc "select 1 from pg_database where datname = '$PG_DB'" 2>&1) ||
		die "could not query PostgreSQL on 127.0.0.1:$PG_PORT: $have"
	if [[ $have != 1 ]]; then
		out=$("${psql[@]}" -c "create database $PG_DB" 2>&1) ||
			die "could not create database $PG_DB on 127.0.0.1:$PG_PORT: $out"
		say "postgresql: created database $PG_DB"
	fi
}

pg_stop() {
	locate_pg
	if [[ -f $PG_DATA/PG_VERSION ]] && pg_running; then
		local pid=$PG_RUN_PID
		find_pg_bin
		if ! as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$TIMEOUT" -s >/dev/null 2>&1; then
			warn "PostgreSQL did not stop in ${TIMEOUT}s with -m fast, using -m immediate"
			as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 10 -s >/dev/null 2>&1 || true
		fi
		# pg_ctl -w returns once the pid file is gone; the postmaster may take a moment more
		wait_gone "$pid" 50 || true
		if pid_alive "$pid"; then
			warn "PostgreSQL (pid $pid) still alive, killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		STOPPED_PIDS+=("$pid")
		say "postgresql: stopped (was pid $pid)"
	else
		say "postgresql: not running"
	fi
}

# ---------------------------------------------------------------------------------------------
# Redis

redis_running() { # -> 0 and sets REDIS_RUN_PID / REDIS_RUN_PORT
	REDIS_RUN_PID='' REDIS_RUN_PORT=''
	[[ -f $REDIS_PID ]] || return 1
	REDIS_RUN_PID=$(tr -dc 0-9 <"$REDIS_PID")
	pid_alive "$REDIS_RUN_PID" || return 1
	[[ $(cat "/proc/$REDIS_RUN_PID/comm" 2>/dev/null) == redis-server ]] || return 1
	[[ $(readlink "/proc/$REDIS_RUN_PID/cwd" 2>/dev/null) == "$REDIS_DIR" ]] || return 1
	REDIS_RUN_PORT=$(sed -n 's/^port[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' "$REDIS_CONF" 2>/dev/null | tail -n 1)
	[[ -n $REDIS_RUN_PORT ]]
}

redis_ping() { # port
	[[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

redis_conf() {
	local port=$1 tmp
	tmp=$(mktemp "$REDIS_DIR/.conf.XXXXXX")
	cat >"$tmp" <<EOF
# written by scripts/services.sh on every start; edit that script, not this file
bind 127.0.0.1
port $port
protected-mode no
daemonize yes
pidfile "$REDIS_PID"
logfile "$REDIS_LOG"
dir "$REDIS_DIR"
appendonly yes
appendfsync everysec
save ""
maxclients 10000
EOF
	chmod 644 -- "$tmp"
	mv -f -- "$tmp" "$REDIS_CONF"
}

redis_start() { # -> sets REDIS_PORT
	need redis-server redis-cli
	mkdir -p -- "$REDIS_DIR"
	if redis_running; then
		REDIS_PORT=$REDIS_RUN_PORT
		say "redis: already running (pid $REDIS_RUN_PID, 127.0.0.1:$REDIS_PORT, dir $REDIS_DIR)"
		return
	fi
	rm -f -- "$REDIS_PID"
	# maxclients 10000 needs ~10032 descriptors; raise the soft limit if the hard one allows.
	local want=10032
	if (($(ulimit -Sn) < want)); then
		ulimit -Sn "$want" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
	fi
	# As for PostgreSQL: if the port is taken before Redis binds it, try the next one.
	local tried=() attempt
	for ((attempt = 1; ; attempt++)); do
		REDIS_PORT=$(pick_port redis "$REDIS_PORT_DEFAULT" "${TICKETRUSH_REDIS_PORT:-}" "${PG_PORT:-}" "${tried[@]}")
		CLASH=0
		redis_launch
		((CLASH)) || break
		if [[ -n ${TICKETRUSH_REDIS_PORT:-} ]] || ((attempt >= 5)); then
			log_tail "$REDIS_LOG" "$LOG_OFF"
			die "could not start Redis: port 127.0.0.1:$REDIS_PORT is in use"
		fi
		warn "port $REDIS_PORT was taken meanwhile, trying another"
		tried+=("$REDIS_PORT")
	done
	redis_running || true
	say "redis: started (pid ${REDIS_RUN_PID:-?}, 127.0.0.1:$REDIS_PORT, dir $REDIS_DIR)"
}

redis_launch() { # one attempt on REDIS_PORT; dies on failure, sets CLASH=1 if the port was taken
	redis_conf "$REDIS_PORT"
	STARTED_REDIS=1
	LOG_OFF=$(file_size "$REDIS_LOG")
	local out
	# daemonize: the server detaches; its own stdio goes to /dev/null, startup errors to us.
	# It must not inherit our lock descriptors 8 and 9, or it would hold the locks forever.
	if ! out=$(close_extra_fds; cd -- "$REDIS_DIR" && redis-server "$REDIS_CONF" </dev/null 2>&1); then
		[[ -z $out ]] || printf '%s\n' "$out" | tail -n 20 | sed 's/^/  /' >&2
		log_tail "$REDIS_LOG" "$LOG_OFF"
		die "could not start Redis on 127.0.0.1:$REDIS_PORT (config $REDIS_CONF)"
	fi
	if ! redis_wait_started "$REDIS_PORT" "$REDIS_LOG" Redis redis_running; then
		redis_stop >/dev/null 2>&1 || true
		die "Redis on 127.0.0.1:$REDIS_PORT did not answer PONG within ${TIMEOUT}s"
	fi
}

# After launching a redis-server: Redis forks before it binds and writes its pidfile only once
# listening, so "ours is up" is: CHECK... (our pidfile names a live redis in its directory) and
# the port answers PONG. A bind failure shows only in the log (read from LOG_OFF): CLASH=1 and
# 0 then. Dies when it exited; 1 (its log shown) when it did not answer within TIMEOUT.
redis_wait_started() { # port log what check...
	local port=$1 log=$2 what=$3 deadline=$((SECONDS + TIMEOUT)) new
	shift 3
	until "$@" && redis_ping "$port"; do
		new=$(log_since "$log" "$LOG_OFF")
		if [[ $new == *"Address already in use"* ]]; then
			CLASH=1
			return 0
		fi
		if [[ $new == *"Redis is now ready to exit"* || $new == *"FATAL"* ]]; then
			log_tail "$log" "$LOG_OFF"
			die "$what exited during start on 127.0.0.1:$port"
		fi
		if ((SECONDS >= deadline)); then
			log_tail "$log" "$LOG_OFF"
			return 1
		fi
		sleep 0.1
	done
}

redis_stop() {
	if ! redis_running; then
		rm -f -- "$REDIS_PID"
		say "redis: not running"
		return 0
	fi
	local pid=$REDIS_RUN_PID port=$REDIS_RUN_PORT i
	# nosave: no RDB snapshot (save "" anyway); the append-only file is still flushed.
	timeout 5 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
	wait_gone "$pid" 50
	if pid_alive "$pid"; then
		warn "Redis (pid $pid) did not shut down, sending SIGTERM"
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" 50
	fi
	if pid_alive "$pid"; then
		warn "Redis (pid $pid) still alive, killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f -- "$REDIS_PID"
	STOPPED_PIDS+=("$pid")
	say "redis: stopped (was pid $pid)"
}

# ---------------------------------------------------------------------------------------------
# Redis Cluster (start --cluster N): N masters, each with one replica, instead of the one Redis.
# Node i (1..2N) lives in DIR/cluster/node-i; CLUSTER_PORTS_FILE records "i port bus-port" for
# each, so a restart in the same DIR brings every node back where the others expect it.

cluster_node_paths() { # i -> NODE_DIR, NODE_CONF, NODE_PID, NODE_LOG
	NODE_DIR=$CLUSTER_DIR/node-$1
	NODE_CONF=$NODE_DIR/redis.conf
	NODE_PID=$NODE_DIR/redis.pid
	NODE_LOG=$NODE_DIR/redis.log
}

cluster_node_count() { # -> the number of nodes recorded in CLUSTER_PORTS_FILE (0 if none)
	[[ -f $CLUSTER_PORTS_FILE ]] || { echo 0; return; }
	awk 'NF == 3 { n++ } END { print n + 0 }' "$CLUSTER_PORTS_FILE"
}

cluster_port_of() { # i -> its port from CLUSTER_PORTS_FILE
	awk -v i="$1" '$1 == i { print $2 }' "$CLUSTER_PORTS_FILE"
}

cluster_bus_port_of() { # i -> its cluster bus port from CLUSTER_PORTS_FILE
	awk -v i="$1" '$1 == i { print $3 }' "$CLUSTER_PORTS_FILE"
}

cluster_node_running() { # i -> 0 and sets NODE_RUN_PID if node i's redis-server is alive
	NODE_RUN_PID=''
	cluster_node_paths "$1"
	[[ -f $NODE_PID ]] || return 1
	NODE_RUN_PID=$(tr -dc 0-9 <"$NODE_PID")
	pid_alive "$NODE_RUN_PID" || return 1
	[[ $(cat "/proc/$NODE_RUN_PID/comm" 2>/dev/null) == redis-server ]] || return 1
	[[ $(readlink "/proc/$NODE_RUN_PID/cwd" 2>/dev/null) == "$NODE_DIR" ]]
}

cluster_info_field() { # port field -> the field of CLUSTER INFO ("" when it does not answer)
	timeout 3 redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

cluster_role() { # port -> master, slave or ""
	timeout 3 redis-cli -h 127.0.0.1 -p "$1" role 2>/dev/null | head -n 1 | tr -d '\r'
}

# Redis Cluster with cluster-port (the bus port chosen apart from the data port) is Redis 7.
cluster_check_support() {
	need redis-server redis-cli
	local v
	v=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9]*\)\..*/\1/p')
	if [[ ! $v =~ ^[0-9]+$ ]] || ((v < 7)); then
		printf '%s: --cluster needs redis-server 7 or newer (found: %s)\n' "$PROG" \
			"$(redis-server --version 2>/dev/null || echo none)" >&2
		exit 4
	fi
	local help
	help=$(redis-cli --cluster help 2>&1 || true) # it exits 1 after printing the help
	grep -q '^ *create ' <<<"$help" || {
		printf '%s: --cluster needs redis-cli with --cluster create\n' "$PROG" >&2
		exit 4
	}
}

# Clusters of this user, one DIR a line: a new cluster keeps off the ports of every other one
# that still has a node running, even a port that is free because that node is down (a test
# killed it, a supervisor will restart it): its clients would reach our node there.
CLUSTER_REGISTRY=/tmp/ticketrush-services-clusters.$EUID

# claimed_cluster_ports -> the ports (data and bus) of the registered clusters other than DIR's
# that have a node alive, one a line; drops entries whose directory holds no cluster any more.
# Called with the port lock held.
claimed_cluster_ports() {
	[[ -f $CLUSTER_REGISTRY ]] || return 0
	local d f pid live keep=()
	while IFS= read -r d; do
		[[ -n $d && -f $d/cluster/ports ]] || continue
		keep+=("$d")
		[[ $d != "$DIR" ]] || continue
		live=0
		for f in "$d"/cluster/node-*/redis.pid; do
			pid=$(tr -dc 0-9 2>/dev/null <"$f") || continue
			if pid_alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server ]]; then
				live=1
				break
			fi
		done
		((live)) || continue
		awk 'NF == 3 { print $2; print $3 }' "$d/cluster/ports"
	done <"$CLUSTER_REGISTRY"
	if ((${#keep[@]})); then printf '%s\n' "${keep[@]}"; fi | sort -u >"$CLUSTER_REGISTRY.tmp.$$"
	mv -f -- "$CLUSTER_REGISTRY.tmp.$$" "$CLUSTER_REGISTRY"
}

cluster_register() { # DIR's cluster into CLUSTER_REGISTRY (with the port lock held)
	grep -qxF -- "$DIR" "$CLUSTER_REGISTRY" 2>/dev/null || printf '%s\n' "$DIR" >>"$CLUSTER_REGISTRY"
}

# pick_cluster_ports COUNT EXCLUDED... -> COUNT free ports from CLUSTER_PORT_FIRST on, one a line,
# none of another live cluster's (claimed_cluster_ports).
pick_cluster_ports() {
	local count=$1 p n=0
	shift
	local excluded used
	excluded=" $* $(claimed_cluster_ports | tr '\n' ' ') "
	used=" $(used_ports | tr '\n' ' ') "
	for ((p = CLUSTER_PORT_FIRST; p <= CLUSTER_PORT_FIRST + CLUSTER_PORT_TRIES && n < count; p++)); do
		[[ $excluded != *" $p "* && $used != *" $p "* ]] || continue
		printf '%s\n' "$p"
		n=$((n + 1))
	done
	((n == count)) || die "no $count free ports in $CLUSTER_PORT_FIRST..$((CLUSTER_PORT_FIRST + CLUSTER_PORT_TRIES)) for the cluster (TICKETRUSH_CLUSTER_PORT)"
}

cluster_node_conf() { # i port bus-port
	cluster_node_paths "$1"
	local tmp
	tmp=$(mktemp "$NODE_DIR/.conf.XXXXXX")
	cat >"$tmp" <<CONF
# written by scripts/services.sh on every start; edit that script, not this file
bind 127.0.0.1
port $2
protected-mode no
daemonize yes
pidfile "$NODE_PID"
logfile "$NODE_LOG"
dir "$NODE_DIR"
appendonly yes
appendfsync everysec
save ""
maxclients 10000
cluster-enabled yes
cluster-config-file "$NODE_DIR/nodes.conf"
cluster-port $3
cluster-node-timeout 5000
# A new replica's offset stays 0, and CLUSTER SLOTS leaves it out, until its master first sends
# something: the replication PING, every 10 s by default.
repl-ping-replica-period 1
CONF
	chmod 644 -- "$tmp"
	mv -f -- "$tmp" "$NODE_CONF"
}

# One attempt to start node i on port/bus-port; dies on failure, sets CLASH=1 if a port was taken.
cluster_node_launch() { # i port bus-port
	cluster_node_conf "$@"
	STARTED_CLUSTER=1
	STARTED_NODES+=("$1")
	LOG_OFF=$(file_size "$NODE_LOG")
	rm -f -- "$NODE_PID"
	local out
	if ! out=$(close_extra_fds; cd -- "$NODE_DIR" && redis-server "$NODE_CONF" </dev/null 2>&1); then
		[[ -z $out ]] || printf '%s\n' "$out" | tail -n 20 | sed 's/^/  /' >&2
		log_tail "$NODE_LOG" "$LOG_OFF"
		die "could not start cluster node $1 on 127.0.0.1:$2 (config $NODE_CONF)"
	fi
	redis_wait_started "$2" "$NODE_LOG" "cluster node $1" cluster_node_running "$1" ||
		die "cluster node $1 on 127.0.0.1:$2 did not answer PONG within ${TIMEOUT}s"
}

cluster_start() { # N masters
	local masters=$1 nodes=$(($1 * 2)) i port bus attempt tried=()
	cluster_check_support
	local want=10032
	if (($(ulimit -Sn) < want)); then
		ulimit -Sn "$want" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
	fi
	mkdir -p -- "$CLUSTER_DIR"
	local have
	have=$(cluster_node_count)
	if ((have != 0 && have != nodes)); then
		die "$DIR holds a cluster of $have nodes, not $nodes: run '$PROG stop --purge --dir $DIR' first"
	fi
	if ((have == 0)); then
		# A fresh cluster: pick every port first (data and bus ports all distinct).
		FRESH_CLUSTER=1
		rm -rf -- "$CLUSTER_DIR"/node-*
		local picked=()
		mapfile -t picked < <(pick_cluster_ports $((nodes * 2)))
		((${#picked[@]} == nodes * 2)) || exit 1
		local tmp=$CLUSTER_PORTS_FILE.tmp.$$
		: >"$tmp"
		for ((i = 1; i <= nodes; i++)); do
			printf '%s %s %s\n' "$i" "${picked[i - 1]}" "${picked[nodes + i - 1]}" >>"$tmp"
		done
		mv -f -- "$tmp" "$CLUSTER_PORTS_FILE"
		cluster_register
	fi
	for ((i = 1; i <= nodes; i++)); do
		cluster_node_paths "$i"
		mkdir -p -- "$NODE_DIR"
		port=$(cluster_port_of "$i")
		bus=$(cluster_bus_port_of "$i")
		if cluster_node_running "$i"; then
			say "redis cluster node $i: already running (pid $NODE_RUN_PID, 127.0.0.1:$port)"
			continue
		fi
		for ((attempt = 1; ; attempt++)); do
			CLASH=0
			cluster_node_launch "$i" "$port" "$bus"
			((CLASH)) || break
			# Before the cluster is made a node may move; after, the others expect it here.
			if ((have != 0 || attempt >= 5)); then
				log_tail "$NODE_LOG" "$LOG_OFF"
				die "could not start cluster node $i: port 127.0.0.1:$port or bus port $bus is in use"
			fi
			warn "port $port or $bus was taken meanwhile, trying others"
			local more=() taken=()
			read -r -a taken < <(awk '{ printf "%s %s ", $2, $3 } END { print "" }' "$CLUSTER_PORTS_FILE")
			tried+=("$port" "$bus")
			mapfile -t more < <(pick_cluster_ports 2 "${taken[@]}" "${tried[@]}")
			((${#more[@]} == 2)) || exit 1
			port=${more[0]} bus=${more[1]}
			awk -v i="$i" -v p="$port" -v b="$bus" '$1 == i { $2 = p; $3 = b } { print }' \
				"$CLUSTER_PORTS_FILE" >"$CLUSTER_PORTS_FILE.tmp.$$"
			mv -f -- "$CLUSTER_PORTS_FILE.tmp.$$" "$CLUSTER_PORTS_FILE"
		done
		cluster_node_running "$i" || true
		say "redis cluster node $i: started (pid ${NODE_RUN_PID:-?}, 127.0.0.1:$port, bus $bus, dir $NODE_DIR)"
	done
	# Made already (a restart), or to be made now: node 1 knows every node, or only itself.
	local first known addrs=()
	first=$(cluster_port_of 1)
	known=$(cluster_info_field "$first" cluster_known_nodes)
	if [[ $known == 1 ]] && ((masters == 1)); then
		cluster_make_one
	elif [[ $known == 1 ]]; then
		for ((i = 1; i <= nodes; i++)); do addrs+=("127.0.0.1:$(cluster_port_of "$i")"); done
		local out
		if ! out=$(timeout $((TIMEOUT * 2)) redis-cli --cluster create "${addrs[@]}" \
			--cluster-replicas 1 --cluster-yes </dev/null 2>&1); then
			printf '%s\n' "$out" | tail -n 20 | sed 's/^/  /' >&2
			die "redis-cli --cluster create failed"
		fi
		printf '%s\n' "$out" >"$CLUSTER_DIR/create.log"
		say "redis cluster: created ($masters masters, 1 replica each; redis-cli's output in $CLUSTER_DIR/create.log)"
	elif [[ $known != "$nodes" ]]; then
		die "cluster node 1 (127.0.0.1:$first) knows ${known:-no} nodes, not $nodes: run '$PROG stop --purge --dir $DIR' and start again"
	fi
	cluster_wait_ok "$nodes"
}

# redis-cli --cluster create wants 3 masters at least; one master and its replica are made by
# hand, as the Redis Cluster tutorial's "manual" way: node 1 takes all 16384 slots, node 2 meets
# it on its bus port and replicates it. Each step is skipped when a start that failed half-way
# already did it, so starting again finishes the job. Writes create.log like the create path.
cluster_make_one() {
	local p1 p2 bus1 id1 deadline=$((SECONDS + TIMEOUT * 2))
	p1=$(cluster_port_of 1)
	p2=$(cluster_port_of 2)
	bus1=$(cluster_bus_port_of 1)
	: >"$CLUSTER_DIR/create.log"
	if [[ $(cluster_info_field "$p1" cluster_slots_assigned) != 16384 ]]; then
		cluster_cmd "$p1" cluster addslotsrange 0 16383 >/dev/null
	fi
	id1=$(cluster_cmd "$p1" cluster myid)
	[[ $id1 =~ ^[0-9a-f]{40}$ ]] || die "cluster node 1 (127.0.0.1:$p1) gave no node id: '$id1'"
	cluster_cmd "$p2" cluster meet 127.0.0.1 "$p1" "$bus1" >/dev/null
	# MEET is a handshake over the bus: node 2 must know node 1 by its id before it can follow it.
	until timeout 3 redis-cli -h 127.0.0.1 -p "$p2" cluster nodes 2>/dev/null </dev/null |
		grep -q "^$id1 .* master .* connected"; do
		((SECONDS < deadline)) || die "cluster node 2 (127.0.0.1:$p2) did not learn of node 1 (127.0.0.1:$p1) within $((TIMEOUT * 2))s"
		sleep 0.1
	done
	cluster_cmd "$p2" cluster replicate "$id1" >/dev/null
	say "redis cluster: created by hand (1 master with every slot, 1 replica; commands in $CLUSTER_DIR/create.log)"
}

# cluster_cmd PORT ARGS... -> the node's reply on stdout, the command and reply appended to
# create.log; dies when the node does not answer or answers an error.
cluster_cmd() {
	local port=$1 r
	shift
	r=$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>&1 </dev/null | tr -d '\r') ||
		die "redis-cli -p $port $* failed: $r"
	printf '127.0.0.1:%s> %s\n%s\n' "$port" "$*" "$r" >>"$CLUSTER_DIR/create.log"
	[[ $r != ERR* && $r != "(error)"* ]] || die "cluster node on 127.0.0.1:$port refused '$*': $r"
	printf '%s\n' "$r"
}

# Waits until every node says cluster_state:ok and names every node in CLUSTER SLOTS, and every
# replica's link to its master is up.
cluster_wait_ok() { # nodes
	local deadline=$((SECONDS + TIMEOUT * 2)) i port bad
	while :; do
		bad=
		for ((i = 1; i <= $1; i++)); do
			port=$(cluster_port_of "$i")
			if [[ $(cluster_info_field "$port" cluster_state) != ok ]]; then
				bad="node $i (127.0.0.1:$port) is not cluster_state:ok"
				break
			fi
			# What a client reads: CLUSTER SLOTS names every node. A replica is in it once
			# this node has learnt (by gossip) whose replica it is and that its replication
			# offset is not 0 (Redis 7 leaves out replicas that hold nothing yet).
			if [[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$port" cluster slots 2>/dev/null | tr -d '\r' |
				grep -E '^[0-9a-f]{40}$' | sort -u | wc -l) != "$1" ]]; then
				bad="node $i (127.0.0.1:$port) does not name every node in CLUSTER SLOTS yet"
				break
			fi
			if [[ $(cluster_role "$port") == slave ]] &&
				! timeout 3 redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null |
				tr -d '\r' | grep -qx 'master_link_status:up'; then
				bad="replica node $i (127.0.0.1:$port) is not linked to its master"
				break
			fi
		done
		[[ -n $bad ]] || break
		if ((SECONDS >= deadline)); then
			die "the cluster did not become ready within $((TIMEOUT * 2))s: $bad"
		fi
		sleep 0.2
	done
	say "redis cluster: cluster_state:ok on all $1 nodes"
}

# The seed addresses for the env file: the masters, as the cluster sees them now.
cluster_seeds() {
	local i port seeds=()
	for ((i = 1; i <= $(cluster_node_count); i++)); do
		port=$(cluster_port_of "$i")
		[[ $(cluster_role "$port") != master ]] || seeds+=("127.0.0.1:$port")
	done
	local IFS=,
	printf '%s\n' "${seeds[*]}"
}

cluster_stop() { # [node index…]: only those (default: every node)
	local n i pids=() ports=() only=" $* "
	n=$(cluster_node_count)
	# Every node at once: stopped one by one, the rest would start failing over.
	for ((i = 1; i <= n; i++)); do
		[[ $only == "  " || $only == *" $i "* ]] || continue
		if cluster_node_running "$i"; then
			pids+=("$NODE_RUN_PID")
			ports+=("$(cluster_port_of "$i")")
			timeout 5 redis-cli -h 127.0.0.1 -p "${ports[-1]}" shutdown nosave >/dev/null 2>&1 &
		fi
	done
	wait || true
	for ((i = 0; i < ${#pids[@]}; i++)); do
		wait_gone "${pids[i]}" 50 || true
		if pid_alive "${pids[i]}"; then
			warn "cluster node on 127.0.0.1:${ports[i]} (pid ${pids[i]}) did not shut down, sending SIGTERM"
			kill -TERM "${pids[i]}" 2>/dev/null || true
			wait_gone "${pids[i]}" 50 || true
		fi
		if pid_alive "${pids[i]}"; then
			warn "cluster node (pid ${pids[i]}) still alive, killing it"
			kill -KILL "${pids[i]}" 2>/dev/null || true
		fi
		STOPPED_PIDS+=("${pids[i]}")
	done
	for ((i = 1; i <= n; i++)); do
		[[ $only == "  " || $only == *" $i "* ]] || continue
		cluster_node_paths "$i"
		rm -f -- "$NODE_PID"
	done
	if ((${#pids[@]})); then
		say "redis cluster: stopped ${#pids[@]} nodes (were pids ${pids[*]})"
	else
		say "redis cluster: not running"
	fi
}

cluster_status() { # -> 0 when every node answers and says cluster_state:ok
	local n i port state role ok=0
	n=$(cluster_node_count)
	for ((i = 1; i <= n; i++)); do
		port=$(cluster_port_of "$i")
		if cluster_node_running "$i"; then
			state=$(cluster_info_field "$port" cluster_state)
			role=$(cluster_role "$port")
			[[ $role != slave ]] || role=replica
			if [[ -n $state ]]; then
				say "redis cluster node $i: running (pid $NODE_RUN_PID, 127.0.0.1:$port, ${role:-?}, cluster_state:$state, log $NODE_LOG)"
				[[ $state == ok ]] && ok=$((ok + 1))
			else
				say "redis cluster node $i: process alive but not answering (pid $NODE_RUN_PID, 127.0.0.1:$port, log $NODE_LOG)"
			fi
		else
			say "redis cluster node $i: not running (127.0.0.1:$port, dir $NODE_DIR)"
		fi
	done
	((n > 0 && ok == n))
}

# ---------------------------------------------------------------------------------------------
# commands

lock_dir() { # serialise start/stop on one DIR
	exec 9>>"$DIR/.lock"
	flock -w "$((TIMEOUT + 30))" 9 || die "another $PROG is working on $DIR (lock $DIR/.lock)"
}

lock_ports() { # serialise port picking across DIRs, until both services listen
	local f=/tmp/ticketrush-services-ports.$EUID.lock
	exec 8>>"$f"
	flock -w "$((TIMEOUT * 2 + 30))" 8 || die "timed out waiting for port lock $f"
}

# On a failed start, stop what this run started; what was already running stays.
start_rollback() {
	local rc=$?
	((rc != 0)) || return 0
	((STARTED_REDIS || STARTED_PG || STARTED_CLUSTER)) || return 0
	warn "start failed: stopping what this run started"
	{
		((STARTED_REDIS == 0)) || redis_stop || true
		# A cluster this run made stops whole; one it only restarted nodes of keeps the others.
		if ((FRESH_CLUSTER)); then
			cluster_stop || true
		elif ((STARTED_CLUSTER)); then
			cluster_stop "${STARTED_NODES[@]}" || true
		fi
		# A cluster this run made from nothing holds nothing yet: the next start picks anew.
		((FRESH_CLUSTER == 0)) || rm -rf -- "$CLUSTER_DIR"
		((STARTED_PG == 0)) || pg_stop || true
	} >&2
	exit "$rc"
}

cmd_start() {
	need ss flock realpath
	((IS_ROOT == 0)) || need runuser
	check_port_override pg "${TICKETRUSH_PG_PORT:-}"
	check_port_override redis "${TICKETRUSH_REDIS_PORT:-}"
	if [[ -n ${TICKETRUSH_PG_PORT:-} && ${TICKETRUSH_PG_PORT:-} == "${TICKETRUSH_REDIS_PORT:-}" ]]; then
		die "TICKETRUSH_PG_PORT and TICKETRUSH_REDIS_PORT are both $TICKETRUSH_PG_PORT"
	fi
	# Before anything is made in DIR: a Redis that cannot run a cluster leaves nothing behind.
	[[ -z $cluster_masters ]] || cluster_check_support
	if [[ -e $DIR && ! -d $DIR ]]; then die "$DIR exists and is not a directory"; fi
	if [[ -d $DIR && ! -e $DIR/$MARKER && -n $(ls -A -- "$DIR") ]]; then
		die "$DIR exists, is not empty and was not made by $PROG: choose another --dir"
	fi
	mkdir -p -- "$DIR"
	touch -- "$DIR/$MARKER"
	lock_dir
	lock_ports
	PG_PORT='' REDIS_PORT=''
	STARTED_REDIS=0 STARTED_PG=0 STARTED_CLUSTER=0 FRESH_CLUSTER=0 STARTED_NODES=()
	trap start_rollback EXIT
	# Redis first: it is quick, and a port clash shows up before initdb's few seconds.
	if [[ -n $cluster_masters ]]; then
		redis_running && die "a plain Redis runs from $DIR (127.0.0.1:$REDIS_RUN_PORT): stop it first ($PROG stop --dir $DIR) or use another --dir"
		cluster_start "$cluster_masters"
	else
		(($(cluster_node_count) == 0)) ||
			die "$DIR holds a Redis Cluster: start it with --cluster $(($(cluster_node_count) / 2)), or run '$PROG stop --purge --dir $DIR' first"
		redis_start
	fi
	pg_start
	exec 8>&-
	pg_create_db
	if [[ -n $cluster_masters ]]; then
		write_state "$PG_PORT" "" "$cluster_masters"
		write_env "$PG_PORT" "" "$(cluster_seeds)"
	else
		write_state "$PG_PORT" "$REDIS_PORT"
		write_env "$PG_PORT" "$REDIS_PORT"
	fi
	say ""
	cat -- "$ENV_FILE"
	say ""
	say "to use them: source $ENV_FILE"
	trap - EXIT
}

cmd_stop() {
	locate_pg
	if [[ -d $DIR ]]; then
		if [[ ! -e $DIR/$MARKER && -n $(ls -A -- "$DIR") ]]; then
			die "$DIR was not made by $PROG: refusing to touch it"
		fi
		lock_dir
		if (($(cluster_node_count) > 0)); then
			cluster_stop
			[[ ! -f $REDIS_PID ]] || redis_stop
		else
			redis_stop
		fi
	else
		say "redis: not running"
	fi
	pg_stop
	# Anything still alive that was started from DIR (a crashed postmaster's backends, a Redis
	# whose pidfile was lost) goes now.
	local pids=() i
	for ((i = 0; i < 30; i++)); do
		mapfile -t pids < <(leftover_pids)
		((${#pids[@]})) || break
		sleep 0.1
	done
	if ((${#pids[@]})); then
		warn "killing leftover processes started from $DIR: ${pids[*]}"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			mapfile -t pids < <(leftover_pids)
			((${#pids[@]})) || break
			sleep 0.1
		done
		((${#pids[@]} == 0)) || die "processes started from $DIR survived SIGKILL: ${pids[*]}"
	fi
	# They are dead already; give pid 1 a moment to reap them so that 'ps' right after us
	# shows no <defunct> entries. Not an error if it is slower.
	for ((i = 0; i < 30; i++)); do
		local left=0 p
		for p in "${STOPPED_PIDS[@]}"; do [[ ! -e /proc/$p ]] || left=1; done
		((left)) || break
		sleep 0.1
	done
	rm -f -- "$ENV_FILE"
	if ((purge)); then
		exec 9>&-
		[[ $PG_ROOT == "$DIR" ]] || { [[ ! -d $PG_ROOT ]] || rm -rf -- "$PG_ROOT"; }
		if [[ -d $PG_FALLBACK && -e $PG_FALLBACK/$MARKER ]]; then rm -rf -- "$PG_FALLBACK"; fi
		if [[ -d $DIR ]]; then
			rm -rf -- "$DIR"
			say "purged $DIR"
		fi
	fi
}

cmd_status() {
	locate_pg
	local ok=0
	if [[ -d $DIR ]] && (($(cluster_node_count) > 0)); then
		if cluster_status; then ok=$((ok + 1)); fi
	elif [[ -d $DIR ]] && redis_running; then
		if redis_ping "$REDIS_RUN_PORT"; then
			say "redis: running (pid $REDIS_RUN_PID, 127.0.0.1:$REDIS_RUN_PORT, dir $REDIS_DIR, log $REDIS_LOG)"
			ok=$((ok + 1))
		else
			say "redis: process alive but not answering (pid $REDIS_RUN_PID, 127.0.0.1:$REDIS_RUN_PORT, log $REDIS_LOG)"
		fi
	else
		say "redis: not running (dir $REDIS_DIR)"
	fi
	if pg_running; then
		if pg_isready -q -h 127.0.0.1 -p "$PG_RUN_PORT" -t 3 2>/dev/null; then
			say "postgresql: running (pid $PG_RUN_PID, 127.0.0.1:$PG_RUN_PORT, data $PG_DATA, log $PG_LOG)"
			ok=$((ok + 1))
		else
			say "postgresql: process alive but not accepting connections (pid $PG_RUN_PID, 127.0.0.1:$PG_RUN_PORT, log $PG_LOG)"
		fi
	else
		say "postgresql: not running (data $PG_DATA)"
	fi
	if [[ -f $ENV_FILE ]]; then say "env: source $ENV_FILE"; fi
	((ok == 2)) || exit 3
}

cmd_env() {
	[[ -f $ENV_FILE ]] || die "no $ENV_FILE: services are not started (run: $PROG start${dir_arg:+ --dir $DIR})"
	cat -- "$ENV_FILE"
}

case $cmd in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
esac
