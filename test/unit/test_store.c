/*
 * test_store.c - unit tests for common/store.c against a real SQLite file in a temporary
 * directory: bridges (lookups, updates, the unique endpoint), events (insert or ignore,
 * in-place JSON updates that append attempts, each list filter and `before` paging,
 * retention deletes), data_version seen from a second connection, transactions, and
 * several processes writing the same file at once without "database is locked".
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "hb.h"
#include "ids.h"
#include "store.h"
#include "tmpdb.h"
#include "xalloc.h"

/* Each test gets a fresh database (test/unit/tmpdb.h); a test may reopen f->st. */
static int setup(void **state)
{
    *state = tmpdb_open();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    return tmpdb_close(*state);
}

/* ---- helpers ---- */

/* Collects the "id" of each row's JSON, up to `stop_after` rows when that is non-zero. */
struct ids {
    char v[64][HB_ID_LEN];
    int n;
    int calls;
    int stop_after;
};

static int collect_id(const char *json, void *arg)
{
    struct ids *ids = arg;
    ids->calls++;
    cJSON *o = cJSON_Parse(json);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (ids->n < 64)
        snprintf(ids->v[ids->n++], HB_ID_LEN, "%s", cJSON_IsString(id) ? id->valuestring : "?");
    cJSON_Delete(o);
    return ids->stop_after != 0 && ids->calls >= ids->stop_after;
}

/* Compare the collected ids with a NULL-terminated list. */
static void assert_ids(const struct ids *ids, const char *const *want)
{
    int n = 0;
    while (want[n] != NULL) {
        assert_true(n < ids->n);
        assert_string_equal(ids->v[n], want[n]);
        n++;
    }
    assert_int_equal(ids->n, n);
}

static int count_row(const char *json, void *arg)
{
    (void)json;
    (*(int *)arg)++;
    return 0;
}

static cJSON *get_event(struct store *st, const char *id)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    assert_int_equal(store_event_get(st, id, &json, err, sizeof err), 0);
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    free(json);
    return o;
}

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int attempts_size(const cJSON *o)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "attempts");
    assert_true(cJSON_IsArray(a));
    return cJSON_GetArraySize(a);
}

