/* test_security.c — issue 9 §5: the server does not run as root, a 500 reveals no SQL, table
 * names or addresses, nothing that creates, seeds or resets data is reachable over HTTP, and
 * /metrics holds no customer data. (That every query takes its values as parameters is checked
 * on the source by tests/lint/sql_params.sh.) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* The real and effective uid of a running process, from /proc/PID/status; -1 when unreadable. */
static long proc_uid(pid_t pid, int field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    long uid[4] = {-1, -1, -1, -1};
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Uid: %ld %ld %ld %ld", &uid[0], &uid[1], &uid[2], &uid[3]) == 4) break;
    fclose(f);
    return uid[field];
}

static void server_does_not_run_as_root(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 10});
    h_server srv;
    h_server_start(&srv, strategy, 2, NULL);
    for (int field = 0; field < 4; field++) {
        long uid = proc_uid(srv.pid, field);
        H_TRUE(uid > 0, "uid field %d of the server (pid %d) is %ld: it must not be root", field,
               (int)srv.pid, uid);
    }
    h_resp r = {0};
    h_purchase(srv.port, H_CONCERT, 1, &r); /* and it still serves */
    H_TRUE(r.status == 201 || r.status == 202, "purchase as an unprivileged user: %d %s", r.status,
           r.body);
    h_resp_free(&r);
    h_server_stop(&srv);
    if (geteuid() == 0) {
        const char *argv[] = {h_env_bin(), "serve", "--user",   "root", "--port",
                              "0",         "--pg",  h_env_pg(), NULL};
        char *out = NULL;
        H_EQ(h_run(argv, 10000, &out), 2);
        H_TRUE(out && strstr(out, "refusing to serve as root"), "serve --user root: %s",
               out ? out : "");
        free(out);
    }
}

/* A PostgreSQL failure that names a table in its message: the 500 carries none of it. */
static void internal_errors_reveal_nothing(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 10});
    h_server srv;
    h_server_start(&srv, strategy, 2, NULL);
    h_sql_exec("ALTER TABLE ticket RENAME TO ticket_gone_for_the_test");
    h_resp r = {0};
    h_purchase(srv.port, H_CONCERT, 1, &r);
    h_sql_exec("ALTER TABLE ticket_gone_for_the_test RENAME TO ticket");
    /* 500 internal where the purchase touched the table; 503 unavailable where a Redis sale
     * could not be opened from PostgreSQL (nothing ran) */
    H_TRUE(r.status == 500 || r.status == 503, "purchase with the table gone: %d %s", r.status,
           r.body);
    h_expect_error(&r, r.status, r.status == 500 ? "internal" : "unavailable");
    static const char *const leaks[] = {
        "ticket_gone", "relation", "SELECT", "INSERT", "UPDATE",   "ERROR", "postgres",
        "127.0.0.1",   "/",        ".c:",    "SQL",    "sqlstate", NULL};
    for (int i = 0; leaks[i]; i++)
        H_TRUE(strstr(r.body, leaks[i]) == NULL, "the answer reveals \"%s\": %s", leaks[i], r.body);
    h_resp_free(&r);
    h_server_stop(&srv);
}

static void nothing_writes_but_purchases(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 10});
    h_server srv;
    h_server_start(&srv, "db-atomic", 2, NULL);
    char *before = h_db_snapshot();
    static const char *const paths[] = {"/db/schema",
                                        "/db/seed",
                                        "/db/open-sale",
                                        "/seed",
                                        "/reset",
                                        "/admin",
                                        "/admin/reset",
                                        "/concerts",
                                        "/concerts/1",
                                        "/concerts/1/tickets/1",
                                        "/customers",
                                        "/concert/purchase/ticket",
                                        "/metrics",
                                        "/readyz",
                                        NULL};
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", NULL};
    int tried = 0;
    for (int p = 0; paths[p]; p++) {
        for (int m = 0; methods[m]; m++) {
            if (strcmp(paths[p], "/concert/purchase/ticket") == 0 &&
                strcmp(methods[m], "POST") == 0)
                continue;
            char raw[512];
            int n = snprintf(raw, sizeof raw,
                             "%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\n\r\n{}",
                             methods[m], paths[p]);
            h_resp r = {0};
            h_request(srv.port, raw, (size_t)n, &r);
            H_TRUE(r.status == 404 || r.status == 405, "%s %s answered %d: %s", methods[m],
                   paths[p], r.status, r.body ? r.body : "");
            h_resp_free(&r);
            tried++;
        }
    }
    char *after = h_db_snapshot();
    H_STREQ(after, before);
    free(before);
    free(after);
    print_message("%d method/path pairs refused, database unchanged\n", tried);
    h_server_stop(&srv);
}

static void metrics_hold_no_customer_data(void **state) {
    const char *strategy = *state;
    h_reset(&(h_seed){.seats = 10, .vip = 1, .customers = 99999});
    h_server srv;
    h_server_start(&srv, strategy, 2, NULL);
    h_resp r = {0};
    h_purchase(srv.port, H_CONCERT, 98765, &r);
    H_TRUE(r.status == 201 || r.status == 202, "purchase: %d %s", r.status, r.body);
    char path[64];
    snprintf(path, sizeof path, "/concerts/%d/tickets/98765", H_CONCERT);
    h_get(srv.port, path, &r);
    h_get(srv.port, "/metrics", &r);
    H_EQ(r.status, 200);
    H_TRUE(strstr(r.body, "ticketrush_purchases_total") != NULL, "metrics: %s", r.body);
    H_TRUE(strstr(r.body, "98765") == NULL && strstr(r.body, "customer-") == NULL &&
               strstr(r.body, "/tickets/9") == NULL,
           "/metrics names a customer:\n%s", r.body);
    h_resp_free(&r);
    h_server_stop(&srv);
}

int main(void) {
    const h_test tests[] = {
        {"server_does_not_run_as_root", server_does_not_run_as_root, h_correct_strategies()},
        {"internal_errors_reveal_nothing", internal_errors_reveal_nothing, h_correct_strategies()},
        {"nothing_writes_but_purchases", nothing_writes_but_purchases, NULL},
        {"metrics_hold_no_customer_data", metrics_hold_no_customer_data, h_correct_strategies()},
    };
    return h_run_tests("security", tests, sizeof tests / sizeof tests[0]);
}
