/* test_cluster.c — the Redis Cluster routing rules (store/cluster.h) against the specification's
 * own examples: the CRC16 test vector, the hash-tag rules, our concert keys sharing one slot,
 * the CLUSTER SLOTS reply read into a slot map (and every malformed reply refused without a
 * crash), the MOVED / ASK / TRYAGAIN / CLUSTERDOWN error replies and what a client does with
 * each (cluster_next_step), and integer fields of INFO replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/cluster.h"
#include "store/lock.h"
#include "store/sale.h"

#define EXPECT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long ea_ = (long long)(a), eb_ = (long long)(b);                                      \
        if (ea_ != eb_) fail_msg("%s == %s: %lld != %lld", #a, #b, ea_, eb_);                      \
    } while (0)
#define EXPECT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *ea_ = (a), *eb_ = (b);                                                         \
        if (strcmp(ea_, eb_) != 0) fail_msg("%s == %s: \"%s\" != \"%s\"", #a, #b, ea_, eb_);       \
    } while (0)

static unsigned slot_of(const char *key) { return cluster_key_slot(key, strlen(key)); }

/* ---- key → slot ------------------------------------------------------------------------- */

static void crc16_matches_the_specification_test_vector(void **state) {
    (void)state;
    EXPECT_EQ(cluster_crc16("123456789", 9), 0x31C3);
    EXPECT_EQ(cluster_crc16("", 0), 0);
}

/* Values Redis itself gives (CLUSTER KEYSLOT's documentation); test_cluster_routing also asks a
 * live cluster. */
static void key_slot_matches_redis_for_documented_keys(void **state) {
    (void)state;
    EXPECT_EQ(slot_of("somekey"), 11058);
    EXPECT_EQ(slot_of("foo{hash_tag}"), 2515);
    EXPECT_EQ(slot_of("bar{hash_tag}"), 2515);
    EXPECT_EQ(slot_of("123456789"), 0x31C3 % CLUSTER_SLOTS);
    EXPECT_EQ(slot_of(""), 0);
}

static void hash_tags_follow_the_specification(void **state) {
    (void)state;
    /* The specification's four examples ("Hash tags"). */
    EXPECT_EQ(slot_of("{user1000}.following"), slot_of("user1000"));
    EXPECT_EQ(slot_of("{user1000}.followers"), slot_of("user1000"));
    EXPECT_EQ(slot_of("foo{bar}{zap}"), slot_of("bar"));
    EXPECT_EQ(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    EXPECT_EQ(slot_of("foo{}{bar}"), cluster_crc16("foo{}{bar}", 10) % CLUSTER_SLOTS);
    /* No closing brace after the first '{', or none at all: the whole key. */
    EXPECT_EQ(slot_of("foo{bar"), cluster_crc16("foo{bar", 7) % CLUSTER_SLOTS);
    EXPECT_EQ(slot_of("foo}bar{"), cluster_crc16("foo}bar{", 8) % CLUSTER_SLOTS);
    EXPECT_EQ(slot_of("{}"), cluster_crc16("{}", 2) % CLUSTER_SLOTS);
    /* A tag may sit anywhere; a second '{' inside the tag is part of it. */
    EXPECT_EQ(slot_of("x{a{b}c"), slot_of("a{b"));
    /* Binary safe: bytes after a NUL count, and the length is what is hashed. */
    const char bin[] = {'a', '\0', '{', 'x', '}'};
    EXPECT_EQ(cluster_key_slot(bin, sizeof bin), slot_of("x"));
    EXPECT_EQ(cluster_key_slot("somekeyXYZ", 7), 11058);
    EXPECT_EQ(cluster_key_slot(NULL, 0), 0);
}

/* Every key of a concert's sale (store/sale.h) and its lock (store/lock.h) carries the hash tag
 * {concert:ID}, so one script can touch them all on one shard (SPEC §4 "Scale-out"). */
static void concert_keys_share_one_slot(void **state) {
    (void)state;
    const int64_t ids[] = {1, 2, 7, 30, 1000000, INT64_MAX};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        sale_keys k;
        sale_keys_init(&k, ids[i]);
        redis_lock l;
        lock_init_concert(&l, ids[i], 1, 1);
        char tag[64];
        snprintf(tag, sizeof tag, "concert:%lld", (long long)ids[i]);
        const unsigned want = slot_of(tag);
        const char *keys[] = {k.meta,    k.customers,     k.owners,   k.sold,     k.stream,
                              k.line,    k.outcomes,      k.admitted, k.issuer,   k.issuer_fence,
                              k.loading, k.loading_fence, l.key,      l.fence_key};
        for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++)
            if (slot_of(keys[j]) != want)
                fail_msg("%s is in slot %u, {%s} in %u", keys[j], slot_of(keys[j]), tag, want);
    }
    EXPECT_EQ(slot_of("{concert:1}:meta"), slot_of("{concert:1}:tickets"));
}

/* ---- crafted replies -------------------------------------------------------------------- */

