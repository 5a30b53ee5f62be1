/* report.c — the HTML report behind report.h. Plain fprintf of HTML and SVG: every chart is a
 * few hundred elements drawn from numbers computed here (buckets, bins, ranks) or by the audit
 * (percentiles, R1–R8 counts, outcomes), never a rule re-checked. Machine-readable copies of the
 * audit's numbers ride along as data-* attributes, so tests can compare them with the run file. */
#include "lab/report.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* --- the study and SPEC §3 ----------------------------------------------------------- */

static const report_study_row rp_study[] = {
    {"naive", "no Redis (read-modify-write in the DB)", 30000, "oversold, duplicate purchases"},
    {"redis-lock", "Redis distributed lock per concert (wait 2 s, lease 3 s)", 75,
     "counts right; not FCFS; early requesters fail on lock wait"},
    {"redis-lock-cache", "lock + concert/ticket count cached in Redis", 6000,
     "counts right; not FCFS"},
    {"redis-zset", "Redis sorted-set waiting line + scheduler issuing 10/s", 100000,
     "FCFS, counts right; issuance deferred (admission only)"},
};

enum { RP_NRULES = 8, RP_ALL_RULES = 0xff, RP_R6 = 1 << 5 };

/* What SPEC §3 promises per strategy, as a mask of rules (bit k = R(k+1)). */
typedef struct rp_promise {
    const char *strategy;
    unsigned rules;
    const char *text;
} rp_promise;

static const rp_promise rp_promises[] = {
    {"naive", 0, "nothing: wrong under load"},
    {"db-lock", RP_ALL_RULES, "R1-R8"},
    {"db-atomic", RP_ALL_RULES, "R1-R8"},
    {"db-batch", RP_ALL_RULES, "R1-R8"},
    {"redis-lock", RP_ALL_RULES & ~RP_R6, "R1-R5, R7, R8 (not FCFS)"},
    {"redis-lock-cache", RP_ALL_RULES & ~RP_R6, "R1-R5, R7, R8 (not FCFS)"},
    {"redis-zset", RP_ALL_RULES, "R1-R8"},
    {"redis-atomic", RP_ALL_RULES, "R1-R8"},
};

/* The strategy's base name: the leading run of [a-z0-9-] ("redis-lock/jmeter" → "redis-lock"). */
static void rp_base(const char *label, char *buf, size_t len) {
    size_t i = 0;
    for (; label[i] && i + 1 < len; i++) {
        char c = label[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) break;
        buf[i] = c;
    }
    buf[i] = '\0';
}

const report_study_row *report_study_for(const char *strategy) {
    char base[64];
    rp_base(strategy, base, sizeof base);
    for (size_t i = 0; i < sizeof rp_study / sizeof rp_study[0]; i++)
        if (strcmp(rp_study[i].strategy, base) == 0) return &rp_study[i];
    return NULL;
}

static const rp_promise *rp_promise_for(const char *strategy) {
    char base[64];
    rp_base(strategy, base, sizeof base);
    for (size_t i = 0; i < sizeof rp_promises / sizeof rp_promises[0]; i++)
        if (strcmp(rp_promises[i].strategy, base) == 0) return &rp_promises[i];
    return NULL;
}

/* --- ceilings ------------------------------------------------------------------------ */

static bool rp_ceiling_add(report_ceiling *out, size_t cap, size_t *n, const char *label,
                           double per_min) {
    if (*n >= cap || !(per_min > 0) || !isfinite(per_min)) return false;
    snprintf(out[*n].label, sizeof out[*n].label, "%s", label);
    out[*n].requests_per_min = per_min;
    (*n)++;
    return true;
}

/* "answered N in S s: R <unit>/s, M <unit>/min": M, when line has that form. */
static bool rp_answered_line(const char *line, const char *unit, double *per_min) {
    if (strncmp(line, "answered ", 9) != 0) return false;
    const char *p = strstr(line, " s: ");
    if (p == NULL) return false;
    char *end = NULL;
    strtod(p + 4, &end);
    char want[32];
    snprintf(want, sizeof want, " %s/s, ", unit);
    if (end == p + 4 || strncmp(end, want, strlen(want)) != 0) return false;
    p = end + strlen(want);
    double v = strtod(p, &end);
    snprintf(want, sizeof want, " %s/min", unit);
    if (end == p || strncmp(end, want, strlen(want)) != 0) return false;
    *per_min = v;
    return true;
}

size_t report_parse_ceilings(const char *text, report_ceiling *out, size_t cap) {
    size_t n = 0;
    char target[64] = "GET /livez";
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        double per_min;
        const char *p;
        if (rp_answered_line(buf, "requests", &per_min)) {
            char label[REPORT_CEILING_LABEL_LEN];
            snprintf(label, sizeof label, "ticketrush load generator, %s", target);
            rp_ceiling_add(out, cap, &n, label, per_min);
        } else if (rp_answered_line(buf, "calls", &per_min)) {
            rp_ceiling_add(out, cap, &n, "purchase script alone in Redis", per_min);
        } else if ((p = strstr(buf, "Requests/sec:")) != NULL) {
            char *e = NULL;
            double per_s = strtod(p + 13, &e);
            if (e != p + 13) {
                char label[REPORT_CEILING_LABEL_LEN];
                snprintf(label, sizeof label, "wrk, %s", target);
                rp_ceiling_add(out, cap, &n, label, per_s * 60.0);
            }
        } else if (strncmp(buf, "ceiling: ", 9) == 0) {
            /* "ceiling: GET /livez on …": the endpoint, for the labels that follow. */
            const char *q = buf + 9, *on = strstr(q, " on ");
            size_t tl = on ? (size_t)(on - q) : strlen(q);
            if (tl >= sizeof target) tl = sizeof target - 1;
            memcpy(target, q, tl);
            target[tl] = '\0';
        }
        line = end ? end + 1 : NULL;
    }
    return n;
}

size_t report_combine_ceilings(report_ceiling *c, size_t n, size_t cap) {
    const report_ceiling *l = NULL, *s = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(c[i].label, "ticketrush load generator, GET /livez", 37) == 0 && l == NULL)
            l = &c[i];
        if (strcmp(c[i].label, "purchase script alone in Redis") == 0 && s == NULL) s = &c[i];
        if (strncmp(c[i].label, "combined", 8) == 0) return n;
    }
    if (l == NULL || s == NULL) return n;
    double combined = 1.0 / (1.0 / l->requests_per_min + 1.0 / s->requests_per_min);
    rp_ceiling_add(c, cap, &n, "combined 1/(1/livez + 1/script)", combined);
    return n;
}

/* --- computations -------------------------------------------------------------------- */

tr_err report_buckets(const lab_record *recs, size_t n, int64_t **answered, int64_t **tickets,
                      int64_t **queued, size_t *nbuckets) {
    *answered = *tickets = *queued = NULL;
    *nbuckets = 0;
    int64_t last = -1;
    for (size_t i = 0; i < n; i++)
        if (lab_record_answered(&recs[i]) && recs[i].done_us >= 0 && recs[i].done_us > last)
            last = recs[i].done_us;
    if (last < 0) return TR_OK;
    size_t nb = (size_t)(last / 1000000) + 1;
    int64_t *a = calloc(nb, sizeof *a), *t = calloc(nb, sizeof *t), *q = calloc(nb, sizeof *q);
    if (a == NULL || t == NULL || q == NULL) {
        free(a);
        free(t);
        free(q);
        return TR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const lab_record *r = &recs[i];
        if (!lab_record_answered(r) || r->done_us < 0) continue;
        size_t k = (size_t)(r->done_us / 1000000);
        a[k]++;
        t[k] += r->status == 201;
        q[k] += r->status == 202;
    }
    *answered = a;
    *tickets = t;
    *queued = q;
    *nbuckets = nb;
    return TR_OK;
}

/* --- writing helpers ----------------------------------------------------------------- */

typedef struct rp {
    FILE *f;
    bool failed; /* sticky: a write failed */
} rp;

__attribute__((format(printf, 2, 3))) static void out(rp *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(w->f, fmt, ap) < 0) w->failed = true;
    va_end(ap);
}

/* s with &, <, >, " and ' escaped, for text and attribute values alike. */
static void esc(rp *w, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': out(w, "&amp;"); break;
        case '<': out(w, "&lt;"); break;
        case '>': out(w, "&gt;"); break;
        case '"': out(w, "&quot;"); break;
        case '\'': out(w, "&#39;"); break;
        default:
            if (fputc(*s, w->f) == EOF) w->failed = true;
        }
    }
}

typedef struct numbuf {
    char s[64];
} numbuf;

/* 1234567 → "1,234,567". */
static numbuf fmt_int(int64_t v) {
    numbuf b;
    char raw[32];
    snprintf(raw, sizeof raw, "%" PRId64, v);
    const char *digits = raw[0] == '-' ? raw + 1 : raw;
    size_t nd = strlen(digits), o = 0;
    if (raw[0] == '-') b.s[o++] = '-';
    for (size_t i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) b.s[o++] = ',';
        b.s[o++] = digits[i];
    }
    b.s[o] = '\0';
    return b;
}

/* A rate or count for people: thousands separators; one decimal below 100. */
static numbuf fmt_num(double v) {
    numbuf b;
    if (!isfinite(v)) {
        snprintf(b.s, sizeof b.s, "-");
        return b;
    }
    if (fabs(v) >= 100 || v == floor(v)) return fmt_int((int64_t)llround(v));
    snprintf(b.s, sizeof b.s, "%.1f", v);
    return b;
}

/* µs → "850 µs", "12.3 ms", "2.41 s"; "-" when negative (never). */
static numbuf fmt_us(int64_t us) {
    numbuf b;
    if (us < 0) snprintf(b.s, sizeof b.s, "-");
    else if (us < 1000) snprintf(b.s, sizeof b.s, "%" PRId64 " µs", us);
    else if (us < 100000) snprintf(b.s, sizeof b.s, "%.2f ms", (double)us / 1e3);
    else if (us < 1000000) snprintf(b.s, sizeof b.s, "%.1f ms", (double)us / 1e3);
    else snprintf(b.s, sizeof b.s, "%.2f s", (double)us / 1e6);
    return b;
}

