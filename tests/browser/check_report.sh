#!/usr/bin/env bash
# check_report.sh — the browser check of ticketrush's HTML report (issue 4): opens the report in
# Debian's headless Chromium (/usr/bin/chromium, a fresh --user-data-dir), takes full-page
# screenshots, and asserts that every SVG chart rendered with non-empty geometry, that the audit
# table has a row per strategy and that the console shows no error (check_report.cjs, through
# playwright-core and the DevTools protocol; playwright never downloads a browser here).
# Without --report it first writes a report from the run files in tests/fixtures/report/.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/../.." && pwd -P)
PROG=${0##*/}

usage() {
	cat <<EOF
usage: $PROG [--report FILE | --bin TICKETRUSH] [--out-dir DIR] [--deps DIR] [--runs N]

  --report FILE  check this report (its run count is read from the page unless --runs)
  --bin PATH     write a report from tests/fixtures/report/run-*.json (+ ceiling.txt) with
                 PATH report, then check it (default: build/ticketrush)
  --out-dir DIR  report, screenshots (report.png, report-print.png) and PDF go here
                 (default: a new temporary directory)
  --deps DIR     where playwright-core is installed with npm ci (default: browser-deps
                 beside --out-dir, kept between runs)
  --runs N       the number of runs the report must show
  --chromium P   the browser (default /usr/bin/chromium)

exit status: 0 all checks passed, 1 a check failed, 77 skipped (no Chromium or no Node.js;
scripts/bootstrap.sh installs Chromium).
EOF
}

report= bin= out_dir= deps= runs= chromium=/usr/bin/chromium
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--report) report=$2; shift ;;
	--bin) bin=$2; shift ;;
	--out-dir) out_dir=$2; shift ;;
	--deps) deps=$2; shift ;;
	--runs) runs=$2; shift ;;
	--chromium) chromium=$2; shift ;;
	*) echo "$PROG: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done

if [[ ! -x $chromium ]]; then
	echo "$PROG: SKIPPED: $chromium is not installed (scripts/bootstrap.sh installs chromium)" >&2
	exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "$PROG: SKIPPED: Node.js and npm are needed to drive Chromium (playwright-core)" >&2
	exit 77
fi

[[ -n $out_dir ]] || out_dir=$(mktemp -d /tmp/ticketrush-browser.XXXXXX)
mkdir -p "$out_dir"
out_dir=$(cd -- "$out_dir" && pwd -P)
[[ -n $deps ]] || deps="$out_dir/../browser-deps"
mkdir -p "$deps"
deps=$(cd -- "$deps" && pwd -P)

# playwright-core, exactly as package-lock.json pins it; installed once per deps directory.
if ! cmp -s "$here/package-lock.json" "$deps/package-lock.json" ||
	[[ ! -f $deps/node_modules/playwright-core/package.json ]]; then
	cp "$here/package.json" "$here/package-lock.json" "$deps/"
	echo "== npm ci in $deps (playwright-core only; no browser is downloaded)"
	(cd "$deps" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ -z $report ]]; then
	bin=${bin:-$root/build/ticketrush}
	[[ -x $bin ]] || { echo "$PROG: $bin is not built" >&2; exit 1; }
	fixtures=("$root"/tests/fixtures/report/run-*.json)
	report="$out_dir/report.html"
	"$bin" report "${fixtures[@]}" --ceiling "$root/tests/fixtures/report/ceiling.txt" \
		--title "ticketrush lab report (fixture runs)" --out "$report"
	runs=${runs:-${#fixtures[@]}}
fi
[[ -f $report ]] || { echo "$PROG: no report at $report" >&2; exit 1; }

profile=$(mktemp -d /tmp/ticketrush-chromium.XXXXXX)
trap 'rm -rf "$profile"' EXIT
node "$here/check_report.cjs" --deps "$deps" --report "$report" --profile "$profile" \
	--chromium "$chromium" --shot "$out_dir/report.png" --print-shot "$out_dir/report-print.png" \
	--pdf "$out_dir/report.pdf" --runs "${runs:--1}"
