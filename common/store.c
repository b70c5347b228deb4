/*
 * store.c - the SQLite store behind bridges and events (see store.h).
 *
 * One ingress and any number of workers open the same file, so everything here is shaped
 * by sharing it: WAL mode lets readers run beside the one writer, the busy timeout makes
 * a writer wait for the write lock instead of failing, and writers take that lock up front
 * (BEGIN IMMEDIATE) so that a transaction never has to upgrade a read snapshot another
 * process has since made stale, the one case the busy timeout cannot cover. Every
 * statement is prepared once at open: the ingress looks a bridge up by endpoint on every
 * inbound request. Events are updated in place with SQLite's JSON functions, so a worker
 * recording an attempt never reads the event into C and never races another writer.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "clock.h"
#include "hb.h"
#include "ids.h"
#include "migrate.h"
#include "store_pg.h"
#include "xalloc.h"

/* Milliseconds a statement waits for another process's lock before SQLITE_BUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Extra tries of BEGIN IMMEDIATE / COMMIT after the busy timeout already ran out once. */
#define STORE_BUSY_RETRIES 3

/* Event list variants: one prepared statement per combination of filters. */
#define LIST_BRIDGE 1
#define LIST_STATUS 2
#define LIST_BEFORE 4
#define LIST_STATUSES 8 /* several statuses: ?2 is a JSON array */
#define LIST_SINCE 16
#define LIST_VARIANTS 32

/* Event update variants: with or without an attempt to append and an outbound to set. */
#define UPDATE_ATTEMPT 1
#define UPDATE_OUTBOUND 2
#define UPDATE_VARIANTS 4

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_DATA_VERSION,
    ST_BRIDGE_INSERT,
    ST_BRIDGE_UPDATE,
    ST_BRIDGE_DELETE,
    ST_BRIDGE_GET,
    ST_BRIDGE_GET_BY_ENDPOINT,
    ST_BRIDGE_LIST,
    ST_EVENT_INSERT,
    ST_EVENT_INSERT_OR_IGNORE,
    ST_EVENT_FTS,
    ST_EVENT_GET,
    ST_EVENT_REPLACE,
    ST_EVENT_DELETE_OLDER,
    ST_EVENT_COUNTS,
    ST_EVENT_ABORT_PENDING,
    ST_META_GET,
    ST_META_INSERT,
    ST_FIXED_COUNT
};

static const char *const fixed_sql[ST_FIXED_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_BRIDGE_INSERT] = "INSERT INTO bridges (id, endpoint, data, updated_at) "
                         "VALUES (?1, ?2, ?3, ?4)",
    /* The endpoint column follows the JSON when it carries one, so that the index the
     * ingress looks bridges up by can never disagree with the bridge itself. */
    [ST_BRIDGE_UPDATE] = "UPDATE bridges SET data = ?2, updated_at = ?3, "
                         "endpoint = coalesce(json_extract(?2, '$.endpoint'), endpoint) "
                         "WHERE id = ?1",
    [ST_BRIDGE_DELETE] = "DELETE FROM bridges WHERE id = ?1",
    [ST_BRIDGE_GET] = "SELECT data FROM bridges WHERE id = ?1",
    [ST_BRIDGE_GET_BY_ENDPOINT] = "SELECT data FROM bridges WHERE endpoint = ?1",
    /* rowid is insertion order even after deletes (a new row gets max(rowid) + 1). */
    [ST_BRIDGE_LIST] = "SELECT data FROM bridges ORDER BY rowid",
    [ST_EVENT_INSERT] = "INSERT INTO events (id, bridge_id, status, received_at, updated_at, "
                        "data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* Not INSERT OR IGNORE: that would also swallow NOT NULL and other violations. */
    [ST_EVENT_INSERT_OR_IGNORE] = "INSERT INTO events (id, bridge_id, status, received_at, "
                                  "updated_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                                  "ON CONFLICT (id) DO NOTHING",
    /* The search index of the rows this transaction inserted (they have the highest
     * rowids: a new row gets max(rowid) + 1), written at its commit (migration 003). */
    [ST_EVENT_FTS] = "INSERT INTO events_fts (rowid, body) SELECT rowid, json_extract(data, "
                     "'$.request.body') FROM events WHERE rowid >= ?1 AND "
                     "json_extract(data, '$.request.body') IS NOT NULL",
    [ST_EVENT_GET] = "SELECT data FROM events WHERE id = ?1",
    [ST_EVENT_REPLACE] = "UPDATE events SET status = ?2, updated_at = ?3, data = ?4 WHERE id = ?1",
    /* Reads only the events_status index. */
    [ST_EVENT_COUNTS] = "SELECT status, count(*) FROM events GROUP BY status",
    /* The subquery walks the (bridge_id, status, id) index; batches keep each write short
     * so that workers' commits interleave with a big abort. */
    [ST_EVENT_ABORT_PENDING] =
        "UPDATE events SET status = 'aborted', updated_at = ?2, "
        "data = json_set(data, '$.status', 'aborted', '$.next_attempt_at', NULL) "
        "WHERE rowid IN (SELECT rowid FROM events WHERE bridge_id = ?1 "
        "AND status IN ('queued', 'scheduled', 'retrying') LIMIT ?3)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_INSERT] = "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
    /* Event ids begin with their receive time (ids_time_bound), so the primary key finds
     * the oldest: one index fewer for every insert to update. */
    [ST_EVENT_DELETE_OLDER] = "DELETE FROM events WHERE rowid IN "
                              "(SELECT rowid FROM events WHERE id < ?1 LIMIT ?2)",
};

