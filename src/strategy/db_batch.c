/* db_batch.c — PostgreSQL only, hot-row group commit (SPEC §3 `db-batch`): the purchases the
 * pool hands over together are grouped by concert, and each group is decided in ONE transaction
 * — lock the concert row once, PostgreSQL now() for R5, one query for which customers exist and
 * which already own a ticket, the first request of a customer wins (later ones are
 * already_owned with that ticket), seats sold+1 … sold+k in arrival order (R3) with VIP by seat
 * (R4), the overflow sold_out (R1), one INSERT of every new ticket, one update of the stored
 * remaining count (R8) — and answered after the commit (durable). Needs the guarded schema; no
 * Redis. Not a queue: nothing is deferred, a request waits only for its group's commit.
 *
 * DESIGN
 * - One round trip per group: the row lock and the deciding statement go
 *   out together in libpq pipeline mode and commit at the pipeline's Sync (pg_exec_pipeline). Under READ COMMITTED the
 *   deciding statement takes its snapshot after the lock is granted, so it sees every ticket the
 *   previous holder committed; the lock is held only while PostgreSQL itself works, never across
 *   a round trip to this process.
 * - Arrival order: the pool hands requests in queue order; groups keep it (a stable sort by
 *   concert), and the statement numbers the requests WITH ORDINALITY and gives seats by it.
 * - Failure: a group whose transaction fails (serialization, a lost connection, a unique
 *   violation, anything PostgreSQL refuses) is tried once more as a whole, unless it was
 *   cancelled (the server stops and its drain time is over). If that fails too, or after a
 *   cancel, every request of the group gets TR_PG, which the server answers 500 with Retry-After
 *   (outcome unknown: a commit whose answer was lost may have stored the tickets, and a retry
 *   then finds them already_owned). Never TR_OK for a ticket that is not committed. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "strategy/strategy.h"

/* The most purchases one call decides: bounds the statement's arrays (about 20 bytes each) and
 * how long one transaction holds the concert row. */
#define DB_BATCH_MAX 512

/* serve --workers by default. The pool decides one purchase batch at a time (http/pool.c), so
 * the purchases that arrive while a batch holds the concert row make the next batch, whatever
 * the worker count; the second worker answers the other routes meanwhile. (Before that rule,
 * each worker took its own batch: more workers split the waiting purchases into smaller
 * batches that queued on the same row lock and cost PostgreSQL more CPU per ticket — on
 * `scale`, 1 worker 18,860 tickets/s, 2 15,109–15,198, 4 13,376, 8 10,118, 32 4,480.) */
#define DB_BATCH_WORKERS 2

/* Outcome codes of the deciding statement's second column. */
enum {
    DECIDED_ISSUED,
    DECIDED_NO_CONCERT,
    DECIDED_NO_CUSTOMER,
    DECIDED_OWNED,
    DECIDED_CLOSED,
    DECIDED_SOLD_OUT
};

/* Taken first; the deciding statement, sent right behind it, starts once it is granted. */
static const pg_stmt lock_stmt = {"db_batch_lock", "SELECT 1 FROM concert WHERE id = $1 FOR UPDATE",
                                  1};

#define DECIDED_ISSUED_AT_US SQL_EPOCH_US("COALESCE(o.issued_at, i.issued_at)")
#define DECIDED_STARTS_AT_US SQL_EPOCH_US("c.starts_at")

/* $1 the concert, $2 the customers in arrival order. One row per request, in arrival order:
 * ordinal, outcome (DECIDED_*), then the ticket it names (NULLs when none) as q_ticket_from_row
 * reads it. c: the locked concert; r: the requests; k: the customers that exist; o: tickets they
 * already own (one index lookup per customer); f: each new buyer's first request; w: seats in
 * arrival order (only while sales are open); ins: the tickets within N; upd: remaining lowered
 * once. */
