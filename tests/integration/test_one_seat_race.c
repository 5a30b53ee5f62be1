/* test_one_seat_race.c — SPEC §4's one-seat scenario as a regression test: 1 seat (VIP), 50
 * customers released at once by a barrier, each on its own pre-connected socket. Every correct
 * strategy (h_correct_strategies) must sell exactly one ticket (R1), seat 1 (R3), VIP (R4),
 * remaining 0 (R8), and refuse the other 49 with 409 sold_out — not busy: the lock strategies'
 * wait (2 s) outlasts 50 short holds. The database is read after the server drained (R7). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CUSTOMERS 50

static void one_seat_race(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 1, .vip = 1, .customers = CUSTOMERS});
    h_server srv;
    h_server_start(&srv, strategy, 32, NULL);

    h_burst_req *reqs = calloc(CUSTOMERS, sizeof *reqs);
    assert_non_null(reqs);
    for (int i = 0; i < CUSTOMERS; i++)
        reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, i + 1);
    h_burst(srv.port, reqs, CUSTOMERS, 15000);
    h_server_stop(&srv); /* drained: every acknowledged ticket is in PostgreSQL now */

    int created = 0, sold_out = 0, winner = -1;
    for (int i = 0; i < CUSTOMERS; i++) {
        char code[32];
        h_resp_code(&reqs[i].resp, code, sizeof code);
        if (reqs[i].resp.status == 201) {
            created++;
            winner = i;
        } else if (reqs[i].resp.status == 409 && strcmp(code, "sold_out") == 0) {
            sold_out++;
        } else {
            fail_msg("%s: customer %d got %d %s, want 201 or 409 sold_out; body: %s", strategy,
                     i + 1, reqs[i].resp.status, code, reqs[i].resp.body);
        }
    }
    H_EQ(created, 1);
    H_EQ(sold_out, CUSTOMERS - 1);
    H_EQ(h_expect_ticket(&reqs[winner].resp, H_CONCERT, winner + 1), 1);
    json_t *j = h_json(&reqs[winner].resp);
    H_TRUE(json_is_true(json_object_get(j, "vip")), "seat 1 of 1 VIP seat is VIP: %s",
           reqs[winner].resp.body);
    json_decref(j);

    h_ticket_row *rows = NULL;
    int n = h_tickets(&rows);
    H_EQ(n, 1);
    H_EQ(rows[0].seat_no, 1);
    H_TRUE(rows[0].vip, "the only ticket is VIP");
    H_EQ(rows[0].customer_id, winner + 1);
    free(rows);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 0);

    h_burst_free(reqs, CUSTOMERS);
    free(reqs);
}

int main(void) {
    const h_test tests[] = {
        {"one_seat_sold_once", one_seat_race, h_correct_strategies()},
    };
    return h_run_tests("one_seat_race", tests, sizeof tests / sizeof tests[0]);
}
