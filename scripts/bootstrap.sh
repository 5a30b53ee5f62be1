#!/usr/bin/env bash
# bootstrap.sh — install the Debian packages ticketrush needs to build, test and benchmark.
# Installs only what is missing; runs `apt-get update` once, and only if something is missing.
# It does not start or configure any service: scripts/services.sh does that.
set -euo pipefail

PROG=${0##*/}

PACKAGES=(
	build-essential cmake pkg-config
	libmicrohttpd-dev libhiredis-dev libpq-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev
	redis-server redis-tools
	postgresql-15 postgresql-client-15
	wrk procps iproute2
	clang-format-14 # make test's layout check (tests/lint/format.sh)
	chromium # make test's browser check of the HTML report (tests/browser/check_report.sh)
)

usage() {
	cat <<EOF
usage: $PROG [--dry-run] [--help]

Install the Debian packages ticketrush needs, only those that are missing:
  ${PACKAGES[*]}

  --dry-run   print what would be installed, install nothing
  --help      show this help

Uses sudo only when not run as root. Installing redis-server or postgresql may
start Debian's own instances on ports 6379/5432; ticketrush does not use them
(scripts/services.sh starts private ones).
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

dry_run=0
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	-n | --dry-run) dry_run=1 ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian and derivatives only"

# A package counts as present only when dpkg says "install ok installed" (abbrev "ii").
is_installed() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
	[[ $status == ii* ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
	is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "bootstrap: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

if ((dry_run)); then
	echo "bootstrap: would install: ${missing[*]}"
	exit 0
fi

SUDO=()
if ((EUID != 0)); then
	command -v sudo >/dev/null 2>&1 || die "not root and sudo not found: cannot install ${missing[*]}"
	SUDO=(sudo)
fi

log=$(mktemp "${TMPDIR:-/tmp}/bootstrap.XXXXXX.log")
trap 'rm -f "$log"' EXIT

if ! "${SUDO[@]}" apt-get update >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	die "apt-get update failed"
fi
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	tail -n 30 "$log" >&2
	die "apt-get install failed for: ${missing[*]}"
fi

# Verify: apt-get can succeed while leaving a package half-configured.
still=()
for p in "${missing[@]}"; do
	is_installed "$p" || still+=("$p")
done
((${#still[@]} == 0)) || die "packages still not installed after apt-get: ${still[*]}"

echo "bootstrap: installed ${missing[*]}"
