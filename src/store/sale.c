/* sale.c — opening a sale in Redis (sale.h). */
#include "store/sale.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/cluster.h"
#include "store/queries.h"
#include "store/lock.h"

#define LOAD_CHUNK 1000 /* field/value pairs per HSET */

#ifdef TR_TEST_HOOKS
static _Atomic int test_fail_step, test_fail_times;

void sale_test_fail_bring_forward(int step, int times) {
    test_fail_times = times;
    test_fail_step = step;
}

/* true (and one fewer to go) when the bring-forward is to fail after this step */
static bool test_fail_here(int step, char *err, size_t errlen) {
    if (test_fail_step != step || test_fail_times <= 0) return false;
    test_fail_times--;
    snprintf(err, errlen, "test hook: the bring-forward failed after its step %d", step);
    return true;
}
#define TEST_FAIL_AFTER(step) test_fail_here((step), err, errlen)
#else
#define TEST_FAIL_AFTER(step) false
#endif

void sale_keys_init(sale_keys *k, int64_t id) {
    snprintf(k->meta, sizeof k->meta, "{concert:%" PRId64 "}:meta", id);
    snprintf(k->customers, sizeof k->customers, "{concert:%" PRId64 "}:customers", id);
    snprintf(k->owners, sizeof k->owners, "{concert:%" PRId64 "}:owners", id);
    snprintf(k->sold, sizeof k->sold, "{concert:%" PRId64 "}:sold", id);
    snprintf(k->stream, sizeof k->stream, "{concert:%" PRId64 "}:tickets", id);
    snprintf(k->line, sizeof k->line, "{concert:%" PRId64 "}:line", id);
    snprintf(k->outcomes, sizeof k->outcomes, "{concert:%" PRId64 "}:outcomes", id);
    snprintf(k->admitted, sizeof k->admitted, "{concert:%" PRId64 "}:admitted", id);
    snprintf(k->issuer, sizeof k->issuer, "{concert:%" PRId64 "}:issuer", id);
    snprintf(k->issuer_fence, sizeof k->issuer_fence, "{concert:%" PRId64 "}:issuer-fence", id);
    snprintf(k->loading, sizeof k->loading, "{concert:%" PRId64 "}:loading", id);
    snprintf(k->loading_fence, sizeof k->loading_fence, "{concert:%" PRId64 "}:loading-fence", id);
}

/* Reserves total_seats ticket ids from ticket_id_seq once per concert; returns the base. */
static const pg_stmt reserve_stmt = {
    "sale_reserve_ids",
    "UPDATE concert c SET ticket_id_base ="
    " (SELECT setval('ticket_id_seq', nextval('ticket_id_seq') + c.total_seats)) - c.total_seats - 1"
    " WHERE id = $1 AND ticket_id_base IS NULL",
    1};

static const pg_stmt concert_stmt = {
    "sale_concert",
    "SELECT name, " SQL_EPOCH_US("starts_at") ", total_seats, vip_seats, ticket_id_base,"
                                              " (SELECT count(*) FROM ticket WHERE concert_id = $1)"
                                              " FROM concert WHERE id = $1",
    1};

static const pg_stmt owners_stmt = {
    "sale_owners",
    "SELECT customer_id, seat_no, " SQL_EPOCH_US("issued_at") " FROM ticket WHERE concert_id = $1",
    1};

static bool reply_ok(redisReply *rep) { return rep && rep->type != REDIS_REPLY_ERROR; }

/* HSETs key from rows (field column, value produced by fmt_row) in chunks. */
static tr_err hset_rows(redis_conn *r, const char *key, PGresult *res, bool owners, char *err,
                        size_t errlen) {
    int n = PQntuples(res);
    const char **argv = malloc(sizeof *argv * (2 + 2 * LOAD_CHUNK));
    char *vals = malloc((size_t)LOAD_CHUNK * 48);
    if (argv == NULL || vals == NULL) {
        free(argv);
        free(vals);
        return TR_NOMEM;
    }
    tr_err rc = TR_OK;
    for (int i = 0; i < n && rc == TR_OK; i += LOAD_CHUNK) {
        int argc = 0;
        argv[argc++] = "HSET";
        argv[argc++] = key;
        for (int j = i; j < n && j < i + LOAD_CHUNK; j++) {
            argv[argc++] = PQgetvalue(res, j, 0);
            if (owners) {
                char *v = vals + (size_t)(j - i) * 48;
                snprintf(v, 48, "%s:%s", PQgetvalue(res, j, 1), PQgetvalue(res, j, 2));
                argv[argc++] = v;
            } else {
                argv[argc++] = PQgetvalue(res, j, 1);
            }
        }
        redisReply *rep = redis_cmd_argv_key(r, key, argc, argv, NULL);
        if (!reply_ok(rep)) {
            snprintf(err, errlen, "could not load %s: %s", key,
                     rep ? rep->str : redis_conn_errstr(r));
            rc = TR_REDIS;
        }
        if (rep) freeReplyObject(rep);
    }
    free(argv);
    free(vals);
    return rc;
}

/* Copies every customer (id → name) with a server-side cursor, 10,000 rows at a time; *count
 * gets how many. */
static tr_err load_customers(pg_conn *pg, redis_conn *r, const char *key, int64_t *count, char *err,
                             size_t errlen) {
    tr_err rc = TR_OK;
    *count = 0;
    if (pg_exec_ok(pg, "BEGIN") != TR_OK ||
        pg_exec_ok(pg,
                   "DECLARE sale_customers NO SCROLL CURSOR FOR SELECT id, name FROM customer") !=
            TR_OK) {
        snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        return TR_PG;
    }
    for (;;) {
        PGresult *res = pg_exec(pg, "FETCH 10000 FROM sale_customers");
        if (res == NULL) {
            snprintf(err, errlen, "%s", pg_conn_errstr(pg));
            return TR_PG;
        }
        int n = PQntuples(res);
        *count += n;
        if (n > 0) rc = hset_rows(r, key, res, false, err, errlen);
        PQclear(res);
        if (n == 0 || rc != TR_OK) break;
    }
    if (pg_exec_ok(pg, "COMMIT") != TR_OK && rc == TR_OK) {
        snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        rc = TR_PG;
    }
    return rc;
}

