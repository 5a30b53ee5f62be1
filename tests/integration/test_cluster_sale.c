/* test_cluster_sale.c — the service's blocking Redis connections on a real Redis Cluster (issue
 * 11 §2): a private cluster of 3 masters with a replica each (`scripts/services.sh start
 * --cluster 3` in a directory of its own, started once for the whole file and stopped by its last
 * test), a server started with `--redis <seeds>`:
 * - a concert on each master sells correctly under redis-lock and redis-zset (seats dense, VIP
 *   first, no duplicate customer, PostgreSQL's counts and every answer agree);
 * - the concert's slot moved to another master mid-sale (SETSLOT IMPORTING/MIGRATING, MIGRATE,
 *   SETSLOT NODE on every master): the server follows MOVED, no answer is a 500, the audit holds;
 * - ASK during a migration (a key already migrated), TRYAGAIN for a multi-key command split by it,
 *   ASKING before a script and a transaction, through store/redis.h's cluster connection;
 * - redis-atomic's persister (its blocking part) reads every concert's stream on its own master
 *   and keeps storing after the stream's slot moved.
 * - redis-atomic --durability strict loses no acknowledged ticket when a master fails over to a
 *   replica that is behind it, or when every master is killed and restarted mid-sale.
 * Skipped when this Redis cannot run a cluster (services.sh exits 4). */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "background/persister.h"
#include "store/cluster.h"
#include "store/redis.h"
#include "store/sale.h"
#include "strategy/redis_atomic.h"
#include "strategy/strategy.h"

#define MASTERS 3

/* ---- the private cluster, once for the file ------------------------------------------------ */

static struct {
    char dir[512];    /* "" when not started */
    char seeds[1024]; /* host:port,… of the masters */
    bool skipped;     /* services.sh said this Redis cannot run a cluster */
} cl;

/* Starts the cluster on first use, in a directory of its own: under TICKETRUSH_SVC_DIR when
 * scripts/test.sh set it (its final `stop --purge` then also ends any node a failed test left),
 * else in /tmp. Skips the test when services.sh exits 4. */
static void cluster_up(void) {
    if (cl.skipped) skip();
    if (cl.dir[0]) return;
    char why[1024] = "";
    int64_t t0 = h_now_ms();
    int rc = h_cluster_start(3, "cluster-sale", cl.dir, sizeof cl.dir, cl.seeds, sizeof cl.seeds,
                             why, sizeof why);
    if (rc == 4) {
        cl.skipped = true;
        skip();
    }
    if (rc != 0) fail_msg("%s", why);
    print_message("cluster started in %lld ms\n", (long long)(h_now_ms() - t0));
}

/* ---- the cluster's nodes ------------------------------------------------------------------- */

/* A connection to exactly one node (no redirect followed). */
static redis_conn *node_conn(const char *addr) {
    redis_conn *c = NULL;
    char err[256] = "";
    if (redis_conn_open_node(addr, 5000, &c, err, sizeof err) != TR_OK)
        fail_msg("cannot connect to cluster node %s: %s", addr, err);
    return c;
}

/* The map as the first seed that answers sees it (caller frees). */
static cluster_map *read_map(void) {
    cluster_addr seeds[CLUSTER_MAX_SEEDS];
    int nseeds = 0;
    char err[256] = "";
    H_EQ(cluster_seeds_parse(cl.seeds, seeds, CLUSTER_MAX_SEEDS, &nseeds, err, sizeof err), TR_OK);
    cluster_map *m = malloc(sizeof *m);
    H_TRUE(m != NULL, "out of memory");
    for (int i = 0; i < nseeds; i++) {
        char addr[CLUSTER_HOST_MAX + 8];
        tr_errf(addr, sizeof addr, "%s:%d", seeds[i].host, seeds[i].port);
        redis_conn *c = NULL;
        if (redis_conn_open_node(addr, 5000, &c, err, sizeof err) != TR_OK) continue;
        redisReply *rep = redis_cmd(c, "CLUSTER SLOTS");
        tr_err rc = rep ? cluster_slots_parse(rep, m, err, sizeof err) : TR_REDIS;
        if (rep) freeReplyObject(rep);
        redis_conn_free(c);
        if (rc == TR_OK) return m;
    }
    free(m);
    fail_msg("no seed of %s gives a slot map: %s", cl.seeds, err);
    return NULL;
}

static void addr_of(const cluster_node *n, char *out, size_t len) {
    snprintf(out, len, "%s:%d", n->host[0] ? n->host : "127.0.0.1", n->port);
}

static unsigned concert_slot(int64_t id) {
    char tag[48];
    snprintf(tag, sizeof tag, "{concert:%" PRId64 "}", id);
    return cluster_key_slot(tag, strlen(tag));
}

/* Address of the master the map names for concert id now; "" when none (mid-failover). */
static void master_now(int64_t id, char *out, size_t len) {
    out[0] = '\0';
    cluster_map *m = read_map();
    const cluster_node *n = cluster_map_master(m, concert_slot(id));
    if (n) addr_of(n, out, len);
    free(m);
}

/* Address of the master serving concert id now. */
static void master_of(int64_t id, char *out, size_t len) {
    master_now(id, out, len);
    H_TRUE(out[0] != '\0', "no master serves concert %" PRId64, id);
}

/* Concert ids from `from` up, the first on each master, into ids[0..MASTERS-1]. */
static void concert_per_master(int64_t from, int64_t ids[MASTERS]) {
    cluster_map *m = read_map();
    H_EQ(m->nmasters, MASTERS);
    const cluster_node *seen[MASTERS] = {NULL};
    int found = 0;
    for (int64_t id = from; id < from + 1000 && found < MASTERS; id++) {
        const cluster_node *n = cluster_map_master(m, concert_slot(id));
        H_TRUE(n != NULL, "no master serves concert %" PRId64, id);
        bool dup = false;
        for (int i = 0; i < found; i++) dup = dup || seen[i] == n;
        if (dup) continue;
        seen[found] = n;
        ids[found++] = id;
    }
    free(m);
    H_EQ(found, MASTERS);
}

/* Runs a command on one node, asserting it is not an error; returns the reply (caller frees). */
static redisReply *node_exec(redis_conn *c, const char *what, redisReply *rep) {
    H_TRUE(rep != NULL, "%s: %s", what, redis_conn_errstr(c));
    if (rep->type == REDIS_REPLY_ERROR) fail_msg("%s: %s", what, rep->str);
    return rep;
}

static void node_id(redis_conn *c, char out[CLUSTER_NODE_ID_MAX]) {
    redisReply *rep = node_exec(c, "CLUSTER MYID", redis_cmd(c, "CLUSTER MYID"));
    snprintf(out, CLUSTER_NODE_ID_MAX, "%s", rep->str);
    freeReplyObject(rep);
}

/* The first half of a slot move (the specification's "Cluster live reconfiguration"): the target
 * IMPORTING from the source, the source MIGRATING to the target. */
static void slot_migration_begin(unsigned slot, redis_conn *src, redis_conn *dst) {
    char sid[CLUSTER_NODE_ID_MAX], did[CLUSTER_NODE_ID_MAX], s[16];
    node_id(src, sid);
    node_id(dst, did);
    snprintf(s, sizeof s, "%u", slot);
    freeReplyObject(node_exec(dst, "SETSLOT IMPORTING",
                              redis_cmd(dst, "CLUSTER SETSLOT %s IMPORTING %s", s, sid)));
    freeReplyObject(node_exec(src, "SETSLOT MIGRATING",
                              redis_cmd(src, "CLUSTER SETSLOT %s MIGRATING %s", s, did)));
}

/* MIGRATE key from src to the node at dst_addr. */
static void migrate_key(redis_conn *src, const char *dst_addr, const char *key) {
    char host[64];
    int port = 0;
    H_EQ(redis_parse_addr(dst_addr, host, sizeof host, &port), TR_OK);
    redisReply *rep = redis_cmd(src, "MIGRATE %s %d %s 0 5000", host, port, key);
    node_exec(src, "MIGRATE", rep);
    freeReplyObject(rep);
}

/* Every key of slot still on src to dst (GETKEYSINSLOT, MIGRATE one by one); returns how many. */
static int migrate_slot_keys(redis_conn *src, const char *dst_addr, unsigned slot) {
    int moved = 0;
    for (;;) {
        redisReply *keys =
            node_exec(src, "GETKEYSINSLOT", redis_cmd(src, "CLUSTER GETKEYSINSLOT %u 100", slot));
        size_t n = keys->elements;
        for (size_t i = 0; i < n; i++) migrate_key(src, dst_addr, keys->element[i]->str);
        moved += (int)n;
        freeReplyObject(keys);
        if (n == 0) return moved;
    }
}

