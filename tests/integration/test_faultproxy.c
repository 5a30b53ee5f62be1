/* test_faultproxy.c — the fault suite's TCP proxy (src/lab/faultproxy.c) against a small echo
 * backend on loopback: bytes pass both ways; `delay` adds its time each way; `stall` forwards
 * nothing for its time; `cut` closes both sides of every proxied connection; and when either
 * side closes on its own, the proxy closes the other (the server relies on that: a connection
 * never survives a backend restart). Needs no PostgreSQL or Redis. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lab/faultproxy.h"

/* --- an echo backend that also remembers its last accepted connection ------------------- */

typedef struct echo {
    int lfd;
    uint16_t port;
    volatile int last_fd; /* the backend side of the newest proxied connection */
    volatile int stop;
    pthread_t thread;
} echo;

static void *echo_main(void *arg) {
    echo *e = arg;
    struct pollfd fds[64];
    int n = 1;
    fds[0] = (struct pollfd){.fd = e->lfd, .events = POLLIN};
    while (!e->stop) {
        if (poll(fds, (nfds_t)n, 50) <= 0) continue;
        if ((fds[0].revents & POLLIN) && n < 64) {
            int fd = accept(e->lfd, NULL, NULL);
            if (fd >= 0) {
                fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
                e->last_fd = fd;
            }
        }
        for (int i = 1; i < n; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            ssize_t k = recv(fds[i].fd, buf, sizeof buf, 0);
            if (k <= 0) { /* closed by the proxy: forget it (the test may have closed it too) */
                fds[i].fd = -fds[i].fd - 1;
                continue;
            }
            if (send(fds[i].fd, buf, (size_t)k, MSG_NOSIGNAL) < 0) fds[i].fd = -fds[i].fd - 1;
        }
    }
    return NULL;
}

static void echo_start(echo *e) {
    memset(e, 0, sizeof *e);
    e->last_fd = -1;
    e->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    H_EQ(bind(e->lfd, (struct sockaddr *)&a, sizeof a), 0);
    H_EQ(listen(e->lfd, 16), 0);
    H_EQ(getsockname(e->lfd, (struct sockaddr *)&a, &alen), 0);
    e->port = ntohs(a.sin_port);
    pthread_create(&e->thread, NULL, echo_main, e);
}

static void echo_stop(echo *e) {
    e->stop = 1;
    pthread_join(e->thread, NULL);
    close(e->lfd);
}

/* --- the proxy in a thread ----------------------------------------------------------------- */

typedef struct proxy {
    fp_config cfg;
    volatile sig_atomic_t stop;
    volatile uint16_t port, control;
    pthread_t thread;
    tr_err rc;
} proxy;

static void proxy_ready(void *arg, uint16_t listen_port, uint16_t control_port) {
    proxy *p = arg;
    p->control = control_port;
    p->port = listen_port;
}

static void *proxy_main(void *arg) {
    proxy *p = arg;
    char err[256];
    p->rc = fp_run(&p->cfg, err, sizeof err);
    if (p->rc != TR_OK) fprintf(stderr, "fault proxy: %s\n", err);
    return NULL;
}

static void proxy_start(proxy *p, uint16_t backend_port) {
    memset(p, 0, sizeof *p);
    p->cfg = (fp_config){.to_host = "127.0.0.1",
                         .to_port = backend_port,
                         .stop = &p->stop,
                         .ready = proxy_ready,
                         .arg = p};
    pthread_create(&p->thread, NULL, proxy_main, p);
    for (int i = 0; i < 200 && p->port == 0; i++) h_sleep_ms(10);
    H_TRUE(p->port != 0, "the proxy did not start");
}

static void proxy_stop(proxy *p) {
    p->stop = 1;
    pthread_join(p->thread, NULL);
    H_EQ(p->rc, TR_OK);
}

static int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    H_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends one control command, returns its answer line in buf. */
static void control(proxy *p, const char *cmd, char *buf, size_t len) {
    int fd = connect_to(p->control);
    char line[64];
    snprintf(line, sizeof line, "%s\n", cmd);
    H_EQ(send(fd, line, strlen(line), 0), (ssize_t)strlen(line));
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t k = recv(fd, buf + got, len - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
        if (memchr(buf, '\n', got)) break;
    }
    buf[got] = '\0';
    close(fd);
}

/* Sends msg through fd and waits (timeout_ms at most) for its echo; returns ms taken, -1 when
 * nothing came back, -2 when the connection was closed. */
static int64_t round_trip(int fd, const char *msg, int timeout_ms) {
    int64_t t0 = h_now_ms();
    size_t len = strlen(msg);
    if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len) return -2;
    char buf[256];
    size_t got = 0;
    while (got < len) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int left = timeout_ms - (int)(h_now_ms() - t0);
        if (left <= 0 || poll(&pf, 1, left) <= 0) return -1;
        ssize_t k = recv(fd, buf + got, sizeof buf - got, 0);
        if (k <= 0) return -2;
        got += (size_t)k;
    }
    H_TRUE(memcmp(buf, msg, len) == 0, "echo came back changed");
    return h_now_ms() - t0;
}

