/*
 * hooks.c - ANY /hooks/{endpoint}: accept an inbound webhook (see hooks.h).
 *
 * The job goes to Redis in one MULTI/EXEC (HSET job + LPUSH ready, or ZADD scheduled for a
 * delay), so a job is either wholly queued or not at all. The 202 is sent from the EXEC
 * reply; a dropped link or an error reply answers 503 instead, and the sender retries.
 */
#include "hooks.h"

#include "admin.h"
#include "bridge.h"
#include "clock.h"
#include "event.h"
#include "evwriter.h"
#include "http.h"
#include "ids.h"
#include "ingress.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "rconn.h"
#include "store.h"
#include "xalloc.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One inbound request waiting for Redis's answer. */
struct hooks_pending {
    struct ingress *in;
    struct evhttp_request *req;
    struct job job;
    bool scheduled;
    int64_t due_ms; /* first attempt time when scheduled, else 0 */
    int64_t started_mono;
};

static int hooks_waiting;

int hooks_pending(void)
{
    return hooks_waiting;
}

/* Count the answer in the shared metrics hash (fire-and-forget: a lost increment is better
 * than a slower answer) and log it. */
static void hooks_log(struct ingress *in, struct evhttp_request *req, const char *bridge_id,
                      const char *event_id, int status, int64_t started_mono)
{
    char key[QUEUE_KEY_LEN], field[METRICS_FIELD_LEN];
    metrics_key(in->cfg.key_prefix, key, sizeof(key));
    snprintf(field, sizeof(field), "requests|%s|%d", bridge_id ? bridge_id : "-", status);
    rconn_cmd(in->redis, NULL, NULL, "HINCRBY %s %s 1", key, field);
    if (!log_enabled(LOG_INFO))
        return;
    char st[8], dur[24];
    snprintf(st, sizeof(st), "%d", status);
    snprintf(dur, sizeof(dur), "%lld", (long long)(clock_mono_ms() - started_mono));
    log_kv(LOG_INFO, "inbound request", "method", http_method_name(evhttp_request_get_command(req)),
           "bridge_id", bridge_id, "event_id", event_id, "status", st, "duration_ms", dur, NULL);
}

static void hooks_error(struct ingress *in, struct evhttp_request *req, int code, const char *error,
                        const char *message, const char *bridge_id, int64_t started)
{
    hooks_log(in, req, bridge_id, NULL, code, started);
    http_reply_error(req, code, error, message);
}

/* Inbound headers as a JSON object with lower-cased names; credentials are redacted so
 * that neither Redis nor the event store ever hold them. */
static char *hooks_headers_json(struct evhttp_request *req)
{
    cJSON *o = cJSON_CreateObject();
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = hdrs->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        char name[256];
        size_t n = strlen(kv->key);
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        for (size_t i = 0; i < n; i++)
            name[i] = (char)tolower((unsigned char)kv->key[i]);
        name[n] = '\0';
        const char *value = kv->value;
        if (strcmp(name, "authorization") == 0 || strcmp(name, "proxy-authorization") == 0 ||
            strcmp(name, "cookie") == 0)
            value = "[redacted]";
        cJSON *old = cJSON_GetObjectItemCaseSensitive(o, name);
        if (old != NULL && cJSON_IsString(old)) {
            /* Repeated headers join with ", " as HTTP allows for list-valued fields. */
            char *joined = xasprintf("%s, %s", old->valuestring, value);
            cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateString(joined));
            free(joined);
        } else {
            cJSON_AddStringToObject(o, name, value);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void hooks_on_exec(redisAsyncContext *ac, void *r, void *priv)
{
    struct hooks_pending *p = priv;
    redisReply *reply = r;
    (void)ac;
    hooks_waiting--;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        const char *why = reply == NULL                      ? "connection lost"
                          : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                             : "transaction aborted";
        log_kv(LOG_WARN, "enqueue failed", "event_id", p->job.id, "error", why, NULL);
        evhttp_add_header(evhttp_request_get_output_headers(p->req), "Retry-After", "5");
        hooks_error(p->in, p->req, 503, "queue_unavailable",
                    "the queue is unavailable; retry later", p->job.bridge_id, p->started_mono);
        goto out;
    }
    const char *status = p->scheduled ? "scheduled" : "queued";
    cJSON *ok = cJSON_CreateObject();
    cJSON_AddStringToObject(ok, "event_id", p->job.id);
    cJSON_AddStringToObject(ok, "status", status);
    hooks_log(p->in, p->req, p->job.bridge_id, p->job.id, 202, p->started_mono);
    http_reply_json(p->req, 202, ok);
    cJSON_Delete(ok);

    /* The event row follows the answer; if this process dies first, the worker rebuilds
     * the event from the job. */
    cJSON *ev = event_from_job(&p->job, status, p->due_ms);
    evwriter_insert(p->in->events, p->job.id, p->job.bridge_id, status, p->job.received_ms,
                    cJSON_PrintUnformatted(ev));
    cJSON_Delete(ev);
out:
    job_clear(&p->job);
    free(p);
}

