/* redis_atomic.h — what the lab needs of `redis-atomic` besides its ops: the purchase script, so
 * the script-alone ceiling runs exactly the script the server runs. */
#ifndef TR_REDIS_ATOMIC_H
#define TR_REDIS_ATOMIC_H

#include "store/redis.h"

/* The purchase script (static storage). KEYS: meta, customers, owners, sold, stream (sale.h);
 * ARGV[1]: customer id. See redis_atomic.c for its answers. */
const redis_script *redis_atomic_purchase_script(void);

#endif
