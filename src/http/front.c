/* front.c — the event-loop side of the HTTP service (service.h): one front per event loop
 * (loop.c), owning its libmicrohttpd daemon, the libmicrohttpd callbacks, the suspend/resume of
 * connections, one-script purchases sent on the loop's own Redis connection, and the wait list
 * of answers held until their ticket is durable. Not the route handlers (routes.c) nor the pool.
 *
 * DESIGN
 * - A request's life, all on the loop thread: first call — match the route (404/405/400),
 *   check framing and header size, Content-Length and Content-Type; body calls — copy at most
 *   HTTP_MAX_BODY bytes; final call — answer at once (errors, ROUTE_ON_LOOP), or for a purchase
 *   check the body, then suspend the connection and either queue the strategy's script call on
 *   this loop's Redis connection (one-script strategies; pipelined with the other requests of
 *   the pass) or push the job to the pool. (libmicrohttpd 0.9.75 closes the connection when a
 *   response is queued on the very first call, so answers come after the body.)
 * - Back to the loop: a script reply is read right here; a worker hands its job back through
 *   the front's done list (front_job_done) and a wake-up. Suspend and resume both happen on the
 *   daemon's own thread (resumed from workers, libmicrohttpd 0.9.75 lost a resume now and then).
 * - Held answers (strict durability): a decided purchase whose ticket is not durable yet waits
 *   in the front's wait list, oldest first; the strategy's watcher (the persister's commit)
 *   wakes the loop, which asks strategy_durable for each, and answers 500 (outcome unknown) past
 *   STRATEGY_STRICT_WAIT_MS or when the loop stops. No thread waits for a commit.
 * - Stop: quiesce (stop accepting), then, once the server says so, every loop answers what it
 *   still holds (500) and stops. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "http/conntrack.h"
#include "http/loop.h"
#include "http/metrics.h"
#include "http/request.h"
#include "http/response.h"
#include "http/service.h"

/* How long an event loop waits for a Redis reply before dropping the connection (the workers'
 * synchronous connections time out after 2000 ms too). */
#define LOOP_REDIS_TIMEOUT_MS 2000
/* With held answers and no wake-up, the wait list is still looked at this often (ms): for the
 * deadlines, and for commits another process announced. */
#define HELD_SCAN_MS 100

struct front {
    server *srv;
    struct MHD_Daemon *mhd;
    http_loop *loop;
    conn_tracker *tracker; /* this daemon's connections: header and body time bounds */
    strategy_ctx ctx;      /* no connections: for the strategy's reply parsing and details */
    http_job *held_head, *held_tail; /* held answers, oldest first (loop thread only) */
    atomic_bool news;                /* the strategy's watcher: something became durable */
    int64_t last_scan_ms;
    bool watching;
    bool listen_released;    /* its daemon gave back the listening socket (quiesced) */
    atomic_int held;         /* connections of this daemon suspended, not yet answered */
    pthread_mutex_t done_mu; /* jobs the workers decided, for the loop to resume */
    http_job *done_head, *done_tail;
};

/* ---- suspend / resume ---------------------------------------------------------------------- */

static void job_suspend(http_job *j, front *f) {
    j->front = f;
    j->suspended = true;
    atomic_fetch_add(&j->srv->suspended, 1);
    atomic_fetch_add(&f->held, 1);
    MHD_suspend_connection(j->conn);
}

/* The suspension is over: the answer is being queued, or the connection closed. */
static void job_unsuspended(http_job *j) {
    if (!j->suspended) return;
    j->suspended = false;
    atomic_fetch_sub(&j->srv->suspended, 1);
    atomic_fetch_sub(&j->front->held, 1);
}

/* Loop thread: the answer is ready; libmicrohttpd calls the handler again, which sends it. */
static void job_resume(http_job *j) {
    j->state = JOB_DONE;
    MHD_resume_connection(j->conn);
}