static void insert_event(struct store *st, const char *id, const char *bridge_id,
                         const char *status, int64_t received_ms)
{
    char err[HB_ERR_LEN];
    char json[256];
    snprintf(json, sizeof(json),
             "{\"id\":\"%s\",\"bridge_id\":\"%s\",\"status\":\"%s\",\"attempts\":[],"
             "\"outbound\":null,\"next_attempt_at\":null}",
             id, bridge_id, status);
    int rc =
        store_event_insert(st, id, bridge_id, status, received_ms, json, false, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
}

/* ---- bridges ---- */

static const char b1_json[] = "{\"id\":\"brg_1\",\"endpoint\":\"ep1\",\"name\":\"one\"}";
static const char b2_json[] = "{\"id\":\"brg_2\",\"endpoint\":\"ep2\",\"name\":\"two\"}";

static void test_bridge_crud(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    char *json = NULL;

    assert_int_equal(store_bridge_insert(f->st, "brg_1", "ep1", b1_json, err, sizeof err), 0);
    assert_int_equal(store_bridge_insert(f->st, "brg_2", "ep2", b2_json, err, sizeof err), 0);

    assert_int_equal(store_bridge_get(f->st, "brg_1", &json, err, sizeof err), 0);
    assert_string_equal(json, b1_json);
    free(json);
    assert_int_equal(store_bridge_get_by_endpoint(f->st, "ep2", &json, err, sizeof err), 0);
    assert_string_equal(json, b2_json);
    free(json);

    json = NULL;
    assert_int_equal(store_bridge_get(f->st, "brg_404", &json, err, sizeof err), STORE_NOTFOUND);
    assert_int_equal(store_bridge_get_by_endpoint(f->st, "ep404", &json, err, sizeof err),
                     STORE_NOTFOUND);
    assert_null(json);

    assert_int_equal(store_bridge_insert(f->st, "brg_3", "ep1", "{}", err, sizeof err), -1);
    assert_string_equal(err, "sqlite insert bridge: UNIQUE constraint failed: bridges.endpoint");
    assert_int_equal(store_bridge_insert(f->st, "brg_1", "ep3", "{}", err, sizeof err), -1);
    assert_string_equal(err, "sqlite insert bridge: UNIQUE constraint failed: bridges.id");

    const char renamed[] = "{\"id\":\"brg_1\",\"endpoint\":\"ep1\",\"name\":\"uno\"}";
    assert_int_equal(store_bridge_update(f->st, "brg_1", renamed, err, sizeof err), 0);
    assert_int_equal(store_bridge_get_by_endpoint(f->st, "ep1", &json, err, sizeof err), 0);
    assert_string_equal(json, renamed);
    free(json);
    assert_int_equal(store_bridge_update(f->st, "brg_404", "{}", err, sizeof err), STORE_NOTFOUND);

    /* A new endpoint in the JSON moves the indexed column along with it. */
    const char moved[] = "{\"id\":\"brg_1\",\"endpoint\":\"ep9\",\"name\":\"uno\"}";
    assert_int_equal(store_bridge_update(f->st, "brg_1", moved, err, sizeof err), 0);
    assert_int_equal(store_bridge_get_by_endpoint(f->st, "ep1", &json, err, sizeof err),
                     STORE_NOTFOUND);
    assert_int_equal(store_bridge_get_by_endpoint(f->st, "ep9", &json, err, sizeof err), 0);
    assert_string_equal(json, moved);
    free(json);
    /* ...and cannot take one another bridge holds. */
    const char clash[] = "{\"id\":\"brg_1\",\"endpoint\":\"ep2\"}";
    assert_int_equal(store_bridge_update(f->st, "brg_1", clash, err, sizeof err), -1);
    assert_string_equal(err, "sqlite update bridge: UNIQUE constraint failed: bridges.endpoint");

    struct ids ids = {0};
    assert_int_equal(store_bridge_list(f->st, collect_id, &ids, err, sizeof err), 0);
    assert_ids(&ids, (const char *const[]){"brg_1", "brg_2", NULL});
    struct ids first = {.stop_after = 1};
    assert_int_equal(store_bridge_list(f->st, collect_id, &first, err, sizeof err), 0);
    assert_int_equal(first.calls, 1);

    assert_int_equal(store_bridge_delete(f->st, "brg_1", err, sizeof err), 0);
    assert_int_equal(store_bridge_get(f->st, "brg_1", &json, err, sizeof err), STORE_NOTFOUND);
    assert_int_equal(store_bridge_get_by_endpoint(f->st, "ep9", &json, err, sizeof err),
                     STORE_NOTFOUND);
    assert_int_equal(store_bridge_delete(f->st, "brg_1", err, sizeof err), STORE_NOTFOUND);

    /* Oldest first still holds for a bridge inserted after a delete. */
    assert_int_equal(
        store_bridge_insert(f->st, "brg_0", "ep0", "{\"id\":\"brg_0\"}", err, sizeof err), 0);
    struct ids after = {0};
    assert_int_equal(store_bridge_list(f->st, collect_id, &after, err, sizeof err), 0);
    assert_ids(&after, (const char *const[]){"brg_2", "brg_0", NULL});
}

static int list_inside_callback(const char *json, void *arg)
{
    (void)json;
    struct tmpdb *f = arg;
    char err[HB_ERR_LEN];
    int n = 0;
    /* The store is usable from inside its own callback. */
    assert_int_equal(store_bridge_list(f->st, count_row, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    return 0;
}

static void test_bridge_list_reentrant(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    assert_int_equal(store_bridge_insert(f->st, "brg_1", "ep1", b1_json, err, sizeof err), 0);
    assert_int_equal(store_bridge_insert(f->st, "brg_2", "ep2", b2_json, err, sizeof err), 0);
    assert_int_equal(store_bridge_list(f->st, list_inside_callback, f, err, sizeof err), 0);
}

/* ---- events ---- */

static void test_event_insert_or_ignore(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    char *json = NULL;

    insert_event(f->st, "evt_1", "brg_1", "queued", 1000);
    assert_int_equal(
        store_event_insert(f->st, "evt_1", "brg_1", "queued", 1000, "{}", false, err, sizeof err),
        -1);
    assert_string_equal(err, "sqlite insert event: UNIQUE constraint failed: events.id");

    assert_int_equal(store_event_insert(f->st, "evt_1", "brg_2", "failed", 2000,
                                        "{\"id\":\"evt_1\",\"other\":true}", true, err, sizeof err),
                     0);
    cJSON *o = get_event(f->st, "evt_1");
    assert_string_equal(str_field(o, "bridge_id"), "brg_1");
    assert_string_equal(str_field(o, "status"), "queued");
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "other"));
    cJSON_Delete(o);
    /* The columns were left alone too. */
    struct ids ids = {0};
    assert_int_equal(
        store_event_list(f->st, "brg_1", "queued", NULL, 10, collect_id, &ids, err, sizeof err), 0);
    assert_ids(&ids, (const char *const[]){"evt_1", NULL});

    /* or_ignore still refuses rows that break other constraints. */
    assert_int_equal(
        store_event_insert(f->st, "evt_2", NULL, "queued", 1, "{}", true, err, sizeof err), -1);
    assert_string_equal(err, "sqlite insert event: NOT NULL constraint failed: events.bridge_id");

    assert_int_equal(store_event_get(f->st, "evt_404", &json, err, sizeof err), STORE_NOTFOUND);
    assert_null(json);
}

static void test_event_update(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    insert_event(f->st, "evt_1", "brg_1", "queued", 1000);

    struct store_event_update u = {
        .id = "evt_1",
        .status = "retrying",
        .attempt_json = "{\"n\":1,\"status\":500,\"error\":null}",
        .outbound_json = "{\"method\":\"POST\",\"url\":\"http://dest/a\"}",
        .next_attempt_ms = 1795341600123,
    };
    assert_int_equal(store_event_update(f->st, &u, err, sizeof err), 0);
    cJSON *o = get_event(f->st, "evt_1");
    assert_string_equal(str_field(o, "status"), "retrying");
    assert_string_equal(str_field(o, "next_attempt_at"), "2026-11-22T10:00:00.123Z");
    assert_int_equal(attempts_size(o), 1);
    const cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "attempts"), 0);
    assert_true(cJSON_IsObject(a0));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(a0, "n")->valueint, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a0, "error")));
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(o, "outbound");
    assert_true(cJSON_IsObject(out));
    assert_string_equal(str_field(out, "url"), "http://dest/a");
    cJSON_Delete(o);

    /* Second attempt: appended; outbound untouched when NULL; next_attempt_at back to null. */
    u.status = "delivered";
    u.attempt_json = "{\"n\":2,\"status\":200}";
    u.outbound_json = NULL;
    u.next_attempt_ms = 0;
    assert_int_equal(store_event_update(f->st, &u, err, sizeof err), 0);
    o = get_event(f->st, "evt_1");
    assert_string_equal(str_field(o, "status"), "delivered");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "next_attempt_at")));
    assert_int_equal(attempts_size(o), 2);
    const cJSON *a1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "attempts"), 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(a1, "n")->valueint, 2);
    assert_string_equal(str_field(cJSON_GetObjectItemCaseSensitive(o, "outbound"), "url"),
                        "http://dest/a");
    cJSON_Delete(o);

    /* The status column follows (lists filter on it). */
    struct ids ids = {0};
    assert_int_equal(
        store_event_list(f->st, NULL, "delivered", NULL, 10, collect_id, &ids, err, sizeof err), 0);
    assert_ids(&ids, (const char *const[]){"evt_1", NULL});

    /* Status only: attempts unchanged. */
    u.status = "aborted";
    u.attempt_json = NULL;
    assert_int_equal(store_event_update(f->st, &u, err, sizeof err), 0);
    o = get_event(f->st, "evt_1");
    assert_string_equal(str_field(o, "status"), "aborted");
    assert_int_equal(attempts_size(o), 2);
    cJSON_Delete(o);

    u.id = "evt_404";
    assert_int_equal(store_event_update(f->st, &u, err, sizeof err), STORE_NOTFOUND);

    u.id = "evt_1";
    u.attempt_json = "{not json";
    assert_int_equal(store_event_update(f->st, &u, err, sizeof err), -1);
    assert_string_equal(err, "sqlite update event: malformed JSON");
    o = get_event(f->st, "evt_1");
    assert_int_equal(attempts_size(o), 2);
    cJSON_Delete(o);
}

