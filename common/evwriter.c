/*
 * evwriter.c - batched event writes (see evwriter.h).
 *
 * Writes wait in a FIFO until a timer or a full batch flushes them in one transaction.
 * Inside it, runs of writes to distinct events go to the store together (store_*_many: one
 * round trip to PostgreSQL for a run instead of one or two per event).
 * Callbacks run only after the commit, in queue order. If the commit fails (SQLite busy
 * beyond its timeout, disk full), the loop's writer tries the batch again one item per
 * transaction, so that a write the database refuses for one event holds back only that
 * event; what fails stays queued and the timer tries again: the jobs stay in Redis
 * meanwhile, so nothing is lost, only delayed.
 *
 * A threaded writer (the ingress's, the worker's) hands each batch to its own thread, which
 * commits it on its own connection: a commit, and now and then a WAL checkpoint, takes
 * milliseconds, and on the loop they stalled every request in flight (most of the
 * ingress's p99, a large share of the worker's CPU). The loop keeps only the cheap part,
 * queueing. Callbacks belong to the loop: the thread puts the committed items that have
 * one on a list and writes a byte to a pipe, and the loop runs them from there, in order.
 * A batch the thread cannot commit is tried one item per transaction, like the loop's,
 * and what fails goes back ahead of the thread's queue for another try 200 ms later (at
 * stop: given up, its callbacks told ok = 0).
 */
#include "evwriter.h"

#include "clock.h"
#include "event.h"
#include "hb.h"
#include "log.h"
#include "route.h"
#include "shash.h"
#include "xalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum evw_kind { EVW_INSERT, EVW_UPDATE, EVW_ROUTE };

struct evw_item {
    struct evw_item *next;
    enum evw_kind kind;
    char id[HB_ID_LEN];
    char bridge_id[HB_ID_LEN];
    char status[16];
    int64_t received_ms;
    char *json;            /* insert: the event */
    evwriter_full_cb full; /* update: builds the event to insert if the row is missing */
    char *attempt_json;
    char *outbound_json;
    int64_t next_attempt_ms;
    char route[ROUTE_NAME_MAX + 1]; /* route update: the route, and every route's name */
    char *routes_csv;
    evwriter_done_cb cb;
    void *arg;
    int ok; /* for the loop's callback: committed (1) or given up (0) */
};

/* Writes handed to a writer thread but not yet committed, beyond which new inserts are
 * dropped (with a warning): the worker writes an event whose row is missing from its job,
 * so this bounds memory while SQLite is stuck without losing an event. Updates are never
 * dropped: each holds a job that --concurrency bounds already. */
#define EVWRITER_THREAD_MAX 50000
/* Longest evwriter_flush waits for a writer thread. */
#define EVWRITER_FLUSH_WAIT_S 5

/* The writer thread's side, all under `lock`. */
struct evw_thread {
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t work; /* signalled when a batch arrives or at stop */
    pthread_cond_t done; /* broadcast after each commit */
    struct evw_item *head, *tail;
    int count;
    uint64_t handed, committed; /* writes handed over / committed (or given up) so far */
    uint64_t dropped;           /* dropped at EVWRITER_THREAD_MAX, for the warning */
    bool stop;
    struct store *st;                       /* the thread's own connection */
    struct evw_item *done_head, *done_tail; /* written, their callbacks not run yet */
    bool notified;                          /* a byte is in the pipe for done_head */
    int pipe_fd[2];                         /* the thread wakes the loop through it */
};

/* An evwriter_flush_then waiting for the writer thread. */
struct evw_wait {
    struct evw_wait *next;
    struct evwriter *w;
    struct event *timer;
    uint64_t want; /* t->handed when it began */
    int64_t deadline_mono;
    evwriter_flushed_cb cb;
    void *arg;
};

