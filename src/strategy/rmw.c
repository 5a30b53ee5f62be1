/* rmw.c — the locked read-modify-write purchase behind rmw.h. */
#include "strategy/rmw.h"

#include <inttypes.h>
#include <stdio.h>

/* Writes the ticket and the remaining count computed from the value read under the row lock. */
static const pg_stmt write_stmt = {
    "rmw_write",
    "WITH upd AS (UPDATE concert SET remaining = $5 WHERE id = $1 RETURNING starts_at),"
    " ins AS (INSERT INTO ticket (concert_id, customer_id, seat_no, vip) VALUES ($1, $2, $3, $4)"
    "   RETURNING id, concert_id, customer_id, seat_no, vip, issued_at)"
    " SELECT ins.id, ins.concert_id, ins.customer_id, cu.name, ins.seat_no, ins.vip, " SQL_EPOCH_US(
        "ins.issued_at") ", " SQL_EPOCH_US("upd.starts_at") " FROM ins, upd, customer cu WHERE cu.id = ins.customer_id",
    5};

static const pg_stmt owned_stmt = {
    "rmw_owned", "SELECT EXISTS (SELECT 1 FROM ticket WHERE concert_id = $1 AND customer_id = $2)",
    2};

static tr_err rmw_fail(strategy_ctx *ctx) {
    snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
    return TR_PG;
}

tr_err rmw_purchase(strategy_ctx *ctx, const pg_stmt *lock_stmt, int64_t concert_id,
                    int64_t customer_id, const char *extra, tr_err no_row_err,
                    purchase_result *out) {
    char cid[24], uid[24], seat[24], vip[8], rem[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    snprintf(uid, sizeof uid, "%" PRId64, customer_id);
    const char *params[] = {cid, uid, extra};
    if (pg_exec_ok(ctx->pg, "BEGIN") != TR_OK) return rmw_fail(ctx);
    PGresult *r = pg_exec_stmt(ctx->pg, lock_stmt, params);
    if (r == NULL) return rmw_fail(ctx);
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (pg_exec_ok(ctx->pg, "ROLLBACK") != TR_OK) return rmw_fail(ctx);
        return no_row_err;
    }
    int64_t remaining = pg_get_i64(r, 0, 0), total = pg_get_i64(r, 0, 1), v = pg_get_i64(r, 0, 2);
    bool closed = pg_get_bool(r, 0, 3);
    PQclear(r);
    /* Ownership is read by its own statement, after the row lock is held: a statement that
     * waited for the lock still sees its start-time snapshot in subqueries (READ COMMITTED), so
     * it could miss the ticket the previous holder just committed for this customer. */
    if ((r = pg_exec_stmt(ctx->pg, &owned_stmt, params)) == NULL) return rmw_fail(ctx);
    bool owned = pg_get_bool(r, 0, 0);
    PQclear(r);
    tr_err refusal = owned            ? TR_ALREADY_OWNED
                     : closed         ? TR_SALES_CLOSED
                     : remaining <= 0 ? TR_SOLD_OUT
                                      : TR_OK;
    if (refusal != TR_OK) {
        /* COMMIT, not ROLLBACK: what the lock statement wrote (a fencing token) must stay. */
        if (pg_exec_ok(ctx->pg, "COMMIT") != TR_OK) return rmw_fail(ctx);
        if (refusal == TR_ALREADY_OWNED) {
            /* SPEC §2: the 409 carries the ticket the customer owns. */
            tr_err again = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
            if (again == TR_PG) return rmw_fail(ctx);
            if (again != TR_ALREADY_OWNED) refusal = again == TR_OK ? TR_INTERNAL : again;
        }
        return refusal;
    }
    int64_t seat_no = total - remaining + 1;
    snprintf(seat, sizeof seat, "%" PRId64, seat_no);
    snprintf(vip, sizeof vip, "%s", seat_no <= v ? "t" : "f");
    snprintf(rem, sizeof rem, "%" PRId64, remaining - 1);
    const char *p_write[] = {cid, uid, seat, vip, rem};
    if ((r = pg_exec_stmt(ctx->pg, &write_stmt, p_write)) == NULL) return rmw_fail(ctx);
    q_ticket_from_row(r, 0, 0, &out->t);
    PQclear(r);
    if (pg_exec_ok(ctx->pg, "COMMIT") != TR_OK) return rmw_fail(ctx);
    return TR_OK;
}
