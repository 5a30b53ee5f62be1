/* test_lifecycle.c — the server process: SIGTERM drains (a purchase in flight still gets its
 * answer, idle and half-sent connections do not hold the exit back, exit status 0), and start
 * fails fast with a message when a backend does not answer or an option is wrong (server.h). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "harness.h"

/* Another session takes a lock on the ticket table in the background (LOCK TABLE … IN mode
 * MODE, shown as lock in pg_locks) and holds it for seconds, even if the test fails half-way;
 * returns once it is granted. */
static void hold_ticket_lock(const char *mode, const char *lock, int seconds) {
    char sh[512], held[200];
    snprintf(sh, sizeof sh,
             "psql '%s' -q -c 'BEGIN; LOCK TABLE ticket IN %s MODE; SELECT pg_sleep(%d);"
             " COMMIT;' >/dev/null 2>&1 &",
             h_env_pg(), mode, seconds);
    const char *argv[] = {"sh", "-c", sh, NULL};
    H_EQ(h_run(argv, 5000, NULL), 0);
    snprintf(held, sizeof held,
             "SELECT count(*) FROM pg_locks WHERE relation = 'ticket'::regclass"
             " AND mode = '%s' AND granted",
             lock);
    int64_t locked_by = h_now_ms() + 5000;
    while (h_sql_int(held) != 1 && h_now_ms() < locked_by) h_sleep_ms(20);
    H_EQ(h_sql_int(held), 1);
}

/* Opens a connection to port and sends customer's purchase on it, without waiting. */
static void send_purchase(int port, h_conn **c, int64_t customer) {
    char raw[512];
    *c = h_conn_open(port);
    H_TRUE(*c != NULL, "connected");
    size_t n = h_fmt_purchase(raw, sizeof raw, H_CONCERT, customer);
    H_TRUE(h_conn_send(*c, raw, n), "sent purchase %" PRId64, customer);
}

static void sigterm_answers_the_request_in_flight(void **state) {
    (void)state;
    H_NEEDS_TEST_HOOKS();
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 10});
    h_server srv;
    h_server_start(&srv, "redis-lock", 4, "--test-stall-ms", "1500", "--test-stall-customer", "7",
                   NULL);
    /* an idle keep-alive connection and a half-sent request */
    h_conn *idle = h_conn_open(srv.port), *half = h_conn_open(srv.port),
           *busy = h_conn_open(srv.port);
    H_TRUE(idle && half && busy, "connected");
    char raw[512];
    size_t n = h_fmt_get(raw, sizeof raw, "/livez");
    h_resp r = {0};
    h_roundtrip(idle, raw, n, &r);
    H_EQ(r.status, 200);
    static const char part[] =
        "POST /concert/purchase/ticket HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{";
    H_TRUE(h_conn_send(half, part, sizeof part - 1), "sent");

    n = h_fmt_purchase(raw, sizeof raw, H_CONCERT, 7);
    H_TRUE(h_conn_send(busy, raw, n), "sent the slow purchase");
    h_sleep_ms(200);
    int64_t t0 = h_now_ms();
    H_EQ(kill(srv.pid, SIGTERM), 0);
    h_sleep_ms(200);
    /* New work on the idle keep-alive connection during the drain: 503 with Retry-After, and the
     * connection closes (a client would otherwise retry on it for the whole drain). */
    n = h_fmt_get(raw, sizeof raw, "/concerts/1");
    h_roundtrip(idle, raw, n, &r);
    h_expect_error(&r, 503, "unavailable");
    char value[32] = "";
    H_TRUE(h_resp_header(&r, "Retry-After", value, sizeof value), "Retry-After: %s", r.head);
    H_TRUE(h_resp_header(&r, "Connection", value, sizeof value) && strcmp(value, "close") == 0,
           "Connection: close while draining; head: %s", r.head);
    h_server_stop(&srv); /* asserts exit 0 within 10 s and a clean sanitizer report */
    print_message("SIGTERM to exit with a purchase in flight: %" PRId64 " ms\n", h_now_ms() - t0);

    /* the purchase in flight was answered before the exit */
    H_TRUE(h_conn_recv(busy, &r, 1000), "the purchase in flight was answered: %s", r.error);
    H_EQ(h_expect_ticket(&r, H_CONCERT, 7), 1);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE customer_id = 7"), 1);
    h_resp_free(&r);
    h_conn_close(idle);
    h_conn_close(half);
    h_conn_close(busy);
}

