/* audit.c — R1–R8 counts and run figures behind audit.h. Pure functions first, then the two
 * PostgreSQL reads. Sorting does the heavy lifting everywhere: O(n log n) for any run size. */
#include "lab/audit.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

bool audit_has_anomalies(const audit_report *r) {
    return r->oversold || r->duplicate_customers || r->seat_errors || r->vip_errors ||
           r->sales_after_close || r->fcfs_violations || r->lost || r->phantom || r->count_drift;
}

void audit_concert_row_of(int64_t concert_id, const audit_report *r, audit_concert_row *out) {
    *out = (audit_concert_row){.concert_id = concert_id,
                               .total_seats = r->total_seats,
                               .vip_seats = r->vip_seats,
                               .remaining = r->remaining,
                               .requests = r->requests,
                               .answered = r->answered,
                               .acknowledged = r->acknowledged,
                               .queued = r->queued,
                               .tickets = r->tickets,
                               .oversold = r->oversold,
                               .duplicate_customers = r->duplicate_customers,
                               .seat_errors = r->seat_errors,
                               .vip_errors = r->vip_errors,
                               .sales_after_close = r->sales_after_close,
                               .fcfs_violations = r->fcfs_violations,
                               .lost = r->lost,
                               .phantom = r->phantom,
                               .count_drift = r->count_drift,
                               .contradicted = r->contradicted,
                               .phantom_unknown = r->phantom_unknown,
                               .queued_unissued = r->queued_unissued,
                               .sold_out_after_us = r->sold_out_after_us,
                               .last_issued_after_us = r->last_issued_after_us};
}

