/* test_jtl.c — JMeter's CSV results (src/lab/jtl.c) become the same records the lab's own load
 * generator makes, so the same audit comes out: tests/fixtures/jtl/small.jtl holds twelve
 * purchases (as JMeter 2.13 writes them: completion order, quoted sample-variable names, a
 * quoted message with a comma and doubled quotes, a sample of another label) that the table
 * below also holds as native records; both go through audit_compute against the same ticket
 * rows. Also: JMeter 5.x's header, CRLF and a quoted newline; the messages for files that
 * cannot be audited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/audit.h"
#include "lab/jtl.h"
#include "lab/lab_cli.h"

#define T0_US 1795962900000000LL /* the fixture's first timeStamp, in µs */

static char fixture_dir[512];

static const char *fixture(const char *name) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    return path;
}

static int group_setup(void **state) {
    (void)state;
    /* __FILE__ is tests/unit/test_jtl.c, absolute under CMake. */
    snprintf(fixture_dir, sizeof fixture_dir, "%s", __FILE__);
    char *slash = strrchr(fixture_dir, '/');
    if (slash == NULL) return -1;
    *slash = '\0';
    size_t len = strlen(fixture_dir);
    snprintf(fixture_dir + len, sizeof fixture_dir - len, "/../fixtures/jtl");
    return 0;
}

/* The fixture's purchases as the native load generator would have recorded them (µs from
 * t = 0, whole milliseconds, in send order). */
typedef struct native_row {
    int64_t customer, send_ms, done_ms;
    int32_t status, seat;
    uint16_t code;
} native_row;

static const native_row native[] = {
    {11, 0, 5, 201, 1, LAB_CODE_NONE},
    {12, 0, 6, 201, 2, LAB_CODE_NONE},
    {13, 1, 7, 503, 0, LAB_CODE_BUSY},
    {11, 2, 8, 409, 0, LAB_CODE_ALREADY_OWNED},
    {14, 8, 12, 201, 4, LAB_CODE_NONE},
    {15, 13, 15, 201, 3, LAB_CODE_NONE}, /* sent after seat 4 was answered: R6 inverted */
    {16, 14, 16, 201, 5, LAB_CODE_NONE},
    {17, 16, 18, 409, 0, LAB_CODE_SOLD_OUT},
    {18, 17, 19, 409, 0, LAB_CODE_SOLD_OUT},
    {19, 18, 18, 0, 0, LAB_CODE_CONNECTION_ERROR},
    {20, 19, 25, 404, 0, LAB_CODE_CUSTOMER_NOT_FOUND},
    {21, 20, -1, 0, 0, LAB_CODE_TIMEOUT},
};
#define NNATIVE (sizeof native / sizeof native[0])

/* PostgreSQL's rows after the run: the five acknowledged seats, plus a phantom duplicate of
 * seat 3 that nobody was told about (so R1, R3 and R7 have something to count). */
static const audit_ticket tickets[] = {
    {11, 1, true, false, T0_US + 4000},   {12, 2, true, false, T0_US + 5000},
    {14, 4, false, false, T0_US + 11000}, {15, 3, false, false, T0_US + 14000},
    {16, 5, false, false, T0_US + 15000}, {13, 3, false, false, T0_US + 9000},
};
#define NTICKETS (sizeof tickets / sizeof tickets[0])

static const audit_concert concert = {.id = 1,
                                      .total_seats = 5,
                                      .vip_seats = 2,
                                      .remaining = 0,
                                      .starts_at_us = T0_US + 3600000000LL};

static void native_records(lab_record *recs) {
    for (size_t i = 0; i < NNATIVE; i++) {
        const native_row *n = &native[i];
        recs[i] = (lab_record){.customer_id = n->customer,
                               .send_us = n->send_ms * 1000,
                               .done_us = n->done_ms < 0 ? -1 : n->done_ms * 1000,
                               .status = n->status,
                               .seat_no = n->seat,
                               .code = n->code};
    }
}

