/*
 * test_evwriter.c - unit tests for common/evwriter.c on a real SQLite file: batches commit
 * when full, on the timer and on flush; update callbacks run after the commit; an update
 * for a missing row inserts the full event; a threaded writer commits on its own thread and
 * connection, flush waits for it, and free commits what is left before joining; its updates'
 * callbacks run on the loop after the commit, and a refused write is given up at free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evwriter.h"
#include "hb.h"
#include "ids.h"
#include "store.h"
#include "tmpdb.h"
#include "xalloc.h"

/* One loop for all tests; a fresh database for each (test/unit/tmpdb.h). */
static struct event_base *base;

static int setup(void **state)
{
    *state = tmpdb_open();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    return tmpdb_close(*state);
}

static int group_setup(void **state)
{
    (void)state;
    base = event_base_new();
    return base ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    event_base_free(base);
    return 0;
}

/* The id of the i-th test event. */
static void event_id(int i, char out[HB_ID_LEN])
{
    snprintf(out, HB_ID_LEN, "evt_01JD00000000000000000%05d", i);
}

static void insert(struct evwriter *w, int i)
{
    char id[HB_ID_LEN];
    event_id(i, id);
    evwriter_insert(w, id, "brg_1", "queued", 1000 + i,
                    xasprintf("{\"id\":\"%s\",\"status\":\"queued\",\"attempts\":[]}", id));
}

/* True when event i is in the database, read through `st`. */
static bool present(struct store *st, int i)
{
    char id[HB_ID_LEN], err[HB_ERR_LEN];
    char *json = NULL;
    event_id(i, id);
    int rc = store_event_get(st, id, &json, err, sizeof err);
    free(json);
    assert_true(rc == 0 || rc == STORE_NOTFOUND);
    return rc == 0;
}

/* Run the loop for about `ms` milliseconds. */
static void run_loop(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void test_batch_full_and_flush(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w = evwriter_new(base, f->st, 1000, 3);
    insert(w, 1);
    insert(w, 2);
    assert_int_equal(evwriter_pending(w), 2);
    assert_false(present(f->st, 1));
    insert(w, 3); /* the batch is full: committed at once */
    assert_int_equal(evwriter_pending(w), 0);
    assert_true(present(f->st, 1) && present(f->st, 3));
    insert(w, 4);
    assert_int_equal(evwriter_flush(w), 0);
    assert_true(present(f->st, 4));
    /* Inserting an id again changes nothing (INSERT OR IGNORE). */
    insert(w, 4);
    assert_int_equal(evwriter_flush(w), 0);
    evwriter_free(w);
}

static void test_timer_commits(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w = evwriter_new(base, f->st, 5, 100);
    insert(w, 1);
    run_loop(base, 50);
    assert_int_equal(evwriter_pending(w), 0);
    assert_true(present(f->st, 1));
    evwriter_free(w);
}

struct done {
    int calls, ok;
};

static void on_done(void *arg, int ok)
{
    struct done *d = arg;
    d->calls++;
    d->ok = ok;
}

static char *full_event(void *arg)
{
    (void)arg;
    char id[HB_ID_LEN];
    event_id(9, id);
    return xasprintf("{\"id\":\"%s\",\"status\":\"delivered\",\"attempts\":[]}", id);
}

/* Updates: the callback runs after the commit; a missing row gets the whole event. */
static void test_update_callbacks(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w = evwriter_new(base, f->st, 1000, 100);
    char id[HB_ID_LEN], err[HB_ERR_LEN];
    insert(w, 1);
    event_id(1, id);
    struct done d1 = {0, 0}, d9 = {0, 0};
    struct store_event_update u = {.id = id, .status = "delivered"};
    evwriter_update(w, &u, "brg_1", 1001, full_event, on_done, &d1);
    event_id(9, id);
    struct store_event_update u9 = {.id = id, .status = "delivered"};
    evwriter_update(w, &u9, "brg_1", 1009, full_event, on_done, &d9);
    assert_int_equal(d1.calls, 0);
    assert_int_equal(evwriter_flush(w), 0);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.ok, 1);
    assert_int_equal(d9.calls, 1);
    char *json = NULL;
    assert_int_equal(store_event_get(f->st, id, &json, err, sizeof err), 0);
    assert_non_null(strstr(json, "\"delivered\""));
    free(json);
    event_id(1, id);
    assert_int_equal(store_event_get(f->st, id, &json, err, sizeof err), 0);
    assert_non_null(strstr(json, "\"delivered\""));
    free(json);
    evwriter_free(w);
}

