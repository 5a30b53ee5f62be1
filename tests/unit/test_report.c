/* test_report.c — the HTML report (src/lab/report.c) shows the audit's numbers, not numbers of
 * its own: a small run is audited here, written as a run file, read back and rendered, and every
 * R1–R8 count, figure, outcome and chart total in the page equals the audit's; the same holds
 * for the three real run files in tests/fixtures/report/. Also: the ceilings are read from
 * `ticketrush ceiling` and wrk output, the study's rows are found by strategy, labels are
 * escaped, and nothing in the page is fetched or scripted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/audit.h"
#include "lab/lab_cli.h"
#include "lab/report.h"
#include "lab/runfile.h"

static char fixture_dir[512];

static int group_setup(void **state) {
    (void)state;
    snprintf(fixture_dir, sizeof fixture_dir, "%s", __FILE__); /* absolute under CMake */
    char *slash = strrchr(fixture_dir, '/');
    if (slash == NULL) return -1;
    *slash = '\0';
    size_t len = strlen(fixture_dir);
    snprintf(fixture_dir + len, sizeof fixture_dir - len, "/../fixtures/report");
    return 0;
}

/* --- reading numbers back out of the page ------------------------------------------------ */

typedef struct span {
    const char *p, *e;
} span;

/* The part of html from the first `open` to the following `close` (inclusive). */
static span find_span(const char *html, const char *open, const char *close) {
    const char *p = strstr(html, open);
    if (p == NULL) fail_msg("the report has no %s", open);
    const char *e = strstr(p, close);
    if (e == NULL) fail_msg("the report's %s is not closed by %s", open, close);
    return (span){p, e + strlen(close)};
}

/* The integer after the first `pattern` inside s. */
static int64_t value_after(span s, const char *pattern) {
    size_t n = strlen(pattern);
    for (const char *p = s.p; p + n <= s.e; p++) {
        if (memcmp(p, pattern, n) != 0) continue;
        return strtoll(p + n, NULL, 10);
    }
    fail_msg("no %s in the span", pattern);
    return 0;
}

/* data-key="key" data-value="…" inside s. */
static int64_t keyed(span s, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "data-key=\"%s\" data-value=\"", key);
    return value_after(s, pat);
}

/* The sum of the integers after every `pattern` inside s, and how many there were. */
static int64_t sum_after(span s, const char *pattern, int *count) {
    size_t n = strlen(pattern);
    int64_t sum = 0;
    *count = 0;
    for (const char *p = s.p; p + n <= s.e; p++) {
        if (memcmp(p, pattern, n) != 0) continue;
        sum += strtoll(p + n, NULL, 10);
        (*count)++;
    }
    return sum;
}

