/* table.c — the comparison table behind table.h. */
#include "lab/table.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { TB_COLS = 18, TB_CELL = 72, TB_ERRORS = 512, TB_WIN = 15, TB_LOSE = 16 };

static const char *const tb_head[TB_COLS] = {
    "strategy", "schema",  "req/min",     "tickets",    "oversold",    "dup cust",
    "seat err", "VIP err", "after close", "FCFS viol",  "lost",        "phantom",
    "drift",    "p50 ms",  "p99 ms",      "win p99 ms", "lose p99 ms", "errors by code"};

/* The winners' and losers' p99 columns appear only when a run is open-loop. */
static bool tb_shown(int col, bool open) { return open || (col != TB_WIN && col != TB_LOSE); }

/* Left-aligned columns; the others are numbers, right-aligned. */
static int tb_left(int col) { return col == 0 || col == 1 || col == TB_COLS - 1; }

typedef struct tb_row {
    char cell[TB_COLS - 1][TB_CELL];
    char errors[TB_ERRORS];
} tb_row;

static const char *tb_get(const tb_row *r, int col) {
    return col == TB_COLS - 1 ? r->errors : r->cell[col];
}

static void tb_ms(char *buf, int64_t us) {
    if (us < 0) snprintf(buf, TB_CELL, "-");
    else snprintf(buf, TB_CELL, "%.2f", (double)us / 1000.0);
}

static void tb_i(char *buf, int64_t v) { snprintf(buf, TB_CELL, "%" PRId64, v); }

static int tb_is_success(const char *key) {
    return strlen(key) == 3 && key[0] == '2' && key[1] >= '0' && key[1] <= '9' && key[2] >= '0' &&
           key[2] <= '9';
}

static void tb_fill(tb_row *row, const lab_run *run) {
    const audit_report *a = &run->audit;
    snprintf(row->cell[0], TB_CELL, "%s", run->strategy);
    snprintf(row->cell[1], TB_CELL, "%s", run->guarded ? "guarded" : "unguarded");
    snprintf(row->cell[2], TB_CELL, "%.0f", a->requests_per_min);
    tb_i(row->cell[3], a->tickets);
    tb_i(row->cell[4], a->oversold);
    tb_i(row->cell[5], a->duplicate_customers);
    tb_i(row->cell[6], a->seat_errors);
    tb_i(row->cell[7], a->vip_errors);
    tb_i(row->cell[8], a->sales_after_close);
    tb_i(row->cell[9], a->fcfs_violations);
    tb_i(row->cell[10], a->lost);
    tb_i(row->cell[11], a->phantom);
    tb_i(row->cell[12], a->count_drift);
    tb_ms(row->cell[13], a->latency.p50);
    tb_ms(row->cell[14], a->latency.p99);
    bool open = run->open_loop.rate > 0 && run->has_hist;
    tb_ms(row->cell[TB_WIN], open ? lab_hist_percentile(&run->lat_win, 99) : -1);
    tb_ms(row->cell[TB_LOSE], open ? lab_hist_percentile(&run->lat_lose, 99) : -1);
    size_t off = 0;
    row->errors[0] = '\0';
    for (int i = 0; i < a->noutcomes; i++) {
        const audit_outcome *o = &a->outcomes[i];
        if (tb_is_success(o->key)) continue;
        int w = snprintf(row->errors + off, sizeof row->errors - off, "%s%s=%" PRId64,
                         off ? " " : "", o->key, o->count);
        if (w < 0 || (size_t)w >= sizeof row->errors - off) {
            row->errors[off] = '\0'; /* drop the entry that does not fit, say so */
            if (off + 4 < sizeof row->errors) memcpy(row->errors + off, " ...", 5);
            break;
        }
        off += (size_t)w;
    }
    if (off == 0) snprintf(row->errors, sizeof row->errors, "-");
}

/* A festival's headliner under its run's totals: its own audit, no latency of its own. */
static void tb_fill_headliner(tb_row *row, const lab_run *run) {
    const audit_concert_row *c = &run->concerts[0];
    snprintf(row->cell[0], TB_CELL, "  headliner %" PRId64, c->concert_id);
    snprintf(row->cell[1], TB_CELL, "%s", "");
    snprintf(row->cell[2], TB_CELL, "-");
    tb_i(row->cell[3], c->tickets);
    tb_i(row->cell[4], c->oversold);
    tb_i(row->cell[5], c->duplicate_customers);
    tb_i(row->cell[6], c->seat_errors);
    tb_i(row->cell[7], c->vip_errors);
    tb_i(row->cell[8], c->sales_after_close);
    tb_i(row->cell[9], c->fcfs_violations);
    tb_i(row->cell[10], c->lost);
    tb_i(row->cell[11], c->phantom);
    tb_i(row->cell[12], c->count_drift);
    for (int col = 13; col <= TB_LOSE; col++) snprintf(row->cell[col], TB_CELL, "-");
    snprintf(row->errors, sizeof row->errors, "%" PRId64 " of %" PRId64 " requests", c->requests,
             run->audit.requests);
}

