/* db_lock.c — PostgreSQL's pessimistic lock (SPEC §3 `db-lock`): what a Spring developer writes
 * with @Lock(PESSIMISTIC_WRITE). SELECT … FOR UPDATE on the concert row, then the study's
 * read-modify-write in the same transaction (rmw.h). Waiters queue on the row lock in PostgreSQL,
 * so refusals come only from the rules, never from contention. No Redis. */
#include <stdio.h>

#include "strategy/rmw.h"
#include "strategy/strategy.h"

static const pg_stmt lock_stmt = {"db_lock_select_for_update",
                                  "SELECT remaining, total_seats, vip_seats, starts_at <= now()"
                                  " FROM concert WHERE id = $1 FOR UPDATE",
                                  1};

static void db_lock_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                             purchase_result *out) {
    /* Unknown ids are refused before taking the row lock. */
    tr_err rc = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
    if (rc == TR_SOLD_OUT || rc == TR_SALES_CLOSED) rc = TR_OK; /* decided under the lock */
    if (rc == TR_OK)
        rc =
            rmw_purchase(ctx, &lock_stmt, concert_id, customer_id, NULL, TR_CONCERT_NOT_FOUND, out);
    if (rc == TR_PG && ctx->detail[0] == '\0')
        snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
    out->err = rc;
}

const strategy_ops strategy_db_lock = {
    .name = "db-lock",
    .summary = "PostgreSQL SELECT … FOR UPDATE on the concert row, then read-modify-write",
    .needs_redis = false,
    .correct = true,
    .purchase = db_lock_purchase,
};
