/* test_lab_runfile.c — run files (src/lab/runfile.c) survive a write and a read back, with and
 * without their request rows, and a file that is not a version-1 run is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/runfile.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    lab_run run;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_lab_runfile.XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    snprintf(f->path, sizeof f->path, "%s/run.json", f->dir);
    lab_run *r = &f->run;
    snprintf(r->strategy, sizeof r->strategy, "naive");
    snprintf(r->scenario, sizeof r->scenario, "seed");
    r->guarded = false;
    r->params = (run_params){.tickets = 1000,
                             .vip = 10,
                             .customers = 10000,
                             .requests = 4,
                             .vus = 200,
                             .seed = 42,
                             .concert_id = 3};
    snprintf(r->params.url, sizeof r->params.url, "http://127.0.0.1:8080");
    r->started_wall_us = 1714564800123456LL;
    r->duration_us = 987654;
    r->reconnects = 2;
    audit_report *a = &r->audit;
    a->total_seats = 1000;
    a->vip_seats = 10;
    a->remaining = 7;
    a->tickets = 1200;
    a->oversold = 200;
    a->duplicate_customers = 3;
    a->seat_duplicates = 4;
    a->seat_gaps = 5;
    a->seat_out_of_range = 6;
    a->seat_errors = 15;
    a->vip_errors = 8;
    a->sales_after_close = 9;
    a->fcfs_refused_beaten = 10;
    a->fcfs_inverted = 11;
    a->fcfs_violations = 21;
    a->lost = 12;
    a->phantom = 13;
    a->count_drift = 14;
    a->requests = 4;
    a->answered = 2;
    a->acknowledged = 1;
    a->queued = 0;
    a->latency = (audit_latency){.p50 = 1500, .p90 = 2000, .p99 = 3000, .max = 4000};
    a->requests_per_min = 12345.5;
    a->tickets_per_min = 678.25;
    a->sold_out_after_us = -1;
    a->last_issued_after_us = 555;
    a->noutcomes = 3;
    a->outcomes[0] = (audit_outcome){"queue_full", 2};
    a->outcomes[1] = (audit_outcome){"201", 1};
    a->outcomes[2] = (audit_outcome){"timeout", 1};
    uint16_t odd = lab_codes_intern(&r->codes, "queue_full", 10);
    r->nrecords = 4;
    r->records = calloc(4, sizeof *r->records);
    if (r->records == NULL) return -1;
    r->records[0] = (lab_record){101, 0, 150, 201, 17, LAB_CODE_NONE, 0, false, 0, 0};
    r->records[1] = (lab_record){102, 5, 160, 409, 0, odd, 0, false, 0, 0};
    r->records[2] = (lab_record){103, 6, -1, 0, 0, LAB_CODE_TIMEOUT, 0, false, 0, 0};
    r->records[3] = (lab_record){104, -1, -1, 0, 0, LAB_CODE_TIMEOUT, 0, false, 0, 0};
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    lab_run_free_records(&f->run);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void run_reads_back_as_written(void **state) {
    fixture *f = *state;
    char err[256];
    assert_int_equal(runfile_write(&f->run, f->path, err, sizeof err), TR_OK);
    lab_run *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(runfile_read(f->path, true, back, err, sizeof err), TR_OK);
    assert_string_equal(back->strategy, "naive");
    assert_string_equal(back->scenario, "seed");
    assert_false(back->guarded);
    assert_int_equal(back->params.seed, 42);
    assert_int_equal(back->params.concert_id, 3);
    assert_string_equal(back->params.url, "http://127.0.0.1:8080");
    assert_int_equal(back->started_wall_us, 1714564800123456LL);
    assert_int_equal(back->duration_us, 987654);
    assert_int_equal(back->reconnects, 2);
    /* every audit count, compared as a block: the fields are all integers or doubles */
    assert_int_equal(back->audit.oversold, 200);
    assert_int_equal(back->audit.count_drift, 14);
    assert_int_equal(back->audit.fcfs_violations, 21);
    assert_int_equal(back->audit.latency.p99, 3000);
    assert_int_equal(back->audit.sold_out_after_us, -1);
    assert_int_equal(back->audit.last_issued_after_us, 555);
    assert_true(back->audit.requests_per_min > 12345.49 && back->audit.requests_per_min < 12345.51);
    back->audit.requests_per_min = f->run.audit.requests_per_min;
    back->audit.tickets_per_min = f->run.audit.tickets_per_min;
    assert_memory_equal(&back->audit, &f->run.audit, sizeof back->audit);

    assert_int_equal(back->nrecords, 4);
    for (int i = 0; i < 4; i++) {
        const lab_record *w = &f->run.records[i], *r = &back->records[i];
        assert_int_equal(r->customer_id, w->customer_id);
        assert_int_equal(r->send_us, w->send_us);
        assert_int_equal(r->done_us, w->done_us);
        assert_int_equal(r->status, w->status);
        assert_int_equal(r->seat_no, w->seat_no);
        assert_string_equal(lab_codes_name(&back->codes, r->code),
                            lab_codes_name(&f->run.codes, w->code));
    }
    lab_run_free_records(back);
    free(back);
}

