/* test_cluster_loop.c — an HTTP event loop (src/http/loop.h) routing Redis commands to a real
 * Redis Cluster: a private one of 3 masters with a replica each (`scripts/services.sh start
 * --cluster 3` in a directory of its own; skipped when this Redis cannot run a cluster). Commands
 * are queued from the loop's own thread (its tick) and each names the server that ran it by
 * echoing its REDIS_ARG_RUN_ID argument, so the test sees where every command went: to the
 * master of its key's slot; after a slot move (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT
 * NODE) through MOVED to the new owner with the new owner's run id; during a migration through
 * ASK (ASKING) to the importing node for a key already moved; TRYAGAIN retried until the
 * migration ends, or given up (HTTP_LOOP_NOT_RUN) when it does not; one WAIT after a write
 * counts the master's replica; and after a master is killed its commands go, once the replica is
 * promoted, to that replica. Does not use the server or PostgreSQL. */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/loop.h"
#include "store/cluster.h"
#include "store/redis.h"

#define MASTERS 3

/* ---- the cluster ------------------------------------------------------------------------- */

static char cl_dir[512];

static void cluster_stop(void) {
    char dir[sizeof cl_dir];
    snprintf(dir, sizeof dir, "%s", cl_dir);
    int rc = h_cluster_stop(cl_dir);
    if (rc != 0) fail_msg("services.sh stop --purge --dir %s exited %d", dir, rc);
}

/* A directory of our own (harness: under TICKETRUSH_SVC_DIR when set), the seeds from its env
 * file; skips when this Redis cannot run a cluster. */
static void cluster_start(char *seeds, size_t seedslen) {
    char why[1024] = "";
    int rc =
        h_cluster_start(3, "cluster-loop", cl_dir, sizeof cl_dir, seeds, seedslen, why, sizeof why);
    if (rc == 4) skip();
    if (rc != 0) fail_msg("%s", why);
}

/* The masters as the map names them, each with a blocking connection, run id and node id. */
typedef struct master {
    char addr[CLUSTER_HOST_MAX + 16];
    char host[CLUSTER_HOST_MAX];
    int port;
    char id[CLUSTER_NODE_ID_MAX];
    char run_id[REDIS_RUN_ID_MAX];
    redis_conn *c;
} master;

static master ms[MASTERS];
static cluster_map *map;

static void masters_open(const char *seeds) {
    char first[1024];
    snprintf(first, sizeof first, "%s", seeds);
    char *comma = strchr(first, ',');
    if (comma) *comma = '\0';
    redis_conn *c = NULL;
    char err[256] = "";
    H_TRUE(redis_conn_open_node(first, 5000, &c, err, sizeof err) == TR_OK, "connect %s: %s", first,
           err);
    map = malloc(sizeof *map);
    H_TRUE(map != NULL, "out of memory");
    redisReply *rep = redis_cmd(c, "CLUSTER SLOTS");
    tr_err rc = cluster_slots_parse(rep, map, err, sizeof err);
    if (rep) freeReplyObject(rep);
    redis_conn_free(c);
    H_TRUE(rc == TR_OK, "CLUSTER SLOTS: %s", err);
    H_EQ(map->nmasters, MASTERS);
    int k = 0;
    for (int i = 0; i < map->nnodes; i++) {
        const cluster_node *n = &map->nodes[i];
        if (n->master >= 0) continue;
        master *m = &ms[k++];
        const char *host = n->host[0] ? n->host : "127.0.0.1";
        snprintf(m->host, sizeof m->host, "%s", host);
        m->port = n->port;
        snprintf(m->addr, sizeof m->addr, "%.255s:%d", host, n->port);
        snprintf(m->id, sizeof m->id, "%s", n->id);
        H_TRUE(redis_conn_open_node(m->addr, 5000, &m->c, err, sizeof err) == TR_OK,
               "connect %s: %s", m->addr, err);
        snprintf(m->run_id, sizeof m->run_id, "%s", redis_conn_run_id(m->c));
        H_TRUE(strlen(m->run_id) == 40, "run id of %s: \"%s\"", m->addr, m->run_id);
    }
}

static void masters_close(void) {
    for (int i = 0; i < MASTERS; i++) {
        redis_conn_free(ms[i].c);
        ms[i].c = NULL;
    }
    free(map);
    map = NULL;
}

