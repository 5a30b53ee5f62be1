/* redis.c — hiredis wrapper behind redis.h: reconnect, sticky error, script SHA cache, and the
 * routing of a Redis Cluster connection (one hiredis context per master, the slot map, MOVED /
 * ASK / TRYAGAIN / CLUSTERDOWN as store/cluster.h decides). Not an async client. */
#include "store/redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/conncheck.h"
#include "store/cluster.h"

#define REDIS_MAX_SCRIPTS 16

/* One server: the plain Redis, or one node of a cluster. */
typedef struct redis_node {
    redisContext *ctx;
    char host[CLUSTER_HOST_MAX];
    int port;
    struct {
        const redis_script *script;
        char sha[41];
    } scripts[REDIS_MAX_SCRIPTS];
    int nscripts;
    int64_t last_used_ms;          /* CLOCK_MONOTONIC_COARSE */
    char run_id[REDIS_RUN_ID_MAX]; /* INFO server run_id of the server connected to */
    uint64_t generation;           /* connections made: a new one has made no write yet */
} redis_node;

struct redis_conn {
    int timeout_ms;
    bool cluster; /* the seed reached said cluster_enabled:1 */
    cluster_addr seeds[CLUSTER_MAX_SEEDS];
    int nseeds;
    /* nodes[0] is the plain Redis; on a cluster every node met so far (masters from the slot
     * map, redirect targets, seeds asked for the map), by address, never removed. */
    redis_node *nodes[CLUSTER_MAX_NODES];
    int nnodes;
    /* cluster: the master of each slot, an index in nodes (-1: none), from the last map */
    int16_t *slot_node;
    bool map_stale; /* refresh before the next routed call (a CLUSTERDOWN, a lost node) */
    /* the connection the last call that was answered ran on (redis_wait_replicas) */
    int last_node; /* index in nodes, -1: none yet */
    uint64_t last_generation;
    cluster_map *scratch; /* for reading CLUSTER SLOTS (70 KB, kept) */
    char errstr[512];
};

const char REDIS_ARG_RUN_ID[] = "\x01run_id";

tr_err redis_parse_run_id(const char *info, char out[REDIS_RUN_ID_MAX]) {
    out[0] = '\0';
    const char *p = info ? strstr(info, "run_id:") : NULL;
    if (p == NULL) return TR_REDIS;
    p += 7;
    size_t n = strspn(p, "0123456789abcdefABCDEF");
    if (n == 0 || n >= REDIS_RUN_ID_MAX) return TR_REDIS;
    memcpy(out, p, n);
    out[n] = '\0';
    return TR_OK;
}

int redis_info_cluster_enabled(const char *info) {
    long long enabled = 0; /* one reader of INFO fields: store/cluster.h */
    return cluster_info_int(info, "cluster_enabled", &enabled) && enabled == 1;
}

tr_err redis_parse_addr(const char *addr, char *host, size_t hostlen, int *port) {
    return cluster_parse_addr(addr, host, hostlen, port);
}

/* ---- one node ---------------------------------------------------------------------------- */

static void node_drop(redis_node *n) {
    if (n->ctx) redisFree(n->ctx);
    n->ctx = NULL;
}

static tr_err node_connect(redis_conn *c, redis_node *n) {
    node_drop(n);
    n->nscripts = 0;
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    n->generation++;
    n->ctx = redisConnectWithTimeout(n->host, n->port, tv);
    if (n->ctx == NULL || n->ctx->err) {
        tr_errf(c->errstr, sizeof c->errstr, "could not connect to Redis at %s:%d: %s", n->host,
                n->port, n->ctx ? n->ctx->errstr : "out of memory");
        node_drop(n);
        return TR_REDIS;
    }
    redisSetTimeout(n->ctx, tv);
    redisEnableKeepAlive(n->ctx);
    /* Which server this is: a sale synced with PostgreSQL on another run of Redis is not trusted
     * (sale.h), so every script that reads a sale is told the run id of the server it goes out
     * to (REDIS_ARG_RUN_ID). */
    redisReply *info = redisCommand(n->ctx, "INFO server");
    tr_err rc = info && info->type == REDIS_REPLY_STRING ? redis_parse_run_id(info->str, n->run_id)
                                                         : TR_REDIS;
    if (rc != TR_OK) {
        tr_errf(c->errstr, sizeof c->errstr,
                "could not read the run id of Redis at %s:%d (INFO server): %s", n->host, n->port,
                info && info->type == REDIS_REPLY_ERROR ? info->str
                : n->ctx->err                           ? n->ctx->errstr
                                                        : "no run_id field");
        if (info) freeReplyObject(info);
        node_drop(n);
        return TR_REDIS;
    }
    freeReplyObject(info);
    return TR_OK;
}

