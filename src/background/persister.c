/* persister.c — redis-atomic's write-behind: Redis Streams → PostgreSQL.
 *
 * DESIGN
 * - Queue: one Redis Stream per concert ({concert:ID}:tickets), appended by the purchase script;
 *   the concerts to watch are the members of SALE_OPEN_SET. Every persister reads through the
 *   consumer group SALE_GROUP with its own consumer name (host:pid), so several server processes
 *   share the work and each entry is delivered to one of them
 *   (https://redis.io/docs/data-types/streams/#consumer-groups).
 * - Batches: XREADGROUP COUNT persist_batch; each batch is one PostgreSQL statement (a multi-row
 *   INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING plus remaining -= rows inserted), so a batch
 *   replayed after a crash inserts nothing twice and never decrements twice (R7, R8). While one
 *   batch commits, new entries pile up for the next: that is the group commit strict mode uses.
 * - Ack after commit: XACK only after the commit succeeded. A failed commit leaves the entries
 *   pending for this consumer; they are read again from the pending entries list (ID 0).
 * - Crash: entries delivered to a persister that died stay pending under its name; every
 *   persister periodically reclaims entries idle longer than reclaim_idle_ms (XAUTOCLAIM) and
 *   stores them (idempotent, see above).
 * - Ordering: entries of a concert are committed in stream order, which is seat order, except
 *   reclaimed ones. A strict answer (held on an event loop) asks by entry id whether its batch
 *   committed, looked up in the ranges finished lately (watch.done, this persister's and those
 *   other processes announced): never by "up to id X", as another process's consumer may still
 *   hold an entry below X.
 * - Histories: a range is a run of one stream as one Redis run (process) held it, and says
 *   nothing about another run's stream. A Redis that came back without some entries (restarted
 *   on an older file, a replica promoted without the master's last writes) starts a new history
 *   whose ids pass over the lost ones: a batch read there may span the id of an entry that is
 *   gone for good, whose answer still waits (issue 11: such an answer was confirmed — a 201 for a
 *   ticket never stored). So every range carries the run stamp (persister_run_stamp) of the run
 *   it was read from, and an answer is confirmed only by a range of the run it was decided on.
 *   Entries another run wrote (their "r" field) that reached this one (replicated, or in the
 *   file it started from: a prefix of that run's history) are also recorded under their writer's
 *   stamp, by runs of consecutive entries of one writer, so the answers given there are
 *   confirmed too.
 * - Trimming: XTRIM MINID never passes the oldest pending entry nor the last acknowledged one.
 * - Stop: after the last request, read until the streams hold nothing new, then exit; at most
 *   STOP_DRAIN_MS, so a backend that is down cannot hold the process: the rest stays in the
 *   streams for the next persister (Redis keeps it; with AOF, across restarts too).
 * - Redis Cluster (redis.h): each concert's stream lives on the master of its slot, and one
 *   command may name keys of one slot only, so the streams are read one by one, each routed to
 *   its master: a pass without blocking, then (when no stream had anything) one blocking pass of
 *   BLOCK_MS in all. A stream whose slot moved is followed there (MOVED: the map is read again);
 *   its consumer group moves with it (MIGRATE carries the stream whole). Plain Redis: one
 *   XREADGROUP over every stream, as before.
 * - Failures are counted by kind and told once per kind through cfg.log (faultlog.h); the
 *   counters and the backlog (sampled with the open sales, once a second) are read with
 *   persister_stats_read from any thread. */
#include "common/clock.h"
#include "background/persister.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "background/promtext.h"
#include "common/dynbuf.h"
#include "store/pg.h"
#include "store/redis.h"
#include "store/sale.h"

#define MAX_CONCERTS 256
#define MAX_FAILED 4096
#define REFRESH_MS 1000
#define BLOCK_MS 20
#define STOP_DRAIN_MS 5000 /* at stop, how long to keep storing before leaving the rest */

/* What this persister finished (stored or failed) lately, one range per batch, newest last in a
 * ring: a batch read with '>' is a contiguous run of the stream (no other consumer got an entry
 * inside it); entries read again from the pending list are one range each. Never "every entry up
 * to X": with several server processes, other consumers' entries lie between ours, unfinished. */
#define DONE_RANGES 512

typedef struct id_range {
    stream_id first, last;
    uint64_t run; /* the run stamp of the stream history the range is a run of */
} id_range;

typedef struct watch {
    int64_t concert_id;
    char stream[64];
    id_range done[DONE_RANGES];
    int ndone, done_next; /* ranges held (≤ DONE_RANGES); where the next one goes */
    stream_id done_max;   /* the highest id in done: anything above is not finished (fast no) */
    bool retry_pending;   /* a commit failed: read this consumer's pending entries again */
    int batches;          /* for trimming every few batches */
} watch;

typedef struct entry {
    stream_id sid;
    char id_text[48];
    int64_t ticket_id, customer_id, issued_us;
    int32_t seat;
    bool vip;
    bool durable;
    uint64_t run; /* the stamp of the run that wrote it ("r"), 0 when the entry has none */
} entry;

struct persister {
    persister_config cfg;
    char consumer[96];
    pg_conn *pg;
    redis_conn *redis;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    int64_t give_up_ms; /* with stopping: when to leave the rest (tr_mono_ms clock), under mu */
    watch watches[MAX_CONCERTS];
    int nwatches;
    struct {
        int64_t concert_id;
        stream_id id;
    } failed[MAX_FAILED];
    int nfailed;
    int64_t next_refresh_ms, next_reclaim_ms;
    entry *batch;     /* persist_batch entries */
    id_range *ranges; /* 2 × persist_batch: what a batch finished (batch_ranges) */
    struct {
        void (*fn)(void *arg);
        void *arg;
    } on_commit[64]; /* under mu */
    int non_commit;
    faultlog faults;      /* failures by kind (the thread tells them; any thread counts) */
    atomic_llong commits; /* persister_stats, read by any thread */
    atomic_llong rows_stored;
    atomic_llong syncs;
    atomic_llong pending; /* the backlog as last sampled (sample_backlog) */
    atomic_llong oldest_pending_ms;
    uint64_t listening_on; /* pg_conn_connects of the session that LISTENs (0: none yet) */
};

bool stream_id_parse(const char *s, stream_id *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long ms = strtoull(s, &end, 10);
    if (errno || end == s || *end != '-') return false;
    const char *q = end + 1;
    unsigned long long seq = strtoull(q, &end, 10);
    if (errno || end == q || *end != '\0') return false;
    out->ms = ms;
    out->seq = seq;
    return true;
}

