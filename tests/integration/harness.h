/* harness.h — what every integration test needs: the environment scripts/test.sh exports, a fresh
 * database (and no Redis keys of old runs), the ticketrush binary started as a child process on a
 * free loopback port and stopped with SIGTERM, a raw blocking HTTP/1.1 client (raw so tests can
 * send malformed requests), concurrent bursts released by a barrier, and reads of the database.
 * Not a general HTTP client: one response at a time, Content-Length or read-to-close bodies.
 *
 * Assertion helpers (H_*) call cmocka's fail_msg and may only be used on the test's main thread;
 * the burst threads record, the main thread asserts. */
#ifndef TR_TEST_HARNESS_H
#define TR_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "store/pg.h"

/* The concert every test seeds. */
#define H_CONCERT 1

/* ---- assertions that print both values (libuv ASSERT_EQ); main thread only ---------------- */

#define H_EQ(a, b)                                                                                 \
    do {                                                                                           \
        long long ha_ = (long long)(a), hb_ = (long long)(b);                                      \
        if (ha_ != hb_) fail_msg("%s == %s: %lld != %lld", #a, #b, ha_, hb_);                      \
    } while (0)
#define H_CMP(a, op, b)                                                                            \
    do {                                                                                           \
        long long ha_ = (long long)(a), hb_ = (long long)(b);                                      \
        if (!(ha_ op hb_)) fail_msg("%s %s %s: %lld vs %lld", #a, #op, #b, ha_, hb_);              \
    } while (0)
#define H_STREQ(a, b)                                                                              \
    do {                                                                                           \
        const char *ha_ = (a), *hb_ = (b);                                                         \
        if (ha_ == NULL || hb_ == NULL || strcmp(ha_, hb_) != 0)                                   \
            fail_msg("%s == %s: \"%s\" != \"%s\"", #a, #b, ha_ ? ha_ : "(null)",                   \
                     hb_ ? hb_ : "(null)");                                                        \
    } while (0)
#define H_TRUE(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_error("ERROR: expected %s: ", #cond);                                            \
            fail_msg(__VA_ARGS__);                                                                 \
        }                                                                                          \
    } while (0)

/* ---- tests per strategy ------------------------------------------------------------------- */

/* The registered strategies that keep R1–R8 and answer a purchase at once (201), in registry
 * order, NULL-terminated. Read from the registry, so a new correct strategy is tested without
 * touching the tests; waiting-line strategies (202 queued) are left out. */
const char *const *h_correct_strategies(void);
/* The same plus the strategies that are wrong under load (naive): every strategy that answers
 * a purchase at once. Without concurrency they all keep the rules. */
const char *const *h_all_strategies(void);

typedef struct h_test {
    const char *name;
    CMUnitTestFunction fn;         /* *state is the strategy's name (const char *), or NULL */
    const char *const *strategies; /* NULL-terminated; NULL runs the test once */
} h_test;

/* Runs the tests, each once per strategy as "name/strategy", with h_group_setup,
 * h_group_teardown and h_teardown. Returns cmocka's result (the program's exit status); when a
 * test failed it exits at once with that status instead, skipping LeakSanitizer's report about
 * what the failed test left allocated. TR_TEST_FILTER, when set, runs only the tests whose
 * "name/strategy" matches that glob (cmocka_set_test_filter: * and ?), e.g.
 * TR_TEST_FILTER='sale_goes_on*zset' ./test_cluster_sale; a cluster such a run started is left
 * for `scripts/services.sh stop --purge` of TICKETRUSH_SVC_DIR. */
int h_run_tests(const char *group, const h_test *tests, size_t n);

/* ---- environment and fixtures ------------------------------------------------------------- */

/* TICKETRUSH_PG, TICKETRUSH_REDIS, TICKETRUSH_BIN. h_group_setup fails the group with a clear
 * message when one is missing (run the tests through scripts/test.sh). */
const char *h_env_pg(void);
const char *h_env_redis(void);
const char *h_env_bin(void);

/* cmocka group fixtures: check the environment and open the harness's PostgreSQL connection;
 * close it and stop any server a failed test left running. */
