/*
 * record.c - SQLite rows for accepted events, written from their jobs (see record.h).
 */
#include "record.h"

#include "event.h"
#include "evwriter.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>

struct record_call {
    struct evwriter *w;
    record_cb cb;
    void *arg;
};

/* Queue the row of one taken job: `pairs` its hash, `due` its score in scheduled or "". */
static void record_one(struct evwriter *w, const redisReply *id, const redisReply *pairs,
                       const redisReply *due)
{
    char err[HB_ERR_LEN];
    struct job j;
    if (id->type != REDIS_REPLY_STRING || id->len >= HB_ID_LEN)
        return;
    if (job_from_reply(&j, id->str, pairs, err, sizeof(err)) != 0) {
        /* The worker that takes it fails it with the same reason, and records that. */
        log_kv(LOG_WARN, "job unreadable; its event is recorded when a worker takes it", "event_id",
               id->str, "error", err, NULL);
        return;
    }
    /* An event with an attempt made has a row: the worker wrote it before putting the job
     * back on the schedule. */
    if (j.attempts == 0) {
        int64_t due_ms =
            due->type == REDIS_REPLY_STRING && due->len > 0 ? strtoll(due->str, NULL, 10) : 0;
        enum event_status status = event_status_waiting(&j, due_ms);
        char *json = event_json(&j, status, j.aborted ? 0 : due_ms, NULL, NULL);
        evwriter_insert(w, j.id, j.bridge_id, event_status_name(status), j.received_ms, json);
    }
    job_clear(&j);
}

/* The script's answer: {taken, {id, hash, due, …}}. */
static void record_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct record_call *call = priv;
    redisReply *reply = r;
    (void)ac;
    int taken = -1;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_ARRAY) {
        taken = (int)reply->element[0]->integer;
        const redisReply *rows = reply->element[1];
        for (size_t i = 0; i + 2 < rows->elements; i += 3)
            record_one(call->w, rows->element[i], rows->element[i + 1], rows->element[i + 2]);
    } else {
        log_kv(LOG_WARN, "taking unrecorded events failed", "error",
               reply == NULL                      ? "connection lost"
               : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                  : "unexpected reply",
               NULL);
    }
    call->cb(call->arg, taken);
    free(call);
}

int record_take(struct rconn *rc, const struct queue_keys *keys, struct evwriter *w, int max,
                int64_t older_than_ms, record_cb cb, void *arg)
{
    return record_sweep(rc, keys, w, max, older_than_ms, 0, 0, cb, arg);
}

int record_sweep(struct rconn *rc, const struct queue_keys *keys, struct evwriter *w, int max,
                 int64_t older_than_ms, int ahead, int64_t late_ms, record_cb cb, void *arg)
{
    char maxs[16], mode[24], aheads[16], lates[24];
    snprintf(maxs, sizeof(maxs), "%d", max);
    if (older_than_ms == 0)
        snprintf(mode, sizeof(mode), "newest");
    else
        snprintf(mode, sizeof(mode), "%lld", (long long)older_than_ms);
    snprintf(aheads, sizeof(aheads), "%d", older_than_ms == 0 ? 0 : ahead);
    snprintf(lates, sizeof(lates), "%lld", (long long)late_ms);
    struct record_call *call = xcalloc(1, sizeof(*call));
    call->w = w;
    call->cb = cb;
    call->arg = arg;
    if (rconn_cmd(rc, record_on_reply, call, "EVAL %s 3 %s %s %s %s %s %s %s %s",
                  queue_lua_unrecorded, keys->unrecorded, keys->scheduled, keys->ready,
                  keys->prefix, maxs, mode, aheads, lates) != 0) {
        free(call);
        return -1;
    }
    return 0;
}

struct record_catching_up {
    struct rconn *rc;
    const struct queue_keys *keys;
    struct evwriter *w;
    record_caught_up_cb done;
    void *arg;
    int total;
};

static void record_on_committed(void *arg, enum evwriter_flushed res)
{
    struct record_catching_up *r = arg;
    r->done(r->arg, res == EVWRITER_CANCELLED);
    free(r);
}

static void record_on_caught(void *arg, int taken)
{
    struct record_catching_up *r = arg;
    if (taken > 0)
        r->total += taken;
    if (taken == RECORD_CATCH_UP_BATCH && r->total < RECORD_CATCH_UP_MAX &&
        record_take(r->rc, r->keys, r->w, RECORD_CATCH_UP_BATCH, 0, record_on_caught, r) == 0)
        return;
    evwriter_flush_then(r->w, record_on_committed, r);
}

void record_catch_up(struct rconn *rc, const struct queue_keys *keys, struct evwriter *w,
                     record_caught_up_cb done, void *arg)
{
    struct record_catching_up *r = xcalloc(1, sizeof(*r));
    r->rc = rc;
    r->keys = keys;
    r->w = w;
    r->done = done;
    r->arg = arg;
    if (record_take(rc, keys, w, RECORD_CATCH_UP_BATCH, 0, record_on_caught, r) != 0)
        record_on_caught(r, -1);
}