struct evwriter {
    struct event_base *base;
    struct store *st;
    struct event *timer;
    int flush_ms;
    int max_batch;
    struct evw_item *head, *tail;
    int count;
    bool timer_armed;
    struct evw_thread *thread; /* NULL: batches commit on the loop */
    struct event *wake;        /* the thread's pipe: callbacks to run */
    int64_t drop_logged_ms;    /* when the last "inserts dropped" warning went out */
    struct evw_wait *waits;    /* evwriter_flush_then calls not answered yet */
};

static int evwriter_handoff(struct evwriter *w);
static void *evwriter_thread_main(void *arg);
static void evwriter_free_list(struct evw_item *it);
static void evwriter_run_done(struct evwriter *w);

static void evwriter_item_free(struct evw_item *it)
{
    free(it->json);
    free(it->attempt_json);
    free(it->routes_csv);
    free(it->outbound_json);
    free(it);
}

static void evwriter_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct evwriter *w = arg;
    (void)fd;
    (void)what;
    w->timer_armed = false;
    if (evwriter_handoff(w) != 0 && w->count > 0) {
        /* Back off a little more than usual while SQLite is unavailable. */
        struct timeval tv = {0, 200 * 1000};
        evtimer_add(w->timer, &tv);
        w->timer_armed = true;
    }
}

struct evwriter *evwriter_new(struct event_base *base, struct store *st, int flush_ms,
                              int max_batch)
{
    struct evwriter *w = xcalloc(1, sizeof(*w));
    w->base = base;
    w->st = st;
    w->flush_ms = flush_ms;
    w->max_batch = max_batch;
    w->timer = evtimer_new(base, evwriter_on_timer, w);
    return w;
}

/* The loop's end of the thread's pipe: run the callbacks of what it committed. */
static void evwriter_on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    evwriter_run_done(arg);
}

static void evwriter_thread_destroy(struct evw_thread *t)
{
    evwriter_free_list(t->head);
    evwriter_free_list(t->done_head);
    store_close(t->st);
    for (int i = 0; i < 2; i++)
        if (t->pipe_fd[i] >= 0)
            close(t->pipe_fd[i]);
    pthread_cond_destroy(&t->done);
    pthread_cond_destroy(&t->work);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int evwriter_new_threaded(struct event_base *base, const char *db_path, int flush_ms, int max_batch,
                          struct evwriter **out, char *err, size_t errlen)
{
    struct evw_thread *t = xcalloc(1, sizeof(*t));
    struct evwriter *w = NULL;
    *out = NULL;
    t->pipe_fd[0] = t->pipe_fd[1] = -1;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->work, NULL);
    pthread_cond_init(&t->done, NULL);
    if (store_open(db_path, &t->st, err, errlen) != 0)
        goto fail;
    if (pipe(t->pipe_fd) != 0) {
        snprintf(err, errlen, "event writer pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(t->pipe_fd[i], F_GETFL);
        fcntl(t->pipe_fd[i], F_SETFL, fl | O_NONBLOCK);
        fcntl(t->pipe_fd[i], F_SETFD, FD_CLOEXEC);
    }
    w = evwriter_new(base, NULL, flush_ms, max_batch);
    w->wake = event_new(base, t->pipe_fd[0], EV_READ | EV_PERSIST, evwriter_on_wake, w);
    if (w->wake == NULL || event_add(w->wake, NULL) != 0) {
        snprintf(err, errlen, "event writer: cannot watch its pipe");
        goto fail;
    }
    int rc = pthread_create(&t->tid, NULL, evwriter_thread_main, t);
    if (rc != 0) {
        snprintf(err, errlen, "event writer thread: %s", strerror(rc));
        goto fail;
    }
    /* Its own name in top -H and perf: its CPU is the store's, not the loop's. */
    pthread_setname_np(t->tid, "hb-evwriter");
    w->thread = t;
    *out = w;
    return 0;
fail:
    if (w != NULL) {
        if (w->wake != NULL)
            event_free(w->wake);
        event_free(w->timer);
        free(w);
    }
    evwriter_thread_destroy(t);
    return -1;
}

/* Stop and join the thread. What it could not write is on its done list, given up. */
static void evwriter_thread_stop(struct evw_thread *t)
{
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->work);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->tid, NULL);
}

