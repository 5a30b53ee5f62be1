/* lab_cli.c — `ticketrush load | table | ceiling | report | jtl-audit` behind lab_cli.h:
 * options, messages for people, progress lines, exit codes. The work is done by loadgen.c,
 * audit.c, runfile.c, table.c, report.c and jtl.c. */
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
#include "lab/jtl.h"
#include "lab/loadgen.h"
#include "lab/report.h"
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

/* --- progress ------------------------------------------------------------------------ */

#define CLI_PROGRESS_LIVE_US 250000LL    /* a terminal: redraw the line 4 times a second */
#define CLI_PROGRESS_PLAIN_US 5000000LL  /* a pipe or a file: one line every 5 s */
#define CLI_RATE_WINDOW 9                /* samples of the live rate: 2 s at 250 ms */

typedef enum { PROGRESS_OFF, PROGRESS_LIVE, PROGRESS_PLAIN } cli_progress_mode;

/* What the progress line needs between calls. The records are read, never written: the
 * callback runs on the load generator's own thread, between two epoll rounds. */
typedef struct cli_progress_state {
    const char *cmd;
    cli_progress_mode mode;
    const lab_record *recs;   /* NULL: no "tickets left" (ceiling) */
    int64_t seats;            /* N, for "tickets left" */
    size_t final_upto;        /* records [0, final_upto) hold their final answer */
    int64_t final_taken;      /* 201 and 202 answers among them */
    size_t ring_done[CLI_RATE_WINDOW];
    int64_t ring_us[CLI_RATE_WINDOW];
    int ring_n, ring_i;
    bool drawn;               /* a live line is on the terminal, not yet ended */
} cli_progress_state;

static cli_progress_mode cli_progress_pick(const char *want) {
    if (strcmp(want, "off") == 0) return PROGRESS_OFF;
    if (strcmp(want, "live") == 0) return PROGRESS_LIVE;
    if (strcmp(want, "plain") == 0) return PROGRESS_PLAIN;
    const char *term = getenv("TERM");
    bool tty = isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
    return tty ? PROGRESS_LIVE : PROGRESS_PLAIN;
}

static bool cli_progress_mode_ok(const char *cmd, const char *s) {
    if (strcmp(s, "auto") == 0 || strcmp(s, "live") == 0 || strcmp(s, "plain") == 0 ||
        strcmp(s, "off") == 0)
        return true;
    fprintf(stderr, "ticketrush %s: --progress must be auto, live, plain or off, not \"%s\"\n",
            cmd, s);
    return false;
}

static int64_t cli_progress_every(const cli_progress_state *p) {
    return p->mode == PROGRESS_LIVE ? CLI_PROGRESS_LIVE_US : CLI_PROGRESS_PLAIN_US;
}

/* 201 and 202 answers so far. Requests leave in index order, so the scan resumes at the first
 * record still open and stops at the first one not sent: O(V) per call, not O(n). */
static int64_t cli_progress_taken(cli_progress_state *p, size_t total) {
    while (p->final_upto < total) {
        const lab_record *r = &p->recs[p->final_upto];
        if (r->status == 0 && r->code == LAB_CODE_NONE) break;
        p->final_taken += r->status == 201 || r->status == 202;
        p->final_upto++;
    }
    int64_t taken = p->final_taken;
    for (size_t i = p->final_upto; i < total && p->recs[i].send_us >= 0; i++)
        taken += p->recs[i].status == 201 || p->recs[i].status == 202;
    return taken;
}

