#!/usr/bin/env bash
# sql_params.sh — issue 9 §5: SQL only through parameters. Every statement the program sends is
# either a pg_stmt (a constant SQL text with $1… parameters, executed with PQexecPrepared/PQexecParams
# in src/store/pg.c) or a constant string literal given to pg_exec/pg_exec_ok. This fails when a
# call passes anything else (a variable, a buffer built with snprintf) or when libpq's text-only
# entry points are used outside src/store/pg.c.
# usage: tests/lint/sql_params.sh [SOURCE_ROOT]
set -euo pipefail
root=${1:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
cd "$root"
bad=0
# pg_exec( / pg_exec_ok( whose SQL argument is not a string literal, nor names constants that
# the same file defines as `static const char NAME[] = "…"` (the schema's DDL)
while IFS= read -r hit; do
	file=${hit%%:*}
	# the SQL argument up to its closing parenthesis; of a ternary, the two values
	arg=$(sed -E 's/.*pg_exec(_ok)?\([^,]+,[[:space:]]*//; s/\).*//; s/.*\?//' <<<"$hit")
	ok=1
	for name in $(grep -oE '[A-Za-z_][A-Za-z0-9_]*' <<<"$arg"); do
		grep -qE "^static const char $name\[\] =" "$file" || ok=0
	done
	if [ "$ok" -ne 1 ]; then
		echo "not a literal SQL string: $hit" >&2
		bad=1
	fi
done < <(grep -rnE '\bpg_exec(_ok)?\([^,]+,[[:space:]]*[^"[:space:]]' src --include='*.c' |
	grep -vE '^src/store/pg\.c:' || true)
# libpq's text entry points only inside the wrapper
while IFS= read -r hit; do
	echo "libpq called outside src/store/pg.c: $hit" >&2
	bad=1
done < <(grep -rnE '\bPQ(exec|sendQuery|execParams|prepare|sendQueryParams)\(' src --include='*.c' |
	grep -vE '^src/store/pg\.c:' || true)
# SQL keywords inside a format string (snprintf/dynbuf_printf building a statement)
while IFS= read -r hit; do
	echo "SQL built with a format string: $hit" >&2
	bad=1
done < <(grep -rnE '(snprintf|dynbuf_printf|asprintf)\(.*"[^"]*\b(SELECT|INSERT|UPDATE|DELETE|WHERE)\b' src --include='*.c' || true)
n=$(grep -rcE 'static const pg_stmt' src --include='*.c' | awk -F: '{s += $2} END {print s}')
if [ "$bad" -ne 0 ]; then
	echo "sql_params: FAILED" >&2
	exit 1
fi
echo "sql_params: $n prepared statements with parameters; every other statement is a constant literal"
