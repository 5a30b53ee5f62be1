/* test_db_batch.c — db-batch's batch semantics (SPEC §3, issue 12 §1), pinned with a batch whose
 * arrival order the test controls: the test holds the concert row lock, so the one worker blocks
 * on its first purchase while the next requests queue up, one at a time and in a known order;
 * when the lock goes, the worker takes the whole queue as one batch. Checked: seats dense in
 * arrival order (R3, R4), the first request of a customer wins and later ones are already_owned
 * with that seat (R2), unknown customers and concerts 404, the overflow sold_out (R1), several
 * concerts in one batch, remaining = N − tickets (R8), batches on GET /metrics; a transaction
 * PostgreSQL refuses answers 500 with Retry-After and stores nothing, and one refused only once
 * is retried as a whole. The rules every correct strategy keeps are tested elsewhere for
 * db-batch too (h_correct_strategies). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- a queue in a known order ----------------------------------------------------------------- */

typedef struct queued_req {
    int64_t concert_id, customer_id;
    h_conn *conn;
    h_resp resp;
} queued_req;

/* A connection of the test's own that holds concert 1's row lock (SELECT … FOR UPDATE in an
 * open transaction) until queue_release. */
static pg_conn *queue_hold(void) {
    pg_conn *c = NULL;
    char err[256];
    if (pg_conn_open(h_env_pg(), &c, err, sizeof err) != TR_OK) fail_msg("locker: %s", err);
    PGresult *r = pg_exec(c, "BEGIN");
    H_TRUE(r != NULL, "BEGIN: %s", pg_conn_errstr(c));
    PQclear(r);
    r = pg_exec(c, "SELECT 1 FROM concert WHERE id = 1 FOR UPDATE");
    H_TRUE(r != NULL && PQntuples(r) == 1, "lock: %s", pg_conn_errstr(c));
    PQclear(r);
    return c;
}

static void queue_release(pg_conn *c) {
    H_TRUE(pg_exec_ok(c, "COMMIT") == TR_OK, "COMMIT: %s", pg_conn_errstr(c));
    pg_conn_free(c);
}

/* Sends reqs[0] and waits until the server's worker waits for the row lock with it; then sends
 * the others one by one, each once the previous one is waiting in the server (suspended), so
 * the pool's queue holds them in this order. */
static void queue_send(int port, queued_req *reqs, int n) {
    for (int i = 0; i < n; i++) {
        char raw[256];
        size_t len = h_fmt_purchase(raw, sizeof raw, reqs[i].concert_id, reqs[i].customer_id);
        reqs[i].conn = h_conn_open(port);
        H_TRUE(reqs[i].conn != NULL, "connect to port %d", port);
        H_TRUE(h_conn_send(reqs[i].conn, raw, len), "send request %d", i);
        H_WAIT_UNTIL(h_metric(port, "ticketrush_suspended_connections") == i + 1, 5000,
                     "request %d waiting in the server", i);
        if (i == 0)
            H_WAIT_UNTIL(
                h_sql_int("SELECT count(*) FROM pg_stat_activity WHERE"
                          " application_name = 'ticketrush' AND wait_event_type = 'Lock'") == 1,
                5000, "the worker waiting for the row lock");
        h_sleep_ms(5); /* the loop that took it pushes it to the pool right after suspending it */
    }
}

static void queue_recv(queued_req *reqs, int n) {
    for (int i = 0; i < n; i++) {
        H_TRUE(h_conn_recv(reqs[i].conn, &reqs[i].resp, 10000), "answer to request %d: %s", i,
               reqs[i].resp.error);
        h_conn_close(reqs[i].conn);
        reqs[i].conn = NULL;
    }
}

static void queue_free(queued_req *reqs, int n) {
    for (int i = 0; i < n; i++) h_resp_free(&reqs[i].resp);
}

/* ---- the batch's answers ------------------------------------------------------------------- */

typedef struct expected {
    int64_t concert_id, customer_id;
    int status;       /* 201, 404, 409 */
    const char *code; /* for 404 / 409 */
    int64_t seat;     /* 201 and already_owned */
} expected;

