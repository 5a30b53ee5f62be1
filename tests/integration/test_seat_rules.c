/* test_seat_rules.c — R3 (the k-th ticket gets seat k, seats dense and unique), R4 (vip exactly
 * when seat ≤ V) and R8 (remaining = N − tickets) on the tickets PostgreSQL really holds: in
 * sequence for every strategy (naive included: without concurrency it keeps the rules), and under
 * a concurrent burst for the correct ones, where each 201 must match its row. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Asserts R3, R4 and R8 on the database for n tickets of n_seats with v VIP seats. */
static void expect_dense_seats(int tickets, int n_seats, int v) {
    h_ticket_row *rows = NULL;
    int n = h_tickets(&rows);
    H_EQ(n, tickets);
    for (int i = 0; i < n; i++) {
        if (rows[i].seat_no != i + 1)
            fail_msg("seats are not dense: ticket %d of %d has seat %d, want %d", i + 1, n,
                     rows[i].seat_no, i + 1);
        if (rows[i].vip != (rows[i].seat_no <= v))
            fail_msg("R4: seat %d has vip %s with %d VIP seats", rows[i].seat_no,
                     rows[i].vip ? "true" : "false", v);
    }
    free(rows);
    H_EQ(h_sql_int("SELECT count(DISTINCT customer_id) FROM ticket"), tickets);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), n_seats - tickets);
}

static void sequential_seats(void **state) {
    const char *strategy = *state;
    enum { N = 5, V = 2 };
    h_reset(&(h_seed){.seats = N, .vip = V, .customers = 10});
    h_server srv;
    h_server_start(&srv, strategy, 2, NULL);
    h_resp r = {0};
    for (int k = 1; k <= N; k++) {
        h_purchase(srv.port, H_CONCERT, 10 - k, &r); /* customer ids need not follow seats */
        H_EQ(h_expect_ticket(&r, H_CONCERT, 10 - k), k);
        json_t *j = h_json(&r);
        if (json_is_true(json_object_get(j, "vip")) != (k <= V))
            fail_msg("%s: seat %d answered vip %s with %d VIP seats", strategy, k,
                     json_is_true(json_object_get(j, "vip")) ? "true" : "false", V);
        json_decref(j);
    }
    h_purchase(srv.port, H_CONCERT, 1, &r);
    h_expect_error(&r, 409, "sold_out");
    h_get(srv.port, "/concerts/1", &r);
    json_t *j = h_json(&r);
    H_EQ(h_json_int(j, "sold"), N);
    H_EQ(h_json_int(j, "remaining"), 0);
    json_decref(j);
    h_resp_free(&r);
    h_server_stop(&srv);
    expect_dense_seats(N, N, V);
}

static void concurrent_seats(void **state) {
    const char *strategy = *state;
    enum { N = 20, V = 5, BUYERS = 40 };
    h_reset(&(h_seed){.seats = N, .vip = V, .customers = BUYERS});
    h_server srv;
    h_server_start(&srv, strategy, 16, NULL);
    h_burst_req *reqs = calloc(BUYERS, sizeof *reqs);
    assert_non_null(reqs);
    for (int i = 0; i < BUYERS; i++)
        reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, i + 1);
    h_burst(srv.port, reqs, BUYERS, 15000);
    h_server_stop(&srv);

    int created = 0, sold_out = 0;
    int64_t seat_of[BUYERS + 1];
    memset(seat_of, 0, sizeof seat_of);
    for (int i = 0; i < BUYERS; i++) {
        char code[32];
        h_resp_code(&reqs[i].resp, code, sizeof code);
        if (reqs[i].resp.status == 201) {
            created++;
            seat_of[i + 1] = h_expect_ticket(&reqs[i].resp, H_CONCERT, i + 1);
        } else if (reqs[i].resp.status == 409 && strcmp(code, "sold_out") == 0) {
            sold_out++;
        } else {
            fail_msg("%s: customer %d got %d %s; body: %s", strategy, i + 1, reqs[i].resp.status,
                     code, reqs[i].resp.body);
        }
    }
    H_EQ(created, N);
    H_EQ(sold_out, BUYERS - N);
    expect_dense_seats(N, N, V);
    /* every acknowledged seat is the one PostgreSQL holds for that customer (R7) */
    h_ticket_row *rows = NULL;
    int n = h_tickets(&rows);
    for (int i = 0; i < n; i++) {
        int64_t cu = rows[i].customer_id;
        H_TRUE(cu >= 1 && cu <= BUYERS, "customer %" PRId64 " in range", cu);
        if (seat_of[cu] != rows[i].seat_no)
            fail_msg("customer %" PRId64 " was answered seat %" PRId64 " but holds seat %d", cu,
                     seat_of[cu], rows[i].seat_no);
    }
    free(rows);
    h_burst_free(reqs, BUYERS);
    free(reqs);
}

