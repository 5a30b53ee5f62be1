/* fuzz_runfile_write.c — the other direction of fuzz_runfile.c: a run built from the input
 * (every field the lab can produce: any integers, finite rates, -1 or a count for the "after"
 * figures, unique outcome keys, rows with any code) is written by runfile_write and read back
 * by runfile_read; it must read back the same — every field, every row, every code by name,
 * the rates to the 12 digits written — with and without its rows. Strings that are not UTF-8
 * (a --strategy from the command line could be) must make the write fail and leave no file.
 * started_at is kept in 1970..9999, the years RFC 3339's four digits can write. */
#include <jansson.h>
#include <math.h>
#include <unistd.h>

#include "fuzz.h"
#include "lab/runfile.h"

typedef struct bytes {
    const uint8_t *p;
    size_t n;
} bytes;

static uint64_t take_u64(bytes *b, size_t nbytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < nbytes; i++) {
        v = v << 8 | (b->n ? *b->p : 0);
        if (b->n) b->p++, b->n--;
    }
    return v;
}

static int64_t take_i64(bytes *b) { return (int64_t)take_u64(b, 8); }
static int32_t take_i32(bytes *b) { return (int32_t)(uint32_t)take_u64(b, 4); }

/* A string of at most max bytes (no NUL): a length byte, then the bytes. */
static void take_str(bytes *b, char *out, size_t max) {
    size_t len = (size_t)take_u64(b, 1) % (max + 1), w = 0;
    for (size_t i = 0; i < len && b->n; i++) {
        char c = (char)take_u64(b, 1);
        if (c != '\0') out[w++] = c;
    }
    out[w] = '\0';
}

