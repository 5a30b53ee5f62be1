/* metrics.c — fixed Prometheus series behind metrics.h. */
#include "http/metrics.h"

#include <unistd.h>

#include <stdatomic.h>
#include <stdlib.h>

/* Statuses the API answers with (SPEC §2); anything else counts as "other". */
static const int statuses[] = {200, 201, 202, 400, 404, 405, 409, 413, 415, 431, 500, 503};
#define NSTATUS ((int)(sizeof statuses / sizeof statuses[0]) + 1)

/* Request duration buckets, seconds (le). */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5};
#define NBUCKETS ((int)(sizeof buckets / sizeof buckets[0]))

struct metrics {
    int nroutes;
    const char *patterns[METRICS_MAX_ROUTES];
    atomic_ullong requests[METRICS_MAX_ROUTES + 1][NSTATUS];
    atomic_ullong duration_bucket[METRICS_MAX_ROUTES + 1][NBUCKETS];
    atomic_ullong duration_count[METRICS_MAX_ROUTES + 1];
    atomic_ullong duration_sum_us[METRICS_MAX_ROUTES + 1];
    atomic_ullong purchases[TR_ERR__COUNT + 1];     /* last slot: queued */
    atomic_ullong batches, batched;                 /* purchase batches, and purchases in them */
    atomic_ullong handoffs[METRICS_HANDOFF__COUNT]; /* loop → worker, by metrics_handoff */
};

metrics *metrics_new(int nroutes, const char *const *route_patterns) {
    if (nroutes < 0 || nroutes > METRICS_MAX_ROUTES) return NULL;
    metrics *m = calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    m->nroutes = nroutes;
    for (int i = 0; i < nroutes; i++) m->patterns[i] = route_patterns[i];
    return m;
}

void metrics_free(metrics *m) { free(m); }

void metrics_request(metrics *m, int route, int status, int64_t duration_us) {
    if (m == NULL) return;
    int r = route >= 0 && route < m->nroutes ? route : m->nroutes;
    int k = NSTATUS - 1;
    for (int i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status) k = i;
    atomic_fetch_add_explicit(&m->requests[r][k], 1, memory_order_relaxed);
    double s = (double)duration_us / 1e6;
    for (int b = 0; b < NBUCKETS; b++)
        if (s <= buckets[b])
            atomic_fetch_add_explicit(&m->duration_bucket[r][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_count[r], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_sum_us[r],
                              (unsigned long long)(duration_us > 0 ? duration_us : 0),
                              memory_order_relaxed);
}

void metrics_purchase(metrics *m, tr_err outcome, int queued) {
    if (m == NULL || (int)outcome < 0 || outcome >= TR_ERR__COUNT) return;
    int k = outcome == TR_OK && queued ? TR_ERR__COUNT : (int)outcome;
    atomic_fetch_add_explicit(&m->purchases[k], 1, memory_order_relaxed);
}

void metrics_purchase_batch(metrics *m, int n) {
    if (m == NULL || n < 1) return;
    atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batched, (unsigned long long)n, memory_order_relaxed);
}

void metrics_loop_handoff(metrics *m, metrics_handoff why) {
    if (m == NULL || (int)why < 0 || why >= METRICS_HANDOFF__COUNT) return;
    atomic_fetch_add_explicit(&m->handoffs[why], 1, memory_order_relaxed);
}

static const char *route_label(const metrics *m, int r) {
    return r < m->nroutes ? m->patterns[r] : "unmatched";
}

