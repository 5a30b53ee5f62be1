/* pg.h — a PostgreSQL connection (libpq) with a sticky error, lazy prepared statements and
 * reconnect-on-loss. One pg_conn belongs to one thread at a time; it is not a pool.
 * Not an ORM: callers write their SQL and read PGresult themselves. */
#ifndef TR_PG_H
#define TR_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* SQLSTATE codes we branch on (PostgreSQL docs, Appendix A "Error Codes"). */
#define PG_SQLSTATE_UNIQUE_VIOLATION "23505"
#define PG_SQLSTATE_FOREIGN_KEY_VIOLATION "23503"
#define PG_SQLSTATE_CHECK_VIOLATION "23514"
#define PG_SQLSTATE_QUERY_CANCELED "57014"

typedef struct pg_conn pg_conn;

/* A statement prepared on first use on each connection. Define as `static const` in the
 * file that owns the SQL; the address is the identity. nparams ≤ 16. */
typedef struct pg_stmt {
    const char *name; /* unique across the program, e.g. "db_atomic_purchase" */
    const char *sql;
    int nparams;
} pg_stmt;

/* Connects with a libpq conninfo string ("host=127.0.0.1 port=55432 dbname=ticketrush user=postgres").
 * *out is set to NULL first; on success it owns a connection freed by pg_conn_free.
 * Errors: TR_NOMEM, TR_PG (the message is written to errbuf, errlen bytes at most). */
tr_err pg_conn_open(const char *conninfo, pg_conn **out, char *errbuf, size_t errlen);
/* The same with an application_name for pg_stat_activity (at most 63 bytes; the plain form uses
 * "ticketrush"): the background workers name their connections "ticketrush-persister" and
 * "ticketrush-issuer", so an operator (or the fault suite) can find them. */
tr_err pg_conn_open_as(const char *conninfo, const char *application_name, pg_conn **out,
                       char *errbuf, size_t errlen);
void pg_conn_free(pg_conn *c); /* NULL is a no-op */

/* Asks the server to cancel the statement c is running (PQcancel), from any thread, e.g. to stop
 * a thread stuck waiting on a lock; that statement then fails with a cancellation error. No-op
 * when c is NULL or not connected. https://www.postgresql.org/docs/15/libpq-cancel.html */
void pg_conn_cancel(pg_conn *c);

/* Reconnects when the connection was lost. TR_OK when usable, else TR_PG. */
tr_err pg_conn_ensure(pg_conn *c);

/* Runs a prepared statement (preparing it first on this connection if needed) with text
 * parameters. Returns the result, owned by the caller (PQclear), or NULL on failure; on failure
 * pg_conn_errstr/pg_conn_sqlstate describe it and an open transaction is rolled back, so the
 * connection is never left in an aborted transaction. */
PGresult *pg_exec_stmt(pg_conn *c, const pg_stmt *st, const char *const *params);

/* Runs n prepared statements (1..8) as one transaction in one round trip: libpq pipeline mode
 * (https://www.postgresql.org/docs/15/libpq-pipeline-mode.html), the statements then a Sync,
 * which makes them one implicit transaction committed at the Sync (docs, "Pipelining" in the
 * protocol chapter). The server runs them one after another, so under READ COMMITTED each
 * statement sees what committed before it started (e.g. after a row lock taken by the one
 * before it). params[i] are statement i's text parameters. On TR_OK results[i] holds statement
 * i's result (the caller PQclears each) and the transaction committed. On TR_PG nothing is in
 * results, pg_conn_errstr/pg_conn_sqlstate describe the first failure, and the transaction
 * rolled back — unless the connection broke after the Sync was sent (pg_conn_sqlstate ""), when
 * the commit may or may not have happened. */
tr_err pg_exec_pipeline(pg_conn *c, int n, const pg_stmt *const *stmts,
                        const char *const *const *params, PGresult **results);

/* Runs a statement without parameters (BEGIN, COMMIT, DDL). Same ownership and failure rules. */
PGresult *pg_exec(pg_conn *c, const char *sql);

/* Runs sql and discards the result; TR_OK or TR_PG. */
tr_err pg_exec_ok(pg_conn *c, const char *sql);

/* How many times c has connected (a reconnect after a loss adds one): a new session has
 * forgotten its LISTENs, so a listener LISTENs again when this changes. */
uint64_t pg_conn_connects(const pg_conn *c);

/* Hands fn every notification the session received (LISTEN/NOTIFY,
 * https://www.postgresql.org/docs/15/libpq-notify.html): what earlier statements brought along
 * and what the socket holds now, without blocking. channel and payload are valid during the
 * call. Returns how many; 0 when disconnected. Notifications that arrived while the session sat
 * idle are kept across the wrappers' idle check (they are not taken for the server closing the
 * session), and those read just before a lost session was replaced are still handed over; a
 * new session has no LISTEN (pg_conn_connects). */
int pg_conn_notifications(pg_conn *c,
                          void (*fn)(const char *channel, const char *payload, void *arg),
                          void *arg);

/* Sticky description of the last failure ("" when none). Valid until the next call on c. */
const char *pg_conn_errstr(const pg_conn *c);
/* SQLSTATE of the last failed statement, "" when none or not a server error. */
const char *pg_conn_sqlstate(const pg_conn *c);
/* Constraint name of the last failed statement, "" when none. */
const char *pg_conn_constraint(const pg_conn *c);

/* The raw libpq connection, borrowed (COPY and the audit need it). NULL when disconnected. */
PGconn *pg_conn_raw(pg_conn *c);

/* Helpers for reading results: column value as int64 / bool ("t"). */
int64_t pg_get_i64(const PGresult *r, int row, int col);
bool pg_get_bool(const PGresult *r, int row, int col);

#endif
