/* issuer.c — redis-zset's issuer: waiting line (sorted set) → tickets in PostgreSQL.
 *
 * DESIGN
 * - Queue: one sorted set per concert ({concert:ID}:line), member = customer id, score = the
 *   admission number from INCR — which is the seat (admission rejects the overflow past N, so
 *   every member of the line gets the seat it was numbered with: FCFS, R3, R6).
 * - One active issuer per concert, whatever the number of server processes: a lease lock
 *   ({concert:ID}:issuer, lock.h) renewed every pass, with a fencing token that PostgreSQL checks
 *   (concert.fence) so an issuer that lost its lease while stalled writes nothing.
 * - Batches: the lowest persist_batch members, in score order, as one transaction: a multi-row
 *   INSERT … ON CONFLICT DO NOTHING (ticket id = ticket_id_base + seat, so a replay inserts
 *   nothing twice) and remaining −= rows inserted (R8). After the commit: the issued members
 *   become owners and leave the line, in one MULTI (redis_multi_exec_key: on a Redis Cluster, on
 *   the master of the concert's slot; a transaction a slot move redirected ran nothing and is sent
 *   whole to the new master). Members PostgreSQL refused (Redis numbered them on a state behind
 *   it) make the issuer bring the sale forward, which renumbers them; only when that changed
 *   nothing, and only if a member still waits with the number it was refused with, is it
 *   rejected sold_out (one script per member, reject_script).
 * - Crash: between the commit and the removal, the members stay in the line; the next issuer
 *   (this one after a restart, or another process once the lease expires) inserts them again,
 *   which inserts nothing, finds their tickets present and records them issued: no ticket is lost
 *   or duplicated.
 * - Stop: after the last request, issue what is left in the lines this issuer leads.
 * - Failures are counted by kind and told once per kind through cfg.log (faultlog.h); the
 *   counters and the lines' length (sampled with the open sales, once a second) are read with
 *   issuer_stats_read from any thread. */
#include "common/clock.h"
#include "background/issuer.h"

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
#include "store/lock.h"
#include "store/sale.h"

#define MAX_CONCERTS 256
#define LEASE_MS 5000
#define IDLE_SLEEP_US 2000
#define STOP_DRAIN_MS 5000 /* at stop, how long to keep issuing before leaving the rest */

typedef struct line {
    int64_t concert_id;
    sale_keys keys;
    redis_lock lease;
    bool leading;
} line;

typedef struct member {
    int64_t customer_id;
    int32_t seat;
    int64_t admitted_us; /* Redis TIME at admission: the ticket's issued_at (R5) */
    char customer[24];
    bool issued;
    int64_t issued_us;
} member;

struct issuer {
    issuer_config cfg;
    pg_conn *pg;
    redis_conn *redis;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    bool stopping;
    atomic_bool exited; /* issuer_main returned */
    line lines[MAX_CONCERTS];
    int nlines;
    member *batch;
    uint64_t seq;
    faultlog faults;      /* failures by kind (the thread tells them; any thread counts) */
    atomic_llong batches; /* issuer_stats, read by any thread */
    atomic_llong tickets;
    atomic_llong rejected;
    atomic_llong line_length; /* as last sampled */
    atomic_int nlines_seen, leading;
};

/* Keeps the sale current with PostgreSQL (sale_keep_current): 1 when it brought the sale
 * forward and changed something, 0 when nothing needed changing, -1 when it could not (counted). */
static int bring_forward_if_needed(issuer *is, int64_t concert_id) {
    int r = sale_keep_current(is->pg, is->redis, concert_id, NULL);
    if (r < 0)
        faultlog_fail(&is->faults, ISSUER_FAIL_BRING_FORWARD, 1, tr_mono_ms(),
                      "concert %" PRId64 " (its admissions are refused until it is)", concert_id);
    else faultlog_ok(&is->faults, ISSUER_FAIL_BRING_FORWARD, tr_mono_ms());
    return r;
}

/* Counts one Redis read (what: the command): no reply (I/O; the connection is dropped and the
 * next call reconnects) or an error reply is a failure, told once per kind; else a success.
 * true when rep is a usable reply. */
static bool redis_read_seen(issuer *is, const char *what, const redisReply *rep) {
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        faultlog_fail(&is->faults, ISSUER_FAIL_REDIS_READ, 1, tr_mono_ms(), "%s: %s", what,
                      rep ? rep->str : redis_conn_errstr(is->redis));
        return false;
    }
    faultlog_ok(&is->faults, ISSUER_FAIL_REDIS_READ, tr_mono_ms());
    return true;
}

