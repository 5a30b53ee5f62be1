/* request.c — input validation behind request.h. */
#include "http/request.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool http_parse_id(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > 19 || s[0] == '0') return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* ≤ 19 digits cannot overflow uint64 */
    }
    if (v > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)v;
    return true;
}

static bool id_from_json(json_t *v, int64_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t i = json_integer_value(v);
    if (i <= 0) return false;
    *out = (int64_t)i;
    return true;
}

tr_err http_parse_purchase(const char *body, size_t len, int64_t *concert_id, int64_t *customer_id,
                           char *why, size_t whylen) {
    json_error_t jerr;
    tr_err rc = TR_BAD_REQUEST;
    if (body == NULL || len == 0) {
        snprintf(why, whylen, "the request body is empty");
        return rc;
    }
    /* JSON text never holds a raw NUL (RFC 8259 §7: control characters are escaped), and
     * jansson's number scan stops at one as if the text ended there. */
    if (memchr(body, '\0', len) != NULL) {
        snprintf(why, whylen, "malformed JSON: a NUL byte in the body");
        return rc;
    }
    /* Duplicate keys are an error (SPEC §2); jansson rejects integers past int64 on its own. */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(why, whylen, "malformed JSON: %s", jerr.text);
        return rc;
    }
    if (!json_is_object(root)) {
        snprintf(why, whylen, "the body must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "customerId") != 0 && strcmp(key, "concertId") != 0) {
            snprintf(why, whylen, "unknown key \"%.40s\"", key);
            goto out;
        }
    }
    json_t *cu = json_object_get(root, "customerId"), *co = json_object_get(root, "concertId");
    if (cu == NULL || co == NULL) {
        snprintf(why, whylen, "customerId and concertId are both required");
        goto out;
    }
    if (!id_from_json(cu, customer_id)) {
        snprintf(why, whylen, "customerId must be an integer in 1..9223372036854775807");
        goto out;
    }
    if (!id_from_json(co, concert_id)) {
        snprintf(why, whylen, "concertId must be an integer in 1..9223372036854775807");
        goto out;
    }
    rc = TR_OK;
out:
    json_decref(root);
    return rc;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s) {
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r;) {
        int hi = r[0] == '%' ? hex_value(r[1]) : -1, lo = hi >= 0 ? hex_value(r[2]) : -1;
        int c = lo >= 0 ? hi * 16 + lo : -1;
        if (c > 0 && c != '/') {
            *w++ = (char)c;
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

bool http_content_type_is_json(const char *value) {
    static const char want[] = "application/json";
    if (value == NULL) return false;
    while (*value == ' ' || *value == '\t') value++;
    if (strncasecmp(value, want, sizeof want - 1) != 0) return false;
    const char *p = value + sizeof want - 1;
    if (!(*p == '\0' || *p == ';' || *p == ' ' || *p == '\t')) return false;
    /* Parameters: a charset, if named, must be UTF-8 (SPEC §2: JSON, UTF-8; RFC 8259 §8.1). */
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, "charset=", 8) != 0) continue;
        const char *v = p + 8;
        bool quoted = *v == '"';
        v += quoted;
        size_t n = strcspn(v, quoted ? "\"" : "; \t");
        if (quoted && v[n] != '"') return false; /* unterminated quoted-string (RFC 9110 §5.6.4) */
        bool utf8 = (n == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
                    (n == 4 && strncasecmp(v, "utf8", 4) == 0);
        if (!utf8) return false;
    }
    return true;
}

int http_match_path(const char *path, const char *pattern, int64_t *ids, int maxids) {
    int nids = 0;
    bool bad_id = false;
    const char *p = path, *q = pattern;
    while (*p == '/' && *q == '/') {
        p++;
        q++;
        size_t plen = strcspn(p, "/"), qlen = strcspn(q, "/");
        if (qlen == 4 && strncmp(q, "{id}", 4) == 0) {
            int64_t id = 0;
            if (plen == 0) return 0;
            if (!http_parse_id(p, plen, &id)) bad_id = true;
            else if (nids < maxids) ids[nids] = id;
            nids++;
        } else if (plen != qlen || strncmp(p, q, plen) != 0) {
            return 0;
        }
        p += plen;
        q += qlen;
    }
    if (*p != '\0' || *q != '\0') return 0;
    return bad_id ? -1 : 1;
}
