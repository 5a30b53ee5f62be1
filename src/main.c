/* main.c — the ticketrush command line: serve, db, load, table, ceiling, strategies.
 * The only place (with the lab's CLI) that decides what a person sees and how the process exits. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http/server.h"
#include "lab/lab_cli.h"
#include "lab/scenario.h"
#include "lab/script_ceiling.h"
#include "store/redis.h"
#include "store/schema.h"
#include "store/sale.h"
#include "strategy/strategy.h"

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && v[0] ? v : fallback;
}

/* Parses a decimal integer option in [lo, hi]; prints an error and returns false otherwise. */
static bool parse_int_opt(const char *opt, const char *s, long long lo, long long hi,
                          long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "ticketrush: invalid value \"%s\" for %s: expected an integer in %lld..%lld\n",
                s, opt, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

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

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush serve [options]\n"
            "\n"
            "Serves the ticket-sale API (POST /concert/purchase/ticket, GET /concerts/{id},\n"
            "GET /concerts/{id}/tickets/{customerId}, GET /livez, GET /readyz) until SIGTERM/SIGINT.\n"
            "\n"
            "options (environment variable in brackets):\n"
            "  -s, --strategy NAME     purchase strategy (default db-atomic) [TICKETRUSH_STRATEGY]\n"
            "  -p, --port N            TCP port, 0 = any free one (default 8080) [TICKETRUSH_PORT]\n"
            "      --bind ADDR         IPv4 address to listen on (default 127.0.0.1) [TICKETRUSH_BIND]\n"
            "      --pg CONNINFO       libpq connection string [TICKETRUSH_PG]\n"
            "      --redis HOST:PORT   Redis address [TICKETRUSH_REDIS]\n"
            "  -w, --workers N         request workers, each with its own PostgreSQL and Redis\n"
            "                          connection, 1..1024 (default 32) [TICKETRUSH_WORKERS]\n"
            "      --io-threads N      event loops serving HTTP, 1..64 (default 2)\n"
            "      --max-connections N concurrent HTTP connections (default 10000)\n"
            "      --idle-timeout S    keep-alive idle timeout in seconds: how long a connection\n"
            "                          may sit between requests (default 120)\n"
            "      --header-timeout S  a request's header block must arrive within S seconds,\n"
            "                          counted from accept or from the first byte after the\n"
            "                          previous request; slower clients are disconnected\n"
            "                          (default 15)\n"
            "      --body-timeout S    a request's body must arrive within S seconds of its\n"
            "                          header block; slower clients are disconnected (default 15)\n"
            "      --lock-wait MS      redis-lock: time to wait for the lock (default 2000)\n"
            "      --lock-lease MS     redis-lock: lease of a held lock (default 3000)\n"
            "      --durability MODE   redis-atomic: fast (answer after Redis; loss window = Redis\n"
            "                          AOF fsync, 1 s with everysec) or strict (answer after the\n"
            "                          PostgreSQL commit, group commit) (default fast)\n"
            "      --persist-batch N   redis-atomic: stream entries per PostgreSQL transaction,\n"
            "                          1..10000 (default 1000)\n"
            "      --reclaim-idle MS   redis-atomic: reclaim pending entries of a dead persister\n"
            "                          after MS idle (default 10000; checked every second)\n"
            "      --user NAME         the user to serve as when started as root, set before any\n"
            "                          thread starts; root itself is refused (default nobody)\n"
            "                          [TICKETRUSH_USER]\n"
            "      --test-stall-ms MS  TEST ONLY: a redis-lock holder serving --test-stall-customer\n"
            "      --test-stall-customer ID  sleeps MS after acquiring (proves fencing)\n"
            "      --test-persist-delay MS  TEST ONLY: the persister waits MS before each commit\n"
            "  -h, --help              this help\n"
            "\n"
            "strategies:\n");
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

