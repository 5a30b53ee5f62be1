/* pg.c — libpq wrapper behind pg.h: sticky error text, lazy prepare, rollback on failure. */
#include "store/pg.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/conncheck.h"

#define PG_MAX_PREPARED 64
#define PG_MAX_KEPT_NOTES 4096 /* notifications kept between two pg_conn_notifications */

struct pg_conn {
    PGconn *conn;
    char *conninfo;
    char application_name[64]; /* pg_stat_activity.application_name of every connect */
    const pg_stmt *prepared[PG_MAX_PREPARED];
    int nprepared;
    char errstr[256];
    char sqlstate[6];
    char constraint[64];
    int64_t last_used_ms; /* CLOCK_MONOTONIC_COARSE */
    uint64_t connects;    /* successful connects so far (a new session forgets its LISTENs) */
    /* Notifications read off the socket by the idle check (pg_conn_ensure), oldest first, for
     * pg_conn_notifications; each PQfreemem'd when handed over (they outlive the session). */
    PGnotify *kept[PG_MAX_KEPT_NOTES];
    int nkept;
    /* For pg_conn_cancel from another thread: made after each connect, under cancel_mu. */
    pthread_mutex_t cancel_mu;
    PGcancel *cancel;
};

/* Closes c->conn and forgets its cancel handle. */
static void pg_close(pg_conn *c) {
    pthread_mutex_lock(&c->cancel_mu);
    if (c->cancel) PQfreeCancel(c->cancel);
    c->cancel = NULL;
    pthread_mutex_unlock(&c->cancel_mu);
    if (c->conn) PQfinish(c->conn);
    c->conn = NULL;
}

static void pg_set_err(pg_conn *c, const char *what, const PGresult *r) {
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL) msg = c->conn ? PQerrorMessage(c->conn) : "no connection";
    snprintf(c->errstr, sizeof c->errstr, "%s: %s", what, msg);
    size_t n = strlen(c->errstr);
    while (n > 0 && (c->errstr[n - 1] == '\n' || c->errstr[n - 1] == ' ')) c->errstr[--n] = '\0';
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", st ? st : "");
    const char *cn = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
    snprintf(c->constraint, sizeof c->constraint, "%s", cn ? cn : "");
}

static void pg_clear_err(pg_conn *c) {
    c->errstr[0] = '\0';
    c->sqlstate[0] = '\0';
    c->constraint[0] = '\0';
}

static tr_err pg_connect(pg_conn *c) {
    pg_close(c);
    c->nprepared = 0;
    /* expand_dbname: conninfo is a full connection string (or URI); application_name, after it,
     * overrides one set there (https://www.postgresql.org/docs/15/libpq-connect.html). */
    const char *const keys[] = {"dbname", "application_name", NULL};
    const char *const vals[] = {c->conninfo, c->application_name, NULL};
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (c->conn == NULL) {
        snprintf(c->errstr, sizeof c->errstr, "could not connect to PostgreSQL: out of memory");
        return TR_PG;
    }
    if (PQstatus(c->conn) != CONNECTION_OK) {
        snprintf(c->errstr, sizeof c->errstr, "could not connect to PostgreSQL: %s",
                 PQerrorMessage(c->conn));
        size_t n = strlen(c->errstr);
        while (n > 0 && c->errstr[n - 1] == '\n') c->errstr[--n] = '\0';
        PQfinish(c->conn);
        c->conn = NULL;
        return TR_PG;
    }
    /* Every statement planned for its parameters and the tables as they are now (custom plans).
     * A cached generic plan is made once per connection — in a sale, while the ticket table is
     * still (nearly) empty, where a sequential scan costs nothing — and then kept: db-atomic's
     * ownership probe scanned every ticket of the concert on each purchase (8,415 scans reading
     * 48.7 million rows in a 20,000-request run); db-batch's deciding statement the same way.
     * Planning one of our statements costs well under a millisecond.
     * https://www.postgresql.org/docs/15/sql-prepare.html ("Notes": generic and custom plans) */
    PGresult *set = PQexec(c->conn, "SET plan_cache_mode = force_custom_plan");
    bool set_ok = PQresultStatus(set) == PGRES_COMMAND_OK;
    if (!set_ok)
        snprintf(c->errstr, sizeof c->errstr, "could not set plan_cache_mode: %s",
                 PQerrorMessage(c->conn));
    PQclear(set);
    if (!set_ok) {
        PQfinish(c->conn);
        c->conn = NULL;
        return TR_PG;
    }
    c->connects++;
    PGcancel *k = PQgetCancel(c->conn);
    pthread_mutex_lock(&c->cancel_mu);
    c->cancel = k;
    pthread_mutex_unlock(&c->cancel_mu);
    return TR_OK;
}

