/* scenario.c — the scenario table and customer draw behind scenario.h. */
#include "lab/scenario.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* SPEC §4. scale does not say how customers are drawn; each once makes its 1,000,000 requests
 * 1,000,000 distinct buyers, the scale the name promises. */
/* festival (issue 11 §4): 30 concerts of 500 seats (5 VIP, the study's 1 %) at once; 40,000
 * requests drawn over them by a Zipf law (s = 1.2: the headliner gets about 13,000 requests for
 * its 500 seats, the 30th concert about 220), each for a customer drawn at random from 20,000, so
 * most customers buy at two or more concerts and some ask twice at one. About a dozen concerts
 * sell out, the tail does not: both paths of every strategy run. Sized to take well under a
 * minute per strategy on 2 shared cores. */
static const scenario scenarios[] = {
    {"seed", 1000, 10, 10000, 50000, 200, SCENARIO_DRAW_RANDOM, 1, 0},
    {"scale", 100000, 100, 1000000, 1000000, 256, SCENARIO_DRAW_EACH_ONCE, 1, 0},
    {"one-seat", 1, 1, 50, 50, 50, SCENARIO_DRAW_EACH_ONCE, 1, 0},
    {"festival", 500, 5, 20000, 40000, 120, SCENARIO_DRAW_RANDOM, 30, SCENARIO_FESTIVAL_ZIPF_S},
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

const char *scenario_names(void) { return "seed, scale, one-seat, festival"; }

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

double scenario_zipf_share(int32_t k, int32_t concerts, double s) {
    if (concerts < 1 || concerts > SCENARIO_MAX_CONCERTS || k < 1 || k > concerts || !(s >= 0))
        return 0;
    double sum = 0;
    for (int32_t j = 1; j <= concerts; j++) sum += pow((double)j, -s);
    return pow((double)k, -s) / sum;
}

bool scenario_draw_concerts(lab_record *recs, size_t n, int64_t first_concert, int32_t concerts,
                            double s, uint64_t seed) {
    if (concerts < 1 || concerts > SCENARIO_MAX_CONCERTS || first_concert < 1 ||
        first_concert > INT64_MAX - concerts || !(s >= 0 && s <= 10))
        return false;
    double cdf[SCENARIO_MAX_CONCERTS];
    double sum = 0;
    for (int32_t k = 0; k < concerts; k++) {
        sum += pow((double)(k + 1), -s);
        cdf[k] = sum;
    }
    /* A stream of its own: the customer draw with the same seed starts at seed itself. */
    uint64_t st = seed ^ 0x6a09e667f3bcc908ULL;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(scenario_splitmix64(&st) >> 11) * 0x1.0p-53 * sum; /* [0, sum) */
        int32_t lo = 0, hi = concerts - 1; /* the first k with cdf[k] > u */
        while (lo < hi) {
            int32_t mid = lo + (hi - lo) / 2;
            if (cdf[mid] > u) hi = mid;
            else lo = mid + 1;
        }
        recs[i].concert_id = first_concert + lo;
    }
    return true;
}