static void held_add(front *f, http_job *j) {
    j->state = JOB_HELD;
    j->deadline_ms = tr_mono_ms() + STRATEGY_STRICT_WAIT_MS;
    j->next = NULL;
    if (f->held_tail) f->held_tail->next = j;
    else f->held_head = j;
    f->held_tail = j;
}

void front_job_done(http_job *j) {
    front *f = j->front;
    pthread_mutex_lock(&f->done_mu);
    j->next = NULL;
    if (f->done_tail) f->done_tail->next = j;
    else f->done_head = j;
    f->done_tail = j;
    pthread_mutex_unlock(&f->done_mu);
    http_loop_wake(f->loop);
}

/* A suspended job to the pool, or 503 once the pool takes no more work. Loop thread. */
static void job_to_pool(http_job *j) {
    if (pool_push(j->srv->pool, j)) return;
    job_shutting_down(j);
    job_resume(j);
}

/* ---- one-script purchases ------------------------------------------------------------------ */

/* replicated durability: WAIT's answer for a purchase that wrote its ticket. Fewer than one
 * replica (WAIT ran out), an error or a lost connection: the ticket is in the master but not
 * known to be on a replica, so the answer does not claim it — 500, outcome unknown, Retry-After
 * (a retry answers 409 already_owned with the ticket). */
static void replica_reply(redisReply *reply, http_loop_outcome how, void *priv) {
    http_job *j = priv;
    front *f = j->front;
    if (how != HTTP_LOOP_REPLIED || reply->type != REDIS_REPLY_INTEGER || reply->integer < 1) {
        snprintf(f->ctx.detail, sizeof f->ctx.detail,
                 "ticket %" PRId64 " was not confirmed on a replica within %d ms (WAIT: %s)",
                 j->res.t.ticket_id, STRATEGY_REPLICA_WAIT_MS,
                 how == HTTP_LOOP_LOST              ? "Redis connection lost"
                 : how != HTTP_LOOP_REPLIED         ? "not run"
                 : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                    : "no replica acknowledged");
        j->res.err = TR_INTERNAL;
    }
    routes_answer_purchase(j, &f->ctx, &j->res);
    job_resume(j);
}

/* The script's reply, on the loop thread: answer, hold, or let a worker run the purchase the
 * slow way (opening the sale). */
static void script_reply(redisReply *reply, http_loop_outcome how, void *priv) {
    http_job *j = priv;
    server *s = j->srv;
    front *f = j->front;
    purchase_result res;
    memset(&res, 0, sizeof res);
    if (how == HTTP_LOOP_LOST) {
        /* The connection broke after the call was sent: it may have run, so never run it again
         * (as a worker's synchronous call would answer). */
        snprintf(f->ctx.detail, sizeof f->ctx.detail, "Redis connection lost during a purchase");
        res.err = TR_REDIS;
    } else if (how == HTTP_LOOP_NOT_RUN) {
        /* Redis Cluster: down, the slot without a master, or redirected too often: it did not
         * run; the client tries again shortly (never a stale answer). 503 unavailable, not
         * busy: busy is SPEC §2's refusal for contention, which R6 counts against every later
         * ticket; here the backend does not answer (a failover mid-sale, issue 11 §5). */
        res.err = TR_UNAVAILABLE;
        res.retry_after_s = 1;
    } else if (!strategy_script_reply(s->strategy, &f->ctx, j->ids[0], j->ids[1], reply, &res)) {
        metrics_loop_handoff(s->metrics, METRICS_HANDOFF_NOT_DECIDED);
        job_to_pool(j);
        return;
    } else if (res.wait_replicas && res.err == TR_OK) {
        j->res = res;
        if (http_loop_wait_replicas(f->loop, 1, STRATEGY_REPLICA_WAIT_MS, replica_reply, j)) return;
        snprintf(f->ctx.detail, sizeof f->ctx.detail, "could not ask for WAIT (out of memory)");
        res.err = TR_INTERNAL;
    } else if (res.wait_durable && (res.err == TR_OK || res.err == TR_ALREADY_OWNED)) {
        j->res = res;
        held_add(f, j);
        return;
    }
    routes_answer_purchase(j, &f->ctx, &res);
    job_resume(j);
}

