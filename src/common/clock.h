/* clock.h — the program's one clock: monotonic time for timeouts, intervals and latency, the
 * wall clock for time stamps people read, and a sleep. Not the clock of SPEC rule R5 (sales
 * close by Redis TIME or PostgreSQL now(), never by this host's clock). */
#ifndef TR_CLOCK_H
#define TR_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms: for deadlines and intervals; unrelated to the date. */
int64_t tr_mono_ms(void);

/* CLOCK_MONOTONIC in µs: for latency and throughput measurements. */
int64_t tr_mono_us(void);

/* CLOCK_MONOTONIC_COARSE in ms: cheap (no system call), a few ms coarse; for hot paths that
 * only need to know whether a bound passed. Not comparable with tr_mono_ms's values. */
int64_t tr_coarse_ms(void);

/* CLOCK_REALTIME in µs since 1970-01-01 UTC: for time stamps written into run files and logs;
 * it can jump (NTP, an operator), so never for intervals. */
int64_t tr_wall_us(void);

/* Sleeps ms milliseconds (≤ 0: returns at once), resuming after a signal interrupts it. */
void tr_sleep_ms(int ms);

#endif
