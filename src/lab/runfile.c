/* runfile.c — run files behind runfile.h. The summary goes through jansson; the "requests"
 * rows are streamed on write and read row by row on read (jansson with JSON_DISABLE_EOF_CHECK),
 * so a million-request run never becomes a million-node tree. */
#include "lab/runfile.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lab/jscan.h"

bool lab_run_set_mark(lab_run *run, const char *key, const char *value) {
    if (key[0] == '\0' || strlen(key) >= RUN_MARK_KEY_LEN || strlen(value) >= RUN_MARK_VALUE_LEN)
        return false;
    int i = 0;
    while (i < run->nmarks && strcmp(run->marks[i].key, key) != 0) i++;
    if (i == RUN_MAX_MARKS) return false;
    if (i == run->nmarks) run->nmarks++;
    snprintf(run->marks[i].key, sizeof run->marks[i].key, "%s", key);
    snprintf(run->marks[i].value, sizeof run->marks[i].value, "%s", value);
    return true;
}

const char *lab_run_mark(const lab_run *run, const char *key) {
    for (int i = 0; i < run->nmarks; i++)
        if (strcmp(run->marks[i].key, key) == 0) return run->marks[i].value;
    return NULL;
}

void runfile_histograms_of(const lab_record *recs, size_t n, lab_hist *all, lab_hist *win,
                           lab_hist *lose) {
    lab_hist_init(all);
    lab_hist_init(win);
    lab_hist_init(lose);
    for (size_t i = 0; i < n; i++) {
        const lab_record *r = &recs[i];
        int64_t us = lab_record_latency_us(r);
        if (!lab_record_answered(r) || us < 0) continue;
        lab_hist_record(all, us);
        if (r->status == 201 || r->status == 202) lab_hist_record(win, us);
        else if (r->status == 409 || r->status == 503) lab_hist_record(lose, us);
    }
}

void runfile_histograms(lab_run *run) {
    runfile_histograms_of(run->records, run->nrecords, &run->lat_all, &run->lat_win,
                          &run->lat_lose);
    run->has_hist = true;
}

void lab_run_free_records(lab_run *run) {
    if (run == NULL) return;
    free(run->records);
    run->records = NULL;
    run->nrecords = 0;
}

void runfile_format_time(int64_t wall_us, char *buf, size_t len) {
    if (wall_us < 0) wall_us = 0;
    time_t s = (time_t)(wall_us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06dZ", base, (int)(wall_us % 1000000));
}

bool runfile_parse_time(const char *s, int64_t *wall_us) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL) return false;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
            frac = frac * 10 + (*p - '0');
        if (digits == 0) return false;
        for (; digits < 6; digits++) frac *= 10;
    }
    if (p[0] != 'Z' || p[1] != '\0') return false;
    time_t t = timegm(&tm);
    /* Before the epoch is refused, as timegm's error (-1) is: runfile_format_time writes such a
     * time as 1970-01-01, so a run read with it would not read back the same. */
    if (t < 0) return false;
    *wall_us = (int64_t)t * 1000000 + frac;
    return true;
}

/* --- write --------------------------------------------------------------------------- */

static int set_i(json_t *o, const char *k, int64_t v) {
    return json_object_set_new(o, k, json_integer((json_int_t)v));
}

static int set_i_or_null(json_t *o, const char *k, int64_t v) {
    return json_object_set_new(o, k, v < 0 ? json_null() : json_integer((json_int_t)v));
}

