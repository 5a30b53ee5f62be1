/* faultproxy.c — the loop behind faultproxy.h.
 *
 * DESIGN. One thread, level-triggered epoll. A proxied connection is a pair of sockets (client,
 * backend) with one queue per direction: bytes read from one side become a chunk due at
 * read time + delay in the queue toward the other side. After every epoll pass the due chunks
 * are written unless a stall is running. A queue past FP_QUEUE_CAP stops reading its source.
 * A pair dies as a whole: EOF or an error on either socket, a failed backend connect, or `cut`
 * close both sockets in the same pass (the graveyard frees them after the pass, since later
 * events of the batch may still name them). */
#include "lab/faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"

enum { FP_LISTEN, FP_CONTROL_LISTEN, FP_CONTROL, FP_END };

typedef struct fp_chunk {
    struct fp_chunk *next;
    int64_t due_us;
    size_t len, off;
    char data[];
} fp_chunk;

typedef struct fp_queue {
    fp_chunk *head, *tail;
    size_t bytes;
} fp_queue;

struct fp_pair;

typedef struct fp_tag { /* what epoll's data.ptr points to */
    int kind;
    struct fp_pair *pair; /* FP_END */
    int side;             /* FP_END: 0 client, 1 backend */
} fp_tag;

typedef struct fp_pair {
    struct fp_pair *next, *prev;
    int fd[2];
    fp_queue q[2];      /* q[i]: bytes to write to fd[i] */
    uint32_t events[2]; /* registered with epoll */
    bool connecting;    /* the backend connect is in progress */
    bool blocked[2];    /* the last write to fd[i] would have blocked */
    bool dead;
    fp_tag tag[2];
} fp_pair;

typedef struct fp_ctl {
    fp_tag tag;
    struct fp_ctl *next;
    int fd;
    size_t len;
    char buf[256];
} fp_ctl;

typedef struct fp {
    const fp_config *cfg;
    int ep, lfd, cfd;
    struct sockaddr_in to;
    fp_pair *pairs, *graveyard;
    fp_ctl *ctls;
    fp_tag ltag, ctag;
    int64_t delay_us, stall_until_us;
    int64_t npairs, cuts, accepted;
} fp;

