/*
 * queue.h - the Redis layout of the job queue, shared by the ingress and the workers.
 *
 * Keys under the prefix (default "hb:"), as the README documents for redis-cli:
 *   queue:ready            LIST  event ids ready to deliver (LPUSH in, popped from the right)
 *   queue:scheduled        ZSET  event ids by due time in ms (delays and retries)
 *   queue:inflight:{w}     LIST  ids worker w holds (moved there atomically by BLMOVE/LMOVE)
 *   workers                ZSET  worker ids by last heartbeat in ms
 *   job:{event_id}         HASH  what a worker needs (common/job.h)
 *
 * The Lua scripts are the only multi-key moves; each runs atomically in Redis, so a crash
 * of the caller at any point leaves every id in exactly one of the lists/sets above.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <stddef.h>

#define QUEUE_KEY_LEN 192

/* A job put back this many times after worker crashes is failed instead of retried. */
#define QUEUE_MAX_REQUEUES 5

/* A worker whose heartbeat is older than this is dead: its jobs are put back. */
#define QUEUE_HEARTBEAT_TTL_MS 30000

struct queue_keys {
    char prefix[64];
    char ready[QUEUE_KEY_LEN];
    char scheduled[QUEUE_KEY_LEN];
    char workers[QUEUE_KEY_LEN];
};

void queue_keys_init(struct queue_keys *k, const char *prefix);

/* "{prefix}job:{id}" */
void queue_key_job(const struct queue_keys *k, const char *id, char *out, size_t outlen);

/* "{prefix}queue:inflight:{worker}" */
void queue_key_inflight(const struct queue_keys *k, const char *worker, char *out, size_t outlen);

/*
 * Move due ids from scheduled to ready. KEYS: scheduled, ready. ARGV: now_ms, max.
 * Returns the number moved.
 */
extern const char queue_lua_promote[];

/*
 * Move up to ARGV[2] ids from ready to an in-flight list and return, for each, the id and
 * its job hash as a flat field/value array: {id1, {f, v, …}, id2, {…}, …}.
 * KEYS: ready, inflight. ARGV: prefix, max.
 */
extern const char queue_lua_fetch[];

/*
 * Put back the jobs of workers whose heartbeat is older than ARGV[2] (ms): each id goes
 * to the right end of ready (next to be taken) and its job's "requeues" grows by one.
 * KEYS: workers, ready. ARGV: prefix, cutoff_ms, own worker id (never reaped).
 * Returns the number of jobs put back.
 */
extern const char queue_lua_reap[];

/*
 * Put every id of one in-flight list back on ready (a worker's own, at shutdown).
 * KEYS: inflight, ready, workers. ARGV: worker id. Returns the number moved.
 */
extern const char queue_lua_release[];

/*
 * Queue depths for /api/stats: {ready, scheduled, in_flight, live_workers}, where
 * in_flight adds up the in-flight lists of every registered worker and live_workers counts
 * heartbeats newer than ARGV[2]. KEYS: ready, scheduled, workers. ARGV: prefix, cutoff_ms.
 */
extern const char queue_lua_stats[];

#endif
