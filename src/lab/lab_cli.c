/* lab_cli.c — `ticketrush load | table | ceiling | script-ceiling | report | jtl-audit` behind
 * lab_cli.h: options (common/options.h tables), messages for people, progress lines, exit codes.
 * The work is done by experiment.c, loadgen.c, audit.c, runfile.c, table.c, report.c, jtl.c and
 * script_ceiling.c. */
#include "lab/lab_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "lab/audit.h"
#include "lab/experiment.h"
#include "lab/jtl.h"
#include "lab/loadgen.h"
#include "lab/report.h"
#include "lab/runfile.h"
#include "lab/scenario.h"
#include "lab/script_ceiling.h"
#include "lab/store_ceiling.h"
#include "lab/table.h"
#include "store/cluster.h"
#include "store/pg.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_MAX_REQUESTS 50000000LL

/* --- helpers ------------------------------------------------------------------------- */

int lab_cli_options(const char *prefix, const char *cmd, const tr_opt *opts,
                    void (*usage)(FILE *, const tr_opt *), int argc, char **argv, int first,
                    int *npos) {
    char err[512];
    tr_opts_status st = tr_opts_parse(opts, argc, argv, first, npos, err, sizeof err);
    if (st == TR_OPTS_OK) return -1;
    if (st == TR_OPTS_HELP) {
        usage(stdout, opts);
        return LAB_EXIT_OK;
    }
    fprintf(stderr, "%s: %s\n", prefix, err);
    if (st == TR_OPTS_UNKNOWN) fprintf(stderr, "(ticketrush %s --help lists the options)\n", cmd);
    return LAB_EXIT_USAGE;
}

/* One descriptor per VU plus a margin (PostgreSQL, epoll, stdio): raise the soft limit up to
 * the hard one when needed. false (with a message) when even that is too low. */
static bool cli_ensure_fds(const char *cmd, int64_t vus) {
    rlim_t need = (rlim_t)vus + 64;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) return true;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr,
                "ticketrush %s: %" PRId64 " virtual users need %llu open files, but the "
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

/* Prints "unexpected argument" for the first positional argument of a command that takes none;
 * true when there was one. */
static bool cli_unexpected(const char *cmd, int npos, char **argv) {
    if (npos == 0) return false;
    fprintf(stderr, "ticketrush %s: unexpected argument \"%s\"\n", cmd, argv[1]);
    return true;
}

/* --- progress ------------------------------------------------------------------------ */

#define CLI_PROGRESS_LIVE_US 250000LL   /* a terminal: redraw the line 4 times a second */
#define CLI_PROGRESS_PLAIN_US 5000000LL /* a pipe or a file: one line every 5 s */
#define CLI_RATE_WINDOW 9               /* samples of the live rate: 2 s at 250 ms */

typedef enum { PROGRESS_OFF, PROGRESS_LIVE, PROGRESS_PLAIN } cli_progress_mode;

/* What the progress line needs between calls. The records are read, never written: the
 * callback runs on the load generator's own thread, between two epoll rounds. */
typedef struct cli_progress_state {
    const char *cmd;
    cli_progress_mode mode;
    const lab_run *run;  /* its records fill in as the load runs; NULL: no "tickets
                            left" (ceiling) */
    int64_t seats;       /* N, for "tickets left" */
    size_t final_upto;   /* records [0, final_upto) hold their final answer */
    int64_t final_taken; /* 201 and 202 answers among them */
    size_t ring_done[CLI_RATE_WINDOW];
    int64_t ring_us[CLI_RATE_WINDOW];
    int ring_n, ring_i;
    bool drawn; /* a live line is on the terminal, not yet ended */
} cli_progress_state;

/* --progress MODE: an index into progress_names. */
static const char *const progress_names[] = {"auto", "live", "plain", "off", NULL};
enum { PROGRESS_ARG_AUTO, PROGRESS_ARG_LIVE, PROGRESS_ARG_PLAIN, PROGRESS_ARG_OFF };

static cli_progress_mode cli_progress_pick(int want) {
    if (want == PROGRESS_ARG_OFF) return PROGRESS_OFF;
    if (want == PROGRESS_ARG_LIVE) return PROGRESS_LIVE;
    if (want == PROGRESS_ARG_PLAIN) return PROGRESS_PLAIN;
    const char *term = getenv("TERM");
    bool tty = isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
    return tty ? PROGRESS_LIVE : PROGRESS_PLAIN;
}

static int64_t cli_progress_every(const cli_progress_state *p) {
    return p->mode == PROGRESS_LIVE ? CLI_PROGRESS_LIVE_US : CLI_PROGRESS_PLAIN_US;
}

/* 201 and 202 answers so far. Requests leave in index order, so the scan resumes at the first
 * record still open and stops at the first one not sent: O(V) per call, not O(n). */
static int64_t cli_progress_taken(cli_progress_state *p, size_t total) {
    while (p->final_upto < total) {
        const lab_record *r = &p->run->records[p->final_upto];
        if (r->status == 0 && r->code == LAB_CODE_NONE) break;
        p->final_taken += r->status == 201 || r->status == 202;
        p->final_upto++;
    }
    int64_t taken = p->final_taken;
    const lab_record *recs = p->run->records;
    for (size_t i = p->final_upto; i < total && recs[i].send_us >= 0; i++)
        taken += recs[i].status == 201 || recs[i].status == 202;
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
    if (p->run && p->run->records) {
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
        fprintf(stderr, "%s: %zu/%zu answered (%.0f%%), %.0f req/s%s, %s elapsed, ETA %s\n", p->cmd,
                done, total, pct, rate, left, el, eta);
    }
    fflush(stderr);
}

/* Ends a live line: draws the final state and moves to the next line. */
static void cli_progress_end(cli_progress_state *p, size_t done, size_t total, int64_t elapsed_us) {
    if (p->mode != PROGRESS_LIVE || !p->drawn) return;
    cli_progress(p, done, total, elapsed_us);
    fputc('\n', stderr);
    p->drawn = false;
}

/* The lines a saved run ends with: its path and its table row. */
static bool cli_print_saved(const lab_run *run, const char *path) {
    printf("run file: %s\n", path);
    if (table_write(stdout, run, 1) != TR_OK) return false;
    fflush(stdout);
    return true;
}

/* Saves run (experiment_save), then prints the path and the run's table row. false after a
 * message. */