/* Suspends the connection and sends the purchase as one script call — to the Redis Cluster
 * master of its concert's slot (keys[0]; every key shares the hash tag {concert:ID}), with that
 * node's run id — or hands it to the pool when Redis is not connected. */
static void script_send(http_job *j, front *f) {
    server *s = j->srv;
    script_call call;
    strategy_script_args(s->strategy, &f->ctx, j->ids[0], j->ids[1], REDIS_ARG_RUN_ID, &call);
    const char *keys[SCRIPT_CALL_MAX_KEYS], *args[SCRIPT_CALL_MAX_ARGS];
    for (int i = 0; i < call.nkeys; i++) keys[i] = call.keys[i];
    /* The run id argument goes as the pointer REDIS_ARG_RUN_ID: the loop sends the run id of the
     * node the call goes to (again after a redirect). */
    for (int i = 0; i < call.nargs; i++)
        args[i] = strcmp(call.args[i], REDIS_ARG_RUN_ID) == 0 ? REDIS_ARG_RUN_ID : call.args[i];
    char numkeys[12];
    const char *argv[3 + REDIS_MAX_EVAL_ARGS];
    int argc = redis_eval_argv(s->strategy->script, s->script_sha, call.nkeys, keys, call.nargs,
                               args, numkeys, argv);
    j->state = JOB_QUEUED;
    job_suspend(j, f);
    if (!http_loop_redis(f->loop, call.nkeys > 0 ? call.keys[0] : NULL, argc, argv, NULL,
                         script_reply, j)) {
        metrics_loop_handoff(s->metrics, METRICS_HANDOFF_NOT_SENT);
        job_to_pool(j);
    }
}

/* ---- each loop pass ------------------------------------------------------------------------ */

/* The strategy's watcher (its thread): something may have become durable. */
static void front_wake(void *arg) {
    front *f = arg;
    atomic_store(&f->news, true);
    http_loop_wake(f->loop);
}

/* Answers the held purchases now durable, and those past their deadline or (final) left when
 * the loop stops with 500: the ticket exists in Redis and will be stored, but was not confirmed
 * in time, so the client was not told it has it. */