/* The gate of the sale scripts (SALE_SCRIPT_GATE, SALE_SCRIPT_COUNTS, SALE_SCRIPT_CUSTOMERS) as
 * one check. KEYS: meta, customers, owners, sold, line; ARGV[1] REDIS_ARG_RUN_ID.
 * Answers {loaded, trusted}: 1/0 each. */
/* clang-format off */
static const redis_script check_script = {
    "sale_check",
    "local meta = redis.call('HMGET', KEYS[1], 'starts_at_us', 'synced', 'unheld', 'customers')\n"
    "if not meta[1] then return {0, 0} end\n"
    "if meta[2] ~= ARGV[1] then return {1, 0} end\n"
    "local sold = redis.call('GET', KEYS[4])\n"
    "if not sold or tonumber(sold) < 0 then return {1, 0} end\n"
    "if redis.call('HLEN', KEYS[3]) + redis.call('ZCARD', KEYS[5]) + tonumber(meta[3] or '0')\n"
    "   ~= tonumber(sold) then return {1, 0} end\n"
    "if redis.call('HLEN', KEYS[2]) < tonumber(meta[4] or '0') then return {1, 0} end\n"
    "return {1, 1}\n"};
/* clang-format on */

/* Whether the sale is in Redis (*loaded) and passes the scripts' gate on the run r reached
 * (*trusted). */
static tr_err sale_check(redis_conn *r, const sale_keys *k, bool *loaded, bool *trusted, char *err,
                         size_t errlen) {
    const char *keys[] = {k->meta, k->customers, k->owners, k->sold, k->line};
    const char *args[] = {REDIS_ARG_RUN_ID};
    redisReply *rep = redis_eval(r, &check_script, 5, keys, 1, args);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        snprintf(err, errlen, "could not check %s: %s", k->meta,
                 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(r));
        if (rep) freeReplyObject(rep);
        return TR_REDIS;
    }
    *loaded = rep->element[0]->integer == 1;
    *trusted = rep->element[1]->integer == 1;
    freeReplyObject(rep);
    return TR_OK;
}

/* KEYS[1] meta; ARGV[1] the run id the sale was brought forward on, ARGV[2] REDIS_ARG_RUN_ID.
 * Marks the sale synced only when the server is still that run: a Redis that restarted in the
 * middle of a sync may hold less than the sync wrote, and is synced again. */
/* clang-format off */
static const redis_script mark_synced_script = {
    "sale_mark_synced",
    "if ARGV[1] == '' or ARGV[1] ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'synced', ARGV[1])\n"
    "return 1\n"};
/* clang-format on */

static tr_err mark_synced(redis_conn *r, const sale_keys *k, const char *run_id, char *err,
                          size_t errlen) {
    const char *keys[] = {k->meta};
    const char *args[] = {run_id, REDIS_ARG_RUN_ID};
    redisReply *rep = redis_eval(r, &mark_synced_script, 1, keys, 2, args);
    bool ok = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    if (!ok)
        snprintf(err, errlen, "could not mark %s synced: %s", k->meta,
                 rep == NULL                      ? redis_conn_errstr(r)
                 : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                  : "Redis restarted during the sync");
    if (rep) freeReplyObject(rep);
    return ok ? TR_OK : TR_REDIS;
}

static tr_err sale_load(pg_conn *pg, redis_conn *r, const sale_keys *k, int64_t concert_id,
                        const char *run_id, char *err, size_t errlen) {
    char cid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    const char *params[] = {cid};
    PGresult *res = pg_exec_stmt(pg, &reserve_stmt, params);
    if (res == NULL) goto pg_failed;
    PQclear(res);
    if ((res = pg_exec_stmt(pg, &concert_stmt, params)) == NULL) goto pg_failed;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return TR_CONCERT_NOT_FOUND;
    }
    char name[128], starts[24], total[16], vip[16], base[24], sold[24];
    snprintf(name, sizeof name, "%s", PQgetvalue(res, 0, 0));
    snprintf(starts, sizeof starts, "%s", PQgetvalue(res, 0, 1));
    snprintf(total, sizeof total, "%s", PQgetvalue(res, 0, 2));
    snprintf(vip, sizeof vip, "%s", PQgetvalue(res, 0, 3));
    snprintf(base, sizeof base, "%s", PQgetvalue(res, 0, 4));
    snprintf(sold, sizeof sold, "%s", PQgetvalue(res, 0, 5));
    PQclear(res);

    /* A sale being rebuilt starts from what PostgreSQL holds; nothing else survives. */
    redisReply *rep =
        redis_cmd_key(r, k->customers, "DEL %s %s %s %s %s %s %s %s", k->customers, k->owners,
                      k->sold, k->stream, k->meta, k->line, k->outcomes, k->admitted);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    if ((res = pg_exec_stmt(pg, &owners_stmt, params)) == NULL) goto pg_failed;
    tr_err rc = hset_rows(r, k->owners, res, true, err, errlen);
    PQclear(res);
    if (rc != TR_OK) return rc;
    int64_t ncustomers = 0;
    if ((rc = load_customers(pg, r, k->customers, &ncustomers, err, errlen)) != TR_OK) return rc;
    char customers[24];
    snprintf(customers, sizeof customers, "%" PRId64, ncustomers);
    rep = redis_cmd_key(r, k->stream, "XGROUP CREATE %s %s 0 MKSTREAM", k->stream, SALE_GROUP);
    if (!reply_ok(rep) && !(rep && strncmp(rep->str, "BUSYGROUP", 9) == 0)) goto redis_failed_rep;
    freeReplyObject(rep);
    rep = redis_cmd_key(r, k->sold, "SET %s %s", k->sold, sold);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    rep = redis_cmd_key(r, SALE_OPEN_SET, "SADD %s %s", SALE_OPEN_SET, cid);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    rep = redis_cmd_key(
        r, k->meta,
        "HSET %s name %s starts_at_us %s total %s vip %s ticket_id_base %s customers %s "
        "unheld 0",
        k->meta, name, starts, total, vip, base, customers);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    /* Last: the scripts refuse a sale until it is marked synced on this run of Redis. */
    return mark_synced(r, k, run_id, err, errlen);
