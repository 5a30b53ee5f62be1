/* conntrack.h — time bounds on receiving a request, per event loop: a header block must arrive
 * within one bound and a body within another, while an idle keep-alive connection keeps
 * libmicrohttpd's idle timeout; and a client that hangs up in the middle of a request has its
 * connection dropped at once. libmicrohttpd's own timeout is an idle timeout (any byte resets
 * it), so a client sending one byte every few seconds would hold a connection forever without
 * this. Not the idle timeout itself (MHD_OPTION_CONNECTION_TIMEOUT) nor --max-connections.
 *
 * A connection's phases: HEAD (from accept, or from the first byte after the previous request
 * completed, until the access handler's first call), BODY (until its final call), BUSY (the
 * request is being answered: no bound here) and IDLE (after a completed request, until a byte
 * arrives: libmicrohttpd's idle timeout only). A connection over its bound is shut down
 * (shutdown(2) SHUT_RDWR, no answer): libmicrohttpd then sees the end of the stream, closes the
 * socket and frees the connection itself. Everything runs on the thread of the loop that runs
 * the daemon (the callbacks come from MHD_run). */
#ifndef TR_HTTP_CONNTRACK_H
#define TR_HTTP_CONNTRACK_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

typedef struct conn_tracker conn_tracker;

/* header_ms, body_ms ≥ 1: the bounds. *out is set to NULL first. TR_NOMEM, or TR_INTERNAL when
 * the kernel refuses an epoll set. */
tr_err conn_tracker_new(int header_ms, int body_ms, conn_tracker **out);
/* After the daemon stopped (every connection closed). NULL is a no-op. */
void conn_tracker_free(conn_tracker *t);

/* From MHD_OPTION_NOTIFY_CONNECTION: STARTED starts tracking conn (its HEAD clock starts now),
 * storing the record in *socket_context; CLOSED stops it. */
void conn_tracker_notify(conn_tracker *t, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);

/* From the access handler: the first call of a request (its header block is in: BODY starts)
 * and its final call (the whole request is in: BUSY). No-ops for an untracked connection. */
void conn_track_headers_in(struct MHD_Connection *conn);
void conn_track_request_in(struct MHD_Connection *conn);
/* From MHD_OPTION_NOTIFY_COMPLETED: the answer was sent; IDLE until the next byte. */
void conn_track_completed(struct MHD_Connection *conn);

/* Once per loop pass, before MHD_run: notes which idle connections received bytes and which
 * peers hung up, and shuts down the connections over their bound. now_ms: CLOCK_MONOTONIC in
 * ms (the callbacks between two ticks use the last one). Returns
 * how many it shut down in this call. */
int conn_tracker_tick(conn_tracker *t, int64_t now_ms);

/* Connections shut down so far for being too slow (header or body) and for hanging up in the
 * middle of a request. Any thread (relaxed reads). */
typedef struct conn_tracker_stats {
    uint64_t header_cut, body_cut, hangup_cut;
} conn_tracker_stats;
void conn_tracker_stats_get(const conn_tracker *t, conn_tracker_stats *out);

#endif
