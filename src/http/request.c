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
        /* jansson's text may quote the input ("… near '<token>'"), cut anywhere. */
        char text[sizeof jerr.text + 16];
        snprintf(why, whylen, "malformed JSON: %s",
                 http_quote_utf8(jerr.text, whylen > 17 ? whylen - 17 : 0, text, sizeof text));
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
            char quoted[48];
            snprintf(why, whylen, "unknown key \"%s\"",
                     http_quote_utf8(key, 40, quoted, sizeof quoted));
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

/* ---- framing (RFC 9112) ------------------------------------------------------------------------ */

static bool is_tchar(unsigned char c);

bool http_is_token(const char *s) {
    if (s == NULL || *s == '\0') return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s)) return false;
    return true;
}

/* tchar (RFC 9110 §5.6.2). */
static bool is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool name_is(const http_field *f, const char *name) {
    size_t n = strlen(name);
    return f->name_len == n && f->name != NULL && strncasecmp(f->name, name, n) == 0;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* uri-host [":" port] (RFC 3986 §3.2.2: reg-name, IPv4, or an IP-literal in brackets); only the
 * characters are checked, which is what keeps a Host value from carrying framing. */
static bool host_chars_ok(const char *v, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c != '\0' && strchr("-._~!$&'()*+,;=:%[]", c) != NULL);
        if (!ok) return false;
    }
    return true;
}

/* One coding of a Transfer-Encoding list: a token, then optional ";" parameters (taken as
 * written: whatever follows a ';' up to the next ',' outside quotes). */
typedef struct te_elem {
    const char *tok;
    size_t tok_len;
    bool has_params;
} te_elem;

/* Splits a Transfer-Encoding value into its codings. Returns the count (at most max are kept),
 * or -1 when the list is malformed: an empty element, a coding that is not a token, an
 * unterminated quoted string. */
static int te_parse(const char *v, size_t len, te_elem *out, int max) {
    size_t i = 0;
    int n = 0;
    for (;;) {
        while (i < len && is_ows(v[i])) i++;
        size_t start = i;
        while (i < len && is_tchar((unsigned char)v[i])) i++;
        if (i == start) return -1; /* empty element or a non-token byte */
        te_elem e = {v + start, i - start, false};
        while (i < len && is_ows(v[i])) i++;
        if (i < len && v[i] == ';') {
            e.has_params = true;
            bool quoted = false;
            for (; i < len && (quoted || v[i] != ','); i++) {
                if (v[i] == '"') quoted = !quoted;
                else if (quoted && v[i] == '\\') i++;
            }
            if (quoted || i > len) return -1;
        }
        if (n < max) out[n] = e;
        n++;
        if (i == len) return n;
        if (v[i] != ',') return -1;
        i++;
    }
}

