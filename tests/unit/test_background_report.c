/* test_background_report.c — how the background workers report (issue 10 §6): failures told
 * once per kind with a running count, never a line per failure under a storm, and once more when
 * the work succeeds again (background/faultlog.h; time is the caller's, so these run on made-up
 * clocks); and the persister's and issuer's counters as Prometheus text (persister_stats_render,
 * issuer_stats_render): every sample after its # HELP and # TYPE lines, once, names
 * ticketrush_persister_* / ticketrush_issuer_*, the snapshot's values. No running worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "background/faultlog.h"
#include "background/issuer.h"
#include "background/persister.h"

#define EXPECT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long ea_ = (long long)(a), eb_ = (long long)(b);                                      \
        if (ea_ != eb_) fail_msg("%s == %s: %lld != %lld", #a, #b, ea_, eb_);                      \
    } while (0)
#define EXPECT_HAS(s, part)                                                                        \
    do {                                                                                           \
        const char *es_ = (s), *ep_ = (part);                                                      \
        if (strstr(es_, ep_) == NULL) fail_msg("\"%s\" does not contain \"%s\"", es_, ep_);        \
    } while (0)

/* ---- failures told once per kind ---------------------------------------------------------- */

enum { DB, CACHE, ENTRIES, NKINDS };
static const faultlog_kind kinds[NKINDS] = {
    [DB] = {"db", "could not commit", "commits work again", "failures"},
    [CACHE] = {"cache", "could not read the cache", "reading the cache works again", "failures"},
    [ENTRIES] = {"bad_entries", "dropped bad entries", NULL, "entries"},
};

typedef struct told {
    char lines[64][512];
    int n;
} told;

static void keep(void *arg, const char *fmt, va_list ap) {
    told *t = arg;
    if (t->n < 64) vsnprintf(t->lines[t->n], sizeof t->lines[0], fmt, ap);
    t->n++;
}

static void setup(faultlog *f, told *t) {
    memset(t, 0, sizeof *t);
    faultlog_init(f, "worker", kinds, NKINDS, keep, t);
}

static void first_failure_is_told_and_a_storm_is_not(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    for (int i = 0; i < 1000; i++) faultlog_fail(&f, DB, 1, 1000 + i * 10, "ERROR: refused #%d", i);
    EXPECT_EQ(t.n, 1);
    EXPECT_HAS(t.lines[0], "worker: could not commit: ERROR: refused #0");
    EXPECT_EQ(strchr(t.lines[0], '(') == NULL, 1); /* no count on the first line */
    EXPECT_EQ(faultlog_total(&f, DB), 1000);
}

static void recovery_is_told_with_the_runs_count_and_duration(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    for (int i = 0; i < 37; i++) faultlog_fail(&f, DB, 1, 5000 + i * 100, "down");
    faultlog_ok(&f, DB, 17300);
    faultlog_ok(&f, DB, 17400); /* not failing any more: nothing */
    EXPECT_EQ(t.n, 2);
    EXPECT_HAS(t.lines[1], "worker: commits work again (37 failures in 12.3 s)");
}

static void a_long_storm_is_told_again_once_per_interval_with_the_count(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    /* one failure every 100 ms for 150 s: told at 0, 60 and 120 s */
    for (int64_t ms = 0; ms < 150000; ms += 100) faultlog_fail(&f, DB, 1, ms, "down");
    EXPECT_EQ(t.n, 3);
    EXPECT_HAS(t.lines[1], "worker: could not commit: down (600 failures in the last 60 s)");
    EXPECT_HAS(t.lines[2], "(600 failures in the last 60 s)");
    faultlog_ok(&f, DB, 150000);
    EXPECT_EQ(t.n, 4);
    EXPECT_HAS(t.lines[3], "(1500 failures in 150.0 s)");
}

static void a_run_soon_after_a_told_one_is_counted_and_told_later(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    faultlog_fail(&f, DB, 1, 0, "down");
    faultlog_ok(&f, DB, 1000);
    EXPECT_EQ(t.n, 2);
    faultlog_fail(&f, DB, 1, 2000, "down again"); /* within the interval: counted only */
    faultlog_fail(&f, DB, 1, 2500, "down again");
    faultlog_ok(&f, DB, 3000); /* the run was not told, so neither is its end */
    EXPECT_EQ(t.n, 2);
    faultlog_fail(&f, DB, 1, 70000, "down a third time");
    EXPECT_EQ(t.n, 3);
    EXPECT_HAS(t.lines[2], "down a third time (3 failures in the last 70 s)");
    EXPECT_EQ(faultlog_total(&f, DB), 4);
}

