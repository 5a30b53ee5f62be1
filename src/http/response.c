/* response.c — JSON bodies behind response.h, built with jansson. */
#include "http/response.h"

#include "http/request.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void http_format_time(int64_t us, char *buf, size_t len) {
    time_t secs = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    long frac = (long)(us - (int64_t)secs * 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    if (n < 0 && len > 0) buf[0] = '\0'; /* a short buf keeps the prefix that fits */
}

static char *dump(json_t *j) {
    if (j == NULL) return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static json_t *ticket_obj(const ticket *t) {
    char issued[40], starts[40];
    http_format_time(t->issued_at_us, issued, sizeof issued);
    http_format_time(t->concert_starts_at_us, starts, sizeof starts);
    return json_pack("{s:I, s:I, s:I, s:s, s:i, s:b, s:s, s:s}", "ticketId",
                     (json_int_t)t->ticket_id, "concertId", (json_int_t)t->concert_id, "customerId",
                     (json_int_t)t->customer_id, "customerName", t->customer_name, "seatNo",
                     (int)t->seat_no, "vip", (int)t->vip, "issuedAt", issued, "concertStartsAt",
                     starts);
}

char *http_json_error(tr_err e, const char *message, const ticket *owned) {
    /* A message that quotes input and is not UTF-8 would make json_pack fail, and the answer a
     * 500; its bytes are replaced instead (request.h http_quote_utf8). */
    char clean[512];
    if (message && !http_utf8_valid(message, strlen(message)))
        message = http_quote_utf8(message, sizeof clean - 1, clean, sizeof clean);
    json_t *j = json_pack("{s:s, s:s}", "error", tr_err_code(e), "message",
                          message ? message : tr_strerror(e));
    if (j && owned) json_object_set_new(j, "ticket", ticket_obj(owned));
    return dump(j);
}

char *http_json_ticket(const ticket *t) { return dump(ticket_obj(t)); }

char *http_json_concert(const concert *c) {
    char starts[40];
    http_format_time(c->starts_at_us, starts, sizeof starts);
    return dump(json_pack("{s:I, s:s, s:s, s:i, s:i, s:i, s:i}", "id", (json_int_t)c->id, "name",
                          c->name, "startsAt", starts, "totalSeats", (int)c->total_seats,
                          "vipSeats", (int)c->vip_seats, "sold",
                          (int)(c->total_seats - c->remaining), "remaining", (int)c->remaining));
}

char *http_json_outcome(int64_t concert_id, int64_t customer_id, const outcome *o) {
    static const char *const names[] = {"none", "issued", "queued", "rejected"};
    json_t *j = json_pack("{s:I, s:I, s:s}", "concertId", (json_int_t)concert_id, "customerId",
                          (json_int_t)customer_id, "status", names[o->status]);
    if (j == NULL) return NULL;
    if (o->status == OUTCOME_ISSUED) json_object_set_new(j, "ticket", ticket_obj(&o->t));
    if (o->status == OUTCOME_QUEUED)
        json_object_set_new(j, "position", json_integer((json_int_t)o->position));
    if (o->status == OUTCOME_REJECTED)
        json_object_set_new(j, "reason", json_string(tr_err_code(o->reason)));
    return dump(j);
}

char *http_json_queued(int64_t concert_id, int64_t customer_id, int64_t position) {
    return dump(json_pack("{s:s, s:I, s:I, s:I}", "status", "queued", "concertId",
                          (json_int_t)concert_id, "customerId", (json_int_t)customer_id, "position",
                          (json_int_t)position));
}
