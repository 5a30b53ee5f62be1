/* redis_lock_cache.c — `redis-lock` plus the concert and its remaining count cached in Redis
 * (SPEC §3 `redis-lock-cache`, the study's third technique). The cache answers what it can without
 * the lock or PostgreSQL — sold out (remaining 0) and sales closed (Redis TIME ≥ starts_at) — and
 * is rebuilt from PostgreSQL when missing (remaining = N − count of tickets, R8). It is a hint:
 * the fenced transaction under the lock still decides, and the cache is lowered only after the
 * PostgreSQL commit, never raised, so a stale value can only send a request to the lock. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store/cluster.h"
#include "strategy/redis_lock.h"
#include "strategy/strategy.h"

/* KEYS[1] cache. Returns {remaining, closed (1/0)} or {-1} when the cache is missing. */
/* clang-format off */
static const redis_script peek_script = {
    "redis_lock_cache_peek",
    "local c = redis.call('HMGET', KEYS[1], 'remaining', 'starts_at_us')\n"
    "if not c[1] then return {-1} end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "return {tonumber(c[1]), (now >= tonumber(c[2])) and 1 or 0}\n"};
/* clang-format on */

/* KEYS[1] cache; ARGV[1] the seat just committed (remaining is then N − seat), or 0 for "sold
 * out". Lowers the cached count, never raises it. */
/* clang-format off */
static const redis_script lower_script = {
    "redis_lock_cache_lower",
    "local c = redis.call('HMGET', KEYS[1], 'remaining', 'total')\n"
    "if not c[1] then return 0 end\n"
    "local r = 0\n"
    "if tonumber(ARGV[1]) > 0 then r = tonumber(c[2]) - tonumber(ARGV[1]) end\n"
    "if tonumber(c[1]) > r then redis.call('HSET', KEYS[1], 'remaining', r) end\n"
    "return 0\n"};
/* clang-format on */

static const pg_stmt rebuild_stmt = {
    "redis_lock_cache_rebuild",
    "SELECT c.total_seats - (SELECT count(*) FROM ticket t WHERE t.concert_id = c.id), " SQL_EPOCH_US(
        "c.starts_at") ", c.total_seats FROM concert c WHERE c.id = $1",
    1};

static void cache_key(char *buf, size_t len, int64_t concert_id) {
    snprintf(buf, len, "{concert:%" PRId64 "}:cache", concert_id);
}

static void cache_lower(strategy_ctx *ctx, const char *key, int64_t seat_or_zero) {
    char rem[24];
    snprintf(rem, sizeof rem, "%" PRId64, seat_or_zero);
    const char *keys[] = {key};
    const char *args[] = {rem};
    redisReply *rep = redis_eval(ctx->redis, &lower_script, 1, keys, 1, args);
    if (rep) freeReplyObject(rep);
}

/* Reads the cache (rebuilding it when missing). TR_OK with *remaining and *closed. */
static tr_err cache_peek(strategy_ctx *ctx, const char *key, int64_t concert_id, int64_t *remaining,
                         bool *closed) {
    const char *keys[] = {key};
    for (int attempt = 0; attempt < 2; attempt++) {
        redisReply *rep = redis_eval(ctx->redis, &peek_script, 1, keys, 0, NULL);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
            snprintf(ctx->detail, sizeof ctx->detail, "cache peek: %s",
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                           : redis_conn_errstr(ctx->redis));
            /* a Redis Cluster that cannot serve the slot now: busy, retry (cluster.h) */
            tr_err rc = rep && rep->type == REDIS_REPLY_ERROR && cluster_error_busy(rep->str)
                            ? TR_BUSY
                            : TR_REDIS;
            if (rep) freeReplyObject(rep);
            return rc;
        }
        if (rep->element[0]->integer >= 0 && rep->elements >= 2) {
            *remaining = rep->element[0]->integer;
            *closed = rep->element[1]->integer == 1;
            freeReplyObject(rep);
            return TR_OK;
        }
        freeReplyObject(rep);
        char cid[24];
        snprintf(cid, sizeof cid, "%" PRId64, concert_id);
        const char *params[] = {cid};
        PGresult *r = pg_exec_stmt(ctx->pg, &rebuild_stmt, params);
        if (r == NULL) {
            snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
            return TR_PG;
        }
        if (PQntuples(r) == 0) {
            PQclear(r);
            return TR_CONCERT_NOT_FOUND;
        }
        redisReply *set =
            redis_cmd_key(ctx->redis, key, "HSET %s remaining %s starts_at_us %s total %s", key,
                          PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
        PQclear(r);
        if (set == NULL || set->type == REDIS_REPLY_ERROR) {
            if (set) freeReplyObject(set);
            return TR_REDIS;
        }
        freeReplyObject(set);
    }
    return TR_INTERNAL;
}

static void redis_lock_cache_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                      purchase_result *out) {
    /* Unknown ids and owners first (bad input creates no keys), as redis-lock does. */
    tr_err rc = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
    if (rc == TR_SOLD_OUT || rc == TR_SALES_CLOSED) rc = TR_OK; /* the cache and the lock decide */
    if (rc == TR_PG) snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
    char key[64];
    cache_key(key, sizeof key, concert_id);
    int64_t remaining = 0;
    bool closed = false;
    if (rc == TR_OK) rc = cache_peek(ctx, key, concert_id, &remaining, &closed);
    if (rc == TR_OK && closed) rc = TR_SALES_CLOSED;
    if (rc == TR_OK && remaining <= 0) rc = TR_SOLD_OUT;
    if (rc == TR_OK) {
        rc = redis_lock_purchase_locked(ctx, concert_id, customer_id, out);
        if (rc == TR_OK) cache_lower(ctx, key, out->t.seat_no);
        if (rc == TR_SOLD_OUT) cache_lower(ctx, key, 0);
    }
    out->err = rc;
}

const strategy_ops strategy_redis_lock_cache = {
    .name = "redis-lock-cache",
    .summary = "redis-lock plus the concert and its remaining count cached in Redis",
    .needs_redis = true,
    .correct = true,
    .purchase = redis_lock_cache_purchase,
};
