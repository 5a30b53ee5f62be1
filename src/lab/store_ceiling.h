/* store_ceiling.h — the lab's third ceiling (issue 12 §3): P, the rate at which redis-atomic's
 * write-behind stores tickets alone — the persister (background/persister.h) draining a stream
 * already full of tickets into PostgreSQL with its own batch size, no HTTP and no purchase
 * script. With L (the server's GET /livez) and S' (the script while seats remain) it gives the
 * whole-work ceiling C'' = 1 / (1/L + 1/S' + 1/P) of a sale on these cores. Not a benchmark of
 * PostgreSQL in general. */
#ifndef TR_STORE_CEILING_H
#define TR_STORE_CEILING_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "store/pg.h"

typedef struct store_ceiling_config {
    const char *pg_conninfo; /* the persister's own connection */
    const char *redis_addr;  /* "host:port" */
    int64_t concert_id;      /* a seeded concert no server sells: its seats get stored */
    int64_t tickets;         /* tickets to store, 1..the concert's seats; ≤ 0: every seat */
    int batch;               /* stream entries per PostgreSQL transaction, 1..10000 (as
                                serve --persist-batch; ≤ 0: 1000) */
} store_ceiling_config;

typedef struct store_ceiling_result {
    int64_t tickets;    /* stored (= requested, unless the time limit struck) */
    int64_t fill_us;    /* writing the stream, owners and seat count into Redis */
    int64_t startup_us; /* persister start until its first row was stored */
    int64_t store_us;   /* first stored batch seen until the last row */
    double per_s;       /* P: tickets stored per second over store_us (the rows after
                                the first batch seen) */
    int64_t commits;    /* PostgreSQL transactions the persister committed */
} store_ceiling_result;

/* Opens the concert's sale (sale.h) with pg, writes `tickets` tickets for customers 1..tickets
 * into its Redis stream exactly as the purchase script would (stream entry, owner, seat count;
 * the concert must have at least that many customers), then starts a persister and waits until
 * it stored them all (at most 10 minutes). The concert's sale is then sold out in Redis and
 * PostgreSQL. Errors: TR_PG, TR_REDIS, TR_CONCERT_NOT_FOUND, TR_INVALID_ARGUMENT (too many
 * tickets), TR_NOMEM, TR_INTERNAL (time limit), with errbuf saying why. */
tr_err store_ceiling_run(pg_conn *pg, const store_ceiling_config *cfg, store_ceiling_result *out,
                         char *errbuf, size_t errlen);

#endif
