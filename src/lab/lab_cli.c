/* lab_cli.c — `ticketrush load | table | ceiling` behind lab_cli.h: options, messages for
 * people, exit codes. The work is done by loadgen.c, audit.c, runfile.c and table.c. */
#include "lab/lab_cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lab/audit.h"
#include "lab/loadgen.h"
#include "lab/runfile.h"
#include "lab/scenario.h"
#include "lab/table.h"
#include "store/pg.h"
#include "store/schema.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_MAX_REQUESTS 50000000LL

/* --- helpers ------------------------------------------------------------------------- */

static bool cli_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
                    int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "ticketrush %s: --%s must be an integer in %" PRId64 "..%" PRId64
                        ", not \"%s\"\n",
                cmd, opt, lo, hi, s);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static const char *cli_default_url(void) {
    const char *u = getenv("TICKETRUSH_URL");
    return u && *u ? u : CLI_DEFAULT_URL;
}

/* mkdir -p of the directory part of path. */
static bool cli_mkdirs_for(const char *path) {
    char *dir = strdup(path);
    if (dir == NULL) return false;
    char *slash = strrchr(dir, '/');
    bool ok = true;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; ok; p++) {
            if (*p != '/' && *p != '\0') continue;
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) ok = false;
            *p = c;
            if (c == '\0') break;
        }
    }
    free(dir);
    return ok;
}

/* results/run-<strategy>-<UTC yyyymmddThhmmssZ>[-k].json, the strategy made file-name safe. */
static void cli_default_out(const char *strategy, int64_t wall_us, char *buf, size_t len) {
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

/* One descriptor per VU plus a margin (PostgreSQL, epoll, stdio): raise the soft limit up to
 * the hard one when needed. false (with a message) when even that is too low. */
static bool cli_ensure_fds(const char *cmd, int64_t vus) {
    rlim_t need = (rlim_t)vus + 64;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) return true;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr, "ticketrush %s: %" PRId64 " virtual users need %llu open files, but the "
                        "limit is %llu (see ulimit -n)\n",
                cmd, vus, (unsigned long long)need, (unsigned long long)rl.rlim_max);
        return false;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "ticketrush %s: could not raise the open-file limit to %llu: %s\n", cmd,
                (unsigned long long)need, strerror(errno));
        return false;
    }
    return true;
}

typedef struct cli_progress_state {
    const char *cmd;
    size_t last_done;
    int64_t last_us;
} cli_progress_state;

static void cli_progress(void *arg, size_t done, size_t total, int64_t elapsed_us) {
    cli_progress_state *p = arg;
    int64_t dt = elapsed_us - p->last_us;
    double rate = dt > 0 ? (double)(done - p->last_done) * 1e6 / (double)dt : 0;
    fprintf(stderr, "%s: %zu/%zu answered after %.1f s, %.0f req/s\n", p->cmd, done, total,
            (double)elapsed_us / 1e6, rate);
    p->last_done = done;
    p->last_us = elapsed_us;
}

/* --- load ---------------------------------------------------------------------------- */

static void load_usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush load --strategy NAME [options]\n"
            "\n"
            "Runs a scenario against a running server, waits for every answer, audits the\n"
            "concert in PostgreSQL against SPEC rules R1-R8, writes the run file and prints\n"
            "its table row. The database must already be seeded for the scenario (the\n"
            "concert's seats and VIP seats are read from it and must match).\n"
            "\n"
            "  --strategy NAME     label of the server's strategy, for the table (required)\n"
            "  --url URL           server, loopback only (default $TICKETRUSH_URL or %s)\n"
            "  --pg CONNINFO       PostgreSQL conninfo (default $TICKETRUSH_PG)\n"
            "  --scenario NAME     %s (default seed)\n"
            "  --tickets N         seats the concert must have (scenario default)\n"
            "  --vip V             VIP seats the concert must have (scenario default)\n"
            "  --customers C       customers drawn from ids 1..C (scenario default)\n"
            "  --requests R        requests to send (scenario default)\n"
            "  --vus V             virtual users = keep-alive connections (scenario default)\n"
            "  --seed S            PRNG seed of the customer draw (default 1)\n"
            "  --concert ID        concert id (default 1)\n"
            "  --out FILE          run file (default results/run-<strategy>-<UTC time>.json)\n"
            "  --time-limit-s S    stop after S seconds; unanswered requests count as\n"
            "                      timeouts (default 600)\n"
            "  --expect-clean      exit 3 when any R1-R8 anomaly count is not zero\n"
            "  --quiet             no progress lines on stderr\n"
            "  -h, --help          this text\n"
            "\n"
            "scenarios (SPEC 4): seed = 1000 seats, 10 VIP, 10000 customers, 50000 requests\n"
            "drawn at random with repeats, 200 VUs; scale = 100000 seats, 100 VIP, 1000000\n"
            "customers, 1000000 requests each customer once, 256 VUs; one-seat = 1 seat, 1 VIP,\n"
            "50 customers, 50 requests each customer once, 50 VUs. All VUs connect first, then\n"
            "send their first requests together.\n"
            "exit status: 0 done (anomalies are shown in the table), 1 operational failure,\n"
            "2 bad options, 3 --expect-clean and an anomaly.\n",
            CLI_DEFAULT_URL, scenario_names());
}