static void test_event_update_without_attempts(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    assert_int_equal(store_event_insert(f->st, "evt_1", "brg_1", "queued", 1, "{\"id\":\"evt_1\"}",
                                        false, err, sizeof err),
                     0);
    struct store_event_update u = {
        .id = "evt_1", .status = "retrying", .attempt_json = "{\"n\":1}", .next_attempt_ms = 1};
    assert_int_equal(store_event_update(f->st, &u, err, sizeof err), 0);
    assert_int_equal(store_event_update(f->st, &u, err, sizeof err), 0);
    cJSON *o = get_event(f->st, "evt_1");
    assert_int_equal(attempts_size(o), 2);
    assert_string_equal(str_field(o, "next_attempt_at"), "1970-01-01T00:00:00.001Z");
    cJSON_Delete(o);
}

/* evt_00..evt_09: bridge brg_a for even, brg_b for odd; every third one failed. */
static void insert_ten(struct store *st)
{
    for (int i = 0; i < 10; i++) {
        char id[HB_ID_LEN];
        snprintf(id, sizeof(id), "evt_%02d", i);
        insert_event(st, id, i % 2 == 0 ? "brg_a" : "brg_b", i % 3 == 0 ? "failed" : "delivered",
                     1000 + i);
    }
}

static void list_expect(struct store *st, const char *bridge_id, const char *status,
                        const char *before, int limit, const char *const *want)
{
    char err[HB_ERR_LEN];
    struct ids ids = {0};
    assert_int_equal(
        store_event_list(st, bridge_id, status, before, limit, collect_id, &ids, err, sizeof err),
        0);
    assert_ids(&ids, want);
}

