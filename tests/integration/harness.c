/* harness.c — the integration-test helpers behind harness.h: environment, database reset, the
 * server child process, a raw HTTP/1.1 client and barrier-released bursts. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "store/redis.h"
#include "store/schema.h"
#include "strategy/strategy.h"

#define H_MAX_ARGS 48
#define H_MAX_SERVERS 8
#define H_START_TIMEOUT_MS 15000
#define H_STOP_TIMEOUT_MS 10000
#define H_IO_TIMEOUT_MS 10000

static pg_conn *h_pg_conn;
/* Servers started and not yet stopped, in harness-owned memory: a failed test's h_server lives
 * in a stack frame that is gone by the time its teardown runs. */
typedef struct live_child {
    pid_t pid; /* 0 for a free slot */
    char log_path[64];
} live_child;
static live_child h_live[H_MAX_SERVERS];

/* ---- time ---------------------------------------------------------------------------------- */

int64_t h_now_ms(void) { return tr_mono_ms(); }

void h_sleep_ms(int ms) { tr_sleep_ms(ms); }

/* ---- environment and fixtures ------------------------------------------------------------- */

static const char *env_required(const char *name) {
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

const char *h_env_pg(void) { return env_required("TICKETRUSH_PG"); }
const char *h_env_redis(void) { return env_required("TICKETRUSH_REDIS"); }
const char *h_env_bin(void) { return env_required("TICKETRUSH_BIN"); }

int h_group_setup(void **state) {
    (void)state;
    static const char *const names[] = {"TICKETRUSH_PG", "TICKETRUSH_REDIS", "TICKETRUSH_BIN"};
    int missing = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (env_required(names[i]) == NULL) {
            fprintf(stderr,
                    "harness: %s is not set: integration tests need real PostgreSQL and "
                    "Redis and the server binary; run them with scripts/test.sh BUILD_DIR "
                    "(or `make test`)\n",
                    names[i]);
            missing++;
        }
    }
    if (missing) return -1;
    if (access(h_env_bin(), X_OK) != 0) {
        fprintf(stderr, "harness: TICKETRUSH_BIN=%s is not an executable: %s\n", h_env_bin(),
                strerror(errno));
        return -1;
    }
    char err[512];
    if (pg_conn_open(h_env_pg(), &h_pg_conn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "harness: %s\n", err);
        return -1;
    }
    return 0;
}

static void server_kill_quietly(live_child *c);

static pid_t h_private_redis; /* started by h_redis_private_start, not yet stopped */

int h_teardown(void **state) {
    (void)state;
    for (int i = 0; i < H_MAX_SERVERS; i++)
        if (h_live[i].pid > 0) server_kill_quietly(&h_live[i]);
    if (h_private_redis > 0) h_redis_private_stop(h_private_redis);
    return 0;
}

int h_group_teardown(void **state) {
    h_teardown(state);
    pg_conn_free(h_pg_conn);
    h_pg_conn = NULL;
    return 0;
}

pg_conn *h_pg(void) {
    if (h_pg_conn == NULL) fail_msg("harness: no PostgreSQL connection (use h_group_setup)");
    return h_pg_conn;
}

/* ---- tests per strategy ------------------------------------------------------------------- */

/* Strategies that answer 202 (a waiting line): the race tests' 201 expectations do not apply. */
static const char *const deferred_strategies[] = {"redis-zset", NULL};

/* Registered strategies that answer at once, in registry order; only the correct ones when
 * correct_only. names has room for 64. */
static void immediate_strategies(const char **names, bool correct_only) {
    int n = 0;
    for (int i = 0; strategy_at(i) && n < 63; i++) {
        const strategy_ops *s = strategy_at(i);
        bool deferred = false;
        for (int k = 0; deferred_strategies[k]; k++)
            deferred = deferred || strcmp(s->name, deferred_strategies[k]) == 0;
        if (!deferred && (s->correct || !correct_only)) names[n++] = s->name;
    }
    names[n] = NULL;
}

const char *const *h_correct_strategies(void) {
    static const char *names[64];
    if (names[0] == NULL) immediate_strategies(names, true);
    return names;
}

const char *const *h_all_strategies(void) {
    static const char *names[64];
    if (names[0] == NULL) immediate_strategies(names, false);
    return names;
}

int h_run_tests(const char *group, const h_test *tests, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (tests[i].strategies && tests[i].strategies[k]) k++;
        total += tests[i].strategies ? k : 1;
    }
    struct CMUnitTest *cm = calloc(total ? total : 1, sizeof *cm);
    char **names = calloc(total ? total : 1, sizeof *names);
    if (cm == NULL || names == NULL) {
        fprintf(stderr, "harness: out of memory\n");
        return 1;
    }
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        const char *const *st = tests[i].strategies;
        for (size_t k = 0; st == NULL ? k == 0 : st[k] != NULL; k++) {
            char buf[160];
            if (st) snprintf(buf, sizeof buf, "%s/%s", tests[i].name, st[k]);
            else snprintf(buf, sizeof buf, "%s", tests[i].name);
            names[t] = strdup(buf);
            cm[t] = (struct CMUnitTest){names[t] ? names[t] : tests[i].name, tests[i].fn, NULL,
                                        h_teardown, st ? (void *)st[k] : NULL};
            t++;
        }
    }
    const char *filter = getenv("TR_TEST_FILTER");
    if (filter && filter[0]) cmocka_set_test_filter(filter);
    int rc = _cmocka_run_group_tests(group, cm, total, h_group_setup, h_group_teardown);
    for (size_t i = 0; i < total; i++) free(names[i]);
    free(names);
    free(cm);
    if (rc != 0) {
        /* A failed test leaves its allocations behind (cmocka longjmps out of it); exit without
         * LeakSanitizer's report at exit, which would only bury the failure. Passing runs are
         * still checked for leaks. */
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    return rc;
}