/* A ratio: "×0.042", "×3.2", "×1,250". */
static numbuf fmt_ratio(double r) {
    numbuf b;
    if (!isfinite(r) || r <= 0) snprintf(b.s, sizeof b.s, "-");
    else if (r >= 100) snprintf(b.s, sizeof b.s, "×%.40s", fmt_int((int64_t)llround(r)).s);
    else if (r >= 10) snprintf(b.s, sizeof b.s, "×%.1f", r);
    else if (r >= 0.1) snprintf(b.s, sizeof b.s, "×%.2f", r);
    else if (r >= 0.001) snprintf(b.s, sizeof b.s, "×%.3f", r);
    else snprintf(b.s, sizeof b.s, "×%.1e", r);
    return b;
}

/* A step of 1, 2 or 5 × 10^k near range / target. */
static double nice_step(double range, int target) {
    if (!(range > 0)) return 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double s = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return s * mag;
}

/* --- chart frame --------------------------------------------------------------------- */

enum { CH_W = 600, CH_H = 250, CH_L = 60, CH_R = 56, CH_T = 16, CH_B = 42 };
#define PLOT_W ((double)(CH_W - CH_L - CH_R))
#define PLOT_H ((double)(CH_H - CH_T - CH_B))

static void svg_open_w(rp *w, const char *kind, int width, int height, const char *label) {
    out(w,
        "<svg class=\"chart %s\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
        "role=\"img\" aria-label=\"",
        kind, width, height);
    esc(w, label);
    out(w, "\">\n");
}

static void svg_open(rp *w, const char *kind, int height, const char *label) {
    svg_open_w(w, kind, CH_W, height, label);
}

/* Horizontal grid lines and labels of a linear y axis 0..ymax on the left (right: on the right). */
static void y_axis(rp *w, double ymax, double step, bool right, const char *title) {
    int x = right ? CH_W - CH_R : CH_L;
    out(w, "<g class=\"axis\">");
    for (double v = 0; v <= ymax + step / 2; v += step) {
        double y = CH_T + PLOT_H * (1 - v / ymax);
        if (!right)
            out(w, "<line class=\"gridline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", CH_L,
                CH_W - CH_R, y, y);
        out(w, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"%s\" dy=\"0.32em\">%s</text>",
            right ? x + 6 : x - 6, y, right ? "start" : "end", fmt_num(v).s);
    }
    out(w,
        "<text class=\"axis-title\" transform=\"translate(%d %.1f) rotate(-90)\" "
        "text-anchor=\"middle\">",
        right ? CH_W - 8 : 12, CH_T + PLOT_H / 2);
    esc(w, title);
    out(w, "</text></g>\n");
}

static void x_title(rp *w, int height, const char *title) {
    out(w, "<text class=\"axis-title\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
        CH_L + PLOT_W / 2, height - 6);
    esc(w, title);
    out(w, "</text>\n");
}

/* A tick under the plot at x, labelled. */
static void x_tick(rp *w, double x, const char *label) {
    out(w,
        "<line class=\"tick\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
        x, x, CH_T + PLOT_H, CH_T + PLOT_H + 4, x, CH_T + PLOT_H + 16, label);
}

static void baseline(rp *w) {
    out(w, "<line class=\"baseline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>\n", CH_L,
        CH_W - CH_R, CH_T + PLOT_H, CH_T + PLOT_H);
}

/* --- throughput over time ------------------------------------------------------------ */

static tr_err chart_throughput(rp *w, const lab_run *run) {
    int64_t *a = NULL, *t = NULL, *q = NULL;
    size_t nb = 0;
    tr_err rc = report_buckets(run->records, run->nrecords, &a, &t, &q, &nb);
    if (rc != TR_OK) return rc;
    svg_open(w, "chart-throughput", CH_H, "answers and tickets per second");
    if (nb == 0) {
        out(w, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no answers</text></svg>\n", CH_W / 2,
            CH_H / 2);
        return TR_OK;
    }
    int64_t amax = 1, tmax = 0;
    bool any_queued = false;
    for (size_t k = 0; k < nb; k++) {
        if (a[k] > amax) amax = a[k];
        if (t[k] > tmax) tmax = t[k];
        if (q[k] > tmax) tmax = q[k];
        any_queued |= q[k] > 0;
    }
    double ystep = nice_step((double)amax, 5), ymax = ceil((double)amax / ystep) * ystep;
    double tstep = nice_step(tmax > 0 ? (double)tmax : 1, 5);
    double tymax = ceil((tmax > 0 ? (double)tmax : 1) / tstep) * tstep;
    y_axis(w, ymax, ystep, false, "answers / s");
    y_axis(w, tymax, tstep, true, any_queued ? "tickets, queued / s" : "tickets / s");

    double bw = PLOT_W / (double)nb, gap = bw > 6 ? bw * 0.15 : 0;
    out(w, "<g class=\"bars\">");
    for (size_t k = 0; k < nb; k++) {
        double h = PLOT_H * (double)a[k] / ymax;
        out(w,
            "<rect class=\"bar-all\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
            "data-second=\"%zu\" data-answered=\"%" PRId64 "\" data-tickets=\"%" PRId64
            "\"><title>second %zu: %s answers, %s tickets",
            CH_L + bw * (double)k + gap / 2, CH_T + PLOT_H - h, bw - gap, h, k, a[k], t[k], k,
            fmt_int(a[k]).s, fmt_int(t[k]).s);
        if (q[k]) out(w, ", %s queued", fmt_int(q[k]).s);
        out(w, "</title></rect>");
    }
    out(w, "</g>\n");
    /* Tickets (and queued admissions) per second on the right axis, as lines with dots. */
    for (int series = 0; series < (any_queued ? 2 : 1); series++) {
        const int64_t *s = series == 0 ? t : q;
        const char *cls = series == 0 ? "ok" : "queued";
        out(w, "<polyline class=\"line-%s\" points=\"", cls);
        for (size_t k = 0; k < nb; k++)
            out(w, "%s%.2f,%.2f", k ? " " : "", CH_L + bw * ((double)k + 0.5),
                CH_T + PLOT_H * (1 - (double)s[k] / tymax));
        out(w, "\"/>\n");
        if (nb <= 120) {
            out(w, "<g class=\"dots-%s\">", cls);
            for (size_t k = 0; k < nb; k++)
                out(w, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.6\"/>", CH_L + bw * ((double)k + 0.5),
                    CH_T + PLOT_H * (1 - (double)s[k] / tymax));
            out(w, "</g>\n");
        }
    }
    baseline(w);
    /* x ticks: whole seconds, a nice step apart. */
    double xstep = nice_step((double)nb, 8);
    if (xstep < 1) xstep = 1;
    out(w, "<g class=\"axis\">");
    for (double s = 0; s <= (double)nb + 1e-9; s += xstep) {
        double x = CH_L + bw * s;
        x_tick(w, x, fmt_num(s).s);
    }
    out(w, "</g>\n");
    x_title(w, CH_H, "seconds since the first request (1-second buckets, by completion)");
    out(w, "</svg>\n");
    free(a);
    free(t);
    free(q);
    return TR_OK;
}

/* --- latency histogram --------------------------------------------------------------- */

enum { LAT_BINS_PER_DECADE = 5, LAT_MAX_DECADES = 9 };

static tr_err chart_latency(rp *w, const lab_run *run) {
    const audit_latency *L = &run->audit.latency;
    int64_t lo_v = INT64_MAX, hi_v = -1;
    for (size_t i = 0; i < run->nrecords; i++) {
        const lab_record *r = &run->records[i];
        int64_t v = lab_record_latency_us(r);
        if (!lab_record_answered(r) || v < 0) continue;
        if (v < 1) v = 1;
        if (v < lo_v) lo_v = v;
        if (v > hi_v) hi_v = v;
    }
    svg_open(w, "chart-latency", CH_H, "latency histogram with p50, p90 and p99");
    if (hi_v < 0) {
        out(w, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no answers</text></svg>\n", CH_W / 2,
            CH_H / 2);
        return TR_OK;
    }
    int d0 = (int)floor(log10((double)lo_v)), d1 = (int)floor(log10((double)hi_v)) + 1;
    if (d1 - d0 < 2) d1 = d0 + 2;
    if (d1 - d0 > LAT_MAX_DECADES) d0 = d1 - LAT_MAX_DECADES;
    int nbins = (d1 - d0) * LAT_BINS_PER_DECADE;
    int64_t bins[LAT_MAX_DECADES * LAT_BINS_PER_DECADE] = {0};
    for (size_t i = 0; i < run->nrecords; i++) {
        const lab_record *r = &run->records[i];
        int64_t v = lab_record_latency_us(r);
        if (!lab_record_answered(r) || v < 0) continue;
        if (v < 1) v = 1;
        int b = (int)floor((log10((double)v) - d0) * LAT_BINS_PER_DECADE);
        if (b < 0) b = 0;
        if (b >= nbins) b = nbins - 1;
        bins[b]++;
    }
    int64_t bmax = 1;
    for (int b = 0; b < nbins; b++)
        if (bins[b] > bmax) bmax = bins[b];
    double ystep = nice_step((double)bmax, 5), ymax = ceil((double)bmax / ystep) * ystep;
    y_axis(w, ymax, ystep, false, "answers");
    double bw = PLOT_W / nbins;
    out(w, "<g class=\"bars\">");
    for (int b = 0; b < nbins; b++) {
        double from = pow(10, d0 + (double)b / LAT_BINS_PER_DECADE);
        double to = pow(10, d0 + (double)(b + 1) / LAT_BINS_PER_DECADE);
        double h = PLOT_H * (double)bins[b] / ymax;
        out(w,
            "<rect class=\"bar-lat\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
            "data-count=\"%" PRId64 "\"><title>%s to %s: %s answers</title></rect>",
            CH_L + bw * b + 1, CH_T + PLOT_H - h, bw - 2, h, bins[b], fmt_us((int64_t)from).s,
            fmt_us((int64_t)to).s, fmt_int(bins[b]).s);
    }
    out(w, "</g>\n");
    baseline(w);
    /* Decades on the x axis. */
    out(w, "<g class=\"axis\">");
    for (int d = d0; d <= d1; d++) {
        double x = CH_L + PLOT_W * (double)(d - d0) / (d1 - d0);
        x_tick(w, x, fmt_us((int64_t)llround(pow(10, d))).s);
    }
    out(w, "</g>\n");
    /* The audit's percentiles as markers. */
    struct {
        const char *name;
        int64_t v;
    } marks[] = {{"p50", L->p50}, {"p90", L->p90}, {"p99", L->p99}};
    for (int i = 0; i < 3; i++) {
        if (marks[i].v < 0) continue;
        double v = marks[i].v < 1 ? 1 : (double)marks[i].v;
        double x = CH_L + PLOT_W * (log10(v) - d0) / (d1 - d0);
        if (x > CH_W - CH_R) x = CH_W - CH_R;
        out(w,
            "<g class=\"mark\" data-key=\"%s_us\" data-value=\"%" PRId64 "\">"
            "<title>%s %s</title><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\"/>"
            "<text x=\"%.1f\" y=\"%d\">%s</text></g>\n",
            marks[i].name, marks[i].v, marks[i].name, fmt_us(marks[i].v).s, x, x, CH_T,
            CH_T + PLOT_H, x + 3, CH_T + 10 + 12 * i, marks[i].name);
    }
    x_title(w, CH_H, "latency (log scale, 5 bins per decade)");
    out(w, "</svg>\n");
    return TR_OK;
}