/* A connection idle TR_IDLE_CHECK_MS or longer is checked for a peer that went away (a Redis
 * restart) before it is used, so the first call after a restart does not fail on the dead
 * socket. */
static bool node_ready(redis_conn *c, redis_node *n) {
    int64_t now = tr_coarse_ms();
    bool idle = now - n->last_used_ms > TR_IDLE_CHECK_MS;
    n->last_used_ms = now;
    if (n->ctx && n->ctx->err == 0 && !(idle && tr_idle_peer_gone(n->ctx->fd))) return true;
    return node_connect(c, n) == TR_OK;
}

/* After a NULL reply: the context is unusable after an I/O or protocol error (hiredis README). */
static void node_failed(redis_conn *c, redis_node *n) {
    tr_errf(c->errstr, sizeof c->errstr, "Redis call to %s:%d failed: %s", n->host, n->port,
            n->ctx && n->ctx->err ? n->ctx->errstr : "no reply");
    node_drop(n);
}

static int node_find(const redis_conn *c, const char *host, int port) {
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i]->port == port && strcmp(c->nodes[i]->host, host) == 0) return i;
    return -1;
}

/* The node at host:port, added (not connected) when new; -1 when the table is full. */
static int node_get(redis_conn *c, const char *host, int port) {
    int i = node_find(c, host, port);
    if (i >= 0) return i;
    if (c->nnodes >= CLUSTER_MAX_NODES || strlen(host) >= CLUSTER_HOST_MAX) return -1;
    redis_node *n = calloc(1, sizeof *n);
    if (n == NULL) return -1;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    c->nodes[c->nnodes] = n;
    return c->nnodes++;
}

static const char *node_script_sha(redis_conn *c, redis_node *n, const redis_script *s) {
    for (int i = 0; i < n->nscripts; i++)
        if (n->scripts[i].script == s) return n->scripts[i].sha;
    redisReply *r = redisCommand(n->ctx, "SCRIPT LOAD %s", s->src);
    if (r == NULL) {
        node_failed(c, n);
        return NULL;
    }
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        tr_errf(c->errstr, sizeof c->errstr, "could not load script %s: %s", s->name,
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return NULL;
    }
    const char *sha = NULL;
    if (n->nscripts < REDIS_MAX_SCRIPTS) {
        memcpy(n->scripts[n->nscripts].sha, r->str, 40);
        n->scripts[n->nscripts].sha[40] = '\0';
        n->scripts[n->nscripts].script = s;
        sha = n->scripts[n->nscripts++].sha;
    }
    freeReplyObject(r);
    return sha;
}

/* ---- the slot map ------------------------------------------------------------------------- */

/* A reply made by us, as Redis would write it: for "CLUSTERDOWN …" when no master can take the
 * call (nothing was sent), so callers meet one kind of answer for "the cluster cannot serve
 * this now". NULL only when out of memory. */
static redisReply *synth_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static redisReply *synth_error(const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text + 1, sizeof text - 3, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    size_t len = strlen(text + 1);
    for (size_t i = 1; i <= len; i++)
        if (text[i] == '\r' || text[i] == '\n') text[i] = ' ';
    text[0] = '-';
    memcpy(text + 1 + len, "\r\n", 3);
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    if (rd && redisReaderFeed(rd, text, len + 3) == REDIS_OK) redisReaderGetReply(rd, &reply);
    if (rd) redisReaderFree(rd);
    return reply;
}