static void held_scan(front *f, bool final) {
    server *s = f->srv;
    int64_t now = tr_mono_ms();
    if (!final && !atomic_exchange(&f->news, false) && now - f->last_scan_ms < HELD_SCAN_MS) return;
    f->last_scan_ms = now;
    http_job **pp = &f->held_head, *prev = NULL;
    while (*pp) {
        http_job *j = *pp;
        int d = strategy_durable(s->strategy, s->strategy_state, j->ids[0], &j->res);
        if (d == 0 && now < j->deadline_ms && !final) {
            prev = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        if (f->held_tail == j) f->held_tail = prev;
        if (d != 1) {
            snprintf(f->ctx.detail, sizeof f->ctx.detail, "ticket %" PRId64 " %s",
                     j->res.t.ticket_id,
                     d < 0   ? "could not be stored in PostgreSQL"
                     : final ? "not confirmed durable before the server stopped"
                             : "not confirmed durable within the strict wait");
            j->res.err = TR_INTERNAL;
        }
        routes_answer_purchase(j, &f->ctx, &j->res);
        job_resume(j);
    }
}

/* Each pass (loop.h): resume what the workers decided, or hold it; then the held answers. */
static int front_tick(http_loop *l, void *owner, bool final) {
    (void)l;
    front *f = owner;
    conn_tracker_tick(f->tracker, tr_mono_ms());
    pthread_mutex_lock(&f->done_mu);
    http_job *done = f->done_head;
    f->done_head = f->done_tail = NULL;
    pthread_mutex_unlock(&f->done_mu);
    while (done) {
        http_job *next = done->next;
        if (done->state == JOB_HELD) held_add(f, done);
        else job_resume(done);
        done = next;
    }
    if (f->held_head) held_scan(f, final);
    return atomic_load(&f->held);
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
    metrics_request(j->srv->metrics, j->route ? (int)(j->route - http_routes) : -1, j->status,
                    tr_mono_us() - j->started_us);
    if (j->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", j->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (j->status == 405 && j->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, j->allow);
    /* Once the server stops, every answer closes its connection, so a keep-alive client does
     * not send its next request on a connection about to be closed. */
    if (j->close_after || atomic_load(&j->srv->stopping))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
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

/* The first call for a request: route, framing, limits. */
static enum MHD_Result request_begin(front *f, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version, void **con_cls) {
    http_job *j = calloc(1, sizeof *j);
    if (j == NULL) return MHD_NO;
    j->srv = f->srv;
    j->conn = conn;
    j->front = f;
    j->started_us = tr_mono_us();
    *con_cls = j;
    routes_match(j, method, url);
    conn_track_headers_in(conn);
    if (!job_check_head(j, conn, version)) return MHD_NO;
    /* Answered on this first call: libmicrohttpd sends it and closes the connection. */
    if (j->close_after) return job_send(j);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
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

/* A body call: keeps at most HTTP_MAX_BODY bytes. */
static enum MHD_Result request_body(http_job *j, const char *data, size_t n) {
    if (j->body_too_large || j->body_len + n > HTTP_MAX_BODY) {
        j->body_too_large = true;
        return MHD_YES;
    }
    if (j->body == NULL) j->body = j->body_small;
    if (j->body == j->body_small && j->body_len + n >= sizeof j->body_small) {
        char *big = malloc(HTTP_MAX_BODY + 1);
        if (big == NULL) return MHD_NO;
        memcpy(big, j->body_small, j->body_len);
        j->body = big;
    }
    memcpy(j->body + j->body_len, data, n);
    j->body_len += n;
    j->body[j->body_len] = '\0';
    return MHD_YES;
}

/* The final call: the whole request is in. */
static enum MHD_Result request_run(front *f, http_job *j) {
    server *s = f->srv;
    conn_track_request_in(j->conn);
    if (j->body_too_large) j->early_err = TR_PAYLOAD_TOO_LARGE;
    if (j->early_err != TR_OK) {
        job_error(j, j->early_err, NULL);
        return job_send(j);
    }
    unsigned flags = j->route->flags;
    if (flags & ROUTE_ON_LOOP) {
        j->route->fn(j, &f->ctx);
        return job_send(j);
    }
    if ((flags & ROUTE_PURCHASE) && !routes_purchase_ids(j)) return job_send(j);
    if (atomic_load(&s->stopping)) { /* work that would start now */
        job_shutting_down(j);
        return job_send(j);
    }
    if ((flags & ROUTE_PURCHASE) && strategy_is_one_script(s->strategy)) {
        script_send(j, f);
        return MHD_YES;
    }
    j->state = JOB_QUEUED;
    job_suspend(j, f);
    job_to_pool(j);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    front *f = cls;
    http_job *j = *con_cls;
    if (j == NULL) return request_begin(f, conn, url, method, version, con_cls);
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return request_body(j, upload_data, n);
    }
    switch (j->state) {
    case JOB_DONE: job_unsuspended(j); return job_send(j);
    case JOB_QUEUED:
    case JOB_HELD: return MHD_YES;
    case JOB_READING: break;
    }
    return request_run(f, j);
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

/* ---- start / stop ---------------------------------------------------------------------------- */

/* Without --reuse-port the loops' daemons are all given ONE listening socket, bound without
 * SO_REUSEPORT: a port in use fails the bind, and no later process can join the port (its
 * SO_REUSEPORT bind fails too, as the kernel requires the option on every socket of a port).
 * Each daemon's epoll watches the socket; when a connection comes, one accepts it and the others'
 * accept finds none (EAGAIN, which libmicrohttpd 0.9.75 takes quietly: no new connection), so
 * the socket is non-blocking. With --reuse-port each daemon binds its own socket with
 * SO_REUSEPORT (MHD_OPTION_LISTENING_ADDRESS_REUSE) and the kernel spreads connections over
 * every socket of the port, this process's and the others'. */
static tr_err listen_shared(server *s, const struct sockaddr_in *sa, const char *bind_addr,
                            char *errbuf, size_t errlen) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errbuf, errlen, "could not open a listening socket: %s", strerror(errno));
        return TR_INTERNAL;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is no conflict */
    if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        snprintf(errbuf, errlen, "could not listen on %s:%d: %s", bind_addr, ntohs(sa->sin_port),
                 e == EADDRINUSE ? "address in use (to share a port, start every process with "
                                   "--reuse-port)"
                                 : strerror(e));
        close(fd);
        return TR_INTERNAL;
    }
    struct sockaddr_in got;
    socklen_t len = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &len) != 0) {
        snprintf(errbuf, errlen, "could not read the listening port: %s", strerror(errno));
        close(fd);
        return TR_INTERNAL;
    }
    s->listen_fd = fd;
    s->port = ntohs(got.sin_port);
    atomic_store(&s->listen_holders, 1); /* fronts_start's own, released when it returns */
    return TR_OK;
}

