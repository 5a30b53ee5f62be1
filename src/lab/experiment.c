/* experiment.c — load → drain → audit → save behind experiment.h. */
#include "lab/experiment.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/schema.h"

static void exp_log(const experiment_config *cfg, experiment_log_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void exp_log(const experiment_config *cfg, experiment_log_kind kind, const char *fmt, ...) {
    if (cfg->log == NULL) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cfg->log(cfg->arg, kind, line);
}

tr_err experiment_check(const experiment_config *cfg, char *errbuf, size_t errlen) {
    if (cfg->strategy == NULL || cfg->strategy[0] == '\0' || cfg->scenario == NULL ||
        cfg->pg_conninfo == NULL || cfg->pg_conninfo[0] == '\0' || cfg->nurls < 1 ||
        cfg->nurls > LG_MAX_URLS || cfg->concert_id < 1 || cfg->requests < 1 ||
        cfg->customers < 1 || cfg->vus < 1 || cfg->vus > LG_MAX_VUS || cfg->tickets < 0 ||
        cfg->vip < 0 || !(cfg->rate >= 0) || cfg->ramp_us < 0 || !(cfg->ramp_from >= 0) ||
        cfg->max_connections < 0 || cfg->max_connections > LG_MAX_VUS ||
        (cfg->rate > 0 && cfg->max_connections > 0 && cfg->max_connections < cfg->vus)) {
        tr_errf(errbuf, errlen,
                "the experiment needs a strategy, a scenario, PostgreSQL, 1..%d "
                "URLs and positive numbers (and --max-connections at least --vus)",
                LG_MAX_URLS);
        return TR_INVALID_ARGUMENT;
    }
    if (cfg->concerts < 0 || cfg->concerts > SCENARIO_MAX_CONCERTS ||
        (cfg->concerts > 1 &&
         (!(cfg->zipf_s >= 0 && cfg->zipf_s <= 10) || cfg->concert_id > INT64_MAX - 100))) {
        tr_errf(errbuf, errlen,
                "a festival has 1..%d concerts and a draw exponent in 0..10 (got %" PRId32
                " concerts, exponent %g)",
                SCENARIO_MAX_CONCERTS, cfg->concerts, cfg->zipf_s);
        return TR_INVALID_ARGUMENT;
    }
    const scenario *sc = cfg->scenario;
    if (sc->draw == SCENARIO_DRAW_EACH_ONCE &&
        (cfg->requests > cfg->customers || cfg->customers > SCENARIO_EACH_ONCE_MAX_CUSTOMERS)) {
        tr_errf(errbuf, errlen,
                "scenario %s sends each customer once, so --requests (%" PRId64
                ") must not exceed --customers (%" PRId64 ")",
                sc->name, cfg->requests, cfg->customers);
        return TR_INVALID_ARGUMENT;
    }
    lg_url parsed;
    for (int u = cfg->nurls - 1; u >= 0; u--)
        if (lg_url_parse(cfg->urls[u], &parsed, errbuf, errlen) != TR_OK)
            return TR_INVALID_ARGUMENT;
    return TR_OK;
}

tr_err experiment_check_concert(pg_conn *pg, int64_t concert_id, int64_t tickets, int64_t vip,
                                const char *scenario_name, audit_concert *row, bool *guarded,
                                char *errbuf, size_t errlen) {
    tr_err e = audit_load_concert(pg, concert_id, row);
    if (e == TR_CONCERT_NOT_FOUND) {
        tr_errf(errbuf, errlen, "concert %" PRId64 " does not exist; seed the database first",
                concert_id);
        return e;
    }
    if (e != TR_OK) {
        tr_errf(errbuf, errlen, "could not read concert %" PRId64 ": %s", concert_id,
                e == TR_PG ? pg_conn_errstr(pg) : tr_strerror(e));
        return e;
    }
    if (row->total_seats != tickets || row->vip_seats != vip) {
        tr_errf(errbuf, errlen,
                "concert %" PRId64 " has %" PRId32 " seats and %" PRId32
                " VIP seats, but the run expects %" PRId64 " and %" PRId64
                "; seed it for scenario %s or pass --tickets/--vip",
                concert_id, row->total_seats, row->vip_seats, tickets, vip, scenario_name);
        return TR_INVALID_ARGUMENT;
    }
    if (schema_is_guarded(pg, guarded) != TR_OK) {
        tr_errf(errbuf, errlen, "could not read the schema: %s", pg_conn_errstr(pg));
        return TR_PG;
    }
    return TR_OK;
}

/* results/run-<strategy>-<UTC yyyymmddThhmmssZ>[-k].json, the strategy made file-name safe. */
static void default_out(const char *strategy, int64_t wall_us, char *buf, size_t len) {
    char safe[64];
    size_t i = 0;
    for (; strategy[i] && i < sizeof safe - 1; i++) {
        char c = strategy[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        safe[i] = ok ? c : '_';
    }
    safe[i] = '\0';
    time_t s = (time_t)(wall_us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(buf, len, "results/run-%s-%s.json", safe, ts);
    for (int k = 2; access(buf, F_OK) == 0 && k < 1000; k++)
        snprintf(buf, len, "results/run-%s-%s-%d.json", safe, ts, k);
}

tr_err experiment_save(const lab_run *run, const char *out_path, char *path, size_t pathlen,
                       char *errbuf, size_t errlen) {
    if (out_path) snprintf(path, pathlen, "%s", out_path);
    else default_out(run->strategy, run->started_wall_us, path, pathlen);
    tr_err e = runfile_mkdirs_for(path, errbuf, errlen);
    if (e == TR_OK) e = runfile_write(run, path, errbuf, errlen);
    return e;
}

/* Reads KEY=VALUE lines of path into run->marks (blank lines and lines starting with # are
 * skipped). A missing file is no mark, not an error. */
static tr_err read_marks(const experiment_config *cfg, lab_run *run, char *errbuf, size_t errlen) {
    FILE *f = fopen(cfg->marks_file, "r");
    if (f == NULL) {
        if (errno == ENOENT) return TR_OK;
        tr_errf(errbuf, errlen, "could not read %s: %s", cfg->marks_file, strerror(errno));
        return TR_INTERNAL;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (line[0] == '#' || eq == NULL || eq == line) continue;
        *eq = '\0';
        if (!lab_run_set_mark(run, line, eq + 1))
            exp_log(cfg, EXPERIMENT_WARNING, "mark \"%s\" not kept (too long or too many)", line);
    }
    fclose(f);
    return TR_OK;
}

static const pg_stmt customers_stmt = {
    "lab_cli_customers", "SELECT count(*) FROM customer WHERE id BETWEEN 1 AND $1", 1};
static const pg_stmt tickets_stmt = {"lab_cli_tickets",
                                     "SELECT count(*) FROM ticket WHERE concert_id = $1", 1};

static int64_t pg_count(pg_conn *pg, const pg_stmt *st, int64_t arg) {
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, arg);
    const char *params[] = {a};
    PGresult *r = pg_exec_stmt(pg, st, params);
    if (r == NULL) return -1;
    int64_t n = pg_get_i64(r, 0, 0);
    PQclear(r);
    return n;
}

typedef struct concert_customer {
    int64_t concert, customer;
} concert_customer;

static int cmp_concert_customer(const void *a, const void *b) {
    const concert_customer *x = a, *y = b;
    if (x->concert != y->concert) return x->concert < y->concert ? -1 : 1;
    return x->customer < y->customer ? -1 : x->customer > y->customer;
}

/* How many tickets PostgreSQL should hold once the system drained: every 201, and a ticket for
 * every customer a waiting line admitted (202) at each concert — counting 202s alone would end
 * the wait while the issuer still works (a fresh-clone tester saw the audit run with 17,313 of
 * 20,000 tickets). */
static int64_t drain_target(const lab_record *recs, size_t n) {
    int64_t target = 0;
    size_t nq = 0;
    for (size_t i = 0; i < n; i++) {
        target += recs[i].status == 201;
        nq += recs[i].status == 202;
    }
    concert_customer *q = malloc((nq ? nq : 1) * sizeof *q);
    if (q == NULL) return target + (int64_t)nq; /* an upper bound: the wait ends on its timeout */
    nq = 0;
    for (size_t i = 0; i < n; i++)
        if (recs[i].status == 202)
            q[nq++] = (concert_customer){recs[i].concert_id, recs[i].customer_id};
    qsort(q, nq, sizeof *q, cmp_concert_customer);
    for (size_t i = 0; i < nq; i++) target += i == 0 || cmp_concert_customer(&q[i], &q[i - 1]);
    free(q);
    return target;
}

/* The warnings worth a look before the load: customers missing, tickets already sold, sales
 * closed. */
static void warn_before_load(const experiment_config *cfg, pg_conn *pg, const audit_concert *c) {
    int64_t have = pg_count(pg, &customers_stmt, cfg->customers);
    if (have >= 0 && have < cfg->customers)
        exp_log(cfg, EXPERIMENT_WARNING,
                "only %" PRId64 " of customers 1..%" PRId64 " exist; the others will be refused",
                have, cfg->customers);
    for (int32_t k = 0; k < (cfg->concerts > 1 ? cfg->concerts : 1); k++) {
        int64_t before = pg_count(pg, &tickets_stmt, cfg->concert_id + k);
        if (before > 0)
            exp_log(cfg, EXPERIMENT_WARNING,
                    "concert %" PRId64 " already has %" PRId64
                    " tickets; the audit will count them as phantom (seed "
                    "again first)",
                    cfg->concert_id + k, before);
    }
    if (c->starts_at_us <= (int64_t)time(NULL) * 1000000)
        exp_log(cfg, EXPERIMENT_WARNING,
                "sales for concert %" PRId64 " have closed; expect "
                "sales_closed answers",
                cfg->concert_id);
}

/* Fills run's label and parameters from cfg (several URLs are kept comma-separated). */
static void describe_run(const experiment_config *cfg, bool guarded, lab_run *run) {
    snprintf(run->strategy, sizeof run->strategy, "%s", cfg->strategy);
    snprintf(run->scenario, sizeof run->scenario, "%s", cfg->scenario->name);
    run->guarded = guarded;
    run->params = (run_params){.tickets = (int32_t)cfg->tickets,
                               .vip = (int32_t)cfg->vip,
                               .customers = cfg->customers,
                               .requests = cfg->requests,
                               .vus = (int32_t)cfg->vus,
                               .seed = (int64_t)cfg->seed,
                               .concert_id = cfg->concert_id};
    run->nconcerts = cfg->concerts > 1 ? cfg->concerts : 0;
    run->zipf_s = cfg->concerts > 1 ? cfg->zipf_s : 0;
    size_t ulen = 0;
    for (int u = 0; u < cfg->nurls && ulen < sizeof run->params.url; u++)
        ulen += (size_t)snprintf(run->params.url + ulen, sizeof run->params.url - ulen, "%s%s",
                                 u ? "," : "", cfg->urls[u]);
}

_Static_assert(RUN_MAX_CONCERTS >= SCENARIO_MAX_CONCERTS, "a run keeps every festival concert");

/* A festival's audit: each concert alone, on its own requests (the rules hold per concert:
 * R6 compares a concert's requests with each other only), into run->concerts; the totals into
 * run->audit. */
static tr_err audit_festival(pg_conn *pg, int64_t first, int32_t nconcerts, lab_run *run,
                             int64_t duration_us, int64_t started_wall_us) {
    lab_record *sub = malloc((run->nrecords ? run->nrecords : 1) * sizeof *sub);
    audit_report *rep = malloc(sizeof *rep);
    tr_err e = sub && rep ? TR_OK : TR_NOMEM;
    for (int32_t k = 0; e == TR_OK && k < nconcerts; k++) {
        int64_t id = first + k;
        size_t m = 0;
        for (size_t i = 0; i < run->nrecords; i++)
            if (lab_record_concert(&run->records[i], first) == id) sub[m++] = run->records[i];
        e = audit_run(pg, id, sub, m, &run->codes, duration_us, started_wall_us, rep);
        if (e == TR_OK) audit_concert_row_of(id, rep, &run->concerts[k]);
    }
    if (e == TR_OK) {
        run->nconcerts = nconcerts;
        e = audit_festival_totals(run->concerts, (size_t)nconcerts, run->records, run->nrecords,
                                  &run->codes, duration_us, &run->audit);
    }
    free(sub);
    free(rep);
    return e;
}

tr_err experiment_run(const experiment_config *cfg, lab_run *run, char *path, size_t pathlen,
                      char *errbuf, size_t errlen) {
    tr_err e = experiment_check(cfg, errbuf, errlen);
    if (e != TR_OK) return e;
    pg_conn *pg = NULL;
    if ((e = pg_conn_open(cfg->pg_conninfo, &pg, errbuf, errlen)) != TR_OK) return e;
    audit_concert concert_row;
    bool guarded = false;
    int32_t nconcerts = cfg->concerts > 1 ? cfg->concerts : 1;
    for (int32_t k = nconcerts - 1; k >= 0; k--) { /* ends on the headliner's row */
        e = experiment_check_concert(pg, cfg->concert_id + k, cfg->tickets, cfg->vip,
                                     cfg->scenario->name, &concert_row, &guarded, errbuf, errlen);
        if (e != TR_OK) goto out;
    }
    warn_before_load(cfg, pg, &concert_row);
    describe_run(cfg, guarded, run);
    run->nrecords = (size_t)cfg->requests;
    run->records = calloc(run->nrecords, sizeof *run->records);
    if (run->records == NULL) {
        tr_errf(errbuf, errlen, "out of memory for %" PRId64 " requests", cfg->requests);
        e = TR_NOMEM;
        goto out;
    }
    if (!scenario_draw_customers(run->records, run->nrecords, cfg->customers, cfg->seed,
                                 cfg->scenario->draw)) {
        tr_errf(errbuf, errlen, "could not draw the customers (out of memory)");
        e = TR_NOMEM;
        goto out;
    }
    if (nconcerts > 1 && !scenario_draw_concerts(run->records, run->nrecords, cfg->concert_id,
                                                 nconcerts, cfg->zipf_s, cfg->seed)) {
        tr_errf(errbuf, errlen, "could not draw the concerts");
        e = TR_INVALID_ARGUMENT;
        goto out;
    }

    lg_config lc = {.url = cfg->urls[0],
                    .urls = cfg->urls,
                    .nurls = cfg->nurls,
                    .rate = cfg->rate,
                    .ramp_from = cfg->ramp_from,
                    .ramp_us = cfg->ramp_us,
                    .max_connections = cfg->max_connections,
                    .late_us = cfg->late_us,
                    .retry_connection_errors = cfg->retry_connection_errors,
                    .target = LG_TARGET_PURCHASE,
                    .concert_id = cfg->concert_id,
                    .vus = (int)cfg->vus,
                    .time_limit_us = cfg->time_limit_us,
                    .progress = cfg->progress,
                    .progress_arg = cfg->progress_arg,
                    .progress_every_us = cfg->progress_every_us};
    lg_result res;
    if (cfg->rate > 0)
        exp_log(cfg, EXPERIMENT_INFO,
                "%s, %" PRId64 " requests at %.0f/s (open loop) on %" PRId64 "+ connections to %s",
                cfg->scenario->name, cfg->requests, cfg->rate, cfg->vus, run->params.url);
    else
        exp_log(cfg, EXPERIMENT_INFO, "%s, %" PRId64 " requests on %" PRId64 " connections to %s",
                cfg->scenario->name, cfg->requests, cfg->vus, run->params.url);
    if ((e = lg_run(&lc, run->records, run->nrecords, &run->codes, &res, errbuf, errlen)) != TR_OK)
        goto out;
    run->started_wall_us = res.started_wall_us;
    run->duration_us = res.duration_us;
    run->reconnects = res.reconnects;
    run->retries = res.retries;
    if (cfg->rate > 0)
        run->open_loop = (run_open_loop){
            .rate = cfg->rate,
            .ramp_from = cfg->ramp_us > 0 ? cfg->ramp_from : 0,
            .ramp_us = cfg->ramp_us,
            .max_connections = cfg->max_connections > 0                ? cfg->max_connections
                               : cfg->vus > LG_DEFAULT_MAX_CONNECTIONS ? (int32_t)cfg->vus
                                                                       : LG_DEFAULT_MAX_CONNECTIONS,
            .connections = res.connections_peak,
            .late_us = cfg->late_us > 0 ? cfg->late_us : LG_DEFAULT_LATE_US,
            .late = res.late,
            .max_late_us = res.max_late_us,
            .conn_waits = res.conn_waits};
    runfile_histograms(run);
    if (cfg->loaded) cfg->loaded(cfg->arg, &res, run->nrecords);

    /* Drain: write-behind and waiting-line strategies store tickets after answering. */
    int64_t acknowledged = drain_target(run->records, run->nrecords), drained_after_us = -1;
    e = audit_wait_drained_range(pg, cfg->concert_id, cfg->concert_id + nconcerts - 1, acknowledged,
                                 cfg->drain_stable_ms, cfg->drain_timeout_ms, res.started_wall_us,
                                 &drained_after_us);
    if (e == TR_PG) {
        tr_errf(errbuf, errlen, "could not wait for the drain: %s", pg_conn_errstr(pg));
        goto out;
    }
    if (e == TR_BUSY)
        exp_log(cfg, EXPERIMENT_WARNING,
                "PostgreSQL did not hold every acknowledged ticket "
                "within %d s; auditing what is there",
                cfg->drain_timeout_ms / 1000);
    if (nconcerts > 1)
        e = audit_festival(pg, cfg->concert_id, nconcerts, run, res.duration_us,
                           res.started_wall_us);
    else
        e = audit_run(pg, cfg->concert_id, run->records, run->nrecords, &run->codes,
                      res.duration_us, res.started_wall_us, &run->audit);
    run->audit.drained_after_us = drained_after_us;
    if (e != TR_OK) {
        tr_errf(errbuf, errlen, "could not audit concert %" PRId64 ": %s", cfg->concert_id,
                e == TR_PG ? pg_conn_errstr(pg) : tr_strerror(e));
        goto out;
    }
    if (cfg->marks_file && (e = read_marks(cfg, run, errbuf, errlen)) != TR_OK) goto out;
    e = experiment_save(run, cfg->out_path, path, pathlen, errbuf, errlen);
out:
    pg_conn_free(pg);
    return e;
}
