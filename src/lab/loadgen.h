/* loadgen.h — the lab's load generator: one thread, one epoll loop, keep-alive HTTP/1.1
 * connections to a loopback server, one lab_record per request. Closed loop (the default: V
 * virtual users, each sends its next request when the previous answer arrived) or open loop
 * (a rate: request i is due at its scheduled time t_i, whatever the answers do, on as many
 * connections as it needs up to a bound, and its latency counts from t_i). Not a general HTTP client: no TLS,
 * no redirects, no chunked bodies, loopback hosts only (the lab measures a local server). */
#ifndef TR_LAB_LOADGEN_H
#define TR_LAB_LOADGEN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/error.h"
#include "lab/record.h"

#define LG_MAX_VUS 20000                           /* connections per run */
#define LG_DEFAULT_TIME_LIMIT_US (600LL * 1000000) /* 600 s */
#define LG_DEFAULT_PROGRESS_US (2LL * 1000000)     /* 2 s */
#define LG_CONNECT_TIMEOUT_US (10LL * 1000000)     /* opening the V connections before t = 0 */
#define LG_RESPONSE_MAX 8192                       /* head + body of one answer, bytes */
#define LG_MAX_RETRIES 5                           /* sends after the first, per request */
#define LG_RETRY_MAX_S 5                           /* longest Retry-After honoured, s */
#define LG_MAX_URLS 8                              /* servers one run spreads its users over */
#define LG_RECONNECT_RETRY_US (1LL * 1000000)      /* retry_connection_errors: wait 1 s */
#define LG_DEFAULT_MAX_CONNECTIONS 4096            /* open loop: connections at most */
#define LG_DEFAULT_LATE_US (10LL * 1000)           /* open loop: sent 10 ms past its slot is late */

typedef enum {
    LG_TARGET_PURCHASE, /* POST /concert/purchase/ticket {"customerId":C,"concertId":K} */
    LG_TARGET_LIVEZ,    /* GET /livez — the ceiling: the server does no work */
} lg_target;

/* A parsed http://host[:port][/] URL. host is an IPv4 address in 127.0.0.0/8, "localhost"
 * (taken as 127.0.0.1) or "[::1]"; the port defaults to 80. */
typedef struct lg_url {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[64]; /* the Host header value, "127.0.0.1:8080" */
} lg_url;

/* Parses url into *out. Errors: TR_INVALID_ARGUMENT with a message for a person in errbuf
 * (not http://, bad port, a path, or a host that is not loopback). */
tr_err lg_url_parse(const char *url, lg_url *out, char *errbuf, size_t errlen);

/* Called from the loop every progress_every_us: answers so far (done), requests (total), µs
 * since t = 0. It runs inside the measurement: keep it short. */
typedef void (*lg_progress_fn)(void *arg, size_t done, size_t total, int64_t elapsed_us);

typedef struct lg_config {
    const char *url;         /* see lg_url_parse; used when nurls == 0 */
    const char *const *urls; /* nurls URLs (1..LG_MAX_URLS): connection i goes to urls[i % nurls] */
    int nurls;
    double rate;         /* requests/s. > 0: open loop: request i is scheduled at t_i = i / rate
                            s (or on the ramp below) and sent then on a free connection — one
                            more is opened when every open one is busy, up to max_connections;
                            when none can be had it waits, is sent as soon as one is free and
                            counts as late. Its record's sched_us is t_i and its latency counts
                            from t_i. 0: closed loop, as fast as the answers come */
    double ramp_from;    /* open loop: requests/s at t = 0 when ramp_us > 0 (≥ 0); the rate
                            rises (or falls) linearly to `rate` at ramp_us, then holds */
    int64_t ramp_us;     /* open loop: length of that ramp, µs; 0: no ramp */
    int max_connections; /* open loop: connections at most, vus..LG_MAX_VUS; 0 means
                            max(vus, LG_DEFAULT_MAX_CONNECTIONS). Ignored in a closed loop */
    int64_t late_us;     /* open loop: a request sent more than this after t_i counts as late;
                            ≤ 0 means LG_DEFAULT_LATE_US */
    bool retry_connection_errors; /* a purchase whose connection failed before its answer is
                                     sent again, on a new connection, 1 s later (at most
                                     LG_MAX_RETRIES times), as a client that wants its ticket
                                     would; off: recorded as connection_error at once */
    lg_target target;
    int64_t concert_id;      /* > 0 for LG_TARGET_PURCHASE: the concert of every record whose
                                own concert_id is 0 (a festival's records carry theirs) */
    int vus;                 /* 1..LG_MAX_VUS; min(vus, n) connections are opened before t = 0
                                (in an open loop, the first of up to max_connections) */
    int64_t time_limit_us;   /* from t = 0; ≤ 0 means LG_DEFAULT_TIME_LIMIT_US */
    lg_progress_fn progress; /* optional */
    void *progress_arg;
    int64_t progress_every_us; /* ≤ 0 means LG_DEFAULT_PROGRESS_US */
} lg_config;

