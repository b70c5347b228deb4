/*
 * clock.h - wall and monotonic time in milliseconds, and the ISO 8601 form events use.
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define CLOCK_ISO_LEN 32

/* Milliseconds since the Unix epoch (wall clock: what users see in events). */
int64_t clock_now_ms(void);

/* Milliseconds from an arbitrary start (monotonic: for durations and timeouts). */
int64_t clock_mono_ms(void);

/* Format `ms` as "2026-11-22T10:00:00.123Z" into `out` (CLOCK_ISO_LEN bytes). */
void clock_iso8601(int64_t ms, char out[CLOCK_ISO_LEN]);

#endif
