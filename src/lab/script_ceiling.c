/* script_ceiling.c — the purchase script alone against Redis (script_ceiling.h). */
#include "lab/script_ceiling.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "store/redis.h"
#include "strategy/redis_atomic.h"
#include "store/sale.h"

typedef struct sc_thread {
    const script_ceiling_config *cfg;
    const char *sha;
    sale_keys keys;
    atomic_size_t *next;
    int64_t t0_us; /* the run's start (tr_mono_us) */
    pthread_t thread;
    int64_t issued, refused, errors;
    int64_t last_issue_us; /* when this thread read its last ticket answer, from t0_us; 0: none */
    char err[256];
} sc_thread;

static void *sc_main(void *arg) {
    sc_thread *t = arg;
    redis_conn *rc = NULL;
    if (redis_conn_open(t->cfg->redis_addr, 10000, &rc, t->err, sizeof t->err) != TR_OK) {
        t->errors++;
        return NULL;
    }
    /* On a Redis Cluster: the master of the concert's slot (pipelined, so nothing follows a
     * redirect: a slot moved during the run shows as errors). */
    redisContext *ctx = redis_conn_raw_key(rc, t->keys.meta);
    const char *run_id = redis_conn_run_id_key(rc, t->keys.meta);
    for (;;) {
        size_t start = atomic_fetch_add(t->next, (size_t)t->cfg->in_flight);
        if (start >= t->cfg->requests || ctx == NULL) break;
        size_t end = start + (size_t)t->cfg->in_flight;
        if (end > t->cfg->requests) end = t->cfg->requests;
        char uid[24];
        for (size_t i = start; i < end; i++) {
            snprintf(uid, sizeof uid, "%" PRId64, t->cfg->customers[i].customer_id);
            const char *argv[] = {
                "EVALSHA",    t->sha,         "5", t->keys.meta, t->keys.customers, t->keys.owners,
                t->keys.sold, t->keys.stream, uid, run_id};
            redisAppendCommandArgv(ctx, 10, argv, NULL);
        }
        for (size_t i = start; i < end; i++) {
            void *r = NULL;
            if (redisGetReply(ctx, &r) != REDIS_OK || r == NULL) {
                snprintf(t->err, sizeof t->err, "Redis: %s", ctx->errstr);
                t->errors += (int64_t)(end - i);
                ctx = NULL;
                break;
            }
            redisReply *rep = r;
            if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                rep->element[0]->type == REDIS_REPLY_INTEGER) {
                if (rep->element[0]->integer == 1) {
                    t->issued++;
                    t->last_issue_us = tr_mono_us() - t->t0_us;
                } else {
                    t->refused++;
                }
            } else {
                t->errors++;
            }
            freeReplyObject(rep);
        }
    }
    redis_conn_free(rc);
    return NULL;
}

tr_err script_ceiling_run(pg_conn *pg, const script_ceiling_config *cfg, script_ceiling_result *out,
                          char *errbuf, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (errlen) errbuf[0] = '\0';
    if (cfg->connections < 1 || cfg->connections > 64 || cfg->in_flight < 1 ||
        cfg->in_flight > 4096 || cfg->customers == NULL) {
        snprintf(errbuf, errlen, "invalid script ceiling configuration");
        return TR_INVALID_ARGUMENT;
    }
    redis_conn *r = NULL;
    tr_err rc = redis_conn_open(cfg->redis_addr, 60000, &r, errbuf, errlen);
    if (rc != TR_OK) return rc;
    if ((rc = sale_open(pg, r, cfg->concert_id, NULL, errbuf, errlen)) != TR_OK) {
        redis_conn_free(r);
        return rc;
    }
    char sha[41] = "";
    sale_keys k;
    sale_keys_init(&k, cfg->concert_id);
    /* SCRIPT LOAD names no key: sent to the master of the concert's slot, where the calls go */
    redisReply *rep =
        redis_cmd_key(r, k.meta, "SCRIPT LOAD %s", redis_atomic_purchase_script()->src);
    if (rep && rep->type == REDIS_REPLY_STRING && rep->len == 40) memcpy(sha, rep->str, 41);
    if (rep) freeReplyObject(rep);
    redis_conn_free(r);
    if (sha[0] == '\0') {
        snprintf(errbuf, errlen, "could not load the purchase script into Redis");
        return TR_REDIS;
    }
    sc_thread *th = calloc((size_t)cfg->connections, sizeof *th);
    if (th == NULL) return TR_NOMEM;
    atomic_size_t next;
    atomic_init(&next, 0);
    int64_t t0 = tr_mono_us();
    int started = 0;
    for (int i = 0; i < cfg->connections; i++) {
        th[i].cfg = cfg;
        th[i].t0_us = t0;
        th[i].sha = sha;
        th[i].next = &next;
        sale_keys_init(&th[i].keys, cfg->concert_id);
        if (pthread_create(&th[i].thread, NULL, sc_main, &th[i]) != 0) break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i].thread, NULL);
        out->issued += th[i].issued;
        out->refused += th[i].refused;
        out->errors += th[i].errors;
        if (th[i].last_issue_us > out->sale_us) out->sale_us = th[i].last_issue_us;
        if (th[i].err[0] && errbuf[0] == '\0') snprintf(errbuf, errlen, "%s", th[i].err);
    }
    out->duration_us = tr_mono_us() - t0;
    int64_t calls = out->issued + out->refused;
    out->per_s = out->duration_us > 0 ? (double)calls * 1e6 / (double)out->duration_us : 0;
    out->sale_per_s = out->sale_us > 0 ? (double)out->issued * 1e6 / (double)out->sale_us : 0;
    free(th);
    if (started < cfg->connections) {
        snprintf(errbuf, errlen, "could not start the script ceiling threads");
        return TR_INTERNAL;
    }
    return out->errors > 0 ? TR_REDIS : TR_OK;
}