bool metrics_render(const metrics *m, dynbuf *o, const char *strategy, const char *durability,
                    int workers, int suspended) {
    dynbuf_puts(o, "# HELP ticketrush_info The running server's purchase strategy and its "
                   "--durability (\"-\" for a strategy without durability modes).\n"
                   "# TYPE ticketrush_info gauge\n");
    dynbuf_printf(o, "ticketrush_info{strategy=\"%s\",durability=\"%s\"} 1\n", strategy,
                  durability ? durability : "-");
    dynbuf_puts(o, "# HELP ticketrush_process_id The server process's id (tells apart the "
                   "processes that share a port with serve --reuse-port).\n"
                   "# TYPE ticketrush_process_id gauge\n");
    dynbuf_printf(o, "ticketrush_process_id %ld\n", (long)getpid());
    dynbuf_puts(
        o, "# HELP ticketrush_http_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE ticketrush_http_requests_total counter\n");
    for (int r = 0; r <= m->nroutes; r++)
        for (int k = 0; k < NSTATUS; k++) {
            unsigned long long v = atomic_load_explicit(&m->requests[r][k], memory_order_relaxed);
            if (v == 0) continue;
            if (k < NSTATUS - 1)
                dynbuf_printf(o,
                              "ticketrush_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                              route_label(m, r), statuses[k], v);
            else
                dynbuf_printf(
                    o, "ticketrush_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                    route_label(m, r), v);
        }
    dynbuf_puts(
        o, "# HELP ticketrush_http_request_duration_seconds Time from the request's headers to "
           "its answer being queued.\n"
           "# TYPE ticketrush_http_request_duration_seconds histogram\n");
    for (int r = 0; r <= m->nroutes; r++) {
        unsigned long long count =
            atomic_load_explicit(&m->duration_count[r], memory_order_relaxed);
        if (count == 0) continue;
        for (int b = 0; b < NBUCKETS; b++)
            dynbuf_printf(
                o, "ticketrush_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                route_label(m, r), buckets[b],
                atomic_load_explicit(&m->duration_bucket[r][b], memory_order_relaxed));
        dynbuf_printf(
            o, "ticketrush_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            route_label(m, r), count);
        dynbuf_printf(o, "ticketrush_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                      route_label(m, r),
                      (double)atomic_load_explicit(&m->duration_sum_us[r], memory_order_relaxed) /
                          1e6);
        dynbuf_printf(o, "ticketrush_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                      route_label(m, r), count);
    }
    dynbuf_puts(o, "# HELP ticketrush_purchases_total Purchase outcomes (issued, queued, or the "
                   "refusal's error code).\n"
                   "# TYPE ticketrush_purchases_total counter\n");
    for (int k = 0; k <= TR_ERR__COUNT; k++) {
        unsigned long long v = atomic_load_explicit(&m->purchases[k], memory_order_relaxed);
        if (v == 0) continue;
        const char *name = k == TR_ERR__COUNT ? "queued"
                           : k == TR_OK       ? "issued"
                                              : tr_err_code((tr_err)k);
        dynbuf_printf(o, "ticketrush_purchases_total{outcome=\"%s\"} %llu\n", name, v);
    }
    unsigned long long batches = atomic_load_explicit(&m->batches, memory_order_relaxed);
    if (batches > 0) { /* only strategies that decide purchases in batches */
        dynbuf_puts(o, "# HELP ticketrush_purchase_batches_total Batches of purchases a worker "
                       "decided together.\n"
                       "# TYPE ticketrush_purchase_batches_total counter\n");
        dynbuf_printf(o, "ticketrush_purchase_batches_total %llu\n", batches);
        dynbuf_puts(o, "# HELP ticketrush_purchase_batched_total Purchases decided in those "
                       "batches.\n"
                       "# TYPE ticketrush_purchase_batched_total counter\n");
        dynbuf_printf(o, "ticketrush_purchase_batched_total %llu\n",
                      atomic_load_explicit(&m->batched, memory_order_relaxed));
    }
    dynbuf_puts(o, "# HELP ticketrush_loop_handoffs_total Purchases an event loop handed to a "
                   "worker: not_decided (the sale not loaded, or not synced on this run of "
                   "Redis), not_sent (no Redis connection).\n"
                   "# TYPE ticketrush_loop_handoffs_total counter\n");
    static const char *const why[METRICS_HANDOFF__COUNT] = {"not_decided", "not_sent"};
    for (int k = 0; k < METRICS_HANDOFF__COUNT; k++)
        dynbuf_printf(o, "ticketrush_loop_handoffs_total{reason=\"%s\"} %llu\n", why[k],
                      atomic_load_explicit(&m->handoffs[k], memory_order_relaxed));
    dynbuf_puts(o, "# HELP ticketrush_workers Request workers, each with its own connections.\n"
                   "# TYPE ticketrush_workers gauge\n");
    dynbuf_printf(o, "ticketrush_workers %d\n", workers);
    dynbuf_puts(
        o, "# HELP ticketrush_suspended_connections Connections waiting for a worker's answer.\n"
           "# TYPE ticketrush_suspended_connections gauge\n");
    dynbuf_printf(o, "ticketrush_suspended_connections %d\n", suspended);
    return !o->failed;
}
