/* schema.h — the ticketrush tables (SPEC §1) and the seeding of a scenario's data.
 * Guarded by default; the unguarded variant exists only so the lab can show what the unsafe
 * strategies really do (SPEC §3). Not a migration tool: schema_create drops and recreates. */
#ifndef TR_SCHEMA_H
#define TR_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "store/pg.h"

/* Drops and recreates concert, customer and ticket. guarded adds UNIQUE(concert_id,
 * customer_id) (R2), UNIQUE(concert_id, seat_no) (R3) and CHECK 0 ≤ remaining ≤ total_seats
 * (R1, R8). Errors: TR_PG (pg_conn_errstr says why). */
tr_err schema_create(pg_conn *c, bool guarded);

/* true when the ticket table carries the UNIQUE guards; TR_PG on failure. */
tr_err schema_is_guarded(pg_conn *c, bool *guarded);

/* One concert and its customers, as a scenario seeds them (SPEC §4). */
typedef struct seed_params {
    int64_t concert_id;   /* > 0 */
    int32_t total_seats;  /* N ≥ 0 */
    int32_t vip_seats;    /* 0 ≤ V ≤ N */
    int64_t customers;    /* ids 1..customers are created, named "customer-<id>"; ≥ 0 */
    int64_t sales_open_s; /* starts_at = PostgreSQL now() + this many seconds (may be ≤ 0) */
} seed_params;

/* Replaces the concert (deleting its tickets) and inserts the customers that are missing, in
 * one transaction (set-based INSERT … SELECT generate_series: 1,000,000 customers take seconds).
 * Errors: TR_INVALID_ARGUMENT for out-of-range params, TR_PG. */
tr_err schema_seed(pg_conn *c, const seed_params *p);

#endif