/* --- log-log helpers for the spectrum and the sweep ------------------------------------- */

/* Decades lo..hi (powers of ten) around [vmin, vmax], at least one decade apart. */
static void log_range(double vmin, double vmax, double *lo, double *hi) {
    if (!(vmin > 0)) vmin = 1;
    if (!(vmax >= vmin)) vmax = vmin;
    *lo = pow(10, floor(log10(vmin)));
    *hi = pow(10, ceil(log10(vmax * 1.0001)));
    if (*hi / *lo < 10) *hi = *lo * 10;
}

static double log_pos(double v, double lo, double hi, double from, double len) {
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return from + len * (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
}

/* A power of ten of µs for an axis: "100 µs", "10 ms", "1 s". */
static numbuf fmt_decade_us(double us) {
    numbuf b;
    if (us >= 1e6) snprintf(b.s, sizeof b.s, "%g s", us / 1e6);
    else if (us >= 1e3) snprintf(b.s, sizeof b.s, "%g ms", us / 1e3);
    else snprintf(b.s, sizeof b.s, "%g µs", us);
    return b;
}

/* A log-scale latency axis on the left: a gridline and a label per decade. */
static void y_axis_log_us(rp *w, double lo, double hi, const char *title) {
    out(w, "<g class=\"axis\">");
    for (double d = lo; d <= hi * 1.001; d *= 10) {
        double y = CH_T + PLOT_H - log_pos(d, lo, hi, 0, PLOT_H);
        out(w,
            "<line class=\"gridline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dy=\"0.32em\">%s</text>",
            CH_L, CH_W - CH_R, y, y, CH_L - 6, y, fmt_decade_us(d).s);
    }
    out(w,
        "<text class=\"axis-title\" transform=\"translate(12 %.1f) rotate(-90)\" "
        "text-anchor=\"middle\">",
        CH_T + PLOT_H / 2);
    esc(w, title);
    out(w, "</text></g>\n");
}

/* --- percentile spectrum ---------------------------------------------------------------- */

enum { SP_XMAX = 5 }; /* the x axis ends at 99.999 % */

/* x of percentile p on the spectrum's axis: log10(1 / (1 − p)). */
static double sp_x(double p) { return p >= 100 ? SP_XMAX : fmin(SP_XMAX, -log10(1 - p / 100)); }

static tr_err chart_spectrum(rp *w, const lab_run *r) {
    static const char *const names[3] = {"all answers", "winners (201/202)", "losers (409/503)"};
    static const char *const cls[3] = {"sp-all", "sp-win", "sp-lose"};
    static const double marks[] = {50, 90, 99, 99.9, 99.99};
    lab_hist *own = NULL;
    const lab_hist *h[3] = {&r->lat_all, &r->lat_win, &r->lat_lose};
    if (!r->has_hist) {
        if ((own = malloc(3 * sizeof *own)) == NULL) return TR_NOMEM;
        runfile_histograms_of(r->records, r->nrecords, &own[0], &own[1], &own[2]);
        h[0] = &own[0], h[1] = &own[1], h[2] = &own[2];
    }
    svg_open(w, "chart-spectrum", CH_H, "latency by percentile, all answers, winners and losers");
    if (h[0]->count == 0) {
        out(w, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no answers</text></svg>\n", CH_W / 2,
            CH_H / 2);
        free(own);
        return TR_OK;
    }
    double vmin = INFINITY, vmax = 1, xmax = 2;
    for (int k = 0; k < 3; k++) {
        if (h[k]->count == 0) continue;
        vmin = fmin(vmin, h[k]->min < 1 ? 1 : (double)h[k]->min);
        vmax = fmax(vmax, (double)h[k]->max);
        xmax = fmax(xmax, fmin(SP_XMAX, ceil(log10((double)h[k]->count))));
    }
    double lo, hi;
    log_range(vmin, vmax, &lo, &hi);
    y_axis_log_us(w, lo, hi, "latency (log scale)");
    for (int k = 0; k < 3; k++) {
        const lab_hist *x = h[k];
        if (x->count == 0) continue;
        double xs = fmin(SP_XMAX, log10((double)x->count)); /* past it, too few answers */
        out(w, "<g class=\"%s\" data-series=\"%s\" data-count=\"%" PRId64 "\"><polyline points=\"",
            cls[k], cls[k] + 3, x->count);
        for (double t = 0; t <= xs + 1e-9; t += 0.05) {
            double v = (double)lab_hist_percentile(x, 100 * (1 - pow(10, -t)));
            out(w, "%s%.1f,%.1f", t > 0 ? " " : "", CH_L + PLOT_W * t / xmax,
                CH_T + PLOT_H - log_pos(v < 1 ? 1 : v, lo, hi, 0, PLOT_H));
        }
        out(w, " %.1f,%.1f\"/>", CH_L + PLOT_W * xs / xmax,
            CH_T + PLOT_H - log_pos(x->max < 1 ? 1 : (double)x->max, lo, hi, 0, PLOT_H));
        for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++) {
            if (sp_x(marks[m]) > xs + 1e-9) break;
            int64_t v = lab_hist_percentile(x, marks[m]);
            out(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"><title>%s p%g: %s</title></circle>",
                CH_L + PLOT_W * sp_x(marks[m]) / xmax,
                CH_T + PLOT_H - log_pos(v < 1 ? 1 : (double)v, lo, hi, 0, PLOT_H), names[k],
                marks[m], fmt_us(v).s);
        }
        out(w, "</g>\n");
    }
    baseline(w);
    static const char *const ticks[SP_XMAX + 1] = {"0%",    "90%",    "99%",
                                                   "99.9%", "99.99%", "99.999%"};
    out(w, "<g class=\"axis\">");
    for (int t = 0; t <= (int)xmax; t++) {
        double x = CH_L + PLOT_W * t / xmax;
        x_tick(w, x, ticks[t]);
    }
    out(w, "</g>\n");
    x_title(w, CH_H, "percentile (log scale of 1/(1 − p))");
    out(w, "</svg>\n");
    free(own);
    return TR_OK;
}

/* --- open-loop sweep: latency against offered rate -------------------------------------- */

#define SWEEP_MAX_LINES 8

static int cmp_rate(const void *x, const void *y) {
    const lab_run *a = *(const lab_run *const *)x, *b = *(const lab_run *const *)y;
    int c = strcmp(a->strategy, b->strategy);
    if (c) return c;
    return a->open_loop.rate < b->open_loop.rate ? -1 : a->open_loop.rate > b->open_loop.rate;
}

/* The p99 a sweep point shows: the winners' when there are any, else every answer's. */
static int64_t sweep_p99(const lab_run *r) {
    return r->lat_win.count > 0 ? lab_hist_percentile(&r->lat_win, 99)
                                : lab_hist_percentile(&r->lat_all, 99);
}

/* The open-loop runs that carry histograms, sorted by strategy then rate, into *out (malloc'd,
 * caller frees); their count. */
static size_t sweep_runs(const lab_run *runs, size_t n, const lab_run ***out) {
    *out = malloc((n ? n : 1) * sizeof **out);
    if (*out == NULL) return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (runs[i].open_loop.rate > 0 && runs[i].has_hist && runs[i].lat_all.count > 0)
            (*out)[k++] = &runs[i];
    qsort(*out, k, sizeof **out, cmp_rate);
    return k;
}

