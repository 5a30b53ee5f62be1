/* redis.h — a Redis connection (hiredis) with a sticky error, reconnect-on-loss and cached Lua
 * scripts (EVALSHA, falling back to EVAL on NOSCRIPT: https://redis.io/commands/evalsha/).
 * One redis_conn belongs to one thread at a time. Not a pool, not a cluster client. */
#ifndef TR_REDIS_H
#define TR_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>

#include "common/error.h"

typedef struct redis_conn redis_conn;

/* A Lua script; define as `static const` beside its caller. The address is the identity. */
typedef struct redis_script {
    const char *name; /* for error messages */
    const char *src;
} redis_script;

/* Parses "host:port" (IPv4 or name; port 1..65535). TR_INVALID_ARGUMENT on a malformed address. */
tr_err redis_parse_addr(const char *addr, char *host, size_t hostlen, int *port);

/* Connects to addr ("127.0.0.1:56379") with timeout_ms for connect and each command.
 * *out is set to NULL first; on success it owns a connection freed by redis_conn_free.
 * Errors: TR_INVALID_ARGUMENT (bad addr), TR_NOMEM, TR_REDIS (message in errbuf). */
tr_err redis_conn_open(const char *addr, int timeout_ms, redis_conn **out, char *errbuf,
                       size_t errlen);
void redis_conn_free(redis_conn *c); /* NULL is a no-op */

/* Runs a command (hiredis format string). Returns the reply, owned by the caller
 * (freeReplyObject), or NULL on an I/O or protocol failure, after which the connection is
 * dropped and the next call reconnects. A Redis error reply (REDIS_REPLY_ERROR) is returned as
 * is: the caller decides what it means. */
redisReply *redis_cmd(redis_conn *c, const char *fmt, ...);
/* Same with an argv vector (binary safe). */
redisReply *redis_cmd_argv(redis_conn *c, int argc, const char **argv, const size_t *argvlen);

/* Runs a cached script with keys and args (strings). Same ownership and failure rules as
 * redis_cmd; at most 8 keys + args together. */
redisReply *redis_eval(redis_conn *c, const redis_script *s, int nkeys, const char *const *keys,
                       int nargs, const char *const *args);

/* Loads s into Redis's script cache (SCRIPT LOAD, remembered per connection) and returns its SHA1:
 * 40 hex digits, owned by c, valid until c is freed; copy it. NULL on failure (errstr says why).
 * For callers that send EVALSHA themselves (the server's event loop). */
const char *redis_script_load(redis_conn *c, const redis_script *s);

/* The most keys + args one script call takes (redis_eval, redis_eval_many, redis_eval_argv). */
#define REDIS_MAX_EVAL_ARGS 8

/* Fills argv with "EVALSHA sha numkeys keys… args…" (or "EVAL src …" when sha is NULL) for s;
 * numkeys is caller storage (12 bytes) that argv points into. argv needs 3 + nkeys + nargs
 * entries (nkeys + nargs ≤ REDIS_MAX_EVAL_ARGS). Returns argc. For callers that send the call
 * themselves (redis_eval_many's pipeline, the server's event loop). */
int redis_eval_argv(const redis_script *s, const char *sha, int nkeys, const char *const *keys,
                    int nargs, const char *const *args, char numkeys[12], const char **argv);

/* Runs the same cached script n times in one pipeline: call i uses keys[i*nkeys …] and
 * args[i*nargs …] (nkeys + nargs ≤ 8). replies[i] receives each reply (caller frees each; a
 * NOSCRIPT answer is retried with EVAL). TR_OK when every reply arrived; TR_REDIS on an I/O error,
 * after which every replies[i] is NULL and the connection is dropped (the next call reconnects). */
tr_err redis_eval_many(redis_conn *c, const redis_script *s, int n, int nkeys,
                       const char *const *keys, int nargs, const char *const *args,
                       redisReply **replies);

/* The hiredis context, borrowed, for pipelining (redisAppendCommandArgv / redisGetReply); NULL
 * when disconnected. A caller that sees an error on it must not use this connection again. */
redisContext *redis_conn_raw(redis_conn *c);

/* Sticky description of the last failure ("" when none). */
const char *redis_conn_errstr(const redis_conn *c);

#endif
