/* test_waiting_line.c — the waiting-line strategy (SPEC §3 redis-zset): admission answers 202 with
 * a place in line, or 409 sold_out at once for the overflow; the issuer turns the line into
 * tickets in admission order. Checked on what clients see (202/409, then the outcome endpoint
 * moving from queued to issued or rejected) and on what PostgreSQL holds after the drain: one
 * ticket per admitted customer, seats dense, VIP right, in real-time order (R6). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "strategy/strategy.h"

#define STRATEGY "redis-zset"

/* Polls the customer's outcome until it is no longer "queued" (10 s at most); returns the final
 * status ("issued", "rejected", "none") in out, and the seat when issued. */
static int64_t wait_outcome(int port, int64_t customer, char *out, size_t outlen) {
    char path[96];
    snprintf(path, sizeof path, "/concerts/%d/tickets/%" PRId64, H_CONCERT, customer);
    int64_t deadline = h_now_ms() + 10000, seat = 0;
    h_resp r = {0};
    for (;;) {
        h_get(port, path, &r);
        if (r.status != 200) fail_msg("GET %s: %d %s", path, r.status, r.body);
        json_t *j = h_json(&r);
        snprintf(out, outlen, "%s", h_json_str(j, "status"));
        if (strcmp(out, "queued") == 0) {
            H_CMP(h_json_int(j, "position"), >=, 1);
        } else if (strcmp(out, "issued") == 0) {
            json_t *t = json_object_get(j, "ticket");
            H_TRUE(json_is_object(t), "issued carries a ticket: %s", r.body);
            seat = h_json_int(t, "seatNo");
        } else if (strcmp(out, "rejected") == 0) {
            H_STREQ(h_json_str(j, "reason"), "sold_out");
        }
        json_decref(j);
        if (strcmp(out, "queued") != 0 || h_now_ms() > deadline) break;
        h_sleep_ms(50);
    }
    h_resp_free(&r);
    return seat;
}

static void one_seat_line(void **state) {
    (void)state;
    enum { BUYERS = 50 };
    if (strategy_find(STRATEGY) == NULL) skip();
    h_reset(&(h_seed){.seats = 1, .vip = 1, .customers = BUYERS});
    h_server srv;
    h_server_start(&srv, STRATEGY, 32, NULL);
    h_burst_req *reqs = calloc(BUYERS, sizeof *reqs);
    assert_non_null(reqs);
    for (int i = 0; i < BUYERS; i++)
        reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, i + 1);
    h_burst(srv.port, reqs, BUYERS, 15000);
    int queued = 0, sold_out = 0, winner = 0;
    for (int i = 0; i < BUYERS; i++) {
        char code[32];
        h_resp_code(&reqs[i].resp, code, sizeof code);
        if (reqs[i].resp.status == 202) {
            queued++;
            winner = i + 1;
            json_t *j = h_json(&reqs[i].resp);
            H_STREQ(h_json_str(j, "status"), "queued");
            H_EQ(h_json_int(j, "customerId"), i + 1);
            H_EQ(h_json_int(j, "position"), 1);
            json_decref(j);
        } else if (reqs[i].resp.status == 409 && strcmp(code, "sold_out") == 0) {
            sold_out++;
        } else {
            fail_msg("customer %d got %d %s, want 202 or 409 sold_out; body: %s", i + 1,
                     reqs[i].resp.status, code, reqs[i].resp.body);
        }
    }
    H_EQ(queued, 1);
    H_EQ(sold_out, BUYERS - 1);
    char status[32];
    H_EQ(wait_outcome(srv.port, winner, status, sizeof status), 1);
    H_STREQ(status, "issued");
    wait_outcome(srv.port, winner == 1 ? 2 : 1, status, sizeof status);
    H_STREQ(status, "rejected");
    h_server_stop(&srv);

    h_ticket_row *rows = NULL;
    H_EQ(h_tickets(&rows), 1);
    H_EQ(rows[0].customer_id, winner);
    H_EQ(rows[0].seat_no, 1);
    H_TRUE(rows[0].vip, "seat 1 is VIP");
    free(rows);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 0);
    h_burst_free(reqs, BUYERS);
    free(reqs);
}

/* Requests one after another: the k-th gets seat k (R3, R6); the overflow is refused at once;
 * asking again while queued or issued changes nothing. */
static void sequential_buyers_get_seats_in_arrival_order(void **state) {
    (void)state;
    enum { N = 10, V = 3 };
    if (strategy_find(STRATEGY) == NULL) skip();
    h_reset(&(h_seed){.seats = N, .vip = V, .customers = 20});
    h_server srv;
    h_server_start(&srv, STRATEGY, 4, NULL);
    h_resp r = {0};
    for (int k = 1; k <= N; k++) {
        h_purchase(srv.port, H_CONCERT, 20 - k, &r); /* ids need not follow the order */
        if (r.status != 202) fail_msg("buyer %d: %d %s, want 202 queued", k, r.status, r.body);
    }
    h_purchase(srv.port, H_CONCERT, 1, &r);
    h_expect_error(&r, 409, "sold_out");
    /* a buyer asking again gets her place or her ticket, never a second admission */
    h_purchase(srv.port, H_CONCERT, 19, &r);
    H_TRUE(r.status == 202 || r.status == 409, "repeat: %d %s", r.status, r.body);
    if (r.status == 409) h_expect_error(&r, 409, "already_owned");
    char status[32];
    for (int k = 1; k <= N; k++) {
        int64_t seat = wait_outcome(srv.port, 20 - k, status, sizeof status);
        if (strcmp(status, "issued") != 0 || seat != k)
            fail_msg("buyer %d (customer %d): %s seat %" PRId64 ", want issued seat %d", k, 20 - k,
                     status, seat, k);
    }
    h_resp_free(&r);
    h_server_stop(&srv);
    h_ticket_row *rows = NULL;
    H_EQ(h_tickets(&rows), N);
    for (int i = 0; i < N; i++) {
        H_EQ(rows[i].seat_no, i + 1);
        H_EQ(rows[i].customer_id, 20 - (i + 1));
        H_EQ(rows[i].vip, i + 1 <= V);
    }
    free(rows);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 0);
}