static void test_event_list(void **state)
{
    struct tmpdb *f = *state;
    insert_ten(f->st);

    list_expect(f->st, NULL, NULL, NULL, 100,
                (const char *const[]){"evt_09", "evt_08", "evt_07", "evt_06", "evt_05", "evt_04",
                                      "evt_03", "evt_02", "evt_01", "evt_00", NULL});
    list_expect(f->st, NULL, NULL, NULL, 3,
                (const char *const[]){"evt_09", "evt_08", "evt_07", NULL});
    list_expect(f->st, NULL, NULL, "evt_07", 3,
                (const char *const[]){"evt_06", "evt_05", "evt_04", NULL});
    list_expect(f->st, "brg_a", NULL, NULL, 100,
                (const char *const[]){"evt_08", "evt_06", "evt_04", "evt_02", "evt_00", NULL});
    list_expect(f->st, NULL, "failed", NULL, 100,
                (const char *const[]){"evt_09", "evt_06", "evt_03", "evt_00", NULL});
    list_expect(f->st, "brg_a", "failed", NULL, 100,
                (const char *const[]){"evt_06", "evt_00", NULL});
    list_expect(f->st, "brg_b", NULL, "evt_05", 100,
                (const char *const[]){"evt_03", "evt_01", NULL});
    list_expect(f->st, NULL, "delivered", "evt_05", 2,
                (const char *const[]){"evt_04", "evt_02", NULL});
    list_expect(f->st, "brg_a", "delivered", "evt_08", 100,
                (const char *const[]){"evt_04", "evt_02", NULL});
    list_expect(f->st, "brg_c", NULL, NULL, 100, (const char *const[]){NULL});
    list_expect(f->st, NULL, NULL, "evt_00", 100, (const char *const[]){NULL});
}

/* A comma list of statuses is their union, still newest first and still with the other
 * filters; the store does not judge the names (the API does). */
static void test_event_list_statuses(void **state)
{
    struct tmpdb *f = *state;
    insert_ten(f->st);
    insert_event(f->st, "evt_10", "brg_a", "retrying", 1010);
    insert_event(f->st, "evt_11", "brg_b", "queued", 1011);

    list_expect(f->st, NULL, "failed,retrying", NULL, 100,
                (const char *const[]){"evt_10", "evt_09", "evt_06", "evt_03", "evt_00", NULL});
    list_expect(f->st, NULL, "retrying,failed", NULL, 3,
                (const char *const[]){"evt_10", "evt_09", "evt_06", NULL});
    list_expect(f->st, "brg_a", "failed,retrying", "evt_10", 100,
                (const char *const[]){"evt_06", "evt_00", NULL});
    list_expect(f->st, "brg_b", "queued,failed,nothing", NULL, 100,
                (const char *const[]){"evt_11", "evt_09", "evt_03", NULL});
    list_expect(f->st, NULL, "nothing,none", NULL, 100, (const char *const[]){NULL});
}

