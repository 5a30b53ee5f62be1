/* redis.h — a blocking Redis connection (hiredis) with a sticky error, reconnect-on-loss and
 * cached Lua scripts (EVALSHA, falling back to EVAL on NOSCRIPT: https://redis.io/commands/evalsha/),
 * to one plain Redis or to a Redis Cluster. One redis_conn belongs to one thread at a time. Not a
 * pool, not an async client (the event loops keep their own, src/http/loop.c).
 *
 * Redis Cluster (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/): when
 * the server redis_conn_open reaches says cluster_enabled:1 (INFO cluster), the connection reads
 * the slot map (CLUSTER SLOTS, from any reachable node or seed), keeps one hiredis context per
 * master (opened on first use, each with the run id of its own server) and sends every call to
 * the master of its key's slot (store/cluster.h). The caller names the key: redis_eval routes by
 * keys[0], redis_cmd_key / redis_cmd_argv_key / redis_multi_exec_key by their key argument; the
 * command text is never parsed for one. redis_cmd and redis_cmd_argv are for commands without a
 * key (PING, TIME, INFO, SCRIPT LOAD): on a cluster they go to the master of the lowest served
 * slot. Every routed call follows the cluster's answers (cluster_next_step): MOVED — read the map
 * again and send it to the node named; ASK — ASKING and the call to that node, once, the map
 * unchanged; TRYAGAIN — the same node again after 10, 20, 40 ms; CLUSTERDOWN — handed to the
 * caller as is. When no master serves the slot, or the master cannot be reached even after the map
 * was read again (a failover under way), nothing is sent and the caller gets an error reply made
 * here that starts with "CLUSTERDOWN " (cluster_error_busy: redis-atomic and redis-zset answer
 * 503 unavailable with Retry-After, the lock strategies 503 busy). On a plain Redis every call goes to that one server and nothing is followed. */
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

/* Connects to addrs, the server's --redis: "host:port[,host:port…]" (cluster_seeds_parse; at most
 * CLUSTER_MAX_SEEDS), with timeout_ms for connect and each command. The seeds are tried in order;
 * the first that answers decides: a cluster node makes this a cluster connection (see above; the
 * slot map is read before this returns), a plain Redis a connection to that one server — then
 * only one address may be given. *out is set to NULL first; on success it owns a connection
 * freed by redis_conn_free. Errors: TR_INVALID_ARGUMENT (a malformed list, or several addresses
 * and the first that answers is not a cluster node), TR_NOMEM, TR_REDIS (no seed answers, or no
 * slot map could be read; message in errbuf). */
tr_err redis_conn_open(const char *addrs, int timeout_ms, redis_conn **out, char *errbuf,
                       size_t errlen);
/* Connects to exactly the server at addr ("host:port"), cluster node or not, and never follows a
 * redirect: for tools and tests that talk to one node. Same errors as redis_conn_open. */
tr_err redis_conn_open_node(const char *addr, int timeout_ms, redis_conn **out, char *errbuf,
                            size_t errlen);
void redis_conn_free(redis_conn *c); /* NULL is a no-op */

/* Whether c routes to a Redis Cluster. */
bool redis_conn_is_cluster(const redis_conn *c);

/* Whether the text of INFO [cluster] says cluster_enabled:1 (0 for a plain Redis, or no field). */
int redis_info_cluster_enabled(const char *info);

/* Runs a command without a key (hiredis format string; on a cluster it goes to one master).
 * Returns the reply, owned by the caller (freeReplyObject), or NULL on an I/O or protocol
 * failure, after which that server's connection is dropped and the next call reconnects. A
 * Redis error reply (REDIS_REPLY_ERROR) is returned as is: the caller decides what it means. */
redisReply *redis_cmd(redis_conn *c, const char *fmt, ...);
/* Same with an argv vector (binary safe). */
redisReply *redis_cmd_argv(redis_conn *c, int argc, const char **argv, const size_t *argvlen);
/* The same for a command about key (NUL-terminated; every other key it names must be in the
 * same slot — CROSSSLOT otherwise — which every {concert:ID} key of one concert is): on a
 * cluster it goes to the master serving key's slot, following redirects (see above). */
redisReply *redis_cmd_key(redis_conn *c, const char *key, const char *fmt, ...);
redisReply *redis_cmd_argv_key(redis_conn *c, const char *key, int argc, const char **argv,
                               const size_t *argvlen);

