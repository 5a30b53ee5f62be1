/* loop.c — one thread, one epoll set: a libmicrohttpd daemon and hiredis async connections — one
 * to a plain Redis, or one per node of a Redis Cluster (loop.h).
 *
 * DESIGN
 * - A pass: epoll_wait (timeout from MHD_get_timeout, at most 100 ms, less when a retry is due)
 *   → Redis replies read and their callbacks run (which resume suspended HTTP connections, or
 *   follow a cluster redirect) → retries that are due, a slot-map refresh when one is wanted →
 *   the owner's tick (which resumes what other threads decided and answers held requests) →
 *   MHD_run (accepts, reads requests, runs the access handler, which may queue Redis commands,
 *   and writes answers) → one WAIT per connection for the callers that asked for one → the Redis
 *   commands queued in the pass are written at once (one write per connection for many requests).
 * - Redis: hiredis async with our own event hooks (https://github.com/redis/hiredis#asynchronous-api:
 *   addRead/delRead/addWrite/delWrite/cleanup) that keep each socket's epoll interest. On a loss
 *   hiredis hands every pending callback a NULL reply and frees the context; the next command for
 *   that node connects again (at most every 100 ms). Each connection reads its server's run id
 *   (INFO server) first; commands carry it in place of REDIS_ARG_RUN_ID.
 * - Redis Cluster (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/,
 *   "Redirection and resharding"): a command goes to the master of its route key's slot in the
 *   loop's map; the loop keeps a copy of the command's arguments to send it again: MOVED → to the
 *   named node at once, and CLUSTER SLOTS is asked again (on a connection already open, without
 *   blocking) to replace the map; ASK → ASKING and the command on the named node, the map
 *   unchanged; TRYAGAIN → the deferred list, sent again by the map after 10, 20, 40 ms on a
 *   later pass (no sleeping); CLUSTERDOWN, a slot without a master, a master that cannot be
 *   reached, more than CLUSTER_MAX_REDIRECTS redirects or CLUSTER_TRYAGAIN_MAX retries →
 *   HTTP_LOOP_NOT_RUN (a redirect means the command did not run). The decision is
 *   cluster_next_step's (store/cluster.h), shared with the blocking connections. A lost or unreachable node also has the map read again: after a
 *   failover it names the promoted replica. A plain Redis never takes this path: no copy, no
 *   slot computed.
 * - Wake-ups from other threads (http_loop_wake: a pool worker handing a request back, the
 *   persister's commit, quiesce, stop) write an eventfd in our epoll set; the pass that follows
 *   runs the owner's tick. Connections are suspended and resumed on this thread only. */
#include "common/clock.h"
#include "http/loop.h"

#include <errno.h>
#include <hiredis/async.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "store/redis.h"

#define RECONNECT_MS 100
#define MAX_WAIT_MS 100
/* The slot map is asked for again at most this often (ms). */
#define REFRESH_MIN_MS 50
/* The most arguments one command takes (the purchase script call has 11). */
#define SEND_MAX_ARGS 32
/* The most nodes one loop connects to: a cluster map's nodes, plus nodes a redirect named. */
#define LOOP_MAX_NODES CLUSTER_MAX_NODES

enum { TAG_MHD = 1, TAG_WAKE = 2, TAG_NODE0 = 16 };

typedef struct pending pending;
typedef struct waiter waiter;

/* One Redis server the loop talks to. */
typedef struct node_conn {
    http_loop *loop;
    int index;
    char host[CLUSTER_HOST_MAX];
    int port;
    redisAsyncContext *ac; /* NULL when disconnected */
    int fd;                /* registered in epfd, or -1 */
    bool want_read, want_write;
    int64_t last_connect_ms;
    bool connected; /* the current connection's TCP connect completed (nothing was written
                       before: a connect that fails loses no command) */
    char run_id[REDIS_RUN_ID_MAX]; /* of the connected server, "" until INFO answered */
    pending *oldest, *newest;      /* commands sent, in order (hiredis answers in order) */
    uint64_t generation;           /* counts connections made: a new one covers no old write */
    waiter *waiters;               /* http_loop_wait_replicas callers of this pass */
    uint64_t wait_generation;      /* … whose replies came on this connection */
    int wait_replicas, wait_timeout_ms;
} node_conn;