int h_group_setup(void **state);
int h_group_teardown(void **state);
/* Per-test teardown: stops (without asserting) any server the test left running. */
int h_teardown(void **state);

typedef struct h_seed {
    bool unguarded;       /* the lab-only schema without UNIQUE/CHECK guards */
    int32_t seats;        /* N */
    int32_t vip;          /* V */
    int64_t customers;    /* ids 1..customers */
    int64_t sales_open_s; /* starts_at = now() + this; 0 means the default, 3600 */
} h_seed;

/* Recreates the schema, seeds concert H_CONCERT and deletes every Redis key "{concert:*" and
 * "ticketrush:*" (lock, fence, cached and sale state of earlier tests). */
void h_reset(const h_seed *seed);

/* `ticketrush db open-sale` for concert 1: loads the sale into Redis before the first purchase,
 * as make demo does (redis-zset, redis-atomic). Asserts it exits 0. */
void h_open_sale(void);

/* Seeds one more concert (after h_reset), with the same rules; customers are shared. */
void h_seed_concert(int64_t concert_id, const h_seed *seed);

/* The harness's own PostgreSQL connection (for tests' SQL). */
pg_conn *h_pg(void);

/* ---- the server under test ---------------------------------------------------------------- */

typedef struct h_server {
    pid_t pid; /* 0 when not running */
    int port;
    char log_path[64]; /* the child's stdout and stderr */
    int64_t stop_ms;   /* how long the last h_server_stop waited for the exit */
} h_server;

/* Starts `TICKETRUSH_BIN serve --strategy S --port P --workers W --pg … --redis … EXTRA…` (extra
 * arguments end with NULL) and waits (15 s at most) until GET /livez answers 200. redis-atomic
 * gets --durability strict unless EXTRA names a durability: a 201 then means the ticket is in
 * PostgreSQL, so a test can read it back at once (h_server_stop drains either way). */
void h_server_start(h_server *s, const char *strategy, int workers, ...);
/* The same on a given port (one other processes may share: pass "--reuse-port"); returns once
 * this process says it serves, not when another answers GET /livez on the port. */
void h_server_start_on(h_server *s, int port, const char *strategy, int workers, ...);
/* SIGTERM; asserts exit status 0 within 10 s and no sanitizer report in the child's output. */
void h_server_stop(h_server *s);
/* SIGKILL (a crash, not a shutdown) and reap; asserts only that it was running. */
void h_server_kill(h_server *s);
/* The child's output so far, malloc'd (caller frees); "" when unreadable. */
char *h_server_log(const h_server *s);

/* ---- raw HTTP/1.1 client -------------------------------------------------------------------- */

#define H_RESP_HEAD_MAX 16384

typedef struct h_resp {
    int status;                 /* 0 when no response was read */
    char head[H_RESP_HEAD_MAX]; /* status line and headers, NUL-terminated */
    char *body;                 /* malloc'd, NUL-terminated; NULL when none */
    size_t body_len;
    bool closed;     /* the server closed the connection after this response */
    char error[128]; /* why no response was read */
} h_resp;

typedef struct h_conn h_conn;

/* Connects to 127.0.0.1:port (TCP_NODELAY). NULL on failure, errno set; no assertion. */
h_conn *h_conn_open(int port);
void h_conn_close(h_conn *c); /* NULL is a no-op */
/* Sends all bytes; false on failure. */
bool h_conn_send(h_conn *c, const void *data, size_t len);
/* Reads one response within timeout_ms into r, which must be zero-initialised or hold an earlier
 * response (its body is freed first). false on timeout, error or EOF before a full response
 * (r->error says which). Thread-safe: no assertions. */
bool h_conn_recv(h_conn *c, h_resp *r, int timeout_ms);
void h_resp_free(h_resp *r); /* frees the body; the struct may be reused */
/* Waits for the server to close the connection: 1 when it did (end of stream or reset) within
 * timeout_ms, 0 when it was still open then, -1 on another error. *extra (when not NULL) gets
 * the bytes that arrived and were not read as a response before the end (a second answer). */
int h_conn_wait_closed(h_conn *c, int timeout_ms, size_t *extra);
/* The socket, for tests that half-close it or set its options. */
int h_conn_fd(const h_conn *c);

