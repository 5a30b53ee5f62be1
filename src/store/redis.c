/* redis.c — hiredis wrapper behind redis.h: reconnect, sticky error, script SHA cache. */
#include "store/redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conncheck.h"

#define REDIS_MAX_SCRIPTS 16

struct redis_conn {
    redisContext *ctx;
    char host[256];
    int port;
    int timeout_ms;
    struct {
        const redis_script *script;
        char sha[41];
    } scripts[REDIS_MAX_SCRIPTS];
    int nscripts;
    int64_t last_used_ms;          /* CLOCK_MONOTONIC_COARSE */
    char run_id[REDIS_RUN_ID_MAX]; /* INFO server run_id of the server connected to */
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

tr_err redis_parse_addr(const char *addr, char *host, size_t hostlen, int *port) {
    if (addr == NULL) return TR_INVALID_ARGUMENT;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= hostlen)
        return TR_INVALID_ARGUMENT;
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || p < 1 || p > 65535)
        return TR_INVALID_ARGUMENT;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (int)p;
    return TR_OK;
}

static tr_err redis_connect(redis_conn *c) {
    if (c->ctx) redisFree(c->ctx);
    c->nscripts = 0;
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    c->ctx = redisConnectWithTimeout(c->host, c->port, tv);
    if (c->ctx == NULL || c->ctx->err) {
        snprintf(c->errstr, sizeof c->errstr, "could not connect to Redis at %s:%d: %s", c->host,
                 c->port, c->ctx ? c->ctx->errstr : "out of memory");
        if (c->ctx) redisFree(c->ctx);
        c->ctx = NULL;
        return TR_REDIS;
    }
    redisSetTimeout(c->ctx, tv);
    redisEnableKeepAlive(c->ctx);
    /* Which server this is: a sale synced with PostgreSQL on another run of Redis is not trusted
     * (sale.h), so every script that reads a sale is told the run id of the connection it goes
     * out on (REDIS_ARG_RUN_ID). */
    redisReply *info = redisCommand(c->ctx, "INFO server");
    tr_err rc = info && info->type == REDIS_REPLY_STRING ? redis_parse_run_id(info->str, c->run_id)
                                                         : TR_REDIS;
    if (rc != TR_OK) {
        snprintf(c->errstr, sizeof c->errstr,
                 "could not read the run id of Redis at %s:%d (INFO server): %s", c->host, c->port,
                 info && info->type == REDIS_REPLY_ERROR ? info->str
                 : c->ctx->err                           ? c->ctx->errstr
                                                         : "no run_id field");
        if (info) freeReplyObject(info);
        redisFree(c->ctx);
        c->ctx = NULL;
        return TR_REDIS;
    }
    freeReplyObject(info);
    return TR_OK;
}

tr_err redis_conn_open(const char *addr, int timeout_ms, redis_conn **out, char *errbuf,
                       size_t errlen) {
    tr_err rc = TR_OK;
    redis_conn *c = NULL;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) return TR_NOMEM;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    if ((rc = redis_parse_addr(addr, c->host, sizeof c->host, &c->port)) != TR_OK) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "invalid Redis address \"%s\": expected host:port",
                     addr ? addr : "");
        goto out;
    }
    if ((rc = redis_connect(c)) != TR_OK) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "%s", c->errstr);
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
    if (c->ctx) redisFree(c->ctx);
    free(c);
}

/* A connection idle TR_IDLE_CHECK_MS or longer is checked for a peer that went away (a Redis
 * restart) before it is used, so the first call after a restart does not fail on the dead
 * socket. */
static bool redis_ready(redis_conn *c) {
    c->errstr[0] = '\0';
    int64_t now = tr_coarse_ms();
    bool idle = now - c->last_used_ms > TR_IDLE_CHECK_MS;
    c->last_used_ms = now;
    if (c->ctx && c->ctx->err == 0 && !(idle && tr_idle_peer_gone(c->ctx->fd))) return true;
    return redis_connect(c) == TR_OK;
}

