/* store_ceiling.c — the persister alone, storing a stream full of tickets (store_ceiling.h). */
#include "lab/store_ceiling.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "background/persister.h"
#include "common/clock.h"
#include "store/redis.h"
#include "store/sale.h"

#define FILL_CHUNK 1000
#define STORE_LIMIT_MS (600 * 1000)

/* Writes tickets 1..n of the sale as the purchase script would: the stream entry (i, c, s, v, t),
 * the owner and, at the end, the seat count — so the sale's counts add up (sale.h) and the
 * persister's once-a-second check finds nothing to bring forward. */
static tr_err fill(redis_conn *r, const sale_keys *k, int64_t n, int64_t vip, int64_t id_base,
                   char *errbuf, size_t errlen) {
    redisContext *ctx = redis_conn_raw_key(r, k->meta); /* the concert's master */
    if (ctx == NULL) {
        snprintf(errbuf, errlen, "Redis: %s", redis_conn_errstr(r));
        return TR_REDIS;
    }
    int64_t now_us = tr_wall_us();
    for (int64_t first = 1; first <= n; first += FILL_CHUNK) {
        int64_t last = first + FILL_CHUNK - 1 < n ? first + FILL_CHUNK - 1 : n;
        for (int64_t seat = first; seat <= last; seat++) {
            char id[24], c[24], s[24], t[24], owner[64];
            snprintf(id, sizeof id, "%" PRId64, id_base + seat);
            snprintf(c, sizeof c, "%" PRId64, seat);
            snprintf(s, sizeof s, "%" PRId64, seat);
            snprintf(t, sizeof t, "%" PRId64, now_us + seat);
            snprintf(owner, sizeof owner, "%" PRId64 ":%" PRId64, seat, now_us + seat);
            const char *xadd[] = {
                "XADD", k->stream, "*", "i", id, "c", c, "s", s, "v", seat <= vip ? "1" : "0",
                "t",    t};
            const char *hset[] = {"HSET", k->owners, c, owner};
            redisAppendCommandArgv(ctx, 13, xadd, NULL);
            redisAppendCommandArgv(ctx, 4, hset, NULL);
        }
        for (int64_t i = 0; i < 2 * (last - first + 1); i++) {
            void *rep = NULL;
            if (redisGetReply(ctx, &rep) != REDIS_OK || rep == NULL) {
                snprintf(errbuf, errlen, "Redis: %s", ctx->errstr);
                return TR_REDIS;
            }
            bool bad = ((redisReply *)rep)->type == REDIS_REPLY_ERROR;
            if (bad) snprintf(errbuf, errlen, "Redis: %s", ((redisReply *)rep)->str);
            freeReplyObject(rep);
            if (bad) return TR_REDIS;
        }
    }
    char count[24];
    snprintf(count, sizeof count, "%" PRId64, n);
    const char *set[] = {"SET", k->sold, count};
    redisReply *rep = redis_cmd_argv_key(r, set[1], 3, set, NULL);
    tr_err rc = rep && rep->type != REDIS_REPLY_ERROR ? TR_OK : TR_REDIS;
    if (rc != TR_OK) snprintf(errbuf, errlen, "Redis: %s", rep ? rep->str : redis_conn_errstr(r));
    if (rep) freeReplyObject(rep);
    return rc;
}

/* One integer field of the sale's meta hash; -1 when missing. */
static int64_t meta_i64(redis_conn *r, const sale_keys *k, const char *field) {
    const char *argv[] = {"HGET", k->meta, field};
    redisReply *rep = redis_cmd_argv_key(r, k->meta, 3, argv, NULL);
    int64_t v = rep && rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : -1;
    if (rep) freeReplyObject(rep);
    return v;
}

tr_err store_ceiling_run(pg_conn *pg, const store_ceiling_config *cfg, store_ceiling_result *out,
                         char *errbuf, size_t errlen) {
    memset(out, 0, sizeof *out);
    errbuf[0] = '\0';
    redis_conn *r = NULL;
    persister *p = NULL;
    tr_err rc = redis_conn_open(cfg->redis_addr, 10000, &r, errbuf, errlen);
    if (rc != TR_OK) return rc;
    if ((rc = sale_open(pg, r, cfg->concert_id, NULL, errbuf, errlen)) != TR_OK) goto out;
    sale_keys k;
    sale_keys_init(&k, cfg->concert_id);
    int64_t total = meta_i64(r, &k, "total"), vip = meta_i64(r, &k, "vip");
    int64_t base = meta_i64(r, &k, "ticket_id_base"), customers = meta_i64(r, &k, "customers");
    int64_t n = cfg->tickets > 0 ? cfg->tickets : total;
    const char *get[] = {"GET", k.sold};
    redisReply *sold = redis_cmd_argv_key(r, get[1], 2, get, NULL);
    int64_t already = sold && sold->type == REDIS_REPLY_STRING ? strtoll(sold->str, NULL, 10) : 0;
    if (sold) freeReplyObject(sold);
    if (already != 0) {
        snprintf(errbuf, errlen,
                 "concert %" PRId64 " has sold %" PRId64
                 " seats already: seed it again (ticketrush db seed)",
                 cfg->concert_id, already);
        rc = TR_INVALID_ARGUMENT;
        goto out;
    }
    if (total < 0 || vip < 0 || base < 0) {
        snprintf(errbuf, errlen, "the sale of concert %" PRId64 " is not readable in Redis",
                 cfg->concert_id);
        rc = TR_REDIS;
        goto out;
    }
    if (n > total || n > customers) {
        snprintf(errbuf, errlen,
                 "concert %" PRId64 " has %" PRId64 " seats and %" PRId64
                 " customers: cannot store %" PRId64 " tickets",
                 cfg->concert_id, total, customers, n);
        rc = TR_INVALID_ARGUMENT;
        goto out;
    }
    int64_t t0 = tr_mono_us();
    if ((rc = fill(r, &k, n, vip, base, errbuf, errlen)) != TR_OK) goto out;
    out->fill_us = tr_mono_us() - t0;
    persister_config pc = {.pg_conninfo = cfg->pg_conninfo,
                           .redis_addr = cfg->redis_addr,
                           .batch = cfg->batch > 0 ? cfg->batch : 1000};
    int64_t started = tr_mono_us(), first = 0, rows_first = 0,
            limit_ms = tr_mono_ms() + STORE_LIMIT_MS;
    if ((rc = persister_start(&pc, &p, errbuf, errlen)) != TR_OK) goto out;
    persister_stats st;
    for (;;) {
        persister_stats_read(p, &st);
        int64_t now = tr_mono_us();
        if (first == 0 && st.rows_stored > 0) first = now, rows_first = st.rows_stored;
        if (st.rows_stored >= n) break;
        if (tr_mono_ms() > limit_ms) {
            snprintf(errbuf, errlen, "stored %" PRId64 " of %" PRId64 " tickets in %d s",
                     st.rows_stored, n, STORE_LIMIT_MS / 1000);
            rc = TR_INTERNAL;
            break;
        }
        tr_sleep_ms(2);
    }
    int64_t end = tr_mono_us();
    out->tickets = st.rows_stored;
    out->commits = st.commits;
    out->startup_us = first > 0 ? first - started : end - started;
    out->store_us = first > 0 ? end - first : 0;
    out->per_s =
        out->store_us > 0 ? (double)(out->tickets - rows_first) * 1e6 / (double)out->store_us : 0;
out:
    persister_stop(p);
    redis_conn_free(r);
    return rc;
}
