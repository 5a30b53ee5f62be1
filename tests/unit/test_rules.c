/* test_rules.c — unit tests for the error table (common/error.h: every code's SPEC §2 status and
 * wire code, internal failures never leaking), the RFC 3339 time format and the JSON bodies of
 * http/response.h. The seat and VIP rules (R3, R4) need the database; they are pinned by
 * tests/integration/test_seat_rules.c and test_one_seat_race.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "http/response.h"

/* cmocka 1.1 prints integers in hex; these print both values in decimal (libuv's ASSERT_EQ). */
#define EXPECT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long ea_ = (long long)(a), eb_ = (long long)(b);                                      \
        if (ea_ != eb_) fail_msg("%s == %s: %lld != %lld", #a, #b, ea_, eb_);                      \
    } while (0)
#define EXPECT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c)) fail_msg("expected %s", #c);                                                     \
    } while (0)

/* ---- the error table -------------------------------------------------------------------- */

struct want_err {
    tr_err e;
    const char *name;
    int status;
    const char *code;
};

/* SPEC §2's error table, written out by hand so the generated table is checked against it. */
static const struct want_err spec_errors[] = {
    {TR_OK, "TR_OK", 200, "ok"},
    {TR_BAD_REQUEST, "TR_BAD_REQUEST", 400, "bad_request"},
    {TR_CONCERT_NOT_FOUND, "TR_CONCERT_NOT_FOUND", 404, "concert_not_found"},
    {TR_CUSTOMER_NOT_FOUND, "TR_CUSTOMER_NOT_FOUND", 404, "customer_not_found"},
    {TR_NOT_FOUND, "TR_NOT_FOUND", 404, "not_found"},
    {TR_METHOD_NOT_ALLOWED, "TR_METHOD_NOT_ALLOWED", 405, "method_not_allowed"},
    {TR_ALREADY_OWNED, "TR_ALREADY_OWNED", 409, "already_owned"},
    {TR_SOLD_OUT, "TR_SOLD_OUT", 409, "sold_out"},
    {TR_SALES_CLOSED, "TR_SALES_CLOSED", 409, "sales_closed"},
    {TR_PAYLOAD_TOO_LARGE, "TR_PAYLOAD_TOO_LARGE", 413, "payload_too_large"},
    {TR_UNSUPPORTED_MEDIA_TYPE, "TR_UNSUPPORTED_MEDIA_TYPE", 415, "unsupported_media_type"},
    {TR_HEADERS_TOO_LARGE, "TR_HEADERS_TOO_LARGE", 431, "headers_too_large"},
    {TR_BUSY, "TR_BUSY", 503, "busy"},
    {TR_INTERNAL, "TR_INTERNAL", 500, "internal"},
    {TR_UNAVAILABLE, "TR_UNAVAILABLE", 503, "unavailable"},
    /* Internal failures: the client sees 500 internal, never which backend or why. */
    {TR_PG, "TR_PG", 500, "internal"},
    {TR_REDIS, "TR_REDIS", 500, "internal"},
    {TR_NOMEM, "TR_NOMEM", 500, "internal"},
    {TR_INVALID_ARGUMENT, "TR_INVALID_ARGUMENT", 500, "internal"},
    /* A fenced-out lock holder is told to retry, as a lock-wait timeout is. */
    {TR_FENCED, "TR_FENCED", 503, "busy"},
    /* SPEC §2: an unsupported transfer coding (RFC 9112 §6.1). */
    {TR_NOT_IMPLEMENTED, "TR_NOT_IMPLEMENTED", 501, "not_implemented"},
};
#define NSPEC ((int)(sizeof spec_errors / sizeof spec_errors[0]))

static void every_error_maps_to_its_spec_status_and_code(void **state) {
    (void)state;
    for (int i = 0; i < NSPEC; i++) {
        const struct want_err *w = &spec_errors[i];
        int status = tr_err_http_status(w->e);
        const char *code = tr_err_code(w->e);
        if (status != w->status) fail_msg("%s: status %d, want %d", w->name, status, w->status);
        if (code == NULL || strcmp(code, w->code) != 0)
            fail_msg("%s: wire code \"%s\", want \"%s\"", w->name, code ? code : "(null)", w->code);
    }
}

