/* audit.h — checks SPEC §1's rules R1–R8 for one concert after a run has drained, from the
 * tickets in PostgreSQL and the load generator's records, and computes the run's figures
 * (latency, requests/min, time to sell out, outcomes by code). The computations are pure
 * functions over arrays, so unit tests pin them; audit_run adds the PostgreSQL reads.
 * Not a report: nothing here prints (see table.h). */
#ifndef TR_LAB_AUDIT_H
#define TR_LAB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "lab/record.h"
#include "store/pg.h"

/* The concert row as the audit reads it. */
typedef struct audit_concert {
    int64_t id;
    int32_t total_seats;  /* N */
    int32_t vip_seats;    /* V, 0 ≤ V ≤ N */
    int32_t remaining;    /* the stored count (R8) */
    int64_t starts_at_us; /* sales close here (R5); µs since the Unix epoch */
} audit_concert;

/* One row of ticket for the concert. */
typedef struct audit_ticket {
    int64_t customer_id;
    int32_t seat_no;
    bool vip;
    bool after_close;     /* issued_at ≥ starts_at, compared by PostgreSQL itself (R5) */
    int64_t issued_at_us; /* µs since the Unix epoch (PostgreSQL's clock) */
} audit_ticket;

/* Latency of answered requests (done_us − send_us, or done_us − sched_us in an open loop), µs;
 * all -1 when nothing was answered. */
typedef struct audit_latency {
    int64_t p50, p90, p99, max;
} audit_latency;

#define AUDIT_MAX_OUTCOMES 96
#define AUDIT_OUTCOME_KEY_LEN 48

/* Requests by outcome: the key is the error code ("sold_out", "connection_error", …) when the
 * record has one, else its HTTP status ("201", "202", "200"). */
typedef struct audit_outcome {
    char key[AUDIT_OUTCOME_KEY_LEN];
    int64_t count;
} audit_outcome;

typedef struct audit_report {
    /* The concert the audit checked. */
    int32_t total_seats, vip_seats, remaining;

    /* Anomaly counts: each is 0 for a correct strategy (SPEC §4). */
    int64_t tickets;             /* rows in ticket for the concert */
    int64_t oversold;            /* R1: max(0, tickets − N) */
    int64_t duplicate_customers; /* R2: tickets − distinct customers */
    int64_t seat_duplicates;     /* R3: tickets − distinct seat numbers */
    int64_t seat_gaps;           /* R3: numbers in 1..min(tickets, N) that no ticket has */
    int64_t seat_out_of_range;   /* R3: tickets whose seat is outside 1..N */
    int64_t seat_errors;         /* R3: the three above, summed */
    int64_t vip_errors;          /* R4: tickets whose vip ≠ (seat_no ≤ V) */
    int64_t sales_after_close;   /* R5: tickets with issued_at ≥ starts_at */
    int64_t fcfs_refused_beaten; /* R6a: sold_out/busy answers completed before a 201 was sent */
    int64_t fcfs_inverted;       /* R6b: 201s with a lower seat than a 201 completed before them */
    int64_t fcfs_violations;     /* R6: the two above, summed */
    int64_t lost;                /* R7: 201 answers whose (customer, seat) is not in ticket */
    int64_t phantom;             /* R7: rows matching no 201 answer and no 202 (queued) answer */
    int64_t count_drift;         /* R8: remaining − (N − tickets) */
    /* Details of R7 for the fault suite (not added to audit_has_anomalies: each is a part of
     * lost or phantom, or a count of its own that a fault may explain): */
    int64_t contradicted;    /* of lost: acknowledged (customer, seat) where PostgreSQL
                                gives that customer another seat or that seat to another
                                customer */
    int64_t phantom_unknown; /* of phantom: rows whose customer had a request with an
                                unknown outcome (no answer: connection error or timeout; or
                                a 500; or retried after one of those and last answered 503,
                                which decided nothing: the first attempt may have written) */
    int64_t queued_unissued; /* customers answered 202 (queued) with no ticket at all */

    /* Figures of the run. */
    int64_t requests;     /* records */
    int64_t answered;     /* records with an HTTP status */
    int64_t acknowledged; /* 201 answers */
    int64_t queued;       /* 202 answers */
    audit_latency latency;
    double requests_per_min;   /* answered ÷ load duration */
    double tickets_per_min;    /* tickets ÷ load duration */
    int64_t sold_out_after_us; /* t = 0 to sold out, see audit_sold_out_after; -1 = not sold out */
    int64_t last_issued_after_us; /* run's wall start to the latest issued_at; -1 when no ticket */
    int64_t drained_after_us;     /* run's wall start until PostgreSQL held every ticket it would
                                     hold (see audit_wait_drained); -1 when not measured */
    int noutcomes;                /* sorted by count, descending, then key */
    audit_outcome outcomes[AUDIT_MAX_OUTCOMES];
} audit_report;