static void batch_semantics(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 5, .vip = 2, .customers = 10});
    h_seed_concert(2, &(h_seed){.seats = 3, .vip = 1, .customers = 10});
    /* In arrival order. The first is decided alone (the worker took it before the others came);
     * the rest are one batch over concerts 1, 2 and an unknown 77. */
    static const expected want[] = {
        {1, 1, 201, NULL, 1},
        {1, 2, 201, NULL, 2},
        {2, 8, 201, NULL, 1},
        {1, 3, 201, NULL, 3},
        {1, 2, 409, "already_owned", 2}, /* won earlier in the same batch */
        {1, 99, 404, "customer_not_found", 0},
        {1, 1, 409, "already_owned", 1}, /* owned before the batch */
        {77, 4, 404, "concert_not_found", 0},
        {1, 4, 201, NULL, 4},
        {2, 9, 201, NULL, 2},
        {1, 5, 201, NULL, 5}, /* the last seat */
        {1, 6, 409, "sold_out", 0},
        {1, 4, 409, "already_owned", 4},
        {1, 6, 409, "sold_out", 0}, /* a repeat of a refused first request: refused alike */
        {1, 7, 409, "sold_out", 0},
        {2, 8, 409, "already_owned", 1},
    };
    enum { N = (int)(sizeof want / sizeof want[0]) };
    h_server srv;
    h_server_start(&srv, "db-batch", 1, NULL);
    queued_req reqs[N];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < N; i++) {
        reqs[i].concert_id = want[i].concert_id;
        reqs[i].customer_id = want[i].customer_id;
    }
    pg_conn *locker = queue_hold();
    queue_send(srv.port, reqs, N);
    queue_release(locker);
    queue_recv(reqs, N);
    for (int i = 0; i < N; i++) {
        const expected *w = &want[i];
        const h_resp *r = &reqs[i].resp;
        if (w->status == 201) {
            int64_t seat = h_expect_ticket(r, w->concert_id, w->customer_id);
            if (seat != w->seat)
                fail_msg("request %d (customer %" PRId64 "): seat %" PRId64 ", want %" PRId64, i,
                         w->customer_id, seat, w->seat);
            json_t *j = h_json(r);
            int64_t vip_seats = w->concert_id == 1 ? 2 : 1;
            H_EQ(json_is_true(json_object_get(j, "vip")), seat <= vip_seats);
            json_decref(j);
        } else if (strcmp(w->code, "already_owned") == 0) {
            H_EQ(h_expect_owned(r, w->concert_id, w->customer_id), w->seat);
        } else {
            h_expect_error(r, w->status, w->code);
        }
    }
    /* Two batches: the first request alone, then the other N − 1 together. */
    H_EQ(h_metric(srv.port, "ticketrush_purchase_batches_total"), 2);
    H_EQ(h_metric(srv.port, "ticketrush_purchase_batched_total"), N);
    h_server_stop(&srv);
    queue_free(reqs, N);

    /* What PostgreSQL holds: the seats answered, dense, VIP by seat, counts right (R8). */
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1"), 5);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1 AND seat_no = customer_id"
                   " AND vip = (seat_no <= 2)"),
         5);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 0);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 2"), 2);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 2 AND seat_no = customer_id - 7"
                   " AND vip = (seat_no <= 1)"),
         2);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 2"), 1);
}

/* One purchase batch is decided at a time: while a worker's batch waits for the row, the
 * purchases that arrive wait in the queue for it (the next batch takes them all) and the other
 * worker answers what is not a purchase. */
static void one_batch_at_a_time_while_other_routes_go_on(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_server srv;
    h_server_start(&srv, "db-batch", 2, NULL);
    enum { N = 4 };
    queued_req reqs[N];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < N; i++) {
        reqs[i].concert_id = 1;
        reqs[i].customer_id = i + 1;
    }
    pg_conn *locker = queue_hold();
    queue_send(srv.port, reqs, N);
    h_sleep_ms(200); /* time for an idle worker to take the queued purchases, if it would */
    H_EQ(h_sql_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ticketrush'"
                   " AND wait_event_type = 'Lock'"),
         1);
    h_resp r = {0};
    h_get(srv.port, "/concerts/1", &r); /* the other worker, while the row is held */
    H_EQ(r.status, 200);
    h_resp_free(&r);
    queue_release(locker);
    queue_recv(reqs, N);
    for (int i = 0; i < N; i++) H_EQ(h_expect_ticket(&reqs[i].resp, 1, i + 1), i + 1);
    H_EQ(h_metric(srv.port, "ticketrush_purchase_batches_total"), 2);
    h_server_stop(&srv);
    queue_free(reqs, N);
}

