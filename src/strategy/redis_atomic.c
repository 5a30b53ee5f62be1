/* redis_atomic.c — the fastest correct strategy (SPEC §3 `redis-atomic`): one Lua script call per
 * purchase checks the sales window against Redis TIME (R5), that the customer exists, ownership
 * (R2), takes seat = next number (R1, R3), VIP = seat ≤ V (R4), and appends the ticket to the
 * concert's stream — validating everything before writing anything, so an error leaves no partial
 * state. A persister (background/persister.c) drains the stream into PostgreSQL (R7, R8).
 * --durability fast answers after the script; replicated after a replica acknowledged the
 * script's write (WAIT); strict after the PostgreSQL commit that holds the ticket. The sale is loaded into Redis on first use (sale.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 *   {1, seat, vip, issued_at_us, name, ticket_id, starts_at_us, stream entry id | nil}
 * and the purchase script adds {…, stored, run}: stored 1 when a repeat purchase's ticket is
 * known stored (strict only, else 0), run the first 16 hex digits of ARGV[2], the run of the
 * Redis that decided (persister_run_stamp: a strict answer is confirmed only by what was read
 * from that run's stream history). Its new entries carry the same as field "r".
 * and refusals as {-1} sale not loaded, {-6} sale not synced on this run of Redis (sale.h),
 * {-2} unknown customer, {-3, …ticket} already owned, {-4} sales closed, {-5} sold out, {0} no
 * ticket (lookup only). KEYS: meta, customers, owners, sold, stream. ARGV[1]: customer id,
 * ARGV[2]: the run id of the Redis the call reached (REDIS_ARG_RUN_ID), ARGV[3]: "1" under strict
 * durability. The owners entry names its stream entry ("seat:issued_at_us:entry_id"; sale.h);
 * loaded from PostgreSQL it names none, the ticket being stored. */
/* clang-format off */
#define SCRIPT_TICKET_OF                                                                      \
    "local function ticket_of(code, meta, name, owned)\n"                                    \
    "  local sep = string.find(owned, ':', 1, true)\n"                                       \
    "  local sep2 = string.find(owned, ':', sep + 1, true)\n"                                \
    "  local seat = tonumber(string.sub(owned, 1, sep - 1))\n"                               \
    "  local vip = (seat <= tonumber(meta[3])) and 1 or 0\n"                                 \
    "  local at = sep2 and string.sub(owned, sep + 1, sep2 - 1) or string.sub(owned, sep + 1)\n" \
    "  local eid = sep2 and string.sub(owned, sep2 + 1) or false\n"                          \
    "  return {code, seat, vip, at, name,\n"                                                 \
    "          string.format('%d', tonumber(meta[4]) + seat), meta[1], eid}\n"               \
    "end\n"                                                                                   \
    SALE_SCRIPT_GATE                                                                          \
    SALE_SCRIPT_COUNTS("0")                                                                   \
    "local name = redis.call('HGET', KEYS[2], ARGV[1])\n"                                     \
    "if not name then\n"                                                                      \
    SALE_SCRIPT_CUSTOMERS                                                                     \
    "  return {-2}\n"                                                                         \
    "end\n"                                                                                   \
    "local owned = redis.call('HGET', KEYS[3], ARGV[1])\n"
/* clang-format on */

/* Under strict durability, whether an already owned ticket is stored: 1 when its owners entry
 * names no stream entry (loaded from PostgreSQL) or the persisters' consumer group acknowledged
 * the entry (delivered — at or below the group's last-delivered-id — and no longer pending: a
 * persister acknowledges only after the commit, or after marking the sale unsynced for an entry
 * PostgreSQL contradicted, when the gate refuses until the sale is brought forward); else 0, and
 * the answer waits for the entry's commit like a 201 does.
 * https://redis.io/commands/xinfo-groups/, https://redis.io/commands/xpending/ */