bool audit_concert_row_has_anomalies(const audit_concert_row *r) {
    return r->oversold || r->duplicate_customers || r->seat_errors || r->vip_errors ||
           r->sales_after_close || r->fcfs_violations || r->lost || r->phantom || r->count_drift;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int64_t audit_percentile(const int64_t *sorted, size_t n, double p) {
    if (n == 0) return -1;
    double rank = ceil(p / 100.0 * (double)n);
    size_t k = rank < 1 ? 1 : (size_t)rank;
    if (k > n) k = n;
    return sorted[k - 1];
}

tr_err audit_latency_of(const lab_record *recs, size_t n, audit_latency *out) {
    out->p50 = out->p90 = out->p99 = out->max = -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += lab_record_answered(&recs[i]);
    if (k == 0) return TR_OK;
    int64_t *lat = malloc(k * sizeof *lat);
    if (lat == NULL) return TR_NOMEM;
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (lab_record_answered(&recs[i])) /* open loop: from the scheduled time (record.h) */
            lat[k++] = recs[i].done_us - (recs[i].scheduled ? recs[i].sched_us : recs[i].send_us);
    qsort(lat, k, sizeof *lat, cmp_i64);
    out->p50 = audit_percentile(lat, k, 50);
    out->p90 = audit_percentile(lat, k, 90);
    out->p99 = audit_percentile(lat, k, 99);
    out->max = lat[k - 1];
    free(lat);
    return TR_OK;
}

tr_err audit_tickets(const audit_ticket *t, size_t m, int32_t total_seats, int32_t vip_seats,
                     audit_report *out) {
    out->tickets = (int64_t)m;
    out->oversold = (int64_t)m > total_seats ? (int64_t)m - total_seats : 0;
    out->duplicate_customers = out->seat_duplicates = out->seat_gaps = 0;
    out->seat_out_of_range = out->seat_errors = out->vip_errors = out->sales_after_close = 0;
    if (m == 0) return TR_OK;
    int64_t *cust = malloc(m * sizeof *cust);
    int32_t *seat = malloc(m * sizeof *seat);
    if (cust == NULL || seat == NULL) {
        free(cust);
        free(seat);
        return TR_NOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        cust[i] = t[i].customer_id;
        seat[i] = t[i].seat_no;
        if (t[i].seat_no < 1 || t[i].seat_no > total_seats) out->seat_out_of_range++;
        if (t[i].vip != (t[i].seat_no <= vip_seats)) out->vip_errors++;
        if (t[i].after_close) out->sales_after_close++;
    }
    qsort(cust, m, sizeof *cust, cmp_i64);
    qsort(seat, m, sizeof *seat, cmp_i32);
    /* Seats above N cannot exist, so the dense range checked is 1..min(tickets, N): gaps past
     * N would only count the oversell (R1) a second time. */
    int64_t dense = (int64_t)m < total_seats ? (int64_t)m : total_seats;
    int64_t present = 0;
    for (size_t i = 0; i < m; i++) {
        bool first = i == 0 || seat[i] != seat[i - 1];
        if (!first) out->seat_duplicates++;
        if (first && seat[i] >= 1 && seat[i] <= dense) present++;
        if (i > 0 && cust[i] == cust[i - 1]) out->duplicate_customers++;
    }
    out->seat_gaps = dense - present;
    out->seat_errors = out->seat_duplicates + out->seat_gaps + out->seat_out_of_range;
    free(cust);
    free(seat);
    return TR_OK;
}

typedef struct {
    int64_t t;
    int32_t seat;
} time_seat;

static int cmp_time_seat(const void *a, const void *b) {
    const time_seat *x = a, *y = b;
    if (x->t != y->t) return (x->t > y->t) - (x->t < y->t);
    return (x->seat > y->seat) - (x->seat < y->seat);
}

tr_err audit_fcfs(const lab_record *recs, size_t n, int64_t *refused_beaten, int64_t *inverted) {
    *refused_beaten = *inverted = 0;
    size_t k = 0;
    int64_t last_ok_send = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].status != 201) continue;
        k++;
        if (recs[i].send_us > last_ok_send) last_ok_send = recs[i].send_us;
    }
    if (k == 0) return TR_OK;
    for (size_t i = 0; i < n; i++) {
        const lab_record *r = &recs[i];
        bool refused = r->code == LAB_CODE_SOLD_OUT || r->code == LAB_CODE_BUSY;
        if (refused && lab_record_answered(r) && r->done_us < last_ok_send) (*refused_beaten)++;
    }
    time_seat *by_done = malloc(k * sizeof *by_done);
    time_seat *by_send = malloc(k * sizeof *by_send);
    if (by_done == NULL || by_send == NULL) {
        free(by_done);
        free(by_send);
        return TR_NOMEM;
    }
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].status != 201) continue;
        by_done[k] = (time_seat){recs[i].done_us, recs[i].seat_no};
        by_send[k] = (time_seat){recs[i].send_us, recs[i].seat_no};
        k++;
    }
    qsort(by_done, k, sizeof *by_done, cmp_time_seat);
    qsort(by_send, k, sizeof *by_send, cmp_time_seat);
    /* Sweep B in send order; every A completed strictly before B's send has joined max_seat. */
    size_t j = 0;
    int64_t max_seat = INT64_MIN;
    for (size_t b = 0; b < k; b++) {
        while (j < k && by_done[j].t < by_send[b].t) {
            if (by_done[j].seat > max_seat) max_seat = by_done[j].seat;
            j++;
        }
        if (max_seat > by_send[b].seat) (*inverted)++;
    }
    free(by_done);
    free(by_send);
    return TR_OK;
}

typedef struct {
    int64_t customer;
    int32_t seat;
} cust_seat;

static int cmp_cust_seat(const void *a, const void *b) {
    const cust_seat *x = a, *y = b;
    if (x->customer != y->customer)
        return (x->customer > y->customer) - (x->customer < y->customer);
    return (x->seat > y->seat) - (x->seat < y->seat);
}

static int cmp_seat_only(const void *a, const void *b) {
    int32_t x = ((const cust_seat *)a)->seat, y = ((const cust_seat *)b)->seat;
    return (x > y) - (x < y);
}

static int cmp_customer_only(const void *a, const void *b) {
    int64_t x = ((const cust_seat *)a)->customer, y = ((const cust_seat *)b)->customer;
    return (x > y) - (x < y);
}

