/* loop.c — one thread, one epoll set: a libmicrohttpd daemon and a hiredis async connection
 * (loop.h).
 *
 * DESIGN
 * - A pass: epoll_wait (timeout from MHD_get_timeout, at most 100 ms) → Redis replies read and
 *   their callbacks run (which resume suspended HTTP connections) → the owner's tick (which
 *   resumes what other threads decided and answers held requests) → MHD_run (accepts, reads
 *   requests, runs the access handler, which may queue Redis commands, and writes answers) →
 *   the Redis commands queued in the pass are written at once (one write for many requests).
 * - Redis: hiredis async with our own event hooks (https://github.com/redis/hiredis#asynchronous-api:
 *   addRead/delRead/addWrite/delWrite/cleanup) that keep the socket's epoll interest. On a loss
 *   hiredis hands every pending callback a NULL reply and frees the context; the next command
 *   connects again (at most every 100 ms).
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

enum { TAG_MHD = 1, TAG_REDIS, TAG_WAKE };

struct http_loop {
    struct MHD_Daemon *mhd;
    void *owner;
    http_loop_tick_fn tick;
    char host[256];
    int port;
    int epfd, wakefd;
    pthread_t thread;
    bool started;
    atomic_bool quiesce, stop;
    bool quiesced;
    redisAsyncContext *ac; /* NULL when disconnected */
    int redis_fd;          /* registered in epfd, or -1 */
    bool want_read, want_write;
    int64_t last_connect_ms;
    int reply_timeout_ms;
    atomic_int inflight;
    char run_id[REDIS_RUN_ID_MAX];   /* of the connected Redis, "" until INFO answered */
    struct pending *oldest, *newest; /* commands sent, in order (hiredis answers in order) */
};

typedef struct pending {
    http_loop *loop;
    http_loop_reply_fn fn;
    void *priv;
    int64_t sent_ms;
    struct pending *prev, *next; /* prev: older */
} pending;

/* ---- hiredis event hooks --------------------------------------------------------------------- */

static void redis_interest(http_loop *l) {
    if (l->redis_fd < 0) return;
    struct epoll_event ev = {.events =
                                 (l->want_read ? EPOLLIN : 0u) | (l->want_write ? EPOLLOUT : 0u),
                             .data.u64 = TAG_REDIS};
    epoll_ctl(l->epfd, EPOLL_CTL_MOD, l->redis_fd, &ev);
}

static void ev_add_read(void *p) {
    http_loop *l = p;
    if (!l->want_read) l->want_read = true, redis_interest(l);
}
static void ev_del_read(void *p) {
    http_loop *l = p;
    if (l->want_read) l->want_read = false, redis_interest(l);
}
/* Writes are flushed at the end of each pass (loop_flush), so only a write that could not finish
 * there waits for EPOLLOUT. */
static void ev_add_write(void *p) { ((http_loop *)p)->want_write = true; }
static void ev_del_write(void *p) {
    http_loop *l = p;
    if (l->want_write) l->want_write = false, redis_interest(l);
}
/* hiredis frees the context after this (also when it never connected, without onDisconnect). */
static void ev_cleanup(void *p) {
    http_loop *l = p;
    l->ac = NULL;
    l->run_id[0] = '\0';
    if (l->redis_fd >= 0) epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->redis_fd, NULL);
    l->redis_fd = -1;
    l->want_read = l->want_write = false;
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    (void)status;
    http_loop *l = ac->data;
    if (l->ac == ac) l->ac = NULL, l->run_id[0] = '\0';
}

/* INFO server's answer on a new connection: the run id purchases send along (loop.h). Commands
 * queued before it arrives go out with "" and are refused by the sale scripts (a worker then
 * runs them), never run against a Redis the sale was not synced on. */
static void on_info(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)privdata;
    http_loop *l = ac->data;
    redisReply *r = reply;
    if (l->ac == ac && r && r->type == REDIS_REPLY_STRING) redis_parse_run_id(r->str, l->run_id);
}

static bool redis_connect(http_loop *l) {
    int64_t now = tr_mono_ms();
    if (now - l->last_connect_ms < RECONNECT_MS) return false;
    l->last_connect_ms = now;
    redisAsyncContext *ac = redisAsyncConnect(l->host, l->port);
    if (ac == NULL) return false;
    if (ac->err) {
        redisAsyncFree(ac);
        return false;
    }
    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    struct epoll_event ev = {.events = 0, .data.u64 = TAG_REDIS};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, ac->c.fd, &ev) != 0) {
        ac->ev.cleanup = NULL;
        redisAsyncFree(ac);
        return false;
    }
    l->redis_fd = ac->c.fd;
    l->want_read = l->want_write = false;
    l->ac = ac;
    l->run_id[0] = '\0';
    redisAsyncCommand(ac, on_info, NULL, "INFO server");
    return true;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    pending *p = privdata;
    http_loop *l = p->loop;
    if (p->prev) p->prev->next = p->next;
    else l->oldest = p->next;
    if (p->next) p->next->prev = p->prev;
    else l->newest = p->prev;
    p->fn(reply, p->priv);
    free(p);
    atomic_fetch_sub(&l->inflight, 1);
}

