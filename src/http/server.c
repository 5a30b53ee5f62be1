/* server.c — libmicrohttpd front end, route table and request-worker pool behind server.h.
 *
 * DESIGN
 * - Threads: --io-threads event loops (loop.c), each running one libmicrohttpd daemon in
 *   external epoll mode (the daemons share the port through SO_REUSEPORT), and --workers
 *   workers with their own PostgreSQL and Redis connections.
 * - A request's life: the access handler runs on a loop thread. First call: match the route
 *   (404/405/400 decided here), check header size and Content-Length. Body calls: copy at most
 *   HTTP_MAX_BODY bytes. Final call: answer at once when nothing external is needed; with
 *   --dispatch loop, send a purchase as one script call on the loop's own Redis connection and
 *   answer from its reply; otherwise suspend the connection and push the job on the worker queue.
 *   A worker runs the handler, stores the response and hands the job back to its loop, which
 *   resumes the connection; MHD then calls the handler again, which queues the stored response.
 *   Suspend and resume both happen on the loop thread. (libmicrohttpd 0.9.75 closes the
 *   connection when a response is queued on the very first call, so answers come after the body.)
 * - Queue: FIFO under one mutex; workers take jobs in arrival order, purchases in batches.
 * - Shutdown: quiesce (stop accepting), answer new requests 503, let the loops' Redis calls and
 *   the workers' queue finish, wait (drain_ms) for every suspended connection to be answered,
 *   then the loops answer what they still hold (500) and stop, then the strategy's background
 *   workers drain. */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/conntrack.h"
#include "http/loop.h"
#include "http/metrics.h"
#include "http/request.h"
#include "http/response.h"
#include "store/queries.h"

typedef struct http_job http_job;
typedef struct worker worker;

/* A handler fills job->status/body. ctx is NULL for inline routes. */
typedef void (*route_fn)(http_job *job, strategy_ctx *ctx);

enum { ROUTE_JSON_BODY = 1u << 0, ROUTE_INLINE = 1u << 1 };

typedef struct route {
    const char *method;
    const char *pattern;
    route_fn fn;
    unsigned flags;
} route;

enum job_state { JOB_READING, JOB_QUEUED, JOB_DONE };

/* How long an event loop waits for a Redis reply before dropping the connection (the workers'
 * synchronous connections time out after 2000 ms too). */
#define LOOP_REDIS_TIMEOUT_MS 2000

struct http_job {
    server *srv;
    struct MHD_Connection *conn;
    const route *route;
    int64_t ids[2];
    tr_err early_err;   /* an error found in the request itself; TR_OK when none */
    char allow[32];     /* Allow header for 405 */
    char *body;         /* at most HTTP_MAX_BODY bytes, NUL-terminated: body_small, or malloc'd
                           once the body outgrows it */
    char body_small[128];
    size_t body_len;
    bool body_too_large;
    enum job_state state;
    bool suspended;     /* counted in server.suspended (and its front's) until answered or closed */
    struct front *front; /* the event loop whose daemon holds the connection; NULL in pool mode */
    /* The answer. */
    int status;
    char *resp;         /* malloc'd JSON, handed to MHD */
    int retry_after_s;  /* > 0 adds Retry-After */
    bool close_after;   /* adds Connection: close (the server is shutting down) */
    const char *content_type; /* NULL: application/json */
    int64_t started_us; /* monotonic µs at the first call, for the duration metric */
    purchase_result res; /* loop dispatch, strict: the result waiting for its commit */
    int64_t deadline_ms; /* … and until when (monotonic ms) */
    http_job *next;     /* worker queue link */
};

struct worker {
    server *srv;
    worker *next_io; /* server.io_workers list */
    pthread_t thread;
    bool started;
    strategy_ctx ctx;
};

/* One event loop of --dispatch loop: its daemon (sharing the port through SO_REUSEPORT), its
 * thread, and a strategy context for the details of its failures (no connections of its own). */
typedef struct front {
    server *srv;
    struct MHD_Daemon *mhd;
    http_loop *loop;
    conn_tracker *tracker; /* this daemon's connections: header and body time bounds */
    strategy_ctx ctx;
    /* Strict durability: answered purchases waiting for their commit, oldest first (loop
     * thread only), and the persister's "something committed" flag. */
    http_job *wait_head, *wait_tail;
    atomic_bool news;
    int64_t last_scan_ms;
    bool watching;
    atomic_int held; /* connections of this daemon suspended and not yet answered */
    /* Jobs the workers answered, for the loop to resume: libmicrohttpd's suspend and resume
     * then both happen on the thread that runs the daemon. (Resumed from the workers' threads,
     * libmicrohttpd 0.9.75 lost a resume now and then under load: 127 and 146 answered requests
     * sat until the idle timeout.) */
    pthread_mutex_t done_mu;
    http_job *done_head, *done_tail;
} front;

struct server {
    server_config cfg;
    front *fronts;          /* cfg.io_threads event loops, each with its daemon */
    int nfronts;
    bool loop_purchases;    /* --dispatch loop: purchases are script calls sent by the loops */
    char loop_sha[41];      /* SHA1 of strategy->loop_script, for EVALSHA */
    int port;
    worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    http_job *head, *tail;
    bool stopping;        /* no new work: requests not yet started are answered 503 */
    bool workers_exit;    /* workers leave once the queue is empty */
    atomic_int workers_running; /* worker threads not yet returned */
    atomic_bool drain_over;     /* server_stop's drain time is over: queued work gets 503 */
    atomic_int suspended; /* connections suspended and not yet answered */
    atomic_int connections; /* open HTTP connections, all loops together */
    void *strategy_state; /* from strategy->start, shared by the workers */
    metrics *metrics;
    bool purchase_inline; /* strategy->runs_inline: purchases run on the I/O threads */
    worker *io_workers;   /* one per I/O thread that ran an inline purchase (list under mu) */
};

static void srv_log(server *s, const char *fmt, ...) {
    if (s->cfg.log == NULL) return;
    va_list ap;
    va_start(ap, fmt);
    s->cfg.log(fmt, ap);
    va_end(ap);
}

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- handlers ---------------------------------------------------------------------------- */