/* Every number the page shows for run i equals the run's audit. */
static void assert_page_matches(const char *html, const lab_run *r, size_t i) {
    const audit_report *a = &r->audit;
    char open[160];

    /* The audit table's row: one cell per rule, with the audit's count. */
    snprintf(open, sizeof open, "<tr data-strategy=\"%s\">", r->strategy);
    span row = find_span(strstr(html, "<table id=\"audit\""), open, "</tr>");
    assert_int_equal(value_after(row, "data-key=\"tickets\" data-value=\""), a->tickets);
    int64_t want[8] = {a->oversold,          a->duplicate_customers, a->seat_errors,
                       a->vip_errors,        a->sales_after_close,   a->fcfs_violations,
                       a->lost + a->phantom, a->count_drift};
    for (int k = 0; k < 8; k++) {
        char pat[64];
        snprintf(pat, sizeof pat, "data-rule=\"R%d\" data-count=\"", k + 1);
        assert_int_equal(value_after(row, pat), want[k]);
        snprintf(pat, sizeof pat, "class=\"%s\" data-rule=\"R%d\"", want[k] ? "fail" : "pass",
                 k + 1);
        size_t n = strlen(pat);
        bool found = false;
        for (const char *p = row.p; p + n <= row.e && !found; p++) found = !memcmp(p, pat, n);
        if (!found) fail_msg("R%d cell is not marked %s", k + 1, want[k] ? "fail" : "pass");
    }

    /* The run's section: figures, percentiles, outcomes and chart totals. */
    snprintf(open, sizeof open, "<section class=\"run\" id=\"run-%zu\"", i + 1);
    span sec = find_span(html, open, "</section>");
    assert_int_equal(keyed(sec, "tickets"), a->tickets);
    assert_int_equal(keyed(sec, "answered"), a->answered);
    assert_int_equal(keyed(sec, "acknowledged"), a->acknowledged);
    assert_int_equal(keyed(sec, "sold_out_after_us"), a->sold_out_after_us);
    assert_int_equal(keyed(sec, "last_issued_after_us"), a->last_issued_after_us);
    assert_int_equal(keyed(sec, "duration_us"), r->duration_us);
    assert_int_equal(keyed(sec, "reconnects"), r->reconnects);
    assert_int_equal(keyed(sec, "requests_per_min_int"), (int64_t)llround(a->requests_per_min));
    assert_int_equal(keyed(sec, "tickets_per_min_int"), (int64_t)llround(a->tickets_per_min));
    assert_int_equal(keyed(sec, "p50_us"), a->latency.p50);
    assert_int_equal(keyed(sec, "p90_us"), a->latency.p90);
    assert_int_equal(keyed(sec, "p99_us"), a->latency.p99);
    assert_int_equal(keyed(sec, "max_us"), a->latency.max);
    for (int k = 0; k < a->noutcomes; k++)
        assert_int_equal(keyed(sec, a->outcomes[k].key), a->outcomes[k].count);

    /* The charts draw every answer once: the 1-second buckets and the latency bins each add up
     * to the answered requests, the ticket line and the scatter to the 201s. */
    span thr = find_span(sec.p, "chart-throughput", "</svg>");
    int bars;
    assert_int_equal(sum_after(thr, "data-answered=\"", &bars), a->answered);
    assert_int_equal(sum_after(thr, "data-tickets=\"", &bars), a->acknowledged);
    assert_int_equal(bars, (int)(r->duration_us / 1000000) + 1);
    span lat = find_span(sec.p, "chart-latency", "</svg>");
    assert_int_equal(sum_after(lat, "data-count=\"", &bars), a->answered);
    span sc = find_span(sec.p, "chart-scatter", "</svg>");
    assert_int_equal(value_after(sc, "data-points=\""), a->acknowledged);
}

/* --- a small run, audited here -------------------------------------------------------- */

static void small_run(lab_run *run) {
    memset(run, 0, sizeof *run);
    snprintf(run->strategy, sizeof run->strategy, "naive");
    snprintf(run->scenario, sizeof run->scenario, "one-seat");
    run->params = (run_params){.tickets = 3,
                               .vip = 1,
                               .customers = 8,
                               .requests = 8,
                               .vus = 4,
                               .seed = 1,
                               .concert_id = 1};
    snprintf(run->params.url, sizeof run->params.url, "http://127.0.0.1:8080");
    run->started_wall_us = 1714564800000000LL;
    run->duration_us = 2400000;
    static const lab_record recs[] = {
        {1, 0, 900, 201, 1, LAB_CODE_NONE, 0, false, 0, 0},
        {2, 10, 1000, 201, 1, LAB_CODE_NONE, 0, false, 0, 0}, /* seat 1 again: naive */
        {3, 20, 1100000, 201, 2, LAB_CODE_NONE, 0, false, 0, 0},
        {4, 1200000, 1300000, 201, 3, LAB_CODE_NONE, 0, false, 0, 0},
        {5, 1200100, 1250000, 409, 0, LAB_CODE_SOLD_OUT, 0, false, 0, 0},
        {6, 1300100, 2300000, 201, 2, LAB_CODE_NONE, 0, false, 0,
         0}, /* seat 2 after seat 3 answered */
        {7, 1300200, 2400000, 503, 0, LAB_CODE_BUSY, 0, false, 0, 0},
        {8, 1300300, -1, 0, 0, LAB_CODE_CONNECTION_ERROR, 0, false, 0, 0},
    };
    run->nrecords = sizeof recs / sizeof recs[0];
    run->records = malloc(sizeof recs);
    assert_non_null(run->records);
    memcpy(run->records, recs, sizeof recs);
    static const audit_ticket t[] = {
        {1, 1, true, false, 1714564800000800LL},  {2, 1, true, false, 1714564800000900LL},
        {3, 2, false, false, 1714564801000000LL}, {4, 3, false, false, 1714564801250000LL},
        {6, 2, false, false, 1714564802200000LL}, {9, 3, true, false, 1714564802300000LL},
    };
    audit_concert c = {.id = 1,
                       .total_seats = 3,
                       .vip_seats = 1,
                       .remaining = 1,
                       .starts_at_us = 1714568400000000LL};
    assert_int_equal(audit_compute(&c, t, sizeof t / sizeof t[0], run->records, run->nrecords,
                                   &run->codes, run->duration_us, run->started_wall_us,
                                   &run->audit),
                     TR_OK);
}