/* Runs sql, which the schema must refuse with sqlstate, and checks that nothing changed. */
static void expect_refused(const char *sql, const char *sqlstate) {
    char *before = h_db_snapshot();
    if (pg_exec_ok(h_pg(), sql) == TR_OK) fail_msg("the schema took: %s", sql);
    const char *got = pg_conn_sqlstate(h_pg());
    if (strcmp(got, sqlstate) != 0)
        fail_msg("%s: SQLSTATE %s (%s), want %s", sql, got, pg_conn_errstr(h_pg()), sqlstate);
    char *after = h_db_snapshot();
    if (strcmp(before, after) != 0) fail_msg("%s was refused but changed the database", sql);
    free(before);
    free(after);
}

/* The schema's rule that a ticket names a customer that exists (store/schema.c: checked once per
 * statement, customers permanent) refuses what a foreign key refuses, whole statements at once,
 * and the customers under tickets can be neither deleted, re-keyed nor truncated. */
static void tickets_name_customers_that_exist(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 5});
    h_sql_exec("INSERT INTO ticket (concert_id, customer_id, seat_no, vip) VALUES (1, 1, 1, true)");
    expect_refused(
        "INSERT INTO ticket (concert_id, customer_id, seat_no, vip) VALUES (1, 6, 2, true)",
        "23503");
    /* one unknown customer among several: the persister's multi-row insert stores none */
    expect_refused(
        "INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
        " SELECT 1, c, c, c <= 2 FROM unnest(ARRAY[2, 3, 99, 4]) WITH ORDINALITY u(c, o)",
        "23503");
    expect_refused("UPDATE ticket SET customer_id = 77 WHERE customer_id = 1", "23503");
    expect_refused("DELETE FROM customer WHERE id = 1", "23001");
    expect_refused("DELETE FROM customer WHERE id = 5", "23001");
    expect_refused("UPDATE customer SET id = 50 WHERE id = 1", "23001");
    expect_refused("TRUNCATE customer CASCADE", "23001");
    h_sql_exec("UPDATE customer SET name = 'renamed' WHERE id = 1"); /* not its key: allowed */
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), 1);
    h_sql_exec("INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
               " SELECT 1, c, c, c <= 2 FROM generate_series(2, 5) c");
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), 5);
}

/* A ticket names a concert that exists (store/schema.c: checked once per statement, the named
 * concerts locked FOR KEY SHARE as a foreign key does): an unknown concert is refused like a
 * foreign key refuses it, a concert's delete takes its tickets with it (ON DELETE CASCADE), and
 * its re-key or truncation is refused while tickets name it. */
static void tickets_name_concerts_that_exist(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 5});
    h_sql_exec("INSERT INTO ticket (concert_id, customer_id, seat_no, vip) VALUES (1, 1, 1, true)");
    expect_refused(
        "INSERT INTO ticket (concert_id, customer_id, seat_no, vip) VALUES (2, 2, 1, true)",
        "23503");
    /* one unknown concert among several rows: none stored */
    expect_refused("INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
                   " VALUES (1, 2, 2, true), (9, 3, 1, true), (1, 4, 3, false)",
                   "23503");
    expect_refused("UPDATE ticket SET concert_id = 5 WHERE customer_id = 1", "23503");
    expect_refused("UPDATE concert SET id = 7 WHERE id = 1", "23503");
    expect_refused("TRUNCATE concert CASCADE", "23503");
    h_sql_exec("UPDATE concert SET name = 'renamed' WHERE id = 1"); /* not its key: allowed */
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), 1);
    h_sql_exec("INSERT INTO concert (id, name, starts_at, total_seats, vip_seats, remaining)"
               " VALUES (2, 'two', now() + interval '1 hour', 5, 0, 5)");
    h_sql_exec("INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
               " VALUES (2, 1, 1, false), (1, 2, 2, true)");
    h_sql_exec("UPDATE concert SET id = 3 WHERE id = 3"); /* no such row: nothing to refuse */
    h_sql_exec("DELETE FROM concert WHERE id = 1");
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1"), 0);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 2"), 1);
}

int main(void) {
    const h_test tests[] = {
        {"seats_in_order", sequential_seats, h_all_strategies()},
        {"seats_dense_under_a_burst", concurrent_seats, h_correct_strategies()},
        {"tickets_name_customers_that_exist", tickets_name_customers_that_exist, NULL},
        {"tickets_name_concerts_that_exist", tickets_name_concerts_that_exist, NULL},
    };
    return h_run_tests("seat_rules", tests, sizeof tests / sizeof tests[0]);
}
