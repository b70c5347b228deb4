/*
 * test_migrate.c - unit tests for common/migrate.c on real SQLite files: a fresh database
 * gets every migration once; a file made by the schema from before migrations (001 alone,
 * with events in it) upgrades in place and its events become searchable; a failing
 * migration leaves nothing behind; a database newer than the program is refused; an
 * unordered list is refused; several processes migrating one file at once apply each
 * migration exactly once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hb.h"
#include "migrate.h"
#include "store.h"
#include "tmpdb.h"

static int setup(void **state)
{
    *state = tmpdb_open();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    return tmpdb_close(*state);
}

/* A plain connection to a new file beside the test's database. */
static sqlite3 *open_raw(const struct tmpdb *d, const char *name)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/%s", d->dir, name);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void remove_raw(const struct tmpdb *d, const char *name)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char path[224];
        snprintf(path, sizeof(path), "%s/%s%s", d->dir, name, suffixes[i]);
        unlink(path);
    }
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void test_fresh_database_gets_every_migration_once(void **state)
{
    struct tmpdb *d = *state;
    char err[HB_ERR_LEN];
    sqlite3 *db = open_raw(d, "fresh.db");
    int applied = -1;
    assert_int_equal(
        migrate_sqlite(db, migrations_sqlite, migrations_sqlite_count, &applied, err, sizeof err),
        0);
    assert_int_equal(applied, (int)migrations_sqlite_count);
    assert_true(migrations_sqlite_count >= 2);
    assert_int_equal(one_int(db, "SELECT count(*) FROM schema_migrations"),
                     (int64_t)migrations_sqlite_count);
    assert_int_equal(one_int(db, "SELECT max(version) FROM schema_migrations"),
                     migrations_sqlite[migrations_sqlite_count - 1].version);
    assert_int_equal(
        migrate_sqlite(db, migrations_sqlite, migrations_sqlite_count, &applied, err, sizeof err),
        0);
    assert_int_equal(applied, 0);
    sqlite3_close(db);
    remove_raw(d, "fresh.db");
}

static int count_rows(const char *json, void *arg)
{
    (void)json;
    (*(int *)arg)++;
    return 0;
}

/* A file as hookbridge made it before migrations: the old schema (001 is that file,
 * unchanged apart from comments), no schema_migrations, events already stored. */
