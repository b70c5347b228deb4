/*
 * admin_stats.c - GET /api/stats: queue depths and live workers from Redis, event totals
 * by status from SQLite.
 *
 * GET /metrics (no token): the same queue figures plus the shared counters, as Prometheus
 * text.
 *
 * The numbers come from the shared stores, not from this process's memory, so they are
 * the same whichever ingress answers and include every worker.
 */
#include "admin.h"

#include "clock.h"
#include "hb.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "rconn.h"
#include "store.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ask Redis for the queue figures (queue_lua_stats); `cb` gets the reply. Returns 0, or -1
 * when Redis is unreachable (then `cb` is never called). */
static int stats_query_queue(struct ingress *in, redisCallbackFn *cb, void *priv)
{
    char cutoff[24];
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(clock_now_ms() - QUEUE_HEARTBEAT_TTL_MS));
    return rconn_cmd(in->redis, cb, priv, "EVAL %s 3 %s %s %s %s %s", queue_lua_stats,
                     in->keys.ready, in->keys.scheduled, in->keys.workers, in->keys.prefix, cutoff);
}

/* Read the script's reply into `q`; false when Redis failed or answered something else. */
static bool stats_parse_queue(const redisReply *reply, struct metrics_queue *q)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4)
        return false;
    q->ready = reply->element[0]->integer;
    q->scheduled = reply->element[1]->integer;
    q->in_flight = reply->element[2]->integer;
    q->live_workers = reply->element[3]->integer;
    return true;
}

struct stats_req {
    struct ingress *in;
    struct httpd_req *req;
};

static void stats_count(const char *status, int64_t count, void *arg)
{
    cJSON *events = arg;
    cJSON_AddNumberToObject(events, status, (double)count);
    cJSON *total = cJSON_GetObjectItemCaseSensitive(events, "total");
    cJSON_SetNumberValue(total, total->valuedouble + (double)count);
}

static void stats_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct stats_req *s = priv;
    redisReply *reply = r;
    char err[HB_ERR_LEN];
    (void)ac;
    struct metrics_queue mq;
    if (!stats_parse_queue(reply, &mq)) {
        http_header(s->req, "Retry-After", "5");
        http_reply_error(s->req, 503, "queue_unavailable", "redis did not answer");
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *q = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddNumberToObject(q, "ready", (double)mq.ready);
    cJSON_AddNumberToObject(q, "scheduled", (double)mq.scheduled);
    cJSON_AddNumberToObject(q, "in_flight", (double)mq.in_flight);
    cJSON *w = cJSON_AddObjectToObject(o, "workers");
    cJSON_AddNumberToObject(w, "live", (double)mq.live_workers);
    cJSON *events = cJSON_AddObjectToObject(o, "events");
    cJSON_AddNumberToObject(events, "total", 0);
    if (store_event_counts(s->in->store, stats_count, events, err) != 0) {
        log_kv(LOG_ERROR, "stats: count events failed", "error", err, NULL);
        http_reply_error(s->req, 500, "internal", "the store failed; see the ingress log");
    } else {
        http_reply_json(s->req, 200, o);
    }
    cJSON_Delete(o);
out:
    free(s);
}

static void stats_query(void *arg, bool stopping)
{
    struct stats_req *s = arg;
    if (stopping || stats_query_queue(s->in, stats_on_reply, s) != 0) {
        http_header(s->req, "Retry-After", "5");
        http_reply_error(s->req, 503, "queue_unavailable", "the queue is unavailable");
        free(s);
    }
}

void admin_stats_handle(struct ingress *in, struct httpd_req *req)
{
    if (!http_method_is(req, "GET")) {
        http_header(req, "Allow", "GET");
        http_reply_error(req, 405, "method_not_allowed", "method not allowed on this route");
        return;
    }
    struct stats_req *s = xcalloc(1, sizeof(*s));
    s->in = in;
    s->req = req;
    /* The totals count rows: events accepted a moment ago get theirs first. */
    admin_record(in, stats_query, s);
}

struct metrics_req {
    struct ingress *in;
    struct httpd_req *req;
    struct metrics_queue q;
};

static void metrics_on_hash(redisAsyncContext *ac, void *r, void *priv)
{
    struct metrics_req *m = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        http_reply_raw(m->req, 503, "text/plain", "redis unavailable\n", 18);
        free(m);
        return;
    }
    const char **strs = xcalloc(reply->elements + 1, sizeof(*strs));
    for (size_t i = 0; i < reply->elements; i++)
        strs[i] = reply->element[i]->str ? reply->element[i]->str : "";
    char *text = metrics_render(strs, reply->elements, &m->q);
    http_reply_raw(m->req, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
    free(strs);
    free(m);
}

static void metrics_on_queue(redisAsyncContext *ac, void *r, void *priv)
{
    struct metrics_req *m = priv;
    redisReply *reply = r;
    (void)ac;
    if (!stats_parse_queue(reply, &m->q)) {
        http_reply_raw(m->req, 503, "text/plain", "redis unavailable\n", 18);
        free(m);
        return;
    }
    char key[QUEUE_KEY_LEN];
    metrics_key(m->in->cfg.key_prefix, key, sizeof(key));
    if (rconn_cmd(m->in->redis, metrics_on_hash, m, "HGETALL %s", key) != 0) {
        http_reply_raw(m->req, 503, "text/plain", "redis unavailable\n", 18);
        free(m);
    }
}

void admin_metrics_handle(struct ingress *in, struct httpd_req *req)
{
    /* This process's own recent counts go first, on the same connection, so the answer
     * includes them. */
    char key[QUEUE_KEY_LEN];
    metrics_key(in->cfg.key_prefix, key, sizeof(key));
    metrics_flush(in->metrics, in->redis, key);
    struct metrics_req *m = xcalloc(1, sizeof(*m));
    m->in = in;
    m->req = req;
    if (stats_query_queue(in, metrics_on_queue, m) != 0) {
        free(m);
        http_reply_raw(req, 503, "text/plain", "redis unavailable\n", 18);
    }
}