static void evwriter_enqueue(struct evwriter *w, struct evw_item *it)
{
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->count++;
    if (w->count >= w->max_batch) {
        evwriter_handoff(w);
    } else if (!w->timer_armed) {
        struct timeval tv = {w->flush_ms / 1000, (w->flush_ms % 1000) * 1000};
        evtimer_add(w->timer, &tv);
        w->timer_armed = true;
    }
}

void evwriter_insert(struct evwriter *w, const char *id, const char *bridge_id, const char *status,
                     int64_t received_ms, char *json)
{
    struct evw_item *it = xcalloc(1, sizeof(*it));
    it->kind = EVW_INSERT;
    snprintf(it->id, sizeof(it->id), "%s", id);
    snprintf(it->bridge_id, sizeof(it->bridge_id), "%s", bridge_id);
    snprintf(it->status, sizeof(it->status), "%s", status);
    it->received_ms = received_ms;
    it->json = json;
    evwriter_enqueue(w, it);
}

/* An item for an event's outcome (`u`, copied), of `kind`. */
static struct evw_item *evw_outcome_item(enum evw_kind kind, const struct store_event_update *u,
                                         const char *bridge_id, int64_t received_ms,
                                         evwriter_full_cb full, evwriter_done_cb cb, void *arg)
{
    struct evw_item *it = xcalloc(1, sizeof(*it));
    it->kind = kind;
    snprintf(it->id, sizeof(it->id), "%s", u->id);
    snprintf(it->bridge_id, sizeof(it->bridge_id), "%s", bridge_id);
    snprintf(it->status, sizeof(it->status), "%s", u->status);
    it->received_ms = received_ms;
    it->full = full;
    it->attempt_json = u->attempt_json ? xstrdup(u->attempt_json) : NULL;
    it->outbound_json = u->outbound_json ? xstrdup(u->outbound_json) : NULL;
    it->next_attempt_ms = u->next_attempt_ms;
    it->cb = cb;
    it->arg = arg;
    return it;
}

void evwriter_update(struct evwriter *w, const struct store_event_update *u, const char *bridge_id,
                     int64_t received_ms, evwriter_full_cb full, evwriter_done_cb cb, void *arg)
{
    evwriter_enqueue(w, evw_outcome_item(EVW_UPDATE, u, bridge_id, received_ms, full, cb, arg));
}

void evwriter_update_route(struct evwriter *w, const struct store_event_update *u,
                           const char *route, const char *routes_csv, const char *bridge_id,
                           int64_t received_ms, evwriter_full_cb full, evwriter_done_cb cb,
                           void *arg)
{
    struct evw_item *it = evw_outcome_item(EVW_ROUTE, u, bridge_id, received_ms, full, cb, arg);
    snprintf(it->route, sizeof(it->route), "%s", route);
    it->routes_csv = xstrdup(routes_csv ? routes_csv : "");
    evwriter_enqueue(w, it);
}

/*
 * One route's outcome: read, change and write back the event inside the batch's
 * transaction (store_event_get_for_update: SQLite's BEGIN IMMEDIATE holds the write lock
 * from the start, PostgreSQL locks the row), so two workers recording two routes of one
 * event cannot lose each other's change.
 */
static int evwriter_apply_route(struct store *st, struct evw_item *it, char *err, size_t errlen)
{
    char *json = NULL;
    int rc = store_event_get_for_update(st, it->id, &json, err, errlen);
    bool missing = rc == STORE_NOTFOUND;
    if (missing) {
        json = it->full ? it->full(it->arg) : NULL;
        if (json == NULL)
            return 0;
    } else if (rc != 0) {
        return rc;
    }
    cJSON *ev = cJSON_Parse(json);
    free(json);
    if (!cJSON_IsObject(ev)) {
        cJSON_Delete(ev);
        snprintf(err, errlen, "event %s: stored json unreadable", it->id);
        return -1;
    }
    enum event_status route_status = EVENT_STATUS_QUEUED;
    event_status_parse(it->status, &route_status);
    enum event_status st_ev =
        event_apply_route(ev, it->route, it->routes_csv, route_status, it->attempt_json,
                          it->outbound_json, it->next_attempt_ms);
    char *out = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (missing)
        rc = store_event_insert(st, it->id, it->bridge_id, event_status_name(st_ev),
                                it->received_ms, out, false, err, errlen);
    else
        rc = store_event_replace(st, it->id, event_status_name(st_ev), out, err, errlen);
    free(out);
    return rc;
}