/* One holder of the shared socket let it go; the last closes it. For a daemon's own socket
 * (--reuse-port), closes it. Loop thread (at quiesce) or the stopping thread. */
static void listen_release(void *arg, int fd) {
    front *f = arg;
    server *s = f->srv;
    f->listen_released = true;
    if (s->listen_fd < 0 || fd != s->listen_fd) {
        close(fd);
        return;
    }
    if (atomic_fetch_sub(&s->listen_holders, 1) == 1) close(fd);
}

/* fronts_start's own hold on the shared socket, dropped when it returns. */
static void listen_unhold(server *s) {
    if (s->listen_fd >= 0 && atomic_fetch_sub(&s->listen_holders, 1) == 1) close(s->listen_fd);
}

static tr_err start_loops(server *s, const struct sockaddr_in *sa0, char *errbuf, size_t errlen) {
    int n = s->cfg.io_threads;
    const char *bind_addr = s->cfg.bind_addr ? s->cfg.bind_addr : "127.0.0.1";
    unsigned limit = (unsigned)s->cfg.max_connections; /* per daemon; on_accept counts them all */
    if ((s->fronts = calloc((size_t)n, sizeof *s->fronts)) == NULL ||
        (s->trackers = calloc((size_t)n, sizeof *s->trackers)) == NULL)
        return TR_NOMEM;
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
        s->trackers[i] = f->tracker;
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
        if (s->listen_fd >= 0) {
            f->mhd = MHD_start_daemon(
                flags, (uint16_t)s->port, on_accept, s, on_request, f, MHD_OPTION_NOTIFY_COMPLETED,
                on_completed, f, MHD_OPTION_NOTIFY_CONNECTION, on_connection, f,
                MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
                limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.idle_timeout_s,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
                MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL, MHD_OPTION_END);
            if (f->mhd == NULL) {
                snprintf(errbuf, errlen, "could not start event loop %d on %s:%d", i, bind_addr,
                         s->port);
                return TR_INTERNAL;
            }
            atomic_fetch_add(&s->listen_holders, 1);
        } else {
            f->mhd = MHD_start_daemon(
                flags, ntohs(sa.sin_port), on_accept, s, on_request, f, MHD_OPTION_NOTIFY_COMPLETED,
                on_completed, f, MHD_OPTION_NOTIFY_CONNECTION, on_connection, f,
                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                (unsigned)1, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned)s->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t)HTTP_CONN_MEMORY, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
                MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL, MHD_OPTION_END);
            if (f->mhd == NULL) {
                snprintf(errbuf, errlen,
                         "could not listen on %s:%d with --reuse-port: address in use by a "
                         "process that did not ask to share it (started without --reuse-port, "
                         "or another user's)",
                         bind_addr, ntohs(sa.sin_port));
                return TR_INTERNAL;
            }
            if (i == 0) {
                /* Port 0 picked a free port: the other daemons join that one. */
                const union MHD_DaemonInfo *info =
                    MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
                s->port = info ? info->port : s->cfg.port;
                sa.sin_port = htons((uint16_t)s->port);
            }
        }
        /* Only a one-script strategy sends Redis commands from its loops (script_send, WAIT);
         * the others' loops get no Redis, so they open no connection they would never use. */
        bool loop_redis = strategy_is_one_script(s->strategy);
        const char *loop_addr = !loop_redis      ? ""
                                : s->cluster_map ? s->cluster_seed
                                                 : s->cfg.redis_addr;
        tr_err rc = http_loop_start(f->mhd, loop_addr, loop_redis ? s->cluster_map : NULL,
                                    LOOP_REDIS_TIMEOUT_MS, f, front_tick, &f->loop, errbuf, errlen);
        if (rc != TR_OK) return rc;
        if (!strategy_watch_durable(s->strategy, s->strategy_state, front_wake, f, true)) {
            snprintf(errbuf, errlen, "too many event loops for the persister");
            return TR_INVALID_ARGUMENT;
        }
        f->watching = true;
    }
    return TR_OK;
}

