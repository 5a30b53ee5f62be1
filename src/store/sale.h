/* sale.h — a concert's sale state in Redis, for the strategies that decide in Redis
 * (redis-atomic, redis-zset): the keys, and opening a sale (loading the concert, its issued
 * tickets and the customers from PostgreSQL). Opening is idempotent and is also how a Redis
 * that lost its data is rebuilt: PostgreSQL is the source of truth for what was persisted.
 * Every key of a concert carries the hash tag {concert:ID}, so a Redis Cluster keeps a concert's
 * keys on one shard and one script can touch them all. Not the purchase logic itself. */
#ifndef TR_SALE_H
#define TR_SALE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "store/pg.h"
#include "store/queries.h"
#include "store/redis.h"

/* The keys of one concert's sale. */
typedef struct sale_keys {
    char meta[64];      /* hash: name, starts_at_us, total, vip, ticket_id_base (written last),
                           synced (the Redis run id the sale was last synced with PostgreSQL on),
                           customers (how many the sale loaded), unheld (seats counted that no
                           one holds, set by a sync; see SALE_SCRIPT_COUNTS) */
    char customers[64]; /* hash: customer id → name (every customer, warmed at open) */
    char owners[64];    /* hash: customer id → "seat:issued_at_us", and ":entry_id" (its stream
                           entry) when redis-atomic wrote it: the ticket may not be stored yet */
    char sold[64];      /* string: seats issued so far (the last seat number) */
    char stream[64];    /* stream of issued tickets: c, s, v, t — drained by the persister */
    char line[64];      /* redis-zset: sorted set, member customer id, score = admission number */
    char outcomes[64];  /* redis-zset: hash customer id → "rejected:<code>" */
    char admitted[64];  /* redis-zset: hash customer id → admission time, µs (Redis TIME) */
    char issuer[64];    /* redis-zset: lease lock of the one active issuer, and its fence */
    char issuer_fence[64];
    char loading[64]; /* lease lock held while a sale is being opened */
    char loading_fence[64];
} sale_keys;

/* The start of every sale script: reads meta into `meta` (starts_at_us, total, vip,
 * ticket_id_base, synced, unheld, customers) and answers SALE_NOT_LOADED / SALE_NOT_SYNCED.
 * KEYS[1] meta, KEYS[2] customers, KEYS[3] owners, KEYS[4] sold; ARGV[2] the run id
 * (REDIS_ARG_RUN_ID). Then SALE_SCRIPT_COUNTS(line) checks the sale's counts — O(1) each — so a
 * Redis that lost some keys or fields without restarting (an operator's DEL, HDEL, DECRBY) is
 * refused before anything is decided on it: the seat (admission) counter exists, is ≥ 0, and
 * equals the owners plus the members waiting in line (line: a Lua expression, 0 for a sale
 * without one) plus meta.unheld, the seats no one holds that the last sync counted (a seat handed
 * out on a state behind PostgreSQL and never stored). SALE_SCRIPT_CUSTOMERS, on the path that is
 * about to answer "unknown customer", refuses instead when the customers hash holds fewer than the
 * sale loaded (meta.customers). */
/* clang-format off */
#define SALE_SCRIPT_GATE                                                                        \
    "local meta = redis.call('HMGET', KEYS[1], 'starts_at_us', 'total', 'vip', 'ticket_id_base',"  \
    " 'synced', 'unheld', 'customers')\n"                                                        \
    "if not meta[1] then return {-1} end\n"                                                      \
    "if meta[5] ~= ARGV[2] then return {-6} end\n"
/* clang-format on */

/* clang-format off */
#define SALE_SCRIPT_COUNTS(line)                                                                \
    "local sold = redis.call('GET', KEYS[4])\n"                                                  \
    "if not sold or tonumber(sold) < 0 or redis.call('HLEN', KEYS[3]) + " line                  \
    " + tonumber(meta[6] or '0') ~= tonumber(sold) then return {-6} end\n"
/* clang-format on */

/* clang-format off */
#define SALE_SCRIPT_CUSTOMERS                                                                   \
    "if redis.call('HLEN', KEYS[2]) < tonumber(meta[7] or '0') then return {-6} end\n"
/* clang-format on */

/* The Redis set of concert ids whose sale is open; the persister watches their streams. One key
 * with no hash tag: on a Redis Cluster it lives in one slot (CRC16 of the whole name), on one
 * master, and every command that touches it names it alone (SADD, SMEMBERS, SREM), routed by it
 * (redis_cmd_key) — never in a script or transaction with a concert's keys, which would be
 * CROSSSLOT. One set for the whole cluster, so a background worker finds every open sale in one
 * read; the name stays what plain Redis has always used. */