static void jtl_reader_yields_the_native_records(void **state) {
    (void)state;
    lab_codes codes = {0};
    jtl_result jr;
    char err[256] = "";
    jtl_options opt = {.label = "purchase", .timestamp = JTL_TIMESTAMP_START};
    tr_err rc = jtl_read(fixture("small.jtl"), &opt, &codes, &jr, err, sizeof err);
    if (rc != TR_OK) fail_msg("jtl_read: %s", err);
    assert_int_equal(jr.nrecords, NNATIVE);
    assert_int_equal(jr.skipped, 1); /* the livez sample */
    assert_int_equal(jr.started_wall_us, T0_US);
    assert_int_equal(jr.max_threads, 4);
    lab_record want[NNATIVE];
    native_records(want);
    for (size_t i = 0; i < NNATIVE; i++) {
        const lab_record *g = &jr.records[i], *w = &want[i];
        assert_int_equal(g->customer_id, w->customer_id);
        assert_int_equal(g->send_us, w->send_us);
        /* JMeter keeps milliseconds: the reader takes the end of the last one. */
        assert_int_equal(g->done_us, w->done_us < 0 ? -1 : w->done_us + 999);
        assert_int_equal(g->status, w->status);
        assert_int_equal(g->seat_no, w->seat_no); /* already_owned's nested seat is dropped */
        assert_string_equal(lab_codes_name(&codes, g->code), lab_codes_name(&codes, w->code));
    }
    assert_int_equal(jr.duration_us, 25999);
    jtl_result_free(&jr);
    assert_null(jr.records);
}

static void jtl_run_audits_like_the_native_run(void **state) {
    (void)state;
    lab_codes jcodes = {0}, ncodes = {0};
    jtl_result jr;
    char err[256] = "";
    jtl_options opt = {.label = "purchase"};
    if (jtl_read(fixture("small.jtl"), &opt, &jcodes, &jr, err, sizeof err) != TR_OK)
        fail_msg("jtl_read: %s", err);
    lab_record nat[NNATIVE];
    native_records(nat);
    audit_report *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(
        audit_compute(&concert, tickets, NTICKETS, nat, NNATIVE, &ncodes, 25000, T0_US, a), TR_OK);
    assert_int_equal(audit_compute(&concert, tickets, NTICKETS, jr.records, jr.nrecords, &jcodes,
                                   jr.duration_us, jr.started_wall_us, b),
                     TR_OK);
    /* The fixture exercises the rules: pin the native audit first. */
    assert_int_equal(a->oversold, 1);
    assert_int_equal(a->seat_duplicates, 1);
    assert_int_equal(a->fcfs_refused_beaten, 1); /* busy, answered at 7 ms; seat 4 sent at 8 */
    assert_int_equal(a->fcfs_inverted, 1);       /* seat 3 sent at 13 ms after seat 4 at 12 */
    assert_int_equal(a->phantom, 1);
    assert_int_equal(a->lost, 0);
    /* Every R1–R8 count and every count of the run is the same through the .jtl. */
    assert_int_equal(b->tickets, a->tickets);
    assert_int_equal(b->oversold, a->oversold);
    assert_int_equal(b->duplicate_customers, a->duplicate_customers);
    assert_int_equal(b->seat_duplicates, a->seat_duplicates);
    assert_int_equal(b->seat_gaps, a->seat_gaps);
    assert_int_equal(b->seat_out_of_range, a->seat_out_of_range);
    assert_int_equal(b->seat_errors, a->seat_errors);
    assert_int_equal(b->vip_errors, a->vip_errors);
    assert_int_equal(b->sales_after_close, a->sales_after_close);
    assert_int_equal(b->fcfs_refused_beaten, a->fcfs_refused_beaten);
    assert_int_equal(b->fcfs_inverted, a->fcfs_inverted);
    assert_int_equal(b->fcfs_violations, a->fcfs_violations);
    assert_int_equal(b->lost, a->lost);
    assert_int_equal(b->phantom, a->phantom);
    assert_int_equal(b->count_drift, a->count_drift);
    assert_int_equal(b->requests, a->requests);
    assert_int_equal(b->answered, a->answered);
    assert_int_equal(b->acknowledged, a->acknowledged);
    assert_int_equal(b->queued, a->queued);
    assert_int_equal(b->sold_out_after_us, a->sold_out_after_us + 999);
    assert_int_equal(b->last_issued_after_us, a->last_issued_after_us);
    assert_int_equal(b->latency.p50, a->latency.p50 + 999);
    assert_int_equal(b->latency.max, a->latency.max + 999);
    assert_int_equal(b->noutcomes, a->noutcomes);
    for (int i = 0; i < a->noutcomes; i++) {
        assert_string_equal(b->outcomes[i].key, a->outcomes[i].key);
        assert_int_equal(b->outcomes[i].count, a->outcomes[i].count);
    }
    free(a);
    free(b);
    jtl_result_free(&jr);
}