pg_failed:
    snprintf(err, errlen, "%s", pg_conn_errstr(pg));
    return TR_PG;
redis_failed_rep:
    snprintf(err, errlen, "could not open the sale of concert %" PRId64 " in Redis: %s", concert_id,
             rep ? rep->str : redis_conn_errstr(r));
    if (rep) freeReplyObject(rep);
    return TR_REDIS;
}

/* ---- bringing a sale forward to PostgreSQL ------------------------------------------------- */

static const pg_stmt sync_concert_stmt = {
    "sale_sync_concert", "SELECT total_seats, fence FROM concert WHERE id = $1", 1};

static const pg_stmt sync_tickets_stmt = {
    "sale_sync_tickets",
    "SELECT customer_id, seat_no, " SQL_EPOCH_US(
        "issued_at") " FROM ticket WHERE concert_id = $1 ORDER BY customer_id",
    1};

/* KEYS[1] a counter; ARGV[1] a floor. Raises the counter to the floor; returns the new value. */
/* clang-format off */
static const redis_script raise_script = {
    "sale_raise",
    "local cur = redis.call('GET', KEYS[1])\n"
    "local v = tonumber(cur or '0')\n"
    "if v < tonumber(ARGV[1]) then v = tonumber(ARGV[1]) end\n"
    "if not cur or tonumber(cur) ~= v then redis.call('SET', KEYS[1], v) end\n"
    "return v\n"};
/* clang-format on */

typedef struct owner_pair {
    int64_t customer;
    const char *field; /* the customer id as Redis holds it, borrowed from the reply */
    const char *value; /* "seat:issued_at_us[:entry_id]", borrowed from the reply */
} owner_pair;

static int cmp_i64_key(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_owner(const void *a, const void *b) {
    int64_t x = ((const owner_pair *)a)->customer, y = ((const owner_pair *)b)->customer;
    return x < y ? -1 : x > y;
}

/* Field-level commands (HSET key f v …, HDEL key f …, ZREM key m …) sent in chunks. The
 * fields are borrowed until batch_done. */
typedef struct cmd_batch {
    redis_conn *r;
    const char *verb, *key;
    bool pairs; /* HSET: field and value */
    const char **argv;
    int argc, cap;
    tr_err rc;
    char *err;
    size_t errlen;
} cmd_batch;

static void batch_flush(cmd_batch *b) {
    if (b->argc > 2 && b->rc == TR_OK) {
        redisReply *rep = redis_cmd_argv_key(b->r, b->key, b->argc, b->argv, NULL);
        if (!reply_ok(rep)) {
            snprintf(b->err, b->errlen, "could not %s %s: %s", b->verb, b->key,
                     rep ? rep->str : redis_conn_errstr(b->r));
            b->rc = TR_REDIS;
        }
        if (rep) freeReplyObject(rep);
    }
    b->argc = 2;
}

static void batch_init(cmd_batch *b, redis_conn *r, const char *verb, const char *key, bool pairs,
                       char *err, size_t errlen) {
    *b = (cmd_batch){r, verb, key, pairs, NULL, 2, 2 + 2 * LOAD_CHUNK, TR_OK, err, errlen};
    b->argv = malloc(sizeof *b->argv * (size_t)b->cap);
    if (b->argv == NULL) {
        b->rc = TR_NOMEM;
        return;
    }
    b->argv[0] = verb;
    b->argv[1] = key;
}

static void batch_add(cmd_batch *b, const char *field, const char *value) {
    if (b->argv == NULL) return;
    b->argv[b->argc++] = field;
    if (b->pairs) b->argv[b->argc++] = value;
    if (b->argc + 2 > b->cap) batch_flush(b);
}

/* Sends what is left and frees; the first failure of the batch (TR_OK when none). */
static tr_err batch_done(cmd_batch *b) {
    batch_flush(b);
    free(b->argv);
    b->argv = NULL;
    return b->rc;
}

/* Whether key exists; true when that cannot be told (the caller then does the harmless work). */
static bool key_exists(redis_conn *r, const char *key) {
    redisReply *rep = redis_cmd_key(r, key, "EXISTS %s", key);
    bool yes = !(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0);
    if (rep) freeReplyObject(rep);
    return yes;
}

/* Raises counter key to at least floor (text); *now gets its value. */
static tr_err raise_counter(redis_conn *r, const char *key, const char *floor, int64_t *now,
                            char *err, size_t errlen) {
    const char *keys[] = {key};
    const char *args[] = {floor};
    redisReply *rep = redis_eval(r, &raise_script, 1, keys, 1, args);
    bool ok = rep && rep->type == REDIS_REPLY_INTEGER;
    if (ok && now) *now = rep->integer;
    if (!ok)
        snprintf(err, errlen, "could not raise %s: %s", key,
                 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(r));
    if (rep) freeReplyObject(rep);
    return ok ? TR_OK : TR_REDIS;
}

/* The waiting line (redis-zset) after PostgreSQL's owners left it: a member numbered with a seat
 * PostgreSQL gave someone else, or with a number outside 1..N (a counter that went wrong), was
 * admitted on a state behind PostgreSQL; it gets a new number at the end of the line, or is
 * rejected sold_out past N. *max_kept gets the highest number kept. */
static tr_err renumber_line(redis_conn *r, const sale_keys *k, const int64_t *seat_owner,
                            int64_t total, sale_sync_report *st, int64_t *max_kept, char *err,
                            size_t errlen) {
    redisReply *line = redis_cmd_key(r, k->line, "ZRANGE %s 0 -1 WITHSCORES", k->line);
    if (line == NULL || line->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "could not read %s: %s", k->line,
                 line && line->type == REDIS_REPLY_ERROR ? line->str : redis_conn_errstr(r));
        if (line) freeReplyObject(line);
        return TR_REDIS;
    }
    tr_err rc = TR_OK;
    *max_kept = 0;
    for (size_t i = 0; i + 1 < line->elements; i += 2) {
        long long seat = strtoll(line->element[i + 1]->str, NULL, 10);
        bool bad = seat < 1 || seat > total || seat_owner[seat] != 0;
        if (!bad && seat > *max_kept) *max_kept = seat;
    }
    if (*max_kept > st->sold_after) st->sold_after = *max_kept;
    for (size_t i = 0; i + 1 < line->elements && rc == TR_OK; i += 2) {
        const char *member = line->element[i]->str;
        long long seat = strtoll(line->element[i + 1]->str, NULL, 10);
        if (seat >= 1 && seat <= total && seat_owner[seat] == 0) continue;
        st->renumbered++;
        redisReply *rep = NULL;
        if (st->sold_after < total) {
            char score[24];
            snprintf(score, sizeof score, "%" PRId64, ++st->sold_after);
            rep = redis_cmd_key(r, k->line, "ZADD %s XX %s %s", k->line, score, member);
        } else {
            rep = redis_cmd_key(r, k->line, "EVAL %s 2 %s %s %s",
                                "redis.call('ZREM', KEYS[1], ARGV[1]) "
                                "return redis.call('HSET', KEYS[2], ARGV[1], 'rejected:sold_out')",
                                k->line, k->outcomes, member);
        }
        if (!reply_ok(rep)) {
            snprintf(err, errlen, "could not renumber %s in %s: %s", member, k->line,
                     rep ? rep->str : redis_conn_errstr(r));
            rc = TR_REDIS;
        }
        if (rep) freeReplyObject(rep);
    }
    freeReplyObject(line);
    return rc;
}

