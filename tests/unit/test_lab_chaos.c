/* test_lab_chaos.c — pins the fault suite's accounting: the audit's R7 details (contradicted,
 * phantom_unknown, queued_unissued in src/lab/audit.c) and chaos.c's cell — in-flight, recovery
 * and PASS/FAIL against each strategy's promise — with synthetic records. No services. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lab/audit.h"
#include "lab/chaos.h"

static lab_record ans(int64_t customer, int64_t send, int64_t done, int32_t status, uint16_t code,
                      int32_t seat) {
    return (lab_record){.customer_id = customer,
                        .send_us = send,
                        .done_us = done,
                        .status = status,
                        .seat_no = seat,
                        .code = code};
}

static audit_ticket row(int64_t customer, int32_t seat) {
    return (audit_ticket){.customer_id = customer, .seat_no = seat};
}

/* --- the audit's R7 details ----------------------------------------------------------------- */

static void contradicted_is_an_acknowledged_seat_held_by_another(void **state) {
    (void)state;
    /* 10 was told seat 1, which PostgreSQL gives to 20; 11 was told seat 2, PostgreSQL holds 11
     * at seat 3; 12 was told seat 4, which nobody holds (lost, not contradicted). */
    lab_record r[3] = {ans(10, 0, 1, 201, LAB_CODE_NONE, 1), ans(11, 0, 1, 201, LAB_CODE_NONE, 2),
                       ans(12, 0, 1, 201, LAB_CODE_NONE, 4)};
    audit_ticket t[2] = {row(20, 1), row(11, 3)};
    int64_t lost, phantom, contra, unknown, unissued;
    assert_int_equal(audit_match_detail(r, 3, t, 2, &lost, &phantom, &contra, &unknown, &unissued),
                     TR_OK);
    assert_int_equal(lost, 3);
    assert_int_equal(contra, 2);
    assert_int_equal(phantom, 2);
    assert_int_equal(unknown, 0);
    assert_int_equal(unissued, 0);
}

static void phantom_unknown_is_a_row_of_an_unanswered_request(void **state) {
    (void)state;
    /* 30's connection died (status 0), 31 got a 500: their rows are phantoms of unknown outcome;
     * 32 was refused sold_out and still has a row: a real phantom. */
    lab_record r[3] = {ans(30, 0, 5, 0, LAB_CODE_CONNECTION_ERROR, 0),
                       ans(31, 0, 5, 500, LAB_CODE_INTERNAL, 0),
                       ans(32, 0, 5, 409, LAB_CODE_SOLD_OUT, 0)};
    audit_ticket t[3] = {row(30, 1), row(31, 2), row(32, 3)};
    int64_t lost, phantom, contra, unknown, unissued;
    assert_int_equal(audit_match_detail(r, 3, t, 3, &lost, &phantom, &contra, &unknown, &unissued),
                     TR_OK);
    assert_int_equal(phantom, 3);
    assert_int_equal(unknown, 2);
    assert_int_equal(lost, 0);
}

/* A purchase whose first attempt got a 500 (unknown: it may have written) and whose retries
 * then got 503 unavailable (nothing ran) is still of unknown outcome: its row is no anomaly.
 * Without the retry, a 503 said nothing ran: a row for it is a real phantom. */
static void a_503_after_a_retried_unknown_outcome_stays_unknown(void **state) {
    (void)state;
    lab_record r[2] = {ans(50, 0, 5, 503, LAB_CODE_UNAVAILABLE, 0),
                       ans(51, 0, 5, 503, LAB_CODE_UNAVAILABLE, 0)};
    r[0].retries = 3;
    audit_ticket t[2] = {row(50, 1), row(51, 2)};
    int64_t lost, phantom, contra, unknown, unissued;
    assert_int_equal(audit_match_detail(r, 2, t, 2, &lost, &phantom, &contra, &unknown, &unissued),
                     TR_OK);
    assert_int_equal(phantom, 2);
    assert_int_equal(unknown, 1); /* 50's, not 51's */
    assert_int_equal(lost, 0);
}

static void queued_unissued_counts_customers_answered_202_without_a_ticket(void **state) {
    (void)state;
    lab_record r[4] = {ans(40, 0, 1, 202, LAB_CODE_NONE, 0), ans(40, 2, 3, 202, LAB_CODE_NONE, 0),
                       ans(41, 0, 1, 202, LAB_CODE_NONE, 0), ans(42, 0, 1, 202, LAB_CODE_NONE, 0)};
    audit_ticket t[1] = {row(41, 1)};
    int64_t lost, phantom, contra, unknown, unissued;
    assert_int_equal(audit_match_detail(r, 4, t, 1, &lost, &phantom, &contra, &unknown, &unissued),
                     TR_OK);
    assert_int_equal(unissued, 2); /* 40 (twice, counted once) and 42 */
    assert_int_equal(phantom, 0);
}

