/* test_lab_record.c — the outcome-code table (src/lab/record.c): known codes keep their fixed
 * index, unknown safe codes are kept verbatim once, anything else becomes "other". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lab/record.h"

static void known_codes_keep_their_index(void **state) {
    (void)state;
    lab_codes t = {0};
    assert_int_equal(lab_codes_intern(&t, "sold_out", 8), LAB_CODE_SOLD_OUT);
    assert_int_equal(lab_codes_intern(&t, "busy", 4), LAB_CODE_BUSY);
    assert_int_equal(lab_codes_intern(&t, "busy!", 4), LAB_CODE_BUSY); /* length decides */
    assert_int_equal(lab_codes_intern(&t, "", 0), LAB_CODE_NONE);
    assert_int_equal(t.nextra, 0);
    assert_string_equal(lab_codes_name(&t, LAB_CODE_CONNECTION_ERROR), "connection_error");
    assert_string_equal(lab_codes_name(&t, LAB_CODE_NONE), "");
}

static void unknown_code_is_kept_once(void **state) {
    (void)state;
    lab_codes t = {0};
    uint16_t a = lab_codes_intern(&t, "queue_full", 10);
    uint16_t b = lab_codes_intern(&t, "queue_full", 10);
    uint16_t c = lab_codes_intern(&t, "rate-limited.v2", 15);
    assert_int_equal(a, LAB_CODE__KNOWN);
    assert_int_equal(b, a);
    assert_int_equal(c, LAB_CODE__KNOWN + 1);
    assert_string_equal(lab_codes_name(&t, a), "queue_full");
    assert_string_equal(lab_codes_name(&t, c), "rate-limited.v2");
    assert_string_equal(lab_codes_name(&t, LAB_CODE__KNOWN + 5), "other");
}

static void unsafe_long_or_overflowing_codes_are_other(void **state) {
    (void)state;
    lab_codes t = {0};
    assert_int_equal(lab_codes_intern(&t, "a\"b", 3), LAB_CODE_OTHER);
    assert_int_equal(lab_codes_intern(&t, "a b", 3), LAB_CODE_OTHER);
    assert_int_equal(lab_codes_intern(&t, "a\\u0041", 7), LAB_CODE_OTHER);
    char longcode[LAB_CODE_MAX_LEN + 2];
    memset(longcode, 'x', sizeof longcode);
    assert_int_equal(lab_codes_intern(&t, longcode, LAB_CODE_MAX_LEN + 1), LAB_CODE_OTHER);
    assert_int_equal(lab_codes_intern(&t, longcode, LAB_CODE_MAX_LEN), LAB_CODE__KNOWN);
    for (int i = 1; i < LAB_CODES_MAX_EXTRA; i++) {
        char name[16];
        snprintf(name, sizeof name, "code%d", i);
        assert_int_equal(lab_codes_intern(&t, name, strlen(name)), LAB_CODE__KNOWN + i);
    }
    assert_int_equal(lab_codes_intern(&t, "one_too_many", 12), LAB_CODE_OTHER);
    assert_int_equal(t.nextra, LAB_CODES_MAX_EXTRA);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_codes_keep_their_index),
        cmocka_unit_test(unknown_code_is_kept_once),
        cmocka_unit_test(unsafe_long_or_overflowing_codes_are_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
