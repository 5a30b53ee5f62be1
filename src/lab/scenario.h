/* scenario.h — SPEC §4's load scenarios (seed, scale, one-seat) and the deterministic draw of
 * the customer each request buys for. Not the seeding of the database (store/schema.h does
 * that; the scenario's numbers must match what was seeded). */
#ifndef TR_LAB_SCENARIO_H
#define TR_LAB_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab/record.h"

typedef enum {
    SCENARIO_DRAW_RANDOM,    /* each request: a customer uniform in 1..customers, repeats occur */
    SCENARIO_DRAW_EACH_ONCE, /* a shuffled sample without repeats (requests ≤ customers) */
} scenario_draw;

typedef struct scenario {
    const char *name;
    int32_t tickets; /* N */
    int32_t vip;     /* V */
    int64_t customers;
    int64_t requests;
    int32_t vus;
    scenario_draw draw;
} scenario;

/* The named scenario (static storage), or NULL. Names: "seed", "scale", "one-seat". */
const scenario *scenario_find(const char *name);

/* The i-th scenario of the table (static storage), i from 0; NULL past the last. */
const scenario *scenario_at(size_t i);

/* Comma-separated names for help texts, e.g. "seed, scale, one-seat". */
const char *scenario_names(void);

/* splitmix64 (Steele, Lea, Flood 2014): the next value of the stream whose state is *s. */
uint64_t scenario_splitmix64(uint64_t *s);

#define SCENARIO_EACH_ONCE_MAX_CUSTOMERS (1LL << 27) /* EACH_ONCE holds 8 bytes per customer */

/* Sets recs[i].customer_id for i in 0..n, deterministic for (customers, seed, draw): RANDOM is
 * uniform without modulo bias; EACH_ONCE is the first n of a Fisher–Yates shuffle of
 * 1..customers. Returns false (recs untouched) when customers < 1, when draw is EACH_ONCE and
 * n > customers or customers > SCENARIO_EACH_ONCE_MAX_CUSTOMERS, or when memory runs out. */
bool scenario_draw_customers(lab_record *recs, size_t n, int64_t customers, uint64_t seed,
                             scenario_draw draw);

#endif