/* Reads CLUSTER SLOTS from one node into c->slot_node. */
static bool map_read_from(redis_conn *c, int ni) {
    redis_node *n = c->nodes[ni];
    if (!node_ready(c, n)) return false;
    redisReply *r = redisCommand(n->ctx, "CLUSTER SLOTS");
    if (r == NULL) {
        node_failed(c, n);
        return false;
    }
    char err[256] = "";
    tr_err rc = cluster_slots_parse(r, c->scratch, err, sizeof err);
    freeReplyObject(r);
    if (rc != TR_OK || c->scratch->slots_served == 0) {
        tr_errf(c->errstr, sizeof c->errstr, "could not read the slot map from %s:%d: %s", n->host,
                n->port, rc != TR_OK ? err : "no slot is served");
        return false;
    }
    /* The map's node indices → ours; the unknown endpoint is the host we asked. */
    int16_t idx[CLUSTER_MAX_NODES];
    for (int i = 0; i < c->scratch->nnodes; i++) {
        const cluster_node *m = &c->scratch->nodes[i];
        idx[i] = m->master < 0 ? (int16_t)node_get(c, m->host[0] ? m->host : n->host, m->port) : -1;
    }
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        c->slot_node[s] = c->scratch->slot_master[s] < 0 ? -1 : idx[c->scratch->slot_master[s]];
    return true;
}

/* Reads the slot map from the first node that gives one: the masters known (connected first),
 * then the seeds. false (c->errstr says why) when none could. */
static bool map_refresh(redis_conn *c) {
    c->map_stale = false;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < c->nnodes; i++)
            if ((pass == 0) == (c->nodes[i]->ctx != NULL) && map_read_from(c, i)) return true;
    for (int i = 0; i < c->nseeds; i++) {
        int ni = node_get(c, c->seeds[i].host, c->seeds[i].port);
        if (ni >= 0 && c->nodes[ni]->ctx == NULL && map_read_from(c, ni)) return true;
    }
    c->map_stale = true;
    return false;
}

/* The node for slot (-1: any command without a key, sent to the master of the lowest served
 * slot); -1 when no master serves it. */
static int node_for_slot(redis_conn *c, int slot) {
    if (!c->cluster) return 0;
    if (c->map_stale) map_refresh(c);
    if (slot >= 0) return c->slot_node[slot];
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        if (c->slot_node[s] >= 0) return c->slot_node[s];
    return -1;
}

static int key_slot(const char *key) { return key ? (int)cluster_key_slot(key, strlen(key)) : -1; }

/* ---- one call, routed --------------------------------------------------------------------- */

/* What to send: a formatted command, or a script call built per node (its SHA, NOSCRIPT, the
 * run id of that node for REDIS_ARG_RUN_ID). */
typedef struct call {
    const char *cmd;
    size_t len;
    const redis_script *script;
    int argc;
    const char **argv; /* the template: EVALSHA, sha (filled per node), numkeys, keys, args */
} call;

/* Sends call to node ni (ASKING first when asking). NULL with *sent false when the node could
 * not be reached (nothing sent); NULL with *sent true on an I/O failure after sending (the
 * command may have run; the context is dropped). */
static redisReply *send_on(redis_conn *c, int ni, const call *k, bool asking, bool *sent) {
    redis_node *n = c->nodes[ni];
    *sent = false;
    if (!node_ready(c, n)) return NULL;
    const char *argv[3 + REDIS_MAX_EVAL_ARGS];
    const char *sha = NULL;
    if (k->script) {
        sha = node_script_sha(c, n, k->script);
        if (n->ctx == NULL) return NULL; /* SCRIPT LOAD lost the connection */
        memcpy(argv, k->argv, sizeof *argv * (size_t)k->argc);
        argv[0] = sha ? "EVALSHA" : "EVAL";
        argv[1] = sha ? sha : k->script->src;
        /* REDIS_ARG_RUN_ID names the server this very context reached: no reconnect below. */
        for (int i = 3; i < k->argc; i++)
            if (argv[i] == REDIS_ARG_RUN_ID) argv[i] = n->run_id;
    }
    for (int round = 0; round < 2; round++) {
        if (asking) redisAppendCommand(n->ctx, "ASKING");
        if (k->script) redisAppendCommandArgv(n->ctx, k->argc, argv, NULL);
        else redisAppendFormattedCommand(n->ctx, k->cmd, k->len);
        *sent = true;
        void *r = NULL;
        if (asking) {
            if (redisGetReply(n->ctx, &r) != REDIS_OK) goto io_failed;
            freeReplyObject(r); /* +OK; an error shows in the command's own reply */
            r = NULL;
        }
        if (redisGetReply(n->ctx, &r) != REDIS_OK) goto io_failed;
        c->last_node = ni;
        c->last_generation = n->generation;
        redisReply *rep = r;
        if (k->script && round == 0 && rep->type == REDIS_REPLY_ERROR &&
            strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            /* The server lost its script cache (restart, SCRIPT FLUSH, a node that never had
             * it): EVAL caches it again. */
            freeReplyObject(rep);
            n->nscripts = 0;
            argv[0] = "EVAL";
            argv[1] = k->script->src;
            continue;
        }
        return rep;
    }
    return NULL; /* not reached */
io_failed:
    node_failed(c, n);
    return NULL;
}