static redisReply *r_new(int type) {
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = type;
    return r;
}
static redisReply *r_int(long long v) {
    redisReply *r = r_new(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}
static redisReply *r_strtype(int type, const char *s) {
    redisReply *r = r_new(type);
    r->len = strlen(s);
    r->str = strdup(s);
    assert_non_null(r->str);
    return r;
}
static redisReply *r_str(const char *s) { return r_strtype(REDIS_REPLY_STRING, s); }
static redisReply *r_nil(void) { return r_new(REDIS_REPLY_NIL); }
/* An array of n NULL elements, for the caller to fill. */
static redisReply *r_arr_n(size_t n) {
    redisReply *r = r_new(REDIS_REPLY_ARRAY);
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof *r->element);
    assert_non_null(r->element);
    return r;
}
/* An array of n elements given as arguments (NULL elements allowed, as a malformed input). */
static redisReply *r_arr(size_t n, ...) {
    redisReply *r = r_arr_n(n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}
/* A node as Redis 7 writes it: endpoint, port, id, networking metadata (empty). */
static redisReply *r_node(const char *host, long long port, const char *id) {
    return r_arr(4, r_str(host), r_int(port), r_str(id), r_arr(0));
}
static redisReply *r_range(long long start, long long end, redisReply *master,
                           redisReply *replica) {
    return replica ? r_arr(4, r_int(start), r_int(end), master, replica)
                   : r_arr(3, r_int(start), r_int(end), master);
}

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccc"
#define ID_D "dddddddddddddddddddddddddddddddddddddddd"
#define ID_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define ID_F "ffffffffffffffffffffffffffffffffffffffff"

static void expect_node(const cluster_node *n, const char *host, int port, const char *id) {
    assert_non_null(n);
    EXPECT_STREQ(n->host, host);
    EXPECT_EQ(n->port, port);
    EXPECT_STREQ(n->id, id);
}

static void expect_empty(const cluster_map *m) {
    EXPECT_EQ(m->nnodes, 0);
    EXPECT_EQ(m->nmasters, 0);
    EXPECT_EQ(m->slots_served, 0);
    for (unsigned s = 0; s < CLUSTER_SLOTS; s++)
        if (m->slot_master[s] != -1) fail_msg("slot %u still has master %d", s, m->slot_master[s]);
}

/* ---- CLUSTER SLOTS ---------------------------------------------------------------------- */

/* What redis-cli --cluster create makes of 3 masters with a replica each, with the first
 * master's range split in two (as after a reshard: the node is listed once per range). */
static void slots_parse_reads_masters_replicas_and_ranges(void **state) {
    (void)state;
    redisReply *rep = r_arr(
        4, r_range(0, 5000, r_node("127.0.0.1", 7000, ID_A), r_node("127.0.0.1", 7004, ID_E)),
        r_range(10923, 16383, r_node("127.0.0.1", 7002, ID_C), r_node("127.0.0.1", 7003, ID_D)),
        r_range(5461, 10922, r_node("127.0.0.1", 7001, ID_B), r_node("127.0.0.1", 7005, ID_F)),
        r_range(5001, 5460, r_node("127.0.0.1", 7000, ID_A), r_node("127.0.0.1", 7004, ID_E)));
    cluster_map *m = malloc(sizeof *m);
    assert_non_null(m);
    char err[256] = "";
    EXPECT_EQ(cluster_slots_parse(rep, m, err, sizeof err), TR_OK);
    EXPECT_STREQ(err, "");
    EXPECT_EQ(m->nnodes, 6);
    EXPECT_EQ(m->nmasters, 3);
    EXPECT_EQ(m->slots_served, CLUSTER_SLOTS);
    expect_node(cluster_map_master(m, 0), "127.0.0.1", 7000, ID_A);
    expect_node(cluster_map_master(m, 5000), "127.0.0.1", 7000, ID_A);
    expect_node(cluster_map_master(m, 5001), "127.0.0.1", 7000, ID_A);
    expect_node(cluster_map_master(m, 5460), "127.0.0.1", 7000, ID_A);
    expect_node(cluster_map_master(m, 5461), "127.0.0.1", 7001, ID_B);
    expect_node(cluster_map_master(m, 10922), "127.0.0.1", 7001, ID_B);
    expect_node(cluster_map_master(m, 10923), "127.0.0.1", 7002, ID_C);
    expect_node(cluster_map_master(m, 16383), "127.0.0.1", 7002, ID_C);
    assert_null(cluster_map_master(m, CLUSTER_SLOTS));
    /* Each replica is kept, pointing at its master. */
    int replicas = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const cluster_node *n = &m->nodes[i];
        if (n->master < 0) continue;
        replicas++;
        const cluster_node *master = &m->nodes[n->master];
        EXPECT_EQ(master->master, -1);
        EXPECT_EQ(n->port - master->port, n->port == 7003 ? 1 : 4);
    }
    EXPECT_EQ(replicas, 3);
    /* A slot's master, by key. */
    expect_node(cluster_map_master(m, slot_of("somekey")), "127.0.0.1", 7002, ID_C);
    freeReplyObject(rep);
    free(m);
}

/* A cluster not fully covered (a slot never assigned, a master lost with no replica) is still
 * read: the slots nobody serves have no master. Older Redis gives nodes without an id. */
static void slots_parse_keeps_unserved_slots_and_old_node_shapes(void **state) {
    (void)state;
    redisReply *rep = r_arr(2, r_range(0, 99, r_arr(2, r_str("10.0.0.1"), r_int(6379)), NULL),
                            r_range(200, 200, r_arr(3, r_str("10.0.0.2"), r_int(6379), r_str("")),
                                    r_arr(2, r_str("10.0.0.3"), r_int(6380))));
    cluster_map *m = malloc(sizeof *m);
    assert_non_null(m);
    EXPECT_EQ(cluster_slots_parse(rep, m, NULL, 0), TR_OK);
    EXPECT_EQ(m->nnodes, 3);
    EXPECT_EQ(m->nmasters, 2);
    EXPECT_EQ(m->slots_served, 101);
    expect_node(cluster_map_master(m, 99), "10.0.0.1", 6379, "");
    assert_null(cluster_map_master(m, 100));
    assert_null(cluster_map_master(m, 199));
    expect_node(cluster_map_master(m, 200), "10.0.0.2", 6379, "");
    assert_null(cluster_map_master(m, 201));
    freeReplyObject(rep);

    /* An empty array: a cluster with no slot assigned yet. */
    rep = r_arr(0);
    EXPECT_EQ(cluster_slots_parse(rep, m, NULL, 0), TR_OK);
    expect_empty(m);
    freeReplyObject(rep);
    free(m);
}

/* The unknown endpoint (nil, "" or "?") means "the host you asked, this port" (CLUSTER SLOTS);
 * a hostname endpoint is kept as written. */
