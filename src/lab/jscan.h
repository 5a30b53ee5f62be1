/* jscan.h — a small JSON scanner that walks the members of one object without building a tree:
 * the load generator reads "error" and "seatNo" from each answer with it, and runfile.c finds
 * the large "requests" array with it. It checks structure (strings, nesting, separators), not
 * number syntax or UTF-8; values come back as raw byte spans.
 * Not a parser: use jansson for that. */
#ifndef TR_LAB_JSCAN_H
#define TR_LAB_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSCAN_MAX_DEPTH 32

typedef struct jscan {
    const char *p, *e;
    bool first; /* no member read yet */
} jscan;

/* Starts on buf[0..len), which must hold an object (leading whitespace allowed).
 * false when it does not start with '{'. buf is borrowed and must outlive s. */
bool jscan_begin(jscan *s, const char *buf, size_t len);

/* The next member: *key (*klen bytes) is the key without quotes (escapes not decoded),
 * *val (*vlen bytes) the raw value (a string keeps its quotes). Returns 1 for a member,
 * 0 at the closing '}', -1 on malformed input or nesting deeper than JSCAN_MAX_DEPTH. */
int jscan_member(jscan *s, const char **key, size_t *klen, const char **val, size_t *vlen);

/* true when the span [key, key+klen) equals the NUL-terminated name. */
bool jscan_key_is(const char *key, size_t klen, const char *name);

/* A raw value that is an integer in int64 range (no fraction, no exponent) into *out. */
bool jscan_int64(const char *val, size_t vlen, int64_t *out);

#endif
