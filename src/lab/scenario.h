/* scenario.h — SPEC §4's load scenarios (seed, scale, one-seat, festival) and the deterministic
 * draws of the customer each request buys for and, in a festival, of the concert it buys at. Not the seeding of the database (store/schema.h does
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
    int32_t concerts; /* concerts on sale at once, consecutive ids from the first; 1 but for
                         festival. tickets and vip are per concert */
    double zipf_s;    /* festival: the exponent s of the concert draw (scenario_draw_concerts);
                         0 when concerts == 1 */
} scenario;

#define SCENARIO_MAX_CONCERTS 100 /* a festival's concerts at most */
#define SCENARIO_FESTIVAL_ZIPF_S                                                                   \
    1.2 /* the festival's default exponent: with 30 concerts the
                                        headliner draws 32.6 % of the requests, the 2nd 14.2 %,
                                        the 30th 0.55 % */

/* The named scenario (static storage), or NULL. Names: "seed", "scale", "one-seat",
 * "festival". */
const scenario *scenario_find(const char *name);

/* The i-th scenario of the table (static storage), i from 0; NULL past the last. */
const scenario *scenario_at(size_t i);

/* Comma-separated names for help texts, e.g. "seed, scale, one-seat, festival". */
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

/* A festival's concert draw (SPEC §4, issue 11 §4): sets recs[i].concert_id for i in 0..n to
 * first_concert + k − 1 with probability k^−s ÷ Σ_{j=1..concerts} j^−s (a Zipf law truncated at
 * `concerts`): the first concert, the headliner, is the most likely and every other concert has
 * a long-tail share. s = 0 is uniform. Deterministic for (concerts, s, seed), and a stream apart
 * from scenario_draw_customers' with the same seed (the two draws are independent).
 * Returns false (recs untouched) when concerts is outside 1..SCENARIO_MAX_CONCERTS, first_concert
 * < 1 or too large for the ids to fit int64, or s is outside 0..10 or not a number. */
bool scenario_draw_concerts(lab_record *recs, size_t n, int64_t first_concert, int32_t concerts,
                            double s, uint64_t seed);

/* The probability scenario_draw_concerts gives the k-th concert (k from 1), for checks and
 * reports; 0 when k or concerts is out of range. */
double scenario_zipf_share(int32_t k, int32_t concerts, double s);

#endif
