/*
 * retry.h - when to try a failed delivery again.
 *
 * The default schedule is Sidekiq's: retry k (k = 0 for the first retry) waits
 * k^4 + 15 + rand(0..29) * (k + 1) seconds. A bridge may give its own list instead, and a
 * destination's Retry-After on 429/503 (read by worker/deliver.c) wins when it asks for
 * longer.
 */
#ifndef RETRY_H
#define RETRY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Seconds to wait before retry `k` (0-based). With `ndelays` > 0, retry_delays[min(k,
 * ndelays-1)]; otherwise the default formula with `jitter` (0..29, the caller's random
 * draw, passed in so that tests are deterministic).
 */
long retry_delay_seconds(int k, const long *delays, size_t ndelays, unsigned jitter);

/* A random jitter in 0..29 for retry_delay_seconds. */
unsigned retry_jitter(void);

#endif
