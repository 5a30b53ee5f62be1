/* conncheck.h — is an idle client connection still there? Used by the PostgreSQL and Redis
 * wrappers (store/) before they reuse a connection that sat idle, so the first call after a
 * server restart or a killed connection reconnects instead of failing. Not a health check of
 * the server itself. */
#ifndef TR_CONNCHECK_H
#define TR_CONNCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h" /* tr_coarse_ms, the clock of TR_IDLE_CHECK_MS */

/* How long (ms, tr_coarse_ms) a connection may sit idle before it is checked again. */
#define TR_IDLE_CHECK_MS 50

/* True when the socket fd of an idle client connection says the server went away: EOF, an
 * error, or bytes waiting (an idle session expects nothing, so they are the server's goodbye,
 * e.g. PostgreSQL's FATAL before it closes). Never blocks, reads nothing (MSG_PEEK). A negative
 * fd counts as gone. */
bool tr_idle_peer_gone(int fd);

#endif
