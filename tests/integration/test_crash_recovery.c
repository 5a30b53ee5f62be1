/* test_crash_recovery.c — the crash between admission and persistence (STYLE.md's third
 * concurrency test; SPEC §3 redis-atomic, R7, R8). With --durability fast a 201 is answered once
 * the Redis script has run; the persister is made to wait before its commit and the server is
 * SIGKILLed in that window. A new server process must reclaim the dead persister's pending entries
 * and store every acknowledged ticket — seat and customer as answered, once each, remaining right
 * — and the sale goes on where it stopped. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "strategy/strategy.h"

#define SOLD 3

static void acknowledged_tickets_survive_a_crash_before_persistence(void **state) {
    (void)state;
    H_NEEDS_TEST_HOOKS();
    if (strategy_find("redis-atomic") == NULL) skip();
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_server a;
    h_server_start(&a, "redis-atomic", 2, "--durability", "fast", "--test-persist-delay", "5000",
                   "--reclaim-idle", "500", NULL);
    h_resp r = {0};
    for (int k = 1; k <= SOLD; k++) {
        h_purchase(a.port, H_CONCERT, k, &r);
        H_EQ(h_expect_ticket(&r, H_CONCERT, k), k);
    }
    h_server_kill(&a); /* the persister is inside its 5 s wait: nothing committed yet */
    int64_t before = h_sql_int("SELECT count(*) FROM ticket");
    print_message("after SIGKILL: %" PRId64 " of %d acknowledged tickets in PostgreSQL\n", before,
                  SOLD);

    h_server b;
    h_server_start(&b, "redis-atomic", 2, "--durability", "fast", "--reclaim-idle", "500", NULL);
    int64_t deadline = h_now_ms() + 15000, n = 0;
    while ((n = h_sql_int("SELECT count(*) FROM ticket")) < SOLD && h_now_ms() < deadline)
        h_sleep_ms(100);
    if (n != SOLD)
        fail_msg("the restarted server stored %" PRId64 " of the %d acknowledged tickets within "
                 "15 s (R7)",
                 n, SOLD);
    h_ticket_row *rows = NULL;
    H_EQ(h_tickets(&rows), SOLD);
    for (int i = 0; i < SOLD; i++) {
        H_EQ(rows[i].seat_no, i + 1);
        H_EQ(rows[i].customer_id, i + 1);
        H_EQ(rows[i].vip, i + 1 <= 2);
    }
    free(rows);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 10 - SOLD);

    /* the sale goes on: the next buyer gets the next seat, an earlier one already owns hers */
    h_purchase(b.port, H_CONCERT, SOLD + 1, &r);
    H_EQ(h_expect_ticket(&r, H_CONCERT, SOLD + 1), SOLD + 1);
    h_purchase(b.port, H_CONCERT, 1, &r);
    h_expect_error(&r, 409, "already_owned");
    h_resp_free(&r);
    h_server_stop(&b); /* drains */
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), SOLD + 1);
    H_EQ(h_sql_int("SELECT count(DISTINCT seat_no) FROM ticket"), SOLD + 1);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 10 - SOLD - 1);
}

int main(void) {
    const h_test tests[] = {
        {"acknowledged_tickets_survive_a_crash_before_persistence",
         acknowledged_tickets_survive_a_crash_before_persistence, NULL},
    };
    return h_run_tests("crash_recovery", tests, sizeof tests / sizeof tests[0]);
}