static void fp_log(fp *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fp_log(fp *P, const char *fmt, ...) {
    if (P->cfg->log == NULL) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    P->cfg->log(P->cfg->arg, line);
}

static void fp_queue_free(fp_queue *q) {
    for (fp_chunk *c = q->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    q->head = q->tail = NULL;
    q->bytes = 0;
}

/* Closes both sockets of p at once (the rule in faultproxy.h) and moves it to the graveyard. */
static void fp_kill(fp *P, fp_pair *p) {
    if (p->dead) return;
    p->dead = true;
    for (int i = 0; i < 2; i++) {
        if (p->fd[i] >= 0) close(p->fd[i]); /* close also leaves the epoll set */
        p->fd[i] = -1;
        fp_queue_free(&p->q[i]);
    }
    if (p->prev) p->prev->next = p->next;
    else P->pairs = p->next;
    if (p->next) p->next->prev = p->prev;
    p->next = P->graveyard;
    P->graveyard = p;
    P->npairs--;
}

static void fp_interest(fp *P, fp_pair *p) {
    for (int i = 0; i < 2 && !p->dead; i++) {
        uint32_t want = 0;
        if (p->q[1 - i].bytes < FP_QUEUE_CAP && !(i == 1 && p->connecting)) want |= EPOLLIN;
        if ((i == 1 && p->connecting) || p->blocked[i]) want |= EPOLLOUT;
        if (want == p->events[i]) continue;
        struct epoll_event ev = {.events = want, .data.ptr = &p->tag[i]};
        if (epoll_ctl(P->ep, EPOLL_CTL_MOD, p->fd[i], &ev) == 0) p->events[i] = want;
        else fp_kill(P, p);
    }
}

static int fp_listen(uint16_t port, uint16_t *bound) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

static void fp_accept(fp *P) {
    for (;;) {
        int cfd = accept4(P->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                fp_log(P, "accept failed: %s", strerror(errno));
            return;
        }
        int bfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        fp_pair *p = bfd >= 0 ? calloc(1, sizeof *p) : NULL;
        int rc = -1;
        if (p) rc = connect(bfd, (struct sockaddr *)&P->to, sizeof P->to);
        if (p == NULL || (rc != 0 && errno != EINPROGRESS)) {
            fp_log(P, "could not connect to the backend: %s", strerror(errno));
            close(cfd);
            if (bfd >= 0) close(bfd);
            free(p);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        p->fd[0] = cfd;
        p->fd[1] = bfd;
        p->connecting = rc != 0;
        for (int i = 0; i < 2; i++) p->tag[i] = (fp_tag){FP_END, p, i};
        p->events[0] = EPOLLIN;
        p->events[1] = p->connecting ? EPOLLOUT : EPOLLIN;
        struct epoll_event e0 = {.events = p->events[0], .data.ptr = &p->tag[0]};
        struct epoll_event e1 = {.events = p->events[1], .data.ptr = &p->tag[1]};
        p->next = P->pairs;
        if (P->pairs) P->pairs->prev = p;
        P->pairs = p;
        P->npairs++;
        P->accepted++;
        if (epoll_ctl(P->ep, EPOLL_CTL_ADD, cfd, &e0) != 0 ||
            epoll_ctl(P->ep, EPOLL_CTL_ADD, bfd, &e1) != 0)
            fp_kill(P, p);
    }
}

static void fp_cut(fp *P) {
    int64_t n = 0;
    while (P->pairs) {
        fp_kill(P, P->pairs);
        n++;
    }
    P->cuts++;
    fp_log(P, "cut: closed %lld proxied connections (both sides)", (long long)n);
}

static void fp_reply(fp_ctl *c, const char *line) {
    size_t len = strlen(line), off = 0;
    while (off < len) { /* a short answer to a local reader: a few tries at most */
        ssize_t k = send(c->fd, line + off, len - off, MSG_NOSIGNAL);
        if (k > 0) off += (size_t)k;
        else if (k < 0 && errno == EINTR) continue;
        else break;
    }
}

static bool fp_ms_arg(const char *s, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 0 || v > max) return false;
    *out = v;
    return true;
}

static void fp_command(fp *P, fp_ctl *c, char *line) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
    char reply[160];
    int64_t ms, now = tr_mono_us();
    if (strncmp(line, "delay ", 6) == 0 && fp_ms_arg(line + 6, FP_MAX_DELAY_MS, &ms)) {
        P->delay_us = ms * 1000;
        snprintf(reply, sizeof reply, "ok delay %lld ms\n", (long long)ms);
    } else if (strncmp(line, "stall ", 6) == 0 && fp_ms_arg(line + 6, FP_MAX_STALL_MS, &ms)) {
        P->stall_until_us = now + ms * 1000;
        snprintf(reply, sizeof reply, "ok stall %lld ms\n", (long long)ms);
    } else if (strcmp(line, "cut") == 0) {
        int64_t before = P->npairs;
        fp_cut(P);
        snprintf(reply, sizeof reply, "ok cut %lld\n", (long long)before);
    } else if (strcmp(line, "pass") == 0) {
        P->delay_us = 0;
        P->stall_until_us = 0;
        snprintf(reply, sizeof reply, "ok pass\n");
    } else if (strcmp(line, "stats") == 0) {
        int64_t left = P->stall_until_us > now ? (P->stall_until_us - now) / 1000 : 0;
        snprintf(reply, sizeof reply,
                 "ok pairs=%lld delay_ms=%lld stall_left_ms=%lld cuts=%lld "
                 "accepted=%lld\n",
                 (long long)P->npairs, (long long)(P->delay_us / 1000), (long long)left,
                 (long long)P->cuts, (long long)P->accepted);
    } else {
        snprintf(reply, sizeof reply,
                 "error: unknown command (delay MS, stall MS, cut, pass, "
                 "stats)\n");
    }
    if (line[0] != '\0' && strcmp(line, "stats") != 0) fp_log(P, "control: %s", line);
    fp_reply(c, reply);
}

static void fp_ctl_close(fp *P, fp_ctl *c) {
    close(c->fd);
    for (fp_ctl **pp = &P->ctls; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c);
}

static void fp_ctl_read(fp *P, fp_ctl *c) {
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (k <= 0) {
        fp_ctl_close(P, c);
        return;
    }
    c->len += (size_t)k;
    c->buf[c->len] = '\0';
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
        *nl = '\0';
        fp_command(P, c, c->buf);
        size_t used = (size_t)(nl - c->buf) + 1;
        memmove(c->buf, nl + 1, c->len - used);
        c->len -= used;
        c->buf[c->len] = '\0';
    }
    if (c->len == sizeof c->buf - 1) fp_ctl_close(P, c); /* a line too long: not ours */
}

