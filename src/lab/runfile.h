/* runfile.h — one lab run as a JSON file: the parameters, the audit, the figures and every
 * request. `ticketrush load` writes it; `ticketrush table` reads it back. Not the audit itself
 * (audit.h) and not presentation (table.h).
 *
 * Shape, version 1 (times in µs; "requests" rows are [customer, send_us, done_us, status, code,
 * seat], send_us/done_us -1 meaning never, code "" meaning none):
 *   {"version":1, "strategy":"db-atomic", "scenario":"seed", "schema":"guarded",
 *    "params":{"tickets","vip","customers","requests","vus","seed","concert_id","url"},
 *    "started_at":"2024-05-01T12:00:00.123456Z", "duration_us", "reconnects", "retries",
 *    "audit":{"total_seats","vip_seats","remaining","tickets","oversold","duplicate_customers",
 *             "seat_duplicates","seat_gaps","seat_out_of_range","seat_errors","vip_errors",
 *             "sales_after_close","fcfs_refused_beaten","fcfs_inverted","fcfs_violations",
 *             "lost","phantom","count_drift","requests","answered","acknowledged","queued"},
 *    "latency_us":{"p50","p90","p99","max"}, "outcomes":{"sold_out":48990,"201":1000,…},
 *    "requests_per_min", "tickets_per_min", "sold_out_after_us" (null when not sold out),
 *    "last_issued_after_us" (null when no ticket),
 *    "latency_hist_us":{"all":H,"winners":H,"losers":H}   (histogram.h's form; absent in older
 *        files: winners are 201/202 answers, losers 409/503, all every answer),
 *    "open_loop":{"rate","ramp_from","ramp_us","max_connections","connections","late_us",
 *                 "late","max_late_us","conn_waits"}   (only for an open-loop run, load --rate),
 *    "requests":[[4711,12,1530,201,"",1],…]}
 * An open-loop run's rows carry a seventh value, the scheduled send time sched_us, and its
 * latencies count from it. A festival's rows carry an eighth, the concert (the seventh is then
 * -1 in a closed loop), and the file a "festival" member:
 *   "festival":{"concerts":30,"zipf_s":1.2,"per_concert":[{"concert_id","total_seats",
 *       "vip_seats","remaining","requests","answered","acknowledged","queued","tickets",
 *       "oversold","duplicate_customers","seat_errors","vip_errors","sales_after_close",
 *       "fcfs_violations","lost","phantom","count_drift","contradicted","phantom_unknown",
 *       "queued_unissued","sold_out_after_us","last_issued_after_us"},…]}   (headliner first) */
#ifndef TR_LAB_RUNFILE_H
#define TR_LAB_RUNFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "lab/audit.h"
#include "lab/histogram.h"
#include "lab/record.h"

#define RUNFILE_VERSION 1
#define RUNFILE_MAX_BYTES (4LL << 30) /* a file larger than 4 GiB is refused on read */

typedef struct run_params {
    int32_t tickets, vip; /* N and V of the concert (as read from it) */
    int64_t customers;    /* ids drawn from 1..customers */
    int64_t requests;
    int32_t vus;
    int64_t seed; /* PRNG seed of the customer draw, ≥ 0 */
    int64_t concert_id;
    char url[400]; /* several URLs comma-separated */
} run_params;

#define RUN_MAX_MARKS 16
#define RUN_MARK_KEY_LEN 32
#define RUN_MARK_VALUE_LEN 160

/* A mark: something the fault suite noted during the run ("fault" = "redis-kill",
 * "fault_at_ms" = "1764590000123"), kept verbatim. */
typedef struct run_mark {
    char key[RUN_MARK_KEY_LEN];
    char value[RUN_MARK_VALUE_LEN];
} run_mark;

#define RUN_MAX_CONCERTS 100 /* a festival's concerts kept (SCENARIO_MAX_CONCERTS) */