/* The end of a move: SETSLOT NODE on every master (the target first). */
static void slot_migration_end(unsigned slot, redis_conn *dst) {
    char did[CLUSTER_NODE_ID_MAX];
    node_id(dst, did);
    freeReplyObject(
        node_exec(dst, "SETSLOT NODE", redis_cmd(dst, "CLUSTER SETSLOT %u NODE %s", slot, did)));
    cluster_map *m = read_map();
    for (int i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].master >= 0) continue;
        char addr[CLUSTER_HOST_MAX + 8];
        addr_of(&m->nodes[i], addr, sizeof addr);
        redis_conn *c = node_conn(addr);
        freeReplyObject(
            node_exec(c, "SETSLOT NODE", redis_cmd(c, "CLUSTER SETSLOT %u NODE %s", slot, did)));
        redis_conn_free(c);
    }
    free(m);
}

/* Moves concert id's slot from its master to another master, whole; *from and *to (may be NULL)
 * get their addresses. Returns the keys moved. */
static int move_concert(int64_t id, char *from, char *to, size_t len) {
    unsigned slot = concert_slot(id);
    cluster_map *m = read_map();
    const cluster_node *src_n = cluster_map_master(m, slot), *dst_n = NULL;
    for (int i = 0; i < m->nnodes && dst_n == NULL; i++)
        if (m->nodes[i].master < 0 && &m->nodes[i] != src_n) dst_n = &m->nodes[i];
    H_TRUE(src_n != NULL && dst_n != NULL, "no second master for slot %u", slot);
    char src_a[CLUSTER_HOST_MAX + 8], dst_a[CLUSTER_HOST_MAX + 8];
    addr_of(src_n, src_a, sizeof src_a);
    addr_of(dst_n, dst_a, sizeof dst_a);
    free(m);
    redis_conn *src = node_conn(src_a), *dst = node_conn(dst_a);
    slot_migration_begin(slot, src, dst);
    int moved = migrate_slot_keys(src, dst_a, slot);
    slot_migration_end(slot, dst);
    redis_conn_free(src);
    redis_conn_free(dst);
    if (from) snprintf(from, len, "%s", src_a);
    if (to) snprintf(to, len, "%s", dst_a);
    return moved;
}

/* Whether the node at addr holds key: EXISTS there, where MOVED or ASK (the slot is not, or no
 * longer, served there) means no. */
static int64_t node_exists(const char *addr, const char *key) {
    redis_conn *c = node_conn(addr);
    redisReply *rep = redis_cmd(c, "EXISTS %s", key);
    cluster_redirect_kind kind =
        rep && rep->type == REDIS_REPLY_ERROR ? cluster_redirect_parse(rep->str, NULL) : 0;
    H_TRUE(rep != NULL && (rep->type == REDIS_REPLY_INTEGER || kind == CLUSTER_REDIRECT_MOVED ||
                           kind == CLUSTER_REDIRECT_ASK),
           "EXISTS %s on %s failed: %s", key, addr,
           rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(c));
    int64_t n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
    freeReplyObject(rep);
    redis_conn_free(c);
    return n;
}

/* A cluster connection through the library under test. */
static redis_conn *cluster_conn(void) {
    redis_conn *c = NULL;
    char err[256] = "";
    tr_err rc = redis_conn_open(cl.seeds, 5000, &c, err, sizeof err);
    H_TRUE(rc == TR_OK, "redis_conn_open(%s): %s", cl.seeds, err);
    H_TRUE(redis_conn_is_cluster(c), "%s is not seen as a cluster", cl.seeds);
    return c;
}

/* Deletes every sale of earlier tests from the cluster (sale_clear on every master). */
static void cluster_clear(void) {
    redis_conn *c = cluster_conn();
    char err[256] = "";
    tr_err rc = sale_clear(c, 0, err, sizeof err);
    H_TRUE(rc == TR_OK, "sale_clear on the cluster: %s", err);
    redis_conn_free(c);
}

/* ---- the server on the cluster --------------------------------------------------------------- */

/* Starts the server with --redis <the cluster's seeds> (the harness passes TICKETRUSH_REDIS). */
static void server_on_cluster(h_server *s, const char *strategy) {
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", h_env_redis());
    setenv("TICKETRUSH_REDIS", cl.seeds, 1);
    h_server_start(s, strategy, 4, NULL);
    setenv("TICKETRUSH_REDIS", saved, 1);
}

/* The audit of one concert against PostgreSQL (R1–R4, R8): at most seats tickets, seats 1..n
 * dense, one per customer, VIP exactly the first vip seats, remaining = seats − n. Returns n. */
static int64_t audit_concert(int64_t id, int64_t seats, int64_t vip) {
    char q[512];
    snprintf(q, sizeof q, "SELECT count(*) FROM ticket WHERE concert_id = %" PRId64, id);
    int64_t n = h_sql_int(q);
    H_CMP(n, <=, seats);
    snprintf(q, sizeof q,
             "SELECT count(DISTINCT seat_no) FROM ticket WHERE concert_id = %" PRId64
             " AND seat_no BETWEEN 1 AND %" PRId64,
             id, n);
    H_EQ(h_sql_int(q), n);
    snprintf(q, sizeof q,
             "SELECT count(DISTINCT customer_id) FROM ticket WHERE concert_id = %" PRId64, id);
    H_EQ(h_sql_int(q), n);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM ticket WHERE concert_id = %" PRId64
             " AND vip <> (seat_no <= %" PRId64 ")",
             id, vip);
    H_EQ(h_sql_int(q), 0);
    snprintf(q, sizeof q, "SELECT remaining FROM concert WHERE id = %" PRId64, id);
    H_EQ(h_sql_int(q), seats - n);
    return n;
}

static int64_t pg_seat_of(int64_t concert, int64_t customer) {
    char q[256];
    snprintf(q, sizeof q,
             "SELECT coalesce(max(seat_no), 0) FROM ticket WHERE concert_id = %" PRId64
             " AND customer_id = %" PRId64,
             concert, customer);
    return h_sql_int(q);
}

/* Checks one answer of a purchase against PostgreSQL (after the drain): 201 → that seat; 202 →
 * a ticket or none (the line's overflow is refused at admission); 409 sold_out / 503 busy or
 * unavailable → no ticket. Counts into *ok (201 and 202). Anything else fails. */
static void check_answer(const char *strategy, const h_resp *r, int64_t concert, int64_t customer,
                         int *ok, int *busy) {
    char code[32] = "";
    h_resp_code(r, code, sizeof code);
    int64_t seat = pg_seat_of(concert, customer);
    if (r->status == 201) {
        json_t *j = h_json(r);
        int64_t told = h_json_int(j, "seatNo");
        json_decref(j);
        if (told != seat)
            fail_msg("%s: concert %" PRId64 " customer %" PRId64 " told seat %" PRId64
                     ", PostgreSQL holds %" PRId64,
                     strategy, concert, customer, told, seat);
        (*ok)++;
    } else if (r->status == 202) {
        (*ok)++;
    } else if (r->status == 409 && strcmp(code, "sold_out") == 0) {
        H_EQ(seat, 0);
    } else if (r->status == 503 &&
               (strcmp(code, "busy") == 0 || strcmp(code, "unavailable") == 0)) {
        /* busy: the lease lock (redis-lock); unavailable: a slot the cluster cannot serve now
         * (redis-zset; nothing ran) */
        char ra[16] = "";
        H_TRUE(h_resp_header(r, "Retry-After", ra, sizeof ra), "503 %s without Retry-After", code);
        H_EQ(seat, 0);
        (*busy)++;
    } else {
        fail_msg("%s: concert %" PRId64 " customer %" PRId64 ": unexpected answer %d %s: %s",
                 strategy, concert, customer, r->status, code, r->body ? r->body : "");
    }
}

/* ---- a concert on each master ------------------------------------------------------------------ */

#define SEATS 20
#define VIP 4
#define PER_CONCERT 30 /* distinct customers per concert, at once: 10 more than the seats */

