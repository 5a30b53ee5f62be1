/* test_lab_scenario.c — scenarios (src/lab/scenario.c): SPEC §4's numbers and a customer draw
 * that is deterministic, in range, and without repeats when asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lab/scenario.h"

static void scenarios_have_the_spec_numbers(void **state) {
    (void)state;
    const scenario *s = scenario_find("seed");
    assert_non_null(s);
    assert_int_equal(s->tickets, 1000);
    assert_int_equal(s->vip, 10);
    assert_int_equal(s->customers, 10000);
    assert_int_equal(s->requests, 50000);
    assert_int_equal(s->vus, 200);
    assert_int_equal(s->draw, SCENARIO_DRAW_RANDOM);
    s = scenario_find("one-seat");
    assert_non_null(s);
    assert_int_equal(s->tickets, 1);
    assert_int_equal(s->requests, 50);
    assert_int_equal(s->vus, 50);
    assert_int_equal(s->draw, SCENARIO_DRAW_EACH_ONCE);
    assert_non_null(scenario_find("scale"));
    assert_null(scenario_find("seeds"));
    assert_null(scenario_find(NULL));
}

static void splitmix64_matches_the_reference(void **state) {
    (void)state;
    uint64_t s = 0;
    assert_int_equal(scenario_splitmix64(&s), 0xe220a8397b1dcdafULL);
    assert_int_equal(scenario_splitmix64(&s), 0x6e789e6aa1b965f4ULL);
}

static void random_draw_is_deterministic_and_in_range(void **state) {
    (void)state;
    enum { N = 2000 };
    lab_record *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(scenario_draw_customers(a, N, 10, 1, SCENARIO_DRAW_RANDOM));
    assert_true(scenario_draw_customers(b, N, 10, 1, SCENARIO_DRAW_RANDOM));
    int seen[11] = {0}, same = 1;
    for (int i = 0; i < N; i++) {
        assert_in_range(a[i].customer_id, 1, 10);
        seen[a[i].customer_id]++;
        same &= a[i].customer_id == b[i].customer_id;
    }
    assert_true(same);
    for (int c = 1; c <= 10; c++) assert_in_range(seen[c], 101, 400); /* ~200 each */
    assert_true(scenario_draw_customers(b, N, 10, 2, SCENARIO_DRAW_RANDOM));
    int differ = 0;
    for (int i = 0; i < N; i++) differ += a[i].customer_id != b[i].customer_id;
    assert_in_range(differ, N / 2 + 1, N);
    free(a);
    free(b);
}

static void each_once_draw_never_repeats(void **state) {
    (void)state;
    lab_record r[50];
    assert_true(scenario_draw_customers(r, 50, 50, 1, SCENARIO_DRAW_EACH_ONCE));
    int seen[51] = {0}, in_order = 1;
    for (int i = 0; i < 50; i++) {
        assert_in_range(r[i].customer_id, 1, 50);
        seen[r[i].customer_id]++;
        in_order &= r[i].customer_id == i + 1;
    }
    for (int c = 1; c <= 50; c++) assert_int_equal(seen[c], 1);
    assert_false(in_order); /* shuffled */
    lab_record s[20];
    assert_true(scenario_draw_customers(s, 20, 1000, 9, SCENARIO_DRAW_EACH_ONCE));
    for (int i = 0; i < 20; i++)
        for (int j = 0; j < i; j++) assert_int_not_equal(s[i].customer_id, s[j].customer_id);
    assert_false(scenario_draw_customers(s, 20, 19, 9, SCENARIO_DRAW_EACH_ONCE));
    assert_false(scenario_draw_customers(s, 20, 0, 9, SCENARIO_DRAW_RANDOM));
}

static void festival_has_thirty_concerts_and_a_long_tail(void **state) {
    (void)state;
    const scenario *s = scenario_find("festival");
    assert_non_null(s);
    assert_int_equal(s->concerts, 30);
    assert_int_equal(s->tickets, 500);
    assert_int_equal(s->vip, 5);
    assert_int_equal(s->draw, SCENARIO_DRAW_RANDOM);
    assert_true(s->zipf_s == SCENARIO_FESTIVAL_ZIPF_S);
    assert_int_equal(scenario_find("seed")->concerts, 1);
    /* the shares documented in scenario.h: 32.6 %, 14.2 %, …, 0.55 %; they sum to 1 */
    double sum = 0;
    for (int32_t k = 1; k <= 30; k++) sum += scenario_zipf_share(k, 30, 1.2);
    assert_true(sum > 0.999999 && sum < 1.000001);
    assert_int_equal((int)(scenario_zipf_share(1, 30, 1.2) * 1000 + 0.5), 326);
    assert_int_equal((int)(scenario_zipf_share(2, 30, 1.2) * 1000 + 0.5), 142);
    assert_int_equal((int)(scenario_zipf_share(30, 30, 1.2) * 10000 + 0.5), 55);
    assert_true(scenario_zipf_share(0, 30, 1.2) == 0 && scenario_zipf_share(31, 30, 1.2) == 0);
}