static void job_answer(http_job *j, int status, char *json) {
    j->status = json ? status : 500;
    free(j->resp);
    j->resp = json;
}

static void job_error(http_job *j, tr_err e, const char *message) {
    job_answer(j, tr_err_http_status(e), http_json_error(e, message, NULL));
}

/* Logs the detail of an internal failure and answers 500 with message (NULL: the generic one)
 * but without the detail (SPEC §2: never leak SQL). */
static void job_internal_msg(http_job *j, strategy_ctx *ctx, tr_err e, const char *message) {
    const char *detail = ctx && ctx->detail[0] ? ctx->detail
                         : ctx && ctx->pg && e == TR_PG ? pg_conn_errstr(ctx->pg)
                                                : tr_strerror(e);
    srv_log(j->srv, "%s %s: %s", j->route ? j->route->method : "?",
            j->route ? j->route->pattern : "?", detail);
    if (ctx) ctx->detail[0] = '\0';
    job_error(j, TR_INTERNAL, message);
}

static void job_internal(http_job *j, strategy_ctx *ctx, tr_err e) {
    job_internal_msg(j, ctx, e, NULL);
}

/* Work refused because the server stops: 503, retry (elsewhere or after a restart) in 1 s, and
 * the connection closes, so a keep-alive client does not retry on it for the whole drain. */
static void job_shutting_down(http_job *j) {
    j->retry_after_s = 1;
    j->close_after = true;
    job_error(j, TR_UNAVAILABLE, "the server is shutting down");
}

/* A purchase that failed after it may have written (a Redis call or a commit whose answer was
 * lost, a strict answer not confirmed in time) has an unknown outcome. Its 500 says so and
 * carries Retry-After: retrying is safe because a purchase is idempotent per customer (R2) — the
 * retry answers 201 if the first attempt bought nothing, or 409 already_owned with the ticket
 * it bought. The lab's load generator retries these (loadgen.h). */
#define PURCHASE_UNKNOWN_MESSAGE                                                              \
    "the purchase may or may not have completed; retry it: a ticket it bought is answered as " \
    "already_owned"

static void job_unknown_outcome(http_job *j, strategy_ctx *ctx, tr_err e) {
    j->retry_after_s = 1;
    job_internal_msg(j, ctx, e, PURCHASE_UNKNOWN_MESSAGE);
}

static void handle_livez(http_job *j, strategy_ctx *ctx) {
    (void)ctx;
    size_t n = sizeof "{\"status\":\"ok\"}";
    char *s = malloc(n);
    if (s) memcpy(s, "{\"status\":\"ok\"}", n);
    job_answer(j, 200, s);
}

/* The key /readyz writes to learn whether Redis takes writes (it expires by itself). */
#define READYZ_KEY "ticketrush:readyz"

/* Answers even when the worker could not connect: a missing connection counts as down. Redis is
 * ready only when it takes a write: a PING is answered by a Redis that refuses every write (out
 * of memory under noeviction, a read-only replica, min-replicas-to-write unmet, a failed RDB
 * save with stop-writes-on-bgsave-error), and every purchase writes. */
static void handle_readyz(http_job *j, strategy_ctx *ctx) {
    const char *redis_addr = j->srv->cfg.redis_addr;
    bool redis_used = redis_addr && redis_addr[0];
    bool pg_ok = ctx->pg && pg_exec_ok(ctx->pg, "SELECT 1") == TR_OK;
    bool redis_ok = !redis_used;
    const char *redis_state = redis_used ? "down" : "unused";
    char refusal[64] = "";
    if (redis_used && ctx->redis) {
        redisReply *r = redis_cmd(ctx->redis, "SET %s 1 PX 10000", READYZ_KEY);
        redis_ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
        if (redis_ok) {
            redis_state = "ok";
        } else if (r && r->type == REDIS_REPLY_ERROR) {
            redis_state = "refuses writes";
            /* The error's first word (OOM, READONLY, NOREPLICAS, MISCONF): Redis's own text. */
            snprintf(refusal, sizeof refusal, " (%.*s)", (int)strcspn(r->str, " "), r->str);
        }
        if (r) freeReplyObject(r);
    }
    char buf[160];
    snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"postgres\":\"%s\",\"redis\":\"%s\"}",
             pg_ok && redis_ok ? "ready" : "unavailable", pg_ok ? "ok" : "down", redis_state);
    if (pg_ok && redis_ok) {
        job_answer(j, 200, strdup(buf));
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "PostgreSQL is %s and Redis %s%s", pg_ok ? "up" : "down",
                 !redis_used ? "is unused"
                 : redis_ok  ? "is up"
                 : refusal[0] ? "refuses writes" : "is down",
                 refusal);
        job_error(j, TR_UNAVAILABLE, msg);
    }
}

static void handle_concert(http_job *j, strategy_ctx *ctx) {
    concert c;
    tr_err rc = q_concert_get(ctx->pg, j->ids[0], &c);
    const strategy_ops *st = j->srv->cfg.strategy;
    int64_t sold;
    if (rc == TR_OK && st->sold && ctx->redis && st->sold(ctx, c.id, &sold) && sold >= 0 &&
        sold <= c.total_seats)
        c.remaining = c.total_seats - (int32_t)sold; /* what clients were told, not yet stored */
    if (rc == TR_OK) job_answer(j, 200, http_json_concert(&c));
    else if (rc == TR_CONCERT_NOT_FOUND) job_error(j, rc, NULL);
    else job_internal(j, ctx, rc);
}

static void handle_outcome(http_job *j, strategy_ctx *ctx) {
    const strategy_ops *st = j->srv->cfg.strategy;
    outcome o;
    memset(&o, 0, sizeof o);
    tr_err rc;
    if (st->outcome) {
        rc = st->outcome(ctx, j->ids[0], j->ids[1], &o);
    } else {
        bool found = false;
        rc = q_ticket_of(ctx->pg, j->ids[0], j->ids[1], &o.t, &found);
        o.status = found ? OUTCOME_ISSUED : OUTCOME_NONE;
    }
    if (rc == TR_OK) job_answer(j, 200, http_json_outcome(j->ids[0], j->ids[1], &o));
    else if (rc == TR_CONCERT_NOT_FOUND || rc == TR_CUSTOMER_NOT_FOUND) job_error(j, rc, NULL);
    else if (rc == TR_BUSY || rc == TR_UNAVAILABLE) /* e.g. a sale being brought forward */
        j->retry_after_s = 1, job_error(j, rc, NULL);
    else job_internal(j, ctx, rc);
}

