/* test_cluster_routing.c — the routing rules of store/cluster.h against a real Redis Cluster:
 * a private one of 3 masters with a replica each (`scripts/services.sh start --cluster 3` in a
 * directory of its own), read through store/redis.h's connection. Its CLUSTER SLOTS parses into
 * a map every node agrees on, our slot function agrees with CLUSTER KEYSLOT, and for concerts
 * on every master the node the map names takes `SET {concert:ID}:probe` while the other masters
 * (and the owner's replica) answer MOVED with that slot and that node's address. Then the
 * 1-master cluster services.sh makes by hand (`start --cluster 1`, the bench's "what routing
 * costs" row): one master serves all 16384 slots, its replica sends every write there, status
 * says ok, stop leaves nothing. And a cluster started while another has a node down keeps off
 * that node's ports. Skipped when this Redis cannot run a cluster (services.sh exits 4). Does
 * not use the server. */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/cluster.h"
#include "store/redis.h"

#define CLUSTER_MASTERS 3
#define CLUSTER_NODES (CLUSTER_MASTERS * 2)

typedef struct cluster_fixture {
    char dir[512];                       /* the cluster's state directory; "" when not started */
    cluster_map *map;                    /* from the first seed */
    redis_conn *conn[CLUSTER_MAX_NODES]; /* by node index in map, opened on first use */
} cluster_fixture;

static cluster_fixture fx;

/* `services.sh stop --purge` of our directory; asserts nothing of ours is left behind. */
static void cluster_stop(void) {
    if (fx.dir[0] == '\0') return;
    for (int i = 0; i < CLUSTER_MAX_NODES; i++) {
        redis_conn_free(fx.conn[i]);
        fx.conn[i] = NULL;
    }
    free(fx.map);
    fx.map = NULL;
    char dir[sizeof fx.dir];
    snprintf(dir, sizeof dir, "%s", fx.dir);
    int rc = h_cluster_stop(fx.dir);
    if (rc != 0) fail_msg("services.sh stop --purge --dir %s exited %d", dir, rc);
    H_EQ(h_redis_processes_in(dir), 0);
    H_TRUE(access(dir, F_OK) != 0, "%s still exists after stop --purge", dir);
}

static int teardown(void **state) {
    (void)state;
    cluster_stop();
    return 0;
}

/* Starts the cluster in a directory of its own: under TICKETRUSH_SVC_DIR when scripts/test.sh
 * set it (its final `stop --purge` then also ends any node a crashed test left), else in /tmp.
 * Fills seeds (comma-separated host:port) from its env file. Skips the test on exit 4. */
static void cluster_start(int masters, char *seeds, size_t seedslen) {
    char why[1024] = "";
    int64_t t0 = h_now_ms();
    int rc = h_cluster_start(masters, "cluster-test", fx.dir, sizeof fx.dir, seeds, seedslen, why,
                             sizeof why);
    if (rc == 4) skip();
    if (rc != 0) fail_msg("%s", why);
    print_message("cluster started in %lld ms\n", (long long)(h_now_ms() - t0));
}

/* host:port of a node; the unknown endpoint ("") is the host we asked: loopback. */
static void node_addr(const cluster_node *n, char *out, size_t len) {
    snprintf(out, len, "%s:%d", n->host[0] ? n->host : "127.0.0.1", n->port);
}

static redis_conn *conn_at(const char *addr) {
    redis_conn *c = NULL;
    char err[256] = "";
    if (redis_conn_open_node(addr, 5000, &c, err, sizeof err) != TR_OK)
        fail_msg("cannot connect to cluster node %s: %s", addr, err);
    return c;
}

static redis_conn *node_conn(int i) {
    if (fx.conn[i] == NULL) {
        char addr[CLUSTER_HOST_MAX + 8];
        node_addr(&fx.map->nodes[i], addr, sizeof addr);
        fx.conn[i] = conn_at(addr);
    }
    return fx.conn[i];
}

/* CLUSTER SLOTS through c, parsed into m (asserting it parses). */
static void read_map(redis_conn *c, cluster_map *m) {
    redisReply *rep = redis_cmd(c, "CLUSTER SLOTS");
    H_TRUE(rep != NULL, "CLUSTER SLOTS: %s", redis_conn_errstr(c));
    char err[256] = "";
    tr_err rc = cluster_slots_parse(rep, m, err, sizeof err);
    freeReplyObject(rep);
    H_TRUE(rc == TR_OK, "CLUSTER SLOTS does not parse: %s", err);
}

static int node_index(const cluster_node *n) { return (int)(n - fx.map->nodes); }