uint64_t persister_run_stamp(const char *run_id) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = run_id ? run_id[i] : '\0';
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0) return 0;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

/* The stamp of the run a call about key went to: valid right after that call (nothing between
 * may reconnect). */
static uint64_t reading_run(persister *p, const char *key) {
    return persister_run_stamp(redis_conn_run_id_key(p->redis, key));
}

static int sid_cmp(stream_id a, stream_id b) {
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
    return 0;
}

/* Stopping, and past the drain limit (counted from persister_stop, not from when this thread
 * noticed: it may have been waiting on a lock all along). */
static bool is_past_drain(persister *p) {
    pthread_mutex_lock(&p->mu);
    bool past = p->stopping && tr_mono_ms() > p->give_up_ms;
    pthread_mutex_unlock(&p->mu);
    return past;
}

static bool is_stopping(persister *p) {
    pthread_mutex_lock(&p->mu);
    bool s = p->stopping;
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* ---- watching the open sales ---------------------------------------------------------------- */

static watch *watch_find(persister *p, int64_t concert_id) {
    for (int i = 0; i < p->nwatches; i++)
        if (p->watches[i].concert_id == concert_id) return &p->watches[i];
    return NULL;
}

/* Keeps the sale current with PostgreSQL (sale_keep_current); failures are counted and left for
 * the next check or the next purchase. */
static void bring_forward_if_needed(persister *p, int64_t concert_id) {
    int r = sale_keep_current(p->pg, p->redis, concert_id, NULL);
    if (r > 0) atomic_fetch_add(&p->syncs, 1);
    if (r < 0)
        faultlog_fail(&p->faults, PERSISTER_FAIL_BRING_FORWARD, 1, tr_mono_ms(),
                      "concert %" PRId64 " (its purchases are refused until it is)", concert_id);
    else faultlog_ok(&p->faults, PERSISTER_FAIL_BRING_FORWARD, tr_mono_ms());
}

/* Counts one Redis read (what: the command): no reply (I/O; the connection is dropped and the next
 * call reconnects) or an error reply other than NOGROUP (a stream reset, handled where it is
 * met) and UNBLOCKED (a blocked read whose stream went away: deleted, or its slot migrated to
 * another master — the next read follows it) is a failure, told once per kind; anything else a
 * success. */
static void redis_read_seen(persister *p, const char *what, const redisReply *rep) {
    if (rep == NULL || (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOGROUP") == NULL &&
                        strncmp(rep->str, "UNBLOCKED", 9) != 0))
        faultlog_fail(&p->faults, PERSISTER_FAIL_REDIS_READ, 1, tr_mono_ms(), "%s: %s", what,
                      rep ? rep->str : redis_conn_errstr(p->redis));
    else faultlog_ok(&p->faults, PERSISTER_FAIL_REDIS_READ, tr_mono_ms());
}

static void sample_backlog(persister *p);

static void refresh_watches(persister *p) {
    redisReply *rep = redis_cmd_key(p->redis, SALE_OPEN_SET, "SMEMBERS %s", SALE_OPEN_SET);
    redis_read_seen(p, "SMEMBERS", rep);
    bool redis_ok = rep && rep->type == REDIS_REPLY_ARRAY;
    if (redis_ok) {
        for (size_t i = 0; i < rep->elements; i++) {
            int64_t id = strtoll(rep->element[i]->str, NULL, 10);
            if (id <= 0) continue;
            pthread_mutex_lock(&p->mu);
            if (watch_find(p, id) == NULL && p->nwatches < MAX_CONCERTS) {
                watch *w = &p->watches[p->nwatches];
                memset(w, 0, sizeof *w);
                w->concert_id = id;
                sale_keys k;
                sale_keys_init(&k, id);
                snprintf(w->stream, sizeof w->stream, "%s", k.stream);
                w->retry_pending = true; /* pick up what a previous run of ours left pending */
                p->nwatches++;
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
    if (rep) freeReplyObject(rep);
    /* A Redis that restarted (or failed over) may be behind PostgreSQL: bring each sale forward
     * now rather than at the next purchase (sale.h). */
    for (int i = 0; i < p->nwatches; i++) bring_forward_if_needed(p, p->watches[i].concert_id);
    if (redis_ok) sample_backlog(p); /* not while Redis fails: each call would wait */
    p->next_refresh_ms = tr_mono_ms() + REFRESH_MS;
}

/* Reads one field of an XINFO GROUPS group ([name, value, …]); NULL when absent. */
static const redisReply *group_field(const redisReply *g, const char *name) {
    for (size_t i = 0; g->type == REDIS_REPLY_ARRAY && i + 1 < g->elements; i += 2)
        if (g->element[i]->type == REDIS_REPLY_STRING && strcmp(g->element[i]->str, name) == 0)
            return g->element[i + 1];
    return NULL;
}

/* The time part (ms) of the first entry id in reply (XPENDING's summary: [count, min, …], or
 * XRANGE's [[id, fields]]); 0 when none. */
static uint64_t first_id_ms(const redisReply *rep, bool summary) {
    stream_id id = {0, 0};
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < (summary ? 2u : 1u))
        return 0;
    const redisReply *e = summary ? rep->element[1] : rep->element[0];
    if (!summary && e->type == REDIS_REPLY_ARRAY && e->elements > 0) e = e->element[0];
    if (e->type != REDIS_REPLY_STRING || !stream_id_parse(e->str, &id)) return 0;
    return id.ms;
}

/* The backlog of one stream for the persisters' group: entries pending (delivered, not
 * acknowledged) plus lag (not delivered yet; when Redis cannot tell — entries deleted — at least
 * the one after last-delivered-id); *oldest_ms gets the time part of the oldest, or 0. Pending
 * entries were delivered first, so the oldest is the first pending one, else the first after
 * last-delivered-id. -1 when Redis failed. */
static int64_t stream_backlog(persister *p, const watch *w, uint64_t *oldest_ms) {
    *oldest_ms = 0;
    redisReply *rep = redis_cmd_key(p->redis, w->stream, "XINFO GROUPS %s", w->stream);
    if (rep == NULL) return -1;
    const redisReply *g = NULL;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *name = group_field(rep->element[i], "name");
        if (name && name->type == REDIS_REPLY_STRING && strcmp(name->str, SALE_GROUP) == 0)
            g = rep->element[i];
    }
    const redisReply *pel = g ? group_field(g, "pending") : NULL;
    const redisReply *lag = g ? group_field(g, "lag") : NULL;
    const redisReply *last = g ? group_field(g, "last-delivered-id") : NULL;
    int64_t npending = pel && pel->type == REDIS_REPLY_INTEGER ? pel->integer : 0;
    int64_t nlag = lag && lag->type == REDIS_REPLY_INTEGER ? lag->integer : -1;
    char after[64] = "";
    if (last && last->type == REDIS_REPLY_STRING) snprintf(after, sizeof after, "(%s", last->str);
    freeReplyObject(rep);
    if (g == NULL) return 0; /* no group (yet): nothing to store */
    redisReply *first = NULL;
    if (npending > 0)
        first = redis_cmd_key(p->redis, w->stream, "XPENDING %s %s", w->stream, SALE_GROUP);
    else if (nlag != 0 && after[0])
        first = redis_cmd_key(p->redis, w->stream, "XRANGE %s %s + COUNT 1", w->stream, after);
    *oldest_ms = first_id_ms(first, npending > 0);
    if (nlag < 0) nlag = npending == 0 && *oldest_ms > 0; /* Redis cannot tell: at least one */
    if (first) freeReplyObject(first);
    return npending + nlag;
}

/* Samples the backlog for persister_stats (pending, oldest_pending_s); ages by Redis's clock
 * (TIME), the clock that stamped the entry ids. Leaves the last sample when Redis failed. */
static void sample_backlog(persister *p) {
    redisReply *t = redis_cmd(p->redis, "TIME");
    bool ok = t && t->type == REDIS_REPLY_ARRAY && t->elements == 2 &&
              t->element[0]->type == REDIS_REPLY_STRING &&
              t->element[1]->type == REDIS_REPLY_STRING;
    int64_t redis_ms = ok ? strtoll(t->element[0]->str, NULL, 10) * 1000 +
                                strtoll(t->element[1]->str, NULL, 10) / 1000
                          : 0;
    if (t) freeReplyObject(t);
    int64_t pending = 0, oldest = 0;
    for (int i = 0; ok && i < p->nwatches; i++) {
        uint64_t first_ms = 0;
        int64_t n = stream_backlog(p, &p->watches[i], &first_ms);
        if (n < 0) ok = false;
        pending += n > 0 ? n : 0;
        int64_t age = first_ms > 0 ? redis_ms - (int64_t)first_ms : 0;
        if (age > oldest) oldest = age;
    }
    if (!ok) return;
    atomic_store(&p->pending, pending);
    atomic_store(&p->oldest_pending_ms, oldest);
}

/* ---- storing a batch ------------------------------------------------------------------------- */

static const pg_stmt insert_stmt = {
    "persister_insert",
    "WITH ins AS (INSERT INTO ticket (id, concert_id, customer_id, seat_no, vip, issued_at)"
    "   SELECT u.id, $1, u.c, u.s, u.v, timestamptz 'epoch' + u.t * interval '1 microsecond'"
    "   FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::bool[], $6::bigint[])"
    "     AS u(id, c, s, v, t)"
    "   ON CONFLICT DO NOTHING RETURNING id),"
    " upd AS (UPDATE concert SET remaining = remaining - (SELECT count(*) FROM ins)"
    "   WHERE id = $1)"
    " SELECT id FROM ins",
    6};

/* Entries not inserted are durable only when PostgreSQL already holds that very ticket (a batch
 * replayed after a crash); otherwise Redis and PostgreSQL disagree and the entry failed. */
static const pg_stmt present_stmt = {
    "persister_present",
    "SELECT u.id FROM unnest($1::bigint[], $2::bigint[]) AS u(id, c)"
    " JOIN ticket t ON t.id = u.id AND t.customer_id = u.c",
    2};

static void arr_begin(dynbuf *b) { dynbuf_puts(b, "{"); }
static void arr_i64(dynbuf *b, int64_t v, bool first) {
    dynbuf_printf(b, first ? "%" PRId64 : ",%" PRId64, v);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool id_in(const int64_t *ids, int n, int64_t id) {
    return bsearch(&id, ids, (size_t)n, sizeof *ids, cmp_i64) != NULL;
}

/* Marks entries durable from a result of ticket ids. */
static void mark_durable(entry *e, int n, PGresult *r) {
    int m = PQntuples(r);
    int64_t *ids = malloc(sizeof *ids * (size_t)(m > 0 ? m : 1));
    if (ids == NULL) return;
    for (int i = 0; i < m; i++) ids[i] = pg_get_i64(r, i, 0);
    qsort(ids, (size_t)m, sizeof *ids, cmp_i64);
    for (int i = 0; i < n; i++)
        if (id_in(ids, m, e[i].ticket_id)) e[i].durable = true;
    free(ids);
}

/* One transaction for the batch. TR_OK when committed (each entry's durable flag set). */
static tr_err store_batch(persister *p, int64_t concert_id, entry *e, int n) {
    dynbuf ids, cust, seats, vips, times;
    dynbuf_init(&ids, 1 << 20);
    dynbuf_init(&cust, 1 << 20);
    dynbuf_init(&seats, 1 << 20);
    dynbuf_init(&vips, 1 << 20);
    dynbuf_init(&times, 1 << 20);
    arr_begin(&ids), arr_begin(&cust), arr_begin(&seats), arr_begin(&vips), arr_begin(&times);
    for (int i = 0; i < n; i++) {
        arr_i64(&ids, e[i].ticket_id, i == 0);
        arr_i64(&cust, e[i].customer_id, i == 0);
        arr_i64(&seats, e[i].seat, i == 0);
        dynbuf_puts(&vips, i == 0 ? "" : ",");
        dynbuf_puts(&vips, e[i].vip ? "t" : "f");
        arr_i64(&times, e[i].issued_us, i == 0);
        e[i].durable = false;
    }
    dynbuf_puts(&ids, "}"), dynbuf_puts(&cust, "}"), dynbuf_puts(&seats, "}");
    dynbuf_puts(&vips, "}"), dynbuf_puts(&times, "}");
    tr_err rc = TR_OK;
    if (ids.failed || cust.failed || seats.failed || vips.failed || times.failed) {
        rc = TR_NOMEM;
        goto out;
    }
    char cid[24];
    snprintf(cid, sizeof cid, "%" PRId64, concert_id);
    const char *params[] = {cid, ids.data, cust.data, seats.data, vips.data, times.data};
#ifdef TR_TEST_HOOKS
    if (p->cfg.test_delay_ms > 0) usleep((useconds_t)p->cfg.test_delay_ms * 1000);
#endif
    PGresult *r = pg_exec_stmt(p->pg, &insert_stmt, params);
    if (r == NULL) {
        rc = TR_PG;
        goto out;
    }
    mark_durable(e, n, r);
    int inserted = PQntuples(r);
    PQclear(r);
    atomic_fetch_add(&p->commits, 1); /* one statement: committed */
    atomic_fetch_add(&p->rows_stored, inserted);
    if (inserted < n) {
        const char *pp[] = {ids.data, cust.data};
        if ((r = pg_exec_stmt(p->pg, &present_stmt, pp)) == NULL) {
            rc = TR_PG;
            goto out;
        }
        mark_durable(e, n, r);
        PQclear(r);
    }
out:
    dynbuf_free(&ids), dynbuf_free(&cust), dynbuf_free(&seats), dynbuf_free(&vips);
    dynbuf_free(&times);
    return rc;
}

/* A batch PostgreSQL refused for an integrity constraint (SQLSTATE class 23: a seat outside
 * 1..N, a customer it does not know) would be refused for ever, and hold every entry behind it:
 * stored one entry at a time instead, an entry refused for such a constraint is not durable
 * (contradicted: its ticket can never be stored; its held answer fails, the sale is brought forward).
 * true when every entry was decided; false on another failure (the batch is read again). */
static bool store_one_by_one(persister *p, int64_t concert_id, entry *e, int n) {
    const char *state = pg_conn_sqlstate(p->pg);
    if (state == NULL || strncmp(state, "23", 2) != 0) return false;
    for (int i = 0; i < n; i++) {
        if (store_batch(p, concert_id, &e[i], 1) == TR_OK) continue;
        state = pg_conn_sqlstate(p->pg);
        if (state == NULL || strncmp(state, "23", 2) != 0) return false;
        e[i].durable = false;
    }
    return true;
}

/* Remembers r as finished (the ring wt->done). Under p->mu. */
static void done_add(watch *wt, id_range r) {
    stream_id last = r.last;
    wt->done[wt->done_next] = r;
    if (wt->ndone == 0 || sid_cmp(last, wt->done_max) > 0) wt->done_max = last;
    wt->done_next = (wt->done_next + 1) % DONE_RANGES;
    if (wt->ndone < DONE_RANGES) wt->ndone++;
}

/* What a batch read from run `reading` finished, into p->ranges; returns how many (≤ 2n).
 * advance (read with '>'): the batch is a run of that run's stream, one range; and each run of
 * consecutive entries another run wrote is a run of that writer's history too (what reaches a
 * run from another — replication, the file it started from — is a prefix of that one's history).
 * Otherwise (pending entries read again, reclaimed ones) each entry alone, under both stamps. */
static int batch_ranges(persister *p, const entry *e, int n, bool advance, uint64_t reading) {
    int k = 0;
    if (advance && n > 0) p->ranges[k++] = (id_range){e[0].sid, e[n - 1].sid, reading};
    for (int i = 0; i < n; i++) {
        if (!advance) p->ranges[k++] = (id_range){e[i].sid, e[i].sid, reading};
        if (e[i].run == 0 || e[i].run == reading) continue;
        int j = i;
        while (advance && j + 1 < n && e[j + 1].run == e[i].run) j++;
        p->ranges[k++] = (id_range){e[i].sid, e[j].sid, e[i].run};
        i = j;
    }
    return k;
}

/* Records this batch as finished (its ranges in p->ranges, batch_ranges; and its failures),
 * then tells the watchers (on_commit). */
static void publish(persister *p, int64_t concert_id, entry *e, int n, int nranges) {
    pthread_mutex_lock(&p->mu);
    bool failures_kept = true; /* else the batch is not remembered as finished (wt->done) */
    for (int i = 0; i < n; i++) {
        if (e[i].durable) continue;
        if (p->nfailed < MAX_FAILED) {
            p->failed[p->nfailed].concert_id = concert_id;
            p->failed[p->nfailed].id = e[i].sid;
            p->nfailed++;
        } else {
            failures_kept = false;
        }
    }
    watch *wt = watch_find(p, concert_id);
    if (wt && failures_kept && n > 0)
        for (int i = 0; i < nranges; i++) done_add(wt, p->ranges[i]);
    for (int i = 0; i < p->non_commit; i++) p->on_commit[i].fn(p->on_commit[i].arg);
    pthread_mutex_unlock(&p->mu);
}

/* ---- telling the other server processes ----------------------------------------------------
 * With several server processes, a strict answer waits in the process that ran the purchase,
 * while the entry may be stored by another process's persister. So after each commit a
 * persister announces what it finished on the PostgreSQL channel ticketrush_stored (NOTIFY, sent
 * once the commit is done, so it never announces what is not stored), and every persister
 * LISTENs and adds what others finished to its own record (watch.done, failed), waking its
 * watchers as its own commits do. Payload: "CONCERT FIRST:LAST@RUN … !FAILED …", stream ids as
 * "ms-seq", RUN the range's run stamp in hex (see "Histories" above), at most ANNOUNCE_MAX bytes
 * per notification (PostgreSQL's limit is 8000). A
 * notification lost (a persister that dies between its commit and its NOTIFY, a listener
 * reconnecting) only makes those answers wait for their deadline: 500, outcome unknown. */
#define ANNOUNCE_CHANNEL "ticketrush_stored"
#define ANNOUNCE_MAX 7800

static const pg_stmt announce_stmt = {"persister_announce",
                                      "SELECT pg_notify('" ANNOUNCE_CHANNEL "', $1)", 1};

static void announce_send(persister *p, dynbuf *b) {
    if (b->failed || b->len == 0) return;
    const char *params[] = {b->data};
    PGresult *r = pg_exec_stmt(p->pg, &announce_stmt, params);
    PQclear(r);
}

static void announce(persister *p, int64_t concert_id, const entry *e, int n, int nranges) {
    dynbuf b;
    dynbuf_init(&b, ANNOUNCE_MAX + 256);
    char head[24];
    snprintf(head, sizeof head, "%" PRId64, concert_id);
    dynbuf_puts(&b, head);
    for (int i = 0; i < nranges + n; i++) {
        if (i < nranges) {
            const id_range *r = &p->ranges[i];
            dynbuf_printf(&b, " %" PRIu64 "-%" PRIu64 ":%" PRIu64 "-%" PRIu64 "@%" PRIx64,
                          r->first.ms, r->first.seq, r->last.ms, r->last.seq, r->run);
        } else if (!e[i - nranges].durable) {
            dynbuf_printf(&b, " !%" PRIu64 "-%" PRIu64, e[i - nranges].sid.ms,
                          e[i - nranges].sid.seq);
        }
        if (b.len > ANNOUNCE_MAX && i + 1 < nranges + n) {
            announce_send(p, &b);
            b.len = 0;
            if (b.data) b.data[0] = '\0';
            dynbuf_puts(&b, head);
        }
    }
    announce_send(p, &b);
    dynbuf_free(&b);
}

static bool failed_has(const persister *p, int64_t concert_id, stream_id id);

/* Adds what another persister announced (see above) to this one's record. */
static void on_announce(const char *channel, const char *payload, void *arg) {
    persister *p = arg;
    if (strcmp(channel, ANNOUNCE_CHANNEL) != 0) return;
    char *end = NULL;
    long long concert_id = strtoll(payload, &end, 10);
    if (end == payload || concert_id <= 0) return;
    pthread_mutex_lock(&p->mu);
    watch *wt = watch_find(p, concert_id);
    for (const char *t = end; wt && *t;) {
        while (*t == ' ') t++;
        size_t len = strcspn(t, " ");
        char tok[112];
        if (len == 0 || len >= sizeof tok) break;
        memcpy(tok, t, len);
        tok[len] = '\0';
        t += len;
        stream_id a, z;
        char *colon = strchr(tok, ':');
        if (tok[0] == '!' && stream_id_parse(tok + 1, &a)) {
            if (p->nfailed < MAX_FAILED && !failed_has(p, concert_id, a)) {
                p->failed[p->nfailed].concert_id = concert_id;
                p->failed[p->nfailed].id = a;
                p->nfailed++;
            }
        } else if (colon) {
            *colon = '\0';
            char *at = strchr(colon + 1, '@'), *end_run = NULL;
            if (at == NULL) continue; /* no run stamp: confirms nothing */
            *at = '\0';
            errno = 0;
            uint64_t run = strtoull(at + 1, &end_run, 16);
            if (errno == 0 && end_run != at + 1 && *end_run == '\0' && stream_id_parse(tok, &a) &&
                stream_id_parse(colon + 1, &z) && sid_cmp(a, z) <= 0)
                done_add(wt, (id_range){a, z, run});
        }
    }
    for (int i = 0; i < p->non_commit; i++) p->on_commit[i].fn(p->on_commit[i].arg);
    pthread_mutex_unlock(&p->mu);
}

/* LISTENs again whenever the session is new, then takes what arrived. */
static void take_announcements(persister *p) {
    uint64_t connects = pg_conn_connects(p->pg);
    if (connects != p->listening_on && pg_exec_ok(p->pg, "LISTEN " ANNOUNCE_CHANNEL) == TR_OK)
        p->listening_on = pg_conn_connects(p->pg);
    pg_conn_notifications(p->pg, on_announce, p);
}

static void ack(persister *p, const watch *w, entry *e, int n) {
    const char **argv = malloc(sizeof *argv * (size_t)(n + 3));
    if (argv == NULL) return;
    argv[0] = "XACK";
    argv[1] = w->stream;
    argv[2] = SALE_GROUP;
    for (int i = 0; i < n; i++) argv[3 + i] = e[i].id_text;
    redisReply *rep = redis_cmd_argv_key(p->redis, w->stream, n + 3, argv, NULL);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        faultlog_fail(&p->faults, PERSISTER_FAIL_REDIS_ACK, 1, tr_mono_ms(), "%s, %d entries: %s",
                      w->stream, n, rep ? rep->str : redis_conn_errstr(p->redis));
    else faultlog_ok(&p->faults, PERSISTER_FAIL_REDIS_ACK, tr_mono_ms());
    if (rep) freeReplyObject(rep);
    free(argv);
}

static void trim(persister *p, watch *w, const entry *last) {
    redisReply *rep = redis_cmd_key(p->redis, w->stream, "XPENDING %s %s", w->stream, SALE_GROUP);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2) {
        if (rep) freeReplyObject(rep);
        return;
    }
    char minid[48];
    if (rep->element[0]->integer > 0 && rep->element[1]->type == REDIS_REPLY_STRING)
        snprintf(minid, sizeof minid, "%s", rep->element[1]->str);
    else snprintf(minid, sizeof minid, "%s", last->id_text);
    freeReplyObject(rep);
    rep = redis_cmd_key(p->redis, w->stream, "XTRIM %s MINID %s", w->stream, minid);
    if (rep) freeReplyObject(rep);
}

/* Parses [[id, [field, value, …]], …] into p->batch; returns the count (entries that fail to
 * parse are skipped and acknowledged as they can never be stored, and counted). */
static int parse_entries(persister *p, const watch *w, redisReply *list) {
    int n = 0, deleted = 0, partial = 0;
    for (size_t i = 0; list && i < list->elements && n < p->cfg.batch; i++) {
        redisReply *ent = list->element[i];
        if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 2) continue;
        entry *e = &p->batch[n];
        memset(e, 0, sizeof *e);
        snprintf(e->id_text, sizeof e->id_text, "%s", ent->element[0]->str);
        if (!stream_id_parse(e->id_text, &e->sid)) continue;
        redisReply *f = ent->element[1];
        if (f->type != REDIS_REPLY_ARRAY) { /* deleted entry (nil fields) */
            ack(p, w, e, 1);
            deleted++;
            continue;
        }
        int seen = 0;
        for (size_t j = 0; j + 1 < f->elements; j += 2) {
            const char *k = f->element[j]->str, *v = f->element[j + 1]->str;
            if (k == NULL || v == NULL) continue;
            if (strcmp(k, "i") == 0) e->ticket_id = strtoll(v, NULL, 10), seen |= 1;
            else if (strcmp(k, "c") == 0) e->customer_id = strtoll(v, NULL, 10), seen |= 2;
            else if (strcmp(k, "s") == 0) e->seat = (int32_t)strtol(v, NULL, 10), seen |= 4;
            else if (strcmp(k, "v") == 0) e->vip = v[0] == '1', seen |= 8;
            else if (strcmp(k, "t") == 0) e->issued_us = strtoll(v, NULL, 10), seen |= 16;
            else if (strcmp(k, "r") == 0) e->run = persister_run_stamp(v);
        }
        if (seen != 31) {
            ack(p, w, e, 1);
            partial++;
            continue;
        }
        n++;
    }
    if (deleted + partial > 0)
        faultlog_fail(&p->faults, PERSISTER_FAIL_UNREADABLE, deleted + partial, tr_mono_ms(),
                      "%s: %d deleted, %d without the fields i, c, s, v, t", w->stream, deleted,
                      partial);
    return n;
}

/* Stores and acknowledges one list of entries. advance: the entries came in order with '>';
 * reading: the stamp of the run they were read from (reading_run, right after the read). */
static void handle_entries(persister *p, watch *w, redisReply *list, bool advance,
                           uint64_t reading) {
    int n = parse_entries(p, w, list);
    if (n == 0) return;
    tr_err rc = store_batch(p, w->concert_id, p->batch, n);
    if (rc != TR_OK && !store_one_by_one(p, w->concert_id, p->batch, n)) {
        faultlog_fail(&p->faults, PERSISTER_FAIL_PG_COMMIT, 1, tr_mono_ms(),
                      "concert %" PRId64 ", %d entries (left pending, read again): %s",
                      w->concert_id, n, rc == TR_PG ? pg_conn_errstr(p->pg) : tr_strerror(rc));
        w->retry_pending = true; /* left pending for us; read again with ID 0 */
        usleep(100 * 1000);
        return;
    }
    faultlog_ok(&p->faults, PERSISTER_FAIL_PG_COMMIT, tr_mono_ms());
    int contradicted = 0;
    for (int i = 0; i < n; i++) contradicted += !p->batch[i].durable;
    if (contradicted > 0) {
        /* PostgreSQL holds these seats or customers otherwise: Redis decided them on a state
         * behind PostgreSQL. They can never be stored (their held answers fail: 500, retry); the sale
         * is refused until it is brought forward. */
        faultlog_fail(&p->faults, PERSISTER_FAIL_CONTRADICTED, contradicted, tr_mono_ms(),
                      "concert %" PRId64 ": %d of %d entries (a seat or customer PostgreSQL holds "
                      "otherwise); the sale is brought forward",
                      w->concert_id, contradicted, n);
        sale_mark_unsynced(p->redis, w->concert_id);
        bring_forward_if_needed(p, w->concert_id);
    }
    ack(p, w, p->batch, n);
    int nranges = batch_ranges(p, p->batch, n, advance, reading);
    publish(p, w->concert_id, p->batch, n, nranges);
    announce(p, w->concert_id, p->batch, n, nranges);
    if (++w->batches % 16 == 0) trim(p, w, &p->batch[n - 1]);
}

/* Reads this consumer's own pending entries (after a failed commit or a restart). */
static void read_own_pending(persister *p, watch *w) {
    char count[16];
    snprintf(count, sizeof count, "%d", p->cfg.batch);
    const char *argv[] = {"XREADGROUP", "GROUP",   SALE_GROUP, p->consumer, "COUNT",
                          count,        "STREAMS", w->stream,  "0"};
    redisReply *rep = redis_cmd_argv_key(p->redis, w->stream, 9, argv, NULL);
    uint64_t reading = reading_run(p, w->stream);
    redis_read_seen(p, "XREADGROUP", rep);
    bool empty = true;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
        redisReply *list = rep->element[0]->element[1];
        empty = list->elements == 0;
        w->retry_pending = false;
        handle_entries(p, w, list, false, reading);
        if (!empty) w->retry_pending = true; /* until it reads back empty */
    } else if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOGROUP")) {
        w->retry_pending = false;
    }
    if (rep) freeReplyObject(rep);
}

