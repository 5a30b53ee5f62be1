/* server.c — the HTTP service's wiring (server.h): checks the configuration and the backends,
 * starts the strategy, the worker pool and the event-loop fronts, and stops them in order. The
 * pieces are routes.c (what each path answers), front.c (event loops, libmicrohttpd, held
 * answers), pool.c (workers that block) and job.c (answers); service.h is what they share.
 *
 * DESIGN
 * - Threads: --io-threads event loops (front.c/loop.c), each with one libmicrohttpd daemon in
 *   external epoll mode on the shared port (SO_REUSEPORT) and one non-blocking Redis
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

static tr_err check_backends(const server_config *cfg, char *errbuf, size_t errlen) {
    pg_conn *pg = NULL;
    tr_err rc = pg_conn_open(cfg->pg_conninfo, &pg, errbuf, errlen);
    pg_conn_free(pg);
    if (rc != TR_OK) return rc;
    if (cfg->redis_addr && cfg->redis_addr[0]) {
        redis_conn *r = NULL;
        rc = redis_conn_open(cfg->redis_addr, 2000, &r, errbuf, errlen);
        if (rc == TR_OK) {
            redisReply *rep = redis_cmd(r, "PING");
            if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
                snprintf(errbuf, errlen, "Redis at %s does not answer PING: %s", cfg->redis_addr,
                         rep ? rep->str : redis_conn_errstr(r));
                rc = TR_REDIS;
            }
            if (rep) freeReplyObject(rep);
        }
        redis_conn_free(r);
    }
    return rc;
}

/* One-script strategies: caches the script in Redis and keeps its SHA1 for EVALSHA (a Redis
 * that lost it answers NOSCRIPT, and the purchase goes to the pool, which loads it again). */
static tr_err load_script(server *s, char *errbuf, size_t errlen) {
    redis_conn *r = NULL;
    tr_err rc = redis_conn_open(s->cfg.redis_addr, 2000, &r, errbuf, errlen);
    if (rc != TR_OK) return rc;
    const char *sha = redis_script_load(r, s->strategy->script);
    if (sha == NULL) {
        snprintf(errbuf, errlen, "%s", redis_conn_errstr(r));
        rc = TR_REDIS;
    } else {
        snprintf(s->script_sha, sizeof s->script_sha, "%s", sha);
        /* A Redis Cluster: into every master's cache too (the SHA1 is the same everywhere), so
         * the first EVALSHA on each finds it. Best effort: a master that missed it answers
         * NOSCRIPT, and that purchase goes to the pool, which loads it. */
        int masters[CLUSTER_MAX_NODES];
        int n = redis_conn_is_cluster(r) ? redis_conn_masters(r, masters, CLUSTER_MAX_NODES) : 0;
        for (int i = 0; i < n && i < CLUSTER_MAX_NODES; i++) {
            redisReply *rep =
                redis_cmd_node(r, masters[i], "SCRIPT LOAD %s", s->strategy->script->src);
            if (rep) freeReplyObject(rep);
        }
    }
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
    if ((rc = check_backends(cfg, errbuf, errlen)) != TR_OK) return rc;

    if ((s = calloc(1, sizeof *s)) == NULL) return TR_NOMEM;
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
    if ((rc = strategy_start(s->strategy, &s->cfg.strategy_cfg, &s->strategy_state, errbuf,
                             errlen)) != TR_OK)
        goto out;
    const char *patterns[64];
    for (int i = 0; i < http_nroutes; i++) patterns[i] = http_routes[i].pattern;
    if ((s->metrics = metrics_new(http_nroutes, patterns)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    if (strategy_is_one_script(s->strategy) && (rc = load_script(s, errbuf, errlen)) != TR_OK)
        goto out;
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
    free(s);
}
