/*
 * evwriter.h - batched event writes to SQLite on a libevent loop.
 *
 * Writes are queued and committed together in one transaction every few milliseconds (or
 * when the batch is full), because one transaction per event would make SQLite the
 * bottleneck of both processes. A write's callback runs after its transaction committed,
 * so callers can acknowledge the job in Redis only once the event is durable: a crash in
 * between means a redelivery, never a lost outcome.
 */
#ifndef EVWRITER_H
#define EVWRITER_H

#include "store.h"

#include <stdint.h>

struct event_base;
struct evwriter;

/* Called after the write's transaction committed (ok = 1) or failed for good (ok = 0). */
typedef void (*evwriter_done_cb)(void *arg, int ok);

/* A writer that flushes every `flush_ms` or at `max_batch` queued writes. */
struct evwriter *evwriter_new(struct event_base *base, struct store *st, int flush_ms,
                              int max_batch);

/*
 * A writer whose batches commit on a thread of its own with its own connection to the
 * database at `db_path`, so the loop never waits for SQLite (the ingress: nothing on its
 * loop may take milliseconds; the worker: its loop's CPU goes to deliveries). Callbacks
 * (evwriter_done_cb, evwriter_flushed_cb) still run on the loop, after the commit; an
 * update's `full(arg)` runs on the writer thread (see evwriter_update). Returns 0, or -1
 * with err set.
 */
int evwriter_new_threaded(struct event_base *base, const char *db_path, int flush_ms, int max_batch,
                          struct evwriter **out, char *err, size_t errlen);

/* Queue INSERT OR IGNORE of a new event. Takes ownership of `json`. */
void evwriter_insert(struct evwriter *w, const char *id, const char *bridge_id, const char *status,
                     int64_t received_ms, char *json);

/*
 * Builds the whole event, this update included, for when its row does not exist yet (no
 * reader or sweep wrote it before the outcome: common/record.h). Returns a new string (or
 * NULL: nothing to insert). Called only then, so an update of an existing row never renders
 * the full event. A threaded writer calls it on its thread, inside the transaction: it may
 * read only what nobody changes between the evwriter_update call and the update's `cb`.
 */
typedef char *(*evwriter_full_cb)(void *arg);

/*
 * Queue an update (fields copied). When the event row does not exist yet, the event that
 * `full(arg)` returns is inserted instead. `cb` (may be NULL) runs after commit; `arg`
 * must stay valid until then.
 */
void evwriter_update(struct evwriter *w, const struct store_event_update *u, const char *bridge_id,
                     int64_t received_ms, evwriter_full_cb full, evwriter_done_cb cb, void *arg);

/*
 * The same for one route of an event with routes: the update goes to the route's delivery
 * (event_apply_route; `routes_csv` names every route of the bridge, in order) and the
 * event's status is derived from all of them. `full(arg)` returns the event without this
 * update (the route's outcome is applied to it here).
 */
void evwriter_update_route(struct evwriter *w, const struct store_event_update *u,
                           const char *route, const char *routes_csv, const char *bridge_id,
                           int64_t received_ms, evwriter_full_cb full, evwriter_done_cb cb,
                           void *arg);

/* Write everything queued now and return once it is committed and the callbacks of what
 * was written have run (a threaded writer waits up to 5 s for its thread). Returns 0 or -1
 * (the writes stay queued for a retry). */
int evwriter_flush(struct evwriter *w);

enum evwriter_flushed {
    EVWRITER_COMMITTED, /* everything queued before the call is committed */
    EVWRITER_TIMED_OUT, /* not within 5 s (SQLite unavailable): read what is there */
    EVWRITER_CANCELLED, /* the writer was freed first (shutdown): only free your state */
};
typedef void (*evwriter_flushed_cb)(void *arg, enum evwriter_flushed res);

/*
 * evwriter_flush without blocking the loop: `cb` runs once everything queued now is
 * committed. An unthreaded writer commits and calls it at once; a threaded one is checked
 * every millisecond, so a big batch (a reader's rows: common/record.h) never stalls the
 * requests sharing the loop.
 */
void evwriter_flush_then(struct evwriter *w, evwriter_flushed_cb cb, void *arg);

/* Number of writes queued and not yet being committed (a threaded writer's included). */
int evwriter_pending(const struct evwriter *w);

/* Flush and free. Writes that could not be committed are given up: their callbacks run
 * with ok = 0. */
void evwriter_free(struct evwriter *w);

#endif