static const pg_stmt decide_stmt = {
    "db_batch_decide",
    "WITH c AS (SELECT id, total_seats, vip_seats, remaining, starts_at, starts_at > now() AS open"
    "   FROM concert WHERE id = $1),"
    " r AS (SELECT u.cu, u.ord FROM unnest($2::bigint[]) WITH ORDINALITY AS u(cu, ord)),"
    " k AS (SELECT id, name FROM customer WHERE id = ANY ($2::bigint[])),"
    " o AS (SELECT x.id, x.customer_id, x.seat_no, x.vip, x.issued_at"
    "   FROM (SELECT DISTINCT cu FROM r) d, LATERAL (SELECT t.id, t.customer_id, t.seat_no,"
    "     t.vip, t.issued_at FROM ticket t WHERE t.concert_id = $1 AND t.customer_id = d.cu"
    "     LIMIT 1) x),"
    " f AS (SELECT DISTINCT ON (r.cu) r.cu, r.ord FROM r JOIN k ON k.id = r.cu"
    "   WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.customer_id = r.cu) ORDER BY r.cu, r.ord),"
    " w AS (SELECT f.cu, f.ord, c.vip_seats, c.total_seats,"
    "   c.total_seats - c.remaining + row_number() OVER (ORDER BY f.ord) AS seat_no"
    "   FROM f, c WHERE c.open),"
    " ins AS (INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
    "   SELECT $1, w.cu, w.seat_no, w.seat_no <= w.vip_seats FROM w"
    "   WHERE w.seat_no <= w.total_seats ORDER BY w.ord"
    "   RETURNING id, customer_id, seat_no, vip, issued_at),"
    " upd AS (UPDATE concert SET remaining = remaining - (SELECT count(*) FROM ins)"
    "   WHERE id = $1 AND EXISTS (SELECT 1 FROM ins))"
    " SELECT r.ord,"
    "   CASE WHEN c.id IS NULL THEN 1 WHEN k.id IS NULL THEN 2 WHEN o.id IS NOT NULL THEN 3"
    "     WHEN i.id IS NOT NULL THEN CASE WHEN w.ord = r.ord THEN 0 ELSE 3 END"
    "     WHEN NOT c.open THEN 4 ELSE 5 END,"
    "   COALESCE(o.id, i.id), $1::bigint, r.cu, k.name, COALESCE(o.seat_no, i.seat_no),"
    "   COALESCE(o.vip, i.vip), " DECIDED_ISSUED_AT_US ", " DECIDED_STARTS_AT_US
    " FROM r LEFT JOIN c ON true LEFT JOIN k ON k.id = r.cu LEFT JOIN o ON o.customer_id = r.cu"
    "   LEFT JOIN ins i ON i.customer_id = r.cu LEFT JOIN w ON w.cu = r.cu"
    " ORDER BY r.ord",
    2};

#define DECIDE_COLS 10

static tr_err decided_err(int64_t code) {
    switch (code) {
    case DECIDED_ISSUED: return TR_OK;
    case DECIDED_NO_CONCERT: return TR_CONCERT_NOT_FOUND;
    case DECIDED_NO_CUSTOMER: return TR_CUSTOMER_NOT_FOUND;
    case DECIDED_OWNED: return TR_ALREADY_OWNED;
    case DECIDED_CLOSED: return TR_SALES_CLOSED;
    case DECIDED_SOLD_OUT: return TR_SOLD_OUT;
    default: return TR_INTERNAL;
    }
}

/* Reads the deciding statement's rows into out[group[0..k)]; false when the result is not the
 * one row per request it must be (the caller then answers outcome unknown). */
static bool group_read(const PGresult *r, int k, const int *group, purchase_result *out) {
    if (PQntuples(r) != k || PQnfields(r) != DECIDE_COLS) return false;
    for (int row = 0; row < k; row++) {
        int64_t ord = pg_get_i64(r, row, 0);
        if (ord != row + 1) return false;
        purchase_result *res = &out[group[row]];
        res->err = decided_err(pg_get_i64(r, row, 1));
        if (res->err == TR_INTERNAL) return false;
        if (res->err == TR_OK || res->err == TR_ALREADY_OWNED) {
            if (PQgetisnull(r, row, 2)) return false;
            q_ticket_from_row(r, row, 2, &res->t);
        }
    }
    return true;
}

