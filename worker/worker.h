/*
 * worker.h - the state of one hookbridge-worker process, which main.c owns and hands to
 * fetch.c (Redis: take jobs, heartbeats, promote, reap, acknowledge), task.c (deliver one
 * job and record the outcome) and sweep.c (rows for events that wait).
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
    uint64_t acked;                   /* jobs acknowledged so far (the sweep's drain rate) */
    size_t max_rendered;              /* the largest rendered body: 4 x HOOKBRIDGE_MAX_BODY */
    bool stopping;
};

#endif
