/* test_sales_closed.c — R5: no ticket at or after starts_at, by one clock (PostgreSQL now() or
 * Redis TIME). The concert is seeded with starts_at one second in the past; every strategy, naive
 * included, answers 409 sales_closed, writes no ticket and leaves remaining as it was. And the
 * boundary: sales open for a few seconds sell, then stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void sales_closed(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 20, .sales_open_s = -1});
    char *before = h_db_snapshot();
    h_server srv;
    h_server_start(&srv, strategy, 4, NULL);

    for (int64_t customer = 1; customer <= 3; customer++) {
        h_resp r = {0};
        h_purchase(srv.port, H_CONCERT, customer, &r);
        h_expect_error(&r, 409, "sales_closed");
        h_resp_free(&r);
    }
    /* The outcome endpoint agrees: nothing was issued. */
    h_resp r = {0};
    h_get(srv.port, "/concerts/1/tickets/1", &r);
    H_EQ(r.status, 200);
    json_t *j = h_json(&r);
    H_STREQ(h_json_str(j, "status"), "none");
    json_decref(j);
    h_resp_free(&r);

    h_server_stop(&srv); /* drained */
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), 0);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 10);
    /* The lock strategies register their fencing token under the lock even when they refuse (it
     * only grows), and write-behind strategies reserve ticket ids when a sale opens: put those
     * bookkeeping columns back so that the rest of the picture is compared. */
    h_sql_exec("UPDATE concert SET fence = 0, ticket_id_base = NULL WHERE id = 1");
    char *after = h_db_snapshot();
    H_STREQ(after, before);
    free(before);
    free(after);
}

/* The boundary: sales open for a few seconds. Before starts_at every strategy sells; once the
 * clock reaches starts_at every strategy refuses. Each strategy's server sells its own concert
 * (1, 2, …), and they all share the wait. */
static void sales_close_at_starts_at(void **state) {
    (void)state;
    const char *const *strategies = h_all_strategies();
    enum { MAX = 8 }; /* the harness runs at most 8 servers at once */
    int ns = 0;
    while (strategies[ns] && ns < MAX) ns++;
    h_seed seed = {.seats = 10, .vip = 2, .customers = 20, .sales_open_s = 4};
    h_reset(&seed);
    for (int i = 1; i < ns; i++) h_seed_concert(H_CONCERT + i, &seed);
    h_server srv[MAX];
    for (int i = 0; i < ns; i++) h_server_start(&srv[i], strategies[i], 2, NULL);
    h_resp r = {0};
    for (int i = 0; i < ns; i++) {
        h_purchase(srv[i].port, H_CONCERT + i, 1, &r);
        if (r.status != 201)
            fail_msg("%s before starts_at: %d %s", strategies[i], r.status, r.body);
        H_EQ(h_expect_ticket(&r, H_CONCERT + i, 1), 1);
    }
    int64_t left_ms = h_sql_int(
        "SELECT greatest(0, ceil(extract(epoch FROM max(starts_at) - clock_timestamp()) * 1000))"
        "::bigint FROM concert");
    h_sleep_ms((int)left_ms + 200);
    for (int i = 0; i < ns; i++) {
        h_purchase(srv[i].port, H_CONCERT + i, 2, &r);
        char why[512];
        if (!h_check_error(&r, 409, "sales_closed", why, sizeof why))
            fail_msg("%s after starts_at: %s", strategies[i], why);
    }
    h_resp_free(&r);
    for (int i = 0; i < ns; i++) h_server_stop(&srv[i]);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), ns);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE customer_id = 2"), 0);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket t JOIN concert c ON c.id = t.concert_id"
                   " WHERE t.issued_at >= c.starts_at"),
         0);
    H_EQ(h_sql_int("SELECT count(*) FROM concert WHERE remaining <> 9"), 0);
}

int main(void) {
    const h_test tests[] = {
        {"refused_after_close", sales_closed, h_all_strategies()},
        {"sales_close_at_starts_at", sales_close_at_starts_at, NULL},
    };
    return h_run_tests("sales_closed", tests, sizeof tests / sizeof tests[0]);
}
