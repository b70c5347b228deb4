/*
 * store.h - the store: bridges and events, each a JSON blob in a row plus the few columns
 * that are indexed. `--db` picks the implementation: a file path is SQLite (store.c), a
 * postgres:// URL is PostgreSQL (store_pg.c); callers do not know which runs. Both bring
 * their schema up to date at open (migrate.h).
 *
 * One `struct store` per thread, never shared (the ingress's event writer thread opens its
 * own). The database is opened in WAL mode with a busy timeout so that the ingress and any
 * number of workers share the file; writers batch with store_begin/store_commit.
 *
 * Every function returns 0 on success, STORE_NOTFOUND when the row does not exist, or -1
 * with a message in `err` (at most `errlen` bytes, NUL included).
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_NOTFOUND 1

struct store;

/* Open (creating file and schema if needed). *out is freed with store_close. */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);

/* Batch writes in one transaction (BEGIN IMMEDIATE). */
int store_begin(struct store *st, char *err, size_t errlen);
int store_commit(struct store *st, char *err, size_t errlen);
void store_rollback(struct store *st);

/* ---- bridges ---- */

int store_bridge_insert(struct store *st, const char *id, const char *endpoint, const char *json,
                        char *err, size_t errlen);
/* Replace the JSON of an existing bridge. */
int store_bridge_update(struct store *st, const char *id, const char *json, char *err,
                        size_t errlen);
int store_bridge_delete(struct store *st, const char *id, char *err, size_t errlen);
/* *json is a new string the caller frees. */
int store_bridge_get(struct store *st, const char *id, char **json, char *err, size_t errlen);
int store_bridge_get_by_endpoint(struct store *st, const char *endpoint, char **json, char *err,
                                 size_t errlen);

/* Called once per row; return non-zero to stop. `json` is only valid during the call. */
typedef int (*store_row_cb)(const char *json, void *arg);

/* Every bridge, oldest first. */
int store_bridge_list(struct store *st, store_row_cb cb, void *arg, char *err, size_t errlen);

/* A number that changes whenever another connection committed a write (PRAGMA
 * data_version), so callers can cache and notice changes made by other processes. */
int64_t store_data_version(struct store *st);

/* ---- meta ---- */

/* *value is a new string the caller frees. */
int store_meta_get(struct store *st, const char *key, char **value, char *err, size_t errlen);

/* Insert unless the key exists (then nothing changes and 0 is returned). */
int store_meta_insert(struct store *st, const char *key, const char *value, char *err,
                      size_t errlen);

/* ---- events ---- */

/* Insert an event; with `or_ignore`, an existing row with that id is left unchanged. */
int store_event_insert(struct store *st, const char *id, const char *bridge_id, const char *status,
                       int64_t received_ms, const char *json, bool or_ignore, char *err,
                       size_t errlen);

struct store_event_update {
    const char *id;
    const char *status;        /* new status (also written into the JSON) */
    const char *attempt_json;  /* appended to "attempts" when not NULL */
    const char *outbound_json; /* replaces "outbound" when not NULL */
    int64_t next_attempt_ms;   /* "next_attempt_at": ISO time, or null when 0 */
};

/* Update an event in place (json_set, no read-modify-write in C). STORE_NOTFOUND if absent. */
int store_event_update(struct store *st, const struct store_event_update *u, char *err,
                       size_t errlen);

/* One event to insert: store_event_insert's arguments. */
struct store_event_row {
    const char *id;
    const char *bridge_id;
    const char *status;
    int64_t received_ms;
    const char *json;
    bool or_ignore;
};

/*
 * store_event_update for each of u[0..n), with one round trip to PostgreSQL for the lot
 * (a pipeline) where one each would have been the writer's cost per event (SQLite runs
 * them one by one: a call costs no round trip there). rc[i] gets 0 or STORE_NOTFOUND. The
 * ids must be distinct: the order among them is not kept. Returns 0, or -1 with the first
 * failure's message, after which the caller's transaction can only be rolled back.
 */
int store_event_update_many(struct store *st, const struct store_event_update *u, size_t n, int *rc,
                            char *err, size_t errlen);

/* store_event_insert for each of rows[0..n), as store_event_update_many does updates. */
int store_event_insert_many(struct store *st, const struct store_event_row *rows, size_t n,
                            char *err, size_t errlen);

/* Replace an event's JSON and status (a read-modify-write inside the caller's
 * store_begin transaction, for one route's outcome). STORE_NOTFOUND if absent. */
int store_event_replace(struct store *st, const char *id, const char *status, const char *json,
                        char *err, size_t errlen);

int store_event_get(struct store *st, const char *id, char **json, char *err, size_t errlen);

/*
 * store_event_get inside a transaction, for a read-modify-write (store_event_replace): the
 * row stays locked until the commit, so two writers changing one event cannot lose each
 * other's change. SQLite's BEGIN IMMEDIATE already serializes writers; PostgreSQL locks the
 * row (SELECT … FOR UPDATE).
 */
int store_event_get_for_update(struct store *st, const char *id, char **json, char *err,
                               size_t errlen);

/*
 * Events newest first (by id, ULIDs sort by time), filtered by bridge_id and status when
 * not NULL, only ids < before when not NULL, at most `limit`.
 */
int store_event_list(struct store *st, const char *bridge_id, const char *status,
                     const char *before, int limit, store_row_cb cb, void *arg, char *err,
                     size_t errlen);

/*
 * store_event_list, and only ids >= since when not NULL (an ids_time_bound, so a time
 * range of the events list is a range of the primary key).
 */
int store_event_list_since(struct store *st, const char *bridge_id, const char *status,
                           const char *before, const char *since, int limit, store_row_cb cb,
                           void *arg, char *err, size_t errlen);

/* Longest `q` store_event_search takes, in bytes. */
#define STORE_QUERY_MAX 256

/*
 * store_event_list_since, and when `q` is neither NULL nor "", only events whose inbound
 * request body (a JSON body as its JSON text) contains `q`, compared case-insensitively.
 * Backed by an index of the bodies (SQLite FTS5 trigram, PostgreSQL pg_trgm), so it stays
 * fast on millions of events for three characters or more; shorter text is scanned.
 */
int store_event_search(struct store *st, const char *bridge_id, const char *status,
                       const char *before, const char *since, const char *q, int limit,
                       store_row_cb cb, void *arg, char *err, size_t errlen);

/*
 * Mark up to `batch` of a bridge's pending events (queued, scheduled, retrying) aborted,
 * in one statement; *changed gets the count. Call again until it is below `batch`.
 */
int store_event_abort_pending(struct store *st, const char *bridge_id, int batch, int *changed,
                              char *err, size_t errlen);

/* Delete up to `batch` events received before `cutoff_ms` (by their ids, which begin with
 * that time); *deleted gets the count. */
int store_event_delete_older(struct store *st, int64_t cutoff_ms, int batch, int *deleted,
                             char *err, size_t errlen);

/* Called once per event status with how many events have it. */
typedef void (*store_count_cb)(const char *status, int64_t count, void *arg);

/* Count events by status. */
int store_event_counts(struct store *st, store_count_cb cb, void *arg, char *err, size_t errlen);

/*
 * Count one bridge's events with ids >= `since` (an ids_time_bound) by status: `cb` once per
 * status that has any. Reads only the (bridge_id, status, id) index, never a row, so the
 * cost follows the bridge's events in that time, not the table.
 */
int store_event_counts_since(struct store *st, const char *bridge_id, const char *since,
                             store_count_cb cb, void *arg, char *err, size_t errlen);

#endif