enum {
    OPT_URL = 256, OPT_PG, OPT_STRATEGY, OPT_SCENARIO, OPT_TICKETS, OPT_VIP, OPT_CUSTOMERS,
    OPT_REQUESTS, OPT_VUS, OPT_SEED, OPT_CONCERT, OPT_OUT, OPT_TIME_LIMIT, OPT_EXPECT_CLEAN,
    OPT_QUIET,
};

static const pg_stmt cli_customers_stmt = {
    "lab_cli_customers", "SELECT count(*) FROM customer WHERE id BETWEEN 1 AND $1", 1};
static const pg_stmt cli_tickets_stmt = {
    "lab_cli_tickets", "SELECT count(*) FROM ticket WHERE concert_id = $1", 1};

static int64_t cli_count(pg_conn *pg, const pg_stmt *st, int64_t arg) {
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, arg);
    const char *params[] = {a};
    PGresult *r = pg_exec_stmt(pg, st, params);
    if (r == NULL) return -1;
    int64_t n = pg_get_i64(r, 0, 0);
    PQclear(r);
    return n;
}

int lab_cli_load(int argc, char **argv) {
    static const struct option opts[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"pg", required_argument, NULL, OPT_PG},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"tickets", required_argument, NULL, OPT_TICKETS},
        {"vip", required_argument, NULL, OPT_VIP},
        {"customers", required_argument, NULL, OPT_CUSTOMERS},
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"vus", required_argument, NULL, OPT_VUS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"concert", required_argument, NULL, OPT_CONCERT},
        {"out", required_argument, NULL, OPT_OUT},
        {"time-limit-s", required_argument, NULL, OPT_TIME_LIMIT},
        {"expect-clean", no_argument, NULL, OPT_EXPECT_CLEAN},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "load";
    const char *url = cli_default_url(), *pg_info = getenv("TICKETRUSH_PG");
    const char *strategy = NULL, *scenario_name = "seed", *out_path = NULL;
    int64_t tickets = -1, vip = -1, customers = -1, requests = -1, vus = -1, seed = 1,
            concert = 1, time_limit_s = 600;
    bool expect_clean = false, quiet = false;

    optind = 0; /* glibc: a full reset, main may have parsed options before */
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_URL: url = optarg; break;
        case OPT_PG: pg_info = optarg; break;
        case OPT_STRATEGY: strategy = optarg; break;
        case OPT_SCENARIO: scenario_name = optarg; break;
        case OPT_TICKETS:
            if (!cli_int(cmd, "tickets", optarg, 0, INT32_MAX, &tickets)) return LAB_EXIT_USAGE;
            break;
        case OPT_VIP:
            if (!cli_int(cmd, "vip", optarg, 0, INT32_MAX, &vip)) return LAB_EXIT_USAGE;
            break;
        case OPT_CUSTOMERS:
            if (!cli_int(cmd, "customers", optarg, 1, INT64_MAX, &customers))
                return LAB_EXIT_USAGE;
            break;
        case OPT_REQUESTS:
            if (!cli_int(cmd, "requests", optarg, 1, CLI_MAX_REQUESTS, &requests))
                return LAB_EXIT_USAGE;
            break;
        case OPT_VUS:
            if (!cli_int(cmd, "vus", optarg, 1, LG_MAX_VUS, &vus)) return LAB_EXIT_USAGE;
            break;
        case OPT_SEED:
            if (!cli_int(cmd, "seed", optarg, 0, INT64_MAX, &seed)) return LAB_EXIT_USAGE;
            break;
        case OPT_CONCERT:
            if (!cli_int(cmd, "concert", optarg, 1, INT64_MAX, &concert)) return LAB_EXIT_USAGE;
            break;
        case OPT_OUT: out_path = optarg; break;
        case OPT_TIME_LIMIT:
            if (!cli_int(cmd, "time-limit-s", optarg, 1, 86400, &time_limit_s))
                return LAB_EXIT_USAGE;
            break;
        case OPT_EXPECT_CLEAN: expect_clean = true; break;
        case OPT_QUIET: quiet = true; break;
        case 'h': load_usage(stdout); return LAB_EXIT_OK;
        default: load_usage(stderr); return LAB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ticketrush load: unexpected argument \"%s\"\n", argv[optind]);
        return LAB_EXIT_USAGE;
    }
    if (strategy == NULL || *strategy == '\0') {
        fprintf(stderr, "ticketrush load: --strategy is required (the label of the server's "
                        "strategy, e.g. db-atomic)\n");
        return LAB_EXIT_USAGE;
    }
    const scenario *sc = scenario_find(scenario_name);
    if (sc == NULL) {
        fprintf(stderr, "ticketrush load: unknown scenario \"%s\" (known: %s)\n", scenario_name,
                scenario_names());
        return LAB_EXIT_USAGE;
    }
    if (pg_info == NULL || *pg_info == '\0') {
        fprintf(stderr, "ticketrush load: no PostgreSQL to audit: give --pg or set "
                        "TICKETRUSH_PG\n");
        return LAB_EXIT_USAGE;
    }
    if (tickets < 0) tickets = sc->tickets;
    if (vip < 0) vip = sc->vip;
    if (customers < 0) customers = sc->customers;
    if (requests < 0) requests = sc->requests;
    if (vus < 0) vus = sc->vus;
    if (sc->draw == SCENARIO_DRAW_EACH_ONCE &&
        (requests > customers || customers > SCENARIO_EACH_ONCE_MAX_CUSTOMERS)) {
        fprintf(stderr, "ticketrush load: scenario %s sends each customer once, so --requests "
                        "(%" PRId64 ") must not exceed --customers (%" PRId64 ")\n",
                sc->name, requests, customers);
        return LAB_EXIT_USAGE;
    }
    lg_url parsed;
    char err[512];
    if (lg_url_parse(url, &parsed, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush load: %s\n", err);
        return LAB_EXIT_USAGE;
    }

    if (!cli_ensure_fds(cmd, vus)) return LAB_EXIT_FAILURE;
    int rc = LAB_EXIT_FAILURE;
    pg_conn *pg = NULL;
    lab_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        fprintf(stderr, "ticketrush load: out of memory\n");
        return LAB_EXIT_FAILURE;
    }
    if (pg_conn_open(pg_info, &pg, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush load: %s\n", err);
        goto out;
    }
    audit_concert concert_row;
    tr_err e = audit_load_concert(pg, concert, &concert_row);
    if (e == TR_CONCERT_NOT_FOUND) {
        fprintf(stderr, "ticketrush load: concert %" PRId64 " does not exist; seed the database "
                        "first\n", concert);
        goto out;
    }
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush load: could not read concert %" PRId64 ": %s\n", concert,
                pg_conn_errstr(pg));
        goto out;
    }
    if (concert_row.total_seats != tickets || concert_row.vip_seats != vip) {
        fprintf(stderr, "ticketrush load: concert %" PRId64 " has %" PRId32 " seats and %" PRId32
                        " VIP seats, but the run expects %" PRId64 " and %" PRId64
                        "; seed it for scenario %s or pass --tickets/--vip\n",
                concert, concert_row.total_seats, concert_row.vip_seats, tickets, vip, sc->name);
        goto out;
    }
    bool guarded = false;
    if (schema_is_guarded(pg, &guarded) != TR_OK) {
        fprintf(stderr, "ticketrush load: could not read the schema: %s\n", pg_conn_errstr(pg));
        goto out;
    }
    int64_t have = cli_count(pg, &cli_customers_stmt, customers);
    if (have >= 0 && have < customers)
        fprintf(stderr, "ticketrush load: warning: only %" PRId64 " of customers 1..%" PRId64
                        " exist; the others will be refused\n", have, customers);
    int64_t before = cli_count(pg, &cli_tickets_stmt, concert);
    if (before > 0)
        fprintf(stderr, "ticketrush load: warning: concert %" PRId64 " already has %" PRId64
                        " tickets; the audit will count them as phantom (seed again first)\n",
                concert, before);
    if (concert_row.starts_at_us <= (int64_t)time(NULL) * 1000000)
        fprintf(stderr, "ticketrush load: warning: sales for concert %" PRId64 " have closed; "
                        "expect sales_closed answers\n", concert);

    snprintf(run->strategy, sizeof run->strategy, "%s", strategy);
    snprintf(run->scenario, sizeof run->scenario, "%s", sc->name);
    run->guarded = guarded;
    run->params = (run_params){.tickets = (int32_t)tickets, .vip = (int32_t)vip,
                               .customers = customers, .requests = requests,
                               .vus = (int32_t)vus, .seed = seed, .concert_id = concert};
    snprintf(run->params.url, sizeof run->params.url, "%s", url);
    run->nrecords = (size_t)requests;
    run->records = calloc(run->nrecords, sizeof *run->records);
    if (run->records == NULL) {
        fprintf(stderr, "ticketrush load: out of memory for %" PRId64 " requests\n", requests);
        goto out;
    }
    if (!scenario_draw_customers(run->records, run->nrecords, customers, (uint64_t)seed,
                                 sc->draw)) {
        fprintf(stderr, "ticketrush load: could not draw the customers (out of memory)\n");
        goto out;
    }

    cli_progress_state ps = {.cmd = cmd};
    lg_config cfg = {.url = url, .target = LG_TARGET_PURCHASE, .concert_id = concert,
                     .vus = (int)vus, .time_limit_us = time_limit_s * 1000000,
                     .progress = quiet ? NULL : cli_progress, .progress_arg = &ps};
    lg_result res;
    if (!quiet)
        fprintf(stderr, "load: %s, %" PRId64 " requests on %" PRId64 " connections to %s\n",
                sc->name, requests, vus, parsed.host);
    e = lg_run(&cfg, run->records, run->nrecords, &run->codes, &res, err, sizeof err);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush load: %s\n", err);
        goto out;
    }
    run->started_wall_us = res.started_wall_us;
    run->duration_us = res.duration_us;
    run->reconnects = res.reconnects;
    if (!quiet)
        fprintf(stderr, "load: %" PRId64 " answered in %.2f s; %" PRId64 " connection errors, %"
                        PRId64 " timeouts, %" PRId64 " bad responses, %" PRId64 " reconnects\n",
                res.answered, (double)res.duration_us / 1e6, res.connection_errors, res.timeouts,
                res.bad_responses, res.reconnects);

    /* Drained: with the strategies so far every answer means the work is done. */
    e = audit_run(pg, concert, run->records, run->nrecords, &run->codes, res.duration_us,
                  res.started_wall_us, &run->audit);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush load: could not audit concert %" PRId64 ": %s\n", concert,
                e == TR_PG ? pg_conn_errstr(pg) : tr_strerror(e));
        goto out;
    }

    char path[512];
    if (out_path) snprintf(path, sizeof path, "%s", out_path);
    else cli_default_out(strategy, res.started_wall_us, path, sizeof path);
    if (!cli_mkdirs_for(path)) {
        fprintf(stderr, "ticketrush load: could not create the directory of %s: %s\n", path,
                strerror(errno));
        goto out;
    }
    if (runfile_write(run, path, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush load: %s\n", err);
        goto out;
    }
    printf("run file: %s\n", path);
    if (table_write(stdout, run, 1) != TR_OK) goto out;
    fflush(stdout);
    rc = LAB_EXIT_OK;
    if (expect_clean && audit_has_anomalies(&run->audit)) {
        fprintf(stderr, "ticketrush load: the audit found anomalies (--expect-clean)\n");
        rc = LAB_EXIT_ANOMALY;
    }
out:
    if (run) lab_run_free_records(run);
    free(run);
    pg_conn_free(pg);
    return rc;
}