static json_t *rf_summary(const lab_run *run) {
    const audit_report *a = &run->audit;
    char started[40];
    runfile_format_time(run->started_wall_us, started, sizeof started);
    json_t *root = json_object(), *params = json_object(), *audit = json_object(),
           *lat = json_object(), *outcomes = json_object();
    if (!root || !params || !audit || !lat || !outcomes) goto fail;
    int bad = 0;
    bad |= set_i(root, "version", RUNFILE_VERSION);
    bad |= json_object_set_new(root, "strategy", json_string(run->strategy));
    bad |= json_object_set_new(root, "scenario", json_string(run->scenario));
    bad |= json_object_set_new(root, "schema", json_string(run->guarded ? "guarded" : "unguarded"));

    bad |= set_i(params, "tickets", run->params.tickets);
    bad |= set_i(params, "vip", run->params.vip);
    bad |= set_i(params, "customers", run->params.customers);
    bad |= set_i(params, "requests", run->params.requests);
    bad |= set_i(params, "vus", run->params.vus);
    bad |= set_i(params, "seed", run->params.seed);
    bad |= set_i(params, "concert_id", run->params.concert_id);
    bad |= json_object_set_new(params, "url", json_string(run->params.url));
    bad |= json_object_set(root, "params", params);

    bad |= json_object_set_new(root, "started_at", json_string(started));
    bad |= set_i(root, "duration_us", run->duration_us);
    bad |= set_i(root, "reconnects", run->reconnects);
    bad |= set_i(root, "retries", run->retries);

    bad |= set_i(audit, "total_seats", a->total_seats);
    bad |= set_i(audit, "vip_seats", a->vip_seats);
    bad |= set_i(audit, "remaining", a->remaining);
    bad |= set_i(audit, "tickets", a->tickets);
    bad |= set_i(audit, "oversold", a->oversold);
    bad |= set_i(audit, "duplicate_customers", a->duplicate_customers);
    bad |= set_i(audit, "seat_duplicates", a->seat_duplicates);
    bad |= set_i(audit, "seat_gaps", a->seat_gaps);
    bad |= set_i(audit, "seat_out_of_range", a->seat_out_of_range);
    bad |= set_i(audit, "seat_errors", a->seat_errors);
    bad |= set_i(audit, "vip_errors", a->vip_errors);
    bad |= set_i(audit, "sales_after_close", a->sales_after_close);
    bad |= set_i(audit, "fcfs_refused_beaten", a->fcfs_refused_beaten);
    bad |= set_i(audit, "fcfs_inverted", a->fcfs_inverted);
    bad |= set_i(audit, "fcfs_violations", a->fcfs_violations);
    bad |= set_i(audit, "lost", a->lost);
    bad |= set_i(audit, "phantom", a->phantom);
    bad |= set_i(audit, "count_drift", a->count_drift);
    bad |= set_i(audit, "contradicted", a->contradicted);
    bad |= set_i(audit, "phantom_unknown", a->phantom_unknown);
    bad |= set_i(audit, "queued_unissued", a->queued_unissued);
    bad |= set_i(audit, "requests", a->requests);
    bad |= set_i(audit, "answered", a->answered);
    bad |= set_i(audit, "acknowledged", a->acknowledged);
    bad |= set_i(audit, "queued", a->queued);
    bad |= json_object_set(root, "audit", audit);

    bad |= set_i(lat, "p50", a->latency.p50);
    bad |= set_i(lat, "p90", a->latency.p90);
    bad |= set_i(lat, "p99", a->latency.p99);
    bad |= set_i(lat, "max", a->latency.max);
    bad |= json_object_set(root, "latency_us", lat);

    for (int i = 0; i < a->noutcomes; i++)
        bad |= set_i(outcomes, a->outcomes[i].key, a->outcomes[i].count);
    bad |= json_object_set(root, "outcomes", outcomes);

    bad |= json_object_set_new(root, "requests_per_min", json_real(a->requests_per_min));
    bad |= json_object_set_new(root, "tickets_per_min", json_real(a->tickets_per_min));
    bad |= set_i_or_null(root, "sold_out_after_us", a->sold_out_after_us);
    bad |= set_i_or_null(root, "last_issued_after_us", a->last_issued_after_us);
    bad |= set_i_or_null(root, "drained_after_us", a->drained_after_us);
    if (run->has_hist) {
        json_t *h = json_object();
        bad |= h == NULL || json_object_set_new(root, "latency_hist_us", h);
        if (h) {
            json_t *all = lab_hist_to_json(&run->lat_all), *win = lab_hist_to_json(&run->lat_win),
                   *lose = lab_hist_to_json(&run->lat_lose);
            bad |= all == NULL || json_object_set_new(h, "all", all);
            bad |= win == NULL || json_object_set_new(h, "winners", win);
            bad |= lose == NULL || json_object_set_new(h, "losers", lose);
        }
    }
    if (run->open_loop.rate > 0) {
        const run_open_loop *o = &run->open_loop;
        json_t *ol = json_object();
        bad |= ol == NULL || json_object_set_new(root, "open_loop", ol);
        if (ol) {
            bad |= json_object_set_new(ol, "rate", json_real(o->rate));
            bad |= json_object_set_new(ol, "ramp_from", json_real(o->ramp_from));
            bad |= set_i(ol, "ramp_us", o->ramp_us);
            bad |= set_i(ol, "max_connections", o->max_connections);
            bad |= set_i(ol, "connections", o->connections);
            bad |= set_i(ol, "late_us", o->late_us);
            bad |= set_i(ol, "late", o->late);
            bad |= set_i(ol, "max_late_us", o->max_late_us);
            bad |= set_i(ol, "conn_waits", o->conn_waits);
        }
    }
    if (run->nconcerts > 0) {
        json_t *fest = json_object(), *rows = json_array();
        bad |= fest == NULL || rows == NULL || json_object_set_new(root, "festival", fest);
        if (fest && rows) {
            bad |= set_i(fest, "concerts", run->nconcerts);
            bad |= json_object_set_new(fest, "zipf_s", json_real(run->zipf_s));
            for (int32_t i = 0; i < run->nconcerts && i < RUN_MAX_CONCERTS; i++) {
                const audit_concert_row *c = &run->concerts[i];
                json_t *o = json_object();
                bad |= o == NULL || json_array_append_new(rows, o);
                if (o == NULL) break;
                bad |= set_i(o, "concert_id", c->concert_id);
                bad |= set_i(o, "total_seats", c->total_seats);
                bad |= set_i(o, "vip_seats", c->vip_seats);
                bad |= set_i(o, "remaining", c->remaining);
                bad |= set_i(o, "requests", c->requests);
                bad |= set_i(o, "answered", c->answered);
                bad |= set_i(o, "acknowledged", c->acknowledged);
                bad |= set_i(o, "queued", c->queued);
                bad |= set_i(o, "tickets", c->tickets);
                bad |= set_i(o, "oversold", c->oversold);
                bad |= set_i(o, "duplicate_customers", c->duplicate_customers);
                bad |= set_i(o, "seat_errors", c->seat_errors);
                bad |= set_i(o, "vip_errors", c->vip_errors);
                bad |= set_i(o, "sales_after_close", c->sales_after_close);
                bad |= set_i(o, "fcfs_violations", c->fcfs_violations);
                bad |= set_i(o, "lost", c->lost);
                bad |= set_i(o, "phantom", c->phantom);
                bad |= set_i(o, "count_drift", c->count_drift);
                bad |= set_i(o, "contradicted", c->contradicted);
                bad |= set_i(o, "phantom_unknown", c->phantom_unknown);
                bad |= set_i(o, "queued_unissued", c->queued_unissued);
                bad |= set_i_or_null(o, "sold_out_after_us", c->sold_out_after_us);
                bad |= set_i_or_null(o, "last_issued_after_us", c->last_issued_after_us);
            }
            bad |= json_object_set_new(fest, "per_concert", rows);
        } else {
            json_decref(rows);
        }
    }
    if (run->nmarks > 0) {
        json_t *marks = json_object();
        for (int i = 0; marks && i < run->nmarks; i++)
            bad |= json_object_set_new(marks, run->marks[i].key, json_string(run->marks[i].value));
        bad |= marks == NULL || json_object_set_new(root, "marks", marks);
    }
    if (bad) goto fail;
    json_decref(params);
    json_decref(audit);
    json_decref(lat);
    json_decref(outcomes);
    return root;
fail:
    json_decref(root);
    json_decref(params);
    json_decref(audit);
    json_decref(lat);
    json_decref(outcomes);
    return NULL;
}