static void expect_moved(redis_conn *c, const char *who, const char *key, unsigned slot,
                         const cluster_node *owner) {
    redisReply *rep = redis_cmd(c, "SET %s wrong-node", key);
    H_TRUE(rep != NULL, "SET on %s: %s", who, redis_conn_errstr(c));
    H_TRUE(rep->type == REDIS_REPLY_ERROR, "%s took SET %s (type %d), its owner is %s:%d", who, key,
           rep->type, owner->host, owner->port);
    cluster_redirect r;
    cluster_redirect_kind kind = cluster_redirect_parse(rep->str, &r);
    H_TRUE(kind == CLUSTER_REDIRECT_MOVED, "%s answered \"%s\" to SET %s, not MOVED", who, rep->str,
           key);
    freeReplyObject(rep);
    H_EQ(r.slot, slot);
    H_STREQ(r.host, owner->host);
    H_EQ(r.port, owner->port);
}

static void cluster_routes_concerts_as_the_slot_map_says(void **state) {
    (void)state;
    char seeds[1024];
    int64_t t0 = h_now_ms();
    cluster_start(CLUSTER_MASTERS, seeds, sizeof seeds);

    /* The map, from the first seed. */
    char first[sizeof seeds];
    snprintf(first, sizeof first, "%s", seeds);
    char *comma = strchr(first, ',');
    if (comma) *comma = '\0';
    fx.map = malloc(sizeof *fx.map);
    H_TRUE(fx.map != NULL, "out of memory");
    redis_conn *seed = conn_at(first);
    read_map(seed, fx.map);
    if (fx.map->nnodes != CLUSTER_NODES) {
        redisReply *rep = redis_cmd(seed, "CLUSTER NODES");
        print_message("CLUSTER NODES of %s:\n%s\n", first, rep && rep->str ? rep->str : "?");
        freeReplyObject(rep);
    }
    redis_conn_free(seed);
    H_EQ(fx.map->nnodes, CLUSTER_NODES);
    H_EQ(fx.map->nmasters, CLUSTER_MASTERS);
    H_EQ(fx.map->slots_served, CLUSTER_SLOTS);

    /* The seeds are the masters; every replica names a master; every node sees the same map. */
    int seen = 0;
    for (int i = 0; i < fx.map->nnodes; i++) {
        const cluster_node *n = &fx.map->nodes[i];
        H_EQ(strlen(n->id), 40);
        if (n->master >= 0) {
            H_EQ(fx.map->nodes[n->master].master, -1);
            continue;
        }
        char addr[CLUSTER_HOST_MAX + 8];
        node_addr(n, addr, sizeof addr);
        H_TRUE(strstr(seeds, addr) != NULL, "master %s is not among the seeds %s", addr, seeds);
        seen++;
    }
    H_EQ(seen, CLUSTER_MASTERS);
    cluster_map *other = malloc(sizeof *other);
    H_TRUE(other != NULL, "out of memory");
    for (int i = 0; i < fx.map->nnodes; i++) {
        read_map(node_conn(i), other);
        for (unsigned s = 0; s < CLUSTER_SLOTS; s++) {
            const cluster_node *a = cluster_map_master(fx.map, s),
                               *b = cluster_map_master(other, s);
            if (b == NULL || a->port != b->port || strcmp(a->host, b->host) != 0)
                fail_msg("node %d gives slot %u to %s:%d, the first seed to %s:%d", i, s,
                         b ? b->host : "nobody", b ? b->port : 0, a->host, a->port);
        }
    }
    free(other);

    /* Our slot function is Redis's. */
    const char *keys[] = {"somekey",
                          "{concert:1}:meta",
                          "{concert:1}:tickets",
                          "foo{}{bar}",
                          "foo{{bar}}zap",
                          "foo{bar}{zap}",
                          "{user1000}.following",
                          "{concert:123456789}:owners",
                          ""};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        redisReply *rep = redis_cmd(node_conn(0), "CLUSTER KEYSLOT %s", keys[k]);
        H_TRUE(rep != NULL && rep->type == REDIS_REPLY_INTEGER, "CLUSTER KEYSLOT %s failed",
               keys[k]);
        H_EQ(cluster_key_slot(keys[k], strlen(keys[k])), rep->integer);
        freeReplyObject(rep);
    }

    /* Concerts on every master: two each, the first concert ids that land there. */
    int per_master[CLUSTER_MAX_NODES] = {0}, probed = 0;
    for (int64_t id = 1; id <= 1000 && probed < 2 * CLUSTER_MASTERS; id++) {
        char key[64];
        snprintf(key, sizeof key, "{concert:%lld}:probe", (long long)id);
        unsigned slot = cluster_key_slot(key, strlen(key));
        const cluster_node *owner = cluster_map_master(fx.map, slot);
        H_TRUE(owner != NULL, "slot %u of %s has no master", slot, key);
        int oi = node_index(owner);
        if (per_master[oi] >= 2) continue;
        per_master[oi]++;
        probed++;

        /* The owner takes the write and reads it back. */
        char value[32];
        snprintf(value, sizeof value, "%lld", (long long)id);
        redisReply *rep = redis_cmd(node_conn(oi), "SET %s %s", key, value);
        H_TRUE(rep != NULL, "SET on the owner: %s", redis_conn_errstr(node_conn(oi)));
        H_TRUE(rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0,
               "the owner %s:%d of slot %u answered %s to SET %s", owner->host, owner->port, slot,
               rep->type == REDIS_REPLY_ERROR ? rep->str : "no OK", key);
        freeReplyObject(rep);
        rep = redis_cmd(node_conn(oi), "GET %s", key);
        H_TRUE(rep != NULL && rep->type == REDIS_REPLY_STRING, "GET %s on its owner failed", key);
        H_STREQ(rep->str, value);
        freeReplyObject(rep);

        /* Every other master, and the owner's replica, send us to the owner. */
        for (int j = 0; j < fx.map->nnodes; j++) {
            const cluster_node *n = &fx.map->nodes[j];
            if (j == oi || (n->master >= 0 && n->master != oi)) continue;
            char who[CLUSTER_HOST_MAX + 32];
            snprintf(who, sizeof who, "%s %s:%d", n->master < 0 ? "master" : "replica", n->host,
                     n->port);
            expect_moved(node_conn(j), who, key, slot, owner);
        }
    }
    for (int i = 0; i < fx.map->nnodes; i++)
        if (fx.map->nodes[i].master < 0) H_EQ(per_master[i], 2);

    cluster_stop();
    print_message("cluster routing test took %lld ms in all\n", (long long)(h_now_ms() - t0));
}

