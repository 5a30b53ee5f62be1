/* service.h — what the pieces of the HTTP service share, inside src/http only: the server
 * (server.c, the wiring), a request in flight (http_job), the route table (routes.c), the worker
 * pool (pool.c) and the event-loop fronts (front.c). Not a public interface: callers outside
 * src/http use server.h. */
#ifndef TR_HTTP_SERVICE_H
#define TR_HTTP_SERVICE_H

#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/conntrack.h"
#include "http/server.h"
#include "store/cluster.h"
#include "strategy/strategy.h"

typedef struct http_job http_job;
typedef struct front front;
typedef struct pool pool;
typedef struct metrics metrics;

/* ---- routes (routes.c) ----------------------------------------------------------------------- */

/* A handler fills job->status/resp with its answer. ctx: the worker's connections (pool
 * routes), or the front's context without connections (ROUTE_ON_LOOP). */
typedef void (*route_fn)(http_job *job, strategy_ctx *ctx);

enum route_flags {
    ROUTE_JSON_BODY = 1u << 0,  /* the body must be application/json (415 otherwise) */
    ROUTE_ON_LOOP = 1u << 1,    /* touches no backend: answered on the event loop at once */
    ROUTE_PURCHASE = 1u << 2,   /* a purchase: its body is checked on the loop (400 there), then
                                   one script call on the loop (one-script strategies) or the pool */
    ROUTE_WITHOUT_PG = 1u << 3, /* served from Redis alone while PostgreSQL is down, when the
                                   strategy admits_without_pg */
    ROUTE_ANY_BACKEND = 1u << 4 /* served whatever the backends' state (it reports it) */
};

typedef struct route {
    const char *method;  /* "GET", "POST"; a GET route answers HEAD too */
    const char *pattern; /* "/concerts/{id}": {id} is an integer 1..2^63−1 */
    route_fn fn;
    unsigned flags; /* route_flags */
} route;

extern const route http_routes[];
extern const int http_nroutes;

/* Finds j's route for method and url, and its ids; else sets j->early_err to TR_NOT_FOUND,
 * TR_METHOD_NOT_ALLOWED (with j->allow) or TR_BAD_REQUEST (an id out of range, a method that
 * is not a token). */
void routes_match(http_job *j, const char *method, const char *url);

/* A purchase's body: sets j->ids to {concert, customer}; false with the 400 answered when bad. */
bool routes_purchase_ids(http_job *j);

/* Answers a purchase from its result (201, 202, 409, 503 …, or 500 outcome unknown). */
void routes_answer_purchase(http_job *j, strategy_ctx *ctx, const purchase_result *res);

/* On a pool worker: decides n purchase jobs (1..strategy_batch_max, ids checked, in arrival
 * order) with one strategy_purchase_batch call and answers each as the purchase route answers
 * one (or holds it, JOB_HELD, when it waits for durability). */
void routes_purchase_batch(http_job **jobs, int n, strategy_ctx *ctx);

/* ---- a request in flight (job.c) ------------------------------------------------------------- */

enum job_state {
    JOB_READING, /* the access handler is still receiving it */
    JOB_QUEUED,  /* suspended: a script call or a pool worker is deciding it */
    JOB_HELD,    /* suspended: decided, the answer waits until its ticket is durable (res) */
    JOB_DONE     /* answered: the next access handler call sends it */
};

struct http_job {
    server *srv;
    struct MHD_Connection *conn;
    const route *route;
    int64_t ids[2];
    tr_err early_err; /* an error found in the request itself; TR_OK when none */
    char allow[32];   /* Allow header for 405 */
    char *body;       /* at most HTTP_MAX_BODY bytes, NUL-terminated: body_small, or malloc'd
                         once the body outgrows it */
    char body_small[128];
    size_t body_len;
    bool body_too_large;
    enum job_state state;
    bool suspended; /* counted in server.suspended and front.held until answered or closed */
    front *front;   /* the event loop whose daemon holds the connection */
    /* The answer. */
    int status;
    char *resp;               /* malloc'd JSON (or text), handed to MHD */
    int retry_after_s;        /* > 0 adds Retry-After */
    bool close_after;         /* adds Connection: close */
    const char *content_type; /* NULL: application/json */
    int64_t started_us;       /* tr_mono_us at the first call, for the duration metric */
    purchase_result res;      /* JOB_HELD: the decided purchase, waiting for durability */
    int64_t deadline_ms;      /* … until when (tr_mono_ms); then 500, outcome unknown */
    http_job *next;           /* pool queue or front list link */
};

void job_answer(http_job *j, int status, char *json); /* takes json (NULL: 500 out of memory) */
void job_error(http_job *j, tr_err e, const char *message); /* message NULL: the generic one */
/* Logs the detail of an internal failure (ctx->detail, else e's text) and answers 500 without
 * it (SPEC §2: never leak SQL); ctx may be NULL. */