static void slots_parse_reads_unknown_endpoints_as_empty_hosts(void **state) {
    (void)state;
    redisReply *rep =
        r_arr(3, r_range(0, 0, r_arr(3, r_nil(), r_int(7000), r_str(ID_A)), NULL),
              r_range(1, 1, r_arr(3, r_str(""), r_int(7001), r_str(ID_B)),
                      r_arr(3, r_str("?"), r_int(7002), r_str(ID_C))),
              r_range(2, 16383,
                      r_arr(3, r_str("redis-3.example.internal"), r_int(7003), r_str(ID_D)), NULL));
    cluster_map *m = malloc(sizeof *m);
    assert_non_null(m);
    EXPECT_EQ(cluster_slots_parse(rep, m, NULL, 0), TR_OK);
    expect_node(cluster_map_master(m, 0), "", 7000, ID_A);
    expect_node(cluster_map_master(m, 1), "", 7001, ID_B);
    expect_node(&m->nodes[2], "", 7002, ID_C);
    EXPECT_EQ(m->nodes[2].master, 1);
    expect_node(cluster_map_master(m, 2), "redis-3.example.internal", 7003, ID_D);
    freeReplyObject(rep);
    free(m);
}

typedef struct bad_reply {
    const char *why;
    redisReply *reply;
} bad_reply;

static void slots_parse_refuses_malformed_replies(void **state) {
    (void)state;
    char longhost[CLUSTER_HOST_MAX + 8];
    memset(longhost, 'h', sizeof longhost - 1);
    longhost[sizeof longhost - 1] = '\0';
    bad_reply bad[] = {
        {"not an array", r_int(1)},
        {"a status", r_strtype(REDIS_REPLY_STATUS, "OK")},
        {"nil", r_nil()},
        {"a range that is not an array", r_arr(1, r_int(0))},
        {"a NULL range", r_arr(1, NULL)},
        {"a range without a master", r_arr(1, r_arr(2, r_int(0), r_int(1)))},
        {"a start that is a string",
         r_arr(1, r_arr(3, r_str("0"), r_int(1), r_node("h", 1, ID_A)))},
        {"start after end", r_arr(1, r_range(10, 9, r_node("h", 1, ID_A), NULL))},
        {"a negative start", r_arr(1, r_range(-1, 9, r_node("h", 1, ID_A), NULL))},
        {"end past the last slot", r_arr(1, r_range(0, 16384, r_node("h", 1, ID_A), NULL))},
        {"a huge end", r_arr(1, r_range(0, 1LL << 40, r_node("h", 1, ID_A), NULL))},
        {"a master that is not an array", r_arr(1, r_range(0, 1, r_str("h:1"), NULL))},
        {"a NULL master", r_arr(1, r_arr(3, r_int(0), r_int(1), NULL))},
        {"a node without a port", r_arr(1, r_range(0, 1, r_arr(1, r_str("h")), NULL))},
        {"a port of 0", r_arr(1, r_range(0, 1, r_node("h", 0, ID_A), NULL))},
        {"a port of 65536", r_arr(1, r_range(0, 1, r_node("h", 65536, ID_A), NULL))},
        {"a port that is a string",
         r_arr(1, r_range(0, 1, r_arr(2, r_str("h"), r_str("7000")), NULL))},
        {"an endpoint that is an integer",
         r_arr(1, r_range(0, 1, r_arr(2, r_int(127), r_int(7000)), NULL))},
        {"an endpoint with a space", r_arr(1, r_range(0, 1, r_node("h h", 1, ID_A), NULL))},
        {"an endpoint too long", r_arr(1, r_range(0, 1, r_node(longhost, 1, ID_A), NULL))},
        {"an id that is an integer",
         r_arr(1, r_range(0, 1, r_arr(3, r_str("h"), r_int(1), r_int(5)), NULL))},
        {"an id too long", r_arr(1, r_range(0, 1, r_node("h", 1, ID_A "0"), NULL))},
        {"a replica that is not an array", r_arr(1, r_range(0, 1, r_node("h", 1, ID_A), r_int(3)))},
        {"a slot in two ranges", r_arr(2, r_range(0, 10, r_node("h", 1, ID_A), NULL),
                                       r_range(10, 20, r_node("h", 2, ID_B), NULL))},
        {"a master that is a replica elsewhere",
         r_arr(2, r_range(0, 10, r_node("h", 1, ID_A), r_node("h", 2, ID_B)),
               r_range(11, 20, r_node("h", 2, ID_B), NULL))},
        {"a replica that is a master elsewhere",
         r_arr(2, r_range(0, 10, r_node("h", 1, ID_A), NULL),
               r_range(11, 20, r_node("h", 2, ID_B), r_node("h", 1, ID_A)))},
        {"a replica of two masters",
         r_arr(2, r_range(0, 10, r_node("h", 1, ID_A), r_node("h", 3, ID_C)),
               r_range(11, 20, r_node("h", 2, ID_B), r_node("h", 3, ID_C)))},
        {"a master that is its own replica",
         r_arr(1, r_range(0, 10, r_node("h", 1, ID_A), r_node("h", 1, ID_A)))},
    };
    cluster_map *m = malloc(sizeof *m);
    assert_non_null(m);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        tr_err rc = cluster_slots_parse(bad[i].reply, m, err, sizeof err);
        if (rc != TR_REDIS) fail_msg("%s: rc %d, want TR_REDIS", bad[i].why, (int)rc);
        if (err[0] == '\0') fail_msg("%s: no reason given", bad[i].why);
        expect_empty(m);
        freeReplyObject(bad[i].reply);
    }

    /* More nodes than a map holds: one master per slot. */
    redisReply *many = r_arr_n(CLUSTER_MAX_NODES + 1);
    for (size_t i = 0; i < many->elements; i++)
        many->element[i] =
            r_range((long long)i, (long long)i, r_node("h", 1000 + (long long)i, ""), NULL);
    char err[256] = "";
    EXPECT_EQ(cluster_slots_parse(many, m, err, sizeof err), TR_REDIS);
    assert_non_null(strstr(err, "more than"));
    expect_empty(m);
    freeReplyObject(many);

    /* Exactly as many is fine. */
    many = r_arr_n(CLUSTER_MAX_NODES);
    for (size_t i = 0; i < many->elements; i++)
        many->element[i] =
            r_range((long long)i, (long long)i, r_node("h", 1000 + (long long)i, ""), NULL);
    EXPECT_EQ(cluster_slots_parse(many, m, NULL, 0), TR_OK);
    EXPECT_EQ(m->nmasters, CLUSTER_MAX_NODES);
    EXPECT_EQ(m->slots_served, CLUSTER_MAX_NODES);
    freeReplyObject(many);

    /* An error reply is quoted; no reply at all is said so; no map is an argument error. */
    redisReply *e = r_strtype(REDIS_REPLY_ERROR, "ERR This instance has cluster support disabled");
    EXPECT_EQ(cluster_slots_parse(e, m, err, sizeof err), TR_REDIS);
    assert_non_null(strstr(err, "cluster support disabled"));
    expect_empty(m);
    freeReplyObject(e);
    EXPECT_EQ(cluster_slots_parse(NULL, m, err, sizeof err), TR_REDIS);
    expect_empty(m);
    EXPECT_EQ(cluster_slots_parse(NULL, NULL, err, sizeof err), TR_INVALID_ARGUMENT);
    free(m);
}