static void chart_sweep(rp *w, const lab_run *const *pts, size_t k) {
    double rmin = INFINITY, rmax = 0, vmin = INFINITY, vmax = 1;
    for (size_t i = 0; i < k; i++) {
        double v = (double)sweep_p99(pts[i]);
        rmin = fmin(rmin, pts[i]->open_loop.rate), rmax = fmax(rmax, pts[i]->open_loop.rate);
        vmin = fmin(vmin, v < 1 ? 1 : v), vmax = fmax(vmax, v);
    }
    double xlo, xhi, lo, hi;
    log_range(rmin, rmax, &xlo, &xhi);
    log_range(vmin, vmax, &lo, &hi);
    svg_open(w, "chart-sweep", CH_H, "p99 latency against offered rate, one line per strategy");
    y_axis_log_us(w, lo, hi, "p99 latency (log scale)");
    int line = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i;
        while (j < k && strcmp(pts[j]->strategy, pts[i]->strategy) == 0) j++;
        out(w, "<g class=\"sweep-line s%d\" data-strategy=\"", line % SWEEP_MAX_LINES);
        esc(w, pts[i]->strategy);
        out(w, "\"><polyline points=\"");
        for (size_t q = i; q < j; q++) {
            double v = (double)sweep_p99(pts[q]);
            out(w, "%s%.1f,%.1f", q > i ? " " : "",
                log_pos(pts[q]->open_loop.rate, xlo, xhi, CH_L, PLOT_W),
                CH_T + PLOT_H - log_pos(v < 1 ? 1 : v, lo, hi, 0, PLOT_H));
        }
        out(w, "\"/>");
        for (size_t q = i; q < j; q++) {
            const lab_run *r = pts[q];
            double v = (double)sweep_p99(r);
            out(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" data-rate=\"%.0f\"><title>",
                log_pos(r->open_loop.rate, xlo, xhi, CH_L, PLOT_W),
                CH_T + PLOT_H - log_pos(v < 1 ? 1 : v, lo, hi, 0, PLOT_H), r->open_loop.rate);
            esc(w, r->strategy);
            out(w, " at %s requests/s offered: %s p99 %s, p99.9 %s; losers p99 %s</title></circle>",
                fmt_num(r->open_loop.rate).s, r->lat_win.count ? "winners" : "all answers",
                fmt_us(sweep_p99(r)).s,
                fmt_us(lab_hist_percentile(r->lat_win.count ? &r->lat_win : &r->lat_all, 99.9)).s,
                fmt_us(lab_hist_percentile(&r->lat_lose, 99)).s);
        }
        int ly = CH_T + 12 + 13 * (line % SWEEP_MAX_LINES);
        out(w, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%d\" y=\"%d\">",
            CH_L + 8, CH_L + 24, ly - 3.5, ly - 3.5, CH_L + 30, ly);
        esc(w, pts[i]->strategy);
        out(w, "</text></g>\n");
        line++;
        i = j;
    }
    baseline(w);
    out(w, "<g class=\"axis\">");
    for (double d = xlo; d <= xhi * 1.001; d *= 10) {
        double x = log_pos(d, xlo, xhi, CH_L, PLOT_W);
        x_tick(w, x, fmt_num(d).s);
    }
    out(w, "</g>\n");
    x_title(w, CH_H, "offered rate, requests/s (log scale)");
    out(w, "</svg>\n");
}

/* --- outcomes ------------------------------------------------------------------------ */

static const char *outcome_class(const char *key) {
    if (key[0] == '2' && strlen(key) == 3) return "o-ok";
    if (strcmp(key, "sold_out") == 0 || strcmp(key, "already_owned") == 0 ||
        strcmp(key, "sales_closed") == 0)
        return "o-ref";
    if (strcmp(key, "busy") == 0) return "o-busy";
    return "o-err";
}

static void chart_outcomes(rp *w, const lab_run *run) {
    const audit_report *a = &run->audit;
    int rows = a->noutcomes > 0 ? a->noutcomes : 1, row_h = 26, lm = 150;
    int height = CH_T + rows * row_h + CH_B;
    svg_open(w, "chart-outcomes", height, "requests by outcome");
    if (a->noutcomes == 0) {
        out(w, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no requests</text></svg>\n",
            CH_W / 2, height / 2);
        return;
    }
    int64_t max = 1;
    for (int i = 0; i < a->noutcomes; i++)
        if (a->outcomes[i].count > max) max = a->outcomes[i].count;
    double pw = CH_W - lm - 90;
    for (int i = 0; i < a->noutcomes; i++) {
        const audit_outcome *o = &a->outcomes[i];
        double y = CH_T + i * row_h, wd = pw * (double)o->count / (double)max;
        if (o->count > 0 && wd < 1.5) wd = 1.5;
        double share = a->requests > 0 ? 100.0 * (double)o->count / (double)a->requests : 0;
        out(w, "<g class=\"outcome\" data-key=\"");
        esc(w, o->key);
        out(w,
            "\" data-value=\"%" PRId64 "\"><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" "
            "dy=\"0.32em\">",
            o->count, lm - 8, y + row_h / 2.0);
        esc(w, o->key);
        out(w,
            "</text><rect class=\"%s\" x=\"%d\" y=\"%.1f\" width=\"%.2f\" height=\"%d\">"
            "<title>",
            outcome_class(o->key), lm, y + 4, wd, row_h - 8);
        esc(w, o->key);
        out(w,
            ": %s (%.1f%%)</title></rect><text x=\"%.1f\" y=\"%.1f\" dy=\"0.32em\">%s "
            "<tspan class=\"muted\">%.1f%%</tspan></text></g>\n",
            fmt_int(o->count).s, share, lm + wd + 6, y + row_h / 2.0, fmt_int(o->count).s, share);
    }
    out(w,
        "<text class=\"axis-title\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">answers by "
        "HTTP status (2xx) or error code</text>\n",
        lm + pw / 2, height - 12);
    out(w, "</svg>\n");
}

/* --- arrival order against seat -------------------------------------------------------- */

typedef struct rp_sent {
    int64_t send_us;
    size_t index;
} rp_sent;

static int cmp_sent(const void *x, const void *y) {
    const rp_sent *a = x, *b = y;
    if (a->send_us != b->send_us) return (a->send_us > b->send_us) - (a->send_us < b->send_us);
    return (a->index > b->index) - (a->index < b->index);
}

static tr_err chart_scatter(rp *w, const lab_run *run) {
    size_t n = run->nrecords, sent = 0, ok = 0;
    for (size_t i = 0; i < n; i++) {
        sent += run->records[i].send_us >= 0;
        ok += run->records[i].status == 201 && run->records[i].send_us >= 0;
    }
    if (ok == 0) {
        /* A queue strategy answers 202 with a position; the issuer assigns seats later, and
         * the run file holds no seat for them: say so rather than draw an empty frame. */
        bool queued = run->audit.queued > 0;
        out(w,
            "<svg class=\"chart chart-scatter\" xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"no seats in the answers\" "
            "data-empty=\"%s\"><rect class=\"empty\" x=\"%d\" y=\"%d\" width=\"%.0f\" "
            "height=\"%.0f\"/><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>"
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text></svg>\n",
            CH_W, CH_H, queued ? "queued" : "no-ticket", CH_L, CH_T, PLOT_W, PLOT_H, CH_W / 2,
            CH_H / 2 - 8,
            queued ? "Queued (202) answers carry a queue position, not a seat:"
                   : "No answer carried a seat (no 201).",
            CH_W / 2, CH_H / 2 + 10,
            queued ? "the issuer assigns seats later; the audit checks them in PostgreSQL." : "");
        return TR_OK;
    }
    svg_open(w, "chart-scatter", CH_H, "seat number by arrival order");
    rp_sent *order = malloc(sent * sizeof *order);
    if (order == NULL) return TR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (run->records[i].send_us >= 0) order[k++] = (rp_sent){run->records[i].send_us, i};
    qsort(order, sent, sizeof *order, cmp_sent);
    size_t last_rank = 0;
    int32_t seat_max = run->audit.total_seats > 0 ? run->audit.total_seats : 1;
    for (size_t r = 0; r < sent; r++) {
        const lab_record *rec = &run->records[order[r].index];
        if (rec->status != 201) continue;
        last_rank = r + 1;
        if (rec->seat_no > seat_max) seat_max = rec->seat_no;
    }
    double xmax = (double)last_rank * 1.02 + 1, ystep = nice_step(seat_max, 5);
    double ymax = ceil(seat_max / ystep) * ystep;
    y_axis(w, ymax, ystep, false, "seat number");
    int32_t vip = run->audit.vip_seats;
    if (vip > 0) {
        double h = PLOT_H * vip / ymax;
        out(w,
            "<rect class=\"vip-band\" x=\"%d\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\">"
            "<title>VIP seats 1..%d</title></rect>\n",
            CH_L, CH_T + PLOT_H - h, PLOT_W, h < 1 ? 1 : h, vip);
    }
    size_t stride = ok > REPORT_SCATTER_MAX_POINTS
                        ? (ok + REPORT_SCATTER_MAX_POINTS - 1) / REPORT_SCATTER_MAX_POINTS
                        : 1;
    out(w, "<g class=\"points\" data-points=\"%zu\" data-stride=\"%zu\">", ok, stride);
    size_t seen = 0;
    for (size_t r = 0; r < sent; r++) {
        const lab_record *rec = &run->records[order[r].index];
        if (rec->status != 201) continue;
        if (seen++ % stride != 0) continue;
        out(w, "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"1.8\"/>",
            rec->seat_no >= 1 && rec->seat_no <= vip ? "pt-vip" : "pt",
            CH_L + PLOT_W * (double)(r + 1) / xmax,
            CH_T + PLOT_H * (1 - (double)rec->seat_no / ymax));
    }
    out(w, "</g>\n");
    free(order);
    baseline(w);
    double xstep = nice_step(xmax, 6);
    out(w, "<g class=\"axis\">");
    for (double v = 0; v <= xmax; v += xstep) {
        double x = CH_L + PLOT_W * v / xmax;
        x_tick(w, x, fmt_num(v).s);
    }
    out(w, "</g>\n");
    char title[128];
    if (stride > 1)
        snprintf(title, sizeof title, "arrival order (n-th request sent); 1 ticket in %zu drawn",
                 stride);
    else snprintf(title, sizeof title, "arrival order (n-th request sent), tickets only");
    x_title(w, CH_H, title);
    out(w, "</svg>\n");
    return TR_OK;
}

/* --- summary chart: throughput of every run, the study, the ceilings (log scale) ----- */