tr_err pg_conn_open(const char *conninfo, pg_conn **out, char *errbuf, size_t errlen) {
    return pg_conn_open_as(conninfo, "ticketrush", out, errbuf, errlen);
}

tr_err pg_conn_open_as(const char *conninfo, const char *application_name, pg_conn **out,
                       char *errbuf, size_t errlen) {
    tr_err rc = TR_OK;
    pg_conn *c = NULL;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) return TR_NOMEM;
    pthread_mutex_init(&c->cancel_mu, NULL);
    snprintf(c->application_name, sizeof c->application_name, "%s",
             application_name ? application_name : "ticketrush");
    if ((c->conninfo = strdup(conninfo ? conninfo : "")) == NULL) {
        rc = TR_NOMEM;
        goto out;
    }
    rc = pg_connect(c);
    if (rc != TR_OK) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "%s", c->errstr);
        goto out;
    }
    *out = c;
    c = NULL;
out:
    pg_conn_free(c);
    return rc;
}

void pg_conn_free(pg_conn *c) {
    if (c == NULL) return;
    pg_close(c);
    for (int i = 0; i < c->nkept; i++) PQfreemem(c->kept[i]);
    pthread_mutex_destroy(&c->cancel_mu);
    free(c->conninfo);
    free(c);
}

/* A connection idle TR_IDLE_CHECK_MS or longer, outside a transaction, is checked for a server
 * that went away (a PostgreSQL restart sends a FATAL message and closes) before it is used. */
void pg_conn_cancel(pg_conn *c) {
    if (c == NULL) return;
    char err[256];
    pthread_mutex_lock(&c->cancel_mu);
    if (c->cancel) (void)PQcancel(c->cancel, err, sizeof err); /* thread-safe (libpq docs) */
    pthread_mutex_unlock(&c->cancel_mu);
}

/* Bytes wait on an idle session's socket: a LISTENing session's notifications (NOTIFY from
 * another session while this one sat idle), or the server's goodbye (a FATAL message, then the
 * close). Reads them: notifications are kept for pg_conn_notifications. true when the session is
 * still good — it read at least one notification and the link is neither closed nor broken
 * (more notifications may already be on their way: a busy channel never leaves the socket
 * empty); false when it read no notification (a goodbye: reconnect, as before, so a statement is
 * not sent into a closing session). */
static void pg_quiet_notice(void *arg, const char *message) { (void)arg, (void)message; }