/* Decides the k requests out[group[…]] of one concert in one transaction, tried twice. */
static void group_decide(strategy_ctx *ctx, int64_t concert_id, int k, const int *group,
                         const int64_t *customer_ids, purchase_result *out) {
    char cid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    dynbuf arr;
    dynbuf_init(&arr, (size_t)k * 21 + 3);
    dynbuf_puts(&arr, "{");
    for (int i = 0; i < k; i++)
        dynbuf_printf(&arr, i ? ",%" PRId64 : "%" PRId64, customer_ids[group[i]]);
    dynbuf_puts(&arr, "}");
    tr_err err = TR_NOMEM;
    if (!arr.failed) {
        /* Planned for the ticket table as it is now: every connection of ours uses custom
         * plans (store/pg.c). A generic plan made while the table was empty looked the owned
         * tickets up with a scan of every ticket of the concert — 40 ms for 128 purchases at
         * 15,000 tickets sold (auto_explain). */
        const pg_stmt *const stmts[] = {&lock_stmt, &decide_stmt};
        const char *const lock_params[] = {cid};
        const char *const decide_params[] = {cid, arr.data};
        const char *const *const params[] = {lock_params, decide_params};
        for (int attempt = 0; attempt < 2; attempt++) {
            PGresult *res[2];
            if (pg_exec_pipeline(ctx->pg, 2, stmts, params, res) != TR_OK) {
                snprintf(ctx->detail, sizeof ctx->detail, "db-batch: %s", pg_conn_errstr(ctx->pg));
                err = TR_PG;
                /* cancelled (the server stops and cancels what still runs): not again */
                if (strcmp(pg_conn_sqlstate(ctx->pg), PG_SQLSTATE_QUERY_CANCELED) == 0) break;
                continue;
            }
            bool ok = group_read(res[1], k, group, out);
            for (int i = 0; i < 2; i++) PQclear(res[i]);
            if (ok) {
                dynbuf_free(&arr);
                return;
            }
            /* Committed, but not readable: what it stored is unknown to us (never a 201). */
            snprintf(ctx->detail, sizeof ctx->detail,
                     "db-batch: the deciding statement answered %d rows for %d requests",
                     PQntuples(res[1]), k);
            err = TR_INTERNAL;
            break;
        }
    }
    dynbuf_free(&arr);
    for (int i = 0; i < k; i++) {
        memset(&out[group[i]], 0, sizeof out[group[i]]);
        out[group[i]].err = err;
    }
}

static void db_batch_purchase_batch(strategy_ctx *ctx, int n, const int64_t *concert_ids,
                                    const int64_t *customer_ids, purchase_result *out) {
    if (n < 1 || n > DB_BATCH_MAX) {
        for (int i = 0; i < n; i++) out[i].err = TR_INVALID_ARGUMENT;
        return;
    }
    int idx[DB_BATCH_MAX];
    for (int i = 0; i < n; i++) idx[i] = i;
    bool one_concert = true;
    for (int i = 1; i < n; i++) one_concert = one_concert && concert_ids[i] == concert_ids[0];
    if (!one_concert) {
        /* insertion sort: stable, no shared state, n ≤ DB_BATCH_MAX and groups are few */
        for (int i = 1; i < n; i++) {
            int v = idx[i], j = i;
            while (j > 0 && concert_ids[idx[j - 1]] > concert_ids[v]) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
    for (int start = 0; start < n;) {
        int end = start + 1;
        while (end < n && concert_ids[idx[end]] == concert_ids[idx[start]]) end++;
        group_decide(ctx, concert_ids[idx[start]], end - start, idx + start, customer_ids, out);
        start = end;
    }
}

static void db_batch_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                              purchase_result *out) {
    db_batch_purchase_batch(ctx, 1, &concert_id, &customer_id, out);
}

const strategy_ops strategy_db_batch = {
    .name = "db-batch",
    .summary = "PostgreSQL only, hot-row group commit: the waiting purchases of a concert in one "
               "transaction",
    .needs_redis = false,
    .correct = true,
    .purchase = db_batch_purchase,
    .purchase_batch = db_batch_purchase_batch,
    .batch_max = DB_BATCH_MAX,
    .workers = DB_BATCH_WORKERS,
};
