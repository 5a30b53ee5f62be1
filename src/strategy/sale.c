/* sale.c — opening a sale in Redis (sale.h). */
#include "strategy/sale.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/queries.h"
#include "strategy/lock.h"

#define LOAD_CHUNK 1000 /* field/value pairs per HSET */

void sale_keys_init(sale_keys *k, int64_t id) {
    snprintf(k->meta, sizeof k->meta, "{concert:%" PRId64 "}:meta", id);
    snprintf(k->customers, sizeof k->customers, "{concert:%" PRId64 "}:customers", id);
    snprintf(k->owners, sizeof k->owners, "{concert:%" PRId64 "}:owners", id);
    snprintf(k->sold, sizeof k->sold, "{concert:%" PRId64 "}:sold", id);
    snprintf(k->stream, sizeof k->stream, "{concert:%" PRId64 "}:tickets", id);
    snprintf(k->line, sizeof k->line, "{concert:%" PRId64 "}:line", id);
    snprintf(k->outcomes, sizeof k->outcomes, "{concert:%" PRId64 "}:outcomes", id);
    snprintf(k->admitted, sizeof k->admitted, "{concert:%" PRId64 "}:admitted", id);
    snprintf(k->issuer, sizeof k->issuer, "{concert:%" PRId64 "}:issuer", id);
    snprintf(k->issuer_fence, sizeof k->issuer_fence, "{concert:%" PRId64 "}:issuer-fence", id);
    snprintf(k->loading, sizeof k->loading, "{concert:%" PRId64 "}:loading", id);
    snprintf(k->loading_fence, sizeof k->loading_fence, "{concert:%" PRId64 "}:loading-fence", id);
}

/* Reserves total_seats ticket ids from ticket_id_seq once per concert; returns the base. */
static const pg_stmt reserve_stmt = {
    "sale_reserve_ids",
    "UPDATE concert c SET ticket_id_base ="
    " (SELECT setval('ticket_id_seq', nextval('ticket_id_seq') + c.total_seats)) - c.total_seats - 1"
    " WHERE id = $1 AND ticket_id_base IS NULL",
    1};

static const pg_stmt concert_stmt = {
    "sale_concert",
    "SELECT name, " SQL_EPOCH_US("starts_at") ", total_seats, vip_seats, ticket_id_base,"
    " (SELECT count(*) FROM ticket WHERE concert_id = $1)"
    " FROM concert WHERE id = $1",
    1};

static const pg_stmt owners_stmt = {
    "sale_owners",
    "SELECT customer_id, seat_no, " SQL_EPOCH_US("issued_at") " FROM ticket WHERE concert_id = $1",
    1};

static bool reply_ok(redisReply *rep) { return rep && rep->type != REDIS_REPLY_ERROR; }

/* HSETs key from rows (field column, value produced by fmt_row) in chunks. */
static tr_err hset_rows(redis_conn *r, const char *key, PGresult *res, bool owners, char *err,
                        size_t errlen) {
    int n = PQntuples(res);
    const char **argv = malloc(sizeof *argv * (2 + 2 * LOAD_CHUNK));
    char *vals = malloc((size_t)LOAD_CHUNK * 48);
    if (argv == NULL || vals == NULL) {
        free(argv);
        free(vals);
        return TR_NOMEM;
    }
    tr_err rc = TR_OK;
    for (int i = 0; i < n && rc == TR_OK; i += LOAD_CHUNK) {
        int argc = 0;
        argv[argc++] = "HSET";
        argv[argc++] = key;
        for (int j = i; j < n && j < i + LOAD_CHUNK; j++) {
            argv[argc++] = PQgetvalue(res, j, 0);
            if (owners) {
                char *v = vals + (size_t)(j - i) * 48;
                snprintf(v, 48, "%s:%s", PQgetvalue(res, j, 1), PQgetvalue(res, j, 2));
                argv[argc++] = v;
            } else {
                argv[argc++] = PQgetvalue(res, j, 1);
            }
        }
        redisReply *rep = redis_cmd_argv(r, argc, argv, NULL);
        if (!reply_ok(rep)) {
            snprintf(err, errlen, "could not load %s: %s", key,
                     rep ? rep->str : redis_conn_errstr(r));
            rc = TR_REDIS;
        }
        if (rep) freeReplyObject(rep);
    }
    free(argv);
    free(vals);
    return rc;
}

