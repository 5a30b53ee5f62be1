/* report.h — the lab's HTML report: one self-contained file (inline CSS and SVG; no script, no
 * font, image or style fetched from anywhere) comparing run files side by side. Per run:
 * throughput over time in 1-second buckets, latency percentiles and histogram, outcomes by code,
 * arrival order against seat number (FCFS at a glance), and the audit's R1–R8 counts; above
 * them a summary against the study's published figures (SPEC's first table) and the ceilings
 * measured in the same run. It presents numbers the audit computed (audit.h); it computes no
 * rule itself. Not I/O beyond the FILE* it is handed. */
#ifndef TR_LAB_REPORT_H
#define TR_LAB_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "lab/runfile.h"

#define REPORT_MAX_CEILINGS 8
#define REPORT_CEILING_LABEL_LEN 96
#define REPORT_SCATTER_MAX_POINTS 4000 /* above this, 1 ticket in k is drawn (k shown) */

/* A throughput ceiling measured beside the runs, e.g. `ticketrush ceiling` or wrk against
 * GET /livez, where the server does no work. */
typedef struct report_ceiling {
    char label[REPORT_CEILING_LABEL_LEN]; /* for people: "load generator, GET /livez" */
    double requests_per_min;              /* > 0 */
} report_ceiling;

typedef struct report_options {
    const char *title;              /* NULL: "ticketrush lab report" */
    const report_ceiling *ceilings; /* borrowed; NULL when nceilings == 0 */
    size_t nceilings;               /* ≤ REPORT_MAX_CEILINGS are shown */
    int64_t generated_wall_us;      /* shown in the header, µs since the epoch; 0 omits it */
    const char *chaos_table;        /* the fault suite's table (`ticketrush chaos-table`'s
                                       text), shown as its own section first; NULL: none */
} report_options;

/* A row of the study's published table (SPEC, first table). */
typedef struct report_study_row {
    const char *strategy;    /* the ticketrush strategy that reproduces the technique */
    const char *technique;   /* as the study named it */
    double requests_per_min; /* its published throughput */
    const char *note;        /* its correctness, as published */
} report_study_row;

/* The study row for a run's strategy label, or NULL (e.g. db-atomic, which the study lacked).
 * The label's base name counts: "redis-lock/jmeter" and "redis-lock (jmeter)" find redis-lock. */
const report_study_row *report_study_for(const char *strategy);

/* Parses the text `ticketrush ceiling` prints and scripts/demo.sh saves as ceiling.txt: the line
 * "answered N in S s: R requests/s, M requests/min" gives the load generator's ceiling, a wrk
 * "Requests/sec: R" line gives wrk's (×60), and `ticketrush script-ceiling`'s "answered N in
 * S s: R calls/s, M calls/min" the purchase script's alone in Redis. Fills out[0..cap), returns
 * how many were found. */
size_t report_parse_ceilings(const char *text, report_ceiling *out, size_t cap);

/* When out[0..n) holds the load generator's GET /livez ceiling L and the purchase script's
 * ceiling S (`ticketrush script-ceiling`: "answered N in S s: R calls/s, M calls/min"), appends
 * the combined ceiling 1/(1/L + 1/S) of a purchase through the server (if cap allows and it is
 * not there yet). Returns the new count. */
size_t report_combine_ceilings(report_ceiling *out, size_t n, size_t cap);

/* Answers per 1-second bucket of completion time (done_us): answered[k] counts the answered
 * records with k s ≤ done_us < k+1 s, tickets[k] the 201s among them, queued[k] the 202s.
 * *nbuckets = 1 + the last answered second (0 when nothing was answered; the arrays are then
 * NULL). The arrays are malloc'd, caller frees. Errors: TR_NOMEM. */
tr_err report_buckets(const lab_record *recs, size_t n, int64_t **answered, int64_t **tickets,
                      int64_t **queued, size_t *nbuckets);

/* Writes the report of runs[0..n) (each read with its records; a run without records gets
 * its summary and audit, and says its charts are missing) to f.
 * Errors: TR_INVALID_ARGUMENT (n == 0), TR_NOMEM, TR_INTERNAL (writing to f failed). */
tr_err report_write(FILE *f, const lab_run *runs, size_t n, const report_options *opt);

/* The same HTML as a NUL-terminated string in *out (malloc'd, caller frees; NULL on error). */
tr_err report_format(const lab_run *runs, size_t n, const report_options *opt, char **out);

#endif