static void cli_fmt_secs(char *buf, size_t len, double s) {
    if (s < 0 || s != s) snprintf(buf, len, "-");
    else if (s < 100) snprintf(buf, len, "%.1f s", s);
    else if (s < 6000) snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

static void cli_progress(void *arg, size_t done, size_t total, int64_t elapsed_us) {
    cli_progress_state *p = arg;
    /* The current rate over the last CLI_RATE_WINDOW calls (about 2 s live). */
    int oldest = p->ring_n < CLI_RATE_WINDOW ? 0 : p->ring_i;
    size_t done0 = p->ring_n ? p->ring_done[oldest] : 0;
    int64_t us0 = p->ring_n ? p->ring_us[oldest] : 0;
    p->ring_done[p->ring_i] = done;
    p->ring_us[p->ring_i] = elapsed_us;
    p->ring_i = (p->ring_i + 1) % CLI_RATE_WINDOW;
    if (p->ring_n < CLI_RATE_WINDOW) p->ring_n++;
    double rate = elapsed_us > us0 ? (double)(done - done0) * 1e6 / (double)(elapsed_us - us0) : 0;
    double mean = elapsed_us > 0 ? (double)done * 1e6 / (double)elapsed_us : 0;
    char el[16], eta[16], left[80] = "";
    cli_fmt_secs(el, sizeof el, (double)elapsed_us / 1e6);
    if (done >= total) snprintf(eta, sizeof eta, "done");
    else if (mean > 0) cli_fmt_secs(eta, sizeof eta, (double)(total - done) / mean);
    else snprintf(eta, sizeof eta, "-");
    if (p->recs) {
        int64_t l = p->seats - cli_progress_taken(p, total);
        if (l > 0) snprintf(left, sizeof left, ", %" PRId64 " tickets left", l);
        else if (l == 0) snprintf(left, sizeof left, ", sold out");
        else snprintf(left, sizeof left, ", sold out, %" PRId64 " acknowledged past N", -l);
    }
    double pct = total ? 100.0 * (double)done / (double)total : 100;
    if (p->mode == PROGRESS_LIVE) {
        fprintf(stderr, "\r\033[K%s: %zu/%zu (%.0f%%), %.0f req/s%s, %s elapsed, ETA %s", p->cmd,
                done, total, pct, rate, left, el, eta);
        p->drawn = true;
    } else {
        fprintf(stderr, "%s: %zu/%zu answered (%.0f%%), %.0f req/s%s, %s elapsed, ETA %s\n",
                p->cmd, done, total, pct, rate, left, el, eta);
    }
    fflush(stderr);
}

/* Ends a live line: draws the final state and moves to the next line. */
static void cli_progress_end(cli_progress_state *p, size_t done, size_t total,
                             int64_t elapsed_us) {
    if (p->mode != PROGRESS_LIVE || !p->drawn) return;
    cli_progress(p, done, total, elapsed_us);
    fputc('\n', stderr);
    p->drawn = false;
}

/* Reads concert `concert`, checks it has the seats the run expects and whether the schema is
 * guarded. false after a message. */
static bool cli_concert_check(const char *cmd, pg_conn *pg, int64_t concert, int64_t tickets,
                              int64_t vip, const char *scenario_name, audit_concert *row,
                              bool *guarded) {
    tr_err e = audit_load_concert(pg, concert, row);
    if (e == TR_CONCERT_NOT_FOUND) {
        fprintf(stderr, "ticketrush %s: concert %" PRId64 " does not exist; seed the database "
                        "first\n", cmd, concert);
        return false;
    }
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush %s: could not read concert %" PRId64 ": %s\n", cmd, concert,
                pg_conn_errstr(pg));
        return false;
    }
    if (row->total_seats != tickets || row->vip_seats != vip) {
        fprintf(stderr, "ticketrush %s: concert %" PRId64 " has %" PRId32 " seats and %" PRId32
                        " VIP seats, but the run expects %" PRId64 " and %" PRId64
                        "; seed it for scenario %s or pass --tickets/--vip\n",
                cmd, concert, row->total_seats, row->vip_seats, tickets, vip, scenario_name);
        return false;
    }
    if (schema_is_guarded(pg, guarded) != TR_OK) {
        fprintf(stderr, "ticketrush %s: could not read the schema: %s\n", cmd,
                pg_conn_errstr(pg));
        return false;
    }
    return true;
}

/* Writes run to out_path (NULL: results/run-<strategy>-<time>.json), then prints the path and
 * the run's table row. false after a message. */
static bool cli_save_run(const char *cmd, const lab_run *run, const char *out_path) {
    char path[512], err[512];
    if (out_path) snprintf(path, sizeof path, "%s", out_path);
    else cli_default_out(run->strategy, run->started_wall_us, path, sizeof path);
    if (!cli_mkdirs_for(path)) {
        fprintf(stderr, "ticketrush %s: could not create the directory of %s: %s\n", cmd, path,
                strerror(errno));
        return false;
    }
    if (runfile_write(run, path, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush %s: %s\n", cmd, err);
        return false;
    }
    printf("run file: %s\n", path);
    if (table_write(stdout, run, 1) != TR_OK) return false;
    fflush(stdout);
    return true;
}

/* Reads KEY=VALUE lines of path into run->marks (blank lines and lines starting with # are
 * skipped). A missing file is no mark, not an error. false after a message. */
static bool cli_read_marks(const char *cmd, const char *path, lab_run *run) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) return true;
        fprintf(stderr, "ticketrush %s: could not read %s: %s\n", cmd, path, strerror(errno));
        return false;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (line[0] == '#' || eq == NULL || eq == line) continue;
        *eq = '\0';
        if (!lab_run_set_mark(run, line, eq + 1))
            fprintf(stderr, "ticketrush %s: warning: mark \"%s\" not kept (too long or too "
                            "many)\n", cmd, line);
    }
    fclose(f);
    return true;
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
            "  --url URL           server, loopback only (default $TICKETRUSH_URL or %s);\n"
            "                      repeat it (up to 8) to spread the virtual users over\n"
            "                      several server processes: user i uses URL i mod n\n"
            "  --pg CONNINFO       PostgreSQL conninfo (default $TICKETRUSH_PG)\n"
            "  --scenario NAME     %s (default seed)\n"
            "  --tickets N         seats the concert must have (scenario default)\n"
            "  --vip V             VIP seats the concert must have (scenario default)\n"
            "  --customers C       customers drawn from ids 1..C (scenario default)\n"
            "  --requests R        requests to send (scenario default)\n"
            "  --vus V             virtual users = keep-alive connections (scenario default)\n"
            "  --rate R            pace the load: request i is not sent before i/R s (default\n"
            "                      0: closed loop, each user sends when answered)\n"
            "  --retry-connection-errors  a purchase whose connection failed before its\n"
            "                      answer is sent again 1 s later on a new connection (5 times\n"
            "                      at most), as a client would; default: recorded as failed\n"
            "  --marks-file FILE   read KEY=VALUE lines from FILE when the load ends and keep\n"
            "                      them in the run file's \"marks\" (the fault suite writes the\n"
            "                      fault's name and time there while the load runs)\n"
            "  --drain-stable-s S  the drain is over when PostgreSQL's ticket count has held\n"
            "                      the acknowledged tickets and not changed for S s (default 1)\n"
            "  --drain-timeout-s S give up waiting for the drain after S s (default 120)\n"
            "  --seed S            PRNG seed of the customer draw (default 1)\n"
            "  --concert ID        concert id (default 1)\n"
            "  --out FILE          run file (default results/run-<strategy>-<UTC time>.json)\n"
            "  --time-limit-s S    stop after S seconds; unanswered requests count as\n"
            "                      timeouts (default 600)\n"
            "  --expect-clean      exit 3 when any R1-R8 anomaly count is not zero\n"
            "  --progress MODE     auto (default: live on a terminal, plain otherwise),\n"
            "                      live (one line redrawn: answered/total, req/s, tickets\n"
            "                      left, elapsed, ETA), plain (a line every 5 s) or off\n"
            "  --quiet             no progress lines on stderr (--progress off)\n"
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
    OPT_QUIET, OPT_PROGRESS, OPT_JTL, OPT_LABEL, OPT_TIMESTAMPS, OPT_EXPECT_SAMPLES,
    OPT_CEILING, OPT_CEILING_FIGURE, OPT_TITLE, OPT_RATE, OPT_RETRY_CONN, OPT_MARKS_FILE,
    OPT_DRAIN_STABLE, OPT_DRAIN_TIMEOUT, OPT_CHAOS_TABLE,
};

