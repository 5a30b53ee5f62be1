/* response.h — the JSON bodies the API answers with (SPEC §2): errors, tickets, concerts,
 * a customer's outcome. Each returns a NUL-terminated string owned by the caller (free()),
 * or NULL when out of memory. Not the transport: server.c sends them. */
#ifndef TR_RESPONSE_H
#define TR_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "store/queries.h"
#include "strategy/strategy.h"

/* Formats µs since the epoch as RFC 3339 UTC with µs ("2026-11-29T14:08:43.123456Z").
 * buf needs 32 bytes. */
void http_format_time(int64_t us, char *buf, size_t len);

/* {"error": code, "message": message or tr_strerror(e)}; with a ticket for already_owned. A
 * message that is not valid UTF-8 is sent with its invalid bytes replaced by '?' (and cut to
 * 511 bytes), never refused. */
char *http_json_error(tr_err e, const char *message, const ticket *owned);
/* The ticket body: ticketId, concertId, customerId, customerName, seatNo, vip, issuedAt,
 * concertStartsAt. */
char *http_json_ticket(const ticket *t);
/* A concert with sold (= N − remaining) and remaining. */
char *http_json_concert(const concert *c);
/* A customer's outcome: {"concertId","customerId","status":"issued","ticket":{…}},
 * "status":"queued" with "position", "status":"rejected" with "reason" (a wire code), or
 * "status":"none". */
char *http_json_outcome(int64_t concert_id, int64_t customer_id, const outcome *o);
/* The 202 answer of a waiting line: {"status":"queued","concertId","customerId","position"}. */
char *http_json_queued(int64_t concert_id, int64_t customer_id, int64_t position);

#endif
