/* faultlog.h — a background worker's failures, counted by kind and told to a person once per kind
 * (issue 10 §6): the first failure of a run, then at most one line per FAULTLOG_REPEAT_MS with how
 * many there were since the last line, and one line when the work succeeds again. Never a line
 * per entry under a storm. For the persister and the issuer; not a logger: the caller's callback
 * writes the line (library code never prints). */
#ifndef TR_FAULTLOG_H
#define TR_FAULTLOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/dynbuf.h"

/* Where a background worker's lines go: fmt and ap make one line for a person (no trailing
 * newline, PostgreSQL's message style: "persister: could not commit a batch to PostgreSQL: …").
 * Called from the worker's own thread, so it must be thread-safe against the caller's other
 * threads and quick; it must not call back into the worker. arg is the config's log_arg. */
typedef void (*faultlog_fn)(void *arg, const char *fmt, va_list ap);

/* A failure line for one kind is repeated at most this often (ms) while failures go on. */
#define FAULTLOG_REPEAT_MS 60000
#define FAULTLOG_MAX_KINDS 8

/* One kind of failure; the table is static and outlives the faultlog. */
typedef struct faultlog_kind {
    const char *name;      /* the metric label value: "pg_commit" ([a-z_]) */
    const char *failing;   /* what went wrong: "could not commit a batch to PostgreSQL" */
    const char *recovered; /* what works again: "commits to PostgreSQL succeed again"; NULL for a
                              kind with no "works again" moment (faultlog_ok is then a no-op) */
    const char *unit;      /* what a count counts, plural: "failures", "entries" */
} faultlog_kind;

typedef struct faultlog_state {
    atomic_llong total; /* every failure since start (the metric); any thread reads it */
    /* the rest belongs to the worker's thread */
    bool failing;         /* in a run of failures: faultlog_ok has not been called since */
    bool run_told;        /* a line was written in this run (so its end is told too) */
    bool ever_told;       /* a line was ever written for this kind */
    int64_t run_count;    /* failures in this run */
    int64_t run_start_ms; /* when this run began */
    int64_t untold;       /* failures since the last line, not in any line */
    int64_t told_ms;      /* when the last failure line was written */
} faultlog_state;

typedef struct faultlog {
    const char *worker; /* the lines' prefix: "persister" (static) */
    const faultlog_kind *kinds;
    int nkinds;      /* 1..FAULTLOG_MAX_KINDS */
    faultlog_fn log; /* NULL: counted, never told */
    void *log_arg;
    faultlog_state state[FAULTLOG_MAX_KINDS];
} faultlog;

/* Sets up f for nkinds kinds (≤ FAULTLOG_MAX_KINDS; more are ignored). worker and kinds are
 * borrowed (static). log may be NULL. */
void faultlog_init(faultlog *f, const char *worker, const faultlog_kind *kinds, int nkinds,
                   faultlog_fn log, void *log_arg);

/* n (≥ 1) failures of kind happened at now_ms (a monotonic clock, ms; the caller's). Counts them;
 * writes "WORKER: FAILING: DETAIL" when this kind was never told or its last line is
 * FAULTLOG_REPEAT_MS old, with " (N UNIT in the last S s)" when failures went untold since that
 * line; else only counts. detail (printf format) says what this one was, e.g. the server's
 * message; newlines in it become spaces. The worker's thread only. */
void faultlog_fail(faultlog *f, int kind, int64_t n, int64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The work of kind succeeded at now_ms: ends a run of failures, and when the run was told,
 * writes "WORKER: RECOVERED (N UNIT in S s)". No-op when not failing or when the kind has no
 * recovered text. The worker's thread only. */
void faultlog_ok(faultlog *f, int kind, int64_t now_ms);

/* Failures of kind since faultlog_init. Any thread. */
int64_t faultlog_total(const faultlog *f, int kind);
/* counts[k] = faultlog_total(f, k) for every kind (counts holds f->nkinds). Any thread. */
void faultlog_totals(const faultlog *f, int64_t *counts);

/* kinds[kind].name, or "unknown" when kind is not in 0..nkinds-1. */
const char *faultlog_kind_name(const faultlog_kind *kinds, int nkinds, int kind);

/* Appends the counts as one Prometheus counter family: "# HELP", "# TYPE metric counter", then
 * metric{kind="NAME"} COUNT for each of the nkinds kinds (counts[i] for kinds[i]). false when
 * the buffer failed. */
bool faultlog_render(dynbuf *out, const char *metric, const char *help, const faultlog_kind *kinds,
                     int nkinds, const int64_t *counts);

#endif
