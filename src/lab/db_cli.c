/* db_cli.c — `ticketrush db schema | seed | open-sale` behind lab_cli.h: options, messages for
 * people and exit codes. The work is done by store/schema.c (tables, seeding) and store/sale.c
 * (a sale's Redis state); a scenario's numbers come from lab/scenario.c. */
#include "lab/lab_cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/options.h"
#include "lab/scenario.h"
#include "store/cluster.h"
#include "store/pg.h"
#include "store/redis.h"
#include "store/sale.h"
#include "store/schema.h"

static void db_usage(FILE *f, const tr_opt *opts) {
    fprintf(f,
            "usage: ticketrush db schema [--unguarded] [--pg CONNINFO] [--redis ADDRS]\n"
            "       ticketrush db seed [--scenario NAME] [--concert ID] [--concerts K]\n"
            "                          [--tickets N] [--vip V] [--customers C] [--sales-open S]\n"
            "                          [--pg CONNINFO] [--redis ADDRS]\n"
            "       ticketrush db open-sale [--concert ID] [--concerts K] [--pg CONNINFO]\n"
            "                          [--redis ADDRS]\n"
            "\n"
            "schema  drops and recreates the tables; guarded (UNIQUE and CHECK guards) unless\n"
            "        --unguarded, which exists only to show what the unsafe strategies do\n"
            "seed    replaces one concert (default id 1), or a festival's K concerts ID..ID+K-1\n"
            "        (each with N seats, V VIP), and adds customers 1..C; sales stay open for S\n"
            "        seconds (default 3600). Scenario defaults (SPEC §4):\n");
    for (size_t i = 0; scenario_at(i); i++) {
        const scenario *s = scenario_at(i);
        if (s->concerts > 1)
            fprintf(f,
                    "          %-9s %" PRId32 " concerts of %" PRId32 " tickets, %" PRId32
                    " VIP each, %" PRId64 " customers\n",
                    s->name, s->concerts, s->tickets, s->vip, s->customers);
        else
            fprintf(f,
                    "          %-9s %" PRId32 " ticket%s, %" PRId32 " VIP, %" PRId64 " customers\n",
                    s->name, s->tickets, s->tickets == 1 ? "" : "s", s->vip, s->customers);
    }
    fprintf(
        f,
        "        With Redis configured it also deletes the concert's Redis keys ({concert:ID}:*).\n"
        "open-sale  loads the concert (ID..ID+K-1 with --concerts K), its tickets and every\n"
        "        customer into Redis for the\n"
        "        Redis strategies (redis-zset, redis-atomic), as their first purchase would;\n"
        "        run it before the rush so the first buyers do not wait for it\n"
        "\n"
        "options (environment variable in brackets):\n");
    tr_opts_help(f, opts);
}

/* Clears the Redis state of one concert's sale (0: of every sale) at addr. */
static tr_err db_clear_redis(const char *addr, int64_t concert_id, char *err, size_t errlen) {
    redis_conn *r = NULL;
    tr_err rc = redis_conn_open(addr, 30000, &r, err, errlen); /* a busy Redis: wait */
    if (rc == TR_OK) rc = sale_clear(r, concert_id, err, errlen);
    redis_conn_free(r);
    return rc;
}