/* ---- database and Redis -------------------------------------------------------------------- */

static redisReply *redis_once(const char *fmt, const char *arg) {
    redis_conn *r = NULL;
    char err[256];
    if (redis_conn_open(h_env_redis(), 5000, &r, err, sizeof err) != TR_OK)
        fail_msg("harness: %s", err);
    redisReply *rep = redis_cmd(r, fmt, arg);
    if (rep == NULL) {
        char why[256];
        snprintf(why, sizeof why, "%s", redis_conn_errstr(r));
        redis_conn_free(r);
        fail_msg("harness: Redis command %s failed: %s", fmt, why);
    }
    redis_conn_free(r);
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[256];
        snprintf(why, sizeof why, "%s", rep->str);
        freeReplyObject(rep);
        fail_msg("harness: Redis command %s: %s", fmt, why);
    }
    return rep;
}

static void redis_clear_concert_keys(void) {
    redisReply *rep =
        redis_once("EVAL %s 0", "for _, p in ipairs({'{concert:*', 'ticketrush:*'}) do "
                                "for _, k in ipairs(redis.call('KEYS', p)) do "
                                "redis.call('DEL', k) end end return 0");
    freeReplyObject(rep);
}

int64_t h_redis_count(const char *pattern) {
    redisReply *rep = redis_once("KEYS %s", pattern);
    int64_t n = rep->type == REDIS_REPLY_ARRAY ? (int64_t)rep->elements : -1;
    freeReplyObject(rep);
    return n;
}

void h_redis_del(const char *key) {
    redisReply *rep = redis_once("DEL %s", key);
    freeReplyObject(rep);
}

int64_t h_redis_exec(const char *command) { return h_redis_exec_at(h_env_redis(), command); }

int64_t h_redis_exec_at(const char *addr, const char *command) {
    char words[256];
    const char *argv[16];
    int argc = 0;
    if (snprintf(words, sizeof words, "%s", command) >= (int)sizeof words)
        fail_msg("harness: Redis command too long: %s", command);
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (argc == (int)(sizeof argv / sizeof argv[0]))
            fail_msg("harness: Redis command has too many words: %s", command);
        argv[argc++] = w;
    }
    if (argc == 0) fail_msg("harness: empty Redis command");
    redis_conn *r = NULL;
    char err[256];
    if (redis_conn_open(addr, 5000, &r, err, sizeof err) != TR_OK) fail_msg("harness: %s", err);
    redisReply *rep = redis_cmd_argv(r, argc, argv, NULL);
    char why[256] = "";
    if (rep == NULL) snprintf(why, sizeof why, "%s", redis_conn_errstr(r));
    else if (rep->type == REDIS_REPLY_ERROR) snprintf(why, sizeof why, "%s", rep->str);
    redis_conn_free(r);
    if (why[0]) {
        if (rep) freeReplyObject(rep);
        fail_msg("harness: Redis command %s: %s", command, why);
    }
    int64_t v = 0;
    if (rep->type == REDIS_REPLY_INTEGER) v = (int64_t)rep->integer;
    else if (rep->type == REDIS_REPLY_STRING) v = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    return v;
}

void h_seed_concert(int64_t concert_id, const h_seed *seed) {
    pg_conn *c = h_pg();
    seed_params p = {
        .concert_id = concert_id,
        .total_seats = seed->seats,
        .vip_seats = seed->vip,
        .customers = seed->customers,
        .sales_open_s = seed->sales_open_s ? seed->sales_open_s : 3600,
    };
    tr_err rc = schema_seed(c, &p);
    if (rc != TR_OK)
        fail_msg("harness: schema_seed: %s", rc == TR_PG ? pg_conn_errstr(c) : tr_strerror(rc));
}

void h_reset(const h_seed *seed) {
    pg_conn *c = h_pg();
    if (schema_create(c, !seed->unguarded) != TR_OK)
        fail_msg("harness: schema_create: %s", pg_conn_errstr(c));
    seed_params p = {
        .concert_id = H_CONCERT,
        .total_seats = seed->seats,
        .vip_seats = seed->vip,
        .customers = seed->customers,
        .sales_open_s = seed->sales_open_s ? seed->sales_open_s : 3600,
    };
    tr_err rc = schema_seed(c, &p);
    if (rc != TR_OK)
        fail_msg("harness: schema_seed: %s", rc == TR_PG ? pg_conn_errstr(c) : tr_strerror(rc));
    redis_clear_concert_keys();
}

int64_t h_sql_int(const char *sql) {
    PGresult *r = pg_exec(h_pg(), sql);
    if (r == NULL) fail_msg("harness: %s: %s", sql, pg_conn_errstr(h_pg()));
    if (PQntuples(r) != 1 || PQnfields(r) != 1) {
        int rows = PQntuples(r), cols = PQnfields(r);
        PQclear(r);
        fail_msg("harness: %s: %d rows x %d columns, want 1 x 1", sql, rows, cols);
    }
    int64_t v = pg_get_i64(r, 0, 0);
    PQclear(r);
    return v;
}

void h_sql_exec(const char *sql) {
    if (pg_exec_ok(h_pg(), sql) != TR_OK) fail_msg("harness: %s: %s", sql, pg_conn_errstr(h_pg()));
}