static void report_shows_the_audit_of_a_small_run(void **state) {
    (void)state;
    lab_run *orig = calloc(1, sizeof *orig), *back = calloc(1, sizeof *back);
    assert_non_null(orig);
    assert_non_null(back);
    small_run(orig);
    /* The audit found what the records hold, so the page has failures to show. */
    assert_int_equal(orig->audit.oversold, 3);
    assert_int_equal(orig->audit.seat_duplicates, 3);
    assert_int_equal(orig->audit.vip_errors, 1);
    assert_int_equal(orig->audit.fcfs_inverted, 1);
    assert_int_equal(orig->audit.phantom, 1);
    assert_int_equal(orig->audit.count_drift, 4);

    char dir[] = "/tmp/test_report.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run.json", dir);
    char err[256];
    assert_int_equal(runfile_write(orig, path, err, sizeof err), TR_OK);
    assert_int_equal(runfile_read(path, true, back, err, sizeof err), TR_OK);
    unlink(path);
    rmdir(dir);

    report_ceiling ceil = {"load generator, GET /livez", 600000};
    report_options opt = {.ceilings = &ceil, .nceilings = 1};
    char *html = NULL;
    assert_int_equal(report_format(back, 1, &opt, &html), TR_OK);
    assert_non_null(html);
    assert_page_matches(html, orig, 0);
    /* The summary quotes the run against the study's naive (30,000 req/min) and the ceiling. */
    span sum = find_span(html, "<table class=\"summary\">", "</table>");
    assert_int_equal(keyed(sum, "requests_per_min"), (int64_t)orig->audit.requests_per_min);
    assert_non_null(strstr(html, "no Redis (read-modify-write in the DB)"));
    /* Self-contained: no script, no source, no link out of the page, no CSS url(). */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, " src="));
    assert_null(strstr(html, "url("));
    for (const char *h = strstr(html, "href=\""); h; h = strstr(h + 1, "href=\""))
        if (h[6] != '#') fail_msg("a link out of the page: %.60s", h);
    assert_non_null(strstr(html, "default-src 'none'"));
    free(html);
    lab_run_free_records(orig);
    lab_run_free_records(back);
    free(orig);
    free(back);
}

