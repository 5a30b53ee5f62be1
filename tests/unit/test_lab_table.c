/* test_lab_table.c — the comparison table (src/lab/table.c): one aligned row per run, errors
 * by code without the 2xx outcomes, latency in ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lab/table.h"

static void fill(lab_run *r, const char *strategy, bool guarded) {
    memset(r, 0, sizeof *r);
    snprintf(r->strategy, sizeof r->strategy, "%s", strategy);
    r->guarded = guarded;
    r->audit.latency = (audit_latency){.p50 = 1500, .p90 = 2000, .p99 = 12345, .max = 20000};
}

/* The n-th line of text (0-based), copied into buf. */
static void line_of(const char *text, int n, char *buf, size_t len) {
    const char *p = text;
    for (int i = 0; i < n; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    size_t l = strcspn(p, "\n");
    assert_true(l < len);
    memcpy(buf, p, l);
    buf[l] = '\0';
}

static void rows_show_counts_latency_and_errors_by_code(void **state) {
    (void)state;
    lab_run runs[2];
    fill(&runs[0], "naive", false);
    runs[0].audit.requests_per_min = 30125.4;
    runs[0].audit.tickets = 1200;
    runs[0].audit.oversold = 200;
    runs[0].audit.fcfs_violations = 77;
    runs[0].audit.noutcomes = 3;
    runs[0].audit.outcomes[0] = (audit_outcome){"sold_out", 48990};
    runs[0].audit.outcomes[1] = (audit_outcome){"201", 1000};
    runs[0].audit.outcomes[2] = (audit_outcome){"busy", 12};
    fill(&runs[1], "db-atomic", true);
    runs[1].audit.noutcomes = 1;
    runs[1].audit.outcomes[0] = (audit_outcome){"201", 1000};

    char *text = NULL;
    assert_int_equal(table_format(runs, 2, &text), TR_OK);
    assert_non_null(text);
    char head[512], naive[512], atomic[512];
    line_of(text, 0, head, sizeof head);
    line_of(text, 1, naive, sizeof naive);
    line_of(text, 2, atomic, sizeof atomic);
    assert_non_null(strstr(head, "strategy"));
    assert_non_null(strstr(head, "FCFS viol"));
    assert_non_null(strstr(head, "errors by code"));
    assert_non_null(strstr(naive, "unguarded"));
    assert_non_null(strstr(naive, "30125"));
    assert_non_null(strstr(naive, "1.50"));  /* p50 ms */
    assert_non_null(strstr(naive, "12.35")); /* p99 ms, rounded */
    assert_non_null(strstr(naive, "sold_out=48990 busy=12"));
    assert_null(strstr(naive, "201="));
    assert_non_null(strstr(atomic, "guarded"));
    assert_int_equal(atomic[strlen(atomic) - 1], '-'); /* no errors */

    /* Right-aligned numbers end where their header ends. */
    const char *cols[] = {"req/min", "tickets", "oversold", "FCFS viol", "p99 ms"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        size_t end = (size_t)(strstr(head, cols[i]) - head) + strlen(cols[i]);
        assert_in_range(naive[end - 1], '0', '9');
        assert_int_equal(naive[end], ' ');
        assert_in_range(atomic[end - 1], '0', '9');
        assert_int_equal(atomic[end], ' ');
    }
    assert_int_equal(strstr(naive, "sold_out") - naive, strstr(head, "errors by code") - head);
    assert_null(strchr(text + strlen(head) + strlen(naive) + strlen(atomic) + 3, '\n'));
    free(text);
}

static void missing_latency_shows_a_dash(void **state) {
    (void)state;
    lab_run run;
    fill(&run, "x", true);
    run.audit.latency = (audit_latency){-1, -1, -1, -1};
    char *text = NULL;
    assert_int_equal(table_format(&run, 1, &text), TR_OK);
    char row[512];
    line_of(text, 1, row, sizeof row);
    assert_non_null(strstr(row, "  -  "));
    free(text);
}

/* A festival run: its totals row, then the headliner's own row, and after the table how many
 * concerts were clean and sold out; --concerts lists each concert with the rules it broke. */
static void festival_shows_totals_headliner_and_clean_concerts(void **state) {
    (void)state;
    lab_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    fill(run, "redis-zset", true);
    run->audit.tickets = 1200;
    run->audit.fcfs_violations = 2;
    run->audit.requests = 4000;
    run->nconcerts = 3;
    run->zipf_s = 1.2;
    run->concerts[0] = (audit_concert_row){.concert_id = 1,
                                           .total_seats = 500,
                                           .tickets = 500,
                                           .requests = 2000,
                                           .acknowledged = 0,
                                           .queued = 900,
                                           .sold_out_after_us = 1500000};
    run->concerts[1] = (audit_concert_row){.concert_id = 2,
                                           .total_seats = 500,
                                           .tickets = 500,
                                           .requests = 1500,
                                           .fcfs_violations = 2,
                                           .sold_out_after_us = -1};
    run->concerts[2] = (audit_concert_row){.concert_id = 3,
                                           .total_seats = 500,
                                           .tickets = 200,
                                           .requests = 500,
                                           .sold_out_after_us = -1};
    char *text = NULL;
    assert_int_equal(table_format(run, 1, &text), TR_OK);
    char total[512], head[512], note[512];
    line_of(text, 1, total, sizeof total);
    line_of(text, 2, head, sizeof head);
    line_of(text, 3, note, sizeof note);
    assert_non_null(strstr(total, "redis-zset"));
    assert_non_null(strstr(head, "headliner 1"));
    assert_non_null(strstr(head, "2000 of 4000 requests"));
    assert_string_equal(note, "festival redis-zset: 2 of 3 concerts clean (R1-R8), 2 sold out, "
                              "1200 of 1500 seats sold");
    free(text);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(table_write_concerts(f, run), TR_OK);
    rewind(f);
    char buf[4096] = "";
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    char line[512];
    line_of(buf, 3, line, sizeof line); /* the concert that broke R6 */
    assert_non_null(strstr(line, "R6=2"));
    assert_non_null(strstr(line, "500/500"));
    line_of(buf, 2, line, sizeof line);
    assert_non_null(strstr(line, "1.50 s"));
    assert_non_null(strstr(buf, "total: 2 of 3 concerts clean, 2 sold out, 1200 of 1500 seats"));
    free(run);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_show_counts_latency_and_errors_by_code),
        cmocka_unit_test(missing_latency_shows_a_dash),
        cmocka_unit_test(festival_shows_totals_headliner_and_clean_concerts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
