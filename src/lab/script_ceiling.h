/* script_ceiling.h — the lab's second ceiling (issue 3): the redis-atomic purchase script alone
 * against Redis, no HTTP, same script and same kind of keys, driven with the scenario's customer
 * draw. Its throughput S, with the server's own GET /livez throughput L, gives the combined
 * ceiling C = 1 / (1/L + 1/S) a purchase through the server could reach on this machine.
 * Not a load generator for the server. */
#ifndef TR_SCRIPT_CEILING_H
#define TR_SCRIPT_CEILING_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "lab/record.h"
#include "store/pg.h"

typedef struct script_ceiling_config {
    const char *redis_addr;      /* "host:port" */
    int64_t concert_id;          /* a seeded concert used only for this (its seats get sold) */
    int connections;             /* Redis connections, one thread each, 1..64 */
    int in_flight;               /* commands pipelined per connection, 1..4096 */
    const lab_record *customers; /* customer_id of each request, in order; borrowed */
    size_t requests;
} script_ceiling_config;

typedef struct script_ceiling_result {
    int64_t issued, refused, errors; /* script answers: tickets, refusals, Redis errors */
    int64_t duration_us;
    double per_s; /* script calls per second */
    /* The sale phase alone: from the start until the last ticket answer was read (µs; 0 when no
     * ticket was issued) and tickets per second over it. A ticket call writes (owner, seat count,
     * stream entry, and their AOF records) where a refusal only reads, so this rate is lower. */
    int64_t sale_us;
    double sale_per_s;
} script_ceiling_result;

/* Opens the concert's sale (sale.h) with pg, then runs every request as one EVALSHA of the
 * purchase script. Errors: TR_REDIS, TR_PG, TR_CONCERT_NOT_FOUND, TR_NOMEM, TR_INVALID_ARGUMENT,
 * with errbuf saying why. */
tr_err script_ceiling_run(pg_conn *pg, const script_ceiling_config *cfg, script_ceiling_result *out,
                          char *errbuf, size_t errlen);

#endif
