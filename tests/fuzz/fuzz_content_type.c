/* fuzz_content_type.c — http_content_type_is_json (src/http/request.c), the Content-Type check.
 * Properties: deterministic; case does not matter (the media type and the charset parameter
 * are case-insensitive, RFC 9110 §8.3.1); a value it accepts starts, after blanks, with
 * "application/json"; appending "; charset=latin1" to an accepted value makes it refused and
 * appending "; charset=utf-8" keeps it accepted (every parameter is looked at). */
#include <ctype.h>
#include <strings.h>

#include "fuzz.h"
#include "http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1024) return 0;
    char *s = fuzz_cstr(data, size);
    bool ok = http_content_type_is_json(s);
    FUZZ_CHECK(http_content_type_is_json(s) == ok, "another answer the 2nd time");

    size_t n = strlen(s);
    char *buf = malloc(n + 32);
    if (buf == NULL) abort();
    for (size_t i = 0; i <= n; i++) buf[i] = (char)toupper((unsigned char)s[i]);
    FUZZ_CHECK(http_content_type_is_json(buf) == ok, "upper case changes the answer: \"%s\"", s);
    for (size_t i = 0; i <= n; i++) buf[i] = (char)tolower((unsigned char)s[i]);
    FUZZ_CHECK(http_content_type_is_json(buf) == ok, "lower case changes the answer: \"%s\"", s);

    if (ok) {
        const char *p = s + strspn(s, " \t");
        FUZZ_CHECK(strncasecmp(p, "application/json", 16) == 0, "accepted \"%s\"", s);
        snprintf(buf, n + 32, "%s; charset=latin1", s);
        FUZZ_CHECK(!http_content_type_is_json(buf), "accepted \"%s\"", buf);
        snprintf(buf, n + 32, "%s; charset=utf-8", s);
        FUZZ_CHECK(http_content_type_is_json(buf), "refused \"%s\"", buf);
    }
    free(buf);
    free(s);
    return 0;
}