/* redis-atomic strict on the event loops: answers wait in the loop for the persister's commit.
 * When PostgreSQL stalls past the server's 5 s drain (here the persister's test delay: 4 s per
 * batch; purchase 1 is one batch, purchases 2 and 3, sent while it sleeps, the next, committed
 * about 8 s in), SIGTERM must still answer them — 500, not confirmed — and exit 0 within 10 s.
 * (libmicrohttpd aborts when stopped with suspended connections: this exited 134 before the
 * loops answered what they held.) */
static void sigterm_answers_strict_purchases_waiting_for_a_stalled_commit(void **state) {
    (void)state;
    H_NEEDS_TEST_HOOKS();
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 10});
    h_open_sale();
    h_server srv;
    h_server_start(&srv, "redis-atomic", 2, "--durability", "strict", "--test-persist-delay",
                   "4000", NULL);
    enum { N = 3 };
    h_conn *c[N];
    send_purchase(srv.port, &c[0], 1);
    h_sleep_ms(300); /* the persister has taken purchase 1 alone */
    send_purchase(srv.port, &c[1], 2);
    send_purchase(srv.port, &c[2], 3);
    h_sleep_ms(200);
    int64_t t0 = h_now_ms();
    h_server_stop(&srv); /* asserts exit 0 within 10 s and a clean sanitizer report */
    print_message("SIGTERM to exit with %d strict answers waiting: %" PRId64 " ms\n", N,
                  h_now_ms() - t0);
    int unconfirmed = 0;
    for (int i = 0; i < N; i++) {
        h_resp r = {0};
        H_TRUE(h_conn_recv(c[i], &r, 1000), "purchase %d was answered before the exit: %s", i + 1,
               r.error);
        char code[32];
        h_resp_code(&r, code, sizeof code);
        H_TRUE(r.status == 201 || (r.status == 500 && strcmp(code, "internal") == 0),
               "purchase %d: %d %s; want 201, or 500 when its commit was not confirmed", i + 1,
               r.status, r.body);
        unconfirmed += r.status == 500;
        h_resp_free(&r);
        h_conn_close(c[i]);
    }
    /* Purchases 2 and 3 commit about 8 s in, after the drain: they are the case under test. */
    H_TRUE(unconfirmed >= 2, "%d answers were still waiting for their commit at the stop; want 2",
           unconfirmed);
}

/* The persister's batch waits on a lock another session holds on the ticket table: SIGTERM must
 * still exit within 10 s (the persister gives up after its 5 s drain and cancels the statement),
 * and the acknowledged ticket is not lost: it stays pending in the Redis stream, and the next
 * server's persister reclaims and stores it (R7). */
static void sigterm_does_not_wait_for_a_locked_table(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 10});
    h_open_sale();
    h_server srv;
    h_server_start(&srv, "redis-atomic", 2, "--durability", "fast", NULL);
    hold_ticket_lock("ACCESS EXCLUSIVE", "AccessExclusiveLock", 10);
    h_resp r = {0};
    h_purchase(srv.port, H_CONCERT, 3, &r);
    H_EQ(h_expect_ticket(&r, H_CONCERT, 3), 1); /* fast: answered from Redis */
    h_sleep_ms(300);                            /* the persister is now waiting on the lock */
    int64_t t0 = h_now_ms();
    h_server_stop(&srv); /* asserts exit 0 within 10 s */
    print_message("SIGTERM to exit with a batch waiting on a lock: %" PRId64 " ms\n",
                  h_now_ms() - t0);
    /* (count(*) would wait for the lock: the next server's persister does the checking.) */

    /* default --reclaim-idle (10 s, checked every second; it was 30 s, checked every 15 s) */
    h_server_start(&srv, "redis-atomic", 2, "--durability", "fast", NULL);
    int64_t deadline = h_now_ms() + 15000;
    while (h_sql_int("SELECT count(*) FROM ticket WHERE customer_id = 3 AND seat_no = 1") != 1 &&
           h_now_ms() < deadline)
        h_sleep_ms(100);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE customer_id = 3 AND seat_no = 1"), 1);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 9);
    h_resp_free(&r);
    h_server_stop(&srv);
}

