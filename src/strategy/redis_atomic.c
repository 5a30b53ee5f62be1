/* redis_atomic.c — the fastest correct strategy (SPEC §3 `redis-atomic`): one Lua script call per
 * purchase checks the sales window against Redis TIME (R5), that the customer exists, ownership
 * (R2), takes seat = next number (R1, R3), VIP = seat ≤ V (R4), and appends the ticket to the
 * concert's stream — validating everything before writing anything, so an error leaves no partial
 * state. A persister (background/persister.c) drains the stream into PostgreSQL (R7, R8).
 * --durability fast answers after the script; strict answers after the PostgreSQL commit that
 * holds the ticket. The sale is loaded into Redis on first use (sale.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conncheck.h"
#include "strategy/redis_atomic.h"
#include "store/sale.h"
#include "strategy/strategy.h"
#include "background/persister.h"

typedef struct ra_state {
    persister *persister;
    durability_mode durability;
} ra_state;

/* Both scripts answer a customer's ticket as
 *   {1, seat, vip, issued_at_us, name, ticket_id, starts_at_us[, stream entry id]}
 * and refusals as {-1} sale not loaded, {-6} sale not synced on this run of Redis (sale.h),
 * {-2} unknown customer, {-3, …ticket} already owned, {-4} sales closed, {-5} sold out, {0} no
 * ticket (lookup only). KEYS: meta, customers, owners, sold, stream. ARGV[1]: customer id,
 * ARGV[2]: the run id of the Redis the call reached (REDIS_ARG_RUN_ID). */
#define SCRIPT_TICKET_OF                                                                      \
    "local function ticket_of(code, meta, name, owned)\n"                                    \
    "  local sep = string.find(owned, ':', 1, true)\n"                                       \
    "  local seat = tonumber(string.sub(owned, 1, sep - 1))\n"                               \
    "  local vip = (seat <= tonumber(meta[3])) and 1 or 0\n"                                 \
    "  return {code, seat, vip, string.sub(owned, sep + 1), name,\n"                         \
    "          string.format('%d', tonumber(meta[4]) + seat), meta[1]}\n"                    \
    "end\n"                                                                                   \
    SALE_SCRIPT_GATE                                                                          \
    SALE_SCRIPT_COUNTS("0")                                                                   \
    "local name = redis.call('HGET', KEYS[2], ARGV[1])\n"                                     \
    "if not name then\n"                                                                      \
    SALE_SCRIPT_CUSTOMERS                                                                     \
    "  return {-2}\n"                                                                         \
    "end\n"                                                                                   \
    "local owned = redis.call('HGET', KEYS[3], ARGV[1])\n"

static const redis_script purchase_script = {
    "redis_atomic_purchase",
    SCRIPT_TICKET_OF
    "if owned then return ticket_of(-3, meta, name, owned) end\n"
    "local t = redis.call('TIME')\n"
    "local now = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))\n"
    "if tonumber(now) >= tonumber(meta[1]) then return {-4} end\n"
    "local seat = tonumber(sold) + 1\n"
    "if seat > tonumber(meta[2]) then return {-5} end\n"
    /* every check passed: write */
    "local vip = (seat <= tonumber(meta[3])) and 1 or 0\n"
    "local id = string.format('%d', tonumber(meta[4]) + seat)\n"
    "redis.call('SET', KEYS[4], seat)\n"
    "redis.call('HSET', KEYS[3], ARGV[1], seat .. ':' .. now)\n"
    "local eid = redis.call('XADD', KEYS[5], '*', 'i', id, 'c', ARGV[1], 's', seat, 'v', vip, 't', now)\n"
    "return {1, seat, vip, now, name, id, meta[1], eid}\n"};

static const redis_script lookup_script = {
    "redis_atomic_lookup",
    SCRIPT_TICKET_OF
    "if owned then return ticket_of(1, meta, name, owned) end\n"
    "return {0}\n"};

/* The stream entry id of a ticket answer (element 8); false when missing or malformed. */
static bool reply_stream_id(const redisReply *rep, stream_id *sid) {
    return rep->elements >= 8 && rep->element[7]->type == REDIS_REPLY_STRING &&
           stream_id_parse(rep->element[7]->str, sid);
}

/* Reads one purchase script answer into out (rep is freed by the caller). */
static void purchase_answer(strategy_ctx *ctx, const ra_state *st, int64_t concert_id,
                            int64_t customer_id, const redisReply *rep, int64_t wait_until_ms,
                            purchase_result *out);

