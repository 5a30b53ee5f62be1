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

/* A Redis run id (INFO server's run_id: 40 hex digits, new at every start of a server and
 * different on every server, so a replica promoted after a failover has its own) plus NUL. */
#define REDIS_RUN_ID_MAX 48

/* Pass this very pointer (not a copy of the string) as a script argument: redis_eval sends the
 * run id of the server the call goes out to instead, read when that connection was made
 * (nothing reconnects in between; the event loops pass their own connection's run id). A script
 * compares it with the run id a sale was last synced with PostgreSQL on (store/sale.h), so it
 * can tell a Redis that restarted — and may have come back behind PostgreSQL — from the one it
 * was synced on. */
extern const char REDIS_ARG_RUN_ID[];

/* The run id of the server c is connected to ("" when disconnected). Every connection reads it
 * (INFO server) when it connects; a server that does not answer INFO fails the connection. */
const char *redis_conn_run_id(const redis_conn *c);

/* Reads run_id from the text of INFO [server] into out; TR_REDIS ("" in out) when absent. */
tr_err redis_parse_run_id(const char *info, char out[REDIS_RUN_ID_MAX]);

/* Runs a cached script with keys and args (strings). Same ownership and failure rules as
 * redis_cmd; at most REDIS_MAX_EVAL_ARGS keys + args together. */
redisReply *redis_eval(redis_conn *c, const redis_script *s, int nkeys, const char *const *keys,
                       int nargs, const char *const *args);

/* Loads s into Redis's script cache (SCRIPT LOAD, remembered per connection) and returns its SHA1:
 * 40 hex digits, owned by c, valid until c is freed; copy it. NULL on failure (errstr says why).
 * For callers that send EVALSHA themselves (the server's event loop). */
const char *redis_script_load(redis_conn *c, const redis_script *s);

/* The most keys + args one script call takes (redis_eval, redis_eval_argv). */
#define REDIS_MAX_EVAL_ARGS 12

/* Fills argv with "EVALSHA sha numkeys keys… args…" (or "EVAL src …" when sha is NULL) for s;
 * numkeys is caller storage (12 bytes) that argv points into. argv needs 3 + nkeys + nargs
 * entries (nkeys + nargs ≤ REDIS_MAX_EVAL_ARGS). Returns argc. For callers that send the call
 * themselves (the server's event loops). */
int redis_eval_argv(const redis_script *s, const char *sha, int nkeys, const char *const *keys,
                    int nargs, const char *const *args, char numkeys[12], const char **argv);

/* The hiredis context, borrowed, for pipelining (redisAppendCommandArgv / redisGetReply); NULL
 * when disconnected. A caller that sees an error on it must not use this connection again. */
redisContext *redis_conn_raw(redis_conn *c);

/* Sticky description of the last failure ("" when none). */
const char *redis_conn_errstr(const redis_conn *c);

#endif