/* Samples the lines' length for issuer_stats (ZCARD of every known line); leaves the last sample
 * when Redis failed. */
static void sample_lines(issuer *is) {
    int64_t members = 0;
    int leading = 0;
    for (int i = 0; i < is->nlines; i++) {
        redisReply *rep =
            redis_cmd_key(is->redis, is->lines[i].keys.line, "ZCARD %s", is->lines[i].keys.line);
        bool ok = rep && rep->type == REDIS_REPLY_INTEGER;
        if (ok) members += rep->integer;
        if (rep) freeReplyObject(rep);
        if (!ok) return;
        leading += is->lines[i].leading;
    }
    atomic_store(&is->line_length, members);
    atomic_store(&is->nlines_seen, is->nlines);
    atomic_store(&is->leading, leading);
}

static void refresh_lines(issuer *is) {
    redisReply *rep = redis_cmd_key(is->redis, SALE_OPEN_SET, "SMEMBERS %s", SALE_OPEN_SET);
    bool redis_ok = redis_read_seen(is, "SMEMBERS", rep);
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < rep->elements && is->nlines < MAX_CONCERTS; i++) {
            int64_t id = strtoll(rep->element[i]->str, NULL, 10);
            bool known = false;
            for (int k = 0; k < is->nlines; k++) known |= is->lines[k].concert_id == id;
            if (id <= 0 || known) continue;
            line *l = &is->lines[is->nlines++];
            memset(l, 0, sizeof *l);
            l->concert_id = id;
            sale_keys_init(&l->keys, id);
        }
    }
    if (rep) freeReplyObject(rep);
    /* A Redis that restarted (or failed over) may be behind PostgreSQL: bring each sale forward
     * now rather than at the next admission (store/sale.h). */
    for (int i = 0; i < is->nlines; i++) bring_forward_if_needed(is, is->lines[i].concert_id);
    if (redis_ok) sample_lines(is); /* not while Redis fails: each call would wait */
}

/* Takes or keeps the lease of a line. true while this issuer leads it. */
static bool lead(issuer *is, line *l) {
    if (l->leading) {
        if (lock_renew(is->redis, &l->lease, LEASE_MS) == TR_OK) return true;
        l->leading = false;
    }
    lock_init_keys(&l->lease, l->keys.issuer, l->keys.issuer_fence, (uint64_t)getpid(), ++is->seq);
    l->leading = lock_acquire(is->redis, &l->lease, 0, LEASE_MS) == TR_OK;
    return l->leading;
}

static const pg_stmt fence_stmt = {
    "issuer_fence",
    "UPDATE concert SET fence = $2 WHERE id = $1 AND fence <= $2 RETURNING ticket_id_base", 2};

static const pg_stmt insert_stmt = {
    "issuer_insert",
    "INSERT INTO ticket (id, concert_id, customer_id, seat_no, vip, issued_at)"
    " SELECT $2::bigint + u.s, $1, u.c, u.s, u.s <= c.vip_seats,"
    "   CASE WHEN u.t > 0 THEN timestamptz 'epoch' + u.t * interval '1 microsecond' ELSE now() END"
    " FROM concert c, unnest($3::bigint[], $4::int[], $5::bigint[]) AS u(c, s, t) WHERE c.id = $1"
    " ON CONFLICT DO NOTHING",
    5};

/* Which members hold their ticket now (inserted just now or by an earlier, crashed pass). */
static const pg_stmt present_stmt = {
    "issuer_present",
    "UPDATE concert SET remaining = total_seats - (SELECT count(*) FROM ticket WHERE concert_id = $1)"
    " WHERE id = $1 RETURNING (SELECT array_agg(t.customer_id::text || ':' || t.seat_no || ':' || " SQL_EPOCH_US(
        "t.issued_at") ") FROM ticket t JOIN unnest($2::bigint[]) AS u(c)"
                       " ON t.concert_id = $1 AND t.customer_id = u.c)",
    2};

