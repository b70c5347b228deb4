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
 *     events that wait (delays, a backlog) get their rows without anyone asking.
 * Each writes with INSERT OR IGNORE: whichever comes second changes nothing.
 */
#ifndef RECORD_H
#define RECORD_H

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

#endif
