/* issuer.h — redis-zset's issuer: turns the waiting line into tickets. See the DESIGN comment in
 * issuer.c. Not the admission script (strategy/redis_zset.c). */
#ifndef TR_ISSUER_H
#define TR_ISSUER_H

#include <stddef.h>

#include "common/error.h"

typedef struct issuer issuer;

/* What an issuer needs; redis-zset fills it from its strategy settings. */
typedef struct issuer_config {
    const char *pg_conninfo; /* libpq connection string (its own connection) */
    const char *redis_addr;  /* "host:port" (its own connection) */
    int batch;               /* members of the line per PostgreSQL transaction (< 1: 1000) */
} issuer_config;

/* Starts the issuer thread with its own PostgreSQL and Redis connections (cfg->pg_conninfo,
 * cfg->redis_addr), up to cfg->batch entries per transaction. *out is set to NULL first.
 * Errors: TR_PG, TR_REDIS, TR_NOMEM, TR_INTERNAL, with errbuf saying why. */
tr_err issuer_start(const issuer_config *cfg, issuer **out, char *errbuf, size_t errlen);

/* Issues what is still in the lines it leads (for at most a few seconds), then stops and frees.
 * NULL is a no-op. */
void issuer_stop(issuer *is);

#endif