/* Copies every customer (id → name) with a server-side cursor, 10,000 rows at a time. */
static tr_err load_customers(pg_conn *pg, redis_conn *r, const char *key, char *err,
                             size_t errlen) {
    tr_err rc = TR_OK;
    if (pg_exec_ok(pg, "BEGIN") != TR_OK ||
        pg_exec_ok(pg, "DECLARE sale_customers NO SCROLL CURSOR FOR SELECT id, name FROM customer") !=
            TR_OK) {
        snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        return TR_PG;
    }
    for (;;) {
        PGresult *res = pg_exec(pg, "FETCH 10000 FROM sale_customers");
        if (res == NULL) {
            snprintf(err, errlen, "%s", pg_conn_errstr(pg));
            return TR_PG;
        }
        int n = PQntuples(res);
        if (n > 0) rc = hset_rows(r, key, res, false, err, errlen);
        PQclear(res);
        if (n == 0 || rc != TR_OK) break;
    }
    if (pg_exec_ok(pg, "COMMIT") != TR_OK && rc == TR_OK) {
        snprintf(err, errlen, "%s", pg_conn_errstr(pg));
        rc = TR_PG;
    }
    return rc;
}

static tr_err meta_exists(redis_conn *r, const sale_keys *k, bool *exists, char *err,
                          size_t errlen) {
    redisReply *rep = redis_cmd(r, "EXISTS %s", k->meta);
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
        snprintf(err, errlen, "could not check %s: %s", k->meta,
                 rep && rep->str ? rep->str : redis_conn_errstr(r));
        if (rep) freeReplyObject(rep);
        return TR_REDIS;
    }
    *exists = rep->integer == 1;
    freeReplyObject(rep);
    return TR_OK;
}

static tr_err sale_load(pg_conn *pg, redis_conn *r, const sale_keys *k, int64_t concert_id,
                        char *err, size_t errlen) {
    char cid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    const char *params[] = {cid};
    PGresult *res = pg_exec_stmt(pg, &reserve_stmt, params);
    if (res == NULL) goto pg_failed;
    PQclear(res);
    if ((res = pg_exec_stmt(pg, &concert_stmt, params)) == NULL) goto pg_failed;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return TR_CONCERT_NOT_FOUND;
    }
    char name[128], starts[24], total[16], vip[16], base[24], sold[24];
    snprintf(name, sizeof name, "%s", PQgetvalue(res, 0, 0));
    snprintf(starts, sizeof starts, "%s", PQgetvalue(res, 0, 1));
    snprintf(total, sizeof total, "%s", PQgetvalue(res, 0, 2));
    snprintf(vip, sizeof vip, "%s", PQgetvalue(res, 0, 3));
    snprintf(base, sizeof base, "%s", PQgetvalue(res, 0, 4));
    snprintf(sold, sizeof sold, "%s", PQgetvalue(res, 0, 5));
    PQclear(res);

    /* A sale being rebuilt starts from what PostgreSQL holds; nothing else survives. */
    redisReply *rep = redis_cmd(r, "DEL %s %s %s %s %s %s %s %s", k->customers, k->owners, k->sold,
                                k->stream, k->meta, k->line, k->outcomes, k->admitted);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    if ((res = pg_exec_stmt(pg, &owners_stmt, params)) == NULL) goto pg_failed;
    tr_err rc = hset_rows(r, k->owners, res, true, err, errlen);
    PQclear(res);
    if (rc != TR_OK) return rc;
    if ((rc = load_customers(pg, r, k->customers, err, errlen)) != TR_OK) return rc;
    rep = redis_cmd(r, "XGROUP CREATE %s %s 0 MKSTREAM", k->stream, SALE_GROUP);
    if (!reply_ok(rep) && !(rep && strncmp(rep->str, "BUSYGROUP", 9) == 0)) goto redis_failed_rep;
    freeReplyObject(rep);
    rep = redis_cmd(r, "SET %s %s", k->sold, sold);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    rep = redis_cmd(r, "SADD %s %s", SALE_OPEN_SET, cid);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    rep = redis_cmd(r, "HSET %s name %s starts_at_us %s total %s vip %s ticket_id_base %s", k->meta,
                    name, starts, total, vip, base);
    if (!reply_ok(rep)) goto redis_failed_rep;
    freeReplyObject(rep);
    return TR_OK;
