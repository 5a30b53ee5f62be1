/* lock.c — the Redis lease lock behind lock.h. */
#include "store/lock.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "store/cluster.h"

/* KEYS[1] lock, KEYS[2] fencing counter; ARGV[1] token, ARGV[2] lease ms.
 * Returns the new fencing token, or 0 when the lock is held by someone else. */
/* clang-format off */
static const redis_script acquire_script = {
    "lock_acquire",
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return redis.call('INCR', KEYS[2])\n"
    "end\n"
    "return 0\n"};
/* clang-format on */

/* KEYS[1] lock; ARGV[1] token. Deletes only our own lock. */
/* clang-format off */
static const redis_script release_script = {
    "lock_release",
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n"};
/* clang-format on */

/* KEYS[1] lock; ARGV[1] token, ARGV[2] lease ms. Extends only our own lock. */
/* clang-format off */
static const redis_script renew_script = {
    "lock_renew",
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n"};
/* clang-format on */

void lock_init_concert(redis_lock *l, int64_t concert_id, uint64_t worker_id, uint64_t seq) {
    memset(l, 0, sizeof *l);
    snprintf(l->key, sizeof l->key, "{concert:%" PRId64 "}:lock", concert_id);
    snprintf(l->fence_key, sizeof l->fence_key, "{concert:%" PRId64 "}:fence", concert_id);
    snprintf(l->token, sizeof l->token, "%016" PRIx64 "-%" PRIx64, worker_id, seq);
}

void lock_init_keys(redis_lock *l, const char *key, const char *fence_key, uint64_t worker_id,
                    uint64_t seq) {
    memset(l, 0, sizeof *l);
    snprintf(l->key, sizeof l->key, "%s", key);
    snprintf(l->fence_key, sizeof l->fence_key, "%s", fence_key);
    snprintf(l->token, sizeof l->token, "%016" PRIx64 "-%" PRIx64, worker_id, seq);
}

tr_err lock_acquire(redis_conn *r, redis_lock *l, int wait_ms, int lease_ms) {
    char lease[16];
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *keys[] = {l->key, l->fence_key};
    const char *args[] = {l->token, lease};
    int64_t deadline = tr_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    int64_t backoff = 1;
    /* Cheap per-call jitter so waiters woken together do not retry in lockstep. */
    uint64_t x = (uint64_t)(uintptr_t)l ^ (uint64_t)tr_mono_ms() * 0x9E3779B97F4A7C15ull;
    for (;;) {
        redisReply *rep = redis_eval(r, &acquire_script, 2, keys, 2, args);
        if (rep == NULL) return TR_REDIS;
        if (rep->type != REDIS_REPLY_INTEGER) {
            /* The cluster cannot serve the lock's slot now (CLUSTERDOWN, TRYAGAIN): nothing
             * ran, so "busy, retry shortly" (cluster.h cluster_error_busy). */
            tr_err rc =
                rep->type == REDIS_REPLY_ERROR && cluster_error_busy(rep->str) ? TR_BUSY : TR_REDIS;
            freeReplyObject(rep);
            return rc;
        }
        int64_t fence = rep->integer;
        freeReplyObject(rep);
        if (fence > 0) {
            l->fence = fence;
            return TR_OK;
        }
        int64_t left = deadline - tr_mono_ms();
        if (left <= 0) return TR_BUSY;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t pause = backoff / 2 + (int64_t)(x % (uint64_t)(backoff / 2 + 1));
        if (pause < 1) pause = 1;
        tr_sleep_ms((int)(pause < left ? pause : left));
        if (backoff < 50) backoff *= 2;
    }
}

tr_err lock_renew(redis_conn *r, const redis_lock *l, int lease_ms) {
    char lease[16];
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *keys[] = {l->key};
    const char *args[] = {l->token, lease};
    redisReply *rep = redis_eval(r, &renew_script, 1, keys, 2, args);
    if (rep == NULL) return TR_REDIS;
    tr_err rc = rep->type != REDIS_REPLY_INTEGER ? TR_REDIS : rep->integer == 1 ? TR_OK : TR_FENCED;
    freeReplyObject(rep);
    return rc;
}

tr_err lock_release(redis_conn *r, const redis_lock *l) {
    const char *keys[] = {l->key};
    const char *args[] = {l->token};
    redisReply *rep = redis_eval(r, &release_script, 1, keys, 1, args);
    if (rep == NULL) return TR_REDIS;
    tr_err rc = rep->type == REDIS_REPLY_INTEGER ? TR_OK : TR_REDIS;
    freeReplyObject(rep);
    return rc;
}