/* A ticket the purchase script wrote to the stream (redis-atomic): customer, seat, issued_at. */
typedef struct stream_ticket {
    int64_t customer;
    long seat;
    /* the owners entry it stands for: customer → "seat:issued_at_us:entry_id" */
    char field[24], value[72];
} stream_ticket;

static int cmp_stream_ticket(const void *a, const void *b) {
    int64_t x = ((const stream_ticket *)a)->customer, y = ((const stream_ticket *)b)->customer;
    return x < y ? -1 : x > y;
}

/* Every ticket still in the stream (not yet trimmed: stored or waiting for the persister), sorted
 * by customer. *out malloc'd (caller frees), *n its length. */
static tr_err read_stream_tickets(redis_conn *r, const sale_keys *k, stream_ticket **out, size_t *n,
                                  char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    redisReply *rep = redis_cmd_key(r, k->stream, "XRANGE %s - +", k->stream);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "could not read %s: %s", k->stream,
                 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(r));
        if (rep) freeReplyObject(rep);
        return TR_REDIS;
    }
    stream_ticket *t = malloc(sizeof *t * (rep->elements > 0 ? rep->elements : 1));
    if (t == NULL) {
        freeReplyObject(rep);
        return TR_NOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        redisReply *f = e->element[1];
        const char *c = NULL, *seat = NULL, *at = NULL;
        for (size_t j = 0; j + 1 < f->elements; j += 2) {
            const char *key = f->element[j]->str, *v = f->element[j + 1]->str;
            if (key == NULL || v == NULL) continue;
            if (strcmp(key, "c") == 0) c = v;
            else if (strcmp(key, "s") == 0) seat = v;
            else if (strcmp(key, "t") == 0) at = v;
        }
        if (c == NULL || seat == NULL || at == NULL || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        t[m].customer = strtoll(c, NULL, 10);
        t[m].seat = strtol(seat, NULL, 10);
        snprintf(t[m].field, sizeof t[m].field, "%s", c);
        snprintf(t[m].value, sizeof t[m].value, "%s:%s:%s", seat, at, e->element[0]->str);
        m++;
    }
    freeReplyObject(rep);
    qsort(t, m, sizeof *t, cmp_stream_ticket);
    *out = t;
    *n = m;
    return TR_OK;
}

/* Whether an owners value in Redis ("seat:issued_at_us" or, written by the purchase script,
 * "seat:issued_at_us:entry_id") names the ticket PostgreSQL holds as "seat:issued_at_us". */
static bool owner_same_ticket(const char *redis_value, const char *pg_value) {
    size_t n = strlen(pg_value);
    return strncmp(redis_value, pg_value, n) == 0 &&
           (redis_value[n] == '\0' || redis_value[n] == ':');
}

static const pg_stmt customers_count_stmt = {
    "sale_sync_customers", "SELECT count(*) FROM customer WHERE $1::bigint > 0", 1};

/* The customers hash holds at least every customer PostgreSQL has (reloaded when it holds
 * fewer: a DEL, or customers added since the sale opened); meta.customers = PostgreSQL's count. */
static tr_err sync_customers(pg_conn *pg, redis_conn *r, const sale_keys *k, const char *cid,
                             sale_sync_report *st, char *err, size_t errlen) {
    const char *params[] = {cid};
    PGresult *res = pg_exec_stmt(pg, &customers_count_stmt, params);
    if (res == NULL) {
        snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        return TR_PG;
    }
    int64_t want = pg_get_i64(res, 0, 0);
    PQclear(res);
    redisReply *rep = redis_cmd_key(r, k->customers, "HLEN %s", k->customers);
    int64_t have = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep) freeReplyObject(rep);
    if (have < 0) {
        snprintf(err, errlen, "could not read %s: %s", k->customers, redis_conn_errstr(r));
        return TR_REDIS;
    }
    tr_err rc = TR_OK;
    if (have < want) {
        int64_t loaded = 0;
        if ((rc = load_customers(pg, r, k->customers, &loaded, err, errlen)) != TR_OK) return rc;
        st->customers_reloaded = loaded;
        want = loaded;
    }
    char count[24];
    snprintf(count, sizeof count, "%" PRId64, want);
    rep = redis_cmd_key(r, k->meta, "HSET %s customers %s", k->meta, count);
    if (!reply_ok(rep)) rc = TR_REDIS, snprintf(err, errlen, "could not write %s", k->meta);
    if (rep) freeReplyObject(rep);
    return rc;
}

