/* metrics.h — the server's Prometheus counters (GET /metrics, text exposition format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/). Lock-free atomics, safe from
 * any thread. Not a general metrics library: the series are fixed here. */
#ifndef TR_METRICS_H
#define TR_METRICS_H

#include <stdint.h>

#include "common/dynbuf.h"
#include "common/error.h"

#define METRICS_MAX_ROUTES 8

typedef struct metrics metrics;

/* Allocates zeroed counters for nroutes routes (≤ METRICS_MAX_ROUTES) plus "unmatched";
 * route_patterns are borrowed (static strings). NULL when out of memory. */
metrics *metrics_new(int nroutes, const char *const *route_patterns);
void metrics_free(metrics *m); /* NULL is a no-op */

/* One answered request: route index (-1 = unmatched), HTTP status, duration in µs. */
void metrics_request(metrics *m, int route, int status, int64_t duration_us);
/* One purchase outcome: TR_OK issued (queued when queued is true), or the refusal's code. */
void metrics_purchase(metrics *m, tr_err outcome, int queued);

/* One batch of n purchases decided together (strategy_purchase_batch). */
void metrics_purchase_batch(metrics *m, int n);

/* Why an event loop handed a one-script purchase to a worker (the slow path, which opens or
 * brings the sale forward): METRICS_HANDOFF_NOT_DECIDED, the script answered that the sale is not
 * loaded or not synced with PostgreSQL on this run of Redis (sale.h SALE_NOT_LOADED /
 * SALE_NOT_SYNCED: it wrote nothing); METRICS_HANDOFF_NOT_SENT, the loop could not send it (no
 * Redis connection). Shown as ticketrush_loop_handoffs_total{reason=...}. */
typedef enum metrics_handoff {
    METRICS_HANDOFF_NOT_DECIDED,
    METRICS_HANDOFF_NOT_SENT,
    METRICS_HANDOFF__COUNT
} metrics_handoff;
void metrics_loop_handoff(metrics *m, metrics_handoff why);

/* Appends the exposition text; gauges are passed in. durability: the strategy's --durability
 * ("fast", "strict", "replicated"), NULL for a strategy without durability modes, shown as "-"
 * in ticketrush_info's durability label. false when the buffer failed. */
bool metrics_render(const metrics *m, dynbuf *out, const char *strategy, const char *durability,
                    int workers, int suspended);

#endif
