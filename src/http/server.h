/* server.h — the ticketrush HTTP service (SPEC §2) on libmicrohttpd. Event-loop threads parse
 * requests and answer the ones that touch nothing (/livez, /metrics, errors found in the request
 * itself); a one-script strategy's purchases (redis-atomic) are sent from the loops as pipelined
 * script calls; every other request that needs PostgreSQL or Redis is handed to a fixed pool of
 * workers, each owning its own PostgreSQL and Redis connection, while its HTTP connection is
 * suspended — so a request waiting on the database or on a lock never stalls the other
 * connections, only the worker it occupies. Not the strategies (strategy.h) nor the command line
 * (main.c). */
#ifndef TR_SERVER_H
#define TR_SERVER_H

#include <stdarg.h>
#include <stddef.h>

#include "common/error.h"
#include "strategy/strategy.h"

typedef struct server server;

/* Defaults of server_config.header_timeout_s and body_timeout_s. */
#define SERVER_HEADER_TIMEOUT_S 15
#define SERVER_BODY_TIMEOUT_S 15

typedef struct server_config {
    const char *bind_addr; /* IPv4 address to listen on, e.g. "127.0.0.1" */
    int port;              /* 0..65535; 0 picks a free port (see server_port) */
    /* true: join a port other processes (other ticketrush servers) listen on with SO_REUSEPORT,
     * the kernel spreading new connections over every listener (issue 11 §1); the port must be
     * given (not 0). false: a port any other socket is bound to is refused (TR_INTERNAL), and the
     * event loops share one listening socket without SO_REUSEPORT, so no later process can join
     * the port either. */
    bool reuse_port;
    int workers;         /* request workers, 1..1024; each holds one PG + one Redis connection */
    int io_threads;      /* event loops (each one thread and one libmicrohttpd daemon), 1..64 */
    int max_connections; /* concurrent HTTP connections accepted, ≥ 1 */
    int idle_timeout_s;  /* keep-alive idle timeout in seconds, ≥ 1 */
    /* Bounds on receiving a request (conntrack.h), in seconds, ≥ 1; 0 takes the default (15):
     * the header block, from accept or from the first byte after the previous request, and the
     * body, from the end of the header block. A connection over either is closed. */
    int header_timeout_s;
    int body_timeout_s;
    const char *pg_conninfo; /* libpq conninfo; required */
    const char *redis_addr;  /* "host:port"; NULL or "" only for strategies without Redis */
    const strategy_ops *strategy;
    strategy_config strategy_cfg;
    /* Where the server reports problems (a failed connection, an internal error). Called from
     * any thread; NULL for silence. */
    void (*log)(const char *fmt, va_list ap);
} server_config;

/* Starts listening and the workers. Workers connect as they start (before their first request;
 * a failure is retried per request) and reconnect after a loss; start also checks once that
 * PostgreSQL (and Redis when configured) answer, so a typo fails fast.
 * *out is set to NULL first; cfg is copied (its strings must outlive the server).
 * Errors: TR_INVALID_ARGUMENT, TR_PG, TR_REDIS, TR_INTERNAL (could not listen); errbuf says why. */
tr_err server_start(const server_config *cfg, server **out, char *errbuf, size_t errlen);

/* The TCP port actually bound. */
int server_port(const server *s);

/* Stops accepting, lets queued requests finish and answers them (waiting at most drain_ms),
 * then closes every connection and frees everything. NULL is a no-op. */
void server_stop(server *s, int drain_ms);

#endif
