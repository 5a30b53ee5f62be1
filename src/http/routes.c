/* routes.c — the route table of the API (SPEC §2) and its handlers: what each path answers,
 * given a worker's connections (or none, for routes answered on the event loop). Routing by
 * table with flags, as Redis's command table: the checks a flag names are done once, by the
 * front (front.c) and the pool (pool.c), never by comparing handlers. Not the HTTP plumbing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dynbuf.h"
#include "http/metrics.h"
#include "http/request.h"
#include "http/response.h"
#include "http/service.h"
#include "store/cluster.h"
#include "store/queries.h"

static void handle_livez(http_job *j, strategy_ctx *ctx) {
    (void)ctx;
    job_answer(j, 200, strdup("{\"status\":\"ok\"}"));
}

/* The key /readyz writes to learn whether Redis takes writes (it expires by itself). */
#define READYZ_KEY "ticketrush:readyz"

/* What ready means (README "/readyz"): PostgreSQL answers, and every concert could be sold now.
 * Plain Redis: it takes a write — a PING is answered by a Redis that refuses every write (out of
 * memory under noeviction, a read-only replica, min-replicas-to-write unmet, a failed RDB save
 * with stop-writes-on-bgsave-error), and every purchase writes. Redis Cluster: every slot has a
 * master that answers (a concert on a master that does not answer cannot be sold; one process
 * unready for one dead master of three would be pulled with the others all the same, so the
 * answer names the masters and slots), and the master of READYZ_KEY's slot takes the write.
 * Under --durability replicated, each master also has a replica that acknowledges (online, lag
 * ≤ READYZ_MAX_LAG_S): without one every purchase there waits out WAIT and answers 500. Cost per
 * poll: one round trip per master (PING, or INFO replication) plus the SET. Answers even when the
 * worker could not connect: a missing connection counts as down. */
#define READYZ_MAX_LAG_S 2

/* Appends "; " (after the first) and the formatted text to why (cut at its size). */
static void why_add(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_add(char *why, size_t len, const char *fmt, ...) {
    size_t used = strlen(why);
    if (used + 3 >= len) return;
    if (used > 0) used += (size_t)snprintf(why + used, len - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + used, len - used, fmt, ap);
    va_end(ap);
}

/* Every master of the slot map answers (and, replicated, has a replica acknowledging), every slot
 * has a master; why: what is not so, master by master. Plain Redis: the one server, under
 * replicated only (the SET tells the rest). */
static bool masters_ready(strategy_ctx *ctx, bool replicated, char *why, size_t len) {
    bool cluster = redis_conn_is_cluster(ctx->redis);
    bool ok = false;
    /* A master that does not answer makes the connection read the map again: once more with
     * it, so a replica promoted since the last map counts, and a master still down does not. */
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        why[0] = '\0';
        int masters[CLUSTER_MAX_NODES];
        int n = redis_conn_masters(ctx->redis, masters, CLUSTER_MAX_NODES);
        char slots[160], name[CLUSTER_HOST_MAX + 16];
        ok = n > 0 && n <= CLUSTER_MAX_NODES;
        if (!ok) why_add(why, len, "Redis Cluster: no master serves any slot");
        if (ok && cluster &&
            strcmp(redis_conn_node_slots(ctx->redis, -1, slots, sizeof slots), "none") != 0) {
            ok = false;
            why_add(why, len, "Redis Cluster: slots %s have no master", slots);
        }
        for (int i = 0; i < n && i < CLUSTER_MAX_NODES; i++) {
            redisReply *r =
                redis_cmd_node(ctx->redis, masters[i], replicated ? "INFO replication" : "PING");
            int online = r && r->type == REDIS_REPLY_STRING
                             ? cluster_info_replicas_online(r->str, READYZ_MAX_LAG_S)
                             : 0;
            bool good = r && (replicated ? online >= 1 : r->type == REDIS_REPLY_STATUS);
            if (!good) {
                ok = false;
                redis_conn_node_name(ctx->redis, masters[i], name, sizeof name);
                redis_conn_node_slots(ctx->redis, masters[i], slots, sizeof slots);
                const char *what = r == NULL ? "does not answer"
                                   : r->type == REDIS_REPLY_ERROR
                                       ? "refuses INFO"
                                       : "has no replica acknowledging writes (--durability "
                                         "replicated: its purchases would fail after WAIT)";
                if (cluster)
                    why_add(why, len, "Redis Cluster: master %s (slots %s) %s", name, slots, what);
                else why_add(why, len, "Redis at %s %s", name, what);
            }
            if (r) freeReplyObject(r);
        }
    }
    return ok;
}