/* WAIT numreplicas timeout_ms (https://redis.io/commands/wait/) on the very connection the last
 * answered call on c ran on (on a cluster: the node it ended on, after any redirect). WAIT counts
 * the replicas that acknowledged the writes of its own connection only, so it is never sent on
 * another server's connection nor on a new one: when that connection was lost or made again
 * since, nothing is sent and NULL is returned (errstr says why) — the write is not known to be on
 * a replica. Otherwise as redis_cmd: the reply (INTEGER: replicas that acknowledged within
 * timeout_ms ms), or NULL on an I/O failure. The connection's own timeout must exceed
 * timeout_ms. */
redisReply *redis_wait_replicas(redis_conn *c, int numreplicas, int timeout_ms);

/* MULTI, the ncmds commands (argvs[i] with argcs[i] words, binary-unsafe strings), EXEC, pipelined
 * in one round trip to the master serving key (every command's keys in key's slot). Returns
 * EXEC's reply: an array when the transaction ran, an error (EXECABORT …) when a command was
 * refused; NULL on an I/O failure (it may have run). On a cluster, a command answered MOVED or ASK
 * aborts the transaction (nothing ran): it is sent whole once more to that node (with ASKING
 * first for ASK), at most twice. */
redisReply *redis_multi_exec_key(redis_conn *c, const char *key, int ncmds, const int *argcs,
                                 const char *const *const *argvs);

/* The masters of the current slot map (plain Redis: the one server), as node numbers for
 * redis_cmd_node, into out[0 .. min(n, max)-1]; returns n. For work that must reach every master:
 * sale_clear's KEYS, /readyz. */
int redis_conn_masters(redis_conn *c, int *out, int max);
/* Runs a command on node number `node` (from redis_conn_masters) and nowhere else: no redirect is
 * followed. Same reply rules as redis_cmd; NULL also for an unknown node number. A node that does
 * not answer makes the next redis_conn_masters read the slot map again (a failover). */
redisReply *redis_cmd_node(redis_conn *c, int node, const char *fmt, ...);
/* "host:port" of node number node into buf ("?" when unknown); returns buf. */
const char *redis_conn_node_name(const redis_conn *c, int node, char *buf, size_t len);

/* The slots node number `node` serves in the current slot map, as ranges ("0-5460,10923";
 * cluster_slot_ranges), into buf; -1: the slots no master serves ("none" when every slot is
 * served); "all" on a plain Redis. Returns buf. */
const char *redis_conn_node_slots(const redis_conn *c, int node, char *buf, size_t len);

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

/* The run id of the server c is connected to ("" when disconnected; on a cluster: of the first
 * seed reached — use redis_conn_run_id_key). Every connection reads it (INFO server) when it
 * connects; a server that does not answer INFO fails the connection. */
const char *redis_conn_run_id(const redis_conn *c);
/* The run id of the server a call about key goes to now (plain Redis: the one server; cluster:
 * the master serving key's slot, connected if need be); "" when it cannot be reached. Valid until
 * the next call on c. */
const char *redis_conn_run_id_key(redis_conn *c, const char *key);

/* Reads run_id from the text of INFO [server] into out; TR_REDIS ("" in out) when absent. */
tr_err redis_parse_run_id(const char *info, char out[REDIS_RUN_ID_MAX]);

/* Runs a cached script with keys and args (strings), routed by keys[0] (nkeys 0: as redis_cmd);
 * every key must be in keys[0]'s slot. Same ownership and failure rules as redis_cmd_key; at most
 * REDIS_MAX_EVAL_ARGS keys + args together. */
redisReply *redis_eval(redis_conn *c, const redis_script *s, int nkeys, const char *const *keys,
                       int nargs, const char *const *args);

/* Loads s into Redis's script cache (SCRIPT LOAD, remembered per connection; on a cluster, on the
 * master redis_cmd goes to — the SHA1 is the same on every node) and returns its SHA1:
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
 * when disconnected. A caller that sees an error on it must not use this connection again.
 * redis_conn_raw: the server redis_cmd goes to; redis_conn_raw_key: the master serving key's
 * slot now (nothing on it follows a redirect: a caller pipelining on a cluster sees MOVED as an
 * error reply). */
redisContext *redis_conn_raw(redis_conn *c);
redisContext *redis_conn_raw_key(redis_conn *c, const char *key);

/* Whether the last call on a plain or one-node connection (redis_conn_open_node) failed on I/O,
 * leaving it closed (the server did not answer), as opposed to an error reply. Nothing
 * reconnects here. */
bool redis_conn_lost(const redis_conn *c);

/* Sticky description of the last failure ("" when none). */
const char *redis_conn_errstr(const redis_conn *c);

#endif
