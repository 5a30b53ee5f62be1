/* redis_lock.h — the part of `redis-lock` that `redis-lock-cache` reuses. */
#ifndef TR_REDIS_LOCK_H
#define TR_REDIS_LOCK_H

#include "strategy/strategy.h"

/* Acquires the concert's lease lock (waiting up to cfg->lock_wait_ms), runs the fenced
 * read-modify-write in PostgreSQL and releases. Returns TR_OK (out->t issued), TR_BUSY (lock not
 * acquired in time) or TR_FENCED (lease expired before the write; nothing written), both with
 * out->retry_after_s set, TR_ALREADY_OWNED / TR_SALES_CLOSED / TR_SOLD_OUT, TR_REDIS or TR_PG
 * (ctx->detail says why). Does not set out->err. */
tr_err redis_lock_purchase_locked(strategy_ctx *ctx, int64_t concert_id, int64_t customer_id,
                                  purchase_result *out);

#endif
