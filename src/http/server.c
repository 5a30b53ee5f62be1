/* server.c — the HTTP service's wiring (server.h): checks the configuration and the backends,
 * starts the strategy, the worker pool and the event-loop fronts, and stops them in order. The
 * pieces are routes.c (what each path answers), front.c (event loops, libmicrohttpd, held
 * answers), pool.c (workers that block) and job.c (answers); service.h is what they share.
 *
 * DESIGN
 * - Threads: --io-threads event loops (front.c/loop.c), each with one libmicrohttpd daemon in
 *   external epoll mode on one shared listening socket (--reuse-port: each its own, SO_REUSEPORT)
 *   and one non-blocking Redis
 *   connection; --workers pool workers (pool.c), each with its own PostgreSQL and Redis
 *   connection; the strategy's background workers (persister, issuer).
 * - Two purchase paths, chosen by the strategy's kind (strategy.h): a one-script strategy's
 *   purchases are script calls sent from the loops, pipelined; a blocking strategy's run on the
 *   pool. Answers that wait for durability are held on the loops, never on a thread.
 * - Shutdown: quiesce (stop accepting), answer new requests 503, let the loops' Redis calls and
 *   the pool's queue finish, wait (drain_ms) for every suspended connection to be answered;
 *   past it, queued work gets 503 and running statements are cancelled; then the loops answer
 *   what they still hold (500) and stop, then the strategy's background workers drain. */
#include "common/clock.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/metrics.h"
#include "http/service.h"
#include "store/cluster.h"

/* The background workers' log (strategy_config.log) into the server's. */
static void background_log(void *arg, const char *fmt, va_list ap) {
    server *s = arg;
    s->cfg.log(fmt, ap);
}

static tr_err check_pg(const server_config *cfg, char *errbuf, size_t errlen) {
    pg_conn *pg = NULL;
    tr_err rc = pg_conn_open(cfg->pg_conninfo, &pg, errbuf, errlen);
    pg_conn_free(pg);
    return rc;
}

/* --durability replicated: the Redis at addr (a plain Redis, or a cluster master) has a replica
 * connected (INFO replication connected_slaves ≥ 1); otherwise every purchase would wait out its
 * WAIT, so the server does not start. *lost: no answer came (the server cannot be reached), as
 * opposed to an answer that says no. */
static tr_err check_replicas(redis_conn *r, const char *addr, bool *lost, char *errbuf,
                             size_t errlen) {
    redisReply *rep = redis_cmd(r, "INFO replication");
    long long n = -1;
    bool ok = rep && rep->type == REDIS_REPLY_STRING &&
              cluster_info_int(rep->str, "connected_slaves", &n) && n >= 1;
    *lost = rep == NULL;
    if (!ok)
        snprintf(errbuf, errlen,
                 "--durability replicated needs a Redis with a replica: Redis at %s has %s "
                 "(INFO replication connected_slaves); use fast or strict, or give it a replica",
                 addr,
                 n == 0                           ? "none connected"
                 : rep == NULL                    ? redis_conn_errstr(r)
                 : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                  : "no connected_slaves field");
    if (rep) freeReplyObject(rep);
    return ok ? TR_OK : TR_REDIS;
}

/* What one Redis the server starts with needs: the purchase script cached (one-script
 * strategies; its SHA1 kept for EVALSHA — a Redis that lost it answers NOSCRIPT and the purchase
 * goes to the pool, which loads it again), and a replica under --durability replicated. *lost:
 * the failure is that the server stopped answering (an I/O failure, nothing it said). */
static tr_err prepare_redis(server *s, redis_conn *r, const char *addr, bool *lost, char *errbuf,
                            size_t errlen) {
    *lost = false;
    if (strategy_is_one_script(s->strategy)) {
        const char *sha = redis_script_load(r, s->strategy->script);
        if (sha == NULL) {
            *lost = redis_conn_lost(r);
            snprintf(errbuf, errlen, "%s", redis_conn_errstr(r));
            return TR_REDIS;
        }
        snprintf(s->script_sha, sizeof s->script_sha, "%s", sha);
    }
    if (s->cfg.strategy_cfg.durability == DURABILITY_REPLICATED)
        return check_replicas(r, addr, lost, errbuf, errlen);
    return TR_OK;
}

/* The Redis --redis names ("host:port[,host:port…]", store/cluster.h's seed list): the first
 * seed that answers decides. cluster_enabled:1 (INFO cluster) makes it a Redis Cluster: its slot
 * map (CLUSTER SLOTS) goes to s->cluster_map for the event loops, and every master is prepared;
 * otherwise it is a plain Redis (one address only) and is prepared alone. */