tr_err http_check_framing(const char *version, const http_field *fields, size_t n, char *why,
                          size_t whylen) {
    bool http10 = version != NULL && strcmp(version, "HTTP/1.0") == 0;
    size_t hosts = 0, lengths = 0, encodings = 0;
    const http_field *host = NULL, *length = NULL, *encoding = NULL;
    for (size_t i = 0; i < n; i++) {
        const http_field *f = &fields[i];
        if (f->name_len == 0 || f->name == NULL) {
            snprintf(why, whylen, "a header field has an empty name");
            return TR_BAD_REQUEST;
        }
        for (size_t k = 0; k < f->name_len; k++) {
            unsigned char c = (unsigned char)f->name[k];
            if (is_tchar(c)) continue;
            if (c == ' ' || c == '\t')
                snprintf(why, whylen, "whitespace between a header field name and its colon");
            else
                snprintf(why, whylen,
                         "a header field name holds a byte that is not a token character");
            return TR_BAD_REQUEST;
        }
        if (f->value_len > 0 && f->value == NULL) {
            snprintf(why, whylen, "a header field has no value");
            return TR_BAD_REQUEST;
        }
        if (f->value_len > 0 && (memchr(f->value, '\r', f->value_len) != NULL ||
                                 memchr(f->value, '\n', f->value_len) != NULL)) {
            snprintf(why, whylen, "a header field value holds a CR or LF");
            return TR_BAD_REQUEST;
        }
        if (name_is(f, "Host")) hosts++, host = f;
        else if (name_is(f, "Content-Length")) lengths++, length = f;
        else if (name_is(f, "Transfer-Encoding")) encodings++, encoding = f;
    }

    if (encodings > 0) {
        if (lengths > 0) {
            snprintf(why, whylen,
                     "Transfer-Encoding and Content-Length together are ambiguous framing");
            return TR_BAD_REQUEST;
        }
        if (http10) {
            snprintf(why, whylen, "Transfer-Encoding is not defined for HTTP/1.0");
            return TR_BAD_REQUEST;
        }
        if (encodings > 1) {
            snprintf(why, whylen, "several Transfer-Encoding fields");
            return TR_BAD_REQUEST;
        }
        te_elem codings[8];
        int nc = te_parse(encoding->value ? encoding->value : "", encoding->value_len, codings, 8);
        if (nc < 0) {
            snprintf(why, whylen, "a malformed Transfer-Encoding value");
            return TR_BAD_REQUEST;
        }
        int chunked = 0;
        bool last_chunked = false, other = false;
        for (int k = 0; k < nc && k < 8; k++) {
            bool is_chunked =
                codings[k].tok_len == 7 && strncasecmp(codings[k].tok, "chunked", 7) == 0;
            chunked += is_chunked;
            other |= !is_chunked;
            if (k == nc - 1) last_chunked = is_chunked && !codings[k].has_params;
        }
        if (nc > 8 || !last_chunked) {
            snprintf(why, whylen,
                     "the final transfer coding is not chunked, so the body length "
                     "cannot be determined");
            return TR_BAD_REQUEST;
        }
        if (chunked > 1) {
            snprintf(why, whylen, "the chunked transfer coding is applied more than once");
            return TR_BAD_REQUEST;
        }
        if (other) {
            snprintf(why, whylen, "only the chunked transfer coding is implemented");
            return TR_NOT_IMPLEMENTED;
        }
        if (encoding->value_len != 7) { /* "chunked" with whitespace around it */
            snprintf(why, whylen, "whitespace around the Transfer-Encoding value");
            return TR_BAD_REQUEST;
        }
    } else if (lengths > 0) {
        if (lengths > 1) {
            snprintf(why, whylen, "several Content-Length fields");
            return TR_BAD_REQUEST;
        }
        bool digits = length->value_len > 0;
        for (size_t k = 0; k < length->value_len && digits; k++)
            digits = length->value[k] >= '0' && length->value[k] <= '9';
        if (!digits) {
            snprintf(why, whylen, "Content-Length is not a decimal number");
            return TR_BAD_REQUEST;
        }
    }

    if (hosts > 1) {
        snprintf(why, whylen, "several Host fields");
        return TR_BAD_REQUEST;
    }
    if (hosts == 0 && !http10) {
        snprintf(why, whylen, "an HTTP/1.1 request without a Host field");
        return TR_BAD_REQUEST;
    }
    if (host) {
        size_t hl = host->value_len;
        while (hl > 0 && is_ows(host->value[hl - 1])) hl--;
        if (!host_chars_ok(host->value, hl)) {
            snprintf(why, whylen, "the Host field is not a host name with an optional port");
            return TR_BAD_REQUEST;
        }
    }
    return TR_OK;
}

/* ---- UTF-8 --------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t len) {
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) need = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) need = 4, cp = c & 0x07;
    else return 0;
    if (len < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return need;
}

bool http_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(p + i, len - i);
        if (k == 0) return false;
        i += k;
    }
    return true;
}

char *http_quote_utf8(const char *s, size_t max_bytes, char *out, size_t outlen) {
    static const char ellipsis[] = "\xE2\x80\xA6"; /* … */
    if (outlen == 0) return out;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t len = strlen((const char *)p), w = 0, i = 0;
    size_t room = outlen - 1; /* bytes for text, without the NUL */
    if (max_bytes < room) room = max_bytes;
    bool cut = false;
    while (i < len) {
        size_t k = utf8_seq(p + i, len - i);
        size_t take = k ? k : 1; /* an invalid byte becomes one '?' */
        if (w + take > room) {
            cut = true;
            break;
        }
        if (k) memcpy(out + w, p + i, k);
        else out[w] = '?';
        w += take;
        i += take;
    }
    if (cut) {
        /* The ellipsis fits within room too: drop whole characters until it does. */
        while (w > 0 && w + sizeof ellipsis - 1 > room) {
            w--;
            while (w > 0 && (((unsigned char)out[w]) & 0xC0) == 0x80) w--;
        }
        if (w + sizeof ellipsis - 1 <= room) {
            memcpy(out + w, ellipsis, sizeof ellipsis - 1);
            w += sizeof ellipsis - 1;
        }
    }
    out[w] = '\0';
    return out;
}
