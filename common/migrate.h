/*
 * migrate.h - schema migrations of both stores: ordered SQL files in
 * schemas/migrations/{sqlite,postgres}/NNN_name.sql, compiled in by scripts/embed-migrations,
 * each applied once and recorded in the table schema_migrations (version, name, applied_at).
 *
 * Several processes may start at once on the same database: the runner holds the database's
 * write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: pg_advisory_lock, in store_pg.c) while it
 * reads the version and applies what is missing, so each migration runs exactly once and a
 * process that waited finds nothing left to do. A failing migration rolls back whole.
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stddef.h>

struct migration {
    int version; /* NNN of the file name, strictly increasing */
    const char *name;
    const char *sql;
};

/* Generated from schemas/migrations/ (the arrays end with a {0, NULL, NULL} entry). */
extern const struct migration migrations_sqlite[];
extern const size_t migrations_sqlite_count;
extern const struct migration migrations_postgres[];
extern const size_t migrations_postgres_count;

/* 0 when versions are > 0 and strictly increasing, else -1 with a message. */
int migrate_check(const struct migration *m, size_t n, char *err, size_t errlen);

struct sqlite3;

/*
 * Bring a SQLite database up to the last of `m`: under BEGIN IMMEDIATE, apply every
 * migration above the highest version recorded and record it, then commit. *applied (may
 * be NULL) gets how many ran. A database newer than `m` (its highest version is unknown
 * here) is refused, since this program would misread it.
 */
int migrate_sqlite(struct sqlite3 *db, const struct migration *m, size_t n, int *applied, char *err,
                   size_t errlen);

#endif