struct store {
    struct store_pg *pg; /* set for postgres://: every call goes there (store_pg.c) */
    sqlite3 *db;
    sqlite3_stmt *fixed[ST_FIXED_COUNT];
    sqlite3_stmt *update[UPDATE_VARIANTS];
    sqlite3_stmt *list[LIST_VARIANTS];
    /* The first rowid the open transaction inserted into events, whose events_fts rows
     * store_commit writes; 0 when it inserted none. */
    sqlite3_int64 fts_from;
};

/* A growable list of row copies, so that callbacks run after the statement is reset. */
struct rows {
    char **v;
    size_t n;
    size_t cap;
};

static void store_errf(struct store *st, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "sqlite %s: %s", what, sqlite3_errmsg(st->db));
}

/* Reset after use so the statement holds no read snapshot or lock between calls. */
static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        return sqlite3_bind_null(s, i);
    return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int prepare(struct store *st, const char *sql, sqlite3_stmt **out, char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite prepare \"%.60s\": %s", sql, sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

/*
 * The update statement for one combination of optional parts. ?1 id, ?2 status, ?3
 * updated_at, ?4 next_attempt_at (text or NULL, which json_set writes as JSON null), ?5
 * the attempt, ?6 the outbound. An event written without "attempts" gets the array, since
 * json_set's '[#]' appends only to an array that is already there.
 */
static char *update_sql(int variant)
{
    const char *data = "data";
    const char *with_array = "CASE WHEN json_type(data, '$.attempts') = 'array' THEN data "
                             "ELSE json_set(data, '$.attempts', json('[]')) END";
    return xasprintf("UPDATE events SET status = ?2, updated_at = ?3, "
                     "data = json_set(%s, '$.status', ?2, '$.next_attempt_at', ?4%s%s) "
                     "WHERE id = ?1",
                     (variant & UPDATE_ATTEMPT) ? with_array : data,
                     (variant & UPDATE_ATTEMPT) ? ", '$.attempts[#]', json(?5)" : "",
                     (variant & UPDATE_OUTBOUND) ? ", '$.outbound', json(?6)" : "");
}

/*
 * The list statement for one combination of filters. Each filter is left out rather than
 * written as "(?1 IS NULL OR bridge_id = ?1)", which would keep SQLite from using the
 * (bridge_id, id) and (status, id) indexes to walk ids newest first. ?1 bridge_id, ?2
 * status (a JSON array of them for LIST_STATUSES), ?3 before, ?4 limit, ?5 since.
 */
static char *list_sql(int variant)
{
    const char *status = "";
    if (variant & LIST_STATUSES)
        status = " AND status IN (SELECT value FROM json_each(?2))";
    else if (variant & LIST_STATUS)
        status = " AND status = ?2";
    return xasprintf("SELECT data FROM events WHERE 1%s%s%s%s ORDER BY id DESC LIMIT ?4",
                     (variant & LIST_BRIDGE) ? " AND bridge_id = ?1" : "", status,
                     (variant & LIST_BEFORE) ? " AND id < ?3" : "",
                     (variant & LIST_SINCE) ? " AND id >= ?5" : "");
}

static int prepare_all(struct store *st, char *err, size_t errlen)
{
    for (int i = 0; i < ST_FIXED_COUNT; i++) {
        if (prepare(st, fixed_sql[i], &st->fixed[i], err, errlen) != 0)
            return -1;
    }
    for (int i = 0; i < UPDATE_VARIANTS; i++) {
        char *sql = update_sql(i);
        int rc = prepare(st, sql, &st->update[i], err, errlen);
        free(sql);
        if (rc != 0)
            return -1;
    }
    for (int i = 0; i < LIST_VARIANTS; i++) {
        char *sql = list_sql(i);
        int rc = prepare(st, sql, &st->list[i], err, errlen);
        free(sql);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Switch to WAL; an in-memory database (tests) stays in memory mode, which is fine. */
static int store_set_wal(struct store *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        store_errf(st, err, errlen, "journal_mode=wal");
        goto out_finalize;
    }
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    if (mode == NULL || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
        snprintf(err, errlen, "sqlite journal_mode=wal: got %s", mode ? mode : "nothing");
        goto out_finalize;
    }
    ret = 0;
out_finalize:
    sqlite3_finalize(s);
    return ret;
}

/*
 * Create the file owner-only before SQLite does: SQLite would create it 0644, and it gives
 * the -wal and -shm files the mode of the database file, so all three end up 0600. An
 * existing file keeps its mode and is not opened here at all: closing a descriptor drops
 * every POSIX lock this process holds on the file, those of its SQLite connections too (the
 * ingress opens the store twice). ":memory:" and URIs are left to SQLite.
 */
static int store_create_private(const char *path, char *err, size_t errlen)
{
    if (path[0] == '\0' || path[0] == ':' || strncmp(path, "file:", 5) == 0)
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, errlen, "sqlite open %s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
    struct store *st = xcalloc(1, sizeof(*st));
    *out = NULL;
    if (store_pg_url(path)) {
        if (store_pg_open(path, &st->pg, err, errlen) != 0)
            goto out_close;
        *out = st;
        return 0;
    }
    if (store_create_private(path, err, errlen) != 0)
        goto out_close;
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite open %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto out_close;
    }
    /* First, so that switching to WAL and creating the schema wait for other processes
     * starting at the same moment instead of failing. */
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    if (store_set_wal(st, err, errlen) != 0)
        goto out_close;
    /* NORMAL in WAL mode: a commit survives a process crash; only an OS crash or power
     * loss may take back the last commits, and it never corrupts the file. */
    if (sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        store_errf(st, err, errlen, "synchronous=normal");
        goto out_close;
    }
    if (migrate_sqlite(st->db, migrations_sqlite, migrations_sqlite_count, NULL, err, errlen) != 0)
        goto out_close;
    if (prepare_all(st, err, errlen) != 0)
        goto out_close;
    *out = st;
    return 0;
out_close:
    store_close(st);
    return -1;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    store_pg_close(st->pg);
    for (int i = 0; i < ST_FIXED_COUNT; i++)
        sqlite3_finalize(st->fixed[i]);
    for (int i = 0; i < UPDATE_VARIANTS; i++)
        sqlite3_finalize(st->update[i]);
    for (int i = 0; i < LIST_VARIANTS; i++)
        sqlite3_finalize(st->list[i]);
    sqlite3_close(st->db);
    free(st);
}

/* Run a statement that returns no rows; `what` names it in the error. */
static int step_done(struct store *st, sqlite3_stmt *s, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        store_errf(st, err, errlen, what);
        stmt_done(s);
        return -1;
    }
    stmt_done(s);
    return 0;
}