static void concert_on_each_master_sells_correctly(void **state) {
    const char *strategy = *state;
    cluster_up();
    h_seed seed = {.seats = SEATS, .vip = VIP, .customers = 400};
    h_reset(&seed);
    cluster_clear();
    int64_t ids[MASTERS];
    concert_per_master(2, ids);
    for (int i = 0; i < MASTERS; i++) h_seed_concert(ids[i], &seed);

    h_server s;
    server_on_cluster(&s, strategy);
    h_burst_req *reqs = calloc(MASTERS * PER_CONCERT, sizeof *reqs);
    H_TRUE(reqs != NULL, "out of memory");
    for (int i = 0; i < MASTERS * PER_CONCERT; i++) {
        int64_t concert = ids[i % MASTERS], customer = 1 + i;
        reqs[i].len = h_fmt_purchase(reqs[i].raw, sizeof reqs[i].raw, concert, customer);
    }
    h_burst(s.port, reqs, MASTERS * PER_CONCERT, 20000);
    h_server_stop(&s); /* drains: redis-zset's issuer issues the line */

    int ok[MASTERS] = {0}, busy = 0;
    for (int i = 0; i < MASTERS * PER_CONCERT; i++)
        check_answer(strategy, &reqs[i].resp, ids[i % MASTERS], 1 + i, &ok[i % MASTERS], &busy);
    h_burst_free(reqs, MASTERS * PER_CONCERT);
    free(reqs);
    for (int i = 0; i < MASTERS; i++) {
        int64_t n = audit_concert(ids[i], SEATS, VIP);
        /* every accepted purchase holds a ticket; the sale sold out unless the lock turned
         * buyers away (redis-lock: 503 busy after the lock wait, R6 not promised) */
        H_EQ(n, ok[i]);
        if (busy == 0) H_EQ(n, SEATS);
        /* the concert's keys live on its own master */
        char addr[CLUSTER_HOST_MAX + 8], key[64];
        master_of(ids[i], addr, sizeof addr);
        snprintf(key, sizeof key, "{concert:%" PRId64 "}:%s", ids[i],
                 strcmp(strategy, "redis-zset") == 0 ? "meta" : "fence");
        H_EQ(node_exists(addr, key), 1);
        print_message("%s: concert %" PRId64 " on %s: %" PRId64 " tickets\n", strategy, ids[i],
                      addr, n);
    }
    print_message("%s: %d answered 503 busy\n", strategy, busy);
}

/* ---- the slot moves mid-sale (MOVED) ------------------------------------------------------------ */

#define MOVE_SEATS 60
#define MOVE_BUYERS 90

typedef struct buyer_run {
    int port;
    int64_t concert;
    int pace_ms; /* between purchases */
    h_resp resp[MOVE_BUYERS];
    int64_t done_ms[MOVE_BUYERS];
    atomic_int answered;
} buyer_run;

/* Buys for customers 1..MOVE_BUYERS one after the other, a few ms apart. */
static void *buyer_main(void *arg) {
    buyer_run *b = arg;
    for (int i = 0; i < MOVE_BUYERS; i++) {
        char raw[512];
        size_t len = h_fmt_purchase(raw, sizeof raw, b->concert, 1 + i);
        if (!h_request_try(b->port, raw, len, &b->resp[i])) b->resp[i].status = 0;
        b->done_ms[i] = h_now_ms();
        atomic_fetch_add(&b->answered, 1);
        h_sleep_ms(b->pace_ms);
    }
    return NULL;
}

static void moved_after_the_slot_moves_mid_sale(void **state) {
    const char *strategy = *state;
    cluster_up();
    h_seed seed = {.seats = MOVE_SEATS, .vip = VIP, .customers = 400};
    h_reset(&seed);
    cluster_clear();
    int64_t ids[MASTERS];
    concert_per_master(50, ids);
    int64_t concert = ids[0];
    h_seed_concert(concert, &seed);

    h_server s;
    server_on_cluster(&s, strategy);
    buyer_run *b = calloc(1, sizeof *b);
    H_TRUE(b != NULL, "out of memory");
    b->port = s.port;
    b->concert = concert;
    b->pace_ms = 15;
    pthread_t t;
    H_EQ(pthread_create(&t, NULL, buyer_main, b), 0);
    H_WAIT_UNTIL(atomic_load(&b->answered) >= 15, 20000, "the first 15 purchases were answered");
    char from[CLUSTER_HOST_MAX + 8], to[CLUSTER_HOST_MAX + 8];
    int64_t t_move = h_now_ms();
    int keys = move_concert(concert, from, to, sizeof from);
    int64_t moved_ms = h_now_ms();
    print_message("%s: concert %" PRId64 " moved from %s to %s (%d keys) in %lld ms, after %d "
                  "answers\n",
                  strategy, concert, from, to, keys, (long long)(moved_ms - t_move),
                  atomic_load(&b->answered));
    H_CMP(keys, >, 0);
    pthread_join(t, NULL);
    h_server_stop(&s);

    int ok = 0, busy = 0, ok_after = 0;
    for (int i = 0; i < MOVE_BUYERS; i++) {
        H_TRUE(b->resp[i].status != 0, "purchase %d got no answer: %s", i + 1, b->resp[i].error);
        int before = ok;
        check_answer(strategy, &b->resp[i], concert, 1 + i, &ok, &busy);
        if (ok > before && b->done_ms[i] > moved_ms) ok_after++;
        h_resp_free(&b->resp[i]);
    }
    free(b);
    int64_t n = audit_concert(concert, MOVE_SEATS, VIP);
    H_EQ(n, ok);
    /* the server kept selling once the slot was elsewhere: it followed MOVED */
    H_CMP(ok_after, >, 0);
    /* and the sale lives on the new master only */
    char key[64];
    snprintf(key, sizeof key, "{concert:%" PRId64 "}:%s", concert,
             strcmp(strategy, "redis-zset") == 0 ? "meta" : "fence");
    H_EQ(node_exists(to, key), 1);
    H_EQ(node_exists(from, key), 0);
    print_message("%s: %" PRId64 " tickets, %d accepted after the move, %d busy\n", strategy, n,
                  ok_after, busy);
}

/* ---- ASK, TRYAGAIN: a migration half done -------------------------------------------------------- */

static char *get_string(redisReply *rep) {
    char *v = rep && rep->type == REDIS_REPLY_STRING ? strdup(rep->str) : NULL;
    if (rep) freeReplyObject(rep);
    return v;
}

static const redis_script get_script = {"test_get", "return redis.call('GET', KEYS[1])"};

