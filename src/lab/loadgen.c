/* loadgen.c — the epoll loop behind loadgen.h.
 *
 * DESIGN. One thread, level-triggered epoll, one lg_conn per virtual user. A connection is
 * CONNECTING, SENDING (request bytes left to write), WAITING (for the answer) or IDLE (no request
 * left). EPOLLIN stays registered; EPOLLOUT only while connecting or after a partial write, so a
 * request costs one send() and usually one recv(). Times are conservative for R6: a send time is
 * taken before the first byte is written and a completion time after the last byte is read, so
 * "A completed before B was sent" in the records implies it in real time.
 * Requests leave in index order: lg_next() hands the next index to the connection that just
 * became free, and loops (never recurses) when a connection fails, each failure consuming the
 * request it carried, so a dead server ends the run quickly instead of spinning.
 * Open loop (a rate): every record carries its scheduled time t_i. A connection that becomes
 * free takes the next request only if it is due, else goes on the idle list; after every epoll
 * round lg_dispatch() sends each due request on an idle connection, or on a new one while fewer
 * than max_connections are in use; when none can be had the request waits for the next free
 * connection and is counted late once sent. The loop sleeps until the next t_i with µs
 * resolution (epoll_pwait2), so a request is not sent a millisecond late for want of a timer. */
#include "lab/loadgen.h"

#include "lab/jscan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define LG_NO_REQ SIZE_MAX
#define LG_EVENTS 512

/* --- URL ---------------------------------------------------------------------------- */

tr_err lg_url_parse(const char *url, lg_url *out, char *errbuf, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (url == NULL || strncmp(url, "http://", 7) != 0) {
        tr_errf(errbuf, errlen, "invalid URL \"%s\": it must start with http://", url ? url : "");
        return TR_INVALID_ARGUMENT;
    }
    const char *p = url + 7;
    const char *host = p, *host_end;
    bool v6 = false;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL) goto bad_url;
        p = host_end + 1;
        v6 = true;
    } else {
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen > 45) goto bad_url;
    char hostbuf[46];
    memcpy(hostbuf, host, hlen);
    hostbuf[hlen] = '\0';

    long port = 80;
    const char *port_start = NULL;
    if (*p == ':') {
        port_start = ++p;
        port = 0;
        while (*p >= '0' && *p <= '9') {
            port = port * 10 + (*p - '0');
            if (port > 65535) goto bad_url;
            p++;
        }
        if (p == port_start || port < 1) goto bad_url;
    }
    if (!(*p == '\0' || (p[0] == '/' && p[1] == '\0'))) {
        tr_errf(errbuf, errlen, "invalid URL \"%s\": give only http://host:port, without a path",
                url);
        return TR_INVALID_ARGUMENT;
    }

    if (!v6) {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (strcasecmp(hostbuf, "localhost") == 0) {
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (inet_pton(AF_INET, hostbuf, &a->sin_addr) != 1) {
            goto not_loopback;
        }
        if ((ntohl(a->sin_addr.s_addr) >> 24) != 127) goto not_loopback;
        out->addrlen = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, hostbuf, &a->sin6_addr) != 1 ||
            !IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            goto not_loopback;
        out->addrlen = sizeof *a;
    }
    snprintf(out->host, sizeof out->host, "%s%s%s:%ld", v6 ? "[" : "", hostbuf, v6 ? "]" : "",
             port);
    return TR_OK;

bad_url:
    tr_errf(errbuf, errlen, "invalid URL \"%s\": expected http://host:port", url);
    return TR_INVALID_ARGUMENT;
not_loopback:
    tr_errf(errbuf, errlen,
            "host \"%s\" of URL \"%s\" is not a loopback address; the lab only loads a local "
            "server (127.0.0.0/8, localhost, [::1])",
            hostbuf, url);
    return TR_INVALID_ARGUMENT;
}

/* --- Response parsing ------------------------------------------------------------------ */

static bool lg_name_is(const char *name, size_t n, const char *want) {
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static bool lg_ci_contains(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(s + i, needle, k) == 0) return true;
    return false;
}

