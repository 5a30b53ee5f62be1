/* scenario.c — the scenario table and customer draw behind scenario.h. */
#include "lab/scenario.h"

#include <stdlib.h>
#include <string.h>

/* SPEC §4. scale does not say how customers are drawn; each once makes its 1,000,000 requests
 * 1,000,000 distinct buyers, the scale the name promises. */
static const scenario scenarios[] = {
    {"seed", 1000, 10, 10000, 50000, 200, SCENARIO_DRAW_RANDOM},
    {"scale", 100000, 100, 1000000, 1000000, 256, SCENARIO_DRAW_EACH_ONCE},
    {"one-seat", 1, 1, 50, 50, 50, SCENARIO_DRAW_EACH_ONCE},
};

const scenario *scenario_find(const char *name) {
    if (name == NULL) return NULL;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(scenarios[i].name, name) == 0) return &scenarios[i];
    return NULL;
}

const scenario *scenario_at(size_t i) {
    return i < sizeof scenarios / sizeof scenarios[0] ? &scenarios[i] : NULL;
}

const char *scenario_names(void) { return "seed, scale, one-seat"; }

uint64_t scenario_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound), bound ≥ 1, by rejecting the biased low values. */
static uint64_t uniform(uint64_t *s, uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound */
    for (;;) {
        uint64_t r = scenario_splitmix64(s);
        if (r >= threshold) return r % bound;
    }
}

bool scenario_draw_customers(lab_record *recs, size_t n, int64_t customers, uint64_t seed,
                             scenario_draw draw) {
    if (customers < 1) return false;
    uint64_t s = seed;
    if (draw == SCENARIO_DRAW_RANDOM) {
        for (size_t i = 0; i < n; i++)
            recs[i].customer_id = 1 + (int64_t)uniform(&s, (uint64_t)customers);
        return true;
    }
    if ((uint64_t)n > (uint64_t)customers || customers > SCENARIO_EACH_ONCE_MAX_CUSTOMERS)
        return false;
    int64_t *ids = malloc((size_t)customers * sizeof *ids);
    if (ids == NULL) return false;
    for (int64_t i = 0; i < customers; i++) ids[i] = i + 1;
    for (size_t i = 0; i < n; i++) { /* partial Fisher–Yates: ids[0..i] is the sample */
        size_t j = i + (size_t)uniform(&s, (uint64_t)customers - i);
        int64_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        recs[i].customer_id = ids[i];
    }
    free(ids);
    return true;
}
