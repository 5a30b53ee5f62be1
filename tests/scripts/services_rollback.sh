#!/usr/bin/env bash
# services_rollback.sh — scripts/services.sh: a failed `start --cluster` on a cluster that is
# already running stops only the nodes that start itself started; the nodes it found running keep
# running (issue 11: a rollback that stopped every node once took a whole cluster down mid-test).
# Two nodes of a private 3-master cluster are killed and the port of the second is held by a
# listener of ours, so a second `start --cluster 3` restarts the first node, fails on the second
# and rolls back. Exit 77 (skipped) when this Redis cannot run a cluster.
# usage: tests/scripts/services_rollback.sh SOURCE_DIR
set -uo pipefail
root=${1:?usage: services_rollback.sh SOURCE_DIR}
svc=$root/scripts/services.sh
dir=$(mktemp -d /tmp/ticketrush-rollback.XXXXXX)
chmod 755 "$dir"
holder=''
cleanup() {
	[[ -z $holder ]] || kill "$holder" 2>/dev/null
	"$svc" stop --purge --dir "$dir" >/dev/null 2>&1
	rm -rf -- "$dir" "$dir.log"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[[ ! -f $dir.log ]] || sed 's/^/  start: /' "$dir.log" >&2
	exit 1
}

"$svc" start --cluster 3 --dir "$dir" >"$dir.log" 2>&1
rc=$?
((rc != 4)) || { echo "SKIPPED: this Redis cannot run a cluster"; exit 77; }
((rc == 0)) || fail "the first start --cluster 3 exited $rc"

# node N's port (cluster/ports: "node port bus") and pid (cluster/node-N/redis.pid)
port_of() { awk -v n="$1" '$1 == n { print $2 }' "$dir/cluster/ports"; }
pid_of() { cat "$dir/cluster/node-$1/redis.pid" 2>/dev/null; }
pong() { [[ $(redis-cli -h 127.0.0.1 -p "$(port_of "$1")" ping 2>/dev/null) == PONG ]]; }

for n in 1 2 3 4 5 6; do
	[[ -n $(port_of "$n") && -n $(pid_of "$n") ]] || fail "node $n: no port or pid in $dir/cluster"
	pong "$n" || fail "node $n does not answer PING after start"
done
for n in 1 2; do
	kill -KILL "$(pid_of "$n")" || fail "could not kill node $n"
done
for _ in $(seq 50); do
	pong 1 || pong 2 || break
	sleep 0.1
done
# node 2's port, held: its restart fails
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("held", flush=True); time.sleep(600)
' "$(port_of 2)" >"$dir/holder.out" 2>&1 &
holder=$!
for _ in $(seq 50); do
	grep -q held "$dir/holder.out" 2>/dev/null && break
	sleep 0.1
done
grep -q held "$dir/holder.out" || fail "could not hold node 2's port $(port_of 2): $(cat "$dir/holder.out")"

TICKETRUSH_SVC_TIMEOUT=5 "$svc" start --cluster 3 --dir "$dir" >"$dir.log" 2>&1
rc=$?
((rc != 0)) || fail "start --cluster 3 succeeded although node 2's port $(port_of 2) is taken"
grep -q "start failed: stopping what this run started" "$dir.log" ||
	fail "start exited $rc without rolling back"
for n in 3 4 5 6; do
	pong "$n" || fail "node $n (running before the failed start) was stopped by its rollback"
done
pong 1 && fail "node 1 (restarted by the failed start) still runs after its rollback"
echo "ok: the failed start (exit $rc) stopped node 1, which it had restarted; nodes 3-6 kept running"
exit 0
