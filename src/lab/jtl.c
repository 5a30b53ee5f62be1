/* jtl.c — JMeter CSV results behind jtl.h: a small RFC 4180 row splitter (quoted fields may
 * hold commas, doubled quotes and newlines), columns found by their header names, one
 * lab_record per kept row. The file is mapped, not copied. */
#include "lab/jtl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define JTL_MAX_COLS 128

void jtl_result_free(jtl_result *out) {
    if (out == NULL) return;
    free(out->records);
    out->records = NULL;
    out->nrecords = 0;
}

/* One field: raw bytes between the quotes when quoted (doubled quotes not yet collapsed). */
typedef struct jtl_span {
    const char *p;
    size_t len;
    bool quoted;
} jtl_span;

typedef struct jtl_cursor {
    const char *buf;
    size_t len, pos;
    int64_t line; /* 1-based line of the next row */
} jtl_cursor;

/* Splits the next row into f[0..max). Returns the number of fields in the row (which may exceed
 * max; the extra ones are dropped), 0 at the end of input, -1 on an unterminated quote or bytes
 * after a closing quote. */
static int jtl_row(jtl_cursor *c, jtl_span *f, int max) {
    if (c->pos >= c->len) return 0;
    int n = 0;
    for (;;) {
        jtl_span s = {0};
        if (c->pos < c->len && c->buf[c->pos] == '"') {
            size_t start = ++c->pos;
            for (;;) {
                const char *q = memchr(c->buf + c->pos, '"', c->len - c->pos);
                if (q == NULL) return -1;
                for (const char *p = c->buf + c->pos; p < q; p++) c->line += *p == '\n';
                c->pos = (size_t)(q - c->buf) + 1;
                if (c->pos < c->len && c->buf[c->pos] == '"') {
                    c->pos++;
                    continue;
                }
                break;
            }
            s = (jtl_span){c->buf + start, c->pos - 1 - start, true};
        } else {
            size_t start = c->pos;
            while (c->pos < c->len && c->buf[c->pos] != ',' && c->buf[c->pos] != '\n') c->pos++;
            size_t end = c->pos;
            if (end > start && c->buf[end - 1] == '\r' && (end == c->len || c->buf[end] == '\n'))
                end--;
            s = (jtl_span){c->buf + start, end - start, false};
        }
        if (n < max) f[n] = s;
        n++;
        if (c->pos >= c->len) return n;
        char ch = c->buf[c->pos];
        if (ch == ',') {
            c->pos++;
            continue;
        }
        if (ch == '\r' && c->pos + 1 < c->len && c->buf[c->pos + 1] == '\n') ch = c->buf[++c->pos];
        if (ch == '\n') {
            c->pos++;
            c->line++;
            return n;
        }
        return -1;
    }
}

/* The field equals name, with doubled quotes of a quoted field read as one. */
static bool jtl_span_is(jtl_span s, const char *name) {
    size_t i = 0, k = 0;
    for (; i < s.len; i++, k++) {
        if (name[k] == '\0' || s.p[i] != name[k]) return false;
        if (s.quoted && s.p[i] == '"') i++; /* the second of a doubled quote */
    }
    return name[k] == '\0';
}