/*
 * Step BEGIN IMMEDIATE or COMMIT, trying again when SQLITE_BUSY comes back: the busy
 * timeout already waited, but a writer stuck behind a long checkpoint or a burst of other
 * writers is better late than a batch of events dropped.
 */
static int step_retry_busy(struct store *st, sqlite3_stmt *s, const char *what, char *err,
                           size_t errlen)
{
    for (int i = 0;; i++) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) {
            stmt_done(s);
            return 0;
        }
        store_errf(st, err, errlen, what);
        stmt_done(s);
        if ((rc & 0xff) != SQLITE_BUSY || i >= STORE_BUSY_RETRIES)
            return -1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int store_begin(struct store *st, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_begin(st->pg, err, errlen);
    st->fts_from = 0;
    return step_retry_busy(st, st->fixed[ST_BEGIN], "begin", err, errlen);
}

int store_commit(struct store *st, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_commit(st->pg, err, errlen);
    if (st->fts_from != 0) {
        /* One statement (one FTS5 flush) for the whole batch, in its transaction. */
        sqlite3_stmt *s = st->fixed[ST_EVENT_FTS];
        if (sqlite3_bind_int64(s, 1, st->fts_from) != SQLITE_OK) {
            store_errf(st, err, errlen, "index events");
            stmt_done(s);
            return -1;
        }
        if (step_done(st, s, "index events", err, errlen) != 0)
            return -1;
        st->fts_from = 0;
    }
    return step_retry_busy(st, st->fixed[ST_COMMIT], "commit", err, errlen);
}