/* KEYS[1] meta, KEYS[2] owners, KEYS[3] sold, KEYS[4] line. meta.unheld := the seats counted that
 * neither an owner nor a member of the line holds, read in one step (the issuer moves members
 * from the line to the owners in one MULTI, so the sum never straddles one). */
/* clang-format off */
static const redis_script unheld_script = {
    "sale_unheld",
    "local u = tonumber(redis.call('GET', KEYS[3]) or '0') - redis.call('HLEN', KEYS[2])"
    " - redis.call('ZCARD', KEYS[4])\n"
    "redis.call('HSET', KEYS[1], 'unheld', u)\n"
    "return u\n"};
/* clang-format on */

/* Brings the sale forward to at least what PostgreSQL holds (sale.h, sale_open). Runs under the
 * loading lock while the scripts refuse the sale (it is not trusted on this run). */
static tr_err sale_bring_forward(pg_conn *pg, redis_conn *r, const sale_keys *k, int64_t concert_id,
                                 sale_sync_report *st, char *err, size_t errlen) {
    char cid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    const char *params[] = {cid};
    PGresult *cr = pg_exec_stmt(pg, &sync_concert_stmt, params);
    if (cr == NULL) {
        snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        return TR_PG;
    }
    if (PQntuples(cr) != 1) {
        PQclear(cr);
        return TR_CONCERT_NOT_FOUND;
    }
    int64_t total = pg_get_i64(cr, 0, 0);
    char fence[24];
    snprintf(fence, sizeof fence, "%s", PQgetvalue(cr, 0, 1));
    PQclear(cr);
    tr_err rc = sync_customers(pg, r, k, cid, st, err, errlen);
    if (rc != TR_OK) return rc;
    PGresult *tr = pg_exec_stmt(pg, &sync_tickets_stmt, params);
    if (tr == NULL) {
        snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        return TR_PG;
    }
    int nt = PQntuples(tr);
    redisReply *owners = NULL;
    owner_pair *pairs = NULL;
    stream_ticket *stream = NULL;
    size_t ns = 0;
    int64_t *seat_owner = calloc((size_t)total + 1, sizeof *seat_owner);
    int64_t *pg_customers = malloc(sizeof *pg_customers * (size_t)(nt > 0 ? nt : 1));
    char(*vals)[48] = malloc(sizeof *vals * (size_t)(nt > 0 ? nt : 1));
    cmd_batch set_owner, del_owner, zrem, del_outcome;
    batch_init(&set_owner, r, "HSET", k->owners, true, err, errlen);
    batch_init(&del_owner, r, "HDEL", k->owners, false, err, errlen);
    batch_init(&zrem, r, "ZREM", k->line, false, err, errlen);
    batch_init(&del_outcome, r, "HDEL", k->outcomes, false, err, errlen);
    if (seat_owner == NULL || pg_customers == NULL || vals == NULL || set_owner.rc ||
        del_owner.rc || zrem.rc || del_outcome.rc) {
        rc = TR_NOMEM;
        goto out;
    }
    char max_text[24];
    int64_t max_seat = 0; /* the highest seat anyone holds or waits for, PostgreSQL or Redis */
    for (int i = 0; i < nt; i++) {
        int64_t seat = pg_get_i64(tr, i, 1);
        pg_customers[i] = pg_get_i64(tr, i, 0);
        if (seat >= 1 && seat <= total) seat_owner[seat] = pg_customers[i];
        if (seat > max_seat) max_seat = seat;
        snprintf(vals[i], sizeof vals[i], "%s:%s", PQgetvalue(tr, i, 1), PQgetvalue(tr, i, 2));
    }
    owners = redis_cmd_key(r, k->owners, "HGETALL %s", k->owners);
    if (owners == NULL || owners->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "could not read %s: %s", k->owners,
                 owners && owners->type == REDIS_REPLY_ERROR ? owners->str : redis_conn_errstr(r));
        rc = TR_REDIS;
        goto out;
    }
    if ((rc = read_stream_tickets(r, k, &stream, &ns, err, errlen)) != TR_OK) goto out;
    size_t np = owners->elements / 2;
    if ((pairs = malloc(sizeof *pairs * (np > 0 ? np : 1))) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        pairs[i].field = owners->element[2 * i]->str;
        pairs[i].customer = strtoll(pairs[i].field, NULL, 10);
        pairs[i].value = owners->element[2 * i + 1]->str;
    }
    qsort(pairs, np, sizeof *pairs, cmp_owner);
    /* redis-zset's keys; a redis-atomic sale has neither */
    bool has_line = key_exists(r, k->line), has_outcomes = key_exists(r, k->outcomes);
    /* Merge by customer: PostgreSQL's owners (sorted by the query) with Redis's. */
    size_t j = 0;
    for (int i = 0; i <= nt; i++) {
        int64_t c = i < nt ? pg_customers[i] : INT64_MAX;
        for (; j < np && pairs[j].customer < c; j++) {
            /* Only in Redis: a ticket not stored yet, kept — unless its seat is outside 1..N or
             * PostgreSQL gave it to someone else: then Redis decided it on a state behind
             * PostgreSQL and it can never be stored. */
            long seat = strtol(pairs[j].value, NULL, 10);
            if (seat < 1 || seat > total || seat_owner[seat] != 0) {
                batch_add(&del_owner, pairs[j].field, NULL);
                st->contradicted++;
            } else if (seat > max_seat) {
                max_seat = seat;
            }
        }
        if (i == nt) break;
        bool in_redis = j < np && pairs[j].customer == c;
        bool same = in_redis && owner_same_ticket(pairs[j].value, vals[i]);
        if (!in_redis) st->added++;
        else if (!same) st->corrected++;
        if (!same) batch_add(&set_owner, PQgetvalue(tr, i, 0), vals[i]);
        if (in_redis) j++;
        /* redis-zset: an owner is issued, neither waiting nor rejected */
        if (has_line) batch_add(&zrem, PQgetvalue(tr, i, 0), NULL);
        if (has_outcomes) batch_add(&del_outcome, PQgetvalue(tr, i, 0), NULL);
    }
    /* Tickets still in the stream that PostgreSQL does not hold yet are owners too (the script
     * writes both at once): one whose owners entry was lost gets it back, so its customer is not
     * sold a second seat. */
    for (size_t i = 0; i < ns; i++) {
        stream_ticket *t = &stream[i];
        if (bsearch(&t->customer, pg_customers, (size_t)nt, sizeof *pg_customers, cmp_i64_key))
            continue; /* PostgreSQL holds this customer's ticket: its seat wins */
        if (t->seat < 1 || t->seat > total || seat_owner[t->seat] != 0) continue;
        owner_pair key = {.customer = t->customer};
        owner_pair *o = bsearch(&key, pairs, np, sizeof *pairs, cmp_owner);
        if (o && strcmp(o->value, t->value) == 0) continue;
        if (o && strtol(o->value, NULL, 10) != t->seat) continue; /* a newer purchase of it */
        batch_add(&set_owner, t->field, t->value);
        st->restored++;
        if (t->seat > max_seat) max_seat = t->seat;
    }
    tr_err r1 = batch_done(&set_owner), r2 = batch_done(&del_owner);
    if ((rc = r1 ? r1 : r2) != TR_OK) goto out;
    if (TEST_FAIL_AFTER(1)) { /* the line's and outcomes' commands are never sent */
        rc = zrem.rc = del_outcome.rc = TR_REDIS;
        goto out;
    }
    tr_err r3 = batch_done(&zrem), r4 = batch_done(&del_outcome);
    if ((rc = r3 ? r3 : r4) != TR_OK) goto out;
    if (TEST_FAIL_AFTER(2)) {
        rc = TR_REDIS;
        goto out;
    }
    /* The seat counter (redis-zset: the admission counter) at least every seat held, and never
     * negative. */
    if ((rc = raise_counter(r, k->sold, "0", &st->sold_before, err, errlen)) != TR_OK) goto out;
    snprintf(max_text, sizeof max_text, "%" PRId64, max_seat);
    if ((rc = raise_counter(r, k->sold, max_text, &st->sold_after, err, errlen)) != TR_OK) goto out;
    if (TEST_FAIL_AFTER(3)) {
        rc = TR_REDIS;
        goto out;
    }
    int64_t line_max = 0;
    if (has_line &&
        (rc = renumber_line(r, k, seat_owner, total, st, &line_max, err, errlen)) != TR_OK)
        goto out;
    if (TEST_FAIL_AFTER(4)) {
        rc = TR_REDIS;
        goto out;
    }
    snprintf(max_text, sizeof max_text, "%" PRId64, st->sold_after);
    if ((rc = raise_counter(r, k->sold, max_text, &st->sold_after, err, errlen)) != TR_OK) goto out;
    if (TEST_FAIL_AFTER(5)) {
        rc = TR_REDIS;
        goto out;
    }
    /* The issuer's fencing counter at least PostgreSQL's fence, or every issuer is fenced. */
    if ((rc = raise_counter(r, k->issuer_fence, fence, NULL, err, errlen)) != TR_OK) goto out;
    const char *ukeys[] = {k->meta, k->owners, k->sold, k->line};
    redisReply *u = redis_eval(r, &unheld_script, 4, ukeys, 0, NULL);
    if (u && u->type == REDIS_REPLY_INTEGER) {
        st->unheld = u->integer;
    } else {
        snprintf(err, errlen, "could not count the seats no one holds: %s",
                 u && u->type == REDIS_REPLY_ERROR ? u->str : redis_conn_errstr(r));
        rc = TR_REDIS;
    }
    if (u) freeReplyObject(u);
    if (rc == TR_OK && TEST_FAIL_AFTER(6)) rc = TR_REDIS;
