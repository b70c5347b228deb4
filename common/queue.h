/*
 * queue.h - the Redis layout of the job queue, shared by the ingress and the workers.
 *
 * Keys under the prefix (default "hb:"), as the README documents for redis-cli:
 * Queue entries are event ids, or "evt_…/route" for one route of a bridge with routes: an
 * event of such a bridge is queued as its id, and the first worker to take it replaces it
 * atomically with one entry per route (queue_lua_fanout).
 *
 *   queue:ready            LIST  entries ready to deliver (LPUSH in, popped from the right)
 *   queue:scheduled        ZSET  event ids by due time in ms (delays and retries)
 *   queue:inflight:{w}     LIST  ids worker w holds (moved there atomically by BLMOVE/LMOVE)
 *   workers                ZSET  worker ids by last heartbeat in ms
 *   job:{event_id}         HASH  what a worker needs (common/job.h); once fanned out also
 *                                "routes" (comma list), "left" (routes not yet final) and
 *                                attempts/requeues/aborted + "/route" for each route
 *   bridge:{id}:pending    SET   ids of the bridge's jobs not yet final (queued, scheduled,
 *                                retrying or in flight), so that abort touches only them
 *   idem:{bridge}:{key}    STRING the event id a request with this Idempotency-Key made
 *                                (24 h TTL)
 *   events:unrecorded      LIST  ids accepted whose event may have no SQLite row yet (LPUSH
 *                                in): the ingress writes none, so that accepting costs no
 *                                SQLite write; common/record.c makes the rows from the jobs
 *
 * The Lua scripts are the only multi-key moves; each runs atomically in Redis, so a crash
 * of the caller at any point leaves every id in exactly one of the lists/sets above.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#define QUEUE_KEY_LEN 192

/* A job put back this many times after worker crashes is failed instead of retried. */
#define QUEUE_MAX_REQUEUES 5

/* How long an Idempotency-Key is remembered. */
#define QUEUE_IDEMPOTENCY_TTL_S 86400

/* Ids an abort script call takes at once: one call's time in Redis stays in milliseconds. */
#define QUEUE_ABORT_BATCH 1000

/* A worker whose heartbeat is older than this is dead: its jobs are put back. */
#define QUEUE_HEARTBEAT_TTL_MS 30000

struct queue_keys {
    char prefix[64];
    char ready[QUEUE_KEY_LEN];
    char scheduled[QUEUE_KEY_LEN];
    char workers[QUEUE_KEY_LEN];
    char unrecorded[QUEUE_KEY_LEN];
};

void queue_keys_init(struct queue_keys *k, const char *prefix);

/* "{prefix}job:{id}" */
void queue_key_job(const struct queue_keys *k, const char *id, char *out, size_t outlen);

/* "{prefix}bridge:{bridge_id}:pending" */
void queue_key_pending(const struct queue_keys *k, const char *bridge_id, char *out, size_t outlen);

/* "{prefix}idem:{bridge_id}:{key}"; false when it does not fit in outlen. */
bool queue_key_idempotency(const struct queue_keys *k, const char *bridge_id, const char *key,
                           char *out, size_t outlen);

/* "{prefix}queue:inflight:{worker}" */
void queue_key_inflight(const struct queue_keys *k, const char *worker, char *out, size_t outlen);

/*
 * Accept one job that carries an Idempotency-Key, atomically (jobs without one go in a
 * MULTI/EXEC, which costs Redis less: ingress/enqueue.c): with an Idempotency-Key whose id is
 * already remembered, do nothing and return {0, first_id}; else (remembering the key for ARGV[3]
 * seconds) write the job hash, add the id to the bridge's pending set, LPUSH it on ready
 * (ARGV[2] is "0") or ZADD it to scheduled at ARGV[2] ms, and LPUSH it on unrecorded; return
 * {1, id}. KEYS: job, ready, scheduled, pending, unrecorded[, idempotency]. ARGV: id, due_ms,
 * ttl_s, then the job's field/value pairs.
 */
extern const char queue_lua_enqueue[];

/*
 * Abort up to ARGV[2] of a bridge's pending jobs: pop their ids from the pending set, mark
 * each job hash "aborted", and move scheduled ones to ready so a worker records them at
 * once; ids already in ready or in flight are found marked when taken or finished.
 * KEYS: pending, scheduled, ready. ARGV: prefix, max. Returns the number of ids popped.
 */
extern const char queue_lua_abort[];

