/*
 * admin_stats.c - GET /api/stats: queue depths and live workers (each with its heartbeat
 * age) from Redis, event totals by status from SQLite.
 *
 * GET /api/stats/series?minutes=N: accepted, delivered and failed per minute over the last
 * N minutes (1 … 120), from the per-minute counters common/metrics.c keeps in Redis.
 *
 * GET /metrics (no token): the same queue figures plus the shared counters, as Prometheus
 * text.
 *
 * The numbers come from the shared stores, not from this process's memory, so they are
 * the same whichever ingress answers and include every worker.
 */
#include "admin.h"

#include "clock.h"
#include "flow.h"
#include "hb.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "rconn.h"
#include "record.h"
#include "store.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ask Redis for the queue figures (queue_lua_stats); `cb` gets the reply. Returns 0, or -1
 * when Redis is unreachable (then `cb` is never called). */
/* Redis gave no usable answer: a 503 the caller may retry, like the ingress's own. */
static void stats_reply_unavailable(struct httpd_req *req)
{
    httpd_reply_header(req, "Retry-After", "5");
    httpd_reply_json_error(req, 503, "queue_unavailable", "redis did not answer");
}

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
    cJSON *answer; /* built from the queue figures, the worker list and the store */
};

static void stats_count(const char *status, int64_t count, void *arg)
{
    cJSON *events = arg;
    cJSON_AddNumberToObject(events, status, (double)count);
    cJSON *total = cJSON_GetObjectItemCaseSensitive(events, "total");
    cJSON_SetNumberValue(total, total->valuedouble + (double)count);
}

static void stats_on_waiting(redisAsyncContext *ac, void *r, void *priv);

/* The worker list (id and heartbeat age of each worker heard from in the last
 * QUEUE_HEARTBEAT_TTL_MS), then the totals from the store, then the answer. */
static void stats_on_workers(redisAsyncContext *ac, void *r, void *priv)
{
    struct stats_req *s = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        stats_reply_unavailable(s->req);
        goto out;
    }
    cJSON *list = cJSON_AddArrayToObject(cJSON_GetObjectItem(s->answer, "workers"), "list");
    int64_t now = clock_now_ms();
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *id = reply->element[i], *score = reply->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING)
            continue;
        int64_t beat = strtoll(score->str, NULL, 10);
        char at[CLOCK_ISO_LEN];
        clock_iso8601(beat, at);
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", id->str);
        cJSON_AddStringToObject(w, "heartbeat_at", at);
        cJSON_AddNumberToObject(w, "heartbeat_age_ms", (double)(now > beat ? now - beat : 0));
        cJSON_AddItemToArray(list, w);
    }
    char waits[QUEUE_KEY_LEN], rlw[QUEUE_KEY_LEN];
    flow_key_waits(s->in->keys.prefix, waits, sizeof(waits));
    flow_key_rl_waiting(s->in->keys.prefix, rlw, sizeof(rlw));
    if (rconn_cmd(s->in->redis, stats_on_waiting, s, "EVAL %s 2 %s %s %s", flow_lua_stats, waits,
                  rlw, s->in->keys.prefix) != 0)
        stats_on_waiting(NULL, NULL, s);
    return;
out:
    cJSON_Delete(s->answer);
    free(s);
}

/* How many jobs wait, and for what (common/flow.h), then the totals and the answer. */
static void stats_on_waiting(redisAsyncContext *ac, void *r, void *priv)
{
    struct stats_req *s = priv;
    redisReply *reply = r;
    char err[HB_ERR_LEN];
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        stats_reply_unavailable(s->req);
        goto out;
    }
    static const char *const why[] = {"paused", "rate_limit", "concurrency", "circuit"};
    cJSON *waiting = cJSON_AddObjectToObject(s->answer, "waiting");
    for (size_t i = 0; i < 4; i++)
        cJSON_AddNumberToObject(waiting, why[i],
                                reply->element[i]->type == REDIS_REPLY_INTEGER
                                    ? (double)reply->element[i]->integer
                                    : 0);
    cJSON *events = cJSON_AddObjectToObject(s->answer, "events");
    cJSON_AddNumberToObject(events, "total", 0);
    if (store_event_counts(s->in->store, stats_count, events, err, sizeof err) != 0) {
        log_kv(LOG_ERROR, "stats: count events failed", "error", err, NULL);
        httpd_reply_json_error(s->req, 500, "internal", "the store failed; see the ingress log");
    } else {
        http_reply_json(s->req, 200, s->answer);
    }
out:
    cJSON_Delete(s->answer);
    free(s);
}

static void stats_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct stats_req *s = priv;
    redisReply *reply = r;
    (void)ac;
    struct metrics_queue mq;
    if (!stats_parse_queue(reply, &mq)) {
        stats_reply_unavailable(s->req);
        free(s);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *q = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddNumberToObject(q, "ready", (double)mq.ready);
    cJSON_AddNumberToObject(q, "scheduled", (double)mq.scheduled);
    cJSON_AddNumberToObject(q, "in_flight", (double)mq.in_flight);
    cJSON *w = cJSON_AddObjectToObject(o, "workers");
    cJSON_AddNumberToObject(w, "live", (double)mq.live_workers);
    s->answer = o;
    char cutoff[24];
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(clock_now_ms() - QUEUE_HEARTBEAT_TTL_MS));
    if (rconn_cmd(s->in->redis, stats_on_workers, s, "ZRANGEBYSCORE %s (%s +inf WITHSCORES",
                  s->in->keys.workers, cutoff) != 0)
        stats_on_workers(NULL, NULL, s);
}

