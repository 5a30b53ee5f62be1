/* pool.c — the request worker pool (service.h): a FIFO of suspended requests and a fixed number
 * of threads, each owning one PostgreSQL and one Redis connection, that run the routes which
 * block (PostgreSQL transactions, lease locks, opening a sale) and hand each request back to the
 * event loop that holds its connection. Not the event loops (front.c).
 *
 * DESIGN
 * - Queue: one list under one mutex; workers take jobs in arrival order, one at a time —
 *   except purchases of a strategy that decides them in batches (strategy_batch_max > 1): a
 *   worker that takes a purchase also takes the purchases waiting right behind it, in arrival
 *   order, up to batch_max, without waiting for more; the first job that is not a purchase
 *   stops the batch, so other jobs keep their place. One such batch is decided at a time:
 *   while a worker decides one, the purchases wait in the queue (so the next batch takes all
 *   that arrived meanwhile: a batching strategy pays per batch — a plan, a row lock, a commit —
 *   so bigger batches cost less per purchase) and the other workers take the jobs that are not
 *   purchases, the first in arrival order. Purchases keep their order among themselves.
 * - A worker connects before its first job (so a fresh server's first burst does not pay for
 *   it) and again when a connection is missing; the store wrappers reconnect after a loss.
 * - With PostgreSQL down, a route flagged ROUTE_WITHOUT_PG is still served when the strategy
 *   admits from Redis alone; ROUTE_ANY_BACKEND (/readyz) always is; others answer 500.
 * - Stop: pool_finish lets the workers empty the queue and leave; past the drain time
 *   (pool_drain_over) queued jobs are refused 503 and running statements cancelled. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/service.h"

typedef struct worker {
    pool *pool;
    pthread_t thread;
    bool started;
    strategy_ctx ctx;
    http_job **batch; /* the jobs taken together, pool.batch_max of them */
} worker;

struct pool {
    server *srv;
    void (*done)(http_job *j);
    worker *workers;
    int n;
    int batch_max; /* strategy_batch_max: purchases one worker takes at a time (1: no batches) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    http_job *head, *tail;
    bool batch_running;     /* a worker decides a purchase batch (batch_max > 1 only) */
    int others;             /* queued jobs that are not purchases */
    bool finishing;         /* workers leave once the queue is empty; no new jobs */
    atomic_bool drain_over; /* queued jobs get 503 */
    atomic_int running;     /* worker threads not yet returned */
};

static bool job_is_purchase(const http_job *j) {
    return j->route != NULL && (j->route->flags & ROUTE_PURCHASE);
}

