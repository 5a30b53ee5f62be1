/* cluster.c — the Redis Cluster routing rules behind cluster.h: the slot of a key, the slot map
 * read from a CLUSTER SLOTS reply, and what an error reply asks for. No I/O, no allocation:
 * connecting, sending and retrying belong to the caller. */
#include "store/cluster.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- key → slot ------------------------------------------------------------------------- */

/* Bit by bit, the specification's parameters written out (polynomial 0x1021, initial value 0,
 * most significant bit first, no final XOR), rather than Redis's 256-entry table: the keys
 * routed here are a few dozen bytes long. */
uint16_t cluster_crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned)(unsigned char)buf[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned cluster_key_slot(const char *key, size_t len) {
    if (len == 0) return 0; /* CRC16 of no bytes */
    /* Hash tags: the first '{', then the first '}' after it; an empty tag hashes the whole key. */
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t after = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', after);
        if (close != NULL && close > open + 1)
            return cluster_crc16(open + 1, (size_t)(close - open - 1)) % CLUSTER_SLOTS;
    }
    return cluster_crc16(key, len) % CLUSTER_SLOTS;
}

/* ---- the slot map ----------------------------------------------------------------------- */

void cluster_map_clear(cluster_map *m) {
    m->nnodes = 0;
    m->nmasters = 0;
    m->slots_served = 0;
    memset(m->nodes, 0, sizeof m->nodes);
    for (int s = 0; s < CLUSTER_SLOTS; s++) m->slot_master[s] = -1;
}

const char *cluster_slot_ranges(const int16_t *owners, int owner, char *buf, size_t len) {
    if (len == 0) return buf;
    buf[0] = '\0';
    size_t used = 0;
    bool any = false, cut = false;
    for (int s = 0; s < CLUSTER_SLOTS && !cut; s++) {
        if (owners[s] != owner) continue;
        int e = s;
        while (e + 1 < CLUSTER_SLOTS && owners[e + 1] == owner) e++;
        char one[24];
        int n = e > s ? snprintf(one, sizeof one, "%s%d-%d", any ? "," : "", s, e)
                      : snprintf(one, sizeof one, "%s%d", any ? "," : "", s);
        if (used + (size_t)n + sizeof "…" > len) {
            cut = true;
            if (used + sizeof "…" <= len) memcpy(buf + used, "…", sizeof "…");
        } else {
            memcpy(buf + used, one, (size_t)n + 1);
            used += (size_t)n;
        }
        any = true;
        s = e;
    }
    if (!any) snprintf(buf, len, "none");
    return buf;
}

const cluster_node *cluster_map_master(const cluster_map *m, unsigned slot) {
    if (m == NULL || slot >= CLUSTER_SLOTS || m->slot_master[slot] < 0) return NULL;
    return &m->nodes[m->slot_master[slot]];
}

/* A host as Redis writes it: printable ASCII without spaces (an address or a hostname). */
static bool host_ok(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    return true;
}

/* Copies an endpoint into host ("" for the unknown endpoint: nil, "" or "?"). */
static bool set_host(char host[CLUSTER_HOST_MAX], const char *s, size_t len) {
    host[0] = '\0';
    if (len == 0 || (len == 1 && s[0] == '?')) return true;
    if (len >= CLUSTER_HOST_MAX || !host_ok(s, len)) return false;
    memcpy(host, s, len);
    host[len] = '\0';
    return true;
}

/* One node of range `range` at position `pos` (2: the master, 3…: replicas) into *node. */
static tr_err parse_node(const redisReply *r, size_t range, size_t pos, cluster_node *node,
                         char *err, size_t errlen) {
    memset(node, 0, sizeof *node);
    node->master = -1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        tr_errf(err, errlen, "CLUSTER SLOTS range %zu, node %zu: not an array of endpoint and port",
                range, pos);
        return TR_REDIS;
    }
    const redisReply *ep = r->element[0], *port = r->element[1];
    bool ep_ok =
        ep != NULL && (ep->type == REDIS_REPLY_NIL ||
                       (ep->type == REDIS_REPLY_STRING && set_host(node->host, ep->str, ep->len)));
    if (!ep_ok) {
        tr_errf(err, errlen, "CLUSTER SLOTS range %zu, node %zu: the endpoint is not a host name",
                range, pos);
        return TR_REDIS;
    }
    if (port == NULL || port->type != REDIS_REPLY_INTEGER || port->integer < 1 ||
        port->integer > 65535) {
        tr_errf(err, errlen, "CLUSTER SLOTS range %zu, node %zu: the port is not in 1..65535",
                range, pos);
        return TR_REDIS;
    }
    node->port = (int)port->integer;
    if (r->elements >= 3) {
        const redisReply *id = r->element[2];
        if (id == NULL || id->type != REDIS_REPLY_STRING || id->len >= CLUSTER_NODE_ID_MAX ||
            !host_ok(id->str, id->len)) {
            tr_errf(err, errlen, "CLUSTER SLOTS range %zu, node %zu: the node id is malformed",
                    range, pos);
            return TR_REDIS;
        }
        memcpy(node->id, id->str, id->len);
        node->id[id->len] = '\0';
    }
    return TR_OK; /* further elements: Redis 7's networking metadata, not needed to route */
}

