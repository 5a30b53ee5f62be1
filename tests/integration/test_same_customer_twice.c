/* test_same_customer_twice.c — R2 under a race: one customer sends two purchases at the same
 * instant on two connections. Every correct strategy answers exactly one 201 and one 409
 * already_owned whose body carries that same ticket, and PostgreSQL holds one ticket for the
 * customer (redis-atomic runs with --durability strict, so a 201 is already in PostgreSQL).
 * Repeated a few rounds (a fresh customer each time) to give the race its chances. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ROUNDS 5
#define PARALLEL 2

static void same_customer_twice(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 100, .vip = 10, .customers = 100});
    h_server srv;
    h_server_start(&srv, strategy, 8, NULL);

    for (int round = 0; round < ROUNDS; round++) {
        int64_t customer = 10 + round;
        h_burst_req reqs[PARALLEL];
        memset(reqs, 0, sizeof reqs);
        for (int i = 0; i < PARALLEL; i++)
            reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, customer);
        h_burst(srv.port, reqs, PARALLEL, 10000);

        int won = -1, owned = -1;
        for (int i = 0; i < PARALLEL; i++) {
            char code[32];
            h_resp_code(&reqs[i].resp, code, sizeof code);
            if (reqs[i].resp.status == 201 && won < 0) won = i;
            else if (reqs[i].resp.status == 409 && strcmp(code, "already_owned") == 0 && owned < 0)
                owned = i;
            else
                fail_msg("%s round %d: answer %d is %d %s; want one 201 and one 409 "
                         "already_owned; bodies:\n%s\n%s",
                         strategy, round, i, reqs[i].resp.status, code, reqs[0].resp.body,
                         reqs[1].resp.body);
        }
        int64_t seat = h_expect_ticket(&reqs[won].resp, H_CONCERT, customer);
        H_EQ(seat, round + 1); /* R3: the k-th ticket gets seat k */

        /* The already_owned body carries the very ticket the winner got. */
        json_t *ticket = h_json(&reqs[won].resp);
        json_t *refusal = h_json(&reqs[owned].resp);
        json_t *carried = json_object_get(refusal, "ticket");
        H_TRUE(json_is_object(carried), "already_owned carries a ticket: %s",
               reqs[owned].resp.body);
        H_TRUE(json_equal(ticket, carried), "the carried ticket equals the issued one:\n%s\n%s",
               reqs[won].resp.body, reqs[owned].resp.body);
        json_decref(ticket);
        json_decref(refusal);

        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM ticket WHERE concert_id = 1 AND customer_id = %" PRId64,
                 customer);
        H_EQ(h_sql_int(sql), 1);
        h_burst_free(reqs, PARALLEL);
    }
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), ROUNDS);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 100 - ROUNDS);
    h_server_stop(&srv);
}

int main(void) {
    const h_test tests[] = {
        {"one_ticket_per_customer", same_customer_twice, h_correct_strategies()},
    };
    return h_run_tests("same_customer_twice", tests, sizeof tests / sizeof tests[0]);
}