static void every_error_is_in_the_spec_table(void **state) {
    (void)state;
    /* A code appended to TR_ERR_MAP must be added above, with its SPEC status. */
    EXPECT_EQ(TR_ERR__COUNT, NSPEC);
    for (int e = 0; e < TR_ERR__COUNT; e++) {
        bool seen = false;
        for (int i = 0; i < NSPEC; i++) seen = seen || (int)spec_errors[i].e == e;
        if (!seen) fail_msg("tr_err %d (%s) has no row in spec_errors", e, tr_err_code((tr_err)e));
    }
}

static void messages_are_sentences_for_a_person(void **state) {
    (void)state;
    /* STYLE.md: PostgreSQL's message style — lower-case start, no trailing period. */
    for (int e = 0; e < TR_ERR__COUNT; e++) {
        const char *m = tr_strerror((tr_err)e);
        if (m == NULL || m[0] == '\0') fail_msg("tr_err %d has no message", e);
        size_t n = strlen(m);
        if (isupper((unsigned char)m[0]))
            fail_msg("tr_err %d message starts upper-case: \"%s\"", e, m);
        if (m[n - 1] == '.') fail_msg("tr_err %d message ends with a period: \"%s\"", e, m);
    }
}

static void internal_failures_do_not_leak_in_the_wire_code(void **state) {
    (void)state;
    static const tr_err internal[] = {TR_PG, TR_REDIS, TR_NOMEM, TR_INVALID_ARGUMENT, TR_INTERNAL};
    for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++) {
        char *body = http_json_error(internal[i], NULL, NULL);
        assert_non_null(body);
        json_error_t jerr;
        json_t *j = json_loads(body, 0, &jerr);
        if (j == NULL) fail_msg("not JSON: %s", body);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "internal");
        json_decref(j);
        if (strstr(body, "SELECT") || strstr(body, "INSERT") || strstr(body, "UPDATE") ||
            strstr(body, "ERR ") || strstr(body, "SQLSTATE"))
            fail_msg("error body leaks detail: %s", body);
        free(body);
    }
}

static void unknown_error_values_are_internal(void **state) {
    (void)state;
    EXPECT_EQ(tr_err_http_status(TR_ERR__COUNT), 500);
    EXPECT_EQ(tr_err_http_status((tr_err)-1), 500);
    EXPECT_EQ(tr_err_http_status((tr_err)1000), 500);
    assert_string_equal(tr_err_code(TR_ERR__COUNT), "internal");
    assert_string_equal(tr_err_code((tr_err)-1), "internal");
    assert_string_equal(tr_strerror(TR_ERR__COUNT), "unknown error");
    assert_string_equal(tr_strerror((tr_err)-1), "unknown error");
}

static void from_code_round_trips(void **state) {
    (void)state;
    /* Every code a client sees maps back to the one enum value that owns it. */
    static const tr_err owners[] = {TR_OK,
                                    TR_BAD_REQUEST,
                                    TR_CONCERT_NOT_FOUND,
                                    TR_CUSTOMER_NOT_FOUND,
                                    TR_NOT_FOUND,
                                    TR_METHOD_NOT_ALLOWED,
                                    TR_ALREADY_OWNED,
                                    TR_SOLD_OUT,
                                    TR_SALES_CLOSED,
                                    TR_PAYLOAD_TOO_LARGE,
                                    TR_UNSUPPORTED_MEDIA_TYPE,
                                    TR_HEADERS_TOO_LARGE,
                                    TR_BUSY,
                                    TR_INTERNAL,
                                    TR_UNAVAILABLE};
    for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++) {
        tr_err back = tr_err_from_code(tr_err_code(owners[i]));
        if (back != owners[i])
            fail_msg("tr_err_from_code(\"%s\") = %d, want %d", tr_err_code(owners[i]), (int)back,
                     (int)owners[i]);
    }
    /* Codes shared by several values come back as the owner with the same code and status. */
    for (int e = 0; e < TR_ERR__COUNT; e++) {
        tr_err back = tr_err_from_code(tr_err_code((tr_err)e));
        assert_string_equal(tr_err_code(back), tr_err_code((tr_err)e));
        EXPECT_EQ(tr_err_http_status(back), tr_err_http_status((tr_err)e));
    }
    EXPECT_EQ(tr_err_from_code("internal"), TR_INTERNAL);
    EXPECT_EQ(tr_err_from_code("busy"), TR_BUSY);
}