static int node_find(const cluster_map *m, const cluster_node *n) {
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == n->port && strcmp(m->nodes[i].host, n->host) == 0) return i;
    return -1;
}

/* Adds *n (or finds it) with the given master (-1: a master); -1 and err set on a contradiction
 * or when the map is full. */
static int node_add(cluster_map *m, const cluster_node *n, int master, size_t range, char *err,
                    size_t errlen) {
    int i = node_find(m, n);
    if (i >= 0) {
        if (m->nodes[i].master != master) {
            tr_errf(err, errlen,
                    "CLUSTER SLOTS range %zu: node %s:%d is named both as a master and as a "
                    "replica, or as a replica of two masters",
                    range, n->host, n->port);
            return -1;
        }
        return i;
    }
    if (m->nnodes >= CLUSTER_MAX_NODES) {
        tr_errf(err, errlen, "CLUSTER SLOTS names more than %d nodes", CLUSTER_MAX_NODES);
        return -1;
    }
    i = m->nnodes++;
    m->nodes[i] = *n;
    m->nodes[i].master = master;
    return i;
}

/* One slot range [start, end, master, replica…]. */
static tr_err parse_range(const redisReply *r, size_t range, cluster_map *m, char *err,
                          size_t errlen) {
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
        tr_errf(err, errlen, "CLUSTER SLOTS range %zu: not an array of start, end and master",
                range);
        return TR_REDIS;
    }
    const redisReply *start = r->element[0], *end = r->element[1];
    if (start == NULL || end == NULL || start->type != REDIS_REPLY_INTEGER ||
        end->type != REDIS_REPLY_INTEGER || start->integer < 0 || end->integer < start->integer ||
        end->integer >= CLUSTER_SLOTS) {
        tr_errf(err, errlen,
                "CLUSTER SLOTS range %zu: start and end are not slots with start <= "
                "end <= 16383",
                range);
        return TR_REDIS;
    }
    cluster_node node;
    tr_err rc = parse_node(r->element[2], range, 2, &node, err, errlen);
    if (rc != TR_OK) return rc;
    int master = node_add(m, &node, -1, range, err, errlen);
    if (master < 0) return TR_REDIS;
    for (long long s = start->integer; s <= end->integer; s++) {
        if (m->slot_master[s] != -1) {
            tr_errf(err, errlen, "CLUSTER SLOTS range %zu: slot %lld is in an earlier range too",
                    range, s);
            return TR_REDIS;
        }
        m->slot_master[s] = (int16_t)master;
    }
    for (size_t pos = 3; pos < r->elements; pos++) {
        if ((rc = parse_node(r->element[pos], range, pos, &node, err, errlen)) != TR_OK) return rc;
        if (node_add(m, &node, master, range, err, errlen) < 0) return TR_REDIS;
    }
    return TR_OK;
}

tr_err cluster_slots_parse(const redisReply *reply, cluster_map *out, char *err, size_t errlen) {
    if (out == NULL) {
        tr_errf(err, errlen, "no slot map to fill");
        return TR_INVALID_ARGUMENT;
    }
    cluster_map_clear(out);
    if (reply == NULL) {
        tr_errf(err, errlen, "no reply to CLUSTER SLOTS");
        return TR_REDIS;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        tr_errf(err, errlen, "CLUSTER SLOTS failed: %s", reply->str ? reply->str : "");
        return TR_REDIS;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        tr_errf(err, errlen, "CLUSTER SLOTS answered something other than an array");
        return TR_REDIS;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        if (parse_range(reply->element[i], i, out, err, errlen) != TR_OK) {
            cluster_map_clear(out);
            return TR_REDIS;
        }
    }
    for (int i = 0; i < out->nnodes; i++) out->nmasters += out->nodes[i].master == -1;
    for (int s = 0; s < CLUSTER_SLOTS; s++) out->slots_served += out->slot_master[s] != -1;
    return TR_OK;
}

/* ---- error replies ---------------------------------------------------------------------- */