static void ask_and_tryagain_during_a_migration(void **state) {
    (void)state;
    cluster_up();
    cluster_clear();
    int64_t ids[MASTERS];
    concert_per_master(200, ids);
    int64_t concert = ids[0];
    unsigned slot = concert_slot(concert);
    char a[64], b[64], c3[64];
    snprintf(a, sizeof a, "{concert:%" PRId64 "}:probe-a", concert);
    snprintf(b, sizeof b, "{concert:%" PRId64 "}:probe-b", concert);
    snprintf(c3, sizeof c3, "{concert:%" PRId64 "}:probe-new", concert);

    redis_conn *r = cluster_conn();
    freeReplyObject(redis_cmd_key(r, a, "SET %s value-a", a));
    freeReplyObject(redis_cmd_key(r, b, "SET %s value-b", b));

    cluster_map *m = read_map();
    const cluster_node *src_n = cluster_map_master(m, slot), *dst_n = NULL;
    for (int i = 0; i < m->nnodes && dst_n == NULL; i++)
        if (m->nodes[i].master < 0 && &m->nodes[i] != src_n) dst_n = &m->nodes[i];
    char src_a[CLUSTER_HOST_MAX + 8], dst_a[CLUSTER_HOST_MAX + 8];
    addr_of(src_n, src_a, sizeof src_a);
    addr_of(dst_n, dst_a, sizeof dst_a);
    free(m);
    redis_conn *src = node_conn(src_a), *dst = node_conn(dst_a);
    slot_migration_begin(slot, src, dst);
    migrate_key(src, dst_a, a); /* a is on the target already, b still on the source */

    /* The source answers ASK for a (gone from it); the connection asks the target with ASKING. */
    redisReply *direct = redis_cmd(src, "GET %s", a);
    H_TRUE(direct && direct->type == REDIS_REPLY_ERROR && strncmp(direct->str, "ASK ", 4) == 0,
           "the source answered %s to GET of a migrated key, not ASK",
           direct && direct->str ? direct->str : "no error");
    freeReplyObject(direct);
    char *v = get_string(redis_cmd_key(r, a, "GET %s", a));
    H_STREQ(v, "value-a");
    free(v);
    v = get_string(redis_cmd_key(r, b, "GET %s", b));
    H_STREQ(v, "value-b");
    free(v);
    /* A script and a transaction on the migrated key: ASKING goes before each. */
    const char *keys[] = {a};
    v = get_string(redis_eval(r, &get_script, 1, keys, 0, NULL));
    H_STREQ(v, "value-a");
    free(v);
    const char *get_a[] = {"GET", a};
    const char *const *cmds[] = {get_a};
    int argcs[] = {2};
    redisReply *exec = redis_multi_exec_key(r, a, 1, argcs, cmds);
    H_TRUE(exec && exec->type == REDIS_REPLY_ARRAY && exec->elements == 1 &&
               exec->element[0]->type == REDIS_REPLY_STRING,
           "MULTI/EXEC on a migrated key: %s",
           exec && exec->type == REDIS_REPLY_ERROR ? exec->str : redis_conn_errstr(r));
    H_STREQ(exec->element[0]->str, "value-a");
    freeReplyObject(exec);
    /* A new key of a migrating slot is made on the target (ASK: absent from the source). */
    redisReply *set = redis_cmd_key(r, c3, "SET %s value-new", c3);
    H_TRUE(set && set->type == REDIS_REPLY_STATUS, "SET of a new key during the migration: %s",
           set && set->type == REDIS_REPLY_ERROR ? set->str : redis_conn_errstr(r));
    freeReplyObject(set);
    H_EQ(node_exists(src_a, c3), 0);

    /* A multi-key command split by the migration: TRYAGAIN, retried 10 + 20 + 40 ms, then the
     * caller is told (busy, retry). */
    int64_t t0 = h_now_ms();
    redisReply *mget = redis_cmd_key(r, a, "MGET %s %s", a, b);
    int64_t took = h_now_ms() - t0;
    H_TRUE(mget && mget->type == REDIS_REPLY_ERROR && cluster_error_busy(mget->str),
           "MGET across a half-migrated slot answered %s, not TRYAGAIN",
           mget && mget->type == REDIS_REPLY_ERROR ? mget->str : "no error");
    H_TRUE(strncmp(mget->str, "TRYAGAIN", 8) == 0, "MGET: %s", mget->str);
    freeReplyObject(mget);
    H_CMP(took, >=, 70);
    H_CMP(took, <, 2000);

    /* Finished: every key on the target, the slot its own. MOVED is followed; the run id a script
     * is told is the target's. */
    migrate_slot_keys(src, dst_a, slot);
    slot_migration_end(slot, dst);
    v = get_string(redis_cmd_key(r, b, "GET %s", b));
    H_STREQ(v, "value-b");
    free(v);
    mget = redis_cmd_key(r, a, "MGET %s %s", a, b);
    H_TRUE(mget && mget->type == REDIS_REPLY_ARRAY && mget->elements == 2, "MGET after the move");
    freeReplyObject(mget);
    redisReply *info = redis_cmd(dst, "INFO server");
    char run_id[REDIS_RUN_ID_MAX];
    H_EQ(redis_parse_run_id(info->str, run_id), TR_OK);
    freeReplyObject(info);
    H_STREQ(redis_conn_run_id_key(r, a), run_id);
    redis_conn_free(src);
    redis_conn_free(dst);
    redis_conn_free(r);
}

/* ---- redis-atomic's persister on a cluster ---------------------------------------------------------- */

static void persister_log(void *arg, const char *fmt, va_list ap) {
    (void)arg;
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* One purchase through the purchase script on the cluster (sale_eval opens or brings the sale
 * forward); returns the seat, or 0 when refused. */
static int64_t buy_in_redis(redis_conn *r, int64_t concert, int64_t customer) {
    sale_keys k;
    sale_keys_init(&k, concert);
    const char *keys[] = {k.meta, k.customers, k.owners, k.sold, k.stream};
    tr_err rc = TR_OK;
    char detail[256] = "";
    redisReply *rep = sale_eval(h_pg(), r, redis_atomic_purchase_script(), concert, 5, keys,
                                customer, "0", &rc, detail, sizeof detail);
    H_TRUE(rep != NULL, "purchase %" PRId64 "/%" PRId64 ": %s (%s)", concert, customer,
           tr_strerror(rc), detail);
    int64_t code = sale_reply_i64(rep->element[0]);
    int64_t seat = code == 1 ? sale_reply_i64(rep->element[1]) : 0;
    freeReplyObject(rep);
    return seat;
}

static int64_t tickets_of(int64_t concert) {
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM ticket WHERE concert_id = %" PRId64, concert);
    return h_sql_int(q);
}

static void persister_stores_every_master_and_follows_a_move(void **state) {
    (void)state;
    cluster_up();
    h_seed seed = {.seats = 40, .vip = VIP, .customers = 400};
    h_reset(&seed);
    cluster_clear();
    int64_t ids[MASTERS];
    concert_per_master(300, ids);
    for (int i = 0; i < MASTERS; i++) h_seed_concert(ids[i], &seed);
    redis_conn *r = cluster_conn();
    for (int i = 0; i < MASTERS; i++)
        for (int64_t c = 1; c <= 10; c++) H_EQ(buy_in_redis(r, ids[i], c), c);

    persister_config cfg = {.pg_conninfo = h_env_pg(),
                            .redis_addr = cl.seeds,
                            .batch = 100,
                            .reclaim_idle_ms = 3000,
                            .log = persister_log};
    persister *p = NULL;
    char err[256] = "";
    H_TRUE(persister_start(&cfg, &p, err, sizeof err) == TR_OK, "persister_start: %s", err);
    for (int i = 0; i < MASTERS; i++)
        H_WAIT_UNTIL(tickets_of(ids[i]) == 10, 10000, "concert %" PRId64 " stored: %lld of 10",
                     ids[i], (long long)tickets_of(ids[i]));

    /* The stream's slot moves while the persister reads it; more tickets are sold on the new
     * master (the sale is brought forward there: a new run id) and stored. */
    char from[CLUSTER_HOST_MAX + 8], to[CLUSTER_HOST_MAX + 8];
    move_concert(ids[0], from, to, sizeof from);
    for (int64_t c = 11; c <= 20; c++) H_EQ(buy_in_redis(r, ids[0], c), c);
    for (int64_t c = 11; c <= 15; c++) H_EQ(buy_in_redis(r, ids[1], c), c);
    H_WAIT_UNTIL(tickets_of(ids[0]) == 20, 10000, "moved concert stored: %lld of 20",
                 (long long)tickets_of(ids[0]));
    H_WAIT_UNTIL(tickets_of(ids[1]) == 15, 10000, "other concert stored: %lld of 15",
                 (long long)tickets_of(ids[1]));
    persister_stats st;
    persister_stats_read(p, &st);
    H_EQ(st.failures[PERSISTER_FAIL_CONTRADICTED], 0);
    persister_stop(p);
    redis_conn_free(r);
    H_EQ(audit_concert(ids[0], 40, VIP), 20);
    H_EQ(audit_concert(ids[1], 40, VIP), 15);
    H_EQ(audit_concert(ids[2], 40, VIP), 10);
    sale_keys k;
    sale_keys_init(&k, ids[0]);
    H_EQ(node_exists(to, k.stream), 1);
    H_EQ(node_exists(from, k.stream), 0);
}

/* ---- a master fails over mid-sale --------------------------------------------------------------- */

/* The pid of the redis-server listening on port (DIR/cluster/node-N/redis.pid). */
static pid_t node_pid(int port) {
    char path[sizeof cl.dir + 64], line[128];
    snprintf(path, sizeof path, "%s/cluster/ports", cl.dir);
    FILE *f = fopen(path, "r");
    H_TRUE(f != NULL, "cannot read %s: %s", path, strerror(errno));
    int node = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        int i, p, bus;
        if (sscanf(line, "%d %d %d", &i, &p, &bus) == 3 && p == port) node = i;
    }
    fclose(f);
    H_TRUE(node > 0, "no cluster node listens on port %d", port);
    snprintf(path, sizeof path, "%s/cluster/node-%d/redis.pid", cl.dir, node);
    f = fopen(path, "r");
    H_TRUE(f != NULL, "cannot read %s: %s", path, strerror(errno));
    long pid = 0;
    H_TRUE(fscanf(f, "%ld", &pid) == 1 && pid > 1, "no pid in %s", path);
    fclose(f);
    return (pid_t)pid;
}

/* `services.sh start` in the cluster's directory: starts the nodes that are not running (on their
 * own config, nodes.conf and append-only file) and waits until the cluster is ok. */
static void cluster_restart_stopped_nodes(void) {
    char script[512];
    h_services_script(script, sizeof script);
    const char *argv[] = {script, "start", "--cluster", "3", "--dir", cl.dir, NULL};
    char *out = NULL;
    int rc = h_run(argv, 120000, &out);
    if (rc != 0)
        fail_msg("services.sh start (the stopped nodes again) exited %d: %s", rc, out ? out : "");
    free(out);
}