/* Answers one purchase from its result. */
static void answer_purchase(http_job *j, strategy_ctx *ctx, int64_t concert_id,
                            int64_t customer_id, purchase_result *res) {
    metrics_purchase(j->srv->metrics, res->err, res->queued);
    switch (res->err) {
    case TR_OK:
        if (res->queued)
            job_answer(j, 202, http_json_queued(concert_id, customer_id, res->position));
        else
            job_answer(j, 201, http_json_ticket(&res->t));
        break;
    case TR_ALREADY_OWNED:
        job_answer(j, 409, http_json_error(res->err, NULL, &res->t));
        break;
    case TR_BUSY:
    case TR_FENCED:
    case TR_UNAVAILABLE: /* nothing ran: Redis not ready, a sale not yet brought forward */
        j->retry_after_s = res->retry_after_s > 0 ? res->retry_after_s : 1;
        job_error(j, res->err, NULL);
        break;
    case TR_CONCERT_NOT_FOUND:
    case TR_CUSTOMER_NOT_FOUND:
    case TR_SOLD_OUT:
    case TR_SALES_CLOSED:
        job_error(j, res->err, NULL);
        break;
    default:
        job_unknown_outcome(j, ctx, res->err);
        break;
    }
}

/* Validates the body; answers 400 and returns false when it is bad. */
static bool purchase_ids(http_job *j, int64_t *concert_id, int64_t *customer_id) {
    char why[160];
    if (http_parse_purchase(j->body, j->body_len, concert_id, customer_id, why, sizeof why) ==
        TR_OK)
        return true;
    job_error(j, TR_BAD_REQUEST, why);
    return false;
}

static void handle_purchase(http_job *j, strategy_ctx *ctx) {
    int64_t concert_id = 0, customer_id = 0;
    if (!purchase_ids(j, &concert_id, &customer_id)) return;
    purchase_result res;
    memset(&res, 0, sizeof res);
    strategy_purchase(j->srv->cfg.strategy, ctx, concert_id, customer_id, &res);
    answer_purchase(j, ctx, concert_id, customer_id, &res);
}

#define BATCH_MAX 256

/* Purchases taken from the queue together, run with the strategy's purchase_many. */
static void handle_purchase_batch(http_job **jobs, int n, strategy_ctx *ctx) {
    int64_t concert_ids[BATCH_MAX], customer_ids[BATCH_MAX];
    http_job *valid[BATCH_MAX];
    purchase_result res[BATCH_MAX];
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!purchase_ids(jobs[i], &concert_ids[m], &customer_ids[m])) continue;
        valid[m++] = jobs[i];
    }
    if (m == 0) return;
    memset(res, 0, sizeof res[0] * (size_t)m);
    jobs[0]->srv->cfg.strategy->purchase_many(ctx, m, concert_ids, customer_ids, res);
    for (int i = 0; i < m; i++) answer_purchase(valid[i], ctx, concert_ids[i], customer_ids[i], &res[i]);
}

/* Prometheus text; touches nothing external, so it answers on the I/O thread. */
static void handle_metrics(http_job *j, strategy_ctx *ctx) {
    (void)ctx;
    server *s = j->srv;
    dynbuf b;
    dynbuf_init(&b, 1 << 20);
    conn_tracker_stats cut = {0, 0, 0};
    for (int i = 0; i < s->nfronts; i++) {
        conn_tracker_stats one;
        conn_tracker_stats_get(s->fronts[i].tracker, &one);
        cut.header_cut += one.header_cut;
        cut.body_cut += one.body_cut;
        cut.hangup_cut += one.hangup_cut;
    }
    if (!metrics_render(s->metrics, &b, s->cfg.strategy->name, s->cfg.workers,
                        atomic_load(&s->suspended)) ||
        !dynbuf_printf(&b,
                       "# HELP ticketrush_connections_cut_total Connections closed while a request "
                       "was being received: too slow (header, body) or the client hung up.\n"
                       "# TYPE ticketrush_connections_cut_total counter\n"
                       "ticketrush_connections_cut_total{reason=\"header\"} %llu\n"
                       "ticketrush_connections_cut_total{reason=\"body\"} %llu\n"
                       "ticketrush_connections_cut_total{reason=\"hangup\"} %llu\n",
                       (unsigned long long)cut.header_cut, (unsigned long long)cut.body_cut,
                       (unsigned long long)cut.hangup_cut)) {
        dynbuf_free(&b);
        job_error(j, TR_INTERNAL, NULL);
        return;
    }
    j->content_type = "text/plain; version=0.0.4; charset=utf-8";
    job_answer(j, 200, b.data);
}

/* Purchases run on workers; /livez and /metrics touch nothing and answer on the I/O thread. */
static const route routes[] = {
    {"POST", "/concert/purchase/ticket", handle_purchase, ROUTE_JSON_BODY},
    {"GET", "/concerts/{id}", handle_concert, 0},
    {"GET", "/concerts/{id}/tickets/{id}", handle_outcome, 0},
    {"GET", "/livez", handle_livez, ROUTE_INLINE},
    {"GET", "/readyz", handle_readyz, 0},
    {"GET", "/metrics", handle_metrics, ROUTE_INLINE},
};
#define NROUTES ((int)(sizeof routes / sizeof routes[0]))

