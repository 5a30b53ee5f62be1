/* test_histogram.c — the log-linear latency histogram (src/lab/histogram.c): its percentiles
 * against exact sorted percentiles of random values stay within the promised 1/128, merging
 * equals recording everything in one, the extremes (0, negative, past the range) land where
 * documented, and the JSON form reads back identical and refuses a corrupt one. Also the open
 * loop's schedule (lg_schedule_us) and the run file's winners/losers split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/histogram.h"
#include "lab/loadgen.h"
#include "lab/runfile.h"

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void) { /* xorshift64 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the ceil(p/100 × n)-th smallest (1-based), at least the first. */
static int64_t exact_percentile(const int64_t *sorted, size_t n, double p) {
    double want = p / 100.0 * (double)n;
    size_t rank = (size_t)want;
    if ((double)rank < want) rank++;
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

static void indices_are_contiguous_and_ranges_hold_their_values(void **state) {
    (void)state;
    int64_t prev_hi = -1;
    for (int i = 0; i < HIST_NBUCKETS; i++) {
        int64_t lo, hi;
        lab_hist_bucket_range(i, &lo, &hi);
        assert_int_equal(lo, prev_hi + 1);
        assert_true(hi >= lo);
        assert_int_equal(lab_hist_index(lo), i);
        assert_int_equal(lab_hist_index(hi), i);
        if (lo >= HIST_SUB_COUNT) assert_true((hi - lo + 1) * HIST_SUB_HALF <= lo);
        prev_hi = hi;
    }
    assert_int_equal(prev_hi, HIST_MAX_US); /* the last bucket ends exactly at the range */
}

static void percentiles_of_random_values_are_within_1_percent(void **state) {
    (void)state;
    enum { N = 200000 };
    int64_t *v = malloc(N * sizeof *v);
    lab_hist *h = malloc(sizeof *h);
    assert_non_null(v);
    assert_non_null(h);
    lab_hist_init(h);
    for (size_t i = 0; i < N; i++) {
        /* log-uniform over 1 µs .. 1 hour, so every range of buckets is exercised */
        double e = (double)(rng() % 1000000) / 1000000.0 * log(3600e6);
        v[i] = (int64_t)exp(e);
        lab_hist_record(h, v[i]);
    }
    qsort(v, N, sizeof *v, cmp_i64);
    assert_int_equal(h->count, N);
    assert_int_equal(h->min, v[0]);
    assert_int_equal(h->max, v[N - 1]);
    const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 99.999};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        int64_t exact = exact_percentile(v, N, ps[k]), got = lab_hist_percentile(h, ps[k]);
        if (got < exact || (double)(got - exact) > (double)exact / 100.0)
            fail_msg("p%g: histogram %lld, exact %lld", ps[k], (long long)got, (long long)exact);
    }
    assert_int_equal(lab_hist_percentile(h, 100), v[N - 1]);
    assert_int_equal(lab_hist_percentile(h, 0), v[0]);
    free(v);
    free(h);
}

static void merge_equals_recording_everything_in_one(void **state) {
    (void)state;
    lab_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *all = malloc(sizeof *all);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(all);
    lab_hist_init(a);
    lab_hist_init(b);
    lab_hist_init(all);
    lab_hist_merge(a, b); /* empty into empty: still empty */
    assert_int_equal(a->count, 0);
    for (int i = 0; i < 5000; i++) {
        int64_t x = (int64_t)(rng() % 5000000);
        lab_hist_record(i % 3 ? a : b, x);
        lab_hist_record(all, x);
    }
    lab_hist_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_memory_equal(a->counts, all->counts, sizeof a->counts);
    assert_int_equal(lab_hist_percentile(a, 99.9), lab_hist_percentile(all, 99.9));
    free(a);
    free(b);
    free(all);
}