#define SALE_OPEN_SET "ticketrush:sales"
/* The persister's consumer group on every concert stream. */
#define SALE_GROUP "persister"

void sale_keys_init(sale_keys *k, int64_t concert_id);

/* PostgreSQL is the record; Redis is a fast copy that can come back behind it (a crash with
 * appendfsync everysec, a replica promoted after a failover, a restore from an older snapshot:
 * each is a new run of Redis, with a new INFO run_id). So a sale is trusted in Redis only on the
 * run it was synced on: meta's `synced` field holds that run id, and every sale script refuses
 * the sale (SALE_NOT_SYNCED) unless its ARGV[2] — REDIS_ARG_RUN_ID, the run id of the server the
 * call reached — is that value, or when the seat counter is missing. Nothing is admitted until
 * the sale is brought forward (sale_open) on the new run. SPEC R7. */

/* Script answers (element 0) shared by the sale scripts. */
#define SALE_NOT_LOADED -1 /* meta is missing: the sale is not in Redis */
#define SALE_NOT_SYNCED -6 /* not synced with PostgreSQL on this run of Redis */

/* How long a request waits for another process's sync of the same sale before it is answered
 * 503 busy with Retry-After (ms). A sync reads every ticket of the concert once. */
#define SALE_SYNC_WAIT_MS 3000

/* What sale_open did, for logs and tests. */
typedef struct sale_sync_report {
    bool loaded;                /* the sale was not in Redis and was loaded from PostgreSQL */
    bool brought_forward;       /* it was there, not synced on this run, and was brought forward */
    int64_t added;              /* owners PostgreSQL holds that Redis had lost */
    int64_t corrected;          /* owners Redis held with another seat or time than PostgreSQL */
    int64_t contradicted;       /* owners only in Redis whose seat PostgreSQL gave to another
                                   customer (removed: Redis decided them on a state behind PG) */
    int64_t renumbered;         /* redis-zset: members of the line numbered with such a seat, or
                                   outside 1..N */
    int64_t restored;           /* redis-atomic: owners restored from tickets still in the stream */
    int64_t customers_reloaded; /* customers loaded again (the hash held fewer than PostgreSQL) */
    int64_t sold_before, sold_after; /* the seat (admission) counter before and after */
    int64_t unheld; /* seats counted that no one holds after the sync (meta.unheld) */
} sale_sync_report;

/* Makes the sale of concert_id trustworthy in Redis on the run r is connected to (it passes the
 * scripts' gate: SALE_SCRIPT_GATE, SALE_SCRIPT_COUNTS, SALE_SCRIPT_CUSTOMERS):
 * - not in Redis: reserves the ticket ids (concert.ticket_id_base), copies the concert, the
 *   tickets PostgreSQL holds (owners, sold) and every customer, creates the stream's consumer
 *   group, registers the concert in SALE_OPEN_SET, writes meta last;
 * - in Redis but not trusted (not synced on this run, or its counts or customers fail the
 *   gate): brings it forward to at least what PostgreSQL holds —
 *   every stored owner with the seat PostgreSQL gives it; tickets still in the stream that
 *   PostgreSQL does not hold yet (the write-behind) as owners too; owners only in Redis whose
 *   seat is outside 1..N or given by PostgreSQL to someone else removed; redis-zset's stored
 *   owners out of the line and the rejections, a line member numbered with a taken or
 *   impossible seat renumbered at the end (or rejected sold_out past N); the seat counter ≥ 0 and
 *   ≥ every seat held; the customers reloaded when Redis holds fewer than PostgreSQL; the
 *   issuer's fencing counter ≥ PostgreSQL's fence; meta.unheld = the seats counted that no one
 *   holds;
 * then marks it synced — only if the server is still the same run (a restart in the middle
 * leaves it unsynced). One loader at a time per concert (a lease lock); others wait for it (a
 * load 60 s, a sync SALE_SYNC_WAIT_MS). Already trusted: one script call (the gate), nothing
 * else. Unknown
 * concerts change nothing. pg may be NULL (then only an already synced sale succeeds).
 * report (may be NULL) says what was done. Returns TR_OK, TR_CONCERT_NOT_FOUND, TR_BUSY (another
 * loader held the lock too long), TR_PG or TR_REDIS (errbuf says why). */
tr_err sale_open(pg_conn *pg, redis_conn *r, int64_t concert_id, sale_sync_report *report,
                 char *errbuf, size_t errlen);

/* Whether the sale is in Redis (*loaded) and passes the scripts' gate on the run r is connected
 * to (*synced): one script call. For background workers that bring a sale forward as soon as
 * Redis restarted, before a purchase asks. TR_OK or TR_REDIS (errbuf says why). */
