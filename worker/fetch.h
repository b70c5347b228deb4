/*
 * fetch.h - the worker's side of the Redis queue: taking jobs, heartbeats, promoting
 * scheduled jobs, reaping dead workers' jobs, and acknowledging finished ones.
 */
#ifndef FETCH_H
#define FETCH_H

#include <stdbool.h>
#include <stdint.h>

struct worker;
struct job;

/* What fetch hands each job it takes to; takes ownership of `job` (heap-allocated). */
typedef void (*fetch_job_fn)(struct worker *w, struct job *job);

/* How many requests are in flight: fetch takes no more jobs than --concurrency leaves room
 * for. */
typedef int (*fetch_busy_fn)(void);

/* Start the timers (heartbeat, promote, reap) and the fetch loop, handing jobs to `job`
 * (main.c passes task_run, so that fetch knows nothing of how a job is delivered). Returns
 * 0, or -1 when a timer cannot be made (out of memory). */
int fetch_start(struct worker *w, fetch_job_fn job, fetch_busy_fn busy);

/* This worker lets go of queue entry `entry` without an acknowledgement (flow control
 * parked it in Redis): it no longer holds it, so fetch_adopt will not count it as its own. */
void fetch_forget(const char *entry);

/* Hand on one job that something else moved into this worker's in-flight list (the gate's
 * fairness pull): `hash` is its HGETALL reply, a hiredis redisReply. */
struct redisReply;
void fetch_take_one(struct worker *w, const char *id, const struct redisReply *hash);

/* Whether the last look found the ready list empty (a BLMOVE waits for the next id). */
bool fetch_idle(void);

/* Have `fn` called each time the ready list is found empty (the gate's fairness then lets
 * parked routes use the free slots). */
void fetch_on_idle(void (*fn)(struct worker *w));

/* Take more jobs if there is room (called when a job is acknowledged). */
void fetch_more(struct worker *w);

/* Stop the timers and taking jobs. */
void fetch_stop(struct worker *w);

enum fetch_ack_result {
    FETCH_ACK_DONE,      /* final: the job is gone from Redis */
    FETCH_ACK_SCHEDULED, /* scheduled again at due_ms */
    FETCH_ACK_ABORTED,   /* not rescheduled: an abort marked it meanwhile (now deleted) */
    FETCH_ACK_GONE,      /* not rescheduled: its job hash vanished */
    /* an abort marked it: nothing changed (still held); record the event aborted, then
     * acknowledge again with `settled` */
    FETCH_ACK_ABORT_FIRST,
    /* the worker is exiting and Redis never confirmed: nothing changed in Redis, the job
     * stays in the in-flight list, to be put back by the reaper (or at the next start) */
    FETCH_ACK_ABANDONED,
};

typedef void (*fetch_ack_cb)(void *arg, enum fetch_ack_result res);

/*
 * Acknowledge a finished job (`id` is its queue entry, "id" or "id/route"): remove it from
 * this worker's in-flight list, and either delete it and drop it from its bridge's pending
 * set (done = true) or schedule it again at `due_ms` with `attempts` recorded, unless it
 * was aborted meanwhile: then FETCH_ACK_ABORTED when `settled` (the outcome recorded is
 * already aborted or filtered), else FETCH_ACK_ABORT_FIRST with nothing changed.
 * `bridge_id` may be NULL when unknown. `cb` (may be NULL) runs once Redis confirmed
 * (retrying by itself while Redis is away).
 */
void fetch_ack(struct worker *w, const char *id, const char *bridge_id, bool done, int attempts,
               int64_t due_ms, bool settled, fetch_ack_cb cb, void *arg);

/*
 * Replace the taken event id of job `j`, whose bridge `b` has routes, by one queue entry
 * per route (queue_lua_fanout), each due at the request's receive time plus the route's
 * delay. `cb` gets 0 once Redis did it (the job is no longer held), or -1 when it could not
 * be done (the id stays in flight, for the reaper or the next start).
 */
struct bridge;
typedef void (*fetch_fanout_cb)(void *arg, int rc);
void fetch_fanout(struct worker *w, const struct job *j, const struct bridge *b, fetch_fanout_cb cb,
                  void *arg);

/* Put everything still in this worker's in-flight list back on ready (shutdown); blocks
 * on a short-lived synchronous connection since the loop is stopping. */
void fetch_release_all(struct worker *w);

#endif