/* Copies the value of header name (case-insensitive) into out; false when absent. */
bool h_resp_header(const h_resp *r, const char *name, char *out, size_t outlen);

/* Request builders; they return the length written (asserting it fits). */
size_t h_fmt_get(char *buf, size_t len, const char *path);
/* content_type NULL sends no Content-Type header. */
size_t h_fmt_post(char *buf, size_t len, const char *path, const char *content_type,
                  const char *body);
size_t h_fmt_purchase(char *buf, size_t len, int64_t concert_id, int64_t customer_id);

/* Main-thread helpers that assert a response arrived (10 s at most). */
void h_roundtrip(h_conn *c, const char *raw, size_t len, h_resp *r);
/* A new connection, one request, closed again. */
void h_request(int port, const char *raw, size_t len, h_resp *r);
/* The same without asserting: false with r->error set. */
bool h_request_try(int port, const char *raw, size_t len, h_resp *r);
void h_get(int port, const char *path, h_resp *r);
void h_purchase(int port, int64_t concert_id, int64_t customer_id, h_resp *r);

/* ---- JSON and expectations on responses --------------------------------------------------- */

/* Parses the body as a JSON object (asserting it is one); caller json_decref's it. */
json_t *h_json(const h_resp *r);
/* Integer / string member, asserting presence and type. */
int64_t h_json_int(json_t *obj, const char *key);
const char *h_json_str(json_t *obj, const char *key);

/* Asserts status, Content-Type application/json and {"error": code, "message": non-empty}. */
void h_expect_error(const h_resp *r, int status, const char *code);
/* The same check without asserting: false with the reason in why. */
bool h_check_error(const h_resp *r, int status, const char *code, char *why, size_t whylen);
/* Asserts 201 with a ticket for this concert and customer; returns its seat number. */
int64_t h_expect_ticket(const h_resp *r, int64_t concert_id, int64_t customer_id);
/* Asserts 409 already_owned carrying this customer's ticket for this concert; returns its seat. */
int64_t h_expect_owned(const h_resp *r, int64_t concert_id, int64_t customer_id);

/* The value of a series on the server's GET /metrics, named exactly as it is written there
 * ("name" or "name{labels}"); -1 when absent, -2 when /metrics did not answer 200. */
double h_metric(int port, const char *series);

/* ---- concurrent bursts ---------------------------------------------------------------------- */

typedef struct h_burst_req {
    char raw[512]; /* the request bytes (fill with h_fmt_*) */
    size_t len;
    /* results */
    h_resp resp;
    int64_t sent_ms, done_ms; /* h_now_ms() when sent and when answered */
} h_burst_req;

/* Opens n connections first (asserting each), then n threads wait on one barrier and send at
 * once; each reads its response (timeout_ms). Asserts every request got a response. */
void h_burst(int port, h_burst_req *reqs, int n, int timeout_ms);
void h_burst_free(h_burst_req *reqs, int n);
/* Wire code of a response ("" for 201 or when the body has no "error"); out has 32 bytes. */
void h_resp_code(const h_resp *r, char *out, size_t outlen);

/* ---- database and Redis reads ------------------------------------------------------------- */

/* The single value of a query returning one row and one column, as int64 (NULL gives 0). */
int64_t h_sql_int(const char *sql);
/* Runs a statement, asserting success. */
void h_sql_exec(const char *sql);
/* A text picture of every concert, ticket and the customer count, to compare before/after. */
char *h_db_snapshot(void);
/* Waits (3 s at most) until the picture stops changing — a write-behind strategy's background
 * writes have landed — and returns it. */
char *h_db_settled(void);

typedef struct h_ticket_row {
    int64_t id, customer_id;
    int32_t seat_no;
    bool vip;
} h_ticket_row;
/* Tickets of H_CONCERT ordered by seat_no, id; *out malloc'd (caller frees). Returns the count. */
int h_tickets(h_ticket_row **out);

