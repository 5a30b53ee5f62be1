/* issuer.h — redis-zset's issuer: turns the waiting line into tickets. See the DESIGN comment in
 * issuer.c. Not the admission script (strategy/redis_zset.c). */
#ifndef TR_ISSUER_H
#define TR_ISSUER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "background/faultlog.h"
#include "common/dynbuf.h"
#include "common/error.h"

typedef struct issuer issuer;

/* What an issuer needs; redis-zset fills it from its strategy settings. */
typedef struct issuer_config {
    const char *pg_conninfo; /* libpq connection string (its own connection) */
    const char *redis_addr;  /* --redis: "host:port[,host:port…]" (its own connection, redis.h) */
    int batch;               /* members of the line per PostgreSQL transaction (< 1: 1000) */
    faultlog_fn log;         /* where failures are told, once per kind (faultlog.h); NULL: only
                                counted (issuer_stats_read). Called from the issuer's thread */
    void *log_arg;           /* handed to log */
    /* test hook (TR_TEST_HOOKS builds), 0 in production: wait this long (ms) after reading a
     * batch from the line and before issuing it */
    int test_delay_ms;
} issuer_config;

/* Starts the issuer thread with its own PostgreSQL and Redis connections (cfg->pg_conninfo,
 * cfg->redis_addr), up to cfg->batch entries per transaction. *out is set to NULL first.
 * Errors: TR_PG, TR_REDIS, TR_NOMEM, TR_INTERNAL, with errbuf saying why. */
tr_err issuer_start(const issuer_config *cfg, issuer **out, char *errbuf, size_t errlen);

/* Issues what is still in the lines it leads (for at most a few seconds), then stops and frees.
 * NULL is a no-op. */
void issuer_stop(issuer *is);

/* ---- failures and metrics (issue 10 §6) --------------------------------------------------------
 * Wiring, for the server: set issuer_config.log (and log_arg) to a function that writes one line
 * to the server's log, e.g. vfprintf(stderr, fmt, ap) and a newline under the log's lock; and on
 * GET /metrics call issuer_stats_read(is, &st) then issuer_stats_render(&st, &buf) after the
 * server's own series. Neither touches Redis or PostgreSQL. */

/* What went wrong, by kind; each is counted and told once per kind (faultlog.h). */
typedef enum issuer_failure {
    ISSUER_FAIL_PG_COMMIT,     /* a batch's transaction failed: its members stay in line */
    ISSUER_FAIL_REDIS_READ,    /* reading the open sales, a line or admission times failed */
    ISSUER_FAIL_REDIS_RECORD,  /* recording outcomes after a commit failed: the members stay in
                                  line and are issued again (inserting nothing) */
    ISSUER_FAIL_CONTRADICTED,  /* members PostgreSQL refused (a seat or customer it holds
                                  otherwise): the sale is brought forward; counted per member */
    ISSUER_FAIL_BRING_FORWARD, /* a sale could not be brought forward (store/sale.h) */
    ISSUER_FAILURE_KINDS
} issuer_failure;

/* The metric label of a kind ("pg_commit", …); "unknown" out of range. */
const char *issuer_failure_name(issuer_failure kind);

/* A snapshot of one issuer's counters; counters count since issuer_start. */
typedef struct issuer_stats {
    int64_t batches;  /* PostgreSQL transactions that issued tickets */
    int64_t tickets;  /* members recorded issued (a member issued by an earlier, crashed pass and
                         found present counts here too) */
    int64_t rejected; /* members rejected sold_out (never issued) */
    int64_t failures[ISSUER_FAILURE_KINDS];
    int lines;   /* waiting lines (open sales) known */
    int leading; /* lines this issuer holds the lease of (the others are another process's) */
    int64_t line_length; /* members waiting in every known line, led here or not: sampled about
                            once a second (ZCARD), as last sampled, 0 before the first sample */
} issuer_stats;

/* Fills *out. Thread-safe; cheap (no I/O). is must be started. */
void issuer_stats_read(issuer *is, issuer_stats *out);

/* Appends st as Prometheus text (ticketrush_issuer_*, with # HELP and # TYPE lines). false when
 * the buffer failed. */
bool issuer_stats_render(const issuer_stats *st, dynbuf *out);

#endif
