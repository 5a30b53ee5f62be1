/* test_background_failures.c — background failures seen (issue 10 §6): PostgreSQL refuses every
 * commit of the persister (redis-atomic's write-behind) or the issuer (redis-zset's waiting
 * line) for a while — a trigger on ticket raises an error, as a revoked privilege or a full disk
 * would — and the worker counts each failure (persister_stats_read / issuer_stats_read), tells it
 * once with its log callback however many times it retries, tells once that it works again
 * with the count, and then stores everything. Through the background API directly, with the
 * workers started by this program against the test services; and once through a server, whose
 * log and GET /metrics show the same. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "background/issuer.h"
#include "background/persister.h"
#include "harness.h"

/* ---- the lines a worker tells (its thread writes, the test's reads) ------------------------ */

typedef struct told {
    pthread_mutex_t mu;
    char lines[32][512];
    int n;
} told;

static told lines = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0};

static void keep(void *arg, const char *fmt, va_list ap) {
    told *t = arg;
    pthread_mutex_lock(&t->mu);
    if (t->n < 32) vsnprintf(t->lines[t->n], sizeof t->lines[0], fmt, ap);
    t->n++;
    pthread_mutex_unlock(&t->mu);
}

static void lines_clear(void) {
    pthread_mutex_lock(&lines.mu);
    lines.n = 0;
    pthread_mutex_unlock(&lines.mu);
}

/* How many lines so far contain part; *last (when not NULL) gets the last such line. All lines
 * are printed when want ≥ 0 and the count differs. */
static int lines_with(const char *part, char *last, size_t lastlen, int want) {
    pthread_mutex_lock(&lines.mu);
    int n = 0;
    for (int i = 0; i < lines.n && i < 32; i++) {
        if (strstr(lines.lines[i], part) == NULL) continue;
        n++;
        if (last) snprintf(last, lastlen, "%s", lines.lines[i]);
    }
    if (want >= 0 && n != want)
        for (int i = 0; i < lines.n && i < 32; i++) print_error("told: %s\n", lines.lines[i]);
    pthread_mutex_unlock(&lines.mu);
    return n;
}

/* Prints what was told, for the test's log. */
static void lines_print(void) {
    pthread_mutex_lock(&lines.mu);
    for (int i = 0; i < lines.n && i < 32; i++) print_message("told: %s\n", lines.lines[i]);
    pthread_mutex_unlock(&lines.mu);
}

static int lines_count(void) {
    pthread_mutex_lock(&lines.mu);
    int n = lines.n;
    pthread_mutex_unlock(&lines.mu);
    return n;
}

/* ---- PostgreSQL refusing every ticket insert -------------------------------------------------- */

static void refuse_tickets(bool on) {
    if (on) {
        h_sql_exec("CREATE OR REPLACE FUNCTION tr_test_refuse() RETURNS trigger LANGUAGE plpgsql"
                   " AS $$ BEGIN RAISE EXCEPTION 'ticket refused by the test'; END $$");
        h_sql_exec("CREATE TRIGGER tr_test_refuse BEFORE INSERT ON ticket"
                   " FOR EACH STATEMENT EXECUTE FUNCTION tr_test_refuse()");
    } else {
        h_sql_exec("DROP TRIGGER IF EXISTS tr_test_refuse ON ticket");
    }
}

/* The count N in a line ending "(N failures in S s)"; -1 when absent. */
static int64_t run_count(const char *line) {
    const char *open = strrchr(line, '(');
    long long n = -1;
    if (open == NULL || sscanf(open, "(%lld failures in", &n) != 1) return -1;
    return n;
}

/* A fresh sale whose tickets PostgreSQL refuses, with Redis holding what fill writes. */
static void refused_sale(void (*fill)(void)) {
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_open_sale();
    refuse_tickets(true);
    fill();
    lines_clear();
}

/* The refused commits so far were told in one line, the only one, saying why and what (about). */
static void expect_told_once(const char *worker, const char *about) {
    char failing[128], line[512] = "";
    snprintf(failing, sizeof failing, "%s: could not commit a batch to PostgreSQL", worker);
    H_EQ(lines_with(failing, line, sizeof line, 1), 1);
    H_TRUE(strstr(line, "ticket refused by the test") && strstr(line, about),
           "the line says what (%s) and why: %s", about, line);
    H_EQ(lines_count(), 1);
}

/* After the refusal ends: one more line, the recovery, whose count is every refused commit
 * (failures[pg_commit]), and no failure of another kind. */