void table_festival_summary(const lab_run *run, table_festival *out) {
    *out = (table_festival){.concerts = run->nconcerts};
    for (int32_t i = 0; i < run->nconcerts && i < RUN_MAX_CONCERTS; i++) {
        const audit_concert_row *c = &run->concerts[i];
        out->clean += !audit_concert_row_has_anomalies(c);
        out->sold_out += c->total_seats > 0 && c->tickets >= c->total_seats;
        out->seats += c->total_seats;
        out->tickets += c->tickets;
    }
}

tr_err table_write(FILE *f, const lab_run *runs, size_t n) {
    size_t nrows = n;
    for (size_t i = 0; i < n; i++) nrows += runs[i].nconcerts > 0;
    tb_row *rows = calloc(nrows + 1, sizeof *rows);
    if (rows == NULL) return TR_NOMEM;
    for (int c = 0; c < TB_COLS - 1; c++) snprintf(rows[0].cell[c], TB_CELL, "%s", tb_head[c]);
    snprintf(rows[0].errors, sizeof rows[0].errors, "%s", tb_head[TB_COLS - 1]);
    bool open = false;
    size_t at = 1;
    for (size_t i = 0; i < n; i++) {
        tb_fill(&rows[at++], &runs[i]);
        if (runs[i].nconcerts > 0) tb_fill_headliner(&rows[at++], &runs[i]);
        open |= runs[i].open_loop.rate > 0;
    }
    size_t nruns = n;
    n = nrows;

    int width[TB_COLS] = {0};
    for (size_t i = 0; i <= n; i++)
        for (int c = 0; c < TB_COLS; c++) {
            int w = (int)strlen(tb_get(&rows[i], c));
            if (w > width[c]) width[c] = w;
        }
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        for (int c = 0; c < TB_COLS; c++) {
            if (!tb_shown(c, open)) continue;
            const char *sep = c ? "  " : "", *cell = tb_get(&rows[i], c);
            if (c == TB_COLS - 1) bad |= fprintf(f, "%s%s\n", sep, cell) < 0;
            else if (tb_left(c)) bad |= fprintf(f, "%s%-*s", sep, width[c], cell) < 0;
            else bad |= fprintf(f, "%s%*s", sep, width[c], cell) < 0;
        }
    }
    free(rows);
    for (size_t i = 0; i < nruns; i++) {
        if (runs[i].nconcerts == 0) continue;
        table_festival t;
        table_festival_summary(&runs[i], &t);
        bad |= fprintf(f,
                       "festival %s: %" PRId32 " of %" PRId32 " concerts clean (R1-R8), %" PRId32
                       " sold out, %" PRId64 " of %" PRId64 " seats sold\n",
                       runs[i].strategy, t.clean, t.concerts, t.sold_out, t.tickets, t.seats) < 0;
    }
    return bad || ferror(f) ? TR_INTERNAL : TR_OK;
}

/* --- the latency table ------------------------------------------------------------- */

enum { TL_COLS = 15 };

static const char *const tl_head[TL_COLS] = {
    "strategy",    "offered/s",   "answered/s",    "late",       "p50 ms",
    "p99 ms",      "p99.9 ms",    "win p50 ms",    "win p99 ms", "win p99.9 ms",
    "lose p50 ms", "lose p99 ms", "lose p99.9 ms", "p99.99 ms",  "max ms"};