static double sum_x(double v, double lo, double hi, double x0, double wd) {
    if (v < lo) v = lo;
    return x0 + wd * (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
}

static void chart_summary(rp *w, const lab_run *runs, size_t n, const report_options *opt) {
    double vmin = INFINITY, vmax = 0;
    for (size_t i = 0; i < n; i++) {
        double v = runs[i].audit.requests_per_min;
        if (v > 0) vmin = fmin(vmin, v), vmax = fmax(vmax, v);
        const report_study_row *s = report_study_for(runs[i].strategy);
        if (s) vmin = fmin(vmin, s->requests_per_min), vmax = fmax(vmax, s->requests_per_min);
    }
    for (size_t c = 0; c < opt->nceilings; c++)
        vmax = fmax(vmax, opt->ceilings[c].requests_per_min);
    if (!(vmax > 0)) vmax = 1000;
    if (!isfinite(vmin)) vmin = vmax / 100;
    double lo = pow(10, floor(log10(vmin))), hi = pow(10, ceil(log10(vmax * 1.05)));
    if (hi / lo < 100) lo = hi / 100;
    enum { SUM_W = 900 };
    int lm = 170, rm = 40, row_h = 30, top = 34;
    int height = top + (int)n * row_h + 46;
    double pw = SUM_W - lm - rm;
    svg_open_w(w, "chart-summary", SUM_W, height,
               "requests per minute of every run against the study and the ceilings");
    out(w, "<g class=\"axis\">");
    for (double d = lo; d <= hi * 1.001; d *= 10) {
        double x = sum_x(d, lo, hi, lm, pw);
        out(w,
            "<line class=\"gridline\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
            x, x, top - 4, top + (int)n * row_h, x, top + (int)n * row_h + 16, fmt_num(d).s);
    }
    out(w, "</g>\n");
    for (size_t i = 0; i < n; i++) {
        const lab_run *r = &runs[i];
        double v = r->audit.requests_per_min, y = top + (double)i * row_h;
        double x1 = v > 0 ? sum_x(v, lo, hi, lm, pw) : lm;
        bool clean = !audit_has_anomalies(&r->audit);
        out(w, "<g class=\"run-bar\" data-strategy=\"");
        esc(w, r->strategy);
        out(w, "\"><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dy=\"0.32em\">", lm - 8,
            y + row_h / 2.0);
        esc(w, r->strategy);
        out(w,
            "</text><rect class=\"%s\" x=\"%d\" y=\"%.1f\" width=\"%.2f\" height=\"%d\">"
            "<title>",
            clean ? "bar-clean" : "bar-anomaly", lm, y + 6, x1 - lm < 1 ? 1 : x1 - lm, row_h - 12);
        esc(w, r->strategy);
        out(w,
            ": %s requests/min</title></rect><text x=\"%.1f\" y=\"%.1f\" dy=\"0.32em\" "
            "class=\"value\">%s</text>",
            fmt_num(v).s, x1 + 5, y + row_h / 2.0, fmt_num(v).s);
        const report_study_row *s = report_study_for(r->strategy);
        if (s) {
            double xs = sum_x(s->requests_per_min, lo, hi, lm, pw);
            out(w,
                "<path class=\"study-mark\" d=\"M%.1f %.1f l5 %.1f l-5 %.1f l-5 -%.1f z\">"
                "<title>the study: %s requests/min</title></path>",
                xs, y + 3, (row_h - 6) / 2.0, (row_h - 6) / 2.0, (row_h - 6) / 2.0,
                fmt_num(s->requests_per_min).s);
        }
        out(w, "</g>\n");
    }
    for (size_t c = 0; c < opt->nceilings && c < REPORT_MAX_CEILINGS; c++) {
        double x = sum_x(opt->ceilings[c].requests_per_min, lo, hi, lm, pw);
        out(w,
            "<g class=\"ceiling\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\">",
            x, x, top - 6, top + (int)n * row_h, x - 3, 12 + 12 * (int)(c % 2));
        esc(w, opt->ceilings[c].label);
        out(w, "</text><title>ceiling ");
        esc(w, opt->ceilings[c].label);
        out(w, ": %s requests/min</title></g>\n", fmt_num(opt->ceilings[c].requests_per_min).s);
    }
    out(w,
        "<text class=\"axis-title\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">requests per "
        "minute (log scale)</text>\n",
        lm + pw / 2, height - 8);
    out(w, "</svg>\n");
}

/* --- tables -------------------------------------------------------------------------- */

typedef struct rp_rule {
    const char *id, *name;
} rp_rule;

static const rp_rule rp_rules[RP_NRULES] = {
    {"R1", "no oversell"},           {"R2", "one ticket per customer"},
    {"R3", "seats unique, dense"},   {"R4", "VIP = first V seats"},
    {"R5", "nothing after close"},   {"R6", "first come, first served"},
    {"R7", "acknowledged = stored"}, {"R8", "stored count right"},
};

/* The count by which rule k (0-based) failed; 0 = held. R8's drift keeps its sign. */
static int64_t rule_count(const audit_report *a, int k) {
    switch (k) {
    case 0: return a->oversold;
    case 1: return a->duplicate_customers;
    case 2: return a->seat_errors;
    case 3: return a->vip_errors;
    case 4: return a->sales_after_close;
    case 5: return a->fcfs_violations;
    case 6: return a->lost + a->phantom;
    default: return a->count_drift;
    }
}

static unsigned broken_rules(const audit_report *a) {
    unsigned m = 0;
    for (int k = 0; k < RP_NRULES; k++)
        if (rule_count(a, k) != 0) m |= 1u << k;
    return m;
}

/* "R1, R2, R3" of a mask. */
static void rules_text(unsigned mask, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = '\0';
    for (int k = 0; k < RP_NRULES && o < len; k++)
        if (mask & (1u << k))
            o += (size_t)snprintf(buf + o, len - o, "%sR%d", o ? ", " : "", k + 1);
}

/* The verdict of a run against SPEC §3's promise for its strategy: a headline and a detail. */
static void verdict(const lab_run *r, char *head, size_t hlen, char *detail, size_t dlen,
                    bool *expected) {
    unsigned broken = broken_rules(&r->audit);
    const rp_promise *p = rp_promise_for(r->strategy);
    char names[64];
    rules_text(broken, names, sizeof names);
    *expected = true;
    if (p == NULL) {
        *expected = broken == 0;
        snprintf(head, hlen, broken ? "%s broken" : "every rule held", names);
        snprintf(detail, dlen, "not a strategy SPEC §3 names");
        return;
    }
    snprintf(detail, dlen, "SPEC §3 promises %s", p->text);
    unsigned unexpected = broken & p->rules;
    if (unexpected) {
        char un[64];
        rules_text(unexpected, un, sizeof un);
        *expected = false;
        snprintf(head, hlen, "UNEXPECTED: %s broken", un);
    } else if (broken) {
        snprintf(head, hlen, "as expected: %s broken", names);
    } else {
        snprintf(head, hlen, "every rule held");
    }
}

static void audit_cell(rp *w, const audit_report *a, int k) {
    int64_t c = rule_count(a, k);
    out(w, "<td class=\"%s\" data-rule=\"%s\" data-count=\"%" PRId64 "\">", c ? "fail" : "pass",
        rp_rules[k].id, c);
    if (c == 0) {
        out(w, "<span class=\"sym\">✓</span> 0");
    } else {
        out(w, "<span class=\"sym\">✗</span> %s", fmt_int(c).s);
        switch (k) {
        case 2:
            out(w, "<small>dup %s · gaps %s · range %s</small>", fmt_int(a->seat_duplicates).s,
                fmt_int(a->seat_gaps).s, fmt_int(a->seat_out_of_range).s);
            break;
        case 5:
            out(w, "<small>refused beaten %s · inverted %s</small>",
                fmt_int(a->fcfs_refused_beaten).s, fmt_int(a->fcfs_inverted).s);
            break;
        case 6:
            out(w, "<small>lost %s · phantom %s</small>", fmt_int(a->lost).s,
                fmt_int(a->phantom).s);
            break;
        case 7: out(w, "<small>remaining − (N − tickets)</small>"); break;
        default: break;
        }
    }
    out(w, "</td>");
}

static void table_audit(rp *w, const lab_run *runs, size_t n) {
    out(w, "<div class=\"scroll\"><table id=\"audit\" class=\"audit\"><thead><tr>"
           "<th>strategy</th><th>tickets / seats</th>");
    for (int k = 0; k < RP_NRULES; k++)
        out(w, "<th title=\"%s\">%s<small>%s</small></th>", rp_rules[k].name, rp_rules[k].id,
            rp_rules[k].name);
    out(w, "<th>verdict</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const lab_run *r = &runs[i];
        char head[128], detail[128];
        bool expected;
        verdict(r, head, sizeof head, detail, sizeof detail, &expected);
        out(w, "<tr data-strategy=\"");
        esc(w, r->strategy);
        out(w, "\"><th scope=\"row\"><a href=\"#run-%zu\">", i + 1);
        esc(w, r->strategy);
        out(w,
            "</a><small>%s schema</small></th><td data-key=\"tickets\" data-value=\"%" PRId64
            "\">%s / %s</td>",
            r->guarded ? "guarded" : "unguarded", r->audit.tickets, fmt_int(r->audit.tickets).s,
            fmt_int(r->audit.total_seats).s);
        for (int k = 0; k < RP_NRULES; k++) audit_cell(w, &r->audit, k);
        out(w, "<td class=\"verdict %s\">", expected ? "expected" : "unexpected");
        esc(w, head);
        out(w, "<small>");
        esc(w, detail);
        out(w, "</small></td></tr>\n");
    }
    out(w, "</tbody></table></div>\n");
}

static void table_summary(rp *w, const lab_run *runs, size_t n, const report_options *opt) {
    size_t nc = opt->nceilings < REPORT_MAX_CEILINGS ? opt->nceilings : REPORT_MAX_CEILINGS;
    out(w, "<div class=\"scroll\"><table class=\"summary\"><thead><tr><th>strategy</th>"
           "<th>requests/min</th><th>tickets/min</th><th>sold out after</th><th>p99</th>"
           "<th>the study's technique</th><th>the study's requests/min</th><th>× study</th>");
    for (size_t c = 0; c < nc; c++) {
        out(w, "<th>× ceiling<small>");
        esc(w, opt->ceilings[c].label);
        out(w, "</small></th>");
    }
    out(w, "</tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const lab_run *r = &runs[i];
        const audit_report *a = &r->audit;
        const report_study_row *s = report_study_for(r->strategy);
        out(w, "<tr data-strategy=\"");
        esc(w, r->strategy);
        out(w, "\"><th scope=\"row\">");
        esc(w, r->strategy);
        out(w,
            "</th><td class=\"num\" data-key=\"requests_per_min\" data-value=\"%.3f\">%s</td>"
            "<td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td>",
            a->requests_per_min, fmt_num(a->requests_per_min).s, fmt_num(a->tickets_per_min).s,
            fmt_us(a->sold_out_after_us).s, fmt_us(a->latency.p99).s);
        if (s) {
            out(w,
                "<td class=\"technique\">%s<small>%s</small></td><td class=\"num\">%s</td>"
                "<td class=\"num ratio\">%s</td>",
                s->technique, s->note, fmt_num(s->requests_per_min).s,
                fmt_ratio(a->requests_per_min / s->requests_per_min).s);
        } else {
            out(w, "<td class=\"muted\">not in the study</td><td class=\"num\">-</td>"
                   "<td class=\"num\">-</td>");
        }
        for (size_t c = 0; c < nc; c++)
            out(w, "<td class=\"num ratio\">%s</td>",
                fmt_ratio(a->requests_per_min / opt->ceilings[c].requests_per_min).s);
        out(w, "</tr>\n");
    }
    out(w, "</tbody></table></div>\n");
}

/* --- one run ------------------------------------------------------------------------- */

static void figure_row(rp *w, const char *name, const char *key, int64_t raw, const char *text) {
    out(w, "<div><dt>%s</dt><dd data-key=\"%s\" data-value=\"%" PRId64 "\">%s</dd></div>", name,
        key, raw, text);
}

/* A bar of value/total, 120 × 10 px (a festival's per-concert table). */
static void concert_bar(rp *w, const char *kind, double value, double total, const char *label) {
    double f = total > 0 ? fmin(1, fmax(0, value / total)) : 0;
    out(w,
        "<svg class=\"bar %s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"10\" "
        "viewBox=\"0 0 120 10\" role=\"img\" aria-label=\"",
        kind);
    esc(w, label);
    out(w,
        "\"><rect x=\"0\" y=\"0\" width=\"120\" height=\"10\" fill=\"#eee\"/>"
        "<rect x=\"0\" y=\"0\" width=\"%.1f\" height=\"10\" fill=\"%s\"/></svg>",
        120 * f, strcmp(kind, "bar-demand") == 0 ? "#8aa4c8" : "#3b7d3b");
}

/* A festival's concerts, one row each: share of the requests, sold/seats, when it sold out, the
 * answers, and the R1–R8 rules its own audit found broken. */
static void section_concerts(rp *w, const lab_run *r) {
    int32_t clean = 0, sold_out = 0;
    int64_t seats = 0, tickets = 0;
    for (int32_t i = 0; i < r->nconcerts && i < RUN_MAX_CONCERTS; i++) {
        const audit_concert_row *c = &r->concerts[i];
        clean += !audit_concert_row_has_anomalies(c);
        sold_out += c->total_seats > 0 && c->tickets >= c->total_seats;
        seats += c->total_seats;
        tickets += c->tickets;
    }
    out(w,
        "<h3>Festival: %" PRId32 " concerts, audited one by one</h3>\n<p class=\"meta\" "
        "data-key=\"festival\" data-concerts=\"%" PRId32 "\" data-clean=\"%" PRId32 "\">%" PRId32
        " of %" PRId32 " concerts clean (R1–R8 each), %" PRId32
        " sold out, %s of %s seats sold. Each request's concert was drawn by a Zipf law, "
        "s = %.2f (concert k with probability ∝ k<sup>−s</sup>); the first concert is the "
        "headliner. The totals above sum the concerts' audits; the arrival-order chart "
        "below shows the headliner alone.</p>\n",
        r->nconcerts, r->nconcerts, clean, clean, r->nconcerts, sold_out, fmt_int(tickets).s,
        fmt_int(seats).s, r->zipf_s);
    int64_t head_requests = r->concerts[0].requests; /* the demand bars' scale */
    out(w,
        "<table class=\"concerts\"><thead><tr><th>concert</th><th>requests</th>"
        "<th>share of demand (bar: against the headliner's)</th><th>sold / seats</th><th></th><th>sold out after</th>"
        "<th>201</th><th>202</th><th>audit</th></tr></thead><tbody>\n");
    for (int32_t i = 0; i < r->nconcerts && i < RUN_MAX_CONCERTS; i++) {
        const audit_concert_row *c = &r->concerts[i];
        bool bad = audit_concert_row_has_anomalies(c);
        double share =
            r->audit.requests > 0 ? 100.0 * (double)c->requests / (double)r->audit.requests : 0;
        char label[96];
        out(w, "<tr data-concert=\"%" PRId64 "\"><td>%" PRId64 "%s</td><td>%s</td><td>",
            c->concert_id, c->concert_id, i == 0 ? " (headliner)" : "", fmt_int(c->requests).s);
        snprintf(label, sizeof label, "%.1f %% of the requests", share);
        concert_bar(w, "bar-demand", (double)c->requests, (double)head_requests, label);
        out(w, " %.1f %%</td><td>%s / %s</td><td>", share, fmt_int(c->tickets).s,
            fmt_int(c->total_seats).s);
        snprintf(label, sizeof label, "%" PRId64 " of %" PRId32 " seats sold", c->tickets,
                 c->total_seats);
        concert_bar(w, "bar-sold", (double)c->tickets, (double)c->total_seats, label);
        out(w, "</td><td>%s</td><td>%s</td><td>%s</td>", fmt_us(c->sold_out_after_us).s,
            fmt_int(c->acknowledged).s, fmt_int(c->queued).s);
        if (!bad) {
            out(w, "<td class=\"pass\">clean</td></tr>\n");
            continue;
        }
        out(w, "<td class=\"fail\">");
        const struct {
            const char *rule;
            int64_t v;
        } rules[] = {{"R1 oversold", c->oversold},
                     {"R2 duplicate customers", c->duplicate_customers},
                     {"R3 seat errors", c->seat_errors},
                     {"R4 VIP errors", c->vip_errors},
                     {"R5 after close", c->sales_after_close},
                     {"R6 FCFS", c->fcfs_violations},
                     {"R7 lost", c->lost},
                     {"R7 phantom", c->phantom},
                     {"R8 drift", c->count_drift}};
        bool first = true;
        for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
            if (rules[k].v == 0) continue;
            out(w, "%s%s %s", first ? "" : ", ", rules[k].rule, fmt_int(rules[k].v).s);
            first = false;
        }
        out(w, "</td></tr>\n");
    }
    out(w, "</tbody></table>\n");
}