/* The store holds every event's request and response: owner-only, its WAL and SHM too. */
static void test_file_modes(void **state)
{
    struct tmpdb *f = *state;
    insert_ten(f->st);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[160];
        struct stat sb;
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        if (stat(p, &sb) != 0)
            fail_msg("%s: missing", p);
        if ((sb.st_mode & 0777) != 0600)
            fail_msg("%s: mode %o, want 600", p, (unsigned)(sb.st_mode & 0777));
    }
}

/*
 * The child of count_in_child, in a fresh program image (main's --child): a forked child
 * would inherit SQLite's in-memory record of the parent's locks and never take its own.
 * Opens the store, adds `add` unless it is "-", counts the events, closes it; the exit
 * status is the count, or 255.
 */
static int child_main(const char *path, const char *add)
{
    char err[HB_ERR_LEN];
    struct store *st = NULL;
    int n = 0;
    if (store_open(path, &st, err, sizeof err) != 0)
        return 255;
    if (strcmp(add, "-") != 0)
        insert_event(st, add, "brg_a", "queued", 2000);
    if (store_event_list(st, NULL, NULL, NULL, -1, count_row, &n, err, sizeof err) != 0)
        return 255;
    store_close(st);
    return n;
}

/* Run child_main in another process; returns its count. */
static int count_in_child(const char *path, const char *add)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {(char *)"test_store", (char *)"--child", (char *)path,
                        (char *)(add ? add : "-"), NULL};
        execv("/proc/self/exe", argv);
        _exit(254);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/*
 * A second connection opened in the same process (the ingress has two) must not disturb the
 * first: closing any descriptor of the file drops the first one's POSIX locks, and then the
 * last other process to close the store takes it for unused and removes the WAL that this
 * process still writes to, so nobody else sees those writes.
 */
static void test_second_open_in_process(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    insert_event(f->st, "evt_a", "brg_a", "queued", 1000);
    struct store *other = NULL;
    assert_int_equal(store_open(f->path, &other, err, sizeof err), 0);
    insert_event(other, "evt_b", "brg_a", "queued", 1001);
    assert_int_equal(count_in_child(f->path, NULL), 2);
    insert_event(f->st, "evt_c", "brg_a", "queued", 1002);
    assert_int_equal(count_in_child(f->path, "evt_x"), 4);
    insert_event(other, "evt_d", "brg_a", "queued", 1003);
    assert_int_equal(count_in_child(f->path, "evt_y"), 6);
    const char *const all[] = {"evt_y", "evt_x", "evt_d", "evt_c", "evt_b", "evt_a", NULL};
    list_expect(other, NULL, NULL, NULL, 10, all);
    list_expect(f->st, NULL, NULL, NULL, 10, all);
    store_close(other);
}

static void test_event_list_paging(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    insert_ten(f->st);

    /* Pages of 4 with the last id as `before` walk every event once, newest first. */
    char seen[10][HB_ID_LEN];
    int n = 0;
    char before[HB_ID_LEN] = "";
    for (int page = 0; page < 5; page++) {
        struct ids ids = {0};
        assert_int_equal(store_event_list(f->st, NULL, NULL, before[0] ? before : NULL, 4,
                                          collect_id, &ids, err, sizeof err),
                         0);
        if (ids.n == 0)
            break;
        for (int i = 0; i < ids.n; i++) {
            assert_true(n < 10);
            snprintf(seen[n++], HB_ID_LEN, "%s", ids.v[i]);
        }
        snprintf(before, sizeof(before), "%s", ids.v[ids.n - 1]);
    }
    assert_int_equal(n, 10);
    for (int i = 0; i < 10; i++) {
        char want[HB_ID_LEN];
        snprintf(want, sizeof(want), "evt_%02d", 9 - i);
        assert_string_equal(seen[i], want);
    }

    struct ids two = {.stop_after = 2};
    assert_int_equal(
        store_event_list(f->st, NULL, NULL, NULL, 100, collect_id, &two, err, sizeof err), 0);
    assert_int_equal(two.calls, 2);
}

