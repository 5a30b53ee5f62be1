/* redis_lock.c — the study's distributed lock per concert (SPEC §3 `redis-lock`), fixed: a lease
 * lock with a fencing token (lock.h). Under the lock it does the study's read-modify-write in one
 * PostgreSQL transaction whose first statement registers the fencing token on the concert row
 * (`UPDATE … SET fence = T WHERE fence < T`): a holder whose lease expired while it stalled finds a
 * newer token there and writes nothing, and the row lock it takes keeps the read and the write of
 * remaining together. R1–R5, R7, R8 hold; R6 does not (waiters poll, refusals on wait → 503 busy). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "strategy/lock.h"
#include "strategy/strategy.h"

/* Takes the fence and reads the state the decision needs, all under the concert row lock. */
static const pg_stmt fence_stmt = {
    "redis_lock_fence",
    "UPDATE concert SET fence = $3 WHERE id = $1 AND fence < $3"
    " RETURNING remaining, total_seats, vip_seats, starts_at <= now(),"
    " EXISTS (SELECT 1 FROM ticket WHERE concert_id = $1 AND customer_id = $2)",
    3};

/* Writes the ticket and the remaining count computed from the value read under the fence. */
static const pg_stmt write_stmt = {
    "redis_lock_write",
    "WITH upd AS (UPDATE concert SET remaining = $5 WHERE id = $1 RETURNING starts_at),"
    " ins AS (INSERT INTO ticket (concert_id, customer_id, seat_no, vip) VALUES ($1, $2, $3, $4)"
    "   RETURNING id, concert_id, customer_id, seat_no, vip, issued_at)"
    " SELECT ins.id, ins.concert_id, ins.customer_id, cu.name, ins.seat_no, ins.vip, " SQL_EPOCH_US(
        "ins.issued_at") ", " SQL_EPOCH_US("upd.starts_at")
    " FROM ins, upd, customer cu WHERE cu.id = ins.customer_id",
    5};

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The part under the lock. Returns the outcome; the transaction is closed either way. */
static tr_err redis_lock_locked(strategy_ctx *ctx, const redis_lock *l, int64_t concert_id,
                                int64_t customer_id, purchase_result *out) {
    char cid[24], uid[24], fence[24], seat[24], vip[8], rem[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    snprintf(uid, sizeof uid, "%" PRId64, customer_id);
    snprintf(fence, sizeof fence, "%" PRId64, l->fence);
    if (pg_exec_ok(ctx->pg, "BEGIN") != TR_OK) return TR_PG;
    const char *p_fence[] = {cid, uid, fence};
    PGresult *r = pg_exec_stmt(ctx->pg, &fence_stmt, p_fence);
    if (r == NULL) return TR_PG;
    if (PQntuples(r) == 0) {
        /* A newer holder registered a higher token: our lease expired. Write nothing. */
        PQclear(r);
        pg_exec_ok(ctx->pg, "ROLLBACK");
        return TR_FENCED;
    }
    int64_t remaining = pg_get_i64(r, 0, 0), total = pg_get_i64(r, 0, 1), v = pg_get_i64(r, 0, 2);
    bool closed = pg_get_bool(r, 0, 3), owned = pg_get_bool(r, 0, 4);
    PQclear(r);
    tr_err refusal = owned ? TR_ALREADY_OWNED : closed ? TR_SALES_CLOSED
                                            : remaining <= 0 ? TR_SOLD_OUT : TR_OK;
    if (refusal != TR_OK) {
        /* Keep the fence registered: it only ever grows. */
        if (pg_exec_ok(ctx->pg, "COMMIT") != TR_OK) return TR_PG;
        return refusal;
    }
    int64_t seat_no = total - remaining + 1;
    snprintf(seat, sizeof seat, "%" PRId64, seat_no);
    snprintf(vip, sizeof vip, "%s", seat_no <= v ? "t" : "f");
    snprintf(rem, sizeof rem, "%" PRId64, remaining - 1);
    const char *p_write[] = {cid, uid, seat, vip, rem};
    if ((r = pg_exec_stmt(ctx->pg, &write_stmt, p_write)) == NULL) return TR_PG;
    q_ticket_from_row(r, 0, 0, &out->t);
    PQclear(r);
    if (pg_exec_ok(ctx->pg, "COMMIT") != TR_OK) return TR_PG;
    return TR_OK;
}

static void redis_lock_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                purchase_result *out) {
    /* Refuse unknown ids and owners before touching Redis: bad input creates no lock keys. */
    tr_err rc = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
    if (rc == TR_SOLD_OUT || rc == TR_SALES_CLOSED) rc = TR_OK; /* decided under the lock */
    if (rc != TR_OK) {
        if (rc == TR_PG) snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
        out->err = rc;
        return;
    }
    redis_lock l;
    lock_init_concert(&l, concert_id, ctx->worker_id, ++ctx->seq);
    rc = lock_acquire(ctx->redis, &l, ctx->cfg->lock_wait_ms, ctx->cfg->lock_lease_ms);
    if (rc != TR_OK) {
        if (rc == TR_REDIS)
            snprintf(ctx->detail, sizeof ctx->detail, "%s", redis_conn_errstr(ctx->redis));
        out->err = rc;
        out->retry_after_s = 1;
        return;
    }
    if (ctx->cfg->test_stall_ms > 0 && customer_id == ctx->cfg->test_stall_customer_id)
        sleep_ms(ctx->cfg->test_stall_ms);
    rc = redis_lock_locked(ctx, &l, concert_id, customer_id, out);
    if (rc == TR_PG) snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
    if (rc == TR_ALREADY_OWNED) {
        tr_err again = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
        if (again != TR_ALREADY_OWNED) rc = again == TR_OK ? TR_INTERNAL : again;
    }
    /* Release after the commit; if the release fails the lease frees the lock. */
    lock_release(ctx->redis, &l);
    out->err = rc;
    if (rc == TR_FENCED) out->retry_after_s = 1;
}

const strategy_ops strategy_redis_lock = {
    .name = "redis-lock",
    .summary = "Redis lease lock per concert with a fencing token checked by PostgreSQL",
    .needs_redis = true,
    .correct = true,
    .purchase = redis_lock_purchase,
};