void store_rollback(struct store *st)
{
    if (st->pg) {
        store_pg_rollback(st->pg);
        return;
    }
    st->fts_from = 0;
    /* Some errors (a full disk, an I/O error) already rolled the transaction back. */
    if (sqlite3_get_autocommit(st->db))
        return;
    sqlite3_step(st->fixed[ST_ROLLBACK]);
    stmt_done(st->fixed[ST_ROLLBACK]);
}

/* Fetch the one text column of a single-row query into a new string. */
static int get_one(struct store *st, sqlite3_stmt *s, const char *what, char **json, char *err,
                   size_t errlen)
{
    int ret;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        *json = xstrdup(v ? v : "");
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        ret = STORE_NOTFOUND;
    } else {
        store_errf(st, err, errlen, what);
        ret = -1;
    }
    stmt_done(s);
    return ret;
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
}

/*
 * Read every row first and only then call back: a failure part way never reaches the
 * callback, the read snapshot ends before the callback runs (a slow caller does not hold
 * back checkpoints), and the callback may use the store itself.
 */
static int for_each_row(struct store *st, sqlite3_stmt *s, const char *what, store_row_cb cb,
                        void *arg, char *err, size_t errlen)
{
    struct rows r = {0};
    int ret = -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (r.n == r.cap) {
            r.cap = r.cap ? r.cap * 2 : 16;
            r.v = xrealloc(r.v, r.cap * sizeof(*r.v));
        }
        const char *v = (const char *)sqlite3_column_text(s, 0);
        r.v[r.n++] = xstrdup(v ? v : "");
    }
    if (rc != SQLITE_DONE) {
        store_errf(st, err, errlen, what);
        stmt_done(s);
        goto out_free_rows;
    }
    stmt_done(s);
    for (size_t i = 0; i < r.n; i++) {
        if (cb(r.v[i], arg) != 0)
            break;
    }
    ret = 0;
out_free_rows:
    rows_free(&r);
    return ret;
}

/* ---- bridges ---- */

int store_bridge_insert(struct store *st, const char *id, const char *endpoint, const char *json,
                        char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_bridge_insert(st->pg, id, endpoint, json, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_BRIDGE_INSERT];
    if ((bind_text(s, 1, id) | bind_text(s, 2, endpoint) | bind_text(s, 3, json) |
         sqlite3_bind_int64(s, 4, clock_now_ms())) != SQLITE_OK) {
        store_errf(st, err, errlen, "insert bridge");
        stmt_done(s);
        return -1;
    }
    return step_done(st, s, "insert bridge", err, errlen);
}

int store_bridge_update(struct store *st, const char *id, const char *json, char *err,
                        size_t errlen)
{
    if (st->pg)
        return store_pg_bridge_update(st->pg, id, json, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_BRIDGE_UPDATE];
    if ((bind_text(s, 1, id) | bind_text(s, 2, json) | sqlite3_bind_int64(s, 3, clock_now_ms())) !=
        SQLITE_OK) {
        store_errf(st, err, errlen, "update bridge");
        stmt_done(s);
        return -1;
    }
    if (step_done(st, s, "update bridge", err, errlen) != 0)
        return -1;
    return sqlite3_changes(st->db) == 0 ? STORE_NOTFOUND : 0;
}

