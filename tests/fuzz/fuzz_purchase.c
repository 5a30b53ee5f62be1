/* fuzz_purchase.c — http_parse_purchase (src/http/request.c), the purchase body of SPEC §2.
 * Properties beyond "no crash": parsing is deterministic; an accepted body yields both ids in
 * 1..2^63−1, holds no NUL byte, is refused with a byte of garbage after it, and its canonical
 * re-encoding is accepted with the same ids; a refusal always gives a reason that fits its
 * buffer (whose size the input varies, down to 1 byte). */
#include <inttypes.h>

#include "fuzz.h"
#include "http/request.h"

static tr_err parse(const char *body, size_t len, int64_t *co, int64_t *cu, char *why,
                    size_t whylen) {
    *co = *cu = -7;
    return http_parse_purchase(body, len, co, cu, why, whylen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 2 * HTTP_MAX_BODY) return 0; /* the server refuses more with 413 before parsing */
    char *body = fuzz_copy(data, size);
    /* The reason's buffer: 1..160 bytes, then a canary that must stay untouched. */
    size_t whylen = 1 + (size ? data[0] : 0) % 160;
    char why[161 + 8];
    memset(why, 'C', sizeof why);
    int64_t co, cu, co2, cu2;
    tr_err rc = parse(body, size, &co, &cu, why, whylen);
    FUZZ_CHECK(rc == TR_OK || rc == TR_BAD_REQUEST, "rc %d", (int)rc);
    for (size_t i = whylen; i < sizeof why; i++)
        FUZZ_CHECK(why[i] == 'C', "reason written past its %zu bytes", whylen);

    char why2[160];
    tr_err rc2 = parse(body, size, &co2, &cu2, why2, sizeof why2);
    FUZZ_CHECK(rc2 == rc, "second parse gave %d, first %d", (int)rc2, (int)rc);

    if (rc != TR_OK) {
        FUZZ_CHECK(memchr(why, '\0', whylen) != NULL, "reason not terminated");
        FUZZ_CHECK(whylen == 1 || why[0] != '\0', "refused without a reason");
        FUZZ_CHECK(why2[0] != '\0', "refused without a reason");
        free(body);
        return 0;
    }
    FUZZ_CHECK(co >= 1 && cu >= 1, "accepted ids %" PRId64 " %" PRId64, co, cu);
    FUZZ_CHECK(co2 == co && cu2 == cu, "second parse gave other ids");
    FUZZ_CHECK(memchr(body, '\0', size) == NULL, "accepted a body holding a NUL");

    /* One byte of garbage after an accepted body is refused (nothing after the object). */
    char *more = malloc(size + 1);
    if (more == NULL) abort();
    memcpy(more, body, size);
    more[size] = 'x';
    FUZZ_CHECK(parse(more, size + 1, &co2, &cu2, why2, sizeof why2) == TR_BAD_REQUEST,
               "accepted a body with a byte after it");
    free(more);

    /* The canonical body for those ids reads back as the same ids. */
    char canon[96];
    int n = snprintf(canon, sizeof canon, "{\"customerId\":%" PRId64 ",\"concertId\":%" PRId64 "}",
                     cu, co);
    FUZZ_CHECK(parse(canon, (size_t)n, &co2, &cu2, why2, sizeof why2) == TR_OK, "%s: %s", canon,
               why2);
    FUZZ_CHECK(co2 == co && cu2 == cu, "canonical body read other ids");
    free(body);
    return 0;
}