/* The event of test_same_event_twice, as its job would build it. */
static char *full_event_5(void *arg)
{
    (void)arg;
    char id[HB_ID_LEN];
    event_id(5, id);
    return xasprintf("{\"id\":\"%s\",\"status\":\"retrying\",\"attempts\":[]}", id);
}

/*
 * Two writes of one event in one batch, among writes of others: they stay in order (the
 * writer's runs of distinct events end before the second), so the first inserts the missing
 * row and the second updates it, where both in one run would have found no row and inserted
 * it twice.
 */
static void test_same_event_twice_in_a_batch(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w = evwriter_new(base, f->st, 1000, 100);
    char id[HB_ID_LEN], err[HB_ERR_LEN];
    struct done d[3] = {{0, 0}, {0, 0}, {0, 0}};
    insert(w, 1);
    event_id(5, id);
    struct store_event_update first = {.id = id, .status = "retrying"};
    evwriter_update(w, &first, "brg_1", 1005, full_event_5, on_done, &d[0]);
    insert(w, 2);
    struct store_event_update second = {
        .id = id, .status = "delivered", .attempt_json = "{\"n\":2}"};
    evwriter_update(w, &second, "brg_1", 1005, full_event_5, on_done, &d[1]);
    insert(w, 3);
    assert_int_equal(evwriter_flush(w), 0);
    assert_int_equal(d[0].calls + d[1].calls, 2);
    char *json = NULL;
    assert_int_equal(store_event_get(f->st, id, &json, err, sizeof err), 0);
    assert_non_null(strstr(json, "\"status\":\"delivered\""));
    assert_non_null(strstr(json, "{\"n\":2}"));
    free(json);
    for (int i = 1; i <= 3; i++)
        assert_true(present(f->st, i));
    evwriter_free(w);
}

/* A threaded writer: the loop only queues; flush waits until the thread committed, and
 * what it wrote is there for any other connection. */
static void test_threaded(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w;
    char err[HB_ERR_LEN];
    assert_int_equal(evwriter_new_threaded(base, f->path, 5, 64, &w, err, sizeof err), 0);
    for (int i = 0; i < 1000; i++)
        insert(w, i);
    assert_int_equal(evwriter_flush(w), 0);
    assert_int_equal(evwriter_pending(w), 0);
    for (int i = 0; i < 1000; i++)
        if (!present(f->st, i))
            fail_msg("event %d missing after flush", i);

    /* The timer hands a batch over without a flush. */
    insert(w, 5000);
    run_loop(base, 30);
    bool seen = false;
    for (int tries = 0; tries < 200 && !seen; tries++) {
        seen = present(f->st, 5000);
        if (!seen)
            usleep(10 * 1000);
    }
    assert_true(seen);

    /* What is still queued at free is committed before the thread stops. */
    insert(w, 6000);
    evwriter_free(w);
    assert_true(present(f->st, 6000));
}

static void add_count(const char *status, int64_t n, void *arg)
{
    if (strcmp(status, "queued") == 0)
        *(int64_t *)arg += n;
}

/* While the store is locked, a threaded writer holds at most its limit of inserts and
 * drops the rest (workers write those events from their jobs), so memory stays bounded;
 * once the lock goes, what it held is committed. */