/* true when a record says nothing about the purchase's outcome: no answer, or a 5xx — or a 503
 * (nothing ran) to a retry of an attempt whose outcome was unknown (a 500, a lost connection):
 * that first attempt may have stored a ticket (a master killed between a purchase's write and
 * its WAIT, issue 11 §5). The record keeps only the last answer; retries counts the others. */
static bool record_unknown(const lab_record *r) {
    return r->status == 0 || (r->status >= 500 && r->status != 503) ||
           (r->status == 503 && r->retries > 0);
}

tr_err audit_match(const lab_record *recs, size_t n, const audit_ticket *t, size_t m, int64_t *lost,
                   int64_t *phantom) {
    return audit_match_detail(recs, n, t, m, lost, phantom, NULL, NULL, NULL);
}

tr_err audit_match_detail(const lab_record *recs, size_t n, const audit_ticket *t, size_t m,
                          int64_t *lost_out, int64_t *phantom_out, int64_t *contradicted_out,
                          int64_t *phantom_unknown_out, int64_t *queued_unissued_out) {
    int64_t lost_v, phantom_v;
    int64_t *lost = &lost_v, *phantom = &phantom_v;
    int64_t contradicted = 0, phantom_unknown = 0, queued_unissued = 0;
    cust_seat *by_seat = NULL;
    int64_t *unknown = NULL;
    size_t nunknown = 0;
    tr_err rc = TR_OK;
    size_t nack = 0, nown = 0, nq = 0;
    for (size_t i = 0; i < n; i++) {
        bool acked = lab_record_acknowledged(&recs[i]);
        nack += acked && recs[i].status == 201;
        nown += acked && recs[i].status != 201;
        nq += recs[i].status == 202;
    }
    cust_seat *ack = malloc((nack ? nack : 1) * sizeof *ack);
    cust_seat *own = malloc((nown ? nown : 1) * sizeof *own);
    cust_seat *row = malloc((m ? m : 1) * sizeof *row);
    cust_seat *all = malloc((m ? m : 1) * sizeof *all);
    int64_t *queued = malloc((nq ? nq : 1) * sizeof *queued);
    int64_t *left = malloc((m ? m : 1) * sizeof *left);
    if (ack == NULL || own == NULL || row == NULL || all == NULL || queued == NULL ||
        left == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    nack = nown = nq = 0;
    for (size_t i = 0; i < n; i++) {
        cust_seat cs = {recs[i].customer_id, recs[i].seat_no};
        if (lab_record_acknowledged(&recs[i])) {
            if (recs[i].status == 201) ack[nack++] = cs;
            else own[nown++] = cs;
        }
        if (recs[i].status == 202) queued[nq++] = recs[i].customer_id;
    }
    for (size_t i = 0; i < m; i++) row[i] = (cust_seat){t[i].customer_id, t[i].seat_no};
    qsort(ack, nack, sizeof *ack, cmp_cust_seat);
    qsort(own, nown, sizeof *own, cmp_cust_seat);
    qsort(row, m, sizeof *row, cmp_cust_seat);
    if (m > 0) memcpy(all, row, m * sizeof *all);
    qsort(queued, nq, sizeof *queued, cmp_i64);

    /* Each 201 created a ticket: multiset intersection by (customer, seat) with the rows. */
    size_t a = 0, r = 0, matched = 0, nleft = 0;
    while (a < nack && r < m) {
        int c = cmp_cust_seat(&ack[a], &row[r]);
        if (c == 0) {
            matched++;
            a++;
            r++;
        } else if (c < 0) {
            a++;
        } else {
            row[nleft++] = row[r++]; /* compacts the unmatched rows in place, still sorted */
        }
    }
    while (r < m) row[nleft++] = row[r++];
    *lost = (int64_t)(nack - matched);
    /* contradicted: an unmatched acknowledged ticket whose customer or seat PostgreSQL gives
     * to another (customer, seat). all is sorted by customer; by_seat by seat. */
    by_seat = malloc((m ? m : 1) * sizeof *by_seat);
    if (by_seat == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    if (m > 0) memcpy(by_seat, all, m * sizeof *by_seat);
    qsort(by_seat, m, sizeof *by_seat, cmp_seat_only);
    {
        size_t x = 0, y = 0;
        while (x < nack) { /* ack and all are both sorted by (customer, seat) */
            while (y < m && cmp_cust_seat(&all[y], &ack[x]) < 0) y++;
            bool hit = y < m && cmp_cust_seat(&all[y], &ack[x]) == 0;
            /* a duplicate 201 for one (customer, seat) is matched once; only real misses count */
            if (!hit && (bsearch(&ack[x], all, m, sizeof *all, cmp_customer_only) ||
                         bsearch(&ack[x], by_seat, m, sizeof *by_seat, cmp_seat_only)))
                contradicted++;
            x++;
        }
    }
    /* A 409 already_owned names a ticket that exists already (bought by an earlier request, or by
     * the first attempt of a retried one): lost when no row has it at all; it acknowledges that
     * row, which so is no phantom. */
    for (size_t i = 0; i < nown; i++) {
        if (i > 0 && cmp_cust_seat(&own[i - 1], &own[i]) == 0) continue;
        if (bsearch(&own[i], all, m, sizeof *all, cmp_cust_seat) == NULL) {
            (*lost)++;
            if (bsearch(&own[i], all, m, sizeof *all, cmp_customer_only) ||
                bsearch(&own[i], by_seat, m, sizeof *by_seat, cmp_seat_only))
                contradicted++;
        }
    }
    size_t nl = 0;
    for (size_t i = 0; i < nleft; i++)
        if (bsearch(&row[i], own, nown, sizeof *own, cmp_cust_seat) == NULL)
            left[nl++] = row[i].customer;
    /* left is sorted by customer. Match by customer to 202s. */
    size_t q = 0, l = 0, accepted = 0;
    while (q < nq && l < nl) {
        if (queued[q] == left[l]) {
            accepted++;
            q++;
            l++;
        } else if (queued[q] < left[l]) {
            q++;
        } else {
            l++;
        }
    }
    *phantom = (int64_t)(nl - accepted);
    /* phantom_unknown: of the rows left after that, those whose customer had a request with an
     * unknown outcome (left[] is sorted; a customer matched to a 202 above is not phantom). */
    for (size_t i = 0; i < n; i++) nunknown += record_unknown(&recs[i]);
    unknown = malloc((nunknown ? nunknown : 1) * sizeof *unknown);
    if (unknown == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    nunknown = 0;
    for (size_t i = 0; i < n; i++)
        if (record_unknown(&recs[i])) unknown[nunknown++] = recs[i].customer_id;
    qsort(unknown, nunknown, sizeof *unknown, cmp_i64);
    q = l = 0;
    while (q < nq || l < nl) { /* walk left[] again, skipping the rows matched to a 202 */
        if (l == nl) break;
        if (q < nq && queued[q] == left[l]) {
            q++;
            l++;
        } else if (q < nq && queued[q] < left[l]) {
            q++;
        } else {
            if (bsearch(&left[l], unknown, nunknown, sizeof *unknown, cmp_i64)) phantom_unknown++;
            l++;
        }
    }
    /* queued_unissued: distinct customers answered 202 without any row */
    for (size_t i = 0; i < nq; i++) {
        if (i > 0 && queued[i] == queued[i - 1]) continue;
        cust_seat key = {queued[i], 0};
        if (bsearch(&key, all, m, sizeof *all, cmp_customer_only) == NULL) queued_unissued++;
    }
out:
    if (rc == TR_OK) {
        if (lost_out) *lost_out = *lost;
        if (phantom_out) *phantom_out = *phantom;
        if (contradicted_out) *contradicted_out = contradicted;
        if (phantom_unknown_out) *phantom_unknown_out = phantom_unknown;
        if (queued_unissued_out) *queued_unissued_out = queued_unissued;
    }
    free(by_seat);
    free(unknown);
    free(ack);
    free(own);
    free(row);
    free(all);
    free(queued);
    free(left);
    return rc;
}

int64_t audit_sold_out_after(const lab_record *recs, size_t n, int64_t tickets,
                             int32_t total_seats) {
    if (tickets < total_seats) return -1;
    int64_t best = -1;
    for (size_t i = 0; i < n; i++) {
        const lab_record *r = &recs[i];
        bool last_seat = r->status == 201 && r->seat_no == total_seats;
        bool sold_out = lab_record_answered(r) && r->code == LAB_CODE_SOLD_OUT;
        if ((last_seat || sold_out) && (best < 0 || r->done_us < best)) best = r->done_us;
    }
    return best;
}

static int cmp_outcome(const void *a, const void *b) {
    const audit_outcome *x = a, *y = b;
    if (x->count != y->count) return (x->count < y->count) - (x->count > y->count);
    return strcmp(x->key, y->key);
}

static void outcome_add(audit_report *out, const char *key, int64_t count) {
    for (int i = 0; i < out->noutcomes; i++) {
        if (strcmp(out->outcomes[i].key, key) == 0) {
            out->outcomes[i].count += count;
            return;
        }
    }
    if (out->noutcomes == AUDIT_MAX_OUTCOMES) { /* the last slot becomes "other" */
        audit_outcome *o = &out->outcomes[AUDIT_MAX_OUTCOMES - 1];
        snprintf(o->key, sizeof o->key, "other");
        o->count += count;
        return;
    }
    audit_outcome *o = &out->outcomes[out->noutcomes++];
    snprintf(o->key, sizeof o->key, "%s", key);
    o->count = count;
}

void audit_outcomes(const lab_record *recs, size_t n, const lab_codes *codes, audit_report *out) {
    enum { NCODES = LAB_CODE__KNOWN + LAB_CODES_MAX_EXTRA, NSTATUS = 1000 };
    int64_t by_code[NCODES] = {0};
    int64_t by_status[NSTATUS] = {0};
    int64_t other = 0;
    out->noutcomes = 0;
    for (size_t i = 0; i < n; i++) {
        const lab_record *r = &recs[i];
        if (r->code != LAB_CODE_NONE && r->code < NCODES) by_code[r->code]++;
        else if (r->code != LAB_CODE_NONE) other++;
        else if (r->status >= 0 && r->status < NSTATUS) by_status[r->status]++;
        else other++;
    }
    char key[16];
    for (int s = 0; s < NSTATUS; s++) {
        if (by_status[s] == 0) continue;
        snprintf(key, sizeof key, "%d", s);
        outcome_add(out, key, by_status[s]);
    }
    for (int c = 1; c < NCODES; c++)
        if (by_code[c]) outcome_add(out, lab_codes_name(codes, (uint16_t)c), by_code[c]);
    if (other) outcome_add(out, "other", other);
    qsort(out->outcomes, (size_t)out->noutcomes, sizeof out->outcomes[0], cmp_outcome);
}

static int cmp_ticket_customer(const void *a, const void *b) {
    int64_t x = ((const audit_ticket *)a)->customer_id, y = ((const audit_ticket *)b)->customer_id;
    return x < y ? -1 : x > y;
}

typedef struct queued_ref {
    int64_t customer_id, send_us;
    size_t index;
} queued_ref;

static int cmp_queued_ref(const void *a, const void *b) {
    const queued_ref *x = a, *y = b;
    if (x->customer_id != y->customer_id) return x->customer_id < y->customer_id ? -1 : 1;
    if (x->send_us != y->send_us) return x->send_us < y->send_us ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* R6 over what PostgreSQL holds: a 201 counts with its seat only when PostgreSQL holds that seat
 * for that customer (a ticket lost or contradicted is counted as such, R7, and its seat may have
 * been sold again: counted again as an R6 inversion it would say the same thing twice); and for
 * waiting lines a 202 counts as the request that got the seat its ticket holds (the seat is the
 * admission number). Of a customer's 202s that is the first one answered at or after the
 * ticket's admission time (a waiting line stamps issued_at with Redis TIME at admission, so an
 * earlier 202 whose admission Redis lost, and which a later request made again, does not take
 * the seat of the later one); the first 202 when none is. */
static tr_err fcfs_over_stored(const lab_record *recs, size_t n, const audit_ticket *t, size_t m,
                               int64_t started_wall_us, int64_t *refused_beaten,
                               int64_t *inverted) {
    lab_record *copy = malloc((n ? n : 1) * sizeof *copy);
    audit_ticket *by_customer = malloc((m ? m : 1) * sizeof *by_customer);
    size_t nq = 0;
    for (size_t i = 0; i < n; i++) nq += recs[i].status == 202;
    queued_ref *q = malloc((nq ? nq : 1) * sizeof *q);
    if (copy == NULL || by_customer == NULL || q == NULL) {
        free(copy);
        free(by_customer);
        free(q);
        return TR_NOMEM;
    }
    memcpy(copy, recs, n * sizeof *copy);
    memcpy(by_customer, t, m * sizeof *by_customer);
    qsort(by_customer, m, sizeof *by_customer, cmp_ticket_customer);
    for (size_t i = 0; i < n; i++) {
        if (copy[i].status != 201) continue;
        audit_ticket key = {.customer_id = copy[i].customer_id};
        audit_ticket *hit = bsearch(&key, by_customer, m, sizeof *by_customer, cmp_ticket_customer);
        if (hit == NULL || hit->seat_no != copy[i].seat_no) copy[i].status = 0; /* lost (R7) */
    }
    /* Records are in request order, not send order: sort each customer's 202s by send time. */
    nq = 0;
    for (size_t i = 0; i < n; i++)
        if (recs[i].status == 202) q[nq++] = (queued_ref){recs[i].customer_id, recs[i].send_us, i};
    qsort(q, nq, sizeof *q, cmp_queued_ref);
    for (size_t k = 0; k < nq;) {
        size_t end = k;
        while (end < nq && q[end].customer_id == q[k].customer_id) end++;
        audit_ticket key = {.customer_id = q[k].customer_id};
        audit_ticket *hit = bsearch(&key, by_customer, m, sizeof *by_customer, cmp_ticket_customer);
        if (hit != NULL && hit->seat_no > 0) {
            int64_t admitted = hit->issued_at_us - started_wall_us - 1000; /* 1 ms of clock */
            size_t pick = k;
            for (size_t x = k; x < end; x++) {
                if (recs[q[x].index].done_us >= admitted) {
                    pick = x;
                    break;
                }
            }
            copy[q[pick].index].status = 201;
            copy[q[pick].index].seat_no = hit->seat_no;
        }
        k = end;
    }
    free(q);
    tr_err rc = audit_fcfs(copy, n, refused_beaten, inverted);
    free(copy);
    free(by_customer);
    return rc;
}

tr_err audit_compute(const audit_concert *c, const audit_ticket *t, size_t m,
                     const lab_record *recs, size_t n, const lab_codes *codes, int64_t duration_us,
                     int64_t started_wall_us, audit_report *out) {
    tr_err rc;
    memset(out, 0, sizeof *out);
    out->total_seats = c->total_seats;
    out->vip_seats = c->vip_seats;
    out->remaining = c->remaining;
    if ((rc = audit_tickets(t, m, c->total_seats, c->vip_seats, out)) != TR_OK) return rc;
    if ((rc = fcfs_over_stored(recs, n, t, m, started_wall_us, &out->fcfs_refused_beaten,
                               &out->fcfs_inverted)) != TR_OK)
        return rc;
    out->fcfs_violations = out->fcfs_refused_beaten + out->fcfs_inverted;
    if ((rc = audit_match_detail(recs, n, t, m, &out->lost, &out->phantom, &out->contradicted,
                                 &out->phantom_unknown, &out->queued_unissued)) != TR_OK)
        return rc;
    out->count_drift = (int64_t)c->remaining - ((int64_t)c->total_seats - out->tickets);

    out->requests = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        out->answered += lab_record_answered(&recs[i]);
        out->acknowledged += recs[i].status == 201;
        out->queued += recs[i].status == 202;
    }
    if ((rc = audit_latency_of(recs, n, &out->latency)) != TR_OK) return rc;
    if (duration_us > 0) {
        out->requests_per_min = (double)out->answered * 60e6 / (double)duration_us;
        out->tickets_per_min = (double)out->tickets * 60e6 / (double)duration_us;
    }
    out->sold_out_after_us = audit_sold_out_after(recs, n, out->tickets, c->total_seats);
    out->last_issued_after_us = -1;
    for (size_t i = 0; i < m; i++) {
        int64_t after = t[i].issued_at_us - started_wall_us;
        if (after > out->last_issued_after_us) out->last_issued_after_us = after;
    }
    audit_outcomes(recs, n, codes, out);
    return TR_OK;
}

tr_err audit_festival_totals(const audit_concert_row *rows, size_t k, const lab_record *recs,
                             size_t n, const lab_codes *codes, int64_t duration_us,
                             audit_report *out) {
    memset(out, 0, sizeof *out);
    if (k == 0) return TR_INVALID_ARGUMENT;
    out->last_issued_after_us = -1;
    for (size_t i = 0; i < k; i++) {
        const audit_concert_row *r = &rows[i];
        out->total_seats += r->total_seats;
        out->vip_seats += r->vip_seats;
        out->remaining += r->remaining;
        out->tickets += r->tickets;
        out->oversold += r->oversold;
        out->duplicate_customers += r->duplicate_customers;
        out->seat_errors += r->seat_errors;
        out->vip_errors += r->vip_errors;
        out->sales_after_close += r->sales_after_close;
        out->fcfs_violations += r->fcfs_violations;
        out->lost += r->lost;
        out->phantom += r->phantom;
        out->count_drift += r->count_drift;
        out->contradicted += r->contradicted;
        out->phantom_unknown += r->phantom_unknown;
        out->queued_unissued += r->queued_unissued;
        if (r->last_issued_after_us > out->last_issued_after_us)
            out->last_issued_after_us = r->last_issued_after_us;
    }
    /* The split of R3 and R6 is not kept per concert: the totals carry it in the first part. */
    out->seat_duplicates = out->seat_errors;
    out->fcfs_refused_beaten = out->fcfs_violations;
    out->sold_out_after_us = rows[0].sold_out_after_us;
    out->drained_after_us = -1;
    out->requests = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        out->answered += lab_record_answered(&recs[i]);
        out->acknowledged += recs[i].status == 201;
        out->queued += recs[i].status == 202;
    }
    tr_err rc = audit_latency_of(recs, n, &out->latency);
    if (rc != TR_OK) return rc;
    if (duration_us > 0) {
        out->requests_per_min = (double)out->answered * 60e6 / (double)duration_us;
        out->tickets_per_min = (double)out->tickets * 60e6 / (double)duration_us;
    }
    audit_outcomes(recs, n, codes, out);
    return TR_OK;
}

/* --- PostgreSQL ---------------------------------------------------------------------- */

static const pg_stmt audit_concert_stmt = {
    "lab_audit_concert",
    "SELECT total_seats, vip_seats, remaining, "
    "(extract(epoch FROM starts_at) * 1000000)::bigint FROM concert WHERE id = $1",
    1};

static const pg_stmt audit_tickets_stmt = {
    "lab_audit_tickets",
    "SELECT t.customer_id, t.seat_no, t.vip, t.issued_at >= c.starts_at, "
    "(extract(epoch FROM t.issued_at) * 1000000)::bigint "
    "FROM ticket t JOIN concert c ON c.id = t.concert_id WHERE t.concert_id = $1",
    1};

tr_err audit_load_concert(pg_conn *pg, int64_t concert_id, audit_concert *out) {
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, concert_id);
    const char *params[] = {id};
    PGresult *r = pg_exec_stmt(pg, &audit_concert_stmt, params);
    if (r == NULL) return TR_PG;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return TR_CONCERT_NOT_FOUND;
    }
    out->id = concert_id;
    out->total_seats = (int32_t)pg_get_i64(r, 0, 0);
    out->vip_seats = (int32_t)pg_get_i64(r, 0, 1);
    out->remaining = (int32_t)pg_get_i64(r, 0, 2);
    out->starts_at_us = pg_get_i64(r, 0, 3);
    PQclear(r);
    return TR_OK;
}