/* Items written together by evwriter_apply_run, at most. */
#define EVW_RUN_MAX 256

/* The ids of a run (pointers into its items), open addressing, never more than half full:
 * comparing each item with the run before it would be ~32,000 strcmp of ids sharing their
 * first 20 characters per run of 256, on the writer's hot path. */
#define EVW_RUN_SLOTS (2 * EVW_RUN_MAX)
struct evw_run_set {
    const char *id[EVW_RUN_SLOTS];
};

/* Add `id`; false when it is there already. */
static bool evw_run_set_add(struct evw_run_set *set, const char *id)
{
    size_t i = (size_t)(shash(id, strlen(id)) % EVW_RUN_SLOTS);
    while (set->id[i] != NULL) {
        if (strcmp(set->id[i], id) == 0)
            return false;
        i = (i + 1) % EVW_RUN_SLOTS;
    }
    set->id[i] = id;
    return true;
}

/* True when an item in [from, to) has `id`. */
static bool evwriter_run_has(const struct evw_item *from, const struct evw_item *to, const char *id)
{
    for (const struct evw_item *it = from; it != to; it = it->next) {
        if (strcmp(it->id, id) == 0)
            return true;
    }
    return false;
}

/*
 * Write the run of inserts and updates [head, end), all of distinct events, with
 * store_*_many: the updates, the inserts, then the rows the updates found missing, three
 * round trips to PostgreSQL for the run instead of one or two per event. Distinct ids make
 * the order inside the run irrelevant, so the result is the one writing them item by item,
 * in order, would give.
 */
static int evwriter_apply_run(struct store *st, struct evw_item *head, struct evw_item *end, int n,
                              char *err, size_t errlen)
{
    struct store_event_update *u = xcalloc((size_t)n, sizeof(*u));
    struct evw_item **uit = xcalloc((size_t)n, sizeof(*uit));
    int *urc = xcalloc((size_t)n, sizeof(*urc));
    struct store_event_row *rows = xcalloc((size_t)n, sizeof(*rows));
    char **built = xcalloc((size_t)n, sizeof(*built));
    size_t nu = 0, nr = 0, nb = 0;
    int ret = -1;
    for (struct evw_item *it = head; it != end; it = it->next) {
        if (it->kind == EVW_INSERT) {
            rows[nr++] = (struct store_event_row){it->id,          it->bridge_id, it->status,
                                                  it->received_ms, it->json,      true};
        } else {
            uit[nu] = it;
            u[nu++] = (struct store_event_update){
                .id = it->id,
                .status = it->status,
                .attempt_json = it->attempt_json,
                .outbound_json = it->outbound_json,
                .next_attempt_ms = it->next_attempt_ms,
            };
        }
    }
    if (store_event_update_many(st, u, nu, urc, err, errlen) != 0 ||
        store_event_insert_many(st, rows, nr, err, errlen) != 0)
        goto cleanup;
    /* No row yet (the ingress writes none: common/record.h): the job carries enough to
     * build the event, and the caller already folded this update in. */
    nr = 0;
    for (size_t i = 0; i < nu; i++) {
        if (urc[i] != STORE_NOTFOUND || uit[i]->full == NULL)
            continue;
        struct evw_item *it = uit[i];
        char *json = it->full(it->arg);
        if (json == NULL)
            continue;
        built[nb++] = json;
        rows[nr++] = (struct store_event_row){it->id,          it->bridge_id, it->status,
                                              it->received_ms, json,          false};
    }
    if (store_event_insert_many(st, rows, nr, err, errlen) != 0)
        goto cleanup;
    ret = 0;
cleanup:
    for (size_t i = 0; i < nb; i++)
        free(built[i]);
    free(built);
    free(rows);
    free(urc);
    free(uit);
    free(u);
    return ret;
}