/* Takes over entries left pending by a dead persister (XAUTOCLAIM, Redis ≥ 6.2): all of them
 * that are idle long enough, page by page (RECLAIM_PAGES at most per check). Reclaiming from a
 * live but slow persister is harmless: the insert is idempotent and the ack follows the commit. */
#define RECLAIM_PAGES 16
#define RECLAIM_EVERY_MS 1000

static void reclaim(persister *p) {
    char idle[16], count[16];
    snprintf(idle, sizeof idle, "%d", p->cfg.reclaim_idle_ms);
    snprintf(count, sizeof count, "%d", p->cfg.batch);
    for (int i = 0; i < p->nwatches; i++) {
        watch *w = &p->watches[i];
        char cursor[48] = "0-0";
        for (int page = 0; page < RECLAIM_PAGES; page++) {
            const char *argv[] = {"XAUTOCLAIM", w->stream, SALE_GROUP, p->consumer,
                                  idle,         cursor,    "COUNT",    count};
            redisReply *rep = redis_cmd_argv_key(p->redis, w->stream, 8, argv, NULL);
            uint64_t reading = reading_run(p, w->stream);
            redis_read_seen(p, "XAUTOCLAIM", rep);
            bool more = false;
            if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 &&
                rep->element[0]->type == REDIS_REPLY_STRING) {
                handle_entries(p, w, rep->element[1], false, reading);
                snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
                more = strcmp(cursor, "0-0") != 0;
            }
            if (rep) freeReplyObject(rep);
            if (!more) break;
        }
    }
    int every = p->cfg.reclaim_idle_ms / 2;
    if (every > RECLAIM_EVERY_MS) every = RECLAIM_EVERY_MS;
    p->next_reclaim_ms = tr_mono_ms() + (every < 200 ? 200 : every);
}