/* --- options load and jtl-audit share -------------------------------------------------- */

/* The options of a run that is audited against a concert in PostgreSQL and saved as a run
 * file: `load` and `jtl-audit` take them with the same names, ranges and messages. Each
 * command keeps its own option table (getopt lists ambiguous abbreviations in table order)
 * and its own help text. The strings point into argv or the environment. */
typedef struct cli_run_opts {
    const char *cmd;                       /* "load" or "jtl-audit", for messages */
    const char *url, *pg_info, *strategy, *scenario_name, *out_path;
    int64_t tickets, vip, customers, vus;  /* -1: not given */
    int64_t vus_max;                       /* the command's upper bound for --vus */
    int64_t concert;
    bool expect_clean;
} cli_run_opts;

/* The defaults: no strategy, scenario seed, concert 1, PostgreSQL from $TICKETRUSH_PG. */
static cli_run_opts cli_run_opts_init(const char *cmd, const char *url, int64_t vus_max) {
    return (cli_run_opts){.cmd = cmd, .url = url, .pg_info = getenv("TICKETRUSH_PG"),
                          .scenario_name = "seed", .tickets = -1, .vip = -1, .customers = -1,
                          .vus = -1, .vus_max = vus_max, .concert = 1};
}

enum { CLI_OPT_OTHER, CLI_OPT_TAKEN, CLI_OPT_BAD };

/* Takes option c (getopt_long's answer) with its argument if it is a shared one:
 * CLI_OPT_TAKEN, CLI_OPT_BAD after a message, or CLI_OPT_OTHER for the command to handle. */
static int cli_run_opt(cli_run_opts *o, int c, const char *arg) {
    bool ok = true;
    switch (c) {
    case OPT_URL: o->url = arg; break;
    case OPT_PG: o->pg_info = arg; break;
    case OPT_STRATEGY: o->strategy = arg; break;
    case OPT_SCENARIO: o->scenario_name = arg; break;
    case OPT_TICKETS: ok = cli_int(o->cmd, "tickets", arg, 0, INT32_MAX, &o->tickets); break;
    case OPT_VIP: ok = cli_int(o->cmd, "vip", arg, 0, INT32_MAX, &o->vip); break;
    case OPT_CUSTOMERS: ok = cli_int(o->cmd, "customers", arg, 1, INT64_MAX, &o->customers); break;
    case OPT_VUS: ok = cli_int(o->cmd, "vus", arg, 1, o->vus_max, &o->vus); break;
    case OPT_CONCERT: ok = cli_int(o->cmd, "concert", arg, 1, INT64_MAX, &o->concert); break;
    case OPT_OUT: o->out_path = arg; break;
    case OPT_EXPECT_CLEAN: o->expect_clean = true; break;
    default: return CLI_OPT_OTHER;
    }
    return ok ? CLI_OPT_TAKEN : CLI_OPT_BAD;
}

/* After the command's own checks: finds the scenario, requires PostgreSQL, and fills in the
 * scenario's seats, VIP seats and customers where not given. NULL after a message. */
static const scenario *cli_run_opts_finish(cli_run_opts *o) {
    const scenario *sc = scenario_find(o->scenario_name);
    if (sc == NULL) {
        fprintf(stderr, "ticketrush %s: unknown scenario \"%s\" (known: %s)\n", o->cmd,
                o->scenario_name, scenario_names());
        return NULL;
    }
    if (o->pg_info == NULL || *o->pg_info == '\0') {
        fprintf(stderr, "ticketrush %s: no PostgreSQL to audit: give --pg or set "
                        "TICKETRUSH_PG\n", o->cmd);
        return NULL;
    }
    if (o->tickets < 0) o->tickets = sc->tickets;
    if (o->vip < 0) o->vip = sc->vip;
    if (o->customers < 0) o->customers = sc->customers;
    return sc;
}

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