bool pool_push(pool *p, http_job *j) {
    pthread_mutex_lock(&p->mu);
    bool ok = !p->finishing;
    if (ok) {
        j->next = NULL;
        if (p->tail) p->tail->next = j;
        else p->head = j;
        p->tail = j;
        bool purchase = job_is_purchase(j);
        if (!purchase) p->others++;
        /* a purchase waits for the running batch's worker (pool_batch_done wakes everyone) */
        if (!purchase || !p->batch_running) pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* Unlinks j, which follows prev (NULL: j is the head), from the queue. */
static void pool_unlink(pool *p, http_job *prev, http_job *j) {
    if (!job_is_purchase(j)) p->others--;
    if (prev) prev->next = j->next;
    else p->head = j->next;
    if (p->tail == j) p->tail = prev;
}

/* The first queued job that is not a purchase, and the job before it (NULL: the head); NULL
 * when there is none. */
static http_job *pool_first_other(pool *p, http_job **prev) {
    *prev = NULL;
    for (http_job *j = p->head; j; j = j->next) {
        if (!job_is_purchase(j)) return j;
        *prev = j;
    }
    return NULL;
}

/* Waits for a job and takes it into out[0]; when it is a purchase, also the purchases right
 * behind it, up to p->batch_max in all; while another worker decides a batch, only a job that
 * is not a purchase (see DESIGN). Returns how many; 0 once the pool finished and the queue is
 * empty. */
static int pool_pop(pool *p, http_job **out) {
    pthread_mutex_lock(&p->mu);
    int n = 0;
    for (;;) {
        if (p->head == NULL) {
            if (p->finishing) break;
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        bool batching = p->batch_max > 1;
        if (batching && p->batch_running) {
            http_job *prev = NULL, *j = p->others > 0 ? pool_first_other(p, &prev) : NULL;
            if (j == NULL) { /* only purchases: the batch's worker takes them when it is done */
                pthread_cond_wait(&p->cv, &p->mu);
                continue;
            }
            pool_unlink(p, prev, j);
            out[n++] = j;
            break;
        }
        out[n++] = p->head;
        pool_unlink(p, NULL, p->head);
        if (job_is_purchase(out[0])) {
            while (n < p->batch_max && p->head && job_is_purchase(p->head)) {
                out[n++] = p->head;
                pool_unlink(p, NULL, p->head);
            }
            if (batching) p->batch_running = true;
        }
        break;
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* After a worker decided the batch pool_pop gave it: the next may start. */
static void pool_batch_done(pool *p) {
    pthread_mutex_lock(&p->mu);
    p->batch_running = false;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Makes sure the worker's connections exist (trying both, so /readyz can tell which is down). */
static tr_err worker_connect(worker *w) {
    server *s = w->pool->srv;
    char err[256];
    tr_err rc = TR_OK;
    if (w->ctx.pg == NULL) {
        pg_conn *c = NULL;
        if (pg_conn_open(s->cfg.pg_conninfo, &c, err, sizeof err) != TR_OK) {
            snprintf(w->ctx.detail, sizeof w->ctx.detail, "%s", err);
            rc = TR_PG;
        }
        pthread_mutex_lock(&w->pool->mu); /* pool_drain_over may read it to cancel a statement */
        w->ctx.pg = c;
        pthread_mutex_unlock(&w->pool->mu);
    }
    if (s->cfg.redis_addr && s->cfg.redis_addr[0] && w->ctx.redis == NULL &&
        redis_conn_open(s->cfg.redis_addr, 2000, &w->ctx.redis, err, sizeof err) != TR_OK) {
        if (rc == TR_OK) snprintf(w->ctx.detail, sizeof w->ctx.detail, "%s", err);
        if (rc == TR_OK) rc = TR_REDIS;
    }
    return rc;
}

/* Whether w can take j after worker_connect answered rc (see DESIGN). */
static bool worker_can_serve(worker *w, const http_job *j, tr_err rc) {
    unsigned flags = j->route->flags;
    if (rc == TR_OK || (flags & ROUTE_ANY_BACKEND)) return true;
    if (rc != TR_PG || w->ctx.redis == NULL || !w->pool->srv->strategy->admits_without_pg ||
        !(flags & ROUTE_WITHOUT_PG))
        return false;
    w->ctx.detail[0] = '\0'; /* the connect error is not this job's */
    return true;
}

/* Runs the n jobs pool_pop took: one job through its route, or purchases together. */
static void worker_run(worker *w, http_job **jobs, int n) {
    pool *p = w->pool;
    if (atomic_load(&p->drain_over)) {
        for (int i = 0; i < n; i++) job_shutting_down(jobs[i]);
        return;
    }
    tr_err rc = worker_connect(w);
    if (!worker_can_serve(w, jobs[0], rc)) { /* the same answer for every job: same route */
        for (int i = 0; i < n; i++) job_internal(jobs[i], &w->ctx, rc);
    } else if (p->batch_max > 1 && job_is_purchase(jobs[0])) {
        routes_purchase_batch(jobs, n, &w->ctx);
    } else {
        jobs[0]->route->fn(jobs[0], &w->ctx);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pool *p = w->pool;
    int n;
    worker_connect(w);
    w->ctx.detail[0] = '\0';
    while ((n = pool_pop(p, w->batch)) > 0) {
        bool batch = p->batch_max > 1 && job_is_purchase(w->batch[0]);
        worker_run(w, w->batch, n);
        if (batch) pool_batch_done(p); /* decided: the answers need not wait for the next */
        for (int i = 0; i < n; i++) p->done(w->batch[i]);
    }
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}

tr_err pool_start(server *s, int n, void (*done)(http_job *j), pool **out, char *errbuf,
                  size_t errlen) {
    *out = NULL;
    pool *p = calloc(1, sizeof *p);
    if (p == NULL || (p->workers = calloc((size_t)n, sizeof *p->workers)) == NULL) {
        free(p);
        return TR_NOMEM;
    }
    p->srv = s;
    p->done = done;
    p->n = n;
    p->batch_max = strategy_batch_max(s->strategy);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < n; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        if ((w->batch = calloc((size_t)p->batch_max, sizeof *w->batch)) == NULL) {
            snprintf(errbuf, errlen, "out of memory for worker %d", i);
            pool_finish(p);
            pool_free(p);
            return TR_NOMEM;
        }
        w->ctx.cfg = &s->cfg.strategy_cfg;
        w->ctx.state = s->strategy_state;
        /* unique per worker and process, for lock tokens */
        w->ctx.worker_id = ((uint64_t)getpid() << 20) ^ ((uint64_t)time(NULL) << 32) ^ (uint64_t)i;
        atomic_fetch_add(&p->running, 1);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            atomic_fetch_sub(&p->running, 1);
            snprintf(errbuf, errlen, "could not start worker thread %d", i);
            pool_finish(p);
            pool_free(p);
            return TR_INTERNAL;
        }
        w->started = true;
        char name[16]; /* the kernel keeps 15 bytes */
        snprintf(name, sizeof name, "tr-worker-%d", i % 10000);
        pthread_setname_np(w->thread, name); /* for top -H, perf sched; best effort */
    }
    *out = p;
    return TR_OK;
}

void pool_finish(pool *p) {
    if (p == NULL) return;
    pthread_mutex_lock(&p->mu);
    p->finishing = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int pool_running(pool *p) { return p ? atomic_load(&p->running) : 0; }

void pool_drain_over(pool *p) {
    if (p == NULL) return;
    atomic_store(&p->drain_over, true);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++) pg_conn_cancel(p->workers[i].ctx.pg);
    pthread_mutex_unlock(&p->mu);
}

void pool_free(pool *p) {
    if (p == NULL) return;
    for (int i = 0; i < p->n; i++)
        if (p->workers[i].started) pthread_join(p->workers[i].thread, NULL);
    for (int i = 0; i < p->n; i++) {
        pg_conn_free(p->workers[i].ctx.pg);
        redis_conn_free(p->workers[i].ctx.redis);
        free(p->workers[i].batch);
    }
    free(p->workers);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