static void test_old_file_upgrades_in_place(void **state)
{
    struct tmpdb *d = *state;
    char err[HB_ERR_LEN];
    sqlite3 *db = open_raw(d, "old.db");
    assert_int_equal(sqlite3_exec(db, migrations_sqlite[0].sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO events VALUES ('evt_01JF00000000000000000000A1', "
                                  "'brg_01JF00000000000000000000B1', 'delivered', 1, 1, "
                                  "'{\"id\":\"evt_01JF00000000000000000000A1\",\"request\":"
                                  "{\"body\":{\"order\":\"A-10023\"}}}')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    char path[192];
    snprintf(path, sizeof(path), "%s/old.db", d->dir);
    struct store *st = NULL;
    assert_int_equal(store_open(path, &st, err, sizeof err), 0);
    int n = 0;
    assert_int_equal(store_event_search(st, NULL, NULL, NULL, NULL, "a-10023", 10, count_rows, &n,
                                        err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(store_event_search(st, NULL, NULL, NULL, NULL, "A-10024", 10, count_rows, &n,
                                        err, sizeof err),
                     0);
    assert_int_equal(n, 0);
    store_close(st);

    db = open_raw(d, "old.db");
    assert_int_equal(one_int(db, "SELECT count(*) FROM schema_migrations"),
                     (int64_t)migrations_sqlite_count);
    assert_int_equal(one_int(db, "SELECT count(*) FROM events"), 1);
    sqlite3_close(db);
    remove_raw(d, "old.db");
}

static void test_failing_migration_leaves_nothing(void **state)
{
    struct tmpdb *d = *state;
    char err[HB_ERR_LEN] = "";
    const struct migration m[] = {
        {1, "001_a", "CREATE TABLE a (x)"},
        {2, "002_b", "CREATE TABLE b (x); INSERT INTO nowhere VALUES (1)"},
    };
    sqlite3 *db = open_raw(d, "fail.db");
    int applied = -1;
    assert_int_equal(migrate_sqlite(db, m, 2, &applied, err, sizeof err), -1);
    assert_non_null(strstr(err, "002_b"));
    assert_int_equal(applied, 0);
    assert_int_equal(one_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('a', 'b')"), 0);
    assert_int_equal(sqlite3_get_autocommit(db), 1);
    /* Fixed, it runs from the start. */
    const struct migration fixed[] = {
        {1, "001_a", "CREATE TABLE a (x)"},
        {2, "002_b", "CREATE TABLE b (x)"},
    };
    assert_int_equal(migrate_sqlite(db, fixed, 2, &applied, err, sizeof err), 0);
    assert_int_equal(applied, 2);
    sqlite3_close(db);
    remove_raw(d, "fail.db");
}

static void test_newer_database_is_refused(void **state)
{
    struct tmpdb *d = *state;
    char err[HB_ERR_LEN] = "";
    const struct migration m[] = {
        {1, "001_a", "CREATE TABLE a (x)"},
        {2, "002_b", "CREATE TABLE b (x)"},
    };
    sqlite3 *db = open_raw(d, "newer.db");
    assert_int_equal(migrate_sqlite(db, m, 2, NULL, err, sizeof err), 0);
    assert_int_equal(migrate_sqlite(db, m, 1, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "newer"));
    sqlite3_close(db);
    remove_raw(d, "newer.db");
}

static void test_check_wants_increasing_versions(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    const struct migration ok[] = {{1, "001_a", "x"}, {3, "003_c", "y"}};
    const struct migration dup[] = {{1, "001_a", "x"}, {1, "001_b", "y"}};
    const struct migration down[] = {{2, "002_a", "x"}, {1, "001_b", "y"}};
    const struct migration zero[] = {{0, "000_a", "x"}};
    assert_int_equal(migrate_check(ok, 2, err, sizeof err), 0);
    assert_int_equal(migrate_check(dup, 2, err, sizeof err), -1);
    assert_int_equal(migrate_check(down, 2, err, sizeof err), -1);
    assert_int_equal(migrate_check(zero, 1, err, sizeof err), -1);
    assert_int_equal(migrate_check(migrations_sqlite, migrations_sqlite_count, err, sizeof err), 0);
    assert_int_equal(migrate_check(migrations_postgres, migrations_postgres_count, err, sizeof err),
                     0);
}

/* Eight processes start at once: each migration runs once (a second run of 002 would add
 * a second row), and none fails. */
static void test_concurrent_processes_apply_once(void **state)
{
    struct tmpdb *d = *state;
    const struct migration m[] = {
        {1, "001_t", "CREATE TABLE t (x)"},
        {2, "002_row", "INSERT INTO t VALUES (1)"},
    };
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pids[8];
    for (int i = 0; i < 8; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            close(pipefd[1]);
            /* Start together: wait until the parent closes the pipe. */
            if (read(pipefd[0], &c, 1) < 0)
                _exit(3);
            char err[HB_ERR_LEN];
            sqlite3 *db = open_raw(d, "race.db");
            int rc = migrate_sqlite(db, m, 2, NULL, err, sizeof err);
            if (rc != 0)
                fprintf(stderr, "child: %s\n", err);
            sqlite3_close(db);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    close(pipefd[0]);
    close(pipefd[1]);
    for (int i = 0; i < 8; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    sqlite3 *db = open_raw(d, "race.db");
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM schema_migrations"), 2);
    sqlite3_close(db);
    remove_raw(d, "race.db");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_database_gets_every_migration_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_old_file_upgrades_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_migration_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_database_is_refused, setup, teardown),
        cmocka_unit_test(test_check_wants_increasing_versions),
        cmocka_unit_test_setup_teardown(test_concurrent_processes_apply_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