/*
 * Abort one job the way queue_lua_abort does a bridge's: mark its hash "aborted", drop it
 * from the pending set, and move it from scheduled to ready so a worker records it at once;
 * one in ready or in flight is found marked when taken or acknowledged. With ARGV[2] a
 * route name, only that route's entry ("aborted/route"); without, the id and every route
 * entry still pending. Returns 1, or 0 when the job (or route) is gone, final or already
 * aborted. KEYS: job, pending, scheduled, ready. ARGV: id, route or "".
 */
extern const char queue_lua_abort_one[];

/*
 * Attempt a scheduled job now: move it from scheduled to ready (with ARGV[2] a route name,
 * that route's entry; without, the id and every route entry). Returns 1, or 0 when none
 * is in scheduled (queued, in flight, final) or aborted.
 * KEYS: job, scheduled, ready. ARGV: id, route or "".
 */
extern const char queue_lua_retry_now[];

/*
 * Acknowledge a finished attempt: remove the id from the worker's in-flight list; when the
 * job was aborted meanwhile and the outcome recorded was not already final as aborted or
 * filtered (ARGV[5] "1"), change nothing and return "abort_first" (the worker records the
 * event aborted, its last attempt kept, and acknowledges again with ARGV[5] "1"; a crash
 * between the two leaves the job in flight, so the reaper returns it and it ends aborted);
 * with ARGV[5] "1", delete it and drop it from the pending set, returning "aborted";
 * else when ARGV[2] is "1" (final) do the same, returning
 * "done"; else, unless the job is gone ("gone"), record ARGV[3] attempts and schedule it
 * at ARGV[4] ms ("scheduled"). For a route entry ("id/route") the job's fields of that
 * route are the ones read and written, "aborted" (the whole event) or "aborted/route" count,
 * and a final outcome deletes the job only when it was the last route left.
 * This is also where an abort that came while an attempt was on the wire is found, atomically
 * with taking the job: no separate check is sent per attempt.
 * KEYS: inflight, job, scheduled, pending. ARGV: entry, final, attempts, due_ms, settled.
 */
extern const char queue_lua_ack[];

/*
 * queue_lua_ack for a batch, each ack as atomic as alone, answers in order.
 * KEYS: inflight, scheduled, then job, pending for each ack. ARGV: entry, final, attempts,
 * due_ms, settled for each ack.
 */
extern const char queue_lua_ack_many[];

/*
 * Replace a taken event id of a bridge with routes by one entry per route, atomically:
 * remove the id from the worker's in-flight list and the pending set, write "routes" and
 * "left" into the job, and add each "id/route" to the pending set and to ready (due "0",
 * or its route already marked "aborted/route": recorded aborted at once) or scheduled.
 * Returns the number of routes, or 0 when the job is gone or was already
 * fanned out. KEYS: inflight, job, ready, scheduled, pending. ARGV: id, routes as a comma
 * list, then name, due_ms for each route.
 */
extern const char queue_lua_fanout[];

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
 * A live worker's orphans: entries of its own in-flight list that it does not hold (Redis
 * moved them there, but the reply was lost with the connection). Moves ARGV[1] from
 * KEYS[1] (in-flight) back to the taking end of KEYS[2] (ready) if it is still in flight;
 * returns 1 when it moved.
 */
extern const char queue_lua_adopt[];

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

/*
 * One job as it waits, for an event not yet in SQLite (another ingress process accepted it
 * a moment ago): {the job hash's field/value pairs, its due time in scheduled or ""}.
 * KEYS: job, scheduled. ARGV: id.
 */
extern const char queue_lua_peek[];

/*
 * Take ids off the unrecorded list for their rows to be written: with ARGV[3] "newest", up
 * to ARGV[2] from the newest end (a reader about to list events); else up to ARGV[2] from
 * the oldest end whose ids were made before ARGV[3] (ms since the epoch: the workers' sweep,
 * which leaves young events to be recorded by their delivery). Returns {taken, {id, {job
 * hash pairs}, due or "", …}} for the taken ids whose job still exists; an id whose job is
 * gone was finished, and its row written, before its job was deleted.
 * With ARGV[4] ("ahead", > 0) the sweep stops at the first old id that a worker is about to
 * deliver anyway (its delivery writes its only row): one whose job waits unscheduled and
 * was made no later than the id ARGV[4] places from the taking end of ready (anything
 * when ready is shorter), unless it was made before ARGV[5] (ms: waited too long already).
 * KEYS: unrecorded, scheduled, ready. ARGV: prefix, max, "newest" or cutoff_ms[, ahead,
 * late_ms].
 */
extern const char queue_lua_unrecorded[];

#endif
