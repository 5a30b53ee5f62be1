#!/usr/bin/env bash
# jmeter.sh — the study's JMeter load on ticketrush, as a real outside client (make jmeter):
# installs Debian's JMeter if missing, compiles the small launcher that lets Debian's JMeter
# 2.13 load plans at all (jmeter/JMeterLauncher.java), starts private PostgreSQL and Redis and a
# server per strategy, runs jmeter/ticketrush.jmx headless (SPEC 4's seed scenario: 200 threads
# x 250 loops, customers drawn from 1..10,000), and feeds JMeter's CSV results to
# `ticketrush jtl-audit`, the same audit as `ticketrush load`. Success is decided from the .jtl
# (present, every sample there), never from JMeter's exit status, which is 0 even when it ran
# nothing. Ends with the comparison table and the HTML report, beside the same load driven by
# the lab's own generator unless --no-native.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/.." && pwd -P)
PROG=${0##*/}

usage() {
	cat <<EOF
usage: $PROG [options] [BIN]      (BIN defaults to build/ticketrush)

  --strategy NAME  the server's strategy; repeat for several (default db-atomic; naive runs
                   on the unguarded schema, as in make demo)
  --threads T      JMeter threads (default 200, the seed scenario's virtual users)
  --loops L        requests per thread (default 250: 200 x 250 = the seed scenario's 50,000)
  --rampup S       ramp-up in seconds (default 0: every thread starts at once)
  --no-native      skip the same load driven by \`ticketrush load\` for comparison
  -h, --help       this text

environment: JMETER_HOME (default /usr/share/jmeter, Debian's; a JMeter 5.x home works too),
JMETER_HEAP (default -Xmx1g), TICKETRUSH_SVC_DIR (default .svc).
Writes results/jmeter-<UTC time>/: the .jtl and JMeter's log per strategy, the run files,
table.txt and report.html.
EOF
}

strategies=() threads=200 loops=250 rampup=0 native=1 bin=
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--strategy) strategies+=("$2"); shift ;;
	--threads) threads=$2; shift ;;
	--loops) loops=$2; shift ;;
	--rampup) rampup=$2; shift ;;
	--no-native) native=0 ;;
	-*) echo "$PROG: unknown option $1 (try --help)" >&2; exit 2 ;;
	*) bin=$1 ;;
	esac
	shift
done
((${#strategies[@]})) || strategies=(db-atomic)
for n in "$threads" "$loops" "$rampup"; do
	[[ $n =~ ^[0-9]+$ ]] || { echo "$PROG: --threads, --loops and --rampup take whole numbers" >&2; exit 2; }
done
((threads > 0 && loops > 0)) || { echo "$PROG: --threads and --loops must be positive" >&2; exit 2; }
samples=$((threads * loops))
customers=10000 # the seed scenario's

bin=$(realpath -- "${bin:-$root/build/ticketrush}")
[[ -x $bin ]] || { echo "$PROG: $bin is not built; run make build" >&2; exit 1; }

# --- JMeter and a JDK, from Debian's packages, only when missing ----------------------------
is_installed() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
	[[ $status == ii* ]]
}
jmeter_home=${JMETER_HOME:-/usr/share/jmeter}
need=()
if [[ -z ${JMETER_HOME:-} ]]; then
	for p in jmeter jmeter-http; do is_installed "$p" || need+=("$p"); done
fi
command -v javac >/dev/null || need+=(default-jdk-headless)
if ((${#need[@]})); then
	sudo=()
	((EUID == 0)) || sudo=(sudo)
	echo "== installing ${need[*]} (Debian packages)"
	log=$(mktemp /tmp/jmeter-apt.XXXXXX.log)
	if ! { "${sudo[@]}" apt-get update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		echo "$PROG: could not install ${need[*]}" >&2
		exit 1
	fi
	rm -f "$log"
fi
[[ -f $jmeter_home/bin/ApacheJMeter.jar ]] ||
	{ echo "$PROG: no JMeter at $jmeter_home (bin/ApacheJMeter.jar)" >&2; exit 1; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/results/jmeter-$stamp"
mkdir -p "$out/launcher"
echo "== compiling jmeter/JMeterLauncher.java"
javac -d "$out/launcher" "$root/jmeter/JMeterLauncher.java"

svc=${TICKETRUSH_SVC_DIR:-$root/.svc}
# start_server, stop_server, free_port and the exit trap that stops the server and the services
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

fresh_concert() { # strategy
	local schema=()
	[[ $1 == naive ]] && schema=(--unguarded)
	"$bin" db schema "${schema[@]}" >/dev/null
	"$bin" db seed --scenario seed >/dev/null
}

echo "== private PostgreSQL and Redis ($svc)"
"$here/services.sh" start --dir "$svc" >/dev/null
# shellcheck disable=SC1091
source "$svc/env"

port=$(free_port 18180)
runs=()
for s in "${strategies[@]}"; do
	if ((native)); then
		echo
		echo "== $s, driven by ticketrush load: $threads connections, $samples requests"
		fresh_concert "$s"
		start_server "$s" "$port" --strategy "$s"
		"$bin" load --scenario seed --strategy "$s" --vus "$threads" --requests "$samples" \
			--url "http://127.0.0.1:$port" --out "$out/run-$s.json"
		runs+=("$out/run-$s.json")
		stop_server
	fi

	echo
	echo "== $s, driven by JMeter ($jmeter_home): $threads threads x $loops loops, ramp-up ${rampup} s"
	fresh_concert "$s"
	start_server "$s" "$port" --strategy "$s"
	jtl="$out/jmeter-$s.jtl"
	rm -f "$jtl"
	# JMeter's exit status says nothing (2.13 exits 0 after failing to load the plan): ignored;
	# the .jtl decides below.
	java ${JMETER_HEAP:--Xmx1g} -cp "$out/launcher:$jmeter_home/bin/ApacheJMeter.jar" \
		-Djmeter.home="$jmeter_home" JMeterLauncher \
		-n -t "$root/jmeter/ticketrush.jmx" -l "$jtl" -j "$out/jmeter-$s.log" \
		-Jthreads="$threads" -Jloops="$loops" -Jrampup="$rampup" \
		-Jhost=127.0.0.1 -Jport="$port" -Jconcert=1 -Jcustomers="$customers" \
		-Jjmeter.save.saveservice.output_format=csv \
		-Jjmeter.save.saveservice.print_field_names=true \
		-Jjmeter.save.saveservice.timestamp_format=ms \
		-Jjmeter.save.saveservice.default_delimiter=, \
		-Jsampleresult.timestamp.start=true \
		-Jsample_variables=customerId,seatNo,error \
		-Jsummariser.interval=5 || true
	stop_server
	if [[ ! -s $jtl ]]; then
		echo "$PROG: JMeter wrote no results ($jtl); the end of its log:" >&2
		tail -n 30 "$out/jmeter-$s.log" >&2 || true
		exit 1
	fi
	# jtl-audit fails unless exactly $samples samples are in the file.
	if ! "$bin" jtl-audit --jtl "$jtl" --strategy "$s/jmeter" --scenario seed \
		--customers "$customers" --expect-samples "$samples" --vus "$threads" \
		--url "http://127.0.0.1:$port" --out "$out/run-$s-jmeter.json"; then
		echo "$PROG: the JMeter run of $s is incomplete or could not be audited; its log:" >&2
		tail -n 30 "$out/jmeter-$s.log" >&2 || true
		exit 1
	fi
	runs+=("$out/run-$s-jmeter.json")
done

echo
echo "== comparison (seed scenario: 1000 seats, 10 VIP, $customers customers, $samples requests)"
"$bin" table "${runs[@]}" | tee "$out/table.txt"
echo
"$bin" report "${runs[@]}" --title "ticketrush: the study's JMeter load" --out "$out/report.html"
echo "table: $out/table.txt"
