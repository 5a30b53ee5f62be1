/* cluster.h — the routing rules of a Redis Cluster, as its specification states them
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/): which hash slot
 * a key is in, which master serves a slot (the CLUSTER SLOTS reply), and what an error reply
 * tells a client to do (MOVED, ASK, TRYAGAIN, CLUSTERDOWN). Pure functions: no I/O, no
 * allocation, no globals; the caller connects, sends and decides. Not a cluster client. */
#ifndef TR_CLUSTER_H
#define TR_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* The number of hash slots, fixed by the specification ("Key distribution model"). */
#define CLUSTER_SLOTS 16384

/* The most nodes (masters and replicas) one map holds. The specification suggests at most
 * about 1,000 nodes; ticketrush runs clusters of a few. A larger reply is an error. */
#define CLUSTER_MAX_NODES 128

/* A node's host as Redis names it, plus NUL: an IPv4 or IPv6 address or a hostname (at most
 * 255 bytes, RFC 1035). */
#define CLUSTER_HOST_MAX 256

/* A node id (40 hex digits) plus NUL. */
#define CLUSTER_NODE_ID_MAX 41

/* The slot of a key (the specification's HASH_SLOT): CRC16 of the key modulo 16384, where the
 * CRC16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection, no final XOR;
 * "123456789" gives 0x31C3) — "Key distribution model". Hash tags ("Hash tags"): when the key
 * holds a '{' and, somewhere after that first '{', a '}', and at least one byte lies between
 * them, only those bytes are hashed; otherwise the whole key is. So `{concert:7}:meta` and
 * `{concert:7}:tickets` share a slot, `foo{}{bar}` hashes the whole key, `foo{{bar}}zap` hashes
 * `{bar`. key may hold any bytes (len bytes, NUL included); NULL with len 0 is the empty key.
 * Returns 0..16383. */
unsigned cluster_key_slot(const char *key, size_t len);

/* The CRC-16/XMODEM of len bytes, as above (exposed for its test vector). */
uint16_t cluster_crc16(const char *buf, size_t len);

/* One node of the cluster, as CLUSTER SLOTS names it. */
typedef struct cluster_node {
    /* Where to send its commands. "" when the reply gave no usable endpoint (NULL, "" or "?":
     * the node does not know its own address, or is configured for hostnames without one);
     * the CLUSTER SLOTS page says to use then the host the CLUSTER SLOTS command was sent to,
     * with this port. */
    char host[CLUSTER_HOST_MAX];
    int port;                     /* 1..65535 */
    char id[CLUSTER_NODE_ID_MAX]; /* "" when the reply carries none (Redis before 4.0) */
    int master;                   /* index in cluster_map.nodes of its master; -1: a master */
} cluster_node;

/* A slot map: who serves each of the 16384 slots, and every node the reply named (replicas
 * kept for failover and reads; routing uses masters only). About 70 KB: allocate it (or make
 * it static), do not put it on a small stack. A map describes one moment: a MOVED answer
 * means it is stale ("MOVED Redirection": refresh it, e.g. with CLUSTER SLOTS again). */
typedef struct cluster_map {
    int nnodes;                            /* nodes[0 .. nnodes-1] are in use */
    cluster_node nodes[CLUSTER_MAX_NODES]; /* each address (host:port) once */
    int16_t slot_master[CLUSTER_SLOTS];    /* index in nodes of the master; -1: not served */
    int nmasters;                          /* nodes whose master is -1 */
    int slots_served;                      /* slots with a master, 0..16384 */
} cluster_map;

/* Resets m to the empty map: no node, no slot served. */
void cluster_map_clear(cluster_map *m);

/* Reads the reply of CLUSTER SLOTS (RESP2; https://redis.io/commands/cluster-slots/) into out:
 * an array of slot ranges, each [start, end, master, replica…], start and end integers with
 * 0 ≤ start ≤ end ≤ 16383 (inclusive), each node [endpoint, port, id?, metadata?] with the
 * endpoint a string or nil and the port an integer in 1..65535; further elements (Redis 7's
 * networking metadata) are ignored. A node that serves several ranges is listed once. A slot
 * no range names stays unserved (-1): a cluster that is not fully covered is still read.
 *
 * Errors (TR_REDIS, the reason in err, out left empty — never half-filled): reply NULL, an
 * error reply (its text quoted: e.g. "ERR This instance has cluster support disabled"), any
 * element of another type or shape than above, a slot out of range or named by two ranges, a
 * node that is a master in one range and a replica in another or a replica of two masters,
 * more than CLUSTER_MAX_NODES nodes, a host or id too long. TR_INVALID_ARGUMENT when out is
 * NULL. err may be NULL. */