/* SIGKILL of the redis-server listening on port. */
static void kill_node(int port) { H_EQ(kill(node_pid(port), SIGKILL), 0); }

/* CLUSTER FAILOVER TAKEOVER on the replica of the master at victim (read from the map before
 * the kill): it promotes itself at once, without the failure detection (cluster-node-timeout) or
 * the other masters' votes (https://redis.io/commands/cluster-failover/). */
static void take_over_from(const char *replica) {
    H_TRUE(replica[0] != '\0', "the killed master had no replica in the map");
    redis_conn *c = node_conn(replica);
    redisReply *rep = redis_cmd(c, "CLUSTER FAILOVER TAKEOVER");
    H_TRUE(rep && rep->type == REDIS_REPLY_STATUS, "CLUSTER FAILOVER TAKEOVER on %s: %s", replica,
           rep && rep->str ? rep->str : redis_conn_errstr(c));
    freeReplyObject(rep);
    redis_conn_free(c);
}

/* The concert's master is killed (SIGKILL) mid-sale; its replica is promoted — by the cluster
 * (cluster-node-timeout 5 s, then an election: 5.5–10 s) when takeover_ms < 0, or by CLUSTER
 * FAILOVER TAKEOVER takeover_ms after the kill. Meanwhile purchases answer 503 busy or
 * unavailable (the master cannot be reached, even after reading the map again: CLUSTERDOWN) or,
 * for the few in flight at the kill, 500 with Retry-After (unknown outcome); once the replica is
 * master the sale goes on there — redis-zset's sale brought forward from PostgreSQL first, its run
 * id being new — and a customer who did not buy before (300) buys after the buyers are done. Every
 * 201 is in PostgreSQL with its seat, seats stay dense. (redis-zset may lose admissions Redis had
 * not replicated: counted, not failed.) */
/* A seat for every buyer and for customer 300: whether the sale goes on after the failover must
 * not depend on how many buyers the outage turned away. With 60 seats (MOVE_SEATS) it needed 31
 * of the 90 turned away, about 5-6 s of outage at the buyers' pace; a promotion that came
 * sooner on a loaded machine sold every seat to the buyers, and customer 300 was rightly
 * answered 409 sold_out (issue 11, sale_goes_on_after_a_quick_failover). */
#define FAILOVER_SEATS (MOVE_BUYERS + 10)

static void failover_mid_sale(const char *strategy, int takeover_ms) {
    cluster_up();
    h_seed seed = {.seats = FAILOVER_SEATS, .vip = VIP, .customers = 400};
    h_reset(&seed);
    cluster_clear();
    int64_t ids[MASTERS];
    concert_per_master(strcmp(strategy, "redis-zset") == 0 ? 700 : 600, ids);
    int64_t concert = ids[0];
    h_seed_concert(concert, &seed);
    char victim[CLUSTER_HOST_MAX + 8];
    master_of(concert, victim, sizeof victim);
    char host[64];
    int port = 0;
    H_EQ(redis_parse_addr(victim, host, sizeof host, &port), TR_OK);
    char replica[CLUSTER_HOST_MAX + 8] = "";
    if (takeover_ms >= 0) {
        cluster_map *m = read_map();
        const cluster_node *master = cluster_map_master(m, concert_slot(concert));
        for (int i = 0; master && i < m->nnodes; i++)
            if (m->nodes[i].master >= 0 && &m->nodes[m->nodes[i].master] == master)
                addr_of(&m->nodes[i], replica, sizeof replica);
        free(m);
    }

    h_server s;
    server_on_cluster(&s, strategy);
    buyer_run *b = calloc(1, sizeof *b);
    H_TRUE(b != NULL, "out of memory");
    b->port = s.port;
    b->concert = concert;
    b->pace_ms = 150; /* about 14 s: past the failover */
    pthread_t t;
    H_EQ(pthread_create(&t, NULL, buyer_main, b), 0);
    H_WAIT_UNTIL(atomic_load(&b->answered) >= 10, 20000, "the first 10 purchases were answered");
    h_resp ready = {0};
    h_get(s.port, "/readyz", &ready);
    H_EQ(ready.status, 200);
    int64_t t_kill = h_now_ms();
    kill_node(port);
    /* /readyz: every master must answer; the dead one does not */
    h_get(s.port, "/readyz", &ready);
    H_EQ(ready.status, 503);
    print_message("/readyz after the kill: %s\n", ready.body ? ready.body : "");
    if (takeover_ms >= 0) {
        h_sleep_ms(takeover_ms);
        take_over_from(replica);
    }
    /* the replica takes over: the map names another master for the concert's slot */
    char now_master[CLUSTER_HOST_MAX + 8] = "";
    int64_t until = h_now_ms() + 30000;
    do {
        h_sleep_ms(200);
        master_now(concert, now_master, sizeof now_master);
    } while ((now_master[0] == '\0' || strcmp(now_master, victim) == 0) && h_now_ms() < until);
    int64_t promoted_ms = h_now_ms();
    H_TRUE(now_master[0] != '\0' && strcmp(now_master, victim) != 0, "no replica took over from %s",
           victim);
    pthread_join(t, NULL);
    /* and the server sells there: a new customer buys within 10 s */
    h_resp r = {0};
    bool sold_after = false;
    for (int64_t end = h_now_ms() + 10000; !sold_after && h_now_ms() < end; h_sleep_ms(100)) {
        char raw[512];
        size_t len = h_fmt_purchase(raw, sizeof raw, concert, 300);
        sold_after = h_request_try(s.port, raw, len, &r) && (r.status == 201 || r.status == 202);
    }
    int admitted = 0;
    for (int i = 0; i < MOVE_BUYERS; i++) admitted += b->resp[i].status / 100 == 2;
    H_TRUE(sold_after,
           "no purchase succeeded on the promoted master %s (last answer %d: %s); %d of the %d "
           "buyers had been answered 201/202, for %d seats",
           now_master, r.status, r.body ? r.body : r.error, admitted, MOVE_BUYERS, FAILOVER_SEATS);
    h_resp_free(&r);
    /* ready again once every master of the new map answers */
    h_get(s.port, "/readyz", &ready);
    H_EQ(ready.status, 200);
    h_resp_free(&ready);
    h_server_stop(&s);

    int ok = 0, busy = 0, unknown = 0, unknown_held = 0, lost = 0, sold_out = 0;
    for (int i = 0; i < MOVE_BUYERS; i++) {
        h_resp *a = &b->resp[i];
        H_TRUE(a->status != 0, "purchase %d got no answer: %s", i + 1, a->error);
        char code[32] = "";
        h_resp_code(a, code, sizeof code);
        sold_out += a->status == 409 && strcmp(code, "sold_out") == 0;
        if (a->status == 500) {
            char ra[16] = "";
            H_TRUE(h_resp_header(a, "Retry-After", ra, sizeof ra), "500 without Retry-After");
            unknown++;
            unknown_held += pg_seat_of(concert, 1 + i) > 0;
        } else if (a->status == 202 && pg_seat_of(concert, 1 + i) == 0) {
            lost++; /* an admission the failover lost (redis-zset only) */
        } else {
            check_answer(strategy, a, concert, 1 + i, &ok, &busy);
        }
        h_resp_free(a);
    }
    free(b);
    /* The killed node back (services.sh start restarts what is not running): it rejoins as a
     * replica of the promoted master, so the next test has a replica to fail over to again. */
    cluster_restart_stopped_nodes();
    if (strcmp(strategy, "redis-zset") != 0) H_EQ(lost, 0);
    H_EQ(sold_out, 0); /* a seat for every buyer (FAILOVER_SEATS) */
    H_CMP(unknown, <=, 3);
    int64_t n = audit_concert(concert, FAILOVER_SEATS, VIP);
    H_EQ(n, ok + unknown_held + 1); /* + customer 300, after the failover */
    print_message("%s: master %s killed, %s promoted after %lld ms; %" PRId64
                  " tickets, %d answered 503 busy, %d unknown outcomes (%d hold a ticket), %d "
                  "admissions lost\n",
                  strategy, victim, now_master, (long long)(promoted_ms - t_kill), n, busy, unknown,
                  unknown_held, lost);
}

/* ---- serve started while a master is down; /readyz on a cluster (issue 11) --------------------- */

