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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scenarios_have_the_spec_numbers),
        cmocka_unit_test(splitmix64_matches_the_reference),
        cmocka_unit_test(random_draw_is_deterministic_and_in_range),
        cmocka_unit_test(each_once_draw_never_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