tr_err runfile_mkdirs_for(const char *path, char *errbuf, size_t errlen) {
    char *dir = strdup(path);
    if (dir == NULL) return TR_NOMEM;
    char *slash = strrchr(dir, '/');
    tr_err rc = TR_OK;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == TR_OK; p++) {
            if (*p != '/' && *p != '\0') continue;
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                tr_errf(errbuf, errlen, "could not create the directory %s: %s", dir,
                        strerror(errno));
                rc = TR_INTERNAL;
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    free(dir);
    return rc;
}

tr_err runfile_write(const lab_run *run, const char *path, char *errbuf, size_t errlen) {
    tr_err rc = TR_OK;
    char *head = NULL, *tmp = NULL;
    FILE *f = NULL;
    json_t *root = rf_summary(run);
    if (root == NULL) return TR_NOMEM;
    head = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (head == NULL) return TR_NOMEM;
    /* The summary ends with "}": reopen it to append "requests" as the last member. */
    char *close = strrchr(head, '}');
    if (close == NULL) {
        rc = TR_INTERNAL;
        tr_errf(errbuf, errlen, "could not encode run file %s", path);
        goto out;
    }
    while (close > head && (close[-1] == '\n' || close[-1] == ' ')) close--;
    *close = '\0';
    size_t tlen = strlen(path) + 32;
    if ((tmp = malloc(tlen)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    if ((f = fopen(tmp, "w")) == NULL) {
        rc = TR_INTERNAL;
        tr_errf(errbuf, errlen, "could not create %s: %s", tmp, strerror(errno));
        goto out;
    }
    /* Code names need no JSON escaping: lab_codes_intern admits only [A-Za-z0-9_.-]. */
    fputs(head, f);
    fputs(",\n \"requests\": [", f);
    bool open = run->open_loop.rate > 0; /* rows carry sched_us */
    for (size_t i = 0; !open && i < run->nrecords; i++) open = run->records[i].scheduled;
    bool fest = false; /* rows carry their concert (after sched_us, -1 in a closed loop) */
    for (size_t i = 0; !fest && i < run->nrecords; i++) fest = run->records[i].concert_id > 0;
    for (size_t i = 0; i < run->nrecords; i++) {
        const lab_record *r = &run->records[i];
        fprintf(f, "%s\n  [%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId32 ",\"%s\",%" PRId32,
                i ? "," : "", r->customer_id, r->send_us, r->done_us, r->status,
                lab_codes_name(&run->codes, r->code), r->seat_no);
        if (open || fest) fprintf(f, ",%" PRId64, r->scheduled ? r->sched_us : -1);
        if (fest) fprintf(f, ",%" PRId64, r->concert_id);
        fputs("]", f);
    }
    fputs("\n ]\n}\n", f);
    if (fflush(f) != 0 || ferror(f)) {
        rc = TR_INTERNAL;
        tr_errf(errbuf, errlen, "could not write %s: %s", tmp, strerror(errno));
        goto out;
    }
    int cr = fclose(f);
    f = NULL;
    if (cr != 0) {
        rc = TR_INTERNAL;
        tr_errf(errbuf, errlen, "could not write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = TR_INTERNAL;
        tr_errf(errbuf, errlen, "could not rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
out:
    if (f) fclose(f);
    if (rc != TR_OK && tmp) unlink(tmp);
    free(tmp);
    free(head);
    return rc;
}

/* --- read ---------------------------------------------------------------------------- */

typedef struct rf_reader {
    const char *path;
    char *errbuf;
    size_t errlen;
    bool bad;
} rf_reader;

static void rf_bad(rf_reader *rd, const char *obj, const char *key, const char *want) {
    if (rd->bad) return; /* keep the first problem */
    rd->bad = true;
    tr_errf(rd->errbuf, rd->errlen, "run file %s: \"%s%s%s\" is missing or not %s", rd->path,
            obj ? obj : "", obj ? "." : "", key, want);
}

static int64_t rf_int(rf_reader *rd, json_t *o, const char *obj, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        rf_bad(rd, obj, key, "an integer");
        return 0;
    }
    return (int64_t)json_integer_value(v);
}

static int64_t rf_int_or_null(rf_reader *rd, json_t *o, const char *obj, const char *key) {
    json_t *v = json_object_get(o, key);
    if (json_is_null(v)) return -1;
    return rf_int(rd, o, obj, key);
}

static double rf_num(rf_reader *rd, json_t *o, const char *obj, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) {
        rf_bad(rd, obj, key, "a number");
        return 0;
    }
    return json_number_value(v);
}

static void rf_str(rf_reader *rd, json_t *o, const char *obj, const char *key, char *buf,
                   size_t len) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) >= len) {
        rf_bad(rd, obj, key, "a short string");
        buf[0] = '\0';
        return;
    }
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
}

