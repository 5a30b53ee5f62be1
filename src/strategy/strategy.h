/* strategy.h — the purchase-strategy interface (SPEC §3): one `static const strategy_ops` per
 * file in src/strategy/, registered by name in strategy.c and found with strategy_find().
 * Callers use the inline wrappers below, never ops->fn directly. Not the HTTP layer. */
#ifndef TR_STRATEGY_H
#define TR_STRATEGY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <stdarg.h>

#include "common/dynbuf.h"
#include "common/error.h"
#include "store/pg.h"
#include "store/queries.h"
#include "store/redis.h"

/* With --durability strict, how long an answer waits for the commit that holds its ticket before
 * it gives up with 500 (ms). */
#define STRATEGY_STRICT_WAIT_MS 10000

/* With --durability replicated, how long (ms) the WAIT after a purchase that wrote waits for a
 * replica's acknowledgement before the answer gives up with 500 (outcome unknown). Below the
 * event loops' 2000 ms reply timeout, so a WAIT that runs out does not drop the connection. */
#define STRATEGY_REPLICA_WAIT_MS 1000

/* --durability for redis-atomic: when a purchase is answered (SPEC §1 "Durability"). */
typedef enum {
    DURABILITY_FAST, /* after the Redis script; loss window = Redis AOF fsync (everysec: ≤ 1 s) */
    DURABILITY_STRICT, /* after the PostgreSQL commit that holds the ticket (group commit) */
    /* after the script's write reached at least one replica of the Redis (master) it ran on:
     * WAIT 1 STRATEGY_REPLICA_WAIT_MS on the same connection; the server refuses to start
     * when that Redis (every master of a cluster) has no replica connected */
    DURABILITY_REPLICATED,
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
    /* Test hook, off (0) in production: redis-zset's issuer waits this many ms after reading a
     * batch from the line and before issuing it, so a test can bring the sale forward meanwhile. */
    int test_issue_delay_ms;
    /* Where the background workers tell their failures, once per kind with a count
     * (background/faultlog.h); called from their threads; NULL: only counted (/metrics). */
    void (*log)(void *arg, const char *fmt, va_list ap);
    void *log_arg;
} strategy_config;

#define STRATEGY_CONFIG_DEFAULT                                                                    \
    {                                                                                              \
        .lock_wait_ms = 2000, .lock_lease_ms = 3000, .durability = DURABILITY_FAST,                \
        .persist_batch = 1000, .reclaim_idle_ms = 10000                                            \
    }

/* What one request thread owns while it runs a strategy: its own connections (borrowed from the
 * worker, never shared between threads) and the configuration (shared, read-only). */
typedef struct strategy_ctx {
    pg_conn *pg;
    redis_conn *redis; /* NULL for strategies with needs_redis == false */
    const strategy_config *cfg;
    uint64_t worker_id; /* unique per worker in this process, for lock tokens */
    uint64_t seq;       /* per-worker counter, for lock tokens */
    char detail[256];   /* why an internal error happened, for the log; never sent to clients */
    void *state;        /* the strategy's shared runtime from ops->start (thread-safe), or NULL */
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
    /* With TR_OK or TR_ALREADY_OWNED under strict durability: the answer waits until
     * strategy_durable says the write that holds the ticket is stored (R7); durable_token names
     * that write (the strategy's own, e.g. a Redis stream entry id and the run of the Redis it
     * was decided on). The server holds the answer, never a thread (see strategy_ops.durable). */
    bool wait_durable;
    uint64_t durable_token[3];
    /* With TR_OK under replicated durability, from strategy_script_reply: the script wrote the
     * ticket, and the answer waits until a WAIT on the connection the call ran on says a replica
     * holds it; the event loop sends that WAIT (one per connection and pass). A purchase run
     * through purchase() on a worker has waited already and never sets it. */
    bool wait_replicas;
} purchase_result;

/* A customer's outcome for GET /concerts/{id}/tickets/{customerId} (SPEC §2). */
typedef enum { OUTCOME_NONE, OUTCOME_ISSUED, OUTCOME_QUEUED, OUTCOME_REJECTED } outcome_status;

typedef struct outcome {
    outcome_status status;
    ticket t;         /* OUTCOME_ISSUED */
    int64_t position; /* OUTCOME_QUEUED: 1-based place among those still waiting */
    tr_err reason;    /* OUTCOME_REJECTED: e.g. TR_SOLD_OUT */
} outcome;

/* One script call of a purchase (strategy_ops.script_args), sent by the server's event loop. */
#define SCRIPT_CALL_MAX_KEYS 6
#define SCRIPT_CALL_MAX_ARGS 3
typedef struct script_call {
    int nkeys, nargs; /* 0..SCRIPT_CALL_MAX_KEYS and 0..SCRIPT_CALL_MAX_ARGS */
    char keys[SCRIPT_CALL_MAX_KEYS][64];
    char args[SCRIPT_CALL_MAX_ARGS][REDIS_RUN_ID_MAX];
} script_call;

