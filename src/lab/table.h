/* table.h — the lab's comparison table: one aligned plain-text row per run file, the columns
 * SPEC §4 reports (throughput, every R1–R8 anomaly count, latency, errors by code). This is
 * presentation: it writes to a FILE* the caller chooses, or into a string. */
#ifndef TR_LAB_TABLE_H
#define TR_LAB_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "common/error.h"
#include "lab/runfile.h"

/* Writes a header line and one line per run (runs[0..n), records not needed) to f.
 * Columns: strategy, schema, req/min, tickets, oversold, dup cust, seat err, VIP err,
 * after close, FCFS viol, lost, phantom, drift, p50 ms, p99 ms, [win p99 ms, lose p99 ms: the
 * winners' (201/202) and losers' (409/503) p99 from the histograms, shown when a run is
 * open-loop, "-" for the others], errors by code
 * ("sold_out=48990 busy=12"; "-" when none; 2xx outcomes are not errors).
 * Errors: TR_INTERNAL when writing to f fails. */
tr_err table_write(FILE *f, const lab_run *runs, size_t n);

/* The latency table (`ticketrush table --latency`): one line per run with its offered rate
 * (open loop; "-" otherwise), answered requests/s, requests sent late, then p50/p99/p99.9 in ms
 * of every answer, of the winners (201/202) and of the losers (409/503), p99.99 and max — from
 * the run's histograms ("-" for a run file without them). Errors: TR_NOMEM, TR_INTERNAL. */
tr_err table_write_latency(FILE *f, const lab_run *runs, size_t n);

/* The same text as a NUL-terminated string in *out (malloc'd, caller frees; NULL on error).
 * Errors: TR_NOMEM. */
tr_err table_format(const lab_run *runs, size_t n, char **out);

#endif