static int cmd_serve(int argc, char **argv) {
    enum { O_BIND = 256, O_PG, O_REDIS, O_IO, O_MAXCONN, O_IDLE, O_WAIT, O_LEASE, O_STALL, O_STALLC,
           O_DUR, O_BATCH, O_RECLAIM, O_PDELAY, O_USER, O_HEADER_TO, O_BODY_TO };
    static const struct option opts[] = {
        {"strategy", required_argument, NULL, 's'}, {"port", required_argument, NULL, 'p'},
        {"bind", required_argument, NULL, O_BIND},  {"pg", required_argument, NULL, O_PG},
        {"redis", required_argument, NULL, O_REDIS}, {"workers", required_argument, NULL, 'w'},
        {"io-threads", required_argument, NULL, O_IO},
        {"max-connections", required_argument, NULL, O_MAXCONN},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"header-timeout", required_argument, NULL, O_HEADER_TO},
        {"body-timeout", required_argument, NULL, O_BODY_TO},
        {"lock-wait", required_argument, NULL, O_WAIT}, {"lock-lease", required_argument, NULL, O_LEASE},
        {"test-stall-ms", required_argument, NULL, O_STALL},
        {"test-stall-customer", required_argument, NULL, O_STALLC},
        {"durability", required_argument, NULL, O_DUR}, {"persist-batch", required_argument, NULL, O_BATCH},
        {"reclaim-idle", required_argument, NULL, O_RECLAIM},
        {"test-persist-delay", required_argument, NULL, O_PDELAY},
        {"user", required_argument, NULL, O_USER},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *strategy_name = env_or("TICKETRUSH_STRATEGY", "db-atomic");
    const char *user = env_or("TICKETRUSH_USER", NULL);
    bool user_given = user != NULL;
    if (user == NULL) user = "nobody";
    long long v;
    bool durability_set = false;
    server_config cfg = {
        .bind_addr = env_or("TICKETRUSH_BIND", "127.0.0.1"),
        .port = 8080,
        .workers = 32,
        .io_threads = 2,
        .max_connections = 10000,
        .idle_timeout_s = 120,
        .header_timeout_s = SERVER_HEADER_TIMEOUT_S,
        .body_timeout_s = SERVER_BODY_TIMEOUT_S,
        .pg_conninfo = env_or("TICKETRUSH_PG", NULL),
        .redis_addr = env_or("TICKETRUSH_REDIS", NULL),
        .strategy_cfg = STRATEGY_CONFIG_DEFAULT,
        .log = log_stderr,
    };
    const char *env_port = env_or("TICKETRUSH_PORT", NULL), *env_workers = env_or("TICKETRUSH_WORKERS", NULL);
    if (env_port) {
        if (!parse_int_opt("TICKETRUSH_PORT", env_port, 0, 65535, &v)) return 2;
        cfg.port = (int)v;
    }
    if (env_workers) {
        if (!parse_int_opt("TICKETRUSH_WORKERS", env_workers, 1, 1024, &v)) return 2;
        cfg.workers = (int)v;
    }
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:p:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': strategy_name = optarg; break;
        case 'p': if (!parse_int_opt("--port", optarg, 0, 65535, &v)) return 2; cfg.port = (int)v; break;
        case 'w': if (!parse_int_opt("--workers", optarg, 1, 1024, &v)) return 2; cfg.workers = (int)v; break;
        case O_BIND: cfg.bind_addr = optarg; break;
        case O_PG: cfg.pg_conninfo = optarg; break;
        case O_REDIS: cfg.redis_addr = optarg; break;
        case O_IO: if (!parse_int_opt("--io-threads", optarg, 1, 64, &v)) return 2; cfg.io_threads = (int)v; break;
        case O_MAXCONN: if (!parse_int_opt("--max-connections", optarg, 1, 1000000, &v)) return 2; cfg.max_connections = (int)v; break;
        case O_IDLE: if (!parse_int_opt("--idle-timeout", optarg, 1, 86400, &v)) return 2; cfg.idle_timeout_s = (int)v; break;
        case O_HEADER_TO: if (!parse_int_opt("--header-timeout", optarg, 1, 86400, &v)) return 2; cfg.header_timeout_s = (int)v; break;
        case O_BODY_TO: if (!parse_int_opt("--body-timeout", optarg, 1, 86400, &v)) return 2; cfg.body_timeout_s = (int)v; break;
        case O_WAIT: if (!parse_int_opt("--lock-wait", optarg, 0, 60000, &v)) return 2; cfg.strategy_cfg.lock_wait_ms = (int)v; break;
        case O_LEASE: if (!parse_int_opt("--lock-lease", optarg, 1, 600000, &v)) return 2; cfg.strategy_cfg.lock_lease_ms = (int)v; break;
        case O_STALL: if (!parse_int_opt("--test-stall-ms", optarg, 0, 600000, &v)) return 2; cfg.strategy_cfg.test_stall_ms = (int)v; break;
        case O_STALLC: if (!parse_int_opt("--test-stall-customer", optarg, 1, LLONG_MAX, &v)) return 2; cfg.strategy_cfg.test_stall_customer_id = v; break;
        case O_DUR:
            durability_set = true;
            if (strcmp(optarg, "fast") == 0) cfg.strategy_cfg.durability = DURABILITY_FAST;
            else if (strcmp(optarg, "strict") == 0) cfg.strategy_cfg.durability = DURABILITY_STRICT;
            else {
                fprintf(stderr, "ticketrush: invalid value \"%s\" for --durability: expected fast or strict\n", optarg);
                return 2;
            }
            break;
        case O_BATCH: if (!parse_int_opt("--persist-batch", optarg, 1, 10000, &v)) return 2; cfg.strategy_cfg.persist_batch = (int)v; break;
        case O_RECLAIM: if (!parse_int_opt("--reclaim-idle", optarg, 1, 3600000, &v)) return 2; cfg.strategy_cfg.reclaim_idle_ms = (int)v; break;
        case O_PDELAY: if (!parse_int_opt("--test-persist-delay", optarg, 0, 3600000, &v)) return 2; cfg.strategy_cfg.test_persist_delay_ms = (int)v; break;
        case O_USER: user = optarg, user_given = true; break;
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ticketrush: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    cfg.strategy = strategy_find(strategy_name);
    if (cfg.strategy == NULL) {
        fprintf(stderr, "ticketrush: unknown strategy \"%s\"; known strategies:\n", strategy_name);
        strategies_print(stderr);
        return 2;
    }
    if (durability_set && strcmp(cfg.strategy->name, "redis-atomic") != 0) {
        fprintf(stderr, "ticketrush: --durability applies only to redis-atomic (strategy %s "
                        "has no write-behind to choose for)\n", cfg.strategy->name);
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
    fprintf(stderr, "ticketrush: serving on http://%s:%d with strategy %s%s, %d workers, purchases %s\n",
            cfg.bind_addr, server_port(srv), cfg.strategy->name,
            strcmp(cfg.strategy->name, "redis-atomic") != 0 ? ""
            : cfg.strategy_cfg.durability == DURABILITY_STRICT ? " (durability strict)"
                                                              : " (durability fast)",
            cfg.workers,
            strategy_is_one_script(cfg.strategy) ? "as script calls on the event loops"
                                                 : "on the worker pool");
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "ticketrush: %s received, draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(srv, 5000);
    fprintf(stderr, "ticketrush: stopped\n");
    return 0;
}

/* ---- db ---------------------------------------------------------------------------------------- */

static void db_usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush db schema [--unguarded] [--pg CONNINFO]\n"
            "       ticketrush db seed [--scenario seed|one-seat|scale] [--concert ID] [--tickets N]\n"
            "                          [--vip V] [--customers C] [--sales-open S] [--pg CONNINFO]\n"
            "                          [--redis HOST:PORT]\n"
            "       ticketrush db open-sale [--concert ID] [--pg CONNINFO] [--redis HOST:PORT]\n"
            "\n"
            "schema  drops and recreates the tables; guarded (UNIQUE and CHECK guards) unless\n"
            "        --unguarded, which exists only to show what the unsafe strategies do\n"
            "seed    replaces one concert (default id 1) and adds customers 1..C; sales stay open\n"
            "        for S seconds (default 3600). Scenario defaults (SPEC §4):\n"
            "          seed      1000 tickets, 10 VIP, 10000 customers\n"
            "          one-seat  1 ticket, 1 VIP, 50 customers\n"
            "          scale     100000 tickets, 100 VIP, 1000000 customers\n"
            "        With Redis configured it also deletes the concert's Redis keys ({concert:ID}:*).\n"
            "open-sale  loads the concert, its tickets and every customer into Redis for the\n"
            "        Redis strategies (redis-zset, redis-atomic), as their first purchase would;\n"
            "        run it before the rush so the first buyers do not wait for it\n"
            "\n"
            "PostgreSQL comes from --pg or TICKETRUSH_PG, Redis from --redis or TICKETRUSH_REDIS.\n");
}