/* Finds the route; sets early_err to NOT_FOUND, METHOD_NOT_ALLOWED (with Allow) or BAD_REQUEST. */
static void job_route(http_job *j, const char *method, const char *url) {
    bool path_known = false, bad_id = false;
    size_t allow_len = 0;
    j->allow[0] = '\0';
    if (!http_is_token(method)) { /* RFC 9110 §9.1: a method is a token */
        j->early_err = TR_BAD_REQUEST;
        return;
    }
    for (int i = 0; i < NROUTES; i++) {
        int64_t ids[2] = {0, 0};
        int m = http_match_path(url, routes[i].pattern, ids, 2);
        if (m == 0) continue;
        path_known = true;
        if (m < 0) {
            bad_id = true;
            continue;
        }
        bool method_ok = strcmp(method, routes[i].method) == 0 ||
                         (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0);
        if (method_ok) {
            j->route = &routes[i];
            memcpy(j->ids, ids, sizeof ids);
            return;
        }
        int n = snprintf(j->allow + allow_len, sizeof j->allow - allow_len, "%s%s",
                         allow_len ? ", " : "", routes[i].method);
        if (n > 0 && (size_t)n < sizeof j->allow - allow_len) allow_len += (size_t)n;
        if (strcmp(routes[i].method, "GET") == 0 && allow_len + 6 < sizeof j->allow) {
            memcpy(j->allow + allow_len, ", HEAD", 7);
            allow_len += 6;
        }
    }
    if (!path_known) j->early_err = TR_NOT_FOUND;
    else if (bad_id) j->early_err = TR_BAD_REQUEST;
    else j->early_err = TR_METHOD_NOT_ALLOWED;
}

/* ---- worker pool ---------------------------------------------------------------------------- */