/* One call to the master of slot (-1: no key), following the cluster as cluster_next_step says.
 * On plain Redis: one send, the reply as it is. */
static redisReply *routed(redis_conn *c, int slot, const call *k) {
    c->errstr[0] = '\0';
    if (!c->cluster) {
        bool sent;
        return send_on(c, 0, k, false, &sent);
    }
    int ni = node_for_slot(c, slot);
    bool asking = false, refreshed = false;
    int redirects = 0, retries = 0;
    for (;;) {
        if (ni < 0)
            return synth_error("CLUSTERDOWN Hash slot not served (no master serves slot %d in "
                               "the slot map%s%s)",
                               slot, c->errstr[0] ? ": " : "", c->errstr);
        bool sent;
        redisReply *r = send_on(c, ni, k, asking, &sent);
        if (r == NULL) {
            if (sent) {
                c->map_stale = true; /* a failover may be under way */
                return NULL;
            }
            if (!refreshed) {
                /* Nothing was sent: the master may have failed over. Ask the others. */
                refreshed = true;
                map_refresh(c);
                asking = false;
                ni = node_for_slot(c, slot);
                continue;
            }
            c->map_stale = true;
            return synth_error("CLUSTERDOWN could not reach the master of slot %d after "
                               "refreshing the slot map: %s",
                               slot, c->errstr);
        }
        cluster_redirect rd;
        int backoff = 0;
        cluster_step step = cluster_next_step(r->type == REDIS_REPLY_ERROR ? r->str : NULL,
                                              redirects, retries, asking, &rd, &backoff);
        if (step == CLUSTER_STEP_DONE) return r;
        if (step == CLUSTER_STEP_FAIL) {
            if (rd.kind == CLUSTER_REDIRECT_CLUSTERDOWN) c->map_stale = true;
            return r;
        }
        const char *host = rd.host[0] ? rd.host : c->nodes[ni]->host;
        freeReplyObject(r);
        if (step == CLUSTER_STEP_RETRY) {
            retries++;
            tr_sleep_ms(backoff);
            continue;
        }
        redirects++;
        int target = node_get(c, host, rd.port);
        if (target < 0)
            return synth_error("CLUSTERDOWN cannot follow a redirect to %s:%d (too many nodes)",
                               host, rd.port);
        if (step == CLUSTER_STEP_MOVED) {
            /* The slot is served elsewhere now: read the map again, and trust the MOVED for
             * this slot whatever the node we asked believes. */
            map_refresh(c);
            c->slot_node[rd.slot] = (int16_t)target;
            asking = false;
        } else {
            asking = true; /* ASK: this once, the map unchanged */
        }
        ni = target;
    }
}

/* ---- opening -------------------------------------------------------------------------------- */

static redis_conn *conn_new(int timeout_ms) {
    redis_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    c->last_node = -1;
    return c;
}

tr_err redis_conn_open_node(const char *addr, int timeout_ms, redis_conn **out, char *errbuf,
                            size_t errlen) {
    tr_err rc = TR_OK;
    *out = NULL;
    redis_conn *c = conn_new(timeout_ms);
    char host[CLUSTER_HOST_MAX];
    int port = 0;
    if (c == NULL) return TR_NOMEM;
    if ((rc = redis_parse_addr(addr, host, sizeof host, &port)) != TR_OK) {
        tr_errf(errbuf, errlen, "invalid Redis address \"%s\": expected host:port",
                addr ? addr : "");
        goto out;
    }
    if (node_get(c, host, port) != 0) {
        rc = TR_NOMEM;
        goto out;
    }
    if ((rc = node_connect(c, c->nodes[0])) != TR_OK) {
        tr_errf(errbuf, errlen, "%s", c->errstr);
        goto out;
    }
    *out = c;
    c = NULL;
out:
    redis_conn_free(c);
    return rc;
}

/* Whether node 0 (connected) is a cluster node: INFO cluster's cluster_enabled:1. A server that
 * does not know the section (or refuses INFO cluster) is plain. */
