# lib.sh — shell helpers the lab scripts share (demo.sh, bench.sh, jmeter.sh): one server at a
# time and the private services, stopped on exit. Source it after setting: bin (the ticketrush
# binary), out (the results directory), svc (the services directory), here (the scripts directory).

server_pid=

# Stops the server started by start_server (SIGTERM: it drains, then exits).
stop_server() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid"
		wait "$server_pid" || true
	fi
	server_pid=
}

# On exit: the server, then the private services.
lab_cleanup() {
	stop_server
	"$here/services.sh" stop --dir "$svc" >/dev/null 2>&1 || true
}
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

# free_port FIRST -> the first port from FIRST on where nothing listens on loopback.
free_port() {
	local p=${1:-18080}
	while ss -ltnH "sport = :$p" | grep -q .; do p=$((p + 1)); done
	echo "$p"
}

# start_server LABEL PORT SERVE-ARGS... -> starts `ticketrush serve`, logs to out/server-LABEL.log,
# and waits (10 s at most) until GET /livez answers; exits the script with the log tail if not.
start_server() {
	local label=$1 port=$2
	shift 2
	"$bin" serve --port "$port" "$@" >>"$out/server-$label.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && return 0
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "${0##*/}: the server for $label did not start; its log:" >&2
	tail -n 20 "$out/server-$label.log" >&2
	exit 1
}

# compact_aof: rewrites Redis's append-only file (BGREWRITEAOF) and waits (120 s at most) until
# the rewrite is done. Run after a bulk load (opening a sale copies every customer into Redis),
# so the rewrite that the load's growth would trigger (auto-aof-rewrite-percentage) does not fork
# and write the whole dataset in the middle of the next measurement. Needs TICKETRUSH_REDIS.
compact_aof() {
	local host=${TICKETRUSH_REDIS%:*} port=${TICKETRUSH_REDIS##*:} info
	redis-cli -h "$host" -p "$port" bgrewriteaof >/dev/null 2>&1 || return 0
	for _ in $(seq 1 1200); do
		info=$(redis-cli -h "$host" -p "$port" info persistence 2>/dev/null | tr -d '\r')
		grep -q '^aof_rewrite_in_progress:0' <<<"$info" && grep -q '^aof_rewrite_scheduled:0' <<<"$info" && return 0
		sleep 0.1
	done
}

# aof_rewrites: how many AOF rewrites TICKETRUSH_REDIS's Redis has made since it started (INFO
# persistence, aof_rewrites): read before and after a run to tell whether one ran inside it.
aof_rewrites() {
	redis-cli -h "${TICKETRUSH_REDIS%:*}" -p "${TICKETRUSH_REDIS##*:}" info persistence 2>/dev/null |
		tr -d '\r' | sed -n 's/^aof_rewrites://p'
}
