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

/* With --durability strict, how long an answer waits for the commit that holds its ticket before
 * it gives up with 500 (ms). */
#define STRATEGY_STRICT_WAIT_MS 10000

/* --durability for redis-atomic: when a purchase is answered (SPEC §3). */
typedef enum {
    DURABILITY_FAST,   /* after the Redis script; loss window = Redis AOF fsync (everysec: ≤ 1 s) */
    DURABILITY_STRICT, /* after the PostgreSQL commit that holds the ticket (group commit) */
} durability_mode;

/* Settings shared by all strategies; each reads the fields it needs. */
typedef struct strategy_config {
    int lock_wait_ms;  /* redis-lock: how long to wait for the lock, 0..60000 (default 2000) */
    int lock_lease_ms; /* redis-lock: lease (PX) of a held lock, 1..600000 (default 3000) */
    /* Test hook, off (0) in production: a redis-lock holder sleeps this many ms after acquiring
     * the lock and before writing, when the customer id equals stall_customer_id. It is how the
     * integration test makes a holder outlive its lease to prove the fencing token works. */
    int test_stall_ms;
    int64_t test_stall_customer_id;
    /* For strategies with background workers (their own connections). */
    const char *pg_conninfo;
    const char *redis_addr;
    durability_mode durability; /* redis-atomic */
    int persist_batch;          /* redis-atomic persister / redis-zset issuer: entries per
                                   PostgreSQL transaction, 1..10000 (default 1000) */
    int reclaim_idle_ms;        /* redis-atomic: pending entries idle this long (ms) belong to a
                                   dead persister and are reclaimed (XAUTOCLAIM), default 10000 */
    /* Test hook, off (0) in production: the persister waits this many ms after reading a batch
     * and before committing it, so a test can SIGKILL it between admission and persistence. */
    int test_persist_delay_ms;
} strategy_config;

#define STRATEGY_CONFIG_DEFAULT                                                                 \
    {.lock_wait_ms = 2000, .lock_lease_ms = 3000, .durability = DURABILITY_FAST,                \
     .persist_batch = 1000, .reclaim_idle_ms = 10000}

/* What one request thread owns while it runs a strategy: its own connections (borrowed from the
 * worker, never shared between threads) and the configuration (shared, read-only). */
typedef struct strategy_ctx {
    pg_conn *pg;
    redis_conn *redis; /* NULL for strategies with needs_redis == false */
    const strategy_config *cfg;
    uint64_t worker_id;   /* unique per worker in this process, for lock tokens */
    uint64_t seq;         /* per-worker counter, for lock tokens */
    char detail[256];     /* why an internal error happened, for the log; never sent to clients */
    void *state;          /* the strategy's shared runtime from ops->start (thread-safe), or NULL */
} strategy_ctx;

/* The outcome of one purchase. err is TR_OK when a ticket was issued (t is it);
 * TR_ALREADY_OWNED carries the ticket the customer owns (SPEC §2: 409 with the ticket);
 * any other code is a refusal or failure, with t unset. */
typedef struct purchase_result {
    tr_err err;
    ticket t;
    int retry_after_s; /* for TR_BUSY / TR_FENCED: seconds for the Retry-After header (≥ 1) */
    bool queued;       /* with TR_OK: admitted to a waiting line (202), not yet issued */
    int64_t position;  /* with queued: 1-based place in the line when admitted */
    /* Event-loop dispatch only: with TR_OK, the answer waits until loop_durable says the ticket
     * is stored (strict durability); durable_token says which write (the strategy's own). */
    bool wait_durable;
    uint64_t durable_token[2];
} purchase_result;

/* A customer's outcome for GET /concerts/{id}/tickets/{customerId} (SPEC §2). */
typedef enum { OUTCOME_NONE, OUTCOME_ISSUED, OUTCOME_QUEUED, OUTCOME_REJECTED } outcome_status;

typedef struct outcome {
    outcome_status status;
    ticket t;         /* OUTCOME_ISSUED */
    int64_t position; /* OUTCOME_QUEUED: 1-based place among those still waiting */
    tr_err reason;    /* OUTCOME_REJECTED: e.g. TR_SOLD_OUT */
} outcome;