static void report_shows_the_audit_of_the_fixture_runs(void **state) {
    (void)state;
    static const char *const names[] = {"run-naive.json", "run-db-atomic.json",
                                        "run-redis-lock.json"};
    enum { N = 3 };
    lab_run *runs = calloc(N, sizeof *runs);
    assert_non_null(runs);
    char path[700], err[512];
    for (size_t i = 0; i < N; i++) {
        snprintf(path, sizeof path, "%s/%s", fixture_dir, names[i]);
        if (runfile_read(path, true, &runs[i], err, sizeof err) != TR_OK) fail_msg("%s", err);
    }
    snprintf(path, sizeof path, "%s/ceiling.txt", fixture_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[4096];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    report_ceiling ceilings[REPORT_MAX_CEILINGS];
    report_options opt = {.ceilings = ceilings,
                          .nceilings = report_parse_ceilings(text, ceilings, REPORT_MAX_CEILINGS),
                          .generated_wall_us = 1714564800000000LL};
    assert_int_equal(opt.nceilings, 2);
    char *html = NULL;
    assert_int_equal(report_format(runs, N, &opt, &html), TR_OK);
    for (size_t i = 0; i < N; i++) assert_page_matches(html, &runs[i], i);
    /* One audit row and one section per run, in order. */
    span audit = find_span(html, "<table id=\"audit\"", "</table>");
    int rows;
    sum_after(audit, "<tr data-strategy=", &rows);
    assert_int_equal(rows, N);
    int svgs;
    sum_after((span){html, html + strlen(html)}, "<svg class=\"chart ", &svgs);
    assert_int_equal(
        svgs, 1 + 5 * N); /* summary; per run: throughput, latency, spectrum, outcomes, scatter */
    span head = find_span(html, "<header>", "</header>");
    assert_non_null(
        memmem(head.p, (size_t)(head.e - head.p), "generated 2024-05-01T12:00:00Z", 30));
    free(html);
    for (size_t i = 0; i < N; i++) lab_run_free_records(&runs[i]);
    free(runs);
}

static void report_parses_the_ceilings_demo_writes(void **state) {
    (void)state;
    static const char text[] =
        "ceiling: GET /livez on 127.0.0.1:18080, 200 connections, 200000 requests\n"
        "answered 200000 in 4.000 s: 50000 requests/s, 3000000 requests/min\n"
        "latency: p50 3.912 ms, p90 5.120 ms, p99 8.001 ms, max 20.100 ms\n"
        "wrk -t1 -c200 -d5s http://127.0.0.1:18080/livez\n"
        "    Latency     3.55ms    1.12ms  30.00ms   90.00%\n"
        "Requests/sec:  56234.50\n";
    report_ceiling c[REPORT_MAX_CEILINGS];
    assert_int_equal(report_parse_ceilings(text, c, REPORT_MAX_CEILINGS), 2);
    assert_string_equal(c[0].label, "ticketrush load generator, GET /livez");
    assert_int_equal(llround(c[0].requests_per_min), 3000000);
    assert_string_equal(c[1].label, "wrk, GET /livez");
    assert_int_equal(llround(c[1].requests_per_min), 3374070);
    assert_int_equal(report_parse_ceilings(text, c, 1), 1); /* capped */
    assert_int_equal(report_parse_ceilings("nothing here\n", c, REPORT_MAX_CEILINGS), 0);

    /* make bench's two files: the server's GET /livez (L) and the script alone (S). */
    size_t n = report_parse_ceilings(text, c, REPORT_MAX_CEILINGS);
    n += report_parse_ceilings(
        "script-ceiling: redis-atomic purchase script alone, 1000 calls, 2 connections x 128 "
        "in flight\nanswered 1000 in 0.010 s: 100000 calls/s, 6000000 calls/min (tickets 100, "
        "refusals 900)\n",
        c + n, REPORT_MAX_CEILINGS - n);
    assert_int_equal(n, 3);
    assert_string_equal(c[2].label, "purchase script alone in Redis");
    assert_int_equal(llround(c[2].requests_per_min), 6000000);
    n = report_combine_ceilings(c, n, REPORT_MAX_CEILINGS);
    assert_int_equal(n, 4);
    assert_int_equal(llround(c[3].requests_per_min), 2000000); /* 1 / (1/3e6 + 1/6e6) */
    assert_int_equal(report_combine_ceilings(c, n, REPORT_MAX_CEILINGS), 4); /* once */
    assert_int_equal(report_combine_ceilings(c, 1, REPORT_MAX_CEILINGS), 1); /* L alone */
}

/* A queue strategy's 202s carry no seat: the scatter says so, and the page still counts them. */
static void report_explains_queued_runs(void **state) {
    (void)state;
    lab_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    snprintf(run->strategy, sizeof run->strategy, "redis-zset");
    snprintf(run->scenario, sizeof run->scenario, "seed");
    static const lab_record recs[] = {{1, 0, 500, 202, 0, 0, 0, false, 0, 0},
                                      {2, 10, 700, 202, 0, 0, 0, false, 0, 0}};
    run->records = malloc(sizeof recs);
    assert_non_null(run->records);
    memcpy(run->records, recs, sizeof recs);
    run->nrecords = 2;
    run->duration_us = 700;
    static const audit_ticket t[] = {{1, 1, true, false, 1000}, {2, 2, false, false, 2000}};
    audit_concert c = {.id = 1, .total_seats = 2, .vip_seats = 1, .remaining = 0};
    assert_int_equal(audit_compute(&c, t, 2, run->records, 2, &run->codes, 700, 0, &run->audit),
                     TR_OK);
    char *html = NULL;
    assert_int_equal(report_format(run, 1, NULL, &html), TR_OK);
    assert_non_null(strstr(html, "data-empty=\"queued\""));
    span sec = find_span(html, "<section class=\"run\" id=\"run-1\"", "</section>");
    assert_int_equal(keyed(sec, "queued"), 2);
    assert_int_equal(keyed(sec, "202"), 2);
    span thr = find_span(sec.p, "chart-throughput", "</svg>");
    assert_non_null(memmem(thr.p, (size_t)(thr.e - thr.p), "line-queued", 11));
    free(html);
    lab_run_free_records(run);
    free(run);
}

static void report_finds_the_study_by_strategy(void **state) {
    (void)state;
    const report_study_row *s = report_study_for("redis-lock/jmeter");
    assert_non_null(s);
    assert_int_equal(llround(s->requests_per_min), 75);
    s = report_study_for("redis-lock-cache");
    assert_non_null(s);
    assert_int_equal(llround(s->requests_per_min), 6000);
    s = report_study_for("naive");
    assert_non_null(s);
    assert_int_equal(llround(s->requests_per_min), 30000);
    s = report_study_for("redis-zset");
    assert_non_null(s);
    assert_int_equal(llround(s->requests_per_min), 100000);
    assert_null(report_study_for("db-atomic"));
    assert_null(report_study_for("naive2"));
}

static void report_escapes_labels(void **state) {
    (void)state;
    lab_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    small_run(run);
    snprintf(run->strategy, sizeof run->strategy, "<script>alert(\"x\")</script>&");
    char *html = NULL;
    assert_int_equal(report_format(run, 1, NULL, &html), TR_OK);
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"));
    free(html);
    assert_int_equal(report_format(run, 0, NULL, &html), TR_INVALID_ARGUMENT);
    assert_null(html);
    lab_run_free_records(run);
    free(run);
}

static void report_buckets_count_each_answer_once(void **state) {
    (void)state;
    static const lab_record recs[] = {
        {1, 0, 999999, 201, 1, 0, 0, false, 0, 0},
        {2, 0, 1000000, 409, 0, LAB_CODE_SOLD_OUT, 0, false, 0, 0},
        {3, 0, 2500000, 202, 0, 0, 0, false, 0, 0},
        {4, 0, -1, 0, 0, LAB_CODE_TIMEOUT, 0, false, 0, 0},
        {5, 0, 1500000, 0, 0, LAB_CODE_CONNECTION_ERROR, 0, false, 0, 0},
    };
    int64_t *a, *t, *q;
    size_t nb;
    assert_int_equal(report_buckets(recs, 5, &a, &t, &q, &nb), TR_OK);
    assert_int_equal(nb, 3);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[1], 1);
    assert_int_equal(a[2], 1);
    assert_int_equal(t[0], 1);
    assert_int_equal(t[1], 0);
    assert_int_equal(q[2], 1);
    free(a);
    free(t);
    free(q);
    assert_int_equal(report_buckets(recs + 3, 2, &a, &t, &q, &nb), TR_OK);
    assert_int_equal(nb, 0);
    assert_null(a);
}

