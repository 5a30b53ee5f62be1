/* faultproxy.h — the fault suite's TCP proxy (`ticketrush fault-proxy`): it stands between the
 * servers and one backend (Redis or PostgreSQL) on loopback and, on a command, adds delay, stalls
 * or cuts every proxied connection, since this kernel has no netem. Not a general proxy: one
 * backend, loopback only, no TLS awareness (bytes are forwarded as they are).
 *
 * Rule that the server relies on: when one side of a proxied connection closes or fails, the
 * other side is closed too at once. The proxy never keeps a client's connection open while it
 * connects to the backend again, so a client never sees one connection survive a backend restart.
 *
 * Control channel: a TCP port on 127.0.0.1, one command per line, one answer line each
 * ("ok ..." or "error: ..."):
 *   delay MS   every byte read from now on is forwarded MS ms later, in both directions
 *   stall MS   nothing is forwarded for MS ms (bytes are read and queued, up to a cap)
 *   cut        close every proxied connection, both sides, at once
 *   pass       no delay, no stall (bytes already queued keep their times)
 *   stats      "ok pairs=N delay_ms=D stall_left_ms=S cuts=C accepted=A" */
#ifndef TR_LAB_FAULTPROXY_H
#define TR_LAB_FAULTPROXY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define FP_QUEUE_CAP (1u << 20) /* bytes queued per direction before the proxy stops reading */
#define FP_MAX_DELAY_MS 600000
#define FP_MAX_STALL_MS 600000

/* Called once both listening sockets are bound (ports as bound, so 0 in the config can be
 * used), and for every event worth a log line (accept failures, commands, cuts). Both optional;
 * they run on the proxy's thread. */
typedef void (*fp_ready_fn)(void *arg, uint16_t listen_port, uint16_t control_port);
typedef void (*fp_log_fn)(void *arg, const char *line);

typedef struct fp_config {
    uint16_t listen_port;  /* on 127.0.0.1; 0 = any free port */
    uint16_t control_port; /* on 127.0.0.1; 0 = any free port */
    const char *to_host;   /* backend IPv4 address, e.g. "127.0.0.1" */
    uint16_t to_port;
    const volatile sig_atomic_t *stop; /* the loop returns TR_OK soon after *stop becomes 1 */
    fp_ready_fn ready;
    fp_log_fn log;
    void *arg; /* for ready and log */
} fp_config;

/* Runs the proxy until *cfg->stop. Errors: TR_INVALID_ARGUMENT (bad backend address),
 * TR_UNAVAILABLE (a port could not be bound), TR_INTERNAL (epoll), TR_NOMEM; errbuf says why.
 * Every socket it opened is closed when it returns. */
tr_err fp_run(const fp_config *cfg, char *errbuf, size_t errlen);

#endif
