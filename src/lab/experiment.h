/* experiment.h — one lab run as a library function: the load of a scenario against running
 * servers → the drain (PostgreSQL holds every acknowledged ticket) → the audit of SPEC rules
 * R1–R8 → the run file. What `ticketrush load` does once its options are parsed; jtl-audit
 * shares its concert check and its save. Prints nothing: warnings and stage lines go to a log
 * callback, the progress line to loadgen's. Not the server, the table or the report. */
#ifndef TR_LAB_EXPERIMENT_H
#define TR_LAB_EXPERIMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "lab/audit.h"
#include "lab/loadgen.h"
#include "lab/runfile.h"
#include "lab/scenario.h"
#include "store/pg.h"

typedef enum {
    EXPERIMENT_INFO,    /* a stage: what is sent where */
    EXPERIMENT_WARNING, /* the run goes on, but its figures may surprise */
} experiment_log_kind;

typedef struct experiment_config {
    const char *strategy;     /* the servers' strategy: the run file's label; required */
    const scenario *scenario; /* its name and customer draw; required */
    const char *const *urls;  /* nurls servers (1..LG_MAX_URLS, loopback): user i uses URL
                                 i mod nurls */
    int nurls;
    const char *pg_conninfo;      /* the PostgreSQL the servers write to; required */
    int64_t concert_id;           /* > 0, seeded; a festival's first concert, its headliner */
    int32_t concerts;             /* 0 or 1: one concert; 2..SCENARIO_MAX_CONCERTS: a festival of
                                     the concerts concert_id.. concert_id + concerts − 1, each
                                     request's concert drawn by scenario_draw_concerts, each
                                     concert audited alone (run.concerts) and the totals in
                                     run.audit */
    double zipf_s;                /* a festival's draw exponent, 0..10 */
    int64_t tickets, vip;         /* the seats and VIP seats the concert (each concert of a
                                     festival) must have */
    int64_t customers;            /* requests buy for customers drawn from 1..customers */
    int64_t requests;             /* ≥ 1; the scenario's EACH_ONCE draw needs ≤ customers */
    int64_t vus;                  /* 1..LG_MAX_VUS connections */
    uint64_t seed;                /* of the customer draw (scenario.h) */
    double rate;                  /* requests/s (open loop, loadgen.h); 0: closed loop */
    double ramp_from;             /* open loop: the ramp's start rate, requests/s (loadgen.h) */
    int64_t ramp_us;              /* open loop: the ramp's length, µs; 0: none */
    int max_connections;          /* open loop: the bound on connections; 0: the default */
    int64_t late_us;              /* open loop: the lateness threshold, µs; 0: the default */
    bool retry_connection_errors; /* loadgen.h */
    int64_t time_limit_us;        /* of the load; unanswered requests then count as timeouts */
    int drain_stable_ms;          /* the drain is over when the ticket count held the
                                     acknowledged tickets and did not change for this long */
    int drain_timeout_ms;         /* then the audit runs on what is there (a warning) */
    const char *marks_file;       /* KEY=VALUE lines kept in the run's marks; NULL: none; a
                                     missing file is no mark */
    const char *out_path;         /* the run file; NULL: results/run-<strategy>-<UTC time>.json */
    lg_progress_fn progress;      /* the load's progress (loadgen.h); NULL: none */
    void *progress_arg;
    int64_t progress_every_us;
    /* Called once the load is over, before the drain (to end a progress line, say how it
     * went); NULL: none. */
    void (*loaded)(void *arg, const lg_result *load, size_t requests);
    /* One line for a person (no trailing newline); NULL: silence. */
    void (*log)(void *arg, experiment_log_kind kind, const char *line);
    void *arg; /* of loaded and log */
} experiment_config;

/* Checks what needs no server: the number ranges, the URLs (lg_url_parse) and that the
 * scenario's EACH_ONCE draw has customers enough. TR_OK, or TR_INVALID_ARGUMENT with errbuf
 * saying why. */
tr_err experiment_check(const experiment_config *cfg, char *errbuf, size_t errlen);

/* Runs the experiment into run (zeroed by the caller; its records are then the caller's to free
 * with lab_run_free_records): checks the concert in PostgreSQL, draws the customers, runs the
 * load, waits for the drain, audits, reads the marks and writes the run file, whose path goes
 * to path (pathlen bytes). The audit's anomalies are results, not errors.
 * Errors: TR_INVALID_ARGUMENT (experiment_check), TR_CONCERT_NOT_FOUND, TR_PG, TR_NOMEM, the
 * load's (lg_run), TR_INTERNAL (the run file could not be written); errbuf says why. */
tr_err experiment_run(const experiment_config *cfg, lab_run *run, char *path, size_t pathlen,
                      char *errbuf, size_t errlen);

/* Reads concert concert_id into *row, checks it has tickets seats and vip VIP seats, and whether
 * the schema is guarded. Errors: TR_CONCERT_NOT_FOUND, TR_INVALID_ARGUMENT (other seats: seed it
 * for scenario_name), TR_PG; errbuf says why. */
tr_err experiment_check_concert(pg_conn *pg, int64_t concert_id, int64_t tickets, int64_t vip,
                                const char *scenario_name, audit_concert *row, bool *guarded,
                                char *errbuf, size_t errlen);

/* Writes run to out_path (NULL: results/run-<strategy>-<UTC time>[-k].json, not overwriting),
 * creating its directory, and puts the path written in path. Errors: TR_INTERNAL, TR_NOMEM;
 * errbuf says why. */
tr_err experiment_save(const lab_run *run, const char *out_path, char *path, size_t pathlen,
                       char *errbuf, size_t errlen);

#endif
