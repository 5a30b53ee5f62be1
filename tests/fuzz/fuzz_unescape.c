/* fuzz_unescape.c — http_unescape (src/http/request.c), libmicrohttpd's URI unescape callback.
 * It ignores its cls and connection arguments (the server registers it with cls NULL), so the
 * harness passes NULL for both, as the unit test does. Properties: the result is what an
 * independent reference decoder gives (%HH decoded, except %00 and %2F/%2f, which stay as
 * written); the returned length is the result's strlen (no NUL was decoded into it) and no
 * more than the input's; the path keeps exactly its '/' bytes (no separator is added). */
#include "fuzz.h"
#include "http/request.h"

static int hex(char c) {
    const char *digits = "0123456789abcdef";
    char lc = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    const char *p = lc ? strchr(digits, lc) : NULL;
    return p ? (int)(p - digits) : -1;
}

/* The reference, by index rather than by pointer. */
static size_t reference(const char *in, char *out) {
    size_t n = strlen(in), w = 0;
    for (size_t i = 0; i < n;) {
        if (in[i] == '%' && i + 2 < n + 1 && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
            int c = hex(in[i + 1]) * 16 + hex(in[i + 2]);
            if (c != 0 && c != '/') {
                out[w++] = (char)c;
                i += 3;
                continue;
            }
        }
        out[w++] = in[i++];
    }
    out[w] = '\0';
    return w;
}

static size_t count_slashes(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += *s == '/';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    char *s = fuzz_cstr(data, size);
    size_t inlen = strlen(s), slashes = count_slashes(s);
    char *want = malloc(inlen + 1);
    if (want == NULL) abort();
    size_t wantlen = reference(s, want);
    size_t n = http_unescape(NULL, NULL, s);
    FUZZ_CHECK(n == strlen(s), "returned %zu, strlen %zu", n, strlen(s));
    FUZZ_CHECK(n <= inlen, "grew from %zu to %zu", inlen, n);
    FUZZ_CHECK(n == wantlen && memcmp(s, want, n) == 0, "\"%s\", reference \"%s\"", s, want);
    FUZZ_CHECK(count_slashes(s) == slashes, "'/' count changed in \"%s\"", s);
    free(want);
    free(s);
    return 0;
}
