/* record.h — what the lab keeps for one request (lab_record) and the table of outcome codes
 * those records point into (lab_codes). Shared by the load generator, the audit and run files.
 * Not a parser and not I/O: the other lab files fill and read these. */
#ifndef TR_LAB_RECORD_H
#define TR_LAB_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Outcome codes with a fixed index. The server's wire codes (SPEC §2, common/error.h) plus the
 * lab's own: connection_error (the connection died before an answer), timeout (no answer before
 * the run's time limit), bad_response (not HTTP/1.x we understand, e.g. chunked). Codes the server
 * sends that are not listed here are interned after LAB_CODE__KNOWN, so nothing is lost.
 * Append-only; the names are what run files store. */
/* clang-format off */
#define LAB_CODE_MAP(X)                                                                        \
    X(NONE, "")                                                                                \
    X(CONNECTION_ERROR, "connection_error")                                                    \
    X(TIMEOUT, "timeout")                                                                      \
    X(BAD_RESPONSE, "bad_response")                                                            \
    X(SOLD_OUT, "sold_out")                                                                    \
    X(BUSY, "busy")                                                                            \
    X(ALREADY_OWNED, "already_owned")                                                          \
    X(SALES_CLOSED, "sales_closed")                                                            \
    X(BAD_REQUEST, "bad_request")                                                              \
    X(CONCERT_NOT_FOUND, "concert_not_found")                                                  \
    X(CUSTOMER_NOT_FOUND, "customer_not_found")                                                \
    X(NOT_FOUND, "not_found")                                                                  \
    X(METHOD_NOT_ALLOWED, "method_not_allowed")                                                \
    X(PAYLOAD_TOO_LARGE, "payload_too_large")                                                  \
    X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")                                        \
    X(HEADERS_TOO_LARGE, "headers_too_large")                                                  \
    X(INTERNAL, "internal")                                                                    \
    X(UNAVAILABLE, "unavailable")                                                              \
    X(OTHER, "other") /* an unknown code when the table is full, or one not safe to store */
/* clang-format on */

typedef enum {
#define LAB_CODE_ENUM(name, str) LAB_CODE_##name,
    LAB_CODE_MAP(LAB_CODE_ENUM)
#undef LAB_CODE_ENUM
        LAB_CODE__KNOWN
} lab_code;

#define LAB_CODES_MAX_EXTRA 32 /* distinct unknown codes kept verbatim per run */
#define LAB_CODE_MAX_LEN 47    /* longest code kept verbatim, in bytes */

/* Interned outcome codes of one run. Value type (no heap); zero-initialised is ready to use. */
typedef struct lab_codes {
    int nextra;
    char extra[LAB_CODES_MAX_EXTRA][LAB_CODE_MAX_LEN + 1];
} lab_codes;

/* The index of code s (len bytes, need not be NUL-terminated). Known codes map to their fixed
 * index; an unknown code made of [A-Za-z0-9_.-] and at most LAB_CODE_MAX_LEN bytes is added;
 * anything else, or an unknown code once the table is full, maps to LAB_CODE_OTHER.
 * len 0 gives LAB_CODE_NONE. */
uint16_t lab_codes_intern(lab_codes *t, const char *s, size_t len);

/* The name of a code index; "" for LAB_CODE_NONE, "other" for an index not in the table.
 * The string is owned by t (or static) and lives as long as t. */
const char *lab_codes_name(const lab_codes *t, uint16_t code);

/* One request as the load generator saw it. Times are µs of CLOCK_MONOTONIC relative to the
 * run's start (t = 0, just before the first send; see lg_result); -1 means "never" (not sent,
 * or no answer). */
typedef struct lab_record {
    int64_t customer_id; /* input: the customer this request buys for (0 in ceiling mode) */
    int64_t send_us;     /* taken just before the first byte was written (or connect began) */
    int64_t done_us;     /* taken just after the last byte of the answer was read */
    int32_t status;      /* HTTP status; 0 = no usable answer (see code) */
    int32_t seat_no;     /* "seatNo" of a 201 answer, or of the ticket a 409 already_owned
                            answer carries (the customer's ticket, SPEC §2), else 0 */
    uint16_t code;       /* lab_codes index: the JSON "error" field, or a lab code, or NONE */
    uint8_t retries;     /* times it was sent again after a 500 whose outcome was unknown (the
                            answer carried Retry-After); status/code/seat are the last answer's,
                            send_us the first attempt's. Not kept in run files. */
    bool scheduled;      /* open loop (load --rate --open-loop): sched_us holds its slot */
    int64_t sched_us;    /* when scheduled: when the schedule said to send it (t_i = i / rate,
                            or the ramp's), µs from t = 0; latency counts from here, so time
                            spent waiting to be sent is not hidden. Unused otherwise (0) */
    int64_t concert_id;  /* input: the concert it buys at (> 0: a festival's draw,
                            scenario_draw_concerts); 0: the run's one concert
                            (lg_config.concert_id, run_params.concert_id). Last, so positional
                            initialisers written before it still compile */
} lab_record;

/* true when the answer acknowledged a ticket to the client: a 201, or a 409 already_owned that
 * carries the customer's ticket (R7 counts both as acknowledged). */
static inline bool lab_record_acknowledged(const lab_record *r) {
    return r->seat_no > 0 &&
           (r->status == 201 || (r->status == 409 && r->code == LAB_CODE_ALREADY_OWNED));
}

/* The latency of an answered record, µs: from its scheduled send time in an open loop (so a
 * request the generator sent late still counts its wait: no coordinated omission), else from
 * its send time, to its completion. -1 when it has no answer time. */
static inline int64_t lab_record_latency_us(const lab_record *r) {
    if (r->done_us < 0) return -1;
    int64_t from = r->scheduled ? r->sched_us : r->send_us;
    return from >= 0 && r->done_us >= from ? r->done_us - from : -1;
}

/* true when the record holds an HTTP answer (status ≠ 0). */
static inline bool lab_record_answered(const lab_record *r) { return r->status != 0; }

/* The concert record r bought at: its own concert_id, or run_concert when it has none. */
static inline int64_t lab_record_concert(const lab_record *r, int64_t run_concert) {
    return r->concert_id > 0 ? r->concert_id : run_concert;
}

#endif
