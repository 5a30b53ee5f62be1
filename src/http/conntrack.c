/* conntrack.c — request-receiving time bounds behind conntrack.h.
 *
 * DESIGN
 * - Each tracked connection sits in at most one phase list (HEAD or BODY), appended when its
 *   phase starts; the bound of a list is one constant, so each list is ordered by deadline and a
 *   tick looks only at its expired heads: the cost does not grow with idle connections.
 * - Bytes and hang-ups: every connection's socket is also in the tracker's own epoll set
 *   (edge-triggered EPOLLIN | EPOLLRDHUP, beside libmicrohttpd's set; an event there consumes
 *   nothing). An EPOLLIN on an IDLE connection whose socket holds unread bytes (FIONREAD) starts
 *   its HEAD clock: such bytes are the next request's, since libmicrohttpd has not read them
 *   yet (the tick runs before MHD_run in a pass). An event for bytes libmicrohttpd already
 *   consumed finds the socket empty and is ignored.
 * - A hang-up (EPOLLRDHUP: the peer closed or half-closed) is acted on HANGUP_GRACE_MS later,
 *   once libmicrohttpd has read what came before it: a connection then still in HEAD, BODY or
 *   IDLE cannot complete another request, so it is shut down. (libmicrohttpd 0.9.75 with edge-
 *   triggered epoll can miss an end of stream that arrives with the last bytes, and would keep
 *   such a connection until its idle timeout.) A BUSY one is looked at again when its answer
 *   has been sent: a half-closed client still gets its answer. */
#include "common/clock.h"
#include "http/conntrack.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HANGUP_GRACE_MS 200

enum phase { PH_HEAD, PH_BODY, PH_BUSY, PH_IDLE };

typedef struct tracked tracked;

typedef struct plist {
    tracked *head, *tail;
} plist;

struct tracked {
    conn_tracker *t;
    int fd;
    enum phase phase;
    int64_t since_ms;   /* when the phase started */
    bool in_phase_list; /* in t->lists[phase] (HEAD or BODY) */
    bool hung_up;       /* the peer closed or half-closed its side */
    bool in_hangups;
    bool cut; /* shut down by us; libmicrohttpd closes it */
    int64_t hangup_ms;
    tracked *prev, *next;   /* phase list */
    tracked *hprev, *hnext; /* hang-up list */
};

struct conn_tracker {
    int epfd;
    int header_ms, body_ms;
    plist lists[2]; /* PH_HEAD, PH_BODY */
    plist hangups;  /* by hangup_ms */
    int64_t now_ms; /* the last tick's clock, for the callbacks between ticks */
    atomic_ullong header_cut, body_cut, hangup_cut;
};

/* ---- lists ----------------------------------------------------------------------------------- */

static void phase_unlink(tracked *r) {
    if (!r->in_phase_list) return;
    plist *l = &r->t->lists[r->phase];
    if (r->prev) r->prev->next = r->next;
    else l->head = r->next;
    if (r->next) r->next->prev = r->prev;
    else l->tail = r->prev;
    r->prev = r->next = NULL;
    r->in_phase_list = false;
}

static void hangup_unlink(tracked *r) {
    if (!r->in_hangups) return;
    plist *l = &r->t->hangups;
    if (r->hprev) r->hprev->hnext = r->hnext;
    else l->head = r->hnext;
    if (r->hnext) r->hnext->hprev = r->hprev;
    else l->tail = r->hprev;
    r->hprev = r->hnext = NULL;
    r->in_hangups = false;
}

static void hangup_push(tracked *r, int64_t at_ms) {
    if (r->in_hangups || r->cut) return;
    plist *l = &r->t->hangups;
    r->hangup_ms = at_ms;
    r->hprev = l->tail;
    r->hnext = NULL;
    if (l->tail) l->tail->hnext = r;
    else l->head = r;
    l->tail = r;
    r->in_hangups = true;
}

static void set_phase(tracked *r, enum phase p, int64_t now_ms) {
    phase_unlink(r);
    r->phase = p;
    r->since_ms = now_ms;
    if (r->cut || (p != PH_HEAD && p != PH_BODY)) return;
    plist *l = &r->t->lists[p];
    r->prev = l->tail;
    r->next = NULL;
    if (l->tail) l->tail->next = r;
    else l->head = r;
    l->tail = r;
    r->in_phase_list = true;
}

/* Ends the connection: libmicrohttpd sees the end of the stream on its next read and closes it
 * (it still owns the descriptor). */