static void handle_readyz(http_job *j, strategy_ctx *ctx) {
    const char *redis_addr = j->srv->cfg.redis_addr;
    bool redis_used = redis_addr && redis_addr[0];
    bool replicated = j->srv->cfg.strategy_cfg.durability == DURABILITY_REPLICATED &&
                      strategy_is_one_script(j->srv->strategy);
    bool pg_ok = ctx->pg && pg_exec_ok(ctx->pg, "SELECT 1") == TR_OK;
    bool redis_ok = !redis_used;
    const char *redis_state = redis_used ? "down" : "unused";
    char why[400] = "";
    if (redis_used && ctx->redis) {
        bool cluster = redis_conn_is_cluster(ctx->redis);
        redis_ok = (cluster || replicated) ? masters_ready(ctx, replicated, why, sizeof why) : true;
        if (!redis_ok) redis_state = cluster ? "master down" : "no replica";
        if (redis_ok) {
            redisReply *r = redis_cmd_key(ctx->redis, READYZ_KEY, "SET %s 1 PX 10000", READYZ_KEY);
            redis_ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
            if (redis_ok) {
                redis_state = "ok";
            } else if (r && r->type == REDIS_REPLY_ERROR) {
                redis_state = "refuses writes";
                /* The error's first word (OOM, READONLY, NOREPLICAS, MISCONF, CLUSTERDOWN):
                 * Redis's own text. */
                snprintf(why, sizeof why, "Redis refuses writes (%.*s)", (int)strcspn(r->str, " "),
                         r->str);
            } else {
                snprintf(why, sizeof why, "Redis is down");
            }
            if (r) freeReplyObject(r);
        }
        if (!redis_ok && strcmp(redis_state, "ok") == 0) redis_state = "master down";
    } else if (redis_used) {
        snprintf(why, sizeof why, "Redis is down");
    }
    char buf[160];
    snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"postgres\":\"%s\",\"redis\":\"%s\"}",
             pg_ok && redis_ok ? "ready" : "unavailable", pg_ok ? "ok" : "down", redis_state);
    if (pg_ok && redis_ok) {
        job_answer(j, 200, strdup(buf));
    } else {
        char msg[512];
        snprintf(msg, sizeof msg, "PostgreSQL is %s and %s", pg_ok ? "up" : "down",
                 !redis_used ? "Redis is unused"
                 : redis_ok  ? "Redis is up"
                             : why);
        job_error(j, TR_UNAVAILABLE, msg);
    }
}

static void handle_concert(http_job *j, strategy_ctx *ctx) {
    concert c;
    tr_err rc = q_concert_get(ctx->pg, j->ids[0], &c);
    int64_t sold;
    if (rc == TR_OK && strategy_sold(j->srv->strategy, ctx, c.id, &sold) && sold >= 0 &&
        sold <= c.total_seats)
        c.remaining = c.total_seats - (int32_t)sold; /* what clients were told, not yet stored */
    if (rc == TR_OK) job_answer(j, 200, http_json_concert(&c));
    else if (rc == TR_CONCERT_NOT_FOUND) job_error(j, rc, NULL);
    else job_internal(j, ctx, rc);
}