/* --- chaos cells -------------------------------------------------------------------------- */

/* A run of redis-atomic whose fault came at t = 1 s; started at wall 1,000 s. */
static void make_run(lab_run *run, lab_record *recs, size_t n, const char *strategy,
                     const char *durability, const char *fault) {
    memset(run, 0, sizeof *run);
    snprintf(run->strategy, sizeof run->strategy, "%s", strategy);
    run->started_wall_us = 1000LL * 1000000;
    run->records = recs;
    run->nrecords = n;
    lab_run_set_mark(run, CHAOS_MARK_FAULT, fault);
    lab_run_set_mark(run, CHAOS_MARK_FAULT_AT, "1001000"); /* ms: t = 1 s */
    if (durability) lab_run_set_mark(run, CHAOS_MARK_DURABILITY, durability);
}

static void in_flight_and_recovery_come_from_the_records(void **state) {
    (void)state;
    lab_record recs[5] = {
        ans(1, 100000, 200000, 201, LAB_CODE_NONE, 1),       /* before the fault */
        ans(2, 900000, 1200000, 201, LAB_CODE_NONE, 2),      /* in flight, answered */
        ans(3, 950000, -1, 0, LAB_CODE_TIMEOUT, 0),          /* in flight, never answered */
        ans(4, 1100000, 1500000, 500, LAB_CODE_INTERNAL, 0), /* failed after */
        ans(5, 1600000, 1700000, 201, LAB_CODE_NONE, 3),     /* first normal answer after */
    };
    lab_run run;
    make_run(&run, recs, 5, "db-atomic", NULL, "pg-restart");
    chaos_cell c;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_true(c.injected);
    assert_int_equal(c.fault_at_us, 1000000);
    assert_int_equal(c.in_flight, 2);
    assert_int_equal(c.failed, 2);
    assert_int_equal(c.first_ok_ms, 700);
    assert_int_equal(c.recovered_ms, -1); /* request 3 never got an answer */
    recs[2] = ans(3, 950000, 2500000, 201, LAB_CODE_NONE, 4);
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_int_equal(c.recovered_ms, 1500); /* request 3 took 1.55 s: slow, until 2.5 s */
}

static void fast_may_lose_only_where_redis_lost_writes(void **state) {
    (void)state;
    lab_record recs[1] = {ans(1, 0, 10, 201, LAB_CODE_NONE, 1)};
    lab_run run;
    chaos_cell c;
    make_run(&run, recs, 1, "redis-atomic", "fast", "redis-kill");
    run.audit.lost = 3;
    run.audit.contradicted = 1;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_true(c.pass);
    assert_int_equal(c.lost, 2);
    assert_int_equal(c.contradicted, 1);
    assert_non_null(strstr(c.why, "allowed"));

    make_run(&run, recs, 1, "redis-atomic", "fast", "pg-restart");
    run.audit.lost = 1;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_false(c.pass);

    make_run(&run, recs, 1, "redis-atomic", "strict", "redis-kill");
    run.audit.lost = 1;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_false(c.pass);
}

static void promises_per_strategy(void **state) {
    (void)state;
    lab_record recs[1] = {ans(1, 0, 10, 202, LAB_CODE_NONE, 0)};
    lab_run run;
    chaos_cell c;
    make_run(&run, recs, 1, "redis-zset", NULL, "flushall");
    run.audit.queued_unissued = 5;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_true(c.pass);
    make_run(&run, recs, 1, "redis-zset", NULL, "redis-cut");
    run.audit.queued_unissued = 5;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_false(c.pass);

    make_run(&run, recs, 1, "redis-lock", NULL, "server-stop");
    run.audit.fcfs_violations = 7;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_true(c.pass);
    make_run(&run, recs, 1, "db-atomic", NULL, "server-stop");
    run.audit.fcfs_violations = 7;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_false(c.pass);

    /* a phantom explained by an unknown outcome is no anomaly; one that is not, is */
    make_run(&run, recs, 1, "db-atomic", NULL, "server-kill");
    run.audit.phantom = 2;
    run.audit.phantom_unknown = 2;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_true(c.pass);
    run.audit.phantom = 3;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_false(c.pass);
    assert_int_equal(c.other, 1);

    /* no fault time, or a fault the suite could not inject: FAIL */
    make_run(&run, recs, 1, "db-atomic", NULL, "server-kill");
    lab_run_set_mark(&run, CHAOS_MARK_ERROR, "the load ended before the fault");
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_false(c.pass);
}