/* s starts with word, followed by a space or the end. */
static bool first_word_is(const char *s, const char *word) {
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/* Decimal digits only (no sign, no space), at most 5 of them, value ≤ max. */
static bool parse_small_uint(const char *s, size_t len, long max, long *out) {
    if (len == 0 || len > 5) return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

/* " <slot> <host>:<port>" (what follows the word MOVED or ASK) into r. */
static bool parse_target(const char *rest, cluster_redirect *r) {
    if (*rest++ != ' ') return false;
    const char *sp = strchr(rest, ' ');
    long slot, port;
    if (sp == NULL || !parse_small_uint(rest, (size_t)(sp - rest), CLUSTER_SLOTS - 1, &slot))
        return false;
    const char *addr = sp + 1, *colon = strrchr(addr, ':');
    if (colon == NULL) return false;
    if (!parse_small_uint(colon + 1, strlen(colon + 1), 65535, &port) || port == 0) return false;
    if (!set_host(r->host, addr, (size_t)(colon - addr))) return false;
    r->slot = (int)slot;
    r->port = (int)port;
    return true;
}

cluster_redirect_kind cluster_redirect_parse(const char *error, cluster_redirect *out) {
    cluster_redirect r;
    memset(&r, 0, sizeof r);
    r.slot = -1;
    if (error != NULL) {
        if (first_word_is(error, "MOVED"))
            r.kind = parse_target(error + 5, &r) ? CLUSTER_REDIRECT_MOVED : CLUSTER_REDIRECT_NONE;
        else if (first_word_is(error, "ASK"))
            r.kind = parse_target(error + 3, &r) ? CLUSTER_REDIRECT_ASK : CLUSTER_REDIRECT_NONE;
        else if (first_word_is(error, "TRYAGAIN")) r.kind = CLUSTER_REDIRECT_TRYAGAIN;
        else if (first_word_is(error, "CLUSTERDOWN")) r.kind = CLUSTER_REDIRECT_CLUSTERDOWN;
        if (r.kind != CLUSTER_REDIRECT_MOVED && r.kind != CLUSTER_REDIRECT_ASK) {
            r.slot = -1;
            r.host[0] = '\0';
            r.port = 0;
        }
    }
    if (out != NULL) *out = r;
    return r.kind;
}

const char *cluster_redirect_kind_name(cluster_redirect_kind kind) {
    switch (kind) {
    case CLUSTER_REDIRECT_NONE: return "none";
    case CLUSTER_REDIRECT_MOVED: return "moved";
    case CLUSTER_REDIRECT_ASK: return "ask";
    case CLUSTER_REDIRECT_TRYAGAIN: return "tryagain";
    case CLUSTER_REDIRECT_CLUSTERDOWN: return "clusterdown";
    }
    return "none";
}

tr_err cluster_parse_addr(const char *addr, char *host, size_t hostlen, int *port) {
    if (addr == NULL) return TR_INVALID_ARGUMENT;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= hostlen)
        return TR_INVALID_ARGUMENT;
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || p < 1 || p > 65535)
        return TR_INVALID_ARGUMENT;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (int)p;
    return TR_OK;
}

tr_err cluster_seeds_parse(const char *list, cluster_addr *out, int max, int *n, char *err,
                           size_t errlen) {
    char dummy[1];
    if (err == NULL || errlen == 0) err = dummy, errlen = sizeof dummy;
    err[0] = '\0';
    if (n) *n = 0;
    if (list == NULL || out == NULL || n == NULL || max < 1 || list[0] == '\0') {
        snprintf(err, errlen, "no address given");
        return TR_INVALID_ARGUMENT;
    }
    int given = 1;
    for (const char *c = list; *c; c++) given += *c == ',';
    if (given > max) {
        snprintf(err, errlen, "%d addresses, at most %d", given, max);
        return TR_INVALID_ARGUMENT;
    }
    int count = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[CLUSTER_HOST_MAX + 8];
        if (len == 0) {
            snprintf(err, errlen, "address %d of %d is empty", count + 1, given);
            return TR_INVALID_ARGUMENT;
        }
        if (len >= sizeof one) {
            snprintf(err, errlen, "address %d is longer than %zu bytes", count + 1, sizeof one - 1);
            return TR_INVALID_ARGUMENT;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        bool v6 = one[0] == '[';
        if (v6 || strchr(one, ' ') != NULL ||
            cluster_parse_addr(one, out[count].host, sizeof out[count].host, &out[count].port) !=
                TR_OK) {
            const char *what = v6 ? "IPv6 addresses are not supported"
                                  : "expected HOST:PORT with a port in 1..65535";
            if (given == 1) snprintf(err, errlen, "%s", what);
            else snprintf(err, errlen, "address %d (\"%.64s\"): %s", count + 1, one, what);
            return TR_INVALID_ARGUMENT;
        }
        count++;
        if (comma == NULL) break;
        p = comma + 1;
    }
    *n = count;
    return TR_OK;
}

