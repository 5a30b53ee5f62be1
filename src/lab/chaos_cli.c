/* chaos_cli.c — the fault suite's commands behind lab_cli.h: `ticketrush fault-proxy` (the TCP
 * proxy of faultproxy.h as a process) and `ticketrush chaos-table` (chaos.h's table of fault runs).
 * Options, messages for people and exit codes only; scripts/chaos.sh drives them. */
#include "lab/lab_cli.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "lab/chaos.h"
#include "lab/faultproxy.h"
#include "lab/runfile.h"
#include "store/redis.h"

static volatile sig_atomic_t fp_stop;

static void fp_on_signal(int sig) {
    (void)sig;
    fp_stop = 1;
}

static void fp_print_ready(void *arg, uint16_t listen_port, uint16_t control_port) {
    const char *to = arg;
    printf("fault-proxy: 127.0.0.1:%u -> %s, control 127.0.0.1:%u\n", listen_port, to,
           control_port);
    fflush(stdout);
}

static void fp_print_log(void *arg, const char *line) {
    (void)arg;
    int64_t ms = tr_wall_us() / 1000;
    printf("fault-proxy: %lld.%03lld %s\n", (long long)(ms / 1000), (long long)(ms % 1000), line);
    fflush(stdout);
}

static void fault_proxy_usage(FILE *f, const tr_opt *opts) {
    fprintf(f, "usage: ticketrush fault-proxy --listen PORT --to HOST:PORT --control PORT\n"
               "\n"
               "A TCP proxy on 127.0.0.1:PORT to one backend (Redis or PostgreSQL) for the fault\n"
               "suite (scripts/chaos.sh): it forwards bytes both ways and, on a command sent to\n"
               "its control port (one line each, answered by one line), injects network faults:\n"
               "  delay MS   forward every byte MS ms late, both directions\n"
               "  stall MS   forward nothing for MS ms\n"
               "  cut        close every proxied connection, both sides, at once\n"
               "  pass       no delay, no stall\n"
               "  stats      connections, delay, stall left, cuts\n"
               "When either side of a proxied connection closes, the other is closed too.\n"
               "Example: exec 3<>/dev/tcp/127.0.0.1/PORT; echo 'stall 5000' >&3; read -r a <&3\n"
               "SIGTERM or SIGINT stop it. Port 0 picks a free port (printed on start).\n"
               "\n");
    tr_opts_help(f, opts);
}

int lab_cli_fault_proxy(int argc, char **argv) {
    int listen_port = -1, control_port = -1;
    const char *to = NULL;
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "listen", .kind = TR_OPT_INT, .dest = &listen_port, .min = 0, .max = 65535,
         .metavar = "PORT", .help = "the proxy's port on 127.0.0.1 (required)"},
        {.name = "to", .kind = TR_OPT_STRING, .dest = &to, .metavar = "HOST:PORT",
         .help = "the backend (required)"},
        {.name = "control", .kind = TR_OPT_INT, .dest = &control_port, .min = 0, .max = 65535,
         .metavar = "PORT", .help = "the control port on 127.0.0.1 (required)"},
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush fault-proxy", "fault-proxy", opts, fault_proxy_usage, argc,
                             argv, 1, &npos);
    if (rc >= 0) return rc;
    if (npos > 0 || listen_port < 0 || control_port < 0 || to == NULL) {
        fprintf(stderr, "ticketrush fault-proxy: --listen, --to and --control are required\n");
        return LAB_EXIT_USAGE;
    }
    char to_host[64];
    int to_port = 0;
    if (redis_parse_addr(to, to_host, sizeof to_host, &to_port) != TR_OK || to_port < 1) {
        fprintf(stderr,
                "ticketrush fault-proxy: invalid value \"%s\" for --to: expected "
                "HOST:PORT\n",
                to);
        return LAB_EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = fp_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fp_config cfg = {.listen_port = (uint16_t)listen_port,
                     .control_port = (uint16_t)control_port,
                     .to_host = to_host,
                     .to_port = (uint16_t)to_port,
                     .stop = &fp_stop,
                     .ready = fp_print_ready,
                     .log = fp_print_log,
                     .arg = (void *)to};
    char err[256];
    tr_err e = fp_run(&cfg, err, sizeof err);
    if (e != TR_OK) {
        fprintf(stderr, "ticketrush fault-proxy: %s\n", err);
        return LAB_EXIT_FAILURE;
    }
    return LAB_EXIT_OK;
}

/* --- chaos-table ---------------------------------------------------------------------- */