char *h_db_snapshot(void) {
    static const char sql[] =
        "SELECT 'concerts:' || E'\\n' ||"
        " (SELECT coalesce(string_agg(c::text, E'\\n' ORDER BY c.id), '') FROM concert c) ||"
        " E'\\ntickets:\\n' ||"
        " (SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), '') FROM ticket t) ||"
        " E'\\ncustomers: ' || (SELECT count(*) FROM customer)::text";
    PGresult *r = pg_exec(h_pg(), sql);
    if (r == NULL) fail_msg("harness: snapshot: %s", pg_conn_errstr(h_pg()));
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (s == NULL) fail_msg("harness: out of memory");
    return s;
}

char *h_db_settled(void) {
    char *prev = h_db_snapshot();
    int64_t deadline = h_now_ms() + 3000;
    while (h_now_ms() < deadline) {
        h_sleep_ms(100);
        char *now = h_db_snapshot();
        bool same = strcmp(prev, now) == 0;
        free(prev);
        prev = now;
        if (same) break;
    }
    return prev;
}

int h_tickets(h_ticket_row **out) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT id, customer_id, seat_no, vip FROM ticket WHERE concert_id = %d "
             "ORDER BY seat_no, id",
             H_CONCERT);
    PGresult *r = pg_exec(h_pg(), sql);
    if (r == NULL) fail_msg("harness: %s: %s", sql, pg_conn_errstr(h_pg()));
    int n = PQntuples(r);
    h_ticket_row *rows = calloc((size_t)n + 1, sizeof *rows);
    if (rows == NULL) fail_msg("harness: out of memory");
    for (int i = 0; i < n; i++) {
        rows[i].id = pg_get_i64(r, i, 0);
        rows[i].customer_id = pg_get_i64(r, i, 1);
        rows[i].seat_no = (int32_t)pg_get_i64(r, i, 2);
        rows[i].vip = pg_get_bool(r, i, 3);
    }
    PQclear(r);
    *out = rows;
    return n;
}

/* ---- the server child --------------------------------------------------------------------- */

int h_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail_msg("harness: socket: %s", strerror(errno));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int e = errno;
        close(fd);
        fail_msg("harness: could not find a free port: %s", strerror(e));
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* A whole file, malloc'd and NUL-terminated; "" when unreadable. */
static char *read_file(const char *path) {
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    char *buf = NULL;
    size_t len = 0;
    if (f) {
        if (fseek(f, 0, SEEK_END) == 0) {
            long n = ftell(f);
            if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL)
                len = fread(buf, 1, (size_t)n, f);
        }
        fclose(f);
    }
    if (buf == NULL) buf = calloc(1, 1);
    else buf[len] = '\0';
    return buf;
}

char *h_server_log(const h_server *s) { return read_file(s->log_path); }

/* The last 3000 bytes of a log, for failure messages (a static buffer: nothing to free on the
 * way out of a failing test). */
static const char *log_tail(const char *log_path) {
    static char tail[3001];
    tail[0] = '\0';
    FILE *f = log_path[0] ? fopen(log_path, "r") : NULL;
    if (f == NULL) return tail;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        long from = n > 3000 ? n - 3000 : 0;
        if (fseek(f, from, SEEK_SET) == 0) tail[fread(tail, 1, sizeof tail - 1, f)] = '\0';
    }
    fclose(f);
    return tail;
}

static void live_add(pid_t pid, const char *log_path) {
    for (int i = 0; i < H_MAX_SERVERS; i++)
        if (h_live[i].pid == 0) {
            h_live[i].pid = pid;
            snprintf(h_live[i].log_path, sizeof h_live[i].log_path, "%s", log_path);
            return;
        }
    fail_msg("harness: more than %d servers at once", H_MAX_SERVERS);
}

static void live_remove(pid_t pid) {
    for (int i = 0; i < H_MAX_SERVERS; i++)
        if (h_live[i].pid == pid) h_live[i].pid = 0;
}

/* Waits up to ms for the child; returns true with *status when it exited. */
static bool wait_child(pid_t pid, int ms, int *status) {
    int64_t deadline = h_now_ms() + ms;
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid) return true;
        if (w < 0 && errno != EINTR) return true; /* not our child any more */
        if (h_now_ms() >= deadline) return false;
        h_sleep_ms(10);
    }
}

static void server_kill_quietly(live_child *c) {
    pid_t pid = c->pid;
    c->pid = 0;
    if (pid <= 0) return; /* never kill(0) or kill(-1) */
    int st;
    kill(pid, SIGTERM);
    if (!wait_child(pid, H_STOP_TIMEOUT_MS, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    fprintf(stderr, "harness: server pid %d stopped after a failed test; its output:\n%s\n",
            (int)pid, log_tail(c->log_path));
    unlink(c->log_path);
}

/* GET /livez on a fresh connection; true on 200. */
static bool livez_ok(int port) {
    h_conn *c = h_conn_open(port);
    if (c == NULL) return false;
    char raw[256];
    size_t n = h_fmt_get(raw, sizeof raw, "/livez");
    h_resp r;
    memset(&r, 0, sizeof r);
    bool ok = h_conn_send(c, raw, n) && h_conn_recv(c, &r, 1000) && r.status == 200;
    h_resp_free(&r);
    h_conn_close(c);
    return ok;
}

/* Forks and execs argv (a path, or a name looked up in PATH); returns its pid. Everything the child needs is prepared first:
 * between fork and exec only async-signal-safe calls. */
static pid_t spawn(char *const argv[], const char *log_path) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) fail_msg("harness: %s: %s", log_path, strerror(errno));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd);
        fail_msg("harness: fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* The server must not outlive a crashed test program. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        if (devnull >= 0) dup2(devnull, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execvp(argv[0], argv);
        static const char msg[] = "harness: exec failed\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(127);
    }
    close(fd);
    if (devnull >= 0) close(devnull);
    return pid;
}

static void server_start_va(h_server *s, int fixed_port, const char *strategy, int workers,
                            va_list ap);

