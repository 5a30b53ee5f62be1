/* redis_lock.c — the study's distributed lock per concert (SPEC §3 `redis-lock`), fixed: a lease
 * lock with a fencing token (lock.h). Under the lock it does the study's read-modify-write in one
 * PostgreSQL transaction (rmw.h) whose first statement registers the fencing token on the concert
 * row (`UPDATE … SET fence = T WHERE fence < T`): a holder whose lease expired while it stalled
 * finds a newer token there and writes nothing, and the row lock it takes keeps the read and the
 * write of remaining together. R1–R5, R7, R8 hold; R6 does not (waiters poll; after the wait
 * time they get 503 busy while later arrivals may win). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "store/lock.h"
#include "strategy/redis_lock.h"
#include "strategy/rmw.h"

/* Takes the fence and reads the state the decision needs, all under the concert row lock. */
static const pg_stmt fence_stmt = {
    "redis_lock_fence",
    "UPDATE concert SET fence = $3 WHERE id = $1 AND fence < $3 AND $2::bigint > 0"
    " RETURNING remaining, total_seats, vip_seats, starts_at <= now()",
    3};

/* KEYS[1] fencing counter; ARGV[1] PostgreSQL's fence. Raises the counter to it; 1 if it was behind. */
/* clang-format off */
static const redis_script catch_up_script = {
    "redis_lock_fence_catch_up",
    "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then\n"
    "  redis.call('SET', KEYS[1], ARGV[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n"};
/* clang-format on */

static const pg_stmt fence_read_stmt = {"redis_lock_fence_read",
                                        "SELECT fence FROM concert WHERE id = $1", 1};

/* After a fenced write: true when Redis's fencing counter was behind PostgreSQL's fence (Redis
 * lost it: a restart without the last writes, a failover) and has been raised, so a retry gets a
 * token PostgreSQL accepts. false when the counter was fine: a newer holder really wrote. */
static bool fence_catch_up(strategy_ctx *ctx, const redis_lock *l, int64_t concert_id) {
    char cid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    const char *params[] = {cid};
    PGresult *r = pg_exec_stmt(ctx->pg, &fence_read_stmt, params);
    if (r == NULL || PQntuples(r) != 1) {
        PQclear(r);
        return false;
    }
    char fence[24];
    snprintf(fence, sizeof fence, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *keys[] = {l->fence_key};
    const char *args[] = {fence};
    redisReply *rep = redis_eval(ctx->redis, &catch_up_script, 1, keys, 1, args);
    bool raised = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    if (rep) freeReplyObject(rep);
    return raised;
}

tr_err redis_lock_purchase_locked(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                  purchase_result *out) {
    tr_err rc = TR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        redis_lock l;
        lock_init_concert(&l, concert_id, ctx->worker_id, ++ctx->seq);
        rc = lock_acquire(ctx->redis, &l, ctx->cfg->lock_wait_ms, ctx->cfg->lock_lease_ms);
        if (rc != TR_OK) {
            if (rc == TR_REDIS)
                snprintf(ctx->detail, sizeof ctx->detail, "%s", redis_conn_errstr(ctx->redis));
            out->retry_after_s = 1;
            return rc;
        }
#ifdef TR_TEST_HOOKS /* a holder that stalls past its lease (test_fencing) */
        if (ctx->cfg->test_stall_ms > 0 && customer_id == ctx->cfg->test_stall_customer_id)
            tr_sleep_ms(ctx->cfg->test_stall_ms);
#endif
        char fence[24];
        snprintf(fence, sizeof fence, "%" PRId64, l.fence);
        /* No row: PostgreSQL has seen a token at least as high as ours. Write nothing. */
        rc = rmw_purchase(ctx, &fence_stmt, concert_id, customer_id, fence, TR_FENCED, out);
        /* Release after the commit; if the release fails the lease frees the lock. */
        lock_release(ctx->redis, &l);
        if (rc != TR_FENCED || !fence_catch_up(ctx, &l, concert_id)) break;
    }
    if (rc == TR_FENCED) out->retry_after_s = 1;
    return rc;
}

static void redis_lock_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                purchase_result *out) {
    /* Refuse unknown ids and owners before touching Redis: bad input creates no lock keys. */
    tr_err rc = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
    if (rc == TR_SOLD_OUT || rc == TR_SALES_CLOSED) rc = TR_OK; /* decided under the lock */
    if (rc == TR_PG) snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
    if (rc == TR_OK) rc = redis_lock_purchase_locked(ctx, concert_id, customer_id, out);
    out->err = rc;
}

const strategy_ops strategy_redis_lock = {
    .name = "redis-lock",
    .summary = "Redis lease lock per concert with a fencing token checked by PostgreSQL",
    .needs_redis = true,
    .correct = true,
    .purchase = redis_lock_purchase,
};
