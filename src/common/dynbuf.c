/* dynbuf.c — capped growable buffer behind dynbuf.h. */
#include "common/dynbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dynbuf_init(dynbuf *b, size_t limit) {
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void dynbuf_free(dynbuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool dynbuf_add(dynbuf *b, const void *p, size_t n) {
    if (b->failed) return false;
    if (n > b->limit || b->len > b->limit - n) {
        b->failed = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = true;
            return false;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool dynbuf_puts(dynbuf *b, const char *s) { return dynbuf_add(b, s, strlen(s)); }

bool dynbuf_printf(dynbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return false;
    }
    if ((size_t)n < sizeof small) return dynbuf_add(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        b->failed = true;
        return false;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = dynbuf_add(b, big, (size_t)n);
    free(big);
    return ok;
}
