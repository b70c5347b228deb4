/*
 * worker.h - the state of one hookbridge-worker process, shared by its modules:
 * fetch.c (Redis: take jobs, heartbeats, promote, reap, acknowledge), task.c (deliver one
 * job and record the outcome) and deliver.c (libcurl multi).
 */
#ifndef WORKER_H
#define WORKER_H

#include "config.h"
#include "queue.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct store;
struct rconn;
struct evwriter;
struct deliver;
struct job;
struct metrics_batch;

struct worker {
    struct config cfg;
    struct event_base *base;
    struct store *store;
    struct rconn *cmd;   /* commands, scripts */
    struct rconn *block; /* only BLMOVE, which blocks its connection */
    struct evwriter *events;
    struct deliver *deliver;
    struct metrics_batch *metrics; /* counts added to Redis every METRICS_FLUSH_MS */
    struct queue_keys keys;
    char id[128];                     /* host:pid:random */
    char inflight_key[QUEUE_KEY_LEN]; /* queue:inflight:{id} */
    int held;                         /* jobs taken and not yet acknowledged */
    size_t max_rendered;              /* the largest rendered body: 4 x HOOKBRIDGE_MAX_BODY */
    bool stopping;
};

/* ---- fetch.c ---- */

/* Start the timers (heartbeat, promote, reap) and the fetch loop. Returns 0, or -1 when a
 * timer cannot be made (out of memory). */
int fetch_start(struct worker *w);

/* Take more jobs if there is room (called when a job is acknowledged). */
void fetch_more(struct worker *w);

/* Stop the timers and taking jobs. */
void fetch_stop(struct worker *w);

enum fetch_ack_result {
    FETCH_ACK_DONE,      /* final: the job is gone from Redis */
    FETCH_ACK_SCHEDULED, /* scheduled again at due_ms */
    FETCH_ACK_ABORTED,   /* not rescheduled: an abort marked it meanwhile (now deleted) */
    FETCH_ACK_GONE,      /* not rescheduled: its job hash vanished */
};

typedef void (*fetch_ack_cb)(void *arg, enum fetch_ack_result res);

/*
 * Acknowledge a finished job: remove it from this worker's in-flight list, and either
 * delete it and drop it from its bridge's pending set (done = true) or schedule it again
 * at `due_ms` with `attempts` recorded, unless it was aborted meanwhile. `bridge_id` may be
 * NULL when unknown. `cb` (may be NULL) runs once Redis confirmed (retrying by itself
 * while Redis is away).
 */
void fetch_ack(struct worker *w, const char *id, const char *bridge_id, bool done, int attempts,
               int64_t due_ms, fetch_ack_cb cb, void *arg);

/* Put everything still in this worker's in-flight list back on ready (shutdown); blocks
 * on a short-lived synchronous connection since the loop is stopping. */
void fetch_release_all(struct worker *w);

/* ---- task.c ---- */

/* Deliver one job taken from Redis; takes ownership of `job` (heap-allocated). */
void task_run(struct worker *w, struct job *job);

/* Tasks whose HTTP request is in flight. */
int task_active(void);

/* Abandon in-flight requests (shutdown timeout): their jobs stay in the in-flight list and
 * are released by fetch_release_all. */
void task_cancel_all(void);

#endif
