/* test_lab_loadgen.c — the load generator (src/lab/loadgen.c) against a scripted HTTP server
 * started in this process on an ephemeral loopback port: answers whole and byte by byte,
 * connections the server drops, chunked and length-less answers, silence until the time limit.
 * Also its URL, head and body parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab/loadgen.h"

/* --- the scripted server ---------------------------------------------------------------- */

typedef enum {
    SRV_NORMAL,           /* 201 with the next seat while seats last, then 409 sold_out */
    SRV_SPLIT,            /* as NORMAL, written one byte per send */
    SRV_DROP_EVERY_3RD,   /* every 3rd request: close without answering */
    SRV_CHUNKED,          /* Transfer-Encoding: chunked */
    SRV_SILENT,           /* never answers */
    SRV_CONN_CLOSE,       /* as NORMAL with Connection: close, then closes */
    SRV_NO_LENGTH,        /* no Content-Length: the body ends when the server closes */
    SRV_UNKNOWN_ONCE,     /* customer 1's first purchase takes a seat but answers 500 with
                            Retry-After: 0; its next answers 409 already_owned with that seat */
    SRV_ALWAYS_UNKNOWN,   /* every answer 500 with Retry-After: 0 */
    SRV_INTERNAL,         /* every answer 500 without Retry-After */
    SRV_UNAVAILABLE_ONCE, /* customer 1's first purchase: 503 unavailable with Retry-After: 0,
                             nothing taken; its next is served like the others */
    SRV_BUSY,             /* every answer 503 busy with Retry-After: 0 */
    SRV_SLOW,             /* as NORMAL, each answer 50 ms after its request */
} srv_mode;

#define SRV_MAX_CONNS 64

typedef struct test_srv {
    int lfd;
    int port;
    srv_mode mode;
    bool customer1_refused; /* SRV_UNAVAILABLE_ONCE: its 503 was sent */
    int tickets;
    pthread_t acceptor;
    pthread_mutex_t mu;
    int seat, requests, nthreads;
    int customer1_seat; /* SRV_UNKNOWN_ONCE: the seat customer 1 bought, 0 before */
    pthread_t threads[SRV_MAX_CONNS];
    char last_request[1024];
} test_srv;

typedef struct conn_arg {
    test_srv *s;
    int fd;
} conn_arg;

static void send_all(int fd, const char *b, size_t n, bool bytewise) {
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(fd, b + off, bytewise ? 1 : n - off, MSG_NOSIGNAL);
        if (k <= 0) return;
        off += (size_t)k;
        if (bytewise) usleep(200);
    }
}