static void from_code_unknown_is_internal(void **state) {
    (void)state;
    EXPECT_EQ(tr_err_from_code(NULL), TR_INTERNAL);
    EXPECT_EQ(tr_err_from_code(""), TR_INTERNAL);
    EXPECT_EQ(tr_err_from_code("no_such_code"), TR_INTERNAL);
    EXPECT_EQ(tr_err_from_code("SOLD_OUT"), TR_INTERNAL);
    EXPECT_EQ(tr_err_from_code("sold_out "), TR_INTERNAL);
}

/* ---- http_format_time --------------------------------------------------------------------- */

static void expect_time(int64_t us, const char *want) {
    char buf[40];
    memset(buf, 'x', sizeof buf);
    http_format_time(us, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("http_format_time(%lld) = \"%s\", want \"%s\"", (long long)us, buf, want);
}

static void format_time_is_rfc3339_utc_with_microseconds(void **state) {
    (void)state;
    expect_time(0, "1970-01-01T00:00:00.000000Z");
    expect_time(1, "1970-01-01T00:00:00.000001Z");
    expect_time(1234567, "1970-01-01T00:00:01.234567Z");
    expect_time(999999, "1970-01-01T00:00:00.999999Z");
    expect_time(1000000, "1970-01-01T00:00:01.000000Z");
    expect_time(946684800LL * 1000000, "2000-01-01T00:00:00.000000Z");
    expect_time(1795961323LL * 1000000 + 123456, "2026-11-29T14:08:43.123456Z");
    expect_time(1709251199LL * 1000000 + 999999, "2024-02-29T23:59:59.999999Z");
    expect_time(253402300799LL * 1000000 + 999999, "9999-12-31T23:59:59.999999Z");
}

static void format_time_before_the_epoch(void **state) {
    (void)state;
    expect_time(-1, "1969-12-31T23:59:59.999999Z");
    expect_time(-1000000, "1969-12-31T23:59:59.000000Z");
    expect_time(-1000001, "1969-12-31T23:59:58.999999Z");
    expect_time(-999999, "1969-12-31T23:59:59.000001Z");
}

static void format_time_fits_32_bytes_and_truncates_safely(void **state) {
    (void)state;
    char buf[32];
    http_format_time(253402300799LL * 1000000 + 999999, buf, sizeof buf);
    EXPECT_EQ(strlen(buf), 27);
    char small[11];
    memset(small, 'x', sizeof small);
    http_format_time(0, small, sizeof small);
    assert_string_equal(small, "1970-01-01");
}

/* ---- JSON bodies -------------------------------------------------------------------------- */

static ticket sample_ticket(void) {
    ticket t;
    memset(&t, 0, sizeof t);
    t.ticket_id = 9223372036854775807LL;
    t.concert_id = 12;
    t.customer_id = 345;
    snprintf(t.customer_name, sizeof t.customer_name, "%s", "customer-\"345\" \\ é");
    t.seat_no = 3;
    t.vip = true;
    t.issued_at_us = 1795961323LL * 1000000 + 123456;
    t.concert_starts_at_us = 1795961323LL * 1000000 + 3600LL * 1000000;
    return t;
}

static json_t *load(const char *s) {
    if (s == NULL) fail_msg("body is NULL");
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) fail_msg("not JSON (%s): %s", jerr.text, s);
    if (!json_is_object(j)) fail_msg("not a JSON object: %s", s);
    return j;
}

/* Asserts that obj has exactly the keys listed (NULL-terminated), in any order. */
static void expect_keys(json_t *obj, const char *const *keys) {
    size_t n = 0;
    for (; keys[n]; n++)
        if (json_object_get(obj, keys[n]) == NULL) fail_msg("key \"%s\" is missing", keys[n]);
    if (json_object_size(obj) != n) {
        char *s = json_dumps(obj, JSON_COMPACT);
        fail_msg("object has %zu keys, want %zu: %s", json_object_size(obj), n, s);
    }
}