static int cmp_customer(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* How many tickets PostgreSQL should hold once the system drained: every 201, and a ticket for
 * every customer a waiting line admitted (202) — counting 202s alone would end the wait while the
 * issuer still works (a fresh-clone tester saw the audit run with 17,313 of 20,000 tickets). */
static int64_t drain_target(const lab_record *recs, size_t n) {
    int64_t target = 0;
    size_t nq = 0;
    for (size_t i = 0; i < n; i++) {
        target += recs[i].status == 201;
        nq += recs[i].status == 202;
    }
    int64_t *q = malloc((nq ? nq : 1) * sizeof *q);
    if (q == NULL) return target + (int64_t)nq; /* an upper bound: the wait ends on its timeout */
    nq = 0;
    for (size_t i = 0; i < n; i++)
        if (recs[i].status == 202) q[nq++] = recs[i].customer_id;
    qsort(q, nq, sizeof *q, cmp_customer);
    for (size_t i = 0; i < nq; i++) target += i == 0 || q[i] != q[i - 1];
    free(q);
    return target;
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
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"retry-connection-errors", no_argument, NULL, OPT_RETRY_CONN},
        {"marks-file", required_argument, NULL, OPT_MARKS_FILE},
        {"drain-stable-s", required_argument, NULL, OPT_DRAIN_STABLE},
        {"drain-timeout-s", required_argument, NULL, OPT_DRAIN_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "load", *progress = "auto", *marks_file = NULL;
    cli_run_opts o = cli_run_opts_init(cmd, cli_default_url(), LG_MAX_VUS);
    int64_t requests = -1, seed = 1, time_limit_s = 600, rate = 0, drain_stable_s = 1,
            drain_timeout_s = 120;
    bool quiet = false, retry_conn = false;
    const char *urls[LG_MAX_URLS];
    int nurls = 0;

    optind = 0; /* glibc: a full reset, main may have parsed options before */
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == OPT_URL) {
            if (nurls == LG_MAX_URLS) {
                fprintf(stderr, "ticketrush load: at most %d --url options\n", LG_MAX_URLS);
                return LAB_EXIT_USAGE;
            }
            urls[nurls++] = optarg;
            continue;
        }
        int shared = cli_run_opt(&o, c, optarg);
        if (shared == CLI_OPT_BAD) return LAB_EXIT_USAGE;
        if (shared == CLI_OPT_TAKEN) continue;
        switch (c) {
        case OPT_REQUESTS:
            if (!cli_int(cmd, "requests", optarg, 1, CLI_MAX_REQUESTS, &requests))
                return LAB_EXIT_USAGE;
            break;
        case OPT_SEED:
            if (!cli_int(cmd, "seed", optarg, 0, INT64_MAX, &seed)) return LAB_EXIT_USAGE;
            break;
        case OPT_TIME_LIMIT:
            if (!cli_int(cmd, "time-limit-s", optarg, 1, 86400, &time_limit_s))
                return LAB_EXIT_USAGE;
            break;
        case OPT_QUIET: quiet = true; break;
        case OPT_PROGRESS:
            if (!cli_progress_mode_ok(cmd, optarg)) return LAB_EXIT_USAGE;
            progress = optarg;
            break;
        case OPT_RATE:
            if (!cli_int(cmd, "rate", optarg, 0, 10000000, &rate)) return LAB_EXIT_USAGE;
            break;
        case OPT_RETRY_CONN: retry_conn = true; break;
        case OPT_MARKS_FILE: marks_file = optarg; break;
        case OPT_DRAIN_STABLE:
            if (!cli_int(cmd, "drain-stable-s", optarg, 0, 3600, &drain_stable_s))
                return LAB_EXIT_USAGE;
            break;
        case OPT_DRAIN_TIMEOUT:
            if (!cli_int(cmd, "drain-timeout-s", optarg, 1, 86400, &drain_timeout_s))
                return LAB_EXIT_USAGE;
            break;
        case 'h': load_usage(stdout); return LAB_EXIT_OK;
        default: load_usage(stderr); return LAB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ticketrush load: unexpected argument \"%s\"\n", argv[optind]);
        return LAB_EXIT_USAGE;
    }
    if (nurls == 0) urls[nurls++] = o.url;
    o.url = urls[0];
    if (o.strategy == NULL || *o.strategy == '\0') {
        fprintf(stderr, "ticketrush load: --strategy is required (the label of the server's "
                        "strategy, e.g. db-atomic)\n");
        return LAB_EXIT_USAGE;
    }
    const scenario *sc = cli_run_opts_finish(&o);
    if (sc == NULL) return LAB_EXIT_USAGE;
    if (requests < 0) requests = sc->requests;
    if (o.vus < 0) o.vus = sc->vus;
    if (sc->draw == SCENARIO_DRAW_EACH_ONCE &&
        (requests > o.customers || o.customers > SCENARIO_EACH_ONCE_MAX_CUSTOMERS)) {
        fprintf(stderr, "ticketrush load: scenario %s sends each customer once, so --requests "
                        "(%" PRId64 ") must not exceed --customers (%" PRId64 ")\n",
                sc->name, requests, o.customers);
        return LAB_EXIT_USAGE;
    }
    lg_url parsed;
    char err[512];
    for (int u = nurls - 1; u >= 0; u--)
        if (lg_url_parse(urls[u], &parsed, err, sizeof err) != TR_OK) {
            fprintf(stderr, "ticketrush load: %s\n", err);
            return LAB_EXIT_USAGE;
        }

    if (!cli_ensure_fds(cmd, o.vus)) return LAB_EXIT_FAILURE;
    int rc = LAB_EXIT_FAILURE;
    pg_conn *pg = NULL;
    lab_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        fprintf(stderr, "ticketrush load: out of memory\n");
        return LAB_EXIT_FAILURE;
    }
    if (pg_conn_open(o.pg_info, &pg, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush load: %s\n", err);
        goto out;
    }
    audit_concert concert_row;
    bool guarded = false;
    if (!cli_concert_check(cmd, pg, o.concert, o.tickets, o.vip, sc->name, &concert_row, &guarded))
        goto out;
    tr_err e;
    int64_t have = cli_count(pg, &cli_customers_stmt, o.customers);
    if (have >= 0 && have < o.customers)
        fprintf(stderr, "ticketrush load: warning: only %" PRId64 " of customers 1..%" PRId64
                        " exist; the others will be refused\n", have, o.customers);
    int64_t before = cli_count(pg, &cli_tickets_stmt, o.concert);
    if (before > 0)
        fprintf(stderr, "ticketrush load: warning: concert %" PRId64 " already has %" PRId64
                        " tickets; the audit will count them as phantom (seed again first)\n",
                o.concert, before);
    if (concert_row.starts_at_us <= (int64_t)time(NULL) * 1000000)
        fprintf(stderr, "ticketrush load: warning: sales for concert %" PRId64 " have closed; "
                        "expect sales_closed answers\n", o.concert);

    snprintf(run->strategy, sizeof run->strategy, "%s", o.strategy);
    snprintf(run->scenario, sizeof run->scenario, "%s", sc->name);
    run->guarded = guarded;
    run->params = (run_params){.tickets = (int32_t)o.tickets, .vip = (int32_t)o.vip,
                               .customers = o.customers, .requests = requests,
                               .vus = (int32_t)o.vus, .seed = seed, .concert_id = o.concert};
    size_t ulen = 0; /* several URLs are kept comma-separated */
    for (int u = 0; u < nurls && ulen < sizeof run->params.url; u++)
        ulen += (size_t)snprintf(run->params.url + ulen, sizeof run->params.url - ulen, "%s%s",
                                 u ? "," : "", urls[u]);
    run->nrecords = (size_t)requests;
    run->records = calloc(run->nrecords, sizeof *run->records);
    if (run->records == NULL) {
        fprintf(stderr, "ticketrush load: out of memory for %" PRId64 " requests\n", requests);
        goto out;
    }
    if (!scenario_draw_customers(run->records, run->nrecords, o.customers, (uint64_t)seed,
                                 sc->draw)) {
        fprintf(stderr, "ticketrush load: could not draw the customers (out of memory)\n");
        goto out;
    }

    cli_progress_state ps = {.cmd = cmd, .mode = quiet ? PROGRESS_OFF : cli_progress_pick(progress),
                             .recs = run->records, .seats = o.tickets};
    lg_config cfg = {.url = o.url, .urls = urls, .nurls = nurls, .rate = (double)rate,
                     .retry_connection_errors = retry_conn,
                     .target = LG_TARGET_PURCHASE, .concert_id = o.concert,
                     .vus = (int)o.vus, .time_limit_us = time_limit_s * 1000000,
                     .progress = ps.mode == PROGRESS_OFF ? NULL : cli_progress,
                     .progress_arg = &ps, .progress_every_us = cli_progress_every(&ps)};
    lg_result res;
    if (!quiet)
        fprintf(stderr, "load: %s, %" PRId64 " requests on %" PRId64 " connections to %s%s\n",
                sc->name, requests, o.vus, run->params.url, rate > 0 ? " (paced)" : "");
    e = lg_run(&cfg, run->records, run->nrecords, &run->codes, &res, err, sizeof err);
    if (e == TR_OK)
        cli_progress_end(&ps, res.timed_out ? (size_t)res.answered : run->nrecords,
                         run->nrecords, res.duration_us);
    else if (ps.drawn) fputc('\n', stderr);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush load: %s\n", err);
        goto out;
    }
    run->started_wall_us = res.started_wall_us;
    run->duration_us = res.duration_us;
    run->reconnects = res.reconnects;
    run->retries = res.retries;
    if (!quiet)
        fprintf(stderr, "load: %" PRId64 " answered in %.2f s; %" PRId64 " connection errors, %"
                        PRId64 " timeouts, %" PRId64 " bad responses, %" PRId64 " reconnects, %"
                        PRId64 " retries after an unknown outcome\n",
                res.answered, (double)res.duration_us / 1e6, res.connection_errors, res.timeouts,
                res.bad_responses, res.reconnects, res.retries);

    /* Drain: write-behind and waiting-line strategies store tickets after answering. */
    int64_t acknowledged = drain_target(run->records, run->nrecords), drained_after_us = -1;
    e = audit_wait_drained(pg, o.concert, acknowledged, (int)drain_stable_s * 1000,
                           (int)drain_timeout_s * 1000, res.started_wall_us, &drained_after_us);
    if (e == TR_PG) {
        fprintf(stderr, "ticketrush load: could not wait for the drain: %s\n", pg_conn_errstr(pg));
        goto out;
    }
    if (e == TR_BUSY)
        fprintf(stderr, "ticketrush load: PostgreSQL did not hold every acknowledged ticket within"
                        " %" PRId64 " s; auditing what is there\n", drain_timeout_s);
    e = audit_run(pg, o.concert, run->records, run->nrecords, &run->codes, res.duration_us,
                  res.started_wall_us, &run->audit);
    run->audit.drained_after_us = drained_after_us;
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush load: could not audit concert %" PRId64 ": %s\n", o.concert,
                e == TR_PG ? pg_conn_errstr(pg) : tr_strerror(e));
        goto out;
    }

    if (marks_file && !cli_read_marks(cmd, marks_file, run)) goto out;
    if (!cli_save_run(cmd, run, o.out_path)) goto out;
    rc = LAB_EXIT_OK;
    if (o.expect_clean && audit_has_anomalies(&run->audit)) {
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
            "  --progress MODE    auto, live, plain or off (as for load)\n"
            "  -h, --help         this text\n",
            CLI_DEFAULT_URL);
}