pg_failed:
    snprintf(err, errlen, "%s", pg_conn_errstr(pg));
    return TR_PG;
redis_failed_rep:
    snprintf(err, errlen, "could not open the sale of concert %" PRId64 " in Redis: %s", concert_id,
             rep ? rep->str : redis_conn_errstr(r));
    if (rep) freeReplyObject(rep);
    return TR_REDIS;
}

tr_err sale_open(pg_conn *pg, redis_conn *r, int64_t concert_id, char *err, size_t errlen) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    bool exists = false;
    tr_err rc = meta_exists(r, &k, &exists, err, errlen);
    if (rc != TR_OK || exists) return rc;
    /* Refuse unknown concerts before writing anything (bad input changes nothing). */
    concert c;
    rc = q_concert_get(pg, concert_id, &c);
    if (rc == TR_PG) snprintf(err, errlen, "%s", pg_conn_errstr(pg));
    if (rc != TR_OK) return rc;
    redis_lock l;
    lock_init_keys(&l, k.loading, k.loading_fence, (uint64_t)getpid(), (uint64_t)(uintptr_t)&l);
    rc = lock_acquire(r, &l, 60000, 120000);
    if (rc != TR_OK) {
        snprintf(err, errlen, "could not take the loading lock %s", k.loading);
        return rc;
    }
    rc = meta_exists(r, &k, &exists, err, errlen);
    if (rc == TR_OK && !exists) rc = sale_load(pg, r, &k, concert_id, err, errlen);
    lock_release(r, &l);
    return rc;
}

int64_t sale_reply_i64(const redisReply *r) {
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
    return 0;
}

bool sale_ticket_from_reply(const redisReply *a, int64_t concert_id, int64_t customer_id,
                            ticket *t) {
    if (a->type != REDIS_REPLY_ARRAY || a->elements < 7) return false;
    memset(t, 0, sizeof *t);
    t->concert_id = concert_id;
    t->customer_id = customer_id;
    t->seat_no = (int32_t)sale_reply_i64(a->element[1]);
    t->vip = sale_reply_i64(a->element[2]) == 1;
    t->issued_at_us = sale_reply_i64(a->element[3]);
    snprintf(t->customer_name, sizeof t->customer_name, "%s",
             a->element[4]->type == REDIS_REPLY_STRING ? a->element[4]->str : "");
    t->ticket_id = sale_reply_i64(a->element[5]);
    t->concert_starts_at_us = sale_reply_i64(a->element[6]);
    return true;
}

redisReply *sale_eval(pg_conn *pg, redis_conn *r, const redis_script *s, int64_t concert_id,
                      int nkeys, const char *const *keys, int64_t customer_id, tr_err *rc,
                      char *detail, size_t detaillen) {
    char uid[24];
    snprintf(uid, sizeof uid, "%" PRId64, customer_id);
    const char *args[] = {uid};
    for (int attempt = 0; attempt < 2; attempt++) {
        redisReply *rep = redis_eval(r, s, nkeys, keys, 1, args);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
            snprintf(detail, detaillen, "%s: %s", s->name,
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(r));
            if (rep) freeReplyObject(rep);
            *rc = TR_REDIS;
            return NULL;
        }
        if (sale_reply_i64(rep->element[0]) != -1) return rep;
        freeReplyObject(rep);
        /* Not loaded: open the sale (idempotent; one loader at a time) and run again. */
        if (pg == NULL) {
            snprintf(detail, detaillen, "the sale of concert %" PRId64 " is not loaded in Redis "
                     "and PostgreSQL is not connected", concert_id);
            *rc = TR_PG;
            return NULL;
        }
        if ((*rc = sale_open(pg, r, concert_id, detail, detaillen)) != TR_OK) return NULL;
    }
    snprintf(detail, detaillen, "sale of concert %" PRId64 " did not load", concert_id);
    *rc = TR_INTERNAL;
    return NULL;
}
