/* strategy.h — the purchase-strategy interface (SPEC §3): one `static const strategy_ops` per
 * file in src/strategy/, registered by name in strategy.c and found with strategy_find().
 * Callers use the inline wrappers below, never ops->fn directly. Not the HTTP layer. */
#ifndef TR_STRATEGY_H
#define TR_STRATEGY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "store/pg.h"
#include "store/queries.h"
#include "store/redis.h"

/* Settings shared by all strategies; each reads the fields it needs. */
typedef struct strategy_config {
    int lock_wait_ms;  /* redis-lock: how long to wait for the lock, 1..60000 (default 2000) */
    int lock_lease_ms; /* redis-lock: lease (PX) of a held lock, 1..600000 (default 3000) */
    /* Test hook, off (0) in production: a redis-lock holder sleeps this many ms after acquiring
     * the lock and before writing, when the customer id equals stall_customer_id. It is how the
     * integration test makes a holder outlive its lease to prove the fencing token works. */
    int test_stall_ms;
    int64_t test_stall_customer_id;
} strategy_config;

#define STRATEGY_CONFIG_DEFAULT {2000, 3000, 0, 0}

/* What one request thread owns while it runs a strategy: its own connections (borrowed from the
 * worker, never shared between threads) and the configuration (shared, read-only). */
typedef struct strategy_ctx {
    pg_conn *pg;
    redis_conn *redis; /* NULL for strategies with needs_redis == false */
    const strategy_config *cfg;
    uint64_t worker_id;   /* unique per worker in this process, for lock tokens */
    uint64_t seq;         /* per-worker counter, for lock tokens */
    char detail[256];     /* why an internal error happened, for the log; never sent to clients */
} strategy_ctx;

/* The outcome of one purchase. err is TR_OK when a ticket was issued (t is it);
 * TR_ALREADY_OWNED carries the ticket the customer owns (SPEC §2: 409 with the ticket);
 * any other code is a refusal or failure, with t unset. */
typedef struct purchase_result {
    tr_err err;
    ticket t;
    int retry_after_s; /* for TR_BUSY / TR_FENCED: seconds for the Retry-After header (≥ 1) */
} purchase_result;

typedef struct strategy_ops {
    const char *name;    /* the --strategy value, e.g. "db-atomic" */
    const char *summary; /* one line for --help */
    bool needs_redis;
    bool correct;        /* false for naive: keeps R1–R8 only without concurrency */
    /* Buy one ticket. concert_id and customer_id are already validated as 1..2^63−1.
     * Must leave ctx's connections usable (no open transaction) whatever happens. Required. */
    void (*purchase)(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                     purchase_result *out);
} strategy_ops;

/* The registered strategy with this name, or NULL. */
const strategy_ops *strategy_find(const char *name);
/* The i-th registered strategy (0-based), or NULL past the end. */
const strategy_ops *strategy_at(int i);

static inline void strategy_purchase(const strategy_ops *s, strategy_ctx *ctx, int64_t concert_id,
                                     int64_t customer_id, purchase_result *out) {
    s->purchase(ctx, concert_id, customer_id, out);
}

#endif