/* Hands the entries of an XREADGROUP reply ([[stream, entries], …]), read from the run stamped
 * reading, to their watches. */
static int take_read(persister *p, redisReply *rep, uint64_t reading) {
    int total = 0;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        redisReply *s = rep->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements < 2) continue;
        watch *w = NULL;
        for (int k = 0; k < p->nwatches; k++)
            if (strcmp(p->watches[k].stream, s->element[0]->str) == 0) w = &p->watches[k];
        if (w == NULL) continue;
        total += (int)s->element[1]->elements;
        handle_entries(p, w, s->element[1], true, reading);
    }
    return total;
}

/* A watched stream was deleted (a sale reset by `db seed`, or re-opened): its missing group fails
 * the read, so give the stream its group back (an empty stream if it is gone; BUSYGROUP where it
 * exists). */
static void recreate_group(persister *p, const watch *w) {
    redisReply *g =
        redis_cmd_key(p->redis, w->stream, "XGROUP CREATE %s %s 0 MKSTREAM", w->stream, SALE_GROUP);
    if (g) freeReplyObject(g);
}

/* XREADGROUP of new entries ('>') of watches[first .. first+n-1], blocking block_ms when > 0;
 * *reading gets the stamp of the run that answered. */
static redisReply *xreadgroup(persister *p, int first, int n, int block_ms, uint64_t *reading) {
    const char **argv = malloc(sizeof *argv * (size_t)(9 + 2 * n));
    if (argv == NULL) return NULL;
    char count[16], blockms[16];
    snprintf(count, sizeof count, "%d", p->cfg.batch);
    snprintf(blockms, sizeof blockms, "%d", block_ms);
    int argc = 0;
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = SALE_GROUP;
    argv[argc++] = p->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = blockms;
    }
    argv[argc++] = "STREAMS";
    for (int i = first; i < first + n; i++) argv[argc++] = p->watches[i].stream;
    for (int i = first; i < first + n; i++) argv[argc++] = ">";
    redisReply *rep = redis_cmd_argv_key(p->redis, p->watches[first].stream, argc, argv, NULL);
    *reading = reading_run(p, p->watches[first].stream);
    free(argv);
    redis_read_seen(p, "XREADGROUP", rep);
    return rep;
}