/* Retention goes by id: event ids begin with their receive time. */
static void test_event_delete_older(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN], ids[10][HB_ID_LEN];
    for (int i = 0; i < 10; i++) {
        ids_new("evt_", 1000 + i, ids[i], sizeof(ids[i]));
        insert_event(f->st, ids[i], "brg_a", "delivered", 1000 + i);
    }

    int deleted = -1;
    assert_int_equal(store_event_delete_older(f->st, 1005, 3, &deleted, err, sizeof err), 0);
    assert_int_equal(deleted, 3);
    assert_int_equal(store_event_delete_older(f->st, 1005, 3, &deleted, err, sizeof err), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(store_event_delete_older(f->st, 1005, 3, &deleted, err, sizeof err), 0);
    assert_int_equal(deleted, 0);
    for (int i = 0; i < 10; i++) {
        char *json = NULL;
        int rc = store_event_get(f->st, ids[i], &json, err, sizeof err);
        free(json);
        assert_int_equal(rc, i < 5 ? STORE_NOTFOUND : 0);
    }
}

struct counted {
    int64_t delivered, failed, other;
};

static void count_into(const char *status, int64_t count, void *arg)
{
    struct counted *c = arg;
    if (strcmp(status, "delivered") == 0)
        c->delivered += count;
    else if (strcmp(status, "failed") == 0)
        c->failed += count;
    else
        c->other += count;
}

static int count_found(const char *json, void *arg)
{
    (void)json;
    (*(int *)arg)++;
    return 0;
}

/* Events found by a search for `q`. */
static int found(struct store *st, const char *q)
{
    char err[HB_ERR_LEN];
    int n = 0;
    if (store_event_search(st, NULL, NULL, NULL, NULL, q, 100, count_found, &n, err, sizeof err) !=
        0)
        fail_msg("%s", err);
    return n;
}

static void insert_with_body(struct store *st, const char *id, int64_t received_ms,
                             const char *order)
{
    char err[HB_ERR_LEN], json[256];
    snprintf(json, sizeof(json),
             "{\"id\":\"%s\",\"status\":\"queued\",\"request\":{\"body\":{\"order\":\"%s\"}}}", id,
             order);
    if (store_event_insert(st, id, "brg_1", "queued", received_ms, json, true, err, sizeof err) !=
        0)
        fail_msg("%s", err);
}

/* The search index of inserted events is written at each commit (migration 003): a batch's
 * events are found after it, a rolled-back batch leaves nothing, an insert outside a batch
 * is its own, ignored duplicates add nothing, and retention deletes what it indexed. */
static void test_event_search_index_per_commit(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN], ids[6][HB_ID_LEN];
    for (int i = 0; i < 6; i++)
        ids_new("evt_", 1000 + i, ids[i], sizeof(ids[i]));

    assert_int_equal(store_begin(f->st, err, sizeof err), 0);
    insert_with_body(f->st, ids[0], 1000, "A-10023");
    insert_with_body(f->st, ids[1], 1001, "A-10024");
    store_rollback(f->st);
    assert_int_equal(found(f->st, "A-1002"), 0);

    assert_int_equal(store_begin(f->st, err, sizeof err), 0);
    insert_with_body(f->st, ids[0], 1000, "A-10023");
    insert_with_body(f->st, ids[1], 1001, "A-10024");
    insert_with_body(f->st, ids[1], 1001, "A-10024"); /* ignored: already there */
    /* Indexed at the commit: nothing reads the index inside a writer's batch. */
    assert_int_equal(found(f->st, "A-10023"), 0);
    assert_int_equal(store_commit(f->st, err, sizeof err), 0);
    assert_int_equal(found(f->st, "A-1002"), 2);
    assert_int_equal(found(f->st, "a-10024"), 1);

    insert_with_body(f->st, ids[2], 1002, "B-777"); /* outside a batch */
    assert_int_equal(found(f->st, "B-777"), 1);
    insert_with_body(f->st, ids[0], 1000, "C-1"); /* ignored, outside a batch */
    assert_int_equal(found(f->st, "C-1"), 0);

    int deleted = 0;
    assert_int_equal(store_event_delete_older(f->st, 1002, 10, &deleted, err, sizeof err), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(found(f->st, "A-1002"), 0);
    assert_int_equal(found(f->st, "B-777"), 1);
}