struct http_loop {
    struct MHD_Daemon *mhd;
    void *owner;
    http_loop_tick_fn tick;
    int epfd, wakefd;
    pthread_t thread;
    bool started;
    atomic_bool quiesce, stop;
    bool quiesced;
    void (*release)(void *arg, int fd); /* set before quiesce: who closes the listening socket */
    void *release_arg;
    int reply_timeout_ms;
    atomic_int inflight;
    node_conn *nodes; /* LOOP_MAX_NODES; plain Redis: nodes[0] only */
    int nnodes;
    node_conn *replying; /* the node whose reply callback runs now, else NULL */
    /* Redis Cluster only. */
    bool cluster;
    cluster_map *map, *spare;             /* the map routed by; spare: the next one being read */
    char fallback_host[CLUSTER_HOST_MAX]; /* for a node named without an endpoint */
    bool refresh_wanted, refresh_inflight;
    int64_t last_refresh_ms;
    pending *deferred; /* commands waiting for a retry (TRYAGAIN) or to be told NOT_RUN */
};

/* A command in flight on a node, or deferred (cluster). */
struct pending {
    http_loop *loop;
    node_conn *node; /* where it was sent; NULL while deferred */
    http_loop_reply_fn fn;
    void *priv;
    bool counted; /* a caller's command (in inflight), not the loop's own */
    int64_t sent_ms;
    pending *prev, *next; /* in its node's list (prev: older), or the deferred list (next) */
    /* Redis Cluster: what is needed to send it again. */
    int slot;      /* of the route key; -1: any master */
    int redirects; /* MOVED and ASK followed so far */
    int retries;   /* TRYAGAIN retries so far */
    bool asking;   /* last sent after ASKING (an ASK answered by ASK again is not followed) */
    bool not_run;  /* deferred only to report HTTP_LOOP_NOT_RUN on the next pass */
    int64_t due_ms;
    int argc;
    const char *
        *argv; /* owned copy (one block with argvlen and the bytes); REDIS_ARG_RUN_ID kept */
    size_t *argvlen;
};

/* A caller of http_loop_wait_replicas. */
struct waiter {
    http_loop *loop;
    http_loop_reply_fn fn;
    void *priv;
    waiter *next;
};

/* ---- hiredis event hooks --------------------------------------------------------------------- */

static void redis_interest(node_conn *n) {
    if (n->fd < 0) return;
    struct epoll_event ev = {.events =
                                 (n->want_read ? EPOLLIN : 0u) | (n->want_write ? EPOLLOUT : 0u),
                             .data.u64 = TAG_NODE0 + (uint64_t)n->index};
    epoll_ctl(n->loop->epfd, EPOLL_CTL_MOD, n->fd, &ev);
}

static void ev_add_read(void *p) {
    node_conn *n = p;
    if (!n->want_read) n->want_read = true, redis_interest(n);
}
static void ev_del_read(void *p) {
    node_conn *n = p;
    if (n->want_read) n->want_read = false, redis_interest(n);
}
/* Writes are flushed at the end of each pass (loop_flush), so only a write that could not finish
 * there waits for EPOLLOUT. */
static void ev_add_write(void *p) { ((node_conn *)p)->want_write = true; }
static void ev_del_write(void *p) {
    node_conn *n = p;
    if (n->want_write) n->want_write = false, redis_interest(n);
}
/* hiredis frees the context after this (also when it never connected, without onDisconnect).
 * On a cluster a lost node may have failed over: the map is read again. */
static void ev_cleanup(void *p) {
    node_conn *n = p;
    if (n->loop->cluster) n->loop->refresh_wanted = true;
    n->ac = NULL;
    n->run_id[0] = '\0';
    if (n->fd >= 0) epoll_ctl(n->loop->epfd, EPOLL_CTL_DEL, n->fd, NULL);
    n->fd = -1;
    n->want_read = n->want_write = false;
}

static void on_connect(const redisAsyncContext *ac, int status) {
    node_conn *n = ac->data;
    if (n->ac == ac) n->connected = status == REDIS_OK;
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    (void)status;
    node_conn *n = ac->data;
    if (n->ac == ac) n->ac = NULL, n->run_id[0] = '\0';
}