static void test_threaded_bound(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w;
    char err[HB_ERR_LEN];
    assert_int_equal(evwriter_new_threaded(base, f->path, 1000, 1000, &w, err, sizeof err), 0);
    assert_int_equal(store_begin(f->st, err, sizeof err), 0); /* the writer's commits now wait */
    for (int i = 0; i < 60000; i++)
        insert(w, i);
    store_rollback(f->st);
    /* ~51,000 rows to commit: under sanitizers on busy cores that can outlast one flush's
     * 5 s wait, after which the rows stay queued; this test is about the bound, so wait. */
    int flushed = -1;
    for (int tries = 0; tries < 12 && flushed != 0; tries++)
        flushed = evwriter_flush(w);
    assert_int_equal(flushed, 0);
    int64_t n = 0;
    assert_int_equal(store_event_counts(f->st, add_count, &n, err, sizeof err), 0);
    if (n < 50000 || n >= 60000)
        fail_msg("%lld rows committed of 60000 sent while locked", (long long)n);
    evwriter_free(w);
}

/* A threaded writer on a path that cannot be opened fails at once, with a reason. */
/* What evwriter_flush_then reported, and whether the rows were there when it did. */
struct flushed {
    struct tmpdb *f;
    int calls;
    enum evwriter_flushed res;
    bool all_present;
};

static void on_flushed(void *arg, enum evwriter_flushed res)
{
    struct flushed *fl = arg;
    fl->calls++;
    fl->res = res;
    fl->all_present = present(fl->f->st, 0) && present(fl->f->st, 2999);
    event_base_loopbreak(base);
}

static void test_threaded_flush_then(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w;
    char err[HB_ERR_LEN];
    /* A long flush interval: only the call hands the rows over. */
    assert_int_equal(evwriter_new_threaded(base, f->path, 10000, 100000, &w, err, sizeof err), 0);
    for (int i = 0; i < 3000; i++)
        insert(w, i);
    struct flushed fl = {.f = f};
    evwriter_flush_then(w, on_flushed, &fl);
    assert_int_equal(fl.calls, 0); /* answered from the loop, never inside the call */
    run_loop(base, 5000);
    assert_int_equal(fl.calls, 1);
    assert_int_equal(fl.res, EVWRITER_COMMITTED);
    assert_true(fl.all_present);

    /* A wait the writer is freed under is cancelled, not left hanging. */
    struct flushed gone = {.f = f};
    insert(w, 7000);
    evwriter_flush_then(w, on_flushed, &gone);
    evwriter_free(w);
    assert_int_equal(gone.calls, 1);
    assert_int_equal(gone.res, EVWRITER_CANCELLED);
}

static void test_unthreaded_flush_then(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w = evwriter_new(base, f->st, 10000, 100000);
    for (int i = 0; i < 3000; i++)
        insert(w, i);
    struct flushed fl = {.f = f};
    evwriter_flush_then(w, on_flushed, &fl);
    assert_int_equal(fl.calls, 1); /* committed on the loop, at once */
    assert_int_equal(fl.res, EVWRITER_COMMITTED);
    assert_true(fl.all_present);
    evwriter_free(w);
}

static void test_threaded_bad_path(void **state)
{
    (void)state;
    struct evwriter *w = (struct evwriter *)1;
    char err[HB_ERR_LEN] = "";
    assert_int_equal(
        evwriter_new_threaded(base, "/nonexistent-dir/x/hookbridge.db", 5, 64, &w, err, sizeof err),
        -1);
    assert_null(w);
    assert_true(err[0] != '\0');
}

/* What a threaded writer's update callback saw: the thread it ran on, and whether the
 * event's row was there for another connection by then (the write committed). */
struct seen {
    struct tmpdb *f;
    int i; /* the event */
    int calls, ok;
    bool on_loop, committed;
};

static pthread_t loop_thread;

static void on_seen(void *arg, int ok)
{
    struct seen *s = arg;
    s->calls++;
    s->ok = ok;
    s->on_loop = pthread_equal(pthread_self(), loop_thread);
    char id[HB_ID_LEN], err[HB_ERR_LEN];
    char *json = NULL;
    event_id(s->i, id);
    s->committed = store_event_get(s->f->st, id, &json, err, sizeof err) == 0 &&
                   strstr(json, "\"delivered\"") != NULL;
    free(json);
}

/* The whole event `s->i` delivered, for an update that finds no row. */
static char *full_seen(void *arg)
{
    struct seen *s = arg;
    char id[HB_ID_LEN];
    event_id(s->i, id);
    return xasprintf("{\"id\":\"%s\",\"status\":\"delivered\",\"attempts\":[]}", id);
}