static void stats_query(void *arg, bool stopping)
{
    struct stats_req *s = arg;
    if (stopping || stats_query_queue(s->in, stats_on_reply, s) != 0) {
        httpd_reply_header(s->req, "Retry-After", "5");
        httpd_reply_json_error(s->req, 503, "queue_unavailable", "the queue is unavailable");
        free(s);
    }
}

void admin_stats_handle(struct ingress *in, struct httpd_req *req)
{
    if (!httpd_req_method_is(req, "GET")) {
        httpd_reply_header(req, "Allow", "GET");
        httpd_reply_json_error(req, 405, "method_not_allowed", "method not allowed on this route");
        return;
    }
    struct stats_req *s = xcalloc(1, sizeof(*s));
    s->in = in;
    s->req = req;
    /* The totals count rows: events accepted a moment ago get theirs first. */
    record_catch_up(in->redis, &in->keys, in->events, stats_query, s);
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
        httpd_reply(m->req, 503, "text/plain", "redis unavailable\n", 18);
        free(m);
        return;
    }
    const char **strs = xcalloc(reply->elements + 1, sizeof(*strs));
    for (size_t i = 0; i < reply->elements; i++)
        strs[i] = reply->element[i]->str ? reply->element[i]->str : "";
    char *text = metrics_render(strs, reply->elements, &m->q);
    if (text == NULL) {
        log_kv(LOG_ERROR, "metrics text too large", NULL);
        httpd_reply_json_error(m->req, 500, "internal", "the metrics text is too large");
    } else {
        httpd_reply(m->req, 200, "text/plain; version=0.0.4", text, strlen(text));
    }
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
        httpd_reply(m->req, 503, "text/plain", "redis unavailable\n", 18);
        free(m);
        return;
    }
    char key[QUEUE_KEY_LEN];
    metrics_key(m->in->cfg.key_prefix, key, sizeof(key));
    if (rconn_cmd(m->in->redis, metrics_on_hash, m, "HGETALL %s", key) != 0) {
        httpd_reply(m->req, 503, "text/plain", "redis unavailable\n", 18);
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
        httpd_reply(req, 503, "text/plain", "redis unavailable\n", 18);
    }
}

/* ---- per-minute series ---- */

#define SERIES_MAX_MINUTES 120

static const char *const series_kinds[] = {"accepted", "delivered", "failed"};

struct series_req {
    struct httpd_req *req;
    int64_t first; /* minute number of the oldest minute */
    int minutes;
};

static void series_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct series_req *sr = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != (size_t)sr->minutes * 3) {
        stats_reply_unavailable(sr->req);
        free(sr);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "minutes");
    for (int m = 0; m < sr->minutes; m++) {
        char at[CLOCK_ISO_LEN];
        clock_iso8601((sr->first + m) * 60000, at);
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "at", at);
        for (int k = 0; k < 3; k++) {
            const redisReply *v = reply->element[m * 3 + k];
            long long n = v->type == REDIS_REPLY_STRING ? strtoll(v->str, NULL, 10) : 0;
            cJSON_AddNumberToObject(item, series_kinds[k], (double)n);
        }
        cJSON_AddItemToArray(arr, item);
    }
    http_reply_json(sr->req, 200, o);
    cJSON_Delete(o);
    free(sr);
}

/* "minutes=N" is the only parameter; digits only, 1 … SERIES_MAX_MINUTES. */
static int series_parse(const char *query, int *minutes)
{
    *minutes = 60;
    if (query == NULL || query[0] == '\0')
        return 0;
    if (strncmp(query, "minutes=", 8) != 0 || strchr(query, '&') != NULL)
        return -1;
    const char *v = query + 8;
    long n = 0;
    if (*v == '\0' || strlen(v) > 4)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        n = n * 10 + (*v - '0');
    }
    if (n < 1 || n > SERIES_MAX_MINUTES)
        return -1;
    *minutes = (int)n;
    return 0;
}

void admin_stats_series_handle(struct ingress *in, struct httpd_req *req)
{
    if (!httpd_req_method_is(req, "GET")) {
        httpd_reply_header(req, "Allow", "GET");
        httpd_reply_json_error(req, 405, "method_not_allowed", "method not allowed on this route");
        return;
    }
    int minutes;
    if (series_parse(httpd_req_query(req), &minutes) != 0) {
        httpd_reply_json_error(
            req, 400, "invalid_parameter",
            "minutes must be a whole number in 1..120; allowed parameters: minutes");
        return;
    }
    struct series_req *sr = xcalloc(1, sizeof(*sr));
    sr->req = req;
    sr->minutes = minutes;
    sr->first = clock_now_ms() / 60000 - (minutes - 1);
    int argc = 1 + minutes * 3;
    const char **argv = xcalloc((size_t)argc, sizeof(*argv));
    char(*keys)[QUEUE_KEY_LEN] = xcalloc((size_t)minutes * 3, sizeof(*keys));
    argv[0] = "MGET";
    for (int m = 0; m < minutes; m++)
        for (int k = 0; k < 3; k++) {
            metrics_series_key(in->cfg.key_prefix, sr->first + m, series_kinds[k], keys[m * 3 + k],
                               QUEUE_KEY_LEN);
            argv[1 + m * 3 + k] = keys[m * 3 + k];
        }
    if (rconn_argv(in->redis, series_on_reply, sr, argc, argv, NULL) != 0)
        series_on_reply(NULL, NULL, sr);
    free(keys);
    free(argv);
}
