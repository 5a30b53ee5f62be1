/* fuzz_framing.c — http_check_framing (src/http/request.c), RFC 9112 framing of a request from
 * its version and header fields. Input: the first byte picks the version (odd: HTTP/1.0, even:
 * HTTP/1.1); the rest is header lines split at '\n', each split at its first ':' into name and
 * value (a line without ':' is a name with an empty value); any bytes, NUL included.
 * Properties: the verdict is TR_OK, TR_BAD_REQUEST or TR_NOT_IMPLEMENTED (never a 500) with a
 * bounded, plain-ASCII reason; deterministic; names compare case-insensitively; an accepted
 * block has at most one Content-Length, of digits only, never together with Transfer-Encoding,
 * and at most one Transfer-Encoding; adding a second, different Content-Length or a
 * Transfer-Encoding beside its Content-Length makes it refused. */
#include <ctype.h>
#include <strings.h>

#include "fuzz.h"
#include "http/request.h"

#define MAX_FIELDS 64

static bool is_name(const http_field *f, const char *name) {
    size_t n = strlen(name);
    return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

static tr_err check(const char *version, const http_field *fields, size_t n) {
    char why[128];
    memset(why, 'x', sizeof why);
    tr_err rc = http_check_framing(version, fields, n, why, sizeof why);
    FUZZ_CHECK(rc == TR_OK || rc == TR_BAD_REQUEST || rc == TR_NOT_IMPLEMENTED, "verdict %d",
               (int)rc);
    if (rc != TR_OK) {
        size_t len = strnlen(why, sizeof why);
        FUZZ_CHECK(len > 0 && len < sizeof why, "reason not a bounded string (%zu)", len);
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK((unsigned char)why[i] >= 0x20 && (unsigned char)why[i] < 0x7f,
                       "reason byte %zu is 0x%02x", i, (unsigned char)why[i]);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 8192) return 0;
    const char *version = (data[0] & 1) ? "HTTP/1.0" : "HTTP/1.1";
    char *buf = fuzz_copy(data + 1, size - 1);
    size_t len = size - 1;
    http_field f[MAX_FIELDS + 2];
    size_t n = 0;
    for (size_t at = 0; at < len && n < MAX_FIELDS;) {
        size_t end = at;
        while (end < len && buf[end] != '\n') end++;
        size_t colon = at;
        while (colon < end && buf[colon] != ':') colon++;
        f[n].name = buf + at;
        f[n].name_len = colon - at;
        f[n].value = colon < end ? buf + colon + 1 : buf + end;
        f[n].value_len = colon < end ? end - colon - 1 : 0;
        n++;
        at = end + 1;
    }
    tr_err rc = check(version, f, n);
    FUZZ_CHECK(check(version, f, n) == rc, "another verdict the 2nd time");

    /* names in upper case: the same verdict */
    char *upper = fuzz_copy((const uint8_t *)buf, len);
    http_field g[MAX_FIELDS];
    for (size_t i = 0; i < n; i++) {
        g[i] = f[i];
        g[i].name = upper + (f[i].name - buf);
        g[i].value = upper + (f[i].value - buf);
        for (size_t k = 0; k < f[i].name_len; k++)
            upper[(f[i].name - buf) + k] = (char)toupper((unsigned char)f[i].name[k]);
    }
    FUZZ_CHECK(check(version, g, n) == rc, "upper-case names change the verdict");

    if (rc == TR_OK) {
        int ncl = 0, nte = 0;
        const http_field *cl = NULL;
        for (size_t i = 0; i < n; i++) {
            if (is_name(&f[i], "Content-Length")) ncl++, cl = &f[i];
            if (is_name(&f[i], "Transfer-Encoding")) nte++;
        }
        FUZZ_CHECK(ncl <= 1 && nte <= 1 && !(ncl && nte),
                   "accepted with %d Content-Length and %d "
                   "Transfer-Encoding fields",
                   ncl, nte);
        if (cl) {
            FUZZ_CHECK(cl->value_len > 0, "accepted an empty Content-Length");
            for (size_t k = 0; k < cl->value_len; k++)
                FUZZ_CHECK(cl->value[k] >= '0' && cl->value[k] <= '9',
                           "accepted Content-Length \"%.*s\"", (int)cl->value_len, cl->value);
            /* a second, different Content-Length; then a Transfer-Encoding beside it */
            f[n] = (http_field){"content-length", 14, "12345678901", 11};
            if (!(cl->value_len == 11 && memcmp(cl->value, "12345678901", 11) == 0))
                FUZZ_CHECK(check(version, f, n + 1) != TR_OK, "two Content-Length accepted");
            f[n] = (http_field){"Transfer-Encoding", 17, "chunked", 7};
            FUZZ_CHECK(check(version, f, n + 1) != TR_OK,
                       "Transfer-Encoding with Content-Length accepted");
        }
    }
    free(upper);
    free(buf);
    return 0;
}
