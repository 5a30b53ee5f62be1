/* chaos.c — the fault suite's cells behind chaos.h. The promises (what PASS means) come from
 * issue 9 §3 and issue 11 §5: zero lost, contradicted and other anomalies for every correct
 * strategy and fault, except that redis-atomic --durability fast may lose acknowledged tickets
 * and redis-zset admissions (202) in the faults where Redis itself loses writes (redis-kill,
 * redis-behind, flushall; master-kill on a cluster, whose replication is asynchronous), and
 * that redis-lock and redis-lock-cache do not promise R6 (SPEC §3). */
#include "lab/chaos.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static bool redis_loses_writes(const char *fault) {
    return strcmp(fault, "redis-kill") == 0 || strcmp(fault, "redis-behind") == 0 ||
           strcmp(fault, "flushall") == 0 || strcmp(fault, "master-kill") == 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool is_failure(const lab_record *r) {
    if (r->status == 0) return r->send_us >= 0; /* never sent (time limit) is not a failure */
    if (r->status == 503) return r->code != LAB_CODE_BUSY;
    return r->status >= 500;
}

/* ms from the fault (f, µs from t = 0) to the end of the concert's longest pause in sales after
 * it: the sales (201/202) of `concert` (0: any) that ended after f, in time order; the pause
 * before the first counts from f. A request that raced the fault by a few ms and sold does not
 * hide a stop of seconds behind it. -1 when nothing sold after the fault. */
static int64_t sale_on(const lab_run *run, int64_t f, long long concert) {
    size_t n = 0;
    for (size_t i = 0; i < run->nrecords; i++) {
        const lab_record *r = &run->records[i];
        bool ours = concert == 0 || lab_record_concert(r, run->params.concert_id) == concert;
        n += ours && (r->status == 201 || r->status == 202) && r->done_us >= f;
    }
    if (n == 0) return -1;
    int64_t *t = malloc(n * sizeof *t);
    if (t == NULL) return -1;
    n = 0;
    for (size_t i = 0; i < run->nrecords; i++) {
        const lab_record *r = &run->records[i];
        bool ours = concert == 0 || lab_record_concert(r, run->params.concert_id) == concert;
        if (ours && (r->status == 201 || r->status == 202) && r->done_us >= f) t[n++] = r->done_us;
    }
    qsort(t, n, sizeof *t, cmp_i64);
    int64_t prev = f, gap = -1, end = t[0];
    for (size_t i = 0; i < n; i++) {
        if (t[i] - prev > gap) gap = t[i] - prev, end = t[i];
        prev = t[i];
    }
    free(t);
    return (end - f) / 1000;
}