bool cluster_seeds_check(const char *value, const char *what, char *err, size_t errlen) {
    cluster_addr seeds[CLUSTER_MAX_SEEDS];
    int n = 0;
    char why[160];
    if (cluster_seeds_parse(value, seeds, CLUSTER_MAX_SEEDS, &n, why, sizeof why) == TR_OK)
        return true;
    /* a list over the limit is not quoted: the limit is the news, not a cut-off list */
    if (value != NULL && strstr(why, ", at most ") != NULL)
        snprintf(err, errlen, "invalid value for %s: %s", what, why);
    else snprintf(err, errlen, "invalid value \"%s\" for %s: %s", value ? value : "", what, why);
    return false;
}

/* ---- what a client does with one reply ---------------------------------------------------- */

cluster_step cluster_next_step(const char *error, int redirects, int retries, int asking,
                               cluster_redirect *redirect, int *backoff_ms) {
    cluster_redirect local;
    cluster_redirect *r = redirect ? redirect : &local;
    if (backoff_ms) *backoff_ms = 0;
    switch (cluster_redirect_parse(error, r)) {
    case CLUSTER_REDIRECT_NONE: return CLUSTER_STEP_DONE;
    case CLUSTER_REDIRECT_MOVED:
        return redirects < CLUSTER_MAX_REDIRECTS ? CLUSTER_STEP_MOVED : CLUSTER_STEP_FAIL;
    case CLUSTER_REDIRECT_ASK:
        return redirects < CLUSTER_MAX_REDIRECTS && !asking ? CLUSTER_STEP_ASK : CLUSTER_STEP_FAIL;
    case CLUSTER_REDIRECT_TRYAGAIN:
        if (retries < 0 || retries >= CLUSTER_TRYAGAIN_MAX) return CLUSTER_STEP_FAIL;
        if (backoff_ms) *backoff_ms = CLUSTER_TRYAGAIN_BACKOFF_MS << retries;
        return CLUSTER_STEP_RETRY;
    case CLUSTER_REDIRECT_CLUSTERDOWN: return CLUSTER_STEP_FAIL;
    }
    return CLUSTER_STEP_DONE;
}

const char *cluster_step_name(cluster_step step) {
    switch (step) {
    case CLUSTER_STEP_DONE: return "done";
    case CLUSTER_STEP_MOVED: return "moved";
    case CLUSTER_STEP_ASK: return "ask";
    case CLUSTER_STEP_RETRY: return "retry";
    case CLUSTER_STEP_FAIL: return "fail";
    }
    return "unknown";
}

int cluster_error_busy(const char *error) {
    cluster_redirect_kind k = cluster_redirect_parse(error, NULL);
    return k == CLUSTER_REDIRECT_CLUSTERDOWN || k == CLUSTER_REDIRECT_TRYAGAIN;
}

bool cluster_info_int(const char *info, const char *name, long long *out) {
    if (info == NULL || name == NULL || name[0] == '\0') return false;
    size_t nlen = strlen(name);
    for (const char *line = info; line && *line;) {
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            bool neg = *v == '-';
            if (neg) v++;
            size_t digits = strspn(v, "0123456789");
            if (digits == 0 || digits > 18) return false;
            if (v[digits] != '\0' && v[digits] != '\r' && v[digits] != '\n') return false;
            long long x = 0;
            for (size_t i = 0; i < digits; i++) x = x * 10 + (v[i] - '0');
            *out = neg ? -x : x;
            return true;
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return false;
}

int cluster_info_replicas_online(const char *info, long long max_lag_s) {
    int n = 0;
    for (const char *line = info; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        size_t digits = strncmp(line, "slave", 5) == 0 ? strspn(line + 5, "0123456789") : 0;
        if (digits > 0 && line[5 + digits] == ':') {
            char l[512];
            snprintf(l, sizeof l, "%.*s", (int)(len < sizeof l ? len : sizeof l - 1), line);
            const char *st = strstr(l, ",state=online,"), *lag = strstr(l, ",lag=");
            char *stop = NULL;
            long long v = lag ? strtoll(lag + 5, &stop, 10) : -1;
            if (st && lag && stop != lag + 5 && v >= 0 && v <= max_lag_s) n++;
        }
        line = end ? end + 1 : NULL;
    }
    return n;
}