/* On a Redis Cluster every concert's stream is in a slot of its own, and one command may name
 * keys of one slot only (CROSSSLOT): each stream is read by itself, routed to the master that
 * serves it (a stream whose slot moved is followed there: MOVED, the map read again). First one
 * pass without blocking; only when no stream had anything, one blocking pass that waits at most
 * BLOCK_MS in all (BLOCK_MS / streams each, at least 1 ms), so an entry waits about as long as
 * on a plain Redis and a busy concert is never held up by idle ones. */
static int read_new_per_stream(persister *p, bool block) {
    int total = 0;
    for (int pass = 0; pass < (block ? 2 : 1) && total == 0; pass++) {
        int block_ms = pass == 0 ? 0 : BLOCK_MS / p->nwatches;
        if (pass == 1 && block_ms < 1) block_ms = 1;
        for (int i = 0; i < p->nwatches && !is_past_drain(p); i++) {
            uint64_t reading = 0;
            redisReply *rep = xreadgroup(p, i, 1, block_ms, &reading);
            if (rep && rep->type == REDIS_REPLY_ARRAY) total += take_read(p, rep, reading);
            else if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOGROUP"))
                recreate_group(p, &p->watches[i]);
            if (rep) freeReplyObject(rep);
            else {
                usleep(100 * 1000); /* that master is away; the next call reconnects */
                return total;
            }
        }
    }
    return total;
}