/* `services.sh status --dir` of our directory: its exit code, its output in *out (caller frees). */
static int cluster_status(char **out) {
    char script[512];
    h_services_script(script, sizeof script);
    const char *argv[] = {script, "status", "--dir", fx.dir, NULL};
    return h_run(argv, 60000, out);
}

/* services.sh start --cluster 1: redis-cli --cluster create makes 3 masters at least, so the
 * script makes this one by hand (ADDSLOTSRANGE, MEET, REPLICATE). A client must see an ordinary
 * cluster: one master with every slot and a replica that sends writes to it. */
static void cluster_of_one_master_serves_every_slot(void **state) {
    (void)state;
    char seeds[1024];
    int64_t t0 = h_now_ms();
    cluster_start(1, seeds, sizeof seeds);
    H_TRUE(strchr(seeds, ',') == NULL, "one master, one seed; the env names \"%s\"", seeds);

    fx.map = malloc(sizeof *fx.map);
    H_TRUE(fx.map != NULL, "out of memory");
    redis_conn *seed = conn_at(seeds);
    read_map(seed, fx.map);
    redis_conn_free(seed);
    H_EQ(fx.map->nnodes, 2);
    H_EQ(fx.map->nmasters, 1);
    H_EQ(fx.map->slots_served, CLUSTER_SLOTS);
    const cluster_node *master = cluster_map_master(fx.map, 0);
    H_TRUE(master != NULL, "slot 0 has no master");
    H_TRUE(cluster_map_master(fx.map, CLUSTER_SLOTS - 1) == master,
           "slots 0 and %d have different masters", CLUSTER_SLOTS - 1);
    char addr[CLUSTER_HOST_MAX + 8];
    node_addr(master, addr, sizeof addr);
    H_STREQ(addr, seeds);
    int mi = node_index(master), ri = mi == 0 ? 1 : 0;
    H_EQ(fx.map->nodes[ri].master, mi);

    /* Every concert's keys land on the master; the replica sends them there. */
    for (int64_t id = 1; id <= 40; id++) {
        char key[64];
        snprintf(key, sizeof key, "{concert:%lld}:probe", (long long)id);
        unsigned slot = cluster_key_slot(key, strlen(key));
        H_TRUE(cluster_map_master(fx.map, slot) == master, "slot %u of %s is not the master's",
               slot, key);
        redisReply *rep = redis_cmd(node_conn(mi), "SET %s one", key);
        H_TRUE(rep != NULL && rep->type == REDIS_REPLY_STATUS, "SET %s on the master: %s", key,
               rep && rep->type == REDIS_REPLY_ERROR ? rep->str : redis_conn_errstr(node_conn(mi)));
        freeReplyObject(rep);
        expect_moved(node_conn(ri), "the replica", key, slot, master);
    }

    char *out = NULL;
    int rc = cluster_status(&out);
    if (rc != 0) fail_msg("services.sh status exited %d, not 0: %s", rc, out ? out : "");
    H_TRUE(out != NULL && strstr(out, "master, cluster_state:ok") != NULL &&
               strstr(out, "replica, cluster_state:ok") != NULL,
           "status does not show a master and a replica with cluster_state:ok: %s", out ? out : "");
    free(out);

    cluster_stop(); /* asserts no redis-server is left and the directory is gone */
    print_message("1-master cluster test took %lld ms in all\n", (long long)(h_now_ms() - t0));
}

