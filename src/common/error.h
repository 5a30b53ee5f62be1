/* error.h — the one error enum of ticketrush, generated from TR_ERR_MAP so the code,
 * the wire code, the HTTP status and the message cannot drift apart (libuv UV_ERRNO_MAP).
 * Append-only: new codes go at the end. Not a logging facility. */
#ifndef TR_ERROR_H
#define TR_ERROR_H

#include <stddef.h>

/* X(NAME, http_status, "wire_code", "message for a person")
 * The wire codes and statuses are SPEC §2's error table; TR_OK is not an error. */
/* clang-format off */
#define TR_ERR_MAP(X)                                                                          \
    X(OK, 200, "ok", "success")                                                                \
    X(BAD_REQUEST, 400, "bad_request", "the request is malformed")                             \
    X(CONCERT_NOT_FOUND, 404, "concert_not_found", "no concert has this id")                   \
    X(CUSTOMER_NOT_FOUND, 404, "customer_not_found", "no customer has this id")                \
    X(NOT_FOUND, 404, "not_found", "no such resource")                                         \
    X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", "this method is not allowed on this path")\
    X(ALREADY_OWNED, 409, "already_owned", "this customer already has a ticket for this concert") \
    X(SOLD_OUT, 409, "sold_out", "no seat is left for this concert")                           \
    X(SALES_CLOSED, 409, "sales_closed", "sales for this concert have closed")                 \
    X(PAYLOAD_TOO_LARGE, 413, "payload_too_large", "the request body is larger than 4 KiB")    \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type", "the request body must be application/json") \
    X(HEADERS_TOO_LARGE, 431, "headers_too_large", "the request headers are larger than 8 KiB") \
    X(BUSY, 503, "busy", "the concert is busy; retry shortly")                                 \
    X(INTERNAL, 500, "internal", "an internal error occurred")                                 \
    X(UNAVAILABLE, 503, "unavailable", "a backing service does not answer")                    \
    X(PG, 500, "internal", "a PostgreSQL call failed")                                         \
    X(REDIS, 500, "internal", "a Redis call failed")                                           \
    X(NOMEM, 500, "internal", "out of memory")                                                 \
    X(INVALID_ARGUMENT, 500, "internal", "invalid argument")                                   \
    X(FENCED, 503, "busy", "the lock lease expired before the write; a newer holder exists")    \
    X(NOT_IMPLEMENTED, 501, "not_implemented", "the request uses a transfer coding this server does not implement")
/* clang-format on */

typedef enum {
#define TR_ERR_ENUM(name, status, code, msg) TR_##name,
    TR_ERR_MAP(TR_ERR_ENUM)
#undef TR_ERR_ENUM
        TR_ERR__COUNT
} tr_err;

/* Message for a person; never NULL (unknown values give "unknown error"). */
const char *tr_strerror(tr_err e);
/* Wire code for the JSON "error" field (SPEC §2); never NULL. */
const char *tr_err_code(tr_err e);
/* HTTP status for the error; 500 for unknown values. */
int tr_err_http_status(tr_err e);
/* Formats a message for a person into errbuf (errlen bytes at most, NUL-terminated); a NULL
 * errbuf or errlen 0 is a no-op. For library functions that hand back "why" with an error. */
void tr_errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Inverse of tr_err_code for the codes a client sees; TR_INTERNAL for unknown strings. */
tr_err tr_err_from_code(const char *code);

#endif