/* ---- error replies ---------------------------------------------------------------------- */

static void redirect_parse_reads_moved_and_ask(void **state) {
    (void)state;
    cluster_redirect r;
    /* The specification's example ("MOVED Redirection"). */
    EXPECT_EQ(cluster_redirect_parse("MOVED 3999 127.0.0.1:6381", &r), CLUSTER_REDIRECT_MOVED);
    EXPECT_EQ(r.kind, CLUSTER_REDIRECT_MOVED);
    EXPECT_EQ(r.slot, 3999);
    EXPECT_STREQ(r.host, "127.0.0.1");
    EXPECT_EQ(r.port, 6381);

    EXPECT_EQ(cluster_redirect_parse("ASK 16383 10.1.2.3:1", &r), CLUSTER_REDIRECT_ASK);
    EXPECT_EQ(r.slot, 16383);
    EXPECT_STREQ(r.host, "10.1.2.3");
    EXPECT_EQ(r.port, 1);

    EXPECT_EQ(cluster_redirect_parse("MOVED 0 ::1:65535", &r), CLUSTER_REDIRECT_MOVED);
    EXPECT_EQ(r.slot, 0);
    EXPECT_STREQ(r.host, "::1");
    EXPECT_EQ(r.port, 65535);

    EXPECT_EQ(cluster_redirect_parse("MOVED 12182 redis-2.example.internal:6379", &r),
              CLUSTER_REDIRECT_MOVED);
    EXPECT_STREQ(r.host, "redis-2.example.internal");

    /* No host: the unknown endpoint, the same host as the node that answered. */
    EXPECT_EQ(cluster_redirect_parse("ASK 8000 :6461", &r), CLUSTER_REDIRECT_ASK);
    EXPECT_STREQ(r.host, "");
    EXPECT_EQ(r.port, 6461);

    /* out may be NULL: the kind alone. */
    EXPECT_EQ(cluster_redirect_parse("MOVED 1 h:2", NULL), CLUSTER_REDIRECT_MOVED);
}