/* Reads the new entries of every watched stream: one XREADGROUP over all of them on a plain
 * Redis (blocking BLOCK_MS when block), per stream on a cluster (read_new_per_stream). Returns
 * the number of entries read. */
static int read_new(persister *p, bool block) {
    if (p->nwatches == 0) return 0;
    if (redis_conn_is_cluster(p->redis)) return read_new_per_stream(p, block);
    uint64_t reading = 0;
    redisReply *rep = xreadgroup(p, 0, p->nwatches, block ? BLOCK_MS : 0, &reading);
    int total = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        total = take_read(p, rep, reading);
    } else if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOGROUP")) {
        /* one missing group fails the whole read: give every watched stream its group back */
        for (int i = 0; i < p->nwatches; i++) recreate_group(p, &p->watches[i]);
    } else if (rep == NULL) {
        usleep(100 * 1000); /* Redis is away; the wrapper reconnects on the next call */
    }
    if (rep) freeReplyObject(rep);
    return total;
}

static void *persister_main(void *arg) {
    persister *p = arg;
    bool saw_stop = false;
    for (;;) {
        bool stopping = is_stopping(p);
        if (stopping && !saw_stop) {
            saw_stop = true;
            p->next_refresh_ms = 0; /* a sale opened in the last second must be drained too */
        }
        /* A backend that is down or stalled must not hold the process forever: what is left
         * stays in the streams (unread, or pending under this consumer and reclaimed after
         * reclaim_idle_ms) for the next persister. */
        if (is_past_drain(p)) break;
        int64_t t = tr_mono_ms();
        if (t >= p->next_refresh_ms) refresh_watches(p);
        take_announcements(p);
        /* Reclaiming a dead persister's entries can wait for the next one. */
        if (!stopping && t >= p->next_reclaim_ms) reclaim(p);
        for (int i = 0; i < p->nwatches && !is_past_drain(p); i++)
            if (p->watches[i].retry_pending) read_own_pending(p, &p->watches[i]);
        if (is_past_drain(p)) break;
        if (p->nwatches == 0) {
            if (stopping) break;
            usleep(BLOCK_MS * 1000);
            continue;
        }
        int n = read_new(p, !stopping);
        if (stopping && n == 0) {
            bool pending = false;
            for (int i = 0; i < p->nwatches; i++) pending |= p->watches[i].retry_pending;
            if (!pending) break;
        }
    }
    return NULL;
}