tr_err chaos_cell_compute(const lab_run *run, chaos_cell *c) {
    memset(c, 0, sizeof *c);
    if (run->records == NULL) return TR_INVALID_ARGUMENT;
    const audit_report *a = &run->audit;
    const char *fault = lab_run_mark(run, CHAOS_MARK_FAULT);
    const char *at = lab_run_mark(run, CHAOS_MARK_FAULT_AT);
    const char *dur = lab_run_mark(run, CHAOS_MARK_DURABILITY);
    const char *ferr = lab_run_mark(run, CHAOS_MARK_ERROR);
    snprintf(c->label, sizeof c->label, "%s%s%s", run->strategy, dur && *dur ? " " : "",
             dur ? dur : "");
    snprintf(c->fault, sizeof c->fault, "%s", fault ? fault : "(none)");
    char *end = NULL;
    long long at_ms = at ? strtoll(at, &end, 10) : 0;
    c->injected = fault && at && end && *end == '\0' && at_ms > 0 && ferr == NULL;
    c->fault_at_us = c->injected ? at_ms * 1000 - run->started_wall_us : -1;

    c->acknowledged = a->acknowledged;
    c->queued = a->queued;
    c->contradicted = a->contradicted;
    c->lost = a->lost - a->contradicted;
    c->queued_unissued = a->queued_unissued;
    c->unknown_tickets = a->phantom_unknown;
    c->fcfs = a->fcfs_violations;
    c->other = a->oversold + a->duplicate_customers + a->seat_errors + a->vip_errors +
               a->sales_after_close + (a->count_drift < 0 ? -a->count_drift : a->count_drift) +
               (a->phantom - a->phantom_unknown);

    size_t answered = 0;
    for (size_t i = 0; i < run->nrecords; i++) answered += lab_record_answered(&run->records[i]);
    c->requests_per_s =
        run->duration_us > 0 ? (double)answered * 1e6 / (double)run->duration_us : 0.0;

    const char *fc = lab_run_mark(run, CHAOS_MARK_CONCERT);
    long long fault_concert = fc ? strtoll(fc, &end, 10) : 0;
    if (fc && (end == fc || *end != '\0' || fault_concert < 1)) fault_concert = 0;

    c->first_ok_ms = c->recovered_ms = c->sale_on_ms = -1;
    if (c->injected) {
        int64_t f = c->fault_at_us, first_ok = -1, last_bad = 0;
        bool never = false;
        /* "slow": over max(1 s, twice the p99 of the answers completed before the fault) */
        size_t nbefore = 0;
        int64_t *lat = malloc((run->nrecords ? run->nrecords : 1) * sizeof *lat);
        if (lat == NULL) return TR_NOMEM;
        for (size_t i = 0; i < run->nrecords; i++) {
            const lab_record *r = &run->records[i];
            if (r->status != 0 && r->done_us >= 0 && r->done_us < f)
                lat[nbefore++] = r->done_us - r->send_us;
        }
        qsort(lat, nbefore, sizeof *lat, cmp_i64);
        int64_t slow = nbefore ? 2 * lat[(size_t)((double)(nbefore - 1) * 0.99)] : 0;
        if (slow < 1000000) slow = 1000000;
        free(lat);
        c->slow_ms = slow / 1000;
        for (size_t i = 0; i < run->nrecords; i++) {
            const lab_record *r = &run->records[i];
            if (r->send_us < 0) continue;
            bool done_after = r->done_us < 0 || r->done_us >= f;
            if (r->send_us <= f && done_after) c->in_flight++;
            bool failed = is_failure(r);
            if (failed && done_after) c->failed++;
            if ((failed || (r->done_us >= 0 && r->done_us - r->send_us > slow)) && done_after) {
                if (r->done_us < 0) never = true;
                else if (r->done_us - f > last_bad) last_bad = r->done_us - f;
            }
            if (!failed && r->status != 0 && r->send_us >= f &&
                (first_ok < 0 || r->done_us - f < first_ok))
                first_ok = r->done_us - f;
        }
        c->sale_on_ms = sale_on(run, f, fault_concert);
        c->first_ok_ms = first_ok < 0 ? -1 : first_ok / 1000;
        c->recovered_ms = never ? -1 : last_bad / 1000;
    }

    /* The promise. */
    bool fast = dur && strcmp(dur, "fast") == 0;
    bool may_lose =
        strcmp(run->strategy, "redis-atomic") == 0 && fast && fault && redis_loses_writes(fault);
    bool may_drop_queued =
        strcmp(run->strategy, "redis-zset") == 0 && fault && redis_loses_writes(fault);
    bool no_fcfs =
        strcmp(run->strategy, "redis-lock") == 0 || strcmp(run->strategy, "redis-lock-cache") == 0;
    size_t w = 0;
#define WHY(...)                                                                                   \
    (w += (size_t)snprintf(c->why + w, w < sizeof c->why ? sizeof c->why - w : 0, __VA_ARGS__))
    c->pass = true;
    if (!c->injected) {
        c->pass = false;
        WHY("fault not injected%s%s; ", ferr ? ": " : "", ferr ? ferr : "");
    }
    if (c->lost + c->contradicted > 0) {
        if (may_lose)
            WHY("allowed: %" PRId64 " acknowledged lost (Redis lost writes); ",
                c->lost + c->contradicted);
        else {
            c->pass = false;
            WHY("%" PRId64 " acknowledged tickets lost or contradicted; ",
                c->lost + c->contradicted);
        }
    }
    if (c->queued_unissued > 0) {
        if (may_drop_queued)
            WHY("allowed: %" PRId64 " admissions lost (Redis lost writes); ", c->queued_unissued);
        else {
            c->pass = false;
            WHY("%" PRId64 " queued (202) customers never got a ticket; ", c->queued_unissued);
        }
    }
    if (c->other > 0) {
        c->pass = false;
        WHY("R1-R5/R8/phantom: oversold %" PRId64 ", duplicates %" PRId64 ", seat errors %" PRId64
            ", vip %" PRId64 ", after close %" PRId64 ", count drift %" PRId64
            ", unexplained phantoms %" PRId64 "; ",
            a->oversold, a->duplicate_customers, a->seat_errors, a->vip_errors,
            a->sales_after_close, a->count_drift, a->phantom - a->phantom_unknown);
    }
    if (c->fcfs > 0) {
        if (no_fcfs) WHY("allowed: %" PRId64 " R6 (not promised); ", c->fcfs);
        else {
            c->pass = false;
            WHY("%" PRId64 " FCFS (R6) violations; ", c->fcfs);
        }
    }
#undef WHY
    if (w >= 2 && w < sizeof c->why) c->why[w - 2] = '\0';
    return TR_OK;
}

static void ms_cell(char *buf, size_t len, int64_t ms, const char *none) {
    if (ms < 0) snprintf(buf, len, "%s", none);
    else snprintf(buf, len, "%" PRId64, ms);
}

int chaos_table_write(FILE *f, const chaos_cell *cells, int n) {
    int fails = 0;
    fprintf(f, "%-22s %-14s %9s %7s %7s %5s %7s %7s %7s %5s %5s %6s %9s %9s %8s %7s  %s\n",
            "strategy", "fault", "in-flight", "acked", "queued", "lost", "contra", "q-lost",
            "unknown", "other", "R6", "failed", "first-ok", "recovered", "sale-on", "req/s",
            "result");
    for (int i = 0; i < n; i++) {
        const chaos_cell *c = &cells[i];
        char first[24], rec[24], on[24];
        ms_cell(first, sizeof first, c->first_ok_ms, "-");
        ms_cell(on, sizeof on, c->sale_on_ms, "-");
        ms_cell(rec, sizeof rec, c->recovered_ms, "never");
        if (!c->injected) snprintf(rec, sizeof rec, "-");
        fprintf(f,
                "%-22s %-14s %9" PRId64 " %7" PRId64 " %7" PRId64 " %5" PRId64 " %7" PRId64
                " %7" PRId64 " %7" PRId64 " %5" PRId64 " %5" PRId64 " %6" PRId64
                " %9s %9s %8s %7.0f  %s\n",
                c->label, c->fault, c->in_flight, c->acknowledged, c->queued, c->lost,
                c->contradicted, c->queued_unissued, c->unknown_tickets, c->other, c->fcfs,
                c->failed, first, rec, on, c->requests_per_s, c->pass ? "PASS" : "FAIL");
        fails += !c->pass;
    }
    return fails;
}