#define ARGC(a) ((int)(sizeof a / sizeof a[0]) - 1)

/* `ticketrush report`: options, and a page written from the fixture runs. */
static void report_cli_writes_the_page(void **state) {
    (void)state;
    char *help[] = {"report", "--help", NULL};
    assert_int_equal(lab_cli_report(ARGC(help), help), LAB_EXIT_OK);
    char *none[] = {"report", NULL};
    assert_int_equal(lab_cli_report(ARGC(none), none), LAB_EXIT_USAGE);
    char *badfig[] = {"report", "--ceiling-figure", "livez=-3", "x.json", NULL};
    assert_int_equal(lab_cli_report(ARGC(badfig), badfig), LAB_EXIT_USAGE);
    char *missing[] = {"report", "/nonexistent/run.json", "--out", "/tmp/x.html", NULL};
    assert_int_equal(lab_cli_report(ARGC(missing), missing), LAB_EXIT_FAILURE);

    char dir[] = "/tmp/test_report_cli.XXXXXX", out[64], run[700], ceil[700];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/sub/report.html", dir);
    snprintf(run, sizeof run, "%s/run-db-atomic.json", fixture_dir);
    snprintf(ceil, sizeof ceil, "%s/ceiling.txt", fixture_dir);
    char *ok[] = {
        "report", run,     "--ceiling", ceil, "--ceiling-figure", "script=6000000", "--title",
        "t<1>",   "--out", out,         NULL};
    assert_int_equal(lab_cli_report(ARGC(ok), ok), LAB_EXIT_OK);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    static char page[1 << 20];
    size_t len = fread(page, 1, sizeof page - 1, f);
    page[len] = '\0';
    fclose(f);
    assert_non_null(strstr(page, "<title>t&lt;1&gt;</title>"));
    assert_non_null(strstr(page, "data-key=\"ceiling_2\" data-value=\"6000000\""));
    assert_non_null(strstr(page, "</html>"));
    unlink(out);
    snprintf(out, sizeof out, "%s/sub", dir);
    rmdir(out);
    rmdir(dir);
}