int lab_cli_ceiling(int argc, char **argv) {
    static const struct option opts[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"vus", required_argument, NULL, OPT_VUS},
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"time-limit-s", required_argument, NULL, OPT_TIME_LIMIT},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "ceiling", *url = cli_default_url(), *progress = "auto";
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
        case OPT_PROGRESS:
            if (!cli_progress_mode_ok(cmd, optarg)) return LAB_EXIT_USAGE;
            progress = optarg;
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
    cli_progress_state ps = {.cmd = cmd, .mode = cli_progress_pick(progress)};
    lg_config cfg = {.url = url, .target = LG_TARGET_LIVEZ, .vus = (int)vus,
                     .time_limit_us = time_limit_s * 1000000,
                     .progress = ps.mode == PROGRESS_OFF ? NULL : cli_progress,
                     .progress_arg = &ps, .progress_every_us = cli_progress_every(&ps)};
    lg_result res;
    if (lg_run(&cfg, recs, n, codes, &res, err, sizeof err) != TR_OK) {
        if (ps.drawn) fputc('\n', stderr);
        fprintf(stderr, "ticketrush ceiling: %s\n", err);
        goto out;
    }
    cli_progress_end(&ps, res.timed_out ? (size_t)res.answered : n, n, res.duration_us);
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