tr_err cluster_slots_parse(const redisReply *reply, cluster_map *out, char *err, size_t errlen);

/* The master that serves slot (0..16383), or NULL when none does or slot is out of range. */
const cluster_node *cluster_map_master(const cluster_map *m, unsigned slot);

/* The slots whose owner in owners[0..16383] is owner (e.g. a map's slot_master and a node
 * index; -1: the slots nobody serves), as inclusive ranges "0-5460,10923" into buf, cut with
 * "…" when buf is short; "none" when there is none. Returns buf. Pure. */
const char *cluster_slot_ranges(const int16_t *owners, int owner, char *buf, size_t len);

/* What a Redis Cluster error reply tells the client to do ("Redirection and resharding"). */
typedef enum cluster_redirect_kind {
    /* Not one of the below (or one whose slot or address does not parse): an ordinary error
     * reply, for the caller to handle as such. Never follow it. */
    CLUSTER_REDIRECT_NONE = 0,
    /* "MOVED <slot> <host>:<port>" ("MOVED Redirection"): the slot is served by that node
     * now. Send the command there; the map is stale and should be refreshed. */
    CLUSTER_REDIRECT_MOVED,
    /* "ASK <slot> <host>:<port>" ("ASK redirection"): the slot is being migrated and the key
     * may be on that node already. Send ASKING then the command to that node, this once; do
     * not change the map (the slot still belongs to the old node). */
    CLUSTER_REDIRECT_ASK,
    /* "TRYAGAIN …" ("Multiple keys operations"): a multi-key command during a slot migration
     * found only some of its keys on this node. Retry the same node after a short wait. */
    CLUSTER_REDIRECT_TRYAGAIN,
    /* "CLUSTERDOWN …": the cluster is in its fail state, or no node serves the slot ("The
     * cluster is down", "Hash slot not served": Redis's error reference,
     * https://redis.io/docs/latest/develop/reference/errors/common/clusterdown/). Nothing to
     * follow; retry after the cluster has recovered (a failover takes seconds). */
    CLUSTER_REDIRECT_CLUSTERDOWN,
} cluster_redirect_kind;

typedef struct cluster_redirect {
    cluster_redirect_kind kind;
    int slot;                    /* MOVED, ASK: 0..16383; otherwise -1 */
    char host[CLUSTER_HOST_MAX]; /* MOVED, ASK: as given, "" when the error gave no host (an
                                    unknown endpoint: use the host of the node that answered);
                                    otherwise "" */
    int port;                    /* MOVED, ASK: 1..65535; otherwise 0 */
} cluster_redirect;

/* Classifies the text of an error reply (hiredis's reply->str, without the leading '-'): MOVED
 * and ASK must be exactly "<KIND> <slot> <host>:<port>" (one space each, slot 0..16383 in
 * decimal, port 1..65535; the host is everything before the last ':', so an IPv6 address
 * passes unbracketed as Redis writes it); TRYAGAIN and CLUSTERDOWN are recognised by their
 * first word. Anything else — NULL included — is CLUSTER_REDIRECT_NONE. Returns out->kind;
 * out (when not NULL) is always filled. */
cluster_redirect_kind cluster_redirect_parse(const char *error, cluster_redirect *out);

/* The kind's name ("none", "moved", "ask", "tryagain", "clusterdown"), for logs. */
const char *cluster_redirect_kind_name(cluster_redirect_kind kind);

/* The most seed addresses `--redis` takes. */
#define CLUSTER_MAX_SEEDS 16

/* One address a client may connect to. */
typedef struct cluster_addr {
    char host[CLUSTER_HOST_MAX];
    int port; /* 1..65535 */
} cluster_addr;

/* Parses "host:port" (host: an IPv4 address or a name, or an IPv6 address unbracketed — the port
 * is after the last ':'; port 1..65535) into host (hostlen bytes with its NUL) and *port.
 * TR_INVALID_ARGUMENT on a malformed address or a host that does not fit. */
tr_err cluster_parse_addr(const char *addr, char *host, size_t hostlen, int *port);

/* Parses a seed list "host:port[,host:port…]" (the server's --redis: one plain Redis, or some
 * nodes of a Redis Cluster from which the slot map is learned) into out[0..*n-1], in the order
 * given. Each address is what cluster_parse_addr takes (an IPv4 address or a host name; the port
 * after the last ':', so "[::1]:6379" is refused); no spaces, no empty element, at most max
 * (≤ CLUSTER_MAX_SEEDS makes sense) addresses. TR_INVALID_ARGUMENT on anything else, *n set to
 * 0, and in err (may be NULL) the reason alone, for the caller's message: "address 2 of 2 is
 * empty", "17 addresses, at most 16", "address 2 (\"a:x\"): expected HOST:PORT …". */