/* One transaction for the batch; marks members issued. false when nothing was committed. */
static bool issue_batch(issuer *is, line *l, member *m, int n) {
    dynbuf cs, ss, ts;
    dynbuf_init(&cs, 1 << 20);
    dynbuf_init(&ss, 1 << 20);
    dynbuf_init(&ts, 1 << 20);
    dynbuf_puts(&cs, "{");
    dynbuf_puts(&ss, "{");
    dynbuf_puts(&ts, "{");
    for (int i = 0; i < n; i++) {
        dynbuf_printf(&cs, i ? ",%" PRId64 : "%" PRId64, m[i].customer_id);
        dynbuf_printf(&ss, i ? ",%" PRId32 : "%" PRId32, m[i].seat);
        dynbuf_printf(&ts, i ? ",%" PRId64 : "%" PRId64, m[i].admitted_us);
    }
    dynbuf_puts(&cs, "}");
    dynbuf_puts(&ss, "}");
    dynbuf_puts(&ts, "}");
    bool ok = false;
    char cid[24], fence[24];
    snprintf(cid, sizeof cid, "%" PRId64, l->concert_id);
    snprintf(fence, sizeof fence, "%" PRId64, l->lease.fence);
    if (cs.failed || ss.failed || ts.failed || pg_exec_ok(is->pg, "BEGIN") != TR_OK) goto out;
    const char *pf[] = {cid, fence};
    PGresult *r = pg_exec_stmt(is->pg, &fence_stmt, pf);
    if (r == NULL) goto out;
    if (PQntuples(r) == 0) { /* a newer issuer holds the line: write nothing */
        PQclear(r);
        pg_exec_ok(is->pg, "ROLLBACK");
        l->leading = false;
        goto out;
    }
    char base[24];
    snprintf(base, sizeof base, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *pi[] = {cid, base, cs.data, ss.data, ts.data};
    if ((r = pg_exec_stmt(is->pg, &insert_stmt, pi)) == NULL) goto out;
    PQclear(r);
    /* remaining is recomputed from the tickets (R8), which also covers a replayed batch. */
    const char *pp[] = {cid, cs.data};
    if ((r = pg_exec_stmt(is->pg, &present_stmt, pp)) == NULL) goto out;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        /* {"c:s:us",…} */
        const char *v = PQgetvalue(r, 0, 0);
        while (*v && *v != '}') {
            if (*v == '{' || *v == ',' || *v == '"') {
                v++;
                continue;
            }
            long long c = 0, s = 0, us = 0;
            int used = 0;
            if (sscanf(v, "%lld:%lld:%lld%n", &c, &s, &us, &used) != 3) break;
            for (int i = 0; i < n; i++)
                if (m[i].customer_id == c && m[i].seat == s)
                    m[i].issued = true, m[i].issued_us = us;
            v += used;
        }
    }
    PQclear(r);
    ok = pg_exec_ok(is->pg, "COMMIT") == TR_OK;
out:
    dynbuf_free(&cs);
    dynbuf_free(&ss);
    dynbuf_free(&ts);
    return ok;
}

/* Records the issued members in Redis — owners, out of the line — in one MULTI/EXEC; the others
 * stay in the line. false when EXEC did not apply it (counted; the members stay in the line). */
static bool record(issuer *is, line *l, member *m, int n) {
    bool ok = false;
    const char **own = malloc(sizeof *own * (size_t)(2 + 2 * n));
    const char **rem = malloc(sizeof *rem * (size_t)(2 + n));
    char(*vals)[48] = malloc(sizeof *vals * (size_t)n);
    if (own == NULL || rem == NULL || vals == NULL) goto out;
    int no = 2, nz = 2;
    own[0] = "HSET", own[1] = l->keys.owners;
    rem[0] = "ZREM", rem[1] = l->keys.line;
    for (int i = 0; i < n; i++) {
        if (!m[i].issued) continue;
        snprintf(vals[i], sizeof vals[i], "%" PRId32 ":%" PRId64, m[i].seat, m[i].issued_us);
        own[no++] = m[i].customer;
        own[no++] = vals[i];
        rem[nz++] = m[i].customer;
    }
    ok = true;
    if (no == 2) goto out; /* nothing issued */
    /* One transaction on the master of the concert's slot (every key is {concert:ID}). */
    const char *const *cmds[] = {own, rem};
    const int argcs[] = {no, nz};
    redisReply *rep = redis_multi_exec_key(is->redis, l->keys.line, 2, argcs, cmds);
    ok = rep && rep->type == REDIS_REPLY_ARRAY;
    if (!ok)
        faultlog_fail(&is->faults, ISSUER_FAIL_REDIS_RECORD, 1, tr_mono_ms(),
                      "concert %" PRId64 ", %d members (they stay in line): %s", l->concert_id, n,
                      rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                            : redis_conn_errstr(is->redis));
    else faultlog_ok(&is->faults, ISSUER_FAIL_REDIS_RECORD, tr_mono_ms());
    if (rep) freeReplyObject(rep);
out:
    free(own);
    free(rem);
    free(vals);
    return ok;
}

