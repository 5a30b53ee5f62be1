/* request.h — validation of what a client sends: the purchase body, ids in paths, content type,
 * and path matching against the route patterns. Pure functions with no I/O, so unit tests pin
 * them. Not the server loop (server.c) nor the JSON we answer with (response.h). */
#ifndef TR_REQUEST_H
#define TR_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define HTTP_MAX_BODY 4096    /* bytes; larger bodies get 413 payload_too_large (SPEC §2) */
#define HTTP_MAX_HEADERS 8192 /* bytes of header names and values; larger get 431 */
/* libmicrohttpd's per-connection memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT): it holds the
 * request line, the headers and the read buffer, so it must exceed HTTP_MAX_HEADERS for our JSON
 * 431 to be reached; libmicrohttpd zeroes it for every request on a keep-alive connection, so it
 * is no larger than that needs (24 KiB: 100 headers of 100 bytes still reach our 431). */
#define HTTP_CONN_MEMORY (24 * 1024)

/* Parses the purchase body {"customerId": <int64 > 0>, "concertId": <int64 > 0>} (SPEC §2).
 * Exactly those two keys, once each, integer JSON numbers in 1..2^63−1, nothing after the object.
 * TR_OK, or TR_BAD_REQUEST with a one-sentence reason in why (whylen bytes at most). */
tr_err http_parse_purchase(const char *body, size_t len, int64_t *concert_id, int64_t *customer_id,
                           char *why, size_t whylen);

/* Parses a decimal id in 1..2^63−1 with no sign, spaces or leading zeros. */
bool http_parse_id(const char *s, size_t len, int64_t *out);

struct MHD_Connection;

/* libmicrohttpd's URI unescaper (MHD_OPTION_UNESCAPE_CALLBACK): decodes %HH in place, except
 * %00 and %2F, which stay as written — decoded, %00 would end the path early ("/concerts/1%00"
 * read as "/concerts/1") and %2F would add a path separator; kept, the path matches no route or
 * id (404 or 400). Returns the new length. */
size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* true for "application/json", any case, optionally followed by parameters ("; charset=utf-8");
 * a charset other than UTF-8 is false (SPEC §2: JSON in UTF-8), as is any other media type. */
bool http_content_type_is_json(const char *value);

/* Matches a path against a pattern whose segments are literals or "{id}"
 * ("/concerts/{id}/tickets/{id}"). Returns 1 on a match (ids[] filled, up to maxids),
 * 0 when the shape differs, -1 when the shape matches but an {id} segment is not a valid id. */
int http_match_path(const char *path, const char *pattern, int64_t *ids, int maxids);

#endif