typedef struct lg_result {
    int64_t started_wall_us; /* CLOCK_REALTIME at t = 0, µs since the Unix epoch */
    int64_t duration_us;     /* t = 0 to the last answer, or to the time limit if it struck */
    int64_t answered;        /* records with an HTTP status */
    int64_t connection_errors, timeouts, bad_responses; /* records with those lab codes */
    int64_t reconnects; /* connections opened after t = 0 (the server closed one) */
    int64_t retries;    /* purchases sent again after a 500 with Retry-After */
    bool timed_out;     /* the time limit struck before every request was answered */
    /* Open loop only (0 otherwise): */
    int64_t late;         /* requests first sent more than late_us after their scheduled time
                             (no free connection within max_connections, or the generator
                             itself behind) — sent anyway, never dropped */
    int64_t max_late_us;  /* the largest (send − scheduled) time of any request, µs */
    int64_t conn_waits;   /* times a due request found every connection busy at the bound */
    int connections_peak; /* connections open at once, at most */
} lg_result;

/* The open loop's schedule: µs from t = 0 at which request i is due, for a constant rate
 * (requests/s, > 0), or a linear ramp from ramp_from to rate over ramp_us, then rate. */
int64_t lg_schedule_us(double rate, double ramp_from, int64_t ramp_us, size_t i);

/* Runs the load: opens cfg->vus connections (all of them before t = 0, so the first requests
 * leave together, as SPEC §4's one-seat scenario wants), then sends recs[0..n) in index order,
 * each on the first virtual user free (closed loop) or at its scheduled time (open loop, see
 * lg_config.rate). recs[i].customer_id is input; every other field is
 * output (see lab_record). A request whose connection died before its answer is recorded as
 * status 0 "connection_error" and is not retried; after the time limit, every unanswered
 * request is status 0 "timeout". Unknown error codes are interned into codes.
 * A purchase answered 500 with Retry-After (the server's "outcome unknown, retrying is safe"),
 * or 503 unavailable with Retry-After (nothing ran: a backend not ready, a sale being brought
 * forward, the server draining), is sent again by the same virtual user after that many seconds
 * (at most LG_RETRY_MAX_S), up to LG_MAX_RETRIES times, as a client that wants its ticket would;
 * a retry answering 409 already_owned with a ticket shows what the first attempt bought. 503
 * busy is not retried (the study counts it as a refusal: R6).
 * Memory: recs is the caller's (the loop allocates only per-connection buffers).
 * Errors (operational, the records are then meaningless): TR_INVALID_ARGUMENT (bad config or
 * URL; errbuf says why), TR_UNAVAILABLE (a connection could not be opened before t = 0),
 * TR_NOMEM, TR_INTERNAL (epoll or socket failure). */
tr_err lg_run(const lg_config *cfg, lab_record *recs, size_t n, lab_codes *codes, lg_result *out,
              char *errbuf, size_t errlen);

/* --- The response parsers, exposed for unit tests. ------------------------------------ */

typedef enum { LG_PARSE_OK, LG_PARSE_MORE, LG_PARSE_BAD } lg_parse_rc;

typedef struct lg_head {
    int status;             /* 100..999 */
    size_t head_len;        /* bytes up to and including the blank line */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked (we flag it, we do not decode it) */
    bool close;             /* Connection: close, or HTTP/1.0 */
    int retry_after_s;      /* Retry-After in seconds (0..86400); -1 when absent or not a number */
} lg_head;

/* Parses the status line and headers of buf[0..len). LG_PARSE_MORE when the blank line is not
 * there yet and len < LG_RESPONSE_MAX; LG_PARSE_BAD for anything that is not HTTP/1.x. */
lg_parse_rc lg_parse_head(const char *buf, size_t len, lg_head *out);

/* Scans a JSON body for the top-level "error" string and "seatNo" integer, walking the object
 * properly (strings with escapes, nested values), so a key inside a nested object or inside a
 * string never matches. *code points into body (*code_len bytes, 0 when absent; escapes are not
 * decoded). *seat_no is 0 when absent or out of int32 range. Returns false when body is not a
 * JSON object (the outputs are then as far as the scan got). *owned_seat_no is the "seatNo" of
 * a top-level "ticket" object (what a 409 already_owned answer carries), 0 when absent. */
bool lg_scan_body(const char *body, size_t len, const char **code, size_t *code_len,
                  int32_t *seat_no, int32_t *owned_seat_no);

#endif