/* Runs a script on the concert's sale keys (sale_eval). */
static redisReply *run_script(strategy_ctx *ctx, const redis_script *s, int64_t concert_id,
                              int64_t customer_id, tr_err *rc) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    const char *keys[] = {k.meta, k.customers, k.owners, k.sold, k.stream};
    return sale_eval(ctx->pg, ctx->redis, s, concert_id, 5, keys, customer_id, rc, ctx->detail,
                     sizeof ctx->detail);
}

/* Strict durability: whether PostgreSQL holds the customer's ticket, polled every 20 ms until
 * wait_until_ms (tr_coarse_ms clock). An already_owned answer names a ticket the way a 201 does,
 * so under strict it too waits for the commit (the ticket may still be on its way: the purchase
 * that bought it is itself waiting). */
static bool stored_by(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                      int64_t wait_until_ms) {
    for (;;) {
        ticket t;
        bool found = false;
        if (ctx->pg == NULL || q_ticket_of(ctx->pg, concert_id, customer_id, &t, &found) != TR_OK)
            return false;
        if (found) return true;
        if (tr_coarse_ms() >= wait_until_ms) return false;
        usleep(20 * 1000);
    }
}

/* wait_until_ms (tr_coarse_ms clock): how long a strict answer may wait for its commit; one
 * deadline for a whole batch, so the last answer of a batch never waits longer than the first. */
static void purchase_answer(strategy_ctx *ctx, const ra_state *st, int64_t concert_id,
                            int64_t customer_id, const redisReply *rep, int64_t wait_until_ms,
                            purchase_result *out) {
    int64_t code = sale_reply_i64(rep->element[0]);
    if (code == 1 || code == -3) sale_ticket_from_reply(rep, concert_id, customer_id, &out->t);
    switch (code) {
    case 1: out->err = TR_OK; break;
    case -2: out->err = TR_CUSTOMER_NOT_FOUND; break;
    case -3: out->err = TR_ALREADY_OWNED; break;
    case -4: out->err = TR_SALES_CLOSED; break;
    case -5: out->err = TR_SOLD_OUT; break;
    default:
        snprintf(ctx->detail, sizeof ctx->detail, "purchase script answered %" PRId64, code);
        out->err = TR_INTERNAL;
    }
    if (out->err == TR_ALREADY_OWNED && st && st->durability == DURABILITY_STRICT &&
        !stored_by(ctx, concert_id, customer_id, wait_until_ms)) {
        snprintf(ctx->detail, sizeof ctx->detail,
                 "ticket %" PRId64 " (already owned) not confirmed durable within %d ms",
                 out->t.ticket_id, STRATEGY_STRICT_WAIT_MS);
        out->err = TR_INTERNAL;
    }
    if (out->err == TR_OK && st && st->durability == DURABILITY_STRICT) {
        stream_id sid;
        int64_t left = wait_until_ms - tr_coarse_ms();
        if (!reply_stream_id(rep, &sid) ||
            !persister_wait(st->persister, concert_id, sid, left > 0 ? (int)left : 0)) {
            snprintf(ctx->detail, sizeof ctx->detail,
                     "ticket %" PRId64 " not confirmed durable within %d ms", out->t.ticket_id,
                     STRATEGY_STRICT_WAIT_MS);
            out->err = TR_INTERNAL;
        }
    }
}

static void purchase_one(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                         int64_t wait_until_ms, purchase_result *out) {
    tr_err rc = TR_OK;
    redisReply *rep = run_script(ctx, &purchase_script, concert_id, customer_id, &rc);
    if (rep == NULL) {
        out->err = rc;
        return;
    }
    purchase_answer(ctx, ctx->state, concert_id, customer_id, rep, wait_until_ms, out);
    freeReplyObject(rep);
}

static void redis_atomic_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                  purchase_result *out) {
    purchase_one(ctx, concert_id, customer_id, tr_coarse_ms() + STRATEGY_STRICT_WAIT_MS, out);
}

#define MANY_MAX 512

/* All n scripts in one pipelined round trip; an answer "sale not loaded" (or a malformed one)
 * falls back to the one-at-a-time path, which opens the sale. Strict mode then waits for the
 * batch's commit (the persister commits them together). */
