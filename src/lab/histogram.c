/* histogram.c — the log-linear latency histogram behind histogram.h.
 *
 * Layout. Values 0..255 have a counter each (indices 0..255). Past that, a value v with its
 * highest set bit at position m (8..31) falls in range k = m − 7 (1..24), whose bucket width is
 * 2^k: its sub-bucket is v >> k (128..255), and its index 256 + (k − 1) × 128 + (v >> k) − 128.
 * The indices are contiguous and increase with v. */
#include "lab/histogram.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lab_hist_init(lab_hist *h) { memset(h, 0, sizeof *h); }

static int64_t hist_clamp(int64_t us) {
    if (us < 0) return 0;
    return us > HIST_MAX_US ? HIST_MAX_US : us;
}

int lab_hist_index(int64_t us) {
    uint64_t v = (uint64_t)hist_clamp(us);
    if (v < HIST_SUB_COUNT) return (int)v;
    int m = 63 - __builtin_clzll(v);
    int k = m - HIST_SUB_BITS;
    return HIST_SUB_COUNT + (k - 1) * HIST_SUB_HALF + (int)(v >> k) - HIST_SUB_HALF;
}

void lab_hist_bucket_range(int idx, int64_t *lo, int64_t *hi) {
    if (idx < HIST_SUB_COUNT) {
        *lo = *hi = idx;
        return;
    }
    int k = (idx - HIST_SUB_COUNT) / HIST_SUB_HALF + 1;
    int64_t sub = HIST_SUB_HALF + (idx - HIST_SUB_COUNT) % HIST_SUB_HALF;
    *lo = sub << k;
    *hi = *lo + ((int64_t)1 << k) - 1;
}

void lab_hist_record(lab_hist *h, int64_t us) {
    if (us > HIST_MAX_US) h->clamped++;
    int64_t v = hist_clamp(us);
    if (h->count == 0 || v < h->min) h->min = v;
    if (h->count == 0 || v > h->max) h->max = v;
    h->count++;
    h->counts[lab_hist_index(v)]++;
}

void lab_hist_merge(lab_hist *into, const lab_hist *from) {
    if (from->count == 0) return;
    if (into->count == 0 || from->min < into->min) into->min = from->min;
    if (into->count == 0 || from->max > into->max) into->max = from->max;
    into->count += from->count;
    into->clamped += from->clamped;
    for (int i = 0; i < HIST_NBUCKETS; i++) into->counts[i] += from->counts[i];
}

