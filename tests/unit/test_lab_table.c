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

/* Windows by scheduled time, not by send time: a request due in the first second but sent late
 * counts there, with its wait. 100 requests due 0..0.99 s: latencies 1..100 ms, the last one sent
 * 50 ms late (late_us 10 ms), every third a winner; then one due at 2.5 s without an answer; the
 * empty window 1..2 s is not written. */
static void timeline_windows_by_scheduled_time(void **state) {
    (void)state;
    lab_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    fill(run, "redis-atomic", true);
    run->open_loop = (run_open_loop){.rate = 100, .late_us = 10000};
    enum { N = 101 };
    run->records = calloc(N, sizeof *run->records);
    assert_non_null(run->records);
    run->nrecords = N;
    for (int i = 0; i < 100; i++) {
        lab_record *r = &run->records[i];
        int64_t sched = (int64_t)i * 10000;
        *r = (lab_record){.customer_id = i + 1,
                          .scheduled = true,
                          .sched_us = sched,
                          .send_us = sched + (i == 99 ? 50000 : 100),
                          .done_us = sched + (int64_t)(100 - i) * 1000,
                          .status = i % 3 == 0 ? 201 : 409};
    }
    run->records[100] = (lab_record){.customer_id = 101,
                                     .scheduled = true,
                                     .sched_us = 2500000,
                                     .send_us = 2500100,
                                     .done_us = -1,
                                     .status = 0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(table_write_timeline(f, run, 1000000), TR_OK);
    fclose(f);
    char line[256];
    line_of(buf, 1, line, sizeof line);
    /* from, requests, answered, win (i = 0, 3, …, 99: 34), late 1, p50 50 ms, p99 99 ms, max 100 */
    assert_string_equal(line, "    0.00       100       100        34         1      50.00      "
                              "99.00     100.00");
    line_of(buf, 2, line, sizeof line);
    assert_string_equal(line, "    2.00         1         0         0         0          -      "
                              "    -          -");
    int lines = 0;
    for (const char *p = buf; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 3); /* the header and two windows: none for 1..2 s */
    free(buf);
    assert_int_equal(table_write_timeline(stdout, run, 999), TR_INVALID_ARGUMENT);
    lab_run_free_records(run);
    assert_int_equal(table_write_timeline(stdout, run, 1000000), TR_INVALID_ARGUMENT);
    free(run);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_show_counts_latency_and_errors_by_code),
        cmocka_unit_test(missing_latency_shows_a_dash),
        cmocka_unit_test(festival_shows_totals_headliner_and_clean_concerts),
        cmocka_unit_test(timeline_windows_by_scheduled_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
