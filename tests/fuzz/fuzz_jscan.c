/* fuzz_jscan.c — the member walker of src/lab/jscan.c (the load generator reads every answer
 * with it; runfile.c finds "requests" with it). Properties: every key and value span lies inside
 * the input and a string value keeps both quotes; the walk ends (each member moves forward) and
 * is deterministic; jscan_int64 agrees with strtoll on spans of -?[0-9]+; and, compared with
 * jansson, an object jansson accepts (no duplicate keys, depth well under JSCAN_MAX_DEPTH) is
 * walked to its '}' with as many members — jscan may accept more than jansson (it checks no
 * number syntax or UTF-8), never less. Inputs with a raw NUL byte are left out of that
 * comparison: jansson skips a NUL right after a number (see http_parse_purchase), jscan rightly
 * refuses it. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>

#include "fuzz.h"
#include "lab/jscan.h"

/* A bound on the nesting depth: brackets counted even inside strings, so never below it. */
static int depth_bound(const char *p, size_t n) {
    int d = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '{' || p[i] == '[') d++;
        if (d > max) max = d;
    }
    return max;
}

static void check_int(const char *v, size_t n) {
    if (n == 0 || n > 40) return;
    size_t i = v[0] == '-';
    if (i == n) return;
    for (size_t k = i; k < n; k++)
        if (v[k] < '0' || v[k] > '9') return;
    char buf[48];
    memcpy(buf, v, n);
    buf[n] = '\0';
    errno = 0;
    long long ref = strtoll(buf, NULL, 10);
    bool want = errno == 0;
    int64_t got = -7;
    bool ok = jscan_int64(v, n, &got);
    FUZZ_CHECK(ok == want, "jscan_int64(%s) = %d, strtoll says %d", buf, ok, want);
    if (ok) FUZZ_CHECK(got == ref, "jscan_int64(%s) = %" PRId64, buf, got);
}

/* Walks the object; returns the last jscan_member answer and the member count. */
static int walk(const char *buf, size_t size, size_t *members, bool check) {
    jscan s;
    *members = 0;
    if (!jscan_begin(&s, buf, size)) return -2;
    const char *end = buf + size, *prev = s.p;
    int m;
    const char *k, *v;
    size_t kl, vl;
    while ((m = jscan_member(&s, &k, &kl, &v, &vl)) == 1) {
        (*members)++;
        FUZZ_CHECK(s.p > prev && s.p <= end, "the walk did not move forward");
        prev = s.p;
        if (!check) continue;
        FUZZ_CHECK(k > buf && k + kl < end && k[-1] == '"' && k[kl] == '"', "key span");
        FUZZ_CHECK(v > k + kl && vl > 0 && v + vl <= end, "value span");
        if (v[0] == '"') FUZZ_CHECK(vl >= 2 && v[vl - 1] == '"', "string value without quotes");
        if (v[0] == '{') FUZZ_CHECK(v[vl - 1] == '}', "object value not closed");
        if (v[0] == '[') FUZZ_CHECK(v[vl - 1] == ']', "array value not closed");
        check_int(v, vl);
    }
    FUZZ_CHECK(m == 0 || m == -1, "jscan_member answered %d", m);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *buf = fuzz_copy(data, size);
    size_t n1, n2;
    int m = walk(buf, size, &n1, true);
    FUZZ_CHECK(walk(buf, size, &n2, false) == m && n2 == n1, "another walk the 2nd time");

    json_error_t jerr;
    json_t *root = json_loadb(buf, size, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
    if (root && json_is_object(root) && depth_bound(buf, size) < JSCAN_MAX_DEPTH - 1 &&
        memchr(buf, '\0', size) == NULL)
        FUZZ_CHECK(m == 0 && n1 == json_object_size(root),
                   "jansson reads an object of %zu members; jscan answers %d after %zu",
                   json_object_size(root), m, n1);
    json_decref(root);
    free(buf);
    return 0;
}