int store_bridge_delete(struct store *st, const char *id, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_bridge_delete(st->pg, id, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_BRIDGE_DELETE];
    if (bind_text(s, 1, id) != SQLITE_OK) {
        store_errf(st, err, errlen, "delete bridge");
        stmt_done(s);
        return -1;
    }
    if (step_done(st, s, "delete bridge", err, errlen) != 0)
        return -1;
    return sqlite3_changes(st->db) == 0 ? STORE_NOTFOUND : 0;
}

int store_bridge_get(struct store *st, const char *id, char **json, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_bridge_get(st->pg, id, json, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_BRIDGE_GET];
    if (bind_text(s, 1, id) != SQLITE_OK) {
        store_errf(st, err, errlen, "get bridge");
        stmt_done(s);
        return -1;
    }
    return get_one(st, s, "get bridge", json, err, errlen);
}

int store_bridge_get_by_endpoint(struct store *st, const char *endpoint, char **json, char *err,
                                 size_t errlen)
{
    if (st->pg)
        return store_pg_bridge_get_by_endpoint(st->pg, endpoint, json, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_BRIDGE_GET_BY_ENDPOINT];
    if (bind_text(s, 1, endpoint) != SQLITE_OK) {
        store_errf(st, err, errlen, "get bridge by endpoint");
        stmt_done(s);
        return -1;
    }
    return get_one(st, s, "get bridge by endpoint", json, err, errlen);
}

int store_bridge_list(struct store *st, store_row_cb cb, void *arg, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_bridge_list(st->pg, cb, arg, err, errlen);
    return for_each_row(st, st->fixed[ST_BRIDGE_LIST], "list bridges", cb, arg, err, errlen);
}

int64_t store_data_version(struct store *st)
{
    if (st->pg)
        return store_pg_data_version(st->pg);
    sqlite3_stmt *s = st->fixed[ST_DATA_VERSION];
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    stmt_done(s);
    return v;
}

/* ---- meta ---- */

int store_meta_get(struct store *st, const char *key, char **value, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_meta_get(st->pg, key, value, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_META_GET];
    if (bind_text(s, 1, key) != SQLITE_OK) {
        store_errf(st, err, errlen, "get meta");
        stmt_done(s);
        return -1;
    }
    return get_one(st, s, "get meta", value, err, errlen);
}

int store_meta_insert(struct store *st, const char *key, const char *value, char *err,
                      size_t errlen)
{
    if (st->pg)
        return store_pg_meta_insert(st->pg, key, value, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_META_INSERT];
    if ((bind_text(s, 1, key) | bind_text(s, 2, value)) != SQLITE_OK) {
        store_errf(st, err, errlen, "insert meta");
        stmt_done(s);
        return -1;
    }
    return step_done(st, s, "insert meta", err, errlen);
}

/* ---- events ---- */

int store_event_insert(struct store *st, const char *id, const char *bridge_id, const char *status,
                       int64_t received_ms, const char *json, bool or_ignore, char *err,
                       size_t errlen)
{
    if (st->pg)
        return store_pg_event_insert(st->pg, id, bridge_id, status, received_ms, json, or_ignore,
                                     err, errlen);
    /* Outside a transaction, one of its own: the row and its search index go together. */
    bool own = sqlite3_get_autocommit(st->db) != 0;
    if (own && store_begin(st, err, errlen) != 0)
        return -1;
    sqlite3_stmt *s = st->fixed[or_ignore ? ST_EVENT_INSERT_OR_IGNORE : ST_EVENT_INSERT];
    int rc;
    if ((bind_text(s, 1, id) | bind_text(s, 2, bridge_id) | bind_text(s, 3, status) |
         sqlite3_bind_int64(s, 4, received_ms) | sqlite3_bind_int64(s, 5, clock_now_ms()) |
         bind_text(s, 6, json)) != SQLITE_OK) {
        store_errf(st, err, errlen, "insert event");
        stmt_done(s);
        rc = -1;
    } else {
        rc = step_done(st, s, "insert event", err, errlen);
    }
    if (rc == 0 && sqlite3_changes(st->db) > 0 && st->fts_from == 0)
        st->fts_from = sqlite3_last_insert_rowid(st->db);
    if (own) {
        if (rc == 0)
            rc = store_commit(st, err, errlen);
        if (rc != 0)
            store_rollback(st);
    }
    return rc;
}