/* --- report -------------------------------------------------------------------------- */

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush report RUN.json... [--out FILE] [--ceiling FILE]\n"
            "                         [--ceiling-figure LABEL=REQ_PER_MIN]... [--title TEXT]\n"
            "\n"
            "Writes one self-contained HTML page (inline CSS and SVG, no script, nothing\n"
            "fetched) from run files of `ticketrush load` or `ticketrush jtl-audit`: a\n"
            "summary against the study's published figures and the measured ceilings, the\n"
            "audit of SPEC rules R1-R8 per run, and per run throughput over time (1-second\n"
            "buckets), latency percentiles and histogram, outcomes by code, and arrival\n"
            "order against seat number. Prints the report's path.\n"
            "\n"
            "  --out FILE                 the report (default: report.html beside the first\n"
            "                             run file)\n"
            "  --ceiling FILE             ceilings measured in the same run (repeatable): the\n"
            "                             output of `ticketrush ceiling` and wrk (make demo's\n"
            "                             ceiling.txt) or of `ticketrush script-ceiling`; with\n"
            "                             both the livez and the script ceiling, their\n"
            "                             combination 1/(1/L + 1/S) is added\n"
            "  --ceiling-figure L=RPM     a ceiling given by hand: label and requests/min\n"
            "                             (repeatable; at most %d ceilings in all)\n"
            "  --title TEXT               the page title (default \"ticketrush lab report\")\n"
            "  --chaos-table FILE         the fault suite's table (ticketrush chaos-table's\n"
            "                             output) as a section of its own, first\n"
            "  -h, --help                 this text\n",
            REPORT_MAX_CEILINGS);
}

