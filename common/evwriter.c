/*
 * evwriter.c - batched event writes (see evwriter.h).
 *
 * Writes wait in a FIFO until a timer or a full batch flushes them in one transaction.
 * Callbacks run only after the commit, in queue order. If the commit fails (SQLite busy
 * beyond its timeout, disk full), the batch stays queued and the timer tries again: the
 * jobs stay in Redis meanwhile, so nothing is lost, only delayed.
 */
#include "evwriter.h"

#include "hb.h"
#include "log.h"
#include "xalloc.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum evw_kind { EVW_INSERT, EVW_UPDATE };

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
    evwriter_done_cb cb;
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
};

static void evwriter_item_free(struct evw_item *it)
{
    free(it->json);
    free(it->attempt_json);
    free(it->outbound_json);
    free(it);
}

static void evwriter_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct evwriter *w = arg;
    (void)fd;
    (void)what;
    w->timer_armed = false;
    if (evwriter_flush(w) != 0 && w->count > 0) {
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

static void evwriter_enqueue(struct evwriter *w, struct evw_item *it)
{
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->count++;
    if (w->count >= w->max_batch) {
        evwriter_flush(w);
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

void evwriter_update(struct evwriter *w, const struct store_event_update *u, const char *bridge_id,
                     int64_t received_ms, evwriter_full_cb full, evwriter_done_cb cb, void *arg)
{
    struct evw_item *it = xcalloc(1, sizeof(*it));
    it->kind = EVW_UPDATE;
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
    evwriter_enqueue(w, it);
}

static int evwriter_apply(struct evwriter *w, struct evw_item *it, char *err)
{
    if (it->kind == EVW_INSERT)
        return store_event_insert(w->st, it->id, it->bridge_id, it->status, it->received_ms,
                                  it->json, true, err);
    struct store_event_update u = {
        .id = it->id,
        .status = it->status,
        .attempt_json = it->attempt_json,
        .outbound_json = it->outbound_json,
        .next_attempt_ms = it->next_attempt_ms,
    };
    int rc = store_event_update(w->st, &u, err);
    if (rc == STORE_NOTFOUND) {
        /* The ingress never got to write the event (it crashed after the 202): the job
         * carried enough to rebuild it, and the caller already folded this update in. */
        char *json = it->full ? it->full(it->arg) : NULL;
        if (json == NULL)
            return 0;
        rc = store_event_insert(w->st, it->id, it->bridge_id, it->status, it->received_ms, json,
                                false, err);
        free(json);
        return rc;
    }
    return rc;
}

int evwriter_flush(struct evwriter *w)
{
    if (w->count == 0)
        return 0;
    char err[HB_ERR_LEN];
    if (store_begin(w->st, err) != 0) {
        log_kv(LOG_WARN, "event write delayed", "error", err, NULL);
        return -1;
    }
    for (struct evw_item *it = w->head; it != NULL; it = it->next) {
        if (evwriter_apply(w, it, err) != 0) {
            log_kv(LOG_WARN, "event write delayed", "event_id", it->id, "error", err, NULL);
            store_rollback(w->st);
            return -1;
        }
    }
    if (store_commit(w->st, err) != 0) {
        log_kv(LOG_WARN, "event write delayed", "error", err, NULL);
        store_rollback(w->st);
        return -1;
    }
    /* Detach the batch first: callbacks may queue new writes. */
    struct evw_item *it = w->head;
    w->head = w->tail = NULL;
    w->count = 0;
    while (it != NULL) {
        struct evw_item *next = it->next;
        if (it->cb)
            it->cb(it->arg, 1);
        evwriter_item_free(it);
        it = next;
    }
    return 0;
}

int evwriter_pending(const struct evwriter *w)
{
    return w->count;
}

void evwriter_free(struct evwriter *w)
{
    if (w == NULL)
        return;
    evwriter_flush(w);
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