/* Number of Redis keys matching pattern (KEYS). */
int64_t h_redis_count(const char *pattern);
/* Deletes one Redis key. */
void h_redis_del(const char *key);
/* Runs one Redis command given as words separated by spaces (no quoting: "SCRIPT FLUSH",
 * "XLEN {concert:1}:tickets"), asserting it succeeded. Returns its integer answer; a decimal
 * string answer is parsed, nil and status answers ("OK") give 0. */
int64_t h_redis_exec(const char *command);
/* The same against the Redis at addr ("127.0.0.1:PORT"), e.g. a private one. */
int64_t h_redis_exec_at(const char *addr, const char *command);

/* ---- other processes ------------------------------------------------------------------------ */

/* The path of scripts/services.sh in this source tree (found from harness.c's own path) into
 * out; asserts it is an executable. */
void h_services_script(char *out, size_t len);

/* A loopback TCP port nothing listened on a moment ago (bound to port 0, then closed). */
int h_free_port(void);

/* Runs argv (argv[0] a path or a name in PATH; NULL-terminated) to completion within timeout_ms.
 * Returns the exit status (128 + signal when killed by one), -1 on timeout (it is then killed);
 * *out (when out is not NULL) gets its stdout and stderr, malloc'd. */
int h_run(const char *const *argv, int timeout_ms, char **out);

/* A private redis-server (no persistence) on port_or_0 (0: a free port), for outage tests;
 * waits until it answers PING. *port is the port used. Returns its pid. One at a time;
 * h_teardown kills one a failed test left behind. */
pid_t h_redis_private_start(int port_or_0, int *port);
/* The same with its snapshot file dir/dump.rdb: loaded at start when present, written by SAVE
 * (no automatic saves, no AOF) — for tests that restart Redis on an older snapshot. */
pid_t h_redis_private_start_in(int port_or_0, const char *dir, int *port);
/* Kills it (SIGKILL: an outage, not a shutdown) and reaps it. */
void h_redis_private_stop(pid_t pid);

/* ---- time --------------------------------------------------------------------------------- */

/* The first line of a test that passes serve's test hooks (--test-stall-ms, --test-stall-customer,
 * --test-persist-delay, --test-issue-delay) or calls sale_test_fail_bring_forward: skips it in a
 * build without TR_TEST_HOOKS (the release build), whose ticketrush neither has nor accepts
 * them. */
#ifdef TR_TEST_HOOKS
#define H_NEEDS_TEST_HOOKS() ((void)0)
#else
#define H_NEEDS_TEST_HOOKS() skip()
#endif

int64_t h_now_ms(void); /* CLOCK_MONOTONIC */
void h_sleep_ms(int ms);

/* Polls cond every 20 ms for at most ms milliseconds; then asserts it (H_TRUE's message). */
#define H_WAIT_UNTIL(cond, ms, ...)                                                                \
    do {                                                                                           \
        int64_t until_ = h_now_ms() + (ms);                                                        \
        while (!(cond) && h_now_ms() < until_) h_sleep_ms(20);                                     \
        H_TRUE(cond, __VA_ARGS__);                                                                 \
    } while (0)

/* ---- a private Redis Cluster ---------------------------------------------------------------- */

/* `scripts/services.sh start --cluster masters` (masters 1 or 3..8) in a directory of its own,
 * <TICKETRUSH_SVC_DIR or /tmp>/<tag>.XXXXXX (under scripts/test.sh's services directory, its
 * final `stop --purge` also ends any node a crashed test left behind). Returns 0 with dir (its
 * directory) and seeds (its env file's TICKETRUSH_REDIS_CLUSTER: the masters, "host:port,…")
 * filled; 4 when this Redis cannot run a cluster (services.sh exits 4; nothing is left, the
 * reason is printed, dir is ""); -1 on any other failure, with the reason in why. */
int h_cluster_start(int masters, const char *tag, char *dir, size_t dirlen, char *seeds,
                    size_t seedslen, char *why, size_t whylen);

/* `services.sh stop --purge --dir dir` when dir is not "", then dir[0] = '\0'. Returns
 * services.sh's exit status (0 when dir was ""). */
int h_cluster_stop(char *dir);

/* The redis-server processes whose working directory is dir or below it (services.sh runs each
 * node in its own directory there); -1 when /proc cannot be read. */
int h_redis_processes_in(const char *dir);

#endif