tr_err audit_load_tickets(pg_conn *pg, int64_t concert_id, audit_ticket **out, size_t *m) {
    *out = NULL;
    *m = 0;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, concert_id);
    const char *params[] = {id};
    PGresult *r = pg_exec_stmt(pg, &audit_tickets_stmt, params);
    if (r == NULL) return TR_PG;
    int rows = PQntuples(r);
    if (rows == 0) {
        PQclear(r);
        return TR_OK;
    }
    audit_ticket *t = malloc((size_t)rows * sizeof *t);
    if (t == NULL) {
        PQclear(r);
        return TR_NOMEM;
    }
    for (int i = 0; i < rows; i++) {
        t[i].customer_id = pg_get_i64(r, i, 0);
        t[i].seat_no = (int32_t)pg_get_i64(r, i, 1);
        t[i].vip = pg_get_bool(r, i, 2);
        t[i].after_close = pg_get_bool(r, i, 3);
        t[i].issued_at_us = pg_get_i64(r, i, 4);
    }
    PQclear(r);
    *out = t;
    *m = (size_t)rows;
    return TR_OK;
}

tr_err audit_run(pg_conn *pg, int64_t concert_id, const lab_record *recs, size_t n,
                 const lab_codes *codes, int64_t duration_us, int64_t started_wall_us,
                 audit_report *out) {
    audit_concert c;
    audit_ticket *t = NULL;
    size_t m = 0;
    /* One snapshot, so the stored count (R8) and the rows agree with each other. */
    tr_err rc = pg_exec_ok(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc != TR_OK) return rc;
    rc = audit_load_concert(pg, concert_id, &c);
    if (rc == TR_OK) rc = audit_load_tickets(pg, concert_id, &t, &m);
    if (rc == TR_OK) rc = pg_exec_ok(pg, "COMMIT");
    else if (pg_conn_raw(pg) && PQtransactionStatus(pg_conn_raw(pg)) != PQTRANS_IDLE)
        pg_exec_ok(pg, "ROLLBACK");
    if (rc == TR_OK)
        rc = audit_compute(&c, t, m, recs, n, codes, duration_us, started_wall_us, out);
    free(t);
    return rc;
}

