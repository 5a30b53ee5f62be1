/* test_lab_cli.c — the lab commands' option handling (src/lab/..._cli.c): bad options are
 * usage errors (exit 2) before anything is contacted, --help succeeds, options parse again on
 * every call, and a run file that cannot be read fails the table command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "lab/lab_cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static void load_without_strategy_is_a_usage_error(void **state) {
    (void)state;
    char *argv[] = {"load", "--pg", "host=127.0.0.1 port=1", NULL};
    assert_int_equal(lab_cli_load(ARGC(argv), argv), LAB_EXIT_USAGE);
}

static void load_bad_numbers_and_names_are_usage_errors(void **state) {
    (void)state;
    char *a[] = {"load", "--strategy", "x", "--pg", "p", "--requests", "12abc", NULL};
    assert_int_equal(lab_cli_load(ARGC(a), a), LAB_EXIT_USAGE);
    char *b[] = {"load", "--strategy", "x", "--pg", "p", "--vus", "0", NULL};
    assert_int_equal(lab_cli_load(ARGC(b), b), LAB_EXIT_USAGE);
    char *c[] = {"load", "--strategy", "x", "--pg", "p", "--scenario", "huge", NULL};
    assert_int_equal(lab_cli_load(ARGC(c), c), LAB_EXIT_USAGE);
    char *d[] = {"load", "--strategy", "x", "--pg", "p", "--url", "http://192.0.2.1:80", NULL};
    assert_int_equal(lab_cli_load(ARGC(d), d), LAB_EXIT_USAGE);
    char *e[] = {"load",       "--strategy", "x",          "--pg", "p",
                 "--scenario", "one-seat",   "--requests", "51",   NULL};
    assert_int_equal(lab_cli_load(ARGC(e), e), LAB_EXIT_USAGE);
    char *f[] = {"load", "--strategy", "x", "--pg", "p", "stray", NULL};
    assert_int_equal(lab_cli_load(ARGC(f), f), LAB_EXIT_USAGE);
}

static void load_without_postgresql_fails_operationally(void **state) {
    (void)state;
    /* Port 1 on loopback: nothing listens, the connection is refused at once. */
    char *argv[] = {"load",    "--strategy", "x", "--pg", "host=127.0.0.1 port=1 connect_timeout=2",
                    "--quiet", NULL};
    assert_int_equal(lab_cli_load(ARGC(argv), argv), LAB_EXIT_FAILURE);
}

static void help_succeeds_every_time(void **state) {
    (void)state;
    char *a[] = {"load", "--help", NULL};
    assert_int_equal(lab_cli_load(ARGC(a), a), LAB_EXIT_OK);
    assert_int_equal(lab_cli_load(ARGC(a), a), LAB_EXIT_OK); /* getopt state is reset */
    char *b[] = {"table", "-h", NULL};
    assert_int_equal(lab_cli_table(ARGC(b), b), LAB_EXIT_OK);
    char *c[] = {"ceiling", "--help", NULL};
    assert_int_equal(lab_cli_ceiling(ARGC(c), c), LAB_EXIT_OK);
}

static void table_needs_readable_files(void **state) {
    (void)state;
    char *a[] = {"table", NULL};
    assert_int_equal(lab_cli_table(ARGC(a), a), LAB_EXIT_USAGE);
    char *b[] = {"table", "/nonexistent/run.json", NULL};
    assert_int_equal(lab_cli_table(ARGC(b), b), LAB_EXIT_FAILURE);
}

static void ceiling_refuses_bad_options(void **state) {
    (void)state;
    char *a[] = {"ceiling", "--requests", "-5", NULL};
    assert_int_equal(lab_cli_ceiling(ARGC(a), a), LAB_EXIT_USAGE);
    char *b[] = {"ceiling", "--url", "http://8.8.8.8:80", NULL};
    assert_int_equal(lab_cli_ceiling(ARGC(b), b), LAB_EXIT_USAGE);
}