/* Deletes the Redis state of one concert's sale (concert_id > 0) or of every sale (0): its keys
 * {concert:ID}:* and its entry in the set of open sales, so a reseeded database never meets a
 * stale sale in Redis. */
static tr_err db_clear_redis(const char *addr, int64_t concert_id, char *err, size_t errlen) {
    redis_conn *r = NULL;
    tr_err rc = redis_conn_open(addr, 2000, &r, err, errlen);
    if (rc != TR_OK) return rc;
    char pattern[64], id[24];
    if (concert_id > 0) snprintf(pattern, sizeof pattern, "{concert:%lld}:*", (long long)concert_id);
    else snprintf(pattern, sizeof pattern, "{concert:*");
    snprintf(id, sizeof id, "%lld", (long long)concert_id);
    redisReply *rep = redis_cmd(r, "EVAL %s 1 %s %s %s",
                                "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                                "redis.call('DEL', k) n = n + 1 end "
                                "if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) "
                                "else redis.call('SREM', KEYS[1], ARGV[2]) end return n",
                                SALE_OPEN_SET, pattern, id);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "could not clear Redis keys %s: %s", pattern,
                 rep ? rep->str : redis_conn_errstr(r));
        rc = TR_REDIS;
    }
    if (rep) freeReplyObject(rep);
    redis_conn_free(r);
    return rc;
}

