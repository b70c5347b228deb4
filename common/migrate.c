/*
 * migrate.c - the migration list check and the SQLite runner (see migrate.h). The
 * PostgreSQL runner lives in store_pg.c, beside the connection it needs.
 */
#include "migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "clock.h"
#include "hb.h"

static const char migrate_table_sqlite[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

int migrate_check(const struct migration *m, size_t n, char *err, size_t errlen)
{
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= last || m[i].sql == NULL || m[i].name == NULL) {
            snprintf(err, errlen, "migration %s: versions must start at 1 and increase",
                     m[i].name ? m[i].name : "?");
            return -1;
        }
        last = m[i].version;
    }
    return 0;
}

static int migrate_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite migration %s: %s", what, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* The highest version recorded, 0 for none. */
static int migrate_current(sqlite3 *db, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1, &s,
                           NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        snprintf(err, errlen, "sqlite migration version: %s", sqlite3_errmsg(db));
        goto out;
    }
    *version = sqlite3_column_int(s, 0);
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

static int migrate_record(sqlite3 *db, const struct migration *m, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO schema_migrations (version, name, applied_at) "
                           "VALUES (?1, ?2, ?3)",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_bind_int(s, 1, m->version) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, clock_now_ms()) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
        snprintf(err, errlen, "sqlite migration %s: record: %s", m->name, sqlite3_errmsg(db));
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

int migrate_sqlite(struct sqlite3 *db, const struct migration *m, size_t n, int *applied, char *err,
                   size_t errlen)
{
    int current = 0;
    int count = 0;
    if (applied != NULL)
        *applied = 0;
    if (migrate_check(m, n, err, errlen) != 0)
        return -1;
    /* The write lock first: a second process starting now waits here (busy timeout) and
     * then reads the version this one leaves. */
    if (migrate_exec(db, "BEGIN IMMEDIATE", "begin", err, errlen) != 0)
        return -1;
    if (migrate_exec(db, migrate_table_sqlite, "schema_migrations", err, errlen) != 0 ||
        migrate_current(db, &current, err, errlen) != 0)
        goto fail;
    if (n > 0 && current > m[n - 1].version) {
        snprintf(err, errlen,
                 "sqlite database is at schema version %d, this program knows up to %d: "
                 "run a newer hookbridge",
                 current, m[n - 1].version);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= current)
            continue;
        if (migrate_exec(db, m[i].sql, m[i].name, err, errlen) != 0 ||
            migrate_record(db, &m[i], err, errlen) != 0)
            goto fail;
        count++;
    }
    if (migrate_exec(db, "COMMIT", "commit", err, errlen) != 0)
        goto fail;
    if (applied != NULL)
        *applied = count;
    return 0;
fail:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