static void expect_recovery_told(const char *worker, const int64_t *failures, int nkinds,
                                 int pg_commit) {
    H_WAIT_UNTIL(lines_count() == 2, 2000, "a second line (the recovery): %d lines", lines_count());
    char recovered[128], line[512] = "";
    snprintf(recovered, sizeof recovered, "%s: batches commit to PostgreSQL again (", worker);
    H_EQ(lines_with(recovered, line, sizeof line, 1), 1);
    H_EQ(run_count(line), failures[pg_commit]);
    for (int k = 0; k < nkinds; k++)
        if (k != pg_commit && failures[k] != 0)
            fail_msg("%s: %" PRId64 " failures of kind %d", worker, failures[k], k);
    lines_print();
}

/* ---- the persister ------------------------------------------------------------------------- */

static persister_stats pstats(persister *p) {
    persister_stats st;
    persister_stats_read(p, &st);
    return st;
}

/* Three tickets as redis-atomic's purchase script leaves them: seat counter, owners, stream. */
static void append_three_tickets(void) {
    int64_t base = h_redis_exec("HGET {concert:1}:meta ticket_id_base");
    char cmd[256];
    for (int seat = 1; seat <= 3; seat++) {
        int64_t us = 1764547200000000 + seat; /* 2025-12-01, before the sale closes */
        snprintf(cmd, sizeof cmd, "SET {concert:1}:sold %d", seat);
        h_redis_exec(cmd);
        snprintf(cmd, sizeof cmd, "HSET {concert:1}:owners %d %d:%" PRId64, seat, seat, us);
        h_redis_exec(cmd);
        snprintf(cmd, sizeof cmd,
                 "XADD {concert:1}:tickets * i %" PRId64 " c %d s %d v %d t %" PRId64, base + seat,
                 seat, seat, seat <= 2, us);
        h_redis_exec(cmd);
    }
}

static void persister_counts_a_refused_commit_and_tells_it_once(void **state) {
    (void)state;
    refused_sale(append_three_tickets);
    persister_config cfg = {.pg_conninfo = h_env_pg(),
                            .redis_addr = h_env_redis(),
                            .batch = 100,
                            .log = keep,
                            .log_arg = &lines};
    persister *p = NULL;
    char err[256] = "";
    H_TRUE(persister_start(&cfg, &p, err, sizeof err) == TR_OK, "persister_start: %s", err);

    /* Retried every 100 ms or so: many failures, one line; the backlog is seen and ages. */
    H_WAIT_UNTIL(pstats(p).failures[PERSISTER_FAIL_PG_COMMIT] >= 8, 15000,
                 "8 refused commits within 15 s: %" PRId64,
                 pstats(p).failures[PERSISTER_FAIL_PG_COMMIT]);
    H_WAIT_UNTIL(pstats(p).pending == 3 && pstats(p).oldest_pending_s >= 1.0, 5000,
                 "backlog 3 entries, the oldest 1 s old or more: %" PRId64 ", %.3f s",
                 pstats(p).pending, pstats(p).oldest_pending_s);
    persister_stats st = pstats(p);
    H_EQ(st.commits + st.rows_stored, 0);
    H_EQ(st.sales, 1);
    expect_told_once("persister", "concert 1, 3 entries");

    refuse_tickets(false);
    H_WAIT_UNTIL(pstats(p).rows_stored == 3, 10000,
                 "3 rows stored once PostgreSQL accepts them: %" PRId64, pstats(p).rows_stored);
    st = pstats(p);
    expect_recovery_told("persister", st.failures, PERSISTER_FAILURE_KINDS,
                         PERSISTER_FAIL_PG_COMMIT);
    H_CMP(st.commits, >=, 1);
    H_WAIT_UNTIL(pstats(p).pending == 0 && pstats(p).oldest_pending_s == 0, 5000,
                 "no backlog once stored: %" PRId64, pstats(p).pending);

    /* What /metrics will show. */
    dynbuf b;
    dynbuf_init(&b, 1 << 16);
    st = pstats(p);
    H_TRUE(persister_stats_render(&st, &b), "render");
    char want[128];
    snprintf(want, sizeof want,
             "\nticketrush_persister_failures_total{kind=\"pg_commit\"} %" PRId64 "\n",
             st.failures[PERSISTER_FAIL_PG_COMMIT]);
    H_TRUE(strstr(b.data, want) && strstr(b.data, "\nticketrush_persister_rows_stored_total 3\n"),
           "metrics: %s", b.data);
    dynbuf_free(&b);
    persister_stop(p);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1"), 3);
    H_EQ(h_sql_int("SELECT remaining FROM concert WHERE id = 1"), 7);
}

/* ---- the issuer ---------------------------------------------------------------------------- */

static issuer_stats istats(issuer *is) {
    issuer_stats st;
    issuer_stats_read(is, &st);
    return st;
}

/* Three members in the waiting line as redis-zset's admission leaves them. */
static void admit_three(void) {
    char cmd[256];
    for (int c = 1; c <= 3; c++) {
        snprintf(cmd, sizeof cmd, "SET {concert:1}:sold %d", c);
        h_redis_exec(cmd);
        snprintf(cmd, sizeof cmd, "ZADD {concert:1}:line %d %d", c, c);
        h_redis_exec(cmd);
        snprintf(cmd, sizeof cmd, "HSET {concert:1}:admitted %d %" PRId64, c,
                 (int64_t)1764547200000000 + c);
        h_redis_exec(cmd);
    }
}

