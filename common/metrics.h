/*
 * metrics.h - counters shared by every process, kept in one Redis HASH
 * ("{prefix}metrics"), and their Prometheus text form for GET /metrics.
 *
 * Counters live in Redis, not in process memory, so that the figures of all ingress and
 * worker processes (on any host) add up and survive restarts. Each process counts locally
 * in a metrics_batch and adds the sums with HINCRBY every METRICS_FLUSH_MS, fire-and-forget:
 * one Redis command per counter a second instead of several per request. /metrics reads
 * the hash once.
 *
 * Field names: "requests|{bridge_id or -}|{code}", "attempts|{success|failure}",
 * "events|{status}", "{hist}|{bucket}", "{hist}|sum_ms", "{hist}|count" with hist
 * "latency" (accepted to delivered) or "response" (destination response time).
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_FIELD_LEN 128

/* How often a process adds its local counts to Redis. */
#define METRICS_FLUSH_MS 500

struct metrics_batch;
struct rconn;

/* An empty set of local counts. */
struct metrics_batch *metrics_batch_new(void);

/* Add n to the local count of `field`. */
void metrics_add(struct metrics_batch *b, const char *field, long long n);

/* Send every non-zero local count to the hash `key` with HINCRBY and zero them. Counts that
 * cannot be sent (Redis down) are kept for the next flush. */
void metrics_flush(struct metrics_batch *b, struct rconn *rc, const char *key);

void metrics_batch_free(struct metrics_batch *b);

/* "{prefix}metrics" */
void metrics_key(const char *prefix, char *out, size_t outlen);

/* The histogram bucket field for `ms` in `hist`: "latency|0.25" … "latency|+Inf". */
void metrics_bucket_field(const char *hist, int64_t ms, char *out, size_t outlen);

/* Queue figures rendered next to the counters. */
struct metrics_queue {
    long long ready, scheduled, in_flight, live_workers;
};

/*
 * Render the hash (`n` strings alternating field and value) and the queue figures as
 * Prometheus text exposition. Returns a new string the caller frees, or NULL when the text
 * would pass 64 MiB.
 */
char *metrics_render(const char *const *strs, size_t n, const struct metrics_queue *q);

/*
 * Per-minute series for the console's overview: "{prefix}stats:m:{minute}:{kind}" STRING
 * counters (minute = Unix ms / 60000; kind "accepted", "delivered" or "failed") with a
 * METRICS_SERIES_TTL_S TTL. metrics_flush adds to them from the same local counts it adds
 * to the hash ("requests|…|202", "events|delivered", "events|failed"), so no caller counts
 * twice. `key` of metrics_flush must be metrics_key's for the prefix.
 */
#define METRICS_SERIES_TTL_S 7200
void metrics_series_key(const char *prefix, int64_t minute, const char *kind, char *out,
                        size_t outlen);

#endif