static void redis_atomic_purchase_many(strategy_ctx *ctx, int n, const int64_t *concert_ids,
                                       const int64_t *customer_ids, purchase_result *out) {
    int64_t wait_until_ms = tr_coarse_ms() + STRATEGY_STRICT_WAIT_MS;
    for (int base = 0; base < n; base += MANY_MAX) {
        int m = n - base < MANY_MAX ? n - base : MANY_MAX;
        static _Thread_local sale_keys keys[MANY_MAX];
        static _Thread_local char uids[MANY_MAX][24];
        static _Thread_local const char *kv[MANY_MAX * 5], *av[MANY_MAX * 2];
        static _Thread_local redisReply *reps[MANY_MAX];
        for (int i = 0; i < m; i++) {
            sale_keys_init(&keys[i], concert_ids[base + i]);
            snprintf(uids[i], sizeof uids[i], "%" PRId64, customer_ids[base + i]);
            kv[i * 5 + 0] = keys[i].meta, kv[i * 5 + 1] = keys[i].customers;
            kv[i * 5 + 2] = keys[i].owners, kv[i * 5 + 3] = keys[i].sold;
            kv[i * 5 + 4] = keys[i].stream;
            av[i * 2] = uids[i];
            av[i * 2 + 1] = REDIS_ARG_RUN_ID;
        }
        if (redis_eval_many(ctx->redis, &purchase_script, m, 5, kv, 2, av, reps) != TR_OK) {
            for (int i = 0; i < m; i++) {
                snprintf(ctx->detail, sizeof ctx->detail, "%s", redis_conn_errstr(ctx->redis));
                out[base + i].err = TR_REDIS;
            }
            continue;
        }
        for (int i = 0; i < m; i++) {
            redisReply *rep = reps[i];
            int64_t code = rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1
                               ? sale_reply_i64(rep->element[0])
                               : SALE_NOT_LOADED;
            bool usable = code != SALE_NOT_LOADED && code != SALE_NOT_SYNCED;
            if (usable)
                purchase_answer(ctx, ctx->state, concert_ids[base + i], customer_ids[base + i], rep,
                                wait_until_ms, &out[base + i]);
            else
                purchase_one(ctx, concert_ids[base + i], customer_ids[base + i], wait_until_ms,
                             &out[base + i]);
            freeReplyObject(rep);
        }
    }
}

static tr_err redis_atomic_outcome(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                   outcome *out) {
    tr_err rc = TR_OK;
    redisReply *rep = run_script(ctx, &lookup_script, concert_id, customer_id, &rc);
    if (rep == NULL) return rc;
    int64_t code = sale_reply_i64(rep->element[0]);
    const ra_state *st = ctx->state;
    bool strict = st && st->durability == DURABILITY_STRICT;
    if (code == 1 && strict) {
        /* strict: issued once PostgreSQL holds it (until then its purchase is still waiting) */
        bool found = false;
        rc = ctx->pg ? q_ticket_of(ctx->pg, concert_id, customer_id, &out->t, &found) : TR_PG;
        if (rc == TR_OK) out->status = found ? OUTCOME_ISSUED : OUTCOME_NONE;
    } else if (code == 1 && sale_ticket_from_reply(rep, concert_id, customer_id, &out->t)) {
        out->status = OUTCOME_ISSUED;
    } else if (code == 0) {
        out->status = OUTCOME_NONE;
    } else if (code == -2) {
        rc = TR_CUSTOMER_NOT_FOUND;
    } else {
        rc = TR_INTERNAL;
    }
    freeReplyObject(rep);
    return rc;
}

/* --durability fast: the script's own count of seats sold (KEYS[4]), which is what clients were
 * told; PostgreSQL's lags it by the write-behind. Under strict a 201 means stored, so PostgreSQL's
 * count is the one that matches the answers (false: the server shows it). */
static bool redis_atomic_sold(strategy_ctx *ctx, int64_t concert_id, int64_t *sold) {
    const ra_state *st = ctx->state;
    if (st == NULL || st->durability == DURABILITY_STRICT) return false;
    sale_keys k;
    sale_keys_init(&k, concert_id);
    redisReply *rep = redis_cmd(ctx->redis, "GET %s", k.sold);
    bool ok = rep && rep->type == REDIS_REPLY_STRING;
    if (ok) {
        char *end = NULL;
        long long v = strtoll(rep->str, &end, 10);
        ok = end != rep->str && *end == '\0' && v >= 0;
        if (ok) *sold = v;
    }
    if (rep) freeReplyObject(rep);
    return ok;
}