/* KEYS[1] line, KEYS[2] outcomes, KEYS[3] meta; ARGV[1] a member, ARGV[2] the number PostgreSQL
 * refused it with. Rejects it sold_out only if it still waits with that number: a bring-forward
 * that ran after the issuer read the line may have renumbered it (it is then issued at its new
 * number in a later pass) or found it an owner (out of the line). A rejected member leaves the
 * line without becoming an owner, so its number is held by no one (meta.unheld, the scripts'
 * count check: sale.h SALE_SCRIPT_COUNTS). Answers 1 rejected, 0 left alone. */
/* clang-format off */
static const redis_script reject_script = {
    "issuer_reject",
    "local n = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "if not n or tonumber(n) ~= tonumber(ARGV[2]) then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('HSET', KEYS[2], ARGV[1], 'rejected:sold_out')\n"
    "redis.call('HINCRBY', KEYS[3], 'unheld', 1)\n"
    "return 1\n"};
/* clang-format on */

/* Rejects sold_out the members PostgreSQL refused that still wait with the number they were
 * refused with (reject_script). Returns how many were rejected; a failure is counted and leaves
 * the member in line (refused again, and decided again, in a later pass). */
static int reject_refused(issuer *is, line *l, const member *m, int n) {
    int rejected = 0;
    const char *keys[] = {l->keys.line, l->keys.outcomes, l->keys.meta};
    for (int i = 0; i < n; i++) {
        if (m[i].issued) continue;
        char seat[16];
        snprintf(seat, sizeof seat, "%" PRId32, m[i].seat);
        const char *args[] = {m[i].customer, seat};
        redisReply *rep = redis_eval(is->redis, &reject_script, 3, keys, 2, args);
        if (rep && rep->type == REDIS_REPLY_INTEGER) {
            rejected += rep->integer == 1;
            faultlog_ok(&is->faults, ISSUER_FAIL_REDIS_RECORD, tr_mono_ms());
        } else {
            faultlog_fail(&is->faults, ISSUER_FAIL_REDIS_RECORD, 1, tr_mono_ms(),
                          "concert %" PRId64 ", rejecting customer %s (it stays in line): %s",
                          l->concert_id, m[i].customer,
                          rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                                : redis_conn_errstr(is->redis));
        }
        if (rep) freeReplyObject(rep);
    }
    return rejected;
}

/* Reads each member's admission time (HMGET admitted). false when Redis failed. A member
 * without one (admitted by an older version) gets 0: PostgreSQL stamps it with now(). */
static bool admission_times(issuer *is, line *l, member *m, int n) {
    const char **argv = malloc(sizeof *argv * (size_t)(n + 2));
    if (argv == NULL) return false;
    argv[0] = "HMGET";
    argv[1] = l->keys.admitted;
    for (int i = 0; i < n; i++) argv[2 + i] = m[i].customer;
    redisReply *rep = redis_cmd_argv_key(is->redis, l->keys.admitted, n + 2, argv, NULL);
    free(argv);
    bool ok = redis_read_seen(is, "HMGET", rep) && rep->type == REDIS_REPLY_ARRAY &&
              rep->elements == (size_t)n;
    for (int i = 0; ok && i < n; i++)
        m[i].admitted_us = rep->element[i]->type == REDIS_REPLY_STRING
                               ? strtoll(rep->element[i]->str, NULL, 10)
                               : 0;
    if (rep) freeReplyObject(rep);
    return ok;
}

/* Issues one batch of a line. Returns the number of members handled. */
static int pass(issuer *is, line *l) {
    if (!lead(is, l)) return 0;
    char count[16];
    snprintf(count, sizeof count, "%d", is->cfg.batch - 1);
    redisReply *rep =
        redis_cmd_key(is->redis, l->keys.line, "ZRANGE %s 0 %s WITHSCORES", l->keys.line, count);
    redis_read_seen(is, "ZRANGE", rep);
    int n = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < rep->elements && n < is->cfg.batch; i += 2) {
            member *m = &is->batch[n];
            memset(m, 0, sizeof *m);
            snprintf(m->customer, sizeof m->customer, "%s", rep->element[i]->str);
            m->customer_id = strtoll(m->customer, NULL, 10);
            m->seat = (int32_t)strtol(rep->element[i + 1]->str, NULL, 10);
            if (m->customer_id > 0 && m->seat > 0) n++;
        }
    }
    if (rep) freeReplyObject(rep);
    if (n == 0) return 0;
    if (!admission_times(is, l, is->batch, n)) return 0;