/* issue 11 §5: on a Redis Cluster a killed master's replica is promoted without what it had not
 * received yet, so fast may lose acknowledged tickets (and redis-zset admissions) there;
 * replicated and strict may not, and under reshard no mode may. */
static void cluster_faults_promise_per_durability(void **state) {
    (void)state;
    lab_record recs[1] = {ans(1, 0, 10, 201, LAB_CODE_NONE, 1)};
    lab_run run;
    chaos_cell c;
    const struct {
        const char *strategy, *durability, *fault;
        bool pass;
    } cases[] = {
        {"redis-atomic", "fast", "master-kill", true},
        {"redis-atomic", "replicated", "master-kill", false},
        {"redis-atomic", "strict", "master-kill", false},
        {"redis-atomic", "fast", "reshard", false},
        {"redis-atomic", "replicated", "reshard", false},
        {"redis-atomic", "strict", "reshard", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_run(&run, recs, 1, cases[i].strategy, cases[i].durability, cases[i].fault);
        run.audit.lost = 2;
        assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
        if (c.pass != cases[i].pass)
            fail_msg("%s %s x %s with 2 lost: pass %d, expected %d (%s)", cases[i].strategy,
                     cases[i].durability, cases[i].fault, c.pass, cases[i].pass, c.why);
        assert_int_equal(c.lost, 2);
    }
    make_run(&run, recs, 1, "redis-zset", NULL, "master-kill");
    run.audit.queued_unissued = 3;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_true(c.pass);
    make_run(&run, recs, 1, "redis-zset", NULL, "reshard");
    run.audit.queued_unissued = 3;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_false(c.pass);
}

/* sale-on: the end of the fault concert's longest pause in sales after the fault (t = 1 s): a
 * sale that raced the fault does not hide the pause behind it; req/s: answered records over the
 * load phase. */
static void sale_on_is_the_end_of_the_fault_concerts_longest_pause(void **state) {
    (void)state;
    lab_record recs[6] = {
        ans(1, 900000, 950000, 201, LAB_CODE_NONE, 1),        /* before the fault */
        ans(6, 990000, 1003000, 201, LAB_CODE_NONE, 2),       /* raced the fault: 3 ms after */
        ans(2, 1100000, 1200000, 201, LAB_CODE_NONE, 1),      /* concert 2, after: not ours */
        ans(3, 1200000, 1300000, 503, LAB_CODE_BUSY, 0),      /* concert 1, refused */
        ans(4, 1500000, 3500000, 201, LAB_CODE_NONE, 3),      /* concert 1: 2.5 s after */
        ans(5, 2000000, -1, 0, LAB_CODE_CONNECTION_ERROR, 0), /* never answered */
    };
    int64_t concert[6] = {1, 1, 2, 1, 1, 1};
    for (int i = 0; i < 6; i++) recs[i].concert_id = concert[i];
    lab_run run;
    chaos_cell c;
    make_run(&run, recs, 6, "redis-atomic", "strict", "master-kill");
    run.duration_us = 2000000;
    lab_run_set_mark(&run, CHAOS_MARK_CONCERT, "1");
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_int_equal(c.sale_on_ms, 2500);
    if (!(c.requests_per_s > 2.49 && c.requests_per_s < 2.51)) /* 5 answered in 2 s */
        fail_msg("requests_per_s %f, expected 2.5", c.requests_per_s);
    make_run(&run, recs, 6, "redis-atomic", "strict", "master-kill"); /* no concert named: any */
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_int_equal(c.sale_on_ms, 2500); /* pauses 3, 197, 2300 ms: the last ends at 2.5 s */
    recs[4].status = 503, recs[2].status = 503, recs[1].status = 503;
    assert_int_equal(chaos_cell_compute(&run, &c), TR_OK);
    assert_int_equal(c.sale_on_ms, -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(contradicted_is_an_acknowledged_seat_held_by_another),
        cmocka_unit_test(phantom_unknown_is_a_row_of_an_unanswered_request),
        cmocka_unit_test(a_503_after_a_retried_unknown_outcome_stays_unknown),
        cmocka_unit_test(queued_unissued_counts_customers_answered_202_without_a_ticket),
        cmocka_unit_test(in_flight_and_recovery_come_from_the_records),
        cmocka_unit_test(fast_may_lose_only_where_redis_lost_writes),
        cmocka_unit_test(promises_per_strategy),
        cmocka_unit_test(cluster_faults_promise_per_durability),
        cmocka_unit_test(sale_on_is_the_end_of_the_fault_concerts_longest_pause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