static int cmd_db(int argc, char **argv) {
    enum { O_UNG = 256, O_PG, O_REDIS, O_SCEN, O_CONCERT, O_TICKETS, O_VIP, O_CUST, O_OPEN };
    static const struct option opts[] = {
        {"unguarded", no_argument, NULL, O_UNG}, {"pg", required_argument, NULL, O_PG},
        {"redis", required_argument, NULL, O_REDIS}, {"scenario", required_argument, NULL, O_SCEN},
        {"concert", required_argument, NULL, O_CONCERT}, {"tickets", required_argument, NULL, O_TICKETS},
        {"vip", required_argument, NULL, O_VIP}, {"customers", required_argument, NULL, O_CUST},
        {"sales-open", required_argument, NULL, O_OPEN}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        db_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "schema") != 0 && strcmp(sub, "seed") != 0 && strcmp(sub, "open-sale") != 0) {
        fprintf(stderr, "ticketrush: unknown db command \"%s\"\n", sub);
        db_usage(stderr);
        return 2;
    }
    bool guarded = true;
    const char *pg = env_or("TICKETRUSH_PG", NULL), *redis = env_or("TICKETRUSH_REDIS", NULL);
    const char *scenario = "seed";
    long long tickets = -1, vip = -1, customers = -1, concert_id = 1, open_s = 3600, v;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_UNG: guarded = false; break;
        case O_PG: pg = optarg; break;
        case O_REDIS: redis = optarg; break;
        case O_SCEN: scenario = optarg; break;
        case O_CONCERT: if (!parse_int_opt("--concert", optarg, 1, LLONG_MAX, &concert_id)) return 2; break;
        case O_TICKETS: if (!parse_int_opt("--tickets", optarg, 0, INT_MAX, &tickets)) return 2; break;
        case O_VIP: if (!parse_int_opt("--vip", optarg, 0, INT_MAX, &vip)) return 2; break;
        case O_CUST: if (!parse_int_opt("--customers", optarg, 0, 100000000, &customers)) return 2; break;
        case O_OPEN: if (!parse_int_opt("--sales-open", optarg, -31536000, 315360000, &v)) return 2; open_s = v; break;
        case 'h': db_usage(stdout); return 0;
        default: db_usage(stderr); return 2;
        }
    }
    if (pg == NULL) {
        fprintf(stderr, "ticketrush: no PostgreSQL connection: set --pg or TICKETRUSH_PG\n");
        return 2;
    }
    pg_conn *conn = NULL;
    char err[512];
    if (pg_conn_open(pg, &conn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush: %s\n", err);
        return 1;
    }
    int status = 0;
    if (strcmp(sub, "schema") == 0) {
        if (schema_create(conn, guarded) != TR_OK) {
            fprintf(stderr, "ticketrush: could not create the schema: %s\n", pg_conn_errstr(conn));
            status = 1;
        } else {
            printf("schema created (%s)\n", guarded ? "guarded" : "unguarded");
            if (redis && db_clear_redis(redis, 0, err, sizeof err) != TR_OK) {
                fprintf(stderr, "ticketrush: %s\n", err);
                status = 1;
            } else if (redis == NULL) {
                fprintf(stderr, "ticketrush: warning: Redis is not configured (--redis or "
                                "TICKETRUSH_REDIS), so sales cached there were not cleared\n");
            }
        }
        goto out;
    }
    if (strcmp(sub, "open-sale") == 0) {
        redis_conn *r = NULL;
        if (redis == NULL) {
            fprintf(stderr, "ticketrush: open-sale needs Redis: set --redis or TICKETRUSH_REDIS\n");
            status = 2;
            goto out;
        }
        tr_err rc = redis_conn_open(redis, 60000, &r, err, sizeof err);
        sale_sync_report rep = {0};
        if (rc == TR_OK) rc = sale_open(conn, r, concert_id, &rep, err, sizeof err);
        redis_conn_free(r);
        if (rc == TR_CONCERT_NOT_FOUND) snprintf(err, sizeof err, "no concert has id %lld", concert_id);
        if (rc != TR_OK) {
            fprintf(stderr, "ticketrush: could not open the sale: %s\n", err);
            status = 1;
        } else {
            printf("sale of concert %lld open in Redis", concert_id);
            if (rep.loaded) printf(" (loaded from PostgreSQL)");
            if (rep.brought_forward)
                printf(" (brought forward to PostgreSQL: %lld owners added, %lld corrected, %lld "
                       "restored from the stream, %lld contradicted removed, %lld renumbered in "
                       "line, %lld customers reloaded; seat counter %lld -> %lld, %lld held by no "
                       "one)",
                       (long long)rep.added, (long long)rep.corrected, (long long)rep.restored,
                       (long long)rep.contradicted, (long long)rep.renumbered,
                       (long long)rep.customers_reloaded, (long long)rep.sold_before,
                       (long long)rep.sold_after, (long long)rep.unheld);
            printf("\n");
        }
        goto out;
    }
    seed_params p = {.concert_id = concert_id, .sales_open_s = open_s};
    if (strcmp(scenario, "seed") == 0) {
        p.total_seats = 1000, p.vip_seats = 10, p.customers = 10000;
    } else if (strcmp(scenario, "one-seat") == 0) {
        p.total_seats = 1, p.vip_seats = 1, p.customers = 50;
    } else if (strcmp(scenario, "scale") == 0) {
        p.total_seats = 100000, p.vip_seats = 100, p.customers = 1000000;
    } else {
        fprintf(stderr, "ticketrush: unknown scenario \"%s\" (seed, one-seat, scale)\n", scenario);
        status = 2;
        goto out;
    }
    if (tickets >= 0) p.total_seats = (int32_t)tickets;
    if (vip >= 0) p.vip_seats = (int32_t)vip;
    if (customers >= 0) p.customers = customers;
    if (p.vip_seats > p.total_seats) {
        fprintf(stderr, "ticketrush: %d VIP seats (%s) exceed %d seats; lower --vip\n",
                p.vip_seats, vip >= 0 ? "--vip" : "the scenario's default", p.total_seats);
        status = 2;
        goto out;
    }
    tr_err rc = schema_seed(conn, &p);
    if (rc != TR_OK) {
        fprintf(stderr, "ticketrush: could not seed: %s\n",
                rc == TR_PG ? pg_conn_errstr(conn) : tr_strerror(rc));
        status = 1;
        goto out;
    }
    if (redis && db_clear_redis(redis, concert_id, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush: %s\n", err);
        status = 1;
        goto out;
    }
    if (redis == NULL)
        fprintf(stderr, "ticketrush: warning: Redis is not configured (--redis or TICKETRUSH_REDIS), "
                        "so this concert's sale cached there was not cleared\n");
    printf("seeded concert %lld: %d seats, %d VIP, customers 1..%lld, sales open %lld s\n",
           concert_id, p.total_seats, p.vip_seats, (long long)p.customers, open_s);
out:
    pg_conn_free(conn);
    return status;
}

/* ---- script-ceiling ------------------------------------------------------------------------------ */

static void script_ceiling_usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush script-ceiling [--scenario seed|scale|one-seat] [--concert ID]\n"
            "                                 [--requests R] [--customers C] [--seed S]\n"
            "                                 [--connections N] [--in-flight K] [--pg CONNINFO]\n"
            "                                 [--redis HOST:PORT]\n"
            "\n"
            "Measures S, the redis-atomic purchase script alone against Redis: no HTTP, the same\n"
            "script and keys the server uses, the scenario's customer draw, N connections (one\n"
            "thread each, default 2) with K calls in flight on each (default 128; N x K is the\n"
            "concurrency). The concert (default 2) must be seeded; its seats get sold, so use one\n"
            "the server is not selling. Prints calls/s over the whole run, and tickets/s while\n"
            "seats remained (until the last ticket answer).\n");
}