/* ROUTE_WITHOUT_PG: with PostgreSQL down (ctx->pg NULL) only a strategy's own outcome answers. */
static void handle_outcome(http_job *j, strategy_ctx *ctx) {
    const strategy_ops *st = j->srv->strategy;
    outcome o;
    memset(&o, 0, sizeof o);
    tr_err rc;
    if (strategy_has_outcome(st)) {
        rc = strategy_outcome(st, ctx, j->ids[0], j->ids[1], &o);
    } else if (ctx->pg == NULL) {
        rc = TR_PG;
    } else {
        bool found = false;
        rc = q_ticket_of(ctx->pg, j->ids[0], j->ids[1], &o.t, &found);
        o.status = found ? OUTCOME_ISSUED : OUTCOME_NONE;
    }
    if (rc == TR_OK) job_answer(j, 200, http_json_outcome(j->ids[0], j->ids[1], &o));
    else if (rc == TR_CONCERT_NOT_FOUND || rc == TR_CUSTOMER_NOT_FOUND) job_error(j, rc, NULL);
    else if (rc == TR_BUSY || rc == TR_UNAVAILABLE) /* e.g. a sale being brought forward */
        j->retry_after_s = 1, job_error(j, rc, NULL);
    else job_internal(j, ctx, rc);
}

void routes_answer_purchase(http_job *j, strategy_ctx *ctx, const purchase_result *res) {
    int64_t concert_id = j->ids[0], customer_id = j->ids[1];
    metrics_purchase(j->srv->metrics, res->err, res->queued);
    switch (res->err) {
    case TR_OK:
        if (res->queued)
            job_answer(j, 202, http_json_queued(concert_id, customer_id, res->position));
        else job_answer(j, 201, http_json_ticket(&res->t));
        break;
    case TR_ALREADY_OWNED: job_answer(j, 409, http_json_error(res->err, NULL, &res->t)); break;
    case TR_BUSY:
    case TR_FENCED:
    case TR_UNAVAILABLE: /* nothing ran: Redis not ready, a sale not yet brought forward */
        j->retry_after_s = res->retry_after_s > 0 ? res->retry_after_s : 1;
        job_error(j, res->err, NULL);
        break;
    case TR_CONCERT_NOT_FOUND:
    case TR_CUSTOMER_NOT_FOUND:
    case TR_SOLD_OUT:
    case TR_SALES_CLOSED: job_error(j, res->err, NULL); break;
    default: job_unknown_outcome(j, ctx, res->err); break;
    }
}

bool routes_purchase_ids(http_job *j) {
    char why[160];
    if (http_parse_purchase(j->body, j->body_len, &j->ids[0], &j->ids[1], why, sizeof why) == TR_OK)
        return true;
    job_error(j, TR_BAD_REQUEST, why);
    return false;
}

/* A decided purchase: answered, or held by the front (JOB_HELD) while it must wait for
 * durability. */
static void purchase_settle(http_job *j, strategy_ctx *ctx, purchase_result *res) {
    if (res->wait_durable && res->err != TR_OK && res->err != TR_ALREADY_OWNED)
        res->wait_durable = false;
    if (res->wait_durable) {
        j->res = *res;
        j->state = JOB_HELD;
        return;
    }
    routes_answer_purchase(j, ctx, res);
}

/* On a pool worker; the ids were checked on the loop (routes_purchase_ids). */
static void handle_purchase(http_job *j, strategy_ctx *ctx) {
    purchase_result res;
    memset(&res, 0, sizeof res);
    strategy_purchase(j->srv->strategy, ctx, j->ids[0], j->ids[1], &res);
    purchase_settle(j, ctx, &res);
}

void routes_purchase_batch(http_job **jobs, int n, strategy_ctx *ctx) {
    int64_t *concerts = malloc((size_t)n * sizeof *concerts);
    int64_t *customers = malloc((size_t)n * sizeof *customers);
    purchase_result *res = calloc((size_t)n, sizeof *res);
    if (concerts == NULL || customers == NULL || res == NULL) {
        for (int i = 0; i < n; i++) job_internal(jobs[i], ctx, TR_NOMEM);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        concerts[i] = jobs[i]->ids[0];
        customers[i] = jobs[i]->ids[1];
    }
    metrics_purchase_batch(jobs[0]->srv->metrics, n);
    strategy_purchase_batch(jobs[0]->srv->strategy, ctx, n, concerts, customers, res);
    for (int i = 0; i < n; i++) purchase_settle(jobs[i], ctx, &res[i]);
out:
    free(concerts);
    free(customers);
    free(res);
}