static json_t *rf_obj(rf_reader *rd, json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_object(v)) {
        rf_bad(rd, NULL, key, "an object");
        return NULL;
    }
    return v;
}

/* The "festival" member: 1..RUN_MAX_CONCERTS concert rows, as many as "concerts" says. */
static void rf_festival_read(rf_reader *rd, json_t *fest, lab_run *out) {
    json_t *rows = json_object_get(fest, "per_concert");
    int64_t k = json_is_object(fest) ? rf_int(rd, fest, "festival", "concerts") : 0;
    if (!json_is_object(fest) || !json_is_array(rows) || k < 1 || k > RUN_MAX_CONCERTS ||
        json_array_size(rows) != (size_t)k) {
        rf_bad(rd, NULL, "festival",
               "an object with 1..100 \"concerts\" and as many \"per_concert\" rows");
        return;
    }
    out->zipf_s = rf_num(rd, fest, "festival", "zipf_s");
    out->nconcerts = (int32_t)k;
    for (size_t i = 0; i < (size_t)k && !rd->bad; i++) {
        json_t *o = json_array_get(rows, i);
        audit_concert_row *c = &out->concerts[i];
        if (!json_is_object(o)) {
            rf_bad(rd, "festival", "per_concert", "an array of objects");
            return;
        }
        const char *obj = "festival.per_concert";
        c->concert_id = rf_int(rd, o, obj, "concert_id");
        c->total_seats = (int32_t)rf_int(rd, o, obj, "total_seats");
        c->vip_seats = (int32_t)rf_int(rd, o, obj, "vip_seats");
        c->remaining = (int32_t)rf_int(rd, o, obj, "remaining");
        c->requests = rf_int(rd, o, obj, "requests");
        c->answered = rf_int(rd, o, obj, "answered");
        c->acknowledged = rf_int(rd, o, obj, "acknowledged");
        c->queued = rf_int(rd, o, obj, "queued");
        c->tickets = rf_int(rd, o, obj, "tickets");
        c->oversold = rf_int(rd, o, obj, "oversold");
        c->duplicate_customers = rf_int(rd, o, obj, "duplicate_customers");
        c->seat_errors = rf_int(rd, o, obj, "seat_errors");
        c->vip_errors = rf_int(rd, o, obj, "vip_errors");
        c->sales_after_close = rf_int(rd, o, obj, "sales_after_close");
        c->fcfs_violations = rf_int(rd, o, obj, "fcfs_violations");
        c->lost = rf_int(rd, o, obj, "lost");
        c->phantom = rf_int(rd, o, obj, "phantom");
        c->count_drift = rf_int(rd, o, obj, "count_drift");
        c->contradicted = rf_int(rd, o, obj, "contradicted");
        c->phantom_unknown = rf_int(rd, o, obj, "phantom_unknown");
        c->queued_unissued = rf_int(rd, o, obj, "queued_unissued");
        c->sold_out_after_us = rf_int_or_null(rd, o, obj, "sold_out_after_us");
        c->last_issued_after_us = rf_int_or_null(rd, o, obj, "last_issued_after_us");
    }
}