/* The headliner's requests of a festival run as a run of their own (for the arrival-order
 * chart: seats are per concert); *out is malloc'd with its records, the caller frees both. */
static tr_err headliner_run(const lab_run *r, lab_run **out) {
    *out = NULL;
    lab_run *h = malloc(sizeof *h);
    if (h == NULL) return TR_NOMEM;
    memcpy(h, r, sizeof *h);
    h->records = malloc((r->nrecords ? r->nrecords : 1) * sizeof *h->records);
    if (h->records == NULL) {
        free(h);
        return TR_NOMEM;
    }
    h->nrecords = 0;
    int64_t id = r->concerts[0].concert_id;
    for (size_t i = 0; i < r->nrecords; i++)
        if (lab_record_concert(&r->records[i], r->params.concert_id) == id)
            h->records[h->nrecords++] = r->records[i];
    h->audit.total_seats = r->concerts[0].total_seats;
    h->audit.vip_seats = r->concerts[0].vip_seats;
    h->audit.queued = r->concerts[0].queued;
    *out = h;
    return TR_OK;
}

static tr_err section_run(rp *w, const lab_run *r, size_t idx) {
    const audit_report *a = &r->audit;
    char started[40];
    runfile_format_time(r->started_wall_us, started, sizeof started);
    out(w, "<section class=\"run\" id=\"run-%zu\" data-strategy=\"", idx + 1);
    esc(w, r->strategy);
    out(w, "\">\n<h2>");
    esc(w, r->strategy);
    out(w, "</h2>\n<p class=\"meta\">scenario ");
    esc(w, r->scenario);
    out(w, " · %s schema · %s requests by customers 1..%s on %s connections to ",
        r->guarded ? "guarded" : "unguarded", fmt_int(r->params.requests).s,
        fmt_int(r->params.customers).s, fmt_int(r->params.vus).s);
    esc(w, r->params.url);
    out(w, " · concert %" PRId64 " · started %s</p>\n", r->params.concert_id, started);

    out(w, "<dl class=\"figures\">");
    char buf[160];
    figure_row(w, "requests/min", "requests_per_min_int", (int64_t)llround(a->requests_per_min),
               fmt_num(a->requests_per_min).s);
    figure_row(w, "tickets/min", "tickets_per_min_int", (int64_t)llround(a->tickets_per_min),
               fmt_num(a->tickets_per_min).s);
    snprintf(buf, sizeof buf, "%s of %s", fmt_int(a->tickets).s, fmt_int(a->total_seats).s);
    figure_row(w, "tickets issued", "tickets", a->tickets, buf);
    snprintf(buf, sizeof buf, "%s of %s", fmt_int(a->answered).s, fmt_int(a->requests).s);
    figure_row(w, "answered", "answered", a->answered, buf);
    figure_row(w, "201 acknowledged", "acknowledged", a->acknowledged, fmt_int(a->acknowledged).s);
    if (a->queued) figure_row(w, "202 queued", "queued", a->queued, fmt_int(a->queued).s);
    figure_row(w, "sold out after", "sold_out_after_us", a->sold_out_after_us,
               fmt_us(a->sold_out_after_us).s);
    figure_row(w, "last ticket stored after", "last_issued_after_us", a->last_issued_after_us,
               fmt_us(a->last_issued_after_us).s);
    figure_row(w, "load duration", "duration_us", r->duration_us, fmt_us(r->duration_us).s);
    figure_row(w, "p50", "p50_us", a->latency.p50, fmt_us(a->latency.p50).s);
    figure_row(w, "p90", "p90_us", a->latency.p90, fmt_us(a->latency.p90).s);
    figure_row(w, "p99", "p99_us", a->latency.p99, fmt_us(a->latency.p99).s);
    figure_row(w, "max", "max_us", a->latency.max, fmt_us(a->latency.max).s);
    figure_row(w, "reconnects", "reconnects", r->reconnects, fmt_int(r->reconnects).s);
    figure_row(w, "retries after an unknown outcome", "retries", r->retries, fmt_int(r->retries).s);
    if (r->open_loop.rate > 0) {
        const run_open_loop *o = &r->open_loop;
        figure_row(w, "offered rate (open loop), requests/s", "offered_rate",
                   (int64_t)llround(o->rate), fmt_num(o->rate).s);
        snprintf(buf, sizeof buf, "%s (over %s)", fmt_int(o->late).s, fmt_us(o->late_us).s);
        figure_row(w, "sent late", "late", o->late, buf);
        figure_row(w, "connections used", "connections", o->connections, fmt_int(o->connections).s);
    }
    if (r->has_hist) {
        figure_row(w, "winners p99", "win_p99_us", lab_hist_percentile(&r->lat_win, 99),
                   fmt_us(lab_hist_percentile(&r->lat_win, 99)).s);
        figure_row(w, "losers p99", "lose_p99_us", lab_hist_percentile(&r->lat_lose, 99),
                   fmt_us(lab_hist_percentile(&r->lat_lose, 99)).s);
        figure_row(w, "p99.9", "p99_9_us", lab_hist_percentile(&r->lat_all, 99.9),
                   fmt_us(lab_hist_percentile(&r->lat_all, 99.9)).s);
        figure_row(w, "p99.99", "p99_99_us", lab_hist_percentile(&r->lat_all, 99.99),
                   fmt_us(lab_hist_percentile(&r->lat_all, 99.99)).s);
    }
    out(w, "</dl>\n");
    if (r->nconcerts > 0) section_concerts(w, r);

    if (r->records == NULL || r->nrecords == 0) {
        out(w, "<p class=\"muted\">This run file holds no request rows, so its charts are "
               "missing.</p>\n</section>\n");
        return TR_OK;
    }
    tr_err rc;
    out(w,
        "<div class=\"charts\">\n<figure><figcaption>Throughput over time "
        "<span class=\"legend\"><i class=\"sw sw-all\"></i>answers/s <i class=\"sw "
        "sw-ok\"></i>tickets/s (right axis)%s</span></figcaption>\n",
        a->queued ? " <i class=\"sw sw-queued\"></i>queued/s" : "");
    if ((rc = chart_throughput(w, r)) != TR_OK) return rc;
    out(w,
        "</figure>\n<figure><figcaption>Latency: p50 %s · p90 %s · p99 %s · max %s"
        "</figcaption>\n",
        fmt_us(a->latency.p50).s, fmt_us(a->latency.p90).s, fmt_us(a->latency.p99).s,
        fmt_us(a->latency.max).s);
    if ((rc = chart_latency(w, r)) != TR_OK) return rc;
    out(w,
        "</figure>\n<figure><figcaption>Latency by percentile%s <span class=\"legend\">"
        "<i class=\"sw sp-all\"></i>all <i class=\"sw sp-win\"></i>winners "
        "<i class=\"sw sp-lose\"></i>losers</span></figcaption>\n",
        r->open_loop.rate > 0 ? " (from the scheduled send times)" : "");
    if ((rc = chart_spectrum(w, r)) != TR_OK) return rc;
    out(w, "</figure>\n<figure><figcaption>Outcomes by code <span class=\"legend\"><i "
           "class=\"sw o-ok\"></i>2xx <i class=\"sw o-ref\"></i>refused <i class=\"sw "
           "o-busy\"></i>busy <i class=\"sw o-err\"></i>error</span></figcaption>\n");
    chart_outcomes(w, r);
    out(w,
        "</figure>\n<figure><figcaption>Arrival order against seat%s: FCFS is a clean "
        "diagonal <span class=\"legend\"><i class=\"sw pt\"></i>seat <i class=\"sw "
        "pt-vip\"></i>VIP seat</span></figcaption>\n",
        r->nconcerts > 0 ? " (the headliner)" : "");
    if (r->nconcerts > 0) {
        lab_run *h = NULL;
        if ((rc = headliner_run(r, &h)) != TR_OK) return rc;
        rc = chart_scatter(w, h);
        lab_run_free_records(h);
        free(h);
    } else {
        rc = chart_scatter(w, r);
    }
    if (rc != TR_OK) return rc;
    out(w, "</figure>\n</div>\n</section>\n");
    return TR_OK;
}