/*
 * Apply the list at `head` inside the caller's transaction: route outcomes one by one (a
 * read-modify-write each), everything else in runs of distinct events (evwriter_apply_run).
 * A run ends before an item whose event it already holds, so two writes of one event keep
 * their order.
 */
static int evwriter_apply_all(struct store *st, struct evw_item *head, char *err, size_t errlen)
{
    struct evw_item *it = head;
    while (it != NULL) {
        if (it->kind == EVW_ROUTE) {
            if (evwriter_apply_route(st, it, err, errlen) != 0) {
                log_kv(LOG_WARN, "event write delayed", "event_id", it->id, "error", err, NULL);
                return -1;
            }
            it = it->next;
            continue;
        }
        struct evw_item *run = it;
        int n = 0;
        struct evw_run_set seen;
        memset(&seen, 0, sizeof(seen));
        while (it != NULL && it->kind != EVW_ROUTE && n < EVW_RUN_MAX &&
               evw_run_set_add(&seen, it->id)) {
            it = it->next;
            n++;
        }
        if (evwriter_apply_run(st, run, it, n, err, errlen) != 0) {
            char count[16];
            snprintf(count, sizeof(count), "%d", n);
            if (n == 1)
                log_kv(LOG_WARN, "event write delayed", "event_id", run->id, "error", err, NULL);
            else
                log_kv(LOG_WARN, "event writes delayed", "events", count, "error", err, NULL);
            return -1;
        }
    }
    return 0;
}

/* Commit the list at `head` in one transaction on `st`. Returns 0, or -1 after a rollback
 * (logged). */
static int evwriter_commit(struct store *st, struct evw_item *head)
{
    char err[HB_ERR_LEN];
    if (store_begin(st, err, sizeof err) != 0) {
        log_kv(LOG_WARN, "event write delayed", "error", err, NULL);
        return -1;
    }
    if (evwriter_apply_all(st, head, err, sizeof err) != 0) {
        store_rollback(st);
        return -1;
    }
    if (store_commit(st, err, sizeof err) != 0) {
        log_kv(LOG_WARN, "event write delayed", "error", err, NULL);
        store_rollback(st);
        return -1;
    }
    return 0;
}

/* Append `it` to the list [*head, *tail]. */
static void evw_list_add(struct evw_item **head, struct evw_item **tail, struct evw_item *it)
{
    it->next = NULL;
    if (*tail)
        (*tail)->next = it;
    else
        *head = it;
    *tail = it;
}

