/* main.c — the ticketrush command line: the command table that `ticketrush --help` prints
 * from, `serve`'s options and wiring, and its signal handling. The lab's commands (load, db,
 * table, ceiling, script-ceiling, report, jtl-audit, fault-proxy, chaos-table) live in
 * src/lab/..._cli.c. Only the command-line files decide what a person sees and how the process
 * exits. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/options.h"
#include "http/server.h"
#include "lab/lab_cli.h"
#include "store/cluster.h"
#include "strategy/strategy.h"

static void log_stderr(const char *fmt, va_list ap) {
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, "ticketrush: %s\n", buf);
}

static void strategies_print(FILE *f) {
    for (int i = 0; strategy_at(i); i++)
        fprintf(f, "    %-18s %s%s\n", strategy_at(i)->name, strategy_at(i)->summary,
                strategy_at(i)->needs_redis ? " [Redis]" : "");
}

/* ---- serve ----------------------------------------------------------------------------------- */

static void serve_usage(FILE *f, const tr_opt *opts) {
    fprintf(
        f, "usage: ticketrush serve [options]\n"
           "\n"
           "Serves the ticket-sale API (POST /concert/purchase/ticket, GET /concerts/{id},\n"
           "GET /concerts/{id}/tickets/{customerId}, GET /livez, GET /readyz, GET /metrics) until\n"
           "SIGTERM/SIGINT.\n"
           "\n"
           "options (environment variable in brackets):\n");
    tr_opts_help(f, opts);
    fprintf(f, "\nstrategies:\n");
    strategies_print(f);
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Started as root: becomes user (getpwnam), its group only, and stays dumpable so that a crash
 * can still be examined (and LeakSanitizer, which attaches to its own threads, still works).
 * Refuses a user that is root. Returns false with a message on stderr. A process that is not
 * root keeps its user; naming another one is an error. */
static bool drop_root(const char *user, bool user_given) {
    if (geteuid() != 0) {
        if (!user_given) return true;
        struct passwd *me = getpwuid(geteuid());
        if (me && strcmp(me->pw_name, user) == 0) return true;
        fprintf(stderr, "ticketrush: --user %s needs the server to be started as root\n", user);
        return false;
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        fprintf(stderr, "ticketrush: no user named \"%s\" to serve as (--user)\n", user);
        return false;
    }
    if (pw->pw_uid == 0) {
        fprintf(stderr, "ticketrush: refusing to serve as root; name an unprivileged --user\n");
        return false;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
        getuid() == 0 || geteuid() == 0) {
        fprintf(stderr, "ticketrush: could not become user %s: %s\n", user, strerror(errno));
        return false;
    }
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return true;
}

/* In durability_mode order (strategy.h). */
static const char *const durability_names[] = {"fast", "strict", "replicated", NULL};

static int cmd_serve(int argc, char **argv) {
    const char *strategy_name = "db-atomic", *user = NULL;
    int durability = DURABILITY_FAST, durability_given = 0;
    server_config cfg = {
        .bind_addr = "127.0.0.1",
        .port = 8080,
        .workers = 0, /* not given: the strategy's default (strategy_default_workers) */
        .io_threads = 2,
        .max_connections = 10000,
        .idle_timeout_s = 120,
        .header_timeout_s = SERVER_HEADER_TIMEOUT_S,
        .body_timeout_s = SERVER_BODY_TIMEOUT_S,
        .strategy_cfg = STRATEGY_CONFIG_DEFAULT,
        .log = log_stderr,
    };
    strategy_config *sc = &cfg.strategy_cfg;
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "strategy", .short_name = 's', .kind = TR_OPT_STRING, .dest = &strategy_name,
         .env = "TICKETRUSH_STRATEGY", .metavar = "NAME",
         .help = "purchase strategy (default db-atomic)"},
        {.name = "port", .short_name = 'p', .kind = TR_OPT_INT, .dest = &cfg.port, .min = 0,
         .max = 65535, .env = "TICKETRUSH_PORT", .metavar = "N",
         .help = "TCP port, 0 = any free one (default 8080)"},
        {.name = "reuse-port", .kind = TR_OPT_FLAG, .dest = &cfg.reuse_port,
         .help = "join the --port other ticketrush serve --reuse-port processes\n"
                 "listen on (SO_REUSEPORT: the kernel spreads connections over\n"
                 "them); without it the port is this process's alone: a port in\n"
                 "use is refused, and so is a later process asking to share it"},
        {.name = "bind", .kind = TR_OPT_STRING, .dest = &cfg.bind_addr, .env = "TICKETRUSH_BIND",
         .metavar = "ADDR", .help = "IPv4 address to listen on (default 127.0.0.1)"},
        {.name = "pg", .kind = TR_OPT_STRING, .dest = &cfg.pg_conninfo, .env = "TICKETRUSH_PG",
         .metavar = "CONNINFO", .help = "libpq connection string"},
        {.name = "redis", .kind = TR_OPT_STRING, .dest = &cfg.redis_addr,
         .env = "TICKETRUSH_REDIS", .metavar = "ADDRS",
         .check = cluster_seeds_check,
         .help = "Redis: HOST:PORT of one Redis, or HOST:PORT,HOST:PORT...\n"
                 "of Redis Cluster nodes (seeds: the slot map is read from\n"
                 "the first that answers; each concert goes to its slot's master;\n"
                 "at most 16 seeds; HOST an IPv4 address or a host name, no IPv6)"},
        {.name = "workers", .short_name = 'w', .kind = TR_OPT_INT, .dest = &cfg.workers,
         .min = 1, .max = 1024, .env = "TICKETRUSH_WORKERS", .metavar = "N",
         .help = "request workers, each with its own PostgreSQL and Redis\n"
                 "connection, 1..1024 (default 32; db-batch 2)"},
        {.name = "io-threads", .kind = TR_OPT_INT, .dest = &cfg.io_threads, .min = 1, .max = 64,
         .metavar = "N", .help = "event loops serving HTTP, 1..64 (default 2)"},
        {.name = "max-connections", .kind = TR_OPT_INT, .dest = &cfg.max_connections, .min = 1,
         .max = 1000000, .metavar = "N", .help = "concurrent HTTP connections (default 10000)"},
        {.name = "idle-timeout", .kind = TR_OPT_INT, .dest = &cfg.idle_timeout_s, .min = 1,
         .max = 86400, .metavar = "S",
         .help = "keep-alive idle timeout in seconds: how long a connection\n"
                 "may sit between requests (default 120)"},
        {.name = "header-timeout", .kind = TR_OPT_INT, .dest = &cfg.header_timeout_s, .min = 1,
         .max = 86400, .metavar = "S",
         .help = "a request's header block must arrive within S seconds,\n"
                 "counted from accept or from the first byte after the\n"
                 "previous request; slower clients are disconnected\n"
                 "(default 15)"},
        {.name = "body-timeout", .kind = TR_OPT_INT, .dest = &cfg.body_timeout_s, .min = 1,
         .max = 86400, .metavar = "S",
         .help = "a request's body must arrive within S seconds of its\n"
                 "header block; slower clients are disconnected (default 15)"},
        {.name = "lock-wait", .kind = TR_OPT_INT, .dest = &sc->lock_wait_ms, .min = 0,
         .max = 60000, .metavar = "MS",
         .help = "redis-lock: time to wait for the lock (default 2000)"},
        {.name = "lock-lease", .kind = TR_OPT_INT, .dest = &sc->lock_lease_ms, .min = 1,
         .max = 600000, .metavar = "MS",
         .help = "redis-lock: lease of a held lock (default 3000)"},
        {.name = "durability", .kind = TR_OPT_CHOICE, .dest = &durability,
         .choices = durability_names, .metavar = "MODE", .count = &durability_given,
         .help = "redis-atomic: fast (answer after Redis; loss window = Redis\n"
                 "AOF fsync, 1 s with everysec), replicated (answer after a\n"
                 "replica has the write: WAIT 1 1000 on the same connection,\n"
                 "else 500 outcome unknown; needs a Redis with a replica) or\n"
                 "strict (answer after the PostgreSQL commit, group commit)\n"
                 "(default fast)"},
        {.name = "persist-batch", .kind = TR_OPT_INT, .dest = &sc->persist_batch, .min = 1,
         .max = 10000, .metavar = "N",
         .help = "redis-atomic: stream entries per PostgreSQL transaction,\n"
                 "1..10000 (default 1000)"},
        {.name = "reclaim-idle", .kind = TR_OPT_INT, .dest = &sc->reclaim_idle_ms, .min = 1,
         .max = 3600000, .metavar = "MS",
         .help = "redis-atomic: reclaim pending entries of a dead persister\n"
                 "after MS idle (default 10000; checked every second)"},
        {.name = "user", .kind = TR_OPT_STRING, .dest = &user, .env = "TICKETRUSH_USER",
         .metavar = "NAME",
         .help = "the user to serve as when started as root, set before any\n"
                 "thread starts; root itself is refused (default nobody)"},
#ifdef TR_TEST_HOOKS /* test builds only (CMakeLists.txt: TR_SANITIZE) */
        {.name = "test-stall-ms", .kind = TR_OPT_INT, .dest = &sc->test_stall_ms, .min = 0,
         .max = 600000, .metavar = "MS",
         .help = "TEST ONLY: a redis-lock holder serving --test-stall-customer\n"
                 "sleeps MS after acquiring (proves fencing)"},
        {.name = "test-stall-customer", .kind = TR_OPT_I64, .dest = &sc->test_stall_customer_id,
         .min = 1, .max = INT64_MAX, .metavar = "ID",
         .help = "TEST ONLY: the customer of --test-stall-ms"},
        {.name = "test-persist-delay", .kind = TR_OPT_INT, .dest = &sc->test_persist_delay_ms,
         .min = 0, .max = 3600000, .metavar = "MS",
         .help = "TEST ONLY: the persister waits MS before each commit"},
        {.name = "test-issue-delay", .kind = TR_OPT_INT, .dest = &sc->test_issue_delay_ms,
         .min = 0, .max = 3600000, .metavar = "MS",
         .help = "TEST ONLY: redis-zset's issuer waits MS between reading a\n"
                 "batch from the line and issuing it"},
#endif
        {0},
    };
    /* clang-format on */
    int npos = 0;
    int rc = lab_cli_options("ticketrush", "serve", opts, serve_usage, argc, argv, 1, &npos);
    if (rc >= 0) return rc;
    if (npos > 0) {
        fprintf(stderr, "ticketrush: unexpected argument \"%s\"\n", argv[1]);
        return 2;
    }
    sc->durability = durability == 1   ? DURABILITY_STRICT
                     : durability == 2 ? DURABILITY_REPLICATED
                                       : DURABILITY_FAST;
    bool user_given = user != NULL;
    if (user == NULL) user = "nobody";
    cfg.strategy = strategy_find(strategy_name);
    if (cfg.strategy == NULL) {
        fprintf(stderr, "ticketrush: unknown strategy \"%s\"; known strategies:\n", strategy_name);
        strategies_print(stderr);
        return 2;
    }
    if (cfg.reuse_port && cfg.port == 0) {
        fprintf(stderr, "ticketrush: --reuse-port needs the port to join: give --port N\n");
        return 2;
    }
    if (cfg.workers == 0) cfg.workers = strategy_default_workers(cfg.strategy);
    if (durability_given && !cfg.strategy->takes_durability) {
        fprintf(stderr,
                "ticketrush: --durability applies only to redis-atomic (strategy %s "
                "has no write-behind to choose for)\n",
                cfg.strategy->name);
        return 2;
    }
    if (cfg.pg_conninfo == NULL) {
        fprintf(stderr, "ticketrush: no PostgreSQL connection: set --pg or TICKETRUSH_PG "
                        "(scripts/services.sh start writes one to .svc/env)\n");
        return 2;
    }
    /* Strategies that never touch Redis neither need it nor report it in /readyz. */
    if (!cfg.strategy->needs_redis) cfg.redis_addr = "";
    raise_fd_limit(); /* as root: up to the hard limit */
    if (!drop_root(user, user_given)) return 2;
    /* Block the stop signals before any thread starts, so only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    server *srv = NULL;
    char err[512];
    if (server_start(&cfg, &srv, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush: %s\n", err);
        return 1;
    }
    const char *dur = strategy_durability_name(cfg.strategy, sc);
    fprintf(
        stderr,
        "ticketrush: serving on http://%s:%d with strategy %s%s%s%s, %d workers, purchases %s\n",
        cfg.bind_addr, server_port(srv), cfg.strategy->name, dur ? " (durability " : "",
        dur ? dur : "", dur ? ")" : "", cfg.workers,
        strategy_is_one_script(cfg.strategy) ? "as script calls on the event loops"
                                             : "on the worker pool");
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "ticketrush: %s received, draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(srv, 5000);
    fprintf(stderr, "ticketrush: stopped\n");
    return 0;
}

/* ---- strategies -------------------------------------------------------------------------------- */