static void other_commands_refuse_bad_options_before_connecting(void **state) {
    (void)state;
    char *a[] = {"db", NULL};
    assert_int_equal(lab_cli_db(ARGC(a), a), LAB_EXIT_USAGE);
    char *b[] = {"db", "drop", NULL};
    assert_int_equal(lab_cli_db(ARGC(b), b), LAB_EXIT_USAGE);
    char *c[] = {"db", "seed", "--tickets", "-1", "--pg", "host=127.0.0.1 port=1", NULL};
    assert_int_equal(lab_cli_db(ARGC(c), c), LAB_EXIT_USAGE);
    char *d[] = {"db", "seed", "--help", NULL};
    assert_int_equal(lab_cli_db(ARGC(d), d), LAB_EXIT_OK);
    char *e[] = {"script-ceiling", "--connections", "65", NULL};
    assert_int_equal(lab_cli_script_ceiling(ARGC(e), e), LAB_EXIT_USAGE);
    char *f[] = {"fault-proxy", "--listen", "0", "--control", "0", "--to", "nohost", NULL};
    assert_int_equal(lab_cli_fault_proxy(ARGC(f), f), LAB_EXIT_USAGE);
    char *g[] = {"fault-proxy", "--listen", "65536", NULL};
    assert_int_equal(lab_cli_fault_proxy(ARGC(g), g), LAB_EXIT_USAGE);
    char *h[] = {"report", "--ceiling-figure", "L=-3", "run.json", NULL};
    assert_int_equal(lab_cli_report(ARGC(h), h), LAB_EXIT_USAGE);
    char *i[] = {"chaos-table", "--rows", "--bogus", NULL};
    assert_int_equal(lab_cli_chaos_table(ARGC(i), i), LAB_EXIT_USAGE);
    char *j[] = {"load", "--strategy", "x", "--pg", "p", "--progress", "loud", NULL};
    assert_int_equal(lab_cli_load(ARGC(j), j), LAB_EXIT_USAGE);
}

/* A malformed --redis (or TICKETRUSH_REDIS) is a usage error like any other bad value, before
 * anything is contacted: exit 2, not 1. */
static void a_malformed_redis_address_is_a_usage_error(void **state) {
    (void)state;
    const char *bad[] = {"127.0.0.1:0",
                         "127.0.0.1:99999",
                         "127.0.0.1:abc",
                         "127.0.0.1:61379,",
                         "[::1]:6379",
                         "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,127.0.0.1:5,127.0.0.1:6,"
                         "127.0.0.1:7,127.0.0.1:8,127.0.0.1:9,127.0.0.1:10,127.0.0.1:11,127.0.0.1:"
                         "12,127.0.0.1:13,127.0.0.1:14,127.0.0.1:15,127.0.0.1:16,127.0.0.1:17"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *v = (char *)bad[i];
        char *a[] = {"db", "seed", "--pg", "host=127.0.0.1 port=1", "--redis", v, NULL};
        int rc = lab_cli_db(ARGC(a), a);
        if (rc != LAB_EXIT_USAGE)
            fail_msg("db seed --redis \"%s\": exit %d, want %d", v, rc, LAB_EXIT_USAGE);
        char *b[] = {"script-ceiling", "--redis", v, NULL};
        rc = lab_cli_script_ceiling(ARGC(b), b);
        if (rc != LAB_EXIT_USAGE)
            fail_msg("script-ceiling --redis \"%s\": exit %d, want %d", v, rc, LAB_EXIT_USAGE);
        char *c[] = {"store-ceiling", "--pg", "host=127.0.0.1 port=1", "--redis", v, NULL};
        rc = lab_cli_store_ceiling(ARGC(c), c);
        if (rc != LAB_EXIT_USAGE)
            fail_msg("store-ceiling --redis \"%s\": exit %d, want %d", v, rc, LAB_EXIT_USAGE);
    }
    setenv("TICKETRUSH_REDIS", "127.0.0.1:0", 1);
    char *d[] = {"db", "seed", "--pg", "host=127.0.0.1 port=1", NULL};
    int rc = lab_cli_db(ARGC(d), d);
    unsetenv("TICKETRUSH_REDIS");
    if (rc != LAB_EXIT_USAGE)
        fail_msg("db seed, TICKETRUSH_REDIS=127.0.0.1:0: exit %d, want %d", rc, LAB_EXIT_USAGE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_without_strategy_is_a_usage_error),
        cmocka_unit_test(load_bad_numbers_and_names_are_usage_errors),
        cmocka_unit_test(load_without_postgresql_fails_operationally),
        cmocka_unit_test(help_succeeds_every_time),
        cmocka_unit_test(table_needs_readable_files),
        cmocka_unit_test(ceiling_refuses_bad_options),
        cmocka_unit_test(other_commands_refuse_bad_options_before_connecting),
        cmocka_unit_test(a_malformed_redis_address_is_a_usage_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