/* true when an R1–R8 count is non-zero. */
bool audit_has_anomalies(const audit_report *r);

/* One concert of a festival (many concerts at once, SPEC §4): what its own audit found — the
 * rules hold per concert, so each concert is audited alone on its own requests — kept small so a
 * run can carry a row per concert. Counts as audit_report's. */
typedef struct audit_concert_row {
    int64_t concert_id;
    int32_t total_seats, vip_seats, remaining;
    int64_t requests, answered, acknowledged, queued, tickets;
    int64_t oversold, duplicate_customers, seat_errors, vip_errors, sales_after_close;
    int64_t fcfs_violations, lost, phantom, count_drift;
    int64_t contradicted, phantom_unknown, queued_unissued; /* details, as audit_report's */
    int64_t sold_out_after_us;                              /* -1: not sold out */
    int64_t last_issued_after_us;                           /* -1: no ticket */
} audit_concert_row;

/* The row of concert_id out of its audit report. */
void audit_concert_row_of(int64_t concert_id, const audit_report *r, audit_concert_row *out);

/* true when one of the row's R1–R8 counts is non-zero (as audit_has_anomalies). */
bool audit_concert_row_has_anomalies(const audit_concert_row *r);

/* A festival's totals into *out (overwritten), from its k concert rows (rows[0] the headliner)
 * and every request recs[0..n) of the run: seats, VIP seats, remaining, tickets and every
 * anomaly count are the rows' sums (so audit_has_anomalies(out) is true exactly when a concert
 * has one); requests, answers, latency, requests/min, tickets/min and outcomes are the run's,
 * over all requests; sold_out_after_us is the headliner's; last_issued_after_us the latest.
 * drained_after_us is left -1 (the caller measures it). Errors: TR_INVALID_ARGUMENT (k == 0),
 * TR_NOMEM. */
tr_err audit_festival_totals(const audit_concert_row *rows, size_t k, const lab_record *recs,
                             size_t n, const lab_codes *codes, int64_t duration_us,
                             audit_report *out);

/* --- Pure computations (no I/O). Allocation failures give TR_NOMEM. --------------------- */

/* Nearest-rank percentile (p in (0, 100]) of sorted[0..n); -1 when n == 0. */
int64_t audit_percentile(const int64_t *sorted, size_t n, double p);

/* Latency percentiles over the answered records. */
tr_err audit_latency_of(const lab_record *recs, size_t n, audit_latency *out);

/* R1–R5 from the ticket rows: fills tickets, oversold, duplicate_customers, seat_*,
 * vip_errors, sales_after_close of out (other fields untouched). */
tr_err audit_tickets(const audit_ticket *t, size_t m, int32_t total_seats, int32_t vip_seats,
                     audit_report *out);

/* R6 from the records, O(n log n). (a) counts records refused for capacity or contention
 * (code sold_out or busy) whose done_us is earlier than the send_us of some 201; (b) counts the
 * 201 records B that have a 201 record A with A.done_us < B.send_us and A.seat_no > B.seat_no.
 * Times equal to the µs are not ordered, so they never count. */