/* INFO server's answer on a new connection: the run id commands send along (loop.h). Commands
 * queued before it arrives go out with "" and are refused by the sale scripts (a worker then
 * runs them), never run against a Redis the sale was not synced on. */
static void on_info(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)privdata;
    node_conn *n = ac->data;
    redisReply *r = reply;
    if (n->ac == ac && r && r->type == REDIS_REPLY_STRING) redis_parse_run_id(r->str, n->run_id);
}

static bool node_connect(node_conn *n) {
    int64_t now = tr_mono_ms();
    if (now - n->last_connect_ms < RECONNECT_MS) return false;
    n->last_connect_ms = now;
    redisAsyncContext *ac = redisAsyncConnect(n->host, n->port);
    if (ac == NULL) return false;
    if (ac->err) {
        redisAsyncFree(ac);
        return false;
    }
    ac->data = n;
    ac->ev.data = n;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    struct epoll_event ev = {.events = 0, .data.u64 = TAG_NODE0 + (uint64_t)n->index};
    if (epoll_ctl(n->loop->epfd, EPOLL_CTL_ADD, ac->c.fd, &ev) != 0) {
        ac->ev.cleanup = NULL;
        redisAsyncFree(ac);
        return false;
    }
    n->fd = ac->c.fd;
    n->want_read = n->want_write = false;
    n->ac = ac;
    n->connected = false;
    n->generation++;
    n->run_id[0] = '\0';
    redisAsyncCommand(ac, on_info, NULL, "INFO server");
    return true;
}

/* The node at host:port, added (not connected) when new; NULL when the table is full. */
static node_conn *node_get(http_loop *l, const char *host, int port) {
    for (int i = 0; i < l->nnodes; i++)
        if (l->nodes[i].port == port && strcmp(l->nodes[i].host, host) == 0) return &l->nodes[i];
    if (l->nnodes >= LOOP_MAX_NODES) return NULL;
    node_conn *n = &l->nodes[l->nnodes];
    memset(n, 0, sizeof *n);
    n->loop = l;
    n->index = l->nnodes++;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->fd = -1;
    n->last_connect_ms = -RECONNECT_MS;
    return n;
}

/* The connection for a node of the map (its endpoint, or the fallback host when it has none). */
static node_conn *node_of(http_loop *l, const cluster_node *cn) {
    return node_get(l, cn->host[0] ? cn->host : l->fallback_host, cn->port);
}

/* ---- commands -------------------------------------------------------------------------------- */

static void pending_unlink(node_conn *n, pending *p) {
    if (p->prev) p->prev->next = p->next;
    else n->oldest = p->next;
    if (p->next) p->next->prev = p->prev;
    else n->newest = p->prev;
    p->prev = p->next = NULL;
    p->node = NULL;
}

