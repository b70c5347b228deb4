/*
 * task.c - one job's delivery attempt, from the job hash to the recorded outcome.
 *
 * The order is what makes "never lose an accepted request" hold: the attempt is sent, its
 * outcome is committed to SQLite (batched by evwriter), and only then is the job
 * acknowledged in Redis (fetch_ack). A crash anywhere before the acknowledgement leaves
 * the job in this worker's in-flight list for the reaper: the event is delivered again
 * (at least once), never dropped.
 */
#include "worker.h"

#include "bridge.h"
#include "clock.h"
#include "deliver.h"
#include "event.h"
#include "evwriter.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "retry.h"
#include "store.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct task {
    struct worker *w;
    struct job *job;
    struct bridge *bridge;
    int attempt; /* 1-based number of this attempt */
    struct deliver_call *call;
    char **hdr; /* "Name: value" lines, NULL-terminated */
    const char *status;
    int64_t due_ms;
    char *attempt_json;  /* the recorded attempt, until it is committed */
    char *outbound_json; /* the recorded outbound request, until it is committed */
    bool http_attempt;   /* an HTTP request was made (for the metrics) */
    bool succeeded;
    long duration_ms;
    struct task *prev, *next; /* requests in flight, for task_cancel_all */
};

static struct task *task_list;
static int task_count;

int task_active(void)
{
    return task_count;
}

static void task_link(struct task *t)
{
    t->next = task_list;
    if (task_list)
        task_list->prev = t;
    task_list = t;
    task_count++;
}

static void task_unlink(struct task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        task_list = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    task_count--;
}

static void task_free(struct task *t)
{
    if (t->hdr) {
        for (char **h = t->hdr; *h; h++)
            free(*h);
        free(t->hdr);
    }
    free(t->attempt_json);
    free(t->outbound_json);
    bridge_free(t->bridge);
    job_clear(t->job);
    free(t->job);
    free(t);
}

static void task_on_acked(void *arg)
{
    task_free(arg);
}

/* Add this outcome to the shared counters (common/metrics.h). Sent after the outcome is
 * committed, fire-and-forget: at worst a crash loses an increment, never an event. */
static void task_count_metrics(const struct task *t, bool done)
{
    struct worker *w = t->w;
    char key[QUEUE_KEY_LEN], field[METRICS_FIELD_LEN];
    metrics_key(w->cfg.key_prefix, key, sizeof(key));
    if (t->http_attempt) {
        rconn_cmd(w->cmd, NULL, NULL, "HINCRBY %s %s 1", key,
                  t->succeeded ? "attempts|success" : "attempts|failure");
        metrics_bucket_field("response", t->duration_ms, field, sizeof(field));
        rconn_cmd(w->cmd, NULL, NULL, "HINCRBY %s %s 1", key, field);
        rconn_cmd(w->cmd, NULL, NULL, "HINCRBY %s response|sum_ms %ld", key, t->duration_ms);
    }
    if (!done)
        return;
    snprintf(field, sizeof(field), "events|%s", t->status);
    rconn_cmd(w->cmd, NULL, NULL, "HINCRBY %s %s 1", key, field);
    if (t->succeeded) {
        int64_t latency = clock_now_ms() - t->job->received_ms;
        if (latency < 0)
            latency = 0;
        metrics_bucket_field("latency", latency, field, sizeof(field));
        rconn_cmd(w->cmd, NULL, NULL, "HINCRBY %s %s 1", key, field);
        rconn_cmd(w->cmd, NULL, NULL, "HINCRBY %s latency|sum_ms %lld", key, (long long)latency);
    }
}

static void task_on_recorded(void *arg, int ok)
{
    struct task *t = arg;
    if (!ok) {
        /* Not committed (shutdown with SQLite away): leave the job in the in-flight list
         * so it is put back and tried again. */
        task_free(t);
        return;
    }
    bool done = strcmp(t->status, "retrying") != 0;
    task_count_metrics(t, done);
    fetch_ack(t->w, t->job->id, done, t->attempt, t->due_ms, task_on_acked, t);
}