/* A strategy is one of two kinds, and the server runs its purchases accordingly:
 * - one-script (script != NULL): a purchase is one Redis script call that never waits on a lock
 *   or on PostgreSQL. The server's event loops send it on their own non-blocking Redis
 *   connections, pipelined with other requests' calls, and answer from the reply; purchase()
 *   runs on the worker pool only when the reply says the loop cannot decide (the sale is not
 *   loaded or not synced on this run of Redis, see store/sale.h).
 * - blocking (script == NULL): purchase() runs on the worker pool (PostgreSQL transactions,
 *   lease locks), one purchase per worker at a time — or, when the strategy has
 *   purchase_batch, the purchases waiting in the pool's queue in one call (up to batch_max).
 * Either kind may answer with wait_durable (strict durability): the server then holds the answer
 * on the event loop until durable() says the write is stored, woken by watch_durable; no thread
 * waits and nothing polls PostgreSQL. */
typedef struct strategy_ops {
    const char *name;    /* the --strategy value, e.g. "db-atomic" */
    const char *summary; /* one line for --help */
    bool needs_redis;
    bool correct; /* false for naive: keeps R1–R8 only without concurrency */
    /* true when purchase (and outcome, if set) need only Redis once the sale is loaded there:
     * the server then serves them while PostgreSQL is down, with ctx->pg NULL (a sale that is
     * not loaded yet answers 503 unavailable, as it needs PostgreSQL to load). */
    bool admits_without_pg;
    /* true when the strategy reads strategy_config.durability (--durability; redis-atomic):
     * serve refuses --durability for any other, and /metrics labels only these with it */
    bool takes_durability;
    /* Buy one ticket, on a pool worker (blocking calls allowed). concert_id and customer_id are
     * already validated as 1..2^63−1. Must leave ctx's connections usable (no open transaction)
     * whatever happens. Required. */
    void (*purchase)(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                     purchase_result *out);
    /* Optional, blocking strategies: decides n purchases (1..batch_max) at once, on a pool
     * worker; request i is (concert_ids[i], customer_ids[i]), in arrival order, ids validated as
     * for purchase. Fills out[i] (zeroed by the caller) for every i, each as purchase would have
     * answered that request had the requests arrived one after another in this order (R3, R6:
     * seats in arrival order). The pool calls it with the purchase jobs waiting in its queue
     * behind the first one it takes. Same connection rule as purchase. */
    void (*purchase_batch)(strategy_ctx *ctx, int n, const int64_t *concert_ids,
                           const int64_t *customer_ids, purchase_result *out);
    /* With purchase_batch: the most purchases one call takes, ≥ 1 (registration rejects
     * purchase_batch without it). Unused otherwise. */
    int batch_max;
    /* Optional: the strategy's own default for serve --workers, 1..1024; 0 takes the server's
     * (STRATEGY_WORKERS_DEFAULT). A batching strategy wants few workers: the purchases a worker
     * finds waiting make its batch, and more workers split them into smaller batches that queue
     * on the same row lock anyway. */
    int workers;
    /* One-script strategies: the script (cached with SCRIPT LOAD when the server starts);
     * script_args fills a purchase's keys and args (keys[0] routes the call on a Redis Cluster;
     * redis_run_id goes into the args as given: the event loops pass REDIS_ARG_RUN_ID's text
     * and send, in its place, the run id of the node the call goes to, see store/sale.h);
     * script_reply reads
     * the reply without any I/O and returns false when the purchase must run through purchase()
     * on a worker instead (the sale is not loaded or not synced, the script is not cached, Redis
     * refused it unrun): the script wrote nothing then. All three or none. */
    const redis_script *script;
    void (*script_args)(const strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                        const char *redis_run_id, script_call *call);
    bool (*script_reply)(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                         const redisReply *reply, purchase_result *out);
    /* Required when a purchase may answer wait_durable: 1 once the write res names is durable,
     * -1 when it can never be, 0 not yet; never blocks, any thread. watch_durable adds (on) or
     * removes wake(arg), which the strategy calls from its own thread whenever durable() may
     * have changed; false when it cannot be added. */
    int (*durable)(void *state, int64_t concert_id, const purchase_result *res);
    bool (*watch_durable)(void *state, void (*wake)(void *arg), void *arg, bool on);
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
    /* Optional: stops them after the last request, draining what they hold. NULL state is a
     * no-op. */
    void (*stop)(void *state);
    /* Optional: appends the background workers' counters to out as Prometheus text (no I/O);
     * false when the buffer failed. */
    bool (*metrics)(void *state, dynbuf *out);
} strategy_ops;