/* true when fd sees EOF or an error within timeout_ms */
static bool closed_within(int fd, int timeout_ms) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, timeout_ms) <= 0) return false;
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static void bytes_pass_and_delay_adds_its_time(void **state) {
    (void)state;
    echo e;
    proxy p;
    char ans[128];
    echo_start(&e);
    proxy_start(&p, e.port);
    int fd = connect_to(p.port);
    int64_t plain = round_trip(fd, "hello", 2000);
    H_TRUE(plain >= 0 && plain < 100, "plain round trip took %lld ms", (long long)plain);
    control(&p, "delay 150", ans, sizeof ans);
    H_STREQ(ans, "ok delay 150 ms\n");
    int64_t slow = round_trip(fd, "delayed", 3000);
    H_TRUE(slow >= 290 && slow < 1500, "round trip with 150 ms each way took %lld ms",
           (long long)slow);
    control(&p, "pass", ans, sizeof ans);
    int64_t back = round_trip(fd, "again", 2000);
    H_TRUE(back >= 0 && back < 100, "round trip after pass took %lld ms", (long long)back);
    control(&p, "bogus", ans, sizeof ans);
    H_TRUE(strncmp(ans, "error:", 6) == 0, "unknown command answered \"%s\"", ans);
    close(fd);
    proxy_stop(&p);
    echo_stop(&e);
}

static void stall_forwards_nothing_for_its_time(void **state) {
    (void)state;
    echo e;
    proxy p;
    char ans[128];
    echo_start(&e);
    proxy_start(&p, e.port);
    int fd = connect_to(p.port);
    H_CMP(round_trip(fd, "warm", 2000), >=, 0);
    control(&p, "stall 800", ans, sizeof ans);
    H_STREQ(ans, "ok stall 800 ms\n");
    int64_t t = round_trip(fd, "stalled", 3000);
    H_TRUE(t >= 700 && t < 2000, "round trip through an 800 ms stall took %lld ms", (long long)t);
    close(fd);
    proxy_stop(&p);
    echo_stop(&e);
}

static void cut_closes_both_sides(void **state) {
    (void)state;
    echo e;
    proxy p;
    char ans[128];
    echo_start(&e);
    proxy_start(&p, e.port);
    int a = connect_to(p.port), b = connect_to(p.port);
    H_CMP(round_trip(a, "a", 2000), >=, 0);
    H_CMP(round_trip(b, "b", 2000), >=, 0);
    control(&p, "cut", ans, sizeof ans);
    H_STREQ(ans, "ok cut 2\n");
    H_TRUE(closed_within(a, 2000), "client a still open after cut");
    H_TRUE(closed_within(b, 2000), "client b still open after cut");
    /* the backend's sides were closed too: the echo saw EOF (a new connection still works) */
    int c = connect_to(p.port);
    H_CMP(round_trip(c, "after", 2000), >=, 0);
    control(&p, "stats", ans, sizeof ans);
    H_TRUE(strstr(ans, "pairs=1 ") != NULL && strstr(ans, "cuts=1 ") != NULL, "stats: %s", ans);
    close(a);
    close(b);
    close(c);
    proxy_stop(&p);
    echo_stop(&e);
}

static void one_side_closing_closes_the_other(void **state) {
    (void)state;
    echo e;
    proxy p;
    echo_start(&e);
    proxy_start(&p, e.port);
    /* the backend closes: the client must see it at once */
    int fd = connect_to(p.port);
    H_CMP(round_trip(fd, "x", 2000), >=, 0);
    int backend = e.last_fd;
    H_CMP(backend, >=, 0);
    shutdown(backend, SHUT_RDWR);
    H_TRUE(closed_within(fd, 2000), "the client stayed open after the backend closed");
    close(fd);
    /* the client closes: the backend side must be closed too (the echo sees EOF; the proxy
     * holds no pair) */
    fd = connect_to(p.port);
    H_CMP(round_trip(fd, "y", 2000), >=, 0);
    close(fd);
    char ans[128] = "";
    for (int i = 0; i < 100; i++) {
        control(&p, "stats", ans, sizeof ans);
        if (strstr(ans, "pairs=0 ")) break;
        h_sleep_ms(20);
    }
    H_TRUE(strstr(ans, "pairs=0 ") != NULL, "the proxy kept a pair after the client closed: %s",
           ans);
    /* no backend: the client is closed, not kept waiting */
    proxy_stop(&p);
    echo_stop(&e);
    proxy_start(&p, e.port); /* e's port is closed now */
    fd = connect_to(p.port);
    H_TRUE(closed_within(fd, 2000), "the client stayed open with no backend");
    close(fd);
    proxy_stop(&p);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_pass_and_delay_adds_its_time),
        cmocka_unit_test(stall_forwards_nothing_for_its_time),
        cmocka_unit_test(cut_closes_both_sides),
        cmocka_unit_test(one_side_closing_closes_the_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