static const char *const ticket_keys[] = {"ticketId",     "concertId",       "customerId",
                                          "customerName", "seatNo",          "vip",
                                          "issuedAt",     "concertStartsAt", NULL};

static void expect_ticket_obj(json_t *j, const ticket *t) {
    expect_keys(j, ticket_keys);
    EXPECT_TRUE(json_is_integer(json_object_get(j, "ticketId")));
    EXPECT_EQ(json_integer_value(json_object_get(j, "ticketId")), t->ticket_id);
    EXPECT_EQ(json_integer_value(json_object_get(j, "concertId")), t->concert_id);
    EXPECT_EQ(json_integer_value(json_object_get(j, "customerId")), t->customer_id);
    assert_string_equal(json_string_value(json_object_get(j, "customerName")), t->customer_name);
    EXPECT_TRUE(json_is_integer(json_object_get(j, "seatNo")));
    EXPECT_EQ(json_integer_value(json_object_get(j, "seatNo")), t->seat_no);
    EXPECT_TRUE(json_is_boolean(json_object_get(j, "vip")));
    EXPECT_EQ(json_is_true(json_object_get(j, "vip")), t->vip);
    char want[40];
    http_format_time(t->issued_at_us, want, sizeof want);
    assert_string_equal(json_string_value(json_object_get(j, "issuedAt")), want);
    http_format_time(t->concert_starts_at_us, want, sizeof want);
    assert_string_equal(json_string_value(json_object_get(j, "concertStartsAt")), want);
}

static void ticket_json_has_exactly_the_spec_keys(void **state) {
    (void)state;
    ticket t = sample_ticket();
    char *s = http_json_ticket(&t);
    json_t *j = load(s);
    expect_ticket_obj(j, &t);
    assert_string_equal(json_string_value(json_object_get(j, "issuedAt")),
                        "2026-11-29T14:08:43.123456Z");
    json_decref(j);
    free(s);

    t.vip = false;
    t.seat_no = 1000;
    s = http_json_ticket(&t);
    j = load(s);
    expect_ticket_obj(j, &t);
    EXPECT_TRUE(json_is_false(json_object_get(j, "vip")));
    json_decref(j);
    free(s);
}

static void error_json_has_error_and_message(void **state) {
    (void)state;
    static const char *const keys[] = {"error", "message", NULL};
    char *s = http_json_error(TR_SOLD_OUT, NULL, NULL);
    json_t *j = load(s);
    expect_keys(j, keys);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "sold_out");
    assert_string_equal(json_string_value(json_object_get(j, "message")), tr_strerror(TR_SOLD_OUT));
    json_decref(j);
    free(s);

    s = http_json_error(TR_BAD_REQUEST, "customerId must be \"an integer\"", NULL);
    j = load(s);
    expect_keys(j, keys);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "bad_request");
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "customerId must be \"an integer\"");
    json_decref(j);
    free(s);
}

static void already_owned_json_carries_the_ticket(void **state) {
    (void)state;
    static const char *const keys[] = {"error", "message", "ticket", NULL};
    ticket t = sample_ticket();
    char *s = http_json_error(TR_ALREADY_OWNED, NULL, &t);
    json_t *j = load(s);
    expect_keys(j, keys);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "already_owned");
    EXPECT_TRUE(json_is_string(json_object_get(j, "message")));
    expect_ticket_obj(json_object_get(j, "ticket"), &t);
    json_decref(j);
    free(s);
}

static void concert_json_has_sold_and_remaining(void **state) {
    (void)state;
    static const char *const keys[] = {"id",       "name", "startsAt",  "totalSeats",
                                       "vipSeats", "sold", "remaining", NULL};
    concert c;
    memset(&c, 0, sizeof c);
    c.id = 7;
    snprintf(c.name, sizeof c.name, "concert-7");
    c.starts_at_us = 0;
    c.total_seats = 1000;
    c.vip_seats = 10;
    c.remaining = 993;
    char *s = http_json_concert(&c);
    json_t *j = load(s);
    expect_keys(j, keys);
    EXPECT_EQ(json_integer_value(json_object_get(j, "id")), 7);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "concert-7");
    assert_string_equal(json_string_value(json_object_get(j, "startsAt")),
                        "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(json_integer_value(json_object_get(j, "totalSeats")), 1000);
    EXPECT_EQ(json_integer_value(json_object_get(j, "vipSeats")), 10);
    EXPECT_EQ(json_integer_value(json_object_get(j, "sold")), 7);
    EXPECT_EQ(json_integer_value(json_object_get(j, "remaining")), 993);
    json_decref(j);
    free(s);
}

