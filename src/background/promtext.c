/* promtext.c — Prometheus text lines behind promtext.h. */
#include "background/promtext.h"

bool promtext_family(dynbuf *out, const char *name, const char *type, const char *help) {
    return dynbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

bool promtext_render(dynbuf *out, const promtext_sample *samples, int n) {
    for (int i = 0; i < n; i++) {
        promtext_family(out, samples[i].name, samples[i].type, samples[i].help);
        dynbuf_printf(out, "%s %.15g\n", samples[i].name, samples[i].value);
    }
    return !out->failed;
}