lg_parse_rc lg_parse_head(const char *buf, size_t len, lg_head *out) {
    memset(out, 0, sizeof *out);
    out->content_length = -1;
    out->retry_after_s = -1;
    static const char proto[] = "HTTP/1.";
    size_t cmp = len < 7 ? len : 7;
    if (memcmp(buf, proto, cmp) != 0) return LG_PARSE_BAD;
    const char *blank = memmem(buf, len, "\r\n\r\n", 4);
    if (blank == NULL) return len >= LG_RESPONSE_MAX ? LG_PARSE_BAD : LG_PARSE_MORE;
    size_t head_len = (size_t)(blank - buf) + 4;
    /* "HTTP/1.x SSS" then " reason" or the line end */
    if (head_len < 16 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ') return LG_PARSE_BAD;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return LG_PARSE_BAD;
        status = status * 10 + (buf[i] - '0');
    }
    if (status < 100 || (buf[12] != ' ' && buf[12] != '\r')) return LG_PARSE_BAD;
    out->status = status;
    out->head_len = head_len;
    out->close = buf[7] == '0';

    const char *end = buf + head_len - 2; /* the final CRLF */
    const char *p = memmem(buf, head_len, "\r\n", 2) + 2;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p) return LG_PARSE_BAD;
        size_t nlen = (size_t)(colon - p);
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        size_t vlen = (size_t)(ve - v);
        if (lg_name_is(p, nlen, "content-length")) {
            if (vlen == 0 || vlen > 9) return LG_PARSE_BAD;
            int64_t cl = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') return LG_PARSE_BAD;
                cl = cl * 10 + (v[i] - '0');
            }
            if (out->content_length >= 0 && out->content_length != cl) return LG_PARSE_BAD;
            out->content_length = cl;
        } else if (lg_name_is(p, nlen, "retry-after")) {
            int secs = 0; /* delay-seconds only; an HTTP date is "absent" */
            for (size_t i = 0; i < vlen && secs >= 0; i++)
                secs = v[i] >= '0' && v[i] <= '9' && secs <= 86400 ? secs * 10 + (v[i] - '0') : -1;
            out->retry_after_s = vlen > 0 && secs >= 0 && secs <= 86400 ? secs : -1;
        } else if (lg_name_is(p, nlen, "transfer-encoding")) {
            out->chunked = true; /* any transfer coding: we decode none */
        } else if (lg_name_is(p, nlen, "connection")) {
            if (lg_ci_contains(v, vlen, "close")) out->close = true;
            else if (lg_ci_contains(v, vlen, "keep-alive")) out->close = false;
        }
        p = eol + 2;
    }
    return LG_PARSE_OK;
}

/* The "seatNo" of the JSON object v[0..vlen), 0 when absent or not an int32. */
static int32_t lg_object_seat(const char *v, size_t vlen) {
    jscan s;
    if (!jscan_begin(&s, v, vlen)) return 0;
    const char *k, *x;
    size_t klen, xlen;
    int64_t seat;
    while (jscan_member(&s, &k, &klen, &x, &xlen) == 1)
        if (jscan_key_is(k, klen, "seatNo") && jscan_int64(x, xlen, &seat) && seat >= INT32_MIN &&
            seat <= INT32_MAX)
            return (int32_t)seat;
    return 0;
}

bool lg_scan_body(const char *body, size_t len, const char **code, size_t *code_len,
                  int32_t *seat_no, int32_t *owned_seat_no) {
    *code = NULL;
    *code_len = 0;
    *seat_no = 0;
    *owned_seat_no = 0;
    jscan s;
    if (!jscan_begin(&s, body, len)) return false;
    const char *k, *v;
    size_t klen, vlen;
    int rc;
    while ((rc = jscan_member(&s, &k, &klen, &v, &vlen)) == 1) {
        int64_t seat;
        if (jscan_key_is(k, klen, "error") && vlen >= 2 && v[0] == '"') {
            *code = v + 1;
            *code_len = vlen - 2;
        } else if (jscan_key_is(k, klen, "seatNo") && jscan_int64(v, vlen, &seat) &&
                   seat >= INT32_MIN && seat <= INT32_MAX) {
            *seat_no = (int32_t)seat;
        } else if (jscan_key_is(k, klen, "ticket") && vlen >= 2 && v[0] == '{') {
            *owned_seat_no = lg_object_seat(v, vlen);
        }
    }
    return rc == 0;
}

/* --- The loop ----------------------------------------------------------------------- */

typedef enum { LG_CLOSED, LG_CONNECTING, LG_SENDING, LG_WAITING, LG_IDLE } lg_state;