/* Open-loop runs of a sweep: the page gets one sweep chart, one line per strategy with a point
 * per run at its offered rate, and each run's percentile spectrum draws its three classes. */
static void report_draws_the_sweep_and_the_spectrum(void **state) {
    (void)state;
    enum { N = 3 };
    lab_run *runs = calloc(N, sizeof *runs);
    assert_non_null(runs);
    const char *labels[N] = {"redis-atomic", "redis-atomic", "db-atomic"};
    const double rates[N] = {2000, 1000, 500};
    for (size_t i = 0; i < N; i++) {
        small_run(&runs[i]);
        snprintf(runs[i].strategy, sizeof runs[i].strategy, "%s", labels[i]);
        runs[i].open_loop = (run_open_loop){.rate = rates[i], .max_connections = 64};
        runfile_histograms(&runs[i]);
    }
    char *html = NULL;
    assert_int_equal(report_format(runs, N, NULL, &html), TR_OK);
    span sweep = find_span(html, "<svg class=\"chart chart-sweep", "</svg>");
    int lines, points;
    sum_after(sweep, "<g class=\"sweep-line", &lines);
    sum_after(sweep, "data-rate=\"", &points);
    assert_int_equal(lines, 2);
    assert_int_equal(points, N);
    /* sorted by strategy, then rate: db-atomic 500, redis-atomic 1000, 2000 */
    const char *r500 = strstr(sweep.p, "data-rate=\"500\""),
               *r1000 = strstr(sweep.p, "data-rate=\"1000\""),
               *r2000 = strstr(sweep.p, "data-rate=\"2000\"");
    assert_true(r500 && r1000 && r2000 && r500 < r1000 && r1000 < r2000);
    span spec = find_span(html, "<svg class=\"chart chart-spectrum", "</svg>");
    assert_int_equal(value_after(spec, "data-series=\"all\" data-count=\""), 7);
    assert_int_equal(value_after(spec, "data-series=\"win\" data-count=\""), 5);
    assert_int_equal(value_after(spec, "data-series=\"lose\" data-count=\""), 2);
    int svgs;
    sum_after((span){html, html + strlen(html)}, "<svg class=\"chart ", &svgs);
    assert_int_equal(svgs, 1 + 1 + 5 * N);
    free(html);
    for (size_t i = 0; i < N; i++) lab_run_free_records(&runs[i]);
    free(runs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_shows_the_audit_of_a_small_run),
        cmocka_unit_test(report_shows_the_audit_of_the_fixture_runs),
        cmocka_unit_test(report_parses_the_ceilings_demo_writes),
        cmocka_unit_test(report_finds_the_study_by_strategy),
        cmocka_unit_test(report_escapes_labels),
        cmocka_unit_test(report_buckets_count_each_answer_once),
        cmocka_unit_test(report_explains_queued_runs),
        cmocka_unit_test(report_cli_writes_the_page),
        cmocka_unit_test(report_draws_the_sweep_and_the_spectrum),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