/* Hands p its outcome and frees it. */
static void pending_finish(pending *p, redisReply *reply, http_loop_outcome how) {
    http_loop *l = p->loop;
    p->fn(how == HTTP_LOOP_REPLIED ? reply : NULL, how, p->priv);
    if (p->counted) atomic_fetch_sub(&l->inflight, 1);
    free(p->argv);
    free(p);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Sends p on n (connecting first when needed), with the node's run id in place of
 * REDIS_ARG_RUN_ID; asking sends ASKING before it. argv/argvlen: p's own copy (cluster) or the
 * caller's (plain). false when n cannot take it now: nothing was sent. */
static bool pending_send(node_conn *n, pending *p, int argc, const char **argv,
                         const size_t *argvlen, bool asking) {
    if (argc < 1 || argc > SEND_MAX_ARGS) return false;
    if (n->ac == NULL && !node_connect(n)) return false;
    const char *av[SEND_MAX_ARGS];
    size_t avlen[SEND_MAX_ARGS];
    for (int i = 0; i < argc; i++) {
        av[i] = argv[i] == REDIS_ARG_RUN_ID ? n->run_id : argv[i];
        avlen[i] = argv[i] == REDIS_ARG_RUN_ID || argvlen == NULL ? strlen(av[i]) : argvlen[i];
    }
    if (asking && redisAsyncCommand(n->ac, NULL, NULL, "ASKING") != REDIS_OK) return false;
    if (redisAsyncCommandArgv(n->ac, on_reply, p, argc, av, avlen) != REDIS_OK) return false;
    p->node = n;
    p->sent_ms = tr_mono_ms();
    p->prev = n->newest;
    p->next = NULL;
    if (n->newest) n->newest->next = p;
    else n->oldest = p;
    n->newest = p;
    return true;
}

/* Cluster: p waits on the deferred list until due_ms (then sent by the map again), or, with
 * not_run, to be told HTTP_LOOP_NOT_RUN on the next pass (never inside the caller's call). */
static void pending_defer(http_loop *l, pending *p, int64_t due_ms, bool not_run) {
    p->node = NULL;
    p->due_ms = due_ms;
    p->not_run = not_run;
    p->prev = NULL;
    p->next = l->deferred;
    l->deferred = p;
}

/* Cluster: sends p to the master of its slot; false when none serves it or it cannot be
 * reached now. */
static bool pending_route(http_loop *l, pending *p) {
    const cluster_node *m = p->slot >= 0 ? cluster_map_master(l->map, (unsigned)p->slot) : NULL;
    if (p->slot < 0)
        for (int i = 0; i < l->map->nnodes && m == NULL; i++)
            if (l->map->nodes[i].master < 0) m = &l->map->nodes[i];
    node_conn *n = m ? node_of(l, m) : NULL;
    return n != NULL && pending_send(n, p, p->argc, p->argv, p->argvlen, false);
}

/* Cluster: an error reply to p from node n that is a redirect is followed (p sent again or
 * deferred, or told NOT_RUN) and true returned; false for any other reply. What to do is
 * cluster_next_step's decision (store/cluster.h), the same as the blocking connections'. */
static bool follow_redirect(http_loop *l, node_conn *n, pending *p, const redisReply *r) {
    cluster_redirect rd;
    int delay_ms = 0;
    cluster_step step =
        cluster_next_step(r->str, p->redirects, p->retries, p->asking, &rd, &delay_ms);
    if (step == CLUSTER_STEP_DONE) return false;
    /* MOVED: the map is stale; CLUSTERDOWN: a failover may be under way */
    if (rd.kind == CLUSTER_REDIRECT_MOVED || rd.kind == CLUSTER_REDIRECT_CLUSTERDOWN)
        l->refresh_wanted = true;
    if (step == CLUSTER_STEP_RETRY) {
        p->retries++;
        p->asking = false;
        pending_defer(l, p, tr_mono_ms() + delay_ms, false);
        return true;
    }
    node_conn *to = NULL;
    if (step != CLUSTER_STEP_FAIL) {
        p->redirects++;
        p->asking = step == CLUSTER_STEP_ASK;
        to = node_get(l, rd.host[0] ? rd.host : n->host, rd.port);
    }
    if (to == NULL || !pending_send(to, p, p->argc, p->argv, p->argvlen, p->asking)) {
        if (step != CLUSTER_STEP_FAIL) l->refresh_wanted = true; /* the node is unreachable */
        pending_finish(p, NULL, HTTP_LOOP_NOT_RUN); /* it did not run where it was sent */
    }
    return true;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    pending *p = privdata;
    node_conn *n = ac->data;
    http_loop *l = p->loop;
    redisReply *r = reply;
    bool never_sent = r == NULL && !n->connected; /* the connect failed: nothing went out */
    pending_unlink(n, p);
    if (r && l->cluster && p->argv && r->type == REDIS_REPLY_ERROR && follow_redirect(l, n, p, r))
        return;
    if (never_sent && l->cluster) l->refresh_wanted = true; /* a failed node? */
    node_conn *outer = l->replying;
    l->replying = n;
    /* A plain Redis keeps its old answer (unknown outcome) for a failed connect. */
    pending_finish(p, r,
                   r                                     ? HTTP_LOOP_REPLIED
                   : never_sent && l->cluster && p->argv ? HTTP_LOOP_NOT_RUN
                                                         : HTTP_LOOP_LOST);
    l->replying = outer;
}

/* A copy of argv that p owns: one block of pointers, lengths and bytes; REDIS_ARG_RUN_ID stays
 * that pointer. */
static bool pending_copy_args(pending *p, int argc, const char **argv, const size_t *argvlen) {
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        if (argv[i] != REDIS_ARG_RUN_ID) bytes += (argvlen ? argvlen[i] : strlen(argv[i])) + 1;
    size_t head = (size_t)argc * (sizeof(char *) + sizeof(size_t));
    char *block = malloc(head + bytes);
    if (block == NULL) return false;
    p->argv = (const char **)(void *)block;
    p->argvlen = (size_t *)(void *)(block + (size_t)argc * sizeof(char *));
    char *at = block + head;
    for (int i = 0; i < argc; i++) {
        if (argv[i] == REDIS_ARG_RUN_ID) {
            p->argv[i] = REDIS_ARG_RUN_ID;
            p->argvlen[i] = 0;
            continue;
        }
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        memcpy(at, argv[i], len);
        at[len] = '\0';
        p->argv[i] = at;
        p->argvlen[i] = len;
        at += len + 1;
    }
    p->argc = argc;
    return true;
}

bool http_loop_redis(http_loop *l, const char *route_key, int argc, const char **argv,
                     const size_t *argvlen, http_loop_reply_fn fn, void *priv) {
    if (argc < 1 || argc > SEND_MAX_ARGS) return false;
    pending *p = calloc(1, sizeof *p);
    if (p == NULL) return false;
    p->loop = l;
    p->fn = fn;
    p->priv = priv;
    p->counted = true;
    p->slot = -1;
    if (!l->cluster) {
        if (!pending_send(&l->nodes[0], p, argc, argv, argvlen, false)) {
            free(p);
            return false;
        }
        atomic_fetch_add(&l->inflight, 1);
        return true;
    }
    if (!pending_copy_args(p, argc, argv, argvlen)) {
        free(p);
        return false;
    }
    if (route_key) p->slot = (int)cluster_key_slot(route_key, strlen(route_key));
    if (!pending_route(l, p)) {
        /* no master serves its slot in our map (the map may be behind the cluster), or that
         * master cannot be reached now (perhaps failed, its replica about to be promoted) */
        l->refresh_wanted = true;
        pending_defer(l, p, 0, true);
    }
    atomic_fetch_add(&l->inflight, 1);
    return true;
}

/* ---- WAIT: one per connection and pass ------------------------------------------------------- */

bool http_loop_wait_replicas(http_loop *l, int numreplicas, int timeout_ms, http_loop_reply_fn fn,
                             void *priv) {
    node_conn *n = l->replying;
    if (n == NULL || numreplicas < 1) return false;
    waiter *w = malloc(sizeof *w);
    if (w == NULL) return false;
    *w = (waiter){l, fn, priv, n->waiters};
    if (n->waiters == NULL) n->wait_generation = n->generation;
    n->waiters = w;
    if (numreplicas > n->wait_replicas) n->wait_replicas = numreplicas;
    if (timeout_ms > n->wait_timeout_ms) n->wait_timeout_ms = timeout_ms;
    atomic_fetch_add(&l->inflight, 1);
    return true;
}

/* WAIT's outcome to each caller it served. */
static void on_wait(redisReply *reply, http_loop_outcome how, void *priv) {
    waiter *w = priv;
    while (w) {
        waiter *next = w->next;
        http_loop *l = w->loop;
        w->fn(reply, how, w->priv);
        free(w);
        atomic_fetch_sub(&l->inflight, 1);
        w = next;
    }
}

/* End of pass: one WAIT for the callers of each connection. */
static void send_waits(http_loop *l) {
    for (int i = 0; i < l->nnodes; i++) {
        node_conn *n = &l->nodes[i];
        waiter *w = n->waiters;
        if (w == NULL) continue;
        char nr[12], to[12];
        snprintf(nr, sizeof nr, "%d", n->wait_replicas);
        snprintf(to, sizeof to, "%d", n->wait_timeout_ms > 0 ? n->wait_timeout_ms : 0);
        n->waiters = NULL;
        n->wait_replicas = n->wait_timeout_ms = 0;
        const char *argv[] = {"WAIT", nr, to};
        pending *p = calloc(1, sizeof *p);
        bool sent = false;
        if (p) {
            *p = (pending){.loop = l, .fn = on_wait, .priv = w, .slot = -1};
            /* On the very connection the replies came on: a new one would cover none of them. */
            sent = n->ac != NULL && n->generation == n->wait_generation &&
                   pending_send(n, p, 3, argv, NULL, false);
            if (!sent) free(p);
        }
        if (!sent) on_wait(NULL, HTTP_LOOP_LOST, w); /* that connection broke in this pass */
    }
}

/* ---- the slot map (cluster) ------------------------------------------------------------------ */

/* Connects to every master of the map not connected yet. */
static void connect_masters(http_loop *l) {
    for (int i = 0; i < l->map->nnodes; i++) {
        if (l->map->nodes[i].master >= 0) continue;
        node_conn *n = node_of(l, &l->map->nodes[i]);
        if (n && n->ac == NULL) node_connect(n);
    }
}

static void on_slots(redisReply *reply, http_loop_outcome how, void *priv) {
    http_loop *l = priv;
    l->refresh_inflight = false;
    if (how != HTTP_LOOP_REPLIED || cluster_slots_parse(reply, l->spare, NULL, 0) != TR_OK ||
        l->spare->nmasters == 0)
        return; /* refresh_wanted stays: asked again later */
    cluster_map *old = l->map;
    l->map = l->spare;
    l->spare = old;
    l->refresh_wanted = false;
    connect_masters(l);
}

/* Asks a connected master for CLUSTER SLOTS when the map is wanted again (rate-limited). */
static void refresh_map(http_loop *l) {
    int64_t now = tr_mono_ms();
    if (!l->refresh_wanted || l->refresh_inflight || now - l->last_refresh_ms < REFRESH_MIN_MS)
        return;
    l->last_refresh_ms = now;
    node_conn *n = NULL;
    for (int i = 0; i < l->map->nnodes && n == NULL; i++) {
        node_conn *c = l->map->nodes[i].master < 0 ? node_of(l, &l->map->nodes[i]) : NULL;
        if (c && c->ac) n = c;
    }
    for (int i = 0; i < l->nnodes && n == NULL; i++)
        if (l->nodes[i].ac) n = &l->nodes[i];
    if (n == NULL) {
        connect_masters(l); /* nothing open: try again next time */
        return;
    }
    pending *p = calloc(1, sizeof *p);
    if (p == NULL) return;
    *p = (pending){.loop = l, .fn = on_slots, .priv = l, .slot = -1};
    const char *argv[] = {"CLUSTER", "SLOTS"};
    if (pending_send(n, p, 2, argv, NULL, false)) l->refresh_inflight = true;
    else free(p);
}

/* Sends the deferred commands that are due (again by the map), and tells those marked not_run;
 * with final (stopping), every one is told HTTP_LOOP_NOT_RUN. */
static void run_deferred(http_loop *l, bool final) {
    if (l->deferred == NULL) return;
    int64_t now = tr_mono_ms();
    pending *list = l->deferred, *keep = NULL;
    l->deferred = NULL;
    while (list) {
        pending *p = list;
        list = p->next;
        p->next = NULL;
        if (!final && !p->not_run && p->due_ms > now) {
            p->next = keep;
            keep = p;
        } else if (final || p->not_run || !pending_route(l, p)) {
            if (!final && !p->not_run) l->refresh_wanted = true;
            pending_finish(p, NULL, HTTP_LOOP_NOT_RUN);
        }
    }
    /* pending_finish may not defer, pending_route does not: append what stays. */
    while (keep) {
        pending *p = keep;
        keep = p->next;
        p->next = l->deferred;
        l->deferred = p;
    }
}

/* How long until the first deferred command is due (ms, ≥ 0), or max_ms. */
static int deferred_wait_ms(const http_loop *l, int max_ms) {
    if (l->deferred == NULL) return max_ms;
    int64_t now = tr_mono_ms(), wait = max_ms;
    for (const pending *p = l->deferred; p; p = p->next) {
        int64_t d = p->not_run ? 0 : p->due_ms - now;
        if (d < wait) wait = d < 0 ? 0 : d;
    }
    return (int)wait;
}

/* ---- each pass ------------------------------------------------------------------------------- */

/* A Redis that stops answering (stalled, partitioned) must not hold requests forever: past the
 * timeout the connection is dropped and every pending command answered HTTP_LOOP_LOST. */
static void check_reply_timeout(http_loop *l) {
    int64_t now = tr_mono_ms();
    for (int i = 0; i < l->nnodes; i++) {
        node_conn *n = &l->nodes[i];
        if (n->ac && n->oldest && now - n->oldest->sent_ms > l->reply_timeout_ms)
            redisAsyncFree(n->ac); /* on_reply(NULL) for each pending; ev_cleanup clears n->ac */
    }
}

/* Writes what the pass queued; whatever a socket did not take waits for EPOLLOUT. */
static void loop_flush(http_loop *l) {
    send_waits(l);
    for (int i = 0; i < l->nnodes; i++) {
        node_conn *n = &l->nodes[i];
        if (n->ac == NULL || !n->want_write) continue;
        redisAsyncHandleWrite(n->ac); /* calls delWrite when everything went out */
        if (n->ac && n->want_write) redis_interest(n);
    }
}

/* ---- the thread -------------------------------------------------------------------------------- */

static void *loop_main(void *arg) {
    http_loop *l = arg;
    struct epoll_event evs[16];
    /* Connect before the first request: a command queued before INFO's answer goes out with ""
     * as its run id, and the sale script refuses it (a worker then runs it, the slow way). A
     * loop without Redis has last_connect_ms far ahead: node_connect does nothing. */
    if (l->cluster) connect_masters(l);
    else if (l->nnodes > 0) node_connect(&l->nodes[0]);
    while (!atomic_load(&l->stop)) {
        if (atomic_load(&l->quiesce) && !l->quiesced) {
            MHD_socket fd = MHD_quiesce_daemon(l->mhd);
            if (fd != MHD_INVALID_SOCKET && l->release) l->release(l->release_arg, fd);
            else if (fd != MHD_INVALID_SOCKET) close(fd);
            l->quiesced = true;
        }
        MHD_UNSIGNED_LONG_LONG mt = 0;
        int timeout = deferred_wait_ms(l, MAX_WAIT_MS);
        if (MHD_get_timeout(l->mhd, &mt) == MHD_YES && mt < (MHD_UNSIGNED_LONG_LONG)timeout)
            timeout = (int)mt;
        int n = epoll_wait(l->epfd, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag >= TAG_NODE0 && tag < TAG_NODE0 + (uint64_t)l->nnodes) {
                node_conn *c = &l->nodes[tag - TAG_NODE0];
                if (c->ac && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                    redisAsyncHandleRead(c->ac);
                if (c->ac && (evs[i].events & EPOLLOUT)) redisAsyncHandleWrite(c->ac);
            } else if (tag == TAG_WAKE) {
                uint64_t v;
                if (read(l->wakefd, &v, sizeof v) < 0 && errno != EAGAIN) continue;
            } /* TAG_MHD: MHD_run below */
        }
        check_reply_timeout(l);
        if (l->cluster) {
            run_deferred(l, false);
            refresh_map(l);
        }
        if (l->tick) l->tick(l, l->owner, false);
        MHD_run(l->mhd);
        loop_flush(l);
    }
    /* Stopping: fail what Redis still owes, let the owner answer what it holds, and run passes
     * until those answers are handed to libmicrohttpd (and sent, when the sockets take them). */
    for (int i = 0; i < l->nnodes; i++)
        if (l->nodes[i].ac) redisAsyncFree(l->nodes[i].ac); /* pending callbacks get NULL */
    run_deferred(l, true);
    int held = l->tick ? l->tick(l, l->owner, true) : 0;
    for (int64_t end = tr_mono_ms() + 250; tr_mono_ms() < end;) {
        MHD_run(l->mhd);
        held = l->tick ? l->tick(l, l->owner, true) : 0;
        if (held == 0) {
            MHD_run(l->mhd);
            break;
        }
        epoll_wait(l->epfd, evs, (int)(sizeof evs / sizeof evs[0]), 1);
    }
    return NULL;
}

void http_loop_wake(http_loop *l) {
    uint64_t one = 1;
    if (write(l->wakefd, &one, sizeof one) < 0) { /* the counter is full: already awake */
    }
}

tr_err http_loop_start(struct MHD_Daemon *d, const char *redis_addr, const cluster_map *map,
                       int reply_timeout_ms, void *owner, http_loop_tick_fn tick, http_loop **out,
                       char *errbuf, size_t errlen) {
    *out = NULL;
    http_loop *l = calloc(1, sizeof *l);
    if (l == NULL) return TR_NOMEM;
    l->mhd = d;
    l->owner = owner;
    l->tick = tick;
    l->reply_timeout_ms = reply_timeout_ms > 0 ? reply_timeout_ms : 1;
    l->epfd = l->wakefd = -1;
    tr_err rc = TR_OK;
    if ((l->nodes = calloc(LOOP_MAX_NODES, sizeof *l->nodes)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    if (map) {
        cluster_addr seeds[CLUSTER_MAX_SEEDS];
        int nseeds = 0;
        l->cluster = true;
        if ((l->map = malloc(sizeof *l->map)) == NULL ||
            (l->spare = malloc(sizeof *l->spare)) == NULL) {
            rc = TR_NOMEM;
            goto out;
        }
        *l->map = *map;
        snprintf(l->fallback_host, sizeof l->fallback_host, "127.0.0.1");
        if (redis_addr && redis_addr[0] &&
            cluster_seeds_parse(redis_addr, seeds, CLUSTER_MAX_SEEDS, &nseeds, NULL, 0) == TR_OK)
            snprintf(l->fallback_host, sizeof l->fallback_host, "%s", seeds[0].host);
    } else {
        char host[CLUSTER_HOST_MAX] = "";
        int port = 0;
        if (redis_addr && redis_addr[0] &&
            (rc = redis_parse_addr(redis_addr, host, sizeof host, &port)) != TR_OK) {
            snprintf(errbuf, errlen, "invalid Redis address \"%s\"", redis_addr);
            goto out;
        }
        node_conn *n = node_get(l, host, port);
        if (!(redis_addr && redis_addr[0])) n->last_connect_ms = INT64_MAX / 2; /* never connect */
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event mev = {.events = EPOLLIN, .data.u64 = TAG_MHD};
    struct epoll_event wev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (info == NULL || l->epfd < 0 || l->wakefd < 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, info->epoll_fd, &mev) != 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &wev) != 0) {
        snprintf(errbuf, errlen, "could not set up the event loop: %s", strerror(errno));
        rc = TR_INTERNAL;
        goto out;
    }
    /* *out before the thread: its first pass may run the owner's access handler (the daemon
     * listens already), which sends through *out (UBSan saw a NULL loop there once). */
    *out = l;
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        *out = NULL;
        snprintf(errbuf, errlen, "could not start an event-loop thread");
        rc = TR_INTERNAL;
        goto out;
    }
    pthread_setname_np(l->thread, "tr-loop"); /* for top -H, perf sched; best effort */
    l->started = true;
    l = NULL;
out:
    http_loop_free(l);
    return rc;
}

bool http_loop_is_cluster(const http_loop *l) { return l->cluster; }
int http_loop_inflight(const http_loop *l) { return atomic_load(&l->inflight); }

void http_loop_quiesce(http_loop *l, void (*release)(void *arg, int fd), void *arg) {
    l->release = release; /* read by the loop only after it sees quiesce (seq_cst store below) */
    l->release_arg = arg;
    atomic_store(&l->quiesce, true);
    http_loop_wake(l);
}

void http_loop_stop(http_loop *l) {
    atomic_store(&l->stop, true);
    http_loop_wake(l);
}

void http_loop_free(http_loop *l) {
    if (l == NULL) return;
    if (l->started) {
        http_loop_stop(l);
        pthread_join(l->thread, NULL);
    }
    if (l->epfd >= 0) close(l->epfd);
    if (l->wakefd >= 0) close(l->wakefd);
    free(l->nodes);
    free(l->map);
    free(l->spare);
    free(l);
}