tr_err table_write_latency(FILE *f, const lab_run *runs, size_t n) {
    char(*cells)[TL_COLS][TB_CELL] = calloc(n + 1, sizeof *cells);
    if (cells == NULL) return TR_NOMEM;
    for (int c = 0; c < TL_COLS; c++) snprintf(cells[0][c], TB_CELL, "%s", tl_head[c]);
    for (size_t i = 0; i < n; i++) {
        const lab_run *r = &runs[i];
        char(*row)[TB_CELL] = cells[i + 1];
        snprintf(row[0], TB_CELL, "%s", r->strategy);
        if (r->open_loop.rate > 0) snprintf(row[1], TB_CELL, "%.0f", r->open_loop.rate);
        else snprintf(row[1], TB_CELL, "-");
        snprintf(row[2], TB_CELL, "%.0f", r->audit.requests_per_min / 60);
        if (r->open_loop.rate > 0) tb_i(row[3], r->open_loop.late);
        else snprintf(row[3], TB_CELL, "-");
        const lab_hist *h[3] = {&r->lat_all, &r->lat_win, &r->lat_lose};
        const double ps[3] = {50, 99, 99.9};
        for (int k = 0; k < 3; k++)
            for (int q = 0; q < 3; q++)
                tb_ms(row[4 + 3 * k + q], r->has_hist ? lab_hist_percentile(h[k], ps[q]) : -1);
        tb_ms(row[13], r->has_hist ? lab_hist_percentile(&r->lat_all, 99.99) : -1);
        tb_ms(row[14], r->has_hist ? lab_hist_percentile(&r->lat_all, 100) : -1);
    }
    int width[TL_COLS] = {0};
    for (size_t i = 0; i <= n; i++)
        for (int c = 0; c < TL_COLS; c++) {
            int w = (int)strlen(cells[i][c]);
            if (w > width[c]) width[c] = w;
        }
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        for (int c = 0; c < TL_COLS; c++)
            bad |= fprintf(f, c ? "  %*s" : "%-*s", width[c], cells[i][c]) < 0;
        bad |= fputc('\n', f) == EOF;
    }
    free(cells);
    return bad || ferror(f) ? TR_INTERNAL : TR_OK;
}

/* --- latency over time ---------------------------------------------------------------- */

typedef struct tt_item {
    int64_t window; /* due time / bucket */
    int64_t lat_us; /* -1: no answer time */
    bool answered, win, late;
} tt_item;

static int tt_cmp(const void *a, const void *b) {
    const tt_item *x = a, *y = b;
    if (x->window != y->window) return x->window < y->window ? -1 : 1;
    return (x->lat_us > y->lat_us) - (x->lat_us < y->lat_us);
}

tr_err table_write_timeline(FILE *f, const lab_run *run, int64_t bucket_us) {
    if (bucket_us < 1000 || bucket_us > 3600 * INT64_C(1000000) || run->records == NULL)
        return TR_INVALID_ARGUMENT;
    bool open = run->open_loop.rate > 0;
    tt_item *it = malloc(sizeof *it * (run->nrecords ? run->nrecords : 1));
    int64_t *lat = malloc(sizeof *lat * (run->nrecords ? run->nrecords : 1)); /* one window's */
    if (it == NULL || lat == NULL) {
        free(it);
        free(lat);
        return TR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < run->nrecords; i++) {
        const lab_record *r = &run->records[i];
        int64_t due = r->scheduled ? r->sched_us : r->send_us;
        if (due < 0) continue; /* never sent (a closed loop's time limit) */
        it[n++] = (tt_item){.window = due / bucket_us,
                            .lat_us = lab_record_answered(r) ? lab_record_latency_us(r) : -1,
                            .answered = lab_record_answered(r),
                            .win = r->status == 201 || r->status == 202,
                            .late = r->scheduled && r->send_us >= 0 &&
                                    r->send_us - r->sched_us > run->open_loop.late_us};
    }
    qsort(it, n, sizeof *it, tt_cmp);
    int bad = fprintf(f, "%8s  %8s  %8s  %8s  %8s  %9s  %9s  %9s\n", "from s", "requests",
                      "answered", "win", "late", "p50 ms", "p99 ms", "max ms") < 0;
    for (size_t i = 0; i < n && !bad;) {
        size_t j = i, answered = 0, win = 0, late = 0, timed = 0;
        for (; j < n && it[j].window == it[i].window; j++) {
            answered += it[j].answered;
            win += it[j].win;
            late += it[j].late;
            if (it[j].lat_us >= 0) lat[timed++] = it[j].lat_us; /* sorted: the window's order */
        }
        char p50[TB_CELL], p99[TB_CELL], max[TB_CELL], lt[TB_CELL];
        tb_ms(p50, audit_percentile(lat, timed, 50)); /* -1 ("-") without answers */
        tb_ms(p99, audit_percentile(lat, timed, 99));
        tb_ms(max, audit_percentile(lat, timed, 100));
        if (open) tb_i(lt, (int64_t)late);
        else snprintf(lt, sizeof lt, "-");
        bad |= fprintf(f, "%8.2f  %8zu  %8zu  %8zu  %8s  %9s  %9s  %9s\n",
                       (double)(it[i].window * bucket_us) / 1e6, j - i, answered, win, lt, p50, p99,
                       max) < 0;
        i = j;
    }
    free(it);
    free(lat);
    return bad || ferror(f) ? TR_INTERNAL : TR_OK;
}