/* A burst twice the size of the hall: N admitted (202), N refused (409 sold_out); once issued —
 * by this server or, after a stop, by the next — every admitted customer holds one ticket, seats
 * dense, and no refused one holds any. */
static void burst_admits_exactly_the_seats(void **state) {
    (void)state;
    enum { N = 20, V = 5, BUYERS = 40 };
    if (strategy_find(STRATEGY) == NULL) skip();
    h_reset(&(h_seed){.seats = N, .vip = V, .customers = BUYERS});
    h_server srv;
    h_server_start(&srv, STRATEGY, 16, NULL);
    h_burst_req *reqs = calloc(BUYERS, sizeof *reqs);
    assert_non_null(reqs);
    for (int i = 0; i < BUYERS; i++)
        reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, i + 1);
    h_burst(srv.port, reqs, BUYERS, 15000);
    bool admitted[BUYERS + 1];
    memset(admitted, 0, sizeof admitted);
    int queued = 0;
    for (int i = 0; i < BUYERS; i++) {
        char code[32];
        h_resp_code(&reqs[i].resp, code, sizeof code);
        if (reqs[i].resp.status == 202) {
            queued++;
            admitted[i + 1] = true;
        } else if (!(reqs[i].resp.status == 409 && strcmp(code, "sold_out") == 0)) {
            fail_msg("customer %d got %d %s; body: %s", i + 1, reqs[i].resp.status, code,
                     reqs[i].resp.body);
        }
    }
    H_EQ(queued, N);
    /* SIGTERM right after the admissions: whatever the issuer had not issued yet stays in the
     * line (Redis) and a new server process issues it — no admitted customer is lost (R7). */
    h_server_stop(&srv);
    int64_t at_stop = h_sql_int("SELECT count(*) FROM ticket");
    h_server again;
    h_server_start(&again, STRATEGY, 2, NULL);
    int64_t deadline = h_now_ms() + 15000, n = at_stop;
    while ((n = h_sql_int("SELECT count(*) FROM ticket")) < N && h_now_ms() < deadline)
        h_sleep_ms(100);
    print_message("waiting line: %" PRId64 " of %d admitted issued by the stop, %" PRId64
                  " after a restart\n",
                  at_stop, N, n);
    h_server_stop(&again);
    h_ticket_row *rows = NULL;
    H_EQ(h_tickets(&rows), N);
    for (int i = 0; i < N; i++) {
        H_EQ(rows[i].seat_no, i + 1);
        H_EQ(rows[i].vip, i + 1 <= V);
        int64_t cu = rows[i].customer_id;
        H_TRUE(cu >= 1 && cu <= BUYERS && admitted[cu],
               "seat %d went to customer %" PRId64 ", who was not admitted", i + 1, cu);
    }
    free(rows);
    H_EQ(h_sql_int("SELECT count(DISTINCT customer_id) FROM ticket"), N);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 0);
    h_burst_free(reqs, BUYERS);
    free(reqs);
}

/* issuer.h: stop "issues what is still in the lines it leads". With one server, that server's
 * issuer is the only one there is: a SIGTERM right after admissions must still issue them before
 * the process exits, whether or not the issuer had noticed the new sale yet. */
static void sigterm_issues_the_admitted_line(void **state) {
    (void)state;
    enum { N = 10, ADMITTED = 5 };
    if (strategy_find(STRATEGY) == NULL) skip();
    h_reset(&(h_seed){.seats = N, .vip = 2, .customers = 10});
    h_server srv;
    h_server_start(&srv, STRATEGY, 2, NULL);
    h_resp r = {0};
    for (int k = 1; k <= ADMITTED; k++) {
        h_purchase(srv.port, H_CONCERT, k, &r);
        if (r.status != 202) fail_msg("buyer %d: %d %s, want 202 queued", k, r.status, r.body);
    }
    h_resp_free(&r);
    h_server_stop(&srv);
    int64_t issued = h_sql_int("SELECT count(*) FROM ticket");
    if (issued != ADMITTED)
        fail_msg("SIGTERM right after %d admissions: %" PRId64 " tickets in PostgreSQL after the "
                 "exit, want %d (the stopping issuer did not issue the line)",
                 ADMITTED, issued, ADMITTED);
}

int main(void) {
    const h_test tests[] = {
        {"one_seat_line", one_seat_line, NULL},
        {"sequential_buyers_get_seats_in_arrival_order",
         sequential_buyers_get_seats_in_arrival_order, NULL},
        {"burst_admits_exactly_the_seats", burst_admits_exactly_the_seats, NULL},
        {"sigterm_issues_the_admitted_line", sigterm_issues_the_admitted_line, NULL},
    };
    return h_run_tests("waiting_line", tests, sizeof tests / sizeof tests[0]);
}
