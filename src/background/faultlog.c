/* faultlog.c — failures counted by kind and told once per kind, behind faultlog.h. */
#include "background/faultlog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "background/promtext.h"

void faultlog_init(faultlog *f, const char *worker, const faultlog_kind *kinds, int nkinds,
                   faultlog_fn log, void *log_arg) {
    memset(f, 0, sizeof *f);
    f->worker = worker;
    f->kinds = kinds;
    f->nkinds = nkinds < FAULTLOG_MAX_KINDS ? nkinds : FAULTLOG_MAX_KINDS;
    f->log = log;
    f->log_arg = log_arg;
    for (int i = 0; i < f->nkinds; i++) atomic_init(&f->state[i].total, 0);
}

static void tell(const faultlog *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tell(const faultlog *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    f->log(f->log_arg, fmt, ap);
    va_end(ap);
}

/* One line: newlines and tabs (libpq ends its messages with one) become spaces, and trailing
 * spaces go. */
static void one_line(char *s) {
    for (char *c = s; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ') s[--n] = '\0';
}

void faultlog_fail(faultlog *f, int kind, int64_t n, int64_t now_ms, const char *fmt, ...) {
    if (kind < 0 || kind >= f->nkinds || n < 1) return;
    faultlog_state *s = &f->state[kind];
    atomic_fetch_add_explicit(&s->total, n, memory_order_relaxed);
    if (!s->failing) {
        s->failing = true;
        s->run_told = false;
        s->run_count = 0;
        s->run_start_ms = now_ms;
    }
    s->run_count += n;
    if (s->ever_told && now_ms - s->told_ms < FAULTLOG_REPEAT_MS) {
        s->untold += n;
        return;
    }
    if (f->log) {
        char detail[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        one_line(detail);
        const faultlog_kind *k = &f->kinds[kind];
        if (s->untold > 0)
            tell(f, "%s: %s: %s (%" PRId64 " %s in the last %" PRId64 " s)", f->worker, k->failing,
                 detail, s->untold + n, k->unit, (now_ms - s->told_ms) / 1000);
        else tell(f, "%s: %s: %s", f->worker, k->failing, detail);
    }
    s->ever_told = true;
    s->run_told = true;
    s->told_ms = now_ms;
    s->untold = 0;
}

void faultlog_ok(faultlog *f, int kind, int64_t now_ms) {
    if (kind < 0 || kind >= f->nkinds) return;
    faultlog_state *s = &f->state[kind];
    const faultlog_kind *k = &f->kinds[kind];
    if (!s->failing || k->recovered == NULL) return;
    s->failing = false;
    if (s->run_told && f->log)
        tell(f, "%s: %s (%" PRId64 " %s in %.1f s)", f->worker, k->recovered, s->run_count, k->unit,
             (double)(now_ms - s->run_start_ms) / 1000.0);
}

int64_t faultlog_total(const faultlog *f, int kind) {
    if (kind < 0 || kind >= f->nkinds) return 0;
    return atomic_load_explicit(&((faultlog *)f)->state[kind].total, memory_order_relaxed);
}

void faultlog_totals(const faultlog *f, int64_t *counts) {
    for (int k = 0; k < f->nkinds; k++) counts[k] = faultlog_total(f, k);
}

const char *faultlog_kind_name(const faultlog_kind *kinds, int nkinds, int kind) {
    return kind >= 0 && kind < nkinds ? kinds[kind].name : "unknown";
}

bool faultlog_render(dynbuf *out, const char *metric, const char *help, const faultlog_kind *kinds,
                     int nkinds, const int64_t *counts) {
    promtext_family(out, metric, "counter", help);
    for (int i = 0; i < nkinds; i++)
        dynbuf_printf(out, "%s{kind=\"%s\"} %" PRId64 "\n", metric, kinds[i].name, counts[i]);
    return !out->failed;
}