/* JMeter 5.x writes more columns (failureMessage, sentBytes, URL, IdleTime, Connect); a failure
 * message may be quoted across lines; a file may end lines with CRLF; timeStamp may mark the
 * end of the sample. */
static void jtl_reads_jmeter5_csv(void **state) {
    (void)state;
    static const char csv[] =
        "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,"
        "failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect,"
        "\"customerId\",\"seatNo\",\"error\"\r\n"
        "1700000000010,10,purchase,409,Conflict,buyers 1-1,text,false,\"Test failed: code "
        "expected\nto be 201, got \"\"409\"\"\",300,120,2,2,http://127.0.0.1:8080/concert/"
        "purchase/ticket,10,0,1,42,7,already_owned\r\n"
        "1700000000012,4,purchase,201,Created,buyers 1-2,text,true,,310,120,2,2,"
        "http://127.0.0.1:8080/concert/purchase/ticket,4,0,0,43,1,-\r\n"
        "\r\n";
    lab_codes codes = {0};
    jtl_result jr;
    char err[256] = "";
    jtl_options opt = {.timestamp = JTL_TIMESTAMP_END};
    tr_err rc = jtl_parse(csv, sizeof csv - 1, &opt, &codes, &jr, err, sizeof err);
    if (rc != TR_OK) fail_msg("jtl_parse: %s", err);
    assert_int_equal(jr.nrecords, 2);
    assert_int_equal(jr.started_wall_us, 1700000000000000LL); /* end 10 ms − elapsed 10 ms */
    assert_int_equal(jr.records[0].customer_id, 42);
    assert_int_equal(jr.records[0].status, 409);
    assert_string_equal(lab_codes_name(&codes, jr.records[0].code), "already_owned");
    assert_int_equal(jr.records[0].seat_no, 0);
    assert_int_equal(jr.records[0].done_us, 10999);
    assert_int_equal(jr.records[1].customer_id, 43);
    assert_int_equal(jr.records[1].send_us, 8000);
    assert_int_equal(jr.records[1].seat_no, 1);
    assert_int_equal(jr.records[1].code, LAB_CODE_NONE);
    assert_int_equal(jr.max_threads, 2);
    jtl_result_free(&jr);
}