static void failing_and_recovering_in_turn_stays_bounded(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    /* fail, succeed, fail, … every 10 ms for 10 minutes: at most a failure line and a recovery
     * line per interval */
    for (int64_t ms = 0; ms < 600000; ms += 20) {
        faultlog_fail(&f, DB, 1, ms, "flaky");
        faultlog_ok(&f, DB, ms + 10);
    }
    if (t.n > 2 * (600000 / FAULTLOG_REPEAT_MS) + 2) fail_msg("%d lines in 10 minutes", t.n);
    EXPECT_EQ(faultlog_total(&f, DB), 30000);
}

static void kinds_are_told_apart(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    faultlog_fail(&f, DB, 1, 0, "db down");
    faultlog_fail(&f, CACHE, 1, 10, "cache down");
    faultlog_fail(&f, DB, 1, 20, "db down");
    EXPECT_EQ(t.n, 2);
    EXPECT_HAS(t.lines[1], "worker: could not read the cache: cache down");
    faultlog_ok(&f, CACHE, 30);
    EXPECT_EQ(t.n, 3);
    EXPECT_HAS(t.lines[2], "reading the cache works again (1 failures in 0.0 s)");
    EXPECT_EQ(faultlog_total(&f, DB), 2);
    EXPECT_EQ(faultlog_total(&f, CACHE), 1);
}

static void a_kind_without_recovery_counts_its_units(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    faultlog_fail(&f, ENTRIES, 5, 0, "stream s: 5 entries");
    faultlog_ok(&f, ENTRIES, 100); /* no "works again" for this kind */
    faultlog_fail(&f, ENTRIES, 3, 200, "stream s: 3 entries");
    faultlog_fail(&f, ENTRIES, 2, 61000, "stream s: 2 entries");
    EXPECT_EQ(t.n, 2);
    EXPECT_HAS(t.lines[0], "worker: dropped bad entries: stream s: 5 entries");
    EXPECT_HAS(t.lines[1], "stream s: 2 entries (5 entries in the last 61 s)");
    EXPECT_EQ(faultlog_total(&f, ENTRIES), 10);
}

static void a_detail_is_one_line(void **state) {
    (void)state;
    faultlog f;
    told t;
    setup(&f, &t);
    faultlog_fail(&f, DB, 1, 0, "%s", "ERROR:  refused\nDETAIL:\tby a trigger\n");
    EXPECT_EQ(t.n, 1);
    EXPECT_HAS(t.lines[0], "could not commit: ERROR:  refused DETAIL: by a trigger");
    EXPECT_EQ(strchr(t.lines[0], '\n') == NULL, 1);
    size_t len = strlen(t.lines[0]);
    EXPECT_EQ(t.lines[0][len - 1] != ' ', 1);
}

static void without_a_log_failures_are_only_counted(void **state) {
    (void)state;
    faultlog f;
    faultlog_init(&f, "worker", kinds, NKINDS, NULL, NULL);
    faultlog_fail(&f, DB, 1, 0, "down");
    faultlog_ok(&f, DB, 10);
    faultlog_fail(&f, ENTRIES, 4, 20, "bad");
    faultlog_fail(&f, NKINDS, 1, 30, "no such kind"); /* ignored */
    EXPECT_EQ(faultlog_total(&f, DB), 1);
    EXPECT_EQ(faultlog_total(&f, ENTRIES), 4);
    EXPECT_EQ(faultlog_total(&f, NKINDS), 0);
}

static void counts_render_as_one_labelled_counter_family(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 4096);
    const int64_t counts[NKINDS] = {7, 0, 123456789012};
    EXPECT_EQ(faultlog_render(&b, "x_failures_total", "Failures by kind.", kinds, NKINDS, counts),
              true);
    EXPECT_HAS(b.data, "# HELP x_failures_total Failures by kind.\n"
                       "# TYPE x_failures_total counter\n"
                       "x_failures_total{kind=\"db\"} 7\n"
                       "x_failures_total{kind=\"cache\"} 0\n"
                       "x_failures_total{kind=\"bad_entries\"} 123456789012\n");
    dynbuf_free(&b);
    dynbuf_init(&b, 16); /* too small: the render says so */
    EXPECT_EQ(faultlog_render(&b, "x_failures_total", "Failures by kind.", kinds, NKINDS, counts),
              false);
    dynbuf_free(&b);
}