static bool pg_idle_bytes_were_notifications(pg_conn *c) {
    /* A goodbye read here reaches libpq's notice processor, which would print it: hush it. */
    PQnoticeProcessor was = PQsetNoticeProcessor(c->conn, pg_quiet_notice, NULL);
    int ok = PQconsumeInput(c->conn);
    PQsetNoticeProcessor(c->conn, was, NULL);
    if (ok == 0 || PQstatus(c->conn) != CONNECTION_OK) return false;
    int got = 0;
    for (PGnotify *note; (note = PQnotifies(c->conn)) != NULL; got++) {
        if (c->nkept < PG_MAX_KEPT_NOTES) c->kept[c->nkept++] = note;
        else PQfreemem(note); /* a listener that never reads: the oldest are kept */
    }
    if (got == 0) return false;
    char b;
    ssize_t n = recv(PQsocket(c->conn), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

tr_err pg_conn_ensure(pg_conn *c) {
    int64_t now = tr_coarse_ms();
    bool idle = now - c->last_used_ms > TR_IDLE_CHECK_MS;
    c->last_used_ms = now;
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK) {
        if (!idle || PQtransactionStatus(c->conn) != PQTRANS_IDLE ||
            !tr_idle_peer_gone(PQsocket(c->conn)) || pg_idle_bytes_were_notifications(c))
            return TR_OK;
    }
    return pg_connect(c);
}

/* After a failed statement: leave no aborted transaction behind, and notice a lost link. */
static void pg_after_failure(pg_conn *c) {
    if (c->conn == NULL) return;
    if (PQstatus(c->conn) != CONNECTION_OK) {
        pg_close(c);
        c->nprepared = 0;
        return;
    }
    if (PQtransactionStatus(c->conn) == PQTRANS_INERROR ||
        PQtransactionStatus(c->conn) == PQTRANS_INTRANS) {
        PGresult *r = PQexec(c->conn, "ROLLBACK");
        PQclear(r);
    }
}

static bool pg_result_ok(const PGresult *r) {
    if (r == NULL) return false;
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN ||
           st == PGRES_COPY_OUT;
}

static bool pg_is_prepared(const pg_conn *c, const pg_stmt *st) {
    for (int i = 0; i < c->nprepared; i++)
        if (c->prepared[i] == st) return true;
    return false;
}

/* Prepares st on this connection unless it already is; false with the error set. */
static bool pg_prepare_once(pg_conn *c, const pg_stmt *st) {
    if (pg_is_prepared(c, st)) return true;
    PGresult *pr = PQprepare(c->conn, st->name, st->sql, st->nparams, NULL);
    if (!pg_result_ok(pr)) {
        pg_set_err(c, st->name, pr);
        PQclear(pr);
        pg_after_failure(c);
        return false;
    }
    PQclear(pr);
    if (c->nprepared < PG_MAX_PREPARED) c->prepared[c->nprepared++] = st;
    return true;
}

PGresult *pg_exec_stmt(pg_conn *c, const pg_stmt *st, const char *const *params) {
    pg_clear_err(c);
    if (pg_conn_ensure(c) != TR_OK) return NULL;
    if (!pg_prepare_once(c, st)) return NULL;
    PGresult *r = PQexecPrepared(c->conn, st->name, st->nparams, params, NULL, NULL, 0);
    if (!pg_result_ok(r)) {
        pg_set_err(c, st->name, r);
        PQclear(r);
        pg_after_failure(c);
        return NULL;
    }
    return r;
}

#define PG_PIPELINE_MAX 8

/* Reads the pipeline's results up to its Sync: the i-th successful result goes to results[i];
 * the first failure is recorded in c. Returns whether the Sync arrived (the transaction ended,
 * committed when *rc is TR_OK); false when the connection broke before it. */
static bool pg_pipeline_read(pg_conn *c, int n, const pg_stmt *const *stmts, PGresult **results,
                             tr_err *rc) {
    int idx = 0;
    /* each statement gives one result and a NULL; a failed commit one error more; the Sync one */
    for (int guard = 0; guard < 4 * n + 8; guard++) {
        PGresult *r = PQgetResult(c->conn);
        if (r == NULL) {
            if (PQstatus(c->conn) != CONNECTION_OK) break;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return true;
        }
        if ((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) && idx < n && *rc == TR_OK) {
            results[idx++] = r;
            continue;
        }
        if (st != PGRES_PIPELINE_ABORTED && *rc == TR_OK)
            pg_set_err(c, idx < n ? stmts[idx]->name : "commit", r);
        *rc = TR_PG;
        idx++;
        PQclear(r);
    }
    if (*rc == TR_OK) pg_set_err(c, "pipeline", NULL);
    *rc = TR_PG;
    return false;
}

tr_err pg_exec_pipeline(pg_conn *c, int n, const pg_stmt *const *stmts,
                        const char *const *const *params, PGresult **results) {
    pg_clear_err(c);
    if (n < 1 || n > PG_PIPELINE_MAX) {
        snprintf(c->errstr, sizeof c->errstr, "pipeline: %d statements (1..%d)", n,
                 PG_PIPELINE_MAX);
        return TR_PG;
    }
    for (int i = 0; i < n; i++) results[i] = NULL;
    if (pg_conn_ensure(c) != TR_OK) return TR_PG;
    for (int i = 0; i < n; i++)
        if (!pg_prepare_once(c, stmts[i])) return TR_PG;
    if (PQtransactionStatus(c->conn) != PQTRANS_IDLE) { /* the Sync would not end it */
        snprintf(c->errstr, sizeof c->errstr, "pipeline: a transaction is already open");
        return TR_PG;
    }
    if (!PQenterPipelineMode(c->conn)) {
        pg_set_err(c, "pipeline", NULL);
        return TR_PG;
    }
    tr_err rc = TR_OK;
    bool sent = true;
    for (int i = 0; sent && i < n; i++)
        sent = PQsendQueryPrepared(c->conn, stmts[i]->name, stmts[i]->nparams, params[i], NULL,
                                   NULL, 0) == 1;
    sent = sent && PQpipelineSync(c->conn) == 1;
    if (!sent) {
        pg_set_err(c, "pipeline", NULL);
        rc = TR_PG;
    }
    bool synced = sent && pg_pipeline_read(c, n, stmts, results, &rc);
    if (!synced || !PQexitPipelineMode(c->conn)) {
        /* Broken, or results left unread: drop the session (PostgreSQL rolls back what it had
         * not committed); the next call reconnects. */
        if (rc == TR_OK) pg_set_err(c, "pipeline", NULL);
        rc = TR_PG;
        pg_close(c);
        c->nprepared = 0;
    } else if (rc != TR_OK) {
        pg_after_failure(c);
    }
    if (rc != TR_OK)
        for (int i = 0; i < n; i++) {
            PQclear(results[i]);
            results[i] = NULL;
        }
    return rc;
}

PGresult *pg_exec(pg_conn *c, const char *sql) {
    pg_clear_err(c);
    if (pg_conn_ensure(c) != TR_OK) return NULL;
    PGresult *r = PQexec(c->conn, sql);
    if (!pg_result_ok(r)) {
        pg_set_err(c, "statement failed", r);
        PQclear(r);
        pg_after_failure(c);
        return NULL;
    }
    return r;
}

tr_err pg_exec_ok(pg_conn *c, const char *sql) {
    PGresult *r = pg_exec(c, sql);
    if (r == NULL) return TR_PG;
    PQclear(r);
    return TR_OK;
}

const char *pg_conn_errstr(const pg_conn *c) { return c->errstr; }
const char *pg_conn_sqlstate(const pg_conn *c) { return c->sqlstate; }
const char *pg_conn_constraint(const pg_conn *c) { return c->constraint; }
PGconn *pg_conn_raw(pg_conn *c) { return c->conn; }
uint64_t pg_conn_connects(const pg_conn *c) { return c->connects; }

int pg_conn_notifications(pg_conn *c,
                          void (*fn)(const char *channel, const char *payload, void *arg),
                          void *arg) {
    int n = 0;
    for (; n < c->nkept; n++) { /* what the idle check read off the socket first */
        fn(c->kept[n]->relname, c->kept[n]->extra ? c->kept[n]->extra : "", arg);
        PQfreemem(c->kept[n]);
    }
    c->nkept = 0;
    if (c->conn == NULL || PQconsumeInput(c->conn) == 0) return n;
    for (PGnotify *note; (note = PQnotifies(c->conn)) != NULL; PQfreemem(note), n++)
        fn(note->relname, note->extra ? note->extra : "", arg);
    return n;
}

int64_t pg_get_i64(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pg_get_bool(const PGresult *r, int row, int col) {
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