/* Run the loop until every callback in `s[0..n)` ran, or ~5 s. */
static void run_until_called(struct seen *s, int n)
{
    for (int tries = 0; tries < 500; tries++) {
        int called = 0;
        for (int i = 0; i < n; i++)
            called += s[i].calls > 0;
        if (called == n)
            return;
        run_loop(base, 10);
    }
}

/*
 * The worker's writer is threaded: updates commit on the thread, an update of a missing row
 * inserts the whole event there, and each callback runs on the loop's thread once its write
 * is committed (never inside the call that queued it).
 */
static void test_threaded_updates(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w;
    char id[HB_ID_LEN], err[HB_ERR_LEN];
    loop_thread = pthread_self();
    assert_int_equal(evwriter_new_threaded(base, f->path, 5, 64, &w, err, sizeof err), 0);
    for (int i = 0; i < 100; i += 2) /* even events have a row, odd ones not yet */
        insert(w, i);
    assert_int_equal(evwriter_flush(w), 0);
    struct seen s[100];
    for (int i = 0; i < 100; i++) {
        s[i] = (struct seen){.f = f, .i = i};
        event_id(i, id);
        struct store_event_update u = {.id = id, .status = "delivered"};
        evwriter_update(w, &u, "brg_1", 1000 + i, full_seen, on_seen, &s[i]);
    }
    assert_int_equal(s[0].calls, 0);
    run_until_called(s, 100);
    for (int i = 0; i < 100; i++) {
        if (s[i].calls != 1 || s[i].ok != 1 || !s[i].on_loop || !s[i].committed)
            fail_msg("event %d: calls %d ok %d on loop %d committed %d", i, s[i].calls, s[i].ok,
                     s[i].on_loop, s[i].committed);
    }

    /* evwriter_flush returns with the callbacks of what it wrote run. */
    struct seen last = {.f = f, .i = 200};
    event_id(200, id);
    struct store_event_update u = {.id = id, .status = "delivered"};
    evwriter_update(w, &u, "brg_1", 1200, full_seen, on_seen, &last);
    assert_int_equal(evwriter_flush(w), 0);
    assert_int_equal(last.calls, 1);
    assert_true(last.ok && last.on_loop && last.committed);
    evwriter_free(w);
}

/*
 * A write the database refuses (a route's outcome for an event whose stored row is not
 * JSON object) holds back only itself: the rest of its batch commits and is told so; the refused
 * one is tried again until the writer is freed, and then told ok = 0, on the loop.
 */
static void test_threaded_update_refused(void **state)
{
    struct tmpdb *f = *state;
    struct evwriter *w;
    char id[HB_ID_LEN], err[HB_ERR_LEN];
    loop_thread = pthread_self();
    event_id(50, id);
    assert_int_equal(
        store_event_insert(f->st, id, "brg_1", "queued", 1050, "[]", false, err, sizeof err), 0);
    assert_int_equal(evwriter_new_threaded(base, f->path, 5, 64, &w, err, sizeof err), 0);
    struct seen bad = {.f = f, .i = 50}, good[3];
    struct store_event_update ub = {.id = id, .status = "delivered"};
    evwriter_update_route(w, &ub, "a", "a,b", "brg_1", 1050, full_seen, on_seen, &bad);
    for (int i = 0; i < 3; i++) {
        good[i] = (struct seen){.f = f, .i = i};
        event_id(i, id);
        struct store_event_update u = {.id = id, .status = "delivered"};
        evwriter_update(w, &u, "brg_1", 1000 + i, full_seen, on_seen, &good[i]);
    }
    run_until_called(good, 3);
    for (int i = 0; i < 3; i++)
        assert_true(good[i].calls == 1 && good[i].ok == 1 && good[i].on_loop && good[i].committed);
    run_loop(base, 300); /* at least one more try of the refused one */
    assert_int_equal(bad.calls, 0);
    evwriter_free(w);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.ok, 0);
    assert_true(bad.on_loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_full_and_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_event_twice_in_a_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_flush_then, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unthreaded_flush_then, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_bad_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_update_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