int store_event_update(struct store *st, const struct store_event_update *u, char *err,
                       size_t errlen)
{
    if (st->pg)
        return store_pg_event_update(st->pg, u, err, errlen);
    int variant = (u->attempt_json ? UPDATE_ATTEMPT : 0) | (u->outbound_json ? UPDATE_OUTBOUND : 0);
    sqlite3_stmt *s = st->update[variant];
    char next[CLOCK_ISO_LEN];
    if (u->next_attempt_ms != 0)
        clock_iso8601(u->next_attempt_ms, next);
    int rc = bind_text(s, 1, u->id) | bind_text(s, 2, u->status) |
             sqlite3_bind_int64(s, 3, clock_now_ms()) |
             bind_text(s, 4, u->next_attempt_ms != 0 ? next : NULL);
    if (u->attempt_json)
        rc |= bind_text(s, 5, u->attempt_json);
    if (u->outbound_json)
        rc |= bind_text(s, 6, u->outbound_json);
    if (rc != SQLITE_OK) {
        store_errf(st, err, errlen, "update event");
        stmt_done(s);
        return -1;
    }
    /* `next` lives on this stack frame: step_done resets and clears the bindings. */
    if (step_done(st, s, "update event", err, errlen) != 0)
        return -1;
    return sqlite3_changes(st->db) == 0 ? STORE_NOTFOUND : 0;
}

int store_event_update_many(struct store *st, const struct store_event_update *u, size_t n, int *rc,
                            char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_update_many(st->pg, u, n, rc, err, errlen);
    for (size_t i = 0; i < n; i++) {
        rc[i] = store_event_update(st, &u[i], err, errlen);
        if (rc[i] < 0)
            return -1;
    }
    return 0;
}

