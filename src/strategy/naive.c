/* naive.c — the study's "no Redis" technique (SPEC §3 `naive`), kept wrong on purpose: read the
 * remaining count and the customer's ownership, then insert the ticket and write back
 * remaining = (value read) − 1, as separate autocommit statements with no lock. Concurrent
 * buyers read the same count, so they take the same seat and the write-backs lose updates:
 * on the unguarded schema it oversells and sells duplicates (the lab shows it); on the guarded
 * schema the UNIQUE guards turn those races into refusals instead. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "strategy/strategy.h"

static const pg_stmt read_stmt = {
    "naive_read",
    "SELECT c.remaining, c.total_seats, c.vip_seats, c.starts_at <= now(),"
    " EXISTS (SELECT 1 FROM customer WHERE id = $2),"
    " EXISTS (SELECT 1 FROM ticket WHERE concert_id = $1 AND customer_id = $2)"
    " FROM concert c WHERE c.id = $1",
    2};

static const pg_stmt insert_stmt = {
    "naive_insert",
    "WITH ins AS (INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
    "   VALUES ($1, $2, $3, $4) RETURNING id, concert_id, customer_id, seat_no, vip, issued_at)"
    " SELECT ins.id, ins.concert_id, ins.customer_id, cu.name, ins.seat_no, ins.vip, " SQL_EPOCH_US(
        "ins.issued_at") ", " SQL_EPOCH_US("c.starts_at") " FROM ins JOIN customer cu ON cu.id = ins.customer_id JOIN concert c ON c.id = ins.concert_id",
    4};

static const pg_stmt write_back_stmt = {"naive_write_back",
                                        "UPDATE concert SET remaining = $2 WHERE id = $1", 2};

static void naive_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                           purchase_result *out) {
    char cid[24], uid[24], seat[24], vip[8], rem[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    snprintf(uid, sizeof uid, "%" PRId64, customer_id);
    const char *p_read[] = {cid, uid};
    PGresult *r = pg_exec_stmt(ctx->pg, &read_stmt, p_read);
    if (r == NULL) goto pg_failed;
    if (PQntuples(r) == 0) {
        PQclear(r);
        out->err = TR_CONCERT_NOT_FOUND;
        return;
    }
    int64_t remaining = pg_get_i64(r, 0, 0), total = pg_get_i64(r, 0, 1), v = pg_get_i64(r, 0, 2);
    bool closed = pg_get_bool(r, 0, 3), customer_known = pg_get_bool(r, 0, 4),
         owned = pg_get_bool(r, 0, 5);
    PQclear(r);
    if (!customer_known || owned || closed || remaining <= 0) {
        out->err = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
        if (out->err == TR_OK) out->err = TR_SOLD_OUT; /* the count read said so */
        if (out->err == TR_PG) goto pg_failed;
        return;
    }
    int64_t seat_no = total - remaining + 1;
    snprintf(seat, sizeof seat, "%" PRId64, seat_no);
    snprintf(vip, sizeof vip, "%s", seat_no <= v ? "t" : "f");
    const char *p_ins[] = {cid, uid, seat, vip};
    if ((r = pg_exec_stmt(ctx->pg, &insert_stmt, p_ins)) == NULL) {
        if (strcmp(pg_conn_sqlstate(ctx->pg), PG_SQLSTATE_UNIQUE_VIOLATION) == 0) {
            /* Guarded schema: the race lost to a guard. Same customer → already owned;
             * same seat → contention, the client may retry. */
            if (strcmp(pg_conn_constraint(ctx->pg), "ticket_one_per_customer") == 0) {
                out->err = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
                if (out->err == TR_OK) out->err = TR_BUSY;
                if (out->err == TR_PG) goto pg_failed;
            } else {
                out->err = TR_BUSY;
            }
            out->retry_after_s = 1;
            return;
        }
        goto pg_failed;
    }
    q_ticket_from_row(r, 0, 0, &out->t);
    PQclear(r);
    snprintf(rem, sizeof rem, "%" PRId64, remaining - 1);
    const char *p_wb[] = {cid, rem};
    if ((r = pg_exec_stmt(ctx->pg, &write_back_stmt, p_wb)) == NULL) goto pg_failed;
    PQclear(r);
    out->err = TR_OK;
    return;
pg_failed:
    snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
    out->err = TR_PG;
}

const strategy_ops strategy_naive = {
    .name = "naive",
    .summary = "the study's no-Redis read-modify-write, no locking (wrong under load)",
    .needs_redis = false,
    .correct = false,
    .purchase = naive_purchase,
};