static bool utf8_ok(const char *s) {
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static int64_t take_after(bytes *b) { /* -1 (never) or a count of µs */
    int64_t v = take_i64(b);
    return v < 0 ? -1 : v;
}

static double take_rate(bytes *b) {
    uint64_t u = take_u64(b, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return isfinite(d) ? d : 0.0;
}

static char dir[128], path[192];

static void cleanup(void) {
    unlink(path);
    rmdir(dir);
}

static void init(void) {
    if (dir[0]) return;
    snprintf(dir, sizeof dir, "%s/fuzz_runfile_write.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL) abort();
    snprintf(path, sizeof path, "%s/run.json", dir);
    atexit(cleanup);
}

static bool close_rate(double a, double b) {
    return a == b || fabs(a - b) <= 1e-11 * fmax(fabs(a), fabs(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 14) return 0;
    init();
    bytes b = {data, size};
    static lab_run run, back, head;
    memset(&run, 0, sizeof run);
    take_str(&b, run.strategy, sizeof run.strategy - 1);
    take_str(&b, run.scenario, sizeof run.scenario - 1);
    run.guarded = take_u64(&b, 1) & 1;
    run.params = (run_params){.tickets = take_i32(&b),
                              .vip = take_i32(&b),
                              .customers = take_i64(&b),
                              .requests = take_i64(&b),
                              .vus = take_i32(&b),
                              .seed = take_i64(&b),
                              .concert_id = take_i64(&b)};
    take_str(&b, run.params.url, sizeof run.params.url - 1);
    run.started_wall_us = (int64_t)(take_u64(&b, 8) % 253402300800000000ULL); /* < year 10000 */
    run.duration_us = take_i64(&b);
    run.reconnects = take_i64(&b);
    run.retries = take_i64(&b);
    audit_report *a = &run.audit;
    a->total_seats = take_i32(&b);
    a->vip_seats = take_i32(&b);
    a->remaining = take_i32(&b);
    int64_t *counts[] = {&a->tickets,
                         &a->oversold,
                         &a->duplicate_customers,
                         &a->seat_duplicates,
                         &a->seat_gaps,
                         &a->seat_out_of_range,
                         &a->seat_errors,
                         &a->vip_errors,
                         &a->sales_after_close,
                         &a->fcfs_refused_beaten,
                         &a->fcfs_inverted,
                         &a->fcfs_violations,
                         &a->lost,
                         &a->phantom,
                         &a->count_drift,
                         &a->requests,
                         &a->answered,
                         &a->acknowledged,
                         &a->queued,
                         &a->latency.p50,
                         &a->latency.p90,
                         &a->latency.p99,
                         &a->latency.max};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) *counts[i] = take_i64(&b);
    a->requests_per_min = take_rate(&b);
    a->tickets_per_min = take_rate(&b);
    a->sold_out_after_us = take_after(&b);
    a->last_issued_after_us = take_after(&b);
    a->drained_after_us = take_after(&b);
    int nout = (int)(take_u64(&b, 1) % 8);
    for (int i = 0; i < nout; i++) {
        audit_outcome o = {.count = take_i64(&b)};
        take_str(&b, o.key, sizeof o.key - 1);
        bool dup = false;
        for (int k = 0; k < a->noutcomes; k++) dup |= strcmp(a->outcomes[k].key, o.key) == 0;
        if (!dup) a->outcomes[a->noutcomes++] = o;
    }
    size_t nrec = (size_t)take_u64(&b, 1) % 16;
    lab_record recs[16];
    for (size_t i = 0; i < nrec; i++) {
        char code[LAB_CODE_MAX_LEN + 2];
        recs[i] = (lab_record){.customer_id = take_i64(&b),
                               .send_us = take_i64(&b),
                               .done_us = take_i64(&b),
                               .status = take_i32(&b),
                               .seat_no = take_i32(&b)};
        take_str(&b, code, LAB_CODE_MAX_LEN + 1);
        recs[i].code = lab_codes_intern(&run.codes, code, strlen(code));
    }
    run.records = nrec ? recs : NULL;
    run.nrecords = nrec;

    bool utf8 = utf8_ok(run.strategy) && utf8_ok(run.scenario) && utf8_ok(run.params.url);
    for (int i = 0; i < a->noutcomes; i++) utf8 = utf8 && utf8_ok(a->outcomes[i].key);
    char err[512] = "";
    tr_err rc = runfile_write(&run, path, err, sizeof err);
    if (!utf8) {
        FUZZ_CHECK(rc != TR_OK, "wrote a string that is not UTF-8");
        FUZZ_CHECK(access(path, F_OK) != 0, "a failed write left %s", path);
        return 0;
    }
    FUZZ_CHECK(rc == TR_OK, "write: %d %s", (int)rc, err);
    FUZZ_CHECK(runfile_read(path, true, &back, err, sizeof err) == TR_OK, "read: %s", err);
    FUZZ_CHECK(runfile_read(path, false, &head, err, sizeof err) == TR_OK, "read: %s", err);
    unlink(path);

    for (const lab_run *r = &back; r; r = r == &back ? &head : NULL) {
        FUZZ_CHECK(strcmp(r->strategy, run.strategy) == 0 &&
                       strcmp(r->scenario, run.scenario) == 0 && r->guarded == run.guarded &&
                       strcmp(r->params.url, run.params.url) == 0,
                   "strings or schema");
        run_params p = run.params, q = r->params;
        FUZZ_CHECK(p.tickets == q.tickets && p.vip == q.vip && p.customers == q.customers &&
                       p.requests == q.requests && p.vus == q.vus && p.seed == q.seed &&
                       p.concert_id == q.concert_id,
                   "params");
        FUZZ_CHECK(r->started_wall_us == run.started_wall_us, "started_at");
        FUZZ_CHECK(r->duration_us == run.duration_us && r->reconnects == run.reconnects &&
                       r->retries == run.retries,
                   "duration, reconnects or retries");
        const audit_report *x = &r->audit;
        FUZZ_CHECK(x->total_seats == a->total_seats && x->vip_seats == a->vip_seats &&
                       x->remaining == a->remaining,
                   "the concert");
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
            const int64_t *got =
                (const int64_t *)((const char *)x + ((const char *)counts[i] - (const char *)a));
            FUZZ_CHECK(*got == *counts[i], "audit count %zu", i);
        }
        FUZZ_CHECK(close_rate(x->requests_per_min, a->requests_per_min) &&
                       close_rate(x->tickets_per_min, a->tickets_per_min),
                   "rates %.17g %.17g", x->requests_per_min, a->requests_per_min);
        FUZZ_CHECK(x->sold_out_after_us == a->sold_out_after_us &&
                       x->last_issued_after_us == a->last_issued_after_us &&
                       x->drained_after_us == a->drained_after_us,
                   "after figures");
        FUZZ_CHECK(x->noutcomes == a->noutcomes, "%d outcomes, wrote %d", x->noutcomes,
                   a->noutcomes);
        for (int i = 0; i < a->noutcomes; i++)
            FUZZ_CHECK(strcmp(x->outcomes[i].key, a->outcomes[i].key) == 0 &&
                           x->outcomes[i].count == a->outcomes[i].count,
                       "outcome %d", i);
    }
    FUZZ_CHECK(head.records == NULL && back.nrecords == nrec, "%zu rows, wrote %zu", back.nrecords,
               nrec);
    for (size_t i = 0; i < nrec; i++) {
        const lab_record *w = &recs[i], *g = &back.records[i];
        FUZZ_CHECK(g->customer_id == w->customer_id && g->send_us == w->send_us &&
                       g->done_us == w->done_us && g->status == w->status &&
                       g->seat_no == w->seat_no,
                   "row %zu", i);
        FUZZ_CHECK(
            strcmp(lab_codes_name(&back.codes, g->code), lab_codes_name(&run.codes, w->code)) == 0,
            "row %zu code %s, wrote %s", i, lab_codes_name(&back.codes, g->code),
            lab_codes_name(&run.codes, w->code));
    }
    lab_run_free_records(&back);
    return 0;
}