static redisReply *redis_check(redis_conn *c, redisReply *r) {
    if (r == NULL) {
        snprintf(c->errstr, sizeof c->errstr, "Redis call failed: %s",
                 c->ctx && c->ctx->err ? c->ctx->errstr : "no reply");
        /* The context is unusable after an I/O or protocol error (hiredis README). */
        redisFree(c->ctx);
        c->ctx = NULL;
    }
    return r;
}

redisReply *redis_cmd(redis_conn *c, const char *fmt, ...) {
    if (!redis_ready(c)) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c->ctx, fmt, ap);
    va_end(ap);
    return redis_check(c, r);
}

redisReply *redis_cmd_argv(redis_conn *c, int argc, const char **argv, const size_t *argvlen) {
    if (!redis_ready(c)) return NULL;
    return redis_check(c, redisCommandArgv(c->ctx, argc, argv, argvlen));
}

/* Replaces REDIS_ARG_RUN_ID arguments with this connection's run id. */
static void redis_argv_run_id(const redis_conn *c, int argc, const char **argv) {
    for (int i = 3; i < argc; i++)
        if (argv[i] == REDIS_ARG_RUN_ID) argv[i] = c->run_id;
}

static const char *redis_script_sha(redis_conn *c, const redis_script *s) {
    for (int i = 0; i < c->nscripts; i++)
        if (c->scripts[i].script == s) return c->scripts[i].sha;
    redisReply *r = redis_cmd(c, "SCRIPT LOAD %s", s->src);
    if (r == NULL) return NULL;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        snprintf(c->errstr, sizeof c->errstr, "could not load script %s: %s", s->name,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return NULL;
    }
    const char *sha = NULL;
    if (c->nscripts < REDIS_MAX_SCRIPTS) {
        memcpy(c->scripts[c->nscripts].sha, r->str, 40);
        c->scripts[c->nscripts].sha[40] = '\0';
        c->scripts[c->nscripts].script = s;
        sha = c->scripts[c->nscripts++].sha;
    }
    freeReplyObject(r);
    return sha;
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
    return redis_ready(c) ? redis_script_sha(c, s) : NULL;
}

redisReply *redis_eval(redis_conn *c, const redis_script *s, int nkeys, const char *const *keys,
                       int nargs, const char *const *args) {
    if (nkeys < 0 || nargs < 0 || nkeys + nargs > REDIS_MAX_EVAL_ARGS) {
        snprintf(c->errstr, sizeof c->errstr, "script %s: too many keys and arguments", s->name);
        return NULL;
    }
    char numkeys[12];
    const char *argv[3 + REDIS_MAX_EVAL_ARGS];
    if (!redis_ready(c)) return NULL;
    const char *sha = redis_script_sha(c, s);
    /* No reconnect from here on: REDIS_ARG_RUN_ID names the server this connection reached. */
    if (c->ctx == NULL) return NULL;
    int argc = redis_eval_argv(s, sha, nkeys, keys, nargs, args, numkeys, argv);
    redis_argv_run_id(c, argc, argv);
    redisReply *r = redis_check(c, redisCommandArgv(c->ctx, argc, argv, NULL));
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* The server lost its script cache (restart, SCRIPT FLUSH): EVAL caches it again. */
        freeReplyObject(r);
        c->nscripts = 0;
        argv[0] = "EVAL";
        argv[1] = s->src;
        r = redis_check(c, redisCommandArgv(c->ctx, argc, argv, NULL));
    }
    return r;
}

const char *redis_conn_run_id(const redis_conn *c) { return c->ctx ? c->run_id : ""; }

const char *redis_conn_errstr(const redis_conn *c) { return c->errstr; }

redisContext *redis_conn_raw(redis_conn *c) { return redis_ready(c) ? c->ctx : NULL; }