static tr_err discover_redis(server *s, char *errbuf, size_t errlen) {
    cluster_addr seeds[CLUSTER_MAX_SEEDS];
    int nseeds = 0;
    char bad[160];
    tr_err rc =
        cluster_seeds_parse(s->cfg.redis_addr, seeds, CLUSTER_MAX_SEEDS, &nseeds, bad, sizeof bad);
    if (rc != TR_OK) {
        snprintf(errbuf, errlen, "invalid Redis address list \"%s\": %s",
                 s->cfg.redis_addr ? s->cfg.redis_addr : "", bad);
        return rc;
    }
    redis_conn *r = NULL;
    char addr[CLUSTER_HOST_MAX + 16] = "";
    int seed = 0; /* the one that answered: its host stands for nodes named without one */
    for (int i = 0; i < nseeds && r == NULL; i++) {
        snprintf(addr, sizeof addr, "%.255s:%d", seeds[i].host, seeds[i].port);
        /* one node, not a routing connection: INFO cluster is that seed's answer */
        rc = redis_conn_open_node(addr, 2000, &r, errbuf, errlen); /* the last seed's error stays */
        seed = i;
    }
    if (r == NULL) return rc;
    redisReply *rep = redis_cmd(r, "INFO cluster");
    long long enabled = 0;
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errlen, "Redis at %s does not answer INFO cluster: %s", addr,
                 rep ? rep->str : redis_conn_errstr(r));
        rc = TR_REDIS;
        goto out;
    }
    if (rep->type == REDIS_REPLY_STRING) cluster_info_int(rep->str, "cluster_enabled", &enabled);
    freeReplyObject(rep);
    rep = NULL;
    if (enabled != 1) {
        if (nseeds > 1) {
            snprintf(errbuf, errlen,
                     "--redis names %d addresses, but Redis at %s is not a Redis Cluster node "
                     "(INFO cluster: cluster_enabled is not 1); give one address for a plain Redis",
                     nseeds, addr);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        bool lost;
        rc = prepare_redis(s, r, addr, &lost, errbuf, errlen);
        goto out;
    }
    if ((s->cluster_map = malloc(sizeof *s->cluster_map)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    snprintf(s->cluster_seed, sizeof s->cluster_seed, "%s", addr);
    char why[256];
    rep = redis_cmd(r, "CLUSTER SLOTS");
    if ((rc = cluster_slots_parse(rep, s->cluster_map, why, sizeof why)) != TR_OK ||
        s->cluster_map->nmasters == 0) {
        snprintf(errbuf, errlen, "could not read the slot map of the Redis Cluster at %s: %s", addr,
                 rc != TR_OK ? why : "no master serves any slot");
        rc = TR_REDIS;
        goto out;
    }
    server_log(s, "Redis Cluster at %s: %d master%s serve%s %d of %d slots", addr,
               s->cluster_map->nmasters, s->cluster_map->nmasters == 1 ? "" : "s",
               s->cluster_map->nmasters == 1 ? "s" : "", s->cluster_map->slots_served,
               CLUSTER_SLOTS);
    redis_conn_free(r);
    r = NULL;
    /* A master that cannot be reached now (killed, stopped, its replica not promoted yet) is
     * skipped, not fatal: the event loops answer 503 unavailable for its slots and read the map
     * again until it is back or replaced, and its script is loaded on first use (NOSCRIPT → the
     * pool EVALs). A master that answers but cannot serve (no replica under replicated, a script
     * it refuses) still stops the start; so does no master answering at all. */
    int prepared = 0, skipped = 0;
    char first_err[512] = "";
    for (int i = 0; i < s->cluster_map->nnodes; i++) {
        const cluster_node *n = &s->cluster_map->nodes[i];
        if (n->master >= 0) continue;
        snprintf(addr, sizeof addr, "%.255s:%d", n->host[0] ? n->host : seeds[seed].host, n->port);
        /* that master itself (its script cache, its replicas), not the cluster behind it */
        bool lost = true;
        char slots[128];
        rc = redis_conn_open_node(addr, 2000, &r, errbuf, errlen);
        if (rc == TR_REDIS ||
            (rc == TR_OK && (rc = prepare_redis(s, r, addr, &lost, errbuf, errlen)) != TR_OK &&
             lost)) {
            server_log(s,
                       "Redis Cluster master %s (slots %s) cannot be reached: %s; starting "
                       "without it (its concerts answer 503 unavailable until it is back or "
                       "its replica is promoted)",
                       addr,
                       cluster_slot_ranges(s->cluster_map->slot_master, i, slots, sizeof slots),
                       errbuf);
            if (skipped++ == 0) snprintf(first_err, sizeof first_err, "%s", errbuf);
            redis_conn_free(r);
            r = NULL;
            continue;
        }
        if (rc != TR_OK) goto out;
        prepared++;
        redis_conn_free(r);
        r = NULL;
    }
    if (prepared == 0) {
        snprintf(errbuf, errlen, "no master of the Redis Cluster at %s can be reached: %s",
                 s->cluster_seed, first_err);
        rc = TR_REDIS;
        goto out;
    }
    rc = TR_OK;
out:
    if (rep) freeReplyObject(rep);
    redis_conn_free(r);
    return rc;
}

static bool config_valid(const server_config *cfg) {
    return cfg->strategy != NULL && cfg->pg_conninfo != NULL && cfg->workers >= 1 &&
           cfg->workers <= 1024 && cfg->io_threads >= 1 && cfg->io_threads <= 64 &&
           cfg->port >= 0 && cfg->port <= 65535 && cfg->max_connections >= 1 &&
           cfg->idle_timeout_s >= 1 && cfg->header_timeout_s >= 0 &&
           cfg->header_timeout_s <= 86400 && cfg->body_timeout_s >= 0 &&
           cfg->body_timeout_s <= 86400;
}

tr_err server_start(const server_config *cfg, server **out, char *errbuf, size_t errlen) {
    tr_err rc = TR_OK;
    server *s = NULL;
    *out = NULL;
    if (!config_valid(cfg)) {
        snprintf(errbuf, errlen, "invalid server configuration");
        return TR_INVALID_ARGUMENT;
    }
    if (cfg->strategy->needs_redis && (cfg->redis_addr == NULL || cfg->redis_addr[0] == '\0')) {
        snprintf(errbuf, errlen, "strategy %s needs Redis: set --redis or TICKETRUSH_REDIS",
                 cfg->strategy->name);
        return TR_INVALID_ARGUMENT;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->bind_addr ? cfg->bind_addr : "127.0.0.1", &sa.sin_addr) != 1) {
        snprintf(errbuf, errlen, "invalid listen address \"%s\"", cfg->bind_addr);
        return TR_INVALID_ARGUMENT;
    }
    if ((rc = check_pg(cfg, errbuf, errlen)) != TR_OK) return rc;

    if ((s = calloc(1, sizeof *s)) == NULL) return TR_NOMEM;
    s->listen_fd = -1;
    s->cfg = *cfg;
    s->strategy = cfg->strategy;
    if (s->cfg.header_timeout_s == 0) s->cfg.header_timeout_s = SERVER_HEADER_TIMEOUT_S;
    if (s->cfg.body_timeout_s == 0) s->cfg.body_timeout_s = SERVER_BODY_TIMEOUT_S;
    s->cfg.strategy_cfg.pg_conninfo = cfg->pg_conninfo;
    s->cfg.strategy_cfg.redis_addr = cfg->redis_addr;
    if (cfg->log) {
        s->cfg.strategy_cfg.log = background_log;
        s->cfg.strategy_cfg.log_arg = s;
    }
    if (cfg->redis_addr && cfg->redis_addr[0] && (rc = discover_redis(s, errbuf, errlen)) != TR_OK)
        goto out;
    if ((rc = strategy_start(s->strategy, &s->cfg.strategy_cfg, &s->strategy_state, errbuf,
                             errlen)) != TR_OK)
        goto out;
    const char *patterns[64];
    for (int i = 0; i < http_nroutes; i++) patterns[i] = http_routes[i].pattern;
    if ((s->metrics = metrics_new(http_nroutes, patterns)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    if ((rc = pool_start(s, cfg->workers, front_job_done, &s->pool, errbuf, errlen)) != TR_OK)
        goto out;
    if ((rc = fronts_start(s, &sa, errbuf, errlen)) != TR_OK) goto out;
    *out = s;
    s = NULL;
out:
    server_stop(s, 0);
    return rc;
}

int server_port(const server *s) { return s->port; }

void server_stop(server *s, int drain_ms) {
    if (s == NULL) return;
    int64_t deadline = tr_mono_ms() + (drain_ms > 0 ? drain_ms : 0);
    /* Stop accepting, and answer requests that have not started with 503. */
    fronts_quiesce(s);
    atomic_store(&s->stopping, true);
    /* Event loops: their Redis calls answer (a reply may still hand a job to the pool). */
    while (fronts_inflight(s) > 0 && tr_mono_ms() < deadline) tr_sleep_ms(5);
    /* Workers finish the queue (answering every queued job), then exit. */
    pool_finish(s->pool);
    while (pool_running(s->pool) > 0 && tr_mono_ms() < deadline) tr_sleep_ms(5);
    /* Past the drain time: queued work gets 503 and statements the workers still run (e.g. stuck
     * on a lock) are cancelled, again every 500 ms for 5 s at most: the request they serve
     * answers 500, outcome unknown. */
    for (int round = 0; round < 10 && pool_running(s->pool) > 0; round++) {
        pool_drain_over(s->pool);
        for (int t = 0; t < 100 && pool_running(s->pool) > 0; t++) tr_sleep_ms(5);
    }
    pool_free(s->pool);
    /* Every decided job went back to its loop; held answers wait for their commit (or the
     * deadline); give MHD a moment to send the answers. */
    while (atomic_load(&s->suspended) > 0 && tr_mono_ms() < deadline) tr_sleep_ms(10);
    /* Event loops: every one answers what it still holds (500) and sends it, then stops. */
    fronts_stop(s);
    /* After the last request: background workers drain what they hold, then stop. */
    strategy_stop(s->strategy, s->strategy_state);
    metrics_free(s->metrics);
    free(s->cluster_map);
    free(s);
}