static void rf_summary_read(rf_reader *rd, json_t *root, lab_run *out) {
    audit_report *a = &out->audit;
    if (rf_int(rd, root, NULL, "version") != RUNFILE_VERSION && !rd->bad) {
        rd->bad = true;
        tr_errf(rd->errbuf, rd->errlen, "run file %s: version is not %d", rd->path,
                RUNFILE_VERSION);
        return;
    }
    rf_str(rd, root, NULL, "strategy", out->strategy, sizeof out->strategy);
    rf_str(rd, root, NULL, "scenario", out->scenario, sizeof out->scenario);
    char schema[16];
    rf_str(rd, root, NULL, "schema", schema, sizeof schema);
    out->guarded = strcmp(schema, "guarded") == 0;
    if (!rd->bad && !out->guarded && strcmp(schema, "unguarded") != 0)
        rf_bad(rd, NULL, "schema", "\"guarded\" or \"unguarded\"");

    json_t *p = rf_obj(rd, root, "params");
    if (p) {
        out->params.tickets = (int32_t)rf_int(rd, p, "params", "tickets");
        out->params.vip = (int32_t)rf_int(rd, p, "params", "vip");
        out->params.customers = rf_int(rd, p, "params", "customers");
        out->params.requests = rf_int(rd, p, "params", "requests");
        out->params.vus = (int32_t)rf_int(rd, p, "params", "vus");
        out->params.seed = rf_int(rd, p, "params", "seed");
        out->params.concert_id = rf_int(rd, p, "params", "concert_id");
        rf_str(rd, p, "params", "url", out->params.url, sizeof out->params.url);
    }
    char started[64];
    rf_str(rd, root, NULL, "started_at", started, sizeof started);
    if (!rd->bad && !runfile_parse_time(started, &out->started_wall_us))
        rf_bad(rd, NULL, "started_at", "an RFC 3339 UTC time");
    out->duration_us = rf_int(rd, root, NULL, "duration_us");
    out->reconnects = rf_int(rd, root, NULL, "reconnects");
    out->retries = json_object_get(root, "retries") ? rf_int(rd, root, NULL, "retries") : 0;

    json_t *au = rf_obj(rd, root, "audit");
    if (au) {
        a->total_seats = (int32_t)rf_int(rd, au, "audit", "total_seats");
        a->vip_seats = (int32_t)rf_int(rd, au, "audit", "vip_seats");
        a->remaining = (int32_t)rf_int(rd, au, "audit", "remaining");
        a->tickets = rf_int(rd, au, "audit", "tickets");
        a->oversold = rf_int(rd, au, "audit", "oversold");
        a->duplicate_customers = rf_int(rd, au, "audit", "duplicate_customers");
        a->seat_duplicates = rf_int(rd, au, "audit", "seat_duplicates");
        a->seat_gaps = rf_int(rd, au, "audit", "seat_gaps");
        a->seat_out_of_range = rf_int(rd, au, "audit", "seat_out_of_range");
        a->seat_errors = rf_int(rd, au, "audit", "seat_errors");
        a->vip_errors = rf_int(rd, au, "audit", "vip_errors");
        a->sales_after_close = rf_int(rd, au, "audit", "sales_after_close");
        a->fcfs_refused_beaten = rf_int(rd, au, "audit", "fcfs_refused_beaten");
        a->fcfs_inverted = rf_int(rd, au, "audit", "fcfs_inverted");
        a->fcfs_violations = rf_int(rd, au, "audit", "fcfs_violations");
        a->lost = rf_int(rd, au, "audit", "lost");
        a->phantom = rf_int(rd, au, "audit", "phantom");
        a->count_drift = rf_int(rd, au, "audit", "count_drift");
        a->requests = rf_int(rd, au, "audit", "requests");
        a->answered = rf_int(rd, au, "audit", "answered");
        a->acknowledged = rf_int(rd, au, "audit", "acknowledged");
        a->queued = rf_int(rd, au, "audit", "queued");
        /* added with the fault suite; 0 in older run files */
        a->contradicted =
            json_object_get(au, "contradicted") ? rf_int(rd, au, "audit", "contradicted") : 0;
        a->phantom_unknown =
            json_object_get(au, "phantom_unknown") ? rf_int(rd, au, "audit", "phantom_unknown") : 0;
        a->queued_unissued =
            json_object_get(au, "queued_unissued") ? rf_int(rd, au, "audit", "queued_unissued") : 0;
    }
    json_t *marks = json_object_get(root, "marks");
    if (json_is_object(marks)) {
        const char *key;
        json_t *v;
        out->nmarks = 0;
        json_object_foreach(marks, key, v) {
            if (json_is_string(v) && !lab_run_set_mark(out, key, json_string_value(v))) break;
        }
    }
    json_t *lat = rf_obj(rd, root, "latency_us");
    if (lat) {
        a->latency.p50 = rf_int(rd, lat, "latency_us", "p50");
        a->latency.p90 = rf_int(rd, lat, "latency_us", "p90");
        a->latency.p99 = rf_int(rd, lat, "latency_us", "p99");
        a->latency.max = rf_int(rd, lat, "latency_us", "max");
    }
    json_t *hist = json_object_get(root, "latency_hist_us");
    if (json_is_object(hist)) {
        char herr[256];
        const char *names[] = {"all", "winners", "losers"};
        lab_hist *dst[] = {&out->lat_all, &out->lat_win, &out->lat_lose};
        for (int k = 0; k < 3 && !rd->bad; k++) {
            if (lab_hist_from_json(json_object_get(hist, names[k]), dst[k], herr, sizeof herr) !=
                TR_OK) {
                rd->bad = true;
                tr_errf(rd->errbuf, rd->errlen, "run file %s: latency_hist_us.%s: %s", rd->path,
                        names[k], herr);
            }
        }
        out->has_hist = !rd->bad;
    }
    json_t *ol = json_object_get(root, "open_loop");
    if (json_is_object(ol)) {
        run_open_loop *o = &out->open_loop;
        o->rate = rf_num(rd, ol, "open_loop", "rate");
        o->ramp_from = rf_num(rd, ol, "open_loop", "ramp_from");
        o->ramp_us = rf_int(rd, ol, "open_loop", "ramp_us");
        o->max_connections = (int32_t)rf_int(rd, ol, "open_loop", "max_connections");
        o->connections = (int32_t)rf_int(rd, ol, "open_loop", "connections");
        o->late_us = rf_int(rd, ol, "open_loop", "late_us");
        o->late = rf_int(rd, ol, "open_loop", "late");
        o->max_late_us = rf_int(rd, ol, "open_loop", "max_late_us");
        o->conn_waits = rf_int(rd, ol, "open_loop", "conn_waits");
        if (!rd->bad && !(o->rate > 0)) rf_bad(rd, "open_loop", "rate", "a positive number");
    }
    json_t *fest = json_object_get(root, "festival");
    if (fest != NULL) rf_festival_read(rd, fest, out);
    json_t *oc = rf_obj(rd, root, "outcomes");
    if (oc) {
        const char *key;
        json_t *v;
        a->noutcomes = 0;
        json_object_foreach(oc, key, v) {
            if (a->noutcomes == AUDIT_MAX_OUTCOMES) break;
            if (!json_is_integer(v)) {
                rf_bad(rd, "outcomes", key, "an integer");
                break;
            }
            /* A longer key was never written (codes are at most LAB_CODE_MAX_LEN bytes); cut,
             * it could end inside a UTF-8 sequence or equal another key. */
            if (strlen(key) >= sizeof a->outcomes[0].key) {
                if (!rd->bad)
                    tr_errf(rd->errbuf, rd->errlen,
                            "run file %s: an \"outcomes\" key is longer "
                            "than %zu bytes",
                            rd->path, sizeof a->outcomes[0].key - 1);
                rd->bad = true;
                break;
            }
            audit_outcome *o = &a->outcomes[a->noutcomes++];
            snprintf(o->key, sizeof o->key, "%s", key);
            o->count = (int64_t)json_integer_value(v);
        }
    }
    a->requests_per_min = rf_num(rd, root, NULL, "requests_per_min");
    a->tickets_per_min = rf_num(rd, root, NULL, "tickets_per_min");
    a->sold_out_after_us = rf_int_or_null(rd, root, NULL, "sold_out_after_us");
    a->last_issued_after_us = rf_int_or_null(rd, root, NULL, "last_issued_after_us");
    a->drained_after_us = json_object_get(root, "drained_after_us")
                              ? rf_int_or_null(rd, root, NULL, "drained_after_us")
                              : -1;
}