static void *srv_conn(void *p) {
    conn_arg a = *(conn_arg *)p;
    free(p);
    test_srv *s = a.s;
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t k = recv(a.fd, buf + len, sizeof buf - 1 - len, 0);
        if (k <= 0) break;
        len += (size_t)k;
        buf[len] = '\0';
        char *blank = strstr(buf, "\r\n\r\n");
        if (blank == NULL) continue;
        size_t head = (size_t)(blank - buf) + 4, body = 0;
        char *cl = strcasestr(buf, "Content-Length:");
        if (cl && cl < blank) body = strtoul(cl + 15, NULL, 10);
        if (len < head + body) continue;

        char *cid = strstr(buf + head, "\"customerId\":");
        bool customer1 = cid && strtol(cid + 13, NULL, 10) == 1;
        pthread_mutex_lock(&s->mu);
        int n = ++s->requests;
        snprintf(s->last_request, sizeof s->last_request, "%.*s", (int)(head + body), buf);
        int owned = s->mode == SRV_UNKNOWN_ONCE && customer1 ? s->customer1_seat : 0;
        bool unavailable = s->mode == SRV_UNAVAILABLE_ONCE && customer1 && !s->customer1_refused;
        if (unavailable) s->customer1_refused = true;
        bool busy = s->mode == SRV_BUSY;
        int seat = owned == 0 && !unavailable && !busy && s->seat < s->tickets ? ++s->seat : 0;
        bool unknown = s->mode == SRV_ALWAYS_UNKNOWN || s->mode == SRV_INTERNAL ||
                       (s->mode == SRV_UNKNOWN_ONCE && customer1 && owned == 0);
        if (s->mode == SRV_UNKNOWN_ONCE && customer1 && owned == 0) s->customer1_seat = seat;
        pthread_mutex_unlock(&s->mu);
        memmove(buf, buf + head + body, len - head - body);
        len -= head + body;

        if (s->mode == SRV_SILENT) continue;
        if (s->mode == SRV_SLOW) usleep(50 * 1000);
        if (s->mode == SRV_DROP_EVERY_3RD && n % 3 == 0) break;
        char out[1024], js[512];
        if (s->mode == SRV_CHUNKED) {
            snprintf(out, sizeof out,
                     "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n0\r\n\r\n");
            send_all(a.fd, out, strlen(out), false);
            continue;
        }
        int status = seat ? 201 : 409;
        if (unavailable || busy) {
            status = 503;
            snprintf(js, sizeof js, "{\"error\":\"%s\",\"message\":\"m\"}",
                     busy ? "busy" : "unavailable");
        } else if (unknown) {
            status = 500;
            snprintf(js, sizeof js, "{\"error\":\"internal\",\"message\":\"may or may not\"}");
        } else if (owned)
            snprintf(js, sizeof js,
                     "{\"error\":\"already_owned\",\"message\":\"m\",\"ticket\":{\"seatNo\":%d}}",
                     owned);
        else if (seat)
            snprintf(js, sizeof js,
                     "{\"ticketId\":%d,\"customerName\":\"x \\\"seatNo\\\":99\","
                     "\"nested\":{\"seatNo\":98,\"error\":\"no\"},\"seatNo\":%d,\"vip\":false}",
                     seat, seat);
        else snprintf(js, sizeof js, "{\"error\":\"sold_out\",\"message\":\"no seat is left\"}");
        if (s->mode == SRV_NO_LENGTH) {
            snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nConnection: close\r\n\r\n%s", status, js);
        } else {
            snprintf(out, sizeof out,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     status,
                     s->mode == SRV_CONN_CLOSE ? "Connection: close\r\n"
                     : (unknown && s->mode != SRV_INTERNAL) || unavailable || busy
                         ? "Retry-After: 0\r\n"
                         : "",
                     strlen(js), js);
        }
        send_all(a.fd, out, strlen(out), s->mode == SRV_SPLIT);
        if (s->mode == SRV_NO_LENGTH || s->mode == SRV_CONN_CLOSE) break;
    }
    close(a.fd);
    return NULL;
}

static void *srv_accept(void *p) {
    test_srv *s = p;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) return NULL;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_arg *a = malloc(sizeof *a);
        assert_non_null(a);
        *a = (conn_arg){s, fd};
        pthread_mutex_lock(&s->mu);
        assert_true(s->nthreads < SRV_MAX_CONNS);
        pthread_create(&s->threads[s->nthreads++], NULL, srv_conn, a);
        pthread_mutex_unlock(&s->mu);
    }
}

static void srv_start(test_srv *s, srv_mode mode, int tickets) {
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->tickets = tickets;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 128), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->acceptor, NULL, srv_accept, s), 0);
}

/* After lg_run returned (it closes its connections, so every connection thread ends). */
static void srv_stop(test_srv *s) {
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    for (int i = 0; i < s->nthreads; i++) pthread_join(s->threads[i], NULL);
    pthread_mutex_destroy(&s->mu);
}

typedef struct run {
    test_srv srv;
    char url[64];
    lab_record recs[64];
    lab_codes codes;
    lg_result res;
    char err[256];
} run;

static tr_err run_load(run *r, srv_mode mode, int tickets, size_t n, int vus,
                       int64_t time_limit_us) {
    srv_start(&r->srv, mode, tickets);
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", r->srv.port);
    memset(&r->codes, 0, sizeof r->codes);
    for (size_t i = 0; i < n; i++) r->recs[i] = (lab_record){.customer_id = (int64_t)i + 1};
    lg_config cfg = {.url = r->url,
                     .target = LG_TARGET_PURCHASE,
                     .concert_id = 7,
                     .vus = vus,
                     .time_limit_us = time_limit_us};
    tr_err rc = lg_run(&cfg, r->recs, n, &r->codes, &r->res, r->err, sizeof r->err);
    srv_stop(&r->srv);
    return rc;
}