static int hooks_enqueue(struct hooks_pending *p, const struct bridge *b)
{
    struct ingress *in = p->in;
    const struct queue_keys *keys = &in->keys;
    char jobkey[QUEUE_KEY_LEN];
    queue_key_job(keys, p->job.id, jobkey, sizeof(jobkey));

    const char *argv[JOB_ARGV_MAX];
    size_t argvlen[JOB_ARGV_MAX];
    char scratch[128];
    int argc = job_hset_argv(&p->job, jobkey, argv, argvlen, scratch, sizeof(scratch));

    if (rconn_cmd(in->redis, NULL, NULL, "MULTI") != 0)
        return -1;
    rconn_argv(in->redis, NULL, NULL, argc, argv, argvlen);
    if (b->delay_seconds > 0) {
        char due[24];
        p->due_ms = p->job.received_ms + (int64_t)b->delay_seconds * 1000;
        snprintf(due, sizeof(due), "%lld", (long long)p->due_ms);
        rconn_cmd(in->redis, NULL, NULL, "ZADD %s %s %s", keys->scheduled, due, p->job.id);
        p->scheduled = true;
    } else {
        rconn_cmd(in->redis, NULL, NULL, "LPUSH %s %s", keys->ready, p->job.id);
    }
    if (rconn_cmd(in->redis, hooks_on_exec, p, "EXEC") != 0)
        return -1;
    hooks_waiting++;
    return 0;
}

void hooks_request(struct evhttp_request *req, void *arg)
{
    struct ingress *in = arg;
    int64_t started = clock_mono_ms();
    struct bridge *b = NULL;
    char *json = NULL;
    char err[HB_ERR_LEN];

    const char *uri = evhttp_request_get_uri(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL)
        path = uri;
    if (strcmp(path, "/healthz") == 0) {
        /* The public listener answers health checks too, for load balancers. */
        admin_healthz(in, req);
        return;
    }
    if (strncmp(path, "/hooks/", 7) != 0) {
        hooks_error(in, req, 404, "not_found", "no such route", NULL, started);
        return;
    }
    const char *endpoint = path + 7;
    size_t eplen = strlen(endpoint);
    if (eplen > 0 && endpoint[eplen - 1] == '/')
        eplen--;
    if (!ids_endpoint_valid(endpoint, eplen)) {
        hooks_error(in, req, 404, "not_found", "unknown endpoint", NULL, started);
        return;
    }
    char ep[HB_ENDPOINT_LEN + 1];
    memcpy(ep, endpoint, eplen);
    ep[eplen] = '\0';

    int rc = store_bridge_get_by_endpoint(in->store, ep, &json, err);
    if (rc == STORE_NOTFOUND) {
        hooks_error(in, req, 404, "not_found", "unknown endpoint", NULL, started);
        return;
    }
    if (rc != 0 || bridge_from_store(json, &b, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "bridge lookup failed", "error", err, NULL);
        hooks_error(in, req, 500, "internal", "bridge lookup failed", NULL, started);
        goto out;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(body);
    if ((long)body_len > in->cfg.max_body) {
        hooks_error(in, req, 413, "payload_too_large", "request body exceeds the maximum size",
                    b->id, started);
        goto out;
    }
    if (!b->active) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "60");
        hooks_error(in, req, 503, "bridge_inactive", "this bridge is paused; retry later", b->id,
                    started);
        goto out;
    }
    if (!rconn_up(in->redis)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        hooks_error(in, req, 503, "queue_unavailable", "the queue is unavailable; retry later",
                    b->id, started);
        goto out;
    }

    struct hooks_pending *p = xcalloc(1, sizeof(*p));
    p->in = in;
    p->req = req;
    p->started_mono = started;
    struct job *j = &p->job;
    j->received_ms = clock_now_ms();
    ids_new("evt_", j->received_ms, j->id, sizeof(j->id));
    snprintf(j->bridge_id, sizeof(j->bridge_id), "%s", b->id);
    j->method = xstrdup(http_method_name(evhttp_request_get_command(req)));
    j->path = xstrdup(path);
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    j->query = xstrdup(q ? q : "");
    j->headers_json = hooks_headers_json(req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    j->content_type = xstrdup(ct ? ct : "");
    j->body = xmalloc(body_len + 1);
    evbuffer_copyout(body, j->body, body_len);
    j->body[body_len] = '\0';
    j->body_len = body_len;
    j->replay_of = xstrdup("");

    if (hooks_enqueue(p, b) != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        hooks_error(in, req, 503, "queue_unavailable", "the queue is unavailable; retry later",
                    b->id, started);
        job_clear(j);
        free(p);
    }
out:
    bridge_free(b);
    free(json);
}