#ifdef TR_TEST_HOOKS
    if (is->cfg.test_delay_ms > 0) usleep((useconds_t)is->cfg.test_delay_ms * 1000);
#endif
    if (!issue_batch(is, l, is->batch, n)) {
        if (l->leading) /* else fenced: a newer issuer holds the line, nothing failed */
            faultlog_fail(&is->faults, ISSUER_FAIL_PG_COMMIT, 1, tr_mono_ms(),
                          "concert %" PRId64 ", %d members (they stay in line): %s", l->concert_id,
                          n, pg_conn_errstr(is->pg));
        usleep(50 * 1000);
        return 0;
    }
    faultlog_ok(&is->faults, ISSUER_FAIL_PG_COMMIT, tr_mono_ms());
    atomic_fetch_add(&is->batches, 1);
    int refused = 0;
    for (int i = 0; i < n; i++) refused += !is->batch[i].issued;
    bool reject_rest = false;
    if (refused > 0) {
        /* Every member's seat is within N (admission rejects the overflow), so a member not
         * issued met a seat or customer PostgreSQL holds otherwise: Redis admitted it on a state
         * behind PostgreSQL. Bring the sale forward (it renumbers such members) and issue them
         * in a later pass; only when that changed nothing are they rejected — and then only
         * those still waiting with the number PostgreSQL refused: another bring-forward (a
         * purchase's, another process's) may have renumbered them since this pass read the
         * line, and this one then finds nothing to change (issue 11). */
        faultlog_fail(&is->faults, ISSUER_FAIL_CONTRADICTED, refused, tr_mono_ms(),
                      "concert %" PRId64 ": %d of %d members (a seat or customer PostgreSQL "
                      "holds otherwise); the sale is brought forward",
                      l->concert_id, refused, n);
        sale_mark_unsynced(is->redis, l->concert_id);
        reject_rest = bring_forward_if_needed(is, l->concert_id) == 0;
    }
    if (record(is, l, is->batch, n)) atomic_fetch_add(&is->tickets, n - refused);
    if (reject_rest) atomic_fetch_add(&is->rejected, reject_refused(is, l, is->batch, n));
    return n;
}

static bool is_stopping(issuer *is) {
    pthread_mutex_lock(&is->mu);
    bool s = is->stopping;
    pthread_mutex_unlock(&is->mu);
    return s;
}

static void *issuer_main(void *arg) {
    issuer *is = arg;
    int64_t next_refresh = 0, stop_deadline = -1;
    for (;;) {
        bool stopping = is_stopping(is);
        if (stopping && stop_deadline < 0) {
            stop_deadline = tr_mono_ms() + STOP_DRAIN_MS;
            next_refresh = 0; /* a sale opened in the last second must be issued too */
        }
        if (tr_mono_ms() >= next_refresh) {
            refresh_lines(is);
            next_refresh = tr_mono_ms() + 1000;
        }
        int done = 0;
        for (int i = 0; i < is->nlines; i++) done += pass(is, &is->lines[i]);
        if (stopping && (done == 0 || tr_mono_ms() >= stop_deadline)) break;
        if (done == 0) usleep(IDLE_SLEEP_US);
    }
    for (int i = 0; i < is->nlines; i++)
        if (is->lines[i].leading) lock_release(is->redis, &is->lines[i].lease);
    atomic_store(&is->exited, true);
    return NULL;
}

/* The kinds of issuer_failure, for people and for /metrics. */
static const faultlog_kind failure_kinds[ISSUER_FAILURE_KINDS] = {
    [ISSUER_FAIL_PG_COMMIT] = {"pg_commit", "could not commit a batch to PostgreSQL",
                               "batches commit to PostgreSQL again", "failures"},
    [ISSUER_FAIL_REDIS_READ] = {"redis_read", "could not read from Redis",
                                "reading from Redis works again", "failures"},
    [ISSUER_FAIL_REDIS_RECORD] = {"redis_record",
                                  "could not record issued tickets in Redis (they are issued "
                                  "again, inserting nothing)",
                                  "recording in Redis works again", "failures"},
    [ISSUER_FAIL_CONTRADICTED] = {"contradicted", "PostgreSQL refuses members of a line", NULL,
                                  "members"},
    [ISSUER_FAIL_BRING_FORWARD] = {"bring_forward",
                                   "could not bring a sale forward from PostgreSQL",
                                   "sales are brought forward again", "failures"},
};

