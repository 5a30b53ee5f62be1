/* chaos.h — the fault suite's judgement of one run (scripts/chaos.sh, `ticketrush chaos-table`):
 * from a run file's records, audit and marks (the fault's name and time, written by the suite
 * while the load ran) it computes the requests in flight at the fault, the recovery times and
 * the anomaly counts, and says PASS or FAIL against the promise of the strategy for that fault.
 * Pure functions over a lab_run; no I/O. Not the audit (audit.h counts; this only reads). */
#ifndef TR_LAB_CHAOS_H
#define TR_LAB_CHAOS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "lab/runfile.h"

/* Marks the suite writes (runfile.h's marks): */
#define CHAOS_MARK_FAULT "fault"          /* the fault's name, e.g. "redis-kill" */
#define CHAOS_MARK_FAULT_AT "fault_at_ms" /* when it was injected, ms since the Unix epoch */
#define CHAOS_MARK_DURABILITY                                                                      \
    "durability" /* redis-atomic's --durability: fast, replicated,
                                              strict */
#define CHAOS_MARK_CONCERT                                                                         \
    "fault_concert"                    /* the concert whose Redis the fault hit (a festival's
                                              headliner); absent: every request of the run */
#define CHAOS_MARK_ERROR "fault_error" /* set when the fault could not be injected */
#define CHAOS_MARK_NOTE "note"         /* a remark printed under the table */

typedef struct chaos_cell {
    char label[80]; /* strategy, with " strict"/" fast" for redis-atomic */
    char fault[48];
    bool injected;           /* a fault time is known and no fault_error */
    int64_t fault_at_us;     /* from the run's t = 0 */
    int64_t in_flight;       /* requests sent before the fault and answered (or not) after */
    int64_t acknowledged;    /* 201 answers */
    int64_t queued;          /* 202 answers */
    int64_t lost;            /* acknowledged tickets PostgreSQL does not hold at all */
    int64_t contradicted;    /* acknowledged tickets PostgreSQL gives to another customer or
                                another seat (audit's contradicted) */
    int64_t queued_unissued; /* customers answered 202 who got no ticket */
    int64_t unknown_tickets; /* tickets stored for requests that never learnt their outcome
                                (audit's phantom_unknown: not an anomaly) */
    int64_t fcfs;            /* R6 */
    int64_t other;           /* R1–R5, R8 and phantoms that no unknown outcome explains */
    int64_t failed;          /* requests that failed after the fault: no answer, or a 5xx other
                                than 503 busy */
    int64_t first_ok_ms;     /* fault → first normal answer (2xx, 4xx, 503 busy) to a request
                                sent after the fault; -1 when none */
    int64_t recovered_ms;    /* fault → the end of the last request after it that failed or was
                                slow (0 when none); -1 when one never got an answer (timeout).
                                Slow: over slow_ms. A request the client retried (connection
                                lost, 500) and that succeeded counts as slow, not failed */
    int64_t slow_ms;         /* max(1 s, 2 × p99 latency of the answers before the fault) */
    int64_t sale_on_ms;      /* fault → the end of the longest pause in sales (201 or 202
                                answers, by completion time) of the fault's concert
                                (CHAOS_MARK_CONCERT; absent: any) after the fault, the first
                                pause counted from the fault; -1 when nothing sold after it:
                                when the sale that the fault hit went on */
    double requests_per_s;   /* the run's answered requests ÷ its load phase (a paced run:
                                about its rate when the system kept up) */
    bool pass;
    char why[200]; /* when !pass: what broke the promise; else what was allowed */
} chaos_cell;

/* Computes the cell of run (read with its records). Errors: TR_INVALID_ARGUMENT when the run
 * has no records. */
tr_err chaos_cell_compute(const lab_run *run, chaos_cell *out);

/* The promises (issue 9 §3, issue 11 §5; README "promises"): no lost, contradicted, q-lost,
 * other or R6 anomaly in any cell, except that redis-atomic --durability fast may lose
 * acknowledged tickets, and redis-zset admissions, when Redis itself lost writes: redis-kill,
 * redis-behind, flushall, and master-kill on a Redis Cluster (a master killed before its
 * replica got the write; the replica is promoted without it). replicated (answered after a
 * replica acknowledged) and strict (after PostgreSQL's commit) may lose nothing; nor may any
 * mode under reshard (MIGRATE moves a key whole). redis-lock and redis-lock-cache do not
 * promise R6. */

/* Prints the table of cells[0..n) with a header and a legend; returns the number of FAILs. */
int chaos_table_write(FILE *f, const chaos_cell *cells, int n);

#endif