static int cmd_script_ceiling(int argc, char **argv) {
    enum { O_SCEN = 256, O_CONCERT, O_REQ, O_CUST, O_SEED, O_CONN, O_INF, O_PG, O_REDIS };
    static const struct option opts[] = {
        {"scenario", required_argument, NULL, O_SCEN}, {"concert", required_argument, NULL, O_CONCERT},
        {"requests", required_argument, NULL, O_REQ}, {"customers", required_argument, NULL, O_CUST},
        {"seed", required_argument, NULL, O_SEED}, {"connections", required_argument, NULL, O_CONN},
        {"in-flight", required_argument, NULL, O_INF}, {"pg", required_argument, NULL, O_PG},
        {"redis", required_argument, NULL, O_REDIS}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *scen_name = "scale", *pg = env_or("TICKETRUSH_PG", NULL),
               *redis = env_or("TICKETRUSH_REDIS", NULL);
    long long concert_id = 2, requests = -1, customers = -1, seed = 1, conns = 2, inflight = 128;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_SCEN: scen_name = optarg; break;
        case O_CONCERT: if (!parse_int_opt("--concert", optarg, 1, LLONG_MAX, &concert_id)) return 2; break;
        case O_REQ: if (!parse_int_opt("--requests", optarg, 1, 100000000, &requests)) return 2; break;
        case O_CUST: if (!parse_int_opt("--customers", optarg, 1, 100000000, &customers)) return 2; break;
        case O_SEED: if (!parse_int_opt("--seed", optarg, 0, LLONG_MAX, &seed)) return 2; break;
        case O_CONN: if (!parse_int_opt("--connections", optarg, 1, 64, &conns)) return 2; break;
        case O_INF: if (!parse_int_opt("--in-flight", optarg, 1, 4096, &inflight)) return 2; break;
        case O_PG: pg = optarg; break;
        case O_REDIS: redis = optarg; break;
        case 'h': script_ceiling_usage(stdout); return 0;
        default: script_ceiling_usage(stderr); return 2;
        }
    }
    const scenario *sc = scenario_find(scen_name);
    if (sc == NULL) {
        fprintf(stderr, "ticketrush: unknown scenario \"%s\" (%s)\n", scen_name, scenario_names());
        return 2;
    }
    if (pg == NULL || redis == NULL) {
        fprintf(stderr, "ticketrush: script-ceiling needs PostgreSQL and Redis: set --pg/--redis or "
                        "TICKETRUSH_PG/TICKETRUSH_REDIS\n");
        return 2;
    }
    if (requests < 0) requests = sc->requests;
    if (customers < 0) customers = sc->customers;
    lab_record *recs = calloc((size_t)requests, sizeof *recs);
    if (recs == NULL || !scenario_draw_customers(recs, (size_t)requests, customers, (uint64_t)seed,
                                                 sc->draw)) {
        fprintf(stderr, "ticketrush: could not draw %lld customers\n", requests);
        free(recs);
        return 1;
    }
    pg_conn *conn = NULL;
    char err[512];
    int status = 1;
    if (pg_conn_open(pg, &conn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush: %s\n", err);
        goto out;
    }
    script_ceiling_config cfg = {.redis_addr = redis, .concert_id = concert_id,
                                 .connections = (int)conns, .in_flight = (int)inflight,
                                 .customers = recs, .requests = (size_t)requests};
    script_ceiling_result res;
    tr_err rc = script_ceiling_run(conn, &cfg, &res, err, sizeof err);
    if (rc != TR_OK) {
        fprintf(stderr, "ticketrush: script ceiling failed: %s\n", err[0] ? err : tr_strerror(rc));
        goto out;
    }
    printf("script-ceiling: redis-atomic purchase script alone, %lld calls, %lld connections x %lld "
           "in flight\n", requests, conns, inflight);
    printf("answered %lld in %.3f s: %.0f calls/s, %.0f calls/min (tickets %lld, refusals %lld)\n",
           (long long)(res.issued + res.refused), (double)res.duration_us / 1e6, res.per_s,
           res.per_s * 60, (long long)res.issued, (long long)res.refused);
    if (res.issued > 0)
        printf("while seats remained: %lld tickets in %.3f s: %.0f tickets/s (calls that sell a "
               "seat also write)\n",
               (long long)res.issued, (double)res.sale_us / 1e6, res.sale_per_s);
    status = 0;
out:
    pg_conn_free(conn);
    free(recs);
    return status;
}