tr_err cluster_seeds_parse(const char *list, cluster_addr *out, int max, int *n, char *err,
                           size_t errlen);

/* tr_opt.check for a --redis option (common/options.h): true when value is a seed list
 * cluster_seeds_parse takes with max CLUSTER_MAX_SEEDS; else false and one message in err naming
 * what ("--redis" or the environment variable), e.g. invalid value "127.0.0.1:1," for --redis:
 * address 2 of 2 is empty; a list over the limit is not quoted: invalid value for --redis: 17
 * addresses, at most 16. Whether the addresses answer is not checked. */
bool cluster_seeds_check(const char *value, const char *what, char *err, size_t errlen);

/* ---- what a client does with one reply ---------------------------------------------------- */

/* The most redirects (MOVED and ASK together) one call follows before it gives up: a slot moves
 * at most once or twice while a call is in flight; more means the nodes disagree (a map being
 * rewritten) and the caller is better told to retry. */
#define CLUSTER_MAX_REDIRECTS 5
/* The most times one call is sent again after TRYAGAIN, and the first wait (doubled each time:
 * 10, 20, 40 ms): a multi-key command waits for a slot migration to move its keys together. */
#define CLUSTER_TRYAGAIN_MAX 3
#define CLUSTER_TRYAGAIN_BACKOFF_MS 10

/* The next step of one call after a reply, as "Redirection and resharding" describes it. */
typedef enum cluster_step {
    CLUSTER_STEP_DONE = 0, /* the reply is the answer (not an error, or an ordinary error) */
    CLUSTER_STEP_MOVED,    /* refresh the slot map and send the command to redirect->host:port */
    CLUSTER_STEP_ASK,      /* send ASKING then the command to redirect->host:port, this once;
                              the map stays as it is */
    CLUSTER_STEP_RETRY,    /* send it to the same node again after *backoff_ms */
    CLUSTER_STEP_FAIL,     /* stop and hand the reply (a cluster error) to the caller: CLUSTERDOWN,
                              TRYAGAIN past CLUSTER_TRYAGAIN_MAX, too many redirects, or an ASK
                              while already following one */
} cluster_step;

/* Decides what a client does with a reply. error: the error reply's text (reply->str), NULL when
 * the reply is not an error. redirects: MOVED and ASK followed so far by this call; retries:
 * TRYAGAIN retries so far; asking: the reply came from a node sent ASKING (an ASK answered by
 * ASK again is not followed). *redirect (may be NULL) gets the parsed error; *backoff_ms (may be
 * NULL) the wait before a CLUSTER_STEP_RETRY (0 otherwise). Pure: no I/O, no clock. */
cluster_step cluster_next_step(const char *error, int redirects, int retries, int asking,
                               cluster_redirect *redirect, int *backoff_ms);

/* The step's name ("done", "moved", "ask", "retry", "fail"), for logs and tests. */
const char *cluster_step_name(cluster_step step);

/* Whether an error reply means the cluster cannot serve the call right now and nothing ran:
 * CLUSTERDOWN (fail state, slot not served, or ticketrush's own "CLUSTERDOWN … could not
 * reach …" for a master that does not answer after a map refresh) or TRYAGAIN. The strategies
 * answer these with Retry-After (issue 11): 503 unavailable (redis-atomic, redis-zset: the backend
 * does not answer; not busy, which R6 counts as a refusal), 503 busy for the lease lock (its
 * strategies do not promise R6). NULL: false. */
int cluster_error_busy(const char *error);
/* Reads the integer field `name` (e.g. "cluster_enabled" of INFO cluster, "connected_slaves" of
 * INFO replication) from the text of an INFO reply (https://redis.io/commands/info/): a line
 * that starts with "name:" followed by an optional '-' and 1..18 decimal digits, then "\r\n",
 * "\n" or the end. true with *out set; false (out untouched) when info or name is NULL, or no
 * such line is there, or its value is not such an integer. */
bool cluster_info_int(const char *info, const char *name, long long *out);

/* Counts the replicas the text of INFO replication lists as able to acknowledge a write now:
 * lines "slaveN:ip=…,port=…,state=online,offset=…,lag=L" with state=online and L ≤ max_lag_s
 * (a replica acknowledges every second, so a larger lag is one that stopped answering — a
 * stopped process keeps its TCP connection, and connected_slaves, until repl-timeout). 0 for
 * NULL or no such line. */
int cluster_info_replicas_online(const char *info, long long max_lag_s);

#endif