static void issuer_counts_a_refused_commit_and_tells_it_once(void **state) {
    (void)state;
    refused_sale(admit_three);
    issuer_config cfg = {.pg_conninfo = h_env_pg(),
                         .redis_addr = h_env_redis(),
                         .batch = 100,
                         .log = keep,
                         .log_arg = &lines};
    issuer *is = NULL;
    char err[256] = "";
    H_TRUE(issuer_start(&cfg, &is, err, sizeof err) == TR_OK, "issuer_start: %s", err);

    H_WAIT_UNTIL(istats(is).failures[ISSUER_FAIL_PG_COMMIT] >= 8, 15000,
                 "8 refused commits within 15 s: %" PRId64,
                 istats(is).failures[ISSUER_FAIL_PG_COMMIT]);
    H_WAIT_UNTIL(istats(is).line_length == 3 && istats(is).leading == 1, 5000,
                 "3 waiting in the line it leads: %" PRId64 ", leading %d", istats(is).line_length,
                 istats(is).leading);
    H_EQ(istats(is).tickets, 0);
    expect_told_once("issuer", "concert 1, 3 members");

    refuse_tickets(false);
    H_WAIT_UNTIL(istats(is).tickets == 3, 10000,
                 "3 tickets issued once PostgreSQL accepts them: %" PRId64, istats(is).tickets);
    issuer_stats st = istats(is);
    expect_recovery_told("issuer", st.failures, ISSUER_FAILURE_KINDS, ISSUER_FAIL_PG_COMMIT);
    H_CMP(st.batches, >=, 1);
    H_WAIT_UNTIL(istats(is).line_length == 0, 5000, "the line empties: %" PRId64,
                 istats(is).line_length);
    issuer_stop(is);
    H_EQ(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1"), 3);
}

/* Through the server: redis-atomic (fast) answers 201 while PostgreSQL refuses the persister's
 * commits; the failures show on GET /metrics and in the server's log — one line for the run of
 * failures and one when it works again — then the ticket is stored and counted. */
static void server_shows_background_failures_in_metrics_and_log(void **state) {
    (void)state;
    h_reset(&(h_seed){.seats = 10, .vip = 2, .customers = 10});
    h_open_sale();
    h_server srv;
    h_server_start(&srv, "redis-atomic", 2, "--durability", "fast", NULL);
    refuse_tickets(true);
    h_resp r = {0};
    h_purchase(srv.port, H_CONCERT, 1, &r);
    H_EQ(h_expect_ticket(&r, H_CONCERT, 1), 1);
    h_resp_free(&r);
    const char *failed = "ticketrush_persister_failures_total{kind=\"pg_commit\"}";
    H_WAIT_UNTIL(h_metric(srv.port, failed) >= 2, 5000, "commit failures on /metrics: %g",
                 h_metric(srv.port, failed));
    H_TRUE(h_metric(srv.port, "ticketrush_persister_commits_total") == 0,
           "no commit while refused: %g", h_metric(srv.port, "ticketrush_persister_commits_total"));
    refuse_tickets(false);
    H_WAIT_UNTIL(h_sql_int("SELECT count(*) FROM ticket WHERE concert_id = 1") == 1, 5000,
                 "the ticket is stored once PostgreSQL takes it");
    H_WAIT_UNTIL(h_metric(srv.port, "ticketrush_persister_rows_stored_total") == 1, 3000,
                 "rows stored on /metrics: %g",
                 h_metric(srv.port, "ticketrush_persister_rows_stored_total"));
    char *log = h_server_log(&srv);
    h_server_stop(&srv);
    int told = 0, again = 0;
    for (const char *p = log; (p = strstr(p, "persister: could not commit")) != NULL; p++) told++;
    for (const char *p = log; (p = strstr(p, "persister: batches commit")) != NULL; p++) again++;
    if (told != 1 || again != 1) print_error("server log:\n%s\n", log);
    free(log);
    H_EQ(told, 1);
    H_EQ(again, 1);
}

int main(void) {
    const h_test tests[] = {
        {"persister_counts_a_refused_commit_and_tells_it_once",
         persister_counts_a_refused_commit_and_tells_it_once, NULL},
        {"issuer_counts_a_refused_commit_and_tells_it_once",
         issuer_counts_a_refused_commit_and_tells_it_once, NULL},
        {"server_shows_background_failures_in_metrics_and_log",
         server_shows_background_failures_in_metrics_and_log, NULL},
    };
    return h_run_tests("background_failures", tests, sizeof tests / sizeof tests[0]);
}
