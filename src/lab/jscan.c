/* jscan.c — the member walker behind jscan.h. */
#include "lab/jscan.h"

#include <string.h>

static const char *js_ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at '"'; returns the byte after the closing quote, or NULL. */
static const char *js_string(const char *p, const char *e) {
    for (p++; p < e; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') return p + 1;
        if ((unsigned char)*p < 0x20) return NULL;
    }
    return NULL;
}

static const char *js_value(const char *p, const char *e, int depth) {
    if (p >= e) return NULL;
    if (*p == '"') return js_string(p, e);
    if (*p == '{' || *p == '[') {
        if (depth >= JSCAN_MAX_DEPTH) return NULL;
        bool obj = *p == '{';
        char close = obj ? '}' : ']';
        p = js_ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                if (p >= e || *p != '"' || (p = js_string(p, e)) == NULL) return NULL;
                p = js_ws(p, e);
                if (p >= e || *p != ':') return NULL;
                p = js_ws(p + 1, e);
            }
            if ((p = js_value(p, e, depth + 1)) == NULL) return NULL;
            p = js_ws(p, e);
            if (p >= e) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p = js_ws(p + 1, e);
        }
    }
    /* number or literal */
    const char *s = p;
    while (p < e && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' ||
                     *p == '+' || *p == '.' || *p == 'E'))
        p++;
    return p == s ? NULL : p;
}

bool jscan_begin(jscan *s, const char *buf, size_t len) {
    s->e = buf + len;
    s->p = js_ws(buf, s->e);
    s->first = true;
    if (s->p >= s->e || *s->p != '{') return false;
    s->p++;
    return true;
}

int jscan_member(jscan *s, const char **key, size_t *klen, const char **val, size_t *vlen) {
    const char *p = js_ws(s->p, s->e), *e = s->e;
    if (p >= e) return -1;
    if (*p == '}') {
        s->p = p + 1;
        return 0;
    }
    if (!s->first) {
        if (*p != ',') return -1;
        p = js_ws(p + 1, e);
    }
    if (p >= e || *p != '"') return -1;
    const char *k = p + 1;
    if ((p = js_string(p, e)) == NULL) return -1;
    *key = k;
    *klen = (size_t)(p - 1 - k);
    p = js_ws(p, e);
    if (p >= e || *p != ':') return -1;
    const char *v = js_ws(p + 1, e);
    if ((p = js_value(v, e, 1)) == NULL) return -1;
    *val = v;
    *vlen = (size_t)(p - v);
    s->p = p;
    s->first = false;
    return 1;
}

bool jscan_key_is(const char *key, size_t klen, const char *name) {
    return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

bool jscan_int64(const char *val, size_t vlen, int64_t *out) {
    const char *s = val, *e = val + vlen;
    bool neg = s < e && *s == '-';
    if (neg) s++;
    if (s == e) return false;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}
