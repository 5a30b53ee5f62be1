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

/* true when s is a non-empty token (RFC 9110 §5.6.2: 1*tchar), as a method must be (§9.1). */
bool http_is_token(const char *s);

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

/* One header field line as received: its name and value, as byte ranges that need not be NUL-terminated and may hold any byte. */
typedef struct http_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} http_field;

/* Decides whether a request's framing is unambiguous (RFC 9112), from its HTTP version and every
 * header field line in the order received (duplicates included). Pure: no I/O, no allocation,
 * reads only the n fields (fields may be NULL when n is 0); safe on any bytes, for fuzzing.
 *
 * version: "HTTP/1.0" is HTTP/1.0; anything else (libmicrohttpd passes only HTTP/1.x versions
 * it accepts) follows HTTP/1.1's rules. Names compare case-insensitively. Values are judged as
 * given: libmicrohttpd removes the whitespace before a value but keeps the whitespace after it,
 * and since it would not frame "chunked " as chunked, whitespace left around a Content-Length
 * or Transfer-Encoding value makes it invalid here too (Host's trailing whitespace is ignored).
 *
 * Returns TR_OK when the message is framed the one way libmicrohttpd frames it too: no body,
 * exactly one Content-Length of 1*DIGIT, or exactly one Transfer-Encoding field whose value is
 * "chunked" (any case). Otherwise, with one sentence for a person in why (whylen bytes at most,
 * NUL-terminated, plain ASCII: it never quotes the input), and the connection must be closed
 * after the answer:
 *   TR_BAD_REQUEST (400)
 *     - a field name that is not a token (RFC 9110 §5.1), e.g. whitespace before the colon
 *       (RFC 9112 §5.1), or a value holding CR or LF (RFC 9110 §5.5);
 *     - Transfer-Encoding together with Content-Length (RFC 9112 §6.1);
 *     - Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1);
 *     - Transfer-Encoding whose final coding is not chunked, chunked more than once, a
 *       malformed coding list, or the codings spread over several Transfer-Encoding fields
 *       (RFC 9112 §6.3 item 4: the body length cannot be determined);
 *     - several Content-Length fields or a value that is not 1*DIGIT ("1, 1", "+5", "-1", "5x",
 *       "") (RFC 9112 §6.3 item 5);
 *     - HTTP/1.1 without Host, several Host fields, or a Host value with bytes no
 *       uri-host[:port] holds (RFC 9112 §3.2);
 *   TR_NOT_IMPLEMENTED (501): a transfer coding other than chunked before the final chunked
 *     ("gzip, chunked"; RFC 9112 §6.1: a coding the server does not understand).
 * The first problem found, in that order, is the one reported. */
tr_err http_check_framing(const char *version, const http_field *fields, size_t n, char *why,
                          size_t whylen);

/* Copies the NUL-terminated s (NULL reads as "") into out (outlen bytes, NUL-terminated; 0 is a
 * no-op) so that the result is valid UTF-8 whatever s holds: at most max_bytes and outlen − 1
 * bytes, cut on a character boundary and then ending in "…" (counted in those bytes) when
 * something was cut, and each byte that is not part of a valid UTF-8
 * sequence replaced by '?'. For messages that quote input (a JSON string must be UTF-8, and a
 * message jansson cannot encode would turn a 400 into a 500). Returns out. */
char *http_quote_utf8(const char *s, size_t max_bytes, char *out, size_t outlen);

/* Whether the len bytes at s are valid UTF-8 (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF). */
bool http_utf8_valid(const char *s, size_t len);

#endif