void job_internal(http_job *j, strategy_ctx *ctx, tr_err e);
/* A purchase that failed after it may have written: 500 that says so, with Retry-After. */
void job_unknown_outcome(http_job *j, strategy_ctx *ctx, tr_err e);
/* Work refused because the server stops: 503, Retry-After 1, Connection: close. */
void job_shutting_down(http_job *j);

/* ---- the worker pool (pool.c) ---------------------------------------------------------------- */

/* Starts n workers (1..1024), each with its own PostgreSQL and Redis connection (connected
 * before its first job, reconnected after a loss); done(j) hands each job back, decided, from
 * the worker's thread (the server passes front_job_done). *out NULL first. Errors: TR_NOMEM,
 * TR_INTERNAL (thread). */
tr_err pool_start(server *s, int n, void (*done)(http_job *j), pool **out, char *errbuf,
                  size_t errlen);
/* Queues a suspended job (FIFO); a worker runs its route and hands it back (done). false when
 * the pool no longer takes work (stopping): the caller answers. */
bool pool_push(pool *p, http_job *j);
/* Workers leave once the queue is empty; returns at once. */
void pool_finish(pool *p);
/* Worker threads not yet returned. */
int pool_running(pool *p);
/* The drain time is over: queued jobs get 503, statements still running are cancelled. */
void pool_drain_over(pool *p);
/* Joins the workers, closes their connections, frees. NULL is a no-op. */
void pool_free(pool *p);

/* ---- the event-loop fronts (front.c) --------------------------------------------------------- */

/* Starts s->cfg.io_threads event loops, each with its libmicrohttpd daemon on the port of sa
 * (port 0: a free one, s->port), its Redis connection and its wait list of held answers. The
 * daemons share one listening socket without SO_REUSEPORT (s->listen_fd), so a port in use, or
 * a later process that asks to share it, is refused; with s->cfg.reuse_port each daemon binds
 * its own socket with SO_REUSEPORT instead, joining other processes on the port. Sets s->fronts, s->nfronts, s->port. Errors: TR_INTERNAL (listen, thread),
 * TR_INVALID_ARGUMENT, TR_NOMEM; errbuf says why. */
tr_err fronts_start(server *s, const void *sockaddr_in, char *errbuf, size_t errlen);
/* Any thread: j is decided (answered, or JOB_HELD with res): its loop resumes it or holds it. */
void front_job_done(http_job *j);
void fronts_quiesce(server *s);       /* stop accepting; open connections go on */
int fronts_inflight(const server *s); /* Redis calls sent and not answered yet */
/* Every loop answers what it still holds (500) and stops; daemons with none suspended stop too.
 * Then frees the fronts. */
void fronts_stop(server *s);

/* ---- the server (server.c) ------------------------------------------------------------------- */

struct server {
    server_config cfg;
    const strategy_ops *strategy;
    void *strategy_state;     /* from strategy_start, shared by every thread */
    char script_sha[41];      /* one-script strategies: SHA1 of strategy->script, for EVALSHA */
    cluster_map *cluster_map; /* --redis reached a Redis Cluster: its slot map at start (the
                                 event loops keep their own copies up to date); NULL: plain */
    char cluster_seed[CLUSTER_HOST_MAX + 16]; /* with cluster_map: the seed that answered
                                                 ("host:port"); its host stands for nodes the
                                                 map names without an endpoint */
    front *fronts;                            /* cfg.io_threads event loops */
    conn_tracker **trackers; /* each loop's connection tracker (nfronts), for /metrics */
    int nfronts;
    int port;
    /* Without --reuse-port: the one listening socket every loop's daemon is given (no
     * SO_REUSEPORT, so no other process can join the port); -1 with --reuse-port (each daemon
     * binds its own with SO_REUSEPORT). Closed once, when listen_holders (the daemons still
     * listening on it, plus fronts_start while it runs) falls to 0. */
    int listen_fd;
    atomic_int listen_holders;
    pool *pool;
    metrics *metrics;
    atomic_bool stopping;   /* no new work: requests not yet started are answered 503 */
    atomic_int suspended;   /* connections suspended and not yet answered, all loops */
    atomic_int connections; /* open HTTP connections, all loops */
};

/* Logs through cfg.log (nothing when NULL); any thread. */
static inline __attribute__((format(printf, 2, 3))) void server_log(server *s, const char *fmt,
                                                                    ...) {
    if (s->cfg.log == NULL) return;
    va_list ap;
    va_start(ap, fmt);
    s->cfg.log(fmt, ap);
    va_end(ap);
}

#endif