/* How an open-loop run was driven (loadgen.h); all 0 for a closed loop. */
typedef struct run_open_loop {
    double rate;             /* offered requests/s (> 0 for an open loop) */
    double ramp_from;        /* requests/s at t = 0 when ramp_us > 0 */
    int64_t ramp_us;         /* the linear ramp's length, µs; 0: none */
    int32_t max_connections; /* the bound on connections */
    int32_t connections;     /* connections it used, at most */
    int64_t late_us;         /* the lateness threshold, µs */
    int64_t late;            /* requests sent more than late_us after their scheduled time */
    int64_t max_late_us;     /* the largest send − scheduled, µs */
    int64_t conn_waits;      /* due requests that found every connection busy at the bound */
} run_open_loop;

typedef struct lab_run {
    char strategy[64];
    char scenario[32];
    bool guarded; /* the ticket table carried the UNIQUE guards */
    run_params params;
    int64_t started_wall_us; /* t = 0, µs since the Unix epoch */
    int64_t duration_us;     /* the load phase */
    int64_t reconnects;
    int64_t retries; /* purchases sent again after an unknown outcome (loadgen.h);
                        0 in run files written before it was kept */
    audit_report audit;
    int nmarks; /* "marks" in the file; absent when 0 */
    run_mark marks[RUN_MAX_MARKS];
    run_open_loop open_loop;
    /* A festival (many concerts at once): nconcerts ≥ 1 concert rows, concerts[0] the headliner
     * (params.concert_id; the others follow it consecutively), each row its own concert's audit;
     * audit then holds the totals (audit_festival_totals). 0 for a one-concert run. */
    int32_t nconcerts;
    double zipf_s; /* the exponent of the concert draw (scenario_draw_concerts) */
    audit_concert_row concerts[RUN_MAX_CONCERTS];
    bool has_hist;     /* the three histograms below are filled (runfile_histograms, or read) */
    lab_hist lat_all;  /* latency of every answer, µs (from the scheduled time in an open loop) */
    lab_hist lat_win;  /* of the winners: 201 and 202 answers */
    lab_hist lat_lose; /* of the losers: 409 and 503 answers */
    lab_codes codes;   /* what records[i].code points into */
    lab_record *records; /* owned (malloc); NULL when read without records */
    size_t nrecords;
} lab_run;

/* Sets mark key (replacing an earlier value). false when key or value is too long, key is
 * empty, or RUN_MAX_MARKS are taken. */
bool lab_run_set_mark(lab_run *run, const char *key, const char *value);

/* The value of mark key, or NULL. */
const char *lab_run_mark(const lab_run *run, const char *key);

/* Fills the three latency histograms of recs[0..n) (lab_record_latency_us of every answer;
 * winners: 201 and 202; losers: 409 and 503); they are emptied first. */
void runfile_histograms_of(const lab_record *recs, size_t n, lab_hist *all, lab_hist *win,
                           lab_hist *lose);

/* runfile_histograms_of run's records into its lat_* and sets has_hist. */
void runfile_histograms(lab_run *run);

/* Frees run->records (NULL-safe) and sets it to NULL / 0. run itself is the caller's. */
void lab_run_free_records(lab_run *run);

/* Creates the directories path lies in (mkdir -p of its directory part); one that exists is
 * fine. Errors: TR_INTERNAL with errbuf saying why, TR_NOMEM. */
tr_err runfile_mkdirs_for(const char *path, char *errbuf, size_t errlen);

/* Writes run as JSON to path (replacing it via a temporary file and rename, so a reader never
 * sees half a file). Errors: TR_INTERNAL with errbuf saying why (I/O), TR_NOMEM. */
tr_err runfile_write(const lab_run *run, const char *path, char *errbuf, size_t errlen);

/* Reads a run file into *out (overwritten). with_records false skips the requests rows (the
 * table needs only the summary; this keeps reading a 1M-request file cheap).
 * Errors: TR_INVALID_ARGUMENT (not a version-1 run file; errbuf names the field), TR_INTERNAL
 * (I/O), TR_NOMEM. On error out->records is NULL. */
tr_err runfile_read(const char *path, bool with_records, lab_run *out, char *errbuf, size_t errlen);

/* RFC 3339 UTC with µs ("2024-05-01T12:00:00.123456Z") of µs since the epoch;
 * len ≥ 28 bytes. */
void runfile_format_time(int64_t wall_us, char *buf, size_t len);
/* The inverse; false when s is not in exactly that form. */
bool runfile_parse_time(const char *s, int64_t *wall_us);

#endif
