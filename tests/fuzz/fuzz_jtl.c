/* fuzz_jtl.c — jtl_parse (src/lab/jtl.c), JMeter's CSV results. Each input is parsed four
 * ways: every row or only the label "purchase", timeStamp as start or as end. Properties:
 * deterministic; a refusal has a message and no records; an accepted file gives records sorted
 * by send time from t = 0, whole milliseconds (done_us = end of its last ms, or -1 exactly for a
 * timeout), statuses 0 or 100..999, a seat only with a 201, codes that name themselves, a
 * duration that is the latest done_us; the label filter only drops rows (kept + skipped = every
 * row); the timestamp setting never changes which rows are kept. */
#include <inttypes.h>

#include "fuzz.h"
#include "lab/jtl.h"

typedef struct parsed {
    tr_err rc;
    jtl_result r;
    lab_codes codes;
    char err[400];
} parsed;

static void parse(const char *buf, size_t len, const char *label, jtl_timestamp ts, parsed *p) {
    memset(p, 0, sizeof *p);
    memset(&p->r, 0x5a, sizeof p->r); /* jtl_parse must overwrite it */
    jtl_options opt = {.label = label, .timestamp = ts};
    p->rc = jtl_parse(buf, len, &opt, &p->codes, &p->r, p->err, sizeof p->err);
}

static void check_one(const parsed *p) {
    const jtl_result *r = &p->r;
    FUZZ_CHECK(p->rc == TR_OK || p->rc == TR_INVALID_ARGUMENT, "rc %d", (int)p->rc);
    if (p->rc != TR_OK) {
        FUZZ_CHECK(r->records == NULL && r->nrecords == 0, "records left after a refusal");
        FUZZ_CHECK(p->err[0] != '\0', "refused without a message");
        return;
    }
    FUZZ_CHECK(r->nrecords > 0 && r->records != NULL, "accepted with no record");
    FUZZ_CHECK(r->started_wall_us >= 0 && r->started_wall_us % 1000 == 0, "t0 %" PRId64,
               r->started_wall_us);
    FUZZ_CHECK(r->skipped >= 0 && r->max_threads >= 0, "counts");
    int64_t last = 0;
    for (size_t i = 0; i < r->nrecords; i++) {
        const lab_record *x = &r->records[i];
        FUZZ_CHECK(x->send_us >= 0 && x->send_us % 1000 == 0, "send_us %" PRId64, x->send_us);
        if (i == 0) FUZZ_CHECK(x->send_us == 0, "first send at %" PRId64, x->send_us);
        if (i > 0) {
            const lab_record *y = &r->records[i - 1];
            FUZZ_CHECK(y->send_us < x->send_us ||
                           (y->send_us == x->send_us && y->done_us <= x->done_us),
                       "records %zu and %zu out of order", i - 1, i);
        }
        bool timeout = x->code == LAB_CODE_TIMEOUT && x->status == 0;
        if (timeout) {
            FUZZ_CHECK(x->done_us == -1, "a timeout done at %" PRId64, x->done_us);
        } else {
            FUZZ_CHECK(x->done_us >= x->send_us + 999 && (x->done_us - 999) % 1000 == 0,
                       "done_us %" PRId64 " for send_us %" PRId64, x->done_us, x->send_us);
            if (x->done_us > last) last = x->done_us;
        }
        FUZZ_CHECK(x->status == 0 || (x->status >= 100 && x->status <= 999), "status %d",
                   (int)x->status);
        if (x->status == 0)
            FUZZ_CHECK(x->code == LAB_CODE_TIMEOUT || x->code == LAB_CODE_CONNECTION_ERROR,
                       "status 0 with code %u", (unsigned)x->code);
        FUZZ_CHECK(x->seat_no >= 0 && (x->seat_no == 0 || x->status == 201), "seat %d, status %d",
                   (int)x->seat_no, (int)x->status);
        FUZZ_CHECK(x->customer_id >= 0, "customer %" PRId64, x->customer_id);
        FUZZ_CHECK(x->code < LAB_CODE__KNOWN + p->codes.nextra, "code %u not interned",
                   (unsigned)x->code);
        if (x->code != LAB_CODE_OTHER) {
            const char *name = lab_codes_name(&p->codes, x->code);
            lab_codes copy = p->codes;
            FUZZ_CHECK(lab_codes_intern(&copy, name, strlen(name)) == x->code,
                       "code %s does not name itself", name);
        }
    }
    FUZZ_CHECK(r->duration_us == last, "duration %" PRId64 ", latest done %" PRId64, r->duration_us,
               last);
}

static bool same_records(const jtl_result *a, const jtl_result *b) {
    if (a->nrecords != b->nrecords) return false;
    for (size_t i = 0; i < a->nrecords; i++) {
        const lab_record *x = &a->records[i], *y = &b->records[i];
        if (x->customer_id != y->customer_id || x->send_us != y->send_us ||
            x->done_us != y->done_us || x->status != y->status || x->seat_no != y->seat_no ||
            x->code != y->code)
            return false;
    }
    return a->skipped == b->skipped && a->started_wall_us == b->started_wall_us &&
           a->duration_us == b->duration_us && a->max_threads == b->max_threads;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *buf = fuzz_copy(data, size);
    static parsed all, all2, label, all_end, label_end; /* large: not on the stack */
    parse(buf, size, NULL, JTL_TIMESTAMP_START, &all);
    parse(buf, size, NULL, JTL_TIMESTAMP_START, &all2);
    parse(buf, size, "purchase", JTL_TIMESTAMP_START, &label);
    parse(buf, size, NULL, JTL_TIMESTAMP_END, &all_end);
    parse(buf, size, "purchase", JTL_TIMESTAMP_END, &label_end);
    check_one(&all);
    check_one(&label);
    check_one(&all_end);
    check_one(&label_end);

    FUZZ_CHECK(all2.rc == all.rc && strcmp(all2.err, all.err) == 0, "another answer: %s / %s",
               all.err, all2.err);
    if (all.rc == TR_OK) FUZZ_CHECK(same_records(&all.r, &all2.r), "other records the 2nd time");

    FUZZ_CHECK(all_end.rc == all.rc, "timeStamp as end: %s / %s", all.err, all_end.err);
    FUZZ_CHECK(label_end.rc == label.rc, "timeStamp as end: %s / %s", label.err, label_end.err);
    if (all.rc == TR_OK) {
        FUZZ_CHECK(all.r.nrecords == all_end.r.nrecords && all_end.r.skipped == 0,
                   "timeStamp as end keeps other rows");
        FUZZ_CHECK(all.r.skipped == 0, "rows skipped without a label");
    }
    if (label.rc == TR_OK)
        FUZZ_CHECK(label.r.nrecords == label_end.r.nrecords &&
                       label.r.skipped == label_end.r.skipped,
                   "timeStamp as end keeps other rows");
    if (all.rc == TR_OK && label.rc == TR_OK)
        FUZZ_CHECK(label.r.nrecords + (size_t)label.r.skipped == all.r.nrecords,
                   "%zu kept + %" PRId64 " skipped, %zu rows", label.r.nrecords, label.r.skipped,
                   all.r.nrecords);
    if (all.rc == TR_OK && label.rc != TR_OK)
        FUZZ_CHECK(strstr(label.err, "label") != NULL,
                   "every row reads but the label filter refuses: %s", label.err);

    jtl_result_free(&all.r);
    jtl_result_free(&all2.r);
    jtl_result_free(&label.r);
    jtl_result_free(&all_end.r);
    jtl_result_free(&label_end.r);
    free(buf);
    return 0;
}