tr_err audit_fcfs(const lab_record *recs, size_t n, int64_t *refused_beaten, int64_t *inverted);

/* R7: matches the tickets acknowledged to clients — 201 records, and 409 already_owned records
 * carrying the customer's ticket (lab_record_acknowledged; one (customer, seat) counted once) —
 * to ticket rows by (customer, seat), each row at most once; rows left over are matched by
 * customer to 202 (queued) records, each at most once. lost = acknowledged tickets unmatched;
 * phantom = rows unmatched. A purchase answered 500 ("outcome unknown") that the client did not
 * retry leaves its ticket, if one was bought, unacknowledged: a phantom. */
tr_err audit_match(const lab_record *recs, size_t n, const audit_ticket *t, size_t m, int64_t *lost,
                   int64_t *phantom);

/* audit_match and the details: contradicted (of lost), phantom_unknown (of phantom) and
 * queued_unissued, as audit_report defines them. Any output pointer may be NULL. */
tr_err audit_match_detail(const lab_record *recs, size_t n, const audit_ticket *t, size_t m,
                          int64_t *lost, int64_t *phantom, int64_t *contradicted,
                          int64_t *phantom_unknown, int64_t *queued_unissued);

/* Time to sell out, µs from t = 0: when tickets ≥ N, the earliest of the completion of a 201
 * carrying seat N (the last seat) and the first sold_out answer; -1 when tickets < N or when
 * neither exists. */
int64_t audit_sold_out_after(const lab_record *recs, size_t n, int64_t tickets,
                             int32_t total_seats);

/* Outcomes by key into out->outcomes/noutcomes (overflowing keys are added to "other"). */
void audit_outcomes(const lab_record *recs, size_t n, const lab_codes *codes, audit_report *out);

/* Everything above. duration_us is the load phase (lg_result.duration_us), started_wall_us
 * its wall-clock start (lg_result.started_wall_us). *out is overwritten. */
tr_err audit_compute(const audit_concert *c, const audit_ticket *t, size_t m,
                     const lab_record *recs, size_t n, const lab_codes *codes, int64_t duration_us,
                     int64_t started_wall_us, audit_report *out);

/* --- PostgreSQL. Errors: TR_CONCERT_NOT_FOUND, TR_PG (pg_conn_errstr says why), TR_NOMEM. -- */

tr_err audit_load_concert(pg_conn *pg, int64_t concert_id, audit_concert *out);

/* The concert's tickets; *out (malloc'd, caller frees; NULL when m == 0) and *m. */
tr_err audit_load_tickets(pg_conn *pg, int64_t concert_id, audit_ticket **out, size_t *m);

/* Loads the concert and its tickets, then audit_compute. */
/* Waits until the system has drained: PostgreSQL holds at least `acknowledged` tickets for the
 * concert (the 201s and the customers admitted with a 202: write-behind strategies and waiting
 * lines store them after answering) and its ticket count has not changed for stable_ms. A
 * PostgreSQL that does not answer is asked again every 500 ms. Gives up after timeout_ms.
 * *drained_after_us = wall-clock µs from started_wall_us to the last change seen.
 * Returns TR_OK, TR_BUSY when the timeout passed first (the audit then shows what is missing),
 * or TR_PG when PostgreSQL did not answer until the timeout. */
tr_err audit_wait_drained(pg_conn *pg, int64_t concert_id, int64_t acknowledged, int stable_ms,
                          int timeout_ms, int64_t started_wall_us, int64_t *drained_after_us);

/* audit_wait_drained over the concerts first..last together (a festival): their tickets are
 * counted as one. */
tr_err audit_wait_drained_range(pg_conn *pg, int64_t first, int64_t last, int64_t acknowledged,
                                int stable_ms, int timeout_ms, int64_t started_wall_us,
                                int64_t *drained_after_us);

tr_err audit_run(pg_conn *pg, int64_t concert_id, const lab_record *recs, size_t n,
                 const lab_codes *codes, int64_t duration_us, int64_t started_wall_us,
                 audit_report *out);

#endif