/* clang-format off */
#define SCRIPT_STORED                                                                         \
    "local function id_le(a, b)\n"                                                            \
    "  local am, as = string.match(a, '^(%d+)-(%d+)$')\n"                                     \
    "  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n"                                     \
    "  if not am or not bm then return false end\n"                                           \
    "  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)\n"            \
    "  return am < bm or (am == bm and as <= bs)\n"                                           \
    "end\n"                                                                                   \
    "local function stored(eid)\n"                                                            \
    "  if not eid then return 1 end\n"                                                        \
    "  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[5])\n"                              \
    "  if type(groups) ~= 'table' or groups.err then return 0 end\n"                          \
    "  for _, g in ipairs(groups) do\n"                                                       \
    "    local f = {}\n"                                                                      \
    "    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"                                        \
    "    if f['name'] == '" SALE_GROUP "' then\n"                                             \
    "      if not id_le(eid, f['last-delivered-id']) then return 0 end\n"                     \
    "      local p = redis.call('XPENDING', KEYS[5], '" SALE_GROUP "', eid, eid, 1)\n"        \
    "      return #p == 0 and 1 or 0\n"                                                       \
    "    end\n"                                                                               \
    "  end\n"                                                                                 \
    "  return 0\n"                                                                            \
    "end\n"
/* clang-format on */

/* clang-format off */
static const redis_script purchase_script = {
    "redis_atomic_purchase",
    SCRIPT_TICKET_OF
    SCRIPT_STORED
    "local run = string.sub(ARGV[2], 1, 16)\n"
    "if owned then\n"
    "  local t = ticket_of(-3, meta, name, owned)\n"
    "  t[9] = ARGV[3] == '1' and stored(t[8]) or 0\n"
    "  t[10] = run\n"
    "  return t\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))\n"
    "if tonumber(now) >= tonumber(meta[1]) then return {-4} end\n"
    "local seat = tonumber(sold) + 1\n"
    "if seat > tonumber(meta[2]) then return {-5} end\n"
    /* every check passed: write */
    "local vip = (seat <= tonumber(meta[3])) and 1 or 0\n"
    "local id = string.format('%d', tonumber(meta[4]) + seat)\n"
    "local eid = redis.call('XADD', KEYS[5], '*', 'i', id, 'c', ARGV[1], 's', seat, 'v', vip, 't', now,"
    " 'r', run)\n"
    "redis.call('SET', KEYS[4], seat)\n"
    "redis.call('HSET', KEYS[3], ARGV[1], seat .. ':' .. now .. ':' .. eid)\n"
    "return {1, seat, vip, now, name, id, meta[1], eid, 0, run}\n"};
/* clang-format on */

/* clang-format off */
static const redis_script lookup_script = {
    "redis_atomic_lookup",
    SCRIPT_TICKET_OF
    "if owned then return ticket_of(1, meta, name, owned) end\n"
    "return {0}\n"};
/* clang-format on */

static bool is_strict(const strategy_ctx *ctx) {
    const ra_state *st = ctx->state;
    return st && st->durability == DURABILITY_STRICT;
}

static bool is_replicated(const strategy_ctx *ctx) {
    const ra_state *st = ctx->state;
    return st && st->durability == DURABILITY_REPLICATED;
}

/* The stream entry id of a ticket answer (element 8) and the stamp of the run that decided it
 * (element 10); false when either is missing. */
static bool reply_stream_id(const redisReply *rep, stream_id *sid, uint64_t *run) {
    if (rep->elements < 10 || rep->element[7]->type != REDIS_REPLY_STRING ||
        !stream_id_parse(rep->element[7]->str, sid) || rep->element[9]->type != REDIS_REPLY_STRING)
        return false;
    *run = persister_run_stamp(rep->element[9]->str);
    return *run != 0;
}

/* Reads one purchase script answer (the caller frees rep). Under strict durability a ticket's
 * answer — a 201, or a 409 already_owned whose ticket may not be stored yet (its own purchase
 * still waits) — is marked wait_durable with its stream entry as the token; the server holds it
 * until strategy_durable says the entry is committed. Returns false when the script could not
 * decide (sale not loaded or not synced: it wrote nothing). */