static run *new_run(void) {
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    return r;
}

/* --- lg_run ----------------------------------------------------------------------------- */

static void every_request_answered_with_distinct_seats_then_sold_out(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_NORMAL, 10, 20, 3, 0), TR_OK);
    assert_int_equal(r->res.answered, 20);
    assert_int_equal(r->res.reconnects, 0);
    assert_false(r->res.timed_out);
    int seen[11] = {0}, sold_out = 0;
    for (int i = 0; i < 20; i++) {
        lab_record *x = &r->recs[i];
        assert_in_range(x->send_us, 0, x->done_us);
        assert_in_range(x->done_us, x->send_us, r->res.duration_us);
        if (x->status == 201) {
            assert_in_range(x->seat_no, 1, 10); /* never 98 (nested) or 99 (in a string) */
            seen[x->seat_no]++;
            assert_int_equal(x->code, LAB_CODE_NONE);
        } else {
            assert_int_equal(x->status, 409);
            assert_int_equal(x->code, LAB_CODE_SOLD_OUT);
            assert_int_equal(x->seat_no, 0);
            sold_out++;
        }
    }
    for (int s = 1; s <= 10; s++) assert_int_equal(seen[s], 1);
    assert_int_equal(sold_out, 10);
    assert_in_range(r->res.started_wall_us, 1500000000LL * 1000000, 4000000000LL * 1000000);
    free(r);
}

static void purchase_request_carries_json_body_and_host(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_NORMAL, 5, 1, 1, 0), TR_OK);
    char host[64];
    snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", r->srv.port);
    assert_non_null(strstr(r->srv.last_request, "POST /concert/purchase/ticket HTTP/1.1\r\n"));
    assert_non_null(strstr(r->srv.last_request, host));
    assert_non_null(strstr(r->srv.last_request, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(r->srv.last_request, "Content-Length: 30\r\n"));
    assert_non_null(strstr(r->srv.last_request, "\r\n\r\n{\"customerId\":1,\"concertId\":7}"));
    free(r);
}

static void livez_target_sends_get_livez(void **state) {
    (void)state;
    run *r = new_run();
    srv_start(&r->srv, SRV_NORMAL, 0);
    snprintf(r->url, sizeof r->url, "http://localhost:%d/", r->srv.port);
    lg_config cfg = {.url = r->url, .target = LG_TARGET_LIVEZ, .vus = 2};
    assert_int_equal(lg_run(&cfg, r->recs, 4, &r->codes, &r->res, r->err, sizeof r->err), TR_OK);
    srv_stop(&r->srv);
    assert_int_equal(r->res.answered, 4);
    assert_non_null(strstr(r->srv.last_request, "GET /livez HTTP/1.1\r\n"));
    free(r);
}

static void answers_written_byte_by_byte_are_reassembled(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_SPLIT, 5, 4, 2, 0), TR_OK);
    assert_int_equal(r->res.answered, 4);
    int sum = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r->recs[i].status, 201);
        sum += r->recs[i].seat_no;
    }
    assert_int_equal(sum, 1 + 2 + 3 + 4);
    free(r);
}

static void dropped_connection_is_a_connection_error_then_reconnects(void **state) {
    (void)state;
    run *r = new_run();
    /* One VU, so the order is fixed: requests 3, 6 and 9 die; 3 and 6 are followed by a new
     * connection, 9 is the last. Nothing is retried: the server sees each request once. */
    assert_int_equal(run_load(r, SRV_DROP_EVERY_3RD, 100, 9, 1, 0), TR_OK);
    assert_int_equal(r->res.answered, 6);
    assert_int_equal(r->res.connection_errors, 3);
    assert_int_equal(r->res.reconnects, 2);
    assert_int_equal(r->srv.requests, 9);
    for (int i = 0; i < 9; i++) {
        if ((i + 1) % 3 == 0) {
            assert_int_equal(r->recs[i].status, 0);
            assert_int_equal(r->recs[i].code, LAB_CODE_CONNECTION_ERROR);
            assert_in_range(r->recs[i].done_us, r->recs[i].send_us, r->res.duration_us);
        } else {
            assert_int_equal(r->recs[i].status, 201);
        }
    }
    free(r);
}