/* The whole event with this attempt, for evwriter when the event's row is missing. */
static char *task_full_event(void *arg)
{
    struct task *t = arg;
    cJSON *full = event_from_job(t->job, t->status, t->due_ms);
    if (t->outbound_json != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(full, "outbound", cJSON_Parse(t->outbound_json));
    if (t->attempt_json != NULL)
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(full, "attempts"),
                             cJSON_Parse(t->attempt_json));
    char *s = cJSON_PrintUnformatted(full);
    cJSON_Delete(full);
    return s;
}

/*
 * Record the outcome: `attempt` (may be NULL) appended, status set, and the job
 * acknowledged after the commit. Takes ownership of `attempt` and `outbound`.
 */
static void task_record(struct task *t, cJSON *attempt, cJSON *outbound)
{
    t->attempt_json = attempt ? cJSON_PrintUnformatted(attempt) : NULL;
    t->outbound_json = outbound ? cJSON_PrintUnformatted(outbound) : NULL;
    cJSON_Delete(attempt);
    cJSON_Delete(outbound);
    struct store_event_update u = {
        .id = t->job->id,
        .status = t->status,
        .attempt_json = t->attempt_json,
        .outbound_json = t->outbound_json,
        .next_attempt_ms = t->due_ms,
    };
    evwriter_update(t->w->events, &u, t->job->bridge_id, t->job->received_ms, task_full_event,
                    task_on_recorded, t);
}

/* Finish without an HTTP attempt (bridge deleted, job put back too often). */
static void task_finish_now(struct task *t, const char *status, const char *error)
{
    t->status = status;
    t->due_ms = 0;
    cJSON *attempt = NULL;
    if (error != NULL)
        attempt = event_attempt(t->attempt, clock_now_ms(), 0, 0, error, NULL, "", 0, false);
    log_kv(LOG_WARN, "event ended without delivery", "event_id", t->job->id, "bridge_id",
           t->job->bridge_id, "status", status, "error", error, NULL);
    task_record(t, attempt, NULL);
}

static bool task_has_header(const struct bridge *b, const char *name)
{
    for (const cJSON *h = b->headers ? b->headers->child : NULL; h; h = h->next)
        if (strcasecmp(h->string, name) == 0)
            return true;
    return false;
}

static void task_build_headers(struct task *t)
{
    const struct bridge *b = t->bridge;
    const struct job *j = t->job;
    size_t n = (size_t)cJSON_GetArraySize(b->headers) + 5;
    char **hdr = xcalloc(n + 1, sizeof(*hdr));
    size_t k = 0;
    for (const cJSON *h = b->headers ? b->headers->child : NULL; h; h = h->next)
        if (cJSON_IsString(h))
            hdr[k++] = xasprintf("%s: %s", h->string, h->valuestring);
    if (!task_has_header(b, "User-Agent"))
        hdr[k++] = xasprintf("User-Agent: hookbridge/%s", HB_VERSION);
    hdr[k++] = xasprintf("X-Hookbridge-Event-Id: %s", j->id);
    hdr[k++] = xasprintf("X-Hookbridge-Attempt: %d", t->attempt);
    if (!task_has_header(b, "Content-Type")) {
        /* "Content-Type:" with no value stops curl adding its form default. */
        if (j->content_type && j->content_type[0])
            hdr[k++] = xasprintf("Content-Type: %s", j->content_type);
        else
            hdr[k++] = xstrdup("Content-Type:");
    }
    hdr[k] = NULL;
    t->hdr = hdr;
}

/* The request as sent, for the event. */
static cJSON *task_outbound(const struct task *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", t->bridge->method);
    cJSON_AddStringToObject(o, "url", t->bridge->outbound_url);
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    for (char **line = t->hdr; *line; line++) {
        char *colon = strchr(*line, ':');
        if (colon == NULL || colon[1] == '\0')
            continue;
        char *name = xstrndup(*line, (size_t)(colon - *line));
        cJSON_AddStringToObject(h, name, colon + 2);
        free(name);
    }
    /* The body is the inbound one: reuse the event's rendering of it. */
    cJSON *ev = event_from_job(t->job, "queued", 0);
    cJSON *req = cJSON_GetObjectItemCaseSensitive(ev, "request");
    cJSON *body = cJSON_DetachItemFromObjectCaseSensitive(req, "body");
    cJSON_AddItemToObject(o, "body", body ? body : cJSON_CreateNull());
    cJSON *b64 = cJSON_DetachItemFromObjectCaseSensitive(req, "body_base64");
    if (b64)
        cJSON_AddItemToObject(o, "body_base64", b64);
    cJSON_Delete(ev);
    return o;
}