typedef struct lg_conn {
    int fd;
    lg_state state;
    bool want_out;       /* EPOLLOUT is registered */
    bool head_done;      /* head parsed into head */
    bool backoff;        /* req waits until retry_at_us to be sent again (no I/O meanwhile) */
    bool listed;         /* open loop: on lg_loop.idle (it may have taken a request since) */
    bool fresh;          /* open loop: opened after t = 0 because the others were busy (its
                            first connect is not a reconnect) */
    size_t req;          /* the request on this connection, LG_NO_REQ when none */
    int64_t retry_at_us; /* t = 0 based, while backoff */
    int64_t connect_us;  /* when the current connect began (t = 0 based) */
    int url;             /* index into lg_loop.urls */
    size_t woff, wlen;
    size_t rlen;
    char *rbuf; /* LG_RESPONSE_MAX bytes, a slice of lg_loop.rbufs */
    lg_head head;
    char wbuf[512];
} lg_conn;

typedef struct lg_loop {
    const lg_config *cfg;
    lg_url urls[LG_MAX_URLS];
    int nurls;
    int ep;
    lg_conn *conns;
    int nconns;   /* in use: conns[0..nconns) */
    bool open;    /* open loop (cfg->rate > 0) */
    int maxconns; /* open loop: the bound on nconns (the closed loop: nconns) */
    int *idle;    /* open loop: free connections, a FIFO ring of maxconns indices (may hold
                     stale ones), so requests rotate over the connections and their URLs */
    int idle_head, nidle;
    size_t waiting;  /* open loop: the request last counted in conn_waits */
    int64_t late_us; /* open loop: cfg->late_us or its default */
    char *rbufs;
    lab_record *recs;
    size_t n, next, done;
    int nbackoff; /* connections in backoff */
    lab_codes *codes;
    int64_t t0;           /* CLOCK_MONOTONIC µs at t = 0 */
    int64_t last_done_us; /* latest completion or failure, t = 0 based */
    lg_result *res;
    size_t livez_len[LG_MAX_URLS];
    char livez[LG_MAX_URLS][160];
} lg_loop;

static int64_t lg_now(const lg_loop *L) { return tr_mono_us() - L->t0; }

static void lg_set_out(lg_loop *L, lg_conn *c, bool on) {
    if (c->want_out == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)(c - L->conns)};
    if (epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = on;
}

static void lg_close(lg_conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = LG_CLOSED;
    c->want_out = false;
    c->head_done = false;
    c->rlen = 0;
}