tr_err audit_wait_drained(pg_conn *pg, int64_t concert_id, int64_t acknowledged, int stable_ms,
                          int timeout_ms, int64_t started_wall_us, int64_t *drained_after_us) {
    return audit_wait_drained_range(pg, concert_id, concert_id, acknowledged, stable_ms, timeout_ms,
                                    started_wall_us, drained_after_us);
}

tr_err audit_wait_drained_range(pg_conn *pg, int64_t first, int64_t last, int64_t acknowledged,
                                int stable_ms, int timeout_ms, int64_t started_wall_us,
                                int64_t *drained_after_us) {
    static const pg_stmt count_stmt = {
        "audit_drain_count_range", "SELECT count(*) FROM ticket WHERE concert_id BETWEEN $1 AND $2",
        2};
    char c1[24], c2[24];
    snprintf(c1, sizeof c1, "%" PRId64, first);
    snprintf(c2, sizeof c2, "%" PRId64, last);
    const char *params[] = {c1, c2};
    int64_t start = tr_wall_us(), last_count = -1, last_change = start;
    for (;;) {
        PGresult *r = pg_exec_stmt(pg, &count_stmt, params);
        int64_t now = tr_wall_us();
        if (r == NULL) {
            /* PostgreSQL restarting: ask again (the connection reconnects) until the timeout */
            if (now - start >= (int64_t)timeout_ms * 1000) return TR_PG;
            tr_sleep_ms(500);
            continue;
        }
        int64_t count = pg_get_i64(r, 0, 0);
        PQclear(r);
        if (count != last_count) {
            last_count = count;
            last_change = now;
        }
        *drained_after_us = last_change - started_wall_us;
        if (count >= acknowledged && now - last_change >= (int64_t)stable_ms * 1000) return TR_OK;
        if (now - start >= (int64_t)timeout_ms * 1000) return TR_BUSY;
        tr_sleep_ms(50);
    }
}
