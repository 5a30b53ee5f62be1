/* histogram.h — the lab's latency histogram: log-linear buckets in the HdrHistogram manner (each
 * power-of-two range split into 128 linear sub-buckets, the lower half of every range past the
 * first kept only once), so any recorded value is known to within 1/128 (< 1 %, two significant
 * digits) of itself, in constant memory (26 KiB), from 0 to 2^32 − 1 µs (71 minutes). Values
 * are µs. Not thread-safe, and not a time series: one histogram per set of answers.
 * Scheme after HdrHistogram's documentation (sub_bucket_count = 2 × 10^2 rounded up to a power
 * of two); the code is ours. */
#ifndef TR_LAB_HISTOGRAM_H
#define TR_LAB_HISTOGRAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define HIST_SUB_BITS 7                                     /* 128 sub-buckets per half range */
#define HIST_SUB_HALF (1 << HIST_SUB_BITS)                  /* 128 */
#define HIST_SUB_COUNT (2 * HIST_SUB_HALF)                  /* 256: values 0..255 are exact */
#define HIST_MAX_US ((int64_t)UINT32_MAX)                   /* 4,294,967,295 µs ≈ 71.6 min */
#define HIST_NBUCKETS (HIST_SUB_COUNT + 24 * HIST_SUB_HALF) /* 3,328 counters */

/* A histogram of µs values. Value type, no heap: lab_hist_init (or zeroing) makes it empty. */
typedef struct lab_hist {
    int64_t count;   /* values recorded */
    int64_t min;     /* exact smallest value recorded (after clamping); 0 when empty */
    int64_t max;     /* exact largest value recorded (after clamping); 0 when empty */
    int64_t clamped; /* values above HIST_MAX_US, recorded as HIST_MAX_US */
    int64_t counts[HIST_NBUCKETS];
} lab_hist;

/* Empties h. */
void lab_hist_init(lab_hist *h);

/* Records one value (µs). A negative value is recorded as 0, one above HIST_MAX_US as
 * HIST_MAX_US (and counted in clamped). */
void lab_hist_record(lab_hist *h, int64_t us);

/* Adds every value of from to into. */
void lab_hist_merge(lab_hist *into, const lab_hist *from);

/* The bucket of value us (clamped to 0..HIST_MAX_US): 0..HIST_NBUCKETS-1. */
int lab_hist_index(int64_t us);

/* The values bucket idx holds: lo..hi inclusive (hi − lo + 1 ≤ lo / 128 past the exact range).
 * idx must be in 0..HIST_NBUCKETS-1. */
void lab_hist_bucket_range(int idx, int64_t *lo, int64_t *hi);

/* The value at percentile p (0..100) by nearest rank, as HdrHistogram reports it: the highest
 * value of the bucket holding the ceil(p/100 × count)-th smallest value (at least the first),
 * but never above max; p = 0 gives min, p = 100 gives max. So the answer is never below the
 * exact percentile, and above it by less than 1/128 of it. −1 when h is empty. */
int64_t lab_hist_percentile(const lab_hist *h, double p);

/* Iteration over non-empty buckets: start with *idx = −1; each call moves to the next non-empty
 * bucket and fills its range and count; false when there is none left. */
bool lab_hist_next(const lab_hist *h, int *idx, int64_t *lo, int64_t *hi, int64_t *count);

/* The run file's form (a new JSON object, caller decrefs; NULL when out of memory):
 *   {"unit":"us","sub_bucket_half":128,"count":N,"min":..,"max":..,"clamped":..,
 *    "p50":..,"p90":..,"p99":..,"p99_9":..,"p99_99":..,
 *    "buckets":"index:count,index:count,…"}   (non-empty buckets only, by index, in one string
 *    so a run file stays short; −1 percentiles when empty)
 * The percentiles are for readers (scripts); lab_hist_from_json recomputes them. */
json_t *lab_hist_to_json(const lab_hist *h);

/* Reads that form into *out. Errors: TR_INVALID_ARGUMENT (errbuf says what is wrong: not an
 * object, another sub-bucket count, an index out of order or range, a count not positive, a
 * count or min/max that does not match the buckets). */
tr_err lab_hist_from_json(const json_t *j, lab_hist *out, char *errbuf, size_t errlen);

#endif