void h_server_start(h_server *s, const char *strategy, int workers, ...) {
    va_list ap;
    va_start(ap, workers);
    server_start_va(s, 0, strategy, workers, ap);
    va_end(ap);
}

void h_server_start_on(h_server *s, int port, const char *strategy, int workers, ...) {
    va_list ap;
    va_start(ap, workers);
    server_start_va(s, port, strategy, workers, ap);
    va_end(ap);
}

/* true once the child's output says it serves (another process on a shared port may answer
 * GET /livez before this one listens). */
static bool log_says_serving(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return false;
    char line[512];
    bool serving = false;
    while (!serving && fgets(line, sizeof line, f)) serving = strstr(line, "serving on") != NULL;
    fclose(f);
    return serving;
}

static void server_start_va(h_server *s, int fixed_port, const char *strategy, int workers,
                            va_list ap) {
    const char *argv[H_MAX_ARGS];
    char port_s[16], workers_s[16];
    int argc = 0;
    memset(s, 0, sizeof *s);
    snprintf(workers_s, sizeof workers_s, "%d", workers);
    argv[argc++] = h_env_bin();
    argv[argc++] = "serve";
    argv[argc++] = "--strategy";
    argv[argc++] = strategy;
    argv[argc++] = "--port";
    argv[argc++] = port_s;
    argv[argc++] = "--workers";
    argv[argc++] = workers_s;
    argv[argc++] = "--pg";
    argv[argc++] = h_env_pg();
    argv[argc++] = "--redis";
    argv[argc++] = h_env_redis();
    const char *a;
    bool durability = false;
    while ((a = va_arg(ap, const char *)) != NULL) {
        if (argc >= H_MAX_ARGS - 3) fail_msg("harness: too many server arguments");
        durability = durability || strncmp(a, "--durability", 12) == 0;
        argv[argc++] = a;
    }
    if (strcmp(strategy, "redis-atomic") == 0 && !durability) {
        argv[argc++] = "--durability";
        argv[argc++] = "strict";
    }
    argv[argc] = NULL;

    snprintf(s->log_path, sizeof s->log_path, "/tmp/ticketrush-test-server.XXXXXX");
    int tmp = mkstemp(s->log_path);
    if (tmp < 0) fail_msg("harness: mkstemp: %s", strerror(errno));
    close(tmp);

    /* A port picked by binding port 0 can be taken again before the server binds it: retry. */
    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = fixed_port > 0 ? fixed_port : h_free_port();
        snprintf(port_s, sizeof port_s, "%d", s->port);
        s->pid = spawn((char *const *)argv, s->log_path);
        live_add(s->pid, s->log_path);
        int64_t deadline = h_now_ms() + H_START_TIMEOUT_MS;
        int status = 0;
        bool exited = false;
        while (h_now_ms() < deadline) {
            if (wait_child(s->pid, 0, &status)) {
                exited = true;
                break;
            }
            if (livez_ok(s->port) && (fixed_port == 0 || log_says_serving(s->log_path))) return;
            h_sleep_ms(20);
        }
        const char *log = log_tail(s->log_path);
        if (exited) {
            live_remove(s->pid);
            s->pid = 0;
            if (strstr(log, "could not listen") != NULL && attempt < 2 && fixed_port == 0) continue;
            unlink(s->log_path);
            fail_msg("harness: server (%s, %d workers) exited during start with status %d; "
                     "output:\n%s",
                     strategy, workers,
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), log);
        }
        fail_msg("harness: server (%s) did not answer GET /livez on port %d within %d ms; "
                 "output:\n%s",
                 strategy, s->port, H_START_TIMEOUT_MS, log);
    }
}

void h_server_stop(h_server *s) {
    if (s->pid <= 0) fail_msg("harness: h_server_stop: server not running");
    pid_t pid = s->pid;
    int status = 0;
    int64_t t0 = h_now_ms();
    if (kill(pid, SIGTERM) != 0)
        fail_msg("harness: kill(%d, SIGTERM): %s", (int)pid, strerror(errno));
    bool exited = wait_child(pid, H_STOP_TIMEOUT_MS, &status);
    s->stop_ms = h_now_ms() - t0;
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    s->pid = 0;
    live_remove(pid);
    char *full = h_server_log(s);
    const char *log = log_tail(s->log_path);
    unlink(s->log_path);
    s->log_path[0] = '\0';
    static const char *const reports[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                          "runtime error:", "UndefinedBehaviorSanitizer",
                                          "WARNING: ThreadSanitizer"};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        const char *at = strstr(full, reports[i]);
        if (at) {
            fprintf(stderr, "harness: server output with the sanitizer report:\n%s\n", at);
            free(full);
            fail_msg("server reported \"%s\" (see above)", reports[i]);
        }
    }
    free(full);
    if (!exited)
        fail_msg("server did not exit within %d ms of SIGTERM (clean shutdown); output:\n%s",
                 H_STOP_TIMEOUT_MS, log);
    if (WIFSIGNALED(status))
        fail_msg("server died of signal %d after SIGTERM; output:\n%s", WTERMSIG(status), log);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("server exited with status %d after SIGTERM (want 0); output:\n%s",
                 WEXITSTATUS(status), log);
}

void h_server_kill(h_server *s) {
    if (s->pid <= 0) fail_msg("harness: h_server_kill: server not running");
    pid_t pid = s->pid;
    int status;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    s->pid = 0;
    live_remove(pid);
    unlink(s->log_path);
    s->log_path[0] = '\0';
}

/* ---- raw HTTP/1.1 client -------------------------------------------------------------------- */

#define H_CONN_BUF (H_RESP_HEAD_MAX + 1024 * 1024)