static void extremes_land_where_documented(void **state) {
    (void)state;
    lab_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    lab_hist_init(h);
    assert_int_equal(lab_hist_percentile(h, 50), -1); /* empty */
    lab_hist_record(h, -5);                           /* negative: 0 */
    assert_int_equal(h->min, 0);
    assert_int_equal(lab_hist_percentile(h, 50), 0);
    lab_hist_record(h, 255);                /* the last exact value */
    lab_hist_record(h, 256);                /* the first shared bucket */
    lab_hist_record(h, 3600LL * 1000000);   /* one hour: in range */
    lab_hist_record(h, HIST_MAX_US + 1000); /* past the range: clamped */
    assert_int_equal(h->count, 5);
    assert_int_equal(h->clamped, 1);
    assert_int_equal(h->max, HIST_MAX_US);
    assert_int_equal(lab_hist_percentile(h, 40), 255);
    assert_int_equal(lab_hist_percentile(h, 60), 257); /* 256..257 share a bucket */
    int64_t hour = lab_hist_percentile(h, 80);
    assert_true(hour >= 3600LL * 1000000 && hour - 3600LL * 1000000 <= 3600LL * 1000000 / 128);
    /* iteration visits exactly the non-empty buckets, in order */
    int idx = -1, n = 0;
    int64_t lo, hi, c, total = 0, prev = -1;
    while (lab_hist_next(h, &idx, &lo, &hi, &c)) {
        assert_true(lo > prev);
        prev = hi;
        total += c;
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(total, 5);
    free(h);
}

static void json_round_trip_and_corruption(void **state) {
    (void)state;
    lab_hist *h = malloc(sizeof *h), *back = malloc(sizeof *back);
    assert_non_null(h);
    assert_non_null(back);
    lab_hist_init(h);
    for (int i = 0; i < 3000; i++) lab_hist_record(h, (int64_t)(rng() % 100000000));
    lab_hist_record(h, HIST_MAX_US * 2);
    json_t *j = lab_hist_to_json(h);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    json_error_t jerr;
    json_t *again = json_loads(text, 0, &jerr);
    assert_non_null(again);
    char err[256];
    assert_int_equal(lab_hist_from_json(again, back, err, sizeof err), TR_OK);
    assert_memory_equal(h, back, sizeof *h);
    assert_int_equal(json_integer_value(json_object_get(again, "p99")), lab_hist_percentile(h, 99));

    /* a count that does not match the buckets */
    json_object_set_new(again, "count", json_integer(h->count + 1));
    assert_int_equal(lab_hist_from_json(again, back, err, sizeof err), TR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "do not match"));
    json_decref(again);
    free(text);

    /* an index out of range, one repeated, another sub-bucket count */
    const char *bad[] = {
        "{\"sub_bucket_half\":128,\"count\":1,\"min\":1,\"max\":1,\"clamped\":0,"
        "\"buckets\":\"99999:1\"}",
        "{\"sub_bucket_half\":128,\"count\":2,\"min\":1,\"max\":1,\"clamped\":0,"
        "\"buckets\":\"1:1,1:1\"}",
        "{\"sub_bucket_half\":1024,\"count\":0,\"min\":0,\"max\":0,\"clamped\":0,\"buckets\":\"\"}",
        "{\"sub_bucket_half\":128,\"count\":1,\"min\":1,\"max\":1,\"clamped\":0,"
        "\"buckets\":\"1:0\"}",
        "{\"sub_bucket_half\":128,\"count\":1,\"min\":1,\"max\":1,\"clamped\":0,"
        "\"buckets\":\"1:1,\"}",
        "{\"sub_bucket_half\":128,\"count\":1,\"min\":1,\"max\":1,\"clamped\":0,"
        "\"buckets\":\" 1:1\"}",
        "{\"sub_bucket_half\":128,\"count\":1,\"min\":1,\"max\":1,\"clamped\":0,"
        "\"buckets\":[[1,1]]}",
        "[]",
    };
    /* the good form, by hand */
    json_t *g = json_loads("{\"sub_bucket_half\":128,\"count\":3,\"min\":1,\"max\":300,"
                           "\"clamped\":0,\"buckets\":\"1:2,278:1\"}",
                           0, &jerr);
    assert_non_null(g);
    assert_int_equal(lab_hist_from_json(g, back, err, sizeof err), TR_OK);
    assert_int_equal(back->counts[1], 2);
    assert_int_equal(lab_hist_percentile(back, 100), 300);
    json_decref(g);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        json_t *b = json_loads(bad[k], 0, &jerr);
        assert_non_null(b);
        if (lab_hist_from_json(b, back, err, sizeof err) != TR_INVALID_ARGUMENT)
            fail_msg("accepted %s", bad[k]);
        json_decref(b);
    }
    /* the empty histogram round-trips too */
    lab_hist_init(h);
    j = lab_hist_to_json(h);
    assert_int_equal(lab_hist_from_json(j, back, err, sizeof err), TR_OK);
    assert_int_equal(back->count, 0);
    assert_int_equal(json_integer_value(json_object_get(j, "p50")), -1);
    json_decref(j);
    free(h);
    free(back);
}