/* One script call of a purchase, for the server's event-loop dispatch (strategy_ops.loop_*). */
typedef struct script_call {
    int nkeys, nargs; /* 0..6 and 0..2 */
    char keys[6][64];
    char args[2][REDIS_RUN_ID_MAX];
} script_call;

typedef struct strategy_ops {
    const char *name;    /* the --strategy value, e.g. "db-atomic" */
    const char *summary; /* one line for --help */
    bool needs_redis;
    bool correct;        /* false for naive: keeps R1–R8 only without concurrency */
    /* true when purchase (and outcome, if set) need only Redis once the sale is loaded there:
     * the server then serves them while PostgreSQL is down, with ctx->pg NULL (a sale that is
     * not loaded yet answers 500, as it needs PostgreSQL to load). */
    bool admits_without_pg;
    /* Buy one ticket. concert_id and customer_id are already validated as 1..2^63−1.
     * Must leave ctx's connections usable (no open transaction) whatever happens. Required. */
    void (*purchase)(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                     purchase_result *out);
    /* Optional: buys n tickets at once (ids validated as for purchase), out[i] for request i,
     * as if purchase had run for each in order — e.g. one pipelined round trip for all. The
     * server then hands purchases to workers in batches (a worker takes every purchase queued,
     * up to a limit), which under load costs one round trip and one wake-up per batch. */
    void (*purchase_many)(strategy_ctx *ctx, int n, const int64_t *concert_ids,
                          const int64_t *customer_ids, purchase_result *out);
    /* Optional: true when, under cfg, a purchase is one short Redis round trip that never waits
     * on a lock or on PostgreSQL (beyond opening a sale once), so the server may run purchases on
     * its I/O threads instead of the worker pool (serve --dispatch inline). */
    bool (*runs_inline)(const strategy_config *cfg);
    /* Optional, for serve --dispatch loop, used when runs_inline(cfg) is true or loop_durable is
     * set: a purchase as one call of loop_script that the server's event loop sends on its own
     * non-blocking Redis connection, pipelined with the calls of other requests. loop_call fills
     * the call's keys and args (redis_run_id: the run id of the Redis that connection reached,
     * "" when not known yet; see store/sale.h); loop_reply reads the reply without any I/O and
     * returns false when the purchase must run through purchase() on a worker instead (the sale
     * is not loaded in Redis or not synced on this run of Redis, the script is not cached, Redis
     * answered an error): the script wrote nothing then. */
    const redis_script *loop_script;
    void (*loop_call)(int64_t concert_id, int64_t customer_id, const char *redis_run_id,
                      script_call *call);
    bool (*loop_reply)(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                       const redisReply *reply, purchase_result *out);
    /* Optional, with loop_*: for a result with wait_durable, 1 once the write is durable, -1 when
     * it failed, 0 not yet; never blocks. loop_watch adds (on) or removes wake(arg), called from
     * another thread whenever loop_durable may have changed; false when it cannot be added. */
    int (*loop_durable)(void *state, int64_t concert_id, const purchase_result *res);
    bool (*loop_watch)(void *state, void (*wake)(void *arg), void *arg, bool on);
    /* Optional: seats sold as the strategy itself counts them, when that runs ahead of
     * PostgreSQL (a write-behind): *sold, and true; false when it does not know (e.g. the sale is
     * not loaded), and GET /concerts/{id} then shows PostgreSQL's count. */
    bool (*sold)(strategy_ctx *ctx, int64_t concert_id, int64_t *sold);
    /* Optional: the customer's outcome. Returns TR_OK, TR_CONCERT_NOT_FOUND,
     * TR_CUSTOMER_NOT_FOUND or a failure. Without it the server reads PostgreSQL (issued/none). */
    tr_err (*outcome)(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id, outcome *out);
    /* Optional: starts the strategy's background workers before requests arrive; *state is
     * handed to every purchase as ctx->state. errbuf says why on failure. */
    tr_err (*start)(const strategy_config *cfg, void **state, char *errbuf, size_t errlen);
    /* Optional: the server's drain time is over — purchases still waiting inside the strategy
     * (strict durability) stop waiting and answer now (500, outcome unknown). Called before the
     * server waits for its workers; background work goes on until stop. */
    void (*abandon_waits)(void *state);
    /* Optional: stops them after the last request, draining what they hold. NULL state is a
     * no-op. */
    void (*stop)(void *state);
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