tr_err fronts_start(server *s, const void *sockaddr_in, char *errbuf, size_t errlen) {
    const struct sockaddr_in *sa0 = sockaddr_in;
    const char *bind_addr = s->cfg.bind_addr ? s->cfg.bind_addr : "127.0.0.1";
    if (!s->cfg.reuse_port) {
        tr_err rc = listen_shared(s, sa0, bind_addr, errbuf, errlen);
        if (rc != TR_OK) return rc;
    }
    tr_err rc = start_loops(s, sa0, errbuf, errlen);
    listen_unhold(s); /* the daemons hold it now; none started: closed here */
    return rc;
}

void fronts_quiesce(server *s) {
    for (int i = 0; i < s->nfronts; i++)
        if (s->fronts[i].loop) http_loop_quiesce(s->fronts[i].loop, listen_release, &s->fronts[i]);
}

int fronts_inflight(const server *s) {
    int n = 0;
    for (int i = 0; i < s->nfronts; i++)
        if (s->fronts[i].loop) n += http_loop_inflight(s->fronts[i].loop);
    return n;
}

void fronts_stop(server *s) {
    for (int i = 0; i < s->nfronts; i++)
        if (s->fronts[i].loop) http_loop_stop(s->fronts[i].loop);
    for (int i = 0; i < s->nfronts; i++) {
        front *f = &s->fronts[i];
        if (f->watching)
            strategy_watch_durable(s->strategy, s->strategy_state, front_wake, f, false);
        http_loop_free(f->loop);
        if (f->mhd == NULL) {
            conn_tracker_free(f->tracker);
            continue;
        }
        if (!f->listen_released && s->listen_fd >= 0) {
            /* never quiesced (a failed start): give the shared socket back here, or stopping
             * the daemon would close it under the others */
            MHD_socket fd = MHD_quiesce_daemon(f->mhd);
            if (fd != MHD_INVALID_SOCKET) listen_release(f, fd);
        }
        int held = atomic_load(&f->held);
        if (held == 0) {
            MHD_stop_daemon(f->mhd);
            conn_tracker_free(f->tracker); /* every connection closed: nothing tracked */
        } else {
            /* libmicrohttpd aborts the process when stopped with suspended connections; the
             * process is exiting anyway, so leave this daemon to the operating system. */
            server_log(s, "event loop %d stopped with %d connection%s still suspended", i, held,
                       held == 1 ? "" : "s");
        }
    }
    for (int i = 0; i < s->nfronts; i++) pthread_mutex_destroy(&s->fronts[i].done_mu);
    free(s->fronts);
    free(s->trackers);
    s->fronts = NULL;
    s->trackers = NULL;
    s->nfronts = 0;
}
