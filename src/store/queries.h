/* queries.h — the reads every strategy and the HTTP layer share: a concert, a customer's ticket,
 * and why a purchase was refused. Not the purchase writes: those live in each strategy. */
#ifndef TR_QUERIES_H
#define TR_QUERIES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "store/pg.h"

/* A ticket as the API shows it (SPEC §2). Times are µs since the Unix epoch, UTC. */
typedef struct ticket {
    int64_t ticket_id;
    int64_t concert_id;
    int64_t customer_id;
    char customer_name[128];
    int32_t seat_no; /* 1..N (R3) */
    bool vip;        /* seat_no ≤ V (R4) */
    int64_t issued_at_us;
    int64_t concert_starts_at_us;
} ticket;

/* A concert row (SPEC §1) with R8's stored remaining count. */
typedef struct concert {
    int64_t id;
    char name[128];
    int64_t starts_at_us; /* sales close at this instant, µs since the epoch, UTC */
    int32_t total_seats;  /* N */
    int32_t vip_seats;    /* V */
    int32_t remaining;    /* stored count; N − remaining is "sold" */
} concert;

/* SQL fragment: a timestamptz as µs since the epoch (bigint). */
#define SQL_EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/* Reads a concert. TR_OK, TR_CONCERT_NOT_FOUND or TR_PG. */
tr_err q_concert_get(pg_conn *pg, int64_t concert_id, concert *out);

/* The ticket a customer holds for a concert. TR_OK with *found telling whether one exists;
 * TR_CONCERT_NOT_FOUND / TR_CUSTOMER_NOT_FOUND for unknown ids; TR_PG. */
tr_err q_ticket_of(pg_conn *pg, int64_t concert_id, int64_t customer_id, ticket *out, bool *found);

/* Why a purchase cannot succeed now, checked in the API's order: TR_CONCERT_NOT_FOUND,
 * TR_CUSTOMER_NOT_FOUND, TR_ALREADY_OWNED (owned is filled), TR_SALES_CLOSED (R5, by PostgreSQL
 * now()), TR_SOLD_OUT (remaining ≤ 0). TR_OK when nothing refuses it (the caller may retry);
 * TR_PG on failure. */
tr_err q_purchase_refusal(pg_conn *pg, int64_t concert_id, int64_t customer_id, ticket *owned);

/* Fills a ticket from result columns starting at col: id, concert_id, customer_id,
 * customer_name, seat_no, vip, issued_at_us, concert_starts_at_us. */
void q_ticket_from_row(const PGresult *r, int row, int col, ticket *out);

#endif