out:
    batch_done(&set_owner), batch_done(&del_owner), batch_done(&zrem), batch_done(&del_outcome);
    PQclear(tr);
    if (owners) freeReplyObject(owners);
    free(pairs);
    free(stream);
    free(vals);
    free(pg_customers);
    free(seat_owner);
    return rc;
}

tr_err sale_open(pg_conn *pg, redis_conn *r, int64_t concert_id, sale_sync_report *report,
                 char *err, size_t errlen) {
    sale_sync_report st = {0};
    if (report) *report = st;
    sale_keys k;
    sale_keys_init(&k, concert_id);
    bool exists = false, trusted = false;
    tr_err rc = sale_check(r, &k, &exists, &trusted, err, errlen);
    if (rc != TR_OK) return rc;
    if (exists && trusted) return TR_OK;
    /* The run id of the server this connection reached when the sale was checked (on a cluster:
     * the master serving the concert's slot): the sync is marked for it, and only if the server is still that run at the end (mark_synced). */
    char run_id[REDIS_RUN_ID_MAX];
    snprintf(run_id, sizeof run_id, "%s", redis_conn_run_id_key(r, k.meta));
    if (pg == NULL) {
        snprintf(err, errlen,
                 "the sale of concert %" PRId64 " must be %s from PostgreSQL, which "
                 "is not connected",
                 concert_id, exists ? "brought forward" : "loaded");
        return TR_PG;
    }
    if (!exists) {
        /* Refuse unknown concerts before writing anything (bad input changes nothing). */
        concert c;
        rc = q_concert_get(pg, concert_id, &c);
        if (rc == TR_PG) snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        if (rc != TR_OK) return rc;
    }
    redis_lock l;
    lock_init_keys(&l, k.loading, k.loading_fence, (uint64_t)getpid(), (uint64_t)(uintptr_t)&l);
    rc = lock_acquire(r, &l, exists ? SALE_SYNC_WAIT_MS : 60000, 120000);
    if (rc != TR_OK) {
        snprintf(err, errlen, "could not take the loading lock %s", k.loading);
        return rc;
    }
    rc = sale_check(r, &k, &exists, &trusted, err, errlen);
    if (rc == TR_OK && !exists) {
        st.loaded = true;
        rc = sale_load(pg, r, &k, concert_id, run_id, err, errlen);
    } else if (rc == TR_OK && !trusted) {
        st.brought_forward = true;
        rc = sale_bring_forward(pg, r, &k, concert_id, &st, err, errlen);
        if (rc == TR_OK) rc = mark_synced(r, &k, run_id, err, errlen);
    }
    lock_release(r, &l);
    if (report) *report = st;
    return rc;
}

