/* persister.h — drains the ticket streams that redis-atomic appends to into PostgreSQL
 * (write-behind). See the DESIGN comment in persister.c. Not the purchase script. */
#ifndef TR_PERSISTER_H
#define TR_PERSISTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "background/faultlog.h"
#include "common/dynbuf.h"
#include "common/error.h"

typedef struct persister persister;

/* What a persister needs; redis-atomic fills it from its strategy settings. */
typedef struct persister_config {
    const char *pg_conninfo; /* libpq connection string (its own connection) */
    const char *redis_addr;  /* --redis: "host:port[,host:port…]" (its own connection, redis.h) */
    int batch;               /* stream entries per PostgreSQL transaction, 1..10000 (< 1: 1000) */
    int reclaim_idle_ms;     /* pending entries idle this long (ms) belong to a dead persister and
                                are reclaimed (XAUTOCLAIM); < 1: 30000 */
    int test_delay_ms;       /* test hook, 0 in production: wait this long before each commit */
    faultlog_fn log;         /* where failures are told, once per kind (faultlog.h); NULL: only
                                counted (persister_stats_read). Called from its thread */
    void *log_arg;           /* handed to log */
} persister_config;

/* A Redis stream entry id ("1732890000000-5"), as two numbers that order like the id. */
typedef struct stream_id {
    uint64_t ms;
    uint64_t seq;
} stream_id;

/* Parses "ms-seq"; false when malformed. */
bool stream_id_parse(const char *s, stream_id *out);

/* The run stamp of a Redis run id (redis.h): its first 16 hex digits as a number, 0 when s is ""
 * or not hex. Names one run of one Redis server (a restart, or a replica promoted, is another),
 * so that a stream entry id is only compared with ids of the same stream history: the purchase
 * script writes its run's stamp into each entry ("r") and answers it, and the persister records
 * which run each stored range was read from (persister_durable). */
uint64_t persister_run_stamp(const char *run_id);

/* Starts the persister thread with its own PostgreSQL and Redis connections
 * (cfg->pg_conninfo, cfg->redis_addr), batch size cfg->batch, reclaim after
 * cfg->reclaim_idle_ms. *out is set to NULL first. Errors: TR_PG, TR_REDIS, TR_NOMEM,
 * TR_INTERNAL (thread), with errbuf saying why. */
tr_err persister_start(const persister_config *cfg, persister **out, char *errbuf, size_t errlen);

/* Drains: persists every entry already in the streams (for 5 s at most: what a failing backend
 * keeps from being stored stays in the streams for the next persister), then stops and frees.
 * NULL is a no-op. */
void persister_stop(persister *p);

/* Whether entry id of concert_id's stream is durable: 1 when committed in PostgreSQL by this
 * persister or announced committed by another server process's (ticketrush_stored), -1 when it
 * can never be stored (PostgreSQL contradicted it), 0 not known yet. run is the stamp
 * (persister_run_stamp) of the Redis run the answer was decided on: the entry is in that run's
 * stream (written there, or there when a repeat purchase named it), and only what was read from
 * that run, or entries that run wrote read from a later one, can confirm it — a Redis that came
 * back without some entries starts a new history whose ids pass over the lost ones (issue 11).
 * 0 never confirms. Remembers the last 512 batches per concert (seconds of load), so ask soon
 * after the entry was written. Never blocks (--durability strict holds its answers on the event
 * loops, see strategy.h). Thread-safe. */
int persister_durable(persister *p, int64_t concert_id, stream_id id, uint64_t run);

/* Adds (on) or removes (!on) fn(arg), which the persister's thread calls after every batch it
 * publishes, e.g. to wake an event loop that polls persister_durable. fn must be quick and must
 * not call into the persister. At most 64 at once; false when full. Once removal returns, fn is
 * not running and will not run for arg. Thread-safe. */
bool persister_on_commit(persister *p, void (*fn)(void *arg), void *arg, bool on);

/* ---- failures and metrics (issue 10 §6) --------------------------------------------------------
 * Wiring, for the server: set persister_config.log (and log_arg) to a function that writes one
 * line to the server's log, e.g. vfprintf(stderr, fmt, ap) and a newline under the log's lock;
 * and on GET /metrics call persister_stats_read(p, &st) then persister_stats_render(&st, &buf)
 * after the server's own series. Neither touches Redis or PostgreSQL. */

/* What went wrong, by kind; each is counted and told once per kind (faultlog.h). */
typedef enum persister_failure {
    PERSISTER_FAIL_PG_COMMIT,     /* a batch's transaction failed: it stays pending, read again */
    PERSISTER_FAIL_REDIS_READ,    /* reading the streams or the open sales from Redis failed */
    PERSISTER_FAIL_REDIS_ACK,     /* XACK after a commit failed: the entries are read and stored
                                     again (inserting nothing) */
    PERSISTER_FAIL_CONTRADICTED,  /* entries PostgreSQL contradicts (a seat or customer it holds
                                     otherwise): never stored; counted per entry */
    PERSISTER_FAIL_UNREADABLE,    /* entries deleted or without their fields: acknowledged
                                     unstored; counted per entry */
    PERSISTER_FAIL_BRING_FORWARD, /* a sale could not be brought forward (store/sale.h) */
    PERSISTER_FAILURE_KINDS
} persister_failure;

/* The metric label of a kind ("pg_commit", …); "unknown" out of range. */
const char *persister_failure_name(persister_failure kind);

/* A snapshot of one persister's counters; counters count since persister_start. */
typedef struct persister_stats {
    int64_t commits;     /* PostgreSQL transactions that stored entries */
    int64_t rows_stored; /* tickets inserted; an entry PostgreSQL already held is not counted */
    int64_t syncs;       /* sales this persister brought forward (a Redis behind PostgreSQL) */
    int64_t failures[PERSISTER_FAILURE_KINDS];
    int sales; /* streams watched (open sales) */
    /* The backlog, sampled by the persister's thread about once a second (as last sampled;
     * 0 before the first sample): entries of the watched streams not acknowledged yet — delivered
     * to any server's persister and pending, or not delivered yet — and the age of the oldest of
     * them by Redis's clock (its id's time is Redis's clock at XADD), seconds, 0 when none. */
    int64_t pending;
    double oldest_pending_s;
} persister_stats;

/* Fills *out. Thread-safe; cheap (no I/O). p must be started. */
void persister_stats_read(persister *p, persister_stats *out);

/* Appends st as Prometheus text (ticketrush_persister_*, with # HELP and # TYPE lines).
 * false when the buffer failed. */
bool persister_stats_render(const persister_stats *st, dynbuf *out);

#endif
