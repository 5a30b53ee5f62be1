/* test_framing.c — SPEC §2 "Request framing follows RFC 9112": no client can hide a second request
 * inside the first. Each ambiguous or unsupported framing is answered once (our JSON 400/501, or
 * libmicrohttpd's own 400 where it decides before our code runs), the connection is closed, and
 * whatever was sent after it on the connection — here always a valid purchase — is never run:
 * the database is the same before and after. Valid framings (chunked, HTTP/1.0 without Host)
 * still work and keep the connection. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define PURCHASE "POST /concert/purchase/ticket HTTP/1.1\r\n"
#define JSON_CT "Content-Type: application/json\r\n"
#define BODY(c) "{\"customerId\": " #c ", \"concertId\": 1}"

typedef struct frame_case {
    const char *name;
    const char *head; /* request line and header fields, without the blank line */
    const char *body; /* sent after the blank line, as written (chunked or not) */
    int status;
    const char *code; /* our JSON error code; NULL: libmicrohttpd's own answer (not JSON) */
} frame_case;

/* A chunked purchase body for customer 1. */
#define CHUNKED_1 "21\r\n" BODY(1) "\r\n0\r\n\r\n"

static const frame_case cases[] = {
    /* RFC 9112 §6.1: Transfer-Encoding and Content-Length together. */
    {"TE chunked and CL",
     PURCHASE "Host: x\r\n" JSON_CT "Content-Length: 40\r\nTransfer-Encoding: chunked", CHUNKED_1,
     400, "bad_request"},
    {"CL and TE chunked (TE first)",
     PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: chunked\r\nContent-Length: 4", CHUNKED_1,
     400, "bad_request"},
    {"TE identity and CL",
     PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: identity\r\nContent-Length: 33", BODY(1),
     400, "bad_request"},
    {"TE in HTTP/1.0",
     "POST /concert/purchase/ticket HTTP/1.0\r\n" JSON_CT "Transfer-Encoding: chunked", CHUNKED_1,
     400, "bad_request"},
    /* §6.3 item 5: several Content-Length fields. */
    {"two equal Content-Lengths",
     PURCHASE "Host: x\r\n" JSON_CT "Content-Length: 33\r\nContent-Length: 33", BODY(1), 400,
     "bad_request"},
    {"two different Content-Lengths",
     PURCHASE "Host: x\r\n" JSON_CT "Content-Length: 33\r\nContent-Length: 0", BODY(1), 400,
     "bad_request"},
    /* §6.3 item 5: an invalid Content-Length — libmicrohttpd answers these itself (HTML 400). */
    {"Content-Length 1, 1", PURCHASE "Host: x\r\n" JSON_CT "Content-Length: 1, 1", "{", 400, NULL},
    {"Content-Length +5", PURCHASE "Host: x\r\n" JSON_CT "Content-Length: +5", "{   }", 400, NULL},
    {"Content-Length -1", PURCHASE "Host: x\r\n" JSON_CT "Content-Length: -1", "", 400, NULL},
    {"Content-Length ' 5x'", PURCHASE "Host: x\r\n" JSON_CT "Content-Length:  5x", "{   }", 400,
     NULL},
    {"Content-Length empty", PURCHASE "Host: x\r\n" JSON_CT "Content-Length: ", "", 400, NULL},
    /* §5.1: whitespace between a field name and the colon. */
    {"space before the colon of Content-Length",
     PURCHASE "Host: x\r\n" JSON_CT "Content-Length : 35", BODY(1), 400, "bad_request"},
    {"tab before the colon of a header", "GET /livez HTTP/1.1\r\nHost: x\r\nX-Any\t: 1", "", 400,
     "bad_request"},
    {"space inside a field name", "GET /livez HTTP/1.1\r\nHost: x\r\nX Any: 1", "", 400,
     "bad_request"},
    /* §6.1 and §6.3 item 4: transfer codings. */
    {"TE gzip, chunked", PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: gzip, chunked",
     CHUNKED_1, 501, "not_implemented"},
    {"TE chunked, gzip", PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: chunked, gzip",
     CHUNKED_1, 400, "bad_request"},
    {"TE identity", PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: identity", BODY(1), 400,
     "bad_request"},
    {"TE gzip", PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: gzip", BODY(1), 400,
     "bad_request"},
    {"TE chunked twice",
     PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
     CHUNKED_1, 400, "bad_request"},
    {"TE chunked with a trailing space",
     PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: chunked ", CHUNKED_1, 400, "bad_request"},
    /* §3.2: Host. */
    {"HTTP/1.1 without Host", "GET /livez HTTP/1.1", "", 400, "bad_request"},
    {"purchase without Host", PURCHASE JSON_CT "Content-Length: 33", BODY(1), 400, "bad_request"},
    {"two Host fields", "GET /livez HTTP/1.1\r\nHost: a\r\nHost: b", "", 400, "bad_request"},
    {"Host with a space", "GET /livez HTTP/1.1\r\nHost: a b", "", 400, "bad_request"},
    /* RFC 9110 §5.5: a bare CR inside a value. */
    {"bare CR in a value", "GET /livez HTTP/1.1\r\nHost: x\r\nX-A: a\rb", "", 400, "bad_request"},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* Sends c's request and, in the same write, a valid purchase for customer 2; expects one answer
 * (c's status and code), then the end of the connection with nothing more. */
static void expect_refused_and_closed(int port, const frame_case *c) {
    char raw[2048];
    int n =
        snprintf(raw, sizeof raw,
                 "%s\r\n\r\n%s" PURCHASE "Host: x\r\n" JSON_CT "Content-Length: 33\r\n\r\n" BODY(2),
                 c->head, c->body);
    H_TRUE(n > 0 && (size_t)n < sizeof raw, "%s: request fits", c->name);
    h_conn *conn = h_conn_open(port);
    H_TRUE(conn != NULL, "connected");
    H_TRUE(h_conn_send(conn, raw, (size_t)n), "%s: sent", c->name);
    h_resp r = {0};
    if (!h_conn_recv(conn, &r, 5000)) fail_msg("%s: no answer: %s", c->name, r.error);
    if (c->code) {
        char why[512];
        if (!h_check_error(&r, c->status, c->code, why, sizeof why))
            fail_msg("%s: %s\nhead:\n%s", c->name, why, r.head);
        char hdr[32] = "";
        if (!h_resp_header(&r, "Connection", hdr, sizeof hdr) || strcmp(hdr, "close") != 0)
            fail_msg("%s: no Connection: close (\"%s\"); head:\n%s", c->name, hdr, r.head);
    } else if (r.status != c->status) {
        fail_msg("%s: libmicrohttpd answered %d, want %d; head:\n%s", c->name, r.status, c->status,
                 r.head);
    }
    size_t extra = 0;
    int closed = h_conn_wait_closed(conn, 3000, &extra);
    if (closed != 1)
        fail_msg("%s: the connection stayed open after the answer (%d)", c->name, closed);
    /* libmicrohttpd's own 400 repeats its head inside its body (h_conn_recv read it as the body),
     * so only our answers are checked for a second answer byte for byte. */
    if (c->code && extra != 0)
        fail_msg("%s: %zu more bytes after the answer: a second request was served", c->name,
                 extra);
    h_resp_free(&r);
    h_conn_close(conn);
}

/* Every case, with a purchase behind it: no ticket, no change, the server still answers. */
static void ambiguous_framing_is_refused_and_closes(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_server srv;
    h_server_start(&srv, "db-atomic", 2, NULL);
    char *before = h_db_snapshot();
    for (int i = 0; i < NCASES; i++) {
        expect_refused_and_closed(srv.port, &cases[i]);
        char *after = h_db_snapshot();
        if (strcmp(before, after) != 0)
            fail_msg("%s changed the database:\nbefore:\n%s\nafter:\n%s", cases[i].name, before,
                     after);
        free(after);
    }
    free(before);
    h_resp r = {0};
    h_get(srv.port, "/livez", &r);
    H_EQ(r.status, 200);
    h_resp_free(&r);
    h_server_stop(&srv);
}

/* The report that opened issue 9: a purchase framed both ways hides a second purchase in its
 * body-by-Content-Length; before the fix both ran (two 201s on one connection, no close). Under
 * every strategy that answers at once: one 400, the connection closes, no ticket. */
static void smuggled_purchase_never_runs(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_server srv;
    h_server_start(&srv, strategy, 2, NULL);
    static const char hidden[] =
        PURCHASE "Host: x\r\n" JSON_CT "Content-Length: 33\r\n\r\n" BODY(2);
    char chunked[256], raw[1024];
    int cn = snprintf(chunked, sizeof chunked, "%s%s", CHUNKED_1, hidden);
    int n = snprintf(raw, sizeof raw,
                     PURCHASE "Host: x\r\n" JSON_CT
                              "Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                     cn, chunked);
    H_TRUE(n > 0 && (size_t)n < sizeof raw, "request fits");
    h_conn *c = h_conn_open(srv.port);
    H_TRUE(c != NULL, "connected");
    H_TRUE(h_conn_send(c, raw, (size_t)n), "sent");
    h_resp r = {0};
    H_TRUE(h_conn_recv(c, &r, 5000), "answered: %s", r.error);
    int status = r.status;
    char head[512];
    snprintf(head, sizeof head, "%.500s", r.head);
    h_resp second = {0};
    bool got_second = h_conn_recv(c, &second, 2000);
    char why[512] = "";
    bool ok = h_check_error(&r, 400, "bad_request", why, sizeof why);
    h_resp_free(&r);
    h_resp_free(&second);
    h_conn_close(c);
    free(h_db_settled());
    int64_t tickets = h_sql_int("SELECT count(*) FROM ticket");
    h_server_stop(&srv);
    H_TRUE(!got_second, "one request only; a second answer came: %d", second.status);
    H_TRUE(ok, "%s; status %d, head:\n%s", why, status, head);
    H_TRUE(strstr(head, "Connection: close") != NULL, "Connection: close; head:\n%s", head);
    H_EQ(tickets, 0);
}

/* What stays valid: a chunked purchase (and the connection stays open for the next request), a
 * Content-Length purchase, HTTP/1.0 without Host, an empty Host value. */
static void valid_framing_still_works(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_server srv;
    h_server_start(&srv, "db-atomic", 2, NULL);
    h_conn *c = h_conn_open(srv.port);
    H_TRUE(c != NULL, "connected");
    static const char chunked[] =
        PURCHASE "Host: x\r\n" JSON_CT "Transfer-Encoding: chunked\r\n\r\n" CHUNKED_1;
    h_resp r = {0};
    h_roundtrip(c, chunked, sizeof chunked - 1, &r);
    H_EQ(h_expect_ticket(&r, H_CONCERT, 1), 1);
    H_TRUE(!r.closed, "a chunked purchase keeps the connection; head:\n%s", r.head);
    static const char plain[] =
        PURCHASE "Host: 127.0.0.1:1\r\n" JSON_CT "Content-Length: 33\r\n\r\n" BODY(2);
    h_roundtrip(c, plain, sizeof plain - 1, &r);
    H_EQ(h_expect_ticket(&r, H_CONCERT, 2), 2);
    h_conn_close(c);

    static const char http10[] = "GET /livez HTTP/1.0\r\n\r\n";
    h_request(srv.port, http10, sizeof http10 - 1, &r);
    H_EQ(r.status, 200);
    static const char empty_host[] = "GET /livez HTTP/1.1\r\nHost:\r\n\r\n";
    h_request(srv.port, empty_host, sizeof empty_host - 1, &r);
    H_EQ(r.status, 200);
    h_resp_free(&r);
    h_server_stop(&srv);
}

int main(void) {
    const h_test tests[] = {
        {"ambiguous_framing_is_refused_and_closes", ambiguous_framing_is_refused_and_closes, NULL},
        {"smuggled_purchase_never_runs", smuggled_purchase_never_runs, h_correct_strategies()},
        {"valid_framing_still_works", valid_framing_still_works, NULL},
    };
    return h_run_tests("framing", tests, sizeof tests / sizeof tests[0]);
}