static const char *rf_ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Parses the raw "requests" array [val, val+vlen) into out->records. */
static tr_err rf_rows_read(rf_reader *rd, const char *val, size_t vlen, lab_run *out) {
    const char *p = val, *e = val + vlen;
    size_t cap = 0;
    if (p >= e || *p != '[') goto bad;
    p = rf_ws(p + 1, e);
    if (p < e && *p == ']') return TR_OK;
    for (;;) {
        json_error_t jerr;
        json_t *row = json_loadb(p, (size_t)(e - p), JSON_DISABLE_EOF_CHECK, &jerr);
        if (row == NULL) goto bad;
        p += jerr.position;
        json_t *c = json_array_get(row, 4);
        size_t cols = json_array_size(row);
        bool ok = json_is_array(row) && cols >= 6 && cols <= 8 && json_is_string(c);
        for (size_t k = 0; ok && k < cols; k++)
            if (k != 4 && !json_is_integer(json_array_get(row, k))) ok = false;
        if (!ok) {
            json_decref(row);
            goto bad;
        }
        if (out->nrecords == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            lab_record *nr = realloc(out->records, ncap * sizeof *nr);
            if (nr == NULL) {
                json_decref(row);
                return TR_NOMEM;
            }
            out->records = nr;
            cap = ncap;
        }
        lab_record *r = &out->records[out->nrecords++];
        r->customer_id = (int64_t)json_integer_value(json_array_get(row, 0));
        r->send_us = (int64_t)json_integer_value(json_array_get(row, 1));
        r->done_us = (int64_t)json_integer_value(json_array_get(row, 2));
        r->status = (int32_t)json_integer_value(json_array_get(row, 3));
        r->code = lab_codes_intern(&out->codes, json_string_value(c), json_string_length(c));
        r->seat_no = (int32_t)json_integer_value(json_array_get(row, 5));
        r->retries = 0;
        r->sched_us = cols >= 7 ? (int64_t)json_integer_value(json_array_get(row, 6)) : 0;
        r->scheduled = cols >= 7 && r->sched_us >= 0;
        if (!r->scheduled) r->sched_us = 0;
        r->concert_id = cols == 8 ? (int64_t)json_integer_value(json_array_get(row, 7)) : 0;
        if (r->concert_id < 0) {
            json_decref(row);
            out->nrecords--;
            goto bad;
        }
        json_decref(row);
        p = rf_ws(p, e);
        if (p < e && *p == ']') return TR_OK;
        if (p >= e || *p != ',') goto bad;
        p = rf_ws(p + 1, e);
    }
bad:
    tr_errf(rd->errbuf, rd->errlen,
            "run file %s: request row %zu is not [customer, send_us, "
            "done_us, status, code, seat] (and sched_us, and a festival's concert)",
            rd->path, out->nrecords + 1);
    return TR_INVALID_ARGUMENT;
}