/* The festival's default size: the headliner draws the largest share (close to its Zipf share),
 * shares fall with the rank, and every concert, the 30th too, gets some requests. */
static void concert_draw_favours_the_headliner_and_reaches_every_concert(void **state) {
    (void)state;
    const scenario *s = scenario_find("festival");
    size_t n = (size_t)s->requests;
    lab_record *r = calloc(n, sizeof *r);
    assert_non_null(r);
    assert_true(scenario_draw_concerts(r, n, 7, s->concerts, s->zipf_s, 1));
    int64_t count[30] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_in_range(r[i].concert_id, 7, 36); /* ids from the first concert, consecutive */
        count[r[i].concert_id - 7]++;
    }
    for (int k = 1; k < 30; k++) {
        assert_true(count[0] > count[k]); /* the headliner is the most wanted */
        assert_in_range(count[k], 1, count[0]);
    }
    assert_in_range(count[29], 100, 400); /* expected 0.55 % of 40,000: 220 */
    /* within 1.5 points of its share (32.6 %): 40,000 draws put 3 σ at 0.7 points */
    double share = (double)count[0] / (double)n;
    assert_in_range((int64_t)(share * 1000), 311, 341);
    /* a steep tail: the first five together well over half of the demand */
    int64_t top5 = count[0] + count[1] + count[2] + count[3] + count[4];
    assert_true(top5 * 2 > (int64_t)n);
    free(r);
}

static void concert_draw_is_deterministic_per_seed(void **state) {
    (void)state;
    enum { N = 5000 };
    lab_record *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(scenario_draw_concerts(a, N, 1, 30, 1.2, 99));
    assert_true(scenario_draw_concerts(b, N, 1, 30, 1.2, 99));
    for (int i = 0; i < N; i++) assert_int_equal(a[i].concert_id, b[i].concert_id);
    assert_true(scenario_draw_concerts(b, N, 1, 30, 1.2, 100));
    int same = 0;
    for (int i = 0; i < N; i++) same += a[i].concert_id == b[i].concert_id;
    assert_in_range(same, 0, N / 2); /* another seed, another sequence */
    /* the customer draw keeps its own stream: drawing concerts leaves customers alone */
    assert_true(scenario_draw_customers(a, N, 1000, 99, SCENARIO_DRAW_RANDOM));
    int64_t c0 = a[0].customer_id;
    assert_true(scenario_draw_concerts(a, N, 1, 30, 1.2, 99));
    assert_int_equal(a[0].customer_id, c0);
    /* s = 0 is uniform: each of 4 concerts near a quarter */
    assert_true(scenario_draw_concerts(a, N, 1, 4, 0, 5));
    int64_t u[4] = {0};
    for (int i = 0; i < N; i++) u[a[i].concert_id - 1]++;
    for (int k = 0; k < 4; k++) assert_in_range(u[k], N / 4 - 150, N / 4 + 150);
    free(a);
    free(b);
}

static void concert_draw_refuses_what_it_cannot_draw(void **state) {
    (void)state;
    lab_record r[3] = {{.concert_id = 77}, {.concert_id = 77}, {.concert_id = 77}};
    assert_false(scenario_draw_concerts(r, 3, 1, 0, 1.2, 1));
    assert_false(scenario_draw_concerts(r, 3, 1, SCENARIO_MAX_CONCERTS + 1, 1.2, 1));
    assert_false(scenario_draw_concerts(r, 3, 0, 30, 1.2, 1));
    assert_false(scenario_draw_concerts(r, 3, INT64_MAX - 5, 30, 1.2, 1));
    assert_false(scenario_draw_concerts(r, 3, 1, 30, -0.5, 1));
    assert_false(scenario_draw_concerts(r, 3, 1, 30, 11, 1));
    assert_false(scenario_draw_concerts(r, 3, 1, 30, 0.0 / 0.0, 1));
    for (int i = 0; i < 3; i++) assert_int_equal(r[i].concert_id, 77); /* untouched */
    assert_true(scenario_draw_concerts(r, 3, 5, 1, 1.2, 1));           /* one concert: always it */
    for (int i = 0; i < 3; i++) assert_int_equal(r[i].concert_id, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scenarios_have_the_spec_numbers),
        cmocka_unit_test(splitmix64_matches_the_reference),
        cmocka_unit_test(random_draw_is_deterministic_and_in_range),
        cmocka_unit_test(each_once_draw_never_repeats),
        cmocka_unit_test(festival_has_thirty_concerts_and_a_long_tail),
        cmocka_unit_test(concert_draw_favours_the_headliner_and_reaches_every_concert),
        cmocka_unit_test(concert_draw_is_deterministic_per_seed),
        cmocka_unit_test(concert_draw_refuses_what_it_cannot_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