static void outcome_json_for_each_status(void **state) {
    (void)state;
    static const char *const none_keys[] = {"concertId", "customerId", "status", NULL};
    static const char *const issued_keys[] = {"concertId", "customerId", "status", "ticket", NULL};
    static const char *const queued_keys[] = {"concertId", "customerId", "status", "position",
                                              NULL};
    static const char *const rejected_keys[] = {"concertId", "customerId", "status", "reason",
                                                NULL};
    outcome o;
    memset(&o, 0, sizeof o);
    o.status = OUTCOME_NONE;
    char *s = http_json_outcome(12, 345, &o);
    json_t *j = load(s);
    expect_keys(j, none_keys);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "none");
    EXPECT_EQ(json_integer_value(json_object_get(j, "concertId")), 12);
    EXPECT_EQ(json_integer_value(json_object_get(j, "customerId")), 345);
    json_decref(j);
    free(s);

    o.status = OUTCOME_ISSUED;
    o.t = sample_ticket();
    s = http_json_outcome(12, 345, &o);
    j = load(s);
    expect_keys(j, issued_keys);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "issued");
    expect_ticket_obj(json_object_get(j, "ticket"), &o.t);
    json_decref(j);
    free(s);

    memset(&o, 0, sizeof o);
    o.status = OUTCOME_QUEUED;
    o.position = 17;
    s = http_json_outcome(12, 345, &o);
    j = load(s);
    expect_keys(j, queued_keys);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
    EXPECT_EQ(json_integer_value(json_object_get(j, "position")), 17);
    json_decref(j);
    free(s);

    memset(&o, 0, sizeof o);
    o.status = OUTCOME_REJECTED;
    o.reason = TR_SOLD_OUT;
    s = http_json_outcome(12, 345, &o);
    j = load(s);
    expect_keys(j, rejected_keys);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "rejected");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "sold_out");
    json_decref(j);
    free(s);
}

static void queued_json_has_status_and_position(void **state) {
    (void)state;
    static const char *const keys[] = {"status", "concertId", "customerId", "position", NULL};
    char *s = http_json_queued(12, 345, 9223372036854775807LL);
    json_t *j = load(s);
    expect_keys(j, keys);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
    EXPECT_EQ(json_integer_value(json_object_get(j, "concertId")), 12);
    EXPECT_EQ(json_integer_value(json_object_get(j, "customerId")), 345);
    EXPECT_EQ(json_integer_value(json_object_get(j, "position")), 9223372036854775807LL);
    json_decref(j);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_error_maps_to_its_spec_status_and_code),
        cmocka_unit_test(every_error_is_in_the_spec_table),
        cmocka_unit_test(messages_are_sentences_for_a_person),
        cmocka_unit_test(internal_failures_do_not_leak_in_the_wire_code),
        cmocka_unit_test(unknown_error_values_are_internal),
        cmocka_unit_test(from_code_round_trips),
        cmocka_unit_test(from_code_unknown_is_internal),
        cmocka_unit_test(format_time_is_rfc3339_utc_with_microseconds),
        cmocka_unit_test(format_time_before_the_epoch),
        cmocka_unit_test(format_time_fits_32_bytes_and_truncates_safely),
        cmocka_unit_test(ticket_json_has_exactly_the_spec_keys),
        cmocka_unit_test(error_json_has_error_and_message),
        cmocka_unit_test(already_owned_json_carries_the_ticket),
        cmocka_unit_test(concert_json_has_sold_and_remaining),
        cmocka_unit_test(outcome_json_for_each_status),
        cmocka_unit_test(queued_json_has_status_and_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