static void chaos_table_usage(FILE *f, const tr_opt *opts) {
    fprintf(f, "usage: ticketrush chaos-table [--rows-only] RUN.json...\n"
               "\n"
               "The fault suite's table (scripts/chaos.sh): one row per run file written by\n"
               "`ticketrush load --marks-file` during a fault, with\n"
               "  in-flight  requests sent before the fault and answered (or not) after it\n"
               "  acked      201 answers; queued: 202 answers\n"
               "  lost       acknowledged tickets PostgreSQL does not hold at all\n"
               "  contra     acknowledged tickets PostgreSQL gives to another customer or seat\n"
               "  q-lost     customers answered 202 (queued) who never got a ticket\n"
               "  unknown    tickets stored for requests whose answer never came (not anomalies)\n"
               "  other      R1-R5, R8 and phantom tickets no unknown outcome explains\n"
               "  R6         FCFS violations\n"
               "  failed     requests failed after the fault (no answer, or 5xx but 503 busy)\n"
               "  first-ok   ms from the fault to the first normal answer to a request sent\n"
               "             after it\n"
               "  recovered  ms from the fault until the last request that failed or was slow\n"
               "             (over max(1 s, 2 x the p99 before the fault); a purchase retried\n"
               "             after a lost connection or a 500 is slow) ended: after it every\n"
               "             answer was normal (never: one was still unanswered)\n"
               "  sale-on    ms from the fault to the end of the longest pause in sales\n"
               "             (201/202) after it of the concert the fault hit (mark\n"
               "             fault_concert; the festival's headliner) or any: when it went on\n"
               "  req/s      answered requests per second of the load phase (paced runs: about\n"
               "             the rate when the system kept up)\n"
               "  result     PASS or FAIL against the strategy's promise for that fault\n"
               "Then, per row, what was allowed or what broke the promise.\n"
               "\n");
    tr_opts_help(f, opts);
    fprintf(f, "exit status: 0 every row PASS, 3 a row FAIL, 1 a file could not be read.\n");
}

int lab_cli_chaos_table(int argc, char **argv) {
    bool rows_only = false;
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "rows-only", .kind = TR_OPT_FLAG, .dest = &rows_only,
         .help = "no header and no notes (the suite's progress lines)"},
        {0},
    };
    /* clang-format on */
    int n = 0;
    int rc = lab_cli_options("ticketrush chaos-table", "chaos-table", opts, chaos_table_usage, argc,
                             argv, 1, &n);
    if (rc >= 0) return rc;
    if (n <= 0) {
        chaos_table_usage(stderr, opts);
        return LAB_EXIT_USAGE;
    }
    chaos_cell *cells = calloc((size_t)n, sizeof *cells);
    lab_run *run = calloc(1, sizeof *run);
    char(*notes)[RUN_MARK_VALUE_LEN] = calloc((size_t)n, sizeof *notes);
    rc = LAB_EXIT_FAILURE;
    if (cells == NULL || run == NULL || notes == NULL) {
        fprintf(stderr, "ticketrush chaos-table: out of memory\n");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char err[512];
        if (runfile_read(argv[1 + i], true, run, err, sizeof err) != TR_OK) {
            fprintf(stderr, "ticketrush chaos-table: %s\n", err);
            goto out;
        }
        if (chaos_cell_compute(run, &cells[i]) != TR_OK) {
            fprintf(stderr, "ticketrush chaos-table: %s has no request records\n", argv[1 + i]);
            lab_run_free_records(run);
            goto out;
        }
        const char *note = lab_run_mark(run, CHAOS_MARK_NOTE);
        snprintf(notes[i], sizeof notes[i], "%s", note ? note : "");
        lab_run_free_records(run);
    }
    if (rows_only) {
        /* the same columns, without the header line */
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (mem == NULL) goto out;
        int fails = chaos_table_write(mem, cells, n);
        fclose(mem);
        const char *nl = buf ? strchr(buf, '\n') : NULL;
        fputs(nl ? nl + 1 : "", stdout);
        free(buf);
        rc = fails ? LAB_EXIT_ANOMALY : LAB_EXIT_OK;
        goto out;
    }
    int fails = chaos_table_write(stdout, cells, n);
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (cells[i].why[0] == '\0' && notes[i][0] == '\0') continue;
        if (!any) printf("\nnotes:\n");
        any = true;
        printf("  %s x %s: %s%s%s\n", cells[i].label, cells[i].fault, cells[i].why,
               cells[i].why[0] && notes[i][0] ? "; " : "", notes[i]);
    }
    printf("\n%d of %d cells PASS, %d FAIL\n", n - fails, n, fails);
    rc = fails ? LAB_EXIT_ANOMALY : LAB_EXIT_OK;
out:
    free(cells);
    free(run);
    free(notes);
    return rc;
}