int64_t lab_hist_percentile(const lab_hist *h, double p) {
    if (h->count == 0) return -1;
    if (!(p > 0)) return h->min;
    if (p >= 100) return h->max;
    double want = p / 100.0 * (double)h->count;
    int64_t rank = (int64_t)want;
    if ((double)rank < want) rank++;
    if (rank < 1) rank = 1;
    int64_t seen = 0;
    for (int i = 0; i < HIST_NBUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            int64_t lo, hi;
            lab_hist_bucket_range(i, &lo, &hi);
            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}

bool lab_hist_next(const lab_hist *h, int *idx, int64_t *lo, int64_t *hi, int64_t *count) {
    for (int i = *idx + 1; i < HIST_NBUCKETS; i++) {
        if (h->counts[i] == 0) continue;
        *idx = i;
        lab_hist_bucket_range(i, lo, hi);
        *count = h->counts[i];
        return true;
    }
    *idx = HIST_NBUCKETS;
    return false;
}

/* --- JSON ---------------------------------------------------------------------------- */

static int hist_set(json_t *o, const char *k, int64_t v) {
    return json_object_set_new(o, k, json_integer((json_int_t)v));
}

json_t *lab_hist_to_json(const lab_hist *h) {
    /* "index:count" of every non-empty bucket, comma-separated: ≤ 3,328 × 31 bytes */
    size_t cap = (size_t)HIST_NBUCKETS * 32, len = 0;
    char *text = malloc(cap);
    json_t *o = json_object(), *b = NULL;
    if (o == NULL || text == NULL) goto fail;
    text[0] = '\0';
    int idx = -1;
    int64_t lo, hi, c;
    while (lab_hist_next(h, &idx, &lo, &hi, &c))
        len += (size_t)snprintf(text + len, cap - len, "%s%d:%" PRId64, len ? "," : "", idx, c);
    if ((b = json_string(text)) == NULL) goto fail;
    int bad = 0;
    bad |= json_object_set_new(o, "unit", json_string("us"));
    bad |= hist_set(o, "sub_bucket_half", HIST_SUB_HALF);
    bad |= hist_set(o, "count", h->count);
    bad |= hist_set(o, "min", h->min);
    bad |= hist_set(o, "max", h->max);
    bad |= hist_set(o, "clamped", h->clamped);
    bad |= hist_set(o, "p50", lab_hist_percentile(h, 50));
    bad |= hist_set(o, "p90", lab_hist_percentile(h, 90));
    bad |= hist_set(o, "p99", lab_hist_percentile(h, 99));
    bad |= hist_set(o, "p99_9", lab_hist_percentile(h, 99.9));
    bad |= hist_set(o, "p99_99", lab_hist_percentile(h, 99.99));
    bad |= json_object_set_new(o, "buckets", b);
    b = NULL;
    free(text);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
fail:
    json_decref(o);
    json_decref(b);
    free(text);
    return NULL;
}

static bool hist_int(const json_t *j, const char *k, int64_t *v) {
    json_t *x = json_object_get(j, k);
    if (!json_is_integer(x)) return false;
    *v = (int64_t)json_integer_value(x);
    return true;
}

tr_err lab_hist_from_json(const json_t *j, lab_hist *out, char *errbuf, size_t errlen) {
    lab_hist_init(out);
    int64_t half = 0, count = 0, min = 0, max = 0, clamped = 0;
    json_t *b = json_object_get(j, "buckets");
    if (!json_is_object(j) || !hist_int(j, "sub_bucket_half", &half) ||
        !hist_int(j, "count", &count) || !hist_int(j, "min", &min) || !hist_int(j, "max", &max) ||
        !hist_int(j, "clamped", &clamped) || !json_is_string(b)) {
        tr_errf(errbuf, errlen,
                "a histogram needs sub_bucket_half, count, min, max, clamped and buckets");
        return TR_INVALID_ARGUMENT;
    }
    if (half != HIST_SUB_HALF) {
        tr_errf(errbuf, errlen, "a histogram with %lld sub-buckets per half range (this build: %d)",
                (long long)half, HIST_SUB_HALF);
        return TR_INVALID_ARGUMENT;
    }
    int last = -1;
    int64_t sum = 0, lo, hi, lo_first = 0, hi_last = 0;
    const char *p = json_string_value(b);
    for (size_t i = 1; *p != '\0'; i++) {
        /* "index:count", then "," or the end; digits only (no sign, no space) */
        char *end;
        long long idx = -1, c = -1;
        if (*p >= '0' && *p <= '9') {
            errno = 0;
            idx = strtoll(p, &end, 10);
            if (errno == 0 && *end == ':' && end[1] >= '0' && end[1] <= '9') {
                c = strtoll(end + 1, &end, 10);
                if (errno != 0 || (*end != ',' && *end != '\0') || (*end == ',' && end[1] == '\0'))
                    c = -1;
            }
        }
        if (idx <= last || idx >= HIST_NBUCKETS || c <= 0 || c > INT64_MAX - sum) {
            tr_errf(errbuf, errlen,
                    "histogram bucket %zu is not \"index:count\" with an index in order below %d "
                    "and a positive count",
                    i, HIST_NBUCKETS);
            lab_hist_init(out);
            return TR_INVALID_ARGUMENT;
        }
        p = *end == ',' ? end + 1 : end;
        out->counts[idx] = (int64_t)c;
        sum += (int64_t)c;
        lab_hist_bucket_range((int)idx, &lo, &hi);
        if (last < 0) lo_first = lo;
        hi_last = hi;
        last = (int)idx;
    }
    bool ok = sum == count && clamped >= 0 && clamped <= count &&
              (count == 0 ? min == 0 && max == 0
                          : min >= lo_first && min <= max &&
                                lab_hist_index(min) == lab_hist_index(lo_first) && max <= hi_last &&
                                lab_hist_index(max) == lab_hist_index(hi_last));
    if (!ok) {
        tr_errf(errbuf, errlen, "histogram count, min, max or clamped do not match its buckets");
        lab_hist_init(out);
        return TR_INVALID_ARGUMENT;
    }
    out->count = count;
    out->min = min;
    out->max = max;
    out->clamped = clamped;
    return TR_OK;
}
