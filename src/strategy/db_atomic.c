/* db_atomic.c — the plain-PostgreSQL peer (SPEC §3 `db-atomic`): one statement, hence one
 * transaction, that decrements remaining only while remaining > 0 and sales are open (R1, R5 by
 * PostgreSQL now()), takes seat = N − remaining after the decrement (R3; the concert row lock
 * serialises concurrent buyers, so seats stay dense), and inserts the ticket guarded by
 * UNIQUE(concert_id, customer_id) (R2). Needs the guarded schema; no Redis. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "strategy/strategy.h"

static const pg_stmt purchase_stmt = {
    "db_atomic_purchase",
    "WITH cu AS (SELECT id, name FROM customer WHERE id = $2),"
    " upd AS (UPDATE concert SET remaining = remaining - 1"
    "   WHERE id = $1 AND remaining > 0 AND starts_at > now()"
    "     AND EXISTS (SELECT 1 FROM cu)"
    "     AND NOT EXISTS (SELECT 1 FROM ticket WHERE concert_id = $1 AND customer_id = $2)"
    "   RETURNING id, total_seats - remaining AS seat_no, vip_seats, starts_at),"
    " ins AS (INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
    "   SELECT upd.id, $2, upd.seat_no, upd.seat_no <= upd.vip_seats FROM upd"
    "   RETURNING id, concert_id, customer_id, seat_no, vip, issued_at)"
    " SELECT ins.id, ins.concert_id, ins.customer_id, cu.name, ins.seat_no, ins.vip, " SQL_EPOCH_US(
        "ins.issued_at") ", " SQL_EPOCH_US("upd.starts_at") " FROM ins, upd, cu",
    2};

static void db_atomic_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                               purchase_result *out) {
    char cid[24], uid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    snprintf(uid, sizeof uid, "%" PRId64, customer_id);
    const char *params[] = {cid, uid};
    /* A refusal found after a failed attempt can race with nothing that would make a retry
     * succeed, except a concurrent duplicate that rolled back; three attempts are plenty. */
    for (int attempt = 0; attempt < 3; attempt++) {
        PGresult *r = pg_exec_stmt(ctx->pg, &purchase_stmt, params);
        if (r != NULL && PQntuples(r) == 1) {
            q_ticket_from_row(r, 0, 0, &out->t);
            PQclear(r);
            out->err = TR_OK;
            return;
        }
        if (r == NULL && strcmp(pg_conn_sqlstate(ctx->pg), PG_SQLSTATE_UNIQUE_VIOLATION) != 0) {
            snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
            out->err = TR_PG;
            return;
        }
        PQclear(r);
        /* No row: a rule refused it, or a concurrent purchase by the same customer won the
         * UNIQUE guard. Ask PostgreSQL which rule. */
        out->err = q_purchase_refusal(ctx->pg, concert_id, customer_id, &out->t);
        if (out->err == TR_PG)
            snprintf(ctx->detail, sizeof ctx->detail, "%s", pg_conn_errstr(ctx->pg));
        if (out->err != TR_OK) return;
    }
    snprintf(ctx->detail, sizeof ctx->detail,
             "db-atomic: purchase neither succeeded nor was refused");
    out->err = TR_INTERNAL;
}

const strategy_ops strategy_db_atomic = {
    .name = "db-atomic",
    .summary = "PostgreSQL only: one conditional UPDATE … RETURNING and a guarded INSERT",
    .needs_redis = false,
    .correct = true,
    .purchase = db_atomic_purchase,
};