static bool jtl_span_i64(jtl_span s, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    while (i < s.len && s.p[i] == ' ') i++;
    if (i < s.len && (s.p[i] == '-' || s.p[i] == '+')) neg = s.p[i++] == '-';
    if (i >= s.len) return false;
    uint64_t v = 0;
    for (; i < s.len; i++) {
        char ch = s.p[i];
        if (ch < '0' || ch > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(ch - '0');
        if (v > (uint64_t)INT64_MAX) return false;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool jtl_span_has(jtl_span s, const char *needle) {
    size_t nl = strlen(needle);
    if (nl > s.len) return false;
    for (size_t i = 0; i + nl <= s.len; i++)
        if (memcmp(s.p + i, needle, nl) == 0) return true;
    return false;
}

enum {
    COL_TS,
    COL_ELAPSED,
    COL_LABEL,
    COL_CODE,
    COL_ALL_THREADS,
    COL_GRP_THREADS,
    COL_CUSTOMER,
    COL_SEAT,
    COL_ERROR,
    COL__N
};

static const char *const jtl_col_names[COL__N] = {"timeStamp",    "elapsed",    "label",
                                                  "responseCode", "allThreads", "grpThreads",
                                                  "customerId",   "seatNo",     "error"};

static int cmp_send(const void *a, const void *b) {
    const lab_record *x = a, *y = b;
    if (x->send_us != y->send_us) return (x->send_us > y->send_us) - (x->send_us < y->send_us);
    return (x->done_us > y->done_us) - (x->done_us < y->done_us);
}

tr_err jtl_parse(const char *buf, size_t len, const jtl_options *opt, lab_codes *codes,
                 jtl_result *out, char *errbuf, size_t errlen) {
    memset(out, 0, sizeof *out);
    jtl_options none = {0};
    if (opt == NULL) opt = &none;
    const char *label = opt->label && *opt->label ? opt->label : NULL;
    jtl_cursor c = {.buf = buf, .len = len, .line = 1};
    jtl_span f[JTL_MAX_COLS];
    int col[COL__N];
    for (int k = 0; k < COL__N; k++) col[k] = -1;

    /* The header: the first non-empty row. */
    int nf;
    int64_t line;
    do {
        line = c.line;
        nf = jtl_row(&c, f, JTL_MAX_COLS);
    } while (nf == 1 && f[0].len == 0);
    if (nf <= 0) {
        tr_errf(errbuf, errlen,
                nf == 0 ? "the results file is empty (JMeter ran no sample: "
                          "see its log)"
                        : "line %" PRId64 ": unterminated quote",
                line);
        return TR_INVALID_ARGUMENT;
    }
    int ncols = nf < JTL_MAX_COLS ? nf : JTL_MAX_COLS;
    for (int i = 0; i < ncols; i++)
        for (int k = 0; k < COL__N; k++)
            if (col[k] < 0 && jtl_span_is(f[i], jtl_col_names[k])) col[k] = i;
    if (col[COL_TS] < 0 || col[COL_ELAPSED] < 0) {
        tr_errf(errbuf, errlen,
                "line %" PRId64 ": no CSV header with timeStamp and elapsed "
                "(run JMeter with -Jjmeter.save.saveservice.output_format=csv "
                "-Jjmeter.save.saveservice.print_field_names=true)",
                line);
        return TR_INVALID_ARGUMENT;
    }
    static const int required[] = {COL_CODE, COL_CUSTOMER, COL_SEAT, COL_ERROR};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (col[required[i]] >= 0) continue;
        tr_errf(errbuf, errlen,
                "the results file has no %s column (run the plan with "
                "-Jsample_variables=customerId,seatNo,error)",
                jtl_col_names[required[i]]);
        return TR_INVALID_ARGUMENT;
    }
    if (label && col[COL_LABEL] < 0) {
        tr_errf(errbuf, errlen, "the results file has no label column to select \"%s\" by", label);
        return TR_INVALID_ARGUMENT;
    }
    int need = 0;
    for (int k = 0; k < COL__N; k++)
        if (col[k] + 1 > need) need = col[k] + 1;

    size_t cap = 0;
    lab_record *recs = NULL;
    tr_err rc = TR_OK;
    int64_t t0 = INT64_MAX;
    for (;;) {
        line = c.line;
        nf = jtl_row(&c, f, JTL_MAX_COLS);
        if (nf == 0) break;
        if (nf < 0) {
            tr_errf(errbuf, errlen,
                    "line %" PRId64 ": unterminated quote or bytes after a "
                    "closing quote",
                    line);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        if (nf == 1 && f[0].len == 0) continue; /* an empty line */
        if (nf < need) {
            tr_errf(errbuf, errlen, "line %" PRId64 ": %d fields, the header names %d", line, nf,
                    ncols);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        if (label && !jtl_span_is(f[col[COL_LABEL]], label)) {
            out->skipped++;
            continue;
        }
        int64_t ts, elapsed, customer, seat = 0, threads = 0;
        if (!jtl_span_i64(f[col[COL_TS]], &ts) || ts < 0 || ts > INT64_MAX / 4000) {
            tr_errf(errbuf, errlen,
                    "line %" PRId64 ": timeStamp is not milliseconds since the "
                    "epoch (set jmeter.save.saveservice.timestamp_format=ms)",
                    line);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        if (!jtl_span_i64(f[col[COL_ELAPSED]], &elapsed) || elapsed < 0 || elapsed > ts) {
            tr_errf(errbuf, errlen, "line %" PRId64 ": elapsed is not a count of milliseconds",
                    line);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        if (!jtl_span_i64(f[col[COL_CUSTOMER]], &customer) || customer < 0) {
            tr_errf(errbuf, errlen,
                    "line %" PRId64 ": customerId is not a customer id (the "
                    "plan's __Random(…,customerId) did not run?)",
                    line);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        if ((size_t)JTL_MAX_ROWS <= out->nrecords) {
            tr_errf(errbuf, errlen, "more than %lld samples", (long long)JTL_MAX_ROWS);
            rc = TR_INVALID_ARGUMENT;
            goto out;
        }
        for (int k = COL_ALL_THREADS; k <= COL_GRP_THREADS; k++) {
            if (col[k] >= 0 && jtl_span_i64(f[col[k]], &threads) && threads > out->max_threads &&
                threads <= INT32_MAX)
                out->max_threads = (int32_t)threads;
        }
        if (out->nrecords == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            lab_record *nr = realloc(recs, ncap * sizeof *nr);
            if (nr == NULL) {
                rc = TR_NOMEM;
                goto out;
            }
            recs = nr;
            cap = ncap;
        }
        lab_record *r = &recs[out->nrecords++];
        *r = (lab_record){.customer_id = customer};
        int64_t start_ms = opt->timestamp == JTL_TIMESTAMP_END ? ts - elapsed : ts;
        r->send_us = start_ms * 1000;
        r->done_us = (start_ms + elapsed) * 1000 + 999;
        jtl_span code = f[col[COL_CODE]];
        int64_t status;
        if (!code.quoted && code.len == 3 && jtl_span_i64(code, &status) && status >= 100) {
            r->status = (int32_t)status;
            jtl_span e = f[col[COL_ERROR]];
            bool none_code = e.len == 0 || (e.len == 1 && e.p[0] == '-');
            if (!none_code && status != 201 && status != 202)
                r->code = lab_codes_intern(codes, e.p, e.len);
            if (status == 201 && jtl_span_i64(f[col[COL_SEAT]], &seat) && seat > 0 &&
                seat <= INT32_MAX)
                r->seat_no = (int32_t)seat;
        } else if (jtl_span_has(code, "SocketTimeoutException")) {
            r->code = LAB_CODE_TIMEOUT;
            r->done_us = -1;
        } else {
            r->code = LAB_CODE_CONNECTION_ERROR;
        }
        if (r->send_us < t0) t0 = r->send_us;
    }
    if (out->nrecords == 0) {
        tr_errf(errbuf, errlen,
                out->skipped ? "no sample has the label \"%s\""
                             : "the results file has a header and no sample%s",
                out->skipped ? label : "");
        rc = TR_INVALID_ARGUMENT;
        goto out;
    }
    int64_t last = 0;
    for (size_t i = 0; i < out->nrecords; i++) {
        lab_record *r = &recs[i];
        r->send_us -= t0;
        if (r->done_us >= 0) r->done_us -= t0;
        if (r->done_us > last) last = r->done_us;
    }
    qsort(recs, out->nrecords, sizeof *recs, cmp_send);
    out->started_wall_us = t0;
    out->duration_us = last;
out:
    if (rc != TR_OK) {
        free(recs);
        recs = NULL;
        out->nrecords = 0;
    }
    out->records = recs;
    return rc;
}

tr_err jtl_read(const char *path, const jtl_options *opt, lab_codes *codes, jtl_result *out,
                char *errbuf, size_t errlen) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tr_errf(errbuf, errlen, "could not open %s: %s", path, strerror(errno));
        return TR_INTERNAL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        tr_errf(errbuf, errlen, "could not read %s: %s", path, strerror(errno));
        close(fd);
        return TR_INTERNAL;
    }
    if (st.st_size > JTL_MAX_BYTES) {
        tr_errf(errbuf, errlen, "could not read %s: larger than 4 GiB", path);
        close(fd);
        return TR_INTERNAL;
    }
    if (st.st_size == 0) {
        close(fd);
        tr_errf(errbuf, errlen, "%s is empty (JMeter ran no sample: see its log)", path);
        return TR_INVALID_ARGUMENT;
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        tr_errf(errbuf, errlen, "could not map %s: %s", path, strerror(errno));
        return TR_INTERNAL;
    }
    char inner[400];
    tr_err rc = jtl_parse(map, len, opt, codes, out, inner, sizeof inner);
    munmap(map, len);
    if (rc == TR_INVALID_ARGUMENT) tr_errf(errbuf, errlen, "%s: %s", path, inner);
    else if (rc != TR_OK) tr_errf(errbuf, errlen, "%s: %s", path, tr_strerror(rc));
    return rc;
}
