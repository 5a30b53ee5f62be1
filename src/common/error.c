/* error.c — tables behind error.h's accessors. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_row {
    int status;
    const char *code;
    const char *msg;
};

static const struct err_row err_rows[] = {
#define TR_ERR_ROW(name, status, code, msg) {status, code, msg},
    TR_ERR_MAP(TR_ERR_ROW)
#undef TR_ERR_ROW
};

static const struct err_row *err_row(tr_err e) {
    if ((int)e < 0 || e >= TR_ERR__COUNT) return NULL;
    return &err_rows[e];
}

const char *tr_strerror(tr_err e) {
    const struct err_row *r = err_row(e);
    return r ? r->msg : "unknown error";
}

const char *tr_err_code(tr_err e) {
    const struct err_row *r = err_row(e);
    return r ? r->code : "internal";
}

int tr_err_http_status(tr_err e) {
    const struct err_row *r = err_row(e);
    return r ? r->status : 500;
}

tr_err tr_err_from_code(const char *code) {
    if (code == NULL) return TR_INTERNAL;
    for (int i = 0; i < TR_ERR__COUNT; i++)
        if (strcmp(err_rows[i].code, code) == 0) return (tr_err)i;
    return TR_INTERNAL;
}

void tr_errf(char *errbuf, size_t errlen, const char *fmt, ...) {
    if (errbuf == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}
