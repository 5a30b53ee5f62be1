/* test_store_ceiling.c — `ticketrush store-ceiling` (issue 12 §3): the persister alone stores a
 * stream the command fills with one ticket per seat; PostgreSQL then holds exactly those tickets
 * (dense seats, VIP by seat, remaining 0: R1–R4, R8), the command prints P, and a concert that is
 * already sold is refused at once instead of waiting for rows that will never be inserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void stores_every_seat_and_refuses_a_sold_concert(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 600, .vip = 7, .customers = 800});
    const char *argv[] = {h_env_bin(), "store-ceiling", "--concert", "1",       "--persist-batch",
                          "64",        "--pg",          h_env_pg(),  "--redis", h_env_redis(),
                          NULL};
    char *out = NULL;
    int rc = h_run(argv, 60000, &out);
    if (rc != 0) print_error("%s\n", out ? out : "");
    H_EQ(rc, 0);
    H_TRUE(out && strstr(out, "tickets/s") != NULL, "prints P: %s", out ? out : "");
    free(out);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1"), 600);
    H_EQ(h_sql_int("SELECT count(DISTINCT seat_no) FROM ticket WHERE concert_id = 1 "
                   "AND seat_no BETWEEN 1 AND 600"),
         600);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1 AND vip <> (seat_no <= 7)"),
         0);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 0);
    /* Again: every seat is sold, so nothing could be stored; refused at once. */
    int64_t t0 = h_now_ms();
    rc = h_run(argv, 60000, &out);
    H_TRUE(rc != 0, "a sold concert is refused (exit %d)", rc);
    H_TRUE(out && strstr(out, "already") != NULL, "says why: %s", out ? out : "");
    H_TRUE(h_now_ms() - t0 < 10000, "refused at once, not after a wait");
    free(out);
}

int main(void) {
    const h_test tests[] = {
        {"stores_every_seat_and_refuses_a_sold_concert",
         stores_every_seat_and_refuses_a_sold_concert, NULL},
    };
    return h_run_tests("store_ceiling", tests, sizeof tests / sizeof tests[0]);
}
