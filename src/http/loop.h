/* loop.h — an event-loop thread for the HTTP service: one libmicrohttpd daemon in external epoll
 * mode and one non-blocking Redis connection (hiredis async), served from one epoll set. A
 * request and its Redis command are handled on the same thread, the commands of every request
 * read in one pass go out in one write (pipelining), and nothing is handed between threads.
 * Used by front.c, one per event loop of the HTTP service. Not the request handling (front.c). */
#ifndef TR_HTTP_LOOP_H
#define TR_HTTP_LOOP_H

#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct http_loop http_loop;

/* Called on the loop thread with a command's reply (owned by hiredis, valid during the call),
 * or with NULL when the connection was lost before the reply arrived: the command may or may
 * not have run. */
typedef void (*http_loop_reply_fn)(redisReply *reply, void *priv);

/* Called on the loop thread once per pass, after the pass's Redis replies and wake-ups, with
 * final false; and when the loop stops, after Redis closed (every pending reply was handed NULL),
 * with final true: the owner must then answer whatever it still holds. Returns the number of HTTP
 * connections the owner still holds suspended on this loop's daemon: a stopping loop runs passes
 * (250 ms at most) until it is 0, so that libmicrohttpd can be stopped with none suspended. */
typedef int (*http_loop_tick_fn)(http_loop *l, void *owner, bool final);

/* Starts a thread that runs daemon d (started with MHD_USE_EPOLL, no internal thread, and
 * MHD_ALLOW_SUSPEND_RESUME) and a Redis connection to redis_addr ("host:port", connected on the
 * first command and again after a loss). A command unanswered after reply_timeout_ms (≥ 1) ends
 * the connection: every pending reply is handed NULL, as on a loss. owner is handed to tick
 * (NULL for none). *out is set to NULL first. Errors: TR_INVALID_ARGUMENT (address), TR_NOMEM, TR_INTERNAL (epoll, thread), with
 * errbuf saying why. The daemon stays the caller's: stop it after http_loop_free. */
tr_err http_loop_start(struct MHD_Daemon *d, const char *redis_addr, int reply_timeout_ms,
                       void *owner, http_loop_tick_fn tick, http_loop **out, char *errbuf,
                       size_t errlen);

/* Any thread: makes the loop run a pass (and its tick) soon; cheap (one eventfd write). */
void http_loop_wake(http_loop *l);

/* Loop thread only. Queues a Redis command (binary-safe argv; argvlen NULL for C strings); it is
 * written at the end of the current pass together with every other command queued in it, and fn
 * runs with its reply. Returns false, with nothing sent and fn never called, when Redis is not
 * connected and a connection cannot be started now (then retried at most every 100 ms). */
bool http_loop_redis(http_loop *l, int argc, const char **argv, const size_t *argvlen,
                     http_loop_reply_fn fn, void *priv);

/* Loop thread only. The run id (INFO server) of the Redis the loop's connection reached, for
 * commands queued now; "" while not connected or not known yet. A connection that breaks clears
 * it, so it never names a server other than the one the next command goes to. */
const char *http_loop_redis_run_id(const http_loop *l);

/* Commands sent whose reply has not been handled yet; any thread. */
int http_loop_inflight(const http_loop *l);

/* Any thread: stop accepting new connections (the loop quiesces its daemon); the loop goes on
 * serving the open ones. */
void http_loop_quiesce(http_loop *l);

/* Any thread: asks the loop to stop after its current pass: it closes Redis (pending replies are
 * handed NULL), calls tick with final true, and runs the passes that send those answers.
 * Returns at once; http_loop_free waits. */
void http_loop_stop(http_loop *l);

/* Any thread: stops the loop (as http_loop_stop), joins its thread and frees it. NULL is a
 * no-op. */
void http_loop_free(http_loop *l);

#endif