static void job_push(server *s, http_job *j) {
    pthread_mutex_lock(&s->mu);
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static http_job *job_pop(server *s) {
    pthread_mutex_lock(&s->mu);
    while (s->head == NULL && !s->workers_exit) pthread_cond_wait(&s->cv, &s->mu);
    http_job *j = s->head;
    if (j) {
        s->head = j->next;
        if (s->head == NULL) s->tail = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return j;
}

/* Takes the purchases waiting right behind a purchase, up to max, without blocking. */
static int job_pop_purchases(server *s, http_job **out, int max) {
    int n = 0;
    pthread_mutex_lock(&s->mu);
    while (n < max && s->head && s->head->route->fn == handle_purchase) {
        out[n++] = s->head;
        s->head = s->head->next;
    }
    if (s->head == NULL) s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Makes sure the worker's connections exist (trying both, so /readyz can tell which is down);
 * the wrappers reconnect after a loss on their own. */
static tr_err worker_connect(worker *w) {
    server *s = w->srv;
    char err[256];
    tr_err rc = TR_OK;
    if (w->ctx.pg == NULL) {
        pg_conn *c = NULL;
        if (pg_conn_open(s->cfg.pg_conninfo, &c, err, sizeof err) != TR_OK) {
            snprintf(w->ctx.detail, sizeof w->ctx.detail, "%s", err);
            rc = TR_PG;
        }
        pthread_mutex_lock(&s->mu); /* server_stop may read it to cancel a statement */
        w->ctx.pg = c;
        pthread_mutex_unlock(&s->mu);
    }
    if (s->cfg.redis_addr && s->cfg.redis_addr[0] && w->ctx.redis == NULL &&
        redis_conn_open(s->cfg.redis_addr, 2000, &w->ctx.redis, err, sizeof err) != TR_OK) {
        if (rc == TR_OK) snprintf(w->ctx.detail, sizeof w->ctx.detail, "%s", err);
        if (rc == TR_OK) rc = TR_REDIS;
    }
    return rc;
}

/* Marks the job answered and hands it back to the event loop that holds its connection, which
 * resumes it (front_tick): never resumed from this thread (see front.done_mu). */
static void job_done(http_job *j) {
    front *f = j->front;
    pthread_mutex_lock(&f->done_mu);
    j->state = JOB_DONE;
    j->next = NULL;
    if (f->done_tail) f->done_tail->next = j;
    else f->done_head = j;
    f->done_tail = j;
    pthread_mutex_unlock(&f->done_mu);
    http_loop_wake(f->loop);
}

/* Whether w can take j after worker_connect answered rc. With PostgreSQL down, a strategy that
 * admits in Redis alone (strategy_ops.admits_without_pg) still serves purchases and outcomes. */
static bool worker_can_serve(worker *w, const http_job *j, tr_err rc) {
    if (rc == TR_OK || j->route->fn == handle_readyz) return true;
    const strategy_ops *st = w->srv->cfg.strategy;
    if (rc != TR_PG || w->ctx.redis == NULL || !st->admits_without_pg) return false;
    if (j->route->fn != handle_purchase && !(j->route->fn == handle_outcome && st->outcome))
        return false;
    w->ctx.detail[0] = '\0'; /* the connect error is not this job's */
    return true;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    server *s = w->srv;
    bool batching = s->cfg.strategy->purchase_many != NULL;
    http_job *j;
    /* Connect before the first request, so a fresh server's first burst does not pay for it (a
     * failure here is retried per request). */
    worker_connect(w);
    w->ctx.detail[0] = '\0';
    while ((j = job_pop(s)) != NULL) {
        if (atomic_load(&s->drain_over)) {
            job_shutting_down(j);
            job_done(j);
            continue;
        }
        tr_err rc = worker_connect(w);
        if (!worker_can_serve(w, j, rc)) {
            job_internal(j, &w->ctx, rc);
            job_done(j);
            continue;
        }
        if (batching && j->route->fn == handle_purchase) {
            http_job *batch[BATCH_MAX];
            batch[0] = j;
            int n = 1 + job_pop_purchases(s, batch + 1, BATCH_MAX - 1);
            handle_purchase_batch(batch, n, &w->ctx);
            for (int i = 0; i < n; i++) job_done(batch[i]);
            continue;
        }
        j->route->fn(j, &w->ctx);
        job_done(j);
    }
    atomic_fetch_sub(&s->workers_running, 1);
    return NULL;
}

/* The calling I/O thread's own connections, made on first use (thread-local), for inline
 * purchases. Registered in the server so server_stop frees them. */
static __thread worker *io_worker;
static __thread server *io_worker_srv;
static atomic_ullong io_worker_ids = 1u << 20;

static worker *io_worker_get(server *s) {
    if (io_worker && io_worker_srv == s) return io_worker;
    worker *w = calloc(1, sizeof *w);
    if (w == NULL) return NULL;
    w->srv = s;
    w->ctx.cfg = &s->cfg.strategy_cfg;
    w->ctx.state = s->strategy_state;
    w->ctx.worker_id = ((uint64_t)getpid() << 20) ^ atomic_fetch_add(&io_worker_ids, 1);
    pthread_mutex_lock(&s->mu);
    w->next_io = s->io_workers;
    s->io_workers = w;
    pthread_mutex_unlock(&s->mu);
    io_worker = w;
    io_worker_srv = s;
    return w;
}

/* ---- event-loop purchases (--dispatch loop) -------------------------------------------------- */

/* The front of the event loop running on this thread (each loop's owner is its front). */
static front *front_current(void) {
    http_loop *l = http_loop_current();
    return l ? http_loop_owner(l) : NULL;
}

/* Suspends the job's connection (called by the access handler), counting it in the server and,
 * on an event loop, in that loop's front. */
static void job_suspend(http_job *j) {
    server *s = j->srv;
    j->front = front_current();
    j->suspended = true;
    atomic_fetch_add(&s->suspended, 1);
    if (j->front) atomic_fetch_add(&j->front->held, 1);
    MHD_suspend_connection(j->conn);
}

/* The suspension is over: the answer is being queued, or the connection closed. */
static void job_unsuspended(http_job *j) {
    if (!j->suspended) return;
    j->suspended = false;
    atomic_fetch_sub(&j->srv->suspended, 1);
    if (j->front) atomic_fetch_sub(&j->front->held, 1);
}

/* Hands a suspended job to the worker pool, or answers 503 once the server stops. */
static void job_to_pool(http_job *j) {
    server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    bool gone = s->workers_exit;
    pthread_mutex_unlock(&s->mu);
    if (!gone) {
        job_push(s, j);
        return;
    }
    job_shutting_down(j);
    j->state = JOB_DONE;
    MHD_resume_connection(j->conn);
}

/* The purchase script's reply, on the loop thread: answer and resume, or let a worker run the
 * purchase the slow way (opening the sale, reloading the script). */
static void loop_purchase_reply(redisReply *reply, void *priv) {
    http_job *j = priv;
    server *s = j->srv;
    front *f = j->front;
    strategy_ctx *ctx = &f->ctx;
    purchase_result res;
    memset(&res, 0, sizeof res);
    if (reply == NULL) {
        /* The connection broke after the call was sent: it may have run, so never run it again
         * (as a worker's synchronous call would answer). */
        snprintf(ctx->detail, sizeof ctx->detail, "Redis connection lost during a purchase");
        res.err = TR_REDIS;
    } else if (!s->cfg.strategy->loop_reply(ctx, j->ids[0], j->ids[1], reply, &res)) {
        job_to_pool(j);
        return;
    } else if (res.err == TR_OK && res.wait_durable) {
        /* Answered once the commit that holds the ticket is done (front_tick). */
        j->res = res;
        j->deadline_ms = mono_us() / 1000 + STRATEGY_STRICT_WAIT_MS;
        j->next = NULL;
        if (f->wait_tail) f->wait_tail->next = j;
        else f->wait_head = j;
        f->wait_tail = j;
        return;
    }
    answer_purchase(j, ctx, j->ids[0], j->ids[1], &res);
    j->state = JOB_DONE;
    MHD_resume_connection(j->conn); /* same thread: the suspension finished long ago */
}

/* The persister committed something (its thread): let the loop look at its waiting answers. */
static void front_wake(void *arg) {
    front *f = arg;
    atomic_store(&f->news, true);
    http_loop_wake(f->loop);
}

/* Each loop pass: answers the waiting purchases whose ticket is now durable, and those past
 * their deadline with 500 (the ticket exists in Redis and will be stored, but was not confirmed
 * in time: the client was not told it has it). */
static int front_tick(http_loop *l, void *owner, bool final) {
    (void)l;
    front *f = owner;
    server *s = f->srv;
    conn_tracker_tick(f->tracker, mono_us() / 1000);
    /* What the workers answered: resume here, on the daemon's own thread. */
    pthread_mutex_lock(&f->done_mu);
    http_job *done = f->done_head;
    f->done_head = f->done_tail = NULL;
    pthread_mutex_unlock(&f->done_mu);
    while (done) {
        http_job *next = done->next;
        MHD_resume_connection(done->conn);
        done = next;
    }
    if (f->wait_head == NULL) return atomic_load(&f->held);
    int64_t now = mono_us() / 1000;
    if (!final && !atomic_exchange(&f->news, false) && now - f->last_scan_ms < 100)
        return atomic_load(&f->held);
    f->last_scan_ms = now;
    http_job **pp = &f->wait_head, *prev = NULL;
    while (*pp) {
        http_job *j = *pp;
        int d = s->cfg.strategy->loop_durable(s->strategy_state, j->ids[0], &j->res);
        if (d == 0 && now < j->deadline_ms && !final) {
            prev = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        if (f->wait_tail == j) f->wait_tail = prev;
        if (d != 1) {
            snprintf(f->ctx.detail, sizeof f->ctx.detail,
                     "ticket %" PRId64 " %s", j->res.t.ticket_id,
                     d < 0    ? "could not be stored in PostgreSQL"
                     : final ? "not confirmed durable before the server stopped"
                             : "not confirmed durable within the strict wait");
            j->res.err = TR_INTERNAL;
        }
        answer_purchase(j, &f->ctx, j->ids[0], j->ids[1], &j->res);
        j->state = JOB_DONE;
        MHD_resume_connection(j->conn);
    }
    return atomic_load(&f->held);
}

/* Runs a validated purchase on loop l: suspends the connection and sends the script call, or
 * hands the job to the pool when Redis is not connected. */
static void loop_purchase(http_job *j, http_loop *l) {
    server *s = j->srv;
    script_call call;
    s->cfg.strategy->loop_call(j->ids[0], j->ids[1], http_loop_redis_run_id(l), &call);
    const char *keys[6], *args[2];
    for (int i = 0; i < call.nkeys; i++) keys[i] = call.keys[i];
    for (int i = 0; i < call.nargs; i++) args[i] = call.args[i];
    char numkeys[12];
    const char *argv[3 + REDIS_MAX_EVAL_ARGS];
    int argc = redis_eval_argv(s->cfg.strategy->loop_script, s->loop_sha, call.nkeys, keys,
                               call.nargs, args, numkeys, argv);
    j->state = JOB_QUEUED;
    job_suspend(j);
    if (!http_loop_redis(l, argc, argv, NULL, loop_purchase_reply, j)) job_to_pool(j);
}

/* ---- libmicrohttpd callbacks --------------------------------------------------------------- */

static enum MHD_Result job_send(http_job *j) {
    if (j->resp == NULL) job_error(j, TR_INTERNAL, NULL);
    const char *body = j->resp ? j->resp : "{\"error\":\"internal\",\"message\":\"out of memory\"}";
    struct MHD_Response *r;
    if (j->resp) {
        r = MHD_create_response_from_buffer(strlen(j->resp), j->resp, MHD_RESPMEM_MUST_FREE);
        if (r) j->resp = NULL; /* MHD owns it now */
    } else {
        r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            j->content_type ? j->content_type : "application/json");
    metrics_request(j->srv->metrics, j->route ? (int)(j->route - routes) : -1, j->status,
                    mono_us() - j->started_us);
    if (j->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", j->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (j->status == 405 && j->allow[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, j->allow);
    if (j->close_after) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(j->conn, (unsigned)j->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The request's header field lines, in order, duplicates included (MHD_HEADER_KIND iterates every
 * one), for http_check_framing; and their total size for the 431 check. */
typedef struct field_list {
    http_field *v;
    size_t n, cap;
    size_t bytes;
} field_list;

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size) {
    (void)kind;
    field_list *l = cls;
    l->bytes += key_size + value_size + 4;
    if (l->n < l->cap) l->v[l->n++] = (http_field){key, key_size, value, value_size};
    return MHD_YES;
}

/* Checks the request's framing (RFC 9112) and header size; sets early_err. A framing error is
 * answered at once and closes the connection (close_after): the body, and anything pipelined
 * behind it, is never read. Returns false when out of memory. */
static bool job_check_head(http_job *j, struct MHD_Connection *conn, const char *version) {
    field_list l = {0};
    int count = MHD_get_connection_values_n(conn, MHD_HEADER_KIND, NULL, NULL);
    l.cap = count > 0 ? (size_t)count : 0;
    if (l.cap > 0 && (l.v = malloc(l.cap * sizeof *l.v)) == NULL) return false;
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_field, &l);
    char why[160];
    tr_err rc = http_check_framing(version, l.v, l.n, why, sizeof why);
    free(l.v);
    if (rc != TR_OK) {
        j->close_after = true;
        job_error(j, rc, why);
        return true;
    }
    if (l.bytes > HTTP_MAX_HEADERS) j->early_err = TR_HEADERS_TOO_LARGE;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    server *s = cls;
    http_job *j = *con_cls;
    if (j == NULL) {
        if ((j = calloc(1, sizeof *j)) == NULL) return MHD_NO;
        j->srv = s;
        j->conn = conn;
        j->started_us = mono_us();
        *con_cls = j;
        job_route(j, method, url);
        conn_track_headers_in(conn);
        if (!job_check_head(j, conn, version)) return MHD_NO;
        /* Answered on this first call: libmicrohttpd sends it and closes the connection. */
        if (j->close_after) return job_send(j);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY) {
            /* Refuse before reading the body; MHD closes the connection after this answer. */
            job_error(j, TR_PAYLOAD_TOO_LARGE, NULL);
            return job_send(j);
        }
        if (j->early_err == TR_OK && (j->route->flags & ROUTE_JSON_BODY) &&
            !http_content_type_is_json(
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
            j->early_err = TR_UNSUPPORTED_MEDIA_TYPE;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (!j->body_too_large && j->body_len + n <= HTTP_MAX_BODY) {
            if (j->body == NULL) {
                j->body = j->body_small;
            }
            if (j->body == j->body_small && j->body_len + n >= sizeof j->body_small) {
                char *big = malloc(HTTP_MAX_BODY + 1);
                if (big == NULL) return MHD_NO;
                memcpy(big, j->body_small, j->body_len);
                j->body = big;
            }
            memcpy(j->body + j->body_len, upload_data, n);
            j->body_len += n;
            j->body[j->body_len] = '\0';
        } else {
            j->body_too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (j->state == JOB_DONE) {
        job_unsuspended(j);
        return job_send(j);
    }
    if (j->state == JOB_QUEUED) return MHD_YES;
    conn_track_request_in(conn); /* the final call: the whole request is in */
    if (j->body_too_large) j->early_err = TR_PAYLOAD_TOO_LARGE;
    if (j->early_err != TR_OK) {
        job_error(j, j->early_err, NULL);
        return job_send(j);
    }
    if (j->route->flags & ROUTE_INLINE) {
        j->route->fn(j, NULL);
        return job_send(j);
    }
    if (s->purchase_inline && j->route->fn == handle_purchase) {
        worker *w = io_worker_get(s);
        tr_err rc = w ? worker_connect(w) : TR_NOMEM;
        if (w == NULL || !worker_can_serve(w, j, rc)) job_internal(j, w ? &w->ctx : NULL, rc);
        else handle_purchase(j, &w->ctx);
        return job_send(j);
    }
    /* Work that would start now: refused once the server stops. */
    pthread_mutex_lock(&s->mu);
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (stopping) {
        job_shutting_down(j);
        return job_send(j);
    }
    http_loop *l = http_loop_current();
    if (s->loop_purchases && l && j->route->fn == handle_purchase) {
        if (!purchase_ids(j, &j->ids[0], &j->ids[1])) return job_send(j);
        loop_purchase(j, l);
        return MHD_YES;
    }
    j->state = JOB_QUEUED;
    job_suspend(j);
    job_push(s, j);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) conn_track_completed(conn);
    http_job *j = *con_cls;
    if (j == NULL) return;
    job_unsuspended(j);
    if (j->body != j->body_small) free(j->body);
    free(j->resp);
    free(j);
    *con_cls = NULL;
}

/* ---- start / stop ---------------------------------------------------------------------------- */

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

/* Caches the strategy's loop script in Redis and keeps its SHA1 for EVALSHA. */
static tr_err load_loop_script(server *s, char *errbuf, size_t errlen) {
    redis_conn *r = NULL;
    tr_err rc = redis_conn_open(s->cfg.redis_addr, 2000, &r, errbuf, errlen);
    if (rc != TR_OK) return rc;
    const char *sha = redis_script_load(r, s->cfg.strategy->loop_script);
    if (sha == NULL) {
        snprintf(errbuf, errlen, "%s", redis_conn_errstr(r));
        rc = TR_REDIS;
    } else {
        snprintf(s->loop_sha, sizeof s->loop_sha, "%s", sha);
    }
    redis_conn_free(r);
    return rc;
}

/* --max-connections is the process's limit, whichever loop the kernel hands a connection to:
 * counted from MHD's "started" to "closed" notification, checked at accept (several loops
 * accepting at the same instant can pass it by one each). Over it, the connection is closed. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
    (void)addr;
    (void)addrlen;
    server *s = cls;
    return atomic_load(&s->connections) < s->cfg.max_connections ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    front *f = cls;
    server *s = f->srv;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) atomic_fetch_add(&s->connections, 1);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) atomic_fetch_sub(&s->connections, 1);
    conn_tracker_notify(f->tracker, conn, socket_context, toe);
}

/* The loops' daemons share their port through SO_REUSEPORT, which would also let them join a
 * port another process listens on with SO_REUSEPORT (another loop server). A plain bind without
 * it fails on any port in use, so try that first. */
static bool port_free(const struct sockaddr_in *sa) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is no conflict */
    bool ok = bind(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
    close(fd);
    return ok;
}

/* cfg.io_threads daemons in external epoll mode on one port (SO_REUSEPORT: the kernel spreads
 * connections over them), each run by its own event loop, whose owner is its front. */
static tr_err start_fronts(server *s, const struct sockaddr_in *sa0, char *errbuf, size_t errlen) {
    int n = s->cfg.io_threads;
    if (sa0->sin_port != 0 && !port_free(sa0)) {
        snprintf(errbuf, errlen, "could not listen on %s:%d (port in use?)",
                 s->cfg.bind_addr ? s->cfg.bind_addr : "127.0.0.1", ntohs(sa0->sin_port));
        return TR_INTERNAL;
    }
    unsigned limit = (unsigned)s->cfg.max_connections; /* per daemon; on_accept counts them all */
    if ((s->fronts = calloc((size_t)n, sizeof *s->fronts)) == NULL) return TR_NOMEM;
    s->nfronts = n;
    for (int i = 0; i < n; i++) pthread_mutex_init(&s->fronts[i].done_mu, NULL);
    struct sockaddr_in sa = *sa0;
    for (int i = 0; i < n; i++) {
        front *f = &s->fronts[i];
        f->srv = s;
        f->ctx.cfg = &s->cfg.strategy_cfg;
        f->ctx.state = s->strategy_state;
        if (conn_tracker_new(s->cfg.header_timeout_s * 1000, s->cfg.body_timeout_s * 1000,
                             &f->tracker) != TR_OK) {
            snprintf(errbuf, errlen, "could not set up connection tracking");
            return TR_INTERNAL;
        }
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
        f->mhd = MHD_start_daemon(
            flags, ntohs(sa.sin_port), on_accept, s, on_request, s, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, f, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&sa, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
            MHD_OPTION_CONNECTION_LIMIT, limit,
            MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)s->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_UNESCAPE_CALLBACK,
            http_unescape, NULL, MHD_OPTION_END);
        if (f->mhd == NULL) {
            snprintf(errbuf, errlen, "could not listen on %s:%d (port in use?)",
                     s->cfg.bind_addr ? s->cfg.bind_addr : "127.0.0.1", ntohs(sa.sin_port));
            return TR_INTERNAL;
        }
        if (i == 0) {
            /* Port 0 picked a free port: the other daemons join that one. */
            const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
            s->port = info ? info->port : s->cfg.port;
            sa.sin_port = htons((uint16_t)s->port);
        }
        tr_err rc = http_loop_start(f->mhd, s->cfg.redis_addr, LOOP_REDIS_TIMEOUT_MS, f, front_tick,
                                    &f->loop, errbuf, errlen);
        if (rc != TR_OK) return rc;
        if (s->cfg.strategy->loop_watch) {
            if (!s->cfg.strategy->loop_watch(s->strategy_state, front_wake, f, true)) {
                snprintf(errbuf, errlen, "too many event loops for the persister");
                return TR_INVALID_ARGUMENT;
            }
            f->watching = true;
        }
    }
    return TR_OK;
}

tr_err server_start(const server_config *cfg, server **out, char *errbuf, size_t errlen) {
    tr_err rc = TR_OK;
    server *s = NULL;
    *out = NULL;
    if (cfg->strategy == NULL || cfg->pg_conninfo == NULL || cfg->workers < 1 ||
        cfg->workers > 1024 || cfg->io_threads < 1 || cfg->io_threads > 64 ||
        cfg->port < 0 || cfg->port > 65535 || cfg->max_connections < 1 || cfg->idle_timeout_s < 1 ||
        cfg->header_timeout_s < 0 || cfg->header_timeout_s > 86400 || cfg->body_timeout_s < 0 ||
        cfg->body_timeout_s > 86400) {
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
    if (s->cfg.header_timeout_s == 0) s->cfg.header_timeout_s = SERVER_HEADER_TIMEOUT_S;
    if (s->cfg.body_timeout_s == 0) s->cfg.body_timeout_s = SERVER_BODY_TIMEOUT_S;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->suspended, 0);
    atomic_init(&s->connections, 0);
    s->cfg.strategy_cfg.pg_conninfo = cfg->pg_conninfo;
    s->cfg.strategy_cfg.redis_addr = cfg->redis_addr;
    if (cfg->strategy->start &&
        (rc = cfg->strategy->start(&s->cfg.strategy_cfg, &s->strategy_state, errbuf, errlen)) !=
            TR_OK)
        goto out;
    const char *patterns[NROUTES];
    for (int i = 0; i < NROUTES; i++) patterns[i] = routes[i].pattern;
    if ((s->metrics = metrics_new(NROUTES, patterns)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    bool can_inline = cfg->strategy->runs_inline && cfg->strategy->runs_inline(&s->cfg.strategy_cfg);
    s->purchase_inline = cfg->dispatch == SERVER_DISPATCH_INLINE && can_inline;
    const strategy_ops *so = cfg->strategy;
    bool loop_mode = (cfg->dispatch == SERVER_DISPATCH_LOOP || cfg->dispatch == SERVER_DISPATCH_AUTO) &&
                     so->loop_script && so->loop_call && so->loop_reply &&
                     (can_inline || (so->loop_durable && so->loop_watch));
    s->loop_purchases = loop_mode;
    if (loop_mode && (rc = load_loop_script(s, errbuf, errlen)) != TR_OK) goto out;
    if ((s->workers = calloc((size_t)cfg->workers, sizeof *s->workers)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    for (int i = 0; i < cfg->workers; i++) {
        worker *w = &s->workers[i];
        w->srv = s;
        w->ctx.cfg = &s->cfg.strategy_cfg;
        w->ctx.state = s->strategy_state;
        w->ctx.worker_id = ((uint64_t)getpid() << 20) ^ ((uint64_t)time(NULL) << 32) ^ (uint64_t)i;
        atomic_fetch_add(&s->workers_running, 1);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            atomic_fetch_sub(&s->workers_running, 1);
            snprintf(errbuf, errlen, "could not start worker thread %d", i);
            rc = TR_INTERNAL;
            goto out;
        }
        w->started = true;
    }
    if ((rc = start_fronts(s, &sa, errbuf, errlen)) != TR_OK) goto out;
    *out = s;
    s = NULL;
out:
    server_stop(s, 0);
    return rc;
}

int server_port(const server *s) { return s->port; }

const char *server_dispatch(const server *s) {
    return s->loop_purchases ? "loop" : s->purchase_inline ? "inline" : "pool";
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int loops_inflight(const server *s) {
    int n = 0;
    for (int i = 0; i < s->nfronts; i++)
        if (s->fronts[i].loop) n += http_loop_inflight(s->fronts[i].loop);
    return n;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

void server_stop(server *s, int drain_ms) {
    if (s == NULL) return;
    int64_t deadline = mono_ms() + (drain_ms > 0 ? drain_ms : 0);
    /* Stop accepting, and answer requests that have not started with 503. */
    for (int i = 0; i < s->nfronts; i++)
        if (s->fronts[i].loop) http_loop_quiesce(s->fronts[i].loop);
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);
    /* Event loops: their Redis calls answer (a reply may still hand a job to the workers). */
    while (loops_inflight(s) > 0 && mono_ms() < deadline) sleep_ms(5);
    /* Workers finish the queue (answering every queued job), then exit. */
    pthread_mutex_lock(&s->mu);
    s->workers_exit = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* Past the drain time: queued work gets 503, purchases waiting in the strategy (strict) give
     * up (500), and statements the workers still run (e.g. stuck on a lock) are cancelled, again
     * every 500 ms for 5 s at most: the request they serve answers 500, outcome unknown. */
    while (atomic_load(&s->workers_running) > 0 && mono_ms() < deadline) sleep_ms(5);
    if (atomic_load(&s->workers_running) > 0) {
        atomic_store(&s->drain_over, true);
        if (s->cfg.strategy && s->cfg.strategy->abandon_waits)
            s->cfg.strategy->abandon_waits(s->strategy_state);
        for (int round = 0; round < 10 && atomic_load(&s->workers_running) > 0; round++) {
            pthread_mutex_lock(&s->mu);
            for (int i = 0; s->workers && i < s->cfg.workers; i++) pg_conn_cancel(s->workers[i].ctx.pg);
            pthread_mutex_unlock(&s->mu);
            for (int t = 0; t < 100 && atomic_load(&s->workers_running) > 0; t++) sleep_ms(5);
        }
    }
    for (int i = 0; s->workers && i < s->cfg.workers; i++)
        if (s->workers[i].started) pthread_join(s->workers[i].thread, NULL);
    /* Every suspended connection has been resumed; give MHD a moment to send the answers. */
    while (atomic_load(&s->suspended) > 0 && mono_ms() < deadline) sleep_ms(10);
    /* Event loops: every one answers what it still holds (500) and sends it, then stops. */
    for (int i = 0; i < s->nfronts; i++)
        if (s->fronts[i].loop) http_loop_stop(s->fronts[i].loop);
    for (int i = 0; i < s->nfronts; i++) {
        front *f = &s->fronts[i];
        if (f->watching) s->cfg.strategy->loop_watch(s->strategy_state, front_wake, f, false);
        http_loop_free(f->loop);
        if (f->mhd == NULL) {
            conn_tracker_free(f->tracker);
            continue;
        }
        int held = atomic_load(&f->held);
        if (held == 0) {
            MHD_stop_daemon(f->mhd);
            conn_tracker_free(f->tracker); /* every connection closed: nothing tracked */
        } else {
            /* libmicrohttpd aborts the process when stopped with suspended connections; the
             * process is exiting anyway, so leave this daemon to the operating system. */
            srv_log(s, "event loop %d stopped with %d connection%s still suspended", i, held,
                    held == 1 ? "" : "s");
        }
    }
    for (int i = 0; i < s->nfronts; i++) pthread_mutex_destroy(&s->fronts[i].done_mu);
    free(s->fronts);
    /* After the last request: background workers drain what they hold, then stop. */
    if (s->cfg.strategy && s->cfg.strategy->stop) s->cfg.strategy->stop(s->strategy_state);
    for (int i = 0; s->workers && i < s->cfg.workers; i++) {
        pg_conn_free(s->workers[i].ctx.pg);
        redis_conn_free(s->workers[i].ctx.redis);
    }
    free(s->workers);
    metrics_free(s->metrics);
    for (worker *w = s->io_workers, *next; w; w = next) {
        next = w->next_io;
        pg_conn_free(w->ctx.pg);
        redis_conn_free(w->ctx.redis);
        free(w);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