static void redis_atomic_loop_call(int64_t concert_id, int64_t customer_id, const char *run_id,
                                   script_call *call) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    call->nkeys = 5;
    call->nargs = 2;
    memcpy(call->keys[0], k.meta, sizeof k.meta);
    memcpy(call->keys[1], k.customers, sizeof k.customers);
    memcpy(call->keys[2], k.owners, sizeof k.owners);
    memcpy(call->keys[3], k.sold, sizeof k.sold);
    memcpy(call->keys[4], k.stream, sizeof k.stream);
    snprintf(call->args[0], sizeof call->args[0], "%" PRId64, customer_id);
    snprintf(call->args[1], sizeof call->args[1], "%s", run_id);
}

/* Strict durability: a ticket's answer waits for the stream entry's commit (loop_durable). */
static bool redis_atomic_loop_reply(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                    const redisReply *rep, purchase_result *out) {
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) return false;
    int64_t code = sale_reply_i64(rep->element[0]);
    if (code == SALE_NOT_LOADED || code == SALE_NOT_SYNCED) return false; /* a worker opens it */
    purchase_answer(ctx, NULL, concert_id, customer_id, rep, 0, out);
    const ra_state *st = ctx->state;
    /* strict already_owned: confirmed in PostgreSQL by a worker (purchase_answer), not here */
    if (out->err == TR_ALREADY_OWNED && st && st->durability == DURABILITY_STRICT) return false;
    if (out->err == TR_OK && st && st->durability == DURABILITY_STRICT) {
        stream_id sid;
        if (!reply_stream_id(rep, &sid)) {
            snprintf(ctx->detail, sizeof ctx->detail, "purchase script answered no stream entry");
            out->err = TR_INTERNAL;
            return true;
        }
        out->wait_durable = true;
        out->durable_token[0] = sid.ms;
        out->durable_token[1] = sid.seq;
    }
    return true;
}

static int redis_atomic_loop_durable(void *state, int64_t concert_id, const purchase_result *res) {
    ra_state *st = state;
    stream_id sid = {res->durable_token[0], res->durable_token[1]};
    return persister_durable(st->persister, concert_id, sid);
}

static bool redis_atomic_loop_watch(void *state, void (*wake)(void *arg), void *arg, bool on) {
    ra_state *st = state;
    return persister_on_commit(st->persister, wake, arg, on);
}

static bool redis_atomic_runs_inline(const strategy_config *cfg) {
    return cfg->durability == DURABILITY_FAST;
}

static tr_err redis_atomic_start(const strategy_config *cfg, void **state, char *errbuf,
                                 size_t errlen) {
    *state = NULL;
    ra_state *st = calloc(1, sizeof *st);
    if (st == NULL) return TR_NOMEM;
    st->durability = cfg->durability;
    persister_config pc = {.pg_conninfo = cfg->pg_conninfo, .redis_addr = cfg->redis_addr,
                           .batch = cfg->persist_batch, .reclaim_idle_ms = cfg->reclaim_idle_ms,
                           .test_delay_ms = cfg->test_persist_delay_ms};
    tr_err rc = persister_start(&pc, &st->persister, errbuf, errlen);
    if (rc != TR_OK) {
        free(st);
        return rc;
    }
    *state = st;
    return TR_OK;
}

static void redis_atomic_abandon_waits(void *state) {
    ra_state *st = state;
    if (st) persister_abandon_waits(st->persister);
}

static void redis_atomic_stop(void *state) {
    ra_state *st = state;
    if (st == NULL) return;
    persister_stop(st->persister);
    free(st);
}

const strategy_ops strategy_redis_atomic = {
    .name = "redis-atomic",
    .summary = "one atomic Redis script per purchase, write-behind to PostgreSQL (--durability)",
    .needs_redis = true,
    .admits_without_pg = true,
    .correct = true,
    .purchase = redis_atomic_purchase,
    .purchase_many = redis_atomic_purchase_many,
    .runs_inline = redis_atomic_runs_inline,
    .loop_script = &purchase_script,
    .loop_call = redis_atomic_loop_call,
    .loop_reply = redis_atomic_loop_reply,
    .loop_durable = redis_atomic_loop_durable,
    .loop_watch = redis_atomic_loop_watch,
    .outcome = redis_atomic_outcome,
    .sold = redis_atomic_sold,
    .start = redis_atomic_start,
    .abandon_waits = redis_atomic_abandon_waits,
    .stop = redis_atomic_stop,
};

const redis_script *redis_atomic_purchase_script(void) { return &purchase_script; }