/* A Redis that stops answering (stalled, partitioned) must not hold requests forever: past the
 * timeout the connection is dropped and every pending command answered NULL. */
static void check_reply_timeout(http_loop *l) {
    if (l->ac && l->oldest && tr_mono_ms() - l->oldest->sent_ms > l->reply_timeout_ms)
        redisAsyncFree(l->ac); /* on_reply(NULL) for each pending; ev_cleanup clears l->ac */
}

bool http_loop_redis(http_loop *l, int argc, const char **argv, const size_t *argvlen,
                     http_loop_reply_fn fn, void *priv) {
    if (l->ac == NULL && !redis_connect(l)) return false;
    pending *p = malloc(sizeof *p);
    if (p == NULL) return false;
    *p = (pending){l, fn, priv, tr_mono_ms(), l->newest, NULL};
    if (redisAsyncCommandArgv(l->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return false;
    }
    atomic_fetch_add(&l->inflight, 1);
    if (l->newest) l->newest->next = p;
    else l->oldest = p;
    l->newest = p;
    return true;
}

/* Writes what the pass queued; whatever the socket did not take waits for EPOLLOUT. */
static void loop_flush(http_loop *l) {
    if (l->ac == NULL || !l->want_write) return;
    redisAsyncHandleWrite(l->ac); /* calls delWrite when everything went out */
    if (l->ac && l->want_write) redis_interest(l);
}

/* ---- the thread -------------------------------------------------------------------------------- */

static void *loop_main(void *arg) {
    http_loop *l = arg;
    struct epoll_event evs[16];
    while (!atomic_load(&l->stop)) {
        if (atomic_load(&l->quiesce) && !l->quiesced) {
            MHD_socket fd = MHD_quiesce_daemon(l->mhd);
            if (fd != MHD_INVALID_SOCKET) close(fd);
            l->quiesced = true;
        }
        MHD_UNSIGNED_LONG_LONG mt = 0;
        int timeout = MAX_WAIT_MS;
        if (MHD_get_timeout(l->mhd, &mt) == MHD_YES && mt < (MHD_UNSIGNED_LONG_LONG)timeout)
            timeout = (int)mt;
        int n = epoll_wait(l->epfd, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
        for (int i = 0; i < n; i++) {
            switch (evs[i].data.u64) {
            case TAG_REDIS:
                if (l->ac && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                    redisAsyncHandleRead(l->ac);
                if (l->ac && (evs[i].events & EPOLLOUT)) redisAsyncHandleWrite(l->ac);
                break;
            case TAG_WAKE: {
                uint64_t v;
                if (read(l->wakefd, &v, sizeof v) < 0 && errno != EAGAIN) break;
                break;
            }
            default: break; /* TAG_MHD: MHD_run below */
            }
        }
        check_reply_timeout(l);
        if (l->tick) l->tick(l, l->owner, false);
        MHD_run(l->mhd);
        loop_flush(l);
    }
    /* Stopping: fail what Redis still owes, let the owner answer what it holds, and run passes
     * until those answers are handed to libmicrohttpd (and sent, when the sockets take them). */
    if (l->ac) redisAsyncFree(l->ac); /* pending callbacks get NULL */
    l->ac = NULL;
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

tr_err http_loop_start(struct MHD_Daemon *d, const char *redis_addr, int reply_timeout_ms,
                       void *owner, http_loop_tick_fn tick, http_loop **out, char *errbuf,
                       size_t errlen) {
    *out = NULL;
    http_loop *l = calloc(1, sizeof *l);
    if (l == NULL) return TR_NOMEM;
    l->mhd = d;
    l->owner = owner;
    l->tick = tick;
    l->reply_timeout_ms = reply_timeout_ms > 0 ? reply_timeout_ms : 1;
    l->epfd = l->wakefd = l->redis_fd = -1;
    l->last_connect_ms = -RECONNECT_MS;
    tr_err rc = TR_OK;
    if (redis_addr && redis_addr[0] &&
        (rc = redis_parse_addr(redis_addr, l->host, sizeof l->host, &l->port)) != TR_OK) {
        snprintf(errbuf, errlen, "invalid Redis address \"%s\"", redis_addr);
        goto out;
    }
    if (!(redis_addr && redis_addr[0])) l->last_connect_ms = INT64_MAX / 2; /* never connect */
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
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        snprintf(errbuf, errlen, "could not start an event-loop thread");
        rc = TR_INTERNAL;
        goto out;
    }
    l->started = true;
    *out = l;
    l = NULL;
out:
    http_loop_free(l);
    return rc;
}

const char *http_loop_redis_run_id(const http_loop *l) { return l->run_id; }
int http_loop_inflight(const http_loop *l) { return atomic_load(&l->inflight); }

void http_loop_quiesce(http_loop *l) {
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
    free(l);
}
