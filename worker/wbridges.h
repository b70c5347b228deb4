/*
 * wbridges.h - the worker's cache of parsed bridges by id, shared by the tasks that use them.
 *
 * Every job needs its bridge; reading the row (an SQLite read or a PostgreSQL round trip)
 * and parsing its JSON with the routes for each delivery cost more than the rest of the
 * worker's own work per job. Entries live WBRIDGES_TTL_MS at most, the staleness the
 * ingress's bcache already has, so a change made through the admin API reaches deliveries
 * within that time. A task holds a reference: an entry replaced, expired or dropped while a
 * delivery is in flight is freed when its last task lets go. "No such bridge" is never
 * cached, so a deleted bridge ends its jobs as soon as its entry expires.
 */
#ifndef WBRIDGES_H
#define WBRIDGES_H

#include <stdbool.h>
#include <stddef.h>

#define WBRIDGES_TTL_MS 1000
/* Past this many entries expired ones are dropped, then all: thousands of bridges must not
 * grow memory without bound. */
#define WBRIDGES_MAX_ENTRIES 10000

struct bridge;
struct store;
struct wbridge;

/*
 * The bridge `id`, read through the cache; with `fresh`, read from the store whatever the
 * cache holds (the entry is replaced): a replay is how a user applies a configuration they
 * just fixed, so it must not go out with the one from a second ago. Returns 0 with *ref set (one
 * reference the caller gives back with wbridges_release; wbridges_bridge gives the bridge, valid
 * while the reference is held), STORE_NOTFOUND when no bridge has that id, or -1 with `err` (the
 * store failed or the row is unreadable).
 */
int wbridges_get(struct store *st, const char *id, bool fresh, struct wbridge **ref, char *err,
                 size_t errlen);

/* The parsed bridge of a held reference (read only: other tasks share it). */
const struct bridge *wbridges_bridge(const struct wbridge *ref);

/* Give back one reference; NULL is allowed. */
void wbridges_release(struct wbridge *ref);

/* Drop every entry from the cache (shutdown); entries still referenced live on until
 * released. */
void wbridges_forget(void);

#endif