struct h_conn {
    int fd;
    size_t len; /* bytes in buf not yet consumed */
    char *buf;  /* H_CONN_BUF bytes */
};

h_conn *h_conn_open(int port) {
    h_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->buf = malloc(H_CONN_BUF);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->buf == NULL || c->fd < 0) goto fail;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
    return c;
fail:;
    int e = errno;
    h_conn_close(c);
    errno = e;
    return NULL;
}

void h_conn_close(h_conn *c) {
    if (c == NULL) return;
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c);
}

bool h_conn_send(h_conn *c, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads more bytes into c->buf; 1 read, 0 EOF, -1 error/timeout (why filled). */
static int conn_fill(h_conn *c, int64_t deadline, char *why, size_t whylen) {
    if (c->len >= H_CONN_BUF) {
        snprintf(why, whylen, "response larger than %d bytes", H_CONN_BUF);
        return -1;
    }
    for (;;) {
        int64_t left = deadline - h_now_ms();
        if (left <= 0) {
            snprintf(why, whylen, "timed out waiting for the response");
            return -1;
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) {
            snprintf(why, whylen, "poll: %s", strerror(errno));
            return -1;
        }
        if (pr == 0) continue;
        ssize_t n = recv(c->fd, c->buf + c->len, H_CONN_BUF - c->len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            snprintf(why, whylen, "recv: %s", strerror(errno));
            return -1;
        }
        if (n == 0) return 0;
        c->len += (size_t)n;
        return 1;
    }
}

static const char *find_header(const char *head, const char *name, size_t *vlen) {
    size_t nlen = strlen(name);
    const char *line = strstr(head, "\r\n");
    while (line) {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t') v++;
            const char *end = strstr(v, "\r\n");
            if (end == NULL) end = v + strlen(v);
            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
            *vlen = (size_t)(end - v);
            return v;
        }
        line = strstr(line, "\r\n");
    }
    return NULL;
}

bool h_resp_header(const h_resp *r, const char *name, char *out, size_t outlen) {
    size_t vlen = 0;
    const char *v = find_header(r->head, name, &vlen);
    if (v == NULL) return false;
    if (outlen) snprintf(out, outlen, "%.*s", (int)vlen, v);
    return true;
}

int h_conn_wait_closed(h_conn *c, int timeout_ms, size_t *extra) {
    int64_t deadline = h_now_ms() + timeout_ms;
    char why[128];
    for (;;) {
        int f = conn_fill(c, deadline, why, sizeof why);
        if (f > 0 && c->len >= H_CONN_BUF) c->len = 0; /* count, do not keep */
        if (extra) *extra = c->len;
        if (f == 0) return 1;
        if (f < 0) return strstr(why, "timed out") ? 0 : strstr(why, "reset") ? 1 : -1;
    }
}

int h_conn_fd(const h_conn *c) { return c->fd; }

