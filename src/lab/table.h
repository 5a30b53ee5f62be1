/* table.h — the lab's comparison table: one aligned plain-text row per run file, the columns
 * SPEC §4 reports (throughput, every R1–R8 anomaly count, latency, errors by code). This is
 * presentation: it writes to a FILE* the caller chooses, or into a string. */
#ifndef TR_LAB_TABLE_H
#define TR_LAB_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "lab/runfile.h"

/* Writes a header line and one line per run (runs[0..n), records not needed) to f.
 * Columns: strategy, schema, req/min, tickets, oversold, dup cust, seat err, VIP err,
 * after close, FCFS viol, lost, phantom, drift, p50 ms, p99 ms, [win p99 ms, lose p99 ms: the
 * winners' (201/202) and losers' (409/503) p99 from the histograms, shown when a run is
 * open-loop, "-" for the others], errors by code
 * ("sold_out=48990 busy=12"; "-" when none; 2xx outcomes are not errors).
 * A festival run (nconcerts > 0) is its totals row (anomalies summed over its concerts, each
 * audited alone), then its headliner's own row, and after the table a line per festival run:
 * how many of its concerts were clean and sold out, seats sold of seats.
 * Errors: TR_INTERNAL when writing to f fails. */
tr_err table_write(FILE *f, const lab_run *runs, size_t n);

/* A festival run's concerts at a glance (run->nconcerts > 0; all 0 otherwise). */
typedef struct table_festival {
    int32_t concerts, clean, sold_out; /* clean: no R1–R8 count; sold out: tickets ≥ seats */
    int64_t seats, tickets;            /* summed over the concerts */
} table_festival;

void table_festival_summary(const lab_run *run, table_festival *out);

/* The per-concert table of a festival run (`ticketrush table --concerts`): one line per concert
 * — id, share of the requests, requests, sold/seats, sold out after (s), answers 201/202, every
 * R1–R8 count summed as "anomalies" with the rules that failed named — then the totals line.
 * A run that is not a festival writes one line saying so. Errors: TR_INTERNAL (writing). */
tr_err table_write_concerts(FILE *f, const lab_run *run);

/* The latency table (`ticketrush table --latency`): one line per run with its offered rate
 * (open loop; "-" otherwise), answered requests/s, requests sent late, then p50/p99/p99.9 in ms
 * of every answer, of the winners (201/202) and of the losers (409/503), p99.99 and max — from
 * the run's histograms ("-" for a run file without them). Errors: TR_NOMEM, TR_INTERNAL. */
tr_err table_write_latency(FILE *f, const lab_run *runs, size_t n);

/* Latency over time (`ticketrush table --timeline`): the run's requests (run->records) cut into
 * windows of bucket_us µs by when each was due — its scheduled send time in an open loop, its
 * send time otherwise — one line per window: its start (s), requests, answered, winners
 * (201/202), late (open loop: sent more than open_loop.late_us after its slot; "-" otherwise),
 * and the p50, p99 and max latency in ms of its answers (lab_record_latency_us; exact, not from
 * the histograms; "-" for a window without answers). It shows when in a run a tail happened — a
 * stall of the machine, an AOF rewrite, a failover — which the run's percentiles cannot.
 * bucket_us in 1000..3,600,000,000; windows after the last request are not written.
 * Errors: TR_INVALID_ARGUMENT (bucket_us, or no records: read the run file with them),
 * TR_NOMEM, TR_INTERNAL (writing). */
tr_err table_write_timeline(FILE *f, const lab_run *run, int64_t bucket_us);

/* The same text as a NUL-terminated string in *out (malloc'd, caller frees; NULL on error).
 * Errors: TR_NOMEM. */
tr_err table_format(const lab_run *runs, size_t n, char **out);

#endif