/* The kinds of persister_failure, for people and for /metrics. */
static const faultlog_kind failure_kinds[PERSISTER_FAILURE_KINDS] = {
    [PERSISTER_FAIL_PG_COMMIT] = {"pg_commit", "could not commit a batch to PostgreSQL",
                                  "batches commit to PostgreSQL again", "failures"},
    [PERSISTER_FAIL_REDIS_READ] = {"redis_read", "could not read from Redis",
                                   "reading from Redis works again", "failures"},
    [PERSISTER_FAIL_REDIS_ACK] = {"redis_ack",
                                  "could not acknowledge stored entries in Redis (they are stored "
                                  "again, inserting nothing)",
                                  "acknowledging entries in Redis works again", "failures"},
    [PERSISTER_FAIL_CONTRADICTED] = {"contradicted",
                                     "PostgreSQL contradicts stream entries, never stored", NULL,
                                     "entries"},
    [PERSISTER_FAIL_UNREADABLE] = {"unreadable", "dropped stream entries that cannot be read", NULL,
                                   "entries"},
    [PERSISTER_FAIL_BRING_FORWARD] = {"bring_forward",
                                      "could not bring a sale forward from PostgreSQL",
                                      "sales are brought forward again", "failures"},
};

const char *persister_failure_name(persister_failure kind) {
    return faultlog_kind_name(failure_kinds, PERSISTER_FAILURE_KINDS, (int)kind);
}