/* The master (index in ms) that serves key in the map read at start. */
static int master_of_key(const char *key) {
    const cluster_node *n = cluster_map_master(map, cluster_key_slot(key, strlen(key)));
    H_TRUE(n != NULL, "no master serves %s", key);
    for (int i = 0; i < MASTERS; i++)
        if (ms[i].port == n->port) return i;
    fail_msg("the master of %s is not among the masters", key);
    return -1;
}

/* A blocking command's reply on master m, which must be OK; freed. */
static void master_ok(int m, redisReply *rep, const char *what) {
    H_TRUE(rep != NULL, "%s on %s: %s", what, ms[m].addr, redis_conn_errstr(ms[m].c));
    bool ok = rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0;
    if (!ok)
        fail_msg("%s on %s answered %s", what, ms[m].addr,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "something other than OK");
    freeReplyObject(rep);
}

/* The start of a move (the specification's "Live reconfiguration"): IMPORTING on the new owner,
 * then MIGRATING on the old one. */
static void slot_migrating(unsigned slot, int from, int to) {
    master_ok(to, redis_cmd(ms[to].c, "CLUSTER SETSLOT %u IMPORTING %s", slot, ms[from].id),
              "SETSLOT IMPORTING");
    master_ok(from, redis_cmd(ms[from].c, "CLUSTER SETSLOT %u MIGRATING %s", slot, ms[to].id),
              "SETSLOT MIGRATING");
}

static void migrate_key(int from, int to, const char *key) {
    master_ok(
        from,
        redis_cmd(ms[from].c, "MIGRATE %s %d %s 0 5000 KEYS %s", ms[to].host, ms[to].port, "", key),
        "MIGRATE");
}

/* The end of a move: SETSLOT NODE on the new owner, the old one, then the third. */
static void slot_owned_by(unsigned slot, int from, int to) {
    int order[MASTERS] = {to, from, 3 - to - from};
    for (int i = 0; i < MASTERS; i++)
        master_ok(order[i],
                  redis_cmd(ms[order[i]].c, "CLUSTER SETSLOT %u NODE %s", slot, ms[to].id),
                  "SETSLOT NODE");
}

/* ---- commands through the loop ------------------------------------------------------------ */

/* One command at a time, handed to the loop's thread through its tick, its outcome back. */
typedef struct exchange {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    http_loop *loop;
    /* the request */
    bool want;
    char route_key[128];
    int argc;
    char args[8][256];
    bool run_id_arg[8]; /* this argument is REDIS_ARG_RUN_ID */
    bool then_wait;     /* WAIT 1 1000 after a reply (http_loop_wait_replicas) */
    /* the outcome */
    bool done, sent;
    http_loop_outcome how;
    int type;
    long long integer;
    char str[2][256]; /* a string, an error, or an array's first two strings */
    bool waited;
    http_loop_outcome wait_how;
    long long wait_replicas;
    int64_t sent_ms, done_ms;
} exchange;

static exchange ex = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void copy_reply_str(const redisReply *r, char *out) {
    out[0] = '\0';
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR ||
              r->type == REDIS_REPLY_STATUS))
        snprintf(out, 256, "%s", r->str);
}

static void on_wait(redisReply *reply, http_loop_outcome how, void *priv) {
    (void)priv;
    pthread_mutex_lock(&ex.mu);
    ex.wait_how = how;
    ex.wait_replicas =
        how == HTTP_LOOP_REPLIED && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    ex.waited = true;
    ex.done = true;
    ex.done_ms = h_now_ms();
    pthread_cond_broadcast(&ex.cv);
    pthread_mutex_unlock(&ex.mu);
}

static void on_result(redisReply *reply, http_loop_outcome how, void *priv) {
    (void)priv;
    pthread_mutex_lock(&ex.mu);
    ex.how = how;
    ex.type = reply ? reply->type : -1;
    ex.integer = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
    ex.str[0][0] = ex.str[1][0] = '\0';
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements && i < 2; i++)
            copy_reply_str(reply->element[i], ex.str[i]);
    } else {
        copy_reply_str(reply, ex.str[0]);
    }
    bool wait = ex.then_wait && how == HTTP_LOOP_REPLIED &&
                http_loop_wait_replicas(ex.loop, 1, 1000, on_wait, NULL);
    if (!wait) {
        ex.done = true;
        ex.done_ms = h_now_ms();
        pthread_cond_broadcast(&ex.cv);
    }
    pthread_mutex_unlock(&ex.mu);
}