/* Reads a whole small text file into a NUL-terminated string (malloc'd); NULL after a message. */
static char *cli_read_text(const char *cmd, const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "ticketrush %s: could not open %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    bool bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "ticketrush %s: could not read %s\n", cmd, path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int lab_cli_report(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"ceiling", required_argument, NULL, OPT_CEILING},
        {"ceiling-figure", required_argument, NULL, OPT_CEILING_FIGURE},
        {"title", required_argument, NULL, OPT_TITLE},
        {"chaos-table", required_argument, NULL, OPT_CHAOS_TABLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "report", *out_path = NULL;
    char *chaos_text = NULL;
    report_ceiling ceilings[REPORT_MAX_CEILINGS];
    report_options ro = {.ceilings = ceilings, .generated_wall_us = 0};
    size_t nc = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_OUT: out_path = optarg; break;
        case OPT_TITLE: ro.title = optarg; break;
        case OPT_CHAOS_TABLE:
            free(chaos_text);
            if ((chaos_text = cli_read_text(cmd, optarg, 4 << 20)) == NULL)
                return LAB_EXIT_FAILURE;
            ro.chaos_table = chaos_text;
            break;
        case OPT_CEILING: {
            char *text = cli_read_text(cmd, optarg, 1 << 20);
            if (text == NULL) return LAB_EXIT_FAILURE;
            size_t got = report_parse_ceilings(text, ceilings + nc, REPORT_MAX_CEILINGS - nc);
            free(text);
            if (got == 0)
                fprintf(stderr, "ticketrush report: warning: no ceiling figure found in %s\n",
                        optarg);
            nc += got;
            break;
        }
        case OPT_CEILING_FIGURE: {
            const char *eq = strrchr(optarg, '=');
            char *end = NULL;
            double v = eq ? strtod(eq + 1, &end) : 0;
            if (eq == NULL || eq == optarg || end == eq + 1 || *end != '\0' || !(v > 0) ||
                v > 1e12) {
                fprintf(stderr, "ticketrush report: --ceiling-figure must be LABEL=REQ_PER_MIN "
                                "with a positive number, not \"%s\"\n", optarg);
                return LAB_EXIT_USAGE;
            }
            if (nc == REPORT_MAX_CEILINGS) {
                fprintf(stderr, "ticketrush report: at most %d ceilings\n", REPORT_MAX_CEILINGS);
                return LAB_EXIT_USAGE;
            }
            snprintf(ceilings[nc].label, sizeof ceilings[nc].label, "%.*s",
                     (int)(eq - optarg), optarg);
            ceilings[nc++].requests_per_min = v;
            break;
        }
        case 'h': report_usage(stdout); return LAB_EXIT_OK;
        default: report_usage(stderr); return LAB_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        report_usage(stderr);
        return LAB_EXIT_USAGE;
    }
    ro.nceilings = report_combine_ceilings(ceilings, nc, REPORT_MAX_CEILINGS);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ro.generated_wall_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;

    size_t n = (size_t)(argc - optind);
    lab_run *runs = calloc(n, sizeof *runs);
    char err[512], path[1024], tmp[1100];
    int rc = LAB_EXIT_FAILURE;
    FILE *f = NULL;
    if (runs == NULL) {
        fprintf(stderr, "ticketrush report: out of memory\n");
        return LAB_EXIT_FAILURE;
    }
    for (size_t i = 0; i < n; i++) {
        tr_err e = runfile_read(argv[optind + (int)i], true, &runs[i], err, sizeof err);
        if (e != TR_OK) {
            fprintf(stderr, "ticketrush report: %s\n", e == TR_NOMEM ? "out of memory" : err);
            goto out;
        }
    }
    if (out_path) {
        snprintf(path, sizeof path, "%s", out_path);
    } else {
        const char *first = argv[optind], *slash = strrchr(first, '/');
        if (slash) snprintf(path, sizeof path, "%.*s/report.html", (int)(slash - first), first);
        else snprintf(path, sizeof path, "report.html");
    }
    if (!cli_mkdirs_for(path)) {
        fprintf(stderr, "ticketrush report: could not create the directory of %s: %s\n", path,
                strerror(errno));
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if ((f = fopen(tmp, "w")) == NULL) {
        fprintf(stderr, "ticketrush report: could not create %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    tr_err e = report_write(f, runs, n, &ro);
    int closed = fclose(f);
    f = NULL;
    if (e != TR_OK || closed != 0) {
        fprintf(stderr, "ticketrush report: could not write %s: %s\n", tmp,
                e == TR_NOMEM ? "out of memory" : strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "ticketrush report: could not rename %s to %s: %s\n", tmp, path,
                strerror(errno));
        unlink(tmp);
        goto out;
    }
    printf("report: %s\n", path);
    rc = LAB_EXIT_OK;
out:
    for (size_t i = 0; i < n; i++) lab_run_free_records(&runs[i]);
    free(runs);
    free(chaos_text);
    return rc;
}

/* --- jtl-audit ----------------------------------------------------------------------- */

static void jtl_audit_usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush jtl-audit --jtl FILE --strategy LABEL [options]\n"
            "\n"
            "Audits a run driven by JMeter (jmeter/ticketrush.jmx, see scripts/jmeter.sh): reads\n"
            "JMeter's CSV results, checks that every sample is there, audits the concert in\n"
            "PostgreSQL against SPEC rules R1-R8 exactly as `ticketrush load` does, writes the\n"
            "same run file and prints its table row. The .jtl must carry a header and the\n"
            "sample variables customerId, seatNo and error (-Jsample_variables=customerId,\n"
            "seatNo,error), with millisecond start time stamps.\n"
            "\n"
            "  --jtl FILE            JMeter's CSV results file (required)\n"
            "  --strategy LABEL      label for the table, e.g. db-atomic/jmeter (required)\n"
            "  --pg CONNINFO         PostgreSQL conninfo (default $TICKETRUSH_PG)\n"
            "  --scenario NAME       %s (default seed): the seats, VIP seats and\n"
            "                        customers the concert must have\n"
            "  --tickets N, --vip V, --customers C   override the scenario's\n"
            "  --concert ID          concert id (default 1)\n"
            "  --expect-samples N    fail unless exactly N samples are in the file (default:\n"
            "                        the scenario's requests; 0 skips the check)\n"
            "  --vus V               JMeter threads, for the run file (default: the largest\n"
            "                        allThreads in the file)\n"
            "  --label NAME          only samples with this label (default: every sample)\n"
            "  --timestamps start|end  what timeStamp marks (default start, as the plan's runs\n"
            "                        write it: sampleresult.timestamp.start=true)\n"
            "  --url URL             the server JMeter drove, for the run file\n"
            "  --out FILE            run file (default results/run-<label>-<UTC time>.json)\n"
            "  --expect-clean        exit 3 when any R1-R8 anomaly count is not zero\n"
            "  -h, --help            this text\n"
            "\n"
            "exit status: 0 done, 1 operational failure (including a .jtl with missing\n"
            "samples: never trust JMeter's own exit status), 2 bad options, 3 --expect-clean\n"
            "and an anomaly.\n",
            scenario_names());
}

int lab_cli_jtl_audit(int argc, char **argv) {
    static const struct option opts[] = {
        {"jtl", required_argument, NULL, OPT_JTL},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"pg", required_argument, NULL, OPT_PG},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"tickets", required_argument, NULL, OPT_TICKETS},
        {"vip", required_argument, NULL, OPT_VIP},
        {"customers", required_argument, NULL, OPT_CUSTOMERS},
        {"concert", required_argument, NULL, OPT_CONCERT},
        {"expect-samples", required_argument, NULL, OPT_EXPECT_SAMPLES},
        {"vus", required_argument, NULL, OPT_VUS},
        {"label", required_argument, NULL, OPT_LABEL},
        {"timestamps", required_argument, NULL, OPT_TIMESTAMPS},
        {"url", required_argument, NULL, OPT_URL},
        {"out", required_argument, NULL, OPT_OUT},
        {"expect-clean", no_argument, NULL, OPT_EXPECT_CLEAN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "jtl-audit", *jtl_path = NULL;
    cli_run_opts o = cli_run_opts_init(cmd, "", INT32_MAX);
    int64_t expect = -1;
    jtl_options jo = {.timestamp = JTL_TIMESTAMP_START};
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int shared = cli_run_opt(&o, c, optarg);
        if (shared == CLI_OPT_BAD) return LAB_EXIT_USAGE;
        if (shared == CLI_OPT_TAKEN) continue;
        switch (c) {
        case OPT_JTL: jtl_path = optarg; break;
        case OPT_EXPECT_SAMPLES:
            if (!cli_int(cmd, "expect-samples", optarg, 0, JTL_MAX_ROWS, &expect))
                return LAB_EXIT_USAGE;
            break;
        case OPT_LABEL: jo.label = optarg; break;
        case OPT_TIMESTAMPS:
            if (strcmp(optarg, "start") == 0) jo.timestamp = JTL_TIMESTAMP_START;
            else if (strcmp(optarg, "end") == 0) jo.timestamp = JTL_TIMESTAMP_END;
            else {
                fprintf(stderr, "ticketrush jtl-audit: --timestamps must be start or end, not "
                                "\"%s\"\n", optarg);
                return LAB_EXIT_USAGE;
            }
            break;
        case 'h': jtl_audit_usage(stdout); return LAB_EXIT_OK;
        default: jtl_audit_usage(stderr); return LAB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ticketrush jtl-audit: unexpected argument \"%s\"\n", argv[optind]);
        return LAB_EXIT_USAGE;
    }
    if (jtl_path == NULL || o.strategy == NULL || *o.strategy == '\0') {
        fprintf(stderr, "ticketrush jtl-audit: --jtl and --strategy are required\n");
        return LAB_EXIT_USAGE;
    }
    const scenario *sc = cli_run_opts_finish(&o);
    if (sc == NULL) return LAB_EXIT_USAGE;
    if (expect < 0) expect = sc->requests;

    int rc = LAB_EXIT_FAILURE;
    char err[512];
    pg_conn *pg = NULL;
    jtl_result jr = {0};
    lab_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        fprintf(stderr, "ticketrush jtl-audit: out of memory\n");
        return LAB_EXIT_FAILURE;
    }
    tr_err e = jtl_read(jtl_path, &jo, &run->codes, &jr, err, sizeof err);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush jtl-audit: %s\n", e == TR_NOMEM ? "out of memory" : err);
        goto out;
    }
    run->records = jr.records;
    run->nrecords = jr.nrecords;
    jr.records = NULL;
    if (expect > 0 && (int64_t)run->nrecords != expect) {
        fprintf(stderr, "ticketrush jtl-audit: %s holds %zu samples, expected %" PRId64
                        ": JMeter did not run the whole plan (see its log; its exit status "
                        "says nothing)\n",
                jtl_path, run->nrecords, expect);
        goto out;
    }
    int64_t connection_errors = 0, answered = 0;
    for (size_t i = 0; i < run->nrecords; i++) {
        answered += lab_record_answered(&run->records[i]);
        connection_errors += run->records[i].code == LAB_CODE_CONNECTION_ERROR;
    }
    fprintf(stderr, "jtl-audit: %zu samples (%" PRId64 " answered, %" PRId64
                    " connection errors) over %.2f s%s\n",
            run->nrecords, answered, connection_errors, (double)jr.duration_us / 1e6,
            jr.skipped ? ", other labels skipped" : "");

    if (pg_conn_open(o.pg_info, &pg, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush jtl-audit: %s\n", err);
        goto out;
    }
    audit_concert concert_row;
    bool guarded = false;
    if (!cli_concert_check(cmd, pg, o.concert, o.tickets, o.vip, sc->name, &concert_row, &guarded))
        goto out;
    snprintf(run->strategy, sizeof run->strategy, "%s", o.strategy);
    snprintf(run->scenario, sizeof run->scenario, "%s", sc->name);
    run->guarded = guarded;
    run->params = (run_params){.tickets = (int32_t)o.tickets, .vip = (int32_t)o.vip,
                               .customers = o.customers, .requests = (int64_t)run->nrecords,
                               .vus = (int32_t)(o.vus > 0 ? o.vus : jr.max_threads), .seed = 0,
                               .concert_id = o.concert};
    snprintf(run->params.url, sizeof run->params.url, "%s", o.url);
    run->started_wall_us = jr.started_wall_us;
    run->duration_us = jr.duration_us;
    run->reconnects = 0;
    e = audit_run(pg, o.concert, run->records, run->nrecords, &run->codes, jr.duration_us,
                  jr.started_wall_us, &run->audit);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush jtl-audit: could not audit concert %" PRId64 ": %s\n",
                o.concert, e == TR_PG ? pg_conn_errstr(pg) : tr_strerror(e));
        goto out;
    }
    if (!cli_save_run(cmd, run, o.out_path)) goto out;
    rc = LAB_EXIT_OK;
    if (o.expect_clean && audit_has_anomalies(&run->audit)) {
        fprintf(stderr, "ticketrush jtl-audit: the audit found anomalies (--expect-clean)\n");
        rc = LAB_EXIT_ANOMALY;
    }
out:
    jtl_result_free(&jr);
    lab_run_free_records(run);
    free(run);
    pg_conn_free(pg);
    return rc;
}