void persister_stats_read(persister *p, persister_stats *out) {
    memset(out, 0, sizeof *out);
    out->commits = atomic_load(&p->commits);
    out->rows_stored = atomic_load(&p->rows_stored);
    out->syncs = atomic_load(&p->syncs);
    faultlog_totals(&p->faults, out->failures);
    pthread_mutex_lock(&p->mu);
    out->sales = p->nwatches;
    pthread_mutex_unlock(&p->mu);
    out->pending = atomic_load(&p->pending);
    out->oldest_pending_s = (double)atomic_load(&p->oldest_pending_ms) / 1000.0;
}

bool persister_stats_render(const persister_stats *st, dynbuf *out) {
    const promtext_sample samples[] = {
        {"ticketrush_persister_commits_total", "counter",
         "PostgreSQL transactions that stored ticket stream entries.", (double)st->commits},
        {"ticketrush_persister_rows_stored_total", "counter",
         "Tickets the persister inserted into PostgreSQL.", (double)st->rows_stored},
        {"ticketrush_persister_syncs_total", "counter",
         "Sales the persister brought forward from PostgreSQL (Redis was behind).",
         (double)st->syncs},
        {"ticketrush_persister_sales", "gauge",
         "Ticket streams (open sales) the persister watches.", (double)st->sales},
        {"ticketrush_persister_pending_entries", "gauge",
         "Stream entries not stored yet (delivered and unacknowledged, or not delivered).",
         (double)st->pending},
        {"ticketrush_persister_oldest_pending_seconds", "gauge",
         "Age of the oldest stream entry not stored yet, by Redis's clock.", st->oldest_pending_s},
    };
    promtext_render(out, samples, (int)(sizeof samples / sizeof samples[0]));
    return faultlog_render(out, "ticketrush_persister_failures_total",
                           "Persister failures by kind (entries for contradicted and unreadable).",
                           failure_kinds, PERSISTER_FAILURE_KINDS, st->failures);
}

tr_err persister_start(const persister_config *cfg, persister **out, char *errbuf, size_t errlen) {
    tr_err rc = TR_OK;
    *out = NULL;
    persister *p = calloc(1, sizeof *p);
    if (p == NULL) return TR_NOMEM;
    p->cfg = *cfg;
    faultlog_init(&p->faults, "persister", failure_kinds, PERSISTER_FAILURE_KINDS, cfg->log,
                  cfg->log_arg);
    if (p->cfg.batch < 1) p->cfg.batch = 1000;
    if (p->cfg.reclaim_idle_ms < 1) p->cfg.reclaim_idle_ms = 30000;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(p->consumer, sizeof p->consumer, "%s:%d", host, (int)getpid());
    if ((p->batch = calloc((size_t)p->cfg.batch, sizeof *p->batch)) == NULL ||
        (p->ranges = calloc((size_t)p->cfg.batch * 2, sizeof *p->ranges)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    rc = pg_conn_open_as(cfg->pg_conninfo, "ticketrush-persister", &p->pg, errbuf, errlen);
    if (rc != TR_OK) goto out;
    /* Longer than BLOCK_MS: a blocked XREADGROUP must not look like a lost connection. */
    if ((rc = redis_conn_open(cfg->redis_addr, 2000, &p->redis, errbuf, errlen)) != TR_OK) goto out;
    if (pthread_create(&p->thread, NULL, persister_main, p) != 0) {
        snprintf(errbuf, errlen, "could not start the persister thread");
        rc = TR_INTERNAL;
        goto out;
    }
    p->started = true;
    pthread_setname_np(p->thread, "tr-persister"); /* for top -H, perf sched; best effort */
    *out = p;
    p = NULL;
out:
    persister_stop(p);
    return rc;
}

void persister_stop(persister *p) {
    if (p == NULL) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    p->give_up_ms = tr_mono_ms() + STOP_DRAIN_MS;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->started) {
        /* A statement that waits on a lock is not interrupted by the drain limit: past it (and
         * a second of grace), cancel it (PQcancel); its batch stays pending for the next
         * persister. Redis calls end within the connection's timeout on their own. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (STOP_DRAIN_MS + 1000) / 1000;
        if (pthread_timedjoin_np(p->thread, NULL, &ts) != 0) {
            pg_conn_cancel(p->pg);
            pthread_join(p->thread, NULL);
        }
    }
    pg_conn_free(p->pg);
    redis_conn_free(p->redis);
    free(p->batch);
    free(p->ranges);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static bool failed_has(const persister *p, int64_t concert_id, stream_id id) {
    for (int i = 0; i < p->nfailed; i++)
        if (p->failed[i].concert_id == concert_id && sid_cmp(p->failed[i].id, id) == 0) return true;
    return false;
}

/* Whether entry id of the history of run was finished lately (wt->done, newest first): a range
 * of that run holds it. Under p->mu. */
static bool finished(const watch *wt, stream_id id, uint64_t run) {
    if (wt == NULL || run == 0 || wt->ndone == 0 || sid_cmp(id, wt->done_max) > 0) return false;
    for (int k = 0; k < wt->ndone; k++) {
        const id_range *r = &wt->done[(wt->done_next - 1 - k + DONE_RANGES) % DONE_RANGES];
        if (r->run == run && sid_cmp(id, r->first) >= 0 && sid_cmp(id, r->last) <= 0) return true;
    }
    return false;
}

int persister_durable(persister *p, int64_t concert_id, stream_id id, uint64_t run) {
    pthread_mutex_lock(&p->mu);
    watch *wt = watch_find(p, concert_id);
    int r = 0;
    if (failed_has(p, concert_id, id)) r = -1;
    else if (finished(wt, id, run)) r = 1;
    pthread_mutex_unlock(&p->mu);
    return r;
}

bool persister_on_commit(persister *p, void (*fn)(void *arg), void *arg, bool on) {
    bool ok = true;
    pthread_mutex_lock(&p->mu);
    if (on) {
        if (p->non_commit < (int)(sizeof p->on_commit / sizeof p->on_commit[0])) {
            p->on_commit[p->non_commit].fn = fn;
            p->on_commit[p->non_commit].arg = arg;
            p->non_commit++;
        } else {
            ok = false;
        }
    } else {
        for (int i = 0; i < p->non_commit; i++) {
            if (p->on_commit[i].fn == fn && p->on_commit[i].arg == arg) {
                p->on_commit[i] = p->on_commit[--p->non_commit];
                break;
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}
