/* dynbuf.h — a growable, NUL-terminated byte buffer with a hard size cap (curl's dynbuf idea):
 * input can never make it grow past the cap. Not thread-safe. */
#ifndef TR_DYNBUF_H
#define TR_DYNBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dynbuf {
    char *data;   /* NUL-terminated; NULL until the first append */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* maximum len; an append past it fails */
    bool failed;  /* sticky: an append failed (too big or out of memory); data is then partial */
} dynbuf;

/* limit: maximum length in bytes (> 0). */
void dynbuf_init(dynbuf *b, size_t limit);
void dynbuf_free(dynbuf *b); /* frees data; the dynbuf may be reused after dynbuf_init */
/* Appends; false (and b->failed set) when it would pass the limit or memory ran out. */
bool dynbuf_add(dynbuf *b, const void *p, size_t n);
bool dynbuf_puts(dynbuf *b, const char *s);
bool dynbuf_printf(dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