const char *issuer_failure_name(issuer_failure kind) {
    return faultlog_kind_name(failure_kinds, ISSUER_FAILURE_KINDS, (int)kind);
}

void issuer_stats_read(issuer *is, issuer_stats *out) {
    memset(out, 0, sizeof *out);
    out->batches = atomic_load(&is->batches);
    out->tickets = atomic_load(&is->tickets);
    out->rejected = atomic_load(&is->rejected);
    faultlog_totals(&is->faults, out->failures);
    out->lines = atomic_load(&is->nlines_seen);
    out->leading = atomic_load(&is->leading);
    out->line_length = atomic_load(&is->line_length);
}

bool issuer_stats_render(const issuer_stats *st, dynbuf *out) {
    const promtext_sample samples[] = {
        {"ticketrush_issuer_batches_total", "counter",
         "PostgreSQL transactions that issued tickets from a waiting line.", (double)st->batches},
        {"ticketrush_issuer_tickets_total", "counter", "Members of a waiting line issued a ticket.",
         (double)st->tickets},
        {"ticketrush_issuer_rejected_total", "counter",
         "Members of a waiting line rejected sold out.", (double)st->rejected},
        {"ticketrush_issuer_lines", "gauge", "Waiting lines (open sales) the issuer knows.",
         (double)st->lines},
        {"ticketrush_issuer_lines_leading", "gauge", "Waiting lines whose lease this issuer holds.",
         (double)st->leading},
        {"ticketrush_issuer_line_length", "gauge", "Members waiting in the known lines.",
         (double)st->line_length},
    };
    promtext_render(out, samples, (int)(sizeof samples / sizeof samples[0]));
    return faultlog_render(out, "ticketrush_issuer_failures_total",
                           "Issuer failures by kind (members for contradicted).", failure_kinds,
                           ISSUER_FAILURE_KINDS, st->failures);
}

tr_err issuer_start(const issuer_config *cfg, issuer **out, char *errbuf, size_t errlen) {
    tr_err rc = TR_OK;
    *out = NULL;
    issuer *is = calloc(1, sizeof *is);
    if (is == NULL) return TR_NOMEM;
    is->cfg = *cfg;
    faultlog_init(&is->faults, "issuer", failure_kinds, ISSUER_FAILURE_KINDS, cfg->log,
                  cfg->log_arg);
    if (is->cfg.batch < 1) is->cfg.batch = 1000;
    pthread_mutex_init(&is->mu, NULL);
    if ((is->batch = calloc((size_t)is->cfg.batch, sizeof *is->batch)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    rc = pg_conn_open_as(cfg->pg_conninfo, "ticketrush-issuer", &is->pg, errbuf, errlen);
    if (rc != TR_OK) goto out;
    if ((rc = redis_conn_open(cfg->redis_addr, 5000, &is->redis, errbuf, errlen)) != TR_OK)
        goto out;
    if (pthread_create(&is->thread, NULL, issuer_main, is) != 0) {
        snprintf(errbuf, errlen, "could not start the issuer thread");
        rc = TR_INTERNAL;
        goto out;
    }
    is->started = true;
    pthread_setname_np(is->thread, "tr-issuer"); /* for top -H, perf sched; best effort */
    *out = is;
    is = NULL;
out:
    issuer_stop(is);
    return rc;
}

void issuer_stop(issuer *is) {
    if (is == NULL) return;
    pthread_mutex_lock(&is->mu);
    is->stopping = true;
    pthread_mutex_unlock(&is->mu);
    /* The thread drains for STOP_DRAIN_MS once it notices; a statement stuck on a lock keeps it
     * from noticing, so past that (and a second) the statement is cancelled, every 500 ms: the
     * batch rolls back and stays in the line for the next issuer. */
    int64_t give_up = tr_mono_ms() + STOP_DRAIN_MS + 1000;
    while (is->started && !atomic_load(&is->exited)) {
        if (tr_mono_ms() >= give_up) {
            pg_conn_cancel(is->pg);
            give_up = tr_mono_ms() + 500;
        }
        usleep(10 * 1000);
    }
    if (is->started) pthread_join(is->thread, NULL);
    pg_conn_free(is->pg);
    redis_conn_free(is->redis);
    free(is->batch);
    pthread_mutex_destroy(&is->mu);
    free(is);
}