/* Only the bridge's events at or after the bound count, by status. */
static void test_event_counts_since(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN], id[HB_ID_LEN], since[HB_ID_LEN];
    for (int i = 0; i < 10; i++) {
        ids_new("evt_", 1000 + i, id, sizeof(id));
        insert_event(f->st, id, i % 5 == 0 ? "brg_b" : "brg_a", i % 2 ? "failed" : "delivered",
                     1000 + i);
    }
    ids_time_bound("evt_", 1004, since, sizeof(since));
    struct counted c = {0, 0, 0};
    assert_int_equal(
        store_event_counts_since(f->st, "brg_a", since, count_into, &c, err, sizeof err), 0);
    /* brg_a from 1004 on: 1004, 1006, 1008 delivered; 1007, 1009 failed (1005 is brg_b) */
    assert_int_equal(c.delivered, 3);
    assert_int_equal(c.failed, 2);
    assert_int_equal(c.other, 0);
    struct counted none = {0, 0, 0};
    assert_int_equal(
        store_event_counts_since(f->st, "brg_c", since, count_into, &none, err, sizeof err), 0);
    assert_int_equal(none.delivered + none.failed + none.other, 0);
}

/* ---- connections and transactions ---- */

static void test_data_version(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    struct store *other = NULL;
    assert_int_equal(store_open(f->path, &other, err, sizeof err), 0);

    int64_t v1 = store_data_version(f->st);
    assert_true(v1 >= 0);
    assert_int_equal(store_data_version(f->st), v1);

    assert_int_equal(store_bridge_insert(other, "brg_1", "ep1", b1_json, err, sizeof err), 0);
    int64_t v2 = store_data_version(f->st);
    assert_true(v2 != v1);
    assert_int_equal(store_data_version(f->st), v2);

    /* And the write is visible here. */
    char *json = NULL;
    assert_int_equal(store_bridge_get_by_endpoint(f->st, "ep1", &json, err, sizeof err), 0);
    free(json);
    store_close(other);
}

static void test_transactions(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    char *json = NULL;

    store_rollback(f->st); /* none open: harmless */

    assert_int_equal(store_begin(f->st, err, sizeof err), 0);
    insert_event(f->st, "evt_1", "brg_1", "queued", 1);
    store_rollback(f->st);
    assert_int_equal(store_event_get(f->st, "evt_1", &json, err, sizeof err), STORE_NOTFOUND);

    assert_int_equal(store_begin(f->st, err, sizeof err), 0);
    insert_event(f->st, "evt_1", "brg_1", "queued", 1);
    insert_event(f->st, "evt_2", "brg_1", "queued", 2);
    assert_int_equal(store_commit(f->st, err, sizeof err), 0);
    assert_int_equal(store_event_get(f->st, "evt_2", &json, err, sizeof err), 0);
    free(json);

    /* A failed statement inside a batch leaves the batch usable. */
    assert_int_equal(store_begin(f->st, err, sizeof err), 0);
    assert_int_equal(
        store_event_insert(f->st, "evt_1", "brg_1", "queued", 1, "{}", false, err, sizeof err), -1);
    insert_event(f->st, "evt_3", "brg_1", "queued", 3);
    assert_int_equal(store_commit(f->st, err, sizeof err), 0);
    assert_int_equal(store_event_get(f->st, "evt_3", &json, err, sizeof err), 0);
    free(json);

    assert_int_equal(store_commit(f->st, err, sizeof err), -1);
    assert_string_equal(err, "sqlite commit: cannot commit - no transaction is active");
}

static void test_open_error(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    struct store *st = (struct store *)&err; /* must be reset to NULL */
    assert_int_equal(store_open("/nonexistent-dir/x/hookbridge.db", &st, err, sizeof err), -1);
    assert_null(st);
    assert_string_equal(err, "sqlite open /nonexistent-dir/x/hookbridge.db: No such file or "
                             "directory");
}

/* ---- several processes ---- */