/* ---- metrics ------------------------------------------------------------------------------- */

/* Checks the exposition's shape: each sample line "name[{labels}] value" has a number for value,
 * a name starting with prefix, and its family's "# HELP" and "# TYPE" (counter or gauge, counters
 * named *_total) earlier, each once. Returns the number of samples. */
static int check_exposition(const char *text, const char *prefix) {
    char families[64][96];
    int nfam = 0, samples = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[96] = "", type[16] = "";
        if (strncmp(line, "# HELP ", 7) == 0) {
            if (sscanf(line + 7, "%95s", name) != 1 || strlen(line + 7) <= strlen(name) + 1)
                fail_msg("HELP without text: %s", line);
            for (int i = 0; i < nfam; i++)
                if (strcmp(families[i], name) == 0) fail_msg("second HELP for %s", name);
            if (nfam == 64) fail_msg("too many families");
            snprintf(families[nfam++], sizeof families[0], "%s", name);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            if (sscanf(line + 7, "%95s %15s", name, type) != 2) fail_msg("bad TYPE: %s", line);
            if (nfam == 0 || strcmp(families[nfam - 1], name) != 0)
                fail_msg("TYPE not right after its HELP: %s", line);
            bool total = strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_total") == 0;
            if (strcmp(type, total ? "counter" : "gauge") != 0)
                fail_msg("%s is a %s (counters end in _total, gauges do not)", name, type);
            continue;
        }
        size_t n = strcspn(line, "{ ");
        if (n >= sizeof name) fail_msg("name too long: %s", line);
        memcpy(name, line, n);
        name[n] = '\0';
        if (strncmp(name, prefix, strlen(prefix)) != 0) fail_msg("%s is not %s*", name, prefix);
        bool known = false;
        for (int i = 0; i < nfam; i++) known |= strcmp(families[i], name) == 0;
        if (!known) fail_msg("sample before its HELP and TYPE: %s", line);
        const char *value = strrchr(line, ' ');
        char *end = NULL;
        if (value != NULL) strtod(value + 1, &end);
        if (value == NULL || end == value + 1 || *end != '\0')
            fail_msg("value is not a number: %s", line);
        samples++;
    }
    free(copy);
    return samples;
}

/* text is a well-formed exposition of nsamples samples named prefix*, holding each of the
 * lines wanted (NULL-terminated) whole. */
static void expect_samples(const char *text, const char *prefix, int nsamples,
                           const char *const *wanted) {
    EXPECT_EQ(check_exposition(text, prefix), nsamples);
    for (int i = 0; wanted[i]; i++) {
        char line[256];
        snprintf(line, sizeof line, "\n%s\n", wanted[i]);
        EXPECT_HAS(text, line);
    }
    EXPECT_EQ(text[strlen(text) - 1], '\n');
}

static void persister_stats_render_every_series_with_help_and_type(void **state) {
    (void)state;
    persister_stats st = {.commits = 12,
                          .rows_stored = 123456789012,
                          .syncs = 1,
                          .sales = 3,
                          .pending = 250,
                          .oldest_pending_s = 2.5};
    st.failures[PERSISTER_FAIL_PG_COMMIT] = 37;
    st.failures[PERSISTER_FAIL_CONTRADICTED] = 4;
    dynbuf b;
    dynbuf_init(&b, 1 << 16);
    EXPECT_EQ(persister_stats_render(&st, &b), true);
    static const char *const wanted[] = {
        "ticketrush_persister_commits_total 12",
        "ticketrush_persister_rows_stored_total 123456789012",
        "ticketrush_persister_syncs_total 1",
        "ticketrush_persister_sales 3",
        "ticketrush_persister_pending_entries 250",
        "ticketrush_persister_oldest_pending_seconds 2.5",
        "# TYPE ticketrush_persister_failures_total counter",
        "ticketrush_persister_failures_total{kind=\"pg_commit\"} 37",
        "ticketrush_persister_failures_total{kind=\"contradicted\"} 4",
        "ticketrush_persister_failures_total{kind=\"redis_read\"} 0",
        NULL};
    expect_samples(b.data, "ticketrush_persister_", 6 + PERSISTER_FAILURE_KINDS, wanted);
    dynbuf_free(&b);
}