static void schedule_is_even_and_ramps_linearly(void **state) {
    (void)state;
    assert_int_equal(lg_schedule_us(1000, 0, 0, 0), 0);
    assert_int_equal(lg_schedule_us(1000, 0, 0, 1), 1000);
    assert_int_equal(lg_schedule_us(1000, 0, 0, 2500), 2500000);
    /* from 0 to 1000/s over 2 s: 1000 requests in the ramp, the k-th at sqrt(2k/500) s */
    assert_int_equal(lg_schedule_us(1000, 0, 2000000, 0), 0);
    assert_true(llabs(lg_schedule_us(1000, 0, 2000000, 250) - 1000000) <= 1);
    assert_true(llabs(lg_schedule_us(1000, 0, 2000000, 1000) - 2000000) <= 1);
    assert_true(llabs(lg_schedule_us(1000, 0, 2000000, 2000) - 3000000) <= 1);
    /* a ramp down: from 2000/s to 1000/s over 1 s, 1500 requests in it */
    assert_true(llabs(lg_schedule_us(1000, 2000, 1000000, 1500) - 1000000) <= 1);
    int64_t prev = -1;
    for (size_t i = 0; i < 3000; i++) { /* never decreasing */
        int64_t t = lg_schedule_us(1000, 100, 1000000, i);
        assert_true(t >= prev);
        prev = t;
    }
}

static void winners_and_losers_are_split_by_status(void **state) {
    (void)state;
    lab_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    lab_record recs[] = {
        {.customer_id = 1, .send_us = 100, .done_us = 1100, .status = 201},
        {.customer_id = 2, .send_us = 100, .done_us = 2100, .status = 202},
        {.customer_id = 3, .send_us = 100, .done_us = 5100, .status = 409},
        {.customer_id = 4, .send_us = 100, .done_us = 7100, .status = 503},
        {.customer_id = 5, .send_us = 100, .done_us = 9100, .status = 500},
        {.customer_id = 6, .send_us = 100, .done_us = -1, .status = 0},
        /* open loop: counted from the scheduled time, 0, not the send at 900 */
        {.customer_id = 7,
         .send_us = 900,
         .done_us = 1000,
         .status = 201,
         .scheduled = true,
         .sched_us = 0},
    };
    run->records = recs;
    run->nrecords = sizeof recs / sizeof recs[0];
    runfile_histograms(run);
    assert_true(run->has_hist);
    assert_int_equal(run->lat_all.count, 6);
    assert_int_equal(run->lat_win.count, 3);
    assert_int_equal(run->lat_lose.count, 2);
    assert_int_equal(run->lat_win.max, 2000);
    assert_int_equal(run->lat_win.min, 1000);
    assert_int_equal(run->lat_lose.max, 7000);
    assert_int_equal(run->lat_all.max, 9000);
    free(run);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(indices_are_contiguous_and_ranges_hold_their_values),
        cmocka_unit_test(percentiles_of_random_values_are_within_1_percent),
        cmocka_unit_test(merge_equals_recording_everything_in_one),
        cmocka_unit_test(extremes_land_where_documented),
        cmocka_unit_test(json_round_trip_and_corruption),
        cmocka_unit_test(schedule_is_even_and_ramps_linearly),
        cmocka_unit_test(winners_and_losers_are_split_by_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