tr_err sale_state(redis_conn *r, int64_t concert_id, bool *loaded, bool *synced, char *errbuf,
                  size_t errlen);

/* For background workers, about once a second per sale: brings the sale forward (sale_open) when
 * it is loaded but fails the scripts' gate (not synced on this run of Redis, its counts or
 * customers off), or when its seat counter is missing or below the
 * tickets PostgreSQL holds (Redis lost writes without restarting). A sale not in Redis is left
 * alone (the next purchase loads it). One HMGET and one GET when all is well, plus one
 * PostgreSQL query when pg is given. Returns 1 when it brought the sale forward and changed
 * something, 0 when nothing needed changing, -1 when it could not tell or could not sync
 * (report, may be NULL, says what was done). */
int sale_keep_current(pg_conn *pg, redis_conn *r, int64_t concert_id, sale_sync_report *report);

/* Forgets that the sale is synced (HDEL meta synced), so the scripts refuse it until sale_open
 * brings it forward: for a background worker that met a row in PostgreSQL contradicting Redis
 * (a seat or customer stored differently), which means Redis decided on a state behind
 * PostgreSQL. TR_OK or TR_REDIS. */
tr_err sale_mark_unsynced(redis_conn *r, int64_t concert_id);

/* Deletes the Redis state of one concert's sale (concert_id > 0) or of every sale (0): its keys
 * {concert:ID}:* and its entry in SALE_OPEN_SET (every entry for 0), so a reseeded database
 * never meets a stale sale in Redis. Uses KEYS over the whole keyspace: for reseeding, not for a
 * Redis that serves a sale. TR_OK, or TR_REDIS with errbuf saying why. */
tr_err sale_clear(redis_conn *r, int64_t concert_id, char *errbuf, size_t errlen);

/* Whether a Redis error reply means the command was refused before it ran (LOADING, BUSY, OOM,
 * READONLY, MASTERDOWN, NOREPLICAS, CLUSTERDOWN, TRYAGAIN, MISCONF —
 * https://redis.io/docs/reference/protocol-spec/#simple-errors): nothing was written. */
bool sale_refused_unrun(const char *error);

/* Runs a sale script with keys, the customer id as ARGV[1], REDIS_ARG_RUN_ID as ARGV[2] and
 * arg3 as ARGV[3] (NULL: none; the strategy's own, e.g. redis-atomic's durability). A
 * script answers an array whose first element is SALE_NOT_LOADED or SALE_NOT_SYNCED when it
 * cannot decide; then the sale is opened (sale_open) and the script runs again. Returns the reply
 * (caller frees; an array with ≥ 1 element) or NULL with *rc set: TR_REDIS (the call failed: it
 * may have run), TR_CONCERT_NOT_FOUND, TR_BUSY when another process held the sale's loading lock
 * past SALE_SYNC_WAIT_MS, or TR_UNAVAILABLE when nothing ran because Redis refused the call
 * (sale_refused_unrun: loading its data, out of memory, read-only…), a Redis Cluster cannot
 * serve the concert's slot now (CLUSTERDOWN, TRYAGAIN: cluster_error_busy) or the sale could not
 * be opened (PostgreSQL down, a failure — detail says why). */
redisReply *sale_eval(pg_conn *pg, redis_conn *r, const redis_script *s, int64_t concert_id,
                      int nkeys, const char *const *keys, int64_t customer_id, const char *arg3,
                      tr_err *rc, char *detail, size_t detaillen);

/* An integer element of a script reply (integer or decimal string); 0 otherwise. */
int64_t sale_reply_i64(const redisReply *r);

/* Fills t from a script's ticket answer {code, seat, vip, issued_at_us, name, ticket_id,
 * starts_at_us, …} (≥ 7 elements; false and t untouched otherwise). */
bool sale_ticket_from_reply(const redisReply *a, int64_t concert_id, int64_t customer_id,
                            ticket *t);

#ifdef TR_TEST_HOOKS
/* TEST ONLY (test builds: TR_TEST_HOOKS): the next `times` bring-forwards (sale_open of a sale in
 * Redis but not trusted) fail with TR_REDIS after their step `step`, as a Redis or network
 * failure there would: 1 owners written (HSET, HDEL), 2 line and rejections cleaned (ZREM, HDEL),
 * 3 counter raised to the highest seat held, 4 line renumbered, 5 counter raised past the
 * renumbered line, 6 everything but the synced mark. times 0: off. Not thread-safe against a
 * bring-forward running meanwhile: for in-process tests (test_sale_sync). */
void sale_test_fail_bring_forward(int step, int times);
#endif

#endif
