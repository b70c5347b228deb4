/*
 * ingress.h - the state of one hookbridge-ingress process, shared by its route modules.
 *
 * main.c owns it; hooks.c (public /hooks/…), admin.c (router, token check), health.c and
 * admin_bridges.c / admin_events.c (the admin API) read it.
 */
#ifndef INGRESS_H
#define INGRESS_H

#include "config.h"
#include "queue.h"

struct event_base;
struct store;
struct rconn;
struct evwriter;
struct bcache;
struct metrics_batch;

struct ingress {
    struct config cfg;
    struct queue_keys keys; /* Redis key names under cfg.key_prefix, made once */
    struct event_base *base;
    struct store *store;           /* bridges and events (SQLite) */
    struct rconn *redis;           /* async, reconnecting; NULL context while down */
    struct evwriter *events;       /* rows written for readers (record.h) */
    struct bcache *bridges;        /* bridges by endpoint, ready for checking requests */
    struct metrics_batch *metrics; /* counts added to Redis every METRICS_FLUSH_MS */
};

#endif