/* --- table --------------------------------------------------------------------------- */

static void table_usage(FILE *f) {
    fprintf(f, "usage: ticketrush table FILE...\n"
               "\n"
               "Prints one row per run file written by `ticketrush load`: throughput, every\n"
               "R1-R8 anomaly count, latency and errors by code.\n"
               "  -h, --help   this text\n");
}

int lab_cli_table(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            table_usage(stdout);
            return LAB_EXIT_OK;
        }
        table_usage(stderr);
        return LAB_EXIT_USAGE;
    }
    if (optind >= argc) {
        table_usage(stderr);
        return LAB_EXIT_USAGE;
    }
    size_t n = (size_t)(argc - optind);
    lab_run *runs = calloc(n, sizeof *runs);
    if (runs == NULL) {
        fprintf(stderr, "ticketrush table: out of memory\n");
        return LAB_EXIT_FAILURE;
    }
    int rc = LAB_EXIT_OK;
    char err[512];
    for (size_t i = 0; i < n; i++) {
        if (runfile_read(argv[optind + (int)i], false, &runs[i], err, sizeof err) != TR_OK) {
            fprintf(stderr, "ticketrush table: %s\n", err);
            rc = LAB_EXIT_FAILURE;
            break;
        }
    }
    if (rc == LAB_EXIT_OK && table_write(stdout, runs, n) != TR_OK) rc = LAB_EXIT_FAILURE;
    free(runs);
    return rc;
}

