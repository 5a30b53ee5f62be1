/* test_seed_audit.c — the lab end to end for every correct strategy of the registry (SPEC §4):
 * the `seed` scenario's concert (1000 seats, 10 VIP, 10000 customers), a server, and
 * `ticketrush load` as a child process sending a shortened run with repeats, waiting for the
 * drain and auditing R1–R8 against PostgreSQL. --expect-clean turns any anomaly into exit 3.
 * redis-lock and redis-lock-cache do not promise R6 (SPEC §3: waiters poll, the unlucky ones get
 * 503 busy) and --expect-clean counts FCFS violations, so for them the run file is read instead
 * and every anomaly count but fcfs_* must be 0. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "strategy/strategy.h"

#define SEATS 1000
#define VIP 10
#define CUSTOMERS 10000
#define VUS "100"

/* Strategies where SPEC §3 does not promise R6: the audit may count FCFS violations. */
static bool fcfs_not_promised(const char *name) {
    return strcmp(name, "redis-lock") == 0 || strcmp(name, "redis-lock-cache") == 0;
}

/* Requests per run: the lock strategies serialise every purchase behind one lock and are the
 * slow ones (README), so they get half, which keeps the file near 90 s on 2 cores with ASan. */
static const char *requests_for(const char *name) {
    return strncmp(name, "db-lock", 7) == 0 || strncmp(name, "redis-lock", 10) == 0 ? "2000"
                                                                                    : "4000";
}

/* The anomaly counts of the run file's "audit" (runfile.c), R1–R8 without R6. */
static const char *const anomalies[] = {
    "oversold",   "duplicate_customers", "seat_duplicates",
    "seat_gaps",  "seat_out_of_range",   "seat_errors",
    "vip_errors", "sales_after_close",   "lost",
    "phantom",    "count_drift",         NULL,
};

static void seed_run_is_clean(void **state) {
    const char *name = *state;
    const strategy_ops *s = strategy_find(name);
    if (s == NULL) skip();
    h_reset(&(h_seed){.seats = SEATS, .vip = VIP, .customers = CUSTOMERS});
    /* The Redis strategies load the sale before the rush, as `make demo` does. */
    if (strcmp(name, "redis-zset") == 0 || strcmp(name, "redis-atomic") == 0) {
        h_open_sale();
    }
    h_server srv;
    if (strcmp(name, "redis-atomic") == 0) /* the default durability, as the demo runs it */
        h_server_start(&srv, name, 32, "--durability", "fast", NULL);
    else h_server_start(&srv, name, 32, NULL);

    char run_path[64], url[64];
    snprintf(run_path, sizeof run_path, "/tmp/ticketrush-test-seed.XXXXXX");
    int fd = mkstemp(run_path);
    if (fd < 0) fail_msg("mkstemp failed");
    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    bool strict = !fcfs_not_promised(name);
    const char *argv[] = {h_env_bin(),
                          "load",
                          "--scenario",
                          "seed",
                          "--requests",
                          requests_for(name),
                          "--vus",
                          VUS,
                          "--strategy",
                          name,
                          "--url",
                          url,
                          "--pg",
                          h_env_pg(),
                          "--out",
                          run_path,
                          "--progress",
                          "off",
                          strict ? "--expect-clean" : NULL,
                          NULL};
    char *out = NULL;
    int64_t t0 = h_now_ms();
    int rc = h_run(argv, 180000, &out);
    int64_t took = h_now_ms() - t0;
    h_server_stop(&srv);
    if (rc == 3) {
        unlink(run_path);
        fail_msg("%s: the audit found an R1-R8 anomaly (load --expect-clean exit 3); its "
                 "output with the table row:\n%s",
                 name, out);
    }
    if (rc != 0) {
        unlink(run_path);
        fail_msg("%s: ticketrush load exited %d (want 0); output:\n%s", name, rc, out);
    }

    json_error_t jerr;
    json_t *run = json_load_file(run_path, 0, &jerr);
    unlink(run_path);
    if (run == NULL) fail_msg("%s: run file is not JSON: %s; load said:\n%s", name, jerr.text, out);
    json_t *audit = json_object_get(run, "audit");
    H_TRUE(json_is_object(audit), "%s: run file has an audit object", name);
    for (int i = 0; anomalies[i]; i++) {
        json_t *v = json_object_get(audit, anomalies[i]);
        if (!json_is_integer(v) || json_integer_value(v) != 0)
            fail_msg("%s: audit %s = %s, want 0; load said:\n%s", name, anomalies[i],
                     json_is_integer(v) ? "non-zero" : "missing", out);
    }
    int64_t requests = json_integer_value(json_object_get(audit, "requests"));
    int64_t answered = json_integer_value(json_object_get(audit, "answered"));
    int64_t tickets = json_integer_value(json_object_get(audit, "tickets"));
    int64_t fcfs = json_integer_value(json_object_get(audit, "fcfs_violations"));
    print_message("%s: %" PRId64 " requests, %" PRId64 " answered, %" PRId64 " tickets, %" PRId64
                  " FCFS violations%s, load took %" PRId64 " ms\n",
                  name, requests, answered, tickets, fcfs, strict ? "" : " (R6 not promised)",
                  took);
    H_EQ(requests, atoll(requests_for(name)));
    H_EQ(answered, requests);
    H_CMP(tickets, >, 0);
    H_CMP(tickets, <=, SEATS);
    json_decref(run);
    free(out);
}

/* The registry's correct strategies, waiting lines included (the audit matches 202 answers to
 * the tickets issued later). */
static const char *const *correct_strategies(void) {
    static const char *names[64];
    if (names[0] == NULL) {
        int n = 0;
        for (int i = 0; strategy_at(i) && n < 63; i++)
            if (strategy_at(i)->correct) names[n++] = strategy_at(i)->name;
        names[n] = NULL;
    }
    return names;
}

int main(void) {
    const h_test tests[] = {
        {"seed_run_is_clean", seed_run_is_clean, correct_strategies()},
    };
    return h_run_tests("seed_audit", tests, sizeof tests / sizeof tests[0]);
}