static void fp_ctl_accept(fp *P) {
    for (;;) {
        int fd = accept4(P->cfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        fp_ctl *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (c == NULL || epoll_ctl(P->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->tag.kind = FP_CONTROL;
        c->fd = fd;
        c->next = P->ctls;
        P->ctls = c;
    }
}

static void fp_read_side(fp *P, fp_pair *p, int side, int64_t now) {
    char buf[65536];
    int other = 1 - side;
    ssize_t k = recv(p->fd[side], buf, sizeof buf, 0);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (k <= 0) { /* EOF or error on one side: both go */
        fp_kill(P, p);
        return;
    }
    fp_chunk *c = malloc(sizeof *c + (size_t)k);
    if (c == NULL) {
        fp_kill(P, p);
        return;
    }
    c->next = NULL;
    c->due_us = now + P->delay_us;
    c->len = (size_t)k;
    c->off = 0;
    memcpy(c->data, buf, (size_t)k);
    fp_queue *q = &p->q[other];
    if (q->tail) q->tail->next = c;
    else q->head = c;
    q->tail = c;
    q->bytes += (size_t)k;
}

static void fp_on_end(fp *P, fp_pair *p, int side, uint32_t ev, int64_t now) {
    if (p->dead) return;
    if (side == 1 && p->connecting) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
        if (err != 0) {
            fp_log(P, "could not connect to the backend: %s", strerror(err));
            fp_kill(P, p);
            return;
        }
        p->connecting = false;
        return;
    }
    if (ev & EPOLLOUT) p->blocked[side] = false;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) fp_read_side(P, p, side, now);
}

/* Writes the due chunks of p's queues. */
static void fp_flush(fp *P, fp_pair *p, int64_t now) {
    for (int i = 0; i < 2 && !p->dead; i++) {
        if (p->blocked[i] || (i == 1 && p->connecting)) continue;
        fp_queue *q = &p->q[i];
        while (q->head && q->head->due_us <= now) {
            fp_chunk *c = q->head;
            ssize_t k = send(p->fd[i], c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                p->blocked[i] = true;
                break;
            }
            if (k <= 0) {
                fp_kill(P, p);
                return;
            }
            c->off += (size_t)k;
            q->bytes -= (size_t)k;
            if (c->off < c->len) continue;
            q->head = c->next;
            if (q->head == NULL) q->tail = NULL;
            free(c);
        }
    }
}

/* ms until the next thing to do: the earliest due chunk or the end of the stall; ≤ 100. */
static int fp_timeout(const fp *P, int64_t now) {
    int64_t wake = now + 100000;
    if (P->stall_until_us > now) {
        if (P->stall_until_us < wake) wake = P->stall_until_us;
    } else {
        for (const fp_pair *p = P->pairs; p; p = p->next)
            for (int i = 0; i < 2; i++)
                if (p->q[i].head && !p->blocked[i] && p->q[i].head->due_us < wake)
                    wake = p->q[i].head->due_us;
    }
    return wake <= now ? 0 : (int)((wake - now + 999) / 1000);
}

tr_err fp_run(const fp_config *cfg, char *errbuf, size_t errlen) {
    fp P = {.cfg = cfg, .ep = -1, .lfd = -1, .cfd = -1};
    tr_err rc = TR_OK;
    P.to.sin_family = AF_INET;
    P.to.sin_port = htons(cfg->to_port);
    if (cfg->to_host == NULL || inet_pton(AF_INET, cfg->to_host, &P.to.sin_addr) != 1 ||
        cfg->to_port == 0) {
        tr_errf(errbuf, errlen, "invalid backend address \"%s:%u\" (an IPv4 address and a port)",
                cfg->to_host ? cfg->to_host : "", cfg->to_port);
        return TR_INVALID_ARGUMENT;
    }
    uint16_t lport = 0, cport = 0;
    if ((P.lfd = fp_listen(cfg->listen_port, &lport)) < 0) {
        tr_errf(errbuf, errlen, "could not listen on 127.0.0.1:%u: %s", cfg->listen_port,
                strerror(errno));
        rc = TR_UNAVAILABLE;
        goto out;
    }
    if ((P.cfd = fp_listen(cfg->control_port, &cport)) < 0) {
        tr_errf(errbuf, errlen, "could not listen on 127.0.0.1:%u (control): %s", cfg->control_port,
                strerror(errno));
        rc = TR_UNAVAILABLE;
        goto out;
    }
    P.ltag.kind = FP_LISTEN;
    P.ctag.kind = FP_CONTROL_LISTEN;
    struct epoll_event el = {.events = EPOLLIN, .data.ptr = &P.ltag};
    struct epoll_event ec = {.events = EPOLLIN, .data.ptr = &P.ctag};
    if ((P.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(P.ep, EPOLL_CTL_ADD, P.lfd, &el) != 0 ||
        epoll_ctl(P.ep, EPOLL_CTL_ADD, P.cfd, &ec) != 0) {
        tr_errf(errbuf, errlen, "epoll failed: %s", strerror(errno));
        rc = TR_INTERNAL;
        goto out;
    }
    if (cfg->ready) cfg->ready(cfg->arg, lport, cport);

    struct epoll_event evs[256];
    while (cfg->stop == NULL || !*cfg->stop) {
        int n = epoll_wait(P.ep, evs, 256, fp_timeout(&P, tr_mono_us()));
        if (n < 0 && errno != EINTR) {
            tr_errf(errbuf, errlen, "epoll_wait failed: %s", strerror(errno));
            rc = TR_INTERNAL;
            goto out;
        }
        int64_t now = tr_mono_us();
        for (int i = 0; i < n; i++) {
            fp_tag *t = evs[i].data.ptr;
            switch (t->kind) {
            case FP_LISTEN: fp_accept(&P); break;
            case FP_CONTROL_LISTEN: fp_ctl_accept(&P); break;
            case FP_CONTROL: fp_ctl_read(&P, (fp_ctl *)t); break;
            case FP_END: fp_on_end(&P, t->pair, t->side, evs[i].events, now); break;
            }
        }
        now = tr_mono_us();
        if (P.stall_until_us <= now)
            for (fp_pair *p = P.pairs, *next; p; p = next) {
                next = p->next;
                fp_flush(&P, p, now);
            }
        for (fp_pair *p = P.pairs, *next; p; p = next) {
            next = p->next;
            fp_interest(&P, p);
        }
        while (P.graveyard) {
            fp_pair *d = P.graveyard;
            P.graveyard = d->next;
            free(d);
        }
    }
out:
    while (P.pairs) fp_kill(&P, P.pairs);
    while (P.graveyard) {
        fp_pair *d = P.graveyard;
        P.graveyard = d->next;
        free(d);
    }
    while (P.ctls) fp_ctl_close(&P, P.ctls);
    if (P.lfd >= 0) close(P.lfd);
    if (P.cfd >= 0) close(P.cfd);
    if (P.ep >= 0) close(P.ep);
    return rc;
}
