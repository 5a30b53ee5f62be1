/* loop.h — an event-loop thread for the HTTP service: one libmicrohttpd daemon in external epoll
 * mode and non-blocking Redis connections (hiredis async) — one to a plain Redis, or one per node
 * of a Redis Cluster — served from one epoll set. A request and its Redis command are handled on
 * the same thread, the commands of every request read in one pass go out in one write per
 * connection (pipelining), and nothing is handed between threads. Used by front.c, one per event
 * loop of the HTTP service. Not the request handling (front.c). */
#ifndef TR_HTTP_LOOP_H
#define TR_HTTP_LOOP_H

#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "store/cluster.h"

typedef struct http_loop http_loop;

/* How a command sent with http_loop_redis ended. */
typedef enum http_loop_outcome {
    HTTP_LOOP_REPLIED, /* reply holds Redis's answer (an error reply included) */
    HTTP_LOOP_LOST,    /* the connection was lost or timed out after the command was sent: it may
                          or may not have run */
    HTTP_LOOP_NOT_RUN  /* Redis Cluster only: the command did not run and will not — the cluster
                          is down (CLUSTERDOWN), no master serves its slot, its master cannot be
                          reached, the redirects (MOVED, ASK, TRYAGAIN) ran out, or the loop
                          stopped before a retry. The caller answers "try again later" (503
                          busy) */
} http_loop_outcome;

/* Called on the loop thread once per command: reply is Redis's answer (owned by hiredis, valid
 * during the call) with HTTP_LOOP_REPLIED, NULL otherwise. Never a Redis Cluster redirect: the
 * loop follows those itself. */
typedef void (*http_loop_reply_fn)(redisReply *reply, http_loop_outcome how, void *priv);

/* Called on the loop thread once per pass, after the pass's Redis replies and wake-ups, with
 * final false; and when the loop stops, after Redis closed (every pending command was handed its
 * outcome), with final true: the owner must then answer whatever it still holds. Returns the
 * number of HTTP connections the owner still holds suspended on this loop's daemon: a stopping
 * loop runs passes (250 ms at most) until it is 0, so that libmicrohttpd can be stopped with none
 * suspended. */
typedef int (*http_loop_tick_fn)(http_loop *l, void *owner, bool final);

/* Starts a thread that runs daemon d (started with MHD_USE_EPOLL, no internal thread, and
 * MHD_ALLOW_SUSPEND_RESUME) and its Redis connections:
 * - map NULL: one connection to redis_addr ("host:port"; NULL or "": none), connected on the
 *   first command and again after a loss — a plain Redis, exactly as before clusters;
 * - map set (a Redis Cluster's slot map, from CLUSTER SLOTS; copied, the caller keeps its own):
 *   one connection per node, to every master from the start, each command sent to the master of
 *   its route key's slot; the map is read again (CLUSTER SLOTS, without blocking) after a MOVED
 *   or CLUSTERDOWN. redis_addr is then the host used for a node the map names without an
 *   endpoint ("host:port" or a seed list; its first host).
 * A command unanswered after reply_timeout_ms (≥ 1) ends its connection: every pending command
 * on it is handed HTTP_LOOP_LOST. owner is handed to tick (NULL for none). *out is set to NULL
 * first, and to the loop before its thread starts (so handlers that run in its first pass find
 * it there; NULL again on failure). Errors: TR_INVALID_ARGUMENT (address), TR_NOMEM, TR_INTERNAL (epoll, thread), with
 * errbuf saying why. The daemon stays the caller's: stop it after http_loop_free. */
tr_err http_loop_start(struct MHD_Daemon *d, const char *redis_addr, const cluster_map *map,
                       int reply_timeout_ms, void *owner, http_loop_tick_fn tick, http_loop **out,
                       char *errbuf, size_t errlen);

/* Any thread: makes the loop run a pass (and its tick) soon; cheap (one eventfd write). */
void http_loop_wake(http_loop *l);

/* Loop thread only. Queues a Redis command (binary-safe argv; argvlen NULL for C strings): it is
 * written at the end of the current pass together with every other command queued in it, and fn
 * runs once with its outcome. Every argument that is the pointer REDIS_ARG_RUN_ID
 * (store/redis.h) is sent as the run id (INFO server) of the server the command goes to — ""
 * while that is not known yet, which the sale scripts refuse unrun.
 * route_key (NUL-terminated; NULL: any node) picks the node on a Redis Cluster: the master of its
 * hash slot (store/cluster.h); the loop follows MOVED (to the named node; the map is refreshed),
 * ASK (ASKING + the command on the named node, once) and TRYAGAIN (by the map again after 10, 20,
 * 40 ms, on a later pass) as store/cluster.h's cluster_next_step decides (CLUSTER_MAX_REDIRECTS
 * redirects, CLUSTER_TRYAGAIN_MAX retries at most), each time with the run id of
 * the node it goes to; CLUSTERDOWN, a slot no master serves, redirects run out, or a master that
 * cannot be reached now end it as HTTP_LOOP_NOT_RUN (on a later pass, never inside this call;
 * an unreachable or lost node has the map read again: a failover promotes its replica). On a
 * plain Redis route_key is unused, and the call returns false, with nothing sent and fn never
 * called, when the connection is down and cannot be started now (tried again at most every
 * 100 ms); on a cluster it returns false only when out of memory. */
bool http_loop_redis(http_loop *l, const char *route_key, int argc, const char **argv,
                     const size_t *argvlen, http_loop_reply_fn fn, void *priv);

/* Loop thread only, inside an http_loop_reply_fn handed HTTP_LOOP_REPLIED: asks the server that
 * reply came from to confirm that the writes made so far on that connection reached numreplicas
 * (≥ 1) replicas — WAIT numreplicas timeout_ms (https://redis.io/commands/wait/), written at the
 * end of the pass. One WAIT serves every caller of the pass on one connection, since WAIT covers
 * every earlier write of its connection. fn gets WAIT's reply (an integer: the replicas that
 * acknowledged, fewer than numreplicas when timeout_ms ran out; or an error reply) or
 * HTTP_LOOP_LOST. Returns false (fn never called) outside such a callback or when out of memory. */
bool http_loop_wait_replicas(http_loop *l, int numreplicas, int timeout_ms, http_loop_reply_fn fn,
                             void *priv);

/* Whether the loop routes to a Redis Cluster (started with a map). Any thread. */
bool http_loop_is_cluster(const http_loop *l);

/* Commands queued whose outcome has not been handed to their callback yet; any thread. */
int http_loop_inflight(const http_loop *l);

/* Any thread: stop accepting new connections (the loop quiesces its daemon); the loop goes on
 * serving the open ones. The listening socket libmicrohttpd gives back is closed by the loop, or,
 * with release set, handed to release(arg, fd) on the loop thread instead (a socket several
 * daemons share must be closed once, by the last). */
void http_loop_quiesce(http_loop *l, void (*release)(void *arg, int fd), void *arg);

/* Any thread: asks the loop to stop after its current pass: it closes Redis (pending commands
 * are handed HTTP_LOOP_LOST, those waiting for a retry HTTP_LOOP_NOT_RUN), calls tick with final
 * true, and runs the passes that send those answers. Returns at once; http_loop_free waits. */
void http_loop_stop(http_loop *l);

/* Any thread: stops the loop (as http_loop_stop), joins its thread and frees it. NULL is a
 * no-op. */
void http_loop_free(http_loop *l);

#endif
