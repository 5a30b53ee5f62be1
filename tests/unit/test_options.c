/* test_options.c — the option parser (src/common/options.c): ranges, bad values, unknown and
 * ambiguous options, enum choices, flags, repeatable options, positional arguments in any
 * order, the environment as a fallback, and the generated --help lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static const char *const durabilities[] = {"fast", "strict", NULL};

/* One command's options, as main.c's serve declares them. */
typedef struct fixture {
    int port, durability;
    int64_t concert;
    const char *pg;
    bool quiet;
    const char *urls[2];
    int nurls, port_given;
    tr_opt table[8];
} fixture;

static void fixture_init(fixture *f) {
    memset(f, 0, sizeof *f);
    f->port = 8080;
    f->concert = 1;
    /* clang-format off */
    const tr_opt t[] = {
        {.name = "port", .short_name = 'p', .kind = TR_OPT_INT, .dest = &f->port, .min = 0,
         .max = 65535, .env = "TEST_OPTIONS_PORT", .metavar = "N", .count = &f->port_given,
         .help = "TCP port\n0 = any free one"},
        {.name = "concert", .kind = TR_OPT_I64, .dest = &f->concert, .min = 1, .max = INT64_MAX,
         .metavar = "ID", .help = "concert id"},
        {.name = "customers", .kind = TR_OPT_I64, .dest = &f->concert, .min = 1, .max = 5,
         .metavar = "C", .help = "customers"},
        {.name = "durability", .kind = TR_OPT_CHOICE, .dest = &f->durability,
         .choices = durabilities, .metavar = "MODE", .help = "fast or strict"},
        {.name = "pg", .kind = TR_OPT_STRING, .dest = &f->pg, .env = "TEST_OPTIONS_PG",
         .metavar = "CONNINFO", .help = "libpq connection string"},
        {.name = "quiet", .kind = TR_OPT_FLAG, .dest = &f->quiet, .help = "no progress"},
        {.name = "url", .kind = TR_OPT_LIST, .dest = f->urls, .max = 2, .count = &f->nurls,
         .metavar = "URL", .help = "server (repeatable)"},
        {0},
    };
    /* clang-format on */
    memcpy(f->table, t, sizeof t);
}

static tr_opts_status parse(fixture *f, int argc, char **argv, int *npos, char *err) {
    return tr_opts_parse(f->table, argc, argv, 1, npos, err, 256);
}

static void values_within_their_range_are_taken(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    char *a[] = {"serve",   "--port",       "0",      "--concert=9223372036854775807",
                 "-p65535", "--durability", "strict", "--quiet",
                 "--pg",    "host=x",       NULL};
    int npos = -1;
    char err[256] = "";
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_OK);
    assert_int_equal(npos, 0);
    assert_int_equal(f.port, 65535); /* the last one wins */
    assert_int_equal(f.port_given, 2);
    assert_true(f.concert == INT64_MAX);
    assert_int_equal(f.durability, 1);
    assert_true(f.quiet);
    assert_string_equal(f.pg, "host=x");
}

static void defaults_stay_when_nothing_is_given(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    char *a[] = {"serve", NULL};
    int npos = -1;
    char err[256] = "";
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_OK);
    assert_int_equal(f.port, 8080);
    assert_int_equal(f.port_given, 0);
    assert_int_equal(f.concert, 1);
    assert_null(f.pg);
    assert_false(f.quiet);
}

static void out_of_range_and_malformed_integers_are_refused(void **state) {
    (void)state;
    const char *bad[] = {"65536", "-1", "12abc", "", " 1", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture f;
        fixture_init(&f);
        char *a[] = {"serve", "--port", (char *)bad[i], NULL};
        int npos;
        char err[256] = "", want[256];
        assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_ERROR);
        snprintf(want, sizeof want,
                 "invalid value \"%s\" for --port: expected an integer in 0..65535", bad[i]);
        assert_string_equal(err, want);
    }
    fixture f;
    fixture_init(&f);
    char *b[] = {"seed", "--concert", "0", NULL};
    int npos;
    char err[256] = "";
    assert_int_equal(parse(&f, ARGC(b), b, &npos, err), TR_OPTS_ERROR);
    assert_string_equal(err, "invalid value \"0\" for --concert: expected an integer in "
                             "1..9223372036854775807");
    char *c[] = {"serve", "-p", "x", NULL};
    assert_int_equal(parse(&f, ARGC(c), c, &npos, err), TR_OPTS_ERROR);
    assert_string_equal(err, "invalid value \"x\" for -p: expected an integer in 0..65535");
}

