/* fuzz_id.c — http_parse_id (src/http/request.c), a decimal id in a path. Checked against a
 * reference built on strtoull: accepted exactly when the text is 1..19 digits without a leading
 * zero whose value is at most 2^63−1, the value is strtoull's, and printing it gives back the
 * text (one spelling per id). Only size bytes are read (an exact-size copy under ASan). */
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 64) return 0;
    char *s = fuzz_copy(data, size);
    int64_t got = -7;
    bool ok = http_parse_id(s, size, &got);

    /* The reference. */
    bool want = size >= 1 && size <= 19 && data[0] != '0';
    for (size_t i = 0; want && i < size; i++) want = data[i] >= '0' && data[i] <= '9';
    unsigned long long ref = 0;
    if (want) {
        char buf[24];
        memcpy(buf, data, size);
        buf[size] = '\0';
        errno = 0;
        ref = strtoull(buf, NULL, 10);
        want = errno == 0 && ref <= (unsigned long long)INT64_MAX;
    }
    FUZZ_CHECK(ok == want, "http_parse_id(\"%.*s\") = %d, reference %d", (int)size, s, ok, want);
    if (ok) {
        FUZZ_CHECK((unsigned long long)got == ref, "value %" PRId64 ", reference %llu", got, ref);
        FUZZ_CHECK(got >= 1, "id %" PRId64 " below 1", got);
        char back[24];
        int n = snprintf(back, sizeof back, "%" PRId64, got);
        FUZZ_CHECK((size_t)n == size && memcmp(back, s, size) == 0, "%.*s printed as %s", (int)size,
                   s, back);
    }
    free(s);
    return 0;
}