/* --- the page ------------------------------------------------------------------------ */

static const char rp_css[] =
    ":root{--ink:#1d2330;--muted:#6b7280;--line:#e3e6eb;--bar:#4a78b0;--ok:#2e7d32;"
    "--ref:#9aa0a6;--busy:#e69500;--bad:#c62828;--vip:#8e24aa;--queued:#e69500}\n"
    "*{box-sizing:border-box}\n"
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:var(--ink);margin:0 auto;max-width:1280px;padding:20px 28px 40px}\n"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 6px;"
    "border-bottom:2px solid var(--line);padding-bottom:4px}\n"
    "p{margin:6px 0}.meta,.muted,small{color:var(--muted)}small{display:block;font-size:11px;"
    "font-weight:normal}\n"
    "nav{margin:10px 0 0;font-size:14px}nav a{margin-right:14px}\n"
    "a{color:#1f5fa8;text-decoration:none}a:hover{text-decoration:underline}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}\n"
    "table.concerts td{white-space:nowrap}table.concerts svg.bar{vertical-align:middle}\n"
    "th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;"
    "vertical-align:top}\n"
    "thead th{background:#f5f7fa;font-size:12px;white-space:nowrap}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "td.ratio{font-weight:600}\n"
    "td.pass{color:var(--ok);white-space:nowrap}td.fail{color:var(--bad);font-weight:600;"
    "background:#fdecea;white-space:nowrap}td.fail small{color:#8a3b3b;font-weight:normal}\n"
    "table.audit thead th{white-space:normal;min-width:4.5em}table.audit td.verdict"
    "{min-width:11em}th[scope=row]{white-space:nowrap}\n"
    "td.pass .sym,td.fail .sym{font-size:15px}\n"
    "td.verdict.expected{color:var(--ink)}td.verdict.unexpected{color:var(--bad);"
    "font-weight:600}\n"
    ".headline{font-size:16px;background:#f5f7fa;border-left:4px solid var(--bar);"
    "padding:8px 12px;margin:10px 0}\n"
    "dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));"
    "gap:6px 14px;margin:12px 0}\n"
    "dl.figures div{background:#f5f7fa;border-radius:4px;padding:6px 10px}\n"
    "dt{font-size:12px;color:var(--muted)}dd{margin:0;font-size:17px;font-weight:600;"
    "font-variant-numeric:tabular-nums}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:18px}\n"
    "figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:10px 10px 4px}\n"
    "figcaption{font-weight:600;font-size:14px;margin-bottom:4px}\n"
    ".legend{font-weight:normal;font-size:12px;color:var(--muted);margin-left:8px}\n"
    ".sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 8px;border-radius:2px;"
    "vertical-align:-1px}\n"
    ".sw-all{background:var(--bar)}.sw-ok{background:var(--ok)}.sw-queued{background:"
    "var(--queued)}.sw.o-ok{background:var(--ok)}.sw.o-ref{background:var(--ref)}"
    ".sw.o-busy{background:var(--busy)}.sw.o-err{background:var(--bad)}.sw.pt{background:"
    "var(--bar)}.sw.pt-vip{background:var(--vip)}\n"
    "svg.chart{display:block;width:100%;height:auto}\n"
    "svg text{font-size:11px;fill:#4b5563;font-family:inherit}\n"
    "svg .axis-title{font-size:12px;fill:var(--muted)}\n"
    "svg .gridline{stroke:var(--line)}svg .baseline,svg .tick{stroke:#9ca3af}\n"
    "svg .bar-all{fill:var(--bar)}svg .bar-lat{fill:#6d93c4}\n"
    "svg .line-ok{fill:none;stroke:var(--ok);stroke-width:2}svg .dots-ok{fill:var(--ok)}\n"
    "svg .line-queued{fill:none;stroke:var(--queued);stroke-width:2}"
    "svg .dots-queued{fill:var(--queued)}\n"
    "svg .mark line{stroke:var(--ink);stroke-dasharray:4 3}svg .mark text{fill:var(--ink);"
    "font-weight:600}\n"
    "svg .o-ok{fill:var(--ok)}svg .o-ref{fill:var(--ref)}svg .o-busy{fill:var(--busy)}"
    "svg .o-err{fill:var(--bad)}\n"
    "svg .pt{fill:var(--bar);fill-opacity:.75}svg .pt-vip{fill:var(--vip)}"
    "svg .vip-band{fill:#f3e5f5}\n"
    "svg .bar-clean{fill:var(--ok)}svg .bar-anomaly{fill:var(--bad)}"
    "svg .value{font-weight:600;fill:var(--ink)}\n"
    "svg .study-mark{fill:var(--ink)}svg .empty{fill:#f5f7fa}\n"
    "svg .ceiling line{stroke:#7c3aed;stroke-dasharray:5 4;stroke-width:1.5}"
    "svg .ceiling text{fill:#7c3aed}\n"
    "svg.chart-summary{max-width:900px}\n"
    "svg .sp-all polyline{fill:none;stroke:var(--bar);stroke-width:2}svg .sp-all circle"
    "{fill:var(--bar)}svg .sp-win polyline{fill:none;stroke:var(--ok);stroke-width:2}"
    "svg .sp-win circle{fill:var(--ok)}svg .sp-lose polyline{fill:none;stroke:var(--busy);"
    "stroke-width:2;stroke-dasharray:5 3}svg .sp-lose circle{fill:var(--busy)}\n"
    ".sw.sp-all{background:var(--bar)}.sw.sp-win{background:var(--ok)}.sw.sp-lose"
    "{background:var(--busy)}\n"
    "svg .sweep-line polyline{fill:none;stroke-width:2}svg .s0{stroke:#4a78b0;fill:#4a78b0}"
    "svg .s1{stroke:#2e7d32;fill:#2e7d32}svg .s2{stroke:#e69500;fill:#e69500}svg .s3"
    "{stroke:#c62828;fill:#c62828}svg .s4{stroke:#8e24aa;fill:#8e24aa}svg .s5{stroke:#00838f;"
    "fill:#00838f}svg .s6{stroke:#6d4c41;fill:#6d4c41}svg .s7{stroke:#546e7a;fill:#546e7a}"
    "svg g.sweep-line text{stroke:none;fill:inherit}svg .sweep-line line{stroke-width:2}\n"
    "td.fail small{white-space:normal}\n"
    "table.summary thead th{white-space:normal}table.summary td.technique{min-width:16em}\n"
    "pre.chaos{overflow-x:auto;font-size:11.5px;line-height:1.35;padding:10px;border:1px solid "
    "var(--line);border-radius:6px}\n"
    "footer{margin-top:36px;font-size:12px;color:var(--muted);border-top:1px solid var(--line);"
    "padding-top:10px}\n"
    "@media (max-width:700px){body{padding:12px}.charts{grid-template-columns:1fr}}\n"
    "@page{margin:10mm}\n"
    "@media print{body{max-width:none;padding:0;font-size:9.5pt}nav{display:none}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "section.run{break-before:page}figure,table,dl.figures,.headline{break-inside:avoid}"
    ".charts{grid-template-columns:1fr 1fr;gap:8px}figure{padding:4px}"
    ".scroll{overflow:visible}a{color:inherit}h1{font-size:18pt}h2{margin-top:10px;"
    "font-size:13pt}table{font-size:7pt}th,td{padding:3px 3px}thead th{font-size:7pt;"
    "white-space:normal;min-width:0!important}small{font-size:6pt}"
    "td.pass,td.fail,td.num,th[scope=row]{white-space:normal}td.verdict{min-width:0!important}"
    "dl.figures{grid-template-columns:repeat(7,1fr);gap:4px}dd{font-size:10pt}"
    "dl.figures div{padding:3px 5px}}\n";