static void enum_choices_name_what_is_accepted(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    char *a[] = {"serve", "--durability", "fast", NULL};
    int npos;
    char err[256] = "";
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_OK);
    assert_int_equal(f.durability, 0);
    char *b[] = {"serve", "--durability", "Strict", NULL};
    assert_int_equal(parse(&f, ARGC(b), b, &npos, err), TR_OPTS_ERROR);
    assert_string_equal(err, "invalid value \"Strict\" for --durability: expected fast or strict");
}

static void unknown_ambiguous_and_incomplete_options_are_refused(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    int npos;
    char err[256] = "";
    char *a[] = {"serve", "--prot", "1", NULL};
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_UNKNOWN);
    assert_string_equal(err, "unknown option \"--prot\"");
    char *b[] = {"serve", "-x", NULL};
    assert_int_equal(parse(&f, ARGC(b), b, &npos, err), TR_OPTS_UNKNOWN);
    assert_string_equal(err, "unknown option \"-x\"");
    char *c[] = {"serve", "--c", "1", NULL};
    assert_int_equal(parse(&f, ARGC(c), c, &npos, err), TR_OPTS_UNKNOWN);
    assert_string_equal(err, "option \"--c\" is ambiguous: it could be --concert --customers");
    char *d[] = {"serve", "--port", NULL};
    assert_int_equal(parse(&f, ARGC(d), d, &npos, err), TR_OPTS_ERROR);
    assert_string_equal(err, "option --port needs a value (N)");
    char *e[] = {"serve", "--quiet=yes", NULL};
    assert_int_equal(parse(&f, ARGC(e), e, &npos, err), TR_OPTS_ERROR);
    assert_string_equal(err, "option --quiet takes no value");
    /* a unique prefix is the option, as getopt_long has it */
    char *g[] = {"serve", "--dur", "strict", "--conc", "7", NULL};
    assert_int_equal(parse(&f, ARGC(g), g, &npos, err), TR_OPTS_OK);
    assert_int_equal(f.durability, 1);
    assert_int_equal(f.concert, 7);
}

static void help_is_its_own_answer(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    int npos;
    char err[256] = "";
    char *a[] = {"serve", "--port", "1", "--help", "--bogus", NULL};
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_HELP);
    char *b[] = {"serve", "-h", NULL};
    assert_int_equal(parse(&f, ARGC(b), b, &npos, err), TR_OPTS_HELP);
}

static void positional_arguments_keep_their_order_anywhere(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    int npos;
    char err[256] = "";
    char *a[] = {"report", "a.json", "--quiet", "b.json", "-", "--", "--port", NULL};
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_OK);
    assert_int_equal(npos, 4);
    assert_string_equal(a[1], "a.json");
    assert_string_equal(a[2], "b.json");
    assert_string_equal(a[3], "-");
    assert_string_equal(a[4], "--port");
    assert_true(f.quiet);
    assert_int_equal(f.port, 8080);
    /* a value may start with '-' */
    char *b[] = {"seed", "--pg", "-x", NULL};
    assert_int_equal(parse(&f, ARGC(b), b, &npos, err), TR_OPTS_OK);
    assert_string_equal(f.pg, "-x");
}

static void repeatable_options_are_kept_up_to_their_capacity(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    int npos;
    char err[256] = "";
    char *a[] = {"load", "--url", "u1", "--url=u2", NULL};
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_OK);
    assert_int_equal(f.nurls, 2);
    assert_string_equal(f.urls[0], "u1");
    assert_string_equal(f.urls[1], "u2");
    char *b[] = {"load", "--url", "u1", "--url", "u2", "--url", "u3", NULL};
    assert_int_equal(parse(&f, ARGC(b), b, &npos, err), TR_OPTS_ERROR);
    assert_string_equal(err, "too many --url options: at most 2");
}