/* A ticket table another session holds a SHARE lock on (25 s) blocks every insert. SIGTERM during
 * a burst must still end within 15 s — 5 s drain, then held answers given up (500), queued work
 * refused (503) and statements stuck on the lock cancelled (500, outcome unknown), then the
 * background worker's own 5 s and the cancel of its statement — with every request answered:
 *  - redis-atomic strict: answers held on the event loops for their commit (a batch on the
 *    worker pool once waited 10 s for each in turn, for minutes);
 *  - db-atomic: purchases blocked on the lock in the workers (the stop waited for the lock);
 *  - db-batch: the same, a batch's transaction blocked (a cancelled one is not tried again);
 *  - redis-zset: admitted in Redis (202), the issuer blocked on the lock (the same).
 * The sale is not loaded first, so redis-atomic also takes the path that opens it. */
static void sigterm_is_bounded_with_a_locked_ticket_table(void **state) {
    (void)state;
    static const struct {
        const char *strategy, *a1, *a2, *a3, *a4;
    } cfgs[] = {
        {"redis-atomic", "--durability", "strict", NULL, NULL},
        {"db-atomic", NULL, NULL, NULL, NULL},
        {"db-batch", NULL, NULL, NULL, NULL},
        {"redis-zset", NULL, NULL, NULL, NULL},
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        h_reset(&(h_seed){.seats = 50, .vip = 1, .customers = 50});
        h_server srv;
        h_server_start(&srv, cfgs[k].strategy, 1, cfgs[k].a1, cfgs[k].a2, cfgs[k].a3, cfgs[k].a4,
                       NULL);
        hold_ticket_lock("SHARE", "ShareLock", 25);

        enum { N = 20 };
        h_conn *c[N];
        for (int i = 0; i < N; i++) send_purchase(srv.port, &c[i], i + 1);
        h_sleep_ms(1000);
        int64_t t0 = h_now_ms();
        H_EQ(kill(srv.pid, SIGTERM), 0);
        int status = 0;
        bool exited = false;
        while (!exited && h_now_ms() - t0 < 15000) {
            exited = waitpid(srv.pid, &status, WNOHANG) == srv.pid;
            if (!exited) h_sleep_ms(50);
        }
        int64_t took = h_now_ms() - t0;
        print_message("%s: SIGTERM to exit with %d purchases behind a locked table: %" PRId64
                      " ms\n",
                      cfgs[k].strategy, N, took);
        H_TRUE(exited,
               "%s: the server exited within 15 s of SIGTERM (still running after %" PRId64 " ms)",
               cfgs[k].strategy, took);
        srv.pid = 0;
        H_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0; got %d", status);
        char *log = h_server_log(&srv);
        H_TRUE(strstr(log, "Sanitizer") == NULL, "no sanitizer report: %s", log);
        free(log);
        for (int i = 0; i < N; i++) {
            h_resp r = {0};
            H_TRUE(h_conn_recv(c[i], &r, 1000), "%s: purchase %d was answered before the exit: %s",
                   cfgs[k].strategy, i + 1, r.error);
            char retry_after[16] = "";
            bool retry = h_resp_header(&r, "Retry-After", retry_after, sizeof retry_after);
            H_TRUE(r.status == 202 || ((r.status == 500 || r.status == 503) && retry),
                   "%s: purchase %d: %d %s; want 202 (queued), or 500/503 with Retry-After",
                   cfgs[k].strategy, i + 1, r.status, r.body);
            /* given while the server stops: the connection closes after it, and says so */
            char connection[16] = "";
            h_resp_header(&r, "Connection", connection, sizeof connection);
            H_TRUE(r.status == 202 || strcasecmp(connection, "close") == 0,
                   "%s: purchase %d: %d without Connection: close (got \"%s\")", cfgs[k].strategy,
                   i + 1, r.status, connection);
            h_resp_free(&r);
            h_conn_close(c[i]);
        }
        h_sql_exec("SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l"
                   " WHERE l.relation = 'ticket'::regclass AND l.mode = 'ShareLock'");
    }
}

/* A client that hangs up while its purchase runs leaves nothing behind: the server keeps
 * serving, the customer's state stays consistent, and SIGTERM finds nothing to drain (a
 * connection closed while suspended must not be waited for). */
