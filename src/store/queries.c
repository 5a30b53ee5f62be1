/* queries.c — shared reads behind queries.h. */
#include "store/queries.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TICKET_COLS                                                                                \
    "t.id, t.concert_id, t.customer_id, cu.name, t.seat_no, t.vip, " SQL_EPOCH_US(                 \
        "t.issued_at") ", " SQL_EPOCH_US("c.starts_at")

void q_ticket_from_row(const PGresult *r, int row, int col, ticket *out) {
    memset(out, 0, sizeof *out);
    out->ticket_id = pg_get_i64(r, row, col + 0);
    out->concert_id = pg_get_i64(r, row, col + 1);
    out->customer_id = pg_get_i64(r, row, col + 2);
    snprintf(out->customer_name, sizeof out->customer_name, "%s", PQgetvalue(r, row, col + 3));
    out->seat_no = (int32_t)pg_get_i64(r, row, col + 4);
    out->vip = pg_get_bool(r, row, col + 5);
    out->issued_at_us = pg_get_i64(r, row, col + 6);
    out->concert_starts_at_us = pg_get_i64(r, row, col + 7);
}

tr_err q_concert_get(pg_conn *pg, int64_t concert_id, concert *out) {
    static const pg_stmt st = {
        "q_concert_get",
        "SELECT id, name, " SQL_EPOCH_US("starts_at") ", total_seats, vip_seats, remaining "
                                                      "FROM concert WHERE id = $1",
        1};
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, concert_id);
    const char *params[] = {id};
    PGresult *r = pg_exec_stmt(pg, &st, params);
    if (r == NULL) return TR_PG;
    tr_err rc = TR_OK;
    if (PQntuples(r) == 0) {
        rc = TR_CONCERT_NOT_FOUND;
    } else {
        memset(out, 0, sizeof *out);
        out->id = pg_get_i64(r, 0, 0);
        snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 1));
        out->starts_at_us = pg_get_i64(r, 0, 2);
        out->total_seats = (int32_t)pg_get_i64(r, 0, 3);
        out->vip_seats = (int32_t)pg_get_i64(r, 0, 4);
        out->remaining = (int32_t)pg_get_i64(r, 0, 5);
    }
    PQclear(r);
    return rc;
}

/* One round trip that answers every question a refusal needs. Columns: concert exists,
 * customer exists, closed (starts_at <= now()), remaining, then the owned ticket (NULLs if none). */
static const pg_stmt refusal_stmt = {
    "q_purchase_refusal",
    "SELECT c.id IS NOT NULL, cu.id IS NOT NULL, c.starts_at <= now(), c.remaining, " TICKET_COLS
    " FROM (SELECT $1::bigint AS concert_id, $2::bigint AS customer_id) p"
    " LEFT JOIN concert c ON c.id = p.concert_id"
    " LEFT JOIN customer cu ON cu.id = p.customer_id"
    " LEFT JOIN LATERAL (SELECT * FROM ticket x WHERE x.concert_id = p.concert_id"
    "   AND x.customer_id = p.customer_id ORDER BY x.id LIMIT 1) t ON true",
    2};

static PGresult *refusal_query(pg_conn *pg, int64_t concert_id, int64_t customer_id) {
    char cid[24], uid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    snprintf(uid, sizeof uid, "%" PRId64, customer_id);
    const char *params[] = {cid, uid};
    return pg_exec_stmt(pg, &refusal_stmt, params);
}

tr_err q_ticket_of(pg_conn *pg, int64_t concert_id, int64_t customer_id, ticket *out, bool *found) {
    PGresult *r = refusal_query(pg, concert_id, customer_id);
    if (r == NULL) return TR_PG;
    tr_err rc = TR_OK;
    *found = false;
    if (!pg_get_bool(r, 0, 0)) {
        rc = TR_CONCERT_NOT_FOUND;
    } else if (!pg_get_bool(r, 0, 1)) {
        rc = TR_CUSTOMER_NOT_FOUND;
    } else if (!PQgetisnull(r, 0, 4)) {
        q_ticket_from_row(r, 0, 4, out);
        *found = true;
    }
    PQclear(r);
    return rc;
}

tr_err q_purchase_refusal(pg_conn *pg, int64_t concert_id, int64_t customer_id, ticket *owned) {
    PGresult *r = refusal_query(pg, concert_id, customer_id);
    if (r == NULL) return TR_PG;
    tr_err rc = TR_OK;
    if (!pg_get_bool(r, 0, 0)) {
        rc = TR_CONCERT_NOT_FOUND;
    } else if (!pg_get_bool(r, 0, 1)) {
        rc = TR_CUSTOMER_NOT_FOUND;
    } else if (!PQgetisnull(r, 0, 4)) {
        q_ticket_from_row(r, 0, 4, owned);
        rc = TR_ALREADY_OWNED;
    } else if (pg_get_bool(r, 0, 2)) {
        rc = TR_SALES_CLOSED;
    } else if (pg_get_i64(r, 0, 3) <= 0) {
        rc = TR_SOLD_OUT;
    }
    PQclear(r);
    return rc;
}