/* Prometheus text; touches nothing external, so it answers on the event loop. */
static void handle_metrics(http_job *j, strategy_ctx *ctx) {
    (void)ctx;
    server *s = j->srv;
    dynbuf b;
    dynbuf_init(&b, 1 << 20);
    uint64_t header_cut = 0, body_cut = 0, hangup_cut = 0;
    for (int i = 0; i < s->nfronts; i++) {
        conn_tracker_stats one;
        conn_tracker_stats_get(s->trackers[i], &one);
        header_cut += one.header_cut;
        body_cut += one.body_cut;
        hangup_cut += one.hangup_cut;
    }
    if (!metrics_render(s->metrics, &b, s->strategy->name,
                        strategy_durability_name(s->strategy, &s->cfg.strategy_cfg), s->cfg.workers,
                        atomic_load(&s->suspended)) ||
        !dynbuf_printf(&b,
                       "# HELP ticketrush_connections_cut_total Connections closed while a request "
                       "was being received: too slow (header, body) or the client hung up.\n"
                       "# TYPE ticketrush_connections_cut_total counter\n"
                       "ticketrush_connections_cut_total{reason=\"header\"} %llu\n"
                       "ticketrush_connections_cut_total{reason=\"body\"} %llu\n"
                       "ticketrush_connections_cut_total{reason=\"hangup\"} %llu\n",
                       (unsigned long long)header_cut, (unsigned long long)body_cut,
                       (unsigned long long)hangup_cut) ||
        !strategy_metrics(s->strategy, s->strategy_state, &b)) {
        dynbuf_free(&b);
        job_error(j, TR_INTERNAL, NULL);
        return;
    }
    j->content_type = "text/plain; version=0.0.4; charset=utf-8";
    job_answer(j, 200, b.data);
}

const route http_routes[] = {
    {"POST", "/concert/purchase/ticket", handle_purchase,
     ROUTE_JSON_BODY | ROUTE_PURCHASE | ROUTE_WITHOUT_PG},
    {"GET", "/concerts/{id}", handle_concert, 0},
    {"GET", "/concerts/{id}/tickets/{id}", handle_outcome, ROUTE_WITHOUT_PG},
    {"GET", "/livez", handle_livez, ROUTE_ON_LOOP},
    {"GET", "/readyz", handle_readyz, ROUTE_ANY_BACKEND},
    {"GET", "/metrics", handle_metrics, ROUTE_ON_LOOP},
};
const int http_nroutes = (int)(sizeof http_routes / sizeof http_routes[0]);

void routes_match(http_job *j, const char *method, const char *url) {
    bool path_known = false, bad_id = false;
    size_t allow_len = 0;
    j->allow[0] = '\0';
    if (!http_is_token(method)) { /* RFC 9110 §9.1: a method is a token */
        j->early_err = TR_BAD_REQUEST;
        return;
    }
    for (int i = 0; i < http_nroutes; i++) {
        const route *r = &http_routes[i];
        int64_t ids[2] = {0, 0};
        int m = http_match_path(url, r->pattern, ids, 2);
        if (m == 0) continue;
        path_known = true;
        if (m < 0) {
            bad_id = true;
            continue;
        }
        bool method_ok = strcmp(method, r->method) == 0 ||
                         (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
        if (method_ok) {
            j->route = r;
            memcpy(j->ids, ids, sizeof ids);
            return;
        }
        int n = snprintf(j->allow + allow_len, sizeof j->allow - allow_len, "%s%s",
                         allow_len ? ", " : "", r->method);
        if (n > 0 && (size_t)n < sizeof j->allow - allow_len) allow_len += (size_t)n;
        if (strcmp(r->method, "GET") == 0 && allow_len + 6 < sizeof j->allow) {
            memcpy(j->allow + allow_len, ", HEAD", 7);
            allow_len += 6;
        }
    }
    if (!path_known) j->early_err = TR_NOT_FOUND;
    else if (bad_id) j->early_err = TR_BAD_REQUEST;
    else j->early_err = TR_METHOD_NOT_ALLOWED;
}