/* CONFIG SET cluster-node-timeout ms on every node of the map but skip_port (0: none). */
static void node_timeout_set(int ms, int skip_port) {
    cluster_map *m = read_map();
    for (int i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].port == skip_port) continue;
        char addr[CLUSTER_HOST_MAX + 8];
        addr_of(&m->nodes[i], addr, sizeof addr);
        redis_conn *c = node_conn(addr);
        redisReply *rep = redis_cmd(c, "CONFIG SET cluster-node-timeout %d", ms);
        H_TRUE(rep && rep->type == REDIS_REPLY_STATUS, "CONFIG SET cluster-node-timeout on %s: %s",
               addr, rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(c));
        freeReplyObject(rep);
        redis_conn_free(c);
    }
    free(m);
}

/* GET /readyz into r; its status. */
static int readyz(int port, h_resp *r) {
    h_resp_free(r);
    h_get(port, "/readyz", r);
    return r->status;
}

/* A new process (a supervisor's restart, another --reuse-port process) started while a master is
 * down — killed, its replica not promoted yet — comes up (it exited 1 on "could not connect"):
 * the other masters' concerts sell, the dead master's answer 503 unavailable with Retry-After,
 * /readyz answers 503 naming that master and its slots, and once the master is back (restarted
 * on its own files) its concert sells and /readyz answers 200. The cluster's failure detection is
 * slowed (cluster-node-timeout 60 s) for the test, so the replica is not promoted meanwhile and
 * the window is the same on a slow machine; it is set back to 5 s after. The dead master is one
 * that does not hold the sales set (SALE_OPEN_SET: every sale is registered there when opened). */
static void serve_starts_with_a_master_down(void **state) {
    (void)state;
    cluster_up();
    h_seed seed = {.seats = 10, .vip = 1, .customers = 20};
    h_reset(&seed);
    cluster_clear();
    int64_t ids[MASTERS];
    concert_per_master(900, ids);
    for (int i = 0; i < MASTERS; i++) h_seed_concert(ids[i], &seed);
    cluster_map *m = read_map();
    char sales_master[CLUSTER_HOST_MAX + 8];
    addr_of(cluster_map_master(m, cluster_key_slot(SALE_OPEN_SET, strlen(SALE_OPEN_SET))),
            sales_master, sizeof sales_master);
    int v = -1, alive = -1;
    char victim[CLUSTER_HOST_MAX + 8] = "", addr[CLUSTER_HOST_MAX + 8];
    for (int i = 0; i < MASTERS; i++) {
        master_of(ids[i], addr, sizeof addr);
        if (strcmp(addr, sales_master) == 0) alive = i;
        else if (v < 0) v = i, snprintf(victim, sizeof victim, "%s", addr);
    }
    H_TRUE(v >= 0 && alive >= 0, "concerts %" PRId64 ",%" PRId64 ",%" PRId64 " on 3 masters",
           ids[0], ids[1], ids[2]);
    char slots[64];
    cluster_slot_ranges(m->slot_master, m->slot_master[concert_slot(ids[v])], slots, sizeof slots);
    free(m);
    char host[64];
    int port = 0;
    H_EQ(redis_parse_addr(victim, host, sizeof host, &port), TR_OK);

    node_timeout_set(60000, 0);
    kill_node(port);
    h_server s;
    server_on_cluster(&s, "redis-atomic"); /* fails the test when serve does not start */
    char *log = h_server_log(&s);
    H_TRUE(strstr(log, victim) && strstr(log, "cannot be reached"),
           "serve's log does not say master %s was skipped: %s", victim, log);
    free(log);
    h_resp r = {0};
    h_purchase(s.port, ids[alive], 1, &r);
    H_EQ(h_expect_ticket(&r, ids[alive], 1), 1);
    h_purchase(s.port, ids[v], 1, &r);
    h_expect_error(&r, 503, "unavailable");
    char ra[16] = "";
    H_TRUE(h_resp_header(&r, "Retry-After", ra, sizeof ra), "no Retry-After: %s", r.head);
    h_resp ready = {0};
    H_EQ(readyz(s.port, &ready), 503);
    H_TRUE(strstr(ready.body, victim) && strstr(ready.body, slots) &&
               strstr(ready.body, "does not answer"),
           "/readyz with master %s (slots %s) down: %s", victim, slots, ready.body);
    print_message("/readyz with a master down: %s\n", ready.body);

    cluster_restart_stopped_nodes(); /* back on its own files, still the master of its slots */
    node_timeout_set(5000, 0);
    bool sold = false;
    for (int64_t end = h_now_ms() + 10000; !sold && h_now_ms() < end; h_sleep_ms(100)) {
        h_purchase(s.port, ids[v], 1, &r);
        sold = r.status == 201;
        if (!sold) h_expect_error(&r, 503, "unavailable");
    }
    H_EQ(h_expect_ticket(&r, ids[v], 1), 1);
    H_WAIT_UNTIL(readyz(s.port, &ready) == 200, 10000, "/readyz after the master is back: %d %s",
                 ready.status, ready.body ? ready.body : "");
    h_purchase(s.port, ids[alive], 2, &r);
    H_EQ(h_expect_ticket(&r, ids[alive], 2), 2);
    h_resp_free(&r);
    h_resp_free(&ready);
    h_server_stop(&s);
    H_EQ(audit_concert(ids[alive], 10, 1), 2);
    H_EQ(audit_concert(ids[v], 10, 1), 1);
}

/* --durability replicated, a master's only replica stopped (SIGSTOP: its TCP connection stays,
 * INFO replication still counts it connected, but it acknowledges nothing — lag grows): every
 * purchase on that master would answer 500 after WAIT's second, so /readyz answers 503 naming the
 * master, its slots and why; once the replica runs again, 200. */
static void readyz_replicated_names_a_master_without_replica(void **state) {
    (void)state;
    cluster_up();
    h_seed seed = {.seats = 10, .vip = 1, .customers = 20};
    h_reset(&seed);
    cluster_clear();
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", h_env_redis());
    setenv("TICKETRUSH_REDIS", cl.seeds, 1);
    h_server s;
    h_server_start(&s, "redis-atomic", 2, "--durability", "replicated", NULL);
    setenv("TICKETRUSH_REDIS", saved, 1);
    h_resp ready = {0};
    H_WAIT_UNTIL(readyz(s.port, &ready) == 200, 10000, "/readyz with every replica: %d %s",
                 ready.status, ready.body ? ready.body : "");
    /* the last master of the map and its replica */
    cluster_map *m = read_map();
    int mi = -1, ri = -1;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].master < 0) mi = i;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].master == mi && mi >= 0) ri = i;
    H_TRUE(mi >= 0 && ri >= 0, "no master with a replica in the map of %s", cl.seeds);
    char master[CLUSTER_HOST_MAX + 8], slots[64];
    addr_of(&m->nodes[mi], master, sizeof master);
    cluster_slot_ranges(m->slot_master, mi, slots, sizeof slots);
    pid_t replica = node_pid(m->nodes[ri].port);
    free(m);
    H_EQ(kill(replica, SIGSTOP), 0);
    int64_t t0 = h_now_ms();
    int64_t until = t0 + 10000;
    while (readyz(s.port, &ready) == 200 && h_now_ms() < until) h_sleep_ms(200);
    int64_t took = h_now_ms() - t0;
    int status = ready.status;
    kill(replica, SIGCONT);
    H_EQ(status, 503);
    H_TRUE(strstr(ready.body, master) && strstr(ready.body, slots) &&
               strstr(ready.body, "no replica"),
           "/readyz with the replica of %s (slots %s) stopped: %s", master, slots, ready.body);
    print_message("/readyz %lld ms after the replica stopped: %s\n", (long long)took, ready.body);
    H_WAIT_UNTIL(readyz(s.port, &ready) == 200, 10000,
                 "/readyz after the replica runs again: %d %s", ready.status,
                 ready.body ? ready.body : "");
    h_resp_free(&ready);
    h_server_stop(&s);
}

/* ---- a failover during a strict sale ------------------------------------------------------------ */

/* redis-atomic --durability strict promises that a 201 is sent only once PostgreSQL committed the
 * ticket, so no acknowledged ticket is lost whatever Redis loses (SPEC §4, R7; issue 11). The
 * strongest failover for that promise is one that loses writes: the promoted replica lacks the
 * master's last purchases. So, mid-sale under concurrent buyers, the concert's replica is cut off
 * from its master first (a wrong masterauth, then CLIENT KILL TYPE master: it cannot sync again),
 * the master sells on alone until it is STRICT_BEHIND seats ahead, then it is killed (SIGKILL) and
 * the replica promoted at once (CLUSTER FAILOVER TAKEOVER: no 5 s wait for the failure detection).
 * The sale goes on there. A second fault, issue 11 §1: every master killed at once (SIGKILL)
 * and started again on its own files, as a script bug once stopped every node mid-sale. At the
 * end every 201 and every 409 already_owned names the seat PostgreSQL holds for that customer,
 * no seat is sold twice, sold ≤ seats, seats dense (R1–R4, R7, R8). The persister is slowed (--test-persist-delay, in builds with test hooks) so that a
 * server answering before the commit would have answered tickets the promoted replica never had
 * and PostgreSQL never got: this test fails then. */