static bool node_is_cluster(redis_node *n) {
    redisReply *r = redisCommand(n->ctx, "INFO cluster");
    bool yes = r && r->type == REDIS_REPLY_STRING && redis_info_cluster_enabled(r->str);
    if (r) freeReplyObject(r);
    return yes;
}

tr_err redis_conn_open(const char *addrs, int timeout_ms, redis_conn **out, char *errbuf,
                       size_t errlen) {
    tr_err rc = TR_OK;
    *out = NULL;
    redis_conn *c = conn_new(timeout_ms);
    if (c == NULL) return TR_NOMEM;
    char why[256] = "";
    if (cluster_seeds_parse(addrs, c->seeds, CLUSTER_MAX_SEEDS, &c->nseeds, why, sizeof why) !=
        TR_OK) {
        tr_errf(errbuf, errlen, "invalid Redis address list \"%s\": %s", addrs ? addrs : "", why);
        rc = TR_INVALID_ARGUMENT;
        goto out;
    }
    /* The first seed that answers says what this is. */
    int reached = -1;
    for (int i = 0; i < c->nseeds && reached < 0; i++) {
        int ni = node_get(c, c->seeds[i].host, c->seeds[i].port);
        if (ni < 0) {
            rc = TR_NOMEM;
            goto out;
        }
        if (node_connect(c, c->nodes[ni]) == TR_OK) reached = ni;
    }
    if (reached < 0) {
        tr_errf(errbuf, errlen, "%s%s", c->errstr,
                c->nseeds > 1 ? " (and every other address given)" : "");
        rc = TR_REDIS;
        goto out;
    }
    redis_node *first = c->nodes[reached];
    if (!node_is_cluster(first)) {
        if (c->nseeds > 1) {
            tr_errf(errbuf, errlen,
                    "Redis at %s:%d is not a cluster node (cluster_enabled:0): give one address "
                    "for a plain Redis, several only for the nodes of one Redis Cluster",
                    first->host, first->port);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        *out = c; /* plain Redis: nodes[0], as before */
        return TR_OK;
    }
    c->cluster = true;
    c->slot_node = malloc(sizeof *c->slot_node * CLUSTER_SLOTS);
    c->scratch = malloc(sizeof *c->scratch);
    if (c->slot_node == NULL || c->scratch == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    for (int s = 0; s < CLUSTER_SLOTS; s++) c->slot_node[s] = -1;
    if (!map_read_from(c, reached) && !map_refresh(c)) {
        tr_errf(errbuf, errlen, "%s", c->errstr);
        rc = TR_REDIS;
        goto out;
    }
    *out = c;
    c = NULL;
out:
    redis_conn_free(c);
    return rc;
}

void redis_conn_free(redis_conn *c) {
    if (c == NULL) return;
    for (int i = 0; i < c->nnodes; i++) {
        node_drop(c->nodes[i]);
        free(c->nodes[i]);
    }
    free(c->slot_node);
    free(c->scratch);
    free(c);
}

bool redis_conn_is_cluster(const redis_conn *c) { return c->cluster; }

/* ---- calls ------------------------------------------------------------------------------- */

static redisReply *routed_fmt(redis_conn *c, int slot, const char *fmt, va_list ap) {
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    if (len < 0) {
        tr_errf(c->errstr, sizeof c->errstr, "could not format a Redis command");
        return NULL;
    }
    call k = {.cmd = cmd, .len = (size_t)len};
    redisReply *r = routed(c, slot, &k);
    free(cmd);
    return r;
}

static redisReply *routed_argv(redis_conn *c, int slot, int argc, const char **argv,
                               const size_t *argvlen) {
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        tr_errf(c->errstr, sizeof c->errstr, "could not format a Redis command");
        return NULL;
    }
    call k = {.cmd = cmd, .len = (size_t)len};
    redisReply *r = routed(c, slot, &k);
    free(cmd);
    return r;
}

redisReply *redis_cmd(redis_conn *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = routed_fmt(c, -1, fmt, ap);
    va_end(ap);
    return r;
}

redisReply *redis_cmd_key(redis_conn *c, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = routed_fmt(c, key_slot(key), fmt, ap);
    va_end(ap);
    return r;
}

redisReply *redis_cmd_argv(redis_conn *c, int argc, const char **argv, const size_t *argvlen) {
    return routed_argv(c, -1, argc, argv, argvlen);
}

redisReply *redis_cmd_argv_key(redis_conn *c, const char *key, int argc, const char **argv,
                               const size_t *argvlen) {
    return routed_argv(c, key_slot(key), argc, argv, argvlen);
}

int redis_eval_argv(const redis_script *s, const char *sha, int nkeys, const char *const *keys,
                    int nargs, const char *const *args, char numkeys[12], const char **argv) {
    snprintf(numkeys, 12, "%d", nkeys);
    int argc = 0;
    argv[argc++] = sha ? "EVALSHA" : "EVAL";
    argv[argc++] = sha ? sha : s->src;
    argv[argc++] = numkeys;
    for (int i = 0; i < nkeys; i++) argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++) argv[argc++] = args[i];
    return argc;
}

