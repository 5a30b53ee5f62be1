/* rmw.h — the study's read-modify-write purchase, made safe by a row lock: one PostgreSQL
 * transaction whose first statement locks the concert row and reads what the decision needs,
 * then inserts the ticket at seat N − remaining + 1 and writes remaining − 1. Shared by db-lock
 * (the lock statement is SELECT … FOR UPDATE) and the Redis-lock strategies (the lock statement
 * registers their fencing token on the row). Not a strategy by itself. */
#ifndef TR_RMW_H
#define TR_RMW_H

#include "strategy/strategy.h"

/* lock_stmt takes $1 concert id, $2 customer id and, when extra is not NULL, $3 = extra; it
 * returns zero rows or one row: remaining, total_seats, vip_seats, closed (starts_at <= now()).
 * Returns TR_OK (out->t is the ticket), no_row_err when the lock statement returned no row,
 * TR_ALREADY_OWNED (out->t is the owned ticket), TR_SALES_CLOSED / TR_SOLD_OUT (R5, R1), or
 * TR_PG (ctx->detail says why). The transaction is closed whatever happens. */
tr_err rmw_purchase(strategy_ctx *ctx, const pg_stmt *lock_stmt, int64_t concert_id,
                    int64_t customer_id, const char *extra, tr_err no_row_err,
                    purchase_result *out);

#endif