/* A burst of concurrent buyers forms batches by itself: fewer batches than purchases, and the
 * sale is right (dense seats, one ticket per customer, remaining = N − tickets). */
static void bursts_form_batches(void **state) {
    (void)state;
    enum { SEATS = 50, BUYERS = 120 };
    h_reset(&(h_seed){.seats = SEATS, .vip = 5, .customers = BUYERS});
    h_server srv;
    h_server_start(&srv, "db-batch", 2, NULL);
    h_burst_req *reqs = calloc(BUYERS, sizeof *reqs);
    assert_non_null(reqs);
    for (int i = 0; i < BUYERS; i++)
        reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, i / 2 + 1);
    h_burst(srv.port, reqs, BUYERS, 15000);
    int created = 0, owned = 0, sold_out = 0;
    for (int i = 0; i < BUYERS; i++) {
        char code[32];
        h_resp_code(&reqs[i].resp, code, sizeof code);
        if (reqs[i].resp.status == 201) created++;
        else if (strcmp(code, "already_owned") == 0) owned++;
        else if (strcmp(code, "sold_out") == 0) sold_out++;
        else fail_msg("request %d: %d %s: %s", i, reqs[i].resp.status, code, reqs[i].resp.body);
    }
    H_EQ(created, SEATS);
    double batches = h_metric(srv.port, "ticketrush_purchase_batches_total");
    double batched = h_metric(srv.port, "ticketrush_purchase_batched_total");
    print_message("%d purchases in %.0f batches\n", BUYERS, batches);
    H_EQ(batched, BUYERS);
    H_CMP(batches, <, BUYERS);
    h_server_stop(&srv);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), SEATS);
    H_EQ(h_sql_int("SELECT count(DISTINCT seat_no) FROM ticket WHERE seat_no BETWEEN 1 AND 50"),
         SEATS);
    H_EQ(h_sql_int("SELECT count(DISTINCT customer_id) FROM ticket"), SEATS);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 0);
    h_burst_free(reqs, BUYERS);
    free(reqs);
}

/* ---- PostgreSQL refusing the transaction ----------------------------------------------------- */

/* A trigger that refuses every ticket insert, or (once) only the first one it sees. */
static void refuse_tickets(bool on, bool once) {
    if (!on) {
        h_sql_exec("DROP TRIGGER IF EXISTS tr_test_refuse ON ticket");
        return;
    }
    h_sql_exec("CREATE SEQUENCE IF NOT EXISTS tr_test_refusals");
    h_sql_exec(once ? "CREATE OR REPLACE FUNCTION tr_test_refuse() RETURNS trigger"
                      " LANGUAGE plpgsql AS $$ BEGIN IF nextval('tr_test_refusals') = 1 THEN"
                      " RAISE EXCEPTION 'ticket refused by the test'; END IF; RETURN NULL; END $$"
                    : "CREATE OR REPLACE FUNCTION tr_test_refuse() RETURNS trigger"
                      " LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('tr_test_refusals');"
                      " RAISE EXCEPTION 'ticket refused by the test'; END $$");
    h_sql_exec("CREATE TRIGGER tr_test_refuse BEFORE INSERT ON ticket"
               " FOR EACH STATEMENT EXECUTE FUNCTION tr_test_refuse()");
}

static void failed_transaction_answers_unknown_and_stores_nothing(void **state) {
    (void)state;
    enum { SEATS = 5, N = 4 };
    h_reset(&(h_seed){.seats = SEATS, .vip = 1, .customers = 10});
    h_sql_exec("DROP SEQUENCE IF EXISTS tr_test_refusals");
    refuse_tickets(true, false);
    h_server srv;
    h_server_start(&srv, "db-batch", 1, NULL);
    queued_req reqs[N];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < N; i++)
        reqs[i] = (queued_req){.concert_id = H_CONCERT, .customer_id = i + 1};
    pg_conn *locker = queue_hold();
    queue_send(srv.port, reqs, N);
    queue_release(locker);
    queue_recv(reqs, N);
    for (int i = 0; i < N; i++) {
        h_expect_error(&reqs[i].resp, 500, "internal");
        char retry[16];
        H_TRUE(h_resp_header(&reqs[i].resp, "Retry-After", retry, sizeof retry),
               "request %d: 500 with Retry-After: %s", i, reqs[i].resp.head);
        H_TRUE(strstr(reqs[i].resp.body, "ticket refused") == NULL, "no detail leaks: %s",
               reqs[i].resp.body);
    }
    /* Two batches (the first request alone, then the rest), each tried twice. */
    H_EQ(h_sql_int("SELECT last_value FROM tr_test_refusals"), 4);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), 0);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), SEATS);
    queue_free(reqs, N);

    /* The retry a client makes once PostgreSQL takes tickets again gets the seats. */
    refuse_tickets(false, false);
    for (int i = 0; i < N; i++) {
        h_resp r = {0};
        h_purchase(srv.port, H_CONCERT, i + 1, &r);
        H_EQ(h_expect_ticket(&r, H_CONCERT, i + 1), i + 1);
        h_resp_free(&r);
    }
    h_server_stop(&srv);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), SEATS - N);
}