/* The "i port bus-port" lines of DIR/cluster/ports: ports[] gets every data and bus port. */
static int read_ports(const char *dir, int *ports, int max) {
    char path[600];
    snprintf(path, sizeof path, "%s/cluster/ports", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) fail_msg("cannot read %s: %s", path, strerror(errno));
    int n = 0, i, p, b;
    while (n + 2 <= max && fscanf(f, "%d %d %d", &i, &p, &b) == 3) {
        ports[n++] = p;
        ports[n++] = b;
    }
    fclose(f);
    return n;
}

/* The pid in DIR/cluster/node-I/redis.pid. */
static pid_t node_pid(const char *dir, int i) {
    char path[600];
    snprintf(path, sizeof path, "%s/cluster/node-%d/redis.pid", dir, i);
    FILE *f = fopen(path, "r");
    if (f == NULL) fail_msg("cannot read %s: %s", path, strerror(errno));
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1) pid = 0;
    fclose(f);
    H_TRUE(pid > 1, "%s names no pid", path);
    return (pid_t)pid;
}

static char other_dir[512]; /* the second cluster's directory; "" when not started */

static int teardown_two(void **state) {
    (void)state;
    if (other_dir[0] != '\0') {
        (void)h_cluster_stop(other_dir);
    }
    unsetenv("TICKETRUSH_CLUSTER_PORT");
    cluster_stop();
    return 0;
}

/* A fault test kills a node and restarts it later; meanwhile its port is free. A cluster started
 * then must not take it (that cluster's clients would reach the new node there): services.sh
 * keeps off the ports of every other cluster of ours that still has a node running, even when
 * told to start from exactly the dead node's port. */
static void a_new_cluster_keeps_off_the_ports_of_a_cluster_with_a_node_down(void **state) {
    (void)state;
    char seeds[1024];
    cluster_start(CLUSTER_MASTERS, seeds, sizeof seeds);
    int a[4 * CLUSTER_MASTERS], na = read_ports(fx.dir, a, 4 * CLUSTER_MASTERS);
    H_EQ(na, 4 * CLUSTER_MASTERS);
    /* the last node (a replica: redis-cli --cluster create makes the first N the masters) */
    pid_t victim = node_pid(fx.dir, CLUSTER_NODES);
    int victim_port = a[2 * (CLUSTER_NODES - 1)];
    H_EQ(kill(victim, SIGKILL), 0);
    H_WAIT_UNTIL(h_redis_processes_in(fx.dir) == CLUSTER_NODES - 1, 10000,
                 "the killed node (pid %d) is still running", (int)victim);

    const char *svc = getenv("TICKETRUSH_SVC_DIR");
    snprintf(other_dir, sizeof other_dir, "%s/cluster-test2.XXXXXX", svc && svc[0] ? svc : "/tmp");
    if (mkdtemp(other_dir) == NULL) fail_msg("mkdtemp: %s", strerror(errno));
    chmod(other_dir, 0755);
    char first[16];
    snprintf(first, sizeof first, "%d", victim_port);
    setenv("TICKETRUSH_CLUSTER_PORT", first, 1);
    char script[512];
    h_services_script(script, sizeof script);
    const char *argv[] = {script, "start", "--cluster", "1", "--dir", other_dir, NULL};
    char *out = NULL;
    int rc = h_run(argv, 120000, &out);
    unsetenv("TICKETRUSH_CLUSTER_PORT");
    if (rc != 0) fail_msg("services.sh start --cluster 1 exited %d: %s", rc, out ? out : "");
    free(out);

    int b[4], nb = read_ports(other_dir, b, 4);
    H_EQ(nb, 4);
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < na; j++)
            if (b[i] == a[j])
                fail_msg("the new cluster took port %d of the first one (its node on %d is down)",
                         b[i], victim_port);
    print_message("the new cluster's ports start at %d; the dead node's was %d\n", b[0],
                  victim_port);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(cluster_routes_concerts_as_the_slot_map_says, teardown),
        cmocka_unit_test_teardown(cluster_of_one_master_serves_every_slot, teardown),
        cmocka_unit_test_teardown(a_new_cluster_keeps_off_the_ports_of_a_cluster_with_a_node_down,
                                  teardown_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