static void expect_refusal(const char *csv, const char *label, const char *needle) {
    lab_codes codes = {0};
    jtl_result jr;
    char err[400] = "";
    jtl_options opt = {.label = label};
    tr_err rc = jtl_parse(csv, strlen(csv), &opt, &codes, &jr, err, sizeof err);
    if (rc != TR_INVALID_ARGUMENT)
        fail_msg("want TR_INVALID_ARGUMENT for %s, got %d (%s)", needle, (int)rc, err);
    assert_null(jr.records);
    assert_int_equal(jr.nrecords, 0);
    if (strstr(err, needle) == NULL) fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

static void jtl_refuses_what_it_cannot_audit(void **state) {
    (void)state;
    expect_refusal("", NULL, "empty");
    expect_refusal("1700000000000,3,purchase,201\n", NULL, "no CSV header");
    expect_refusal("timeStamp,elapsed,label,responseCode\n1700000000000,3,purchase,201\n", NULL,
                   "sample_variables=customerId,seatNo,error");
    expect_refusal("timeStamp,elapsed,label,responseCode,customerId,seatNo,error\n", NULL,
                   "no sample");
    expect_refusal("timeStamp,elapsed,label,responseCode,customerId,seatNo,error\n"
                   "2024/05/01 12:00:00.000,3,purchase,201,5,1,-\n",
                   NULL, "timestamp_format=ms");
    expect_refusal("timeStamp,elapsed,label,responseCode,customerId,seatNo,error\n"
                   "1700000000000,3,purchase,201,5,1,-\n"
                   "1700000000000,3,purchase,201,\"5,1,-\n",
                   NULL, "line 3: unterminated quote");
    expect_refusal("timeStamp,elapsed,label,responseCode,customerId,seatNo,error\n"
                   "1700000000000,3,purchase,201,5\n",
                   NULL, "line 2: 5 fields");
    expect_refusal("timeStamp,elapsed,label,responseCode,customerId,seatNo,error\n"
                   "1700000000000,3,purchase,201,${customerId},1,-\n",
                   NULL, "customerId is not a customer id");
    expect_refusal("timeStamp,elapsed,label,responseCode,customerId,seatNo,error\n"
                   "1700000000000,3,warmup,200,5,0,-\n",
                   "purchase", "no sample has the label \"purchase\"");
}

static void jtl_read_names_the_file(void **state) {
    (void)state;
    lab_codes codes = {0};
    jtl_result jr;
    char err[400] = "";
    assert_int_equal(jtl_read("/nonexistent/x.jtl", NULL, &codes, &jr, err, sizeof err),
                     TR_INTERNAL);
    if (strstr(err, "/nonexistent/x.jtl") == NULL) fail_msg("message: %s", err);
    jtl_result_free(NULL); /* a no-op */
}

#define ARGC(a) ((int)(sizeof a / sizeof a[0]) - 1)

/* `ticketrush jtl-audit` refuses bad options, and a .jtl without every sample before it asks
 * PostgreSQL anything (JMeter's exit status is never trusted). */
static void jtl_audit_cli_refuses_incomplete_runs(void **state) {
    (void)state;
    char *help[] = {"jtl-audit", "--help", NULL};
    assert_int_equal(lab_cli_jtl_audit(ARGC(help), help), LAB_EXIT_OK);
    char *nojtl[] = {"jtl-audit", "--strategy", "x", "--pg", "p", NULL};
    assert_int_equal(lab_cli_jtl_audit(ARGC(nojtl), nojtl), LAB_EXIT_USAGE);
    char *ts[] = {"jtl-audit", "--jtl", "a", "--strategy", "x", "--timestamps", "mid", NULL};
    assert_int_equal(lab_cli_jtl_audit(ARGC(ts), ts), LAB_EXIT_USAGE);
    char *path = (char *)fixture("small.jtl");
    /* 12 purchases in the file; the plan should have made 50: fail, with PostgreSQL never
     * reached (its conninfo here points nowhere). */
    char *short_run[] = {"jtl-audit",
                         "--jtl",
                         path,
                         "--strategy",
                         "x/jmeter",
                         "--label",
                         "purchase",
                         "--expect-samples",
                         "50",
                         "--pg",
                         "host=127.0.0.1 port=1 connect_timeout=1",
                         NULL};
    assert_int_equal(lab_cli_jtl_audit(ARGC(short_run), short_run), LAB_EXIT_FAILURE);
    char *missing[] = {"jtl-audit", "--jtl", "/nonexistent.jtl", "--strategy", "x", "--pg",
                       "p",         NULL};
    assert_int_equal(lab_cli_jtl_audit(ARGC(missing), missing), LAB_EXIT_FAILURE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jtl_reader_yields_the_native_records),
        cmocka_unit_test(jtl_run_audits_like_the_native_run),
        cmocka_unit_test(jtl_reads_jmeter5_csv),
        cmocka_unit_test(jtl_refuses_what_it_cannot_audit),
        cmocka_unit_test(jtl_read_names_the_file),
        cmocka_unit_test(jtl_audit_cli_refuses_incomplete_runs),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