int store_event_insert_many(struct store *st, const struct store_event_row *rows, size_t n,
                            char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_insert_many(st->pg, rows, n, err, errlen);
    for (size_t i = 0; i < n; i++) {
        const struct store_event_row *r = &rows[i];
        if (store_event_insert(st, r->id, r->bridge_id, r->status, r->received_ms, r->json,
                               r->or_ignore, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int store_event_replace(struct store *st, const char *id, const char *status, const char *json,
                        char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_replace(st->pg, id, status, json, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_EVENT_REPLACE];
    if ((bind_text(s, 1, id) | bind_text(s, 2, status) | sqlite3_bind_int64(s, 3, clock_now_ms()) |
         bind_text(s, 4, json)) != SQLITE_OK) {
        store_errf(st, err, errlen, "replace event");
        stmt_done(s);
        return -1;
    }
    if (step_done(st, s, "replace event", err, errlen) != 0)
        return -1;
    return sqlite3_changes(st->db) == 0 ? STORE_NOTFOUND : 0;
}

int store_event_get(struct store *st, const char *id, char **json, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_get(st->pg, id, json, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_EVENT_GET];
    if (bind_text(s, 1, id) != SQLITE_OK) {
        store_errf(st, err, errlen, "get event");
        stmt_done(s);
        return -1;
    }
    return get_one(st, s, "get event", json, err, errlen);
}

int store_event_get_for_update(struct store *st, const char *id, char **json, char *err,
                               size_t errlen)
{
    if (st->pg)
        return store_pg_event_get_for_update(st->pg, id, json, err, errlen);
    return store_event_get(st, id, json, err, errlen);
}

/* Characters (not bytes) of a UTF-8 string, as the trigram tokenizer counts them. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* A statuses comma list as the JSON array json_each reads; NULL for one status. */
static char *statuses_json(const char *status)
{
    if (status == NULL || strchr(status, ',') == NULL)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (const char *p = status; *p != '\0';) {
        size_t n = strcspn(p, ",");
        char *one = xstrndup(p, n);
        cJSON_AddItemToArray(arr, cJSON_CreateString(one));
        free(one);
        p += n;
        if (*p == ',')
            p++;
    }
    char *out = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return out;
}

int store_event_list(struct store *st, const char *bridge_id, const char *status,
                     const char *before, int limit, store_row_cb cb, void *arg, char *err,
                     size_t errlen)
{
    return store_event_list_since(st, bridge_id, status, before, NULL, limit, cb, arg, err, errlen);
}

int store_event_list_since(struct store *st, const char *bridge_id, const char *status,
                           const char *before, const char *since, int limit, store_row_cb cb,
                           void *arg, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_search(st->pg, bridge_id, status, before, since, NULL, limit, cb, arg,
                                     err, errlen);
    /* A comma list becomes a JSON array for json_each; one status keeps the plain equality,
     * which walks the (status, id) index newest first. */
    char *statuses = statuses_json(status);
    bool many = statuses != NULL;
    int variant = (bridge_id ? LIST_BRIDGE : 0) | (status ? LIST_STATUS : 0) |
                  (many ? LIST_STATUSES : 0) | (before ? LIST_BEFORE : 0) |
                  (since ? LIST_SINCE : 0);
    sqlite3_stmt *s = st->list[variant];
    /* ?4 is in every variant, so binding a lower number a variant leaves out is harmless. */
    int rc = sqlite3_bind_int(s, 4, limit);
    if (bridge_id)
        rc |= bind_text(s, 1, bridge_id);
    if (status)
        rc |= bind_text(s, 2, many ? statuses : status);
    if (before)
        rc |= bind_text(s, 3, before);
    if (since) /* ?5 exists only in the variants that use it */
        rc |= bind_text(s, 5, since);
    if (rc != SQLITE_OK) {
        store_errf(st, err, errlen, "list events");
        stmt_done(s);
        free(statuses);
        return -1;
    }
    rc = for_each_row(st, s, "list events", cb, arg, err, errlen);
    /* bind_text may not copy: the statement is reset (stmt_done) before this is freed. */
    free(statuses);
    return rc;
}

/*
 * The FTS5 query for `q`: every trigram of it, each a quoted string (its quotes doubled),
 * joined by AND. events_fts keeps no positions (detail=none), so this finds the rows that
 * hold all the trigrams, a superset the caller narrows with the text itself.
 */
static char *fts_trigrams(const char *q)
{
    /* Offsets of the characters (UTF-8 sequence starts). */
    size_t len = strlen(q);
    size_t *starts = xmalloc((len + 1) * sizeof(*starts));
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)q[i] & 0xc0) != 0x80)
            starts[n++] = i;
    starts[n] = len;
    char *out = xmalloc(len * 3 * 2 + n * 8 + 1);
    char *w = out;
    for (size_t i = 0; i + 3 <= n; i++) {
        if (i > 0) {
            memcpy(w, " AND ", 5);
            w += 5;
        }
        *w++ = '"';
        for (size_t k = starts[i]; k < starts[i + 3]; k++) {
            *w++ = q[k];
            if (q[k] == '"')
                *w++ = '"';
        }
        *w++ = '"';
    }
    *w = '\0';
    free(starts);
    return out;
}

/*
 * A text search is prepared per call (the admin API asks, not the hot path). Three
 * characters or more first narrow to the rows events_fts (migration 002) finds for the
 * trigrams; the text is then matched in each remaining body with instr(lower()), which
 * folds ASCII letters (the trigram index folds all of Unicode, so it never drops a row
 * the check would keep). Shorter text is only scanned. The filters are list_sql's.
 */
int store_event_search(struct store *st, const char *bridge_id, const char *status,
                       const char *before, const char *since, const char *q, int limit,
                       store_row_cb cb, void *arg, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_search(st->pg, bridge_id, status, before, since, q, limit, cb, arg,
                                     err, errlen);
    if (q == NULL || q[0] == '\0')
        return store_event_list_since(st, bridge_id, status, before, since, limit, cb, arg, err,
                                      errlen);
    char *statuses = statuses_json(status);
    bool fts = utf8_chars(q) >= 3;
    const char *status_sql = "";
    if (statuses != NULL)
        status_sql = " AND status IN (SELECT value FROM json_each(?2))";
    else if (status != NULL)
        status_sql = " AND status = ?2";
    char *sql = xasprintf(
        "SELECT data FROM events WHERE %sinstr(lower(json_extract(data, '$.request.body')), "
        "lower(?6)) > 0%s%s%s%s ORDER BY id DESC LIMIT ?4",
        fts ? "rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?7) AND " : "",
        bridge_id ? " AND bridge_id = ?1" : "", status_sql, before ? " AND id < ?3" : "",
        since ? " AND id >= ?5" : "");
    char *trigrams = fts ? fts_trigrams(q) : NULL;
    sqlite3_stmt *s = NULL;
    int ret = -1;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        store_errf(st, err, errlen, "search events");
        goto out;
    }
    int rc = sqlite3_bind_int(s, 4, limit) | bind_text(s, 6, q);
    if (fts)
        rc |= bind_text(s, 7, trigrams);
    if (bridge_id)
        rc |= bind_text(s, 1, bridge_id);
    if (status)
        rc |= bind_text(s, 2, statuses ? statuses : status);
    if (before)
        rc |= bind_text(s, 3, before);
    if (since)
        rc |= bind_text(s, 5, since);
    if (rc != SQLITE_OK) {
        store_errf(st, err, errlen, "search events");
        goto out;
    }
    ret = for_each_row(st, s, "search events", cb, arg, err, errlen);
out:
    sqlite3_finalize(s);
    free(trigrams);
    free(statuses);
    free(sql);
    return ret;
}

