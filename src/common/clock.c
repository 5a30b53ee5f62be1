/* clock.c — clock_gettime and nanosleep behind clock.h. */
#include "common/clock.h"

#include <errno.h>
#include <time.h>

static int64_t clock_us(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tr_mono_ms(void) { return clock_us(CLOCK_MONOTONIC) / 1000; }

int64_t tr_mono_us(void) { return clock_us(CLOCK_MONOTONIC); }

int64_t tr_coarse_ms(void) { return clock_us(CLOCK_MONOTONIC_COARSE) / 1000; }

int64_t tr_wall_us(void) { return clock_us(CLOCK_REALTIME); }

void tr_sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