static tr_err rf_slurp(const char *path, char **buf, size_t *len, char *errbuf, size_t errlen) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        tr_errf(errbuf, errlen, "could not open %s: %s", path, strerror(errno));
        return TR_INTERNAL;
    }
    struct stat st;
    errno = 0;
    if (fstat(fileno(f), &st) != 0 || st.st_size > RUNFILE_MAX_BYTES) {
        tr_errf(errbuf, errlen, "could not read %s: %s", path,
                errno ? strerror(errno) : "larger than 4 GiB");
        fclose(f);
        return TR_INTERNAL;
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (b == NULL) {
        fclose(f);
        return TR_NOMEM;
    }
    size_t got = fread(b, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        tr_errf(errbuf, errlen, "could not read %s: short read", path);
        free(b);
        return TR_INTERNAL;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return TR_OK;
}

tr_err runfile_read(const char *path, bool with_records, lab_run *out, char *errbuf,
                    size_t errlen) {
    rf_reader rd = {.path = path, .errbuf = errbuf, .errlen = errlen};
    char *buf = NULL, *head = NULL;
    size_t len = 0;
    json_t *root = NULL;
    memset(out, 0, sizeof *out);
    tr_err rc = rf_slurp(path, &buf, &len, errbuf, errlen);
    if (rc != TR_OK) return rc;

    /* Find the "requests" value and parse everything else with jansson, the rows apart. */
    jscan s;
    const char *k, *v, *rows = NULL;
    size_t klen, vlen, rows_len = 0;
    int m = -1;
    if (jscan_begin(&s, buf, len)) {
        while ((m = jscan_member(&s, &k, &klen, &v, &vlen)) == 1) {
            if (jscan_key_is(k, klen, "requests")) {
                rows = v;
                rows_len = vlen;
            }
        }
    }
    if (m != 0 || rows == NULL) {
        tr_errf(errbuf, errlen, "run file %s: not a JSON object with a \"requests\" member", path);
        rc = TR_INVALID_ARGUMENT;
        goto out;
    }
    size_t pre = (size_t)(rows - buf), post = len - pre - rows_len;
    if ((head = malloc(pre + 2 + post)) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    memcpy(head, buf, pre);
    memcpy(head + pre, "[]", 2);
    memcpy(head + pre + 2, rows + rows_len, post);
    json_error_t jerr;
    root = json_loadb(head, pre + 2 + post, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        tr_errf(errbuf, errlen, "run file %s: invalid JSON: %s", path,
                root ? "not an object" : jerr.text);
        rc = TR_INVALID_ARGUMENT;
        goto out;
    }
    rf_summary_read(&rd, root, out);
    if (rd.bad) {
        rc = TR_INVALID_ARGUMENT;
        goto out;
    }
    if (with_records) rc = rf_rows_read(&rd, rows, rows_len, out);
out:
    if (rc != TR_OK) lab_run_free_records(out);
    json_decref(root);
    free(head);
    free(buf);
    return rc;
}
