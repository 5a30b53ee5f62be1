/* test_stale_connections.c — a server's connections die under it while it is idle (a PostgreSQL
 * or Redis restart, a failover, an idle-connection reaper): SPEC §1 asks the rules to hold under
 * any single fault, and a client should not pay for it. Here the backends close every client
 * connection of the server (pg_terminate_backend, CLIENT KILL) while it is idle; the next
 * purchase must get its ticket on the first try — the connections notice the dead socket and
 * reconnect before use — and nothing is written twice. Every correct strategy (redis-atomic with
 * --durability fast, so its event loops and workers both meet dead connections). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Closes every other client connection of the test database, as a restart would. */
static void kill_pg_clients(void) {
    h_sql_exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
               " WHERE pid <> pg_backend_pid() AND datname = current_database()"
               " AND backend_type = 'client backend'");
}

static void first_purchase_after_dead_connections_succeeds(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_server srv;
    if (strcmp(strategy, "redis-atomic") == 0)
        h_server_start(&srv, strategy, 2, "--durability", "fast", NULL);
    else h_server_start(&srv, strategy, 2, NULL);
    h_resp r = {0};
    int64_t customer = 1;
    for (int round = 0; round < 3; round++, customer++) {
        h_purchase(srv.port, H_CONCERT, customer, &r);
        H_EQ(h_expect_ticket(&r, H_CONCERT, customer), customer);
        /* The write-behind has landed, so the kill hits idle connections only. */
        int64_t deadline = h_now_ms() + 10000;
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM ticket WHERE customer_id = %" PRId64,
                 customer);
        while (h_sql_int(sql) != 1 && h_now_ms() < deadline) h_sleep_ms(20);
        H_EQ(h_sql_int(sql), 1);
        h_sleep_ms(200);
        if (round != 1) kill_pg_clients();
        if (round != 0) h_redis_exec("CLIENT KILL TYPE normal SKIPME yes");
        h_sleep_ms(200); /* idle past the connections' check threshold (50 ms) */
    }
    /* Rounds 0..2 killed PostgreSQL, Redis, then both; each next purchase succeeds at once. */
    h_purchase(srv.port, H_CONCERT, customer, &r);
    char code[32];
    h_resp_code(&r, code, sizeof code);
    H_TRUE(r.status == 201, "%s: first purchase after the connections died: %d %s (%s)", strategy,
           r.status, code, r.body);
    H_EQ(h_expect_ticket(&r, H_CONCERT, customer), customer);
    h_resp_free(&r);
    h_server_stop(&srv);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), customer);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 10 - customer);
}

int main(void) {
    const h_test tests[] = {
        {"first_purchase_after_dead_connections_succeeds",
         first_purchase_after_dead_connections_succeeds, h_correct_strategies()},
    };
    return h_run_tests("stale_connections", tests, sizeof tests / sizeof tests[0]);
}