bool h_conn_recv(h_conn *c, h_resp *r, int timeout_ms) {
    int64_t deadline = h_now_ms() + timeout_ms;
    free(r->body);
    memset(r, 0, sizeof *r);
    /* the head */
    char *end = NULL;
    for (;;) {
        if (c->len > 0) {
            /* memmem: the buffer is not NUL-terminated */
            end = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (end) break;
            if (c->len >= H_RESP_HEAD_MAX) {
                snprintf(r->error, sizeof r->error, "response head longer than %d bytes",
                         H_RESP_HEAD_MAX);
                return false;
            }
        }
        int f = conn_fill(c, deadline, r->error, sizeof r->error);
        if (f < 0) return false;
        if (f == 0) {
            snprintf(r->error, sizeof r->error, "connection closed before a response%s",
                     c->len ? " was complete" : "");
            return false;
        }
    }
    size_t head_len = (size_t)(end - c->buf) + 4;
    memcpy(r->head, c->buf, head_len - 2); /* keep the last header's CRLF, drop the blank line */
    r->head[head_len - 2] = '\0';
    int minor = 0;
    if (sscanf(r->head, "HTTP/1.%d %d", &minor, &r->status) != 2) {
        snprintf(r->error, sizeof r->error, "not an HTTP/1.x status line");
        r->status = 0;
        return false;
    }
    char v[64], te[64];
    bool has_len = h_resp_header(r, "Content-Length", v, sizeof v);
    bool chunked = h_resp_header(r, "Transfer-Encoding", te, sizeof te);
    size_t body_len = 0;
    if (has_len) {
        char *e = NULL;
        unsigned long long n = strtoull(v, &e, 10);
        if (e == v || *e != '\0' || n > H_CONN_BUF - H_RESP_HEAD_MAX) {
            snprintf(r->error, sizeof r->error, "bad Content-Length \"%s\"", v);
            r->status = 0;
            return false;
        }
        body_len = (size_t)n;
    } else if (chunked) {
        snprintf(r->error, sizeof r->error, "chunked responses are not supported by the harness");
        r->status = 0;
        return false;
    }
    /* the body: Content-Length bytes, or everything until the server closes */
    bool eof = false;
    while (has_len ? c->len < head_len + body_len : !eof) {
        int f = conn_fill(c, deadline, r->error, sizeof r->error);
        if (f < 0) {
            r->status = 0;
            return false;
        }
        if (f == 0) {
            if (has_len) {
                snprintf(r->error, sizeof r->error, "connection closed inside the body");
                r->status = 0;
                return false;
            }
            eof = true;
        }
    }
    if (!has_len) body_len = c->len - head_len;
    r->body = malloc(body_len + 1);
    if (r->body == NULL) {
        snprintf(r->error, sizeof r->error, "out of memory");
        r->status = 0;
        return false;
    }
    memcpy(r->body, c->buf + head_len, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
    c->len -= head_len + body_len;
    memmove(c->buf, c->buf + head_len + body_len, c->len);
    char conn_hdr[32];
    r->closed = eof || (h_resp_header(r, "Connection", conn_hdr, sizeof conn_hdr) &&
                        strcasecmp(conn_hdr, "close") == 0);
    return true;
}

void h_resp_free(h_resp *r) {
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

size_t h_fmt_get(char *buf, size_t len, const char *path) {
    int n = snprintf(buf, len, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (n < 0 || (size_t)n >= len) fail_msg("harness: request for %s does not fit", path);
    return (size_t)n;
}

size_t h_fmt_post(char *buf, size_t len, const char *path, const char *content_type,
                  const char *body) {
    char ct[160] = "";
    if (content_type) snprintf(ct, sizeof ct, "Content-Type: %s\r\n", content_type);
    int n =
        snprintf(buf, len, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n%s",
                 path, ct, strlen(body), body);
    if (n < 0 || (size_t)n >= len) fail_msg("harness: request for %s does not fit", path);
    return (size_t)n;
}

size_t h_fmt_purchase(char *buf, size_t len, int64_t concert_id, int64_t customer_id) {
    char body[96];
    snprintf(body, sizeof body, "{\"customerId\": %" PRId64 ", \"concertId\": %" PRId64 "}",
             customer_id, concert_id);
    return h_fmt_post(buf, len, "/concert/purchase/ticket", "application/json", body);
}

/* Length of the request line, for messages. */
static int line_len(const char *raw) {
    size_t n = strcspn(raw, "\r\n");
    return n > 120 ? 120 : (int)n;
}

void h_roundtrip(h_conn *c, const char *raw, size_t len, h_resp *r) {
    if (!h_conn_send(c, raw, len)) fail_msg("harness: send: %s", strerror(errno));
    if (!h_conn_recv(c, r, H_IO_TIMEOUT_MS))
        fail_msg("harness: no response to \"%.*s\": %s", line_len(raw), raw, r->error);
}

bool h_request_try(int port, const char *raw, size_t len, h_resp *r) {
    h_conn *c = h_conn_open(port);
    if (c == NULL) {
        snprintf(r->error, sizeof r->error, "connect to port %d: %s", port, strerror(errno));
        return false;
    }
    bool ok = h_conn_send(c, raw, len);
    if (!ok) snprintf(r->error, sizeof r->error, "send: %s", strerror(errno));
    else ok = h_conn_recv(c, r, H_IO_TIMEOUT_MS);
    h_conn_close(c);
    return ok;
}

void h_request(int port, const char *raw, size_t len, h_resp *r) {
    if (!h_request_try(port, raw, len, r))
        fail_msg("harness: no response to \"%.*s\": %s", line_len(raw), raw, r->error);
}

void h_get(int port, const char *path, h_resp *r) {
    char raw[512];
    size_t n = h_fmt_get(raw, sizeof raw, path);
    h_request(port, raw, n, r);
}

void h_purchase(int port, int64_t concert_id, int64_t customer_id, h_resp *r) {
    char raw[512];
    size_t n = h_fmt_purchase(raw, sizeof raw, concert_id, customer_id);
    h_request(port, raw, n, r);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

json_t *h_json(const h_resp *r) {
    json_error_t jerr;
    json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, &jerr) : NULL;
    if (j == NULL)
        fail_msg("response %d body is not JSON: %s", r->status, r->body ? r->body : "(none)");
    if (!json_is_object(j)) {
        json_decref(j);
        fail_msg("response %d body is not a JSON object: %s", r->status, r->body);
    }
    return j;
}

int64_t h_json_int(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        char *s = json_dumps(obj, JSON_COMPACT);
        fail_msg("\"%s\" is not an integer in %s", key, s ? s : "?");
    }
    return (int64_t)json_integer_value(v);
}

const char *h_json_str(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        char *s = json_dumps(obj, JSON_COMPACT);
        fail_msg("\"%s\" is not a string in %s", key, s ? s : "?");
    }
    return json_string_value(v);
}

bool h_check_error(const h_resp *r, int status, const char *code, char *why, size_t whylen) {
    const char *body = r->body ? r->body : "(none)";
    if (r->status != status) {
        snprintf(why, whylen, "status %d, want %d %s; body: %.300s", r->status, status, code, body);
        return false;
    }
    char ct[128] = "";
    if (!h_resp_header(r, "Content-Type", ct, sizeof ct) ||
        strncasecmp(ct, "application/json", 16) != 0) {
        snprintf(why, whylen, "status %d: Content-Type \"%s\", want application/json; body: %.300s",
                 status, ct, body);
        return false;
    }
    json_error_t jerr;
    json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, &jerr) : NULL;
    const char *got = json_string_value(json_object_get(j, "error"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    bool ok = got && strcmp(got, code) == 0 && msg && msg[0];
    if (!ok)
        snprintf(why, whylen, "want {\"error\": \"%s\", \"message\": …}; body: %.300s", code, body);
    json_decref(j);
    return ok;
}

void h_expect_error(const h_resp *r, int status, const char *code) {
    char why[512];
    if (!h_check_error(r, status, code, why, sizeof why)) fail_msg("%s", why);
}

int64_t h_expect_ticket(const h_resp *r, int64_t concert_id, int64_t customer_id) {
    if (r->status != 201)
        fail_msg("status %d, want 201 for customer %" PRId64 "; body: %s", r->status, customer_id,
                 r->body ? r->body : "(none)");
    json_t *j = h_json(r);
    H_EQ(h_json_int(j, "concertId"), concert_id);
    H_EQ(h_json_int(j, "customerId"), customer_id);
    int64_t seat = h_json_int(j, "seatNo");
    H_TRUE(json_is_boolean(json_object_get(j, "vip")), "vip is a boolean: %s", r->body);
    h_json_int(j, "ticketId");
    h_json_str(j, "issuedAt");
    h_json_str(j, "concertStartsAt");
    h_json_str(j, "customerName");
    H_EQ(json_object_size(j), 8);
    json_decref(j);
    return seat;
}

int64_t h_expect_owned(const h_resp *r, int64_t concert_id, int64_t customer_id) {
    h_expect_error(r, 409, "already_owned");
    json_t *j = h_json(r);
    json_t *t = json_object_get(j, "ticket");
    H_TRUE(json_is_object(t), "already_owned carries the ticket: %s", r->body);
    H_EQ(h_json_int(t, "concertId"), concert_id);
    H_EQ(h_json_int(t, "customerId"), customer_id);
    int64_t seat = h_json_int(t, "seatNo");
    json_decref(j);
    return seat;
}

double h_metric(int port, const char *series) {
    h_resp r = {0};
    h_get(port, "/metrics", &r);
    double v = r.status == 200 && r.body ? -1 : -2;
    size_t n = strlen(series);
    for (const char *p = v == -1 ? r.body : NULL; p && *p;
         p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    h_resp_free(&r);
    return v;
}

void h_resp_code(const h_resp *r, char *out, size_t outlen) {
    out[0] = '\0';
    if (r->body == NULL) return;
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    const char *code = json_string_value(json_object_get(j, "error"));
    if (code) snprintf(out, outlen, "%s", code);
    json_decref(j);
}

/* ---- bursts --------------------------------------------------------------------------------- */

struct burst_arg {
    h_conn *conn;
    h_burst_req *req;
    pthread_barrier_t *barrier;
    int timeout_ms;
    bool sent;
    int send_errno;
};

static void *burst_main(void *p) {
    struct burst_arg *a = p;
    pthread_barrier_wait(a->barrier);
    a->req->sent_ms = h_now_ms();
    a->sent = h_conn_send(a->conn, a->req->raw, a->req->len);
    if (!a->sent) {
        a->send_errno = errno;
        return NULL;
    }
    h_conn_recv(a->conn, &a->req->resp, a->timeout_ms);
    a->req->done_ms = h_now_ms();
    return NULL;
}

void h_burst(int port, h_burst_req *reqs, int n, int timeout_ms) {
    struct burst_arg *args = calloc((size_t)n, sizeof *args);
    pthread_t *threads = calloc((size_t)n, sizeof *threads);
    pthread_barrier_t barrier;
    if (args == NULL || threads == NULL) fail_msg("harness: out of memory");
    for (int i = 0; i < n; i++) {
        args[i].conn = h_conn_open(port);
        if (args[i].conn == NULL) fail_msg("harness: burst connect %d: %s", i, strerror(errno));
        args[i].req = &reqs[i];
        args[i].barrier = &barrier;
        args[i].timeout_ms = timeout_ms;
        memset(&reqs[i].resp, 0, sizeof reqs[i].resp);
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, burst_main, &args[i]) != 0)
            fail_msg("harness: pthread_create %d failed", i);
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);
    int failed = -1;
    for (int i = 0; i < n; i++) {
        h_conn_close(args[i].conn);
        if (failed < 0 && (!args[i].sent || reqs[i].resp.status == 0)) failed = i;
    }
    if (failed >= 0) {
        char why[160];
        snprintf(why, sizeof why, "%s",
                 args[failed].sent ? reqs[failed].resp.error : strerror(args[failed].send_errno));
        free(args);
        free(threads);
        fail_msg("burst request %d of %d got no response: %s", failed, n, why);
    }
    free(args);
    free(threads);
}

void h_burst_free(h_burst_req *reqs, int n) {
    for (int i = 0; i < n; i++) h_resp_free(&reqs[i].resp);
}

/* ---- other processes ------------------------------------------------------------------------ */

/* CMake compiles harness.c by its absolute path: three levels up is the source tree. */
void h_services_script(char *out, size_t len) {
    snprintf(out, len, "%s", __FILE__);
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(out, '/');
        if (slash == NULL || out[0] != '/')
            fail_msg("cannot find scripts/services.sh from __FILE__ %s", __FILE__);
        *slash = '\0';
    }
    size_t n = strlen(out);
    snprintf(out + n, len - n, "/scripts/services.sh");
    if (access(out, X_OK) != 0) fail_msg("%s is not an executable", out);
}