static void transaction_refused_once_is_retried_whole(void **state) {
    (void)state;
    enum { SEATS = 5, N = 3 };
    h_reset(&(h_seed){.seats = SEATS, .vip = 1, .customers = 10});
    h_sql_exec("DROP SEQUENCE IF EXISTS tr_test_refusals");
    refuse_tickets(true, true);
    h_server srv;
    h_server_start(&srv, "db-batch", 1, NULL);
    h_resp r = {0};
    for (int i = 0; i < N; i++) {
        h_purchase(srv.port, H_CONCERT, i + 1, &r);
        H_EQ(h_expect_ticket(&r, H_CONCERT, i + 1), i + 1);
    }
    h_resp_free(&r);
    h_server_stop(&srv);
    /* the first transaction ran twice, the others once */
    H_EQ(h_sql_int("SELECT last_value FROM tr_test_refusals"), N + 1);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket"), N);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), SEATS - N);
    refuse_tickets(false, false);
}

/* Every connection of ours plans each statement for the tables as they are now (store/pg.c).
 * A sale starts with an empty ticket table, where a scan costs nothing; a generic plan made then
 * is kept by the connection and scanned every ticket of the concert on every purchase as the
 * sale went on (db-atomic: 8,415 scans reading 48.7 million rows in a 20,000-request run). Here
 * the ownership probe is prepared and run while the table is empty, then the table grows
 * (without ANALYZE, as in a sale): the probe must then use an index. */
static void statements_are_planned_for_the_table_as_it_is(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 20000, .vip = 10, .customers = 20000});
    h_sql_exec("ANALYZE ticket");
    h_sql_exec("PREPARE owned_probe (bigint, bigint) AS SELECT 1 FROM ticket"
               " WHERE concert_id = $1 AND customer_id = $2");
    for (int i = 0; i < 8; i++) { /* past the five custom plans PostgreSQL tries by default */
        PGresult *r = pg_exec(h_pg(), "EXECUTE owned_probe (1, 7)");
        PQclear(r);
    }
    h_sql_exec("INSERT INTO ticket (concert_id, customer_id, seat_no, vip)"
               " SELECT 1, g, g, g <= 10 FROM generate_series(1, 20000) g");
    PGresult *r = pg_exec(h_pg(), "EXPLAIN EXECUTE owned_probe (1, 7)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
        fail_msg("EXPLAIN failed: %s", PQresultErrorMessage(r));
    char plan[2048] = "";
    for (int i = 0; i < PQntuples(r); i++) {
        strncat(plan, PQgetvalue(r, i, 0), sizeof plan - strlen(plan) - 2);
        strcat(plan, "\n");
    }
    PQclear(r);
    h_sql_exec("DEALLOCATE owned_probe");
    if (strstr(plan, "Seq Scan on ticket") != NULL || strstr(plan, "Index") == NULL)
        fail_msg("the ownership probe scans the ticket table after it grew:\n%s", plan);
}

int main(void) {
    const h_test tests[] = {
        {"batch_keeps_arrival_order_and_the_rules", batch_semantics, NULL},
        {"bursts_form_batches", bursts_form_batches, NULL},
        {"one_batch_at_a_time_while_other_routes_go_on",
         one_batch_at_a_time_while_other_routes_go_on, NULL},
        {"failed_transaction_answers_unknown_and_stores_nothing",
         failed_transaction_answers_unknown_and_stores_nothing, NULL},
        {"transaction_refused_once_is_retried_whole", transaction_refused_once_is_retried_whole,
         NULL},
        {"statements_are_planned_for_the_table_as_it_is",
         statements_are_planned_for_the_table_as_it_is, NULL},
    };
    return h_run_tests("db_batch", tests, sizeof tests / sizeof tests[0]);
}