tr_err table_format(const lab_run *runs, size_t n, char **out) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return TR_NOMEM;
    tr_err rc = table_write(f, runs, n);
    if (fclose(f) != 0 && rc == TR_OK) rc = TR_NOMEM;
    if (rc != TR_OK) {
        free(buf);
        return rc == TR_INTERNAL ? TR_NOMEM : rc;
    }
    *out = buf;
    return TR_OK;
}

/* --- a festival's concerts ---------------------------------------------------------- */

/* "R1 R3" — the rules a concert row breaks; "-" when none. */
static void tb_rules(const audit_concert_row *c, char *buf, size_t len) {
    struct {
        const char *rule;
        int64_t v;
    } r[] = {{"R1", c->oversold},          {"R2", c->duplicate_customers},
             {"R3", c->seat_errors},       {"R4", c->vip_errors},
             {"R5", c->sales_after_close}, {"R6", c->fcfs_violations},
             {"R7", c->lost + c->phantom}, {"R8", c->count_drift}};
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        if (r[i].v == 0) continue;
        int w = snprintf(buf + off, len - off, "%s%s=%" PRId64, off ? " " : "", r[i].rule, r[i].v);
        if (w < 0 || (size_t)w >= len - off) break;
        off += (size_t)w;
    }
    if (off == 0) snprintf(buf, len, "-");
}

tr_err table_write_concerts(FILE *f, const lab_run *run) {
    int bad = 0;
    if (run->nconcerts <= 0) {
        bad |= fprintf(f, "%s: not a festival run (one concert, %" PRId64 ")\n", run->strategy,
                       run->params.concert_id) < 0;
        return bad || ferror(f) ? TR_INTERNAL : TR_OK;
    }
    bad |=
        fprintf(f, "%s, %s: %" PRId32 " concerts (Zipf s = %.2f), %" PRId64 " requests\n",
                run->strategy, run->scenario, run->nconcerts, run->zipf_s, run->audit.requests) < 0;
    bad |= fprintf(f, "%8s  %6s  %8s  %11s  %9s  %7s  %7s  %9s  %s\n", "concert", "share",
                   "requests", "sold/seats", "sold out", "201", "202", "anomalies", "rules") < 0;
    for (int32_t i = 0; i < run->nconcerts && i < RUN_MAX_CONCERTS; i++) {
        const audit_concert_row *c = &run->concerts[i];
        char sold[32], after[24], rules[128];
        snprintf(sold, sizeof sold, "%" PRId64 "/%" PRId32, c->tickets, c->total_seats);
        if (c->sold_out_after_us < 0) snprintf(after, sizeof after, "-");
        else snprintf(after, sizeof after, "%.2f s", (double)c->sold_out_after_us / 1e6);
        int64_t anomalies = c->oversold + c->duplicate_customers + c->seat_errors + c->vip_errors +
                            c->sales_after_close + c->fcfs_violations + c->lost + c->phantom +
                            (c->count_drift < 0 ? -c->count_drift : c->count_drift);
        tb_rules(c, rules, sizeof rules);
        double share =
            run->audit.requests > 0 ? 100.0 * (double)c->requests / (double)run->audit.requests : 0;
        bad |= fprintf(f,
                       "%8" PRId64 "  %5.1f%%  %8" PRId64 "  %11s  %9s  %7" PRId64 "  %7" PRId64
                       "  %9" PRId64 "  %s\n",
                       c->concert_id, share, c->requests, sold, after, c->acknowledged, c->queued,
                       anomalies, rules) < 0;
    }
    table_festival t;
    table_festival_summary(run, &t);
    bad |= fprintf(f,
                   "total: %" PRId32 " of %" PRId32 " concerts clean, %" PRId32
                   " sold out, %" PRId64 " of %" PRId64 " seats sold\n",
                   t.clean, t.concerts, t.sold_out, t.tickets, t.seats) < 0;
    return bad || ferror(f) ? TR_INTERNAL : TR_OK;
}