tr_err sale_state(redis_conn *r, int64_t concert_id, bool *loaded, bool *synced, char *err,
                  size_t errlen) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    return sale_check(r, &k, loaded, synced, err, errlen);
}

static const pg_stmt issued_stmt = {"sale_issued",
                                    "SELECT total_seats - remaining FROM concert WHERE id = $1", 1};

int sale_keep_current(pg_conn *pg, redis_conn *r, int64_t concert_id, sale_sync_report *report) {
    sale_sync_report st = {0};
    if (report) *report = st;
    bool loaded = false, synced = false;
    char err[256];
    if (sale_state(r, concert_id, &loaded, &synced, err, sizeof err) != TR_OK) return -1;
    if (!loaded) return 0;
    if (synced && pg) {
        /* R8: remaining = N − tickets stored, so this is PostgreSQL's count of tickets; the seat
         * (or admission) counter is never below it unless Redis lost writes. */
        sale_keys k;
        sale_keys_init(&k, concert_id);
        char cid[24];
        snprintf(cid, sizeof cid, "%" PRId64, concert_id);
        const char *params[] = {cid};
        PGresult *res = pg_exec_stmt(pg, &issued_stmt, params);
        redisReply *sold =
            res && PQntuples(res) == 1 ? redis_cmd_key(r, k.sold, "GET %s", k.sold) : NULL;
        if (sold && (sold->type == REDIS_REPLY_NIL ||
                     (sold->type == REDIS_REPLY_STRING &&
                      strtoll(sold->str, NULL, 10) < pg_get_i64(res, 0, 0))))
            synced = sale_mark_unsynced(r, concert_id) != TR_OK;
        if (sold) freeReplyObject(sold);
        PQclear(res);
    }
    if (synced) return 0;
    if (pg == NULL || sale_open(pg, r, concert_id, &st, err, sizeof err) != TR_OK) return -1;
    if (report) *report = st;
    return st.added + st.corrected + st.contradicted + st.renumbered + st.restored +
                   st.customers_reloaded >
               0 ||
           st.sold_after != st.sold_before;
}

tr_err sale_mark_unsynced(redis_conn *r, int64_t concert_id) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    redisReply *rep = redis_cmd_key(r, k.meta, "HDEL %s synced", k.meta);
    bool ok = reply_ok(rep);
    if (rep) freeReplyObject(rep);
    return ok ? TR_OK : TR_REDIS;
}

int64_t sale_reply_i64(const redisReply *r) {
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
    return 0;
}

bool sale_ticket_from_reply(const redisReply *a, int64_t concert_id, int64_t customer_id,
                            ticket *t) {
    if (a->type != REDIS_REPLY_ARRAY || a->elements < 7) return false;
    memset(t, 0, sizeof *t);
    t->concert_id = concert_id;
    t->customer_id = customer_id;
    t->seat_no = (int32_t)sale_reply_i64(a->element[1]);
    t->vip = sale_reply_i64(a->element[2]) == 1;
    t->issued_at_us = sale_reply_i64(a->element[3]);
    snprintf(t->customer_name, sizeof t->customer_name, "%s",
             a->element[4]->type == REDIS_REPLY_STRING ? a->element[4]->str : "");
    t->ticket_id = sale_reply_i64(a->element[5]);
    t->concert_starts_at_us = sale_reply_i64(a->element[6]);
    return true;
}

bool sale_refused_unrun(const char *error) {
    static const char *const codes[] = {"LOADING ",    "BUSY ",       "OOM ",         "READONLY ",
                                        "MASTERDOWN ", "NOREPLICAS ", "CLUSTERDOWN ", "TRYAGAIN ",
                                        "MISCONF ",    NULL};
    for (int i = 0; error && codes[i]; i++)
        if (strncmp(error, codes[i], strlen(codes[i])) == 0) return true;
    return false;
}