static int cmd_strategies(int argc, char **argv) {
    (void)argc, (void)argv;
    strategies_print(stdout);
    return 0;
}

/* ---- the command table ------------------------------------------------------------------------- */

/* One command: `ticketrush NAME …` calls run(argc, argv) with argv[0] = NAME; it returns the
 * exit status (0 done, 1 operational failure, 2 bad options; load and chaos-table: 3 an
 * anomaly). */
typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for `ticketrush --help` */
} command;

static const command commands[] = {
    {"serve", cmd_serve, "run the ticket-sale HTTP service with one purchase strategy"},
    {"db", lab_cli_db, "create the schema, seed a scenario's data, open a sale in Redis"},
    {"load", lab_cli_load,
     "drive a scenario's load against a server, audit R1-R8, write the run JSON"},
    {"table", lab_cli_table, "print the comparison table of run JSON files"},
    {"ceiling", lab_cli_ceiling, "measure the load generator's own ceiling against GET /livez"},
    {"script-ceiling", lab_cli_script_ceiling,
     "measure the redis-atomic purchase script alone against Redis"},
    {"store-ceiling", lab_cli_store_ceiling,
     "measure redis-atomic's write-behind alone: a persister storing a stream of tickets"},
    {"report", lab_cli_report,
     "write the HTML report (charts, audit, study comparison) of run files"},
    {"jtl-audit", lab_cli_jtl_audit,
     "audit a JMeter run from its .jtl results, write the run JSON"},
    {"fault-proxy", lab_cli_fault_proxy,
     "a TCP proxy that injects delay, stalls and cuts (make chaos)"},
    {"chaos-table", lab_cli_chaos_table, "the fault suite's table of run files (make chaos)"},
    {"strategies", cmd_strategies, "list the purchase strategies"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: ticketrush COMMAND [options]   (COMMAND --help for its options)\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "Start private PostgreSQL and Redis with scripts/services.sh start, then\n"
               "`source .svc/env` to set TICKETRUSH_PG and TICKETRUSH_REDIS.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ticketrush: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