const char *redis_script_load(redis_conn *c, const redis_script *s) {
    c->errstr[0] = '\0';
    int ni = node_for_slot(c, -1);
    if (ni < 0) {
        tr_errf(c->errstr, sizeof c->errstr, "no master serves any slot of the cluster");
        return NULL;
    }
    return node_ready(c, c->nodes[ni]) ? node_script_sha(c, c->nodes[ni], s) : NULL;
}

redisReply *redis_eval(redis_conn *c, const redis_script *s, int nkeys, const char *const *keys,
                       int nargs, const char *const *args) {
    if (nkeys < 0 || nargs < 0 || nkeys + nargs > REDIS_MAX_EVAL_ARGS) {
        tr_errf(c->errstr, sizeof c->errstr, "script %s: too many keys and arguments", s->name);
        return NULL;
    }
    char numkeys[12];
    const char *argv[3 + REDIS_MAX_EVAL_ARGS];
    call k = {.script = s, .argv = argv};
    k.argc = redis_eval_argv(s, NULL, nkeys, keys, nargs, args, numkeys, argv);
    return routed(c, nkeys > 0 ? key_slot(keys[0]) : -1, &k);
}

redisReply *redis_multi_exec_key(redis_conn *c, const char *key, int ncmds, const int *argcs,
                                 const char *const *const *argvs) {
    c->errstr[0] = '\0';
    int slot = key_slot(key);
    bool asking = false;
    int ni = node_for_slot(c, c->cluster ? slot : -1);
    for (int attempt = 0; attempt < 3; attempt++) {
        if (ni < 0)
            return synth_error("CLUSTERDOWN Hash slot not served (no master serves slot %d)", slot);
        redis_node *n = c->nodes[ni];
        if (!node_ready(c, n)) {
            if (!c->cluster || attempt > 0) return NULL;
            map_refresh(c);
            ni = node_for_slot(c, slot);
            continue;
        }
        /* ASKING before MULTI holds for the whole transaction (Redis keeps the flag until EXEC). */
        if (asking) redisAppendCommand(n->ctx, "ASKING");
        redisAppendCommand(n->ctx, "MULTI");
        for (int i = 0; i < ncmds; i++)
            redisAppendCommandArgv(n->ctx, argcs[i], (const char **)argvs[i], NULL);
        redisAppendCommand(n->ctx, "EXEC");
        cluster_redirect moved = {.kind = CLUSTER_REDIRECT_NONE};
        void *r = NULL;
        for (int i = 0; i < ncmds + 1 + asking; i++) {
            if (redisGetReply(n->ctx, &r) != REDIS_OK) {
                node_failed(c, n);
                return NULL;
            }
            redisReply *q = r;
            cluster_redirect rd;
            if (c->cluster && q->type == REDIS_REPLY_ERROR && moved.kind == CLUSTER_REDIRECT_NONE &&
                (cluster_redirect_parse(q->str, &rd) == CLUSTER_REDIRECT_MOVED ||
                 rd.kind == CLUSTER_REDIRECT_ASK))
                moved = rd;
            freeReplyObject(q);
        }
        if (redisGetReply(n->ctx, &r) != REDIS_OK) {
            node_failed(c, n);
            return NULL;
        }
        redisReply *exec = r;
        c->last_node = ni;
        c->last_generation = n->generation;
        /* A queued command redirected: EXEC aborted (EXECABORT), nothing ran. Go there. */
        if (moved.kind == CLUSTER_REDIRECT_NONE || exec->type != REDIS_REPLY_ERROR) return exec;
        freeReplyObject(exec);
        int target = node_get(c, moved.host[0] ? moved.host : n->host, moved.port);
        if (moved.kind == CLUSTER_REDIRECT_MOVED) {
            map_refresh(c);
            if (target >= 0) c->slot_node[moved.slot] = (int16_t)target;
        }
        asking = moved.kind == CLUSTER_REDIRECT_ASK;
        ni = target;
    }
    return synth_error("TRYAGAIN the transaction was redirected too often (slot %d moving)", slot);
}