#define STRICT_SEATS 400
#define STRICT_THREADS 6
#define STRICT_PER_THREAD 300 /* customers of each thread */
#define STRICT_MAX_ANSWERS 2000
#define STRICT_BEHIND 6 /* seats the master sells after the cut, before the kill */
#define STRICT_AFTER 20 /* 201s answered after the promotion, then the sale stops */

typedef struct strict_answer {
    int64_t customer;
    int status;
    char code[32];
    int64_t seat; /* of a 201's ticket or a 409 already_owned's, else 0 */
    bool retry_after;
    int64_t sent_ms, done_ms;
} strict_answer;

typedef struct strict_buyer {
    int port;
    int64_t concert, first_customer;
    atomic_bool *stop;
    strict_answer *a; /* STRICT_MAX_ANSWERS, owned by the test */
    atomic_int n;
} strict_buyer;

/* The seat a 201 or a 409 already_owned names (its "ticket"), 0 when none (thread-safe). */
static int64_t named_seat(const h_resp *r) {
    if (r->body == NULL) return 0;
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    json_t *t = r->status == 201 ? j : json_object_get(j, "ticket");
    json_t *s = json_object_get(t, "seatNo");
    int64_t seat = json_is_integer(s) ? (int64_t)json_integer_value(s) : 0;
    json_decref(j);
    return seat;
}

/* A buyer as the load generator behaves: a new customer each time; the same one again after an
 * answer that does not say what happened (no answer, 500 with Retry-After, 503); every fourth
 * request a customer it already bought for (409 already_owned, which names the ticket). */
static void *strict_buyer_main(void *arg) {
    strict_buyer *b = arg;
    int64_t next = b->first_customer, retry = 0, bought[STRICT_PER_THREAD];
    int nbought = 0, k = 0;
    while (!atomic_load(b->stop) && atomic_load(&b->n) < STRICT_MAX_ANSWERS / STRICT_THREADS &&
           next < b->first_customer + STRICT_PER_THREAD) {
        int64_t customer = retry                           ? retry
                           : (++k % 4 == 0 && nbought > 0) ? bought[(k / 4) % nbought]
                                                           : next++;
        strict_answer *a = &b->a[atomic_load(&b->n)];
        memset(a, 0, sizeof *a);
        a->customer = customer;
        a->sent_ms = h_now_ms();
        char raw[512];
        size_t len = h_fmt_purchase(raw, sizeof raw, b->concert, customer);
        h_resp r = {0};
        h_conn *c = h_conn_open(b->port);
        if (c && h_conn_send(c, raw, len) && h_conn_recv(c, &r, STRATEGY_STRICT_WAIT_MS + 10000)) {
            a->status = r.status;
            h_resp_code(&r, a->code, sizeof a->code);
            a->seat = named_seat(&r);
            char ra[16];
            a->retry_after = h_resp_header(&r, "Retry-After", ra, sizeof ra);
        }
        h_conn_close(c);
        h_resp_free(&r);
        a->done_ms = h_now_ms();
        atomic_fetch_add(&b->n, 1);
        retry = a->status == 0 || a->status >= 500 ? customer : 0;
        if (a->status == 201 && nbought < STRICT_PER_THREAD) bought[nbought++] = customer;
        if (retry) h_sleep_ms(100);
    }
    return NULL;
}

static int strict_answered(strict_buyer *b, int from_ms_after, int64_t t0, int status) {
    int n = 0;
    for (int i = 0; i < STRICT_THREADS; i++)
        for (int k = 0; k < atomic_load(&b[i].n); k++)
            n += b[i].a[k].status == status && b[i].a[k].sent_ms >= t0 + from_ms_after;
    return n;
}

/* A connection to one node that may read from a replica (READONLY). */
static redis_conn *node_conn_readonly(const char *addr) {
    redis_conn *c = node_conn(addr);
    freeReplyObject(node_exec(c, "READONLY", redis_cmd(c, "READONLY")));
    return c;
}

static int64_t node_get_int(redis_conn *c, const char *key) {
    redisReply *rep = node_exec(c, "GET", redis_cmd(c, "GET %s", key));
    int64_t v = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : 0;
    freeReplyObject(rep);
    return v;
}

/* The fault of a strict sale: one master failed over to a replica cut off from it, or every
 * master killed at once and started again on its append-only file. */
typedef enum strict_fault { STRICT_FAILOVER_BEHIND, STRICT_EVERY_MASTER_RESTARTED } strict_fault;

static void strict_sale_through(strict_fault fault) {
    cluster_up();
    int64_t t_start = h_now_ms();
    h_seed seed = {.seats = STRICT_SEATS, .vip = VIP, .customers = 2000};
    h_reset(&seed);
    cluster_clear();
    int64_t ids[MASTERS];
    concert_per_master(fault == STRICT_FAILOVER_BEHIND ? 900 : 1000, ids);
    int64_t concert = ids[0];
    h_seed_concert(concert, &seed);
    sale_keys k;
    sale_keys_init(&k, concert);

    /* The concert's master and its replica; every master's port. */
    cluster_map *m = read_map();
    const cluster_node *mn = cluster_map_master(m, concert_slot(concert)), *rn = NULL;
    H_TRUE(mn != NULL, "no master serves concert %" PRId64, concert);
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].master >= 0 && &m->nodes[m->nodes[i].master] == mn) rn = &m->nodes[i];
    H_TRUE(rn != NULL, "the master of concert %" PRId64 " has no replica", concert);
    char victim[CLUSTER_HOST_MAX + 8], heir[CLUSTER_HOST_MAX + 8];
    addr_of(mn, victim, sizeof victim);
    addr_of(rn, heir, sizeof heir);
    int master_ports[MASTERS], nmasters = 0;
    for (int i = 0; i < m->nnodes && nmasters < MASTERS; i++)
        if (m->nodes[i].master < 0) master_ports[nmasters++] = m->nodes[i].port;
    free(m);
    H_EQ(nmasters, MASTERS);
    char host[64];
    int port = 0;
    H_EQ(redis_parse_addr(victim, host, sizeof host, &port), TR_OK);

    h_server s;
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", h_env_redis());
    setenv("TICKETRUSH_REDIS", cl.seeds, 1);
#ifdef TR_TEST_HOOKS
    h_server_start(&s, "redis-atomic", 4, "--durability", "strict", "--test-persist-delay", "150",
                   NULL);
#else
    h_server_start(&s, "redis-atomic", 4, "--durability", "strict", NULL);