static void client_gone_mid_purchase_leaves_the_server_healthy(void **state) {
    (void)state;
    H_NEEDS_TEST_HOOKS();
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 10});
    h_server srv;
    h_server_start(&srv, "redis-lock", 2, "--test-stall-ms", "500", "--test-stall-customer", "7",
                   NULL);
    h_conn *c = h_conn_open(srv.port);
    H_TRUE(c != NULL, "connected");
    char raw[512];
    size_t n = h_fmt_purchase(raw, sizeof raw, H_CONCERT, 7);
    H_TRUE(h_conn_send(c, raw, n), "sent");
    h_sleep_ms(100);
    h_conn_close(c); /* gone while the worker holds the lock */
    h_sleep_ms(800);

    h_resp r = {0};
    h_get(srv.port, "/livez", &r);
    H_EQ(r.status, 200);
    /* Whatever happened to the abandoned purchase, the answers agree with PostgreSQL. */
    int64_t held = h_sql_int("SELECT count(*) FROM ticket WHERE customer_id = 7");
    H_CMP(held, <=, 1);
    h_purchase(srv.port, H_CONCERT, 7, &r);
    if (held == 1) h_expect_error(&r, 409, "already_owned");
    else h_expect_ticket(&r, H_CONCERT, 7);
    h_resp_free(&r);
    h_server_stop(&srv);
    print_message("abandoned purchase: ticket %s; SIGTERM to exit %" PRId64 " ms\n",
                  held ? "written" : "not written", srv.stop_ms);
    H_CMP(srv.stop_ms, <, 3000); /* the drain waits up to 5 s only for unanswered connections */
}

/* Runs `ticketrush serve …` expecting it to exit quickly with want_status and a message. */
static void expect_start_failure(const char *const *argv, int want_status, const char *want_text) {
    char *out = NULL;
    int64_t t0 = h_now_ms();
    int status = h_run(argv, 15000, &out);
    int64_t took = h_now_ms() - t0;
    if (status != want_status)
        fail_msg("%s %s %s: exit status %d, want %d; output:\n%s", argv[1], argv[2], argv[3],
                 status, want_status, out);
    if (strstr(out, want_text) == NULL)
        fail_msg("%s %s %s: output does not mention \"%s\":\n%s", argv[1], argv[2], argv[3],
                 want_text, out);
    free(out);
    H_CMP(took, <, 10000);
}

static void start_fails_fast_without_backends(void **state) {
    (void)state;
    /* A port nothing listens on. */
    int port = h_free_port();
    char dead_pg[160], dead_redis[64];
    snprintf(dead_pg, sizeof dead_pg,
             "host=127.0.0.1 port=%d dbname=ticketrush user=postgres connect_timeout=3", port);
    snprintf(dead_redis, sizeof dead_redis, "127.0.0.1:%d", port);
    const char *bin = h_env_bin();
    const char *no_pg[] = {bin,         "serve", "--strategy", "db-atomic", "--port", "0",
                           "--workers", "1",     "--pg",       dead_pg,     NULL};
    expect_start_failure(no_pg, 1, "PostgreSQL");
    const char *no_redis[] = {bin,       "serve",     "--strategy", "redis-lock", "--port",
                              "0",       "--workers", "1",          "--pg",       h_env_pg(),
                              "--redis", dead_redis,  NULL};
    expect_start_failure(no_redis, 1, "Redis");
    const char *bad_strategy[] = {
        bin, "serve", "--strategy", "no-such-strategy", "--port", "0", "--pg", h_env_pg(), NULL};
    expect_start_failure(bad_strategy, 2, "db-atomic");
    const char *bad_workers[] = {bin, "serve", "--strategy", "db-atomic", "--workers",
                                 "0", "--pg",  h_env_pg(),   NULL};
    expect_start_failure(bad_workers, 2, "--workers");
}

int main(void) {
    const h_test tests[] = {
        {"sigterm_answers_the_request_in_flight", sigterm_answers_the_request_in_flight, NULL},
        {"sigterm_answers_strict_purchases_waiting_for_a_stalled_commit",
         sigterm_answers_strict_purchases_waiting_for_a_stalled_commit, NULL},
        {"sigterm_does_not_wait_for_a_locked_table", sigterm_does_not_wait_for_a_locked_table,
         NULL},
        {"sigterm_is_bounded_with_a_locked_ticket_table",
         sigterm_is_bounded_with_a_locked_ticket_table, NULL},
        {"client_gone_mid_purchase_leaves_the_server_healthy",
         client_gone_mid_purchase_leaves_the_server_healthy, NULL},
        {"start_fails_fast_without_backends", start_fails_fast_without_backends, NULL},
    };
    return h_run_tests("lifecycle", tests, sizeof tests / sizeof tests[0]);
}
