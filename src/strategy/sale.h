/* sale.h — a concert's sale state in Redis, for the strategies that decide in Redis
 * (redis-atomic, redis-zset): the keys, and opening a sale (loading the concert, its issued
 * tickets and the customers from PostgreSQL). Opening is idempotent and is also how a Redis
 * that lost its data is rebuilt: PostgreSQL is the source of truth for what was persisted.
 * Every key of a concert carries the hash tag {concert:ID}, so a Redis Cluster keeps a concert's
 * keys on one shard and one script can touch them all. Not the purchase logic itself. */
#ifndef TR_SALE_H
#define TR_SALE_H

#include <stdint.h>

#include "common/error.h"
#include "store/pg.h"
#include "store/queries.h"
#include "store/redis.h"

/* The keys of one concert's sale. */
typedef struct sale_keys {
    char meta[64];      /* hash: name, starts_at_us, total, vip, ticket_id_base (written last) */
    char customers[64]; /* hash: customer id → name (every customer, warmed at open) */
    char owners[64];    /* hash: customer id → "seat:issued_at_us" */
    char sold[64];      /* string: seats issued so far (the last seat number) */
    char stream[64];    /* stream of issued tickets: c, s, v, t — drained by the persister */
    char line[64];      /* redis-zset: sorted set, member customer id, score = admission number */
    char outcomes[64];  /* redis-zset: hash customer id → "rejected:<code>" */
    char admitted[64];  /* redis-zset: hash customer id → admission time, µs (Redis TIME) */
    char issuer[64];    /* redis-zset: lease lock of the one active issuer, and its fence */
    char issuer_fence[64];
    char loading[64];   /* lease lock held while a sale is being opened */
    char loading_fence[64];
} sale_keys;

/* The Redis set of concert ids whose sale is open; the persister watches their streams. */
#define SALE_OPEN_SET "ticketrush:sales"
/* The persister's consumer group on every concert stream. */
#define SALE_GROUP "persister"

void sale_keys_init(sale_keys *k, int64_t concert_id);

/* Loads the sale of concert_id into Redis unless it is there already: reserves the ticket ids
 * (concert.ticket_id_base), copies the concert, the tickets PostgreSQL holds (owners, sold) and
 * every customer, creates the stream's consumer group, registers the concert in SALE_OPEN_SET,
 * and writes meta last so a purchase never sees a half-loaded sale. One loader at a time per
 * concert (a lease lock); others wait for it. Unknown concerts change nothing.
 * Returns TR_OK, TR_CONCERT_NOT_FOUND, TR_BUSY (another loader held the lock too long), TR_PG
 * or TR_REDIS (errbuf says why). */
tr_err sale_open(pg_conn *pg, redis_conn *r, int64_t concert_id, char *errbuf, size_t errlen);

/* Runs a sale script with keys and the customer id as ARGV[1]. A script answers an array whose
 * first element is {-1} when the sale is not in Redis; then the sale is opened (sale_open) and
 * the script runs once more. Returns the reply (caller frees; an array with ≥ 1 element) or NULL
 * with *rc set (TR_REDIS, TR_PG, TR_CONCERT_NOT_FOUND, TR_BUSY, TR_INTERNAL) and detail saying why. */
redisReply *sale_eval(pg_conn *pg, redis_conn *r, const redis_script *s, int64_t concert_id,
                      int nkeys, const char *const *keys, int64_t customer_id, tr_err *rc,
                      char *detail, size_t detaillen);

/* An integer element of a script reply (integer or decimal string); 0 otherwise. */
int64_t sale_reply_i64(const redisReply *r);

/* Fills t from a script's ticket answer {code, seat, vip, issued_at_us, name, ticket_id,
 * starts_at_us, …} (≥ 7 elements; false and t untouched otherwise). */
bool sale_ticket_from_reply(const redisReply *a, int64_t concert_id, int64_t customer_id,
                            ticket *t);

#endif