static void task_on_done(const struct deliver_result *res, void *arg)
{
    struct task *t = arg;
    t->call = NULL;
    task_unlink(t);
    const struct bridge *b = t->bridge;
    bool ok = res->error == NULL && res->http_status >= 200 && res->http_status < 300;
    t->due_ms = 0;
    t->http_attempt = true;
    t->succeeded = ok;
    t->duration_ms = res->duration_ms;
    if (ok) {
        t->status = "delivered";
    } else if (t->attempt <= b->retries) {
        long delay =
            retry_delay_seconds(t->attempt - 1, b->retry_delays, b->n_retry_delays, retry_jitter());
        if ((res->http_status == 429 || res->http_status == 503) && res->retry_after_s > delay)
            delay = res->retry_after_s;
        t->status = "retrying";
        t->due_ms = clock_now_ms() + (int64_t)delay * 1000;
    } else {
        t->status = "failed";
    }
    if (log_enabled(LOG_INFO)) {
        char st[8], dur[24], n[8];
        snprintf(st, sizeof(st), "%d", res->http_status);
        snprintf(dur, sizeof(dur), "%ld", res->duration_ms);
        snprintf(n, sizeof(n), "%d", t->attempt);
        log_kv(ok ? LOG_INFO : LOG_WARN, "delivery attempt", "event_id", t->job->id, "bridge_id",
               b->id, "attempt", n, "status", st, "duration_ms", dur, "outcome", t->status, "error",
               res->error, NULL);
    }
    cJSON *attempt =
        event_attempt(t->attempt, res->started_ms, res->duration_ms, res->http_status, res->error,
                      res->headers, res->body, res->body_len, res->truncated);
    cJSON *outbound = t->attempt == 1 ? task_outbound(t) : NULL;
    task_record(t, attempt, outbound);
    /* A connection slot is free: take the next job now rather than after the ack. */
    fetch_more(t->w);
}

void task_run(struct worker *w, struct job *job)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    struct task *t = xcalloc(1, sizeof(*t));
    t->w = w;
    t->job = job;
    t->attempt = job->attempts + 1;

    if (job->requeues > QUEUE_MAX_REQUEUES) {
        char why[160];
        snprintf(why, sizeof(why),
                 "put back %d times after workers died holding it; not retried again",
                 job->requeues);
        task_finish_now(t, "failed", why);
        return;
    }
    int rc = store_bridge_get(w->store, job->bridge_id, &json, err);
    if (rc == STORE_NOTFOUND) {
        task_finish_now(t, "aborted", "bridge deleted");
        return;
    }
    if (rc != 0 || bridge_from_store(json, &t->bridge, err, sizeof(err)) != 0) {
        /* SQLite is unavailable: try the job again shortly without counting an attempt. */
        log_kv(LOG_WARN, "bridge lookup failed; job postponed", "event_id", job->id, "error", err,
               NULL);
        free(json);
        t->status = "retrying";
        fetch_ack(w, job->id, false, job->attempts, clock_now_ms() + 5000, task_on_acked, t);
        return;
    }
    free(json);

    task_build_headers(t);
    struct deliver_request rq = {
        .method = t->bridge->method,
        .url = t->bridge->outbound_url,
        .headers = (const char *const *)t->hdr,
        .body = strcmp(t->bridge->method, "GET") == 0 ? NULL : job->body,
        .body_len = strcmp(t->bridge->method, "GET") == 0 ? 0 : job->body_len,
        .timeout_ms = t->bridge->timeout_ms,
    };
    task_link(t);
    t->call = deliver_start(w->deliver, &rq, task_on_done, t, err, sizeof(err));
    if (t->call == NULL) {
        struct deliver_result res = {0};
        res.error = err;
        res.started_ms = clock_now_ms();
        res.retry_after_s = -1;
        res.body = "";
        task_on_done(&res, t);
    }
}

void task_cancel_all(void)
{
    while (task_list != NULL) {
        struct task *t = task_list;
        task_unlink(t);
        if (t->call)
            deliver_cancel(t->call);
        log_kv(LOG_WARN, "delivery abandoned at shutdown; job goes back to the queue", "event_id",
               t->job->id, NULL);
        task_free(t);
    }
}