/* ---- top level ------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: ticketrush COMMAND [options]   (COMMAND --help for its options)\n"
            "\n"
            "commands:\n"
            "  serve       run the ticket-sale HTTP service with one purchase strategy\n"
            "  db          create the schema (db schema) or seed a scenario's data (db seed)\n"
            "  load        drive a scenario's load against a server, audit R1-R8, write the run JSON\n"
            "  table       print the comparison table of run JSON files\n"
            "  ceiling     measure the load generator's own ceiling against GET /livez\n"
            "  script-ceiling  measure the redis-atomic purchase script alone against Redis\n"
            "  report      write the HTML report (charts, audit, study comparison) of run files\n"
            "  jtl-audit   audit a JMeter run from its .jtl results, write the run JSON\n"
            "  fault-proxy a TCP proxy that injects delay, stalls and cuts (make chaos)\n"
            "  chaos-table the fault suite's table of run files (make chaos)\n"
            "  strategies  list the purchase strategies\n"
            "\n"
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
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "db") == 0) return cmd_db(argc - 1, argv + 1);
    if (strcmp(cmd, "load") == 0) return lab_cli_load(argc - 1, argv + 1);
    if (strcmp(cmd, "table") == 0) return lab_cli_table(argc - 1, argv + 1);
    if (strcmp(cmd, "ceiling") == 0) return lab_cli_ceiling(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0) return lab_cli_report(argc - 1, argv + 1);
    if (strcmp(cmd, "jtl-audit") == 0) return lab_cli_jtl_audit(argc - 1, argv + 1);
    if (strcmp(cmd, "fault-proxy") == 0) return lab_cli_fault_proxy(argc - 1, argv + 1);
    if (strcmp(cmd, "chaos-table") == 0) return lab_cli_chaos_table(argc - 1, argv + 1);
    if (strcmp(cmd, "script-ceiling") == 0) return cmd_script_ceiling(argc - 1, argv + 1);
    if (strcmp(cmd, "strategies") == 0) {
        strategies_print(stdout);
        return 0;
    }
    fprintf(stderr, "ticketrush: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