static void headline(rp *w, const lab_run *runs, size_t n) {
    const lab_run *best = NULL;
    for (size_t i = 0; i < n; i++) {
        bool expected;
        char head[128], detail[128];
        verdict(&runs[i], head, sizeof head, detail, sizeof detail, &expected);
        if (audit_has_anomalies(&runs[i].audit) || !expected) continue;
        if (best == NULL || runs[i].audit.requests_per_min > best->audit.requests_per_min)
            best = &runs[i];
    }
    out(w, "<p class=\"headline\">");
    if (best == NULL) {
        out(w, "No run kept every rule R1–R8.");
    } else {
        out(w, "Fastest run that kept every rule R1–R8: <b>");
        esc(w, best->strategy);
        out(w, "</b>, %s requests/min, %s tickets/min", fmt_num(best->audit.requests_per_min).s,
            fmt_num(best->audit.tickets_per_min).s);
        if (best->audit.sold_out_after_us >= 0)
            out(w, ", sold out after %s", fmt_us(best->audit.sold_out_after_us).s);
        out(w, ".");
    }
    out(w, "</p>\n");
}

static tr_err rp_page(rp *w, const lab_run *runs, size_t n, const report_options *opt) {
    const char *title = opt->title ? opt->title : "ticketrush lab report";
    out(w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'\">\n<title>");
    esc(w, title);
    out(w, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>", rp_css);
    esc(w, title);
    out(w, "</h1>\n<p class=\"meta\">%zu run%s", n, n == 1 ? "" : "s");
    const lab_run *f = &runs[0];
    out(w, " · scenario ");
    esc(w, f->scenario);
    out(w, ": %s seats (%s VIP), customers 1..%s, %s requests, %s virtual users",
        fmt_int(f->params.tickets).s, fmt_int(f->params.vip).s, fmt_int(f->params.customers).s,
        fmt_int(f->params.requests).s, fmt_int(f->params.vus).s);
    if (opt->generated_wall_us > 0) {
        char when[40];
        runfile_format_time(opt->generated_wall_us, when, sizeof when);
        out(w, " · generated %.19sZ", when);
    }
    out(w, "</p>\n<nav>%s<a href=\"#summary\">summary</a><a href=\"#audit-rules\">audit R1–R8</a>",
        opt->chaos_table ? "<a href=\"#chaos\">faults</a>" : "");
    for (size_t i = 0; i < n; i++) {
        out(w, "<a href=\"#run-%zu\">", i + 1);
        esc(w, runs[i].strategy);
        out(w, "</a>");
    }
    out(w, "</nav>\n</header>\n");

    if (opt->chaos_table) {
        out(w, "<section id=\"chaos\">\n<h2>Fault suite (make chaos): every strategy × one "
               "fault injected mid-load</h2>\n<pre class=\"chaos\">");
        esc(w, opt->chaos_table);
        out(w, "</pre>\n<p class=\"muted\">Each row is one run: two server processes behind "
               "the suite's TCP proxies to Redis and PostgreSQL, one fault injected mid-load, "
               "then the drain and the audit. in-flight: requests sent before the fault and "
               "answered after it; lost: acknowledged tickets PostgreSQL does not hold; contra: "
               "acknowledged tickets PostgreSQL gives to someone else or at another seat; "
               "q-lost: 202 answers never issued; unknown: tickets of requests that never got "
               "their answer (not anomalies); other: R1–R5, R8 and unexplained phantoms; "
               "first-ok / recovered: ms from the fault to the first normal answer of a request "
               "sent after it / to the end of the last request that failed or was slow (over "
               "max(1 s, 2 × the p99 before the fault)). PASS means the strategy "
               "kept its promise for that fault (scripts/chaos.sh --help). The runs shown below "
               "are a selection (see the suite's output).</p>\n</section>\n");
    }

    out(w, "<section id=\"summary\">\n<h2>Summary: throughput against the study and the "
           "ceilings</h2>\n");
    headline(w, runs, n);
    chart_summary(w, runs, n, opt);
    out(w, "<p class=\"muted\">Bars: this run's requests per minute (green: every R1–R8 count "
           "zero; red: an anomaly). ◆ the study's published figure for the same technique. "
           "Dashed lines: ceilings measured beside the runs, where the server does no work.</p>\n");
    table_summary(w, runs, n, opt);
    if (opt->nceilings) {
        out(w, "<p>Ceilings measured in the same run: ");
        for (size_t c = 0; c < opt->nceilings && c < REPORT_MAX_CEILINGS; c++) {
            out(w, "%s", c ? "; " : "");
            esc(w, opt->ceilings[c].label);
            out(w, " <b data-key=\"ceiling_%zu\" data-value=\"%.0f\">%s</b> requests/min", c,
                opt->ceilings[c].requests_per_min, fmt_num(opt->ceilings[c].requests_per_min).s);
        }
        out(w, ". “× ceiling” is a run's requests/min divided by that figure.</p>\n");
    } else {
        out(w, "<p class=\"muted\">No ceiling was given (ticketrush report --ceiling FILE).</p>\n");
    }
    out(w, "<p class=\"muted\">The study (SPEC, first table) load-tested 1,000 tickets (10 VIP) "
           "for 10,000 customers with JMeter; its redis-zset figure counts admissions only, "
           "issuance was deferred.</p>\n</section>\n");

    const lab_run **pts = NULL;
    size_t npts = sweep_runs(runs, n, &pts);
    if (pts == NULL) return TR_NOMEM;
    if (npts >= 2) {
        out(w, "<section id=\"sweep\">\n<h2>Open loop: latency against offered rate</h2>\n"
               "<figure><figcaption>p99 of the winners (201/202; every answer where there are "
               "none), from each request's scheduled send time</figcaption>\n");
        chart_sweep(w, pts, npts);
        out(w, "</figure>\n<p class=\"muted\">One point per open-loop run (ticketrush load "
               "--rate R): offered rate on the x axis. Latency counts from the time each request "
               "was due, so a server that falls behind shows its queue (no coordinated "
               "omission).</p>\n</section>\n");
    }
    free(pts);

    out(w, "<section id=\"audit-rules\">\n<h2>Audit: SPEC rules R1–R8, checked against "
           "PostgreSQL after the drain</h2>\n");
    table_audit(w, runs, n);
    out(w, "<p class=\"muted\">Each cell is the audit's count for the rule: ✓ 0 when it held, "
           "✗ and by how much when it did not. R3 counts duplicate seats, gaps in 1..min(tickets, "
           "N) and seats outside 1..N; R6 counts refusals (sold_out, busy) completed before a "
           "later request was sent that got a ticket, and tickets with a lower seat than one "
           "completed before them; R7 counts acknowledged tickets missing from PostgreSQL (lost) "
           "and rows nobody was told about (phantom); R8 is the stored remaining count minus "
           "(N − tickets).</p>\n</section>\n");

    for (size_t i = 0; i < n; i++) {
        tr_err rc = section_run(w, &runs[i], i);
        if (rc != TR_OK) return rc;
    }
    out(w, "<footer>Written by <code>ticketrush report</code> from the run files of "
           "<code>ticketrush load</code> (or <code>ticketrush jtl-audit</code> for JMeter runs). "
           "Self-contained: no script, nothing fetched. Times: t = 0 is the first request sent; "
           "latency is send to last byte read.</footer>\n</body>\n</html>\n");
    return TR_OK;
}

tr_err report_write(FILE *f, const lab_run *runs, size_t n, const report_options *opt) {
    if (n == 0 || runs == NULL) return TR_INVALID_ARGUMENT;
    report_options none = {0};
    if (opt == NULL) opt = &none;
    rp w = {.f = f};
    tr_err rc = rp_page(&w, runs, n, opt);
    if (rc != TR_OK) return rc;
    if (fflush(f) != 0 || ferror(f)) w.failed = true;
    return w.failed ? TR_INTERNAL : TR_OK;
}

tr_err report_format(const lab_run *runs, size_t n, const report_options *opt, char **out_s) {
    *out_s = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return TR_NOMEM;
    tr_err rc = report_write(f, runs, n, opt);
    if (fclose(f) != 0 && rc == TR_OK) rc = TR_NOMEM;
    if (rc != TR_OK) {
        free(buf);
        return rc == TR_INTERNAL ? TR_NOMEM : rc;
    }
    *out_s = buf;
    return TR_OK;
}
