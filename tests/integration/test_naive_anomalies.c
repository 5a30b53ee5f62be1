/* test_naive_anomalies.c — SPEC §3: `naive` on the unguarded schema "must visibly oversell and
 * duplicate". 20 seats, 200 customers, rounds of 100 purchasers released at once (80 distinct
 * customers plus 20 of them twice) against 32 workers. The database must then show at least one
 * anomaly — oversell (R1), a customer twice (R2) or a seat twice (R3) — found both by SQL and by
 * the lab's audit (lab/audit.h), which must agree with each other. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lab/audit.h"

#define SEATS 20
#define VIP 5
#define CUSTOMERS 200
#define ROUNDS 3
#define PER_ROUND 100
#define DISTINCT 80

static void naive_oversells_and_duplicates_unguarded(void **state) {
    (void)state;
    h_reset(&(h_seed){.unguarded = true, .seats = SEATS, .vip = VIP, .customers = CUSTOMERS});
    h_server srv;
    h_server_start(&srv, "naive", 32, NULL);

    h_burst_req *reqs = calloc(PER_ROUND, sizeof *reqs);
    assert_non_null(reqs);
    int created = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < PER_ROUND; i++) {
            /* 80 distinct customers per round, then the round's first 20 again */
            int k = i < DISTINCT ? i : i - DISTINCT;
            int64_t customer = (int64_t)((round * DISTINCT + k) % CUSTOMERS) + 1;
            reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, customer);
        }
        h_burst(srv.port, reqs, PER_ROUND, 30000);
        for (int i = 0; i < PER_ROUND; i++) {
            char code[32];
            h_resp_code(&reqs[i].resp, code, sizeof code);
            int st = reqs[i].resp.status;
            if (st == 201) created++;
            else if (!(st == 409 &&
                       (strcmp(code, "sold_out") == 0 || strcmp(code, "already_owned") == 0)))
                fail_msg("round %d request %d: %d %s, want 201 or 409 sold_out/already_owned; "
                         "body: %s",
                         round, i, st, code, reqs[i].resp.body);
        }
        h_burst_free(reqs, PER_ROUND);
    }
    free(reqs);
    h_server_stop(&srv);

    /* SQL's view */
    int64_t tickets = h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1");
    int64_t oversold = tickets > SEATS ? tickets - SEATS : 0;
    int64_t dup_customers =
        tickets - h_sql_int("SELECT count(DISTINCT customer_id) FROM ticket WHERE concert_id = 1");
    int64_t dup_seats =
        tickets - h_sql_int("SELECT count(DISTINCT seat_no) FROM ticket WHERE concert_id = 1");
    print_message("naive, %d purchasers x %d rounds on %d seats: %d answered 201, %" PRId64
                  " tickets, oversold %" PRId64 ", duplicate customers %" PRId64
                  ", duplicate seats %" PRId64 "\n",
                  PER_ROUND, ROUNDS, SEATS, created, tickets, oversold, dup_customers, dup_seats);
    H_EQ(tickets, created); /* every 201 is in PostgreSQL, and nothing else (R7 still holds) */
    H_TRUE(oversold > 0 || dup_customers > 0 || dup_seats > 0,
           "naive on the unguarded schema shows an anomaly; got %" PRId64 " tickets for %d seats, "
           "no duplicate customer or seat",
           tickets, SEATS);

    /* The lab's audit sees the same. */
    audit_concert c;
    audit_ticket *t = NULL;
    size_t m = 0;
    H_EQ(audit_load_concert(h_pg(), H_CONCERT, &c), TR_OK);
    H_EQ(audit_load_tickets(h_pg(), H_CONCERT, &t, &m), TR_OK);
    audit_report rep;
    memset(&rep, 0, sizeof rep);
    H_EQ(audit_tickets(t, m, c.total_seats, c.vip_seats, &rep), TR_OK);
    free(t);
    H_EQ(rep.tickets, tickets);
    H_EQ(rep.oversold, oversold);
    H_EQ(rep.duplicate_customers, dup_customers);
    H_EQ(rep.seat_duplicates, dup_seats);
    rep.count_drift = c.remaining - (c.total_seats - rep.tickets);
    H_TRUE(audit_has_anomalies(&rep), "the audit reports the anomalies");
}

/* SPEC §3: on the guarded schema the UNIQUE guards turn naive's races into refusals: no
 * customer twice, no seat twice, so no oversell either (seats stay in 1..N). */
static void naive_on_the_guarded_schema_cannot_oversell(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = SEATS, .vip = VIP, .customers = CUSTOMERS});
    h_server srv;
    h_server_start(&srv, "naive", 32, NULL);
    h_burst_req *reqs = calloc(PER_ROUND, sizeof *reqs);
    assert_non_null(reqs);
    int created = 0, busy = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < PER_ROUND; i++) {
            int k = i < DISTINCT ? i : i - DISTINCT;
            int64_t customer = (int64_t)((round * DISTINCT + k) % CUSTOMERS) + 1;
            reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, H_CONCERT, customer);
        }
        h_burst(srv.port, reqs, PER_ROUND, 30000);
        for (int i = 0; i < PER_ROUND; i++) {
            char code[32];
            h_resp_code(&reqs[i].resp, code, sizeof code);
            int st = reqs[i].resp.status;
            if (st == 201) {
                created++;
            } else if (st == 503 && strcmp(code, "busy") == 0) {
                char ra[16];
                H_TRUE(h_resp_header(&reqs[i].resp, "Retry-After", ra, sizeof ra),
                       "503 busy carries Retry-After; head:\n%s", reqs[i].resp.head);
                busy++;
            } else if (!(st == 409 &&
                         (strcmp(code, "sold_out") == 0 || strcmp(code, "already_owned") == 0))) {
                fail_msg("round %d request %d: %d %s, want 201, 409 sold_out/already_owned or "
                         "503 busy; body: %s",
                         round, i, st, code, reqs[i].resp.body);
            }
        }
        h_burst_free(reqs, PER_ROUND);
    }
    free(reqs);
    h_server_stop(&srv);

    int64_t tickets = h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1");
    int64_t remaining = h_sql_int("SELECT remaining FROM concert WHERE id = 1");
    print_message("naive on the guarded schema: %d answered 201, %d busy, %" PRId64
                  " tickets, remaining %" PRId64 " (R8 drift %" PRId64 ")\n",
                  created, busy, tickets, remaining, remaining - (SEATS - tickets));
    H_EQ(tickets, created);
    H_CMP(tickets, <=, SEATS);
    H_EQ(h_sql_int("SELECT count(DISTINCT customer_id) FROM ticket WHERE concert_id = 1"), tickets);
    H_EQ(h_sql_int("SELECT count(DISTINCT seat_no) FROM ticket WHERE concert_id = 1"), tickets);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM ticket WHERE seat_no < 1 OR seat_no > %d",
             SEATS);
    H_EQ(h_sql_int(sql), 0);
}

int main(void) {
    const h_test tests[] = {
        {"naive_oversells_and_duplicates_unguarded", naive_oversells_and_duplicates_unguarded,
         NULL},
        {"naive_on_the_guarded_schema_cannot_oversell", naive_on_the_guarded_schema_cannot_oversell,
         NULL},
    };
    return h_run_tests("naive_anomalies", tests, sizeof tests / sizeof tests[0]);
}