static int tick(http_loop *l, void *owner, bool final) {
    (void)owner;
    (void) final;
    pthread_mutex_lock(&ex.mu);
    if (!ex.want) {
        pthread_mutex_unlock(&ex.mu);
        return 0;
    }
    ex.want = false;
    const char *argv[8];
    for (int i = 0; i < ex.argc; i++) argv[i] = ex.run_id_arg[i] ? REDIS_ARG_RUN_ID : ex.args[i];
    int argc = ex.argc;
    char key[128];
    snprintf(key, sizeof key, "%s", ex.route_key);
    ex.sent_ms = h_now_ms();
    pthread_mutex_unlock(&ex.mu);
    /* on_result takes the lock; it never runs inside http_loop_redis */
    bool sent = http_loop_redis(l, key[0] ? key : NULL, argc, argv, NULL, on_result, NULL);
    pthread_mutex_lock(&ex.mu);
    ex.sent = sent;
    if (!sent) {
        ex.done = true;
        pthread_cond_broadcast(&ex.cv);
    }
    pthread_mutex_unlock(&ex.mu);
    return 0;
}

/* Queues a command for the loop: words separated by spaces, "@RUNID" for REDIS_ARG_RUN_ID, "_"
 * for one space inside a word (Lua). Returns at once; loop_wait waits for the outcome. */
static void loop_send(const char *route_key, bool then_wait, const char *words) {
    pthread_mutex_lock(&ex.mu);
    ex.want = true;
    ex.done = ex.sent = ex.waited = false;
    ex.then_wait = then_wait;
    snprintf(ex.route_key, sizeof ex.route_key, "%s", route_key ? route_key : "");
    ex.argc = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", words);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w && ex.argc < 8;
         w = strtok_r(NULL, " ", &save)) {
        for (char *c = w; *c; c++)
            if (*c == '_') *c = ' ';
        ex.run_id_arg[ex.argc] = strcmp(w, "@RUNID") == 0;
        snprintf(ex.args[ex.argc++], sizeof ex.args[0], "%s", w);
    }
    pthread_mutex_unlock(&ex.mu);
    http_loop_wake(ex.loop);
}

static void loop_wait(int timeout_ms) {
    int64_t until = h_now_ms() + timeout_ms;
    pthread_mutex_lock(&ex.mu);
    while (!ex.done && h_now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&ex.cv, &ex.mu, &ts);
    }
    bool done = ex.done, sent = ex.sent;
    pthread_mutex_unlock(&ex.mu);
    H_TRUE(done, "the loop gave no outcome within %d ms", timeout_ms);
    H_TRUE(sent, "the loop could not send the command (no connection)");
}

static void loop_cmd(const char *route_key, const char *words) {
    loop_send(route_key, false, words);
    loop_wait(5000);
}

/* "return {ARGV[1], redis.call('GET', KEYS[1])}" on key: which server ran it, and the value. */
#define WHO_AND_GET "EVAL return_{ARGV[1],redis.call('GET',KEYS[1])} 1 %s @RUNID"

static void expect_ran_on(const char *key, int m, const char *value) {
    char words[512];
    snprintf(words, sizeof words, WHO_AND_GET, key);
    loop_cmd(key, words);
    H_EQ(ex.how, HTTP_LOOP_REPLIED);
    H_TRUE(ex.type == REDIS_REPLY_ARRAY, "EVAL on %s answered type %d: %s", key, ex.type,
           ex.str[0]);
    H_STREQ(ex.str[0], ms[m].run_id);
    H_STREQ(ex.str[1], value);
}

/* ---- the test ------------------------------------------------------------------------------ */

static enum MHD_Result no_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls) {
    (void)cls, (void)conn, (void)url, (void)method, (void)version, (void)data, (void)size,
        (void)con_cls;
    return MHD_NO;
}

static struct MHD_Daemon *mhd;

