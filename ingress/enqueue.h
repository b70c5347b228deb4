/*
 * enqueue.h - writing one accepted job to Redis, for /hooks/… and for replays.
 *
 * One transaction (MULTI … EXEC) writes the job hash, adds the id to its bridge's pending
 * set and queues it (ready, or scheduled at its due time), atomically: a job is wholly
 * queued or not at all. The jobs of one turn of the event loop share that transaction
 * (bounded in jobs and bytes), and each is answered from its EXEC's reply. With an Idempotency-Key
 * a script (queue_lua_enqueue) does the same after looking the key up and remembers it, so two
 * requests with the same key can never both queue one. With --redis-wait-replicas N the answer also
 * waits for N replicas to hold the job (WAIT), so a Sentinel failover cannot lose an acknowledged
 * one.
 */
#ifndef ENQUEUE_H
#define ENQUEUE_H

#include "ingress.h"

#include <stdint.h>

struct job;

enum enqueue_result {
    ENQUEUE_OK,       /* queued; Redis acknowledged it */
    ENQUEUE_REPLAYED, /* the Idempotency-Key was seen: nothing queued, `id` is the first one */
    /* Redis unreachable or refused: nothing queued (`why` says more). Or, with
     * --redis-wait-replicas, fewer replicas confirmed the job in time: it may be queued
     * and delivered all the same, but a failover could lose it. */
    ENQUEUE_FAILED,
    /* enqueue_batch only: nothing queued; `id` is the first request's record (below). */
    ENQUEUE_CONFLICT,  /* the Idempotency-Key was seen with a different body */
    ENQUEUE_DUPLICATE, /* the dedup key was seen within its window */
};

/* `id` and `why` are valid only during the call. */
typedef void (*enqueue_cb)(enum enqueue_result res, const char *id, const char *why, void *arg);

/*
 * Send `j` (copied into the command: it may be freed once this returns). `due_ms` 0 queues
 * it ready, else scheduled at that time. `idem_key` (may be NULL) is the sender's
 * Idempotency-Key. Returns 0 and `cb` runs later exactly once; or -1 when the Redis link is
 * down, and `cb` is never called.
 */
int enqueue_job(struct ingress *in, const struct job *j, int64_t due_ms, const char *idem_key,
                enqueue_cb cb, void *arg);

/*
 * One inbound request's jobs with what makes them conditional, for enqueue_batch: all of
 * `jobs` are queued in one script, or none. The Idempotency-Key is remembered with the
 * body's hash and the record for QUEUE_IDEMPOTENCY_TTL_S; the dedup key (already reduced to
 * a fixed-length hash of its rendered text) with the record for `dedup_ttl_s`.
 */
struct enqueue_batch {
    const struct job *jobs;
    size_t n;
    int64_t due_ms;
    const char *idem_key;  /* may be NULL */
    const char *body_hash; /* hex sha256 of the raw body; used with idem_key */
    const char *dedup_key; /* may be NULL: the hex of the rendered key's sha256 */
    long dedup_ttl_s;
    bool split; /* the answer lists event_ids */
};

/*
 * Queue a batch. `cb`'s `id` is then the request's record: "1:evt_…" for a single event,
 * "S:evt_…,evt_…" for a split, on ENQUEUE_OK the batch's own, on ENQUEUE_REPLAYED,
 * ENQUEUE_CONFLICT and ENQUEUE_DUPLICATE the first request's (so a repeat can answer as
 * it did). Returns 0, or -1 (link down, `cb` never called).
 */
int enqueue_batch(struct ingress *in, const struct enqueue_batch *bt, enqueue_cb cb, void *arg);

/* Number of enqueues waiting for Redis's answer (for a clean shutdown). */
int enqueue_pending(void);

#endif
