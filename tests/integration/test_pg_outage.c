/* test_pg_outage.c — PostgreSQL goes away under the strategies that admit in Redis alone
 * (strategy_ops.admits_without_pg: redis-zset, redis-atomic). SPEC §1: the rules hold under any
 * single fault. The outage: the test database refuses new connections (ALTER DATABASE …
 * ALLOW_CONNECTIONS false) and every connection of the server is terminated, as a restart would.
 * Purchases are still admitted from Redis (202 queued, or 201 for redis-atomic on the worker
 * pool), a repeat is still already_owned, and once PostgreSQL is back the issuer or persister
 * stores every admitted ticket exactly once, in admission order (R1–R3, R7). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "harness.h"

/* The outage switch: a connection to the "postgres" database (a database cannot refuse
 * connections to itself from within) that runs ALTER DATABASE … ALLOW_CONNECTIONS on the test
 * database. A guardian process ends the outage when this program exits however it exits (a
 * failed test leaves with _exit), so later tests can connect again. */
static PGconn *switch_conn;
static char test_db[64];
static char switch_conninfo[512];

static bool outage_set(bool on) {
    char *name = PQescapeIdentifier(switch_conn, test_db, strlen(test_db));
    if (name == NULL) return false;
    char sql[200];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS %s", name,
             on ? "false" : "true");
    PQfreemem(name);
    PGresult *r = PQexec(switch_conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Forks the guardian: it waits for the end of a pipe only this process holds (close-on-exec,
 * so servers started later do not keep it open), then allows connections again. */
static void start_guardian(void) {
    int fds[2];
    H_EQ(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    H_TRUE(pid >= 0, "fork the outage guardian");
    if (pid == 0) {
        close(fds[1]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1), dup2(null, 2);
        char b;
        while (read(fds[0], &b, 1) != 0) {
        }
        switch_conn = PQconnectdb(switch_conninfo);
        if (PQstatus(switch_conn) == CONNECTION_OK) outage_set(false);
        _exit(0);
    }
    close(fds[0]); /* fds[1] stays open until this process ends */
}

/* Refuses new connections to the test database and terminates every client connection to it
 * but the harness's own (which runs the termination), as a restart would. */
static void outage_start(void) {
    if (switch_conn == NULL) {
        PQconninfoOption *opts = PQconninfoParse(h_env_pg(), NULL);
        H_TRUE(opts != NULL, "parse TICKETRUSH_PG");
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (strcmp(o->keyword, "dbname") == 0 && o->val)
                snprintf(test_db, sizeof test_db, "%s", o->val);
        PQconninfoFree(opts);
        H_TRUE(test_db[0] != '\0', "TICKETRUSH_PG names a database: %s", h_env_pg());
        snprintf(switch_conninfo, sizeof switch_conninfo, "%s dbname=postgres", h_env_pg());
        switch_conn = PQconnectdb(switch_conninfo);
        H_TRUE(PQstatus(switch_conn) == CONNECTION_OK, "connect the outage switch: %s",
               PQerrorMessage(switch_conn));
        start_guardian();
    }
    H_TRUE(outage_set(true), "start the outage: %s", PQerrorMessage(switch_conn));
    h_sql_exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
               " WHERE pid <> pg_backend_pid() AND datname = current_database()"
               " AND backend_type = 'client backend'");
}

static void outage_end(void) {
    H_TRUE(outage_set(false), "end the outage: %s", PQerrorMessage(switch_conn));
}

/* The customer's outcome, polled until it is "issued" (10 s at most); returns its seat. */
static int64_t wait_issued(int port, int64_t customer) {
    char path[96], status[32] = "";
    snprintf(path, sizeof path, "/concerts/%d/tickets/%" PRId64, H_CONCERT, customer);
    int64_t deadline = h_now_ms() + 10000, seat = 0;
    h_resp r = {0};
    while (seat == 0) {
        h_get(port, path, &r);
        H_TRUE(r.status == 200, "GET %s: %d %s", path, r.status, r.body);
        json_t *j = h_json(&r);
        snprintf(status, sizeof status, "%s", h_json_str(j, "status"));
        if (strcmp(status, "issued") == 0)
            seat = h_json_int(json_object_get(j, "ticket"), "seatNo");
        json_decref(j);
        if (seat == 0 && h_now_ms() > deadline)
            fail_msg("customer %" PRId64 " still \"%s\" 10 s after PostgreSQL came back", customer,
                     status);
        if (seat == 0) h_sleep_ms(50);
    }
    h_resp_free(&r);
    return seat;
}

/* The five tickets of customers 1..5, seats 1..5, each once (the issuer or persister). */
static void expect_five_tickets_in_order(void) {
    int64_t deadline = h_now_ms() + 15000;
    while (h_sql_int("SELECT count(*) FROM ticket") < 5 && h_now_ms() < deadline) h_sleep_ms(50);
    free(h_db_settled());
    h_ticket_row *rows = NULL;
    int n = h_tickets(&rows);
    H_EQ(n, 5);
    for (int i = 0; i < n; i++) {
        H_EQ(rows[i].seat_no, i + 1);
        H_EQ(rows[i].customer_id, i + 1);
    }
    free(rows);
}

/* The sale is opened beforehand (db open-sale), so the server's workers meet the outage before
 * they ever held a PostgreSQL connection. */
static void waiting_line_admits_while_postgresql_is_down(void **state) {
    (void)state;
    if (switch_conn) outage_set(false); /* whatever an earlier failed test left */
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_open_sale();
    h_server srv;
    h_server_start(&srv, "redis-zset", 2, NULL);
    outage_start();
    h_resp r = {0};
    for (int64_t c = 1; c <= 5; c++) {
        h_purchase(srv.port, H_CONCERT, c, &r);
        H_TRUE(r.status == 202, "customer %" PRId64 " during the outage: %d %s, want 202 queued", c,
               r.status, r.body);
    }
    char path[96];
    snprintf(path, sizeof path, "/concerts/%d/tickets/2", H_CONCERT);
    h_get(srv.port, path, &r);
    H_TRUE(r.status == 200 && strstr(r.body, "\"queued\"") != NULL,
           "outcome during the outage: %d %s, want queued", r.status, r.body);
    outage_end();

    for (int64_t c = 1; c <= 5; c++) H_EQ(wait_issued(srv.port, c), c);
    h_purchase(srv.port, H_CONCERT, 1, &r);
    h_expect_error(&r, 409, "already_owned");
    h_resp_free(&r);
    h_server_stop(&srv);
    expect_five_tickets_in_order();
}

static void redis_atomic_pool_sells_while_postgresql_is_down(void **state) {
    (void)state;
    if (switch_conn) outage_set(false); /* whatever an earlier failed test left */
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_server srv;
    h_server_start(&srv, "redis-atomic", 2, "--durability", "fast", NULL);
    h_resp r = {0};
    h_purchase(srv.port, H_CONCERT, 1, &r);
    H_EQ(h_expect_ticket(&r, H_CONCERT, 1), 1);

    outage_start();
    for (int64_t c = 2; c <= 5; c++) {
        h_purchase(srv.port, H_CONCERT, c, &r);
        H_EQ(h_expect_ticket(&r, H_CONCERT, c), c);
    }
    h_purchase(srv.port, H_CONCERT, 2, &r);
    h_expect_error(&r, 409, "already_owned");
    outage_end();

    h_resp_free(&r);
    expect_five_tickets_in_order(); /* the persister reconnects and drains the stream */
    h_server_stop(&srv);
}

int main(void) {
    const h_test tests[] = {
        {"waiting_line_admits_while_postgresql_is_down",
         waiting_line_admits_while_postgresql_is_down, NULL},
        {"redis_atomic_pool_sells_while_postgresql_is_down",
         redis_atomic_pool_sells_while_postgresql_is_down, NULL},
    };
    return h_run_tests("pg_outage", tests, sizeof tests / sizeof tests[0]);
}