redisReply *sale_eval(pg_conn *pg, redis_conn *r, const redis_script *s, int64_t concert_id,
                      int nkeys, const char *const *keys, int64_t customer_id, const char *arg3,
                      tr_err *rc, char *detail, size_t detaillen) {
    char uid[24];
    snprintf(uid, sizeof uid, "%" PRId64, customer_id);
    const char *args[] = {uid, REDIS_ARG_RUN_ID, arg3};
    for (int attempt = 0; attempt < 3; attempt++) {
        redisReply *rep = redis_eval(r, s, nkeys, keys, arg3 ? 3 : 2, args);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
            snprintf(detail, detaillen, "%s: %s", s->name,
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(r));
            /* Refused before it ran (loading its data, busy with another script, out of
             * memory, a read-only replica…): nothing was written, so "busy, retry" — not an
             * unknown outcome. */
            *rc = rep && rep->type == REDIS_REPLY_ERROR && sale_refused_unrun(rep->str)
                      ? TR_UNAVAILABLE
                      : TR_REDIS;
            /* A Redis Cluster that cannot serve the concert's slot now (fail state, a failover
             * under way, a slot being moved): nothing ran, 503 unavailable with Retry-After
             * (issue 11) — not busy, which R6 counts as a refusal (see http/front.c). */
            if (rep && rep->type == REDIS_REPLY_ERROR && cluster_error_busy(rep->str))
                *rc = TR_UNAVAILABLE;
            if (rep) freeReplyObject(rep);
            return NULL;
        }
        int64_t code = sale_reply_i64(rep->element[0]);
        if (code != SALE_NOT_LOADED && code != SALE_NOT_SYNCED) return rep;
        freeReplyObject(rep);
        /* Not loaded, or not synced with PostgreSQL on this run of Redis: open the sale (load
         * it, or bring it forward; one loader at a time) and run again. The script wrote
         * nothing, so a sale that cannot be opened now is "retry", not an unknown outcome:
         * busy while another process still syncs it, unavailable when Redis or PostgreSQL
         * failed (PostgreSQL down: the sale cannot be brought forward). */
        tr_err orc = sale_open(pg, r, concert_id, NULL, detail, detaillen);
        if (orc == TR_CONCERT_NOT_FOUND || orc == TR_BUSY) {
            *rc = orc;
            return NULL;
        }
        if (orc != TR_OK) {
            *rc = TR_UNAVAILABLE;
            return NULL;
        }
    }
    snprintf(detail, detaillen, "sale of concert %" PRId64 " did not open", concert_id);
    *rc = TR_UNAVAILABLE;
    return NULL;
}

/* KEYS[1] SALE_OPEN_SET; ARGV[1] the key pattern, ARGV[2] the concert id ("0": every sale).
 * UNLINK, not DEL: a sale of the scale scenario holds hashes of a million entries, which DEL
 * frees while Redis waits (a `db seed` gave up after its 2 s timeout while the machine was
 * busy); UNLINK frees them on a background thread (https://redis.io/commands/unlink/). */
/* clang-format off */
static const redis_script clear_script = {
    "sale_clear",
    "local n = 0\n"
    "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) n = n + 1 end\n"
    "if ARGV[2] == '0' then redis.call('DEL', KEYS[1])\n"
    "else redis.call('SREM', KEYS[1], ARGV[2]) end\n"
    "return n\n"};
/* clang-format on */

/* sale_clear on a Redis Cluster: a script may touch keys of one slot only, so KEYS runs on every
 * master and each key found is unlinked by itself (UNLINK, as the script does; routed: a key whose
 * slot moves meanwhile is followed), then SALE_OPEN_SET. Not atomic: for reseeding, as sale_clear
 * says. */
static tr_err clear_cluster(redis_conn *r, const char *pattern, const char *id, char *errbuf,
                            size_t errlen) {
    int masters[CLUSTER_MAX_NODES];
    int n = redis_conn_masters(r, masters, CLUSTER_MAX_NODES);
    if (n == 0 || n > CLUSTER_MAX_NODES) {
        tr_errf(errbuf, errlen, "could not clear Redis keys %s: no master in the slot map: %s",
                pattern, redis_conn_errstr(r));
        return TR_REDIS;
    }
    for (int m = 0; m < n; m++) {
        char node[CLUSTER_HOST_MAX + 8];
        redis_conn_node_name(r, masters[m], node, sizeof node);
        redisReply *keys = redis_cmd_node(r, masters[m], "KEYS %s", pattern);
        if (keys == NULL || keys->type != REDIS_REPLY_ARRAY) {
            tr_errf(errbuf, errlen, "could not list Redis keys %s on %s: %s", pattern, node,
                    keys && keys->type == REDIS_REPLY_ERROR ? keys->str : redis_conn_errstr(r));
            if (keys) freeReplyObject(keys);
            return TR_REDIS;
        }
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str;
            redisReply *rep = key ? redis_cmd_key(r, key, "UNLINK %s", key) : NULL;
            bool ok = reply_ok(rep);
            if (!ok)
                tr_errf(errbuf, errlen, "could not delete Redis key %s: %s", key ? key : "?",
                        rep ? rep->str : redis_conn_errstr(r));
            if (rep) freeReplyObject(rep);
            if (!ok) {
                freeReplyObject(keys);
                return TR_REDIS;
            }
        }
        freeReplyObject(keys);
    }
    redisReply *rep = strcmp(id, "0") == 0
                          ? redis_cmd_key(r, SALE_OPEN_SET, "DEL %s", SALE_OPEN_SET)
                          : redis_cmd_key(r, SALE_OPEN_SET, "SREM %s %s", SALE_OPEN_SET, id);
    bool ok = reply_ok(rep);
    if (!ok)
        tr_errf(errbuf, errlen, "could not update %s: %s", SALE_OPEN_SET,
                rep ? rep->str : redis_conn_errstr(r));
    if (rep) freeReplyObject(rep);
    return ok ? TR_OK : TR_REDIS;
}

tr_err sale_clear(redis_conn *r, int64_t concert_id, char *errbuf, size_t errlen) {
    char pattern[64], id[24];
    if (concert_id > 0) snprintf(pattern, sizeof pattern, "{concert:%" PRId64 "}:*", concert_id);
    else snprintf(pattern, sizeof pattern, "{concert:*");
    snprintf(id, sizeof id, "%" PRId64, concert_id > 0 ? concert_id : 0);
    if (redis_conn_is_cluster(r)) return clear_cluster(r, pattern, id, errbuf, errlen);
    const char *keys[] = {SALE_OPEN_SET}, *args[] = {pattern, id};
    redisReply *rep = redis_eval(r, &clear_script, 1, keys, 2, args);
    tr_err rc = TR_OK;
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        tr_errf(errbuf, errlen, "could not clear Redis keys %s: %s", pattern,
                rep ? rep->str : redis_conn_errstr(r));
        rc = TR_REDIS;
    }
    if (rep) freeReplyObject(rep);
    return rc;
}