/* The registered strategy with this name, or NULL. */
const strategy_ops *strategy_find(const char *name);
/* The i-th registered strategy (0-based), or NULL past the end. */
const strategy_ops *strategy_at(int i);

/* Call sites use these, never s->fn directly (the wrappers say what an absent optional
 * function means). */
static inline void strategy_purchase(const strategy_ops *s, strategy_ctx *ctx, int64_t concert_id,
                                     int64_t customer_id, purchase_result *out) {
    s->purchase(ctx, concert_id, customer_id, out);
}

/* How many purchases one strategy_purchase_batch call takes: batch_max, or 1 for a strategy
 * without purchase_batch (whose purchases run one at a time). */
static inline int strategy_batch_max(const strategy_ops *s) {
    return s->purchase_batch ? s->batch_max : 1;
}

/* Decides n purchases (1..strategy_batch_max) in arrival order; out has n zeroed results. A
 * strategy without purchase_batch runs purchase for each, one after another. */
static inline void strategy_purchase_batch(const strategy_ops *s, strategy_ctx *ctx, int n,
                                           const int64_t *concert_ids, const int64_t *customer_ids,
                                           purchase_result *out) {
    if (s->purchase_batch) {
        s->purchase_batch(ctx, n, concert_ids, customer_ids, out);
        return;
    }
    for (int i = 0; i < n; i++) s->purchase(ctx, concert_ids[i], customer_ids[i], &out[i]);
}

/* The --workers default when none is given: the strategy's own, else this. */
#define STRATEGY_WORKERS_DEFAULT 32
static inline int strategy_default_workers(const strategy_ops *s) {
    return s->workers > 0 ? s->workers : STRATEGY_WORKERS_DEFAULT;
}

/* The --durability value cfg gives a strategy that takes one ("fast", "strict", "replicated"),
 * NULL for a strategy without durability modes (its answers are as durable as its commit). */
static inline const char *strategy_durability_name(const strategy_ops *s,
                                                   const strategy_config *cfg) {
    if (!s->takes_durability) return NULL;
    switch (cfg->durability) {
    case DURABILITY_STRICT: return "strict";
    case DURABILITY_REPLICATED: return "replicated";
    case DURABILITY_FAST: break;
    }
    return "fast";
}

/* Whether purchases are one script call the event loops send (see strategy_ops). */
static inline bool strategy_is_one_script(const strategy_ops *s) { return s->script != NULL; }

static inline void strategy_script_args(const strategy_ops *s, const strategy_ctx *ctx,
                                        int64_t concert_id, int64_t customer_id,
                                        const char *redis_run_id, script_call *call) {
    s->script_args(ctx, concert_id, customer_id, redis_run_id, call);
}

static inline bool strategy_script_reply(const strategy_ops *s, strategy_ctx *ctx,
                                         int64_t concert_id, int64_t customer_id,
                                         const redisReply *reply, purchase_result *out) {
    return s->script_reply(ctx, concert_id, customer_id, reply, out);
}

/* 1 durable, -1 never, 0 not yet; -1 for a strategy that cannot tell (never asked then). */
static inline int strategy_durable(const strategy_ops *s, void *state, int64_t concert_id,
                                   const purchase_result *res) {
    return s->durable ? s->durable(state, concert_id, res) : -1;
}

/* true when wake was added (removed); true with nothing to do for a strategy that never
 * answers wait_durable. */
static inline bool strategy_watch_durable(const strategy_ops *s, void *state,
                                          void (*wake)(void *arg), void *arg, bool on) {
    return s->watch_durable ? s->watch_durable(state, wake, arg, on) : true;
}

/* false: the strategy does not count ahead of PostgreSQL (show PostgreSQL's count). */
static inline bool strategy_sold(const strategy_ops *s, strategy_ctx *ctx, int64_t concert_id,
                                 int64_t *sold) {
    return s->sold && ctx->redis && s->sold(ctx, concert_id, sold);
}

static inline bool strategy_has_outcome(const strategy_ops *s) { return s->outcome != NULL; }

static inline tr_err strategy_outcome(const strategy_ops *s, strategy_ctx *ctx, int64_t concert_id,
                                      int64_t customer_id, outcome *out) {
    return s->outcome(ctx, concert_id, customer_id, out);
}

static inline tr_err strategy_start(const strategy_ops *s, const strategy_config *cfg, void **state,
                                    char *errbuf, size_t errlen) {
    *state = NULL;
    return s->start ? s->start(cfg, state, errbuf, errlen) : TR_OK;
}

static inline void strategy_stop(const strategy_ops *s, void *state) {
    if (s->stop) s->stop(state);
}

/* true with nothing appended for a strategy without background counters. */
static inline bool strategy_metrics(const strategy_ops *s, void *state, dynbuf *out) {
    return s->metrics == NULL || state == NULL || s->metrics(state, out);
}

#endif