static void issuer_stats_render_every_series_with_help_and_type(void **state) {
    (void)state;
    issuer_stats st = {
        .batches = 5, .tickets = 4000, .rejected = 2, .lines = 2, .leading = 1, .line_length = 17};
    st.failures[ISSUER_FAIL_REDIS_RECORD] = 3;
    dynbuf b;
    dynbuf_init(&b, 1 << 16);
    EXPECT_EQ(issuer_stats_render(&st, &b), true);
    static const char *const wanted[] = {
        "ticketrush_issuer_batches_total 5",
        "ticketrush_issuer_tickets_total 4000",
        "ticketrush_issuer_rejected_total 2",
        "ticketrush_issuer_lines 2",
        "ticketrush_issuer_lines_leading 1",
        "ticketrush_issuer_line_length 17",
        "ticketrush_issuer_failures_total{kind=\"redis_record\"} 3",
        "ticketrush_issuer_failures_total{kind=\"pg_commit\"} 0",
        NULL};
    expect_samples(b.data, "ticketrush_issuer_", 6 + ISSUER_FAILURE_KINDS, wanted);
    dynbuf_free(&b);
}

static void failure_kinds_have_stable_names(void **state) {
    (void)state;
    const char *p[] = {"pg_commit",    "redis_read", "redis_ack",
                       "contradicted", "unreadable", "bring_forward"};
    EXPECT_EQ(sizeof p / sizeof p[0], PERSISTER_FAILURE_KINDS);
    for (int k = 0; k < PERSISTER_FAILURE_KINDS; k++)
        if (strcmp(persister_failure_name((persister_failure)k), p[k]) != 0)
            fail_msg("persister kind %d: %s != %s", k, persister_failure_name(k), p[k]);
    const char *i[] = {"pg_commit", "redis_read", "redis_record", "contradicted", "bring_forward"};
    EXPECT_EQ(sizeof i / sizeof i[0], ISSUER_FAILURE_KINDS);
    for (int k = 0; k < ISSUER_FAILURE_KINDS; k++)
        if (strcmp(issuer_failure_name((issuer_failure)k), i[k]) != 0)
            fail_msg("issuer kind %d: %s != %s", k, issuer_failure_name(k), i[k]);
    if (strcmp(persister_failure_name(PERSISTER_FAILURE_KINDS), "unknown") != 0 ||
        strcmp(issuer_failure_name((issuer_failure)-1), "unknown") != 0)
        fail_msg("an out-of-range kind is not \"unknown\"");
}

static void a_full_buffer_is_reported(void **state) {
    (void)state;
    persister_stats ps = {0};
    issuer_stats is = {0};
    dynbuf b;
    dynbuf_init(&b, 100);
    EXPECT_EQ(persister_stats_render(&ps, &b), false);
    dynbuf_free(&b);
    dynbuf_init(&b, 100);
    EXPECT_EQ(issuer_stats_render(&is, &b), false);
    dynbuf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_failure_is_told_and_a_storm_is_not),
        cmocka_unit_test(recovery_is_told_with_the_runs_count_and_duration),
        cmocka_unit_test(a_long_storm_is_told_again_once_per_interval_with_the_count),
        cmocka_unit_test(a_run_soon_after_a_told_one_is_counted_and_told_later),
        cmocka_unit_test(failing_and_recovering_in_turn_stays_bounded),
        cmocka_unit_test(kinds_are_told_apart),
        cmocka_unit_test(a_kind_without_recovery_counts_its_units),
        cmocka_unit_test(a_detail_is_one_line),
        cmocka_unit_test(without_a_log_failures_are_only_counted),
        cmocka_unit_test(counts_render_as_one_labelled_counter_family),
        cmocka_unit_test(persister_stats_render_every_series_with_help_and_type),
        cmocka_unit_test(issuer_stats_render_every_series_with_help_and_type),
        cmocka_unit_test(failure_kinds_have_stable_names),
        cmocka_unit_test(a_full_buffer_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