static void summary_reads_without_the_rows(void **state) {
    fixture *f = *state;
    char err[256];
    assert_int_equal(runfile_write(&f->run, f->path, err, sizeof err), TR_OK);
    lab_run *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_OK);
    assert_null(back->records);
    assert_int_equal(back->nrecords, 0);
    assert_int_equal(back->audit.phantom, 13);
    free(back);
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A festival run keeps each concert's audit row and each request's concert; the table reads
 * them back as written. */
static void festival_concerts_read_back_as_written(void **state) {
    fixture *f = *state;
    char err[256];
    f->run.nconcerts = 2;
    f->run.zipf_s = 1.2;
    f->run.concerts[0] = (audit_concert_row){.concert_id = 3,
                                             .total_seats = 500,
                                             .vip_seats = 5,
                                             .requests = 3,
                                             .tickets = 500,
                                             .fcfs_violations = 2,
                                             .sold_out_after_us = 1234,
                                             .last_issued_after_us = 99};
    f->run.concerts[1] = (audit_concert_row){.concert_id = 4,
                                             .total_seats = 500,
                                             .remaining = 498,
                                             .requests = 1,
                                             .tickets = 2,
                                             .count_drift = -3,
                                             .sold_out_after_us = -1,
                                             .last_issued_after_us = -1};
    for (int i = 0; i < 4; i++) f->run.records[i].concert_id = i == 2 ? 4 : 3;
    f->run.records[1].scheduled = false; /* closed loop: sched_us is written -1 */
    assert_int_equal(runfile_write(&f->run, f->path, err, sizeof err), TR_OK);
    lab_run *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(runfile_read(f->path, true, back, err, sizeof err), TR_OK);
    assert_int_equal(back->nconcerts, 2);
    assert_true(back->zipf_s > 1.1999 && back->zipf_s < 1.2001);
    assert_memory_equal(&back->concerts[0], &f->run.concerts[0], sizeof back->concerts[0]);
    assert_memory_equal(&back->concerts[1], &f->run.concerts[1], sizeof back->concerts[1]);
    assert_int_equal(back->nrecords, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(back->records[i].concert_id, f->run.records[i].concert_id);
        assert_false(back->records[i].scheduled);
        assert_int_equal(back->records[i].customer_id, f->run.records[i].customer_id);
    }
    lab_run_free_records(back);
    /* a festival member that does not add up is refused, and named */
    write_file(f->path, "{\"version\":1,\"festival\":{\"concerts\":3,\"zipf_s\":1,"
                        "\"per_concert\":[]},\"requests\":[]}");
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_INVALID_ARGUMENT);
    free(back);
}

static void other_version_is_refused(void **state) {
    fixture *f = *state;
    char err[256];
    assert_int_equal(runfile_write(&f->run, f->path, err, sizeof err), TR_OK);
    lab_run *back = calloc(1, sizeof *back);
    assert_non_null(back);
    write_file(f->path, "{\"version\":2,\"requests\":[]}");
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "version"));
    free(back);
}

static void missing_field_is_named(void **state) {
    fixture *f = *state;
    char err[256];
    assert_int_equal(runfile_write(&f->run, f->path, err, sizeof err), TR_OK);
    /* rewrite the file without "lost" */
    FILE *fp = fopen(f->path, "r");
    assert_non_null(fp);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    char *lost = strstr(text, "\"lost\": 12,");
    assert_non_null(lost);
    memmove(lost, lost + strlen("\"lost\": 12,"), strlen(lost + strlen("\"lost\": 12,")) + 1);
    write_file(f->path, text);
    lab_run *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(runfile_read(f->path, true, back, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "\"audit.lost\""));
    assert_null(back->records);
    free(back);
}

