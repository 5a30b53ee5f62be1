/* strategy.c — the registry of purchase strategies (SPEC §3). */
#include "strategy/strategy.h"

#include <string.h>

extern const strategy_ops strategy_naive;
extern const strategy_ops strategy_db_atomic;
extern const strategy_ops strategy_db_lock;
extern const strategy_ops strategy_redis_lock;
extern const strategy_ops strategy_redis_lock_cache;
extern const strategy_ops strategy_redis_zset;
extern const strategy_ops strategy_redis_atomic;
extern const strategy_ops strategy_db_batch;

static const strategy_ops *const registry[] = {
    &strategy_naive,        &strategy_db_lock,          &strategy_db_atomic,
    &strategy_redis_lock,   &strategy_redis_lock_cache, &strategy_redis_zset,
    &strategy_redis_atomic, &strategy_db_batch,
};

#define REGISTRY_LEN ((int)(sizeof registry / sizeof registry[0]))

/* Registration rejects an entry without its required function, purchase_batch without a
 * batch_max of at least 1, and a default worker count outside 0..1024. */
static bool strategy_valid(const strategy_ops *s) {
    if (s == NULL || s->name == NULL || s->purchase == NULL) return false;
    if (s->purchase_batch != NULL && s->batch_max < 1) return false;
    if (s->workers < 0 || s->workers > 1024) return false;
    bool script = s->script != NULL, args = s->script_args != NULL, reply = s->script_reply != NULL;
    return script == args && args == reply && (s->durable != NULL) == (s->watch_durable != NULL);
}

const strategy_ops *strategy_find(const char *name) {
    if (name == NULL) return NULL;
    for (int i = 0; i < REGISTRY_LEN; i++)
        if (strategy_valid(registry[i]) && strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

const strategy_ops *strategy_at(int i) {
    if (i < 0 || i >= REGISTRY_LEN) return NULL;
    return strategy_valid(registry[i]) ? registry[i] : NULL;
}