static void chunked_answer_is_flagged_bad_response(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_CHUNKED, 5, 2, 1, 0), TR_OK);
    assert_int_equal(r->res.bad_responses, 2);
    assert_int_equal(r->res.answered, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r->recs[i].status, 0);
        assert_int_equal(r->recs[i].code, LAB_CODE_BAD_RESPONSE);
    }
    assert_int_equal(r->res.reconnects, 1);
    free(r);
}

static void silence_until_the_time_limit_is_timeout(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_SILENT, 5, 3, 2, 200000), TR_OK);
    assert_true(r->res.timed_out);
    assert_int_equal(r->res.timeouts, 3);
    assert_int_equal(r->res.answered, 0);
    assert_int_equal(r->res.duration_us, 200000);
    int unsent = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r->recs[i].status, 0);
        assert_int_equal(r->recs[i].code, LAB_CODE_TIMEOUT);
        assert_int_equal(r->recs[i].done_us, -1);
        unsent += r->recs[i].send_us == -1;
    }
    assert_int_equal(unsent, 1); /* two VUs: the third request never left */
    free(r);
}

static void connection_close_header_means_a_fresh_connection(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_CONN_CLOSE, 5, 4, 1, 0), TR_OK);
    assert_int_equal(r->res.answered, 4);
    assert_int_equal(r->res.connection_errors, 0);
    assert_int_equal(r->res.reconnects, 3);
    free(r);
}

static void body_without_length_ends_at_close(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_NO_LENGTH, 5, 2, 1, 0), TR_OK);
    assert_int_equal(r->res.answered, 2);
    assert_int_equal(r->recs[0].status, 201);
    assert_int_equal(r->recs[0].seat_no, 1);
    assert_int_equal(r->recs[1].seat_no, 2);
    free(r);
}

static void no_server_is_unavailable(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd); /* the port is free and nobody listens */
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    lab_record recs[2] = {{.customer_id = 1}, {.customer_id = 2}};
    lab_codes codes = {0};
    lg_result res;
    lg_config cfg = {.url = url, .target = LG_TARGET_PURCHASE, .concert_id = 1, .vus = 2};
    assert_int_equal(lg_run(&cfg, recs, 2, &codes, &res, err, sizeof err), TR_UNAVAILABLE);
    assert_non_null(strstr(err, "could not connect to 127.0.0.1:"));
}

static void bad_config_is_invalid_argument(void **state) {
    (void)state;
    lab_record rec = {.customer_id = 1};
    lab_codes codes = {0};
    lg_result res;
    char err[256];
    lg_config cfg = {
        .url = "http://127.0.0.1:1", .target = LG_TARGET_PURCHASE, .concert_id = 1, .vus = 0};
    assert_int_equal(lg_run(&cfg, &rec, 1, &codes, &res, err, sizeof err), TR_INVALID_ARGUMENT);
    cfg.vus = 1;
    cfg.concert_id = 0;
    assert_int_equal(lg_run(&cfg, &rec, 1, &codes, &res, err, sizeof err), TR_INVALID_ARGUMENT);
}

/* --- parsers ------------------------------------------------------------------------------ */

static void loopback_urls_parse(void **state) {
    (void)state;
    lg_url u;
    char err[256];
    assert_int_equal(lg_url_parse("http://127.0.0.1:8080", &u, err, sizeof err), TR_OK);
    assert_string_equal(u.host, "127.0.0.1:8080");
    assert_int_equal(lg_url_parse("http://localhost:9/", &u, err, sizeof err), TR_OK);
    assert_string_equal(u.host, "localhost:9");
    assert_int_equal(lg_url_parse("http://127.1.2.3", &u, err, sizeof err), TR_OK);
    assert_string_equal(u.host, "127.1.2.3:80");
    assert_int_equal(lg_url_parse("http://[::1]:8080", &u, err, sizeof err), TR_OK);
    assert_string_equal(u.host, "[::1]:8080");
    assert_int_equal(u.addr.ss_family, AF_INET6);
}