static bool cli_save_run(const char *cmd, const lab_run *run, const char *out_path) {
    char path[512], err[512];
    if (experiment_save(run, out_path, path, sizeof path, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush %s: %s\n", cmd, err);
        return false;
    }
    return cli_print_saved(run, path);
}

/* --- options load and jtl-audit share -------------------------------------------------- */

/* The options of a run that is audited against a concert in PostgreSQL and saved as a run
 * file: `load` and `jtl-audit` take them with the same names, ranges and messages (CLI_RUN_OPTS
 * puts them in a table). The strings point into argv or the environment. */
typedef struct cli_run_opts {
    const char *cmd; /* "load" or "jtl-audit", for messages */
    const char *pg_info, *strategy, *scenario_name, *out_path;
    int64_t tickets, vip, customers, vus; /* -1: not given */
    int64_t concert;
    bool expect_clean;
    char scenario_help[128];
} cli_run_opts;

/* The defaults: no strategy, scenario seed, concert 1. */
static void cli_run_opts_init(cli_run_opts *o, const char *cmd) {
    *o = (cli_run_opts){.cmd = cmd,
                        .scenario_name = "seed",
                        .tickets = -1,
                        .vip = -1,
                        .customers = -1,
                        .vus = -1,
                        .concert = 1};
    snprintf(o->scenario_help, sizeof o->scenario_help, "%s (default seed)", scenario_names());
}

/* The table entries of the shared options of o (--strategy apart, to lead the table); vus_max
 * is the command's bound for --vus. */
#define CLI_RUN_OPT_STRATEGY(o)                                                                    \
    {                                                                                              \
        .name = "strategy", .kind = TR_OPT_STRING, .dest = &(o)->strategy, .metavar = "NAME",      \
        .help = "label of the server's strategy, for the table (required)"                         \
    }
/* clang-format off */
#define CLI_RUN_OPTS(o, vus_max)                                                               \
    {.name = "pg", .kind = TR_OPT_STRING, .dest = &(o)->pg_info, .env = "TICKETRUSH_PG",        \
     .metavar = "CONNINFO", .help = "PostgreSQL conninfo"},                                     \
    {.name = "scenario", .kind = TR_OPT_STRING, .dest = &(o)->scenario_name,                    \
     .metavar = "NAME", .help = (o)->scenario_help},                                            \
    {.name = "tickets", .kind = TR_OPT_I64, .dest = &(o)->tickets, .min = 0,                    \
     .max = INT32_MAX, .metavar = "N", .help = "seats the concert must have (scenario default)"},\
    {.name = "vip", .kind = TR_OPT_I64, .dest = &(o)->vip, .min = 0, .max = INT32_MAX,         \
     .metavar = "V", .help = "VIP seats the concert must have (scenario default)"},             \
    {.name = "customers", .kind = TR_OPT_I64, .dest = &(o)->customers, .min = 1,                \
     .max = INT64_MAX, .metavar = "C",                                                          \
     .help = "customers drawn from ids 1..C (scenario default)"},                               \
    {.name = "vus", .kind = TR_OPT_I64, .dest = &(o)->vus, .min = 1, .max = (vus_max),         \
     .metavar = "V", .help = "virtual users = keep-alive connections (scenario default)"},      \
    {.name = "concert", .kind = TR_OPT_I64, .dest = &(o)->concert, .min = 1, .max = INT64_MAX,  \
     .metavar = "ID", .help = "concert id (default 1)"},                                        \
    {.name = "out", .kind = TR_OPT_STRING, .dest = &(o)->out_path, .metavar = "FILE",           \
     .help = "run file (default results/run-<strategy>-<UTC time>.json)"},                      \
    {.name = "expect-clean", .kind = TR_OPT_FLAG, .dest = &(o)->expect_clean,                   \
     .help = "exit 3 when any R1-R8 anomaly count is not zero"}
/* clang-format on */

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
        fprintf(stderr,
                "ticketrush %s: no PostgreSQL to audit: give --pg or set "
                "TICKETRUSH_PG\n",
                o->cmd);
        return NULL;
    }
    if (o->tickets < 0) o->tickets = sc->tickets;
    if (o->vip < 0) o->vip = sc->vip;
    if (o->customers < 0) o->customers = sc->customers;
    return sc;
}

/* "scenarios (SPEC 4): seed = 1000 seats, 10 VIP, …", from the scenario table. */
static void cli_scenarios_help(FILE *f) {
    fprintf(f, "scenarios (SPEC 4):\n");
    for (size_t i = 0; scenario_at(i); i++) {
        const scenario *s = scenario_at(i);
        if (s->concerts > 1)
            fprintf(f,
                    "  %-9s %" PRId32 " concerts of %" PRId32 " seats, %" PRId32
                    " VIP each, %" PRId64 " customers,\n"
                    "            %" PRId64 " requests, customers drawn at random with repeats,\n"
                    "            concerts by a Zipf law (s = %.1f), %" PRId32 " VUs\n",
                    s->name, s->concerts, s->tickets, s->vip, s->customers, s->requests, s->zipf_s,
                    s->vus);
        else
            fprintf(f,
                    "  %-9s %" PRId32 " seat%s, %" PRId32 " VIP, %" PRId64 " customers,\n"
                    "            %" PRId64 " requests %s, %" PRId32 " VUs\n",
                    s->name, s->tickets, s->tickets == 1 ? "" : "s", s->vip, s->customers,
                    s->requests,
                    s->draw == SCENARIO_DRAW_RANDOM ? "drawn at random with repeats"
                                                    : "each customer once",
                    s->vus);
    }
}

/* --- load ---------------------------------------------------------------------------- */

static void load_usage(FILE *f, const tr_opt *opts) {
    fprintf(f, "usage: ticketrush load --strategy NAME [options]\n"
               "\n"
               "Runs a scenario against a running server, waits for every answer, audits the\n"
               "concert in PostgreSQL against SPEC rules R1-R8, writes the run file and prints\n"
               "its table row. The database must already be seeded for the scenario (the\n"
               "concert's seats and VIP seats are read from it and must match).\n"
               "\n"
               "options (environment variable in brackets):\n");
    tr_opts_help(f, opts);
    fprintf(f, "\n");
    cli_scenarios_help(f);
    fprintf(f, "All VUs connect first, then send their first requests together.\n"
               "Closed loop (default): a slow answer delays that user's next request, so the\n"
               "latencies hide the queue a real crowd would build (coordinated omission).\n"
               "Open loop (--rate R): requests leave on schedule and each latency counts from\n"
               "its scheduled time; the run file keeps log-linear histograms of all answers,\n"
               "winners (201/202) and losers (409/503) with p50..p99.99 and max.\n"
               "exit status: 0 done (anomalies are shown in the table), 1 operational failure,\n"
               "2 bad options, 3 --expect-clean and an anomaly.\n");
}

/* What the load's callbacks need: the progress line, and whether to say anything. */
typedef struct cli_load_state {
    cli_progress_state ps;
    bool quiet;
    bool open;       /* an open loop (--rate) */
    int64_t late_ms; /* its lateness threshold */
} cli_load_state;

static void cli_load_log(void *arg, experiment_log_kind kind, const char *line) {
    cli_load_state *s = arg;
    if (kind == EXPERIMENT_WARNING) fprintf(stderr, "ticketrush load: warning: %s\n", line);
    else if (!s->quiet) fprintf(stderr, "load: %s\n", line);
}

static void cli_load_loaded(void *arg, const lg_result *res, size_t requests) {
    cli_load_state *s = arg;
    cli_progress_end(&s->ps, res->timed_out ? (size_t)res->answered : requests, requests,
                     res->duration_us);
    if (!s->quiet && s->open)
        fprintf(stderr,
                "load: open loop: %" PRId64 " requests sent more than %" PRId64
                " ms after their scheduled time (latest %.1f ms behind), %" PRId64
                " waited for a connection, %d connections used\n",
                res->late, s->late_ms, (double)res->max_late_us / 1000, res->conn_waits,
                res->connections_peak);
    if (!s->quiet)
        fprintf(stderr,
                "load: %" PRId64 " answered in %.2f s; %" PRId64 " connection errors, %" PRId64
                " timeouts, %" PRId64 " bad responses, %" PRId64 " reconnects, %" PRId64
                " retries after an unknown outcome\n",
                res->answered, (double)res->duration_us / 1e6, res->connection_errors,
                res->timeouts, res->bad_responses, res->reconnects, res->retries);
}

