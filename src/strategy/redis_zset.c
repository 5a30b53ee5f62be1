/* redis_zset.c — the study's waiting line, fixed (SPEC §3 `redis-zset`). Admission is one Lua
 * script: sales window by Redis TIME (R5), customer known, not already issued, queued or rejected
 * (R2), then the admission number from INCR — never a timestamp, which ties and then sorts by
 * member — as the ZADD score. Numbers past N are rejected there and then as sold_out (the overflow,
 * recorded as the customer's outcome); the others answer 202 with their place in line. The issuer
 * (background/issuer.c) turns the line into tickets in order, in large batches, seat = admission
 * number: FCFS by construction (R3, R6), issuance deferred. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sale.h"
#include "strategy/strategy.h"
#include "background/issuer.h"

/* KEYS: meta, customers, owners, sold (the admission counter), line, outcomes, admitted.
 * ARGV[1] customer, ARGV[2] the run id of the Redis the call reached (REDIS_ARG_RUN_ID).
 * Answers {2, position} queued (new or already), {-1} sale not loaded, {-6} sale not synced on
 * this run of Redis (sale.h), {-2} unknown customer,
 * {-3, seat, vip, issued_at_us, name, ticket_id, starts_at_us} already issued, {-4} sales closed,
 * {-5} sold out (rejected), and for lookup {0} no outcome. */
/* clang-format off */
#define ZSET_SCRIPT_HEAD                                                                       \
    SALE_SCRIPT_GATE                                                                           \
    SALE_SCRIPT_COUNTS("redis.call('ZCARD', KEYS[5])")                                         \
    "local name = redis.call('HGET', KEYS[2], ARGV[1])\n"                                      \
    "if not name then\n"                                                                       \
    SALE_SCRIPT_CUSTOMERS                                                                      \
    "  return {-2}\n"                                                                          \
    "end\n"                                                                                    \
    "local owned = redis.call('HGET', KEYS[3], ARGV[1])\n"                                     \
    "if owned then\n"                                                                          \
    "  local sep = string.find(owned, ':', 1, true)\n"                                         \
    "  local seat = tonumber(string.sub(owned, 1, sep - 1))\n"                                 \
    "  return {-3, seat, (seat <= tonumber(meta[3])) and 1 or 0, string.sub(owned, sep + 1),\n" \
    "          name, string.format('%d', tonumber(meta[4]) + seat), meta[1]}\n"                \
    "end\n"                                                                                    \
    "if redis.call('HEXISTS', KEYS[6], ARGV[1]) == 1 then return {-5} end\n"                   \
    "local rank = redis.call('ZRANK', KEYS[5], ARGV[1])\n"                                     \
    "if rank then return {2, rank + 1} end\n"
/* clang-format on */

/* clang-format off */
static const redis_script admit_script = {
    "redis_zset_admit",
    ZSET_SCRIPT_HEAD
    "local t = redis.call('TIME')\n"
    "local now = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))\n"
    "if tonumber(now) >= tonumber(meta[1]) then return {-4} end\n"
    "if tonumber(sold) >= tonumber(meta[2]) then\n"
    "  redis.call('HSET', KEYS[6], ARGV[1], 'rejected:sold_out')\n"
    "  return {-5}\n"
    "end\n"
    "local n = redis.call('INCR', KEYS[4])\n"
    "redis.call('ZADD', KEYS[5], 'NX', n, ARGV[1])\n"
    /* the ticket is admitted now (R5); the issuer stamps it with this time */
    "redis.call('HSET', KEYS[7], ARGV[1], now)\n"
    "return {2, redis.call('ZRANK', KEYS[5], ARGV[1]) + 1}\n"};
/* clang-format on */

/* clang-format off */
static const redis_script lookup_script = {"redis_zset_lookup", ZSET_SCRIPT_HEAD "return {0}\n"};
/* clang-format on */

/* Runs a script on the concert's sale keys (sale_eval). */
static redisReply *zset_run(strategy_ctx *ctx, const redis_script *s, int64_t concert_id,
                            int64_t customer_id, tr_err *rc) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    const char *keys[] = {k.meta, k.customers, k.owners, k.sold, k.line, k.outcomes, k.admitted};
    return sale_eval(ctx->pg, ctx->redis, s, concert_id, 7, keys, customer_id, NULL, rc,
                     ctx->detail, sizeof ctx->detail);
}

static void redis_zset_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                purchase_result *out) {
    tr_err rc = TR_OK;
    redisReply *rep = zset_run(ctx, &admit_script, concert_id, customer_id, &rc);
    if (rep == NULL) {
        out->err = rc;
        return;
    }
    switch (sale_reply_i64(rep->element[0])) {
    case 2:
        out->err = TR_OK;
        out->queued = true;
        out->position = rep->elements >= 2 ? sale_reply_i64(rep->element[1]) : 0;
        break;
    case -2: out->err = TR_CUSTOMER_NOT_FOUND; break;
    case -3:
        sale_ticket_from_reply(rep, concert_id, customer_id, &out->t);
        out->err = TR_ALREADY_OWNED;
        break;
    case -4: out->err = TR_SALES_CLOSED; break;
    case -5: out->err = TR_SOLD_OUT; break;
    default:
        snprintf(ctx->detail, sizeof ctx->detail, "admission script answered %" PRId64,
                 sale_reply_i64(rep->element[0]));
        out->err = TR_INTERNAL;
    }
    freeReplyObject(rep);
}

static tr_err redis_zset_outcome(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                 outcome *out) {
    tr_err rc = TR_OK;
    redisReply *rep = zset_run(ctx, &lookup_script, concert_id, customer_id, &rc);
    if (rep == NULL) return rc;
    switch (sale_reply_i64(rep->element[0])) {
    case 0: out->status = OUTCOME_NONE; break;
    case 2:
        out->status = OUTCOME_QUEUED;
        out->position = rep->elements >= 2 ? sale_reply_i64(rep->element[1]) : 0;
        break;
    case -3:
        sale_ticket_from_reply(rep, concert_id, customer_id, &out->t);
        out->status = OUTCOME_ISSUED;
        break;
    case -5:
        out->status = OUTCOME_REJECTED;
        out->reason = TR_SOLD_OUT;
        break;
    case -2: rc = TR_CUSTOMER_NOT_FOUND; break;
    default: rc = TR_INTERNAL;
    }
    freeReplyObject(rep);
    return rc;
}

static tr_err redis_zset_start(const strategy_config *cfg, void **state, char *errbuf,
                               size_t errlen) {
    issuer *is = NULL;
    issuer_config ic = {.pg_conninfo = cfg->pg_conninfo,
                        .redis_addr = cfg->redis_addr,
                        .batch = cfg->persist_batch,
                        .log = cfg->log,
                        .log_arg = cfg->log_arg,
                        .test_delay_ms = cfg->test_issue_delay_ms};
    tr_err rc = issuer_start(&ic, &is, errbuf, errlen);
    *state = is;
    return rc;
}

static void redis_zset_stop(void *state) { issuer_stop(state); }

static bool redis_zset_metrics(void *state, dynbuf *out) {
    issuer_stats st;
    issuer_stats_read(state, &st);
    return issuer_stats_render(&st, out);
}

const strategy_ops strategy_redis_zset = {
    .name = "redis-zset",
    .summary = "waiting line: sorted set scored by INCR, 202 + position, batch issuer",
    .needs_redis = true,
    .correct = true,
    .admits_without_pg = true,
    .purchase = redis_zset_purchase,
    .outcome = redis_zset_outcome,
    .start = redis_zset_start,
    .stop = redis_zset_stop,
    .metrics = redis_zset_metrics,
};
