/*
 * record.h - SQLite rows for accepted events, written from their jobs in Redis.
 *
 * The ingress writes no event row when it accepts a request: on the two cores a host
 * shares, that write was a quarter of what an accepted request cost (scripts/bench,
 * "ingress"). Every accepted id also goes on the unrecorded list (queue.h), and its row
 * is written by whichever comes first:
 *   - the worker that delivers it (worker/task.c inserts the whole event when no row is
 *     there), the usual case: one SQLite write per event instead of two;
 *   - a reader that lists or counts events (ingress/admin_events.c, admin_stats.c), which
 *     first takes the newest ids off the list, so a list shows an event from its 202;
 *   - the workers' sweep (worker/sweep.c), which takes ids older than a few seconds, so
 *     events that wait (delays, a backlog) get their rows without anyone asking, leaving
 *     those a worker is about to deliver to that delivery (record_sweep).
 * Each writes with INSERT OR IGNORE: whichever comes second changes nothing.
 */
#ifndef RECORD_H
#define RECORD_H

#include <stdbool.h>
#include <stdint.h>

struct rconn;
struct evwriter;
struct queue_keys;

/* Called once the taken ids' rows are queued on the writer (not yet committed: flush the
 * writer to wait for that). `taken` is how many ids came off the list (the caller goes on
 * while it is `max`), or -1 when Redis failed. */
typedef void (*record_cb)(void *arg, int taken);

/*
 * Take up to `max` ids off the unrecorded list: the newest when `older_than_ms` is 0, else
 * the oldest among those received before `older_than_ms` (ms since the epoch). Queue an
 * insert of each one's event, built from its job as it waits (queued, scheduled or aborted),
 * on `w`. Returns 0, or -1 when Redis is down (then `cb` is never called).
 */
int record_take(struct rconn *rc, const struct queue_keys *keys, struct evwriter *w, int max,
                int64_t older_than_ms, record_cb cb, void *arg);

/*
 * record_take for the workers' sweep: the oldest ids made before `older_than_ms`, except that
 * it stops at the first one a worker is about to deliver (its job waits unscheduled and is
 * within `ahead` places of the taking end of the ready list: queue_lua_unrecorded), whose
 * delivery writes its only row, unless that id was made before `late_ms` (it has waited
 * too long to count on that). `ahead` 0 takes every old id.
 */
int record_sweep(struct rconn *rc, const struct queue_keys *keys, struct evwriter *w, int max,
                 int64_t older_than_ms, int ahead, int64_t late_ms, record_cb cb, void *arg);

/* Ids one record_catch_up call takes per script call (a reply of about a megabyte), and the
 * most it takes in all. Beyond that, with no worker running to sweep the list, a read still
 * shows the newest RECORD_CATCH_UP_MAX waiting events, and every event by its id. */
#define RECORD_CATCH_UP_BATCH 1000
#define RECORD_CATCH_UP_MAX 20000

/* Called when record_catch_up is done. `stopping` is true when the writer was cancelled: the
 * process is stopping and Redis is gone, so answer without it (the store is still open). */
typedef void (*record_caught_up_cb)(void *arg, bool stopping);

/*
 * Before a read that lists or counts events: write the rows of the newest events still on
 * the unrecorded list, up to RECORD_CATCH_UP_MAX of them, on `w`, then call `done` once they
 * are committed, without blocking the loop meanwhile. `done` is called exactly once, maybe
 * before this returns (an unthreaded writer commits at once); without Redis or SQLite the
 * read goes on with what SQLite has.
 */
void record_catch_up(struct rconn *rc, const struct queue_keys *keys, struct evwriter *w,
                     record_caught_up_cb done, void *arg);

#endif