static int db_schema(pg_conn *conn, bool guarded, const char *redis) {
    char err[512];
    if (schema_create(conn, guarded) != TR_OK) {
        fprintf(stderr, "ticketrush: could not create the schema: %s\n", pg_conn_errstr(conn));
        return 1;
    }
    printf("schema created (%s)\n", guarded ? "guarded" : "unguarded");
    if (redis == NULL) {
        fprintf(stderr, "ticketrush: warning: Redis is not configured (--redis or "
                        "TICKETRUSH_REDIS), so sales cached there were not cleared\n");
        return 0;
    }
    if (db_clear_redis(redis, 0, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush: %s\n", err);
        return 1;
    }
    return 0;
}

static int db_open_sale(pg_conn *conn, const char *redis, int64_t concert_id);

/* open-sale of the concerts first..first+k-1, one after the other; stops at the first failure. */
static int db_open_sales(pg_conn *conn, const char *redis, int64_t first, int64_t k) {
    if (first > INT64_MAX - k) {
        fprintf(stderr, "ticketrush: concert ids from %" PRId64 " do not fit\n", first);
        return 2;
    }
    for (int64_t i = 0; i < k; i++) {
        int rc = db_open_sale(conn, redis, first + i);
        if (rc != 0) return rc;
    }
    return 0;
}

static int db_open_sale(pg_conn *conn, const char *redis, int64_t concert_id) {
    char err[512];
    if (redis == NULL) {
        fprintf(stderr, "ticketrush: open-sale needs Redis: set --redis or TICKETRUSH_REDIS\n");
        return 2;
    }
    redis_conn *r = NULL;
    tr_err rc = redis_conn_open(redis, 60000, &r, err, sizeof err);
    sale_sync_report rep = {0};
    if (rc == TR_OK) rc = sale_open(conn, r, concert_id, &rep, err, sizeof err);
    redis_conn_free(r);
    if (rc == TR_CONCERT_NOT_FOUND)
        snprintf(err, sizeof err, "no concert has id %" PRId64, concert_id);
    if (rc != TR_OK) {
        fprintf(stderr, "ticketrush: could not open the sale: %s\n", err);
        return 1;
    }
    printf("sale of concert %" PRId64 " open in Redis", concert_id);
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
    return 0;
}

/* The scenario's seats, VIP seats, customers and concerts unless given (-1: not given). */
static int db_seed(pg_conn *conn, const char *redis, const char *scenario_name, seed_params *p,
                   int64_t tickets, int64_t vip, int64_t customers, int64_t concerts) {
    char err[512];
    const scenario *sc = scenario_find(scenario_name);
    if (sc == NULL) {
        fprintf(stderr, "ticketrush: unknown scenario \"%s\" (%s)\n", scenario_name,
                scenario_names());
        return 2;
    }
    p->total_seats = tickets >= 0 ? (int32_t)tickets : sc->tickets;
    p->vip_seats = vip >= 0 ? (int32_t)vip : sc->vip;
    p->customers = customers >= 0 ? customers : sc->customers;
    if (p->vip_seats > p->total_seats) {
        fprintf(stderr,
                "ticketrush: %" PRId32 " VIP seats (%s) exceed %" PRId32 " seats; lower "
                "--vip\n",
                p->vip_seats, vip >= 0 ? "--vip" : "the scenario's default", p->total_seats);
        return 2;
    }
    if (concerts < 0) concerts = sc->concerts;
    if (p->concert_id > INT64_MAX - concerts) {
        fprintf(stderr, "ticketrush: concert ids from %" PRId64 " do not fit\n", p->concert_id);
        return 2;
    }
    int64_t first = p->concert_id, all_customers = p->customers;
    /* One concert after the other, each in its own transaction (schema_seed); the customers
     * come with the first. */
    for (int64_t k = 0; k < concerts; k++) {
        p->concert_id = first + k;
        p->customers = k == 0 ? all_customers : 0;
        tr_err rc = schema_seed(conn, p);
        if (rc != TR_OK) {
            fprintf(stderr, "ticketrush: could not seed concert %" PRId64 ": %s\n", p->concert_id,
                    rc == TR_PG ? pg_conn_errstr(conn) : tr_strerror(rc));
            return 1;
        }
        if (redis && db_clear_redis(redis, p->concert_id, err, sizeof err) != TR_OK) {
            fprintf(stderr, "ticketrush: %s\n", err);
            return 1;
        }
    }
    p->concert_id = first;
    p->customers = all_customers;
    if (redis == NULL)
        fprintf(stderr,
                "ticketrush: warning: Redis is not configured (--redis or TICKETRUSH_REDIS), "
                "so the sale cached there was not cleared\n");
    if (concerts > 1)
        printf("seeded concerts %" PRId64 "..%" PRId64 ": %" PRId32 " seats, %" PRId32
               " VIP each, customers 1..%" PRId64 ", sales open %" PRId64 " s\n",
               first, first + concerts - 1, p->total_seats, p->vip_seats, p->customers,
               p->sales_open_s);
    else
        printf("seeded concert %" PRId64 ": %" PRId32 " seats, %" PRId32
               " VIP, customers 1..%" PRId64 ", sales open %" PRId64 " s\n",
               p->concert_id, p->total_seats, p->vip_seats, p->customers, p->sales_open_s);
    return 0;
}

int lab_cli_db(int argc, char **argv) {
    bool unguarded = false;
    const char *pg = NULL, *redis = NULL, *scenario_name = "seed";
    int64_t tickets = -1, vip = -1, customers = -1, concert_id = 1, open_s = 3600, concerts = -1;
    /* clang-format off */
    const tr_opt opts[] = {
        {.name = "unguarded", .kind = TR_OPT_FLAG, .dest = &unguarded,
         .help = "schema: without the UNIQUE and CHECK guards"},
        {.name = "pg", .kind = TR_OPT_STRING, .dest = &pg, .env = "TICKETRUSH_PG",
         .metavar = "CONNINFO", .help = "libpq connection string"},
        {.name = "redis", .kind = TR_OPT_STRING, .dest = &redis, .env = "TICKETRUSH_REDIS",
         .metavar = "ADDRS", .check = cluster_seeds_check,
         .help = "Redis HOST:PORT, or HOST:PORT,… of Redis Cluster nodes\n"
                 "(at most 16; HOST an IPv4 address or a host name, no IPv6)"},
        {.name = "scenario", .kind = TR_OPT_STRING, .dest = &scenario_name, .metavar = "NAME",
         .help = "seed: the scenario whose numbers to seed (default seed)"},
        {.name = "concert", .kind = TR_OPT_I64, .dest = &concert_id, .min = 1,
         .max = INT64_MAX, .metavar = "ID", .help = "concert id (default 1)"},
        {.name = "concerts", .kind = TR_OPT_I64, .dest = &concerts, .min = 1,
         .max = SCENARIO_MAX_CONCERTS, .metavar = "K",
         .help = "seed, open-sale: the concerts ID..ID+K-1 (default: the\n"
                 "scenario's for seed, festival 30; 1 for open-sale)"},
        {.name = "tickets", .kind = TR_OPT_I64, .dest = &tickets, .min = 0, .max = INT32_MAX,
         .metavar = "N", .help = "seed: seats (default: the scenario's)"},
        {.name = "vip", .kind = TR_OPT_I64, .dest = &vip, .min = 0, .max = INT32_MAX,
         .metavar = "V", .help = "seed: VIP seats (default: the scenario's)"},
        {.name = "customers", .kind = TR_OPT_I64, .dest = &customers, .min = 0,
         .max = 100000000, .metavar = "C", .help = "seed: customers (default: the scenario's)"},
        {.name = "sales-open", .kind = TR_OPT_I64, .dest = &open_s, .min = -31536000,
         .max = 315360000, .metavar = "S",
         .help = "seed: sales close S seconds from now (default 3600)"},
        {0},
    };
    /* clang-format on */
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        db_usage(argc < 2 ? stderr : stdout, opts);
        return argc < 2 ? LAB_EXIT_USAGE : LAB_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "schema") != 0 && strcmp(sub, "seed") != 0 && strcmp(sub, "open-sale") != 0) {
        fprintf(stderr, "ticketrush: unknown db command \"%s\" (schema, seed or open-sale)\n", sub);
        return LAB_EXIT_USAGE;
    }
    int npos = 0;
    int rc = lab_cli_options("ticketrush", "db", opts, db_usage, argc, argv, 2, &npos);
    if (rc >= 0) return rc;
    if (npos > 0) {
        fprintf(stderr, "ticketrush: unexpected argument \"%s\"\n", argv[2]);
        return LAB_EXIT_USAGE;
    }
    if (pg == NULL) {
        fprintf(stderr, "ticketrush: no PostgreSQL connection: set --pg or TICKETRUSH_PG\n");
        return LAB_EXIT_USAGE;
    }
    pg_conn *conn = NULL;
    char err[512];
    if (pg_conn_open(pg, &conn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "ticketrush: %s\n", err);
        return LAB_EXIT_FAILURE;
    }
    seed_params p = {.concert_id = concert_id, .sales_open_s = open_s};
    if (strcmp(sub, "schema") == 0) rc = db_schema(conn, !unguarded, redis);
    else if (strcmp(sub, "open-sale") == 0)
        rc = db_open_sales(conn, redis, concert_id, concerts > 0 ? concerts : 1);
    else rc = db_seed(conn, redis, scenario_name, &p, tickets, vip, customers, concerts);
    pg_conn_free(conn);
    return rc;
}