/* Opens c's socket and starts connecting. 0 connected, 1 in progress, -errno on failure. */
static int lg_open(lg_loop *L, lg_conn *c) {
    const lg_url *u = &L->urls[c->url];
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (const struct sockaddr *)&u->addr, u->addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct epoll_event ev = {.events = EPOLLIN | (rc != 0 ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)(c - L->conns)};
    if (epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    c->fd = fd;
    c->want_out = rc != 0;
    c->rlen = 0;
    c->head_done = false;
    c->state = rc != 0 ? LG_CONNECTING : LG_IDLE;
    return rc != 0 ? 1 : 0;
}

static void lg_finish(lg_loop *L, lg_conn *c) {
    c->req = LG_NO_REQ;
    L->done++;
}

/* Records c's request as failed with a lab code (status 0) at the time of the failure. With
 * retry_connection_errors, a purchase whose connection failed waits in backoff instead (c keeps
 * it; callers check c->backoff before giving c the next request). */
static void lg_fail(lg_loop *L, lg_conn *c, uint16_t code) {
    lab_record *r = &L->recs[c->req];
    int64_t now = lg_now(L);
    r->status = 0;
    r->code = code;
    r->seat_no = 0;
    r->done_us = now;
    if (now > L->last_done_us) L->last_done_us = now;
    if (code == LAB_CODE_CONNECTION_ERROR && L->cfg->retry_connection_errors &&
        L->cfg->target == LG_TARGET_PURCHASE && r->retries < LG_MAX_RETRIES) {
        r->retries++;
        L->res->retries++;
        c->backoff = true;
        c->retry_at_us = now + LG_RECONNECT_RETRY_US;
        L->nbackoff++;
        return;
    }
    if (code == LAB_CODE_CONNECTION_ERROR) L->res->connection_errors++;
    if (code == LAB_CODE_BAD_RESPONSE) L->res->bad_responses++;
    lg_finish(L, c);
}

/* Writes what is left of c's request. false when the connection failed (recorded, closed). */
static bool lg_flush(lg_loop *L, lg_conn *c) {
    while (c->woff < c->wlen) {
        ssize_t k = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (k > 0) {
            c->woff += (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            lg_set_out(L, c, true);
            return true;
        } else {
            lg_fail(L, c, LAB_CODE_CONNECTION_ERROR);
            lg_close(c);
            return false;
        }
    }
    c->state = LG_WAITING;
    lg_set_out(L, c, false);
    return true;
}

/* Builds and starts writing c's request on its connected socket. false as lg_flush. */
static bool lg_send_request(lg_loop *L, lg_conn *c) {
    lab_record *r = &L->recs[c->req];
    if (L->cfg->target == LG_TARGET_LIVEZ) {
        memcpy(c->wbuf, L->livez[c->url], L->livez_len[c->url]);
        c->wlen = L->livez_len[c->url];
    } else {
        char body[96];
        int blen =
            snprintf(body, sizeof body, "{\"customerId\":%" PRId64 ",\"concertId\":%" PRId64 "}",
                     r->customer_id, lab_record_concert(r, L->cfg->concert_id));
        int wlen = snprintf(c->wbuf, sizeof c->wbuf,
                            "POST /concert/purchase/ticket HTTP/1.1\r\nHost: %s\r\n"
                            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                            L->urls[c->url].host, blen, body);
        c->wlen = (size_t)wlen; /* < sizeof wbuf: host ≤ 63 bytes, body ≤ 95 */
    }
    c->woff = 0;
    c->rlen = 0;
    c->head_done = false;
    c->state = LG_SENDING;
    if (r->send_us < 0) { /* a retry keeps the first attempt's */
        r->send_us = lg_now(L);
        if (r->scheduled) {
            int64_t behind = r->send_us - r->sched_us;
            if (behind > L->res->max_late_us) L->res->max_late_us = behind;
            if (behind > L->late_us) L->res->late++;
        }
    }
    return lg_flush(L, c);
}

/* Sends c->req, reconnecting first when needed. false when it failed (recorded as a
 * connection error, the request is finished). */
static bool lg_start(lg_loop *L, lg_conn *c) {
    if (c->fd < 0) {
        if (!c->fresh) L->res->reconnects++;
        c->fresh = false;
        c->connect_us = lg_now(L);
        int rc = lg_open(L, c);
        if (rc < 0) {
            if (L->recs[c->req].send_us < 0) L->recs[c->req].send_us = c->connect_us;
            lg_fail(L, c, LAB_CODE_CONNECTION_ERROR);
            return false;
        }
        if (rc == 1) return true; /* lg_on_event sends once connected */
    }
    return lg_send_request(L, c);
}

int64_t lg_schedule_us(double rate, double ramp_from, int64_t ramp_us, size_t i) {
    double k = (double)i;
    if (i == 0) return 0;
    if (ramp_us <= 0 || ramp_from == rate) return (int64_t)(k * 1e6 / rate);
    double T = (double)ramp_us / 1e6, a = (rate - ramp_from) / T; /* requests/s² */
    double in_ramp = (ramp_from + rate) * T / 2;                  /* requests sent during it */
    if (k >= in_ramp) return (int64_t)((T + (k - in_ramp) / rate) * 1e6);
    /* k = ramp_from t + a t² / 2, solved for t ≥ 0 (written to avoid cancellation) */
    double t = 2 * k / (ramp_from + sqrt(ramp_from * ramp_from + 2 * a * k));
    return (int64_t)(t * 1e6);
}

/* Open loop: c is free. It takes the next request if that one is due (looping over failures),
 * else goes on the idle list for lg_dispatch. */
static void lg_open_next(lg_loop *L, lg_conn *c) {
    while (L->next < L->n && L->recs[L->next].sched_us <= lg_now(L)) {
        c->req = L->next++;
        if (lg_start(L, c) || c->backoff) return;
    }
    c->req = LG_NO_REQ;
    if (c->fd >= 0) c->state = LG_IDLE;
    if (!c->listed) {
        c->listed = true;
        L->idle[(L->idle_head + L->nidle++) % L->maxconns] = (int)(c - L->conns);
    }
}

/* Gives c the next request; loops over failures. */
static void lg_next(lg_loop *L, lg_conn *c) {
    if (L->open) {
        lg_open_next(L, c);
        return;
    }
    while (L->next < L->n) {
        c->req = L->next++;
        if (lg_start(L, c) || c->backoff) return;
    }
    c->req = LG_NO_REQ;
    if (c->fd >= 0) c->state = LG_IDLE;
}

/* Open loop: a free connection from the idle list (dropping entries that took a request since
 * they were listed), or NULL. */
static lg_conn *lg_pop_idle(lg_loop *L) {
    while (L->nidle > 0) {
        lg_conn *c = &L->conns[L->idle[L->idle_head]];
        L->idle_head = (L->idle_head + 1) % L->maxconns;
        L->nidle--;
        c->listed = false;
        if (c->req == LG_NO_REQ && !c->backoff) return c;
    }
    return NULL;
}

/* Open loop: sends every due request, each on a free connection or a new one under the bound;
 * stops at the first that finds none (it goes to the next connection that becomes free). */
static void lg_dispatch(lg_loop *L) {
    int64_t now = lg_now(L);
    while (L->next < L->n && L->recs[L->next].sched_us <= now) {
        lg_conn *c = lg_pop_idle(L);
        if (c == NULL) {
            if (L->nconns >= L->maxconns) {
                if (L->waiting != L->next) {
                    L->res->conn_waits++;
                    L->waiting = L->next;
                }
                return;
            }
            c = &L->conns[L->nconns++];
            c->fresh = true;
            if (L->nconns > L->res->connections_peak) L->res->connections_peak = L->nconns;
        }
        c->req = L->next++;
        if (!lg_start(L, c) && !c->backoff) lg_open_next(L, c);
    }
}

/* c's backoff is over: send its request again (or, if that fails, go on to the next); a
 * connection that waited for the rate takes the next request. */
static void lg_retry(lg_loop *L, lg_conn *c) {
    c->backoff = false;
    L->nbackoff--;
    if (c->req == LG_NO_REQ) lg_next(L, c);
    else if (!lg_start(L, c) && !c->backoff) lg_next(L, c);
}

/* The answer in c->rbuf is complete: record it. Returns true when the connection can carry
 * the next request. */
static bool lg_complete(lg_loop *L, lg_conn *c, size_t body_len) {
    lab_record *r = &L->recs[c->req];
    int64_t now = lg_now(L);
    r->done_us = now;
    if (now > L->last_done_us) L->last_done_us = now;
    r->status = c->head.status;
    r->code = LAB_CODE_NONE;
    r->seat_no = 0;
    if (c->head.status != 200 || L->cfg->target != LG_TARGET_LIVEZ) {
        const char *code;
        size_t code_len;
        int32_t seat;
        int32_t owned;
        lg_scan_body(c->rbuf + c->head.head_len, body_len, &code, &code_len, &seat, &owned);
        if (code_len > 0) r->code = lab_codes_intern(L->codes, code, code_len);
        if (c->head.status == 201) r->seat_no = seat;
        if (c->head.status == 409 && r->code == LAB_CODE_ALREADY_OWNED) r->seat_no = owned;
    }
    bool reusable =
        !c->head.close && c->state == LG_WAITING && c->rlen == c->head.head_len + body_len;
    bool again =
        c->head.status == 500 || (c->head.status == 503 && r->code == LAB_CODE_UNAVAILABLE);
    if (L->cfg->target == LG_TARGET_PURCHASE && again && c->head.retry_after_s >= 0 &&
        r->retries < LG_MAX_RETRIES) {
        /* outcome unknown, or a backend not ready: the same user asks again after Retry-After
         * (loadgen.h) */
        int secs = c->head.retry_after_s < LG_RETRY_MAX_S ? c->head.retry_after_s : LG_RETRY_MAX_S;
        r->retries++;
        L->res->retries++;
        c->backoff = true;
        c->retry_at_us = now + (int64_t)secs * 1000000;
        L->nbackoff++;
        return reusable;
    }
    L->res->answered++;
    lg_finish(L, c);
    return reusable;
}

typedef enum { LG_READ_MORE, LG_READ_NEXT, LG_READ_CLOSE } lg_read_rc;

static lg_read_rc lg_try_complete(lg_loop *L, lg_conn *c) {
    if (!c->head_done) {
        lg_parse_rc rc = lg_parse_head(c->rbuf, c->rlen, &c->head);
        if (rc == LG_PARSE_MORE) return LG_READ_MORE;
        if (rc == LG_PARSE_BAD || c->head.chunked || c->head.status < 200) {
            lg_fail(L, c, LAB_CODE_BAD_RESPONSE);
            return LG_READ_CLOSE;
        }
        if (c->head.status == 204 || c->head.status == 304) c->head.content_length = 0;
        if (c->head.content_length > (int64_t)(LG_RESPONSE_MAX - c->head.head_len)) {
            lg_fail(L, c, LAB_CODE_BAD_RESPONSE);
            return LG_READ_CLOSE;
        }
        c->head_done = true;
    }
    if (c->head.content_length < 0) return LG_READ_MORE; /* the body ends at close */
    size_t need = c->head.head_len + (size_t)c->head.content_length;
    if (c->rlen < need) return LG_READ_MORE;
    return lg_complete(L, c, (size_t)c->head.content_length) ? LG_READ_NEXT : LG_READ_CLOSE;
}

static void lg_on_readable(lg_loop *L, lg_conn *c) {
    ssize_t k;
    if (c->rlen >= LG_RESPONSE_MAX) {
        k = -1;
        errno = EMSGSIZE;
    } else {
        k = recv(c->fd, c->rbuf + c->rlen, LG_RESPONSE_MAX - c->rlen, 0);
    }
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (k <= 0 || c->backoff) { /* in backoff nothing is asked: drop what comes */
        if (c->backoff) {
            lg_close(c);
            return;
        }
        if (c->req != LG_NO_REQ) {
            if (k == 0 && c->head_done && c->head.content_length < 0) {
                c->head.close = true;
                lg_complete(L, c, c->rlen - c->head.head_len);
            } else if (k < 0 && errno == EMSGSIZE) {
                lg_fail(L, c, LAB_CODE_BAD_RESPONSE);
            } else {
                lg_fail(L, c, LAB_CODE_CONNECTION_ERROR);
            }
        }
        lg_close(c);
        if (!c->backoff) lg_next(L, c);
        return;
    }
    if (c->req == LG_NO_REQ) { /* bytes nobody asked for: drop the connection */
        lg_close(c);
        return;
    }
    c->rlen += (size_t)k;
    switch (lg_try_complete(L, c)) {
    case LG_READ_MORE: return;
    case LG_READ_NEXT:
        c->rlen = 0;
        c->head_done = false;
        if (c->backoff) c->state = LG_IDLE;
        else lg_next(L, c);
        return;
    case LG_READ_CLOSE:
        lg_close(c);
        if (!c->backoff) lg_next(L, c);
        return;
    }
}

static void lg_on_event(lg_loop *L, lg_conn *c, uint32_t ev) {
    if (c->fd < 0) return;
    if (c->state == LG_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
        if (err != 0) {
            if (L->recs[c->req].send_us < 0) L->recs[c->req].send_us = c->connect_us;
            lg_fail(L, c, LAB_CODE_CONNECTION_ERROR);
            lg_close(c);
            if (!c->backoff) lg_next(L, c);
            return;
        }
        lg_set_out(L, c, false);
        if (!lg_send_request(L, c) && !c->backoff) lg_next(L, c);
        return;
    }
    if (c->state == LG_SENDING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        if (!lg_flush(L, c)) {
            if (!c->backoff) lg_next(L, c);
            return;
        }
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) lg_on_readable(L, c);
}

/* epoll_wait for up to wait_us µs: with µs resolution (epoll_pwait2, Linux 5.11) where the
 * kernel has it, else rounded up to the ms. */
static int lg_wait(lg_loop *L, struct epoll_event *evs, int max, int64_t wait_us) {
    static bool no_pwait2;
    if (!no_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(wait_us / 1000000),
                              .tv_nsec = (long)(wait_us % 1000000) * 1000};
        int nev = epoll_pwait2(L->ep, evs, max, &ts, NULL);
        if (nev >= 0 || errno != ENOSYS) return nev;
        no_pwait2 = true;
    }
    return epoll_wait(L->ep, evs, max, (int)((wait_us + 999) / 1000));
}

/* Opens every connection before t = 0. TR_OK, or TR_UNAVAILABLE / TR_INTERNAL with errbuf. */
static tr_err lg_open_all(lg_loop *L, char *errbuf, size_t errlen) {
    int pending = 0;
    for (int i = 0; i < L->nconns; i++) {
        int rc = lg_open(L, &L->conns[i]);
        if (rc < 0) {
            tr_errf(errbuf, errlen, "could not connect to %s: %s", L->urls[L->conns[i].url].host,
                    strerror(-rc));
            return TR_UNAVAILABLE;
        }
        pending += rc;
    }
    int64_t deadline = tr_mono_us() + LG_CONNECT_TIMEOUT_US;
    struct epoll_event evs[LG_EVENTS];
    while (pending > 0) {
        int64_t left = deadline - tr_mono_us();
        if (left <= 0) {
            tr_errf(errbuf, errlen, "could not connect to %s: timed out opening %d connections",
                    L->urls[0].host, L->nconns);
            return TR_UNAVAILABLE;
        }
        int nev = epoll_wait(L->ep, evs, LG_EVENTS, (int)(left / 1000) + 1);
        if (nev < 0 && errno == EINTR) continue;
        if (nev < 0) {
            tr_errf(errbuf, errlen, "epoll_wait failed: %s", strerror(errno));
            return TR_INTERNAL;
        }
        for (int i = 0; i < nev; i++) {
            lg_conn *c = &L->conns[evs[i].data.u32];
            if (c->fd < 0) continue;
            if (c->state == LG_IDLE) { /* the server closed a fresh connection: redo at t = 0 */
                lg_close(c);
                continue;
            }
            int err = 0;
            socklen_t elen = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
            if (err != 0) {
                tr_errf(errbuf, errlen, "could not connect to %s: %s", L->urls[c->url].host,
                        strerror(err));
                return TR_UNAVAILABLE;
            }
            c->state = LG_IDLE;
            lg_set_out(L, c, false);
            pending--;
        }
    }
    return TR_OK;
}

tr_err lg_run(const lg_config *cfg, lab_record *recs, size_t n, lab_codes *codes, lg_result *out,
              char *errbuf, size_t errlen) {
    tr_err rc = TR_OK;
    lg_loop L = {.cfg = cfg, .ep = -1, .recs = recs, .n = n, .codes = codes, .res = out};
    memset(out, 0, sizeof *out);
    if (errbuf && errlen) errbuf[0] = '\0';
    if (cfg->nurls < 0 || cfg->nurls > LG_MAX_URLS) {
        tr_errf(errbuf, errlen, "invalid load configuration: at most %d URLs", LG_MAX_URLS);
        return TR_INVALID_ARGUMENT;
    }
    L.nurls = cfg->nurls > 0 ? cfg->nurls : 1;
    for (int u = 0; u < L.nurls; u++)
        if ((rc = lg_url_parse(cfg->nurls > 0 ? cfg->urls[u] : cfg->url, &L.urls[u], errbuf,
                               errlen)) != TR_OK)
            return rc;
    if (cfg->vus < 1 || cfg->vus > LG_MAX_VUS ||
        (cfg->target == LG_TARGET_PURCHASE && cfg->concert_id <= 0)) {
        tr_errf(errbuf, errlen, "invalid load configuration: %s",
                cfg->vus < 1 || cfg->vus > LG_MAX_VUS ? "virtual users must be in 1..20000"
                                                      : "the concert id must be positive");
        return TR_INVALID_ARGUMENT;
    }
    L.open = cfg->rate > 0;
    if (L.open) {
        L.maxconns =
            cfg->max_connections > 0
                ? cfg->max_connections
                : (cfg->vus > LG_DEFAULT_MAX_CONNECTIONS ? cfg->vus : LG_DEFAULT_MAX_CONNECTIONS);
        if (!isfinite(cfg->rate) || L.maxconns < cfg->vus || L.maxconns > LG_MAX_VUS ||
            cfg->ramp_us < 0 || !(cfg->ramp_from >= 0) || !isfinite(cfg->ramp_from)) {
            tr_errf(errbuf, errlen,
                    "invalid open-loop configuration: max connections must be in vus..%d, the "
                    "ramp's length and start rate not negative",
                    LG_MAX_VUS);
            return TR_INVALID_ARGUMENT;
        }
        L.late_us = cfg->late_us > 0 ? cfg->late_us : LG_DEFAULT_LATE_US;
        L.waiting = LG_NO_REQ;
    }
    for (size_t i = 0; i < n; i++) {
        recs[i].send_us = -1;
        recs[i].done_us = -1;
        recs[i].status = 0;
        recs[i].seat_no = 0;
        recs[i].code = LAB_CODE_NONE;
        recs[i].retries = 0;
        recs[i].scheduled = L.open;
        recs[i].sched_us = L.open ? lg_schedule_us(cfg->rate, cfg->ramp_from, cfg->ramp_us, i) : 0;
    }
    if (n == 0) return TR_OK;
    for (int u = 0; u < L.nurls; u++)
        L.livez_len[u] =
            (size_t)snprintf(L.livez[u], sizeof L.livez[u],
                             "GET /livez HTTP/1.1\r\nHost: %s\r\n\r\n", L.urls[u].host);
    L.nconns = (size_t)cfg->vus < n ? cfg->vus : (int)n;
    if (!L.open) L.maxconns = L.nconns;
    out->connections_peak = L.open ? L.nconns : 0;
    /* (an open loop's unused slots cost address space only: their pages are never touched) */
    L.conns = calloc((size_t)L.maxconns, sizeof *L.conns);
    L.rbufs = malloc((size_t)L.maxconns * LG_RESPONSE_MAX);
    L.idle = L.open ? malloc((size_t)L.maxconns * sizeof *L.idle) : NULL;
    if (L.conns == NULL || L.rbufs == NULL || (L.open && L.idle == NULL)) {
        rc = TR_NOMEM;
        goto out;
    }
    for (int i = 0; i < L.maxconns; i++) {
        L.conns[i].fd = -1;
        L.conns[i].req = LG_NO_REQ;
        L.conns[i].rbuf = L.rbufs + (size_t)i * LG_RESPONSE_MAX;
        L.conns[i].url = i % L.nurls;
    }
    if ((L.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        tr_errf(errbuf, errlen, "epoll_create1 failed: %s", strerror(errno));
        rc = TR_INTERNAL;
        goto out;
    }
    if ((rc = lg_open_all(&L, errbuf, errlen)) != TR_OK) goto out;

    int64_t limit = cfg->time_limit_us > 0 ? cfg->time_limit_us : LG_DEFAULT_TIME_LIMIT_US;
    int64_t every = cfg->progress_every_us > 0 ? cfg->progress_every_us : LG_DEFAULT_PROGRESS_US;
    int64_t next_progress = every;
    out->started_wall_us = tr_wall_us();
    L.t0 = tr_mono_us();
    /* t = 0: every virtual user sends its first request, back to back (open loop: every
     * connection is free, and what is due goes out). */
    for (int i = 0; i < L.nconns; i++) lg_next(&L, &L.conns[i]);
    if (L.open) lg_dispatch(&L);

    struct epoll_event evs[LG_EVENTS];
    unsigned scan = 0;
    while (L.done < n) {
        int64_t now = lg_now(&L);
        if (now >= limit) {
            out->timed_out = true;
            break;
        }
        if (cfg->progress && now >= next_progress) {
            cfg->progress(cfg->progress_arg, L.done, n, now);
            while (next_progress <= now) next_progress += every;
        }
        int64_t wake = limit < next_progress || !cfg->progress ? limit : next_progress;
        for (int i = 0; L.nbackoff > 0 && i < L.nconns; i++)
            if (L.conns[i].backoff && L.conns[i].retry_at_us < wake) wake = L.conns[i].retry_at_us;
        if (L.open && L.next < L.n && (L.nidle > 0 || L.nconns < L.maxconns) &&
            L.recs[L.next].sched_us < wake)
            wake = L.recs[L.next].sched_us;
        int64_t wait_us = wake > now ? wake - now : 0;
        if (wait_us > 1000000) wait_us = 1000000;
        int nev = lg_wait(&L, evs, LG_EVENTS, wait_us);
        if (nev < 0 && errno == EINTR) continue;
        if (nev < 0) {
            tr_errf(errbuf, errlen, "epoll_wait failed: %s", strerror(errno));
            rc = TR_INTERNAL;
            goto out;
        }
        for (int i = 0; i < nev; i++) lg_on_event(&L, &L.conns[evs[i].data.u32], evs[i].events);
        if (L.nbackoff > 0) {
            /* from a rotating start, so paced users take turns (and so do their URLs) instead
             * of the lowest-numbered waiting user taking every request that falls due */
            now = lg_now(&L);
            int start = (int)(scan++ % (unsigned)L.nconns);
            for (int k = 0; k < L.nconns; k++) {
                lg_conn *c = &L.conns[(start + k) % L.nconns];
                if (c->backoff && c->retry_at_us <= now) lg_retry(&L, c);
            }
        }
        if (L.open) lg_dispatch(&L);
    }
    if (out->timed_out) { /* what is still unanswered or unsent is a timeout */
        for (size_t i = 0; i < n; i++) {
            lab_record *r = &recs[i];
            bool open = r->status == 0 && r->code == LAB_CODE_NONE; /* (a backoff keeps its 500) */
            if (!open) continue;
            r->code = LAB_CODE_TIMEOUT;
            r->done_us = -1;
            out->timeouts++;
        }
        for (int i = 0; i < L.nconns; i++) { /* requests in backoff keep their last answer */
            const lg_conn *c = &L.conns[i];
            if (!c->backoff || c->req == LG_NO_REQ) continue;
            if (recs[c->req].status != 0) out->answered++; /* a 500 */
            else out->connection_errors++;
        }
        out->duration_us = limit;
    } else {
        out->duration_us = L.last_done_us;
    }

out:
    for (int i = 0; L.conns && i < L.nconns; i++) lg_close(&L.conns[i]);
    if (L.ep >= 0) close(L.ep);
    free(L.conns);
    free(L.rbufs);
    free(L.idle);
    return rc;
}