static void bad_rows_and_non_json_are_refused(void **state) {
    fixture *f = *state;
    char err[256];
    assert_int_equal(runfile_write(&f->run, f->path, err, sizeof err), TR_OK);
    FILE *fp = fopen(f->path, "r");
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    char *row = strstr(text, "[102,5,160,409,\"queue_full\",0]");
    assert_non_null(row);
    memcpy(row, "[102,5,160,409,    7       ,0]", strlen("[102,5,160,409,\"queue_full\",0]"));
    write_file(f->path, text);
    lab_run *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_OK); /* rows skipped */
    assert_int_equal(runfile_read(f->path, true, back, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "request row 2"));
    write_file(f->path, "not json");
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_INVALID_ARGUMENT);
    unlink(f->path);
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_INTERNAL);
    assert_non_null(strstr(err, "could not open"));
    free(back);
}

static void times_are_rfc3339_utc_with_microseconds(void **state) {
    (void)state;
    char buf[40];
    runfile_format_time(1714564800123456LL, buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T12:00:00.123456Z");
    runfile_format_time(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    int64_t us;
    assert_true(runfile_parse_time("2024-05-01T12:00:00.123456Z", &us));
    assert_int_equal(us, 1714564800123456LL);
    assert_true(runfile_parse_time("2024-05-01T12:00:00.5Z", &us));
    assert_int_equal(us, 1714564800500000LL);
    assert_false(runfile_parse_time("2024-05-01T12:00:00+02:00", &us));
    assert_false(runfile_parse_time("2024-05-01", &us));
}

/* runfile_format_time writes a time before 1970 as 1970-01-01, so the reader refuses one: a
 * run read with it would not read back the same (found by tests/fuzz/fuzz_runfile.c). */
static void times_before_the_epoch_are_refused(void **state) {
    (void)state;
    int64_t us = 7;
    assert_false(runfile_parse_time("1969-11-29T14:52:38.848450Z", &us));
    assert_false(runfile_parse_time("1969-12-31T23:59:59.999999Z", &us));
    assert_false(runfile_parse_time("0000-01-01T00:00:00Z", &us));
    assert_int_equal(us, 7);
    assert_true(runfile_parse_time("1970-01-01T00:00:00.000000Z", &us));
    assert_int_equal(us, 0);
}

/* An "outcomes" key longer than audit_outcome's key was never written; cut, two keys could
 * become one or a UTF-8 sequence could be split, and the run would not write back (found by
 * tests/fuzz/fuzz_runfile.c). */
static void long_outcome_key_is_refused(void **state) {
    fixture *f = *state;
    char err[256];
    assert_int_equal(runfile_write(&f->run, f->path, err, sizeof err), TR_OK);
    FILE *fp = fopen(f->path, "r");
    assert_non_null(fp);
    static char text[1 << 16], edited[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    char *key = strstr(text, "\"queue_full\": 2");
    assert_non_null(key);
    /* 48 bytes: one more than a key holds. */
    snprintf(edited, sizeof edited, "%.*s\"%s\"%s", (int)(key - text), text,
             "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1", key + strlen("\"queue_full\""));
    write_file(f->path, edited);
    lab_run *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "longer than 47 bytes"));
    /* 47 bytes still reads. */
    snprintf(edited, sizeof edited, "%.*s\"%s\"%s", (int)(key - text), text,
             "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", key + strlen("\"queue_full\""));
    write_file(f->path, edited);
    assert_int_equal(runfile_read(f->path, false, back, err, sizeof err), TR_OK);
    free(back);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(run_reads_back_as_written, setup, teardown),
        cmocka_unit_test_setup_teardown(summary_reads_without_the_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(festival_concerts_read_back_as_written, setup, teardown),
        cmocka_unit_test_setup_teardown(other_version_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_field_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_rows_and_non_json_are_refused, setup, teardown),
        cmocka_unit_test(times_are_rfc3339_utc_with_microseconds),
        cmocka_unit_test(times_before_the_epoch_are_refused),
        cmocka_unit_test_setup_teardown(long_outcome_key_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
