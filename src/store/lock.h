/* lock.h — a Redis distributed lock with a lease and a fencing token (the lock the study used per
 * concert, done right). Acquire is `SET key token NX PX lease` plus `INCR` of a fencing counter in
 * one script, so token order is acquisition order; release is compare-and-delete in Lua, never a
 * plain DEL (https://redis.io/docs/manual/patterns/distributed-locks/). The fencing token must be
 * checked by the resource (PostgreSQL here): the lease alone cannot stop a stalled holder.
 * Not reentrant, not fair: waiters poll with bounded, jittered backoff. */
#ifndef TR_LOCK_H
#define TR_LOCK_H

#include <stdint.h>

#include "common/error.h"
#include "store/redis.h"

typedef struct redis_lock {
    char key[96];       /* the lock key, e.g. "{concert:7}:lock" */
    char fence_key[96]; /* the fencing counter, e.g. "{concert:7}:fence" */
    char token[48];     /* this holder's unique value (compare-and-delete checks it) */
    int64_t fence;      /* fencing token, > 0 once acquired: strictly increasing per key */
} redis_lock;

/* Fills the keys for a concert's lock and a unique token from worker_id and seq. */
void lock_init_concert(redis_lock *l, int64_t concert_id, uint64_t worker_id, uint64_t seq);

/* Fills arbitrary keys (at most 95 bytes each) and a unique token from worker_id and seq. */
void lock_init_keys(redis_lock *l, const char *key, const char *fence_key, uint64_t worker_id,
                    uint64_t seq);

/* Tries to acquire for up to wait_ms (0 = one try), holding a lease of lease_ms once acquired.
 * Polls with backoff from 1 ms doubling to 50 ms, jittered, never past the deadline.
 * TR_OK (l->fence set), TR_BUSY when the wait ran out or a Redis Cluster cannot serve the lock's
 * slot now (CLUSTERDOWN, TRYAGAIN: nothing ran), TR_REDIS on failure. */
tr_err lock_acquire(redis_conn *r, redis_lock *l, int wait_ms, int lease_ms);

/* Extends the lease to lease_ms if the lock is still ours (compare-and-PEXPIRE in Lua).
 * TR_OK when extended, TR_FENCED when the lock is no longer ours, TR_REDIS on failure. */
tr_err lock_renew(redis_conn *r, const redis_lock *l, int lease_ms);

/* Releases if still ours (compare-and-delete). TR_OK whether or not the lease had expired;
 * TR_REDIS on failure (the lease then frees the lock). */
tr_err lock_release(redis_conn *r, const redis_lock *l);

#endif