int h_run(const char *const *argv, int timeout_ms, char **out) {
    char log_path[64];
    snprintf(log_path, sizeof log_path, "/tmp/ticketrush-test-run.XXXXXX");
    int tmp = mkstemp(log_path);
    if (tmp < 0) fail_msg("harness: mkstemp: %s", strerror(errno));
    close(tmp);
    pid_t pid = spawn((char *const *)argv, log_path);
    int status = 0;
    bool exited = wait_child(pid, timeout_ms, &status);
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (out) *out = read_file(log_path);
    unlink(log_path);
    if (!exited) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* true when a Redis on port answers PING with +PONG. */
static bool redis_pong(int port) {
    h_conn *c = h_conn_open(port);
    if (c == NULL) return false;
    char buf[16] = "";
    bool ok = h_conn_send(c, "PING\r\n", 6);
    struct pollfd pfd = {c->fd, POLLIN, 0};
    ok = ok && poll(&pfd, 1, 1000) == 1 && recv(c->fd, buf, sizeof buf - 1, 0) > 0 &&
         strncmp(buf, "+PONG", 5) == 0;
    h_conn_close(c);
    return ok;
}

pid_t h_redis_private_start(int port_or_0, int *port) {
    return h_redis_private_start_in(port_or_0, NULL, port);
}

pid_t h_redis_private_start_in(int port_or_0, const char *dir, int *port) {
    if (h_private_redis > 0) fail_msg("harness: one private Redis at a time");
    *port = port_or_0 ? port_or_0 : h_free_port();
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", *port);
    /* Without a dir: no snapshot file at all (dbfilename in /tmp would be shared by tests). */
    const char *argv[] = {"redis-server",
                          "--bind",
                          "127.0.0.1",
                          "--port",
                          port_s,
                          "--save",
                          "",
                          "--appendonly",
                          "no",
                          "--daemonize",
                          "no",
                          "--dir",
                          dir ? dir : "/tmp",
                          "--dbfilename",
                          dir ? "dump.rdb" : "ticketrush-test-never-saved.rdb",
                          NULL};
    pid_t pid = spawn((char *const *)argv, "/dev/null");
    h_private_redis = pid;
    int64_t deadline = h_now_ms() + H_START_TIMEOUT_MS;
    while (!redis_pong(*port)) {
        int status;
        if (wait_child(pid, 0, &status)) {
            h_private_redis = 0;
            fail_msg("harness: redis-server on port %d exited at start (is redis-server in PATH?)",
                     *port);
        }
        if (h_now_ms() > deadline)
            fail_msg("harness: redis-server on port %d does not answer", *port);
        h_sleep_ms(20);
    }
    return pid;
}

void h_redis_private_stop(pid_t pid) {
    int status;
    if (pid <= 0) fail_msg("harness: h_redis_private_stop(%d)", (int)pid);
    kill(pid, SIGKILL);
    if (!wait_child(pid, H_STOP_TIMEOUT_MS, &status))
        fail_msg("harness: redis-server %d survived SIGKILL", (int)pid);
    if (h_private_redis == pid) h_private_redis = 0;
}

void h_open_sale(void) {
    const char *argv[] = {h_env_bin(), "db",      "open-sale",   "--pg",
                          h_env_pg(),  "--redis", h_env_redis(), NULL};
    char *out = NULL;
    int rc = h_run(argv, 60000, &out);
    if (rc != 0) fail_msg("db open-sale exited %d: %s", rc, out ? out : "");
    free(out);
}

/* ---- a private Redis Cluster ---------------------------------------------------------------- */

int h_cluster_start(int masters, const char *tag, char *dir, size_t dirlen, char *seeds,
                    size_t seedslen, char *why, size_t whylen) {
    char script[512];
    h_services_script(script, sizeof script);
    dir[0] = '\0';
    seeds[0] = '\0';
    const char *svc = getenv("TICKETRUSH_SVC_DIR");
    char tmpl[512], count[8];
    snprintf(tmpl, sizeof tmpl, "%s/%s.XXXXXX", svc && svc[0] ? svc : "/tmp", tag);
    snprintf(count, sizeof count, "%d", masters);
    if (mkdtemp(tmpl) == NULL) {
        snprintf(why, whylen, "mkdtemp %s: %s", tmpl, strerror(errno));
        return -1;
    }
    chmod(tmpl, 0755); /* PostgreSQL runs as its own user when we are root: let it in */
    /* services.sh refuses a non-empty directory it did not make; an empty one it takes. */
    const char *argv[] = {script, "start", "--cluster", count, "--dir", tmpl, NULL};
    char *out = NULL;
    int rc = h_run(argv, 120000, &out);
    if (rc == 4) {
        print_message("services.sh cannot run a cluster here: %s", out ? out : "");
        free(out);
        rmdir(tmpl);
        return 4;
    }
    snprintf(dir, dirlen, "%s", tmpl);
    if (rc != 0) {
        snprintf(why, whylen, "services.sh start --cluster %d exited %d: %s", masters, rc,
                 out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    char env_path[600], line[1024];
    snprintf(env_path, sizeof env_path, "%s/env", tmpl);
    FILE *f = fopen(env_path, "r");
    if (f == NULL) {
        snprintf(why, whylen, "cannot read %s: %s", env_path, strerror(errno));
        return -1;
    }
    const char *key = "export TICKETRUSH_REDIS_CLUSTER='";
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, strlen(key)) != 0) continue;
        char *v = line + strlen(key), *end = strchr(v, '\'');
        if (end) *end = '\0';
        snprintf(seeds, seedslen, "%s", v);
    }
    fclose(f);
    if (seeds[0] == '\0') {
        snprintf(why, whylen, "%s names no TICKETRUSH_REDIS_CLUSTER", env_path);
        return -1;
    }
    return 0;
}

int h_cluster_stop(char *dir) {
    if (dir[0] == '\0') return 0;
    char script[512];
    h_services_script(script, sizeof script);
    const char *argv[] = {script, "stop", "--purge", "--dir", dir, NULL};
    int rc = h_run(argv, 60000, NULL);
    dir[0] = '\0';
    return rc;
}

int h_redis_processes_in(const char *dir) {
    int n = 0;
    DIR *proc = opendir("/proc");
    if (proc == NULL) return -1;
    size_t dlen = strlen(dir);
    struct dirent *e;
    while ((e = readdir(proc)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], comm[64] = "", cwd[1024];
        snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        if (fgets(comm, sizeof comm, f) == NULL) comm[0] = '\0';
        fclose(f);
        if (strncmp(comm, "redis-server", 12) != 0) continue;
        snprintf(path, sizeof path, "/proc/%s/cwd", e->d_name);
        ssize_t k = readlink(path, cwd, sizeof cwd - 1);
        if (k <= 0) continue;
        cwd[k] = '\0';
        if (strncmp(cwd, dir, dlen) == 0 && (cwd[dlen] == '/' || cwd[dlen] == '\0')) n++;
    }
    closedir(proc);
    return n;
}