static int teardown(void **state) {
    (void)state;
    http_loop_free(ex.loop);
    ex.loop = NULL;
    if (mhd) MHD_stop_daemon(mhd);
    mhd = NULL;
    masters_close();
    cluster_stop();
    return 0;
}

/* A key "{concert:ID}:probe" on master m (the first concert id whose slot m serves). */
static void key_on(int m, const char *suffix, char *key, size_t len, int64_t *concert) {
    for (int64_t id = 1; id < 10000; id++) {
        snprintf(key, len, "{concert:%lld}:%s", (long long)id, suffix);
        if (master_of_key(key) == m) {
            if (concert) *concert = id;
            return;
        }
    }
    fail_msg("no concert id below 10000 lands on master %d", m);
}

static void loop_routes_and_follows_redirects_on_a_cluster(void **state) {
    (void)state;
    char seeds[1024];
    cluster_start(seeds, sizeof seeds);
    masters_open(seeds);
    mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, no_request,
                           NULL, MHD_OPTION_END);
    H_TRUE(mhd != NULL, "could not start a libmicrohttpd daemon");
    char err[256] = "";
    tr_err rc = http_loop_start(mhd, seeds, map, 2000, NULL, tick, &ex.loop, err, sizeof err);
    H_TRUE(rc == TR_OK, "http_loop_start: %s", err);
    H_TRUE(http_loop_is_cluster(ex.loop), "the loop does not route to a cluster");

    /* Every master: a key of a concert there goes to it, with its run id (each connection reads
     * its run id first: poll until the first answers carry one). */
    char keys[MASTERS][128];
    for (int m = 0; m < MASTERS; m++) {
        key_on(m, "probe", keys[m], sizeof keys[m], NULL);
        char words[512];
        snprintf(words, sizeof words, "SET %s v%d", keys[m], m);
        loop_cmd(keys[m], words);
        H_EQ(ex.how, HTTP_LOOP_REPLIED);
        H_STREQ(ex.str[0], "OK");
        char value[8];
        snprintf(value, sizeof value, "v%d", m);
        snprintf(words, sizeof words, WHO_AND_GET, keys[m]);
        for (int64_t until = h_now_ms() + 3000;; h_sleep_ms(20)) {
            loop_cmd(keys[m], words); /* "" until the connection has read its run id */
            if (ex.str[0][0] != '\0' || h_now_ms() > until) break;
        }
        expect_ran_on(keys[m], m, value);
        /* one WAIT after the write: the master's replica acknowledged it */
        snprintf(words, sizeof words, "SET %s v%d", keys[m], m);
        loop_send(keys[m], true, words);
        loop_wait(5000);
        H_TRUE(ex.waited, "no WAIT outcome after SET on %s", ms[m].addr);
        H_EQ(ex.wait_how, HTTP_LOOP_REPLIED);
        H_EQ(ex.wait_replicas, 1);
    }

    /* MOVED: the slot of master 0's key moves to master 1; the loop's map still names master 0,
     * which answers MOVED; the command runs on master 1 with master 1's run id. */
    const char *k = keys[0];
    unsigned slot = cluster_key_slot(k, strlen(k));
    char k2[128];
    snprintf(k2, sizeof k2, "%.*s:second", (int)(strchr(k, '}') - k + 1), k);
    H_EQ(cluster_key_slot(k2, strlen(k2)), slot);
    char words[512];
    snprintf(words, sizeof words, "SET %s w", k2);
    loop_cmd(k2, words);
    H_STREQ(ex.str[0], "OK");
    slot_migrating(slot, 0, 1);
    migrate_key(0, 1, k);
    migrate_key(0, 1, k2);
    slot_owned_by(slot, 0, 1);
    expect_ran_on(k, 1, "v0");
    expect_ran_on(k2, 1, "w");

    /* ASK: the slot migrates from master 1 to master 2 and only k has moved: k is answered by
     * master 2 (ASK, then ASKING + the command there), k2 still by master 1. */
    slot_migrating(slot, 1, 2);
    migrate_key(1, 2, k);
    expect_ran_on(k, 2, "v0");
    expect_ran_on(k2, 1, "w");

    /* TRYAGAIN: both keys in one script while they are split between the nodes: retried after
     * 10, 20, 40 ms (cluster_next_step), then given up unrun. */
    snprintf(words, sizeof words, "EVAL return_ARGV[1] 2 %s %s @RUNID", k, k2);
    loop_cmd(k, words);
    H_EQ(ex.how, HTTP_LOOP_NOT_RUN);
    H_CMP(ex.done_ms - ex.sent_ms, >=, 70);
    H_CMP(ex.done_ms - ex.sent_ms, <, 2000);

    /* … and retried until the migration ends while it waits: then it runs on master 2. */
    loop_send(k, false, words);
    h_sleep_ms(25);
    migrate_key(1, 2, k2);
    slot_owned_by(slot, 1, 2);
    loop_wait(5000);
    H_EQ(ex.how, HTTP_LOOP_REPLIED);
    H_TRUE(ex.type == REDIS_REPLY_STRING, "the retried script answered type %d: %s", ex.type,
           ex.str[0]);
    H_STREQ(ex.str[0], ms[2].run_id);
    expect_ran_on(k, 2, "v0");
    expect_ran_on(k2, 2, "w");
    /* the other masters' keys never moved */
    expect_ran_on(keys[1], 1, "v1");
    expect_ran_on(keys[2], 2, "v2");

    /* Failover: master 1 killed; its replica is promoted (cluster-node-timeout 5 s). Meanwhile
     * its commands are lost (sent, unknown outcome) or not run (its connect refused, the slot
     * unserved); then the loop, having read the map again, sends them to the promoted replica,
     * which holds what the WAIT above confirmed. */
    int mi = -1;
    for (int i = 0; i < map->nnodes; i++)
        if (map->nodes[i].master < 0 && map->nodes[i].port == ms[1].port) mi = i;
    master replica = {0};
    for (int i = 0; i < map->nnodes && replica.port == 0; i++) {
        if (mi < 0 || map->nodes[i].master != mi) continue;
        replica.port = map->nodes[i].port;
        snprintf(replica.addr, sizeof replica.addr, "%.255s:%d",
                 map->nodes[i].host[0] ? map->nodes[i].host : "127.0.0.1", replica.port);
    }
    H_TRUE(replica.port != 0, "master %s has no replica in the map", ms[1].addr);
    H_TRUE(redis_conn_open_node(replica.addr, 5000, &replica.c, err, sizeof err) == TR_OK,
           "connect %s: %s", replica.addr, err);
    snprintf(replica.run_id, sizeof replica.run_id, "%s", redis_conn_run_id(replica.c));
    redis_conn_free(replica.c);
    redisReply *info = redis_cmd(ms[1].c, "INFO server");
    long long pid = 0;
    H_TRUE(info && info->type == REDIS_REPLY_STRING &&
               cluster_info_int(info->str, "process_id", &pid) && pid > 1,
           "no process_id from %s", ms[1].addr);
    freeReplyObject(info);
    H_EQ(kill((pid_t)pid, SIGKILL), 0);
    int lost = 0, not_run = 0, other = 0;
    int64_t t0 = h_now_ms();
    snprintf(words, sizeof words, WHO_AND_GET, keys[1]);
    for (;;) {
        loop_cmd(keys[1], words);
        if (ex.how == HTTP_LOOP_REPLIED && ex.type == REDIS_REPLY_ARRAY &&
            strcmp(ex.str[0], replica.run_id) == 0)
            break;
        if (ex.how == HTTP_LOOP_LOST) lost++;
        else if (ex.how == HTTP_LOOP_NOT_RUN) not_run++;
        else other++; /* e.g. "" for the run id while the new connection reads it */
        H_TRUE(h_now_ms() - t0 < 30000,
               "no answer from the promoted replica %s within 30 s (lost %d, not run %d, other "
               "%d; last: outcome %d, \"%s\")",
               replica.addr, lost, not_run, other, ex.how, ex.str[0]);
        h_sleep_ms(50);
    }
    print_message("failover: the promoted replica answered after %lld ms (lost %d, not run %d, "
                  "other %d)\n",
                  (long long)(h_now_ms() - t0), lost, not_run, other);
    H_STREQ(ex.str[1], "v1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(loop_routes_and_follows_redirects_on_a_cluster, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