#define CONC_PROCS 4
#define CONC_TXNS 300
#define CONC_PER_TXN 3

/*
 * One writer's share: each transaction inserts CONC_PER_TXN events and records an attempt
 * on those of the transaction before, like the ingress and a worker interleaving. Returns
 * the number of failed calls.
 */
static int conc_writer(const char *path, int proc)
{
    char err[HB_ERR_LEN];
    struct store *st = NULL;
    if (store_open(path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "writer %d: %s\n", proc, err);
        return 1;
    }
    int errors = 0;
    for (int t = 0; t < CONC_TXNS; t++) {
        if (store_begin(st, err, sizeof err) != 0) {
            fprintf(stderr, "writer %d: %s\n", proc, err);
            errors++;
            continue;
        }
        int failed = 0;
        for (int i = 0; i < CONC_PER_TXN; i++) {
            char id[HB_ID_LEN];
            char json[128];
            snprintf(id, sizeof(id), "evt_%d_%04d_%d", proc, t, i);
            snprintf(json, sizeof(json), "{\"id\":\"%s\",\"attempts\":[]}", id);
            if (store_event_insert(st, id, "brg_c", "queued", t, json, true, err, sizeof err) !=
                0) {
                fprintf(stderr, "writer %d: %s\n", proc, err);
                failed++;
            }
            if (t == 0)
                continue;
            snprintf(id, sizeof(id), "evt_%d_%04d_%d", proc, t - 1, i);
            struct store_event_update u = {
                .id = id, .status = "delivered", .attempt_json = "{\"n\":1}"};
            if (store_event_update(st, &u, err, sizeof err) != 0) {
                fprintf(stderr, "writer %d update %s: %s\n", proc, id, err);
                failed++;
            }
        }
        if (failed) {
            store_rollback(st);
            errors += failed;
            continue;
        }
        if (store_commit(st, err, sizeof err) != 0) {
            fprintf(stderr, "writer %d: %s\n", proc, err);
            store_rollback(st);
            errors++;
        }
        /* Readers between writes, as the ingress does. */
        char *json = NULL;
        int rc = store_bridge_get_by_endpoint(st, "ep1", &json, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "writer %d: get bridge %d %s\n", proc, rc, err);
            errors++;
        }
        free(json);
        store_data_version(st);
    }
    store_close(st);
    return errors;
}

static void test_concurrent_processes(void **state)
{
    struct tmpdb *f = *state;
    char err[HB_ERR_LEN];
    assert_int_equal(store_bridge_insert(f->st, "brg_1", "ep1", b1_json, err, sizeof err), 0);
    /* Children open their own connection: an SQLite handle must not cross fork(). */
    store_close(f->st);
    f->st = NULL;
    fflush(NULL);

    pid_t pids[CONC_PROCS - 1];
    for (int p = 0; p < CONC_PROCS - 1; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0)
            _exit(conc_writer(f->path, p + 1) == 0 ? 0 : 1);
    }
    int errors = conc_writer(f->path, 0);
    for (int p = 0; p < CONC_PROCS - 1; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
            errors++;
    }
    assert_int_equal(errors, 0);

    assert_int_equal(store_open(f->path, &f->st, err, sizeof err), 0);
    int n = 0;
    assert_int_equal(
        store_event_list(f->st, "brg_c", NULL, NULL, -1, count_row, &n, err, sizeof err), 0);
    assert_int_equal(n, CONC_PROCS * CONC_TXNS * CONC_PER_TXN);
    n = 0;
    assert_int_equal(
        store_event_list(f->st, NULL, "delivered", NULL, -1, count_row, &n, err, sizeof err), 0);
    assert_int_equal(n, CONC_PROCS * (CONC_TXNS - 1) * CONC_PER_TXN);
    cJSON *o = get_event(f->st, "evt_3_0100_2");
    assert_int_equal(attempts_size(o), 1);
    cJSON_Delete(o);
}

int main(int argc, char **argv)
{
    xalloc_init_cjson();
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bridge_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bridge_list_reentrant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_insert_or_ignore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_update_without_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_list_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_list_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_open_in_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_delete_older, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_counts_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_search_index_per_commit, setup, teardown),
        cmocka_unit_test(test_open_error),
        cmocka_unit_test_setup_teardown(test_concurrent_processes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