static void the_environment_fills_in_what_is_not_given(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    int npos;
    char err[256] = "";
    setenv("TEST_OPTIONS_PORT", "9000", 1);
    setenv("TEST_OPTIONS_PG", "host=env", 1);
    char *a[] = {"serve", NULL};
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_OK);
    assert_int_equal(f.port, 9000);
    assert_int_equal(f.port_given, 0);
    assert_string_equal(f.pg, "host=env");
    /* the command line wins, and a bad variable it overrides is not read */
    fixture_init(&f);
    setenv("TEST_OPTIONS_PORT", "nope", 1);
    char *b[] = {"serve", "--port", "1", "--pg", "host=arg", NULL};
    assert_int_equal(parse(&f, ARGC(b), b, &npos, err), TR_OPTS_OK);
    assert_int_equal(f.port, 1);
    assert_string_equal(f.pg, "host=arg");
    /* a bad variable that is read is named */
    fixture_init(&f);
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_ERROR);
    assert_string_equal(err, "invalid value \"nope\" for TEST_OPTIONS_PORT: expected an integer "
                             "in 0..65535");
    /* an empty variable is not set */
    fixture_init(&f);
    setenv("TEST_OPTIONS_PORT", "", 1);
    assert_int_equal(parse(&f, ARGC(a), a, &npos, err), TR_OPTS_OK);
    assert_int_equal(f.port, 8080);
    unsetenv("TEST_OPTIONS_PORT");
    unsetenv("TEST_OPTIONS_PG");
}

static void help_lines_come_from_the_table(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    tr_opts_help(m, f.table);
    fclose(m);
    const char *want = "  -p, --port N           TCP port\n"
                       "                         0 = any free one [TEST_OPTIONS_PORT]\n"
                       "      --concert ID       concert id\n"
                       "      --customers C      customers\n"
                       "      --durability MODE  fast or strict\n"
                       "      --pg CONNINFO      libpq connection string [TEST_OPTIONS_PG]\n"
                       "      --quiet            no progress\n"
                       "      --url URL          server (repeatable)\n"
                       "  -h, --help             this help\n";
    assert_string_equal(buf, want);
    free(buf);
}

static bool no_x(const char *value, const char *what, char *err, size_t errlen) {
    if (strchr(value, 'x') == NULL) return true;
    snprintf(err, errlen, "%s takes no x: \"%s\"", what, value);
    return false;
}

/* A STRING option's check refuses a value with its own whole message, from the command line
 * and from the environment alike; the destination keeps its value. */
static void a_string_check_refuses_with_its_own_message(void **state) {
    (void)state;
    const char *v = "kept";
    const tr_opt t[] = {{.name = "redis",
                         .kind = TR_OPT_STRING,
                         .dest = &v,
                         .env = "TEST_OPTIONS_REDIS",
                         .metavar = "ADDRS",
                         .check = no_x,
                         .help = "addresses"},
                        {0}};
    int npos;
    char err[256] = "";
    char *a[] = {"serve", "--redis", "axb", NULL};
    assert_int_equal(tr_opts_parse(t, ARGC(a), a, 1, &npos, err, sizeof err), TR_OPTS_ERROR);
    assert_string_equal(err, "--redis takes no x: \"axb\"");
    assert_string_equal(v, "kept");
    char *b[] = {"serve", "--redis", "ab", NULL};
    assert_int_equal(tr_opts_parse(t, ARGC(b), b, 1, &npos, err, sizeof err), TR_OPTS_OK);
    assert_string_equal(v, "ab");
    setenv("TEST_OPTIONS_REDIS", "x", 1);
    char *c[] = {"serve", NULL};
    assert_int_equal(tr_opts_parse(t, ARGC(c), c, 1, &npos, err, sizeof err), TR_OPTS_ERROR);
    unsetenv("TEST_OPTIONS_REDIS");
    assert_string_equal(err, "TEST_OPTIONS_REDIS takes no x: \"x\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_within_their_range_are_taken),
        cmocka_unit_test(defaults_stay_when_nothing_is_given),
        cmocka_unit_test(out_of_range_and_malformed_integers_are_refused),
        cmocka_unit_test(enum_choices_name_what_is_accepted),
        cmocka_unit_test(unknown_ambiguous_and_incomplete_options_are_refused),
        cmocka_unit_test(help_is_its_own_answer),
        cmocka_unit_test(positional_arguments_keep_their_order_anywhere),
        cmocka_unit_test(repeatable_options_are_kept_up_to_their_capacity),
        cmocka_unit_test(the_environment_fills_in_what_is_not_given),
        cmocka_unit_test(a_string_check_refuses_with_its_own_message),
        cmocka_unit_test(help_lines_come_from_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