/* --- ceiling ------------------------------------------------------------------------- */

static void ceiling_usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush ceiling [--url URL] [--vus V] [--requests R] [--time-limit-s S]\n"
            "\n"
            "Drives GET /livez (the server does no work) closed-loop and prints requests/s,\n"
            "requests/min and latency: the ceiling of the load generator and server together.\n"
            "Compare with: wrk -t1 -cV -d5s URL/livez\n"
            "\n"
            "  --url URL          server, loopback only (default $TICKETRUSH_URL or %s)\n"
            "  --vus V            keep-alive connections (default 200)\n"
            "  --requests R       requests to send (default 200000)\n"
            "  --time-limit-s S   stop after S seconds (default 600)\n"
            "  -h, --help         this text\n",
            CLI_DEFAULT_URL);
}

int lab_cli_ceiling(int argc, char **argv) {
    static const struct option opts[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"vus", required_argument, NULL, OPT_VUS},
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"time-limit-s", required_argument, NULL, OPT_TIME_LIMIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "ceiling", *url = cli_default_url();
    int64_t vus = 200, requests = 200000, time_limit_s = 600;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_URL: url = optarg; break;
        case OPT_VUS:
            if (!cli_int(cmd, "vus", optarg, 1, LG_MAX_VUS, &vus)) return LAB_EXIT_USAGE;
            break;
        case OPT_REQUESTS:
            if (!cli_int(cmd, "requests", optarg, 1, CLI_MAX_REQUESTS, &requests))
                return LAB_EXIT_USAGE;
            break;
        case OPT_TIME_LIMIT:
            if (!cli_int(cmd, "time-limit-s", optarg, 1, 86400, &time_limit_s))
                return LAB_EXIT_USAGE;
            break;
        case 'h': ceiling_usage(stdout); return LAB_EXIT_OK;
        default: ceiling_usage(stderr); return LAB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ticketrush ceiling: unexpected argument \"%s\"\n", argv[optind]);
        return LAB_EXIT_USAGE;
    }
    char err[512];
    lg_url parsed;
    if (lg_url_parse(url, &parsed, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush ceiling: %s\n", err);
        return LAB_EXIT_USAGE;
    }
    if (!cli_ensure_fds(cmd, vus)) return LAB_EXIT_FAILURE;
    size_t n = (size_t)requests;
    lab_record *recs = calloc(n, sizeof *recs);
    audit_report *rep = calloc(1, sizeof *rep);
    lab_codes *codes = calloc(1, sizeof *codes);
    int rc = LAB_EXIT_FAILURE;
    if (recs == NULL || rep == NULL || codes == NULL) {
        fprintf(stderr, "ticketrush ceiling: out of memory\n");
        goto out;
    }
    cli_progress_state ps = {.cmd = cmd};
    lg_config cfg = {.url = url, .target = LG_TARGET_LIVEZ, .vus = (int)vus,
                     .time_limit_us = time_limit_s * 1000000, .progress = cli_progress,
                     .progress_arg = &ps};
    lg_result res;
    if (lg_run(&cfg, recs, n, codes, &res, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush ceiling: %s\n", err);
        goto out;
    }
    if (audit_latency_of(recs, n, &rep->latency) != TR_OK) {
        fprintf(stderr, "ticketrush ceiling: out of memory\n");
        goto out;
    }
    audit_outcomes(recs, n, codes, rep);
    double secs = (double)res.duration_us / 1e6;
    double per_s = secs > 0 ? (double)res.answered / secs : 0;
    printf("ceiling: GET /livez on %s, %" PRId64 " connections, %" PRId64 " requests\n",
           parsed.host, vus, requests);
    printf("answered %" PRId64 " in %.3f s: %.0f requests/s, %.0f requests/min\n", res.answered,
           secs, per_s, per_s * 60);
    printf("latency: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           (double)rep->latency.p50 / 1000, (double)rep->latency.p90 / 1000,
           (double)rep->latency.p99 / 1000, (double)rep->latency.max / 1000);
    printf("outcomes:");
    for (int i = 0; i < rep->noutcomes; i++)
        printf(" %s=%" PRId64, rep->outcomes[i].key, rep->outcomes[i].count);
    printf("\ncompare: wrk -t1 -c%" PRId64 " -d5s http://%s/livez\n", vus, parsed.host);
    rc = LAB_EXIT_OK;
out:
    free(recs);
    free(rep);
    free(codes);
    return rc;
}