#endif
    setenv("TICKETRUSH_REDIS", saved, 1);

    atomic_bool stop = false;
    strict_buyer b[STRICT_THREADS];
    pthread_t t[STRICT_THREADS];
    for (int i = 0; i < STRICT_THREADS; i++) {
        b[i] = (strict_buyer){
            .port = s.port,
            .concert = concert,
            .first_customer = 1 + i * STRICT_PER_THREAD,
            .stop = &stop,
            .a = calloc(STRICT_MAX_ANSWERS / STRICT_THREADS + 1, sizeof(strict_answer))};
        H_TRUE(b[i].a != NULL, "out of memory");
        H_EQ(pthread_create(&t[i], NULL, strict_buyer_main, &b[i]), 0);
    }
    int64_t t0 = h_now_ms();
    H_WAIT_UNTIL(strict_answered(b, 0, t0, 201) >= 30, 20000, "30 purchases answered 201: %d",
                 strict_answered(b, 0, t0, 201));

    int64_t t_cut = h_now_ms(), t_kill = 0, before = 0, after = 0;
    if (fault == STRICT_FAILOVER_BEHIND) {
        /* Cut the replica off: it cannot authenticate to its master again, and is behind from
         * now on. */
        redis_conn *master = node_conn(victim), *replica = node_conn_readonly(heir);
        freeReplyObject(
            node_exec(replica, "CONFIG SET masterauth",
                      redis_cmd(replica, "CONFIG SET masterauth %s", "not-the-password")));
        freeReplyObject(
            node_exec(replica, "CLIENT KILL", redis_cmd(replica, "CLIENT KILL TYPE master")));
        t_cut = h_now_ms();
        int64_t replica_sold = node_get_int(replica, k.sold);
        do {
            h_sleep_ms(20);
            before = node_get_int(master, k.sold);
        } while (before < replica_sold + STRICT_BEHIND && h_now_ms() < t_cut + 10000);
        kill_node(port);
        t_kill = h_now_ms();
        redis_conn_free(master);
        /* what the replica holds is what the failover keeps */
        after = node_get_int(replica, k.sold);
        H_CMP(after + STRICT_BEHIND, <=, before);
        freeReplyObject(node_exec(replica, "CLUSTER FAILOVER TAKEOVER",
                                  redis_cmd(replica, "CLUSTER FAILOVER TAKEOVER")));
        freeReplyObject(node_exec(replica, "CONFIG SET masterauth",
                                  redis_cmd(replica, "CONFIG SET masterauth %s", "")));
        redis_conn_free(replica);
        char now_master[CLUSTER_HOST_MAX + 8] = "";
        int64_t until = h_now_ms() + 10000;
        do {
            h_sleep_ms(50);
            master_now(concert, now_master, sizeof now_master);
        } while (strcmp(now_master, heir) != 0 && h_now_ms() < until);
        H_STREQ(now_master, heir);
    } else {
        /* Every master at once (SIGKILL), then started again on its own files: no replica can
         * be promoted (that takes a majority of masters), the masters come back with what their
         * append-only files hold, each a new run. */
        redis_conn *master = node_conn(victim);
        before = node_get_int(master, k.sold);
        redis_conn_free(master);
        for (int i = 0; i < MASTERS; i++) kill_node(master_ports[i]);
        t_kill = h_now_ms();
        cluster_restart_stopped_nodes();
        master = node_conn(victim);
        after = node_get_int(master, k.sold);
        redis_conn_free(master);
    }
    int64_t t_back = h_now_ms();

    /* The sale goes on. */
    H_WAIT_UNTIL(strict_answered(b, (int)(t_back - t0), t0, 201) >= STRICT_AFTER, 25000,
                 "%d purchases sent after the recovery answered 201 (want %d)",
                 strict_answered(b, (int)(t_back - t0), t0, 201), STRICT_AFTER);
    atomic_store(&stop, true);
    for (int i = 0; i < STRICT_THREADS; i++) pthread_join(t[i], NULL);
    h_server_stop(&s);

    /* Every answer against PostgreSQL. */
    int acked = 0, owned = 0, unknown = 0, refused = 0, sold_out = 0, in_flight = 0;
    for (int i = 0; i < STRICT_THREADS; i++) {
        for (int j = 0; j < atomic_load(&b[i].n); j++) {
            const strict_answer *a = &b[i].a[j];
            int64_t held = pg_seat_of(concert, a->customer);
            in_flight += a->sent_ms < t_kill && a->done_ms > t_kill;
            if (a->status == 201 || (a->status == 409 && strcmp(a->code, "already_owned") == 0)) {
                H_TRUE(a->seat > 0, "customer %" PRId64 ": %d %s names no seat", a->customer,
                       a->status, a->code);
                if (held != a->seat)
                    fail_msg("customer %" PRId64 " was answered %d%s%s with seat %" PRId64
                             " (sent %lld ms, answered %lld ms after the start; the kill at %lld "
                             "ms), PostgreSQL holds seat %" PRId64 " (0: none)",
                             a->customer, a->status, a->status == 201 ? "" : " ",
                             a->status == 201 ? "" : a->code, a->seat, (long long)(a->sent_ms - t0),
                             (long long)(a->done_ms - t0), (long long)(t_kill - t0), held);
                acked += a->status == 201;
                owned += a->status == 409;
            } else if (a->status == 409 && strcmp(a->code, "sold_out") == 0) {
                sold_out++;
            } else if (a->status == 0 || a->status == 500) {
                H_TRUE(a->status == 0 || a->retry_after, "500 without Retry-After");
                unknown++;
            } else if (a->status == 503) {
                H_TRUE(a->retry_after, "503 %s without Retry-After", a->code);
                refused++;
            } else {
                fail_msg("customer %" PRId64 ": unexpected answer %d %s", a->customer, a->status,
                         a->code);
            }
        }
        free(b[i].a);
    }
    int64_t n = audit_concert(concert, STRICT_SEATS, VIP); /* sold ≤ seats, dense, one each */
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) - count(DISTINCT seat_no) FROM ticket WHERE concert_id = %" PRId64,
             concert);
    H_EQ(h_sql_int(q), 0); /* no seat sold twice */
    H_CMP(acked, >=, 30 + STRICT_AFTER);
    H_CMP(n, >=, acked);

    /* The killed node back, as a replica of the promoted one (the next test fails over again). */
    if (fault == STRICT_FAILOVER_BEHIND) cluster_restart_stopped_nodes();
    print_message("strict, %s: sold %" PRId64 " on the concert's master %s before, %" PRId64
                  " on its %s (%lld ms after the kill); %" PRId64 " tickets, %d answered "
                  "201, %d 409 already_owned, %d sold out, %d unknown (500 or none), %d 503, %d "
                  "in flight at the kill; %lld ms in all\n",
                  fault == STRICT_FAILOVER_BEHIND ? "failover to a replica behind"
                                                  : "every master killed and restarted",
                  before, victim, after,
                  fault == STRICT_FAILOVER_BEHIND ? "replica when promoted"
                                                  : "restarted master once the cluster was ok",
                  (long long)(t_back - t_kill), n, acked, owned, sold_out, unknown, refused,
                  in_flight, (long long)(h_now_ms() - t_start));
}

static void strict_failover_loses_no_acknowledged_ticket(void **state) {
    (void)state;
    strict_sale_through(STRICT_FAILOVER_BEHIND);
}

/* Issue 11 §1: every master of the cluster killed at once mid-sale and started again (as a
 * script bug once stopped every node). */
static void strict_every_master_restarted_loses_no_acknowledged_ticket(void **state) {
    (void)state;
    strict_sale_through(STRICT_EVERY_MASTER_RESTARTED);
}
static void sale_goes_on_after_a_failover(void **state) { failover_mid_sale(*state, -1); }

/* The replica promoted 1 s after the kill (issue 11: a promotion quicker than usual, on a loaded
 * machine, left fewer buyers turned away by the outage than the test counted on). */
static void sale_goes_on_after_a_quick_failover(void **state) { failover_mid_sale(*state, 1000); }

/* ---- the end ----------------------------------------------------------------------------------- */

/* Last: `services.sh stop --purge` of the cluster's directory leaves nothing behind. */
static void cluster_stops_clean(void **state) {
    (void)state;
    if (cl.dir[0] == '\0') skip();
    char dir[sizeof cl.dir];
    snprintf(dir, sizeof dir, "%s", cl.dir);
    int rc = h_cluster_stop(cl.dir);
    if (rc != 0) fail_msg("services.sh stop --purge --dir %s exited %d", dir, rc);
    H_EQ(h_redis_processes_in(dir), 0);
    H_TRUE(access(dir, F_OK) != 0, "%s still exists after stop --purge", dir);
}

static const char *const lock_and_line[] = {"redis-lock", "redis-zset", NULL};

int main(void) {
    const h_test tests[] = {
        {"concert_on_each_master_sells_correctly", concert_on_each_master_sells_correctly,
         lock_and_line},
        {"moved_after_the_slot_moves_mid_sale", moved_after_the_slot_moves_mid_sale, lock_and_line},
        {"ask_and_tryagain_during_a_migration", ask_and_tryagain_during_a_migration, NULL},
        {"persister_stores_every_master_and_follows_a_move",
         persister_stores_every_master_and_follows_a_move, NULL},
        {"serve_starts_with_a_master_down", serve_starts_with_a_master_down, NULL},
        {"readyz_replicated_names_a_master_without_replica",
         readyz_replicated_names_a_master_without_replica, NULL},
        {"sale_goes_on_after_a_failover", sale_goes_on_after_a_failover, lock_and_line},
        {"strict_failover_loses_no_acknowledged_ticket",
         strict_failover_loses_no_acknowledged_ticket, NULL},
        {"strict_every_master_restarted_loses_no_acknowledged_ticket",
         strict_every_master_restarted_loses_no_acknowledged_ticket, NULL},
        {"sale_goes_on_after_a_quick_failover", sale_goes_on_after_a_quick_failover, lock_and_line},
        {"cluster_stops_clean", cluster_stops_clean, NULL},
    };
    return h_run_tests("cluster_sale", tests, sizeof tests / sizeof tests[0]);
}