static void cut(tracked *r, atomic_ullong *counter) {
    phase_unlink(r);
    hangup_unlink(r);
    r->cut = true;
    shutdown(r->fd, SHUT_RDWR);
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static tracked *of_conn(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- API --------------------------------------------------------------------------------------- */

tr_err conn_tracker_new(int header_ms, int body_ms, conn_tracker **out) {
    *out = NULL;
    conn_tracker *t = calloc(1, sizeof *t);
    if (t == NULL) return TR_NOMEM;
    t->header_ms = header_ms > 0 ? header_ms : 1;
    t->body_ms = body_ms > 0 ? body_ms : 1;
    t->now_ms = tr_mono_ms();
    if ((t->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        free(t);
        return TR_INTERNAL;
    }
    *out = t;
    return TR_OK;
}

void conn_tracker_free(conn_tracker *t) {
    if (t == NULL) return;
    close(t->epfd);
    free(t);
}

void conn_tracker_notify(conn_tracker *t, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe) {
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        tracked *r = ci ? calloc(1, sizeof *r) : NULL;
        if (r == NULL) return; /* untracked: only libmicrohttpd's idle timeout applies */
        r->t = t;
        r->fd = ci->connect_fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = r};
        if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, r->fd, &ev) != 0) {
            free(r);
            return;
        }
        set_phase(r, PH_HEAD, t->now_ms);
        *socket_context = r;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        tracked *r = *socket_context;
        if (r == NULL) return;
        epoll_ctl(t->epfd, EPOLL_CTL_DEL, r->fd, NULL); /* still open: closed after this call */
        phase_unlink(r);
        hangup_unlink(r);
        free(r);
        *socket_context = NULL;
    }
}

void conn_track_headers_in(struct MHD_Connection *conn) {
    tracked *r = of_conn(conn);
    if (r && !r->cut) set_phase(r, PH_BODY, r->t->now_ms);
}

void conn_track_request_in(struct MHD_Connection *conn) {
    tracked *r = of_conn(conn);
    if (r && !r->cut && r->phase == PH_BODY) set_phase(r, PH_BUSY, r->t->now_ms);
}

void conn_track_completed(struct MHD_Connection *conn) {
    tracked *r = of_conn(conn);
    if (r == NULL || r->cut) return;
    set_phase(r, PH_IDLE, r->t->now_ms);
    /* A client that hung up while being answered gets nothing more: close once the grace ends
     * (a request it pipelined before hanging up is BUSY or done by then). */
    if (r->hung_up) hangup_push(r, r->t->now_ms);
}

int conn_tracker_tick(conn_tracker *t, int64_t now_ms) {
    t->now_ms = now_ms;
    int n = 0;
    struct epoll_event evs[256];
    int got;
    do {
        got = epoll_wait(t->epfd, evs, (int)(sizeof evs / sizeof evs[0]), 0);
        for (int i = 0; i < got; i++) {
            tracked *r = evs[i].data.ptr;
            if (r->cut) continue;
            if ((evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !r->hung_up) {
                r->hung_up = true;
                hangup_push(r, now_ms);
            }
            int unread = 0;
            if (r->phase == PH_IDLE && (evs[i].events & EPOLLIN) &&
                ioctl(r->fd, FIONREAD, &unread) == 0 && unread > 0)
                set_phase(r, PH_HEAD, now_ms);
        }
    } while (got == (int)(sizeof evs / sizeof evs[0]));

    tracked *r;
    while ((r = t->lists[PH_HEAD].head) != NULL && now_ms - r->since_ms >= t->header_ms) {
        cut(r, &t->header_cut);
        n++;
    }
    while ((r = t->lists[PH_BODY].head) != NULL && now_ms - r->since_ms >= t->body_ms) {
        cut(r, &t->body_cut);
        n++;
    }
    while ((r = t->hangups.head) != NULL && now_ms - r->hangup_ms >= HANGUP_GRACE_MS) {
        hangup_unlink(r);
        if (r->phase == PH_BUSY) continue; /* looked at again when its answer is sent */
        cut(r, &t->hangup_cut);
        n++;
    }
    return n;
}

void conn_tracker_stats_get(const conn_tracker *t, conn_tracker_stats *out) {
    conn_tracker *m = (conn_tracker *)t;
    out->header_cut = atomic_load_explicit(&m->header_cut, memory_order_relaxed);
    out->body_cut = atomic_load_explicit(&m->body_cut, memory_order_relaxed);
    out->hangup_cut = atomic_load_explicit(&m->hangup_cut, memory_order_relaxed);
}