int store_event_abort_pending(struct store *st, const char *bridge_id, int batch, int *changed,
                              char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_abort_pending(st->pg, bridge_id, batch, changed, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_EVENT_ABORT_PENDING];
    *changed = 0;
    if ((bind_text(s, 1, bridge_id) | sqlite3_bind_int64(s, 2, clock_now_ms()) |
         sqlite3_bind_int(s, 3, batch)) != SQLITE_OK) {
        store_errf(st, err, errlen, "abort events");
        stmt_done(s);
        return -1;
    }
    if (step_done(st, s, "abort events", err, errlen) != 0)
        return -1;
    *changed = sqlite3_changes(st->db);
    return 0;
}

int store_event_delete_older(struct store *st, int64_t cutoff_ms, int batch, int *deleted,
                             char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_delete_older(st->pg, cutoff_ms, batch, deleted, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_EVENT_DELETE_OLDER];
    char bound[HB_ID_LEN];
    ids_time_bound("evt_", cutoff_ms, bound, sizeof(bound));
    *deleted = 0;
    if ((sqlite3_bind_text(s, 1, bound, -1, SQLITE_TRANSIENT) | sqlite3_bind_int(s, 2, batch)) !=
        SQLITE_OK) {
        store_errf(st, err, errlen, "delete old events");
        stmt_done(s);
        return -1;
    }
    if (step_done(st, s, "delete old events", err, errlen) != 0)
        return -1;
    *deleted = sqlite3_changes(st->db);
    return 0;
}

int store_event_counts(struct store *st, store_count_cb cb, void *arg, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_counts(st->pg, cb, arg, err, errlen);
    sqlite3_stmt *s = st->fixed[ST_EVENT_COUNTS];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1), arg);
    if (rc != SQLITE_DONE) {
        store_errf(st, err, errlen, "count events");
        stmt_done(s);
        return -1;
    }
    stmt_done(s);
    return 0;
}

int store_event_counts_since(struct store *st, const char *bridge_id, const char *since,
                             store_count_cb cb, void *arg, char *err, size_t errlen)
{
    if (st->pg)
        return store_pg_event_counts_since(st->pg, bridge_id, since, cb, arg, err, errlen);
    /* Every status named, so that SQLite walks the covering index one status at a time
     * instead of all of the bridge's events. Called once per listed bridge: prepared here
     * rather than kept, as bridge lists are rare next to event writes. */
    static const char sql[] = "SELECT status, count(*) FROM events WHERE bridge_id = ?1 AND "
                              "status IN ('queued','scheduled','retrying','delivered','failed',"
                              "'filtered','aborted') AND id >= ?2 GROUP BY status";
    sqlite3_stmt *s = NULL;
    int rc;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK ||
        bind_text(s, 1, bridge_id) != SQLITE_OK || bind_text(s, 2, since) != SQLITE_OK) {
        store_errf(st, err, errlen, "count a bridge's events");
        sqlite3_finalize(s);
        return -1;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1), arg);
    if (rc != SQLITE_DONE) {
        store_errf(st, err, errlen, "count a bridge's events");
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    return 0;
}
