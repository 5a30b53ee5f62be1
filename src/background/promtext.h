/* promtext.h — the background workers' series in Prometheus's text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): unlabelled samples from a table,
 * each with its "# HELP" and "# TYPE" lines. Not the server's /metrics (http/metrics.c), which
 * appends these after its own. */
#ifndef TR_PROMTEXT_H
#define TR_PROMTEXT_H

#include <stdbool.h>

#include "common/dynbuf.h"

typedef struct promtext_sample {
    const char *name; /* e.g. "ticketrush_persister_commits_total" (static) */
    const char *type; /* "counter" or "gauge" */
    const char *help; /* one sentence, no newline (static) */
    double value;     /* printed with 15 significant digits (integers exact below 10^15) */
} promtext_sample;

/* Appends "# HELP name help", "# TYPE name type" and "name value" for each of the n samples.
 * false when the buffer failed (out->failed). */
bool promtext_render(dynbuf *out, const promtext_sample *samples, int n);

/* Appends just the "# HELP" and "# TYPE" lines of one family, for labelled series the caller
 * writes itself. false when the buffer failed. */
bool promtext_family(dynbuf *out, const char *name, const char *type, const char *help);

#endif