redisReply *redis_wait_replicas(redis_conn *c, int numreplicas, int timeout_ms) {
    c->errstr[0] = '\0';
    redis_node *n = c->last_node >= 0 ? c->nodes[c->last_node] : NULL;
    if (n == NULL || n->ctx == NULL || n->ctx->err || n->generation != c->last_generation) {
        /* WAIT on any other connection would count replicas for writes it never made */
        tr_errf(c->errstr, sizeof c->errstr, "the connection the write was made on is gone (%s)",
                n ? "reconnected or lost since" : "no call made yet");
        return NULL;
    }
    redisReply *r = redisCommand(n->ctx, "WAIT %d %d", numreplicas, timeout_ms);
    if (r == NULL) node_failed(c, n);
    return r;
}

/* ---- every master ------------------------------------------------------------------------- */

int redis_conn_masters(redis_conn *c, int *out, int max) {
    if (!c->cluster) {
        if (max > 0) out[0] = 0;
        return 1;
    }
    if (c->map_stale) map_refresh(c);
    int n = 0;
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        int ni = c->slot_node[s];
        if (ni < 0) continue;
        bool seen = false;
        for (int i = 0; i < n && i < max && !seen; i++) seen = out[i] == ni;
        if (seen) continue;
        if (n < max) out[n] = ni;
        n++;
    }
    return n;
}

redisReply *redis_cmd_node(redis_conn *c, int node, const char *fmt, ...) {
    c->errstr[0] = '\0';
    if (node < 0 || node >= c->nnodes) {
        tr_errf(c->errstr, sizeof c->errstr, "no Redis node %d", node);
        return NULL;
    }
    redis_node *n = c->nodes[node];
    if (!node_ready(c, n)) {
        c->map_stale = c->cluster; /* a master that does not answer: read the map again */
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(n->ctx, fmt, ap);
    va_end(ap);
    if (r == NULL) {
        node_failed(c, n);
        c->map_stale = c->cluster;
    } else {
        c->last_node = node;
        c->last_generation = n->generation;
    }
    return r;
}

const char *redis_conn_node_name(const redis_conn *c, int node, char *buf, size_t len) {
    if (node < 0 || node >= c->nnodes) snprintf(buf, len, "?");
    else snprintf(buf, len, "%s:%d", c->nodes[node]->host, c->nodes[node]->port);
    return buf;
}

const char *redis_conn_node_slots(const redis_conn *c, int node, char *buf, size_t len) {
    if (!c->cluster) snprintf(buf, len, "all");
    else cluster_slot_ranges(c->slot_node, node, buf, len);
    return buf;
}

/* ---- the rest ------------------------------------------------------------------------------ */

bool redis_conn_lost(const redis_conn *c) {
    return c->nnodes == 0 || c->nodes[c->last_node >= 0 ? c->last_node : 0]->ctx == NULL;
}

const char *redis_conn_run_id(const redis_conn *c) {
    return c->nnodes > 0 && c->nodes[0]->ctx ? c->nodes[0]->run_id : "";
}

const char *redis_conn_run_id_key(redis_conn *c, const char *key) {
    int ni = node_for_slot(c, key_slot(key));
    if (ni < 0 || !node_ready(c, c->nodes[ni])) return "";
    return c->nodes[ni]->run_id;
}

const char *redis_conn_errstr(const redis_conn *c) { return c->errstr; }

redisContext *redis_conn_raw(redis_conn *c) { return redis_conn_raw_key(c, NULL); }

redisContext *redis_conn_raw_key(redis_conn *c, const char *key) {
    c->errstr[0] = '\0';
    int ni = node_for_slot(c, key_slot(key));
    if (ni < 0) {
        tr_errf(c->errstr, sizeof c->errstr, "no master serves the slot of %s", key ? key : "");
        return NULL;
    }
    return node_ready(c, c->nodes[ni]) ? c->nodes[ni]->ctx : NULL;
}