static void redirect_parse_recognises_tryagain_and_clusterdown(void **state) {
    (void)state;
    const struct {
        const char *error;
        cluster_redirect_kind kind;
    } cases[] = {
        {"TRYAGAIN Multiple keys request during rehashing of slot", CLUSTER_REDIRECT_TRYAGAIN},
        {"TRYAGAIN", CLUSTER_REDIRECT_TRYAGAIN},
        {"CLUSTERDOWN The cluster is down", CLUSTER_REDIRECT_CLUSTERDOWN},
        {"CLUSTERDOWN Hash slot not served", CLUSTER_REDIRECT_CLUSTERDOWN},
        {"CLUSTERDOWN", CLUSTER_REDIRECT_CLUSTERDOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cluster_redirect r;
        memset(&r, 0x55, sizeof r);
        if (cluster_redirect_parse(cases[i].error, &r) != cases[i].kind)
            fail_msg("\"%s\": kind %s", cases[i].error, cluster_redirect_kind_name(r.kind));
        EXPECT_EQ(r.slot, -1);
        EXPECT_STREQ(r.host, "");
        EXPECT_EQ(r.port, 0);
    }
}

static void redirect_parse_refuses_everything_else(void **state) {
    (void)state;
    char longhost[CLUSTER_HOST_MAX + 32];
    memset(longhost, 0, sizeof longhost);
    strcpy(longhost, "MOVED 1 ");
    memset(longhost + 8, 'h', CLUSTER_HOST_MAX);
    strcat(longhost, ":1");
    const char *bad[] = {
        "",
        "ERR unknown command 'FOO'",
        "NOSCRIPT No matching script. Please use EVAL.",
        "MOVED",
        "MOVED ",
        "MOVED 3999",
        "MOVED 3999 ",
        "MOVED 3999 127.0.0.1",
        "MOVED 3999 127.0.0.1:",
        "MOVED 3999 127.0.0.1:0",
        "MOVED 3999 127.0.0.1:65536",
        "MOVED 3999 127.0.0.1:99999999999",
        "MOVED 3999 127.0.0.1:63x1",
        "MOVED 3999 127.0.0.1:-1",
        "MOVED 3999 127.0.0.1:+1",
        "MOVED 3999 127.0.0.1:6381 extra",
        "MOVED 3999 127.0.0.1:6381 ",
        "MOVED 3999 127.0.0.1:6381\r\n",
        "MOVED  3999 127.0.0.1:6381",
        "MOVED 16384 127.0.0.1:6381",
        "MOVED 99999999999999999999 127.0.0.1:6381",
        "MOVED -1 127.0.0.1:6381",
        "MOVED +1 127.0.0.1:6381",
        "MOVED 1x 127.0.0.1:6381",
        "MOVED 3999 a b:6381",
        "MOVEDX 3999 127.0.0.1:6381",
        "moved 3999 127.0.0.1:6381",
        " MOVED 3999 127.0.0.1:6381",
        "-MOVED 3999 127.0.0.1:6381",
        "ASK",
        "ASK 1",
        "ASKING",
        "ASK 1 :",
        "TRYAGAINX",
        "CLUSTERDOWNX The cluster is down",
        "clusterdown The cluster is down",
        longhost,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cluster_redirect r;
        memset(&r, 0x55, sizeof r);
        cluster_redirect_kind k = cluster_redirect_parse(bad[i], &r);
        if (k != CLUSTER_REDIRECT_NONE || r.kind != CLUSTER_REDIRECT_NONE)
            fail_msg("\"%s\": kind %s, want none", bad[i], cluster_redirect_kind_name(k));
        EXPECT_EQ(r.slot, -1);
        EXPECT_STREQ(r.host, "");
        EXPECT_EQ(r.port, 0);
    }
    cluster_redirect r;
    EXPECT_EQ(cluster_redirect_parse(NULL, &r), CLUSTER_REDIRECT_NONE);
    EXPECT_EQ(cluster_redirect_parse(NULL, NULL), CLUSTER_REDIRECT_NONE);
}

static void redirect_kind_names(void **state) {
    (void)state;
    EXPECT_STREQ(cluster_redirect_kind_name(CLUSTER_REDIRECT_NONE), "none");
    EXPECT_STREQ(cluster_redirect_kind_name(CLUSTER_REDIRECT_MOVED), "moved");
    EXPECT_STREQ(cluster_redirect_kind_name(CLUSTER_REDIRECT_ASK), "ask");
    EXPECT_STREQ(cluster_redirect_kind_name(CLUSTER_REDIRECT_TRYAGAIN), "tryagain");
    EXPECT_STREQ(cluster_redirect_kind_name(CLUSTER_REDIRECT_CLUSTERDOWN), "clusterdown");
    EXPECT_STREQ(cluster_redirect_kind_name((cluster_redirect_kind)99), "none");
}

static void seeds_parse_reads_one_or_more_addresses(void **state) {
    (void)state;
    cluster_addr a[4];
    int n = -1;
    char err[160];
    EXPECT_EQ(cluster_seeds_parse("127.0.0.1:6379", a, 4, &n, err, sizeof err), TR_OK);
    EXPECT_EQ(n, 1);
    EXPECT_STREQ(a[0].host, "127.0.0.1");
    EXPECT_EQ(a[0].port, 6379);
    EXPECT_EQ(
        cluster_seeds_parse("127.0.0.1:61379,localhost:61380,::1:61381", a, 4, &n, err, sizeof err),
        TR_OK);
    EXPECT_EQ(n, 3);
    EXPECT_STREQ(a[1].host, "localhost");
    EXPECT_EQ(a[1].port, 61380);
    EXPECT_STREQ(a[2].host, "::1");
    EXPECT_EQ(a[2].port, 61381);
}

static void seeds_parse_refuses_malformed_lists(void **state) {
    (void)state;
    cluster_addr a[2];
    const char *bad[] = {"",        ",", "127.0.0.1:1,", ",127.0.0.1:1", "a:1,,b:2",    "a:0",
                         "a:65536", "a", "a:1, b:2",     ":1",           "a:1,b:2,c:3", "a:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = -1;
        char err[160] = "";
        EXPECT_EQ(cluster_seeds_parse(bad[i], a, 2, &n, err, sizeof err), TR_INVALID_ARGUMENT);
        EXPECT_EQ(n, 0);
        if (err[0] == '\0') fail_msg("no reason given for \"%s\"", bad[i]);
    }
    int n = -1;
    EXPECT_EQ(cluster_seeds_parse(NULL, a, 2, &n, NULL, 0), TR_INVALID_ARGUMENT);
}

/* The reason is one fact, never a message wrapping another message (issue: "invalid Redis address
 * "…": invalid Redis address list "…": an empty element"). */
static void seeds_parse_says_the_reason_once(void **state) {
    (void)state;
    cluster_addr a[CLUSTER_MAX_SEEDS];
    int n = -1;
    char err[160] = "";
    EXPECT_EQ(cluster_seeds_parse("127.0.0.1:61379,", a, CLUSTER_MAX_SEEDS, &n, err, sizeof err),
              TR_INVALID_ARGUMENT);
    EXPECT_STREQ(err, "address 2 of 2 is empty");
    EXPECT_EQ(cluster_seeds_parse("127.0.0.1:0", a, CLUSTER_MAX_SEEDS, &n, err, sizeof err),
              TR_INVALID_ARGUMENT);
    EXPECT_STREQ(err, "expected HOST:PORT with a port in 1..65535");
    EXPECT_EQ(cluster_seeds_parse("a:1,a:abc", a, CLUSTER_MAX_SEEDS, &n, err, sizeof err),
              TR_INVALID_ARGUMENT);
    EXPECT_STREQ(err, "address 2 (\"a:abc\"): expected HOST:PORT with a port in 1..65535");
    /* IPv6 in brackets would parse as host "[::1]" and fail only at connect */
    EXPECT_EQ(cluster_seeds_parse("[::1]:6379", a, CLUSTER_MAX_SEEDS, &n, err, sizeof err),
              TR_INVALID_ARGUMENT);
    EXPECT_STREQ(err, "IPv6 addresses are not supported");
}

/* CLUSTER_MAX_SEEDS addresses are taken; one more is refused with the limit said plainly. */
static void seeds_parse_takes_up_to_the_limit_and_says_it(void **state) {
    (void)state;
    char list[CLUSTER_MAX_SEEDS * 24 + 32] = "";
    size_t used = 0;
    for (int i = 0; i < CLUSTER_MAX_SEEDS; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s127.0.0.1:%d", i ? "," : "",
                                 61379 + i);
    cluster_addr a[CLUSTER_MAX_SEEDS];
    int n = -1;
    char err[160] = "";
    EXPECT_EQ(cluster_seeds_parse(list, a, CLUSTER_MAX_SEEDS, &n, err, sizeof err), TR_OK);
    EXPECT_EQ(n, CLUSTER_MAX_SEEDS);
    EXPECT_EQ(a[CLUSTER_MAX_SEEDS - 1].port, 61379 + CLUSTER_MAX_SEEDS - 1);
    snprintf(list + used, sizeof list - used, ",127.0.0.1:1");
    EXPECT_EQ(cluster_seeds_parse(list, a, CLUSTER_MAX_SEEDS, &n, err, sizeof err),
              TR_INVALID_ARGUMENT);
    EXPECT_EQ(n, 0);
    EXPECT_STREQ(err, "17 addresses, at most 16");
    char msg[512] = "";
    EXPECT_EQ(cluster_seeds_check(list, "--redis", msg, sizeof msg), false);
    EXPECT_STREQ(msg, "invalid value for --redis: 17 addresses, at most 16");
}

/* The option check's whole message, as serve, db and the ceilings print it. */
static void seeds_check_names_the_option_once(void **state) {
    (void)state;
    char msg[512] = "";
    EXPECT_EQ(cluster_seeds_check("127.0.0.1:61379,127.0.0.1:61380", "--redis", msg, sizeof msg),
              true);
    EXPECT_EQ(cluster_seeds_check("127.0.0.1:61379,", "--redis", msg, sizeof msg), false);
    EXPECT_STREQ(msg, "invalid value \"127.0.0.1:61379,\" for --redis: address 2 of 2 is empty");
    EXPECT_EQ(cluster_seeds_check(":99999", "TICKETRUSH_REDIS", msg, sizeof msg), false);
    EXPECT_STREQ(msg, "invalid value \":99999\" for TICKETRUSH_REDIS: expected HOST:PORT with a "
                      "port in 1..65535");
}

/* ---- what a client does with one reply (cluster_next_step) --------------------------------- */

static void next_step_returns_ordinary_replies_and_errors(void **state) {
    (void)state;
    cluster_redirect r;
    int backoff = -1;
    EXPECT_EQ(cluster_next_step(NULL, 0, 0, 0, &r, &backoff), CLUSTER_STEP_DONE);
    EXPECT_EQ(backoff, 0);
    EXPECT_EQ(r.kind, CLUSTER_REDIRECT_NONE);
    EXPECT_EQ(cluster_next_step("ERR wrong number of arguments", 0, 0, 0, &r, &backoff),
              CLUSTER_STEP_DONE);
    EXPECT_EQ(cluster_next_step("NOSCRIPT No matching script", 0, 0, 0, NULL, NULL),
              CLUSTER_STEP_DONE);
    /* A MOVED that does not parse is an ordinary error: never followed. */
    EXPECT_EQ(cluster_next_step("MOVED 99999 127.0.0.1:7000", 0, 0, 0, &r, NULL),
              CLUSTER_STEP_DONE);
    EXPECT_EQ(cluster_next_step("MOVED 12 127.0.0.1", 0, 0, 0, &r, NULL), CLUSTER_STEP_DONE);
}

static void next_step_follows_moved_up_to_the_redirect_limit(void **state) {
    (void)state;
    cluster_redirect r;
    int backoff = -1;
    EXPECT_EQ(cluster_next_step("MOVED 3999 127.0.0.1:6381", 0, 0, 0, &r, &backoff),
              CLUSTER_STEP_MOVED);
    EXPECT_EQ(r.slot, 3999);
    EXPECT_STREQ(r.host, "127.0.0.1");
    EXPECT_EQ(r.port, 6381);
    EXPECT_EQ(backoff, 0);
    /* An ASK target that answers MOVED (the migration ended meanwhile): followed. */
    EXPECT_EQ(cluster_next_step("MOVED 3999 127.0.0.1:6381", 1, 0, 1, &r, NULL),
              CLUSTER_STEP_MOVED);
    EXPECT_EQ(
        cluster_next_step("MOVED 3999 127.0.0.1:6381", CLUSTER_MAX_REDIRECTS - 1, 0, 0, &r, NULL),
        CLUSTER_STEP_MOVED);
    EXPECT_EQ(cluster_next_step("MOVED 3999 127.0.0.1:6381", CLUSTER_MAX_REDIRECTS, 0, 0, &r, NULL),
              CLUSTER_STEP_FAIL);
    /* The unknown endpoint: host "", the caller uses the node that answered. */
    EXPECT_EQ(cluster_next_step("MOVED 1 :6390", 0, 0, 0, &r, NULL), CLUSTER_STEP_MOVED);
    EXPECT_STREQ(r.host, "");
    EXPECT_EQ(r.port, 6390);
}

static void next_step_follows_ask_once(void **state) {
    (void)state;
    cluster_redirect r;
    EXPECT_EQ(cluster_next_step("ASK 15456 127.0.0.1:7002", 0, 0, 0, &r, NULL), CLUSTER_STEP_ASK);
    EXPECT_EQ(r.kind, CLUSTER_REDIRECT_ASK);
    EXPECT_EQ(r.slot, 15456);
    EXPECT_EQ(r.port, 7002);
    /* The node we were sent to with ASKING sends us on again: not followed. */
    EXPECT_EQ(cluster_next_step("ASK 15456 127.0.0.1:7003", 1, 0, 1, &r, NULL), CLUSTER_STEP_FAIL);
    EXPECT_EQ(cluster_next_step("ASK 15456 127.0.0.1:7002", CLUSTER_MAX_REDIRECTS, 0, 0, &r, NULL),
              CLUSTER_STEP_FAIL);
}

static void next_step_retries_tryagain_with_a_doubling_bounded_backoff(void **state) {
    (void)state;
    int backoff = -1, total = 0;
    for (int i = 0; i < CLUSTER_TRYAGAIN_MAX; i++) {
        EXPECT_EQ(cluster_next_step("TRYAGAIN Multiple keys request during rehashing of slot", 0, i,
                                    0, NULL, &backoff),
                  CLUSTER_STEP_RETRY);
        EXPECT_EQ(backoff, CLUSTER_TRYAGAIN_BACKOFF_MS << i);
        total += backoff;
    }
    EXPECT_EQ(total, 70); /* 10 + 20 + 40 ms: a call gives up within a tenth of a second */
    EXPECT_EQ(
        cluster_next_step("TRYAGAIN Multiple keys", 0, CLUSTER_TRYAGAIN_MAX, 0, NULL, &backoff),
        CLUSTER_STEP_FAIL);
    EXPECT_EQ(backoff, 0);
    EXPECT_EQ(cluster_next_step("TRYAGAIN x", 0, -1, 0, NULL, &backoff), CLUSTER_STEP_FAIL);
}

static void next_step_gives_clusterdown_to_the_caller(void **state) {
    (void)state;
    int backoff = -1;
    EXPECT_EQ(cluster_next_step("CLUSTERDOWN The cluster is down", 0, 0, 0, NULL, &backoff),
              CLUSTER_STEP_FAIL);
    EXPECT_EQ(backoff, 0);
    EXPECT_EQ(cluster_next_step("CLUSTERDOWN Hash slot not served", 0, 0, 0, NULL, NULL),
              CLUSTER_STEP_FAIL);
}

static void step_names(void **state) {
    (void)state;
    EXPECT_STREQ(cluster_step_name(CLUSTER_STEP_DONE), "done");
    EXPECT_STREQ(cluster_step_name(CLUSTER_STEP_MOVED), "moved");
    EXPECT_STREQ(cluster_step_name(CLUSTER_STEP_ASK), "ask");
    EXPECT_STREQ(cluster_step_name(CLUSTER_STEP_RETRY), "retry");
    EXPECT_STREQ(cluster_step_name(CLUSTER_STEP_FAIL), "fail");
    EXPECT_STREQ(cluster_step_name((cluster_step)42), "unknown");
}

/* CLUSTERDOWN and TRYAGAIN (Redis's, or redis.c's own for an unreachable master) are "busy,
 * retry": the strategies answer 503 busy with Retry-After; anything else is not. */
static void busy_errors_are_clusterdown_and_tryagain(void **state) {
    (void)state;
    EXPECT_EQ(cluster_error_busy("CLUSTERDOWN The cluster is down"), 1);
    EXPECT_EQ(cluster_error_busy("CLUSTERDOWN could not reach the master of slot 3 after "
                                 "refreshing the slot map: connection refused"),
              1);
    EXPECT_EQ(cluster_error_busy("TRYAGAIN Multiple keys request during rehashing of slot"), 1);
    EXPECT_EQ(cluster_error_busy("MOVED 1 127.0.0.1:7000"), 0);
    EXPECT_EQ(cluster_error_busy("ASK 1 127.0.0.1:7000"), 0);
    EXPECT_EQ(cluster_error_busy("LOADING Redis is loading the dataset in memory"), 0);
    EXPECT_EQ(cluster_error_busy("CLUSTERDOWNX"), 0);
    EXPECT_EQ(cluster_error_busy(NULL), 0);
    /* the sale scripts treat them as refused before running, too */
    EXPECT_EQ(sale_refused_unrun("CLUSTERDOWN The cluster is down"), 1);
    EXPECT_EQ(sale_refused_unrun("TRYAGAIN Multiple keys"), 1);
}

/* What redis_conn_open reads to tell a cluster node from a plain Redis (INFO cluster). */
static void info_cluster_enabled_tells_a_cluster_node(void **state) {
    (void)state;
    EXPECT_EQ(redis_info_cluster_enabled("# Cluster\r\ncluster_enabled:1\r\n"), 1);
    EXPECT_EQ(redis_info_cluster_enabled("# Cluster\r\ncluster_enabled:0\r\n"), 0);
    EXPECT_EQ(redis_info_cluster_enabled("# Server\r\nredis_version:7.0.15\r\n"), 0);
    EXPECT_EQ(redis_info_cluster_enabled(""), 0);
    EXPECT_EQ(redis_info_cluster_enabled(NULL), 0);
}

static void info_int_reads_fields_of_info_replies(void **state) {
    (void)state;
    const char *cluster = "# Cluster\r\ncluster_enabled:1\r\n";
    const char *repl = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
                       "slave0:ip=127.0.0.1,port=61384,state=online,offset=5,lag=0\r\n"
                       "master_repl_offset:-12\r\nlast:7";
    long long v = -99;
    EXPECT_EQ(cluster_info_int(cluster, "cluster_enabled", &v), true);
    EXPECT_EQ(v, 1);
    EXPECT_EQ(cluster_info_int(repl, "connected_slaves", &v), true);
    EXPECT_EQ(v, 2);
    EXPECT_EQ(cluster_info_int(repl, "master_repl_offset", &v), true);
    EXPECT_EQ(v, -12);
    EXPECT_EQ(cluster_info_int(repl, "last", &v), true); /* no line end */
    EXPECT_EQ(v, 7);
    EXPECT_EQ(cluster_info_int("a:1\nb:0\n", "b", &v), true); /* bare \n */
    EXPECT_EQ(v, 0);
}

static void info_int_refuses_absent_and_malformed_fields(void **state) {
    (void)state;
    long long v = 42;
    /* a field is matched whole and at a line's start only */
    EXPECT_EQ(cluster_info_int("xconnected_slaves:3\r\n", "connected_slaves", &v), false);
    EXPECT_EQ(cluster_info_int("connected_slaves_x:3\r\n", "connected_slaves", &v), false);
    EXPECT_EQ(cluster_info_int("role:master\r\n", "connected_slaves", &v), false);
    EXPECT_EQ(cluster_info_int("role:master\r\n", "role", &v), false); /* not an integer */
    EXPECT_EQ(cluster_info_int("n:\r\n", "n", &v), false);
    EXPECT_EQ(cluster_info_int("n:-\r\n", "n", &v), false);
    EXPECT_EQ(cluster_info_int("n:12x\r\n", "n", &v), false);
    EXPECT_EQ(cluster_info_int("n:1234567890123456789\r\n", "n", &v), false); /* 19 digits */
    EXPECT_EQ(cluster_info_int(NULL, "n", &v), false);
    EXPECT_EQ(cluster_info_int("n:1", NULL, &v), false);
    EXPECT_EQ(cluster_info_int("n:1", "", &v), false);
    EXPECT_EQ(v, 42); /* untouched by every refusal */
}

/* The slot ranges /readyz and serve's start name for a master (or for no master: -1). */
static void slot_ranges_name_each_run_of_slots(void **state) {
    (void)state;
    static int16_t owners[CLUSTER_SLOTS];
    char buf[64];
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        owners[s] = (int16_t)(s <= 5460 ? 0 : s <= 10922 ? 1 : 2);
    owners[7000] = -1;
    EXPECT_STREQ(cluster_slot_ranges(owners, 0, buf, sizeof buf), "0-5460");
    EXPECT_STREQ(cluster_slot_ranges(owners, 1, buf, sizeof buf), "5461-6999,7001-10922");
    EXPECT_STREQ(cluster_slot_ranges(owners, -1, buf, sizeof buf), "7000");
    EXPECT_STREQ(cluster_slot_ranges(owners, 3, buf, sizeof buf), "none");
    owners[16383] = 0;
    EXPECT_STREQ(cluster_slot_ranges(owners, 0, buf, sizeof buf), "0-5460,16383");
    /* every other slot: cut, and still a string */
    for (int s = 0; s < CLUSTER_SLOTS; s++) owners[s] = (int16_t)(s % 2);
    cluster_slot_ranges(owners, 1, buf, sizeof buf);
    EXPECT_EQ(strlen(buf) < sizeof buf, true);
    EXPECT_EQ(strstr(buf, "…") != NULL, true);
    EXPECT_EQ(strncmp(buf, "1,3,5,", 6), 0);
}

/* /readyz under --durability replicated: a replica counts when online and acknowledging. */
static void replicas_online_counts_online_replicas_that_acknowledge(void **state) {
    (void)state;
    const char *info = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n"
                       "slave0:ip=127.0.0.1,port=61394,state=online,offset=1234,lag=0\r\n"
                       "slave1:ip=127.0.0.1,port=61395,state=online,offset=1200,lag=7\r\n"
                       "slave2:ip=127.0.0.1,port=61396,state=wait_bgsave,offset=0,lag=0\r\n"
                       "master_failover_state:no-failover\r\n";
    EXPECT_EQ(cluster_info_replicas_online(info, 2), 1);
    EXPECT_EQ(cluster_info_replicas_online(info, 7), 2);
    EXPECT_EQ(cluster_info_replicas_online("role:master\r\nconnected_slaves:0\r\n", 2), 0);
    EXPECT_EQ(cluster_info_replicas_online("slave0:ip=x,port=1,state=online,offset=1,lag=\r\n", 2),
              0);
    EXPECT_EQ(cluster_info_replicas_online("slaves:state=online,lag=0\n", 2), 0);
    EXPECT_EQ(cluster_info_replicas_online(NULL, 2), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc16_matches_the_specification_test_vector),
        cmocka_unit_test(key_slot_matches_redis_for_documented_keys),
        cmocka_unit_test(hash_tags_follow_the_specification),
        cmocka_unit_test(concert_keys_share_one_slot),
        cmocka_unit_test(slots_parse_reads_masters_replicas_and_ranges),
        cmocka_unit_test(slots_parse_keeps_unserved_slots_and_old_node_shapes),
        cmocka_unit_test(slots_parse_reads_unknown_endpoints_as_empty_hosts),
        cmocka_unit_test(slots_parse_refuses_malformed_replies),
        cmocka_unit_test(redirect_parse_reads_moved_and_ask),
        cmocka_unit_test(redirect_parse_recognises_tryagain_and_clusterdown),
        cmocka_unit_test(redirect_parse_refuses_everything_else),
        cmocka_unit_test(redirect_kind_names),
        cmocka_unit_test(seeds_parse_reads_one_or_more_addresses),
        cmocka_unit_test(seeds_parse_refuses_malformed_lists),
        cmocka_unit_test(seeds_parse_says_the_reason_once),
        cmocka_unit_test(seeds_parse_takes_up_to_the_limit_and_says_it),
        cmocka_unit_test(seeds_check_names_the_option_once),
        cmocka_unit_test(next_step_returns_ordinary_replies_and_errors),
        cmocka_unit_test(next_step_follows_moved_up_to_the_redirect_limit),
        cmocka_unit_test(next_step_follows_ask_once),
        cmocka_unit_test(next_step_retries_tryagain_with_a_doubling_bounded_backoff),
        cmocka_unit_test(next_step_gives_clusterdown_to_the_caller),
        cmocka_unit_test(step_names),
        cmocka_unit_test(busy_errors_are_clusterdown_and_tryagain),
        cmocka_unit_test(info_cluster_enabled_tells_a_cluster_node),
        cmocka_unit_test(info_int_reads_fields_of_info_replies),
        cmocka_unit_test(info_int_refuses_absent_and_malformed_fields),
        cmocka_unit_test(slot_ranges_name_each_run_of_slots),
        cmocka_unit_test(replicas_online_counts_online_replicas_that_acknowledge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