int lab_cli_load(int argc, char **argv) {
    const char *cmd = "load";
    cli_run_opts o;
    cli_run_opts_init(&o, cmd);
    const char *urls[LG_MAX_URLS], *marks_file = NULL;
    int nurls = 0, progress = PROGRESS_ARG_AUTO;
    int64_t requests = -1, seed = 1, time_limit_s = 600, rate = 0, drain_stable_s = 1,
            drain_timeout_s = 120, ramp_from = -1, ramp_s = 0, max_conns = 0,
            late_ms = LG_DEFAULT_LATE_US / 1000;
    bool quiet = false, retry_conn = false;
    int64_t concerts = -1;
    const char *zipf_arg = NULL;
    /* clang-format off */
    const tr_opt opts[] = {
        CLI_RUN_OPT_STRATEGY(&o),
        {.name = "url", .kind = TR_OPT_LIST, .dest = urls, .max = LG_MAX_URLS, .count = &nurls,
         .env = "TICKETRUSH_URL", .metavar = "URL",
         .help = "server, loopback only (default " CLI_DEFAULT_URL ");\n"
                 "repeat it (up to 8) to spread the virtual users over\n"
                 "several server processes: user i uses URL i mod n"},
        CLI_RUN_OPTS(&o, LG_MAX_VUS),
        {.name = "requests", .kind = TR_OPT_I64, .dest = &requests, .min = 1,
         .max = CLI_MAX_REQUESTS, .metavar = "R", .help = "requests to send (scenario default)"},
        {.name = "concerts", .kind = TR_OPT_I64, .dest = &concerts, .min = 1,
         .max = SCENARIO_MAX_CONCERTS, .metavar = "K",
         .help = "concerts on sale at once, ids --concert.. --concert+K-1,\n"
                 "each request's concert drawn by a Zipf law (the first one,\n"
                 "the headliner, the most wanted), each audited alone\n"
                 "(default: the scenario's; festival 30, the others 1)"},
        {.name = "zipf-s", .kind = TR_OPT_STRING, .dest = &zipf_arg, .metavar = "S",
         .help = "the concert draw's exponent: concert k is drawn with\n"
                 "probability k^-S / sum of j^-S, 0..10 (default 1.2: with\n"
                 "30 concerts the headliner gets 33 %, the 30th 0.55 %)"},
        {.name = "rate", .kind = TR_OPT_I64, .dest = &rate, .min = 0, .max = 10000000,
         .metavar = "R",
         .help = "open loop: request i is sent at its scheduled time\n"
                 "i/R s whatever the answers do, on as many connections as\n"
                 "it needs (--max-connections), and its latency counts\n"
                 "from that time (default 0: closed loop, each user sends\n"
                 "when answered)"},
        {.name = "ramp-s", .kind = TR_OPT_I64, .dest = &ramp_s, .min = 0, .max = 3600,
         .metavar = "S",
         .help = "open loop: rise linearly from --ramp-from to --rate over\n"
                 "the first S s (default 0: no ramp)"},
        {.name = "ramp-from", .kind = TR_OPT_I64, .dest = &ramp_from, .min = 0,
         .max = 10000000, .metavar = "R",
         .help = "open loop: the ramp's start rate, requests/s (default 0)"},
        {.name = "max-connections", .kind = TR_OPT_I64, .dest = &max_conns, .min = 1,
         .max = LG_MAX_VUS, .metavar = "M",
         .help = "open loop: connections at most (default 4096, at least\n"
                 "--vus, which are opened first); a due request that finds\n"
                 "all M busy waits for one and counts as late"},
        {.name = "late-ms", .kind = TR_OPT_I64, .dest = &late_ms, .min = 1, .max = 3600000,
         .metavar = "MS",
         .help = "open loop: a request sent more than MS ms after its\n"
                 "scheduled time counts as late (default 10)"},
        {.name = "retry-connection-errors", .kind = TR_OPT_FLAG, .dest = &retry_conn,
         .help = "a purchase whose connection failed before its\n"
                 "answer is sent again 1 s later on a new connection (5 times\n"
                 "at most), as a client would; default: recorded as failed"},
        {.name = "marks-file", .kind = TR_OPT_STRING, .dest = &marks_file, .metavar = "FILE",
         .help = "read KEY=VALUE lines from FILE when the load ends and keep\n"
                 "them in the run file's \"marks\" (the fault suite writes the\n"
                 "fault's name and time there while the load runs)"},
        {.name = "drain-stable-s", .kind = TR_OPT_I64, .dest = &drain_stable_s, .min = 0,
         .max = 3600, .metavar = "S",
         .help = "the drain is over when PostgreSQL's ticket count has held\n"
                 "the acknowledged tickets and not changed for S s (default 1)"},
        {.name = "drain-timeout-s", .kind = TR_OPT_I64, .dest = &drain_timeout_s, .min = 1,
         .max = 86400, .metavar = "S",
         .help = "give up waiting for the drain after S s (default 120)"},
        {.name = "seed", .kind = TR_OPT_I64, .dest = &seed, .min = 0, .max = INT64_MAX,
         .metavar = "S", .help = "PRNG seed of the customer draw (default 1)"},
        {.name = "time-limit-s", .kind = TR_OPT_I64, .dest = &time_limit_s, .min = 1,
         .max = 86400, .metavar = "S",
         .help = "stop after S seconds; unanswered requests count as\n"
                 "timeouts (default 600)"},
        {.name = "progress", .kind = TR_OPT_CHOICE, .dest = &progress,
         .choices = progress_names, .metavar = "MODE",
         .help = "auto (default: live on a terminal, plain otherwise),\n"
                 "live (one line redrawn: answered/total, req/s, tickets\n"
                 "left, elapsed, ETA), plain (a line every 5 s) or off"},
        {.name = "quiet", .kind = TR_OPT_FLAG, .dest = &quiet,
         .help = "no progress lines on stderr (--progress off)"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush load", cmd, opts, load_usage, argc, argv, 1, &npos);
    if (rc >= 0) return rc;
    if (cli_unexpected(cmd, npos, argv)) return LAB_EXIT_USAGE;
    if (nurls == 0) urls[nurls++] = CLI_DEFAULT_URL;
    if (o.strategy == NULL || *o.strategy == '\0') {
        fprintf(stderr, "ticketrush load: --strategy is required (the label of the server's "
                        "strategy, e.g. db-atomic)\n");
        return LAB_EXIT_USAGE;
    }
    const scenario *sc = cli_run_opts_finish(&o);
    if (sc == NULL) return LAB_EXIT_USAGE;
    if (requests < 0) requests = sc->requests;
    if (o.vus < 0) o.vus = sc->vus;
    if (concerts < 0) concerts = sc->concerts;
    double zipf_s = sc->zipf_s > 0 ? sc->zipf_s : SCENARIO_FESTIVAL_ZIPF_S;
    if (zipf_arg != NULL) {
        char *end = NULL;
        errno = 0;
        zipf_s = strtod(zipf_arg, &end);
        if (errno != 0 || end == zipf_arg || *end != '\0' || !(zipf_s >= 0 && zipf_s <= 10)) {
            fprintf(stderr, "ticketrush load: --zipf-s must be a number in 0..10, not \"%s\"\n",
                    zipf_arg);
            return LAB_EXIT_USAGE;
        }
        if (concerts < 2) {
            fprintf(stderr, "ticketrush load: --zipf-s needs several concerts (--concerts K, "
                            "K >= 2, or --scenario festival)\n");
            return LAB_EXIT_USAGE;
        }
    }
    if (rate == 0 && (ramp_s > 0 || ramp_from >= 0 || max_conns > 0)) {
        fprintf(stderr, "ticketrush load: --ramp-s, --ramp-from and --max-connections need "
                        "--rate (an open loop)\n");
        return LAB_EXIT_USAGE;
    }
    if (rate > 0 && max_conns > 0 && max_conns < o.vus) {
        fprintf(stderr,
                "ticketrush load: --max-connections (%" PRId64 ") must be at least --vus (%" PRId64
                ")\n",
                max_conns, o.vus);
        return LAB_EXIT_USAGE;
    }
    if (ramp_from < 0) ramp_from = 0;
    int64_t fds = rate > 0 ? (max_conns > 0                        ? max_conns
                              : o.vus > LG_DEFAULT_MAX_CONNECTIONS ? o.vus
                                                                   : LG_DEFAULT_MAX_CONNECTIONS)
                           : o.vus;

    lab_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        fprintf(stderr, "ticketrush load: out of memory\n");
        return LAB_EXIT_FAILURE;
    }
    cli_load_state st = {.quiet = quiet, .open = rate > 0, .late_ms = late_ms};
    st.ps = (cli_progress_state){.cmd = cmd,
                                 .mode = quiet ? PROGRESS_OFF : cli_progress_pick(progress),
                                 .run = run,
                                 .seats = o.tickets * concerts};
    experiment_config cfg = {.strategy = o.strategy,
                             .scenario = sc,
                             .urls = urls,
                             .nurls = nurls,
                             .pg_conninfo = o.pg_info,
                             .concert_id = o.concert,
                             .concerts = (int32_t)concerts,
                             .zipf_s = zipf_s,
                             .tickets = o.tickets,
                             .vip = o.vip,
                             .customers = o.customers,
                             .requests = requests,
                             .vus = o.vus,
                             .seed = (uint64_t)seed,
                             .rate = (double)rate,
                             .ramp_from = (double)ramp_from,
                             .ramp_us = ramp_s * 1000000,
                             .max_connections = (int)max_conns,
                             .late_us = late_ms * 1000,
                             .retry_connection_errors = retry_conn,
                             .time_limit_us = time_limit_s * 1000000,
                             .drain_stable_ms = (int)drain_stable_s * 1000,
                             .drain_timeout_ms = (int)drain_timeout_s * 1000,
                             .marks_file = marks_file,
                             .out_path = o.out_path,
                             .progress = st.ps.mode == PROGRESS_OFF ? NULL : cli_progress,
                             .progress_arg = &st.ps,
                             .progress_every_us = cli_progress_every(&st.ps),
                             .loaded = cli_load_loaded,
                             .log = cli_load_log,
                             .arg = &st};
    char err[512] = "", path[512];
    rc = LAB_EXIT_FAILURE;
    if (experiment_check(&cfg, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush load: %s\n", err);
        rc = LAB_EXIT_USAGE;
    } else if (cli_ensure_fds(cmd, fds)) {
        /* the progress line reads the records as they fill in */
        tr_err e = experiment_run(&cfg, run, path, sizeof path, err, sizeof err);
        if (e != TR_OK) {
            if (st.ps.drawn) fputc('\n', stderr);
            fprintf(stderr, "ticketrush load: %s\n", err[0] ? err : tr_strerror(e));
        } else if (cli_print_saved(run, path)) {
            rc = LAB_EXIT_OK;
            if (o.expect_clean && audit_has_anomalies(&run->audit)) {
                fprintf(stderr, "ticketrush load: the audit found anomalies (--expect-clean)\n");
                rc = LAB_EXIT_ANOMALY;
            }
        }
    }
    lab_run_free_records(run);
    free(run);
    return rc;
}

/* --- table --------------------------------------------------------------------------- */

static void table_usage(FILE *f, const tr_opt *opts) {
    fprintf(f, "usage: ticketrush table [--latency | --concerts | --timeline [--bucket-ms MS]]\n"
               "                       FILE...\n"
               "\n"
               "Prints one row per run file written by `ticketrush load`: throughput, every\n"
               "R1-R8 anomaly count, latency (with the winners' and losers' p99 when a run is\n"
               "open-loop) and errors by code. A festival run (many concerts) is its totals\n"
               "row, its headliner's row, and a line: concerts clean, sold out, seats sold.\n");
    tr_opts_help(f, opts);
}

int lab_cli_table(int argc, char **argv) {
    bool latency = false, concerts = false, timeline = false;
    int64_t bucket_ms = 0; /* 0: not given (1000 with --timeline) */
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "concerts", .kind = TR_OPT_FLAG, .dest = &concerts,
         .help = "a festival run's per-concert audit instead: per concert\n"
                 "its share of the requests, sold/seats, when it sold out,\n"
                 "201/202 answers and the R1-R8 rules it broke"},
        {.name = "latency", .kind = TR_OPT_FLAG, .dest = &latency,
         .help = "the latency table instead: offered rate, late requests,\n"
                 "p50/p99/p99.9 of all answers, winners (201/202) and\n"
                 "losers (409/503), p99.99 and max, from the histograms"},
        {.name = "timeline", .kind = TR_OPT_FLAG, .dest = &timeline,
         .help = "latency over time instead: per window of --bucket-ms\n"
                 "(by scheduled send time in an open loop) requests,\n"
                 "answered, winners, late, p50/p99/max ms; shows when a\n"
                 "tail happened (a stall, an AOF rewrite, a failover)"},
        {.name = "bucket-ms", .kind = TR_OPT_I64, .dest = &bucket_ms, .min = 1,
         .max = 3600000, .metavar = "MS", .help = "--timeline's window (default 1000)"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush table", "table", opts, table_usage, argc, argv, 1, &npos);
    if (rc >= 0) return rc;
    if (npos == 0) {
        table_usage(stderr, opts);
        return LAB_EXIT_USAGE;
    }
    size_t n = (size_t)npos;
    lab_run *runs = calloc(n, sizeof *runs);
    if (runs == NULL) {
        fprintf(stderr, "ticketrush table: out of memory\n");
        return LAB_EXIT_FAILURE;
    }
    rc = LAB_EXIT_OK;
    char err[512];
    for (size_t i = 0; i < n; i++) {
        if (runfile_read(argv[1 + (int)i], timeline, &runs[i], err, sizeof err) != TR_OK) {
            fprintf(stderr, "ticketrush table: %s\n", err);
            rc = LAB_EXIT_FAILURE;
            break;
        }
    }
    if (rc == LAB_EXIT_OK && latency + concerts + timeline > 1) {
        fprintf(stderr, "ticketrush table: --latency, --concerts and --timeline are different "
                        "tables; pick one\n");
        rc = LAB_EXIT_USAGE;
    }
    if (rc == LAB_EXIT_OK && bucket_ms > 0 && !timeline) {
        fprintf(stderr, "ticketrush table: --bucket-ms applies only to --timeline\n");
        rc = LAB_EXIT_USAGE;
    }
    if (bucket_ms == 0) bucket_ms = 1000;
    for (size_t i = 0; rc == LAB_EXIT_OK && timeline && i < n; i++) {
        if (fprintf(stdout, "%s%s (%s)\n", i ? "\n" : "", argv[1 + (int)i], runs[i].strategy) < 0 ||
            table_write_timeline(stdout, &runs[i], bucket_ms * 1000) != TR_OK)
            rc = LAB_EXIT_FAILURE;
    }
    for (size_t i = 0; i < n; i++) lab_run_free_records(&runs[i]);
    for (size_t i = 0; rc == LAB_EXIT_OK && concerts && i < n; i++)
        if ((i > 0 && fputc('\n', stdout) == EOF) ||
            table_write_concerts(stdout, &runs[i]) != TR_OK)
            rc = LAB_EXIT_FAILURE;
    if (rc == LAB_EXIT_OK && !concerts && !timeline &&
        (latency ? table_write_latency(stdout, runs, n) : table_write(stdout, runs, n)) != TR_OK)
        rc = LAB_EXIT_FAILURE;
    free(runs);
    return rc;
}

/* --- ceiling ------------------------------------------------------------------------- */

static void ceiling_usage(FILE *f, const tr_opt *opts) {
    fprintf(f, "usage: ticketrush ceiling [--url URL] [--vus V] [--requests R] [--time-limit-s S]\n"
               "                          [--rate R [--max-connections M]]\n"
               "\n"
               "Drives GET /livez (the server does no work) closed-loop and prints requests/s,\n"
               "requests/min and latency: the ceiling of the load generator and server together.\n"
               "Compare with: wrk -t1 -cV -d5s URL/livez\n"
               "With --rate, an open loop at R requests/s instead (as load --rate): the latency\n"
               "floor at that offered rate, from each request's scheduled time.\n"
               "\n");
    tr_opts_help(f, opts);
}

int lab_cli_ceiling(int argc, char **argv) {
    const char *cmd = "ceiling", *url = CLI_DEFAULT_URL;
    int progress = PROGRESS_ARG_AUTO;
    int64_t vus = 200, requests = 200000, time_limit_s = 600, rate = 0, max_conns = 0;
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "url", .kind = TR_OPT_STRING, .dest = &url, .env = "TICKETRUSH_URL",
         .metavar = "URL", .help = "server, loopback only (default " CLI_DEFAULT_URL ")"},
        {.name = "vus", .kind = TR_OPT_I64, .dest = &vus, .min = 1, .max = LG_MAX_VUS,
         .metavar = "V", .help = "keep-alive connections (default 200)"},
        {.name = "requests", .kind = TR_OPT_I64, .dest = &requests, .min = 1,
         .max = CLI_MAX_REQUESTS, .metavar = "R", .help = "requests to send (default 200000)"},
        {.name = "time-limit-s", .kind = TR_OPT_I64, .dest = &time_limit_s, .min = 1,
         .max = 86400, .metavar = "S", .help = "stop after S seconds (default 600)"},
        {.name = "rate", .kind = TR_OPT_I64, .dest = &rate, .min = 0, .max = 10000000,
         .metavar = "R", .help = "open loop at R requests/s (default 0: closed loop)"},
        {.name = "max-connections", .kind = TR_OPT_I64, .dest = &max_conns, .min = 1,
         .max = LG_MAX_VUS, .metavar = "M",
         .help = "open loop: connections at most (default 4096, ≥ --vus)"},
        {.name = "progress", .kind = TR_OPT_CHOICE, .dest = &progress,
         .choices = progress_names, .metavar = "MODE",
         .help = "auto, live, plain or off (as for load)"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush ceiling", cmd, opts, ceiling_usage, argc, argv, 1, &npos);
    if (rc >= 0) return rc;
    if (cli_unexpected(cmd, npos, argv)) return LAB_EXIT_USAGE;
    char err[512];
    lg_url parsed;
    if (lg_url_parse(url, &parsed, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush ceiling: %s\n", err);
        return LAB_EXIT_USAGE;
    }
    if (max_conns > 0 && (rate == 0 || max_conns < vus)) {
        fprintf(stderr, "ticketrush ceiling: --max-connections needs --rate and must be at least "
                        "--vus\n");
        return LAB_EXIT_USAGE;
    }
    int64_t fds = rate == 0                          ? vus
                  : max_conns > 0                    ? max_conns
                  : vus > LG_DEFAULT_MAX_CONNECTIONS ? vus
                                                     : LG_DEFAULT_MAX_CONNECTIONS;
    if (!cli_ensure_fds(cmd, fds)) return LAB_EXIT_FAILURE;
    size_t n = (size_t)requests;
    lab_record *recs = calloc(n, sizeof *recs);
    audit_report *rep = calloc(1, sizeof *rep);
    lab_codes *codes = calloc(1, sizeof *codes);
    lab_hist *hist = malloc(sizeof *hist);
    rc = LAB_EXIT_FAILURE;
    if (recs == NULL || rep == NULL || codes == NULL || hist == NULL) {
        fprintf(stderr, "ticketrush ceiling: out of memory\n");
        goto out;
    }
    cli_progress_state ps = {.cmd = cmd, .mode = cli_progress_pick(progress)};
    lg_config cfg = {.url = url,
                     .target = LG_TARGET_LIVEZ,
                     .rate = (double)rate,
                     .max_connections = (int)max_conns,
                     .vus = (int)vus,
                     .time_limit_us = time_limit_s * 1000000,
                     .progress = ps.mode == PROGRESS_OFF ? NULL : cli_progress,
                     .progress_arg = &ps,
                     .progress_every_us = cli_progress_every(&ps)};
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
    if (rate > 0)
        printf("ceiling: GET /livez on %s, open loop at %" PRId64 " requests/s (%d connections "
               "used), %" PRId64 " requests\n",
               parsed.host, rate, res.connections_peak, requests);
    else
        printf("ceiling: GET /livez on %s, %" PRId64 " connections, %" PRId64 " requests\n",
               parsed.host, vus, requests);
    printf("answered %" PRId64 " in %.3f s: %.0f requests/s, %.0f requests/min\n", res.answered,
           secs, per_s, per_s * 60);
    lab_hist_init(hist);
    for (size_t i = 0; i < n; i++)
        if (lab_record_answered(&recs[i]) && lab_record_latency_us(&recs[i]) >= 0)
            lab_hist_record(hist, lab_record_latency_us(&recs[i]));
    printf("latency: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, p99.99 %.3f ms, "
           "max %.3f ms%s\n",
           (double)rep->latency.p50 / 1000, (double)rep->latency.p90 / 1000,
           (double)rep->latency.p99 / 1000, (double)lab_hist_percentile(hist, 99.9) / 1000,
           (double)lab_hist_percentile(hist, 99.99) / 1000, (double)rep->latency.max / 1000,
           rate > 0 ? " (from the scheduled send times)" : "");
    if (rate > 0)
        printf("open loop: %" PRId64 " requests sent more than %lld ms late (latest %.1f ms), "
               "%" PRId64 " waited for a connection\n",
               res.late, (long long)(LG_DEFAULT_LATE_US / 1000), (double)res.max_late_us / 1000,
               res.conn_waits);
    printf("outcomes:");
    for (int i = 0; i < rep->noutcomes; i++)
        printf(" %s=%" PRId64, rep->outcomes[i].key, rep->outcomes[i].count);
    printf("\ncompare: wrk -t1 -c%" PRId64 " -d5s http://%s/livez\n", vus, parsed.host);
    rc = LAB_EXIT_OK;
out:
    free(recs);
    free(rep);
    free(codes);
    free(hist);
    return rc;
}

/* --- script-ceiling ------------------------------------------------------------------------------ */

static void script_ceiling_usage(FILE *f, const tr_opt *opts) {
    fprintf(f,
            "usage: ticketrush script-ceiling [options]\n"
            "\n"
            "Measures S, the redis-atomic purchase script alone against Redis: no HTTP, the same\n"
            "script and keys the server uses, the scenario's customer draw, N connections (one\n"
            "thread each) with K calls in flight on each (N x K is the concurrency). The\n"
            "concert must be seeded; its seats get sold, so use one the server is not selling.\n"
            "Prints calls/s over the whole run, and tickets/s while seats remained (until the\n"
            "last ticket answer).\n"
            "\n"
            "options (environment variable in brackets):\n");
    tr_opts_help(f, opts);
}

int lab_cli_script_ceiling(int argc, char **argv) {
    const char *cmd = "script-ceiling", *scen_name = "scale", *pg = NULL, *redis = NULL;
    int64_t concert_id = 2, requests = -1, customers = -1, seed = 1, conns = 2, inflight = 128;
    char scen_help[128];
    snprintf(scen_help, sizeof scen_help, "%s (default scale)", scenario_names());
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "scenario", .kind = TR_OPT_STRING, .dest = &scen_name, .metavar = "NAME",
         .help = scen_help},
        {.name = "concert", .kind = TR_OPT_I64, .dest = &concert_id, .min = 1,
         .max = INT64_MAX, .metavar = "ID", .help = "a seeded concert (default 2)"},
        {.name = "requests", .kind = TR_OPT_I64, .dest = &requests, .min = 1, .max = 100000000,
         .metavar = "R", .help = "script calls (scenario default)"},
        {.name = "customers", .kind = TR_OPT_I64, .dest = &customers, .min = 1,
         .max = 100000000, .metavar = "C", .help = "customers drawn from 1..C (scenario default)"},
        {.name = "seed", .kind = TR_OPT_I64, .dest = &seed, .min = 0, .max = INT64_MAX,
         .metavar = "S", .help = "PRNG seed of the customer draw (default 1)"},
        {.name = "connections", .kind = TR_OPT_I64, .dest = &conns, .min = 1, .max = 64,
         .metavar = "N", .help = "Redis connections, one thread each (default 2)"},
        {.name = "in-flight", .kind = TR_OPT_I64, .dest = &inflight, .min = 1, .max = 4096,
         .metavar = "K", .help = "calls pipelined per connection (default 128)"},
        {.name = "pg", .kind = TR_OPT_STRING, .dest = &pg, .env = "TICKETRUSH_PG",
         .metavar = "CONNINFO", .help = "PostgreSQL conninfo"},
        {.name = "redis", .kind = TR_OPT_STRING, .dest = &redis, .env = "TICKETRUSH_REDIS",
         .metavar = "ADDRS", .check = cluster_seeds_check,
         .help = "Redis HOST:PORT, or HOST:PORT,… of Redis Cluster nodes\n"
                 "(at most 16; HOST an IPv4 address or a host name, no IPv6)"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush script-ceiling", cmd, opts, script_ceiling_usage, argc,
                             argv, 1, &npos);
    if (rc >= 0) return rc;
    if (cli_unexpected(cmd, npos, argv)) return LAB_EXIT_USAGE;
    const scenario *sc = scenario_find(scen_name);
    if (sc == NULL) {
        fprintf(stderr, "ticketrush script-ceiling: unknown scenario \"%s\" (%s)\n", scen_name,
                scenario_names());
        return LAB_EXIT_USAGE;
    }
    if (pg == NULL || redis == NULL) {
        fprintf(stderr, "ticketrush script-ceiling: needs PostgreSQL and Redis: set --pg/--redis "
                        "or TICKETRUSH_PG/TICKETRUSH_REDIS\n");
        return LAB_EXIT_USAGE;
    }
    if (requests < 0) requests = sc->requests;
    if (customers < 0) customers = sc->customers;
    lab_record *recs = calloc((size_t)requests, sizeof *recs);
    if (recs == NULL ||
        !scenario_draw_customers(recs, (size_t)requests, customers, (uint64_t)seed, sc->draw)) {
        fprintf(stderr, "ticketrush script-ceiling: could not draw %" PRId64 " customers\n",
                requests);
        free(recs);
        return LAB_EXIT_FAILURE;
    }
    pg_conn *conn = NULL;
    char err[512];
    rc = LAB_EXIT_FAILURE;
    if (pg_conn_open(pg, &conn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush script-ceiling: %s\n", err);
        goto out;
    }
    script_ceiling_config cfg = {.redis_addr = redis,
                                 .concert_id = concert_id,
                                 .connections = (int)conns,
                                 .in_flight = (int)inflight,
                                 .customers = recs,
                                 .requests = (size_t)requests};
    script_ceiling_result res;
    tr_err e = script_ceiling_run(conn, &cfg, &res, err, sizeof err);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush script-ceiling: %s\n", err[0] ? err : tr_strerror(e));
        goto out;
    }
    printf("script-ceiling: redis-atomic purchase script alone, %" PRId64 " calls, %" PRId64
           " connections x %" PRId64 " in flight\n",
           requests, conns, inflight);
    printf("answered %lld in %.3f s: %.0f calls/s, %.0f calls/min (tickets %lld, refusals %lld)\n",
           (long long)(res.issued + res.refused), (double)res.duration_us / 1e6, res.per_s,
           res.per_s * 60, (long long)res.issued, (long long)res.refused);
    if (res.issued > 0)
        printf("while seats remained: %lld tickets in %.3f s: %.0f tickets/s (calls that sell a "
               "seat also write)\n",
               (long long)res.issued, (double)res.sale_us / 1e6, res.sale_per_s);
    rc = LAB_EXIT_OK;
out:
    pg_conn_free(conn);
    free(recs);
    return rc;
}

/* --- store-ceiling ------------------------------------------------------------------------------ */

static void store_ceiling_usage(FILE *f, const tr_opt *opts) {
    fprintf(f,
            "usage: ticketrush store-ceiling [options]\n"
            "\n"
            "Measures P, redis-atomic's write-behind alone: the concert's Redis stream is filled\n"
            "with one ticket per seat (customers 1..N, as the purchase script writes them), then\n"
            "a persister stores them into PostgreSQL with its own batch size; no HTTP, no script.\n"
            "Prints tickets/s from its first stored batch to its last row. The concert must be\n"
            "seeded and not on sale elsewhere: its seats all get sold.\n"
            "\n"
            "options (environment variable in brackets):\n");
    tr_opts_help(f, opts);
}

int lab_cli_store_ceiling(int argc, char **argv) {
    const char *cmd = "store-ceiling", *pg = NULL, *redis = NULL;
    int64_t concert_id = 3, tickets = 0, batch = 1000;
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "concert", .kind = TR_OPT_I64, .dest = &concert_id, .min = 1,
         .max = INT64_MAX, .metavar = "ID", .help = "a seeded concert (default 3)"},
        {.name = "tickets", .kind = TR_OPT_I64, .dest = &tickets, .min = 1, .max = 100000000,
         .metavar = "N", .help = "tickets to store (default: every seat)"},
        {.name = "persist-batch", .kind = TR_OPT_I64, .dest = &batch, .min = 1, .max = 10000,
         .metavar = "N", .help = "stream entries per PostgreSQL transaction (default 1000)"},
        {.name = "pg", .kind = TR_OPT_STRING, .dest = &pg, .env = "TICKETRUSH_PG",
         .metavar = "CONNINFO", .help = "PostgreSQL conninfo"},
        {.name = "redis", .kind = TR_OPT_STRING, .dest = &redis, .env = "TICKETRUSH_REDIS",
         .metavar = "ADDRS", .check = cluster_seeds_check,
         .help = "Redis HOST:PORT, or HOST:PORT,… of Redis Cluster nodes\n"
                 "(at most 16; HOST an IPv4 address or a host name, no IPv6)"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush store-ceiling", cmd, opts, store_ceiling_usage, argc, argv,
                             1, &npos);
    if (rc >= 0) return rc;
    if (cli_unexpected(cmd, npos, argv)) return LAB_EXIT_USAGE;
    if (pg == NULL || redis == NULL) {
        fprintf(stderr, "ticketrush store-ceiling: needs PostgreSQL and Redis: set --pg/--redis "
                        "or TICKETRUSH_PG/TICKETRUSH_REDIS\n");
        return LAB_EXIT_USAGE;
    }
    pg_conn *conn = NULL;
    char err[512];
    rc = LAB_EXIT_FAILURE;
    if (pg_conn_open(pg, &conn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush store-ceiling: %s\n", err);
        goto out;
    }
    store_ceiling_config cfg = {.pg_conninfo = pg,
                                .redis_addr = redis,
                                .concert_id = concert_id,
                                .tickets = tickets,
                                .batch = (int)batch};
    store_ceiling_result res;
    tr_err e = store_ceiling_run(conn, &cfg, &res, err, sizeof err);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush store-ceiling: %s\n", err[0] ? err : tr_strerror(e));
        goto out;
    }
    printf("store-ceiling: redis-atomic's persister alone, %" PRId64 " tickets of concert %" PRId64
           ", batches of %" PRId64 "\n",
           res.tickets, concert_id, batch);
    printf("stored in %.3f s after a %.3f s start: %.0f tickets/s in %" PRId64
           " commits (the stream was filled in %.3f s)\n",
           (double)res.store_us / 1e6, (double)res.startup_us / 1e6, res.per_s, res.commits,
           (double)res.fill_us / 1e6);
    rc = LAB_EXIT_OK;
out:
    pg_conn_free(conn);
    return rc;
}

/* --- report -------------------------------------------------------------------------- */

static void report_usage(FILE *f, const tr_opt *opts) {
    fprintf(f, "usage: ticketrush report RUN.json... [--out FILE] [--ceiling FILE]\n"
               "                         [--ceiling-figure LABEL=REQ_PER_MIN]... [--title TEXT]\n"
               "\n"
               "Writes one self-contained HTML page (inline CSS and SVG, no script, nothing\n"
               "fetched) from run files of `ticketrush load` or `ticketrush jtl-audit`: a\n"
               "summary against the study's published figures and the measured ceilings, the\n"
               "audit of SPEC rules R1-R8 per run, and per run throughput over time (1-second\n"
               "buckets), latency percentiles and histogram, the percentile spectrum (latency\n"
               "against 1/(1-p), all answers, winners and losers), outcomes by code, and arrival\n"
               "order against seat number; given several open-loop runs (load --rate), p99\n"
               "against offered rate, one line per strategy. Prints the report's path.\n"
               "\n");
    tr_opts_help(f, opts);
    fprintf(f, "At most %d ceilings in all.\n", REPORT_MAX_CEILINGS);
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

/* Adds the ceiling LABEL=REQ_PER_MIN to ceilings (*nc of them). false after a message. */
static bool cli_ceiling_figure(const char *arg, report_ceiling *ceilings, size_t *nc) {
    const char *eq = strrchr(arg, '=');
    char *end = NULL;
    double v = eq ? strtod(eq + 1, &end) : 0;
    if (eq == NULL || eq == arg || end == eq + 1 || *end != '\0' || !(v > 0) || v > 1e12) {
        fprintf(stderr,
                "ticketrush report: invalid value \"%s\" for --ceiling-figure: expected "
                "LABEL=REQ_PER_MIN with a positive number\n",
                arg);
        return false;
    }
    if (*nc == REPORT_MAX_CEILINGS) {
        fprintf(stderr, "ticketrush report: at most %d ceilings\n", REPORT_MAX_CEILINGS);
        return false;
    }
    snprintf(ceilings[*nc].label, sizeof ceilings[*nc].label, "%.*s", (int)(eq - arg), arg);
    ceilings[(*nc)++].requests_per_min = v;
    return true;
}

int lab_cli_report(int argc, char **argv) {
    const char *cmd = "report", *out_path = NULL, *chaos_path = NULL;
    const char *ceiling_files[REPORT_MAX_CEILINGS], *figures[REPORT_MAX_CEILINGS];
    int nfiles = 0, nfigures = 0;
    report_ceiling ceilings[REPORT_MAX_CEILINGS];
    report_options ro = {.ceilings = ceilings, .generated_wall_us = 0};
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "out", .kind = TR_OPT_STRING, .dest = &out_path, .metavar = "FILE",
         .help = "the report (default: report.html beside the first\nrun file)"},
        {.name = "ceiling", .kind = TR_OPT_LIST, .dest = ceiling_files,
         .max = REPORT_MAX_CEILINGS, .count = &nfiles, .metavar = "FILE",
         .help = "ceilings measured in the same run (repeatable): the\n"
                 "output of `ticketrush ceiling` and wrk (make demo's\n"
                 "ceiling.txt) or of `ticketrush script-ceiling`; with\n"
                 "both the livez and the script ceiling, their\n"
                 "combination 1/(1/L + 1/S) is added"},
        {.name = "ceiling-figure", .kind = TR_OPT_LIST, .dest = figures,
         .max = REPORT_MAX_CEILINGS, .count = &nfigures, .metavar = "L=RPM",
         .help = "a ceiling given by hand: label and requests/min\n(repeatable)"},
        {.name = "title", .kind = TR_OPT_STRING, .dest = &ro.title, .metavar = "TEXT",
         .help = "the page title (default \"ticketrush lab report\")"},
        {.name = "chaos-table", .kind = TR_OPT_STRING, .dest = &chaos_path, .metavar = "FILE",
         .help = "the fault suite's table (ticketrush chaos-table's\n"
                 "output) as a section of its own, first"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush report", cmd, opts, report_usage, argc, argv, 1, &npos);
    if (rc >= 0) return rc;
    if (npos == 0) {
        report_usage(stderr, opts);
        return LAB_EXIT_USAGE;
    }
    size_t nc = 0;
    for (int i = 0; i < nfiles; i++) {
        char *text = cli_read_text(cmd, ceiling_files[i], 1 << 20);
        if (text == NULL) return LAB_EXIT_FAILURE;
        size_t got = report_parse_ceilings(text, ceilings + nc, REPORT_MAX_CEILINGS - nc);
        free(text);
        if (got == 0)
            fprintf(stderr, "ticketrush report: warning: no ceiling figure found in %s\n",
                    ceiling_files[i]);
        nc += got;
    }
    for (int i = 0; i < nfigures; i++)
        if (!cli_ceiling_figure(figures[i], ceilings, &nc)) return LAB_EXIT_USAGE;
    char *chaos_text = NULL;
    if (chaos_path && (chaos_text = cli_read_text(cmd, chaos_path, 4 << 20)) == NULL)
        return LAB_EXIT_FAILURE;
    ro.chaos_table = chaos_text;
    ro.nceilings = report_combine_ceilings(ceilings, nc, REPORT_MAX_CEILINGS);
    ro.generated_wall_us = tr_wall_us();

    size_t n = (size_t)npos;
    lab_run *runs = calloc(n, sizeof *runs);
    char err[512], path[1024], tmp[1100];
    rc = LAB_EXIT_FAILURE;
    FILE *f = NULL;
    if (runs == NULL) {
        fprintf(stderr, "ticketrush report: out of memory\n");
        free(chaos_text);
        return LAB_EXIT_FAILURE;
    }
    for (size_t i = 0; i < n; i++) {
        tr_err e = runfile_read(argv[1 + (int)i], true, &runs[i], err, sizeof err);
        if (e != TR_OK) {
            fprintf(stderr, "ticketrush report: %s\n", e == TR_NOMEM ? "out of memory" : err);
            goto out;
        }
    }
    if (out_path) {
        snprintf(path, sizeof path, "%s", out_path);
    } else {
        const char *first = argv[1], *slash = strrchr(first, '/');
        if (slash) snprintf(path, sizeof path, "%.*s/report.html", (int)(slash - first), first);
        else snprintf(path, sizeof path, "report.html");
    }
    if (runfile_mkdirs_for(path, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush report: %s\n", err);
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

static void jtl_audit_usage(FILE *f, const tr_opt *opts) {
    fprintf(f,
            "usage: ticketrush jtl-audit --jtl FILE --strategy LABEL [options]\n"
            "\n"
            "Audits a run driven by JMeter (jmeter/ticketrush.jmx, see scripts/jmeter.sh): reads\n"
            "JMeter's CSV results, checks that every sample is there, audits the concert in\n"
            "PostgreSQL against SPEC rules R1-R8 exactly as `ticketrush load` does, writes the\n"
            "same run file and prints its table row. The .jtl must carry a header and the\n"
            "sample variables customerId, seatNo and error (-Jsample_variables=customerId,\n"
            "seatNo,error), with millisecond start time stamps. --strategy is a label such as\n"
            "db-atomic/jmeter; --scenario, --tickets, --vip and --customers give the seats,\n"
            "VIP seats and customers the concert must have; --vus is JMeter's threads, for the\n"
            "run file (default: the largest allThreads in the file).\n"
            "\n"
            "options (environment variable in brackets):\n");
    tr_opts_help(f, opts);
    fprintf(f, "\n"
               "exit status: 0 done, 1 operational failure (including a .jtl with missing\n"
               "samples: never trust JMeter's own exit status), 2 bad options, 3 --expect-clean\n"
               "and an anomaly.\n");
}

static const char *const timestamp_names[] = {"start", "end", NULL};

int lab_cli_jtl_audit(int argc, char **argv) {
    const char *cmd = "jtl-audit", *jtl_path = NULL, *url = "";
    cli_run_opts o;
    cli_run_opts_init(&o, cmd);
    int64_t expect = -1;
    int timestamps = 0;
    jtl_options jo = {.timestamp = JTL_TIMESTAMP_START};
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "jtl", .kind = TR_OPT_STRING, .dest = &jtl_path, .metavar = "FILE",
         .help = "JMeter's CSV results file (required)"},
        CLI_RUN_OPT_STRATEGY(&o),
        CLI_RUN_OPTS(&o, INT32_MAX),
        {.name = "expect-samples", .kind = TR_OPT_I64, .dest = &expect, .min = 0,
         .max = JTL_MAX_ROWS, .metavar = "N",
         .help = "fail unless exactly N samples are in the file (default:\n"
                 "the scenario's requests; 0 skips the check)"},
        {.name = "label", .kind = TR_OPT_STRING, .dest = &jo.label, .metavar = "NAME",
         .help = "only samples with this label (default: every sample)"},
        {.name = "timestamps", .kind = TR_OPT_CHOICE, .dest = &timestamps,
         .choices = timestamp_names, .metavar = "start|end",
         .help = "what timeStamp marks (default start, as the plan's runs\n"
                 "write it: sampleresult.timestamp.start=true)"},
        {.name = "url", .kind = TR_OPT_STRING, .dest = &url, .metavar = "URL",
         .help = "the server JMeter drove, for the run file"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc =
        lab_cli_options("ticketrush jtl-audit", cmd, opts, jtl_audit_usage, argc, argv, 1, &npos);
    if (rc >= 0) return rc;
    if (cli_unexpected(cmd, npos, argv)) return LAB_EXIT_USAGE;
    jo.timestamp = timestamps == 1 ? JTL_TIMESTAMP_END : JTL_TIMESTAMP_START;
    if (jtl_path == NULL || o.strategy == NULL || *o.strategy == '\0') {
        fprintf(stderr, "ticketrush jtl-audit: --jtl and --strategy are required\n");
        return LAB_EXIT_USAGE;
    }
    const scenario *sc = cli_run_opts_finish(&o);
    if (sc == NULL) return LAB_EXIT_USAGE;
    if (expect < 0) expect = sc->requests;

    rc = LAB_EXIT_FAILURE;
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
        fprintf(stderr,
                "ticketrush jtl-audit: %s holds %zu samples, expected %" PRId64
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
    fprintf(stderr,
            "jtl-audit: %zu samples (%" PRId64 " answered, %" PRId64
            " connection errors) over %.2f s%s\n",
            run->nrecords, answered, connection_errors, (double)jr.duration_us / 1e6,
            jr.skipped ? ", other labels skipped" : "");

    if (pg_conn_open(o.pg_info, &pg, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush jtl-audit: %s\n", err);
        goto out;
    }
    audit_concert concert_row;
    bool guarded = false;
    if (experiment_check_concert(pg, o.concert, o.tickets, o.vip, sc->name, &concert_row, &guarded,
                                 err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush jtl-audit: %s\n", err);
        goto out;
    }
    snprintf(run->strategy, sizeof run->strategy, "%s", o.strategy);
    snprintf(run->scenario, sizeof run->scenario, "%s", sc->name);
    run->guarded = guarded;
    run->params = (run_params){.tickets = (int32_t)o.tickets,
                               .vip = (int32_t)o.vip,
                               .customers = o.customers,
                               .requests = (int64_t)run->nrecords,
                               .vus = (int32_t)(o.vus > 0 ? o.vus : jr.max_threads),
                               .seed = 0,
                               .concert_id = o.concert};
    snprintf(run->params.url, sizeof run->params.url, "%s", url);
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
    runfile_histograms(run);
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