static void non_loopback_and_malformed_urls_are_refused(void **state) {
    (void)state;
    lg_url u;
    char err[256];
    assert_int_equal(lg_url_parse("http://10.0.0.1:80", &u, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "not a loopback address"));
    assert_int_equal(lg_url_parse("http://example.com:80", &u, err, sizeof err),
                     TR_INVALID_ARGUMENT);
    assert_int_equal(lg_url_parse("http://[2001:db8::1]:80", &u, err, sizeof err),
                     TR_INVALID_ARGUMENT);
    assert_int_equal(lg_url_parse("https://127.0.0.1:80", &u, err, sizeof err),
                     TR_INVALID_ARGUMENT);
    assert_int_equal(lg_url_parse("http://127.0.0.1:0", &u, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_int_equal(lg_url_parse("http://127.0.0.1:65536", &u, err, sizeof err),
                     TR_INVALID_ARGUMENT);
    assert_int_equal(lg_url_parse("http://127.0.0.1:80/x", &u, err, sizeof err),
                     TR_INVALID_ARGUMENT);
    assert_int_equal(lg_url_parse("http://127.0.0.1:8x", &u, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_int_equal(lg_url_parse(NULL, &u, err, sizeof err), TR_INVALID_ARGUMENT);
}

static void head_parses_status_length_and_flags(void **state) {
    (void)state;
    lg_head h;
    const char *a = "HTTP/1.1 201 Created\r\ncontent-LENGTH:  12 \r\nX: y\r\n\r\n{\"seatNo\":1}";
    assert_int_equal(lg_parse_head(a, strlen(a), &h), LG_PARSE_OK);
    assert_int_equal(h.status, 201);
    assert_int_equal(h.content_length, 12);
    assert_int_equal(h.head_len, strlen(a) - 12);
    assert_false(h.close);
    assert_false(h.chunked);

    const char *b = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: Close\r\n\r\n";
    assert_int_equal(lg_parse_head(b, strlen(b), &h), LG_PARSE_OK);
    assert_true(h.chunked);
    assert_true(h.close);
    assert_int_equal(h.content_length, -1);

    const char *c = "HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(lg_parse_head(c, strlen(c), &h), LG_PARSE_OK);
    assert_int_equal(h.status, 503);
    assert_true(h.close);
    assert_int_equal(h.retry_after_s, -1);

    const char *d = "HTTP/1.1 500 X\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(lg_parse_head(d, strlen(d), &h), LG_PARSE_OK);
    assert_int_equal(h.retry_after_s, 7);
    const char *e = "HTTP/1.1 500 X\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n";
    assert_int_equal(lg_parse_head(e, strlen(e), &h), LG_PARSE_OK);
    assert_int_equal(h.retry_after_s, -1); /* a date is not honoured */
    const char *f = "HTTP/1.1 500 X\r\nRetry-After: 99999999999\r\n\r\n";
    assert_int_equal(lg_parse_head(f, strlen(f), &h), LG_PARSE_OK);
    assert_int_equal(h.retry_after_s, -1);
}

static void head_waits_for_more_and_refuses_garbage(void **state) {
    (void)state;
    lg_head h;
    const char *a = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n";
    assert_int_equal(lg_parse_head(a, strlen(a), &h), LG_PARSE_MORE);
    assert_int_equal(lg_parse_head("HTT", 3, &h), LG_PARSE_MORE);
    assert_int_equal(lg_parse_head("SSH-2.0", 7, &h), LG_PARSE_BAD);
    const char *b = "HTTP/1.1 2x1 Created\r\n\r\n";
    assert_int_equal(lg_parse_head(b, strlen(b), &h), LG_PARSE_BAD);
    const char *c = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n";
    assert_int_equal(lg_parse_head(c, strlen(c), &h), LG_PARSE_BAD);
    const char *d = "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n";
    assert_int_equal(lg_parse_head(d, strlen(d), &h), LG_PARSE_BAD);
}

static void unknown_outcome_is_retried_and_its_ticket_acknowledged(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_UNKNOWN_ONCE, 10, 5, 2, 0), TR_OK);
    assert_int_equal(r->res.retries, 1);
    assert_int_equal(r->res.answered, 5);
    lab_record *x = &r->recs[0]; /* customer 1 */
    assert_int_equal(x->retries, 1);
    assert_int_equal(x->status, 409);
    assert_int_equal(x->code, LAB_CODE_ALREADY_OWNED);
    /* the seat its first attempt bought (1 or 2: the two users' first requests race) */
    assert_int_equal(x->seat_no, r->srv.customer1_seat);
    assert_in_range(x->seat_no, 1, 2);
    assert_true(lab_record_acknowledged(x));
    assert_in_range(x->send_us, 0, x->done_us);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(r->recs[i].status, 201);
        assert_int_equal(r->recs[i].retries, 0);
        assert_in_range(r->recs[i].seat_no, 1, 5);
        assert_int_not_equal(r->recs[i].seat_no, x->seat_no);
    }
    assert_int_equal(r->srv.requests, 6);
    free(r);
}

static void unknown_outcome_retries_stop_at_the_limit(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_ALWAYS_UNKNOWN, 10, 3, 2, 0), TR_OK);
    assert_int_equal(r->res.retries, 3 * LG_MAX_RETRIES);
    assert_int_equal(r->res.answered, 3);
    assert_int_equal(r->srv.requests, 3 * (1 + LG_MAX_RETRIES));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r->recs[i].status, 500);
        assert_int_equal(r->recs[i].code, LAB_CODE_INTERNAL);
        assert_int_equal(r->recs[i].retries, LG_MAX_RETRIES);
        assert_false(lab_record_acknowledged(&r->recs[i]));
    }
    free(r);
}