static bool evwriter_thread_stopping(struct evw_thread *t)
{
    pthread_mutex_lock(&t->lock);
    bool stop = t->stop;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

/*
 * Commit the list at `head` on `st`: in one transaction, or, when that fails, one
 * transaction an item, so that one write the database refuses (a row a constraint rejects,
 * a value it cannot take) holds back only itself and the later writes of its event, not
 * every event the batch held. The written items go to `*done` (ok = 1), the others, in
 * order, to `*kept` (`*kept_n` of them). A writer thread `t` told to stop keeps the rest
 * untried: with SQLite locked each item would wait its busy timeout, and shutdown with it.
 */
static void evwriter_commit_list(struct store *st, struct evw_thread *t, struct evw_item *head,
                                 struct evw_item **done, struct evw_item **kept, int *kept_n)
{
    struct evw_item *done_tail = NULL, *kept_tail = NULL;
    *done = *kept = NULL;
    *kept_n = 0;
    if (head == NULL)
        return;
    if (evwriter_commit(st, head) == 0) {
        *done = head;
        for (struct evw_item *it = head; it != NULL; it = it->next)
            it->ok = 1;
        return;
    }
    bool alone = head->next == NULL;
    struct evw_item *it = head;
    while (it != NULL) {
        struct evw_item *next = it->next;
        it->next = NULL;
        if (alone || evwriter_run_has(*kept, NULL, it->id) ||
            (t != NULL && evwriter_thread_stopping(t)) || evwriter_commit(st, it) != 0) {
            evw_list_add(kept, &kept_tail, it);
            (*kept_n)++;
        } else {
            it->ok = 1;
            evw_list_add(done, &done_tail, it);
        }
        it = next;
    }
}

/* Run the callbacks of the list at `it` and free it. */
static void evwriter_finish_list(struct evw_item *it)
{
    while (it != NULL) {
        struct evw_item *next = it->next;
        if (it->cb)
            it->cb(it->arg, it->ok);
        evwriter_item_free(it);
        it = next;
    }
}

/* Put `kept` (kept_n writes that did not commit) back at the front of a queue, in order,
 * ahead of anything queued meanwhile. */
static void evwriter_requeue_front(struct evw_item **head, struct evw_item **tail, int *count,
                                   struct evw_item *kept, int kept_n)
{
    if (kept == NULL)
        return;
    struct evw_item *kept_tail = kept;
    while (kept_tail->next != NULL)
        kept_tail = kept_tail->next;
    kept_tail->next = *head;
    if (*tail == NULL)
        *tail = kept_tail;
    *head = kept;
    *count += kept_n;
}

/* Commit the loop's batch on the loop (unthreaded writers). What fails stays queued, in
 * order, ahead of anything queued meanwhile; -1 if anything did. */
static int evwriter_flush_here(struct evwriter *w)
{
    if (w->count == 0)
        return 0;
    /* Detach the batch first: callbacks may queue new writes. */
    struct evw_item *batch = w->head, *done, *kept;
    int kept_n;
    w->head = w->tail = NULL;
    w->count = 0;
    evwriter_commit_list(w->st, NULL, batch, &done, &kept, &kept_n);
    evwriter_requeue_front(&w->head, &w->tail, &w->count, kept, kept_n);
    evwriter_finish_list(done);
    return kept != NULL ? -1 : 0;
}

static void evwriter_free_list(struct evw_item *it)
{
    while (it != NULL) {
        struct evw_item *next = it->next;
        evwriter_item_free(it);
        it = next;
    }
}

/* Put the list at `head` on the thread's done list for the loop, and wake the loop once
 * for all it holds. Called with the lock held. Items without a callback are freed here. */
static void evwriter_thread_done(struct evw_thread *t, struct evw_item *head)
{
    while (head != NULL) {
        struct evw_item *next = head->next;
        if (head->cb == NULL)
            evwriter_item_free(head);
        else
            evw_list_add(&t->done_head, &t->done_tail, head);
        head = next;
    }
    if (t->done_head != NULL && !t->notified) {
        t->notified = true;
        char b = 1;
        /* Full pipe: a byte is there already, and the loop reads the whole list. */
        if (write(t->pipe_fd[1], &b, 1) < 0 && errno != EAGAIN)
            log_kv(LOG_WARN, "event writer cannot wake its loop", "error", strerror(errno), NULL);
    }
}

/* The writer thread: commit whatever has been handed over, until told to stop. Writes that
 * fail go back ahead of the queue and are tried again 200 ms later; at stop they are given
 * up (the jobs are in Redis: the worker writes their events, or puts an update's job back
 * when its callback says ok = 0). */
static void *evwriter_thread_main(void *arg)
{
    struct evw_thread *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (t->head == NULL && !t->stop)
            pthread_cond_wait(&t->work, &t->lock);
        if (t->head == NULL)
            break;
        struct evw_item *batch = t->head, *done, *kept;
        int n = t->count, kept_n;
        t->head = t->tail = NULL;
        t->count = 0;
        pthread_mutex_unlock(&t->lock);

        evwriter_commit_list(t->st, t, batch, &done, &kept, &kept_n);

        pthread_mutex_lock(&t->lock);
        t->committed += (uint64_t)(n - kept_n);
        evwriter_thread_done(t, done);
        if (kept != NULL && t->stop) {
            log_kv(LOG_WARN,
                   "event writes given up at shutdown; their jobs stay in redis and are "
                   "recorded from there",
                   NULL);
            t->committed += (uint64_t)kept_n;
            evwriter_thread_done(t, kept);
        } else {
            evwriter_requeue_front(&t->head, &t->tail, &t->count, kept, kept_n);
        }
        pthread_cond_broadcast(&t->done);
        if (kept != NULL && !t->stop) {
            pthread_mutex_unlock(&t->lock);
            struct timespec pause = {0, 200 * 1000 * 1000};
            nanosleep(&pause, NULL);
            pthread_mutex_lock(&t->lock);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* Run, on the loop, the callbacks of what the thread has written. */
static void evwriter_run_done(struct evwriter *w)
{
    struct evw_thread *t = w->thread;
    pthread_mutex_lock(&t->lock);
    struct evw_item *it = t->done_head;
    t->done_head = t->done_tail = NULL;
    t->notified = false;
    pthread_mutex_unlock(&t->lock);
    evwriter_finish_list(it);
}

/* Move the loop's batch to the writer thread, or commit it here when unthreaded. */
static int evwriter_handoff(struct evwriter *w)
{
    struct evw_thread *t = w->thread;
    if (t == NULL)
        return evwriter_flush_here(w);
    if (w->count == 0)
        return 0;
    struct evw_item *batch = w->head, *batch_tail = w->tail, *dropped_list = NULL;
    int n = w->count;
    w->head = w->tail = NULL;
    w->count = 0;
    pthread_mutex_lock(&t->lock);
    bool over = t->count + n > EVWRITER_THREAD_MAX;
    pthread_mutex_unlock(&t->lock);
    if (over) {
        /* Only inserts are dropped; updates and whatever has a callback go on. */
        struct evw_item *keep = NULL, *keep_tail = NULL, *drop_tail = NULL;
        n = 0;
        for (struct evw_item *it = batch, *next; it != NULL; it = next) {
            next = it->next;
            if (it->kind == EVW_INSERT && it->cb == NULL) {
                evw_list_add(&dropped_list, &drop_tail, it);
            } else {
                evw_list_add(&keep, &keep_tail, it);
                n++;
            }
        }
        batch = keep;
        batch_tail = keep_tail;
    }
    uint64_t dropped = 0;
    pthread_mutex_lock(&t->lock);
    if (batch != NULL) {
        if (t->tail)
            t->tail->next = batch;
        else
            t->head = batch;
        t->tail = batch_tail;
        t->count += n;
        t->handed += (uint64_t)n;
        pthread_cond_signal(&t->work);
    }
    for (struct evw_item *it = dropped_list; it != NULL; it = it->next)
        t->dropped++;
    dropped = t->dropped;
    pthread_mutex_unlock(&t->lock);
    if (dropped_list != NULL) {
        /* At most one line a second: a stuck store would otherwise log every batch. */
        int64_t now = clock_mono_ms();
        if (now - w->drop_logged_ms >= 1000) {
            w->drop_logged_ms = now;
            char total[24];
            snprintf(total, sizeof(total), "%llu", (unsigned long long)dropped);
            log_kv(LOG_WARN,
                   "event store behind; inserts dropped until it catches up (workers "
                   "write these events from their jobs)",
                   "dropped_total", total, NULL);
        }
        evwriter_free_list(dropped_list);
    }
    return 0;
}

int evwriter_flush(struct evwriter *w)
{
    struct evw_thread *t = w->thread;
    if (t == NULL)
        return evwriter_flush_here(w);
    evwriter_handoff(w);
    /* Bounded: while SQLite is unavailable a reader gets its answer from what is there
     * rather than hanging, as with an unthreaded writer whose commit failed. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += EVWRITER_FLUSH_WAIT_S;
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    uint64_t want = t->handed;
    while (t->committed < want && rc == 0)
        rc = pthread_cond_timedwait(&t->done, &t->lock, &deadline);
    bool ok = t->committed >= want;
    pthread_mutex_unlock(&t->lock);
    /* As an unthreaded writer's flush, return with the callbacks of what is written run. */
    evwriter_run_done(w);
    return ok ? 0 : -1;
}

/* Unlink a wait from its writer's list and free it (its callback has run). */
static void evwriter_wait_free(struct evw_wait *wt)
{
    struct evw_wait **pp = &wt->w->waits;
    while (*pp != wt)
        pp = &(*pp)->next;
    *pp = wt->next;
    event_free(wt->timer);
    free(wt);
}

static void evwriter_on_wait(evutil_socket_t fd, short what, void *arg)
{
    struct evw_wait *wt = arg;
    struct evw_thread *t = wt->w->thread;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&t->lock);
    bool done = t->committed >= wt->want;
    pthread_mutex_unlock(&t->lock);
    if (!done && clock_mono_ms() < wt->deadline_mono) {
        struct timeval tv = {0, 1000};
        evtimer_add(wt->timer, &tv);
        return;
    }
    /* The callbacks of what it covers run before it is answered. */
    evwriter_run_done(wt->w);
    evwriter_flushed_cb cb = wt->cb;
    void *cbarg = wt->arg;
    evwriter_wait_free(wt);
    cb(cbarg, done ? EVWRITER_COMMITTED : EVWRITER_TIMED_OUT);
}

void evwriter_flush_then(struct evwriter *w, evwriter_flushed_cb cb, void *arg)
{
    struct evw_thread *t = w->thread;
    if (t == NULL) {
        int rc = evwriter_flush_here(w);
        cb(arg, rc == 0 ? EVWRITER_COMMITTED : EVWRITER_TIMED_OUT);
        return;
    }
    evwriter_handoff(w);
    struct evw_wait *wt = xcalloc(1, sizeof(*wt));
    wt->w = w;
    pthread_mutex_lock(&t->lock);
    wt->want = t->handed;
    pthread_mutex_unlock(&t->lock);
    wt->deadline_mono = clock_mono_ms() + EVWRITER_FLUSH_WAIT_S * 1000;
    wt->cb = cb;
    wt->arg = arg;
    wt->timer = evtimer_new(w->base, evwriter_on_wait, wt);
    wt->next = w->waits;
    w->waits = wt;
    /* First checked from the loop, not here: the caller's code after this call runs
     * before its callback, as it would for any asynchronous answer. */
    struct timeval now = {0, 0};
    evtimer_add(wt->timer, &now);
}

int evwriter_pending(const struct evwriter *w)
{
    int n = w->count;
    struct evw_thread *t = w->thread;
    if (t != NULL) {
        pthread_mutex_lock(&t->lock);
        n += t->count; /* handed over, not taken yet; a batch being committed is not counted */
        pthread_mutex_unlock(&t->lock);
    }
    return n;
}

void evwriter_free(struct evwriter *w)
{
    if (w == NULL)
        return;
    evwriter_flush(w);
    if (w->thread != NULL) {
        /* What the thread wrote or gave up meanwhile is told to its callers here. */
        evwriter_thread_stop(w->thread);
        evwriter_run_done(w);
        event_free(w->wake);
        evwriter_thread_destroy(w->thread);
        w->thread = NULL;
    }
    while (w->waits != NULL) {
        evwriter_flushed_cb cb = w->waits->cb;
        void *cbarg = w->waits->arg;
        evwriter_wait_free(w->waits);
        cb(cbarg, EVWRITER_CANCELLED);
    }
    struct evw_item *it = w->head;
    while (it != NULL) {
        struct evw_item *next = it->next;
        if (it->cb)
            it->cb(it->arg, 0);
        evwriter_item_free(it);
        it = next;
    }
    evtimer_del(w->timer);
    event_free(w->timer);
    free(w);
}