static bool purchase_answer(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                            const redisReply *rep, purchase_result *out) {
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) return false;
    int64_t code = sale_reply_i64(rep->element[0]);
    if (code == SALE_NOT_LOADED || code == SALE_NOT_SYNCED) return false;
    if ((code == 1 || code == -3) && !sale_ticket_from_reply(rep, concert_id, customer_id, &out->t))
        code = 0; /* malformed: internal below */
    switch (code) {
    case 1: out->err = TR_OK; break;
    case -2: out->err = TR_CUSTOMER_NOT_FOUND; break;
    case -3: out->err = TR_ALREADY_OWNED; break;
    case -4: out->err = TR_SALES_CLOSED; break;
    case -5: out->err = TR_SOLD_OUT; break;
    default:
        snprintf(ctx->detail, sizeof ctx->detail, "purchase script answered %" PRId64, code);
        out->err = TR_INTERNAL;
        return true;
    }
    /* replicated: a ticket this call wrote waits for a replica (a 409's ticket was written by an
     * earlier call, answered after its own WAIT or with an unknown outcome) */
    if (is_replicated(ctx) && code == 1) out->wait_replicas = true;
    if (!is_strict(ctx) || (code != 1 && code != -3)) return true;
    if (code == -3 && rep->elements >= 9 && sale_reply_i64(rep->element[8]) == 1) return true;
    stream_id sid;
    uint64_t run = 0;
    if (!reply_stream_id(rep, &sid, &run)) {
        snprintf(ctx->detail, sizeof ctx->detail,
                 "purchase script answered no stream entry for ticket %" PRId64, out->t.ticket_id);
        out->err = TR_INTERNAL;
        return true;
    }
    out->wait_durable = true;
    out->durable_token[0] = sid.ms;
    out->durable_token[1] = sid.seq;
    out->durable_token[2] = run;
    return true;
}

/* Runs a script on the concert's sale keys (sale_eval), opening the sale when needed. */
static redisReply *run_script(strategy_ctx *ctx, const redis_script *s, int64_t concert_id,
                              int64_t customer_id, tr_err *rc) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    const char *keys[] = {k.meta, k.customers, k.owners, k.sold, k.stream};
    return sale_eval(ctx->pg, ctx->redis, s, concert_id, 5, keys, customer_id,
                     is_strict(ctx) ? "1" : "0", rc, ctx->detail, sizeof ctx->detail);
}

/* replicated, on a pool worker: WAIT on the connection the script ran on (it covers that
 * connection's every earlier write, https://redis.io/commands/wait/; on a cluster the concert's
 * master, never the one redis_cmd would pick, and never a connection made after the script); a
 * ticket no replica acknowledged in STRATEGY_REPLICA_WAIT_MS is not claimed: 500, outcome
 * unknown (it is in the master, and stored in PostgreSQL unless the master is lost first). */
static void replica_wait(strategy_ctx *ctx, purchase_result *out) {
    out->wait_replicas = false;
    redisReply *w = redis_wait_replicas(ctx->redis, 1, STRATEGY_REPLICA_WAIT_MS);
    if (w && w->type == REDIS_REPLY_INTEGER && w->integer >= 1) {
        freeReplyObject(w);
        return;
    }
    snprintf(ctx->detail, sizeof ctx->detail,
             "ticket %" PRId64 " was not confirmed on a replica within %d ms (WAIT: %s)",
             out->t.ticket_id, STRATEGY_REPLICA_WAIT_MS,
             w == NULL                      ? redis_conn_errstr(ctx->redis)
             : w->type == REDIS_REPLY_ERROR ? w->str
                                            : "no replica acknowledged");
    if (w) freeReplyObject(w);
    out->err = TR_INTERNAL;
}