/* 503 unavailable with Retry-After: nothing ran (a backend not ready), so the user asks again and
 * gets its ticket; 503 busy is a refusal (R6 counts it) and is not retried. */
static void unavailable_is_retried_busy_is_not(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_UNAVAILABLE_ONCE, 10, 5, 2, 0), TR_OK);
    assert_int_equal(r->res.retries, 1);
    assert_int_equal(r->recs[0].retries, 1);
    assert_int_equal(r->recs[0].status, 201);
    assert_int_equal(r->srv.requests, 6);
    free(r);
    r = new_run();
    assert_int_equal(run_load(r, SRV_BUSY, 10, 3, 2, 0), TR_OK);
    assert_int_equal(r->res.retries, 0);
    assert_int_equal(r->srv.requests, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(r->recs[i].code, LAB_CODE_BUSY);
    free(r);
}

static void internal_error_without_retry_after_is_final(void **state) {
    (void)state;
    run *r = new_run();
    assert_int_equal(run_load(r, SRV_INTERNAL, 10, 4, 2, 0), TR_OK);
    assert_int_equal(r->res.retries, 0);
    assert_int_equal(r->srv.requests, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(r->recs[i].status, 500);
    free(r);
}

static void body_scan_reads_only_top_level_keys(void **state) {
    (void)state;
    const char *code;
    size_t code_len;
    int32_t seat, owned;
    const char *a = "{\"customerName\":\"a \\\"seatNo\\\":7 \\\\\",\"ticket\":{\"seatNo\":8,"
                    "\"error\":\"x\"},\"list\":[{\"seatNo\":9}],\"seatNo\":3}";
    assert_true(lg_scan_body(a, strlen(a), &code, &code_len, &seat, &owned));
    assert_int_equal(seat, 3);
    assert_int_equal(owned, 8); /* the top-level "ticket" object's, never the list's 9 */
    assert_int_equal(code_len, 0);

    const char *b =
        " {\"error\" : \"already_owned\", \"message\":\"m\", \"ticket\":{\"seatNo\":4}}";
    assert_true(lg_scan_body(b, strlen(b), &code, &code_len, &seat, &owned));
    assert_int_equal(code_len, strlen("already_owned"));
    assert_memory_equal(code, "already_owned", code_len);
    assert_int_equal(seat, 0);
    assert_int_equal(owned, 4);
}

static void body_scan_refuses_non_objects_and_odd_seats(void **state) {
    (void)state;
    const char *code;
    size_t code_len;
    int32_t seat, owned;
    assert_false(lg_scan_body("[1,2]", 5, &code, &code_len, &seat, &owned));
    assert_false(lg_scan_body("{\"seatNo\":1", 11, &code, &code_len, &seat, &owned));
    assert_false(lg_scan_body("", 0, &code, &code_len, &seat, &owned));
    const char *a = "{\"seatNo\":1.5,\"ticket\":{\"seatNo\":\"2\"}}";
    assert_true(lg_scan_body(a, strlen(a), &code, &code_len, &seat, &owned));
    assert_int_equal(seat, 0);
    assert_int_equal(owned, 0);
    const char *b = "{\"seatNo\":99999999999,\"ticket\":[{\"seatNo\":3}]}";
    assert_true(lg_scan_body(b, strlen(b), &code, &code_len, &seat, &owned));
    assert_int_equal(seat, 0);
    assert_int_equal(owned, 0);
}

static void users_spread_over_several_urls_and_rate_paces(void **state) {
    (void)state;
    run *r = new_run();
    test_srv b;
    srv_start(&r->srv, SRV_NORMAL, 100);
    srv_start(&b, SRV_NORMAL, 100);
    char ua[64], ub[64];
    snprintf(ua, sizeof ua, "http://127.0.0.1:%d", r->srv.port);
    snprintf(ub, sizeof ub, "http://127.0.0.1:%d", b.port);
    const char *urls[2] = {ua, ub};
    for (size_t i = 0; i < 20; i++) r->recs[i] = (lab_record){.customer_id = (int64_t)i + 1};
    /* 20 requests at 100/s: the last may not leave before 190 ms */
    lg_config cfg = {.urls = urls,
                     .nurls = 2,
                     .rate = 100,
                     .target = LG_TARGET_PURCHASE,
                     .concert_id = 7,
                     .vus = 4};
    assert_int_equal(lg_run(&cfg, r->recs, 20, &r->codes, &r->res, r->err, sizeof r->err), TR_OK);
    srv_stop(&r->srv);
    srv_stop(&b);
    assert_int_equal(r->res.answered, 20);
    assert_int_equal(r->srv.requests + b.requests, 20);
    assert_true(r->srv.requests > 0 && b.requests > 0); /* users 0, 2 on a; 1, 3 on b */
    for (size_t i = 0; i < 20; i++)
        assert_true(r->recs[i].send_us >= (int64_t)i * 10000 - 1000); /* i / rate, 1 ms slack */
    assert_true(r->res.duration_us >= 190000);
    free(r);
}

/* 20 requests at 200/s, open loop, from one connection up to max_connections, to a server
 * that answers each in 50 ms (SRV_SLOW); late means over 10 ms behind. */
static run *open_loop_run(int max_connections) {
    run *r = new_run();
    srv_start(&r->srv, SRV_SLOW, 100);
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", r->srv.port);
    for (size_t i = 0; i < 20; i++) r->recs[i] = (lab_record){.customer_id = (int64_t)i + 1};
    lg_config cfg = {.url = r->url,
                     .rate = 200,
                     .max_connections = max_connections,
                     .late_us = 10000,
                     .target = LG_TARGET_PURCHASE,
                     .concert_id = 7,
                     .vus = 1};
    assert_int_equal(lg_run(&cfg, r->recs, 20, &r->codes, &r->res, r->err, sizeof r->err), TR_OK);
    srv_stop(&r->srv);
    return r;
}

/* Open loop: 20 requests at 200/s (one every 5 ms) to a server that answers each in 50 ms.
 * With connections to spare, the generator opens more (about 10 are busy at once), every
 * request leaves on time and its latency from the schedule is about the server's 50 ms. */
static void open_loop_opens_connections_and_keeps_the_schedule(void **state) {
    (void)state;
    run *r = open_loop_run(40);
    assert_int_equal(r->res.answered, 20);
    if (r->res.connections_peak < 5 || r->res.connections_peak > 40)
        fail_msg("connections used: %d", r->res.connections_peak);
    assert_int_equal(r->res.conn_waits, 0);
    assert_int_equal(r->res.reconnects, 0); /* new connections are not reconnects */
    for (size_t i = 0; i < 20; i++) {
        const lab_record *x = &r->recs[i];
        assert_true(x->scheduled);
        assert_int_equal(x->sched_us, (int64_t)i * 5000);
        assert_true(x->send_us >= x->sched_us);
        int64_t lat = lab_record_latency_us(x);
        if (lat < 50000 || lat > 50000 + 40000)
            fail_msg("request %zu: latency %lld µs", i, (long long)lat);
    }
    free(r);
}

/* The same load with one connection at most: requests queue behind each other. They are still
 * all sent (never dropped), counted late, and their latency counts from the schedule, so the
 * queue shows: the last one waits about 20 × 50 − 19 × 5 ms, where its own round trip is 50 ms
 * (what a closed loop would report: coordinated omission). */
static void open_loop_at_the_bound_counts_late_requests_and_their_wait(void **state) {
    (void)state;
    run *r = open_loop_run(1);
    assert_int_equal(r->res.answered, 20);
    assert_int_equal(r->res.connections_peak, 1);
    assert_true(r->res.late >= 18); /* every request after the first is 45 ms later each */
    assert_true(r->res.conn_waits >= 18);
    const lab_record *last = &r->recs[19];
    int64_t from_send = last->done_us - last->send_us, from_sched = lab_record_latency_us(last);
    if (from_send > 90000 || from_sched < 800000)
        fail_msg("last request: %lld µs from its send, %lld µs from its schedule",
                 (long long)from_send, (long long)from_sched);
    assert_true(r->res.max_late_us >= 700000);
    free(r);
}

static void open_loop_bad_bound_is_invalid_argument(void **state) {
    (void)state;
    lab_record rec = {.customer_id = 1};
    lab_codes codes = {0};
    lg_result res;
    char err[256];
    lg_config cfg = {.url = "http://127.0.0.1:9",
                     .rate = 10,
                     .max_connections = 2,
                     .target = LG_TARGET_PURCHASE,
                     .concert_id = 7,
                     .vus = 4};
    assert_int_equal(lg_run(&cfg, &rec, 1, &codes, &res, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "max connections"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_loop_opens_connections_and_keeps_the_schedule),
        cmocka_unit_test(open_loop_at_the_bound_counts_late_requests_and_their_wait),
        cmocka_unit_test(open_loop_bad_bound_is_invalid_argument),
        cmocka_unit_test(every_request_answered_with_distinct_seats_then_sold_out),
        cmocka_unit_test(purchase_request_carries_json_body_and_host),
        cmocka_unit_test(livez_target_sends_get_livez),
        cmocka_unit_test(answers_written_byte_by_byte_are_reassembled),
        cmocka_unit_test(dropped_connection_is_a_connection_error_then_reconnects),
        cmocka_unit_test(chunked_answer_is_flagged_bad_response),
        cmocka_unit_test(silence_until_the_time_limit_is_timeout),
        cmocka_unit_test(connection_close_header_means_a_fresh_connection),
        cmocka_unit_test(body_without_length_ends_at_close),
        cmocka_unit_test(unknown_outcome_is_retried_and_its_ticket_acknowledged),
        cmocka_unit_test(unavailable_is_retried_busy_is_not),
        cmocka_unit_test(users_spread_over_several_urls_and_rate_paces),
        cmocka_unit_test(unknown_outcome_retries_stop_at_the_limit),
        cmocka_unit_test(internal_error_without_retry_after_is_final),
        cmocka_unit_test(no_server_is_unavailable),
        cmocka_unit_test(bad_config_is_invalid_argument),
        cmocka_unit_test(loopback_urls_parse),
        cmocka_unit_test(non_loopback_and_malformed_urls_are_refused),
        cmocka_unit_test(head_parses_status_length_and_flags),
        cmocka_unit_test(head_waits_for_more_and_refuses_garbage),
        cmocka_unit_test(body_scan_reads_only_top_level_keys),
        cmocka_unit_test(body_scan_refuses_non_objects_and_odd_seats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