/* On a pool worker: when the event loop's call could not decide (the sale must be opened). */
static void redis_atomic_purchase(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                  purchase_result *out) {
    tr_err rc = TR_OK;
    redisReply *rep = run_script(ctx, &purchase_script, concert_id, customer_id, &rc);
    if (rep == NULL) {
        out->err = rc;
        return;
    }
    if (!purchase_answer(ctx, concert_id, customer_id, rep, out)) {
        snprintf(ctx->detail, sizeof ctx->detail, "sale of concert %" PRId64 " did not open",
                 concert_id);
        out->err = TR_UNAVAILABLE;
    }
    freeReplyObject(rep);
    if (out->wait_replicas) replica_wait(ctx, out);
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
    redisReply *rep = redis_cmd_key(ctx->redis, k.sold, "GET %s", k.sold);
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

static void redis_atomic_script_args(const strategy_ctx *ctx, int64_t concert_id,
                                     int64_t customer_id, const char *run_id, script_call *call) {
    sale_keys k;
    sale_keys_init(&k, concert_id);
    call->nkeys = 5;
    call->nargs = 3;
    memcpy(call->keys[0], k.meta, sizeof k.meta);
    memcpy(call->keys[1], k.customers, sizeof k.customers);
    memcpy(call->keys[2], k.owners, sizeof k.owners);
    memcpy(call->keys[3], k.sold, sizeof k.sold);
    memcpy(call->keys[4], k.stream, sizeof k.stream);
    snprintf(call->args[0], sizeof call->args[0], "%" PRId64, customer_id);
    snprintf(call->args[1], sizeof call->args[1], "%s", run_id);
    snprintf(call->args[2], sizeof call->args[2], "%s", is_strict(ctx) ? "1" : "0");
}

static bool redis_atomic_script_reply(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                      const redisReply *rep, purchase_result *out) {
    return purchase_answer(ctx, concert_id, customer_id, rep, out);
}

static int redis_atomic_durable(void *state, int64_t concert_id, const purchase_result *res) {
    ra_state *st = state;
    stream_id sid = {res->durable_token[0], res->durable_token[1]};
    return persister_durable(st->persister, concert_id, sid, res->durable_token[2]);
}

static bool redis_atomic_watch_durable(void *state, void (*wake)(void *arg), void *arg, bool on) {
    ra_state *st = state;
    return persister_on_commit(st->persister, wake, arg, on);
}

static tr_err redis_atomic_start(const strategy_config *cfg, void **state, char *errbuf,
                                 size_t errlen) {
    *state = NULL;
    ra_state *st = calloc(1, sizeof *st);
    if (st == NULL) return TR_NOMEM;
    st->durability = cfg->durability;
    persister_config pc = {.pg_conninfo = cfg->pg_conninfo,
                           .redis_addr = cfg->redis_addr,
                           .batch = cfg->persist_batch,
                           .reclaim_idle_ms = cfg->reclaim_idle_ms,
                           .test_delay_ms = cfg->test_persist_delay_ms,
                           .log = cfg->log,
                           .log_arg = cfg->log_arg};
    tr_err rc = persister_start(&pc, &st->persister, errbuf, errlen);
    if (rc != TR_OK) {
        free(st);
        return rc;
    }
    *state = st;
    return TR_OK;
}

static void redis_atomic_stop(void *state) {
    ra_state *st = state;
    if (st == NULL) return;
    persister_stop(st->persister);
    free(st);
}

static bool redis_atomic_metrics(void *state, dynbuf *out) {
    ra_state *st = state;
    persister_stats ps;
    persister_stats_read(st->persister, &ps);
    return persister_stats_render(&ps, out);
}

const strategy_ops strategy_redis_atomic = {
    .name = "redis-atomic",
    .summary = "one atomic Redis script per purchase, write-behind to PostgreSQL (--durability)",
    .needs_redis = true,
    .takes_durability = true,
    .admits_without_pg = true,
    .correct = true,
    .purchase = redis_atomic_purchase,
    .script = &purchase_script,
    .script_args = redis_atomic_script_args,
    .script_reply = redis_atomic_script_reply,
    .durable = redis_atomic_durable,
    .watch_durable = redis_atomic_watch_durable,
    .outcome = redis_atomic_outcome,
    .sold = redis_atomic_sold,
    .start = redis_atomic_start,
    .stop = redis_atomic_stop,
    .metrics = redis_atomic_metrics,
};

const redis_script *redis_atomic_purchase_script(void) { return &purchase_script; }
